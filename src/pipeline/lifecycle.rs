//! Which route a requested model name is served by, as its lifecycle says: a `draft`
//! is not there for clients (the admin API's comparisons and route tests reach it), a
//! `testing` model only for the keys and teams it names, a `retired` one answers 410
//! naming its successor, a `deprecated` one is served with `Deprecation` (RFC 9745),
//! `Sunset` (RFC 8594) and a successor `Link`, counted per key — or, with `redirect`,
//! served by its successor. `model@N` is version N of the model (its pin), under the
//! model's own lifecycle.

use crate::config::lifecycle::{ModelState, pinned};
use crate::live::{LiveRoute, LiveState, Principal};

use super::Error;

/// The route a request is served by, and what the client is told beside.
pub struct Served<'l> {
    pub route: &'l LiveRoute,
    pub headers: Vec<(String, String)>,
    /// The model the client named, when another one serves it (a redirect).
    pub redirected_from: Option<String>,
}

fn is_tester(testers: &[String], p: &Principal) -> bool {
    testers.iter().any(|t| match t.strip_prefix("team:") {
        Some(team) => p.team.as_deref() == Some(team),
        None => *t == p.key_name,
    })
}

/// Whether `p` may see `model` at all (its state permitting): what `/v1/models` lists.
pub fn visible(live: &LiveState, model: &str, p: &Principal, now: i64) -> bool {
    if pinned(model).is_some() {
        return false;
    }
    let Some(r) = live.config.routes.get(model) else {
        return false;
    };
    match r.lifecycle.state_at(now) {
        ModelState::Draft | ModelState::Retired => false,
        ModelState::Testing => is_tester(&r.lifecycle.testers, p),
        ModelState::Active | ModelState::Deprecated => true,
    }
}

/// An HTTP date (RFC 9110's IMF-fixdate) of Unix seconds.
fn http_date(secs: i64) -> String {
    jiff::Timestamp::from_second(secs)
        .map(|t| t.strftime("%a, %d %b %Y %H:%M:%S GMT").to_string())
        .unwrap_or_default()
}

/// The route serving `model` for `p` at `now`.
pub fn serve<'l>(
    live: &'l LiveState,
    model: &str,
    p: &Principal,
    now: i64,
    metrics: Option<&crate::metrics::Metrics>,
) -> Result<Served<'l>, Error> {
    let (base, pin) = match pinned(model) {
        Some((b, n)) => (b, Some(n)),
        None => (model, None),
    };
    let Some(own) = live.routes.get(base) else {
        return Err(Error::ModelNotFound(model.to_string()));
    };
    let route = match pin {
        Some(n) if Some(n) == current_version(live, base) => own,
        Some(n) => live.routes.get(model).ok_or(Error::VersionNotKept {
            model: base.to_string(),
            version: n,
        })?,
        None => own,
    };
    let life = &own.route.lifecycle;
    let mut served = Served {
        route,
        headers: Vec::new(),
        redirected_from: None,
    };
    match life.state_at(now) {
        ModelState::Active => {}
        ModelState::Draft => return Err(Error::ModelNotFound(model.to_string())),
        ModelState::Testing if is_tester(&life.testers, p) => {}
        ModelState::Testing => return Err(Error::ModelNotFound(model.to_string())),
        ModelState::Retired => {
            return Err(Error::Retired {
                model: base.to_string(),
                successor: life.successor.clone(),
            });
        }
        ModelState::Deprecated => {
            if let Some(m) = metrics {
                m.deprecated_request(base, &p.key_name);
            }
            let since = life.deprecated_at.or_else(|| {
                live.config
                    .versions
                    .get(&format!("models/{base}"))
                    .map(|v| v.1 as i64)
            });
            if let Some(at) = since {
                served
                    .headers
                    .push(("deprecation".into(), format!("@{at}")));
            }
            if let Some(at) = life.sunset {
                served.headers.push(("sunset".into(), http_date(at)));
            }
            if let Some(s) = &life.successor {
                served.headers.push((
                    "link".into(),
                    format!("</v1/models/{s}>; rel=\"successor-version\""),
                ));
                let to = live.routes.get(s).filter(|r| {
                    matches!(
                        r.route.lifecycle.state_at(now),
                        ModelState::Active | ModelState::Deprecated
                    )
                });
                if let (true, None, Some(to)) = (life.redirect, pin, to) {
                    served.route = to;
                    served.redirected_from = Some(base.to_string());
                    served
                        .headers
                        .push(("x-switchboard-redirected-to".into(), s.clone()));
                }
            }
        }
    }
    Ok(served)
}

/// The version of `model` in force, when the registry knows it.
fn current_version(live: &LiveState, model: &str) -> Option<u32> {
    live.config
        .versions
        .get(&format!("models/{model}"))
        .map(|v| v.0)
}
