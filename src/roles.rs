//! Roles and what each may do. A role is gateway-wide (`admin`, `operator`, `viewer`)
//! or held in one team (`team-admin:NAME`, `team-member:NAME`). What an admin endpoint
//! needs is a `Perm` (the table of endpoints is the admin listener's permission table); the scoped
//! permissions (`Keys`, `KeysWrite`, `Usage`, `Own`) let every role in and narrow what
//! the endpoint shows or changes to the role's `Scope`.

use std::fmt;

use serde::{Serialize, Serializer};

#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum Role {
    /// Everything.
    Admin,
    /// Models, providers, overrides, reloads, cache, counters, alerts, every key; no
    /// people or roles.
    Operator,
    /// Reads everything but secrets; changes nothing.
    Viewer,
    /// A team's keys, usage and alerts.
    TeamAdmin(String),
    /// Their own keys and usage in a team.
    TeamMember(String),
}

/// What an admin endpoint needs of the role asking.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Perm {
    /// Anyone signed in (what it shows is theirs: their session, tokens).
    Own,
    /// Reading the gateway's state.
    Read,
    /// Changing models, providers, overrides, cache, counters; reloading.
    Operate,
    /// People, roles, sessions of others, the master key.
    Admin,
    /// Reading keys, scoped.
    Keys,
    /// Making and changing keys, scoped.
    KeysWrite,
    /// Reading usage, scoped.
    Usage,
}

/// How much of the keys and usage a role sees.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Scope {
    All,
    /// One team's.
    Team(String),
    /// A person's own, in a team.
    Own(String),
}

impl Role {
    pub fn parse(s: &str) -> Option<Role> {
        let team = |t: &str| {
            (!t.is_empty()
                && t.len() <= 64
                && t.bytes()
                    .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-')))
            .then(|| t.to_string())
        };
        match s.split_once(':') {
            None => match s {
                "admin" => Some(Role::Admin),
                "operator" => Some(Role::Operator),
                "viewer" => Some(Role::Viewer),
                _ => None,
            },
            Some(("team-admin", t)) => team(t).map(Role::TeamAdmin),
            Some(("team-member", t)) => team(t).map(Role::TeamMember),
            Some(_) => None,
        }
    }

    /// Whether this role may do what `perm` names (scoped permissions: within
    /// `scope()`).
    pub fn may(&self, perm: Perm) -> bool {
        match perm {
            Perm::Own | Perm::Keys | Perm::Usage => true,
            Perm::Read => matches!(self, Role::Admin | Role::Operator | Role::Viewer),
            Perm::Operate => matches!(self, Role::Admin | Role::Operator),
            Perm::Admin => *self == Role::Admin,
            Perm::KeysWrite => *self != Role::Viewer,
        }
    }

    pub fn scope(&self) -> Scope {
        match self {
            Role::Admin | Role::Operator | Role::Viewer => Scope::All,
            Role::TeamAdmin(t) => Scope::Team(t.clone()),
            Role::TeamMember(t) => Scope::Own(t.clone()),
        }
    }

    /// Whether everything `other` may do, this role may too (a token is made with a
    /// role its maker's covers).
    pub fn covers(&self, other: &Role) -> bool {
        match (self, other) {
            (Role::Admin, _) => true,
            (Role::Operator, r) => *r != Role::Admin,
            (Role::Viewer, Role::Viewer) => true,
            (Role::TeamAdmin(a), Role::TeamAdmin(b) | Role::TeamMember(b)) => a == b,
            (Role::TeamMember(a), Role::TeamMember(b)) => a == b,
            _ => false,
        }
    }

    /// The team a team role is held in.
    pub fn team(&self) -> Option<&str> {
        match self {
            Role::TeamAdmin(t) | Role::TeamMember(t) => Some(t),
            _ => None,
        }
    }
}

impl fmt::Display for Role {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Role::Admin => f.write_str("admin"),
            Role::Operator => f.write_str("operator"),
            Role::Viewer => f.write_str("viewer"),
            Role::TeamAdmin(t) => write!(f, "team-admin:{t}"),
            Role::TeamMember(t) => write!(f, "team-member:{t}"),
        }
    }
}

impl Serialize for Role {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn roles_parse_print_and_cover() {
        for s in [
            "admin",
            "operator",
            "viewer",
            "team-admin:pay",
            "team-member:pay",
        ] {
            assert_eq!(Role::parse(s).unwrap().to_string(), s);
        }
        for bad in [
            "root",
            "team-admin:",
            "team-admin:a b",
            "team-owner:x",
            "Admin",
        ] {
            assert!(Role::parse(bad).is_none(), "{bad}");
        }
        let ta = Role::TeamAdmin("pay".into());
        assert!(ta.covers(&Role::TeamMember("pay".into())));
        assert!(!ta.covers(&Role::TeamMember("ops".into())));
        assert!(!ta.covers(&Role::Viewer));
        assert!(Role::Operator.covers(&ta) && !Role::Operator.covers(&Role::Admin));
        assert!(!Role::Viewer.may(Perm::KeysWrite) && ta.may(Perm::KeysWrite));
        assert!(!Role::Operator.may(Perm::Admin) && Role::Operator.may(Perm::Operate));
        assert!(!ta.may(Perm::Read));
    }
}
