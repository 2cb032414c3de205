//! OpenAI ↔ Hunyuan `ChatCompletions` and `GetEmbedding` bodies (Tencent Cloud API
//! 3.0, version 2023-09-01: PascalCase fields; whole answers under `Response`; errors
//! as `Response.Error {Code, Message}`, with HTTP 200, mapped by their code). The
//! stream's events are read in `stream.rs`.
//!
//! Field names as Hunyuan's API reference gives them (overview:
//! https://cloud.tencent.com/document/product/1729/101848; machine-readable in
//! TencentCloud/tencentcloud-cli `tccli/services/hunyuan/v20230901/api.json`, with the
//! reference's examples in `tccli/examples/hunyuan/v20230901/`), checked 2026-12.

use serde_json::{Map, Value, json};
use switchboard_sdk::openai::{
    self, Answer, Finish, Message, Part, Request, ResponseFormat, Role, Tool, ToolChoice, Usage,
};
use switchboard_sdk::types::{AdapterError, RequestContext, TokenUsage};

use crate::PROVIDER;

/// `GetEmbedding`'s most texts (`InputList`) a request.
const MAX_INPUTS: usize = 50;
/// The size of Hunyuan's embedding vectors (hunyuan-embedding).
const DIMENSIONS: u64 = 1024;

/// The string at `key` of `v` ("" when absent or not a string).
pub(crate) fn str_at<'a>(v: &'a Value, key: &str) -> &'a str {
    v.get(key).and_then(Value::as_str).unwrap_or("")
}

/// A token count: a number, or a number in a string (`CachedTokens` is typed String).
fn count(v: &Value) -> u64 {
    v.as_u64()
        .or_else(|| v.as_f64().map(|f| f.max(0.0) as u64))
        .or_else(|| v.as_str()?.trim().parse().ok())
        .unwrap_or(0)
}

fn contents(m: &Message) -> Vec<Value> {
    m.content
        .iter()
        .map(|p| match p {
            Part::Text(t) => json!({ "Type": "text", "Text": t }),
            Part::Image(u) => json!({ "Type": "image_url", "ImageUrl": { "Url": u } }),
        })
        .collect()
}

/// One message; system messages are gathered first (`messages`).
fn message(m: &Message) -> Option<Value> {
    let text = m.text();
    Some(match m.role {
        Role::System => return None,
        Role::User if m.content.iter().any(|p| matches!(p, Part::Image(_))) => {
            json!({ "Role": "user", "Contents": contents(m) })
        }
        Role::User => json!({ "Role": "user", "Content": text }),
        Role::Tool => json!({ "Role": "tool", "Content": text, "ToolCallId": m.tool_call_id }),
        Role::Assistant => {
            let mut out = json!({ "Role": "assistant" });
            if !text.is_empty() {
                out["Content"] = json!(text);
            }
            if !m.tool_calls.is_empty() {
                out["ToolCalls"] = m
                    .tool_calls
                    .iter()
                    .map(|c| {
                        json!({ "Id": c.id, "Type": "function",
                                "Function": { "Name": c.name, "Arguments": c.arguments.to_string() } })
                    })
                    .collect();
            }
            out
        }
    })
}

/// Hunyuan takes one system message, first: every system text is joined into it.
fn messages(r: &Request) -> Vec<Value> {
    let mut out = Vec::new();
    if let Some(system) = r.system_text() {
        out.push(json!({ "Role": "system", "Content": system }));
    }
    out.extend(r.messages.iter().filter_map(message));
    out
}

