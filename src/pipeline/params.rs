//! A route's `defaults` and `limits` applied to a request before anything is spent on
//! it: a numeric parameter above its limit is refused (400, naming it); a parameter
//! the client did not set gets the route's default (a `max_tokens` limit with no
//! `max_tokens` asked for caps the answer at the limit). The body is only rewritten
//! when something is added, by inserting before its closing brace.

use std::collections::HashMap;

use bytes::Bytes;
use serde_json::value::RawValue;

use super::body::RequestFacts;
use super::error::Error;
use crate::config::Route;

/// `body` with the route's defaults (`None`: unchanged), or why it is refused.
pub fn apply(route: &Route, body: &[u8], facts: &mut RequestFacts) -> Result<Option<Bytes>, Error> {
    let p = &route.params;
    if p.is_empty() {
        return Ok(None);
    }
    let top: HashMap<String, &RawValue> = serde_json::from_slice(body)
        .map_err(|e| Error::invalid(format!("invalid request body: {e}"), None))?;
    for (name, most) in &p.limits {
        let names: &[&str] = if name == "max_tokens" {
            &["max_tokens", "max_completion_tokens"]
        } else {
            &[name.as_str()]
        };
        for n in names {
            let asked = top
                .get(*n)
                .and_then(|v| serde_json::from_str::<f64>(v.get()).ok());
            if let Some(x) = asked.filter(|x| x > most) {
                return Err(Error::invalid(
                    format!(
                        "'{n}' is {x}, above the {most} model `{}` allows",
                        route.name
                    ),
                    Some(n),
                ));
            }
        }
    }
    let has_max = top.contains_key("max_tokens") || top.contains_key("max_completion_tokens");
    let mut added: Vec<(&str, String)> = Vec::new();
    for (name, v) in &p.defaults {
        let set = top.contains_key(name.as_str()) || (name == "max_tokens" && has_max);
        if !set {
            added.push((name, v.to_string()));
        }
    }
    let capped = p.limits.iter().find(|(n, _)| n == "max_tokens");
    if let Some((_, most)) = capped
        && !has_max
        && !added.iter().any(|(n, _)| *n == "max_tokens")
    {
        added.push(("max_tokens", (*most as u64).to_string()));
    }
    if added.is_empty() {
        return Ok(None);
    }
    if let Some((_, v)) = added.iter().find(|(n, _)| *n == "max_tokens") {
        facts.max_output_tokens = v.parse().ok();
    }
    Ok(Some(insert_fields(body, &added)))
}

/// `body` (a JSON object) with `fields` (name, JSON value) added before its closing
/// brace: nothing before it moves.
fn insert_fields(body: &[u8], fields: &[(&str, String)]) -> Bytes {
    let end = body.iter().rposition(|b| *b == b'}').unwrap_or(body.len());
    let mut out = Vec::with_capacity(body.len() + 32 * fields.len());
    out.extend_from_slice(&body[..end]);
    let empty = body[..end]
        .iter()
        .rev()
        .find(|b| !b.is_ascii_whitespace())
        .is_none_or(|b| *b == b'{');
    for (i, (name, v)) in fields.iter().enumerate() {
        if i > 0 || !empty {
            out.push(b',');
        }
        out.extend_from_slice(serde_json::Value::from(*name).to_string().as_bytes());
        out.push(b':');
        out.extend_from_slice(v.as_bytes());
    }
    out.extend_from_slice(&body[end..]);
    out.into()
}

/// `body` with one more field (`value` is JSON).
pub fn insert_field(body: &[u8], name: &str, value: &str) -> Bytes {
    insert_fields(body, &[(name, value.to_string())])
}

/// Sends the output tokens a policy reserved upstream as the request's maximum (it
/// set none): in the chat form, and in the client's own API where it is passed
/// through (`max_tokens` for Messages, `max_output_tokens` for Responses).
pub(super) fn cap_output(req: &mut super::Request<'_>, cap: u64) {
    req.body = insert_field(&req.body, "max_tokens", &cap.to_string());
    if let Some(n) = &mut req.native {
        let field = match n.api {
            crate::native::NativeApi::Messages => "max_tokens",
            crate::native::NativeApi::Responses => "max_output_tokens",
            _ => return,
        };
        if n.content_type.is_none() && !super::body::has_field(&n.body, field) {
            n.body = insert_field(&n.body, field, &cap.to_string());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::types::Endpoint;
    use serde_json::{Value, json};

    /// Route `m` with `extra` lines in its table.
    fn route(extra: &str) -> Route {
        let text = format!(
            "[providers.p]\nadapter = \"builtin:openai\"\nbase_url = \"http://127.0.0.1:9/v1\"\n\n[models.\"m\"]\ntargets = [{{ provider = \"p\", model = \"x\" }}]\n{extra}\n"
        );
        let c = crate::config::Config::parse(&text, std::path::Path::new("."), &|_| None).unwrap();
        c.routes["m"].clone()
    }

    #[test]
    fn defaults_fill_limits_refuse_and_cap() {
        let r = route(
            "defaults = { temperature = 0.3, max_tokens = 512 }\nlimits = { max_tokens = 4096, temperature = 1.0 }",
        );
        let body = br#"{"model":"m","messages":[],"temperature":0.9}"#;
        let mut f = super::super::body::parse(body, Endpoint::Chat).unwrap();
        let out = apply(&r, body, &mut f).unwrap().unwrap();
        let v: Value = serde_json::from_slice(&out).unwrap();
        assert_eq!(
            (v["temperature"].clone(), v["max_tokens"].clone()),
            (json!(0.9), json!(512))
        );
        assert_eq!(f.max_output_tokens, Some(512));
        for bad in [
            &br#"{"model":"m","messages":[],"max_completion_tokens":5000}"#[..],
            &br#"{"model":"m","messages":[],"temperature":1.5}"#[..],
        ] {
            let mut f = super::super::body::parse(bad, Endpoint::Chat).unwrap();
            let e = apply(&r, bad, &mut f).unwrap_err().to_string();
            assert!(e.contains("above the"), "{e}");
        }
        // A limit alone caps a request that asked for no maximum.
        let r = route("limits = { max_tokens = 100 }");
        let body = br#"{"model":"m","messages":[]}"#;
        let mut f = super::super::body::parse(body, Endpoint::Chat).unwrap();
        let v: Value = serde_json::from_slice(&apply(&r, body, &mut f).unwrap().unwrap()).unwrap();
        assert_eq!(v["max_tokens"], 100);
        // Nothing to add: the body is left as it is.
        let body = br#"{"model":"m","messages":[],"max_tokens":10}"#;
        let mut f = super::super::body::parse(body, Endpoint::Chat).unwrap();
        assert!(apply(&r, body, &mut f).unwrap().is_none());
    }
}
