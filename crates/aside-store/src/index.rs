//! The index of sessions: one SQLite database shared by every process, with migrations.

use crate::{open_db, retry_busy, Layout, Result, StoreError};
use aside_core::{Approve, Mode, SessionId, SessionKind, SessionRecord, Status};
use rusqlite::{params, Connection, OptionalExtension};
use std::path::{Path, PathBuf};

/// The index of sessions.
pub struct Index {
    conn: Connection,
    path: PathBuf,
    layout: Layout,
}

/// What [`Index::rebuild`] did.
#[derive(Debug, Default)]
pub struct Rebuilt {
    /// Sessions put back into the index from their own record.
    pub restored: Vec<SessionId>,
    /// Session directories the index does not know that could not be put back, and why.
    pub unreadable: Vec<(PathBuf, String)>,
}

const COLUMNS: &str =
    "id, title, task, agent, agent_command, mode, approve, status, reason, repo, \
    worktree, branch, base, created_at, updated_at, archived, pending_permission, changed_files, \
    acp_session_id, integrated, lines_added, lines_removed, kind, settings, usage";

fn row_to_record(row: &rusqlite::Row<'_>) -> rusqlite::Result<SessionRecord> {
    let text = |i: usize| row.get::<_, String>(i);
    let command: String = text(4)?;
    Ok(SessionRecord {
        id: SessionId(text(0)?),
        title: text(1)?,
        task: text(2)?,
        agent: text(3)?,
        agent_command: serde_json::from_str(&command).unwrap_or_default(),
        mode: Mode::parse(&text(5)?).unwrap_or(Mode::Isolated),
        approve: Approve::parse(&text(6)?).unwrap_or(Approve::Ask),
        status: Status::parse(&text(7)?).unwrap_or(Status::Failed),
        reason: row.get(8)?,
        repo: PathBuf::from(text(9)?),
        worktree: PathBuf::from(text(10)?),
        branch: row.get(11)?,
        base: row.get(12)?,
        created_at: text(13)?,
        updated_at: text(14)?,
        archived: row.get(15)?,
        pending_permission: row.get(16)?,
        changed_files: row.get::<_, i64>(17)?.max(0) as u64,
        acp_session_id: row.get(18)?,
        integrated: row.get(19)?,
        lines_added: row.get::<_, i64>(20)?.max(0) as u64,
        lines_removed: row.get::<_, i64>(21)?.max(0) as u64,
        kind: SessionKind::parse(&text(22)?).unwrap_or_default(),
        settings: serde_json::from_str(&text(23)?).unwrap_or_default(),
        usage: serde_json::from_str(&text(24)?).unwrap_or_default(),
    })
}

/// The settings a session made before they were kept in its record left as loose files in its
/// directory (`ports`: `FIRST LAST`; `model`; `no-submodules`, present or not).
fn loose_settings(dir: &std::path::Path) -> aside_core::Settings {
    let read = |name: &str| std::fs::read_to_string(dir.join(name)).ok();
    let ports = read("ports").and_then(|text| {
        let mut parts = text.split_whitespace().map(|p| p.parse::<u16>().ok());
        Some((parts.next()??, parts.next()??))
    });
    aside_core::Settings {
        ports,
        model: read("model")
            .map(|m| m.trim().to_string())
            .filter(|m| !m.is_empty()),
        no_submodules: dir.join("no-submodules").exists(),
        sandbox: None,
        budget: None,
        from: None,
        start: None,
    }
}

