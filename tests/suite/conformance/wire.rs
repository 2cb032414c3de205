//! What each provider received for the shared cases, in its own wire format: the
//! path, where the credential went, and how messages, system prompts, sampling,
//! tools and tool results were put.

use super::Adapter;
use crate::common::PROVIDER_KEY;
use crate::mock::Seen;
use serde_json::{Value, json};

fn roles(list: &Value, field: &str) -> Vec<String> {
    list.as_array()
        .unwrap()
        .iter()
        .map(|m| m[field].as_str().unwrap_or("").to_string())
        .collect()
}

pub fn text_request(a: Adapter, seen: &Seen) {
    let (h, b) = (&seen.headers, &seen.body);
    let bearer = format!("Bearer {PROVIDER_KEY}");
    match a {
        Adapter::OpenAi => {
            assert_eq!(b["model"], "upstream-model");
            assert_eq!(h["authorization"], bearer.as_str());
        }
        Adapter::Anthropic => {
            assert_eq!(seen.path, "/v1/messages");
            assert_eq!(h["x-api-key"], PROVIDER_KEY);
            assert!(h.get("authorization").is_none());
            assert_eq!(h["anthropic-version"], "2023-06-01");
            assert_eq!(b["max_tokens"], 4096, "Anthropic needs max_tokens");
        }
        Adapter::Gemini => {
            assert_eq!(seen.path, "/v1beta/models/upstream-model:generateContent");
            assert_eq!(h["x-goog-api-key"], PROVIDER_KEY);
            assert!(h.get("authorization").is_none());
            assert_eq!(
                b["contents"],
                json!([{ "role": "user", "parts": [{ "text": "hello" }] }])
            );
        }
        Adapter::Azure => {
            assert_eq!(
                seen.path,
                "/openai/deployments/upstream-model/chat/completions"
            );
            assert_eq!(seen.query.as_deref(), Some("api-version=2024-10-21"));
            assert_eq!(h["api-key"], PROVIDER_KEY);
            assert!(h.get("authorization").is_none());
        }
        Adapter::Bedrock => {
            assert_eq!(seen.path, "/model/upstream-model/converse");
            let auth = h["authorization"].to_str().unwrap();
            assert!(
                auth.starts_with("AWS4-HMAC-SHA256 Credential=AKIDMOCKEXAMPLE/")
                    && auth.contains("/us-east-1/bedrock/aws4_request"),
                "{auth}"
            );
            assert_eq!(
                b["messages"],
                json!([{ "role": "user", "content": [{ "text": "hello" }] }])
            );
        }
        Adapter::Cohere => {
            assert_eq!(seen.path, "/v2/chat");
            assert_eq!(h["authorization"], bearer.as_str());
            assert_eq!(b["model"], "upstream-model");
            assert_eq!(b["stream"], false);
            assert_eq!(
                b["messages"],
                json!([{ "role": "user", "content": "hello" }])
            );
        }
        Adapter::Ollama => {
            assert_eq!(seen.path, "/api/chat");
            assert!(h.get("authorization").is_none(), "no key configured");
            assert_eq!(b["model"], "upstream-model");
            assert_eq!(b["stream"], false, "Ollama streams unless told not to");
        }
        Adapter::VertexClaude => {
            assert_eq!(
                seen.path,
                "/v1/projects/proj/locations/us-east5/publishers/anthropic/models/upstream-model:rawPredict"
            );
            let auth = h["authorization"].to_str().unwrap();
            assert!(
                auth.starts_with("Bearer ya29.c."),
                "the service account's token: {auth}"
            );
            assert!(h.get("x-api-key").is_none() && h.get("anthropic-version").is_none());
            assert_eq!(b["anthropic_version"], "vertex-2023-10-16");
            assert!(b.get("model").is_none(), "the model is in the path");
        }
        Adapter::BedrockClaude => {
            assert_eq!(seen.path, "/model/upstream-model/invoke");
            let auth = h["authorization"].to_str().unwrap();
            assert!(auth.contains("/us-east-1/bedrock/aws4_request"), "{auth}");
            assert_eq!(b["anthropic_version"], "bedrock-2023-05-31");
            assert!(b.get("model").is_none() && b.get("stream").is_none());
        }
        Adapter::VertexGemini => {
            assert_eq!(
                seen.path,
                "/v1/projects/proj/locations/global/publishers/google/models/upstream-model:generateContent"
            );
            let auth = h["authorization"].to_str().unwrap();
            assert!(auth.starts_with("Bearer ya29.c."), "{auth}");
            assert!(h.get("x-goog-api-key").is_none());
        }
    }
}

