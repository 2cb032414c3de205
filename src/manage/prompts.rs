//! Prompt templates in use: a chat request naming one (`x-switchboard-prompt:
//! name[@version]`, its variables in `metadata.variables`) or a Responses request's
//! `prompt: {id, version, variables}` is rewritten before it is routed — the template's
//! messages (each `{{variable}}` filled) ahead of the client's, its default parameters
//! where the client set none, its model where the client named none. A variable the
//! template uses and the request does not give is a 400 naming it.

use serde_json::{Map, Value, json};

use crate::config::Config;
use crate::config::lifecycle::Prompt;
use crate::reply::ApiError;

/// A request the prompt cannot be applied to: the client's error.
type Refused = Box<ApiError>;

/// Most bytes one variable's value may hold, and the rendered messages together (a
/// variable used many times must not multiply a request past what a body may be).
const MAX_VALUE: usize = 256 * 1024;
const MAX_RENDERED: usize = 4 << 20;

/// The `{{variables}}` a template's body uses, in order of first use.
pub fn variables_of(body: &Value) -> Vec<String> {
    let mut out = Vec::new();
    if let Some(ms) = body.get("messages").and_then(Value::as_array) {
        for m in ms {
            for v in names(m.get("content").and_then(Value::as_str).unwrap_or_default()) {
                if !out.contains(&v) {
                    out.push(v);
                }
            }
        }
    }
    out
}

fn names(text: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut rest = text;
    while let Some(i) = rest.find("{{") {
        let after = &rest[i + 2..];
        let Some(j) = after.find("}}") else { break };
        let name = after[..j].trim();
        if !name.is_empty() && name.len() <= 64 {
            out.push(name.to_string());
        }
        rest = &after[j + 2..];
    }
    out
}

/// `text` with each `{{name}}` replaced by its value; the first missing one, else.
fn fill(text: &str, vars: &Map<String, Value>) -> Result<String, String> {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(i) = rest.find("{{") {
        out.push_str(&rest[..i]);
        let after = &rest[i + 2..];
        let Some(j) = after.find("}}") else {
            out.push_str(&rest[i..]);
            return Ok(out);
        };
        let name = after[..j].trim();
        match vars.get(name) {
            Some(Value::String(s)) => out.push_str(s),
            Some(v @ (Value::Number(_) | Value::Bool(_))) => out.push_str(&v.to_string()),
            _ => return Err(name.to_string()),
        }
        rest = &after[j + 2..];
    }
    out.push_str(rest);
    Ok(out)
}

/// The prompt `reference` (`name` or `name@version`) names in `config`, and how
/// usage records name it (`name@version`).
fn find<'c>(
    config: &'c Config,
    reference: &str,
    param: &str,
) -> Result<(&'c Prompt, String), Refused> {
    let (name, version) = match reference.rsplit_once('@') {
        Some((n, v)) => (n, Some(v)),
        None => (reference, None),
    };
    let unknown = || {
        Box::new(
            ApiError::not_found(format!("no prompt '{reference}'"))
                .with_param(param)
                .with_code("prompt_not_found"),
        )
    };
    let current = config.versions.get(&format!("prompts/{name}")).map(|v| v.0);
    let (key, n) = match version {
        None => (name.to_string(), current),
        Some(v) if Some(v) == current.map(|c| c.to_string()).as_deref() => {
            (name.to_string(), current)
        }
        Some(v) => (format!("{name}@{v}"), v.parse().ok()),
    };
    let p = config.prompts.get(&key).ok_or_else(unknown)?;
    let label = match n {
        Some(n) => format!("{name}@{n}"),
        None => name.to_string(),
    };
    Ok((p, label))
}

fn variables(v: Option<&Value>, param: &str) -> Result<Map<String, Value>, Refused> {
    match v {
        None | Some(Value::Null) => Ok(Map::new()),
        Some(Value::Object(o)) => {
            if o.values()
                .any(|v| v.as_str().is_some_and(|s| s.len() > MAX_VALUE))
            {
                return Err(
                    ApiError::invalid("a prompt variable is at most 256 KiB", Some(param)).into(),
                );
            }
            Ok(o.clone())
        }
        Some(_) => Err(ApiError::invalid("prompt variables are an object", Some(param)).into()),
    }
}

