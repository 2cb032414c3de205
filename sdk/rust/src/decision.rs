//! A policy's answers: allow (with headers for the client) or deny (status, message,
//! OpenAI's error `type` and `code`, headers such as `retry-after`).
//!
//! ```ignore
//! use switchboard_sdk::decision::{allow, deny};
//! if used > limit {
//!     return deny(429, "over the team's limit").retry_after(30).code("team_limit").into();
//! }
//! allow().header("x-limit-remaining", limit - used).into()
//! ```

use crate::types::{Decision, Denial, Header};

/// A header.
pub fn header(name: &str, value: impl ToString) -> Header {
    Header {
        name: name.into(),
        value: value.to_string(),
    }
}

/// An admission, to which headers for the client may be added.
pub fn allow() -> Allow {
    Allow(Vec::new())
}

/// A denial with `status` (429 for limits) and the message the client reads.
pub fn deny(status: u16, message: impl Into<String>) -> Deny {
    Deny(Denial {
        status,
        message: message.into(),
        headers: Vec::new(),
        error_type: None,
        code: None,
    })
}

/// See [`allow`].
#[derive(Debug, Clone)]
pub struct Allow(pub Vec<Header>);

impl Allow {
    pub fn header(mut self, name: &str, value: impl ToString) -> Self {
        self.0.push(header(name, value));
        self
    }
}

impl From<Allow> for Decision {
    fn from(a: Allow) -> Decision {
        Decision::Allow(a.0)
    }
}

/// See [`deny`].
#[derive(Debug, Clone)]
pub struct Deny(pub Denial);

impl Deny {
    pub fn header(mut self, name: &str, value: impl ToString) -> Self {
        self.0.headers.push(header(name, value));
        self
    }

    /// `retry-after: secs`.
    pub fn retry_after(self, secs: u64) -> Self {
        self.header("retry-after", secs)
    }

    /// OpenAI's error `code` (the gateway's default: `policy_denied`).
    pub fn code(mut self, code: &str) -> Self {
        self.0.code = Some(code.into());
        self
    }

    /// OpenAI's error `type` (default by status: `rate_limit_error` for 429, …).
    pub fn error_type(mut self, t: &str) -> Self {
        self.0.error_type = Some(t.into());
        self
    }
}

impl From<Deny> for Decision {
    fn from(d: Deny) -> Decision {
        Decision::Deny(d.0)
    }
}

#[cfg(test)]
mod tests {
    use super::{allow, deny};
    use crate::types::Decision;

    #[test]
    fn builders_make_the_contracts_records() {
        match Decision::from(allow().header("x-left", 3)) {
            Decision::Allow(h) => {
                assert_eq!((h[0].name.as_str(), h[0].value.as_str()), ("x-left", "3"))
            }
            Decision::Deny(_) => panic!("allowed"),
        }
        match deny(429, "slow down")
            .retry_after(7)
            .code("team_limit")
            .into()
        {
            Decision::Deny(d) => {
                assert_eq!((d.status, d.message.as_str()), (429, "slow down"));
                assert_eq!(d.headers[0].value, "7");
                assert_eq!(d.code.as_deref(), Some("team_limit"));
                assert_eq!(d.error_type, None);
            }
            Decision::Allow(_) => panic!("denied"),
        }
    }
}
