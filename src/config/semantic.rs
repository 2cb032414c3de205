//! `[cache] semantic = { ... }`: the semantic cache — a miss of the exact cache is
//! looked up by the embedding of its prompt (on `route`, an embeddings route of this
//! gateway) among the answers of the same route, scope and parameters, and served when
//! it is at least `threshold` similar.

use serde::Deserialize;
use toml::Spanned;

use super::ConfigError;
use super::fields::Ctx;

/// The semantic cache.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawSemantic {
    /// The embeddings route the prompts are embedded on (a route of this gateway; its
    /// calls are billed to the request, as a guardrail's are).
    pub route: Spanned<String>,
    /// Cosine similarity at or above which a stored answer is served (default 0.95).
    pub threshold: Option<Spanned<f64>>,
    /// `key` (default: a key's requests find only its own answers) or `gateway`.
    pub scope: Option<Spanned<String>>,
    /// Most prompts indexed (default 10000).
    pub max_entries: Option<u64>,
    /// Most memory the index may hold, in MiB (default 64).
    pub max_mib: Option<u64>,
    /// A chat route that judges, for a sample of hits, whether the new prompt asks what
    /// the stored one did (the false-hit rate in the metrics).
    pub verify: Option<String>,
    /// The share of hits verified, 0 to 1 (default 0.1 when `verify` is set).
    pub verify_sample: Option<f64>,
}

/// Whose answers a request may be served semantically.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SemanticScope {
    Key,
    Gateway,
}

#[derive(Debug, Clone, PartialEq)]
pub struct SemanticConfig {
    pub route: String,
    pub threshold: f32,
    pub scope: SemanticScope,
    pub max_entries: usize,
    pub max_bytes: usize,
    pub verify: Option<String>,
    pub verify_sample: f64,
}

pub(super) fn semantic(
    cx: &Ctx<'_>,
    raw: Option<&RawSemantic>,
) -> Result<Option<SemanticConfig>, ConfigError> {
    let Some(r) = raw else { return Ok(None) };
    let key = "cache.semantic";
    let threshold = match &r.threshold {
        None => 0.95,
        Some(t) if (0.5..=1.0).contains(t.get_ref()) => *t.get_ref(),
        Some(t) => {
            return cx.err(t.span(), format!("{key}.threshold"), "must be 0.5 to 1");
        }
    };
    let scope = match r.scope.as_ref().map(|s| s.get_ref().as_str()) {
        None | Some("key") => SemanticScope::Key,
        Some("gateway") => SemanticScope::Gateway,
        Some(other) => {
            let span = r.scope.as_ref().map(Spanned::span).unwrap_or_default();
            return cx.err(
                span,
                format!("{key}.scope"),
                format!("'{other}' must be \"key\" or \"gateway\""),
            );
        }
    };
    let sample = r.verify_sample.unwrap_or(0.1);
    if !(0.0..=1.0).contains(&sample) {
        return cx.err(
            r.route.span(),
            format!("{key}.verify_sample"),
            "must be 0 to 1",
        );
    }
    let max_mib = r.max_mib.unwrap_or(64).clamp(1, 64 << 10);
    Ok(Some(SemanticConfig {
        route: r.route.get_ref().clone(),
        threshold: threshold as f32,
        scope,
        max_entries: r.max_entries.unwrap_or(10_000).clamp(1, 10_000_000) as usize,
        max_bytes: (max_mib as usize) << 20,
        verify: r.verify.clone(),
        verify_sample: sample,
    }))
}
