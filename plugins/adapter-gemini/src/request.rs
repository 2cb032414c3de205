//! OpenAI chat and embeddings requests → Gemini `GenerateContentRequest` and
//! `BatchEmbedContentsRequest`.

use serde_json::{Map, Value, json};
use switchboard_sdk::openai::{self, Message, Part, Request, ResponseFormat, Role, ToolChoice};
use switchboard_sdk::types::{AdapterError, RequestContext};

/// A user part: text, an inline image (`data:` URL), or an image by URI.
fn part(p: &Part) -> Value {
    match p {
        Part::Text(t) => json!({ "text": t }),
        Part::Image(url) => match Part::image_data(url) {
            Some((mime, data)) => json!({ "inline_data": { "mime_type": mime, "data": data } }),
            None => json!({ "file_data": { "file_uri": url } }),
        },
    }
}

/// A tool result as a `functionResponse`: a JSON object result as it is, anything
/// else under `result`.
fn function_response(r: &Request, m: &Message, i: usize) -> Result<Value, AdapterError> {
    let id = m.tool_call_id.as_deref().unwrap_or_default();
    let name = r.tool_name(id).ok_or_else(|| {
        let param = format!("messages[{i}].tool_call_id");
        openai::invalid(
            format!("{param} '{id}' answers no tool call of an earlier assistant message (Gemini answers tool calls by name)"),
            Some(&param),
        )
    })?;
    let text = m.text();
    let response = match serde_json::from_str::<Value>(&text) {
        Ok(v @ Value::Object(_)) => v,
        _ => json!({ "result": text }),
    };
    Ok(json!({ "functionResponse": { "name": name, "response": response } }))
}

/// `contents`: user and tool turns as `user`, assistant turns as `model`, consecutive
/// turns of one role merged (parallel tool results answer in one turn).
fn contents(r: &Request) -> Result<Vec<Value>, AdapterError> {
    let mut out: Vec<Value> = Vec::new();
    for (i, m) in r.messages.iter().enumerate() {
        let (role, parts): (&str, Vec<Value>) = match m.role {
            Role::System => continue,
            Role::User => ("user", m.content.iter().map(part).collect()),
            Role::Tool => ("user", vec![function_response(r, m, i)?]),
            Role::Assistant => {
                let mut parts: Vec<Value> = m
                    .content
                    .iter()
                    .filter_map(|p| match p {
                        Part::Text(t) if !t.is_empty() => Some(json!({ "text": t })),
                        _ => None,
                    })
                    .collect();
                for c in &m.tool_calls {
                    let mut part =
                        json!({ "functionCall": { "name": c.name, "args": c.arguments } });
                    if let Some(sig) = crate::signature::of(&c.id) {
                        part["thoughtSignature"] = json!(sig);
                    }
                    parts.push(part);
                }
                ("model", parts)
            }
        };
        openai::push_turn(&mut out, role, "parts", parts);
    }
    Ok(out)
}

fn generation_config(r: &Request) -> Map<String, Value> {
    let mut g = Map::new();
    let mut put = |k: &str, v: Option<Value>| {
        if let Some(v) = v {
            g.insert(k.into(), v);
        }
    };
    put("temperature", r.temperature.map(Value::from));
    put("topP", r.top_p.map(Value::from));
    put("maxOutputTokens", r.max_tokens.map(Value::from));
    put("seed", r.seed.map(Value::from));
    put("frequencyPenalty", r.frequency_penalty.map(Value::from));
    put("presencePenalty", r.presence_penalty.map(Value::from));
    put("stopSequences", (!r.stop.is_empty()).then(|| json!(r.stop)));
    match &r.response_format {
        ResponseFormat::Text => {}
        ResponseFormat::JsonObject => put("responseMimeType", Some(json!("application/json"))),
        ResponseFormat::JsonSchema { schema, .. } => {
            put("responseMimeType", Some(json!("application/json")));
            put("responseJsonSchema", Some(schema.clone()));
        }
    }
    g
}

fn tool_config(r: &Request) -> Option<Value> {
    let (mode, names) = match &r.tool_choice {
        ToolChoice::Default => return None,
        ToolChoice::Auto => ("AUTO", None),
        ToolChoice::None => ("NONE", None),
        ToolChoice::Required => ("ANY", None),
        ToolChoice::Function(name) => ("ANY", Some(json!([name]))),
    };
    let mut c = json!({ "mode": mode });
    if let Some(n) = names {
        c["allowedFunctionNames"] = n;
    }
    Some(json!({ "functionCallingConfig": c }))
}

/// The `generateContent` body of an OpenAI chat body.
pub fn chat(body: &[u8]) -> Result<Vec<u8>, AdapterError> {
    let r = openai::parse(body)?;
    r.one_choice("Gemini (through this gateway)")?;
    let mut out = Map::new();
    out.insert("contents".into(), Value::Array(contents(&r)?));
    if let Some(system) = r.system_text() {
        out.insert(
            "system_instruction".into(),
            json!({ "parts": [{ "text": system }] }),
        );
    }
    let g = generation_config(&r);
    if !g.is_empty() {
        out.insert("generationConfig".into(), Value::Object(g));
    }
    if !r.tools.is_empty() {
        let decls: Vec<Value> = r
            .tools
            .iter()
            .map(|t| {
                let mut d = json!({ "name": t.name, "parametersJsonSchema": t.parameters });
                if let Some(desc) = &t.description {
                    d["description"] = json!(desc);
                }
                d
            })
            .collect();
        out.insert("tools".into(), json!([{ "functionDeclarations": decls }]));
    }
    if let Some(c) = tool_config(&r) {
        out.insert("toolConfig".into(), c);
    }
    Ok(Value::Object(out).to_string().into_bytes())
}

/// The `batchEmbedContents` body of an OpenAI embeddings body.
pub fn embeddings(ctx: &RequestContext, body: &[u8]) -> Result<Vec<u8>, AdapterError> {
    let e = openai::parse_embeddings(body)?;
    let model = format!(
        "models/{}",
        ctx.target_model
            .strip_prefix("models/")
            .unwrap_or(&ctx.target_model)
    );
    let requests: Vec<Value> = e
        .inputs
        .iter()
        .map(|text| {
            let mut r = json!({ "model": model, "content": { "parts": [{ "text": text }] } });
            if let Some(d) = e.dimensions {
                r["outputDimensionality"] = json!(d);
            }
            r
        })
        .collect();
    Ok(json!({ "requests": requests }).to_string().into_bytes())
}

/// Vertex AI's `:predict` body for text embedding models: one instance per input.
pub fn vertex_embeddings(body: &[u8]) -> Result<Vec<u8>, AdapterError> {
    let e = openai::parse_embeddings(body)?;
    let instances: Vec<Value> = e.inputs.iter().map(|t| json!({ "content": t })).collect();
    let mut out = json!({ "instances": instances });
    if let Some(d) = e.dimensions {
        out["parameters"] = json!({ "outputDimensionality": d });
    }
    Ok(out.to_string().into_bytes())
}
