//! A comparison's judge (`"judge": {"route": "...", "rubric": "..."}` on `POST
//! /admin/compare`): each answer scored by a judge route against a rubric — a chat
//! request through the normal path, as the comparison's own are — its score (0 to 10)
//! and reason put beside the answer, and kept with the comparison.

use http_body_util::BodyExt;
use serde::Deserialize;
use serde_json::{Value, json};

use crate::gateway::Gateway;
use crate::live::Principal;

/// What a comparison is judged by.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Judge {
    /// The route that scores.
    pub route: String,
    /// What a good answer is (default: correct, complete, clear and brief).
    #[serde(default)]
    pub rubric: Option<String>,
}

const RUBRIC: &str = "A good answer is correct, complete for what was asked, clear, and no longer than it needs to be.";

const INSTRUCTIONS: &str = "You grade answers. Read the rubric, the question and the answer, and reply with only a JSON object: {\"score\": <an integer from 0 (useless) to 10 (perfect)>, \"reason\": \"<one short sentence>\"}.";

/// The longest answer (in characters) a judge is shown; the rest is cut, marked.
const MOST_CHARS: usize = 16_000;

/// The question the comparison asked: its last user message's text.
pub fn question(messages: &[Value]) -> String {
    let last = messages.iter().rev().find(|m| m["role"] == "user");
    match last.map(|m| &m["content"]) {
        Some(Value::String(s)) => s.clone(),
        Some(Value::Array(parts)) => parts
            .iter()
            .filter_map(|p| p["text"].as_str())
            .collect::<Vec<_>>()
            .join("\n"),
        _ => String::new(),
    }
}

/// The judge's verdict on one answer: `{score, reason}`, or `{error}`.
async fn score(
    (gw, principal): (&Gateway, &Principal),
    judge: &Judge,
    question: &str,
    answer: &str,
) -> Value {
    let answer: String = answer.chars().take(MOST_CHARS).collect();
    let rubric = judge.rubric.as_deref().unwrap_or(RUBRIC);
    let body = json!({
        "model": judge.route,
        "messages": [
            { "role": "system", "content": INSTRUCTIONS },
            { "role": "user", "content": format!("Rubric:\n{rubric}\n\nQuestion:\n{question}\n\nAnswer:\n{answer}") },
        ],
        "temperature": 0,
        "max_tokens": 300,
        "response_format": { "type": "json_object" },
    });
    let req = crate::pipeline::Request {
        protocol: crate::pipeline::Protocol::ChatCompletions,
        principal,
        endpoint: crate::types::Endpoint::Chat,
        directive: crate::cache::Directive::Bypass,
        body: bytes::Bytes::from(body.to_string()),
        native: None,
        pin: None,
        prompt: None,
        admin: true,
        parent: None,
    };
    let resp = crate::pipeline::handle(gw, req).await;
    let status = resp.status().as_u16();
    let bytes = resp
        .into_body()
        .collect()
        .await
        .map(|b| b.to_bytes())
        .unwrap_or_default();
    let v: Value = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
    if status != 200 {
        return json!({ "error": v["error"]["message"].as_str().unwrap_or("the judge failed") });
    }
    let said = v["choices"][0]["message"]["content"]
        .as_str()
        .unwrap_or_default();
    let verdict: Value = serde_json::from_str(said.trim()).unwrap_or(Value::Null);
    match verdict["score"].as_f64() {
        Some(s) if (0.0..=10.0).contains(&s) => {
            let reason: String = verdict["reason"]
                .as_str()
                .unwrap_or_default()
                .chars()
                .take(500)
                .collect();
            json!({ "score": s, "reason": reason })
        }
        _ => json!({ "error": "the judge did not answer with a score from 0 to 10" }),
    }
}

/// Scores every answered result of a comparison (at once), into its `judge` field; the
/// judge's calls are `principal`'s (the comparison's own).
pub async fn score_all(
    (gw, principal): (&Gateway, &Principal),
    judge: &Judge,
    question: &str,
    results: &mut [Value],
) {
    let asked = results.iter().map(|r| async move {
        match r["answer"].as_str() {
            Some(a) => Some(score((gw, principal), judge, question, a).await),
            None => None,
        }
    });
    let verdicts = futures_util::future::join_all(asked).await;
    for (r, v) in results.iter_mut().zip(verdicts) {
        if let Some(v) = v {
            r["judge"] = v;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_question_is_the_last_user_text() {
        let m = vec![
            json!({"role": "user", "content": "first"}),
            json!({"role": "assistant", "content": "x"}),
            json!({"role": "user", "content": [{"type": "text", "text": "a"}, {"type": "text", "text": "b"}]}),
        ];
        assert_eq!(question(&m), "a\nb");
        assert_eq!(question(&[]), "");
    }
}
