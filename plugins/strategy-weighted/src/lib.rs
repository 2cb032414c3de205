//! `builtin:weighted`: smooth weighted round-robin (the nginx algorithm).
//!
//! The plugin holds no state: the pick for sequence number `s` is found by replaying
//! the smooth schedule `s mod total_weight` steps, which interleaves targets evenly
//! (weights 5,1,1 give a a b a c a a, not a a a a a b c). Fallbacks follow by weight.
//! Targets with an open circuit, or weight 0, are only fallbacks.

wit_bindgen::generate!({ world: "strategy", path: "../../wit/v0.1" });

use exports::switchboard::plugin::load_balancer::Guest;
use switchboard::plugin::types::{Health, RouteRequest, TargetStats};

/// Beyond this total weight a replay would cost too much per call; the pick is then
/// drawn at random in proportion to weight, which has the same long-run split.
const MAX_REPLAY: u64 = 4096;

struct Weighted;

fn pick(weights: &[u64], sequence: u64, random: u64) -> usize {
    let total: u64 = weights.iter().sum();
    if total > MAX_REPLAY {
        let mut r = random % total;
        for (i, w) in weights.iter().enumerate() {
            if r < *w {
                return i;
            }
            r -= w;
        }
        return weights.len() - 1;
    }
    let steps = sequence % total;
    let mut current = vec![0i64; weights.len()];
    let mut chosen = 0;
    for _ in 0..=steps {
        for (c, w) in current.iter_mut().zip(weights) {
            *c += *w as i64;
        }
        chosen = (0..weights.len())
            .max_by_key(|&i| (current[i], std::cmp::Reverse(i)))
            .unwrap_or(0);
        current[chosen] -= total as i64;
    }
    chosen
}

impl Guest for Weighted {
    fn select(req: RouteRequest, targets: Vec<TargetStats>) -> Result<Vec<u32>, String> {
        if targets.is_empty() {
            return Err("no targets".to_string());
        }
        let eligible: Vec<u32> = (0..targets.len() as u32)
            .filter(|&i| {
                let t = &targets[i as usize];
                t.weight > 0 && !matches!(t.health, Health::Open)
            })
            .collect();
        let mut order = Vec::with_capacity(targets.len());
        if !eligible.is_empty() {
            let weights: Vec<u64> = eligible
                .iter()
                .map(|&i| targets[i as usize].weight as u64)
                .collect();
            order.push(eligible[pick(&weights, req.sequence, req.random)]);
        }
        let mut rest: Vec<u32> = (0..targets.len() as u32)
            .filter(|i| !order.contains(i))
            .collect();
        rest.sort_by_key(|&i| {
            let t = &targets[i as usize];
            (
                matches!(t.health, Health::Open),
                std::cmp::Reverse(t.weight),
            )
        });
        order.extend(rest);
        Ok(order)
    }
}

export!(Weighted);
