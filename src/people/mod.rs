//! People who run the gateway: accounts (local ones with an Argon2id password, and
//! those single sign-on makes), each with a role, and what they sign in with — console
//! sessions and personal API tokens, both "grants": a random secret kept only as its
//! SHA-256, a role, an expiry. All of it lives in `[store]` (an in-memory SQLite
//! database without one) and every replica reads it again when it changed, each
//! second, so a revoked grant or person holds everywhere within a second; a grant
//! made on another replica a moment ago is read through on first sight.

mod actor;
pub mod cli;
mod password;
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
}

/// Most unknown secrets read through to the store per second.
const READ_THROUGH_PER_SEC: u32 = 20;

pub fn now() -> u64 {
    crate::vkeys::now_secs()
}

fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as i64)
}

pub fn digest(secret: &str) -> String {
    hex::encode(Sha256::digest(secret.as_bytes()))
}

fn random_hex(bytes: usize) -> String {
    (0..bytes)
        .map(|_| format!("{:02x}", rand::random::<u8>()))
        .collect()
}

const FINGERPRINT: &str = "SELECT
  (SELECT COUNT(*) || ':' || COALESCE(SUM(updated), 0) FROM switchboard_people) || '/' ||
  (SELECT COUNT(*) || ':' || COALESCE(SUM(updated), 0) FROM switchboard_grants)";
const PEOPLE: &str = "SELECT name, role, origin, password, created_at, disabled_at, locked_until
  FROM switchboard_people";
const PERSON_TYPES: &[Ty] = &[Ty::T, Ty::T, Ty::T, Ty::T, Ty::I, Ty::I, Ty::I];
/// Grants still of use (revoked ones stay a day, to be listed).
const GRANTS: &str = "SELECT id, kind, person, role, hash, csrf, label, origin, created_at,
  expires_at, revoked_at FROM switchboard_grants WHERE expires_at > $1";
const GRANT_BY_HASH: &str = "SELECT id, kind, person, role, hash, csrf, label, origin,
  created_at, expires_at, revoked_at FROM switchboard_grants WHERE hash = $1";
const GRANT_TYPES: &[Ty] = &[
    Ty::T,
    Ty::T,
    Ty::T,
    Ty::T,
    Ty::T,
    Ty::T,
    Ty::T,
    Ty::T,
    Ty::I,
    Ty::I,
    Ty::I,
];
const ADD_PERSON: &str = "INSERT INTO switchboard_people
  (name, role, origin, password, created_at, updated) VALUES ($1, $2, $3, $4, $5, $6)";
const SSO_PERSON: &str = "INSERT INTO switchboard_people
  (name, role, origin, created_at, updated) VALUES ($1, $2, 'sso', $3, $4)
  ON CONFLICT (name) DO UPDATE SET role = excluded.role, updated = excluded.updated
  WHERE switchboard_people.origin = 'sso'";
const SET_ROLE: &str = "UPDATE switchboard_people SET role = $1, updated = $2 WHERE name = $3";
const SET_PASSWORD: &str = "UPDATE switchboard_people SET password = $1, failures = 0,
  locked_until = NULL, updated = $2 WHERE name = $3";
const DISABLE: &str =
    "UPDATE switchboard_people SET disabled_at = $1, updated = $2 WHERE name = $3";
const ENABLE: &str = "UPDATE switchboard_people SET disabled_at = NULL, failures = 0,
  locked_until = NULL, updated = $1 WHERE name = $2";
const FAILED: &str = "UPDATE switchboard_people SET failures = failures + 1,
  locked_until = CASE WHEN failures + 1 >= $1 THEN $2 ELSE locked_until END,
  updated = $3 WHERE name = $4";
const LOCK_STATE: &str = "SELECT failures, locked_until FROM switchboard_people WHERE name = $1";
const SUCCEEDED: &str = "UPDATE switchboard_people SET failures = 0, locked_until = NULL
  WHERE name = $1 AND (failures > 0 OR locked_until IS NOT NULL)";
const ADD_GRANT: &str = "INSERT INTO switchboard_grants
  (id, kind, person, role, hash, csrf, label, origin, created_at, expires_at, updated)
  VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)";
