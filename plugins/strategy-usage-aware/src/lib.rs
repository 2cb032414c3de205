//! `builtin:usage-aware`: the target whose provider reported the most remaining quota
//! (`x-ratelimit-remaining-tokens`, then `-requests`) first, so load drains away from
//! a key that is about to be rate limited. A target that reported nothing yet counts
//! as having plenty, so it gets tried and reports; ties rotate by sequence number. A
//! target still inside a `retry-after` wait, or whose circuit is open, comes last.

wit_bindgen::generate!({ world: "strategy", path: "../../wit/v0.1" });

use std::cmp::Reverse;

use exports::switchboard::plugin::load_balancer::Guest;
use switchboard::plugin::types::{Health, RouteRequest, TargetStats};

struct UsageAware;

impl Guest for UsageAware {
    fn select(req: RouteRequest, targets: Vec<TargetStats>) -> Result<Vec<u32>, String> {
        let n = targets.len() as u64;
        if n == 0 {
            return Err("no targets".into());
        }
        let mut order: Vec<u32> = (0..targets.len() as u32).collect();
        order.sort_by_key(|&i| {
            let t = &targets[i as usize];
            let waiting = t.retry_after_secs.is_some_and(|s| s > 0);
            let rotation = (i as u64 + n - req.sequence % n) % n;
            (
                matches!(t.health, Health::Open) || waiting,
                Reverse(t.ratelimit_remaining_tokens.unwrap_or(u64::MAX)),
                Reverse(t.ratelimit_remaining_requests.unwrap_or(u64::MAX)),
                rotation,
            )
        });
        Ok(order)
    }
}

export!(UsageAware);
