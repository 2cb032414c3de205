//! `builtin:usage-aware`: the target whose provider reported the most remaining quota
//! (`x-ratelimit-remaining-tokens`, then `-requests`) first, so load drains away from
//! a key that is about to be rate limited. A target that reported nothing yet counts
//! as having plenty, so it gets tried and reports; ties rotate by sequence number. A
//! target whose remaining tokens cannot hold this request's estimate (prompt plus
//! `max_tokens`) comes after those that can; one still inside a `retry-after` wait, or
//! whose circuit is open, comes last.

wit_bindgen::generate!({ world: "strategy", path: "../../wit/v0.1" });

use std::cmp::Reverse;

use exports::switchboard::plugin::load_balancer::Guest;
use switchboard::plugin::types::{Health, RouteRequest, TargetStats};

struct UsageAware;

impl Guest for UsageAware {
    fn select(req: RouteRequest, targets: Vec<TargetStats>) -> Result<Vec<u32>, String> {
        let need = req.estimated_input_tokens + req.max_output_tokens.unwrap_or(0);
        strategy_rotation::rotating_order(targets.len(), req.sequence, |i, rotation| {
            let t = &targets[i];
            let waiting = t.retry_after_secs.is_some_and(|s| s > 0);
            let short = t.ratelimit_remaining_tokens.is_some_and(|left| left < need)
                || t.ratelimit_remaining_requests == Some(0);
            (
                matches!(t.health, Health::Open) || waiting,
                short,
                Reverse(t.ratelimit_remaining_tokens.unwrap_or(u64::MAX)),
                Reverse(t.ratelimit_remaining_requests.unwrap_or(u64::MAX)),
                rotation,
            )
        })
    }
}

export!(UsageAware);
