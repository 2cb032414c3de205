//! A strategy built against `switchboard:plugin@0.3.0`, which this host does not
//! speak: loading it must fail with a message naming both versions.

wit_bindgen::generate!({ world: "strategy", path: "wit" });

struct Future;

impl exports::switchboard::plugin::load_balancer::Guest for Future {
    fn pick(n: u32) -> u32 {
        n.saturating_sub(1)
    }
}

export!(Future);
