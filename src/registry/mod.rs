//! The registry: providers, models and prompts made at run time, every version of
//! every one of them (the file's too, actor `config`), and provider credentials sealed
//! under the master key. It lives in `[store]` (SQLite, or PostgreSQL shared by
//! replicas — each reads it every second — or memory without a store) and is layered on
//! `config.toml` at every build of the live state (`layer`). Every change goes through
//! `Registry::commit`, which versions it; the `manage` module validates and audits (the
//! admin API and the console are two faces of it).

pub mod diff;
pub mod layer;
mod store;

use std::collections::BTreeMap;
use std::sync::Arc;

use arc_swap::ArcSwap;
use serde::Serialize;
use serde_json::Value;

use crate::config::{RegistryConfig, Secret, StoreDb};
use crate::seal::MasterKey;
pub use store::Commit;
use store::Db;

/// What kind of object.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Kind {
    Provider,
    Model,
    Prompt,
}

impl Kind {
    /// Its table in `config.toml` (and its admin path).
    pub fn table(self) -> &'static str {
        match self {
            Kind::Provider => "providers",
            Kind::Model => "models",
            Kind::Prompt => "prompts",
        }
    }
    pub fn as_str(self) -> &'static str {
        match self {
            Kind::Provider => "provider",
            Kind::Model => "model",
            Kind::Prompt => "prompt",
        }
    }
    pub fn parse(s: &str) -> Option<Kind> {
        Some(match s {
            "provider" | "providers" => Kind::Provider,
            "model" | "models" => Kind::Model,
            "prompt" | "prompts" => Kind::Prompt,
            _ => return None,
        })
    }
}

/// One version of an object: what it was (`None`: deleted), who made it and when, and
/// how it differs from the one before.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Version {
    pub kind: Kind,
    pub name: String,
    pub version: u32,
    pub at: u64,
    pub actor: String,
    /// `registry` (made through the admin API) or `file` (read from `config.toml`).
    pub origin: String,
    pub body: Option<Value>,
    pub diff: Vec<diff::Change>,
}

/// One change to write: an object's new body (`None`: deleted), by whom, from where
/// (`registry` or `file`), what becomes of the registry's own copy (`own`, as
/// `Commit::own`), and the version it was made against (`None`: the newest).
pub struct Write {
    pub kind: Kind,
    pub name: String,
    pub body: Option<Value>,
    pub actor: String,
    pub origin: &'static str,
    pub own: Option<bool>,
    pub expect: Option<u32>,
}

/// A provider's key given at run time, sealed.
#[derive(Debug, Clone, PartialEq)]
pub struct Credential {
    pub provider: String,
    pub sealed: Vec<u8>,
    pub key_id: String,
    pub last4: String,
    pub set_at: u64,
    pub verified_at: Option<u64>,
}

/// The registry as last read.
#[derive(Default, Clone)]
pub struct Snapshot {
    pub fingerprint: String,
    /// The objects the registry owns, with their newest version.
    pub owned: BTreeMap<(Kind, String), Version>,
    /// Every kept version of every object, oldest first per object.
    pub versions: BTreeMap<(Kind, String), Vec<Version>>,
    pub credentials: BTreeMap<String, Credential>,
    /// The credentials opened with the master key (for the providers' `api_key`).
    pub opened: BTreeMap<String, Secret>,
    /// Credentials that no master key in force opens.
    pub sealed_shut: Vec<String>,
}

impl Snapshot {
    pub fn is_empty(&self) -> bool {
        self.owned.is_empty() && self.credentials.is_empty() && self.versions.is_empty()
    }
    /// Version `n` of an object, while it is kept.
    pub fn version(&self, kind: Kind, name: &str, n: u32) -> Option<&Version> {
        self.versions
            .get(&(kind, name.to_string()))?
            .iter()
            .find(|v| v.version == n)
    }

    /// The newest version of an object, whoever owns it.
    pub fn latest(&self, kind: Kind, name: &str) -> Option<&Version> {
        self.versions.get(&(kind, name.to_string()))?.last()
    }
}

/// Errors of the registry layer.
#[derive(Debug, thiserror::Error)]
pub enum RegistryError {
    #[error("{0}")]
    Store(String),
    #[error("{0} was changed meanwhile (by another request or replica); read it again and retry")]
    Conflict(String),
    #[error("{0}")]
    NoMasterKey(String),
}

/// The registry of this gateway.
pub struct Registry {
    db: ArcSwap<Db>,
    /// Which database `db` is (`None`: memory).
    db_cfg: parking_lot::Mutex<Option<StoreDb>>,
    snap: ArcSwap<Snapshot>,
    keys: ArcSwap<(Option<MasterKey>, Option<MasterKey>, Option<String>)>,
    keep: std::sync::atomic::AtomicU32,
    /// Serializes this gateway's reads and writes (a refresh never stores a snapshot
    /// older than a commit made here).
    lock: tokio::sync::Mutex<()>,
    /// Held by a change from its validation to its commit, so two changes made here
    /// never validate against the same registry and both land.
    pub changing: tokio::sync::Mutex<()>,
}

