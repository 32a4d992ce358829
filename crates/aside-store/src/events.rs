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
             );
             CREATE INDEX IF NOT EXISTS events_kind ON events(kind);",
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
            piece: None,
        })
    }

    /// Events after `seq`, in order. Reads the whole rest of the log: readers of a long session
    /// use [`EventLog::window`], [`EventLog::tail`] or [`EventLog::each_since`].
    pub fn since(&self, seq: u64) -> Result<Vec<Event>> {
        self.query(
            "SELECT seq, ts, kind, data FROM events WHERE seq > ?1 ORDER BY seq",
            rusqlite::params![seq as i64],
        )
    }

    /// At most `limit` events after `seq`, in order (by the primary key: as fast at the end of a
    /// long log as at its start).
    pub fn window(&self, seq: u64, limit: usize) -> Result<Vec<Event>> {
        self.query(
            "SELECT seq, ts, kind, data FROM events WHERE seq > ?1 ORDER BY seq LIMIT ?2",
            rusqlite::params![seq as i64, limit.min(i64::MAX as usize) as i64],
        )
    }

    /// The newest `n` events, oldest first.
    pub fn tail(&self, n: usize) -> Result<Vec<Event>> {
        let mut rows = self.query(
            "SELECT seq, ts, kind, data FROM events ORDER BY seq DESC LIMIT ?1",
            rusqlite::params![n.min(i64::MAX as usize) as i64],
        )?;
        rows.reverse();
        Ok(rows)
    }

    /// Gives every event after `seq` to `each`, in order, one at a time (memory bounded by one
    /// event, whatever the log's length), until it answers false.
    pub fn each_since(&self, seq: u64, mut each: impl FnMut(Event) -> bool) -> Result<()> {
        let mut stmt = self
            .conn
            .prepare("SELECT seq, ts, kind, data FROM events WHERE seq > ?1 ORDER BY seq")
            .map_err(self.err())?;
        let mut rows = stmt.query([seq as i64]).map_err(self.err())?;
        while let Some(row) = rows.next().map_err(self.err())? {
            if !each(read_row(row)) {
                break;
            }
        }
        Ok(())
    }

    fn query(&self, sql: &str, params: impl rusqlite::Params) -> Result<Vec<Event>> {
        let mut stmt = self.conn.prepare(sql).map_err(self.err())?;
        let rows = stmt
            .query_map(params, |r| Ok(read_row(r)))
            .map_err(self.err())?
            .collect::<std::result::Result<_, _>>()
            .map_err(self.err())?;
        Ok(rows)
    }

    /// The newest `n` events of kind `kind`, oldest first (through the kind index).
    pub fn last_of(&self, kind: &str, n: usize) -> Result<Vec<Event>> {
        let mut rows = self.query(
            "SELECT seq, ts, kind, data FROM events WHERE kind = ?1 ORDER BY seq DESC LIMIT ?2",
            rusqlite::params![kind, n as i64],
        )?;
        rows.reverse();
        Ok(rows)
    }

    /// The events of these kinds, in order (through the kind index: the rest of the log is not
    /// read).
    pub fn of_kinds(&self, kinds: &[&str]) -> Result<Vec<Event>> {
        let marks = vec!["?"; kinds.len()].join(", ");
        self.query(
            &format!("SELECT seq, ts, kind, data FROM events WHERE kind IN ({marks}) ORDER BY seq"),
            rusqlite::params_from_iter(kinds.iter()),
        )
    }

    /// The announcement and updates of tool call `id` stored before `before`, in order
    /// (through the kind index, then the call's id in each row).
    pub fn tool_call_events(&self, id: &str, before: u64) -> Result<Vec<Event>> {
        self.query(
            "SELECT seq, ts, kind, data FROM events \
             WHERE kind IN ('tool_call', 'tool_call_update') AND seq < ?2 \
             AND json_extract(data, '$.toolCallId') = ?1 ORDER BY seq",
            rusqlite::params![id, before as i64],
        )
    }

    /// Where a reader of the end of the log starts to see about `n` events: at the turn (the
    /// `prompt` event) the newest `n` begin in, unless that turn alone is longer than `2 × n`;
    /// 0 for a log of at most `n` events. Reads the kind index, not the log. (The events to read
    /// are those after the seq it returns.)
    pub fn tail_start(&self, n: usize) -> Result<u64> {
        let end = self.last_seq()? + 1;
        self.start_before(end, n)
    }

    /// Like [`EventLog::tail_start`], for the events before seq `end`: where a window of about
    /// `n` of them ending there starts (the events to read are those after the returned seq and
    /// before `end`).
    pub fn start_before(&self, end: u64, n: usize) -> Result<u64> {
        let last = end.saturating_sub(1);
        let n = n as u64;
        if last <= n {
            return Ok(0);
        }
        let cut = last - n;
        let turn: Option<i64> = self
            .conn
            .query_row(
                "SELECT MAX(seq) FROM events WHERE kind = 'prompt' AND seq <= ?1",
                [cut as i64 + 1],
                |r| r.get(0),
            )
            .map_err(self.err())?;
        Ok(match turn {
            Some(turn) if last - (turn as u64 - 1) <= 2 * n => turn as u64 - 1,
            _ => cut,
        })
    }

    /// How many events of kind `kind` there are (counted in the kind index).
    pub fn count_of(&self, kind: &str) -> Result<u64> {
        self.conn
            .query_row("SELECT COUNT(*) FROM events WHERE kind = ?1", [kind], |r| {
                r.get::<_, i64>(0)
            })
            .map(|n| n as u64)
            .map_err(self.err())
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

/// The kind of the event a row that cannot be read becomes: readers skip kinds they do not
/// know, and `show` names it.
pub const CORRUPT: &str = "corrupt";

/// One row as an event. A row that cannot be read (a column of the wrong type, data that is not
/// JSON) is not an error for the whole read: it becomes a `corrupt` event that says what is
/// wrong, at its seq, so the rest of the session still reads.
fn read_row(r: &rusqlite::Row<'_>) -> Event {
    let seq = r.get::<_, i64>(0).unwrap_or(0) as u64;
    let ts = r.get::<_, String>(1).unwrap_or_default();
    let kind = r.get::<_, String>(2);
    let data = r.get::<_, String>(3);
    let (kind, data) = match (kind, data) {
        (Ok(kind), Ok(text)) => match serde_json::from_str(&text) {
            Ok(data) => (kind, data),
            Err(e) => (
                CORRUPT.to_string(),
                serde_json::json!({"error": format!("its data is not JSON ({e})"), "kind": kind}),
            ),
        },
        (kind, data) => {
            let error = kind
                .err()
                .or(data.err())
                .map(|e| e.to_string())
                .unwrap_or_default();
            (
                CORRUPT.to_string(),
                serde_json::json!({"error": format!("the row cannot be read ({error})")}),
            )
        }
    };
    Event {
        seq,
        ts,
        kind,
        data,
        piece: None,
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

    fn log_of(n: u64) -> (tempfile::TempDir, EventLog) {
        let dir = tempfile::tempdir().unwrap();
        let layout = Layout::new(dir.path());
        let log = EventLog::open(&layout, &SessionId("w".into())).unwrap();
        for i in 1..=n {
            log.append("n", &serde_json::json!(i)).unwrap();
        }
        (dir, log)
    }

    fn seqs(events: Vec<Event>) -> Vec<u64> {
        events.iter().map(|e| e.seq).collect()
    }

    #[test]
    fn windows_of_the_log() {
        let (_d, empty) = log_of(0);
        assert!(empty.window(0, 10).unwrap().is_empty());
        assert!(empty.tail(10).unwrap().is_empty());
        let (_d, log) = log_of(10);
        assert_eq!(seqs(log.window(0, 3).unwrap()), [1, 2, 3]);
        assert_eq!(seqs(log.window(4, 3).unwrap()), [5, 6, 7]);
        assert_eq!(seqs(log.window(8, 3).unwrap()), [9, 10]);
        assert_eq!(seqs(log.window(0, 100).unwrap()).len(), 10);
        assert!(log.window(10, 3).unwrap().is_empty());
        assert!(log.window(50, 3).unwrap().is_empty());
        assert_eq!(seqs(log.tail(3).unwrap()), [8, 9, 10]);
        assert_eq!(seqs(log.tail(100).unwrap()).len(), 10);
        let mut seen = vec![];
        log.each_since(7, |e| {
            seen.push(e.seq);
            true
        })
        .unwrap();
        assert_eq!(seen, [8, 9, 10]);
        let mut first = vec![];
        log.each_since(0, |e| {
            first.push(e.seq);
            first.len() < 2
        })
        .unwrap();
        assert_eq!(first, [1, 2]);
        assert_eq!(log.count_of("n").unwrap(), 10);
        // No turns: the window is cut at the count.
        assert_eq!(log.tail_start(3).unwrap(), 7);
        assert_eq!(log.tail_start(10).unwrap(), 0);
        assert_eq!(log.start_before(8, 3).unwrap(), 4);
        assert_eq!(log.start_before(3, 5).unwrap(), 0);
        assert_eq!(log.count_of("other").unwrap(), 0);
    }

    #[test]
    fn a_tail_starts_at_the_turn_it_begins_in() {
        let (_d, log) = log_of(0);
        // Turns of 4 events: prompt at 1, 5, 9, 13, 17.
        for i in 0..20 {
            let kind = if i % 4 == 0 { "prompt" } else { "n" };
            log.append(kind, &serde_json::json!(i)).unwrap();
        }
        // The newest 6 begin at 15, in the turn that starts at 13.
        assert_eq!(log.tail_start(6).unwrap(), 12);
        assert_eq!(seqs(log.window(12, 100).unwrap())[0], 13);
        // A turn longer than twice the window is cut instead.
        assert_eq!(log.tail_start(1).unwrap(), 19);
    }

    #[test]
    fn a_corrupt_row_is_reported_at_its_seq_and_the_rest_reads() {
        let (_d, log) = log_of(3);
        log.conn
            .execute("UPDATE events SET data = '{\"trunc' WHERE seq = 2", [])
            .unwrap();
        let events = log.since(0).unwrap();
        assert_eq!(seqs(events.clone()), [1, 2, 3]);
        assert_eq!(events[1].kind, CORRUPT);
        assert!(events[1].data["error"]
            .as_str()
            .unwrap()
            .starts_with("its data is not JSON"));
        assert_eq!(events[2].data, serde_json::json!(3));
    }
}
