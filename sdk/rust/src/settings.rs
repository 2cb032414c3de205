//! A plugin's `settings` table as a serde struct.
//!
//! ```ignore
//! #[derive(serde::Deserialize)]
//! #[serde(deny_unknown_fields)]       // a misspelt key refuses the config, by name
//! struct Settings {
//!     #[serde(default = "ten")]
//!     percent: u64,
//! }
//! impl switchboard_sdk::settings::Settings for Settings {
//!     fn check(&self) -> Result<(), String> {
//!         (self.percent <= 100).then_some(()).ok_or("percent is at most 100".into())
//!     }
//! }
//! // validate-settings, called by the gateway at load and at every reload:
//! fn validate_settings(s: Vec<(String, String)>) -> Result<(), String> {
//!     switchboard_sdk::settings::validate::<Settings>(&s)
//! }
//! // in a call:
//! let s: Settings = switchboard_sdk::settings::load()?;
//! ```
//!
//! [`load`] asks the host for each field the struct names (after serde's renames), so
//! a struct using `#[serde(flatten)]` is read with [`from_pairs`] instead. An instance
//! may keep what it loaded for its lifetime: the gateway makes new instances when the
//! settings change.

use serde::de::{self, DeserializeOwned, Visitor};

/// A settings struct: serde reads its fields, [`Settings::check`] what serde cannot say.
pub trait Settings: DeserializeOwned {
    /// Checks across fields (ranges, one field needing another). The message refuses
    /// the config.
    fn check(&self) -> Result<(), String> {
        Ok(())
    }
}

/// A plugin without settings: any key is refused.
#[derive(serde::Deserialize, Debug, Default)]
#[serde(deny_unknown_fields)]
pub struct None {}

impl Settings for None {}

/// Reads `(name, JSON text)` pairs, as `validate-settings` receives them, into `T`.
pub fn from_pairs<T: DeserializeOwned>(pairs: &[(String, String)]) -> Result<T, String> {
    let mut map = serde_json::Map::new();
    for (name, text) in pairs {
        let value: serde_json::Value =
            serde_json::from_str(text).map_err(|e| format!("setting '{name}': {e}"))?;
        map.insert(name.clone(), value);
    }
    serde_json::from_value(serde_json::Value::Object(map)).map_err(|e| format!("settings: {e}"))
}

/// `validate-settings` from `T`: read, then [`Settings::check`]ed.
pub fn validate<T: Settings>(pairs: &[(String, String)]) -> Result<(), String> {
    from_pairs::<T>(pairs)?.check()
}

/// [`validate`], its message prefixed with the plugin's name (`builtin:cohere: …`), as
/// the gateway's first-party plugins say it.
pub fn validate_as<T: Settings>(plugin: &str, pairs: &[(String, String)]) -> Result<(), String> {
    validate::<T>(pairs).map_err(|e| format!("{plugin}: {e}"))
}

/// A cloud region setting: lower-case letters, digits and `-` (`us-east-1`,
/// `ap-guangzhou`), or unset; `example` names one in the refusal.
pub fn check_region(region: Option<&str>, cloud: &str, example: &str) -> Result<(), String> {
    match region {
        Some(r)
            if r.is_empty()
                || !r
                    .chars()
                    .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-') =>
        {
            Err(format!(
                "region \"{r}\" is not {cloud} region (e.g. {example})"
            ))
        }
        _ => Ok(()),
    }
}

/// Setting `name` asked of the host alone and read as a whole number (its JSON text
/// trimmed); `default` when it is not set or not one. For a plugin that reads a number
/// or two on its own instead of a settings struct.
pub fn u64_or(name: &str, default: u64) -> u64 {
    crate::host::setting(name)
        .and_then(|v| v.trim().parse::<u64>().ok())
        .unwrap_or(default)
}

/// This plugin's settings, asked of the host field by field.
pub fn load<T: DeserializeOwned>() -> Result<T, String> {
    let fields = field_names::<T>()?;
    let mut pairs = Vec::with_capacity(fields.len());
    for name in fields {
        if let Some(text) = crate::host::setting(name) {
            pairs.push((name.to_string(), text));
        }
    }
    from_pairs(&pairs)
}

thread_local! {
    static LOADED: std::cell::RefCell<Vec<std::rc::Rc<dyn std::any::Any>>> =
        const { std::cell::RefCell::new(Vec::new()) };
}

