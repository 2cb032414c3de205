//! People who run the gateway: accounts (local ones with an Argon2id password, and
//! those single sign-on makes), each with a role, and what they sign in with — console
//! sessions and personal API tokens, both "grants": a random secret kept only as its
//! SHA-256, a role, an expiry. All of it lives in `[store]` (an in-memory SQLite
//! database without one) and every replica reads it again when it changed, each
//! second, so a revoked grant or person holds everywhere within a second; a grant
//! made on another replica a moment ago is read through on first sight.

mod actor;
pub mod cli;
pub mod password;
mod sql;
pub mod sso;
mod store;

use std::collections::HashMap;
use std::sync::Arc;

use arc_swap::{ArcSwap, ArcSwapOption};
use parking_lot::Mutex;
use serde::Serialize;
use sha2::{Digest, Sha256};

pub use crate::roles::{Perm, Role, Scope};
pub use actor::{Actor, Via};
use sql::*;
use store::{Db, Ty, Val};

use crate::config::StoreDb;

/// Failed sign-ins in a row that lock an account, and for how long.
pub const LOCK_AFTER: i64 = 5;
pub const LOCK_SECS: u64 = 15 * 60;
/// How long a console session lasts.
pub const SESSION_SECS: u64 = 12 * 3600;
/// Most live sessions one person keeps (the oldest end first).
const MAX_SESSIONS: usize = 20;
/// Most live tokens one person keeps.
pub const MAX_TOKENS: usize = 50;

/// Where an account comes from.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Origin {
    Local,
    Sso,
}

#[derive(Clone, Debug, Serialize)]
pub struct Person {
    pub name: String,
    pub role: Role,
    pub origin: Origin,
    pub created_at: u64,
    pub disabled_at: Option<u64>,
    pub locked_until: Option<u64>,
    #[serde(skip)]
    password: Option<String>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum GrantKind {
    Session,
    Token,
}

/// A console session or a personal API token.
#[derive(Clone, Debug, Serialize)]
pub struct Grant {
    pub id: String,
    pub kind: GrantKind,
    /// Whose (empty: a console session opened with the admin token).
    pub person: String,
    /// The role it was made with (a session's is its person's at each use).
    pub role: Role,
    pub label: Option<String>,
    /// How it was signed in: `password`, `sso`, `admin-token`, `token`.
    pub origin: String,
    pub created_at: u64,
    pub expires_at: u64,
    pub revoked_at: Option<u64>,
    #[serde(skip)]
    hash: String,
    #[serde(skip)]
    pub csrf: String,
}

/// Who a grant signs in, and with which role.
#[derive(Clone, Debug)]
pub struct Holder {
    pub grant: Grant,
    pub role: Role,
}

/// Why a sign-in failed.
#[derive(Debug, PartialEq)]
pub enum Refusal {
    /// No such person, a wrong password, or a disabled or SSO account (not told apart).
    Wrong,
    /// This failure locked the account.
    LockedNow,
    /// Locked for this many more seconds.
    Locked(u64),
    Store(String),
}

#[derive(Default)]
struct Cache {
    fingerprint: String,
    people: HashMap<String, Person>,
    grants: HashMap<String, Grant>,
}

#[derive(Default)]
pub struct People {
    db: ArcSwapOption<Db>,
    /// The `[store]` the database follows.
    configured: Mutex<Option<Option<StoreDb>>>,
    cache: ArcSwap<Cache>,
    /// Secrets read through to the store in the current second (bounded: made-up
    /// cookies cannot drive the database).
    read_through: Mutex<(u64, u32)>,
    /// Passwords checked since start (`switchboard_password_checks_total`).
    pub checks: std::sync::atomic::AtomicU64,
}

/// Most unknown secrets read through to the store per second.
const READ_THROUGH_PER_SEC: u32 = 20;

pub fn now() -> u64 {
    crate::access::vkeys::now_secs()
}

fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as i64)
}

/// Whether `s` may name a person: an email address or a plain name, and never the
/// admin token's name.
pub fn plain_name(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 128
        && s != "admin-token"
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-' | b'@' | b'+'))
}

