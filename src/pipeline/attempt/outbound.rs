//! The request an attempt sends: the body as the adapter asked (kept, model set, or
//! replaced; a pass-through stream asks for usage) under the provider's base URL with
//! its headers and credential — a static key, a token its credential kind fetched, or
//! a signature — and what a credential that cannot be had amounts to.

use bytes::Bytes;

use super::{Attempt, Failure, Tally, body};
use crate::pipeline::Outcome;
use crate::types::{BodyEdit, UpstreamRequest};
use crate::upstream;

impl Attempt<'_> {
    /// The request to send: the body as the adapter asked (kept, model set, or
    /// replaced; a pass-through stream asks for usage), under the provider's base URL
    /// with its headers and credential.
    pub(super) fn outbound(
        &self,
        up: &mut UpstreamRequest,
        token: Option<(&str, upstream::credentials::Placement)>,
    ) -> Result<http::Request<upstream::OutBody>, upstream::request::OutboundError> {
        let p = &self.provider.provider;
        let key = p.api_key.as_ref().map(|k| k.expose());
        let replaced = matches!(up.body, BodyEdit::Replace(_));
        let payload: Bytes = match std::mem::replace(&mut up.body, BodyEdit::Keep) {
            BodyEdit::Keep => self.shared.body.clone(),
            BodyEdit::SetModel(m) => Bytes::from(body::set_model(
                self.shared.body,
                &self.shared.facts.model_span,
                &m,
            )),
            BodyEdit::Replace(b) => Bytes::from(b),
        };
        // A pass-through body asks for the usage chunk the client did not ask for.
        let payload = if self.ctx.include_usage && !self.shared.facts.include_usage && !replaced {
            Bytes::from(body::with_stream_usage(
                &payload,
                self.shared.facts.has_stream_options,
            ))
        } else {
            payload
        };
        upstream::request::build(upstream::request::Outbound {
            base: &self.provider.base_url,
            up,
            provider_headers: &p.headers,
            key,
            token,
            aws: p.aws.as_ref(),
            tc3: upstream::credentials::tc3_of(p.credential.as_ref()),
            body: payload,
            now: self.ctx.created,
        })
    }

    /// A provider that answers 401 to a token it was sent has revoked or rotated it:
    /// the next request fetches a new one instead of failing until the token expires.
    pub(super) fn token_answered(
        &self,
        answer: &super::Answered<'_>,
        token: Option<&(std::sync::Arc<str>, upstream::credentials::Placement)>,
    ) {
        if answer.resp.status() == http::StatusCode::UNAUTHORIZED
            && let Some((t, _)) = token
        {
            let credential = self.provider.provider.credential.as_ref();
            upstream::credentials::rejected(credential, t);
        }
    }

    /// The provider's token could not be had: held against the target like an
    /// unreachable provider, and the next target is tried.
    pub(super) fn no_credential(&self, e: upstream::credentials::CredentialError) -> Outcome {
        Tally::sent(&self.target.signals).served(false);
        Outcome::Failover(Failure::Credential(e))
    }
}
