//! The access log: one line per request, written when the request settles — time,
//! request id, inbound API, gateway key, route, provider and model that answered,
//! status, duration, tokens, cache result, and the error label of a failed request —
//! as logfmt text or JSON, to a file (appended) or standard output. Lines are handed to
//! a writer thread (`batch.rs`); none is waited for, and when the writer falls behind
//! they are dropped and counted. Keys never appear: only gateway key names do, and
//! each line is scrubbed of provider keys like every other output.

use std::io::Write;
use std::sync::Arc;
use std::time::SystemTime;

use arc_swap::ArcSwapOption;
use serde_json::json;

use crate::batch::Batcher;
use crate::config::{AccessLogConfig, AccessLogFormat};

/// What one line says.
pub struct Entry<'a> {
    pub request_id: &'a str,
    pub api: &'a str,
    pub key: &'a str,
    pub route: &'a str,
    pub provider: &'a str,
    pub model: &'a str,
    pub status: u16,
    pub duration_ms: u64,
    pub prompt_tokens: u64,
    pub completion_tokens: u64,
    pub cache: &'a str,
    pub error: &'a str,
}

pub struct Writer {
    cfg: AccessLogConfig,
    batch: Batcher<String>,
}

/// The gateway's access log; off unless `[access_log]` is configured.
#[derive(Default)]
pub struct AccessLog {
    writer: ArcSwapOption<Writer>,
}

/// A logfmt value: bare when it can be, quoted (with `"` and `\` escaped) otherwise.
fn logfmt(v: &str) -> String {
    if !v.is_empty()
        && v.bytes()
            .all(|b| b.is_ascii_graphic() && b != b'"' && b != b'=')
    {
        return v.to_string();
    }
    format!("\"{}\"", v.replace('\\', "\\\\").replace('"', "\\\""))
}

fn or_dash(v: &str) -> &str {
    if v.is_empty() { "-" } else { v }
}

impl Entry<'_> {
    /// The line, without its newline.
    pub fn line(&self, format: AccessLogFormat, at: SystemTime) -> String {
        let time = humantime::format_rfc3339_millis(at).to_string();
        let line = match format {
            AccessLogFormat::Json => json!({
                "time": time, "request_id": self.request_id, "api": self.api, "key": self.key,
                "route": self.route, "provider": self.provider, "model": self.model,
                "status": self.status, "duration_ms": self.duration_ms,
                "prompt_tokens": self.prompt_tokens, "completion_tokens": self.completion_tokens,
                "cache": self.cache, "error": self.error,
            })
            .to_string(),
            AccessLogFormat::Text => {
                let pairs = [
                    ("request_id", self.request_id),
                    ("api", self.api),
                    ("key", self.key),
                    ("route", or_dash(self.route)),
                    ("provider", or_dash(self.provider)),
                    ("model", or_dash(self.model)),
                ];
                let mut out = format!("time={time}");
                for (k, v) in pairs {
                    out.push_str(&format!(" {k}={}", logfmt(v)));
                }
                out.push_str(&format!(
                    " status={} duration_ms={} prompt_tokens={} completion_tokens={} cache={} error={}",
                    self.status,
                    self.duration_ms,
                    self.prompt_tokens,
                    self.completion_tokens,
                    logfmt(or_dash(self.cache)),
                    logfmt(or_dash(self.error)),
                ));
                out
            }
        };
        crate::secrets::scrub_owned(line)
    }
}

/// The writer thread's work each tick: the lines appended to the file (or stdout).
fn writer(mut out: Box<dyn Write + Send>) -> impl FnMut(&mut Vec<String>) {
    move |lines| {
        if lines.is_empty() {
            return;
        }
        let mut buf = String::with_capacity(lines.iter().map(|l| l.len() + 1).sum());
        for l in lines.iter() {
            buf.push_str(l);
            buf.push('\n');
        }
        match out.write_all(buf.as_bytes()).and_then(|()| out.flush()) {
            Ok(()) => lines.clear(),
            Err(e) => tracing::warn!(error = %e, "writing the access log failed; retrying"),
        }
    }
}

impl AccessLog {
    /// Follows `[access_log]`: a new writer for new settings, none when it is gone.
    pub fn configure(&self, cfg: Option<&AccessLogConfig>) -> std::io::Result<()> {
        crate::configured::follow(&self.writer, cfg, |want| {
            let out: Box<dyn Write + Send> = match &want.path {
                None => Box::new(std::io::stdout()),
                Some(p) => Box::new(
                    std::fs::OpenOptions::new()
                        .create(true)
                        .append(true)
                        .open(p)
                        .map_err(|e| {
                            std::io::Error::new(
                                e.kind(),
                                format!("access log {}: {e}", p.display()),
                            )
                        })?,
                ),
            };
            let batch = Batcher::start("access-log", writer(out))?;
            Ok(Writer {
                cfg: want.clone(),
                batch,
            })
        })
    }

    /// The writer, when the access log is on.
    pub fn sink(&self) -> Option<Arc<Writer>> {
        self.writer.load_full()
    }
}

impl Writer {
    /// Hands one request's line to the writer thread.
    pub fn log(&self, e: &Entry<'_>) {
        self.batch.push(e.line(self.cfg.format, SystemTime::now()));
    }

    /// Waits (up to 10 s) until every line handed over is written.
    pub fn flush(&self) {
        self.batch.flush();
    }

    /// Lines dropped because the writer fell behind.
    pub fn dropped(&self) -> u64 {
        self.batch
            .dropped
            .load(std::sync::atomic::Ordering::Relaxed)
    }
}

impl crate::configured::Configured for Writer {
    type Config = AccessLogConfig;
    fn config(&self) -> &AccessLogConfig {
        &self.cfg
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines_are_logfmt_or_json_and_quote_what_needs_it() {
        let e = Entry {
            request_id: "req-1",
            api: "chat",
            key: "team a",
            route: "m",
            provider: "oa",
            model: "gpt-x",
            status: 200,
            duration_ms: 12,
            prompt_tokens: 11,
            completion_tokens: 7,
            cache: "",
            error: "",
        };
        let at = std::time::UNIX_EPOCH + std::time::Duration::from_millis(1_700_000_000_123);
        assert_eq!(
            e.line(AccessLogFormat::Text, at),
            "time=2023-11-14T22:13:20.123Z request_id=req-1 api=chat key=\"team a\" route=m provider=oa \
             model=gpt-x status=200 duration_ms=12 prompt_tokens=11 completion_tokens=7 cache=- error=-"
        );
        let v: serde_json::Value =
            serde_json::from_str(&e.line(AccessLogFormat::Json, at)).unwrap();
        assert_eq!(v["key"], "team a");
        assert_eq!(v["status"], 200);
        assert_eq!(v["time"], "2023-11-14T22:13:20.123Z");
    }
}