pub fn turns(a: Adapter, b: &Value, messages: &Value) {
    match a.like() {
        Adapter::VertexClaude | Adapter::BedrockClaude | Adapter::VertexGemini => {
            unreachable!("like() names a base format")
        }
        Adapter::OpenAi | Adapter::Azure => assert_eq!(b["messages"], *messages),
        Adapter::Anthropic => {
            assert_eq!(
                b["system"],
                json!([{ "type": "text", "text": "Be brief." }])
            );
            assert_eq!(roles(&b["messages"], "role"), ["user", "assistant", "user"]);
            assert_eq!(b["max_tokens"], 50);
            assert_eq!(b["stop_sequences"], json!(["END"]));
            assert_eq!(b["temperature"], 0.2);
        }
        Adapter::Gemini => {
            assert_eq!(b["system_instruction"]["parts"][0]["text"], "Be brief.");
            assert_eq!(roles(&b["contents"], "role"), ["user", "model", "user"]);
            assert_eq!(
                b["generationConfig"],
                json!({ "maxOutputTokens": 50, "stopSequences": ["END"], "temperature": 0.2 })
            );
        }
        Adapter::Bedrock => {
            assert_eq!(b["system"], json!([{ "text": "Be brief." }]));
            assert_eq!(roles(&b["messages"], "role"), ["user", "assistant", "user"]);
            assert_eq!(
                b["inferenceConfig"],
                json!({ "maxTokens": 50, "stopSequences": ["END"], "temperature": 0.2 })
            );
        }
        Adapter::Cohere => {
            assert_eq!(
                b["messages"][0],
                json!({ "role": "system", "content": "Be brief." })
            );
            assert_eq!(
                roles(&b["messages"], "role"),
                ["system", "user", "assistant", "user"]
            );
            assert_eq!(b["max_tokens"], 50);
            assert_eq!(b["stop_sequences"], json!(["END"]));
            assert_eq!(b["temperature"], 0.2);
        }
        Adapter::Ollama => {
            assert_eq!(
                roles(&b["messages"], "role"),
                ["system", "user", "assistant", "user"]
            );
            assert_eq!(
                b["options"],
                json!({ "num_predict": 50, "stop": ["END"], "temperature": 0.2 })
            );
        }
    }
}

pub fn tools(a: Adapter, b: &Value) {
    let required = json!(["city"]);
    match a.like() {
        Adapter::VertexClaude | Adapter::BedrockClaude | Adapter::VertexGemini => {
            unreachable!("like() names a base format")
        }
        Adapter::OpenAi | Adapter::Azure => assert_eq!(b["tools"], super::weather_tools()),
        Adapter::Anthropic => {
            assert_eq!(b["tools"][0]["name"], "get_weather");
            assert_eq!(b["tools"][0]["input_schema"]["required"], required);
            assert_eq!(b["tool_choice"], json!({ "type": "auto" }));
        }
        Adapter::Gemini => {
            let d = &b["tools"][0]["functionDeclarations"][0];
            assert_eq!(d["name"], "get_weather");
            assert_eq!(d["description"], "Weather for a city");
            assert_eq!(d["parametersJsonSchema"]["required"], required);
            assert_eq!(
                b["toolConfig"],
                json!({ "functionCallingConfig": { "mode": "AUTO" } })
            );
        }
        Adapter::Bedrock => {
            let spec = &b["toolConfig"]["tools"][0]["toolSpec"];
            assert_eq!(spec["name"], "get_weather");
            assert_eq!(spec["inputSchema"]["json"]["required"], required);
            assert_eq!(b["toolConfig"]["toolChoice"], json!({ "auto": {} }));
        }
        Adapter::Cohere | Adapter::Ollama => {
            assert_eq!(b["tools"][0]["function"]["name"], "get_weather");
            assert_eq!(
                b["tools"][0]["function"]["parameters"]["required"],
                required
            );
            assert!(b.get("tool_choice").is_none(), "auto is the default: {b}");
        }
    }
}

