//! What each provider received for the shared cases, in its own wire format: the
//! path, where the credential went, and how messages, system prompts, sampling,
//! tools and tool results were put.

use super::Adapter;
use crate::common::PROVIDER_KEY;
use crate::mock::Seen;
use crate::mock::hunyuan::TC_SECRET_ID;
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
        Adapter::Hunyuan => {
            assert_eq!(seen.path, "/");
            assert_eq!(h["x-tc-action"], "ChatCompletions");
            assert_eq!(h["x-tc-version"], "2023-09-01");
            assert_eq!(h["x-tc-region"], "ap-guangzhou");
            assert!(h.get("x-tc-timestamp").is_some());
            let auth = h["authorization"].to_str().unwrap();
            assert!(
                auth.starts_with(&format!("TC3-HMAC-SHA256 Credential={TC_SECRET_ID}/"))
                    && auth.contains("/hunyuan/tc3_request, SignedHeaders=content-type;host"),
                "{auth}"
            );
            assert!(!auth.contains("Bearer") && !auth.contains(PROVIDER_KEY));
            assert_eq!(b["Model"], "upstream-model");
            assert_eq!(b["Stream"], false);
            assert_eq!(
                b["Messages"],
                json!([{ "Role": "user", "Content": "hello" }])
            );
        }
        Adapter::DashScope => {
            assert_eq!(
                seen.path,
                "/api/v1/services/aigc/text-generation/generation"
            );
            assert_eq!(h["authorization"], bearer.as_str());
            assert!(h.get("x-dashscope-sse").is_none(), "a whole answer");
            assert_eq!(b["model"], "upstream-model");
            assert_eq!(
                b["input"]["messages"],
                json!([{ "role": "user", "content": "hello" }])
            );
            assert_eq!(b["parameters"]["result_format"], "message");
        }
        Adapter::Qianfan => {
            assert_eq!(
                seen.path,
                "/rpc/2.0/ai_custom/v1/wenxinworkshop/chat/upstream-model"
            );
            // The token the host exchanged the AK/SK for at the mock's token endpoint.
            let query = seen.query.as_deref().unwrap_or("");
            assert!(query.starts_with("access_token=24.c.p-"), "{query}");
            assert!(h.get("authorization").is_none());
            assert_eq!(
                b["messages"],
                json!([{ "role": "user", "content": "hello" }])
            );
            assert_eq!(b["stream"], false);
            assert!(b.get("model").is_none(), "the model is the endpoint");
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
        Adapter::DashScope => {
            let m = &b["input"]["messages"];
            assert_eq!(m[0], json!({ "role": "system", "content": "Be brief." }));
            assert_eq!(roles(m, "role"), ["system", "user", "assistant", "user"]);
            assert_eq!(m[3]["content"], "second", "text parts as a string");
            let p = &b["parameters"];
            assert_eq!(p["max_tokens"], 50);
            assert_eq!(p["stop"], json!(["END"]));
            assert_eq!(p["temperature"], 0.2);
        }
        Adapter::Qianfan => {
            assert_eq!(b["system"], "Be brief.", "ERNIE has no system role");
            assert_eq!(roles(&b["messages"], "role"), ["user", "assistant", "user"]);
            assert_eq!(b["max_output_tokens"], 50);
            assert_eq!(b["stop"], json!(["END"]));
            assert_eq!(b["temperature"], 0.2);
        }
        Adapter::Hunyuan => {
            assert_eq!(
                b["Messages"][0],
                json!({ "Role": "system", "Content": "Be brief." })
            );
            assert_eq!(
                roles(&b["Messages"], "Role"),
                ["system", "user", "assistant", "user"]
            );
            assert_eq!(
                b["Messages"][3],
                json!({ "Role": "user", "Content": "second" })
            );
            assert!(b.get("MaxTokens").is_none(), "no token-limit field: {b}");
            assert_eq!(b["Stop"], json!(["END"]));
            assert_eq!(b["Temperature"], 0.2);
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
        Adapter::DashScope => {
            let p = &b["parameters"];
            assert_eq!(p["tools"][0]["function"]["name"], "get_weather");
            assert_eq!(
                p["tools"][0]["function"]["parameters"]["required"],
                required
            );
            assert!(p.get("tool_choice").is_none(), "auto is the default: {b}");
            assert_eq!(
                p["parallel_tool_calls"], true,
                "DashScope's default is false"
            );
        }
        Adapter::Qianfan => {
            let f = &b["functions"][0];
            assert_eq!(f["name"], "get_weather");
            assert_eq!(f["description"], "Weather for a city");
            assert_eq!(f["parameters"]["required"], required);
            assert!(b.get("tool_choice").is_none(), "{b}");
        }
        Adapter::Hunyuan => {
            let t = &b["Tools"][0];
            assert_eq!(t["Type"], "function");
            assert_eq!(t["Function"]["Name"], "get_weather");
            assert_eq!(t["Function"]["Description"], "Weather for a city");
            let parameters = t["Function"]["Parameters"].as_str();
            let schema: Value =
                serde_json::from_str(parameters.expect("Parameters is a JSON string")).unwrap();
            assert_eq!(schema["required"], required);
            assert!(b.get("ToolChoice").is_none(), "auto is the default: {b}");
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
        Adapter::DashScope => {
            let m = &b["input"]["messages"];
            assert_eq!(m[1]["tool_calls"][1]["id"], "call_2");
            let args: Value = serde_json::from_str(
                m[1]["tool_calls"][0]["function"]["arguments"]
                    .as_str()
                    .unwrap(),
            )
            .unwrap();
            assert_eq!(args, json!({ "city": "Paris" }));
            assert_eq!(
                m[2],
                json!({ "role": "tool", "content": "sunny", "tool_call_id": "call_1" })
            );
            assert_eq!(b["parameters"]["parallel_tool_calls"], false);
        }
        Adapter::Qianfan => {
            // One function call a turn: the parallel calls as two pairs.
            assert_eq!(
                roles(m, "role"),
                ["user", "assistant", "function", "assistant", "function"],
                "{b}"
            );
            assert_eq!(
                m[1]["function_call"],
                json!({ "name": "get_weather", "arguments": "{\"city\":\"Paris\"}" })
            );
            assert_eq!(
                m[2],
                json!({ "role": "function", "name": "get_weather", "content": "{\"result\":\"sunny\"}" })
            );
            assert_eq!(m[4]["content"], "{\"sky\":\"snow\"}");
        }
        Adapter::Hunyuan => {
            let m = &b["Messages"];
            assert_eq!(
                roles(m, "Role"),
                ["user", "assistant", "tool", "tool"],
                "{b}"
            );
            assert_eq!(
                m[1]["ToolCalls"][1],
                json!({ "Id": "call_2", "Type": "function",
                        "Function": { "Name": "get_weather", "Arguments": "{\"city\":\"Oslo\"}" } })
            );
            assert!(m[1].get("Content").is_none(), "no empty Content: {b}");
            assert_eq!(
                m[3],
                json!({ "Role": "tool", "Content": "{\"sky\":\"snow\"}", "ToolCallId": "call_2" })
            );
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
        Adapter::DashScope => {
            assert_eq!(
                seen.path,
                "/api/v1/services/embeddings/text-embedding/text-embedding"
            );
            assert_eq!(b["model"], "upstream-model");
            assert_eq!(b["input"]["texts"], json!(["one", "two three"]));
        }
        Adapter::Qianfan => {
            assert_eq!(
                seen.path,
                "/rpc/2.0/ai_custom/v1/wenxinworkshop/embeddings/upstream-model"
            );
            assert_eq!(b["input"], json!(["one", "two three"]));
        }
        Adapter::Hunyuan => {
            assert_eq!(seen.path, "/");
            assert_eq!(seen.headers["x-tc-action"], "GetEmbedding");
            assert_eq!(
                *b,
                json!({ "InputList": ["one", "two three"] }),
                "no Model field"
            );
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
        Adapter::DashScope => b["input"]["messages"][0]["content"][1].clone(),
        Adapter::Qianfan => unreachable!("refused"),
        Adapter::Hunyuan => b["Messages"][0]["Contents"][1].clone(),
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
        Adapter::DashScope => json!({ "image": format!("data:image/png;base64,{data}") }),
        Adapter::Qianfan => unreachable!("refused"),
        Adapter::Hunyuan => {
            json!({ "Type": "image_url", "ImageUrl": { "Url": format!("data:image/png;base64,{data}") } })
        }
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
        Adapter::DashScope => assert_eq!(
            b["parameters"]["response_format"],
            json!({ "type": "json_schema", "json_schema": { "name": "out", "schema": schema } })
        ),

        Adapter::Bedrock | Adapter::Hunyuan | Adapter::Qianfan => unreachable!("refused"),
    }
}
