//! A batch's input file (OpenAI's JSONL: one `{custom_id, method, url, body}` a line)
//! read for what its requests ask of each route: how many, their estimated prompt
//! tokens (a body's bytes / 4, as for any request) and the output tokens they may
//! write (`max_completion_tokens` or `max_tokens`, else `DEFAULT_OUTPUT`, times `n`).

use std::collections::BTreeMap;

use serde::Deserialize;
use serde_json::value::RawValue;

use crate::pipeline::offline::Ask;

/// Output tokens counted for a request of a batch that sets no maximum (the budget
/// and token-quota policies' own default).
pub const DEFAULT_OUTPUT: u64 = 1024;

#[derive(Deserialize)]
struct Line<'a> {
    #[serde(borrow)]
    body: &'a RawValue,
}

#[derive(Deserialize)]
struct Body {
    model: String,
    max_tokens: Option<u64>,
    max_completion_tokens: Option<u64>,
    n: Option<u64>,
}

/// What the file's requests ask of each route; the line that cannot be read, if any.
pub fn asks(content: &[u8]) -> Result<Vec<Ask>, String> {
    let mut by: BTreeMap<String, Ask> = BTreeMap::new();
    for (i, line) in content.split(|b| *b == b'\n').enumerate() {
        if line.iter().all(u8::is_ascii_whitespace) {
            continue;
        }
        let bad = |e: serde_json::Error| format!("line {} of the batch's input file: {e}", i + 1);
        let l: Line = serde_json::from_slice(line).map_err(bad)?;
        let b: Body = serde_json::from_str(l.body.get()).map_err(bad)?;
        let each = b
            .max_completion_tokens
            .or(b.max_tokens)
            .unwrap_or(DEFAULT_OUTPUT);
        let output =
            each.min(crate::pipeline::body::MAX_OUTPUT_TOKENS) * b.n.unwrap_or(1).clamp(1, 128);
        let ask = by.entry(b.model.clone()).or_insert_with(|| Ask {
            route: b.model,
            ..Ask::default()
        });
        ask.requests += 1;
        ask.prompt_tokens = ask
            .prompt_tokens
            .saturating_add((l.body.get().len() as u64).div_ceil(4));
        ask.output_tokens = ask.output_tokens.saturating_add(output);
    }
    if by.is_empty() {
        return Err("the batch's input file has no requests".into());
    }
    Ok(by.into_values().collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn requests_are_counted_and_priced_per_route() {
        let file = br#"{"custom_id":"a","method":"POST","url":"/v1/chat/completions","body":{"model":"m","messages":[],"max_tokens":10}}
{"custom_id":"b","method":"POST","url":"/v1/chat/completions","body":{"model":"m","messages":[]}}

{"custom_id":"c","method":"POST","url":"/v1/chat/completions","body":{"model":"k","messages":[],"max_completion_tokens":5,"n":2}}
"#;
        let asks = asks(file).unwrap();
        assert_eq!(asks.len(), 2);
        assert_eq!(
            (
                asks[0].route.as_str(),
                asks[0].requests,
                asks[0].output_tokens
            ),
            ("k", 1, 10)
        );
        assert_eq!(
            (
                asks[1].route.as_str(),
                asks[1].requests,
                asks[1].output_tokens
            ),
            ("m", 2, 10 + DEFAULT_OUTPUT)
        );
        assert!(asks[1].prompt_tokens > 0);
        assert!(
            super::asks(b"{\"custom_id\":1}\n")
                .unwrap_err()
                .contains("line 1")
        );
    }
}