/// What a console session opened with the admin token keeps of it: enough to tell the
/// token in force from another, nothing to find it by.
pub fn token_mark(token_sha256: &[u8; 32]) -> String {
    hex::encode(&Sha256::digest(token_sha256)[..8])
}

pub fn digest(secret: &str) -> String {
    hex::encode(Sha256::digest(secret.as_bytes()))
}

fn random_hex(bytes: usize) -> String {
    (0..bytes)
        .map(|_| format!("{:02x}", rand::random::<u8>()))
        .collect()
}

impl People {
    /// Follows `[store]` (the in-memory database without one).
    pub fn configure(&self, db: Option<&StoreDb>) -> Result<(), String> {
        let mut configured = self.configured.lock();
        if configured.as_ref().is_some_and(|c| c.as_ref() == db) {
            return Ok(());
        }
        self.db.store(Some(Arc::new(Db::open(db)?)));
        self.cache.store(Arc::new(Cache::default()));
        *configured = Some(db.cloned());
        Ok(())
    }

    fn db(&self) -> Result<Arc<Db>, String> {
        self.db
            .load_full()
            .ok_or_else(|| "the people store is not open".to_string())
    }

    /// Reads the tables again when they changed; forgets grants long expired.
    pub async fn refresh(&self) -> Result<(), String> {
        let db = self.db()?;
        let rows = db.query(FINGERPRINT, vec![], &[Ty::T]).await?;
        let fingerprint = rows
            .first()
            .and_then(|r| r[0].text())
            .unwrap_or_default()
            .to_string();
        if fingerprint == self.cache.load().fingerprint {
            return Ok(());
        }
        let people = db.query(PEOPLE, vec![], PERSON_TYPES).await?;
        let since = now() as i64 - 86_400;
        let grants = db.query(GRANTS, vec![since.into()], GRANT_TYPES).await?;
        self.cache.store(Arc::new(Cache {
            fingerprint,
            people: people
                .iter()
                .filter_map(|r| person_of(r))
                .map(|p| (p.name.clone(), p))
                .collect(),
            grants: grants
                .iter()
                .filter_map(|r| grant_of(r))
                .map(|g| (g.hash.clone(), g))
                .collect(),
        }));
        if rand::random::<u8>() == 0 {
            let _ = db.execute(FORGET, vec![since.into()]).await;
        }
        Ok(())
    }

    pub fn person(&self, name: &str) -> Option<Person> {
        self.cache.load().people.get(name).cloned()
    }

    /// Whether any account exists (then the admin API is open to them).
    pub fn any(&self) -> bool {
        !self.cache.load().people.is_empty()
    }

    pub fn list(&self) -> Vec<Person> {
        let mut all: Vec<_> = self.cache.load().people.values().cloned().collect();
        all.sort_by(|a, b| a.name.cmp(&b.name));
        all
    }

    /// Grants of `person` (every grant: `None`), newest first.
    pub fn grants(&self, person: Option<&str>, kind: GrantKind) -> Vec<Grant> {
        let mut all: Vec<_> = self
            .cache
            .load()
            .grants
            .values()
            .filter(|g| g.kind == kind && person.is_none_or(|p| g.person == p))
            .cloned()
            .collect();
        all.sort_by(|a, b| b.created_at.cmp(&a.created_at).then(a.id.cmp(&b.id)));
        all
    }

    pub fn grant(&self, id: &str) -> Option<Grant> {
        self.cache
            .load()
            .grants
            .values()
            .find(|g| g.id == id)
            .cloned()
    }

    async fn write(&self, sql: &'static str, params: Vec<Val>) -> Result<u64, String> {
        let n = self.db()?.execute(sql, params).await?;
        self.refresh().await?;
        Ok(n)
    }

    /// A new local account (`password` hashed with Argon2id), or why not.
    pub async fn add(&self, name: &str, role: &Role, password: &str) -> Result<(), String> {
        if !plain_name(name) {
            return Err(format!(
                "'{name}' cannot name a person: 1 to 128 letters, digits, '.', '_', '-', '@' or '+' (and not admin-token)"
            ));
        }
        let hash = password::hash(password).await?;
        let at = now() as i64;
        self.write(
            ADD_PERSON,
            vec![
                name.into(),
                role.to_string().into(),
                "local".into(),
                hash.into(),
                at.into(),
                now_ms().into(),
            ],
        )
        .await
        .map(|_| ())
        .map_err(|e| {
            if self.person(name).is_some() {
                format!("there is already a person named '{name}'")
            } else {
                e
            }
        })
    }

