//! `builtin:ttft`: the lowest time-to-first-token EWMA first (for streaming users who
//! feel the first token most). A target not yet measured goes first, so it gets
//! measured; ties by whole-request latency. Targets whose circuit is open come last.

wit_bindgen::generate!({ world: "strategy", path: "../../wit/v0.1" });

use exports::switchboard::plugin::load_balancer::Guest;
use switchboard::plugin::types::{Health, RouteRequest, TargetStats};

struct Ttft;

impl Guest for Ttft {
    fn select(_req: RouteRequest, targets: Vec<TargetStats>) -> Result<Vec<u32>, String> {
        if targets.is_empty() {
            return Err("no targets".into());
        }
        let mut order: Vec<u32> = (0..targets.len() as u32).collect();
        order.sort_by_key(|&i| {
            let t = &targets[i as usize];
            (
                matches!(t.health, Health::Open),
                t.ttft_ewma_us,
                t.latency_ewma_us,
                i,
            )
        });
        Ok(order)
    }
}

export!(Ttft);
