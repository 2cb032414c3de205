//! `builtin:round-robin`: each request starts one target further along the list.
//!
//! Healthy targets are rotated by the host's per-route sequence number; targets whose
//! circuit is half-open or open follow, as last-resort fallbacks.

wit_bindgen::generate!({ world: "strategy", path: "../../wit/v0.1" });

use exports::switchboard::plugin::load_balancer::Guest;
use switchboard::plugin::types::{Health, RouteRequest, TargetStats};

struct RoundRobin;

fn health_rank(h: Health) -> u8 {
    match h {
        Health::Healthy => 0,
        Health::HalfOpen => 1,
        Health::Open => 2,
    }
}

impl Guest for RoundRobin {
    fn select(req: RouteRequest, targets: Vec<TargetStats>) -> Result<Vec<u32>, String> {
        let n = targets.len();
        if n == 0 {
            return Err("no targets".to_string());
        }
        let start = (req.sequence % n as u64) as usize;
        let mut order: Vec<u32> = (0..n).map(|i| ((start + i) % n) as u32).collect();
        // Stable: keeps the rotation within each health class.
        order.sort_by_key(|&i| health_rank(targets[i as usize].health));
        Ok(order)
    }
}

export!(RoundRobin);
