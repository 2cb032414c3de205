//! `capture = { sample = 0.1, max_body_kib = 64 }` on a route (`[models.X]`) or a key
//! (`[[keys]]`): the request and answer bodies of a sampled share of its requests kept
//! beside their usage records, as they left the redactors, each cut at `max_body_kib`;
//! `[usage] capture_retention_days` says how long. Off unless named.

use serde::Deserialize;
use toml::Spanned;

use super::ConfigError;
use super::fields::Ctx;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawCapture {
    /// The share of requests whose bodies are kept (0 to 1; default 1).
    pub sample: Option<f64>,
    /// The most of each body kept, in KiB (default 64, at most 1024).
    pub max_body_kib: Option<u64>,
}

/// Payload capture of a route or key.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Capture {
    pub sample: f64,
    pub max_body_bytes: usize,
}

impl Capture {
    /// Whether this request's bodies are kept (a draw against `sample`).
    pub fn draw(&self) -> bool {
        self.sample >= 1.0 || (self.sample > 0.0 && rand::random::<f64>() < self.sample)
    }

    /// The larger of two captures (a route's and a key's): the most sampled, the
    /// longest bodies.
    pub fn widest(a: Option<Capture>, b: Option<Capture>) -> Option<Capture> {
        match (a, b) {
            (Some(a), Some(b)) => Some(Capture {
                sample: a.sample.max(b.sample),
                max_body_bytes: a.max_body_bytes.max(b.max_body_bytes),
            }),
            (a, b) => a.or(b),
        }
    }
}

/// The most of one body a capture may keep.
const MAX_KIB: u64 = 1024;

/// `capture` of the route or key at `key`, checked.
pub(super) fn capture(
    cx: &Ctx<'_>,
    raw: Option<&Spanned<RawCapture>>,
    key: &str,
) -> Result<Option<Capture>, ConfigError> {
    let Some(raw) = raw else { return Ok(None) };
    let c = raw.get_ref();
    let sample = c.sample.unwrap_or(1.0);
    if !(0.0..=1.0).contains(&sample) {
        return cx.err(
            raw.span(),
            format!("{key}.capture.sample"),
            format!("{sample} is not a share between 0 and 1"),
        );
    }
    let kib = c.max_body_kib.unwrap_or(64);
    if kib == 0 || kib > MAX_KIB {
        return cx.err(
            raw.span(),
            format!("{key}.capture.max_body_kib"),
            format!("{kib} is not between 1 and {MAX_KIB}"),
        );
    }
    Ok(Some(Capture {
        sample,
        max_body_bytes: (kib * 1024) as usize,
    }))
}
