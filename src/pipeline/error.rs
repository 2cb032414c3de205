//! The request path's one error type: every way a request can fail in the pipeline,
//! with one mapping to OpenAI's error shape (`ApiError`) and one metric label per
//! variant (`switchboard_request_errors_total{reason}`).

use http::StatusCode;

use crate::plugins::PluginError;
use crate::reply::ApiError;
use crate::types::{AdapterError, Denial, ErrorKind};

#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The request itself is wrong (body, fields, limits).
    #[error("{message}")]
    Invalid {
        message: String,
        param: Option<String>,
    },
    #[error("The model `{0}` does not exist or you do not have access to it.")]
    ModelNotFound(String),
    #[error("key '{key}' may not use model `{model}`")]
    ModelNotAllowed { key: String, model: String },
    /// The route takes requests from other pages only (`cors_origins`).
    #[error("model `{model}` may not be used from the page at {origin}")]
    OriginNotAllowed { model: String, origin: String },
    /// The model is retired (its successor named, if it has one).
    #[error("model `{model}` is retired{}", .successor.as_ref().map(|s| format!("; use `{s}` instead")).unwrap_or_default())]
    Retired {
        model: String,
        successor: Option<String>,
    },
    /// `model@N` names a version that is not kept (or never was).
    #[error("model `{model}` has no version {version} kept (kept versions are bounded)")]
    VersionNotKept { model: String, version: u32 },
    /// The route or key takes its end user from a signed token and none came.
    #[error("{0}")]
    UserTokenRequired(String),
    /// The request's `user` is not the end user its verified token names.
    #[error("the request's user '{sent}' is not the end user its token names")]
    UserMismatch { sent: String },
    /// A policy said no.
    #[error("{}", .denial.message)]
    Denied { policy: String, denial: Box<Denial> },
    /// A guardrail said no (to the request or to its answer).
    #[error("{}", .denial.message)]
    Guarded {
        guardrail: String,
        denial: Box<crate::types::GuardDenial>,
    },
    /// A plugin of the route (strategy, policy, redactor) failed.
    #[error("the route's {kind} plugin failed: {source}")]
    Plugin {
        kind: &'static str,
        source: PluginError,
    },
    /// The provider refused the request as the client's own error (the adapter's
    /// `error-kind` says `invalid-request`): another target would refuse it too.
    #[error("{}", .0.message)]
    Provider(AdapterError),
    /// The route's deadline passed before any target answered.
    #[error("{0}")]
    Deadline(String),
    /// The request is too large for what must handle it (a plugin's memory, the
    /// gateway's translation budget): the client's to shrink.
    #[error("{0}")]
    TooLarge(String),
    /// No target could be tried (no key, open circuits, broken adapters); `code` says why.
    #[error("{message}")]
    NoTarget { code: &'static str, message: String },
    /// Every target tried failed; `status` is what their failures amount to;
    /// `retry_after` (seconds) how long the providers that limited the rate asked to wait.
    #[error("{message}")]
    AllFailed {
        status: u16,
        message: String,
        retry_after: Option<u64>,
    },
}

impl Error {
    pub fn invalid(message: impl Into<String>, param: Option<&str>) -> Self {
        Error::Invalid {
            message: message.into(),
            param: param.map(str::to_string),
        }
    }

    pub fn plugin(kind: &'static str, source: PluginError) -> Self {
        tracing::warn!(error = %source, "{kind} plugin failed");
        Error::Plugin { kind, source }
    }

