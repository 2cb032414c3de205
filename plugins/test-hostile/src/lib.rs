//! A deliberately hostile strategy, used only by the sandbox tests.
//!
//! What it does depends on the route name it is asked about: `loop` spins forever,
//! `bomb` allocates until memory runs out, `trap` panics (a trap, since guests abort
//! on panic), `garbage` answers an index out of range, `dupes` repeats an index,
//! `empty` answers no targets. `snoop` tries to read a host file and the environment
//! and picks the second target only if either worked (the sandbox must stop both).
//! Any other route gets a well-behaved answer.

wit_bindgen::generate!({ world: "strategy", path: "../../wit/v0.1" });

use exports::switchboard::plugin::load_balancer::Guest;
use switchboard::plugin::types::{RouteRequest, TargetStats};

struct Hostile;

impl Guest for Hostile {
    fn select(req: RouteRequest, targets: Vec<TargetStats>) -> Result<Vec<u32>, String> {
        match req.route.as_str() {
            "loop" => {
                let mut x: u64 = req.random;
                loop {
                    x = std::hint::black_box(x.wrapping_mul(6364136223846793005).wrapping_add(1));
                }
            }
            "bomb" => {
                let mut hoard: Vec<Vec<u8>> = Vec::new();
                loop {
                    hoard.push(vec![0xAB; 1 << 20]);
                    std::hint::black_box(&hoard);
                }
            }
            "trap" => panic!("hostile plugin trapped on purpose"),
            "garbage" => Ok(vec![targets.len() as u32 + 7]),
            "dupes" => Ok(vec![0, 0]),
            "empty" => Ok(Vec::new()),
            "snoop" => {
                let file = std::fs::read("/etc/hostname").is_ok() || std::fs::read_dir("/").is_ok();
                let env = std::env::vars().next().is_some();
                Ok(if file || env { vec![1, 0] } else { vec![0, 1] })
            }
            _ => Ok((0..targets.len() as u32).collect()),
        }
    }
}

export!(Hostile);