fn rendered(
    p: &Prompt,
    vars: &Map<String, Value>,
    param: &str,
) -> Result<Vec<(String, String)>, Refused> {
    let mut total = 0;
    let mut out = Vec::with_capacity(p.messages.len());
    for (role, text) in &p.messages {
        let t = fill(text, vars).map_err(|missing| {
            Box::new(
                ApiError::invalid(
                    format!(
                        "prompt '{}' uses the variable '{missing}', which the request does not give",
                        p.name
                    ),
                    Some(&format!("{param}.{missing}")),
                )
                .with_code("missing_prompt_variable"),
            )
        })?;
        total += t.len();
        if total > MAX_RENDERED {
            return Err(Box::new(
                ApiError::new(
                    http::StatusCode::PAYLOAD_TOO_LARGE,
                    "invalid_request_error",
                    format!(
                        "prompt '{}' filled with these variables is over 4 MiB",
                        p.name
                    ),
                )
                .with_param(param)
                .with_code("request_too_large"),
            ));
        }
        out.push((role.clone(), t));
    }
    Ok(out)
}

fn defaults(p: &Prompt, o: &mut Map<String, Value>) {
    if !o.contains_key("model")
        && let Some(m) = &p.model
    {
        o.insert("model".into(), json!(m));
    }
    for (k, v) in &p.defaults {
        o.entry(k.clone()).or_insert_with(|| v.clone());
    }
}

/// A chat request with the prompt `reference` applied; the prompt's label.
pub fn chat(config: &Config, reference: &str, body: &[u8]) -> Result<(Vec<u8>, String), Refused> {
    let param = "x-switchboard-prompt";
    let (p, label) = find(config, reference.trim(), param)?;
    let mut req: Map<String, Value> = serde_json::from_slice(body).map_err(|e| {
        Box::new(ApiError::invalid(
            format!("the body is not a JSON object: {e}"),
            None,
        ))
    })?;
    let vars = match req.get_mut("metadata").and_then(Value::as_object_mut) {
        Some(m) => variables(m.remove("variables").as_ref(), "metadata.variables")?,
        None => Map::new(),
    };
    if req
        .get("metadata")
        .and_then(Value::as_object)
        .is_some_and(Map::is_empty)
    {
        req.remove("metadata");
    }
    let mut messages: Vec<Value> = rendered(p, &vars, "metadata.variables")?
        .into_iter()
        .map(|(role, content)| json!({ "role": role, "content": content }))
        .collect();
    if let Some(Value::Array(theirs)) = req.remove("messages") {
        messages.extend(theirs);
    }
    req.insert("messages".into(), Value::Array(messages));
    defaults(p, &mut req);
    Ok((serde_json::to_vec(&req).unwrap_or_default(), label))
}

/// A Responses request's `prompt` resolved: its messages ahead of the input; the
/// prompt's label. `None` when the request names no prompt.
pub fn responses(config: &Config, req: &mut Value) -> Result<Option<String>, Refused> {
    let Some(o) = req.as_object_mut() else {
        return Ok(None);
    };
    let Some(prompt) = o.remove("prompt") else {
        return Ok(None);
    };
    let Some(id) = prompt.get("id").and_then(Value::as_str) else {
        return Err(
            ApiError::invalid("prompt.id (a string) is required", Some("prompt.id")).into(),
        );
    };
    let reference = match prompt.get("version") {
        Some(Value::String(v)) => format!("{id}@{v}"),
        Some(Value::Number(v)) => format!("{id}@{v}"),
        _ => id.to_string(),
    };
    let (p, label) = find(config, &reference, "prompt.id")?;
    let vars = variables(prompt.get("variables"), "prompt.variables")?;
    let mut input: Vec<Value> = rendered(p, &vars, "prompt.variables")?
        .into_iter()
        .map(|(role, content)| json!({ "type": "message", "role": role, "content": content }))
        .collect();
    match o.remove("input") {
        Some(Value::String(s)) => {
            input.push(json!({ "type": "message", "role": "user", "content": s }))
        }
        Some(Value::Array(items)) => input.extend(items),
        _ => {}
    }
    o.insert("input".into(), Value::Array(input));
    defaults(p, o);
    Ok(Some(label))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fills_variables_and_names_the_missing_one() {
        let vars: Map<String, Value> =
            serde_json::from_value(json!({"who": "Ada", "n": 3})).unwrap();
        assert_eq!(
            fill("Hi {{ who }}, {{n}} left", &vars).unwrap(),
            "Hi Ada, 3 left"
        );
        assert_eq!(fill("Hi {{who}} {{what}}", &vars).unwrap_err(), "what");
        assert_eq!(fill("no {{ end", &vars).unwrap(), "no {{ end");
        let body = json!({"messages": [{"role": "system", "content": "{{a}} {{b}} {{a}}"}]});
        assert_eq!(variables_of(&body), ["a", "b"]);
    }
}
