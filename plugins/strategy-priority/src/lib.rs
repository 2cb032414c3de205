//! `builtin:priority`: ordered failover.
//!
//! Targets are tried by ascending `priority`, then in config order; a target whose
//! circuit is open goes to the back, so it is tried only when all others failed.

wit_bindgen::generate!({ world: "strategy", path: "../../wit/v0.1" });

use exports::switchboard::plugin::load_balancer::Guest;
use switchboard::plugin::types::{Health, RouteRequest, TargetStats};

struct Priority;

impl Guest for Priority {
    fn select(_req: RouteRequest, targets: Vec<TargetStats>) -> Result<Vec<u32>, String> {
        if targets.is_empty() {
            return Err("no targets".to_string());
        }
        let mut order: Vec<u32> = (0..targets.len() as u32).collect();
        order.sort_by_key(|&i| {
            let t = &targets[i as usize];
            (matches!(t.health, Health::Open), t.priority)
        });
        Ok(order)
    }
}

export!(Priority);