    /// The metric label of this error.
    pub fn label(&self) -> &'static str {
        match self {
            Error::Invalid { .. } => "invalid_request",
            Error::ModelNotFound(_) => "model_not_found",
            Error::ModelNotAllowed { .. } => "model_not_allowed",
            Error::OriginNotAllowed { .. } => "origin_not_allowed",
            Error::Retired { .. } => "model_retired",
            Error::VersionNotKept { .. } => "model_version_not_found",
            Error::UserTokenRequired(_) => "end_user_token_required",
            Error::UserMismatch { .. } => "end_user_mismatch",
            Error::Denied { .. } => "policy_denied",
            Error::Guarded { .. } => "guardrail_denied",
            Error::Plugin { .. } => "plugin_failed",
            Error::Provider(_) => "provider_refused",
            Error::Deadline(_) => "deadline_exceeded",
            Error::TooLarge(_) => "request_too_large",
            Error::NoTarget { .. } => "no_target",
            Error::AllFailed { .. } => "upstream_failed",
        }
    }

    /// The HTTP status the client is answered with.
    pub fn status(&self) -> u16 {
        match self {
            Error::Invalid { .. } => 400,
            Error::ModelNotFound(_) => 404,
            Error::ModelNotAllowed { .. } | Error::OriginNotAllowed { .. } => 403,
            Error::Retired { .. } => 410,
            Error::VersionNotKept { .. } => 404,
            Error::UserTokenRequired(_) => 401,
            Error::UserMismatch { .. } => 400,
            Error::Denied { denial, .. } => denial.status,
            Error::Guarded { denial, .. } => denial.status.unwrap_or(400),
            Error::Plugin { .. } | Error::NoTarget { .. } => 503,
            Error::Provider(e) => e.status,
            Error::Deadline(_) => 504,
            Error::TooLarge(_) => 413,
            Error::AllFailed { status, .. } => *status,
        }
    }
}

/// OpenAI's error `type` for a denial's status, unless the policy set one.
fn denial_type(status: u16) -> &'static str {
    match status {
        429 => "rate_limit_error",
        401 => "authentication_error",
        403 => "permission_error",
        400..=499 => "invalid_request_error",
        _ => "server_error",
    }
}

fn all_failed_type(status: u16) -> (&'static str, &'static str) {
    match status {
        429 => ("rate_limit_error", "upstream_rate_limited"),
        503 => ("upstream_error", "upstream_overloaded"),
        504 => ("timeout_error", "upstream_timeout"),
        _ => ("upstream_error", "upstream_failed"),
    }
}

impl From<Error> for ApiError {
    fn from(e: Error) -> ApiError {
        let status = StatusCode::from_u16(e.status()).unwrap_or(StatusCode::BAD_GATEWAY);
        let message = e.to_string();
        let (kind, code, param): (&'static str, Option<&'static str>, Option<String>) = match e {
            Error::Invalid { param, .. } => ("invalid_request_error", None, param),
            Error::ModelNotFound(_) => (
                "invalid_request_error",
                Some("model_not_found"),
                Some("model".into()),
            ),
            Error::ModelNotAllowed { .. } => ("permission_error", Some("model_not_allowed"), None),
            Error::OriginNotAllowed { .. } => {
                ("permission_error", Some("origin_not_allowed"), None)
            }
            Error::Retired { .. } => (
                "invalid_request_error",
                Some("model_retired"),
                Some("model".into()),
            ),
            Error::VersionNotKept { .. } => (
                "invalid_request_error",
                Some("model_version_not_found"),
                Some("model".into()),
            ),
            Error::UserTokenRequired(_) => (
                "authentication_error",
                Some("end_user_token_required"),
                None,
            ),
            Error::UserMismatch { .. } => (
                "invalid_request_error",
                Some("end_user_mismatch"),
                Some("user".into()),
            ),
            Error::Denied { denial, .. } => {
                let mut api = ApiError::new(status, denial_type(denial.status), message);
                if let Some(t) = denial.error_type {
                    api.kind = t.into();
                }
                api.code = Some(denial.code.map_or("policy_denied".into(), Into::into));
                api.headers = denial
                    .headers
                    .into_iter()
                    .map(|h| (h.name, h.value))
                    .collect();
                return api;
            }
            Error::Guarded { denial, .. } => {
                let mut api = ApiError::new(status, denial_type(status.as_u16()), message);
                api.code = Some(denial.code.map_or("guardrail_denied".into(), Into::into));
                return api;
            }
            Error::Plugin { .. } => ("server_error", Some("plugin_failed"), None),
            Error::Provider(a) => (a.kind.error_type(), None, a.param),
            Error::Deadline(_) => ("timeout_error", Some("deadline_exceeded"), None),
            Error::TooLarge(_) => ("invalid_request_error", Some("request_too_large"), None),
            Error::NoTarget { code, .. } => ("server_error", Some(code), None),
            Error::AllFailed {
                status: code,
                retry_after,
                ..
            } => {
                let (kind, code) = all_failed_type(code);
                let mut api = ApiError::new(status, kind, message);
                api.code = Some(code.into());
                if let Some(secs) = retry_after {
                    api.headers.push(("retry-after".into(), secs.to_string()));
                }
                return api;
            }
        };
        let mut api = ApiError::new(status, kind, message);
        api.code = code.map(Into::into);
        api.param = param.map(crate::secrets::scrub_owned);
        api
    }
}

