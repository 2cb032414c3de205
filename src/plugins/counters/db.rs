//! Memory counters that survive a restart: with `[counters] sqlite_path`, the counters
//! changed since the last flush are written to a SQLite file every second (and at
//! shutdown), and loaded back at start, so a daily budget is not reset by a redeploy.
//! Only the current window of each counter is kept; ended windows are deleted. A
//! crash loses at most the last second of counts.

use std::path::{Path, PathBuf};

use parking_lot::Mutex;
use rusqlite::{Connection, params};

use super::{CounterError, window_start};

/// One counter row: (namespaced key, window seconds, window start, value).
pub type Row = (String, u64, u64, i64);

pub struct CounterDb {
    path: PathBuf,
    conn: Mutex<Connection>,
}

fn db_err(e: rusqlite::Error) -> CounterError {
    CounterError::Db(e.to_string())
}

impl CounterDb {
    pub fn open(path: &Path) -> Result<CounterDb, CounterError> {
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir)
                .map_err(|e| CounterError::Db(format!("{}: {e}", dir.display())))?;
        }
        let conn = Connection::open(path)
            .map_err(|e| CounterError::Db(format!("{}: {e}", path.display())))?;
        conn.execute_batch(
            "PRAGMA journal_mode = WAL;
             PRAGMA synchronous = NORMAL;
             CREATE TABLE IF NOT EXISTS counters (
                 name TEXT NOT NULL,
                 window INTEGER NOT NULL,
                 start INTEGER NOT NULL,
                 value INTEGER NOT NULL,
                 PRIMARY KEY (name, window)
             );",
        )
        .map_err(db_err)?;
        Ok(CounterDb {
            path: path.to_path_buf(),
            conn: Mutex::new(conn),
        })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The rows of windows still current at `now`.
    pub fn load(&self, now: u64) -> Result<Vec<Row>, CounterError> {
        let conn = self.conn.lock();
        let mut stmt = conn
            .prepare("SELECT name, window, start, value FROM counters")
            .map_err(db_err)?;
        let rows = stmt
            .query_map([], |r| {
                Ok((
                    r.get::<_, String>(0)?,
                    r.get::<_, i64>(1)? as u64,
                    r.get::<_, i64>(2)? as u64,
                    r.get::<_, i64>(3)?,
                ))
            })
            .map_err(db_err)?;
        let mut out = Vec::new();
        for row in rows {
            let row = row.map_err(db_err)?;
            if row.2 == window_start(now, row.1) {
                out.push(row);
            }
        }
        Ok(out)
    }

    /// Writes `rows` and drops ended windows, in one transaction.
    pub fn save(&self, rows: &[Row], now: u64) -> Result<(), CounterError> {
        let mut conn = self.conn.lock();
        let tx = conn.transaction().map_err(db_err)?;
        {
            let mut put = tx
                .prepare_cached(
                    "INSERT INTO counters (name, window, start, value) VALUES (?1, ?2, ?3, ?4)
                     ON CONFLICT (name, window) DO UPDATE SET start = ?3, value = ?4",
                )
                .map_err(db_err)?;
            for (name, window, start, value) in rows {
                put.execute(params![name, *window as i64, *start as i64, value])
                    .map_err(db_err)?;
            }
            tx.execute(
                "DELETE FROM counters WHERE window > 0 AND start + window <= ?1",
                params![now as i64],
            )
            .map_err(db_err)?;
        }
        tx.commit().map_err(db_err)
    }

    /// Deletes the rows of these counters (an admin reset).
    pub fn remove(&self, names: &[String]) -> Result<(), CounterError> {
        let mut conn = self.conn.lock();
        let tx = conn.transaction().map_err(db_err)?;
        for n in names {
            tx.execute("DELETE FROM counters WHERE name = ?1", params![n])
                .map_err(db_err)?;
        }
        tx.commit().map_err(db_err)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rows_of_current_windows_come_back_and_ended_ones_go() {
        let dir = std::env::temp_dir().join(format!("sb-counters-{}", std::process::id()));
        let path = dir.join("c.sqlite");
        let _ = std::fs::remove_file(&path);
        let now = 1_000_000u64;
        let db = CounterDb::open(&path).unwrap();
        db.save(
            &[
                ("p\u{1f}live".into(), 60, window_start(now, 60), 5),
                ("p\u{1f}old".into(), 60, window_start(now, 60) - 60, 9),
                ("p\u{1f}forever".into(), 0, 0, 3),
            ],
            now,
        )
        .unwrap();
        db.save(&[("p\u{1f}live".into(), 60, window_start(now, 60), 7)], now)
            .unwrap();
        drop(db);
        let db = CounterDb::open(&path).unwrap();
        let mut rows = db.load(now).unwrap();
        rows.sort();
        assert_eq!(
            rows,
            vec![
                ("p\u{1f}forever".to_string(), 0, 0, 3),
                ("p\u{1f}live".to_string(), 60, window_start(now, 60), 7),
            ]
        );
        // The next window: `live` has ended too.
        assert_eq!(db.load(now + 60).unwrap().len(), 1);
        db.remove(&["p\u{1f}forever".to_string()]).unwrap();
        assert!(
            db.load(now)
                .unwrap()
                .iter()
                .all(|r| r.0 != "p\u{1f}forever")
        );
        let _ = std::fs::remove_dir_all(&dir);
    }
}
