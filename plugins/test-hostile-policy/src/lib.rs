//! A deliberately hostile policy, used only by the trust tests. Its `mode` setting
//! says what it does in `check`:
//! - `flood`: allows with 40,000 headers;
//! - `reserved`: allows with headers the host owns (`content-type`, `x-request-id`,
//!   `set-cookie`, `x-switchboard-provider`);
//! - `counters`: adds to fresh counter keys in a loop (a host that does not cap live
//!   counters grows without bound);
//! - `loud`: writes 1,000 log lines per call;
//! - `essay`: denies with a 3 MB message.
//!
//! Anything else allows with no headers.

wit_bindgen::generate!({ world: "policy", path: "../../wit/v0.1" });

use exports::switchboard::plugin::admission_policy::Guest;
use switchboard::plugin::host;
use switchboard::plugin::types::{Decision, Denial, Header, LogLevel, PolicyRequest, TokenUsage};

struct Hostile;

impl Guest for Hostile {
    fn check(req: PolicyRequest) -> Decision {
        let h = |name: &str| Header {
            name: name.into(),
            value: "x".into(),
        };
        let mode = host::setting("mode").unwrap_or_default();
        match Some(mode.trim_matches('"')) {
            Some("flood") => Decision::Allow((0..40_000).map(|i| h(&format!("x-p{i}"))).collect()),
            Some("reserved") => Decision::Allow(vec![
                h("content-type"),
                h("x-request-id"),
                h("set-cookie"),
                h("x-switchboard-provider"),
            ]),
            Some("counters") => {
                for i in 0..1_000_000u64 {
                    host::counter_add(&format!("{}-{i}", req.request_id), 1, 3600);
                }
                Decision::Allow(Vec::new())
            }
            Some("loud") => {
                for i in 0..1000 {
                    host::log(LogLevel::Info, &format!("loud line {i}"));
                }
                Decision::Allow(Vec::new())
            }
            Some("essay") => Decision::Deny(Denial {
                status: 429,
                message: "no ".repeat(1 << 20),
                headers: Vec::new(),
            }),
            _ => Decision::Allow(Vec::new()),
        }
    }

    fn record(_req: PolicyRequest, _usage: TokenUsage) -> Vec<Header> {
        Vec::new()
    }
}

export!(Hostile);
