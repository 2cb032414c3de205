//! Who asks the admin API (`Actor`): the person or the admin token, the role it acts
//! with, and how it signed in — what permissions are checked against and what the audit
//! log names.

use super::{GrantKind, Holder, Role};

/// How an admin request was signed in.
#[derive(Clone, Debug, PartialEq)]
pub enum Via {
    /// The admin token as a bearer token (automation, bootstrap).
    AdminToken,
    /// A console session (its grant id and CSRF token).
    Session { id: String, csrf: String },
    /// A personal API token (its grant id and label).
    Token { id: String, label: Option<String> },
}

/// Who asks the admin API, with which role: what the audit log names.
#[derive(Clone, Debug)]
pub struct Actor {
    /// The person (`admin-token` for the admin token and its sessions).
    pub name: String,
    pub role: Role,
    pub via: Via,
}

impl Actor {
    pub fn admin_token() -> Actor {
        Actor {
            name: "admin-token".into(),
            role: Role::Admin,
            via: Via::AdminToken,
        }
    }

    pub fn of(h: Holder) -> Actor {
        let g = h.grant;
        let name = if g.person.is_empty() {
            "admin-token".to_string()
        } else {
            g.person
        };
        let via = match g.kind {
            GrantKind::Session => Via::Session {
                id: g.id,
                csrf: g.csrf,
            },
            GrantKind::Token => Via::Token {
                id: g.id,
                label: g.label,
            },
        };
        Actor {
            name,
            role: h.role,
            via,
        }
    }

    /// The person, or a token's id: whose own sessions and tokens these are.
    pub fn person(&self) -> Option<&str> {
        (self.via != Via::AdminToken && self.name != "admin-token").then_some(&self.name)
    }

    /// How the audit log names it: `alice (operator)`, `alice token ci-1a2b3c
    /// (viewer)`, `admin-token (admin)`.
    pub fn label(&self) -> String {
        match &self.via {
            Via::Token { id, label } => format!(
                "{} token {}{id} ({})",
                self.name,
                label
                    .as_deref()
                    .map(|l| format!("{l}-"))
                    .unwrap_or_default(),
                self.role
            ),
            _ => format!("{} ({})", self.name, self.role),
        }
    }
}
