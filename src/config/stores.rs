//! Where the gateway keeps things: `[store]` (virtual keys, people, the registry — in
//! PostgreSQL shared by replicas or a SQLite file, with the registry's master keys),
//! `[usage]` (usage records and their retention) and `[responses]` (stored Responses
//! API answers): their types and their checks.

use super::fields::Ctx;
use super::raw::RawConfig;
use super::*;

/// `[responses]`: stored Responses API answers, kept `retention_days`.
#[derive(Debug, Clone, PartialEq)]
pub struct ResponsesConfig {
    pub db: StoreDb,
    pub retention_days: u32,
    /// Most bytes of stored responses (answers and their inputs) one key keeps: past
    /// it its oldest are removed as a new one is saved (a chain stores its whole
    /// conversation at every turn).
    pub max_bytes_per_key: u64,
}

/// Where a store keeps its tables: a SQLite file of this gateway, or the PostgreSQL
/// database of `[store]` that replicas share.
#[derive(Debug, Clone, PartialEq)]
pub enum StoreDb {
    Sqlite(std::path::PathBuf),
    Postgres(Secret),
}

impl StoreDb {
    /// Where, in words (the URL, which carries a password, never shown).
    pub fn describe(&self) -> String {
        match self {
            StoreDb::Sqlite(p) => p.display().to_string(),
            StoreDb::Postgres(_) => "PostgreSQL ([store])".into(),
        }
    }
}

/// `[usage]`: one row per routed request in `[store]`'s PostgreSQL when it names one,
/// else a SQLite file; kept `retention_days`.
#[derive(Debug, Clone, PartialEq)]
pub struct UsageConfig {
    pub db: StoreDb,
    pub retention_days: u32,
    /// How long captured bodies are kept (at most as long as the records).
    pub capture_retention_days: u32,
}

/// `[store] postgres_url` or `postgres_url_env`: the shared PostgreSQL database, if named.
pub(super) fn postgres(cx: &Ctx<'_>, raw: &RawConfig) -> Result<Option<Secret>, ConfigError> {
    let Some(store) = raw.store.as_ref() else {
        return Ok(None);
    };
    let (url, at, key) = match (&store.postgres_url, &store.postgres_url_env) {
        (None, None) => return Ok(None),
        (Some(_), Some(e)) => {
            return cx.err(
                e.span(),
                "store.postgres_url_env",
                "set postgres_url or postgres_url_env, not both",
            );
        }
        (Some(u), None) => (u.get_ref().clone(), u.span(), "store.postgres_url"),
        (None, Some(var)) => match (cx.env)(var.get_ref()) {
            Some(url) => (url, var.span(), "store.postgres_url_env"),
            None => {
                return cx.err(
                    var.span(),
                    "store.postgres_url_env",
                    format!("environment variable {} is not set", var.get_ref()),
                );
            }
        },
    };
    if url.parse::<tokio_postgres::Config>().is_err() {
        let what = match &store.postgres_url_env {
            Some(var) => format!("{} does not hold", var.get_ref()),
            None => "this is not".into(),
        };
        return cx.err(
            at,
            key,
            format!("{what} a PostgreSQL URL (postgres://user:password@host:port/db)"),
        );
    }
    crate::secrets::register(&url);
    Ok(Some(Secret::new(url)))
}

/// Where a table of `section` lives: `[store]`'s PostgreSQL when it names one, else the
/// section's SQLite file (then required).
fn db_of(
    cx: &Ctx<'_>,
    raw: &RawConfig,
    base: &std::path::Path,
    section: &'static str,
    sqlite_path: Option<&toml::Spanned<String>>,
) -> Result<StoreDb, ConfigError> {
    match (postgres(cx, raw)?, sqlite_path) {
        (Some(url), _) => Ok(StoreDb::Postgres(url)),
        (None, Some(p)) if p.get_ref().trim().is_empty() => cx.err(
            p.span(),
            format!("{section}.sqlite_path"),
            "must not be empty",
        ),
        (None, Some(p)) => Ok(StoreDb::Sqlite(base.join(p.get_ref()))),
        (None, None) => {
            let at = cx.text.find(&format!("[{section}]")).unwrap_or(0);
            cx.err(
                at..at,
                format!("{section}.sqlite_path"),
                "is required unless [store] names a PostgreSQL database",
            )
        }
    }
}