/// Temperature, TopP, Seed, Stop. ChatCompletions has no field for a token limit:
/// `max_tokens` is not sent (the model's own limit applies). No JSON mode either.
fn sampling(r: &Request, out: &mut Map<String, Value>) -> Result<(), AdapterError> {
    if r.response_format != ResponseFormat::Text {
        return Err(openai::invalid(
            "Hunyuan's ChatCompletions has no JSON output mode: response_format must be text",
            Some("response_format"),
        ));
    }
    if let Some(t) = r.temperature {
        out.insert("Temperature".into(), json!(t));
    }
    if let Some(p) = r.top_p {
        out.insert("TopP".into(), json!(p));
    }
    if let Some(seed) = r.seed {
        if !(1..=10_000).contains(&seed) {
            return Err(openai::invalid(
                format!("Hunyuan's Seed is a whole number from 1 to 10000, not {seed}"),
                Some("seed"),
            ));
        }
        out.insert("Seed".into(), json!(seed));
    }
    if !r.stop.is_empty() {
        out.insert("Stop".into(), json!(r.stop));
    }
    Ok(())
}

/// A function tool: its JSON schema goes as a JSON string (`Parameters` is a String).
fn tool(t: &Tool) -> Value {
    let mut function = json!({ "Name": t.name, "Parameters": t.parameters.to_string() });
    if let Some(d) = &t.description {
        function["Description"] = json!(d);
    }
    json!({ "Type": "function", "Function": function })
}

/// `Tools`, and `ToolChoice` (`none`, `auto` — the default, not sent — or `custom` with
/// the one tool forced in `CustomTool`). `parallel_tool_calls` has no field.
fn tools(r: &Request, out: &mut Map<String, Value>) -> Result<(), AdapterError> {
    if r.tools.is_empty() {
        return Ok(());
    }
    out.insert("Tools".into(), r.tools.iter().map(tool).collect());
    let forced = match &r.tool_choice {
        ToolChoice::Default | ToolChoice::Auto => return Ok(()),
        ToolChoice::None => {
            out.insert("ToolChoice".into(), json!("none"));
            return Ok(());
        }
        ToolChoice::Function(name) => {
            r.tools.iter().find(|t| &t.name == name).ok_or_else(|| {
                openai::invalid(
                    format!("tool_choice names '{name}', which is not among the tools"),
                    Some("tool_choice"),
                )
            })?
        }
        ToolChoice::Required => match r.tools.as_slice() {
            [only] => only,
            _ => {
                return Err(openai::invalid(
                    "Hunyuan forces one named tool (ToolChoice custom), not any of several: \
                     name the tool in tool_choice",
                    Some("tool_choice"),
                ));
            }
        },
    };
    out.insert("ToolChoice".into(), json!("custom"));
    out.insert("CustomTool".into(), tool(forced));
    Ok(())
}

/// The `ChatCompletions` body of an OpenAI chat body.
pub fn chat(ctx: &RequestContext, body: &[u8]) -> Result<Vec<u8>, AdapterError> {
    let r = openai::parse(body)?;
    r.one_choice(PROVIDER)?;
    let mut out = Map::new();
    out.insert("Model".into(), json!(ctx.target_model));
    out.insert("Messages".into(), Value::Array(messages(&r)));
    out.insert("Stream".into(), json!(ctx.stream));
    sampling(&r, &mut out)?;
    tools(&r, &mut out)?;
    Ok(Value::Object(out).to_string().into_bytes())
}

/// The `GetEmbedding` body of an OpenAI embeddings body: one text as `Input`, several
/// as `InputList`. The action has no model field (the model is hunyuan-embedding).
pub fn embed(body: &[u8]) -> Result<Vec<u8>, AdapterError> {
    let e = openai::parse_embeddings(body)?;
    if e.inputs.len() > MAX_INPUTS {
        return Err(openai::invalid(
            format!("Hunyuan embeds at most {MAX_INPUTS} texts a request"),
            Some("input"),
        ));
    }
    if let Some(d) = e.dimensions
        && d != DIMENSIONS
    {
        return Err(openai::invalid(
            format!("Hunyuan's embeddings have {DIMENSIONS} dimensions, not {d}"),
            Some("dimensions"),
        ));
    }
    let out = match e.inputs.as_slice() {
        [one] => json!({ "Input": one }),
        all => json!({ "InputList": all }),
    };
    Ok(out.to_string().into_bytes())
}

