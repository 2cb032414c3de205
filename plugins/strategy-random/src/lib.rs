//! `builtin:random`: a uniformly random healthy target first (from the host's random
//! value, so the plugin stays pure); the others follow in a rotation, targets whose
//! circuit is open last.

wit_bindgen::generate!({ world: "strategy", path: "../../wit/v0.1" });

use exports::switchboard::plugin::load_balancer::Guest;
use switchboard::plugin::types::{Health, RouteRequest, TargetStats};

struct Random;

impl Guest for Random {
    fn select(req: RouteRequest, targets: Vec<TargetStats>) -> Result<Vec<u32>, String> {
        let n = targets.len();
        if n == 0 {
            return Err("no targets".into());
        }
        let start = (req.random % n as u64) as usize;
        let mut order: Vec<u32> = (0..n).map(|i| ((start + i) % n) as u32).collect();
        order.sort_by_key(|&i| matches!(targets[i as usize].health, Health::Open));
        Ok(order)
    }
}

export!(Random);