/// A record's columns, in [`COLUMNS`] order.
fn record_params(r: &SessionRecord) -> impl rusqlite::Params {
    use rusqlite::types::Value;
    let text = |s: &str| Value::Text(s.to_string());
    let opt = |s: &Option<String>| s.as_deref().map_or(Value::Null, text);
    rusqlite::params_from_iter([
        text(r.id.as_str()),
        text(&r.title),
        text(&r.task),
        text(&r.agent),
        Value::Text(serde_json::to_string(&r.agent_command).unwrap_or_default()),
        text(r.mode.as_str()),
        text(r.approve.as_str()),
        text(r.status.as_str()),
        opt(&r.reason),
        Value::Text(r.repo.display().to_string()),
        Value::Text(r.worktree.display().to_string()),
        opt(&r.branch),
        opt(&r.base),
        text(&r.created_at),
        text(&r.updated_at),
        Value::Integer(i64::from(r.archived)),
        Value::Integer(i64::from(r.pending_permission)),
        Value::Integer(r.changed_files as i64),
        opt(&r.acp_session_id),
        opt(&r.integrated),
        Value::Integer(r.lines_added as i64),
        Value::Integer(r.lines_removed as i64),
        text(r.kind.as_str()),
        Value::Text(serde_json::to_string(&r.settings).unwrap_or_else(|_| "{}".into())),
        Value::Text(serde_json::to_string(&r.usage).unwrap_or_else(|_| "{}".into())),
    ])
}

impl Index {
    /// Opens (and creates or migrates) the index.
    pub fn open(layout: &Layout) -> Result<Index> {
        layout.create_dirs()?;
        let path = layout.index();
        retry_busy(|| {
            let index = Index {
                conn: open_db(&path)?,
                path: path.clone(),
                layout: layout.clone(),
            };
            index.migrate()?;
            Ok(index)
        })
    }

