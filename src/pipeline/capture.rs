//! Payload capture (`capture = { sample, max_body_kib }` on a route or key): whether a
//! request's bodies are kept — drawn once, when its route is known — and what is kept:
//! the request as it left the redactors (a multipart upload only named), the answer as
//! the client got it (a stream assembled at its end). Nothing is kept on a route or key
//! without capture, or when usage is not recorded.

use bytes::Bytes;

use super::ctx::RequestCtx;
use crate::config::Capture;
use crate::live::{LiveRoute, Principal};
use crate::usage::story::Payload;

/// Draws whether this request's bodies are kept, by its route's and key's capture.
pub fn begin(ctx: &RequestCtx, route: &LiveRoute, p: &Principal) {
    if let Some(c) = Capture::widest(route.route.capture, p.capture).filter(Capture::draw) {
        ctx.story(|s| s.payload = Some(Payload::new(c.max_body_bytes)));
    }
}

/// The request as it goes to the providers.
pub fn request(ctx: &RequestCtx, body: &Bytes, native: Option<&super::Native>) {
    if ctx.capture_limit().is_none() {
        return;
    }
    let sent = match native {
        Some(n) if n.content_type.is_some() => Bytes::from(format!(
            "[a multipart upload of {} bytes, not kept]",
            n.body.len()
        )),
        Some(n) => n.body.clone(),
        None => body.clone(),
    };
    ctx.story(|s| {
        if let Some(p) = &mut s.payload {
            p.request(&sent);
        }
    });
}

/// The answer as the client got it; `cut` when less than all of it was kept.
pub fn response(ctx: &RequestCtx, body: &[u8], cut: bool) {
    ctx.story(|s| {
        if let Some(p) = &mut s.payload {
            p.response(body, cut);
        }
    });
}
