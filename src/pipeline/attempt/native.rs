//! A passed-through attempt: the client's own request — its model set to the
//! target's, the key swapped for the provider's, the client's API headers forwarded —
//! sent to a target that speaks the client's API, and the answer (or the stream,
//! event by event) given back as it is: keys scrubbed, usage read from it, whole
//! answers and complete streams kept by the cache. No adapter runs.

use bytes::Bytes;
use http::StatusCode;

use super::{Answered, Attempt, Failure, claude, is_client_error};
use crate::native::{ANTHROPIC_VERSION, NativeApi, error_message};
use crate::pipeline::{Native, NativeAnswer, Outcome, body};
use crate::reply::full;
use crate::secrets;
use crate::types::{BodyEdit, Header, HttpMethod, StreamFormat, UpstreamRequest};
use crate::upstream;

/// The client's headers that go along: those the API names, unless the provider's
/// configured headers set the same (the operator's choice wins); Anthropic's version
/// when the client names none.
fn forwarded(n: &Native, provider_headers: &[(String, String)]) -> Vec<Header> {
    let configured = |name: &str| {
        provider_headers
            .iter()
            .any(|(k, _)| k.eq_ignore_ascii_case(name))
    };
    let mut out: Vec<Header> = n
        .headers
        .iter()
        .filter(|(k, _)| !configured(k))
        .map(|(k, v)| Header {
            name: k.clone(),
            value: v.clone(),
        })
        .collect();
    if let Some(ct) = &n.content_type {
        out.push(Header {
            name: "content-type".into(),
            value: ct.clone(),
        });
    }
    if n.api == NativeApi::Messages
        && !configured("anthropic-version")
        && !out.iter().any(|h| h.name == "anthropic-version")
    {
        out.push(Header {
            name: "anthropic-version".into(),
            value: ANTHROPIC_VERSION.into(),
        });
    }
    out
}

