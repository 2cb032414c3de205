//! Writing OpenAI's answers: a whole `chat.completion`, the `chat.completion.chunk`
//! events of a stream (the role first, text and tool-call deltas, one finish, the usage
//! chunk when asked for, `[DONE]` once), and an embeddings list.

use serde_json::{Value, json};

use crate::types::{RequestContext, SseEvent, TokenUsage};

/// Why the model stopped, in OpenAI's words.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Finish {
    Stop,
    Length,
    ToolCalls,
    ContentFilter,
}

impl Finish {
    pub fn as_str(self) -> &'static str {
        match self {
            Finish::Stop => "stop",
            Finish::Length => "length",
            Finish::ToolCalls => "tool_calls",
            Finish::ContentFilter => "content_filter",
        }
    }
}

/// Tokens an answer used. `cached` is part of `prompt`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Usage {
    pub prompt: u64,
    pub completion: u64,
    pub cached: u64,
}

impl Usage {
    pub fn to_json(self) -> Value {
        json!({
            "prompt_tokens": self.prompt,
            "completion_tokens": self.completion,
            "total_tokens": self.prompt + self.completion,
            "prompt_tokens_details": { "cached_tokens": self.cached },
        })
    }

    /// The contract's record, as the host is told it.
    pub fn to_token_usage(self) -> TokenUsage {
        TokenUsage {
            prompt_tokens: self.prompt,
            completion_tokens: self.completion,
            cached_prompt_tokens: self.cached,
        }
    }
}

/// A whole answer, ready to be written as a `chat.completion`.
#[derive(Clone, Debug, PartialEq)]
pub struct Answer {
    pub id: String,
    pub model: String,
    pub text: String,
    /// (id, name, arguments as JSON text).
    pub tool_calls: Vec<(String, String, String)>,
    pub finish: Finish,
    pub usage: Usage,
}

/// The `chat.completion` body of `a`.
pub fn answer(ctx: &RequestContext, a: &Answer) -> Vec<u8> {
    let mut message = json!({ "role": "assistant", "content": a.text, "refusal": null });
    if !a.tool_calls.is_empty() {
        if a.text.is_empty() {
            message["content"] = Value::Null;
        }
        message["tool_calls"] = a
            .tool_calls
            .iter()
            .map(|(id, name, args)| {
                json!({ "id": id, "type": "function", "function": { "name": name, "arguments": args } })
            })
            .collect();
    }
    json!({
        "id": a.id,
        "object": "chat.completion",
        "created": ctx.created,
        "model": a.model,
        "choices": [{ "index": 0, "message": message, "logprobs": null, "finish_reason": a.finish.as_str() }],
        "usage": a.usage.to_json(),
    })
    .to_string()
    .into_bytes()
}

/// What `from-upstream` gives for a whole chat answer: [`answer`]'s body of `a`, and
/// its usage as the host is told it.
pub fn answer_with_usage(ctx: &RequestContext, a: &Answer) -> (Vec<u8>, TokenUsage) {
    (answer(ctx, a), a.usage.to_token_usage())
}

/// A tool call id for providers that give none (unique within a request).
pub fn call_id(ctx: &RequestContext, n: usize) -> String {
    let tail: String = ctx
        .request_id
        .chars()
        .rev()
        .filter(char::is_ascii_alphanumeric)
        .take(12)
        .collect();
    format!("call_{tail}_{n}")
}

/// Writes one stream's chunks. Adapters feed it what each upstream event said; it
/// keeps OpenAI's order (role first, one finish, usage, `[DONE]` last, each once).
#[derive(Debug)]
pub struct ChunkWriter {
    pub id: String,
    pub model: String,
    created: u64,
    include_usage: bool,
    started: bool,
    tools: usize,
    finished: bool,
    done: bool,
    /// The usage told so far (the last report wins).
    pub usage: Usage,
    /// A finish reason told before the event that completes the stream (Bedrock's
    /// `messageStop` comes before its usage): the adapter finishes with it then.
    pub pending: Option<Finish>,
}

