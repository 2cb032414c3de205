//! `builtin:latency`: power of two choices over peak-EWMA. Two healthy targets are drawn
//! (from the host's random value) and the one with the lower cost goes first, where cost
//! is the latency EWMA times (in-flight + 1), so a target that is slow, or busy, sheds
//! load. A target with no latency yet costs nothing, so it gets measured. The rest
//! follow by cost; targets whose circuit is open come last.

wit_bindgen::generate!({ world: "strategy", path: "../../wit/v0.1" });

use exports::switchboard::plugin::load_balancer::Guest;
use switchboard::plugin::types::{Health, RouteRequest, TargetStats};

struct Latency;

fn cost(t: &TargetStats) -> u64 {
    t.latency_ewma_us.saturating_mul(t.in_flight as u64 + 1)
}

impl Guest for Latency {
    fn select(req: RouteRequest, targets: Vec<TargetStats>) -> Result<Vec<u32>, String> {
        if targets.is_empty() {
            return Err("no targets".into());
        }
        let healthy: Vec<u32> = (0..targets.len() as u32)
            .filter(|&i| !matches!(targets[i as usize].health, Health::Open))
            .collect();
        let mut order: Vec<u32> = (0..targets.len() as u32).collect();
        order.sort_by_key(|&i| {
            let t = &targets[i as usize];
            (matches!(t.health, Health::Open), cost(t), i)
        });
        if healthy.len() >= 2 {
            let n = healthy.len() as u64;
            let a = healthy[(req.random % n) as usize];
            let mut b = healthy[((req.random / n) % (n - 1)) as usize];
            if b == a {
                b = healthy[(n - 1) as usize];
            }
            let first = if cost(&targets[b as usize]) < cost(&targets[a as usize]) {
                b
            } else {
                a
            };
            order.retain(|&i| i != first);
            order.insert(0, first);
        }
        Ok(order)
    }
}

export!(Latency);