pub fn tool_results(a: Adapter, b: &Value) {
    let m = &b["messages"];
    match a.like() {
        Adapter::VertexClaude | Adapter::BedrockClaude | Adapter::VertexGemini => {
            unreachable!("like() names a base format")
        }
        Adapter::OpenAi | Adapter::Azure => {
            assert_eq!(m.as_array().unwrap().len(), 4);
            assert_eq!(b["parallel_tool_calls"], false);
        }
        Adapter::Anthropic => {
            assert_eq!(
                m.as_array().unwrap().len(),
                3,
                "results merge into one turn: {b}"
            );
            assert_eq!(
                m[1]["content"][0],
                json!({ "type": "tool_use", "id": "call_1", "name": "get_weather", "input": { "city": "Paris" } })
            );
            assert_eq!(
                m[2]["content"][1],
                json!({ "type": "tool_result", "tool_use_id": "call_2", "content": "{\"sky\":\"snow\"}" })
            );
            assert_eq!(b["tool_choice"]["disable_parallel_tool_use"], true);
        }
        Adapter::Gemini => {
            let c = &b["contents"];
            assert_eq!(roles(c, "role"), ["user", "model", "user"], "{b}");
            assert_eq!(
                c[1]["parts"][1],
                json!({ "functionCall": { "name": "get_weather", "args": { "city": "Oslo" } } })
            );
            assert_eq!(
                c[2]["parts"],
                json!([
                    { "functionResponse": { "name": "get_weather", "response": { "result": "sunny" } } },
                    { "functionResponse": { "name": "get_weather", "response": { "sky": "snow" } } },
                ])
            );
        }
        Adapter::Bedrock => {
            assert_eq!(roles(m, "role"), ["user", "assistant", "user"], "{b}");
            assert_eq!(
                m[1]["content"][0],
                json!({ "toolUse": { "toolUseId": "call_1", "name": "get_weather", "input": { "city": "Paris" } } })
            );
            assert_eq!(
                m[2]["content"],
                json!([
                    { "toolResult": { "toolUseId": "call_1", "content": [{ "text": "sunny" }] } },
                    { "toolResult": { "toolUseId": "call_2", "content": [{ "json": { "sky": "snow" } }] } },
                ])
            );
        }
        Adapter::Cohere => {
            let call = &m[1]["tool_calls"][0];
            assert_eq!(call["id"], "call_1");
            let args: Value =
                serde_json::from_str(call["function"]["arguments"].as_str().unwrap()).unwrap();
            assert_eq!(args, json!({ "city": "Paris" }));
            assert_eq!(
                m[2],
                json!({ "role": "tool", "tool_call_id": "call_1", "content": "sunny" })
            );
        }
        Adapter::Ollama => {
            assert_eq!(
                m[1]["tool_calls"][1]["function"]["arguments"],
                json!({ "city": "Oslo" })
            );
            assert_eq!(m[2]["role"], "tool");
            assert_eq!(m[2]["tool_name"], "get_weather");
            assert_eq!(m[3]["content"], "{\"sky\":\"snow\"}");
        }
    }
}