/// The HTTP status a Tencent Cloud error code stands for: the common codes
/// (https://www.tencentcloud.com/document/product/213/33281#common-error-codes) by
/// their first part, Hunyuan's own (the SDK's `hunyuan/v20230901/errors.go`) where
/// they say more.
pub fn status_of(code: &str) -> u16 {
    match code {
        "InvalidParameterValue.Model" => return 404,
        "FailedOperation.EngineServerLimitExceeded" => return 429,
        "FailedOperation.EngineRequestTimeout" => return 504,
        "FailedOperation.EngineServerError" => return 500,
        "FailedOperation.ServiceNotActivated"
        | "FailedOperation.ServiceStop"
        | "FailedOperation.ServiceStopArrears"
        | "FailedOperation.ResourcePackExhausted"
        | "FailedOperation.FreeResourcePackExhausted"
        | "FailedOperation.UserUnAuthError" => return 403,
        _ => {}
    }
    match code.split('.').next().unwrap_or(code) {
        "AuthFailure" => 401,
        "UnauthorizedOperation"
        | "IpInBlacklist"
        | "IpNotInWhitelist"
        | "ResourceUnavailable"
        | "ResourceInsufficient" => 403,
        "InvalidAction" | "NoSuchProduct" | "NoSuchVersion" | "ResourceNotFound"
        | "UnsupportedRegion" | "ActionOffline" => 404,
        "RequestLimitExceeded" | "LimitExceeded" => 429,
        "InvalidParameter"
        | "InvalidParameterValue"
        | "MissingParameter"
        | "UnknownParameter"
        | "InvalidRequest"
        | "RequestSizeLimitExceeded"
        | "UnsupportedOperation"
        | "UnsupportedProtocol"
        | "OperationDenied"
        | "DryRunOperation" => 400,
        "ServiceUnavailable" => 503,
        "InternalError" => 500,
        // FailedOperation, ResponseSizeLimitExceeded, and codes not known here.
        _ => 502,
    }
}

/// "Code: Message" of a `Response.Error`.
fn error_text(e: &Value) -> String {
    format!("{}: {}", str_at(e, "Code"), str_at(e, "Message"))
}

/// A `Response.Error` answered with HTTP 200: the status its code stands for.
fn tencent_error(e: &Value) -> AdapterError {
    openai::status_error(status_of(str_at(e, "Code")), error_text(e))
}

/// A stream's `ErrorMsg {Code, Msg}` (4000 internal, 4001 the model timed out).
fn stream_error(e: &Value) -> AdapterError {
    let code = e.get("Code").map(count).unwrap_or(0);
    let status = if code == 4001 { 504 } else { 502 };
    openai::status_error(
        status,
        format!("Hunyuan's stream failed ({code}): {}", str_at(e, "Msg")),
    )
}

/// A non-2xx answer (a gateway in front of the API): its status, and the message of a
/// `Response.Error` when it carries one.
pub fn http_error(status: u16, body: &[u8]) -> AdapterError {
    let v: Value = serde_json::from_slice(body).unwrap_or(Value::Null);
    match v.get("Response").unwrap_or(&v).get("Error") {
        Some(e) => openai::status_error(status, error_text(e)),
        None => openai::upstream_error(status, body),
    }
}

/// The answer's `Response` object (stream events come bare), or the error it carries.
pub(crate) fn response(body: &[u8]) -> Result<Value, AdapterError> {
    let mut v = openai::provider_json(body, PROVIDER)?;
    let inner = v.get_mut("Response").map(Value::take);
    let v = inner.unwrap_or(v);
    if let Some(e) = v.get("Error").filter(|e| !e.is_null()) {
        return Err(tencent_error(e));
    }
    if let Some(e) = v.get("ErrorMsg").filter(|e| !e.is_null()) {
        return Err(stream_error(e));
    }
    Ok(v)
}

