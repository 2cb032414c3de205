//! `preset = "<name>"` on a provider: what the catalog (`crate::catalog`) gives is
//! filled into the raw provider before it is validated — adapter, base URL, key
//! variable, AWS credential variables, settings and headers — each only where the
//! config leaves it unset (settings and headers key by key). Prices are read per
//! target later (`routes`), also only where the target sets none.

use std::collections::BTreeMap;

use toml::Spanned;

use super::fields::Ctx;
use super::raw::RawProvider;
use super::*;

/// The preset's credential under the provider's own (its fields filling the unset
/// ones); none where the provider set a key instead.
fn credential(
    p: &mut RawProvider,
    c: &toml::Value,
    preset: &str,
    span: std::ops::Range<usize>,
) -> Result<(), ConfigError> {
    let theirs: super::credentials::RawCredential =
        c.clone().try_into().map_err(|e| ConfigError::Invalid {
            line: 0,
            key: format!("catalog.{preset}.credential"),
            message: format!("{e}"),
        })?;
    p.credential = match p.credential.take() {
        Some(mine) => {
            let at = mine.span();
            Some(Spanned::new(at, mine.into_inner().or(&theirs)))
        }
        None if p.api_key_env.is_none() => Some(Spanned::new(span, theirs)),
        None => None,
    };
    Ok(())
}

pub(super) fn apply(
    cx: &Ctx<'_>,
    providers: &mut BTreeMap<String, RawProvider>,
) -> Result<(), ConfigError> {
    for (name, p) in providers.iter_mut() {
        let key = format!("providers.{name}");
        let Some(preset_name) = &p.preset else {
            without_preset(cx, name, p)?;
            continue;
        };
        let Some(preset) = crate::catalog::preset(preset_name.get_ref()) else {
            return cx.err(
                preset_name.span(),
                format!("{key}.preset"),
                format!(
                    "unknown preset '{}'; the catalog has {}",
                    preset_name.get_ref(),
                    crate::catalog::names().collect::<Vec<_>>().join(", ")
                ),
            );
        };
        let span = preset_name.span();
        for field in &preset.must_set {
            let unset = match field.as_str() {
                "base_url" => p.base_url.get_ref().is_empty(),
                _ => p.api_key_env.is_none(),
            };
            if unset {
                return cx.err(
                    span,
                    format!("{key}.{field}"),
                    format!(
                        "preset '{}' needs {field} set: {}",
                        preset_name.get_ref(),
                        preset.note.as_deref().unwrap_or("its value is your own")
                    ),
                );
            }
        }
        if p.adapter.get_ref().is_empty() {
            p.adapter = Spanned::new(span.clone(), preset.adapter.clone());
        }
        if p.base_url.get_ref().is_empty() {
            p.base_url = Spanned::new(span.clone(), preset.base_url.clone());
        }
        if let Some(c) = &preset.credential {
            let name = preset_name.get_ref().clone();
            credential(p, c, &name, span.clone())?;
        }
        if p.api_key_env.is_none() && p.credential.is_none() {
            p.api_key_env = preset.api_key_env.clone();
        }
        if p.aws_credentials_env.is_none() {
            p.aws_credentials_env = preset
                .aws_credentials_env
                .clone()
                .map(|v| Spanned::new(span.clone(), v));
        }
        // A preset's settings belong to its adapter: another adapter gets none of them.
        if p.adapter.get_ref() == &preset.adapter {
            for (k, v) in &preset.settings {
                p.settings.entry(k.clone()).or_insert_with(|| v.clone());
            }
        }
        for (k, v) in &preset.headers {
            p.headers.entry(k.clone()).or_insert_with(|| v.clone());
        }
    }
    Ok(())
}

/// A provider without a preset names its adapter and base URL itself.
fn without_preset(cx: &Ctx<'_>, name: &str, p: &RawProvider) -> Result<(), ConfigError> {
    let key = format!("providers.{name}");
    for (what, v) in [("adapter", &p.adapter), ("base_url", &p.base_url)] {
        if v.get_ref().is_empty() {
            // The provider's table header (`[providers.x]` or `[providers."x"]`).
            let header = [format!("[{key}]"), format!("[providers.\"{name}\"]")]
                .iter()
                .find_map(|h| cx.text.find(h.as_str()));
            return Err(ConfigError::Invalid {
                line: header.map_or(0, |at| super::fields::line_of(cx.text, at)),
                key: format!("{key}.{what}"),
                message: format!(
                    "is required (or set preset = one of {})",
                    crate::catalog::names().collect::<Vec<_>>().join(", ")
                ),
            });
        }
    }
    Ok(())
}
