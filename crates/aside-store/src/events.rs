//! One session's event log: its own SQLite database, written only by that session's host.

use crate::{mkdir_private, open_db, retry_busy, Layout, Result, StoreError};
use aside_core::{Event, SessionId};
use rusqlite::{params, Connection};
use std::path::{Path, PathBuf};

/// A session's event log.
pub struct EventLog {
    conn: Connection,
    path: PathBuf,
}

impl EventLog {
    /// Opens (and creates) the log of `id`.
    pub fn open(layout: &Layout, id: &SessionId) -> Result<EventLog> {
        mkdir_private(&layout.session_dir(id))?;
        let path = layout.events(id);
        retry_busy(|| EventLog::open_at(&path))
    }

    fn open_at(path: &Path) -> Result<EventLog> {
        let path = path.to_path_buf();
        let conn = open_db(&path)?;
        conn.execute_batch(
            "CREATE TABLE IF NOT EXISTS events (
                seq INTEGER PRIMARY KEY,
                ts TEXT NOT NULL,
                kind TEXT NOT NULL,
                data TEXT NOT NULL
             );",
        )
        .map_err(|source| StoreError::Sqlite {
            path: path.clone(),
            source,
        })?;
        Ok(EventLog { conn, path })
    }

    fn err(&self) -> impl Fn(rusqlite::Error) -> StoreError + '_ {
        move |source| StoreError::Sqlite {
            path: self.path.clone(),
            source,
        }
    }

    /// Appends an event and returns it with its seq.
    pub fn append(&self, kind: &str, data: &serde_json::Value) -> Result<Event> {
        let ts = aside_core::now();
        self.conn
            .execute(
                "INSERT INTO events (ts, kind, data) VALUES (?1, ?2, ?3)",
                params![ts, kind, data.to_string()],
            )
            .map_err(self.err())?;
        Ok(Event {
            seq: self.conn.last_insert_rowid() as u64,
            ts,
            kind: kind.to_string(),
            data: data.clone(),
        })
    }

    /// Events after `seq`, in order.
    pub fn since(&self, seq: u64) -> Result<Vec<Event>> {
        self.query(
            "SELECT seq, ts, kind, data FROM events WHERE seq > ?1 ORDER BY seq",
            rusqlite::params![seq as i64],
        )
    }

    fn query(&self, sql: &str, params: impl rusqlite::Params) -> Result<Vec<Event>> {
        let mut stmt = self.conn.prepare(sql).map_err(self.err())?;
        let rows = stmt
            .query_map(params, |r| {
                let data: String = r.get(3)?;
                Ok(Event {
                    seq: r.get::<_, i64>(0)? as u64,
                    ts: r.get(1)?,
                    kind: r.get(2)?,
                    data: serde_json::from_str(&data).unwrap_or(serde_json::Value::Null),
                })
            })
            .map_err(self.err())?
            .collect::<std::result::Result<_, _>>()
            .map_err(self.err())?;
        Ok(rows)
    }

    /// The newest `n` events of kind `kind`, oldest first.
    pub fn last_of(&self, kind: &str, n: usize) -> Result<Vec<Event>> {
        let mut rows = self.query(
            "SELECT seq, ts, kind, data FROM events WHERE kind = ?1 ORDER BY seq DESC LIMIT ?2",
            rusqlite::params![kind, n as i64],
        )?;
        rows.reverse();
        Ok(rows)
    }

    /// The newest seq, 0 when empty.
    pub fn last_seq(&self) -> Result<u64> {
        self.conn
            .query_row("SELECT COALESCE(MAX(seq), 0) FROM events", [], |r| {
                r.get::<_, i64>(0)
            })
            .map(|n| n as u64)
            .map_err(self.err())
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn events_append_in_order() {
        let dir = tempfile::tempdir().unwrap();
        let layout = Layout::new(dir.path());
        let id = SessionId("abc".into());
        let log = EventLog::open(&layout, &id).unwrap();
        log.append("prompt", &serde_json::json!({"text": "hi"}))
            .unwrap();
        let e = log
            .append("status", &serde_json::json!({"status": "running"}))
            .unwrap();
        assert_eq!(e.seq, 2);
        assert_eq!(log.since(1).unwrap().len(), 1);
        assert_eq!(log.last_seq().unwrap(), 2);
    }
}