    fn err(&self) -> impl Fn(rusqlite::Error) -> StoreError + '_ {
        move |source| StoreError::Sqlite {
            path: self.path.clone(),
            source,
        }
    }

    /// Brings the schema up to date. The version is read inside the write transaction, so
    /// processes opening the index at the same moment migrate it once.
    fn migrate(&self) -> Result<()> {
        const STEPS: &[&str] = &[
            "CREATE TABLE IF NOT EXISTS sessions (
                id TEXT PRIMARY KEY,
                title TEXT NOT NULL,
                task TEXT NOT NULL,
                agent TEXT NOT NULL,
                agent_command TEXT NOT NULL,
                mode TEXT NOT NULL,
                approve TEXT NOT NULL,
                status TEXT NOT NULL,
                reason TEXT,
                repo TEXT NOT NULL,
                worktree TEXT NOT NULL,
                branch TEXT,
                base TEXT,
                created_at TEXT NOT NULL,
                updated_at TEXT NOT NULL,
                archived INTEGER NOT NULL DEFAULT 0,
                pending_permission INTEGER NOT NULL DEFAULT 0,
                changed_files INTEGER NOT NULL DEFAULT 0,
                acp_session_id TEXT,
                integrated TEXT
             );
             CREATE INDEX IF NOT EXISTS sessions_status ON sessions(status, created_at);",
            "ALTER TABLE sessions ADD COLUMN lines_added INTEGER NOT NULL DEFAULT 0;
             ALTER TABLE sessions ADD COLUMN lines_removed INTEGER NOT NULL DEFAULT 0;",
            "ALTER TABLE sessions ADD COLUMN kind TEXT NOT NULL DEFAULT 'task';",
            // Lists come newest first without a sort; the repositories without a scan.
            "CREATE INDEX IF NOT EXISTS sessions_updated ON sessions(updated_at DESC, id);
             CREATE INDEX IF NOT EXISTS sessions_repo ON sessions(repo);",
            // A session's settings, in its row (they were loose files in its directory:
            // `adopt_loose_settings` reads them in, once).
            "ALTER TABLE sessions ADD COLUMN settings TEXT NOT NULL DEFAULT '{}';",
            // What each session used, in brief (tokens, cost), for lists.
            "ALTER TABLE sessions ADD COLUMN usage TEXT NOT NULL DEFAULT '{}';",
        ];
        /// The step that added the settings column.
        const SETTINGS: usize = 4;
        let current: i64 = self
            .conn
            .pragma_query_value(None, "user_version", |r| r.get(0))
            .map_err(self.err())?;
        if current >= STEPS.len() as i64 {
            return Ok(());
        }
        self.conn
            .execute_batch("BEGIN IMMEDIATE")
            .map_err(self.err())?;
        let result = (|| {
            let version: i64 = self
                .conn
                .pragma_query_value(None, "user_version", |r| r.get(0))?;
            for (n, step) in STEPS.iter().enumerate().skip(version.max(0) as usize) {
                self.conn.execute_batch(step)?;
                if n == SETTINGS {
                    self.adopt_loose_settings()?;
                }
                self.conn
                    .pragma_update(None, "user_version", n as i64 + 1)?;
            }
            Ok(())
        })();
        match result {
            Ok(()) => self.conn.execute_batch("COMMIT").map_err(self.err()),
            Err(e) => {
                let _ = self.conn.execute_batch("ROLLBACK");
                Err(self.err()(e))
            }
        }
    }

    /// Reads the settings sessions made before they were kept in the row from the loose files
    /// in their directories (`ports`: `FIRST LAST`; `model`; `no-submodules`, present or not).
    /// The files stay where they are; nothing reads them again.
    fn adopt_loose_settings(&self) -> rusqlite::Result<()> {
        let ids: Vec<String> = self
            .conn
            .prepare("SELECT id FROM sessions")?
            .query_map([], |r| r.get(0))?
            .collect::<rusqlite::Result<_>>()?;
        for id in ids {
            let settings = loose_settings(&self.layout.session_dir(&SessionId(id.clone())));
            if settings != aside_core::Settings::default() {
                self.conn.execute(
                    "UPDATE sessions SET settings = ?1 WHERE id = ?2",
                    rusqlite::params![
                        serde_json::to_string(&settings).unwrap_or_else(|_| "{}".into()),
                        id
                    ],
                )?;
            }
        }
        Ok(())
    }

    /// Keeps `r`'s lasting fields beside its events (temporary file, then rename), for
    /// [`Index::rebuild`]; a failure only loses that copy, never the session.
    fn keep_record(&self, r: &SessionRecord) {
        let path = self.layout.record(&r.id);
        let Ok(text) = serde_json::to_vec_pretty(r) else {
            return;
        };
        let tmp = path.with_extension("json.tmp");
        let _ = crate::mkdir_private(&self.layout.session_dir(&r.id))
            .ok()
            .and_then(|()| std::fs::write(&tmp, text).ok())
            .and_then(|()| std::fs::rename(&tmp, &path).ok());
    }

    /// Whether the index holds no session at all.
    pub fn is_empty(&self) -> Result<bool> {
        self.conn
            .query_row("SELECT NOT EXISTS (SELECT 1 FROM sessions)", [], |r| {
                r.get(0)
            })
            .map_err(self.err())
    }

    /// Session directories under `$ASIDE_HOME/sessions` the index does not know.
    pub fn unknown_dirs(&self) -> Result<Vec<PathBuf>> {
        let Ok(entries) = std::fs::read_dir(self.layout.sessions_dir()) else {
            return Ok(Vec::new());
        };
        let mut unknown = Vec::new();
        for entry in entries.flatten() {
            let name = entry.file_name().to_string_lossy().into_owned();
            if !SessionId::is_valid(&name) || !entry.path().is_dir() {
                continue;
            }
            if self.get(&SessionId(name))?.is_none() {
                unknown.push(entry.path());
            }
        }
        unknown.sort();
        Ok(unknown)
    }

    /// Puts back every session whose directory the index does not know, from the record kept
    /// beside its events; its status is the last one its log holds (a session that was working
    /// reads as interrupted: no host holds it).
    pub fn rebuild(&self) -> Result<Rebuilt> {
        let mut done = Rebuilt::default();
        for dir in self.unknown_dirs()? {
            let id = SessionId(
                dir.file_name()
                    .map(|n| n.to_string_lossy().into_owned())
                    .unwrap_or_default(),
            );
            let text = match std::fs::read(self.layout.record(&id)) {
                Ok(text) => text,
                Err(e) => {
                    done.unreadable
                        .push((dir, format!("no record.json to rebuild it from ({e})")));
                    continue;
                }
            };
            let mut record: SessionRecord = match serde_json::from_slice(&text) {
                Ok(record) => record,
                Err(e) => {
                    done.unreadable
                        .push((dir, format!("its record.json does not read: {e}")));
                    continue;
                }
            };
            if record.id != id {
                done.unreadable
                    .push((dir, format!("its record.json names session {}", record.id)));
                continue;
            }
            let log = self
                .layout
                .events(&id)
                .exists()
                .then(|| crate::EventLog::open(&self.layout, &id).ok())
                .flatten();
            if let Some(log) = log {
                if let Some(last) = log.last_of("status", 1).ok().and_then(|mut v| v.pop()) {
                    if let Some(status) = last.data["status"].as_str().and_then(Status::parse) {
                        record.status = status;
                        record.reason = last.data["reason"].as_str().map(str::to_string);
                    }
                }
            }
            if record.settings == aside_core::Settings::default() {
                // A record kept before settings were part of it.
                record.settings = loose_settings(&dir);
            }
            self.conn
                .execute(
                    &format!("INSERT OR IGNORE INTO sessions ({COLUMNS}) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16, ?17, ?18, ?19, ?20, ?21, ?22, ?23, ?24, ?25)"),
                    record_params(&record),
                )
                .map_err(self.err())?;
            done.restored.push(id);
        }
        Ok(done)
    }

    /// Records a new session.
    pub fn insert(&self, r: &SessionRecord) -> Result<()> {
        self.conn
            .execute(
                &format!("INSERT INTO sessions ({COLUMNS}) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16, ?17, ?18, ?19, ?20, ?21, ?22, ?23, ?24, ?25)"),
                record_params(r),
            )
            .map_err(self.err())?;
        self.keep_record(r);
        Ok(())
    }

    /// One session by exact id.
    pub fn get(&self, id: &SessionId) -> Result<Option<SessionRecord>> {
        self.conn
            .query_row(
                &format!("SELECT {COLUMNS} FROM sessions WHERE id = ?1"),
                [id.as_str()],
                row_to_record,
            )
            .optional()
            .map_err(self.err())
    }

    /// Resolves a unique id prefix.
    pub fn resolve(&self, prefix: &str) -> Result<SessionRecord> {
        let not_found = || StoreError::NotFound {
            prefix: prefix.to_string(),
        };
        if !SessionId::is_valid(prefix) {
            return Err(not_found());
        }
        let mut stmt = self
            .conn
            .prepare(&format!(
                "SELECT {COLUMNS} FROM sessions WHERE id >= ?1 AND id < ?2 ORDER BY id LIMIT 11"
            ))
            .map_err(self.err())?;
        let upper = format!("{prefix}\u{7f}");
        let rows: Vec<SessionRecord> = stmt
            .query_map([prefix, upper.as_str()], row_to_record)
            .map_err(self.err())?
            .collect::<std::result::Result<_, _>>()
            .map_err(self.err())?;
        match rows.len() {
            0 => Err(not_found()),
            1 => Ok(rows.into_iter().next().ok_or_else(not_found)?),
            _ => {
                if let Some(exact) = rows.iter().find(|r| r.id.as_str() == prefix) {
                    return Ok(exact.clone());
                }
                Err(StoreError::Ambiguous {
                    prefix: prefix.to_string(),
                    matches: rows.into_iter().map(|r| r.id.0).collect(),
                })
            }
        }
    }

    /// Sessions, newest activity first; archived ones only with `all`.
    pub fn list(&self, all: bool) -> Result<Vec<SessionRecord>> {
        let sql = format!(
            "SELECT {COLUMNS} FROM sessions {} ORDER BY updated_at DESC, id",
            if all { "" } else { "WHERE archived = 0" }
        );
        let mut stmt = self.conn.prepare(&sql).map_err(self.err())?;
        let rows = stmt
            .query_map([], row_to_record)
            .map_err(self.err())?
            .collect::<std::result::Result<_, _>>()
            .map_err(self.err())?;
        Ok(rows)
    }

    /// A number that changes when another connection commits to the index: a reader that keeps
    /// this connection open learns whether anything changed without reading a row.
    pub fn data_version(&self) -> Result<i64> {
        self.conn
            .pragma_query_value(None, "data_version", |r| r.get(0))
            .map_err(self.err())
    }

    /// The agents' own ids of the sessions aside runs (archived ones too): those are not
    /// listed again as sessions started in the agents' own CLIs.
    pub fn agent_session_ids(&self) -> Result<std::collections::HashSet<String>> {
        let mut stmt = self
            .conn
            .prepare("SELECT acp_session_id FROM sessions WHERE acp_session_id IS NOT NULL")
            .map_err(self.err())?;
        let ids = stmt
            .query_map([], |r| r.get::<_, String>(0))
            .map_err(self.err())?
            .collect::<std::result::Result<_, _>>()
            .map_err(self.err())?;
        Ok(ids)
    }

    /// The repositories that have sessions (archived ones too).
    pub fn repos(&self) -> Result<Vec<PathBuf>> {
        let mut stmt = self
            .conn
            .prepare("SELECT repo FROM sessions GROUP BY repo ORDER BY MAX(updated_at) DESC")
            .map_err(self.err())?;
        let rows = stmt
            .query_map([], |r| r.get::<_, String>(0).map(PathBuf::from))
            .map_err(self.err())?
            .collect::<std::result::Result<_, _>>()
            .map_err(self.err())?;
        Ok(rows)
    }

    /// Sets the status (and its reason, cleared when None).
    pub fn set_status(&self, id: &SessionId, status: Status, reason: Option<&str>) -> Result<()> {
        self.conn
            .execute(
                "UPDATE sessions SET status = ?2, reason = ?3, updated_at = ?4,
                    pending_permission = CASE WHEN ?2 = 'needs_input' THEN pending_permission ELSE 0 END
                 WHERE id = ?1",
                params![id.as_str(), status.as_str(), reason, aside_core::now()],
            )
            .map_err(self.err())?;
        Ok(())
    }

    /// Updates one or more plain columns.
    pub fn update(&self, id: &SessionId, change: Change<'_>) -> Result<()> {
        let lasting = !matches!(
            change,
            Change::PendingPermission(_)
                | Change::Changes { .. }
                | Change::Touch
                | Change::Usage(_)
        );
        let (column, value): (&str, rusqlite::types::Value) = match change {
            Change::Worktree { path } => ("worktree", path.display().to_string().into()),
            Change::Branch { branch, base } => {
                self.conn
                    .execute(
                        "UPDATE sessions SET base = ?2 WHERE id = ?1",
                        params![id.as_str(), base],
                    )
                    .map_err(self.err())?;
                ("branch", branch.to_string().into())
            }
            Change::PendingPermission(p) => ("pending_permission", i64::from(p).into()),
            Change::Changes {
                files,
                added,
                removed,
            } => {
                self.conn
                    .execute(
                        "UPDATE sessions SET lines_added = ?2, lines_removed = ?3 WHERE id = ?1",
                        params![id.as_str(), added as i64, removed as i64],
                    )
                    .map_err(self.err())?;
                ("changed_files", (files as i64).into())
            }
            Change::AcpSession(s) => ("acp_session_id", s.to_string().into()),
            Change::AgentCommand(command) => (
                "agent_command",
                serde_json::to_string(command).unwrap_or_default().into(),
            ),
            Change::Base(base) => ("base", base.to_string().into()),
            Change::Settings(settings) => (
                "settings",
                serde_json::to_string(settings)
                    .unwrap_or_else(|_| "{}".into())
                    .into(),
            ),
            Change::Usage(summary) => (
                "usage",
                serde_json::to_string(&summary)
                    .unwrap_or_else(|_| "{}".into())
                    .into(),
            ),
            Change::Integrated(s) => ("integrated", s.to_string().into()),
            Change::Archived(a) => ("archived", i64::from(a).into()),
            Change::Touch => ("updated_at", aside_core::now().into()),
        };
        self.conn
            .execute(
                &format!("UPDATE sessions SET {column} = ?2, updated_at = ?3 WHERE id = ?1"),
                params![id.as_str(), value, aside_core::now()],
            )
            .map_err(self.err())?;
        // What a rebuild needs follows into the kept record (not the counts, which change often
        // and are measured again).
        if lasting {
            if let Some(record) = self.get(id)? {
                self.keep_record(&record);
            }
        }
        Ok(())
    }

    /// Deletes a session's record.
    pub fn delete(&self, id: &SessionId) -> Result<()> {
        self.conn
            .execute("DELETE FROM sessions WHERE id = ?1", [id.as_str()])
            .map_err(self.err())?;
        Ok(())
    }

    /// Whether `id` may start now: at most `limit` sessions are starting or running (with a live
    /// host, as `alive` says), and queued sessions start oldest first. A session waiting for the
    /// user's answer holds no slot: it uses no model time, and queued work should not wait on a
    /// person who is away.
    pub fn may_start(
        &self,
        id: &SessionId,
        limit: usize,
        alive: impl Fn(&SessionId) -> bool,
    ) -> Result<bool> {
        let queue = self.queue_state(id, alive)?;
        Ok(queue.busy + queue.ahead < limit)
    }

    /// Where `id` stands in the queue: sessions holding a slot, and queued ones before it.
    pub fn queue_state(
        &self,
        id: &SessionId,
        alive: impl Fn(&SessionId) -> bool,
    ) -> Result<QueueState> {
        let mut stmt = self
            .conn
            .prepare("SELECT id, status FROM sessions WHERE status IN ('queued', 'starting', 'running') ORDER BY created_at, id")
            .map_err(self.err())?;
        let rows: Vec<(String, String)> = stmt
            .query_map([], |r| Ok((r.get(0)?, r.get(1)?)))
            .map_err(self.err())?
            .collect::<std::result::Result<_, _>>()
            .map_err(self.err())?;
        let mine = rows.iter().position(|(i, _)| i == id.as_str());
        let mut state = QueueState::default();
        for (n, (other, status)) in rows.iter().enumerate() {
            let other = SessionId(other.clone());
            if &other == id || !alive(&other) {
                continue;
            }
            if status != "queued" {
                state.busy += 1;
            } else if mine.is_none_or(|m| n < m) {
                state.ahead += 1;
            }
        }
        Ok(state)
    }
}