/// `Usage {PromptTokens, CompletionTokens, PromptTokensDetails.CachedTokens}`.
pub(crate) fn usage(u: Option<&Value>) -> Usage {
    let u = u.unwrap_or(&Value::Null);
    let prompt = count(&u["PromptTokens"]);
    Usage {
        prompt,
        completion: count(&u["CompletionTokens"]),
        cached: count(&u["PromptTokensDetails"]["CachedTokens"]).min(prompt),
    }
}

/// `FinishReason`: stop, tool_calls, sensitive (moderation); `length` is not in the
/// reference but read if it comes.
pub(crate) fn finish(reason: &str) -> Finish {
    match reason {
        "tool_calls" => Finish::ToolCalls,
        "sensitive" => Finish::ContentFilter,
        "length" => Finish::Length,
        _ => Finish::Stop,
    }
}

pub fn answer(ctx: &RequestContext, body: &[u8]) -> Result<(Vec<u8>, TokenUsage), AdapterError> {
    let v = response(body)?;
    let choice = v
        .get("Choices")
        .and_then(|c| c.get(0))
        .ok_or_else(|| openai::broken("Hunyuan answered no Choices"))?;
    let m = choice
        .get("Message")
        .ok_or_else(|| openai::broken("Hunyuan answered a choice without a Message"))?;
    let calls: Vec<(String, String, String)> = m
        .get("ToolCalls")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .enumerate()
        .map(|(i, c)| {
            let f = c.get("Function").unwrap_or(&Value::Null);
            let id = match str_at(c, "Id") {
                "" => openai::call_id(ctx, i),
                id => id.to_string(),
            };
            let args = match str_at(f, "Arguments") {
                "" => "{}".to_string(),
                a => a.to_string(),
            };
            (id, str_at(f, "Name").to_string(), args)
        })
        .collect();
    let reason = str_at(choice, "FinishReason");
    let a = Answer {
        id: match str_at(&v, "Id") {
            "" => ctx.request_id.clone(),
            id => id.to_string(),
        },
        model: ctx.target_model.clone(),
        text: str_at(m, "Content").to_string(),
        finish: if reason.is_empty() && !calls.is_empty() {
            Finish::ToolCalls
        } else {
            finish(reason)
        },
        tool_calls: calls,
        usage: usage(v.get("Usage")),
    };
    Ok(openai::answer_with_usage(ctx, &a))
}

/// `Data [{Embedding, Index}]` in `Index` order, `Usage.PromptTokens`.
pub fn embeddings(
    ctx: &RequestContext,
    body: &[u8],
) -> Result<(Vec<u8>, TokenUsage), AdapterError> {
    let v = response(body)?;
    let mut data: Vec<&Value> = v
        .get("Data")
        .and_then(Value::as_array)
        .ok_or_else(|| openai::broken("Hunyuan answered no Data"))?
        .iter()
        .collect();
    // Stable: a list whose every Index is 0 (as the reference once said) keeps its order.
    data.sort_by_key(|d| d.get("Index").map(count).unwrap_or(0));
    let list: Vec<Value> = data
        .iter()
        .map(|d| d.get("Embedding").cloned().unwrap_or(Value::Null))
        .collect();
    let prompt = v.pointer("/Usage/PromptTokens").map(count).unwrap_or(0);
    openai::translated_embeddings(ctx, Some(&Value::Array(list)), prompt, PROVIDER)
}

#[cfg(test)]
mod tests {
    use super::*;
    use switchboard_sdk::testing::request_context;

    fn ctx() -> RequestContext {
        request_context("m", "p", "hunyuan-turbos-latest")
    }

    fn chat_json(body: Value) -> Result<Value, AdapterError> {
        let out = chat(&ctx(), body.to_string().as_bytes())?;
        Ok(serde_json::from_slice(&out).unwrap())
    }