impl ChunkWriter {
    pub fn new(ctx: &RequestContext) -> Self {
        ChunkWriter {
            id: ctx.request_id.clone(),
            model: ctx.target_model.clone(),
            created: ctx.created,
            include_usage: ctx.include_usage,
            started: false,
            tools: 0,
            finished: false,
            done: false,
            usage: Usage::default(),
            pending: None,
        }
    }

    fn chunk(&mut self, mut delta: Value, finish: Option<Finish>, out: &mut Vec<SseEvent>) {
        if !self.started {
            self.started = true;
            delta["role"] = json!("assistant");
        }
        out.push(SseEvent {
            event: None,
            data: json!({
                "id": self.id, "object": "chat.completion.chunk", "created": self.created, "model": self.model,
                "choices": [{ "index": 0, "delta": delta, "logprobs": null, "finish_reason": finish.map(Finish::as_str) }],
            })
            .to_string(),
        });
    }

    /// The role chunk now (when the upstream's first event carries nothing else).
    pub fn start(&mut self, out: &mut Vec<SseEvent>) {
        if !self.started {
            self.chunk(json!({ "content": "" }), None, out);
        }
    }

    pub fn text(&mut self, text: &str, out: &mut Vec<SseEvent>) {
        if !text.is_empty() {
            self.chunk(json!({ "content": text }), None, out);
        }
    }

    /// A new tool call; returns its index (for [`ChunkWriter::tool_arguments`]).
    pub fn tool_start(&mut self, id: &str, name: &str, out: &mut Vec<SseEvent>) -> usize {
        let index = self.tools;
        self.tools += 1;
        self.chunk(
            json!({ "tool_calls": [{ "index": index, "id": id, "type": "function", "function": { "name": name, "arguments": "" } }] }),
            None,
            out,
        );
        index
    }

    pub fn tool_arguments(&mut self, index: usize, part: &str, out: &mut Vec<SseEvent>) {
        if !part.is_empty() {
            self.chunk(
                json!({ "tool_calls": [{ "index": index, "function": { "arguments": part } }] }),
                None,
                out,
            );
        }
    }

    /// Tool calls started so far.
    pub fn tool_count(&self) -> usize {
        self.tools
    }

    /// The finish chunk, once (later calls are ignored).
    pub fn finish(&mut self, finish: Finish, out: &mut Vec<SseEvent>) {
        if !self.finished {
            self.finished = true;
            self.chunk(json!({}), Some(finish), out);
        }
    }

    pub fn finished(&self) -> bool {
        self.finished
    }

    /// The usage chunk (when asked for) and `[DONE]`, once; a stream that did not say
    /// why it stopped gets `stop`.
    pub fn close(&mut self, out: &mut Vec<SseEvent>) {
        if self.done {
            return;
        }
        self.finish(Finish::Stop, out);
        self.done = true;
        if self.include_usage {
            out.push(SseEvent {
                event: None,
                data: json!({
                    "id": self.id, "object": "chat.completion.chunk", "created": self.created,
                    "model": self.model, "choices": [], "usage": self.usage.to_json(),
                })
                .to_string(),
            });
        }
        out.push(SseEvent {
            event: None,
            data: "[DONE]".to_string(),
        });
    }

    pub fn done(&self) -> bool {
        self.done
    }

    /// The stream's usage for the host, once it is complete.
    pub fn token_usage(&self) -> Option<TokenUsage> {
        self.done.then(|| self.usage.to_token_usage())
    }
}

/// The embeddings list body: one vector per input, in order. (A client that asked for
/// `encoding_format = "base64"` gets them encoded by the host.)
pub fn embeddings_answer(
    ctx: &RequestContext,
    vectors: &[Vec<f64>],
    prompt_tokens: u64,
) -> Vec<u8> {
    let data: Vec<Value> = vectors
        .iter()
        .enumerate()
        .map(|(i, v)| json!({ "object": "embedding", "index": i, "embedding": v }))
        .collect();
    json!({
        "object": "list",
        "data": data,
        "model": ctx.target_model,
        "usage": { "prompt_tokens": prompt_tokens, "total_tokens": prompt_tokens },
    })
    .to_string()
    .into_bytes()
}
