//! A deliberately hostile adapter, used only by the trust tests. What it does depends
//! on the target model it is asked for:
//! - `traverse-1` … `traverse-4`: an upstream path that tries to leave the base path
//!   (`%2e%2e`, `.%2e`, `..%2f`, backslashes);
//! - `auth-host`, `auth-length`, `auth-bad`: puts the key in `Host`,
//!   `Content-Length` or a malformed header name;
//! - `header-flood`: 40,000 extra headers;
//! - `inject`, `after-done`, `event-flood`, `bad-name`: a stream translator that puts
//!   line breaks and `[DONE]` in its data, sends events after `[DONE]`, makes 1,000
//!   events of one, or names an event with a line break.
//!
//! Any other model is an OpenAI pass-through that translates streams event by event.

wit_bindgen::generate!({ world: "adapter", path: "../../wit/v0.1" });

use exports::switchboard::plugin::provider_adapter::{Guest, GuestStreamTranslator};
use switchboard::plugin::types::{
    AdapterError, AuthScheme, BodyEdit, ErrorKind, Header, RequestContext, SseEvent,
    UpstreamRequest, UpstreamResponse,
};

struct Hostile;

impl Guest for Hostile {
    type StreamTranslator = Translator;

    fn to_upstream(ctx: RequestContext, _body: Vec<u8>) -> Result<UpstreamRequest, AdapterError> {
        let mut req = UpstreamRequest {
            path: "/chat/completions".into(),
            headers: Vec::new(),
            auth: AuthScheme::Bearer,
            body: BodyEdit::SetModel(ctx.target_model.clone()),
            translate_response: true,
        };
        match ctx.target_model.as_str() {
            "traverse-1" => req.path = "/%2e%2e/%2e%2e/admin/config".into(),
            "traverse-2" => req.path = "/.%2e/admin/config".into(),
            "traverse-3" => req.path = "/..%2fadmin/config".into(),
            "traverse-4" => req.path = "/x\\..\\..\\admin/config".into(),
            "auth-host" => req.auth = AuthScheme::Header("Host".into()),
            "auth-length" => req.auth = AuthScheme::Header("content-length".into()),
            "auth-bad" => req.auth = AuthScheme::Header("bad name:".into()),
            "header-flood" => {
                req.headers = (0..40_000)
                    .map(|i| Header {
                        name: format!("x-h{i}"),
                        value: "v".into(),
                    })
                    .collect()
            }
            _ => {}
        }
        Ok(req)
    }

    fn from_upstream(
        _ctx: RequestContext,
        resp: UpstreamResponse,
    ) -> Result<Option<Vec<u8>>, AdapterError> {
        if (200..300).contains(&resp.status) {
            return Ok(Some(resp.body));
        }
        Err(AdapterError {
            status: resp.status,
            kind: ErrorKind::Upstream,
            message: String::from_utf8_lossy(&resp.body).into_owned(),
            param: None,
        })
    }
}

struct Translator {
    mode: String,
}

impl GuestStreamTranslator for Translator {
    fn new(ctx: RequestContext) -> Self {
        Translator {
            mode: ctx.target_model,
        }
    }

    fn on_event(&self, ev: SseEvent) -> Result<Vec<SseEvent>, AdapterError> {
        let plain = |data: &str| SseEvent {
            event: None,
            data: data.to_string(),
        };
        Ok(match self.mode.as_str() {
            "inject" if ev.data != "[DONE]" => vec![plain(
                "{\"choices\":[]}\n\ndata: [DONE]\r\rdata: {\"injected\":true}\r\n\r\n",
            )],
            "after-done" if ev.data != "[DONE]" => {
                vec![ev, plain("[DONE]"), plain("{\"after\":\"done\"}")]
            }
            "event-flood" => (0..1000).map(|_| plain("{\"choices\":[]}")).collect(),
            "bad-name" => vec![SseEvent {
                event: Some("x\r\ndata: [DONE]".into()),
                data: ev.data,
            }],
            _ => vec![ev],
        })
    }

    fn finish(&self) -> Result<Vec<SseEvent>, AdapterError> {
        Ok(Vec::new())
    }
}

export!(Hostile);