    #[test]
    fn requests_take_hunyuans_field_names() {
        let b = chat_json(json!({ "model": "m", "max_tokens": 9, "stop": "END", "temperature": 0.2,
            "messages": [
                { "role": "user", "content": "hi" },
                { "role": "system", "content": "Be brief." },
                { "role": "assistant", "content": null, "tool_calls": [{ "id": "call_1", "type": "function",
                    "function": { "name": "get_weather", "arguments": "{\"city\":\"Paris\"}" } }] },
                { "role": "tool", "tool_call_id": "call_1", "content": "sunny" },
            ],
            "tools": [{ "type": "function", "function": { "name": "get_weather",
                "parameters": { "type": "object" } } }] }))
        .unwrap();
        assert_eq!(b["Model"], "hunyuan-turbos-latest");
        assert_eq!(
            b["Messages"][0],
            json!({ "Role": "system", "Content": "Be brief." })
        );
        assert_eq!(
            b["Messages"][2]["ToolCalls"][0],
            json!({ "Id": "call_1", "Type": "function",
                    "Function": { "Name": "get_weather", "Arguments": "{\"city\":\"Paris\"}" } })
        );
        assert_eq!(
            b["Messages"][3],
            json!({ "Role": "tool", "Content": "sunny", "ToolCallId": "call_1" })
        );
        assert_eq!(
            b["Tools"][0]["Function"]["Parameters"],
            "{\"type\":\"object\"}"
        );
        assert_eq!(
            (b["Stop"].clone(), b["Temperature"].clone()),
            (json!(["END"]), json!(0.2))
        );
        assert!(
            b.get("MaxTokens").is_none() && b.get("ToolChoice").is_none(),
            "{b}"
        );
    }

    #[test]
    fn what_hunyuan_cannot_take_is_refused_by_field() {
        let base = json!({ "model": "m", "messages": [{ "role": "user", "content": "x" }] });
        let with = |k: &str, v: Value| {
            let mut b = base.clone();
            b[k] = v;
            chat_json(b).unwrap_err().param
        };
        let json_mode = json!({ "type": "json_object" });
        assert_eq!(
            with("response_format", json_mode).as_deref(),
            Some("response_format")
        );
        assert_eq!(with("seed", json!(0)).as_deref(), Some("seed"));
        assert_eq!(with("n", json!(2)).as_deref(), Some("n"));
        let mut b = base.clone();
        b["tools"] = json!([
            { "type": "function", "function": { "name": "a" } },
            { "type": "function", "function": { "name": "b" } }]);
        b["tool_choice"] = json!("required");
        assert_eq!(
            chat_json(b.clone()).unwrap_err().param.as_deref(),
            Some("tool_choice")
        );
        b["tool_choice"] = json!({ "type": "function", "function": { "name": "b" } });
        let out = chat_json(b).unwrap();
        assert_eq!(out["ToolChoice"], "custom");
        assert_eq!(out["CustomTool"]["Function"]["Name"], "b");
    }

    #[test]
    fn errors_in_a_200_answer_take_their_codes_status() {
        let body = |code: &str| {
            json!({ "Response": { "Error": { "Code": code, "Message": "no" }, "RequestId": "r" } })
                .to_string()
        };
        for (code, status) in [
            ("AuthFailure.SignatureFailure", 401),
            ("RequestLimitExceeded", 429),
            ("LimitExceeded", 429),
            ("InvalidParameter", 400),
            ("InvalidParameterValue.Model", 404),
            ("InternalError", 500),
            ("FailedOperation.EngineRequestTimeout", 504),
            ("FailedOperation", 502),
        ] {
            let e = answer(&ctx(), body(code).as_bytes()).err().unwrap();
            assert_eq!(
                (e.status, e.message.as_str()),
                (status, &*format!("{code}: no"))
            );
        }
    }
}
