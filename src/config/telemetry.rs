//! `[log]` (how the gateway's own log lines are written) and `[telemetry]`
//! (OpenTelemetry traces over OTLP/HTTP): read and checked here — the format a known
//! one, the endpoint an http(s) URL, the sample ratio in 0..=1, durations positive.

use std::time::Duration;

use serde::Deserialize;
use toml::Spanned;

use super::fields::Ctx;
use super::{AccessLogFormat, ConfigError};

/// `[log]` as written.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawLog {
    /// `text` or `json` (the `--log-format` flag and `SWITCHBOARD_LOG_FORMAT` win).
    pub format: Option<AccessLogFormat>,
}

/// `[telemetry]` as written.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawTelemetry {
    /// The collector's OTLP/HTTP base URL, e.g. `http://127.0.0.1:4318` (traces go to
    /// `/v1/traces` under it).
    pub otlp_endpoint: Spanned<String>,
    /// `protobuf` (default) or `json`.
    pub protocol: Option<OtlpProtocol>,
    pub service_name: Option<String>,
    /// The share of requests traced (default 1.0).
    pub sample_ratio: Option<f64>,
    /// How often spans are sent in a batch (default `2s`).
    pub flush_interval: Option<Spanned<String>>,
    /// How long one export may take (default `10s`).
    pub timeout: Option<Spanned<String>>,
}

/// The OTLP/HTTP body encoding.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum OtlpProtocol {
    #[default]
    Protobuf,
    Json,
}

/// `[telemetry]`, checked.
#[derive(Debug, Clone, PartialEq)]
pub struct TelemetryConfig {
    /// Where spans are posted: the endpoint with `/v1/traces`.
    pub traces_url: String,
    pub protocol: OtlpProtocol,
    pub service_name: String,
    pub sample_ratio: f64,
    pub flush_interval: Duration,
    pub timeout: Duration,
}

/// `[log] format`.
pub(super) fn log_format(raw: Option<&RawLog>) -> Option<AccessLogFormat> {
    raw.and_then(|l| l.format)
}

/// `[telemetry]`, when the config has one.
pub(super) fn telemetry(
    cx: &Ctx<'_>,
    raw: Option<&RawTelemetry>,
) -> Result<Option<TelemetryConfig>, ConfigError> {
    let Some(t) = raw else {
        return Ok(None);
    };
    let endpoint = t.otlp_endpoint.get_ref().trim_end_matches('/');
    match url::Url::parse(endpoint) {
        Ok(u) if matches!(u.scheme(), "http" | "https") && u.host().is_some() => {}
        _ => {
            return cx.err(
                t.otlp_endpoint.span(),
                "telemetry.otlp_endpoint",
                "must be an http(s) URL such as http://127.0.0.1:4318",
            );
        }
    }
    let sample_ratio = t.sample_ratio.unwrap_or(1.0);
    if !(0.0..=1.0).contains(&sample_ratio) {
        return cx.err(
            t.otlp_endpoint.span(),
            "telemetry.sample_ratio",
            "must be from 0 to 1",
        );
    }
    let duration = |v: &Option<Spanned<String>>, key: &str, default: u64| match v {
        Some(d) => cx.duration(d, key).and_then(|d| match d.is_zero() {
            true => cx.err(d_span(v), key, "must be above zero"),
            false => Ok(d),
        }),
        None => Ok(Duration::from_secs(default)),
    };
    Ok(Some(TelemetryConfig {
        traces_url: format!("{endpoint}/v1/traces"),
        protocol: t.protocol.unwrap_or_default(),
        service_name: t
            .service_name
            .clone()
            .unwrap_or_else(|| "switchboard".into()),
        sample_ratio,
        flush_interval: duration(&t.flush_interval, "telemetry.flush_interval", 2)?,
        timeout: duration(&t.timeout, "telemetry.timeout", 10)?,
    }))
}

fn d_span(v: &Option<Spanned<String>>) -> std::ops::Range<usize> {
    v.as_ref().map_or(0..0, Spanned::span)
}
