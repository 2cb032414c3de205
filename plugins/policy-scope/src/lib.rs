//! Who a first-party policy keeps its count for, from its `per` setting: `key`,
//! `user`, `team`, `route`, `gateway`, or several joined by `+` (`route+user`: each
//! user on each route apart). Shared by `builtin:request-limit`, `builtin:token-quota`
//! and `builtin:budget`; plain strings in and out, read off the SDK's policy request
//! by [`Who::of`].

use switchboard_sdk::types::PolicyRequest;

/// The request's facts a scope is made of.
pub struct Who<'a> {
    pub key: &'a str,
    pub user: Option<&'a str>,
    pub team: Option<&'a str>,
    pub route: &'a str,
}

impl<'a> Who<'a> {
    /// The facts of a policy's request: its key, user, team and route.
    pub fn of(req: &'a PolicyRequest) -> Self {
        Who {
            key: &req.key_name,
            user: req.user.as_deref(),
            team: req.team.as_deref(),
            route: &req.route,
        }
    }
}

/// The scope's name (`route m, user ann`); `user` and `team` fall back to the key when
/// a request has none.
pub fn scope(per: &str, w: &Who<'_>) -> String {
    let parts: Vec<String> = per
        .split('+')
        .map(|p| match p.trim() {
            "user" => match w.user {
                Some(u) => format!("user {u}"),
                None => format!("key {}", w.key),
            },
            "team" => match w.team {
                Some(t) => format!("team {t}"),
                None => format!("key {}", w.key),
            },
            "route" => format!("route {}", w.route),
            "gateway" => "the gateway".to_string(),
            _ => format!("key {}", w.key),
        })
        .collect();
    parts.join(", ")
}

/// Why `per` is not a scope, if it is not.
pub fn invalid(per: &str) -> Option<String> {
    let mut seen = Vec::new();
    for p in per.split('+').map(str::trim) {
        if !["key", "user", "team", "route", "gateway"].contains(&p) {
            return Some(format!(
                "per must be key, user, team, route or gateway, or several joined by + (route+user), not {per:?}"
            ));
        }
        if seen.contains(&p) {
            return Some(format!("per names {p} twice"));
        }
        seen.push(p);
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scopes_combine_and_fall_back_to_the_key() {
        let w = Who {
            key: "k",
            user: Some("ann"),
            team: None,
            route: "m",
        };
        assert_eq!(scope("route+user", &w), "route m, user ann");
        assert_eq!(scope("team", &w), "key k");
        assert_eq!(scope("gateway", &w), "the gateway");
        assert_eq!(
            invalid("route+route").as_deref(),
            Some("per names route twice")
        );
        assert!(invalid("org").is_some());
        assert!(invalid("team+user").is_none());
    }

    #[test]
    fn a_requests_facts_are_its_key_user_team_and_route() {
        let mut req = switchboard_sdk::testing::policy_request("k", "m");
        req.user = Some("ann".into());
        assert_eq!(
            scope("route+user+team", &Who::of(&req)),
            "route m, user ann, key k"
        );
    }
}
