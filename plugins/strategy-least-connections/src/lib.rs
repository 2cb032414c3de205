//! `builtin:least-connections`: the target with the fewest requests in flight first;
//! ties go to the higher weight, then rotate with the sequence number so equal
//! targets share the load. Targets whose circuit is open come last.

wit_bindgen::generate!({ world: "strategy", path: "../../wit/v0.1" });

use std::cmp::Reverse;

use exports::switchboard::plugin::load_balancer::Guest;
use switchboard::plugin::types::{Health, RouteRequest, TargetStats};

struct LeastConnections;

impl Guest for LeastConnections {
    fn select(req: RouteRequest, targets: Vec<TargetStats>) -> Result<Vec<u32>, String> {
        strategy_rotation::rotating_order(targets.len(), req.sequence, |i, rotation| {
            let t = &targets[i];
            (
                matches!(t.health, Health::Open),
                t.in_flight,
                Reverse(t.weight),
                rotation,
            )
        })
    }
}

export!(LeastConnections);