pub fn embeddings(a: Adapter, seen: &Seen) {
    let b = &seen.body;
    if a == Adapter::VertexGemini {
        assert!(
            seen.path.ends_with("/models/upstream-model:predict"),
            "{}",
            seen.path
        );
        assert_eq!(
            b["instances"],
            json!([{ "content": "one" }, { "content": "two three" }])
        );
        return;
    }
    match a.like() {
        Adapter::VertexClaude | Adapter::BedrockClaude | Adapter::VertexGemini => {
            unreachable!("like() names a base format")
        }
        Adapter::OpenAi => assert_eq!(b["model"], "upstream-model"),
        Adapter::Azure => assert_eq!(seen.path, "/openai/deployments/upstream-model/embeddings"),
        Adapter::Gemini => {
            assert_eq!(
                seen.path,
                "/v1beta/models/upstream-model:batchEmbedContents"
            );
            assert_eq!(
                b["requests"][1],
                json!({ "model": "models/upstream-model", "content": { "parts": [{ "text": "two three" }] } })
            );
        }
        Adapter::Cohere => {
            assert_eq!(seen.path, "/v2/embed");
            assert_eq!(b["texts"], json!(["one", "two three"]));
            assert_eq!(b["input_type"], "search_document");
            assert_eq!(b["embedding_types"], json!(["float"]));
        }
        Adapter::Ollama => {
            assert_eq!(seen.path, "/api/embed");
            assert_eq!(b["input"], json!(["one", "two three"]));
        }
        Adapter::Anthropic | Adapter::Bedrock => unreachable!("no embeddings"),
    }
}

pub fn image(a: Adapter, b: &Value) {
    let data = "iVBORw0KGgo=";
    let part = match a.like() {
        Adapter::VertexClaude | Adapter::BedrockClaude | Adapter::VertexGemini => {
            unreachable!("like() names a base format")
        }
        Adapter::OpenAi | Adapter::Azure => b["messages"][0]["content"][1].clone(),
        Adapter::Anthropic => b["messages"][0]["content"][1].clone(),
        Adapter::Gemini => b["contents"][0]["parts"][1].clone(),
        Adapter::Bedrock => b["messages"][0]["content"][1].clone(),
        Adapter::Cohere => b["messages"][0]["content"][1].clone(),
        Adapter::Ollama => b["messages"][0]["images"][0].clone(),
    };
    let expected = match a.like() {
        Adapter::VertexClaude | Adapter::BedrockClaude | Adapter::VertexGemini => {
            unreachable!("like() names a base format")
        }
        Adapter::OpenAi | Adapter::Azure | Adapter::Cohere => {
            json!({ "type": "image_url", "image_url": { "url": format!("data:image/png;base64,{data}") } })
        }
        Adapter::Anthropic => {
            json!({ "type": "image", "source": { "type": "base64", "media_type": "image/png", "data": data } })
        }
        Adapter::Gemini => json!({ "inline_data": { "mime_type": "image/png", "data": data } }),
        Adapter::Bedrock => json!({ "image": { "format": "png", "source": { "bytes": data } } }),
        Adapter::Ollama => json!(data),
    };
    assert_eq!(part, expected, "{b}");
}

pub fn json_output(a: Adapter, b: &Value, schema: &Value) {
    match a.like() {
        Adapter::VertexClaude | Adapter::BedrockClaude | Adapter::VertexGemini => {
            unreachable!("like() names a base format")
        }
        Adapter::OpenAi | Adapter::Azure => {
            assert_eq!(b["response_format"]["json_schema"]["schema"], *schema)
        }
        Adapter::Anthropic => {
            assert_eq!(b["output_config"]["format"]["schema"], *schema)
        }
        Adapter::Gemini => {
            assert_eq!(
                b["generationConfig"]["responseMimeType"],
                "application/json"
            );
            assert_eq!(b["generationConfig"]["responseJsonSchema"], *schema);
        }
        Adapter::Cohere => assert_eq!(
            b["response_format"],
            json!({ "type": "json_object", "json_schema": schema })
        ),
        Adapter::Ollama => assert_eq!(b["format"], *schema),
        Adapter::Bedrock => unreachable!("refused"),
    }
}