/// `[usage]`: usage records, kept `retention_days` (30).
pub(super) fn usage(
    cx: &Ctx<'_>,
    raw: &RawConfig,
    base: &std::path::Path,
) -> Result<Option<UsageConfig>, ConfigError> {
    let Some(u) = &raw.usage else {
        return Ok(None);
    };
    Ok(Some(UsageConfig {
        db: db_of(cx, raw, base, "usage", u.sqlite_path.as_ref())?,
        retention_days: u.retention_days.unwrap_or(30).clamp(1, 3650),
        capture_retention_days: u.capture_retention_days.unwrap_or(7).clamp(1, 3650),
    }))
}

/// `[responses]`: in `[store]`'s PostgreSQL when it names one, else the SQLite file.
pub(super) fn responses(
    cx: &Ctx<'_>,
    raw: &RawConfig,
    base: &std::path::Path,
) -> Result<Option<ResponsesConfig>, ConfigError> {
    let Some(r) = &raw.responses else {
        return Ok(None);
    };
    let db = db_of(cx, raw, base, "responses", r.sqlite_path.as_ref())?;
    Ok(Some(ResponsesConfig {
        db,
        retention_days: r.retention_days.unwrap_or(30).clamp(1, 3650),
        max_bytes_per_key: r.max_mib_per_key.unwrap_or(256).clamp(1, 1 << 20) << 20,
    }))
}

/// `[store]`: PostgreSQL when it names one, else its SQLite file, else none.
pub(super) fn store(
    cx: &Ctx<'_>,
    raw: &RawConfig,
    base: &std::path::Path,
) -> Result<Option<StoreDb>, ConfigError> {
    if let Some(url) = postgres(cx, raw)? {
        return Ok(Some(StoreDb::Postgres(url)));
    }
    match raw.store.as_ref().and_then(|s| s.sqlite_path.as_ref()) {
        Some(p) if p.get_ref().trim().is_empty() => {
            cx.err(p.span(), "store.sqlite_path", "must not be empty")
        }
        Some(p) => Ok(Some(StoreDb::Sqlite(base.join(p.get_ref())))),
        None => Ok(None),
    }
}

/// `[store]`'s master keys (from a variable or a file) and version bound.
pub(super) fn registry(
    cx: &Ctx<'_>,
    raw: &RawConfig,
    base: &std::path::Path,
) -> Result<RegistryConfig, ConfigError> {
    let mut r = RegistryConfig::default();
    let Some(s) = raw.store.as_ref() else {
        return Ok(r);
    };
    if let Some(k) = s.keep_versions {
        r.keep_versions = k.clamp(1, 1000);
    }
    r.env = s.registry_env.clone();
    let var = |v: &toml::Spanned<String>| (cx.env)(v.get_ref()).filter(|x| !x.trim().is_empty());
    if let Some(v) = &s.master_key_env {
        r.master_key_source = Some(format!("environment variable {}", v.get_ref()));
        r.master_key = var(v).map(Secret::new);
    }
    if let Some(f) = &s.master_key_file {
        let path = base.join(f.get_ref());
        r.master_key_source = Some(format!("file {}", path.display()));
        match std::fs::read_to_string(&path) {
            Ok(text) => r.master_key = Some(Secret::new(text.trim().to_string())),
            Err(e) => {
                return cx.err(
                    f.span(),
                    "store.master_key_file",
                    format!("cannot read {}: {e}", path.display()),
                );
            }
        }
    }
    if let Some(v) = &s.previous_master_key_env {
        r.previous_master_key = var(v).map(Secret::new);
    }
    for (k, field) in [
        (&r.master_key, "store.master_key_env"),
        (&r.previous_master_key, "store.previous_master_key_env"),
    ] {
        if let Some(k) = k {
            crate::secrets::register(k.expose());
            if crate::seal::decode_key(k.expose()).is_none() {
                return cx.err(
                    0..0,
                    field,
                    "a master key is 32 bytes, as 64 hex digits or base64",
                );
            }
        }
    }
    Ok(r)
}