    /// A person single sign-on vouches for (`subject`: the IdP's issuer and `sub`),
    /// with the role their claims give; `false` when the name is a local account's or
    /// another subject's.
    pub async fn signed_on(&self, name: &str, role: &Role, subject: &str) -> Result<bool, String> {
        let at = now() as i64;
        let params = vec![
            name.into(),
            role.to_string().into(),
            subject.into(),
            at.into(),
            now_ms().into(),
        ];
        Ok(self.write(SSO_PERSON, params).await? > 0)
    }

    pub async fn set_role(&self, name: &str, role: &Role) -> Result<(), String> {
        let params = vec![role.to_string().into(), now_ms().into(), name.into()];
        self.write(SET_ROLE, params).await.map(|_| ())
    }

    pub async fn set_password(&self, name: &str, password: &str) -> Result<(), String> {
        let hash = password::hash(password).await?;
        let params = vec![hash.into(), now_ms().into(), name.into()];
        self.write(SET_PASSWORD, params).await.map(|_| ())
    }

    /// Disables (`true`) a person — their sessions and tokens end at once — or
    /// enables them again (unlocked).
    pub async fn set_disabled(&self, name: &str, disabled: bool) -> Result<(), String> {
        if disabled {
            let at = now() as i64;
            self.db()?
                .execute(REVOKE_ALL, vec![at.into(), now_ms().into(), name.into()])
                .await?;
            let params = vec![at.into(), now_ms().into(), name.into()];
            self.write(DISABLE, params).await.map(|_| ())
        } else {
            let params = vec![now_ms().into(), name.into()];
            self.write(ENABLE, params).await.map(|_| ())
        }
    }

    /// The person this name and password sign in, or why not. The strike is counted
    /// in the store before the password is tried, so parallel guesses count too; a
    /// locked account is refused without its password being tried; an unknown name
    /// runs the same statements and costs the same hash as a known one.
    pub async fn sign_in(&self, name: &str, given: &str) -> Result<Person, Refusal> {
        let db = self.db().map_err(Refusal::Store)?;
        let at = now();
        let rows = db
            .query(STRIKE, vec![(at as i64).into(), name.into()], STRIKE_TYPES)
            .await
            .map_err(Refusal::Store)?;
        let person = rows.first().and_then(|r| person_of(r));
        if let Some(until) = person.as_ref().and_then(|p| p.locked_until)
            && until > at
        {
            return Err(Refusal::Locked(until - at));
        }
        // This attempt's place in the run of failures: past the lock's count, it is not
        // tried (parallel guesses meet the lock before it is even written).
        let strikes = rows.first().and_then(|r| r[7].int()).unwrap_or(0);
        let ok = strikes <= LOCK_AFTER && {
            self.checks
                .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            let hash = person.as_ref().and_then(|p| p.password.clone());
            password::verify(given, hash.as_deref()).await
        };
        if let Some(p) = person.filter(|p| ok && p.disabled_at.is_none()) {
            let _ = db.execute(SUCCEEDED, vec![name.into()]).await;
            return Ok(p);
        }
        let until = (at + LOCK_SECS) as i64;
        let params = vec![
            until.into(),
            now_ms().into(),
            name.into(),
            LOCK_AFTER.into(),
        ];
        let locked = db.execute(LOCK, params).await.map_err(Refusal::Store)?;
        if locked > 0 {
            let _ = self.refresh().await;
            return Err(Refusal::LockedNow);
        }
        if strikes > LOCK_AFTER {
            return Err(Refusal::Locked(LOCK_SECS));
        }
        Err(Refusal::Wrong)
    }

