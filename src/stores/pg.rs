//! The PostgreSQL connection of the shared store (`[store] postgres_url[_env]`): one
//! pipelining `tokio-postgres` client, made on first use (TLS by rustls with the
//! platform's roots, as the URL's `sslmode` asks), the schema brought up to date then
//! by the versioned migrations of `migrations/postgres` (refinery, under an advisory
//! lock so replicas that start together take turns), and made again after the
//! connection breaks. Nothing here waits long: a connection attempt is bounded, and a
//! failure is the caller's error to report.

use std::sync::Arc;
use std::time::Duration;

use tokio::sync::Mutex;
use tokio_postgres::Client;

use crate::config::Secret;

/// How long making a connection may take.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);

refinery::embed_migrations!("migrations/postgres");

/// The advisory lock replicas take while migrating.
const MIGRATION_LOCK: i64 = 7_301_200;

pub struct Pg {
    url: Secret,
    client: Mutex<Option<Arc<Client>>>,
}

fn tls() -> tokio_postgres_rustls::MakeRustlsConnect {
    let config = rustls_platform_verifier::BuilderVerifierExt::with_platform_verifier(
        rustls::ClientConfig::builder(),
    )
    .map(|b| b.with_no_client_auth())
    .unwrap_or_else(|_| {
        rustls::ClientConfig::builder()
            .with_root_certificates(rustls::RootCertStore::empty())
            .with_no_client_auth()
    });
    tokio_postgres_rustls::MakeRustlsConnect::new(config)
}

/// A PostgreSQL error as one line, the server's message first.
pub fn error(e: tokio_postgres::Error) -> String {
    match e.as_db_error() {
        Some(db) => format!("postgres: {}", db.message()),
        None => crate::secrets::scrub_owned(format!("postgres: {e}")),
    }
}

impl Pg {
    pub fn new(url: Secret) -> Pg {
        Pg {
            url,
            client: Mutex::new(None),
        }
    }

    /// The client, connecting (and creating the schema) when there is none or the
    /// last one's connection has closed.
    pub async fn client(&self) -> Result<Arc<Client>, String> {
        let mut slot = self.client.lock().await;
        if let Some(c) = slot.as_ref().filter(|c| !c.is_closed()) {
            return Ok(c.clone());
        }
        let connecting = tokio_postgres::connect(self.url.expose(), tls());
        let (client, connection) = tokio::time::timeout(CONNECT_TIMEOUT, connecting)
            .await
            .map_err(|_| "postgres: no connection within 5 s".to_string())?
            .map_err(error)?;
        tokio::spawn(async move {
            if let Err(e) = connection.await {
                tracing::warn!(error = %error(e), "the store's PostgreSQL connection closed");
            }
        });
        let mut client = client;
        migrate(&mut client).await?;
        let client = Arc::new(client);
        *slot = Some(client.clone());
        Ok(client)
    }
}

/// Applies the migrations this database has not had yet, one replica at a time.
async fn migrate(client: &mut Client) -> Result<(), String> {
    client
        .execute("SELECT pg_advisory_lock($1)", &[&MIGRATION_LOCK])
        .await
        .map_err(error)?;
    let ran = migrations::runner()
        .set_migration_table_name("switchboard_migrations")
        .run_async(client)
        .await;
    let unlocked = client
        .execute("SELECT pg_advisory_unlock($1)", &[&MIGRATION_LOCK])
        .await;
    let report =
        ran.map_err(|e| crate::secrets::scrub_owned(format!("postgres migrations: {e}")))?;
    for m in report.applied_migrations() {
        tracing::info!(migration = %m, "store migration applied");
    }
    unlocked.map(|_| ()).map_err(error)
}
