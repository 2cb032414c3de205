//! The provider catalog: `catalog/providers.toml`, embedded in the binary and read
//! once. A preset names an adapter, base URL, the usual key variable (or AWS
//! credential variables), adapter settings for the provider's quirks, headers, and
//! prices per model with their source and the date they were checked. Config
//! `preset = "<name>"` starts from one (`config::presets`); what the config sets wins.

use std::collections::BTreeMap;
use std::sync::LazyLock;

use serde::Deserialize;

/// The catalog's text, as shipped.
pub const TEXT: &str = include_str!("../catalog/providers.toml");

/// Prices per million tokens.
#[derive(Debug, Clone, Copy, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Prices {
    pub input: f64,
    /// Input served from the provider's prompt cache (the input price when absent).
    pub cached_input: Option<f64>,
    pub output: f64,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Preset {
    pub adapter: String,
    pub base_url: String,
    pub api_key_env: Option<String>,
    pub aws_credentials_env: Option<Vec<String>>,
    #[serde(default)]
    pub settings: BTreeMap<String, toml::Value>,
    #[serde(default)]
    pub headers: BTreeMap<String, String>,
    /// A credential the host obtains (`config::credentials`' table), filled under
    /// the provider's own.
    pub credential: Option<toml::Value>,
    /// What the user must still set, or where the numbers came from.
    pub note: Option<String>,
    /// Fields the provider must set itself (the preset's value is a placeholder, such as
    /// Azure's resource name in `base_url`).
    #[serde(default)]
    pub must_set: Vec<String>,
    /// The currency the prices are published in (US dollars when absent); converted
    /// with the config's `[catalog] fx`.
    pub currency: Option<String>,
    /// Where the prices came from.
    pub source: String,
    /// When they were checked.
    pub checked: String,
    #[serde(default)]
    pub models: BTreeMap<String, Prices>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Catalog {
    version: String,
    presets: BTreeMap<String, Preset>,
}

static CATALOG: LazyLock<Catalog> = LazyLock::new(|| match toml::from_str(TEXT) {
    Ok(c) => c,
    // The file is checked by a unit test; a broken build must not start half-configured.
    Err(e) => panic!("catalog/providers.toml does not parse: {e}"),
});

/// The catalog's date.
pub fn version() -> &'static str {
    &CATALOG.version
}

pub fn preset(name: &str) -> Option<&'static Preset> {
    CATALOG.presets.get(name)
}

pub fn names() -> impl Iterator<Item = &'static str> {
    CATALOG.presets.keys().map(String::as_str)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_preset_is_usable_and_dated() {
        assert!(names().count() >= 22);
        for name in names() {
            let p = preset(name).unwrap();
            let adapter = p.adapter.strip_prefix("builtin:").unwrap();
            assert!(crate::builtin::exists(adapter), "{name}: {}", p.adapter);
            assert!(url::Url::parse(&p.base_url).is_ok(), "{name}");
            assert!(
                p.checked.len() >= 7 && p.checked.starts_with("20"),
                "{name}: {}",
                p.checked
            );
            assert!(p.source.starts_with("https://"), "{name}");
            for f in &p.must_set {
                assert!(
                    ["base_url", "api_key_env"].contains(&f.as_str()),
                    "{name}: {f}"
                );
            }
            for (model, price) in &p.models {
                for x in [price.input, price.output, price.cached_input.unwrap_or(0.0)] {
                    assert!(x.is_finite() && x >= 0.0, "{name}/{model}");
                }
            }
        }
        let doc = include_str!("../docs/src/providers.md");
        for name in names() {
            assert!(
                doc.contains(&format!("preset = \"{name}\"")),
                "docs/src/providers.md has no snippet for {name}"
            );
        }
        for must in [
            "openai",
            "anthropic",
            "azure-openai",
            "gemini",
            "bedrock",
            "cohere",
            "mistral",
            "deepseek",
            "qwen",
            "qianfan",
            "hunyuan",
            "zhipu",
            "moonshot",
            "groq",
            "together",
            "fireworks",
            "openrouter",
            "xai",
            "huggingface",
            "ollama",
            "vllm",
            "lmstudio",
        ] {
            assert!(preset(must).is_some(), "no preset {must}");
        }
    }
}