const REVOKE: &str = "UPDATE switchboard_grants SET revoked_at = $1, updated = $2
  WHERE id = $3 AND revoked_at IS NULL";
const REVOKE_ALL: &str = "UPDATE switchboard_grants SET revoked_at = $1, updated = $2
  WHERE person = $3 AND revoked_at IS NULL";
const FORGET: &str = "DELETE FROM switchboard_grants WHERE expires_at < $1";

fn person_of(row: &[Val]) -> Option<Person> {
    let secs = |v: &Val| v.int().map(|i| i.max(0) as u64);
    Some(Person {
        name: row[0].text()?.to_string(),
        role: Role::parse(row[1].text()?)?,
        origin: if row[2].text()? == "sso" {
            Origin::Sso
        } else {
            Origin::Local
        },
        password: row[3].text().map(str::to_string),
        created_at: secs(&row[4]).unwrap_or(0),
        disabled_at: secs(&row[5]),
        locked_until: secs(&row[6]),
    })
}

fn grant_of(row: &[Val]) -> Option<Grant> {
    let text = |i: usize| row[i].text().map(str::to_string);
    let secs = |i: usize| row[i].int().map(|v| v.max(0) as u64);
    Some(Grant {
        id: text(0)?,
        kind: if text(1)? == "token" {
            GrantKind::Token
        } else {
            GrantKind::Session
        },
        person: text(2)?,
        role: Role::parse(row[3].text()?)?,
        hash: text(4)?,
        csrf: text(5)?,
        label: text(6),
        origin: text(7)?,
        created_at: secs(8)?,
        expires_at: secs(9)?,
        revoked_at: secs(10),
    })
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

    /// A person single sign-on vouches for, with the role their claims give (a local
    /// account of that name is left alone: `false`).
    pub async fn signed_on(&self, name: &str, role: &Role) -> Result<bool, String> {
        let at = now() as i64;
        let params = vec![
            name.into(),
            role.to_string().into(),
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

    /// The person this name and password sign in, or why not. A locked account is
    /// refused without its password being tried.
    pub async fn sign_in(&self, name: &str, given: &str) -> Result<Person, Refusal> {
        self.refresh().await.map_err(Refusal::Store)?;
        let person = self.person(name);
        if let Some(until) = person.as_ref().and_then(|p| p.locked_until)
            && until > now()
        {
            return Err(Refusal::Locked(until - now()));
        }
        let hash = person.as_ref().and_then(|p| p.password.clone());
        // An unknown name costs the same as a wrong password.
        let ok = password::verify(given, hash.as_deref()).await;
        let usable = person.as_ref().filter(|p| p.disabled_at.is_none());
        match (ok, usable) {
            (true, Some(p)) => {
                let db = self.db().map_err(Refusal::Store)?;
                let _ = db.execute(SUCCEEDED, vec![name.into()]).await;
                Ok(p.clone())
            }
            _ if person.is_none() => Err(Refusal::Wrong),
            _ => self.failed(name).await,
        }
    }

    async fn failed(&self, name: &str) -> Result<Person, Refusal> {
        let db = self.db().map_err(Refusal::Store)?;
        let until = (now() + LOCK_SECS) as i64;
        let params = vec![
            LOCK_AFTER.into(),
            until.into(),
            now_ms().into(),
            name.into(),
        ];
        db.execute(FAILED, params).await.map_err(Refusal::Store)?;
        let rows = db
            .query(LOCK_STATE, vec![name.into()], &[Ty::I, Ty::I])
            .await
            .map_err(Refusal::Store)?;
        let _ = self.refresh().await;
        match rows.first().map(|r| r[0].int().unwrap_or(0)) {
            Some(n) if n == LOCK_AFTER => Err(Refusal::LockedNow),
            _ => Err(Refusal::Wrong),
        }
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
    pub async fn check(&self, secret: &str, admin_token_on: bool) -> Option<Holder> {
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
            // A console session opened with the admin token lasts while it is on.
            return admin_token_on.then_some(Holder {
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