/// [`load`], asked of the host once per instance and kept: a plugin's settings do not
/// change while an instance lives (new settings come with new instances), and a
/// plugin on the request path saves a host call per field per request.
pub fn load_once<T: DeserializeOwned + 'static>() -> Result<std::rc::Rc<T>, String> {
    let kept = LOADED.with_borrow(|l| l.iter().find_map(|v| v.clone().downcast::<T>().ok()));
    if let Some(t) = kept {
        return Ok(t);
    }
    let t = std::rc::Rc::new(load::<T>()?);
    LOADED.with_borrow_mut(|l| l.push(t.clone()));
    Ok(t)
}

/// The field names serde reads `T` by: a deserializer that stops at the struct.
fn field_names<T: DeserializeOwned>() -> Result<&'static [&'static str], String> {
    match T::deserialize(Fields) {
        Err(Stop(Some(fields))) => Ok(fields),
        _ => {
            Err("settings::load reads structs with named fields; use from_pairs for others".into())
        }
    }
}

struct Fields;

#[derive(Debug)]
struct Stop(Option<&'static [&'static str]>);

impl std::fmt::Display for Stop {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("field names read")
    }
}

impl std::error::Error for Stop {}

impl de::Error for Stop {
    fn custom<M: std::fmt::Display>(_: M) -> Self {
        Stop(None)
    }
}

impl<'de> de::Deserializer<'de> for Fields {
    type Error = Stop;

    fn deserialize_any<V: Visitor<'de>>(self, _: V) -> Result<V::Value, Stop> {
        Err(Stop(None))
    }

    fn deserialize_struct<V: Visitor<'de>>(
        self,
        _: &'static str,
        fields: &'static [&'static str],
        _: V,
    ) -> Result<V::Value, Stop> {
        Err(Stop(Some(fields)))
    }

    serde::forward_to_deserialize_any! {
        bool i8 i16 i32 i64 i128 u8 u16 u32 u64 u128 f32 f64 char str string
        bytes byte_buf option unit unit_struct newtype_struct seq tuple
        tuple_struct map enum identifier ignored_any
    }
}

#[cfg(all(test, not(target_arch = "wasm32")))]
mod tests {
    use crate::testing::FakeHost;

    #[derive(serde::Deserialize, Debug, PartialEq)]
    #[serde(deny_unknown_fields, rename_all = "kebab-case")]
    struct S {
        #[serde(default)]
        slow_ms: u64,
        tag_name: Option<String>,
    }

    impl super::Settings for S {
        fn check(&self) -> Result<(), String> {
            (self.slow_ms <= 60_000)
                .then_some(())
                .ok_or_else(|| format!("slow-ms {} is over a minute", self.slow_ms))
        }
    }

    fn pairs(p: &[(&str, &str)]) -> Vec<(String, String)> {
        p.iter()
            .map(|(a, b)| (a.to_string(), b.to_string()))
            .collect()
    }

    #[test]
    fn validate_reads_checks_and_names_what_is_wrong() {
        assert!(super::validate::<S>(&pairs(&[("slow-ms", "2000")])).is_ok());
        let e = super::validate::<S>(&pairs(&[("slow-ms", "\"fast\"")])).unwrap_err();
        assert!(e.contains("invalid type"), "{e}");
        let e = super::validate::<S>(&pairs(&[("slow_ms", "1")])).unwrap_err();
        assert!(e.contains("unknown field `slow_ms`"), "{e}");
        let e = super::validate::<S>(&pairs(&[("slow-ms", "90000")])).unwrap_err();
        assert_eq!(e, "slow-ms 90000 is over a minute");
        assert!(super::validate::<super::None>(&pairs(&[("x", "1")])).is_err());
    }

    #[test]
    fn validate_as_names_the_plugin() {
        assert!(super::validate_as::<S>("builtin:x", &pairs(&[("slow-ms", "5")])).is_ok());
        let e = super::validate_as::<S>("builtin:x", &pairs(&[("slow-ms", "90000")]));
        assert_eq!(e.unwrap_err(), "builtin:x: slow-ms 90000 is over a minute");
    }

    #[test]
    fn u64_or_reads_a_number_or_falls_back() {
        FakeHost::new()
            .setting("limit", 7)
            .setting("name", "seven")
            .install();
        assert_eq!(super::u64_or("limit", 60), 7);
        assert_eq!(super::u64_or("name", 60), 60);
        assert_eq!(super::u64_or("absent", 60), 60);
    }

    #[test]
    fn load_asks_the_host_for_each_renamed_field() {
        FakeHost::new()
            .setting("slow-ms", 250)
            .setting("tag-name", "code")
            .install();
        let s: S = super::load().unwrap();
        assert_eq!(
            s,
            S {
                slow_ms: 250,
                tag_name: Some("code".into())
            }
        );
        FakeHost::new().install();
        assert_eq!(super::load::<S>().unwrap().slow_ms, 0);
    }
}
