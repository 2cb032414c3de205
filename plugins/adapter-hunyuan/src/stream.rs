//! The chat stream: SSE `data:` events, each a bare `ChatCompletionsResponse` (not
//! under `Response`) with `Choices[0].Delta`, the running `Usage`, and a non-empty
//! `FinishReason` on the last (no `[DONE]`); tool calls come as deltas to merge by `Id`
//! (the first with `Id`, `Name` and empty `Arguments`, later ones with the same `Id`
//! and pieces of `Arguments`); `ErrorMsg` or a `Response.Error` is the stream's error.
//! Shapes as the reference's examples give them
//! (TencentCloud/tencentcloud-cli `tccli/examples/hunyuan/v20230901/ChatCompletions.md`).

use std::cell::RefCell;

use serde_json::Value;
use switchboard_sdk::adapter::StreamTranslator;
use switchboard_sdk::openai::{self, ChunkWriter, Translation};
use switchboard_sdk::types::{AdapterError, RequestContext, SseEvent, TranslatedEvents};

use crate::PROVIDER;
use crate::convert::{finish, response, str_at, usage};

/// The `stream-translator` resource: each event written by [`stream_event`], the ids of
/// the tool calls it started kept between events.
pub struct HunyuanStream {
    translation: Translation,
    state: RefCell<StreamState>,
}

impl StreamTranslator for HunyuanStream {
    fn new(ctx: RequestContext) -> Self {
        HunyuanStream {
            translation: Translation::new(ctx),
            state: RefCell::new(StreamState::default()),
        }
    }

    fn on_event(&self, ev: SseEvent) -> Result<TranslatedEvents, AdapterError> {
        let mut state = self.state.borrow_mut();
        self.translation
            .event(|ctx, w, out| stream_event(ctx, w, &mut state, &ev, out))
    }

    fn finish(&self) -> Result<TranslatedEvents, AdapterError> {
        self.translation.end(PROVIDER)
    }
}

/// What a stream keeps besides its writer: the ids of the tool calls started, in the
/// writer's order, and whether the stream's id was taken from its first event.
#[derive(Default)]
pub struct StreamState {
    calls: Vec<String>,
    named: bool,
}

/// The writer's index of a tool-call delta: by `Id` (the reference merges by it);
/// without one, by `Index` when it names a started call, else the last started.
/// `None`: a new call.
fn call_index(st: &StreamState, id: &str, index: Option<u64>) -> Option<usize> {
    if !id.is_empty() {
        return st.calls.iter().position(|known| known == id);
    }
    match index {
        Some(i) => usize::try_from(i).ok().filter(|i| *i < st.calls.len()),
        None => st.calls.len().checked_sub(1),
    }
}

fn tool_delta(
    ctx: &RequestContext,
    w: &mut ChunkWriter,
    st: &mut StreamState,
    call: &Value,
    out: &mut Vec<SseEvent>,
) {
    let f = call.get("Function").unwrap_or(&Value::Null);
    let id = str_at(call, "Id");
    let i = match call_index(st, id, call.get("Index").and_then(Value::as_u64)) {
        Some(i) => i,
        None => {
            let id = match id {
                "" => openai::call_id(ctx, st.calls.len()),
                id => id.to_string(),
            };
            let i = w.tool_start(&id, str_at(f, "Name"), out);
            st.calls.push(id);
            i
        }
    };
    w.tool_arguments(i, str_at(f, "Arguments"), out);
}

/// One `data:` event: its text, its tool-call deltas, the running usage; the event
/// with a `FinishReason` completes the stream.
pub fn stream_event(
    ctx: &RequestContext,
    w: &mut ChunkWriter,
    st: &mut StreamState,
    ev: &SseEvent,
    out: &mut Vec<SseEvent>,
) -> Result<(), AdapterError> {
    if ev.data.trim() == "[DONE]" {
        return Ok(());
    }
    let v = response(ev.data.as_bytes())?;
    if !st.named {
        st.named = true;
        if let Some(id) = v
            .get("Id")
            .and_then(Value::as_str)
            .filter(|s| !s.is_empty())
        {
            w.id = id.to_string();
        }
    }
    if let Some(u) = v.get("Usage").filter(|u| !u.is_null()) {
        w.usage = usage(Some(u));
    }
    let choice = v
        .get("Choices")
        .and_then(|c| c.get(0))
        .unwrap_or(&Value::Null);
    let delta = choice.get("Delta").unwrap_or(&Value::Null);
    w.text(str_at(delta, "Content"), out);
    for call in delta
        .get("ToolCalls")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
    {
        tool_delta(ctx, w, st, call, out);
    }
    let reason = str_at(choice, "FinishReason");
    if !reason.is_empty() {
        w.finish(finish(reason), out);
        w.close(out);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;
    use switchboard_sdk::testing::request_context;

    fn ctx() -> RequestContext {
        request_context("m", "p", "hunyuan-turbos-latest")
    }

    #[test]
    fn streamed_tool_calls_merge_by_id() {
        let c = ctx();
        let mut w = ChunkWriter::new(&c);
        let mut st = StreamState::default();
        let mut out = Vec::new();
        let ev = |v: Value| SseEvent {
            event: None,
            data: v.to_string(),
        };
        let call = |id: &str, name: &str, args: &str| {
            json!({ "Choices": [{ "Delta": { "Role": "assistant", "Content": "",
                "ToolCalls": [{ "Id": id, "Type": "function", "Function": { "Name": name, "Arguments": args } }] },
                "FinishReason": "" }], "Id": "up-1" })
        };
        for v in [
            call("c1", "get_weather", ""),
            call("c1", "", "{\"city\":"),
            call("c2", "get_weather", "{\"city\":\"Oslo\"}"),
            call("c1", "", "\"Paris\"}"),
        ] {
            stream_event(&c, &mut w, &mut st, &ev(v), &mut out).unwrap();
        }
        let end = json!({ "Choices": [{ "Delta": { "Role": "assistant", "Content": "" },
            "FinishReason": "tool_calls" }], "Usage": { "PromptTokens": 11, "CompletionTokens": 7 } });
        stream_event(&c, &mut w, &mut st, &ev(end), &mut out).unwrap();
        assert_eq!(w.tool_count(), 2);
        assert!(w.done());
        let text: String = out.iter().map(|e| e.data.as_str()).collect();
        assert!(
            text.contains("\"id\":\"up-1\"") && text.contains("tool_calls"),
            "{text}"
        );
        assert_eq!(w.token_usage().unwrap().prompt_tokens, 11);
    }

    #[test]
    fn a_stream_without_its_finish_reason_is_not_whole() {
        let s = HunyuanStream::new(ctx());
        let ev = SseEvent {
            event: None,
            data:
                r#"{"Choices":[{"Delta":{"Role":"assistant","Content":"hi"},"FinishReason":""}]}"#
                    .into(),
        };
        assert_eq!(s.on_event(ev).unwrap().events.len(), 1);
        assert!(s.finish().is_err(), "no FinishReason came");
        let s = HunyuanStream::new(ctx());
        let failed = SseEvent {
            event: None,
            data: r#"{"ErrorMsg":{"Code":4001,"Msg":"timeout"},"Choices":[]}"#.into(),
        };
        assert_eq!(s.on_event(failed).err().unwrap().status, 504);
    }
}