impl Default for Registry {
    fn default() -> Self {
        Registry {
            db: ArcSwap::from_pointee(Db::sqlite(None).expect("an in-memory SQLite database")),
            db_cfg: Default::default(),
            snap: Default::default(),
            keys: ArcSwap::from_pointee((None, None, None)),
            keep: std::sync::atomic::AtomicU32::new(20),
            lock: Default::default(),
            changing: Default::default(),
        }
    }
}

pub fn now_secs() -> u64 {
    crate::access::vkeys::now_secs()
}

impl Registry {
    /// Follows `[store]`: opens a newly named database, takes the master keys.
    pub fn configure(&self, db: Option<&StoreDb>, cfg: &RegistryConfig) -> Result<(), String> {
        let key = |s: &Option<Secret>| s.as_ref().and_then(|k| MasterKey::from_text(k.expose()));
        let next_keys = (
            key(&cfg.master_key),
            key(&cfg.previous_master_key),
            cfg.master_key_source.clone(),
        );
        self.keep
            .store(cfg.keep_versions, std::sync::atomic::Ordering::Relaxed);
        // Credentials are opened anew with the keys now in force (a fixed or rotated
        // master key takes effect at this reload, not at the next change).
        let ids = |k: &(Option<MasterKey>, Option<MasterKey>, Option<String>)| {
            (
                k.0.as_ref().map(|k| k.id.clone()),
                k.1.as_ref().map(|k| k.id.clone()),
            )
        };
        if ids(&self.keys.load()) != ids(&next_keys) {
            let mut stale = (*self.snap.load_full()).clone();
            stale.fingerprint.clear();
            self.snap.store(Arc::new(stale));
        }
        self.keys.store(Arc::new(next_keys));
        let mut current = self.db_cfg.lock();
        if current.as_ref() == db {
            return Ok(());
        }
        let next = match db {
            None => Db::sqlite(None)?,
            Some(StoreDb::Sqlite(path)) => Db::sqlite(Some(path))?,
            Some(StoreDb::Postgres(url)) => Db::Postgres(crate::stores::pg::Pg::new(url.clone())),
        };
        if db.is_none() && current.is_some() {
            tracing::warn!(
                "the registry is kept in memory: objects made at run time are lost on restart (set [store])"
            );
        }
        self.db.store(Arc::new(next));
        *current = db.cloned();
        self.snap.store(Arc::default());
        Ok(())
    }

    /// Whether objects made here outlive the process.
    pub fn persistent(&self) -> bool {
        self.db_cfg.lock().is_some()
    }

    pub fn snapshot(&self) -> Arc<Snapshot> {
        self.snap.load_full()
    }

    /// How many versions of an object are kept.
    pub fn keep(&self) -> u32 {
        self.keep.load(std::sync::atomic::Ordering::Relaxed)
    }

    /// The master key new credentials are sealed with, or how to set one.
    pub fn master_key(&self) -> Result<MasterKey, RegistryError> {
        let keys = self.keys.load();
        keys.0.clone().ok_or_else(|| {
            RegistryError::NoMasterKey(match &keys.2 {
                Some(src) => format!("the master key ({src}) is not set: set it to 32 random bytes (`openssl rand -hex 32`) and reload"),
                None => "this gateway has no master key to seal credentials with: set [store] master_key_env (or master_key_file) to 32 random bytes (`openssl rand -hex 32`), or name the key's variable in api_key_env".into(),
            })
        })
    }

    /// Reads the store again when it changed; whether it did.
    pub async fn refresh(&self) -> Result<bool, RegistryError> {
        let _one = self.lock.lock().await;
        self.refresh_locked().await
    }

    async fn refresh_locked(&self) -> Result<bool, RegistryError> {
        let db = self.db.load_full();
        let fp = db.fingerprint().await.map_err(RegistryError::Store)?;
        if fp == self.snap.load().fingerprint {
            return Ok(false);
        }
        let t = db.load().await.map_err(RegistryError::Store)?;
        self.snap.store(Arc::new(self.snapshot_of(t)));
        Ok(true)
    }

    fn snapshot_of(&self, t: store::Tables) -> Snapshot {
        let mut s = Snapshot {
            fingerprint: t.fingerprint,
            ..Default::default()
        };
        for v in t.versions {
            s.versions
                .entry((v.kind, v.name.clone()))
                .or_default()
                .push(v);
        }
        for (kind, name) in t.objects {
            if let Some(v) = s.latest(kind, &name).filter(|v| v.body.is_some()) {
                s.owned.insert((kind, name), v.clone());
            }
        }
        let keys = self.keys.load();
        for c in t.credentials {
            let opened = [&keys.0, &keys.1]
                .into_iter()
                .flatten()
                .find_map(|k| k.open(&c.provider, &c.sealed))
                .and_then(|p| String::from_utf8(p).ok());
            match opened {
                Some(p) => {
                    crate::secrets::register(&p);
                    s.opened.insert(c.provider.clone(), Secret::new(p));
                }
                None => {
                    tracing::error!(provider = %c.provider, key_id = %c.key_id, "no master key in force opens this provider's key: set the key it was sealed under as [store] master_key_env or previous_master_key_env");
                    s.sealed_shut.push(c.provider.clone())
                }
            }
            s.credentials.insert(c.provider.clone(), c);
        }
        s
    }

