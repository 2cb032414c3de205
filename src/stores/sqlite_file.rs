//! Opening one of this gateway's SQLite files: its folder made when missing, the
//! write-ahead log on (readers never wait for the writer), then the caller's schema.

use std::path::Path;

use rusqlite::Connection;

/// The file at `path`, with `schema` (statements run once, `IF NOT EXISTS`) applied.
pub fn open(path: &Path, schema: &str) -> Result<Connection, String> {
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir).map_err(|e| format!("{}: {e}", dir.display()))?;
    }
    let conn = Connection::open(path).map_err(|e| format!("{}: {e}", path.display()))?;
    conn.execute_batch(&format!(
        "PRAGMA journal_mode = WAL; PRAGMA synchronous = NORMAL; {schema}"
    ))
    .map_err(|e| format!("{}: {e}", path.display()))?;
    Ok(conn)
}