    /// A new grant; its secret (shown once) and what is kept of it.
    pub async fn open(
        &self,
        kind: GrantKind,
        person: &str,
        role: &Role,
        origin: &str,
        label: Option<String>,
        ttl_secs: u64,
    ) -> Result<(String, Grant), String> {
        let prefix = match kind {
            GrantKind::Session => "sbs_",
            GrantKind::Token => "sbp_",
        };
        let secret = format!("{prefix}{}", random_hex(32));
        let at = now();
        let g = Grant {
            id: random_hex(6),
            kind,
            person: person.to_string(),
            role: role.clone(),
            label,
            origin: origin.to_string(),
            created_at: at,
            expires_at: at + ttl_secs,
            revoked_at: None,
            hash: digest(&secret),
            csrf: random_hex(16),
        };
        let kind_text = if kind == GrantKind::Token {
            "token"
        } else {
            "session"
        };
        let params = vec![
            g.id.clone().into(),
            kind_text.into(),
            g.person.clone().into(),
            g.role.to_string().into(),
            g.hash.clone().into(),
            g.csrf.clone().into(),
            g.label.clone().into(),
            g.origin.clone().into(),
            (at as i64).into(),
            (g.expires_at as i64).into(),
            now_ms().into(),
        ];
        self.write(ADD_GRANT, params).await?;
        if kind == GrantKind::Session {
            self.trim_sessions(person).await;
        }
        Ok((secret, g))
    }

    /// Ends the oldest live sessions of `person` beyond `MAX_SESSIONS`.
    async fn trim_sessions(&self, person: &str) {
        let live: Vec<_> = self
            .grants(Some(person), GrantKind::Session)
            .into_iter()
            .filter(|g| g.revoked_at.is_none() && g.expires_at > now())
            .collect();
        for g in live.iter().skip(MAX_SESSIONS) {
            let _ = self.revoke(&g.id).await;
        }
    }

    /// Whether one more unknown secret may be read through this second.
    fn may_read_through(&self) -> bool {
        let mut r = self.read_through.lock();
        let second = now();
        if r.0 != second {
            *r = (second, 0);
        }
        r.1 += 1;
        r.1 <= READ_THROUGH_PER_SEC
    }

    /// Ends a grant; whether there was a live one.
    pub async fn revoke(&self, id: &str) -> Result<bool, String> {
        let params = vec![(now() as i64).into(), now_ms().into(), id.into()];
        Ok(self.write(REVOKE, params).await? > 0)
    }

    /// The grant this secret is, if it is live, and the role it acts with now. One
    /// not yet read here (made on another replica within the second) is read through.
    pub async fn check(&self, secret: &str, admin_token: Option<&[u8; 32]>) -> Option<Holder> {
        let hash = digest(secret);
        let cached = self.cache.load().grants.get(&hash).cloned();
        let grant = match cached {
            Some(g) => g,
            None => {
                let well_formed = secret.len() == 68
                    && (secret.starts_with("sbs_") || secret.starts_with("sbp_"))
                    && secret[4..].bytes().all(|b| b.is_ascii_hexdigit());
                if !well_formed || !self.may_read_through() {
                    return None;
                }
                let rows = self
                    .db()
                    .ok()?
                    .query(GRANT_BY_HASH, vec![hash.into()], GRANT_TYPES)
                    .await
                    .ok()?;
                grant_of(rows.first()?)?
            }
        };
        if grant.revoked_at.is_some() || grant.expires_at <= now() {
            return None;
        }
        if grant.person.is_empty() {
            // A console session opened with the admin token lasts while that token is
            // the one in force (turned off or changed: it ends).
            let same = admin_token.is_some_and(|t| grant.label.as_deref() == Some(&token_mark(t)));
            return same.then_some(Holder {
                role: Role::Admin,
                grant,
            });
        }
        let person = self.person(&grant.person)?;
        if person.disabled_at.is_some() {
            return None;
        }
        // A session acts with its person's role now; a token with its own, while its
        // person's still covers it.
        let role = match grant.kind {
            GrantKind::Session => person.role.clone(),
            GrantKind::Token if person.role.covers(&grant.role) => grant.role.clone(),
            GrantKind::Token => return None,
        };
        Some(Holder { grant, role })
    }
}
