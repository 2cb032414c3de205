//! `builtin:redact-pii`: masks e-mail addresses and card-like digit runs.
//!
//! A plain scanner, no regex engine, so the component stays small and each call
//! costs microseconds. E-mails become `[EMAIL]`; runs of 13 to 19 digits, spaces
//! or dashes allowed between them, become `[CARD]`.

// Kept on contract 0.2.0: the gateway must keep loading 0.2.0 components beside
// 0.3.0 ones, and this one is used by the tests for that.
wit_bindgen::generate!({ world: "redactor", path: "../../wit/v0.2" });

use exports::switchboard::plugin::text_redactor;
use switchboard::plugin::types::Direction;

struct RedactPii;

impl Guest for RedactPii {
    /// It has no settings: any is a mistake worth saying.
    fn validate_settings(settings: Vec<(String, String)>) -> Result<(), String> {
        match settings.first() {
            Some((name, _)) => Err(format!("builtin:redact-pii has no setting '{name}'")),
            None => Ok(()),
        }
    }
}

fn is_local(c: char) -> bool {
    c.is_ascii_alphanumeric() || "._%+-".contains(c)
}

fn is_domain(c: char) -> bool {
    c.is_ascii_alphanumeric() || c == '.' || c == '-'
}

/// Masks e-mail addresses in `text`.
fn mask_emails(text: &str) -> String {
    let chars: Vec<char> = text.chars().collect();
    let mut out = String::with_capacity(text.len());
    let mut i = 0;
    let mut copied = 0;
    while i < chars.len() {
        if chars[i] == '@' {
            let mut start = i;
            while start > copied && is_local(chars[start - 1]) {
                start -= 1;
            }
            let mut end = i + 1;
            while end < chars.len() && is_domain(chars[end]) {
                end += 1;
            }
            while end > i + 1 && (chars[end - 1] == '.' || chars[end - 1] == '-') {
                end -= 1;
            }
            let domain: String = chars[i + 1..end].iter().collect();
            let valid_domain = domain.contains('.')
                && !domain.starts_with('.')
                && domain.rsplit('.').next().is_some_and(|tld| tld.len() >= 2);
            if start < i && valid_domain {
                out.extend(&chars[copied..start]);
                out.push_str("[EMAIL]");
                copied = end;
                i = end;
                continue;
            }
        }
        i += 1;
    }
    out.extend(&chars[copied..]);
    out
}

/// Masks runs of 13..=19 digits separated by at most single spaces or dashes.
fn mask_cards(text: &str) -> String {
    let chars: Vec<char> = text.chars().collect();
    let mut out = String::with_capacity(text.len());
    let mut i = 0;
    while i < chars.len() {
        if chars[i].is_ascii_digit() && (i == 0 || !chars[i - 1].is_ascii_alphanumeric()) {
            let mut j = i;
            let mut digits = 0;
            let mut last_digit_end = i;
            while j < chars.len() {
                if chars[j].is_ascii_digit() {
                    digits += 1;
                    j += 1;
                    last_digit_end = j;
                } else if (chars[j] == ' ' || chars[j] == '-')
                    && j + 1 < chars.len()
                    && chars[j + 1].is_ascii_digit()
                {
                    j += 1;
                } else {
                    break;
                }
            }
            let bounded =
                last_digit_end == chars.len() || !chars[last_digit_end].is_ascii_alphanumeric();
            if (13..=19).contains(&digits) && bounded {
                out.push_str("[CARD]");
                i = last_digit_end;
                continue;
            }
            out.extend(&chars[i..last_digit_end]);
            i = last_digit_end;
            continue;
        }
        out.push(chars[i]);
        i += 1;
    }
    out
}

/// `text` masked; most texts have nothing to mask and are handed back as they are,
/// without a scan per character.
fn mask(text: String) -> String {
    let text = if text.contains('@') {
        mask_emails(&text)
    } else {
        text
    };
    if text.bytes().filter(u8::is_ascii_digit).count() >= 13 {
        mask_cards(&text)
    } else {
        text
    }
}

impl text_redactor::Guest for RedactPii {
    fn redact(_dir: Direction, texts: Vec<String>) -> Vec<String> {
        texts.into_iter().map(mask).collect()
    }
}

export!(RedactPii);
