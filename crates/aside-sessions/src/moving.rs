//! Moving a session between machines (`aside move`): packed where it is (its host stopped, its
//! worktree pinned as a commit, its events, the built-in agent's own stored session) and
//! received where it goes (a session whose worktree starts from that work, uncommitted work
//! uncommitted again, and whose log starts with those events). The commits travel by git over
//! SSH beside the package; the agent goes on with its own session where it can load it (the
//! built-in agent's travels with the package), else the host hands it the conversation so far
//! with the next prompt.

use crate::{NewSession, OpError, Result, Sessions, TakeOver};
use aside_core::{Approve, Config, Mode, SessionKind, SessionRecord};
use serde_json::Value;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// The files of the built-in agent's stored session that travel with it.
const AGENT_FILES: [&str; 3] = ["meta.json", "messages.json", "updates.jsonl"];

/// A session packed to move.
#[derive(Debug, serde::Serialize, serde::Deserialize)]
pub struct Packed {
    /// Its id where it was.
    pub id: String,
    pub title: String,
    pub task: String,
    pub agent: String,
    pub approve: String,
    pub model: Option<String>,
    #[serde(default)]
    pub no_submodules: bool,
    /// The commit it started from.
    pub base: String,
    /// The commit its branch was at.
    pub tip: String,
    /// Its worktree as it was (uncommitted work included), a child of `tip`.
    pub snapshot: String,
    /// The ref that pins `snapshot` in `repo` (what a fetch asks for).
    pub snapshot_ref: String,
    /// The repository that holds those commits, where it was.
    pub repo: PathBuf,
    /// The agent's own session id.
    pub acp_session_id: Option<String>,
    /// The built-in agent's stored session, file name → content.
    #[serde(default)]
    pub agent_store: BTreeMap<String, String>,
    /// Its events, in order (streamed text as stored).
    pub events: Vec<(String, Value)>,
}

/// The ref a moving session's snapshot is pinned under.
fn label(id: &str) -> String {
    format!("move-{id}")
}

impl Sessions {
    /// Packs `record` to move: refused while it works; its host is stopped and its worktree
    /// pinned as a commit (`refs/aside/snapshots/move-ID`). Nothing is removed: the session
    /// stays here, whole, until the move is done.
    pub fn pack(&self, record: &SessionRecord) -> Result<Packed> {
        let id = &record.id;
        let (Mode::Isolated, Some(base)) = (record.mode, record.base.clone()) else {
            return Err(OpError::Refused(format!(
                "session {id} works in your checkout itself (--workspace): only a session with its own worktree and branch can move"
            )));
        };
        let status = self.status(record);
        if status.is_active() || status == aside_core::Status::InTerminal {
            return Err(OpError::Refused(format!(
                "session {id} is {status}: wait for its turn to end, or cancel it (aside cancel {id}), then move it"
            )));
        }
        if !record.worktree.is_dir() {
            return Err(OpError::Refused(format!(
                "session {id}'s worktree {} is gone: there is no work to move",
                record.worktree.display()
            )));
        }
        self.stop(record)?;
        let tip = aside_git::resolve_commit(&record.worktree, "HEAD")?;
        let snapshot = aside_git::snapshot_commit(&record.worktree, &label(id.as_str()))?;
        let log = aside_store::EventLog::open(&self.layout, id)?;
        let mut events = Vec::new();
        log.each_since(0, |e| {
            events.push((e.kind, e.data));
            true
        })?;
        let mut agent_store = BTreeMap::new();
        if let (true, Some(own)) = (
            record.agent == aside_core::agents::BUILTIN,
            &record.acp_session_id,
        ) {
            let dir = aside_core::paths::agent_store(&self.layout.home).join(own);
            for file in AGENT_FILES {
                if let Ok(text) = std::fs::read_to_string(dir.join(file)) {
                    agent_store.insert(file.to_string(), text);
                }
            }
        }
        Ok(Packed {
            id: id.to_string(),
            title: record.title.clone(),
            task: record.task.clone(),
            agent: record.agent.clone(),
            approve: record.approve.as_str().to_string(),
            model: record.settings.model.clone(),
            no_submodules: record.settings.no_submodules,
            base,
            tip,
            snapshot,
            snapshot_ref: format!("refs/aside/snapshots/{}", label(id.as_str())),
            repo: aside_git::main_repo_root(&record.worktree)?,
            acp_session_id: record.acp_session_id.clone(),
            agent_store,
            events,
        })
    }

    /// Makes a session of the repository at `dir` from a packed one, whose commits are in that
    /// repository already: its worktree starts as the moved one's was, its log with the moved
    /// one's events; it rests (completed) until a follow-up.
    pub fn receive(&self, packed: Packed, dir: &Path, config: &Config) -> Result<SessionRecord> {
        for (what, commit) in [
            ("base", &packed.base),
            ("branch", &packed.tip),
            ("work", &packed.snapshot),
        ] {
            if aside_git::resolve_commit(dir, commit).is_err() {
                return Err(OpError::Refused(format!(
                    "the moved session's {what} ({commit}) is not in the repository at {}: it must come there first",
                    dir.display()
                )));
            }
        }
        // The built-in agent's own session, under its own id (ids are 32 random characters).
        let own = packed.acp_session_id.clone().filter(|own| {
            !own.is_empty() && own.len() <= 64 && own.chars().all(|c| c.is_ascii_alphanumeric())
        });
        if let (Some(own), false) = (&own, packed.agent_store.is_empty()) {
            let to = aside_core::paths::agent_store(&self.layout.home).join(own);
            std::fs::create_dir_all(&to)
                .map_err(|e| OpError::Internal(format!("cannot write {}: {e}", to.display())))?;
            for (file, text) in &packed.agent_store {
                if AGENT_FILES.contains(&file.as_str()) {
                    std::fs::write(to.join(file), text).map_err(|e| {
                        OpError::Internal(format!("cannot write {}: {e}", to.join(file).display()))
                    })?;
                }
            }
        }
        // What it changed, as the list shows it, before its first turn here counts it again.
        let changed =
            aside_git::changed_between(dir, &packed.base, &packed.snapshot).unwrap_or_default();
        let record = self.create_with(
            NewSession {
                task: String::new(),
                agent: packed.agent,
                mode: Mode::Isolated,
                base: Some(packed.base),
                name: None,
                approve: Approve::parse(&packed.approve),
                dir: dir.to_path_buf(),
                kind: SessionKind::Task,
                model: packed.model,
                title: Some(packed.title),
                no_submodules: packed.no_submodules,
                sandbox: None,
                budget: None,
                from: None,
            },
            config,
            Some(TakeOver {
                agent_session: own,
                transcript: None,
                history: packed.events,
                start: Some(aside_core::session::Start {
                    tip: packed.tip,
                    snapshot: packed.snapshot,
                }),
            }),
        )?;
        let (files, added, removed) = (
            changed.len() as u64,
            changed.iter().map(|f| f.added).sum(),
            changed.iter().map(|f| f.removed).sum(),
        );
        self.index.update(
            &record.id,
            aside_store::Change::Changes {
                files,
                added,
                removed,
            },
        )?;
        Ok(self.index.get(&record.id)?.unwrap_or(record))
    }

    /// After a move: the session here is archived and its snapshot unpinned (its worktree and
    /// branch stay, like any archived session's, until removed).
    pub fn moved_away(&self, record: &SessionRecord) -> Result<()> {
        aside_git::drop_snapshot(&record.repo, &label(record.id.as_str()));
        self.archive(record, true)
    }
}