impl Attempt<'_> {
    /// Passes the client's request through to this target.
    pub(super) async fn native(self, n: &Native) -> Outcome {
        let p = &self.provider.provider;
        let mut up = UpstreamRequest {
            method: HttpMethod::Post,
            path: n.api.path(),
            query: Vec::new(),
            headers: forwarded(n, &p.headers),
            auth: n.api.auth(),
            body: BodyEdit::Keep,
            translate_response: false,
            stream_format: StreamFormat::Sse,
        };
        let model = &self.target.target.model;
        let hosted = (n.api == NativeApi::Messages)
            .then(|| {
                let headers: Vec<(String, String)> = up
                    .headers
                    .iter()
                    .map(|h| (h.name.clone(), h.value.clone()))
                    .collect();
                claude::hosted(&p.claude, &n.body, model, self.ctx.stream, &headers)
            })
            .flatten();
        let payload = match (hosted, &n.model_span, &n.content_type) {
            (Some(h), _, _) => {
                up.path = h.path;
                up.auth = h.auth;
                up.stream_format = h.stream_format;
                up.headers = h
                    .headers
                    .into_iter()
                    .map(|(name, value)| Header { name, value })
                    .collect();
                h.body
            }
            (None, None, _) => n.body.to_vec(),
            (None, Some(span), Some(_)) => crate::multipart::replace(&n.body, span, model),
            (None, Some(span), None) => body::set_model(&n.body, span, model),
        };
        let token = match upstream::credentials::token_for(p.credential.as_ref()).await {
            Ok(t) => t,
            Err(e) => return self.no_credential(e),
        };
        let req = upstream::request::build(upstream::request::Outbound {
            base: &self.provider.base_url,
            up: &up,
            provider_headers: &p.headers,
            key: p.api_key.as_ref().map(|k| k.expose()),
            token: token.as_ref().map(|(t, p)| (&**t, *p)),
            aws: p.aws.as_ref(),
            tc3: upstream::credentials::tc3_of(p.credential.as_ref()),
            body: Bytes::from(payload),
            now: self.ctx.created,
        });
        let req = match req {
            Ok(r) => r,
            Err(e) => return Outcome::Failover(Failure::Outbound(e)),
        };
        let timer = tokio::time::sleep(p.timeout);
        tokio::pin!(timer);
        let answer = match self.send(req, false, timer.as_mut()).await {
            Ok(a) => a,
            Err(outcome) => return outcome,
        };
        self.token_answered(&answer, token.as_ref());
        if answer.resp.status().is_success() && n.api.binary() {
            return self.native_binary(answer);
        }
        if answer.resp.status().is_success() && self.ctx.stream {
            return self.stream(answer, up.stream_format, Some(n.api)).await;
        }
        self.native_whole(answer, timer, n).await
    }

    /// A whole passed-through answer: the client's error when the provider refused
    /// the request itself, a failover for any other failure, else the answer as it
    /// is (it must be JSON), its usage read, kept by the cache.
    async fn native_whole(
        self,
        a: Answered<'_>,
        timer: std::pin::Pin<&mut tokio::time::Sleep>,
        n: &Native,
    ) -> Outcome {
        let api = n.api;
        let Answered {
            resp,
            mut tally,
            mut waiting,
            ..
        } = a;
        let status = resp.status().as_u16();
        let body = match self.read(resp, timer, &mut tally).await {
            Ok(b) => b,
            Err(outcome) => return outcome,
        };
        waiting.stop();
        tally.answer_in();
        let body = secrets::scrub_json_body(body);
        if !(200..300).contains(&status) {
            tally.served(is_client_error(status));
            let said = error_message(&body).unwrap_or_default();
            if is_client_error(status) {
                self.shared.ctx.failed("provider_error");
                let code = StatusCode::from_u16(status).unwrap_or(StatusCode::BAD_REQUEST);
                return Outcome::Respond(self.answer(code, "application/json", body));
            }
            return Outcome::Failover(Failure::Refused {
                status,
                message: said,
            });
        }
        let usage = match serde_json::from_slice::<serde::de::IgnoredAny>(&body) {
            Ok(_) => api.usage(&body).unwrap_or_default(),
            Err(e) => return self.not_json(status, e, &mut tally),
        };
        tally.served(true);
        // The tokens are spent whatever happens next.
        let p = &self.provider.provider;
        self.shared
            .ctx
            .answered(&p.name, &self.target.target, usage);
        let body = match self.shared.redact {
            None => body,
            Some((chain, _)) => {
                match crate::pipeline::redact::native::answer(chain, api, body).await {
                    Ok(b) => b,
                    // Fail-closed: the answer is not shown rather than shown unredacted.
                    Err(e) => {
                        let e = crate::pipeline::Error::plugin("redactor", e);
                        self.shared.ctx.failed(e.label());
                        return Outcome::Respond(e.into_response());
                    }
                }
            }
        };
        if let Some(store) = self.shared.cache {
            tally.keep(store, body.clone());
        }
        if let Some(on_id) = &n.on_id
            && let Some(id) = crate::native::answer_id(&body)
        {
            on_id(&id, &p.name);
        }
        Outcome::Respond(self.answer(StatusCode::OK, "application/json", body))
    }

    /// A binary answer (audio): streamed through as it arrives, never held whole, with
    /// the provider's content type. Its head is the answer: a break later ends the body.
    fn native_binary(self, a: Answered<'_>) -> Outcome {
        let Answered {
            resp,
            mut tally,
            mut waiting,
            ..
        } = a;
        waiting.stop();
        let p = &self.provider.provider;
        tally.served(true);
        self.shared
            .ctx
            .answered(&p.name, &self.target.target, Default::default());
        let content_type = resp.headers().get(http::header::CONTENT_TYPE).cloned();
        let body = super::stream::binary(resp.into_body(), p.timeout, tally.hand_over());
        let mut out = self.respond(StatusCode::OK, "application/octet-stream", body);
        if let Some(ct) = content_type {
            out.headers_mut().insert(http::header::CONTENT_TYPE, ct);
        }
        out.extensions_mut().insert(NativeAnswer);
        Outcome::Respond(out)
    }

    /// A passed-through answer for the client, marked as being in its own API.
    fn answer(
        &self,
        status: StatusCode,
        content_type: &'static str,
        body: Bytes,
    ) -> http::Response<crate::reply::Body> {
        let mut resp = self.respond(status, content_type, full(body));
        resp.extensions_mut().insert(NativeAnswer);
        resp
    }
}
