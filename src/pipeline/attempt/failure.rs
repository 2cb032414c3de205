//! Why one target did not answer, in the terms the walk over targets decides on: was
//! it reached, what its failure amounts to for the client (a status), is the adapter
//! rather than the provider to blame — and the words the request's story, the log and
//! the client's error give it, scrubbed of provider keys.

use std::fmt;
use std::time::Duration;

use super::stream::StreamError;
use crate::config::Inactive;
use crate::plugins::PluginError;
use crate::upstream::UpstreamError;
use crate::upstream::credentials::CredentialError;
use crate::upstream::request::OutboundError;

/// Why a target failed, or could not be tried.
#[derive(Debug)]
pub enum Failure {
    /// Not tried: the provider was removed since the request was routed.
    Gone { provider: String },
    /// Not tried: a credential the provider's config names is not set.
    Unconfigured(Inactive),
    /// Not tried: the request continues a response another provider keeps.
    KeptElsewhere { keeper: String },
    /// Not tried: the client's API must pass through, and this provider does not speak it.
    ApiNotSpoken { api: &'static str },
    /// Not tried: its circuit is open (for about `wait`).
    CircuitOpen { wait: Option<Duration> },
    /// Not tried: the route's retry budget is spent.
    RetryBudget,
    /// The request could not be made from what the adapter asked for.
    Outbound(OutboundError),
    /// The provider's credential (a token the host fetches) could not be had.
    Credential(CredentialError),
    /// The provider was not reached, did not answer in time, or broke off.
    Unreachable(UpstreamError),
    /// The provider answered with a redirect, which is not followed.
    Redirect(u16),
    /// A successful status with a body that is not JSON.
    InvalidJson { status: u16, error: String },
    /// The provider refused, as its adapter (or its API's error shape) says.
    Refused { status: u16, message: String },
    /// An error status the adapter mapped to an answer rather than an error.
    Status(u16),
    /// A stream that broke before its first event reached the client.
    Stream(StreamError),
    /// A stream that ended before any event.
    EmptyStream,
    /// The adapter (a plugin) failed; the provider is not to blame.
    Adapter(PluginError),
    /// The request's deadline cut the attempt off.
    Deadline,
}

impl Failure {
    /// What the failure amounts to for the client; `None`: no provider was reached (or
    /// only the adapter failed).
    pub fn status(&self) -> Option<u16> {
        match self {
            Failure::Gone { .. }
            | Failure::Unconfigured(_)
            | Failure::KeptElsewhere { .. }
            | Failure::ApiNotSpoken { .. }
            | Failure::CircuitOpen { .. }
            | Failure::RetryBudget
            | Failure::Adapter(_) => None,
            Failure::Stream(StreamError::Plugin(_)) => None,
            Failure::Stream(e) => Some(e.status().unwrap_or(502)),
            Failure::Unreachable(UpstreamError::Timeout(_)) | Failure::Deadline => Some(504),
            Failure::Refused { status, .. } | Failure::Status(status) => Some(*status),
            Failure::Outbound(_)
            | Failure::Credential(_)
            | Failure::Unreachable(_)
            | Failure::Redirect(_)
            | Failure::InvalidJson { .. }
            | Failure::EmptyStream => Some(502),
        }
    }

    /// The adapter failed, not the provider.
    pub fn is_plugin(&self) -> bool {
        matches!(
            self,
            Failure::Adapter(_) | Failure::Stream(StreamError::Plugin(_))
        )
    }

    /// Whether the words name the target themselves (else they follow its name).
    fn names_target(&self) -> bool {
        matches!(
            self,
            Failure::Gone { .. } | Failure::Unconfigured(_) | Failure::RetryBudget
        )
    }

    /// The words for `target` ("provider (model)"), scrubbed of provider keys.
    pub fn reason(&self, target: &str) -> String {
        let said = if self.names_target() {
            self.to_string()
        } else {
            format!("{target}: {self}")
        };
        crate::secrets::scrub_owned(said)
    }
}

impl fmt::Display for Failure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Failure::Gone { provider } => write!(f, "provider '{provider}' is gone"),
            Failure::Unconfigured(why) => write!(f, "{why}"),
            Failure::KeptElsewhere { keeper } => write!(
                f,
                "the request continues a response kept at provider '{keeper}'"
            ),
            Failure::ApiNotSpoken { api } => write!(f, "does not take /v1/{api} as it is"),
            Failure::CircuitOpen { wait: None } => write!(f, "circuit open"),
            Failure::CircuitOpen { wait: Some(d) } => {
                write!(f, "circuit open for {}s", d.as_secs().max(1))
            }
            Failure::RetryBudget => write!(f, "retry budget of the route exhausted"),
            Failure::Outbound(why) => write!(f, "{why}"),
            Failure::Credential(why) => write!(f, "no credential: {why}"),
            Failure::Unreachable(e) => write!(f, "{e}"),
            Failure::Redirect(s) => write!(f, "answered HTTP {s}, a redirect (not followed)"),
            Failure::InvalidJson { status, error } => {
                write!(f, "answered HTTP {status} with invalid JSON: {error}")
            }
            Failure::Refused { status, message } => write!(f, "HTTP {status}: {message}"),
            Failure::Status(s) => write!(f, "HTTP {s}"),
            Failure::Stream(e) => write!(f, "{e}"),
            Failure::EmptyStream => write!(f, "stream ended before any event"),
            Failure::Adapter(e) => write!(f, "adapter failed: {e}"),
            Failure::Deadline => write!(f, "cut off by the deadline"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_failure_says_what_it_amounts_to_and_who_is_to_blame() {
        let t = "p (m)";
        let timeout = Failure::Unreachable(UpstreamError::Timeout(Duration::from_secs(3)));
        assert_eq!(timeout.status(), Some(504));
        assert_eq!(timeout.reason(t), "p (m): no answer within 3s");
        let broke = Failure::Stream(StreamError::Truncated);
        assert_eq!((broke.status(), broke.is_plugin()), (Some(502), false));
        let refused = Failure::Refused {
            status: 429,
            message: "slow down".into(),
        };
        assert_eq!(refused.status(), Some(429));
        assert_eq!(refused.reason(t), "p (m): HTTP 429: slow down");
        let open = Failure::CircuitOpen {
            wait: Some(Duration::from_millis(300)),
        };
        assert_eq!(
            (open.status(), open.reason(t)),
            (None, "p (m): circuit open for 1s".into())
        );
        let key = Failure::Unconfigured(Inactive::NoApiKey {
            provider: "p".into(),
            var: "P_KEY".into(),
        });
        assert_eq!(key.reason(t), "provider 'p' has no API key (set P_KEY)");
        assert!(!key.is_plugin() && key.status().is_none());
    }
}