impl Error {
    pub fn into_response(self) -> http::Response<crate::reply::Body> {
        ApiError::from(self).into_response()
    }
}

/// Whether an adapter's error is the client's own (answered, not failed over).
pub fn is_clients(e: &AdapterError) -> bool {
    e.kind == ErrorKind::InvalidRequest && (400..500).contains(&e.status)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn denied(status: u16, error_type: Option<&str>, code: Option<&str>) -> ApiError {
        ApiError::from(Error::Denied {
            policy: "p".into(),
            denial: Box::new(Denial {
                status,
                message: "no".into(),
                headers: Vec::new(),
                error_type: error_type.map(Into::into),
                code: code.map(Into::into),
            }),
        })
    }

    #[test]
    fn a_denial_says_the_type_its_status_means_unless_the_policy_set_one() {
        assert_eq!(denied(400, None, None).kind, "invalid_request_error");
        assert_eq!(denied(403, None, None).kind, "permission_error");
        assert_eq!(denied(429, None, None).kind, "rate_limit_error");
        let own = denied(402, Some("insufficient_quota"), Some("budget_exceeded"));
        assert_eq!(own.kind, "insufficient_quota");
        assert_eq!(own.code.as_deref(), Some("budget_exceeded"));
        assert_eq!(
            denied(429, None, None).code.as_deref(),
            Some("policy_denied")
        );
    }

    #[test]
    fn the_adapters_error_kind_decides_what_is_the_clients() {
        let e = |status, kind| AdapterError {
            status,
            kind,
            message: String::new(),
            param: None,
        };
        assert!(is_clients(&e(400, ErrorKind::InvalidRequest)));
        assert!(is_clients(&e(422, ErrorKind::InvalidRequest)));
        assert!(!is_clients(&e(400, ErrorKind::Upstream)));
        assert!(!is_clients(&e(404, ErrorKind::NotFound)));
        assert!(!is_clients(&e(500, ErrorKind::InvalidRequest)));
    }

    #[test]
    fn every_variant_has_its_own_label() {
        let all = [
            Error::invalid("x", None),
            Error::ModelNotFound("m".into()),
            Error::Retired {
                model: "m".into(),
                successor: None,
            },
            Error::VersionNotKept {
                model: "m".into(),
                version: 3,
            },
            Error::ModelNotAllowed {
                key: "k".into(),
                model: "m".into(),
            },
            Error::Deadline("d".into()),
            Error::NoTarget {
                code: "c",
                message: "m".into(),
            },
            Error::AllFailed {
                status: 502,
                message: "m".into(),
                retry_after: None,
            },
        ];
        let labels: std::collections::BTreeSet<_> = all.iter().map(Error::label).collect();
        assert_eq!(labels.len(), all.len());
    }
}
