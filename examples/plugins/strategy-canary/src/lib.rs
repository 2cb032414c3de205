//! Example custom strategy, the same in Rust, Python (`../canary-python`) and
//! JavaScript (`../canary-js`): a canary split. `percent` of requests (setting,
//! default 10) try the last target first; the rest keep the config order. The others
//! follow as fallbacks, so a failing canary costs no request.
//!
//! Written on the guest SDK (`sdk/rust`): settings are a serde struct checked by
//! `validate-settings`, and the logic is tested with `cargo test` against the SDK's
//! fake host. Built with the first-party plugins by a plain `cargo build` of the
//! gateway, into `target/wasm-guests/wasm32-wasip2/release/strategy_canary.wasm`:
//!
//! ```toml
//! [strategies.canary]
//! plugin = "target/wasm-guests/wasm32-wasip2/release/strategy_canary.wasm"
//! settings = { percent = 5 }
//! ```
//!
//! `switchboard plugin test <the .wasm> --cases ../canary-cases.json` runs the cases
//! all three languages share in the real engine.

use serde::Deserialize;
use switchboard_sdk::strategy::{Guest, LoadBalancer};
use switchboard_sdk::types::{RouteRequest, TargetStats};

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Settings {
    #[serde(default = "ten")]
    percent: u64,
}

fn ten() -> u64 {
    10
}

impl switchboard_sdk::settings::Settings for Settings {
    fn check(&self) -> Result<(), String> {
        match self.percent {
            0..=100 => Ok(()),
            p => Err(format!(
                "percent must be a whole number from 0 to 100, not {p}"
            )),
        }
    }
}

struct Canary;

/// `percent = "five"`, `percent = 500` or `percnt = 5` refuse the config at load or
/// reload with serde's or `check`'s message, rather than being read as the default.
impl Guest for Canary {
    fn validate_settings(settings: Vec<(String, String)>) -> Result<(), String> {
        switchboard_sdk::settings::validate::<Settings>(&settings)
    }
}

impl LoadBalancer for Canary {
    /// This strategy does not read the request's text: the host need not extract it.
    fn wants_request_text() -> bool {
        false
    }

    fn select(req: RouteRequest, targets: Vec<TargetStats>) -> Result<Vec<u32>, String> {
        let percent = switchboard_sdk::settings::load::<Settings>()?.percent;
        let mut order: Vec<u32> = (0..targets.len() as u32).collect();
        // `random` comes from the host, so this stays a pure function of its input.
        if order.len() > 1 && req.random % 100 < percent {
            order.rotate_right(1);
        }
        Ok(order)
    }
}

switchboard_sdk::export_strategy!(Canary);

#[cfg(test)]
mod tests {
    use super::Canary;
    use switchboard_sdk::strategy::{Guest, LoadBalancer};
    use switchboard_sdk::testing::{FakeHost, route_request, target};

    fn first(random: u64) -> u32 {
        let mut req = route_request("m");
        req.random = random;
        Canary::select(req, vec![target("stable", "v1"), target("canary", "v2")]).unwrap()[0]
    }

    #[test]
    fn percent_of_requests_go_to_the_canary_first() {
        FakeHost::new().setting("percent", 25).install();
        assert_eq!((0..100).filter(|&r| first(r) == 1).count(), 25);
        FakeHost::new().install();
        assert_eq!(
            (0..100).filter(|&r| first(r) == 1).count(),
            10,
            "the default"
        );
    }

    #[test]
    fn a_bad_percent_is_refused() {
        let e = Canary::validate_settings(vec![("percent".into(), "500".into())]).unwrap_err();
        assert!(e.contains("0 to 100"), "{e}");
        let e = Canary::validate_settings(vec![("percnt".into(), "5".into())]).unwrap_err();
        assert!(e.contains("unknown field `percnt`"), "{e}");
    }
}