/// A queued session's place: see [`Index::queue_state`].
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct QueueState {
    /// Sessions starting or running (each holds a slot).
    pub busy: usize,
    /// Queued sessions that start before this one.
    pub ahead: usize,
}

/// One column change for [`Index::update`].
pub enum Change<'a> {
    /// Where the agent works.
    Worktree {
        /// The path.
        path: &'a Path,
    },
    /// The branch and its base commit.
    Branch {
        /// Branch name.
        branch: &'a str,
        /// Base commit.
        base: &'a str,
    },
    /// Whether a permission request waits.
    PendingPermission(bool),
    /// Files and lines changed against the base.
    Changes {
        /// Files.
        files: u64,
        /// Lines added.
        added: u64,
        /// Lines removed.
        removed: u64,
    },
    /// The agent's session id.
    AcpSession(&'a str),
    /// The agent's command line (re-read from the config when a session is resumed).
    AgentCommand(&'a [String]),
    /// The commit changes are measured from (workspace sessions: a snapshot taken at start).
    Base(&'a str),
    /// What it used so far, in brief.
    Usage(aside_core::usage::Summary),
    /// How it was asked to run (`aside resume --budget` changes its budget).
    Settings(&'a aside_core::Settings),
    /// `applied` or `merged`.
    Integrated(&'a str),
    /// Hidden or shown.
    Archived(bool),
    /// Only bump updated_at.
    Touch,
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn record(id: &str) -> SessionRecord {
        SessionRecord {
            id: SessionId(id.into()),
            title: "t".into(),
            task: "t".into(),
            agent: "builtin".into(),
            agent_command: vec!["aside".into(), "agent".into()],
            mode: Mode::Isolated,
            approve: Approve::All,
            status: Status::Queued,
            reason: None,
            repo: "/r".into(),
            worktree: "/r.worktrees/x".into(),
            branch: None,
            base: None,
            created_at: aside_core::now(),
            updated_at: aside_core::now(),
            archived: false,
            pending_permission: false,
            changed_files: 0,
            lines_added: 0,
            lines_removed: 0,
            acp_session_id: None,
            integrated: None,
            kind: Default::default(),
            settings: Default::default(),
            usage: Default::default(),
        }
    }

    #[test]
    fn settings_a_store_kept_in_loose_files_are_read_into_its_rows_once() {
        let dir = tempfile::tempdir().unwrap();
        let layout = Layout::new(dir.path());
        let index = Index::open(&layout).unwrap();
        for id in ["old00001", "old00002"] {
            index.insert(&record(id)).unwrap();
        }
        drop(index);
        // The store as the release before this one left it: no settings column, the settings
        // beside each session's events.
        let conn = rusqlite::Connection::open(layout.index()).unwrap();
        conn.execute_batch("ALTER TABLE sessions DROP COLUMN settings; ALTER TABLE sessions DROP COLUMN usage; PRAGMA user_version = 4;")
            .unwrap();
        drop(conn);
        let first = layout.session_dir(&SessionId("old00001".into()));
        std::fs::write(first.join("ports"), "20040 20049\n").unwrap();
        std::fs::write(first.join("model"), "big-model\n").unwrap();
        std::fs::write(first.join("no-submodules"), "").unwrap();
        let index = Index::open(&layout).unwrap();
        let got = index.get(&SessionId("old00001".into())).unwrap().unwrap();
        assert_eq!(
            got.settings,
            aside_core::Settings {
                ports: Some((20040, 20049)),
                model: Some("big-model".into()),
                no_submodules: true,
                sandbox: None,
                budget: None,
                from: None,
                start: None,
            }
        );
        assert_eq!(
            got.settings.port_env(),
            [
                ("ASIDE_PORT".to_string(), "20040".to_string()),
                ("ASIDE_PORT_RANGE".to_string(), "20040-20049".to_string())
            ]
        );
        let other = index.get(&SessionId("old00002".into())).unwrap().unwrap();
        assert_eq!(other.settings, aside_core::Settings::default());
        // Read once: the files no longer count.
        std::fs::remove_file(first.join("model")).unwrap();
        let again = Index::open(&layout).unwrap();
        let got = again.get(&SessionId("old00001".into())).unwrap().unwrap();
        assert_eq!(got.settings.model.as_deref(), Some("big-model"));
    }

    #[test]
    fn prefixes_resolve_or_explain() {
        let dir = tempfile::tempdir().unwrap();
        let index = Index::open(&Layout::new(dir.path())).unwrap();
        for id in ["abc12345", "abd12345", "xyz00000"] {
            index.insert(&record(id)).unwrap();
        }
        assert_eq!(index.resolve("x").unwrap().id.as_str(), "xyz00000");
        assert_eq!(index.resolve("abc").unwrap().id.as_str(), "abc12345");
        let err = index.resolve("ab").unwrap_err().to_string();
        assert_eq!(
            err,
            "`ab` is ambiguous: it matches abc12345, abd12345; type more of the id"
        );
        let err = index.resolve("q").unwrap_err().to_string();
        assert_eq!(err, "no session matches `q`; `aside ls --all` lists them");
    }

    #[test]
    fn queue_starts_in_order_up_to_the_limit() {
        let dir = tempfile::tempdir().unwrap();
        let index = Index::open(&Layout::new(dir.path())).unwrap();
        let mut a = record("aaaa");
        a.status = Status::Running;
        index.insert(&a).unwrap();
        let mut b = record("bbbb");
        b.created_at = "2000-01-01T00:00:01.000Z".into();
        index.insert(&b).unwrap();
        let mut c = record("cccc");
        c.created_at = "2000-01-01T00:00:02.000Z".into();
        index.insert(&c).unwrap();
        let alive = |_: &SessionId| true;
        assert!(index
            .may_start(&SessionId("bbbb".into()), 2, alive)
            .unwrap());
        assert!(!index
            .may_start(&SessionId("cccc".into()), 2, alive)
            .unwrap());
        assert!(index
            .may_start(&SessionId("cccc".into()), 3, alive)
            .unwrap());
        // Waiting for the user's answer holds no slot.
        index
            .set_status(&SessionId("aaaa".into()), Status::NeedsInput, None)
            .unwrap();
        assert!(index
            .may_start(&SessionId("cccc".into()), 2, alive)
            .unwrap());
        assert_eq!(
            index.queue_state(&SessionId("cccc".into()), alive).unwrap(),
            QueueState { busy: 0, ahead: 1 }
        );
    }
}
