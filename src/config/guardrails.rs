//! `[guardrails.*]` and a route's `guardrails = [...]`: guardrail plugins (contract
//! 0.3.0), each acting (`enforce`) or only recording its verdicts (`monitor`), with
//! how long its model calls may wait and the window of streamed text it judges at a
//! time.

use std::collections::BTreeMap;
use std::time::Duration;

use serde::Deserialize;
use toml::Spanned;

use super::fields::{Ctx, RawPlugin};
use super::{ConfigError, OnError, PluginLimits, PluginSpec};

/// A configured guardrail.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawGuardrail {
    /// The component: `builtin:NAME` or a `.wasm` path.
    pub plugin: Spanned<String>,
    /// The plugin's own settings (it checks them at load).
    #[serde(default)]
    pub settings: BTreeMap<String, toml::Value>,
    /// `enforce` (default: its verdicts act) or `monitor` (they are recorded in the
    /// request's story and metrics, and the answer is left as it is).
    pub mode: Option<Spanned<String>>,
    /// When the guardrail fails (a trap, a deadline, a model that does not answer):
    /// `fail-closed` (default: the request is refused) or `fail-open`.
    pub on_error: Option<Spanned<String>>,
    /// CPU time of one call (default `[plugins] deadline`).
    pub deadline: Option<Spanned<String>>,
    pub memory_mib: Option<u64>,
    /// How long its model calls (`models.infer`/`embed`) may wait, per check
    /// (default 30s).
    pub model_timeout: Option<Spanned<String>>,
    /// Characters of a streamed answer judged at a time (default 400).
    pub window: Option<Spanned<u64>>,
}

/// Whether a guardrail's verdicts act.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum GuardMode {
    Enforce,
    Monitor,
}

impl GuardMode {
    pub fn label(self) -> &'static str {
        match self {
            GuardMode::Enforce => "enforce",
            GuardMode::Monitor => "monitor",
        }
    }
}

/// A guardrail as a route uses it.
#[derive(Debug, Clone)]
pub struct GuardrailSpec {
    pub plugin: PluginSpec,
    pub mode: GuardMode,
    pub model_timeout: Duration,
    /// Characters of streamed text per `check-stream` call.
    pub window: usize,
}

const DEFAULT_MODEL_TIMEOUT: Duration = Duration::from_secs(30);
const DEFAULT_WINDOW: usize = 400;
const MAX_WINDOW: u64 = 64 << 10;

/// The guardrails a route names: `[guardrails.NAME]` entries or `builtin:`/`.wasm`
/// plugins used as they are (enforcing, failing closed).
pub(super) fn route(
    cx: &Ctx<'_>,
    table: &BTreeMap<String, RawGuardrail>,
    names: &[Spanned<String>],
    limits: PluginLimits,
    key: &str,
) -> Result<Vec<GuardrailSpec>, ConfigError> {
    names
        .iter()
        .map(|n| match table.get(n.get_ref()) {
            Some(g) => one(cx, n.get_ref(), g, limits),
            None if n.get_ref().starts_with("builtin:") || n.get_ref().ends_with(".wasm") => {
                Ok(GuardrailSpec {
                    plugin: PluginSpec {
                        name: n.get_ref().clone(),
                        source: cx.source(n, &format!("{key}.guardrails"))?,
                        settings: BTreeMap::new(),
                        limits,
                        on_error: OnError::FailClosed,
                    },
                    mode: GuardMode::Enforce,
                    model_timeout: DEFAULT_MODEL_TIMEOUT,
                    window: DEFAULT_WINDOW,
                })
            }
            None => cx.err(
                n.span(),
                format!("{key}.guardrails"),
                format!(
                    "'{}' is not a [guardrails] entry, a builtin: plugin or a .wasm path",
                    n.get_ref()
                ),
            ),
        })
        .collect()
}

fn one(
    cx: &Ctx<'_>,
    name: &str,
    g: &RawGuardrail,
    limits: PluginLimits,
) -> Result<GuardrailSpec, ConfigError> {
    let key = format!("guardrails.{name}");
    let plugin = RawPlugin {
        plugin: g.plugin.clone(),
        settings: g.settings.clone(),
        on_error: g.on_error.clone(),
        deadline: g.deadline.clone(),
        memory_mib: g.memory_mib,
    };
    let plugin = cx.plugin(name, &plugin, &key, limits, OnError::FailClosed)?;
    let mode = match &g.mode {
        None => GuardMode::Enforce,
        Some(m) => match m.get_ref().as_str() {
            "enforce" => GuardMode::Enforce,
            "monitor" => GuardMode::Monitor,
            other => {
                return cx.err(
                    m.span(),
                    format!("{key}.mode"),
                    format!("'{other}' must be \"enforce\" or \"monitor\""),
                );
            }
        },
    };
    let model_timeout = match &g.model_timeout {
        Some(t) => cx.duration(t, &format!("{key}.model_timeout"))?,
        None => DEFAULT_MODEL_TIMEOUT,
    };
    let window = match &g.window {
        None => DEFAULT_WINDOW,
        Some(w) if (1..=MAX_WINDOW).contains(w.get_ref()) => *w.get_ref() as usize,
        Some(w) => {
            return cx.err(
                w.span(),
                format!("{key}.window"),
                format!("must be 1 to {MAX_WINDOW} characters"),
            );
        }
    };
    Ok(GuardrailSpec {
        plugin,
        mode,
        model_timeout,
        window,
    })
}
