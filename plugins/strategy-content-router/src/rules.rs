//! The router's settings (a serde struct: unknown keys and bad values refuse the
//! config) and its rules compiled for matching.

use regex::Regex;
use serde::Deserialize;
use switchboard_sdk::types::RequestShape;

#[derive(Deserialize, Debug)]
#[serde(deny_unknown_fields)]
pub struct Settings {
    #[serde(default)]
    pub rules: Vec<Rule>,
    /// The tag to prefer when no rule matches.
    #[serde(default)]
    pub default: Option<String>,
}

/// One rule: every condition it sets must hold.
#[derive(Deserialize, Debug)]
#[serde(deny_unknown_fields)]
pub struct Rule {
    pub tag: String,
    /// Any of these words or phrases in the text (case-insensitive).
    #[serde(default)]
    pub keywords: Vec<String>,
    /// A regular expression (Rust's `regex` syntax) that matches somewhere in the text.
    pub regex: Option<String>,
    /// Estimated prompt tokens at least / at most.
    pub min_tokens: Option<u64>,
    pub max_tokens: Option<u64>,
    pub images: Option<bool>,
    pub audio: Option<bool>,
    pub tools: Option<bool>,
    pub json_output: Option<bool>,
    /// Only the tagged targets (no fallbacks): for requests the others cannot serve.
    #[serde(default)]
    pub only: bool,
}

impl switchboard_sdk::settings::Settings for Settings {
    fn check(&self) -> Result<(), String> {
        Compiled::new_ref(self).map(|_| ())
    }
}

/// A condition on the request's shape: what the rule wants, and where the shape says it.
type Flag = (Option<bool>, fn(&RequestShape) -> bool);

/// A rule with its regular expression compiled and keywords lowered.
pub struct CompiledRule {
    tag: String,
    keywords: Vec<String>,
    regex: Option<Regex>,
    min_tokens: u64,
    max_tokens: u64,
    flags: [Flag; 4],
    only: bool,
}

pub struct Compiled {
    rules: Vec<CompiledRule>,
    default: Option<String>,
}

/// At most this many rules, keywords per rule, and bytes of a regular expression.
const MAX_RULES: usize = 64;
const MAX_KEYWORDS: usize = 256;
const MAX_REGEX: usize = 4096;

impl Compiled {
    pub fn new(s: Settings) -> Result<Compiled, String> {
        Self::new_ref(&s)
    }

    fn new_ref(s: &Settings) -> Result<Compiled, String> {
        if s.rules.len() > MAX_RULES {
            return Err(format!("at most {MAX_RULES} rules, not {}", s.rules.len()));
        }
        let rules = s
            .rules
            .iter()
            .enumerate()
            .map(|(i, r)| compile(r).map_err(|e| format!("rules[{i}] (tag '{}'): {e}", r.tag)))
            .collect::<Result<_, _>>()?;
        if s.default.as_deref() == Some("") {
            return Err("default: a tag, not an empty string".into());
        }
        Ok(Compiled {
            rules,
            default: s.default.clone(),
        })
    }

    /// The first matching rule whose tag a target has (`present`): the tag and
    /// whether it is `only`; else `default`'s tag when present.
    pub fn choose<'a>(
        &'a self,
        text: &str,
        tokens: u64,
        shape: &RequestShape,
        present: impl Fn(&str) -> bool,
    ) -> Option<(&'a str, bool)> {
        let lowered = text.to_lowercase();
        let hit = self.rules.iter().find(|r| {
            present(&r.tag)
                && (r.min_tokens..=r.max_tokens).contains(&tokens)
                && r.flags
                    .iter()
                    .all(|(want, has)| want.is_none_or(|w| w == has(shape)))
                && (r.keywords.is_empty() || r.keywords.iter().any(|k| lowered.contains(k)))
                && r.regex.as_ref().is_none_or(|re| re.is_match(text))
        });
        match hit {
            Some(r) => Some((&r.tag, r.only)),
            None => self
                .default
                .as_deref()
                .filter(|t| present(t))
                .map(|t| (t, false)),
        }
    }
}

fn compile(r: &Rule) -> Result<CompiledRule, String> {
    if r.tag.is_empty() {
        return Err("tag: a tag, not an empty string".into());
    }
    if r.keywords.len() > MAX_KEYWORDS || r.keywords.iter().any(|k| k.trim().is_empty()) {
        return Err(format!("keywords: 1 to {MAX_KEYWORDS} non-empty words"));
    }
    let (min, max) = (r.min_tokens.unwrap_or(0), r.max_tokens.unwrap_or(u64::MAX));
    if min > max {
        return Err(format!("min_tokens {min} is above max_tokens {max}"));
    }
    let regex = match &r.regex {
        Some(src) if src.len() > MAX_REGEX => {
            return Err(format!("regex: at most {MAX_REGEX} bytes"));
        }
        Some(src) => Some(
            regex::RegexBuilder::new(src)
                .size_limit(1 << 20)
                .build()
                .map_err(|e| format!("regex: {e}"))?,
        ),
        None => None,
    };
    let conditions = !r.keywords.is_empty()
        || regex.is_some()
        || r.min_tokens.is_some()
        || r.max_tokens.is_some()
        || [r.images, r.audio, r.tools, r.json_output]
            .iter()
            .any(Option::is_some);
    if !conditions {
        return Err("sets no condition (keywords, regex, min_tokens, max_tokens, images, audio, tools, json_output); use `default` for a tag that always applies".into());
    }
    Ok(CompiledRule {
        tag: r.tag.clone(),
        keywords: r.keywords.iter().map(|k| k.to_lowercase()).collect(),
        regex,
        min_tokens: min,
        max_tokens: max,
        flags: [
            (r.images, |s| s.images),
            (r.audio, |s| s.audio),
            (r.tools, |s| s.tools),
            (r.json_output, |s| s.json_output),
        ],
        only: r.only,
    })
}
