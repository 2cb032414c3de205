//! What every admin endpoint needs: one table of (method, path pattern, permission).
//! The admin listener answers a request only once its method and path match an entry
//! here and the asker's role has the permission (`people::Role::may`); a request that
//! matches no entry is 404 (405 when the path is known with other methods) before any
//! handler runs, so an endpoint cannot exist without an entry. In a pattern `*` is one
//! path segment and `**` one or more (registry names may hold `/`). The first entry
//! that matches decides.

use http::Method;

use crate::access::people::Perm;

pub struct Entry {
    pub method: Method,
    pub path: &'static str,
    pub perm: Perm,
}

macro_rules! table {
    ($($m:ident $p:literal => $perm:ident,)*) => {
        &[$(Entry { method: Method::$m, path: $p, perm: Perm::$perm },)*]
    };
}

/// Every admin endpoint.
pub const TABLE: &[Entry] = table! {
    GET "/admin/session" => Own,
    GET "/admin/plugins" => Read,
    POST "/admin/reload" => Operate,
    GET "/admin/cache" => Read,
    POST "/admin/cache/clear" => Operate,
    GET "/admin/counters" => Read,
    POST "/admin/counters/reset" => Operate,
    GET "/admin/usage" => Usage,
    GET "/admin/stats" => Read,
    GET "/admin/requests" => Usage,
    GET "/admin/requests/*" => Usage,
    POST "/admin/requests/*/replay" => Operate,
    GET "/admin/trends" => Read,
    GET "/admin/errors" => Read,
    GET "/admin/reports" => Read,
    GET "/admin/reports/*" => Read,
    POST "/admin/reports/*/send" => Operate,
    GET "/admin/alerts" => Read,
    GET "/admin/audit" => Read,
    GET "/admin/config" => Read,
    GET "/admin/config/export" => Read,
    GET "/admin/health" => Read,
    GET "/admin/routes" => Read,
    POST "/admin/routes/*/test" => Operate,
    GET "/admin/overrides" => Read,
    POST "/admin/overrides" => Operate,
    POST "/admin/overrides/revert" => Operate,
    GET "/admin/compare" => Read,
    POST "/admin/compare" => Operate,
    GET "/admin/compare/*" => Read,
    GET "/admin/keys" => Keys,
    POST "/admin/keys" => KeysWrite,
    GET "/admin/keys/*" => Keys,
    PATCH "/admin/keys/*" => KeysWrite,
    DELETE "/admin/keys/*" => KeysWrite,
    POST "/admin/keys/*/rotate" => KeysWrite,
    GET "/admin/keys/*/limits" => Keys,
    GET "/admin/providers" => Read,
    POST "/admin/providers" => Operate,
    POST "/admin/providers/**/verify" => Operate,
    POST "/admin/providers/**/rollback" => Operate,
    POST "/admin/providers/**/adopt" => Operate,
    GET "/admin/providers/**" => Read,
    PATCH "/admin/providers/**" => Operate,
    DELETE "/admin/providers/**" => Operate,
    GET "/admin/models" => Read,
    POST "/admin/models" => Operate,
    POST "/admin/models/**/rollback" => Operate,
    POST "/admin/models/**/adopt" => Operate,
    GET "/admin/models/**" => Read,
    PATCH "/admin/models/**" => Operate,
    DELETE "/admin/models/**" => Operate,
    GET "/admin/prompts" => Read,
    POST "/admin/prompts" => Operate,
    POST "/admin/prompts/**/rollback" => Operate,
    POST "/admin/prompts/**/adopt" => Operate,
    GET "/admin/prompts/**" => Read,
    PATCH "/admin/prompts/**" => Operate,
    DELETE "/admin/prompts/**" => Operate,
    POST "/admin/credentials/rotate" => Admin,
    GET "/admin/people" => Admin,
    POST "/admin/people" => Admin,
    GET "/admin/people/*" => Admin,
    PATCH "/admin/people/*" => Admin,
    DELETE "/admin/people/*" => Admin,
    GET "/admin/sessions" => Own,
    DELETE "/admin/sessions/*" => Own,
    GET "/admin/tokens" => Own,
    POST "/admin/tokens" => Own,
    DELETE "/admin/tokens/*" => Own,
};

/// Whether `path` fits `pattern`.
pub fn fits(pattern: &str, path: &str) -> bool {
    let want: Vec<&str> = pattern.split('/').collect();
    let have: Vec<&str> = path.split('/').collect();
    fits_parts(&want, &have)
}

fn fits_parts(want: &[&str], have: &[&str]) -> bool {
    match (want.split_first(), have.split_first()) {
        (None, None) => true,
        (Some((&"**", rest)), Some((h, _))) if !h.is_empty() => {
            // One or more segments: try each split, shortest first.
            (1..=have.len())
                .any(|n| have[..n].iter().all(|s| !s.is_empty()) && fits_parts(rest, &have[n..]))
        }
        (Some((&"*", rest)), Some((h, more))) => !h.is_empty() && fits_parts(rest, more),
        (Some((w, rest)), Some((h, more))) => w == h && fits_parts(rest, more),
        _ => false,
    }
}

/// What the table says of this request: the entry's permission, or `Err(true)` when
/// the path is known with other methods, `Err(false)` when it is unknown.
pub fn needed(method: &Method, path: &str) -> Result<Perm, bool> {
    let method = if method == Method::HEAD {
        &Method::GET
    } else {
        method
    };
    let mut known = false;
    for e in TABLE.iter().filter(|e| fits(e.path, path)) {
        if e.method == method {
            return Ok(e.perm);
        }
        known = true;
    }
    Err(known)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn patterns_match_segments() {
        assert!(fits("/admin/keys/*", "/admin/keys/abc"));
        assert!(!fits("/admin/keys/*", "/admin/keys/abc/rotate"));
        assert!(!fits("/admin/keys/*", "/admin/keys/"));
        assert!(fits("/admin/models/**", "/admin/models/a/b/versions/3"));
        assert!(fits(
            "/admin/models/**/rollback",
            "/admin/models/team/x/rollback"
        ));
        assert!(!fits("/admin/models/**/rollback", "/admin/models/rollback"));
        assert_eq!(
            needed(&Method::GET, "/admin/models/x/rollback"),
            Ok(Perm::Read)
        );
        assert_eq!(
            needed(&Method::POST, "/admin/models/x/rollback"),
            Ok(Perm::Operate)
        );
        assert_eq!(needed(&Method::PUT, "/admin/keys"), Err(true));
        assert_eq!(needed(&Method::GET, "/admin/nothing"), Err(false));
        assert_eq!(needed(&Method::HEAD, "/admin/config"), Ok(Perm::Read));
    }
}