    /// Writes one version (and the registry's copy, as `w.own` says), then reads the
    /// store again so this gateway sees it at once. A change made against another
    /// version than the newest (`w.expect`) is refused as a conflict.
    pub async fn commit(&self, w: Write) -> Result<Version, RegistryError> {
        let _one = self.lock.lock().await;
        let snap = self.snap.load_full();
        let prev = snap.latest(w.kind, &w.name);
        let newest = prev.map_or(0, |v| v.version);
        let expect = w.expect.unwrap_or(newest);
        let conflict = || RegistryError::Conflict(format!("{} '{}'", w.kind.as_str(), w.name));
        if expect != newest {
            return Err(conflict());
        }
        let version = Version {
            kind: w.kind,
            name: w.name.clone(),
            version: expect + 1,
            at: now_secs(),
            actor: w.actor.clone(),
            origin: w.origin.to_string(),
            diff: diff::diff(
                prev.and_then(|p| p.body.as_ref()).unwrap_or(&Value::Null),
                w.body.as_ref().unwrap_or(&Value::Null),
            ),
            body: w.body,
        };
        let c = Commit {
            version: version.clone(),
            expect,
            own: w.own,
            prune_to: (expect + 1).saturating_sub(self.keep()),
        };
        match self.db.load().commit(c).await {
            Ok(()) => {}
            Err(store::Refused::Conflict) => {
                // Read what the other change made, so a retry starts from it.
                let _ = self.refresh_locked().await;
                return Err(conflict());
            }
            Err(store::Refused::Store(e)) => return Err(RegistryError::Store(e)),
        }
        self.refresh_locked().await?;
        Ok(version)
    }

    /// Puts back a credential as it was (a change whose version could not be written),
    /// or writes a new one; then reads the store again.
    pub async fn restore_credential(
        &self,
        provider: &str,
        c: Option<Credential>,
    ) -> Result<(), RegistryError> {
        let _one = self.lock.lock().await;
        self.db
            .load()
            .credential(provider, c)
            .await
            .map_err(RegistryError::Store)?;
        self.refresh_locked().await.map(|_| ())
    }

    /// Seals and stores `key` as `provider`'s credential (`None` removes it).
    pub async fn set_credential(
        &self,
        provider: &str,
        key: Option<&str>,
    ) -> Result<(), RegistryError> {
        let c = match key {
            Some(k) => {
                let master = self.master_key()?;
                crate::secrets::register(k);
                Some(Credential {
                    provider: provider.to_string(),
                    sealed: master.seal(provider, k.as_bytes()),
                    key_id: master.id.clone(),
                    last4: last4(k),
                    set_at: now_secs(),
                    verified_at: None,
                })
            }
            None => None,
        };
        self.restore_credential(provider, c).await
    }

    /// Notes that `provider`'s credential answered a real call.
    pub async fn verified(&self, provider: &str) -> Result<(), RegistryError> {
        let _one = self.lock.lock().await;
        self.db
            .load()
            .touch(provider, None, Some(now_secs()))
            .await
            .map_err(RegistryError::Store)?;
        self.refresh_locked().await.map(|_| ())
    }

    /// Re-seals every credential under the current master key (those sealed under the
    /// previous one included); how many were re-sealed, and those no key opens.
    pub async fn rotate(&self) -> Result<(usize, Vec<String>), RegistryError> {
        let master = self.master_key()?;
        let _one = self.lock.lock().await;
        self.refresh_locked().await?;
        let snap = self.snap.load_full();
        let mut n = 0;
        for (provider, c) in &snap.credentials {
            let Some(plain) = snap.opened.get(provider) else {
                continue;
            };
            if c.key_id == master.id {
                continue;
            }
            let sealed = master.seal(provider, plain.expose().as_bytes());
            self.db
                .load()
                .touch(
                    provider,
                    Some((sealed, master.id.clone(), c.sealed.clone())),
                    None,
                )
                .await
                .map_err(RegistryError::Store)?;
            n += 1;
        }
        self.refresh_locked().await?;
        Ok((n, snap.sealed_shut.clone()))
    }
}

/// The last four characters of a key (all a page ever shows of it).
pub fn last4(key: &str) -> String {
    let chars: Vec<char> = key.chars().collect();
    // A short key would be given away whole.
    if chars.len() < 12 {
        return String::new();
    }
    chars[chars.len() - 4..].iter().collect()
}
