//! The sessions, as every view sees them: create, list, resolve, status as readers see it
//! (liveness), follow-ups, cancel, stop, resume, answers, diff, apply, merge, remove. The CLI and
//! the web view (and later the terminal view) take the same path for every write: through the
//! session's host, or its stored record when no host runs. The seam where other session sources
//! (Copilot CLI, Codex, Claude Code files) plug in.
//!
//! Owns: the rules of each operation and its user-facing messages. Must not: render anything.
pub mod editor;
pub mod external;
pub mod import;
mod takeover;
pub mod terminal;

use aside_core::trust::{Asks, TrustStore};
use aside_core::{Approve, Config, Mode, SessionId, SessionKind, SessionRecord, Status};
use aside_git::{FileChange, GitError};
use aside_host::liveness;
use aside_protocol::client::{self, ClientError};
use aside_protocol::{Choice, Request};
use aside_store::{Change, Index, Layout, StoreError};
use serde_json::{json, Value};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

/// Why an operation failed. `Refused` and `NotFound` are the user's to fix.
#[derive(Debug, thiserror::Error)]
pub enum OpError {
    /// The request makes no sense in the session's state, or its input is wrong.
    #[error("{0}")]
    Refused(String),
    /// No such session (or an ambiguous prefix).
    #[error("{0}")]
    NotFound(String),
    /// git refused or failed (its message says which).
    #[error(transparent)]
    Git(#[from] GitError),
    /// The store failed.
    #[error(transparent)]
    Store(StoreError),
    /// Something else went wrong.
    #[error("{0}")]
    Internal(String),
    /// The repository's `.aside.toml` asks to run commands the user has not trusted.
    #[error("{0}")]
    Untrusted(Box<Untrusted>),
}

/// What a repository's `.aside.toml` asks that the user has not trusted.
#[derive(Debug)]
pub struct Untrusted {
    /// The repository.
    pub repo: PathBuf,
    /// Exactly what it asks (what trusting it would record).
    pub asks: Asks,
    /// What it asks, as lines to show.
    pub lines: Vec<String>,
}

impl std::fmt::Display for Untrusted {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{}/.aside.toml asks aside to run commands you have not trusted (new, or changed since you trusted them); nothing was run:\n{}\nRead them, then trust them with `aside trust {}` and try again",
            self.repo.display(),
            self.lines
                .iter()
                .map(|l| format!("  {l}"))
                .collect::<Vec<_>>()
                .join("\n"),
            shell_word(&self.repo.display().to_string())
        )
    }
}

/// A new session's directory, removed when dropped unless the session was recorded.
struct Unmade(Option<PathBuf>);

impl Drop for Unmade {
    fn drop(&mut self) {
        if let Some(dir) = self.0.take() {
            let _ = std::fs::remove_dir_all(dir);
        }
    }
}

/// Which of a repository's commands an operation would run.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Commands {
    /// `[setup] run`, when a session starts.
    Setup,
    /// `[teardown] run`, when a session is removed.
    Teardown,
}

/// `s` as one shell word (quoted when it needs to be), for commands a message tells the user
/// to run.
pub fn shell_word(s: &str) -> String {
    if !s.is_empty()
        && s.chars()
            .all(|c| c.is_ascii_alphanumeric() || "/._-+:@%,=".contains(c))
    {
        s.to_string()
    } else {
        format!("'{}'", s.replace('\'', "'\\''"))
    }
}

impl From<StoreError> for OpError {
    fn from(e: StoreError) -> OpError {
        match e {
            StoreError::NotFound { .. } | StoreError::Ambiguous { .. } => {
                OpError::NotFound(e.to_string())
            }
            other => OpError::Store(other),
        }
    }
}

impl OpError {
    /// Whether the user can fix it (a 4xx, not a 5xx).
    pub fn is_user_error(&self) -> bool {
        match self {
            OpError::Refused(_) | OpError::NotFound(_) | OpError::Untrusted(_) => true,
            OpError::Git(e) => !matches!(e, GitError::Spawn(_) | GitError::Failed { .. }),
            _ => false,
        }
    }
}

type Result<T> = std::result::Result<T, OpError>;

/// What an apply or a merge did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome<T> {
    /// Done: the files applied, or the merge commit.
    Done(T),
    /// The session changed nothing.
    Nothing,
    /// Its changes are already there (applied or merged before).
    Already,
}

/// What a new session needs.
#[derive(Debug, Clone)]
pub struct NewSession {
    /// The task.
    pub task: String,
    /// Agent name.
    pub agent: String,
    /// Isolation.
    pub mode: Mode,
    /// Start commit or branch (isolated).
    pub base: Option<String>,
    /// Worktree and branch name (isolated).
    pub name: Option<String>,
    /// Approval policy; default by mode.
    pub approve: Option<Approve>,
    /// A directory in the repository.
    pub dir: PathBuf,
    /// What the session is for (a task, or a plan before one).
    pub kind: SessionKind,
    /// Its title; default: the first line of the task.
    pub title: Option<String>,
    /// The model its agent uses, where aside can choose it (`--model`); default the agent's
    /// `[agents.NAME] model`, else its own.
    pub model: Option<String>,
    /// Its worktree is made without the repository's submodules (`--no-submodules`).
    pub no_submodules: bool,
}

/// An agent session a new aside session goes on with.
struct TakeOver {
    /// The agent's own session id, loaded (or resumed) by the host.
    agent_session: String,
    /// The conversation as a hand-off prompt, sent instead when the agent cannot load it.
    transcript: Option<String>,
    /// Events to store first: the conversation so far, when it is not in aside's log yet.
    history: Vec<(&'static str, Value)>,
}

/// A session as an id names it: aside's own, or one started in an agent's own CLI.
pub enum Located {
    /// One of aside's sessions.
    Own(SessionRecord),
    /// A session of Copilot CLI, Codex or Claude Code, read from its files.
    External(external::External),
}

/// The sessions of one `$ASIDE_HOME`.
pub struct Sessions {
    /// Where state lives.
    pub layout: Layout,
    /// The index.
    pub index: Index,
}

/// A branch-safe name from the task: a few words, lowercase, dashes.
pub fn slug(task: &str) -> String {
    let words: Vec<String> = task
        .split(|c: char| !c.is_ascii_alphanumeric())
        .filter(|w| !w.is_empty())
        .take(5)
        .map(|w| w.to_ascii_lowercase())
        .collect();
    let mut slug = words.join("-");
    slug.truncate(40);
    let slug = slug.trim_end_matches('-').to_string();
    if slug.is_empty() {
        "task".to_string()
    } else {
        slug
    }
}

fn valid_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 100
        && !name.starts_with(['.', '-'])
        && !name.contains("..")
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
}

/// A session as `ls --json`, `show --json` and the web view show it (serialized as it is, so a
/// long list is written without building a JSON tree first).
#[derive(Debug, serde::Serialize)]
pub struct SessionView<'a> {
    pub id: &'a str,
    pub title: &'a str,
    pub task: &'a str,
    pub agent: &'a str,
    pub mode: &'a str,
    pub approve: &'a str,
    pub status: &'a str,
    pub host: bool,
    pub reason: Option<&'a str>,
    pub repo: &'a Path,
    pub worktree: &'a Path,
    pub branch: Option<&'a str>,
    pub base: Option<&'a str>,
    pub created_at: &'a str,
    pub updated_at: &'a str,
    pub changed_files: u64,
    pub lines_added: u64,
    pub lines_removed: u64,
    pub pending_permission: bool,
    pub archived: bool,
    pub integrated: Option<&'a str>,
    pub kind: &'a str,
    pub external: bool,
    pub agent_session_id: Option<&'a str>,
}

fn exe() -> Result<PathBuf> {
    std::env::current_exe()
        .map_err(|e| OpError::Internal(format!("cannot find the aside binary: {e}")))
}

impl Sessions {
    /// The sessions under `$ASIDE_HOME`.
    pub fn open() -> Result<Sessions> {
        Sessions::open_at(Layout::new(aside_core::paths::aside_home()))
    }

    /// The sessions under `layout`.
    pub fn open_at(layout: Layout) -> Result<Sessions> {
        let index = Index::open(&layout)?;
        let sessions = Sessions { layout, index };
        // An empty index over sessions' data (a crash during a copy, a restore, a 0-byte file)
        // is never taken for "no sessions": it is rebuilt from the sessions' own records.
        if sessions.index.is_empty()? && sessions.layout.sessions_dir().is_dir() {
            sessions.repair()?;
        }
        Ok(sessions)
    }

    /// Puts sessions the index lost back into it from their own records
    /// ([`aside_store::Index::rebuild`]), their changed files counted again.
    pub fn repair(&self) -> Result<aside_store::Rebuilt> {
        let rebuilt = self.index.rebuild()?;
        for id in &rebuilt.restored {
            if let Some(record) = self.index.get(id)? {
                let files = self.changed_files(&record);
                self.index.update(
                    id,
                    Change::Changes {
                        files: files.len() as u64,
                        added: files.iter().map(|f| f.added).sum(),
                        removed: files.iter().map(|f| f.removed).sum(),
                    },
                )?;
            }
        }
        Ok(rebuilt)
    }

    /// The session `prefix` names.
    pub fn resolve(&self, prefix: &str) -> Result<SessionRecord> {
        match self.locate(prefix)? {
            Located::Own(record) => Ok(record),
            // A session started in an agent's own CLI: say so, and what to do with it.
            Located::External(s) => Err(OpError::Refused(format!(
                "{prefix} is {}'s session {}, started in its own CLI, not an aside session: `aside show {prefix}` reads it, `aside adopt {prefix}` continues it in aside",
                s.tool.agent(),
                s.summary.id
            ))),
        }
    }

    /// The session `prefix` names: one of aside's (by its id, or by the agent's own session id
    /// of one aside continues), else one started in an agent's own CLI (the tools' files are
    /// read only then).
    pub fn locate(&self, prefix: &str) -> Result<Located> {
        match self.index.resolve(prefix) {
            Err(aside_store::StoreError::NotFound { .. }) => {}
            other => return Ok(Located::Own(other?)),
        }
        // An agent's own session id (what its CLI printed), of a session aside continues.
        if prefix.len() >= 4 {
            let mut owning: Vec<SessionRecord> = self
                .index
                .list(true)?
                .into_iter()
                .filter(|r| {
                    r.acp_session_id
                        .as_deref()
                        .is_some_and(|a| a.starts_with(prefix))
                })
                .collect();
            if owning.len() == 1 {
                return Ok(Located::Own(owning.remove(0)));
            }
        }
        match external::find(self.externals(), prefix) {
            Ok(s) => Ok(Located::External(s)),
            Err(why) if why.contains(" matches ") && !why.starts_with("no session") => {
                Err(OpError::NotFound(why))
            }
            Err(_) => Err(OpError::NotFound(format!(
                "no session matches `{prefix}`; `aside ls --all` lists them"
            ))),
        }
    }

    /// The main repository holding `dir` (as sessions record it), for filtering by repository.
    pub fn repo_of(&self, dir: &Path) -> Result<PathBuf> {
        let dir = dir
            .canonicalize()
            .map_err(|_| OpError::Refused(format!("{} does not exist", dir.display())))?;
        Ok(aside_git::main_repo_root(&dir).unwrap_or(dir))
    }

    /// The main repository holding `dir`; None when `dir` is in none.
    pub fn repo_holding(&self, dir: &Path) -> Option<PathBuf> {
        aside_git::main_repo_root(&dir.canonicalize().ok()?).ok()
    }

    /// Why a queued session waits, for `ls`.
    pub fn queue_note(&self, record: &SessionRecord, limit: usize) -> Option<String> {
        if !self.host_alive(record) {
            return None;
        }
        let queue = self
            .index
            .queue_state(&record.id, |other| self.host_alive_id(other))
            .ok()?;
        Some(if queue.ahead > 0 {
            format!(
                "waiting for a slot: {} of {limit} running, {} queued ahead ([sessions] max_concurrent)",
                queue.busy, queue.ahead
            )
        } else {
            format!(
                "waiting for a slot: {} of {limit} running ([sessions] max_concurrent)",
                queue.busy
            )
        })
    }

    fn host_alive_id(&self, id: &SessionId) -> bool {
        liveness::host_alive(&self.layout, id)
    }

    /// Whether the session's host runs.
    pub fn host_alive(&self, record: &SessionRecord) -> bool {
        // The lock itself: a host going idle removes its socket first but holds its lock until
        // it is gone, and `send`/`resume` must wait for that. (Listings take the cheaper way in
        // `views`.)
        liveness::host_alive(&self.layout, &record.id)
    }

    /// The status as a reader sees it: an active session whose host is gone is interrupted.
    pub fn status(&self, record: &SessionRecord) -> Status {
        self.status_with(record, || self.host_alive(record))
    }

    fn status_with(&self, record: &SessionRecord, alive: impl FnOnce() -> bool) -> Status {
        if record.status.is_active() && !alive() {
            Status::Interrupted
        } else if record.status == Status::InTerminal && !self.terminal_alive(record) {
            // The CLI (and the aside that waited for it) died: it is aside's to take back.
            Status::Completed
        } else {
            record.status
        }
    }

    /// The JSON of a session, as `ls --json`, `show --json` and the web view show it.
    pub fn json(&self, r: &SessionRecord) -> Value {
        serde_json::to_value(self.view(r, self.host_alive(r))).unwrap_or(Value::Null)
    }

    /// The JSON views of many sessions (a listing): the hosts' sockets are read once, so a list
    /// of thousands is not a file probe per session.
    pub fn views<'a>(&self, records: &'a [SessionRecord]) -> Vec<SessionView<'a>> {
        let sockets: std::collections::HashSet<String> =
            std::fs::read_dir(self.layout.home.join("run"))
                .into_iter()
                .flatten()
                .flatten()
                .filter_map(|e| {
                    e.file_name()
                        .to_string_lossy()
                        .strip_suffix(".sock")
                        .map(str::to_string)
                })
                .collect();
        records
            .iter()
            .map(|r| {
                let maybe = r.status.is_active() || sockets.contains(r.id.as_str());
                self.view(r, maybe && liveness::host_alive(&self.layout, &r.id))
            })
            .collect()
    }

    fn view<'a>(&self, r: &'a SessionRecord, alive: bool) -> SessionView<'a> {
        SessionView {
            id: r.id.as_str(),
            title: &r.title,
            task: &r.task,
            agent: &r.agent,
            mode: r.mode.as_str(),
            approve: r.approve.as_str(),
            status: self.status_with(r, || alive).as_str(),
            host: alive,
            reason: r.reason.as_deref(),
            repo: &r.repo,
            worktree: &r.worktree,
            branch: r.branch.as_deref(),
            base: r.base.as_deref(),
            created_at: &r.created_at,
            updated_at: &r.updated_at,
            changed_files: r.changed_files,
            lines_added: r.lines_added,
            lines_removed: r.lines_removed,
            pending_permission: r.pending_permission,
            archived: r.archived,
            integrated: r.integrated.as_deref(),
            kind: r.kind.as_str(),
            external: false,
            agent_session_id: r.acp_session_id.as_deref(),
        }
    }

    /// Gives session `id` a block of ports no other session has (`PORT_BLOCK` ports from 20000
    /// up, under a lock so two new sessions never take the same), written to its `ports` file.
    fn allocate_ports(&self, id: &SessionId) -> Result<(u16, u16)> {
        let lock_path = self.layout.home.join("ports.lock");
        let lock = std::fs::OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&lock_path)
            .map_err(|e| OpError::Internal(format!("cannot open {}: {e}", lock_path.display())))?;
        let deadline = Instant::now() + Duration::from_secs(5);
        while !aside_core::process::try_flock(&lock, true) {
            if Instant::now() > deadline {
                return Err(OpError::Internal(format!(
                    "{} stays locked",
                    lock_path.display()
                )));
            }
            std::thread::sleep(Duration::from_millis(10));
        }
        let taken: std::collections::HashSet<u16> = self
            .index
            .list(true)?
            .iter()
            .filter_map(|r| std::fs::read_to_string(self.layout.ports(&r.id)).ok())
            .filter_map(|text| text.split_whitespace().next()?.parse().ok())
            .collect();
        let first = (0..)
            .map(|n: u16| PORT_BASE + n * PORT_BLOCK)
            .take_while(|p| *p < u16::MAX - PORT_BLOCK)
            .find(|p| !taken.contains(p))
            .ok_or_else(|| OpError::Refused("no free port range left for a new session".into()))?;
        let last = first + PORT_BLOCK - 1;
        std::fs::create_dir_all(self.layout.session_dir(id))
            .and_then(|()| std::fs::write(self.layout.ports(id), format!("{first} {last}\n")))
            .map_err(|e| OpError::Internal(format!("cannot write the session's ports: {e}")))?;
        Ok((first, last))
    }

    /// Sessions started outside aside (Copilot CLI, Codex, Claude Code in a terminal), newest
    /// first; aside's own sessions with those agents are left out.
    pub fn externals(&self) -> Vec<external::External> {
        let own = self.index.agent_session_ids().unwrap_or_default();
        external::scan(
            &external::Homes::from_env(),
            &self.layout.home.join("external-sessions.json"),
        )
        .into_iter()
        // Copilot names the ACP client that started a session.
        .filter(|s| !own.contains(&s.summary.id) && s.summary.client.as_deref() != Some("aside"))
        .collect()
    }

    /// Continues a session started in an agent's own CLI as an aside session: its agent loads
    /// the same agent session (so its history is the agent's own) in its directory (`mode`
    /// workspace) or in a new worktree of its repository (isolated); its conversation so far
    /// becomes the new session's first events. A session its CLI is still live on is refused
    /// unless `force` (two writers would corrupt it).
    pub fn adopt(
        &self,
        session: &external::External,
        mode: Mode,
        force: bool,
        config: &Config,
    ) -> Result<SessionRecord> {
        let agent = session.tool.agent();
        if session.live && !force {
            return Err(OpError::Refused(format!(
                "{agent} is still working on session {} (its own CLI is live on it); two writers would corrupt it. Quit it there first, or pass --force to adopt it anyway",
                session.summary.id
            )));
        }
        if !session.summary.cwd.is_dir() {
            return Err(OpError::Refused(format!(
                "session {} worked in {}, which no longer exists",
                session.summary.id,
                session.summary.cwd.display()
            )));
        }
        let (conversation, _) = session.conversation().map_err(|e| {
            OpError::Refused(format!("cannot read {}: {e}", session.file.display()))
        })?;
        self.create_with(
            NewSession {
                task: String::new(),
                agent: agent.to_string(),
                mode,
                base: None,
                name: None,
                approve: None,
                dir: session.summary.cwd.clone(),
                kind: SessionKind::Task,
                model: None,
                title: Some(session.summary.title.clone()),
                no_submodules: false,
            },
            config,
            Some(TakeOver {
                agent_session: session.summary.id.clone(),
                transcript: None,
                history: conversation.to_events(),
            }),
        )
    }

    /// How far a session has come, for lists: its plan's steps done and in all (when it keeps
    /// a plan), and the last line of the agent's newest message.
    pub fn progress(&self, record: &SessionRecord) -> (Option<(usize, usize)>, String) {
        let Ok(log) = aside_store::EventLog::open(&self.layout, &record.id) else {
            return (None, String::new());
        };
        let plan = log.last_of("plan", 1).ok().and_then(|p| {
            let entries = p.first()?.data["entries"].as_array()?.clone();
            let done = entries
                .iter()
                .filter(|e| e["status"] == "completed")
                .count();
            Some((done, entries.len()))
        });
        // The newest message: its chunks since the last prompt.
        let last_prompt = log
            .last_of("prompt", 1)
            .ok()
            .and_then(|p| p.first().map(|e| e.seq))
            .unwrap_or(0);
        let text: String = log
            .last_of("agent_message_chunk", 40)
            .unwrap_or_default()
            .iter()
            .filter(|e| e.seq > last_prompt)
            .filter_map(|e| e.data["content"]["text"].as_str())
            .collect();
        let line = text
            .lines()
            .rev()
            .find(|l| !l.trim().is_empty())
            .unwrap_or_default()
            .trim()
            .chars()
            .take(160)
            .collect();
        (plan, line)
    }

    /// The repository aside knows that `dir` works in (a session worktree belongs to its
    /// repository), if any.
    pub fn known_repo(repos: &[PathBuf], dir: &Path) -> Option<PathBuf> {
        repos
            .iter()
            .find(|repo| {
                let worktrees = PathBuf::from(format!("{}.worktrees", repo.display()));
                dir.starts_with(repo) || dir.starts_with(&worktrees)
            })
            .cloned()
    }

    /// An external session as JSON, beside `json`'s sessions.
    pub fn external_json(&self, s: &external::External, repo: Option<&Path>) -> Value {
        json!({
            "id": s.summary.id,
            "external": true,
            "agent": s.tool.agent(),
            "agent_session_id": s.summary.id,
            "status": s.status(),
            "title": s.summary.title,
            "repo": repo,
            "cwd": s.summary.cwd,
            "worktree": s.summary.cwd,
            "branch": s.summary.branch,
            "created_at": s.summary.created_at,
            "updated_at": s.updated_at(),
            "client": s.summary.client,
            "file": s.file,
            "resume_command": s.tool.resume_command(&s.summary.id, &s.summary),
        })
    }

    /// Starts the session's host, detached, and waits (up to 10 s) until it holds its lock and
    /// answers on its socket, or has already finished (a session that fails at once).
    pub fn start_host(&self, record: &SessionRecord) -> Result<()> {
        let mut child = aside_host::spawn(&self.layout, &record.id, &exe()?)
            .map_err(|e| OpError::Internal(format!("cannot start the session's host: {e}")))?;
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            if std::os::unix::net::UnixStream::connect(self.layout.socket(&record.id)).is_ok() {
                return Ok(());
            }
            if let Ok(Some(_)) = child.try_wait() {
                return Ok(());
            }
            if Instant::now() > deadline {
                return Err(OpError::Internal(format!(
                    "the host of session {} did not start; see {}",
                    record.id,
                    self.layout.host_log(&record.id).display()
                )));
            }
            std::thread::sleep(Duration::from_millis(5));
        }
    }

    /// Records a new session and starts its host.
    pub fn create(&self, new: NewSession, config: &Config) -> Result<SessionRecord> {
        self.create_with(new, config, None)
    }

    /// Creates a session whose agent goes on with an agent session of its own (ACP
    /// session/resume or session/load) instead of a new one.
    fn create_with(
        &self,
        new: NewSession,
        config: &Config,
        takes_over: Option<TakeOver>,
    ) -> Result<SessionRecord> {
        let history = takes_over.as_ref().map_or(&[][..], |t| &t.history[..]);
        if new.task.trim().is_empty() && new.kind != SessionKind::Chat && history.is_empty() {
            return Err(OpError::Refused(
                "the task is empty: say what the agent should do, e.g. aside new \"fix the failing test\"".into(),
            ));
        }
        let exe = exe()?;
        let agent_command =
            aside_core::agents::agent_command(&new.agent, config, &exe.display().to_string())
                .map_err(OpError::Refused)?;
        aside_core::agents::check_installed(&new.agent, &agent_command)
            .map_err(OpError::Refused)?;
        let dir = new
            .dir
            .canonicalize()
            .map_err(|_| OpError::Refused(format!("{} does not exist", new.dir.display())))?;
        aside_git::whole_path(&dir)?;
        let repo_root = match new.mode {
            Mode::Isolated => aside_git::main_repo_root(&dir),
            Mode::Workspace => aside_git::repo_root(&dir),
        };
        if let Ok(root) = &repo_root {
            self.check_trusted(root, Commands::Setup)?;
        }
        let approve = new.approve.unwrap_or(if new.mode == Mode::Isolated {
            Approve::All
        } else {
            Approve::Ask
        });
        let mut id = SessionId::random();
        while self.index.get(&id)?.is_some() {
            id = SessionId::random();
        }
        // Until the session is in the index, a failure (a full disk) takes what was made for it
        // away again: no half-made session is left behind.
        let mut unmade = Unmade(Some(self.layout.session_dir(&id)));
        self.allocate_ports(&id)?;
        if new.no_submodules {
            std::fs::write(self.layout.no_submodules(&id), b"").map_err(|e| {
                OpError::Internal(format!("cannot write the session's settings: {e}"))
            })?;
        }
        if let Some(model) = new.model.as_deref().filter(|m| !m.trim().is_empty()) {
            std::fs::write(self.layout.model(&id), model)
                .map_err(|e| OpError::Internal(format!("cannot write the session's model: {e}")))?;
        }
        if let Some(transcript) = takes_over.as_ref().and_then(|t| t.transcript.as_ref()) {
            std::fs::create_dir_all(self.layout.session_dir(&id))
                .and_then(|()| std::fs::write(self.layout.handoff(&id), transcript))
                .map_err(|e| {
                    OpError::Internal(format!(
                        "cannot write {}: {e}",
                        self.layout.handoff(&id).display()
                    ))
                })?;
        }
        let title: String = new
            .title
            .as_deref()
            .unwrap_or(&new.task)
            .lines()
            .next()
            .unwrap_or_default()
            .trim()
            .chars()
            .take(100)
            .collect();
        let (repo, worktree, branch, base) = match new.mode {
            Mode::Isolated => {
                // Inside a session's worktree (or any linked worktree) the session still
                // belongs to the main repository, starting from where the user is.
                let repo = aside_git::main_repo_root(&dir).map_err(|_| {
                    OpError::Refused(format!(
                        "{} is not inside a git repository; isolated sessions need one. Run aside in a repository, pass --repo DIR, or use --workspace",
                        dir.display()
                    ))
                })?;
                let base_ref = new.base.as_deref().unwrap_or("HEAD");
                let base = aside_git::resolve_commit(&dir, base_ref).map_err(|_| {
                    OpError::Refused(if new.base.is_some() {
                        format!("--base {base_ref} is not a commit in {}", repo.display())
                    } else {
                        format!("{} has no commits yet; make a first commit (the worktree starts from it) or use --workspace", repo.display())
                    })
                })?;
                let name = match &new.name {
                    Some(name) if !valid_name(name) => {
                        return Err(OpError::Refused(format!(
                            "invalid --name `{name}`: use letters, digits, '-', '_' and '.' (it names a branch and a directory)"
                        )))
                    }
                    Some(name) => name.clone(),
                    None => format!(
                        "{}-{}",
                        slug(new.title.as_deref().unwrap_or(&new.task)),
                        &id.as_str()[..4]
                    ),
                };
                let branch = format!("aside/{name}");
                let worktree = aside_git::worktree_path(&repo, &name);
                if aside_git::branch_exists(&repo, &branch) {
                    return Err(OpError::Refused(format!(
                        "branch {branch} already exists in {}; choose another --name",
                        repo.display()
                    )));
                }
                if worktree.exists() {
                    return Err(OpError::Refused(format!(
                        "{} already exists; choose another --name",
                        worktree.display()
                    )));
                }
                (repo, worktree, Some(branch), Some(base))
            }
            Mode::Workspace => {
                let repo = aside_git::repo_root(&dir).unwrap_or_else(|_| dir.clone());
                // The working state as the session found it (the user's own uncommitted work
                // included), so diffs and counts show only what the agent changed.
                let base = aside_git::snapshot_commit(&repo, id.as_str()).ok();
                (repo.clone(), repo, None, base)
            }
        };
        let now = aside_core::now();
        let record = SessionRecord {
            id,
            title,
            task: new.task,
            agent: new.agent,
            agent_command,
            mode: new.mode,
            approve,
            status: Status::Queued,
            reason: None,
            repo,
            worktree,
            branch,
            base,
            created_at: now.clone(),
            updated_at: now,
            archived: false,
            pending_permission: false,
            changed_files: 0,
            lines_added: 0,
            lines_removed: 0,
            acp_session_id: takes_over.as_ref().map(|t| t.agent_session.clone()),
            integrated: None,
            kind: new.kind,
        };
        if let Some(takes_over) = &takes_over {
            takeover::prepare(&record.agent, &takes_over.agent_session, &record.worktree);
        }
        let mut record = record;
        if !history.is_empty() {
            // The conversation so far, as the session's own first events; with no task of its
            // own the session rests until a follow-up.
            let log = aside_store::EventLog::open(&self.layout, &record.id)?;
            for (kind, data) in history {
                log.append(kind, data)?;
            }
            if record.task.trim().is_empty() {
                record.status = Status::Completed;
            }
        }
        self.index.insert(&record)?;
        unmade.0 = None;
        // Waits until the host holds its lock, so no reader sees the session without one.
        self.start_host(&record)?;
        Ok(record)
    }

    /// Sends `request` to the session's running host; Ok with the host's note for the user.
    fn request(
        &self,
        record: &SessionRecord,
        request: Request,
        nothing: &str,
    ) -> Result<Option<String>> {
        match client::send(&self.layout, &record.id, request) {
            Ok(message) => Ok(message),
            Err(ClientError::NoHost | ClientError::Gone) => {
                let record = self
                    .index
                    .get(&record.id)?
                    .unwrap_or_else(|| record.clone());
                Err(OpError::Refused(format!(
                    "session {} has no running host (it is {}); {nothing}",
                    record.id,
                    self.status(&record)
                )))
            }
            Err(ClientError::Refused(reason)) => Err(OpError::Refused(reason)),
            Err(e @ ClientError::Io(_)) => Err(OpError::Internal(format!(
                "{e}; see {} and try again",
                self.layout.host_log(&record.id).display()
            ))),
        }
    }

    /// Waits (up to 15 s) until the session's host has exited.
    fn wait_host_gone(&self, record: &SessionRecord) -> Result<()> {
        let deadline = Instant::now() + Duration::from_secs(15);
        while self.host_alive(record) {
            if Instant::now() > deadline {
                return Err(OpError::Internal(format!(
                    "the host of session {} did not stop within 15 s; see {}",
                    record.id,
                    self.layout.host_log(&record.id).display()
                )));
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        Ok(())
    }

    /// Starts a new host for an existing session, with the agent command as the current config
    /// names it (a user who fixed their config gets the fixed agent).
    fn restart_host(&self, record: &SessionRecord, config: &Config) -> Result<()> {
        if self.index.get(&record.id)?.map(|r| r.status) == Some(Status::InTerminal) {
            if self.terminal_alive(record) {
                return Err(OpError::Refused(format!(
                    "session {} is open in {}'s own CLI; quit it there first (two writers would corrupt it)",
                    record.id, record.agent
                )));
            }
            // Its CLI ended without aside seeing it: take back what it did.
            self.back_from_terminal(record)?;
        }
        let exe = exe()?;
        if let Ok(command) =
            aside_core::agents::agent_command(&record.agent, config, &exe.display().to_string())
        {
            if command != record.agent_command {
                self.index
                    .update(&record.id, Change::AgentCommand(&command))?;
            }
        }
        self.start_host(record)
    }

    /// A follow-up. A session without a running host (finished and idle, failed, interrupted)
    /// gets a new one, which continues the agent session and then takes the follow-up; a host
    /// that was just going idle is waited for and replaced. The follow-up is never lost.
    pub fn send(&self, record: &SessionRecord, text: &str, config: &Config) -> Result<()> {
        if text.trim().is_empty() {
            return Err(OpError::Refused(
                "the message is empty: say what the agent should do next".into(),
            ));
        }
        // One id for every try, so the host takes the follow-up once even when a host died
        // after storing it but before answering.
        let request = Request::Prompt {
            text: text.to_string(),
            request: Some(format!("{}-{}", SessionId::random(), std::process::id())),
        };
        match self.index.get(&record.id)?.map(|r| r.status) {
            // A failed session is resumed with the current settings, then takes the message.
            Some(Status::Failed) if self.host_alive(record) => {
                self.stop(record)?;
            }
            // An interrupted one's host is on its way out.
            Some(Status::Interrupted) => self.wait_host_gone(record)?,
            _ => {}
        }
        for _ in 0..3 {
            if !self.host_alive(record) {
                self.restart_host(record, config)?;
            }
            match client::send(&self.layout, &record.id, request.clone()) {
                Ok(_) => return Ok(()),
                // The host stopped or died under the request: a new one takes it (once).
                Err(ClientError::NoHost | ClientError::Gone | ClientError::Io(_)) => {
                    self.wait_host_gone(record)?
                }
                Err(ClientError::Refused(reason)) => return Err(OpError::Refused(reason)),
            }
        }
        Err(OpError::Internal(format!(
            "the host of session {} kept stopping before it took the follow-up; see {}",
            record.id,
            self.layout.host_log(&record.id).display()
        )))
    }

    /// Starts a new host for a session that has none: an interrupted or failed session
    /// continues its unfinished turn, a finished one waits for follow-ups. Re-reads the config
    /// (agent command) and uses this process's environment (model settings, keys).
    pub fn resume(&self, record: &SessionRecord, config: &Config) -> Result<()> {
        if self.host_alive(record) {
            let stored = self.index.get(&record.id)?.map(|r| r.status);
            match stored {
                // The agent that failed runs with the old settings: replace it.
                Some(Status::Failed) => {
                    self.stop(record)?;
                }
                // Its host recorded the interruption and is on its way out.
                Some(Status::Interrupted) => self.wait_host_gone(record)?,
                _ => {}
            }
        }
        if self.host_alive(record) {
            let status = self.status(record);
            return Err(OpError::Refused(if status.is_active() {
                format!("session {} is {status}; nothing to resume", record.id)
            } else {
                format!(
                    "session {} is {status} and its agent is still running, waiting for a follow-up (aside send {} \"...\"); nothing to resume",
                    record.id, record.id
                )
            }));
        }
        self.restart_host(record, config)
    }

    /// Stops the session's host and agent now, losing nothing: the session keeps its status, or
    /// becomes `interrupted` (resumable) mid-turn. Ok(false) when no host was running.
    pub fn stop(&self, record: &SessionRecord) -> Result<bool> {
        if !self.host_alive(record) {
            return Ok(false);
        }
        match client::send(&self.layout, &record.id, Request::Stop) {
            Ok(_) | Err(ClientError::Gone | ClientError::NoHost) => {}
            Err(ClientError::Refused(reason)) => return Err(OpError::Refused(reason)),
            Err(e @ ClientError::Io(_)) => return Err(OpError::Internal(e.to_string())),
        }
        self.wait_host_gone(record)?;
        Ok(true)
    }

    /// Switches the agent's session mode (`plan`, `code`, or a mode id it offers); Ok with what
    /// the host says.
    pub fn set_mode(&self, record: &SessionRecord, mode: &str) -> Result<Option<String>> {
        self.request(
            record,
            Request::SetMode {
                mode: mode.to_string(),
            },
            "send a message first, then switch",
        )
    }

    /// Cancels the current turn; Ok with a note when queued follow-ups were dropped.
    pub fn cancel(&self, record: &SessionRecord) -> Result<Option<String>> {
        self.request(record, Request::Cancel, "nothing to cancel")
    }

    /// Answers the pending permission request.
    pub fn answer(&self, record: &SessionRecord, choice: Choice) -> Result<()> {
        self.request(
            record,
            Request::Answer { choice },
            "nothing is waiting for an answer",
        )
        .map(|_| ())
        .map_err(|e| match e {
            OpError::Refused(reason) if !reason.starts_with("session ") => {
                OpError::Refused(format!("session {}: {reason}", record.id))
            }
            other => other,
        })
    }

    fn refuse_while_working(&self, record: &SessionRecord) -> Result<()> {
        let status = self.status(record);
        if matches!(
            status,
            Status::Running | Status::NeedsInput | Status::Starting
        ) {
            return Err(OpError::Refused(format!(
                "session {} is still working ({status}); wait for the turn to end, or `aside cancel {}`",
                record.id, record.id
            )));
        }
        Ok(())
    }

    /// Refuses a session whose worktree no longer points at its repository as aside made it
    /// (`aside_git::verify_worktree`): no git of aside's runs in it then.
    fn linked(record: &SessionRecord) -> Result<()> {
        if record.mode == Mode::Isolated {
            aside_git::verify_worktree(&record.repo, &record.worktree)?;
        }
        Ok(())
    }

    /// The commit a session's changes are measured from.
    pub fn base_of(record: &SessionRecord) -> String {
        record.base.clone().unwrap_or_else(|| "HEAD".to_string())
    }

    /// Files the session changed (since its base: a workspace session's base is the snapshot of
    /// the workspace taken when it started).
    pub fn changed_files(&self, record: &SessionRecord) -> Vec<FileChange> {
        if record.base.is_some() && record.worktree.exists() && Sessions::linked(record).is_ok() {
            aside_git::changed_files(&record.worktree, &Sessions::base_of(record))
                .unwrap_or_default()
        } else {
            vec![]
        }
    }

    /// The session's diff (or its `--stat`).
    pub fn diff(&self, record: &SessionRecord, stat: bool) -> Result<String> {
        if record.base.is_none() {
            return Err(OpError::Refused(format!(
                "session {} works in {}, which is not a git repository: there is no diff to show",
                record.id,
                record.worktree.display()
            )));
        }
        if !record.worktree.exists() {
            return Err(OpError::Refused(format!(
                "the worktree of {} does not exist (yet): {}",
                record.id,
                record.worktree.display()
            )));
        }
        Sessions::linked(record)?;
        Ok(aside_git::diff(
            &record.worktree,
            &Sessions::base_of(record),
            stat,
        )?)
    }

    /// Applies the session's changes to the repository as uncommitted changes (a 3-way merge
    /// with the user's own uncommitted work; refused, touching nothing, on a true conflict).
    pub fn apply(&self, record: &SessionRecord) -> Result<Outcome<Vec<String>>> {
        if record.mode == Mode::Workspace {
            return Err(OpError::Refused(format!(
                "session {} worked in your workspace directly: its changes are already there",
                record.id
            )));
        }
        self.refuse_while_working(record)?;
        if !record.worktree.exists() {
            return Err(OpError::Refused(format!(
                "the worktree of {} is gone ({}); nothing to apply",
                record.id,
                record.worktree.display()
            )));
        }
        Sessions::linked(record)?;
        let base = Sessions::base_of(record);
        match aside_git::apply(&record.repo, &record.worktree, &base) {
            Ok(files) if files.is_empty() => Ok(Outcome::Nothing),
            Ok(files) => {
                self.index
                    .update(&record.id, Change::Integrated("applied"))?;
                Ok(Outcome::Done(files))
            }
            Err(GitError::AlreadyApplied) => {
                self.index
                    .update(&record.id, Change::Integrated("applied"))?;
                Ok(Outcome::Already)
            }
            Err(e) => Err(e.into()),
        }
    }

    /// What `apply` and `merge` leave behind: files the session changed inside submodules,
    /// which belong to those submodules' own repositories; and the command that brings them
    /// into the user's checkout.
    pub fn left_in_submodules(&self, record: &SessionRecord) -> Result<(Vec<String>, String)> {
        if record.mode != Mode::Isolated || !record.worktree.exists() {
            return Ok((Vec::new(), String::new()));
        }
        let inside =
            aside_git::changed_in_submodules(&record.worktree, &Sessions::base_of(record))?;
        let subs = aside_git::submodule_paths(&record.worktree);
        let mut tops: Vec<String> = inside
            .iter()
            .filter_map(|f| {
                subs.iter()
                    .find(|s| f.path.starts_with(&format!("{s}/")))
                    .map(|s| format!("--include='{s}/*'"))
            })
            .collect();
        tops.dedup();
        let command = format!(
            "cd {} && aside diff {} | git apply {}",
            record.repo.display(),
            record.id,
            tops.join(" ")
        );
        Ok((inside.into_iter().map(|f| f.path).collect(), command))
    }

    /// Merges the session's branch (checkpointing anything uncommitted first); the new commit.
    pub fn merge(&self, record: &SessionRecord, squash: bool) -> Result<Outcome<String>> {
        let (Mode::Isolated, Some(branch)) = (record.mode, record.branch.as_deref()) else {
            return Err(OpError::Refused(format!(
                "session {} worked in your workspace directly: there is no branch to merge",
                record.id
            )));
        };
        self.refuse_while_working(record)?;
        if record.worktree.exists() {
            aside_git::checkpoint(
                &record.worktree,
                &format!("aside: {} (before merge)", record.title),
            )?;
        }
        let message = if squash {
            record.title.clone()
        } else {
            format!("Merge {branch}: {}", record.title)
        };
        let tip = aside_git::resolve_commit(&record.repo, branch)?;
        if record.base.as_deref() == Some(tip.as_str()) {
            return Ok(Outcome::Nothing);
        }
        if aside_git::is_merged(&record.repo, branch) {
            self.index
                .update(&record.id, Change::Integrated("merged"))?;
            return Ok(Outcome::Already);
        }
        let commit = match aside_git::merge(&record.repo, branch, squash, &message) {
            Ok(commit) => commit,
            // A squashed branch never becomes an ancestor: git finds nothing left to merge.
            Err(GitError::Refused(reason)) if reason.ends_with("has no changes to merge") => {
                return Ok(Outcome::Nothing)
            }
            Err(e @ GitError::MergeConflicts { .. }) => {
                return Err(OpError::Refused(format!(
                    "{e}; or let the agent resolve them in its worktree: aside send {} \"merge the repository's current branch into yours and resolve the conflicts\", then aside merge {} again",
                    record.id, record.id
                )))
            }
            Err(e) => return Err(e.into()),
        };
        self.index
            .update(&record.id, Change::Integrated("merged"))?;
        Ok(Outcome::Done(commit))
    }

    /// Stops the session, removes its worktree (and branch unless `keep_branch`) and forgets it.
    /// Refused while it holds work neither applied nor merged, unless `force`.
    pub fn remove(&self, record: &SessionRecord, force: bool, keep_branch: bool) -> Result<()> {
        if record.mode == Mode::Isolated && record.worktree.exists() && !force {
            Sessions::linked(record)?;
            let base = Sessions::base_of(record);
            // Edits inside submodules are on no branch of the repository: applied, merged or
            // not, they exist only in this worktree.
            match record.integrated {
                Some(_) => {
                    let inside = aside_git::changed_in_submodules(&record.worktree, &base)?;
                    if !inside.is_empty() {
                        return Err(OpError::Refused(format!(
                            "session {} changed files inside a submodule that exist only in its worktree ({}); bring them in first (`aside apply {}` says how) or pass --force to discard them",
                            record.id,
                            inside.iter().map(|f| f.path.as_str()).collect::<Vec<_>>().join(", "),
                            record.id
                        )));
                    }
                }
                None => {
                    let files = aside_git::changed_files(&record.worktree, &base)?;
                    let subs = aside_git::submodule_paths(&record.worktree);
                    let inside = files
                        .iter()
                        .any(|f| subs.iter().any(|s| f.path.starts_with(&format!("{s}/"))));
                    let merged = !inside
                        && record
                            .branch
                            .as_deref()
                            .is_some_and(|b| aside_git::is_merged(&record.repo, b));
                    if !files.is_empty() && !merged {
                        return Err(OpError::Refused(format!(
                            "session {} holds work that was neither applied nor merged ({} changed file{}); `aside apply {}` or `aside merge {}` it first, or pass --force to discard it",
                            record.id, files.len(), if files.len() == 1 { "" } else { "s" }, record.id, record.id
                        )));
                    }
                }
            }
        }
        self.stop(record)?;
        if record.mode == Mode::Workspace {
            aside_git::drop_snapshot(&record.repo, record.id.as_str());
        }
        if record.mode == Mode::Isolated && record.worktree.is_dir() {
            self.teardown(record)?;
        }
        if record.mode == Mode::Isolated {
            aside_git::remove_worktree(
                &record.repo,
                &record.worktree,
                record.branch.as_deref(),
                keep_branch,
            )?;
        }
        // Its kept record first: a crash after it leaves a session the index still lists, never
        // a removed one that a rebuild would bring back.
        let _ = std::fs::remove_file(self.layout.record(&record.id));
        self.index.delete(&record.id)?;
        let _ = std::fs::remove_dir_all(self.layout.session_dir(&record.id));
        // The repository's last session takes its spare worktrees with it.
        if record.mode == Mode::Isolated
            && !self.index.list(true)?.iter().any(|r| r.repo == record.repo)
        {
            let _ = aside_git::pool_clear(&record.repo);
        }
        Ok(())
    }

    /// Refuses when `repo`'s `.aside.toml` has commands of that kind which the user has not
    /// trusted as they stand (`aside_core::trust`).
    pub fn check_trusted(&self, repo: &Path, which: Commands) -> Result<()> {
        let config = aside_core::config::RepoConfig::load(repo)
            .map_err(|e| OpError::Refused(e.to_string()))?;
        let asks = Asks::of(&config);
        let commands = match which {
            Commands::Setup => &asks.setup,
            Commands::Teardown => &asks.teardown,
        };
        if commands.is_empty() || self.trust().trusts(repo, &asks) {
            return Ok(());
        }
        let user = Config::load_user().map(|c| c.defaults).unwrap_or_default();
        Err(OpError::Untrusted(Box::new(Untrusted {
            repo: repo.to_path_buf(),
            lines: asks.describe(&user),
            asks,
        })))
    }

    /// The user's trust records for repositories' `.aside.toml`.
    pub fn trust(&self) -> TrustStore {
        TrustStore::new(&self.layout.home)
    }

    /// The repository's `[teardown] run` commands, in the session's worktree, before it goes;
    /// the first that fails stops the removal, with its output.
    fn teardown(&self, record: &SessionRecord) -> Result<()> {
        self.check_trusted(&record.repo, Commands::Teardown)?;
        let commands = aside_core::config::RepoConfig::load(&record.repo)
            .map_err(|e| OpError::Refused(e.to_string()))?
            .teardown
            .run;
        let ports = std::fs::read_to_string(self.layout.ports(&record.id)).unwrap_or_default();
        let mut parts = ports.split_whitespace();
        let (first, last) = (parts.next().unwrap_or(""), parts.next().unwrap_or(""));
        for command in commands {
            let out = std::process::Command::new("sh")
                .args(["-c", &command])
                .current_dir(&record.worktree)
                .env("ASIDE_PORT", first)
                .env("ASIDE_PORT_RANGE", format!("{first}-{last}"))
                .stdin(std::process::Stdio::null())
                .output()
                .map_err(|e| OpError::Internal(format!("cannot run teardown `{command}`: {e}")))?;
            if !out.status.success() {
                let mut text = String::from_utf8_lossy(&out.stdout).into_owned();
                text.push_str(&String::from_utf8_lossy(&out.stderr));
                return Err(OpError::Refused(format!(
                    "teardown `{command}` failed ({}); session {} is kept. Its output: {}",
                    out.status,
                    record.id,
                    text.trim()
                )));
            }
        }
        Ok(())
    }

    /// The plan a plan session answered with (its last message, else its plan entries).
    pub fn plan_of(&self, record: &SessionRecord) -> Result<String> {
        let events = aside_store::EventLog::open(&self.layout, &record.id)?.since(0)?;
        Ok(plan_of(&events))
    }

    /// Starts the task of a finished plan session in the background with the accepted plan
    /// (`plan`, or the one the agent answered with), in code mode; the plan session is released
    /// and archived, kept for the record.
    pub fn start_plan(
        &self,
        record: &SessionRecord,
        plan: Option<String>,
        config: &Config,
    ) -> Result<SessionRecord> {
        if record.kind != SessionKind::Plan {
            return Err(OpError::Refused(format!(
                "session {} is not a plan; start a plan with aside plan \"<task>\" or \"Plan first\"",
                record.id
            )));
        }
        let status = self.status(record);
        if status != Status::Completed {
            return Err(OpError::Refused(format!(
                "the plan of {} is not ready (the session is {status})",
                record.id
            )));
        }
        let plan = match plan.filter(|p| !p.trim().is_empty()) {
            Some(plan) => plan,
            None => self.plan_of(record)?,
        };
        if plan.trim().is_empty() {
            return Err(OpError::Refused(format!(
                "the agent answered without a plan; see aside show {}",
                record.id
            )));
        }
        let started = self.create(
            NewSession {
                task: format!(
                    "{}\n\n(aside: the user accepted this plan for the task; carry it out.)\n\n{}\n",
                    record.task,
                    plan.trim()
                ),
                agent: record.agent.clone(),
                mode: Mode::Isolated,
                base: None,
                name: None,
                approve: None,
                dir: record.repo.clone(),
                kind: SessionKind::Task,
                model: None,
                title: Some(record.task.lines().next().unwrap_or_default().to_string()),
                no_submodules: self.layout.no_submodules(&record.id).exists(),
            },
            config,
        )?;
        let _ = self.stop(record);
        self.archive(record, true)?;
        Ok(started)
    }

    /// Forks a session: a new isolated task session that goes on from its conversation (`extra`
    /// added); the session itself stays as it is.
    pub fn fork(
        &self,
        record: &SessionRecord,
        extra: Option<&str>,
        config: &Config,
    ) -> Result<SessionRecord> {
        self.continue_in_background(record, extra, config, false)
    }

    /// Hands a chat on to a new isolated task session and stops the chat: the background agent
    /// goes on with the chat's own agent session where the agent can load it (the chat no
    /// longer writes to it), else with a transcript.
    pub fn hand_off(
        &self,
        record: &SessionRecord,
        extra: Option<&str>,
        config: &Config,
    ) -> Result<SessionRecord> {
        self.stop(record)?;
        self.continue_in_background(record, extra, config, true)
    }

    fn continue_in_background(
        &self,
        record: &SessionRecord,
        extra: Option<&str>,
        config: &Config,
        take_over: bool,
    ) -> Result<SessionRecord> {
        let conversation =
            import::from_aside_log(&aside_store::EventLog::open(&self.layout, &record.id)?)?;
        if conversation.turns.is_empty() {
            return Err(OpError::Refused(format!(
                "session {} has no conversation yet to continue",
                record.id
            )));
        }
        let extra = extra.filter(|e| !e.trim().is_empty());
        let title = match extra {
            Some(extra) => extra.lines().next().unwrap_or_default().to_string(),
            None => format!("Continue: {}", record.title),
        };
        let transcript = conversation.handoff_prompt(extra, HANDOFF_CHARS);
        let new = |task: String| NewSession {
            task,
            agent: record.agent.clone(),
            mode: Mode::Isolated,
            base: None,
            name: None,
            approve: None,
            dir: record.repo.clone(),
            kind: SessionKind::Task,
            model: None,
            title: Some(title.clone()),
            no_submodules: self.layout.no_submodules(&record.id).exists(),
        };
        // The agent takes the conversation as its own where it can: the built-in agent a copy of
        // its stored session, other agents (once the chat has stopped) the chat's own session,
        // loaded in the new worktree. The model sees the same messages (tool calls and results
        // included), not a transcript of them; the transcript is kept for an agent that then
        // fails to load it.
        let copy = self.copy_builtin_session(record);
        let own = match &copy {
            Some(copy) => Some(copy.clone()),
            None if take_over => record.acp_session_id.clone(),
            None => None,
        };
        let Some(own) = own else {
            return self.create(new(transcript), config);
        };
        let task = match extra {
            Some(extra) => format!("{FORK_NOTE}\n\n{extra}"),
            None => FORK_NOTE.to_string(),
        };
        let created = self.create_with(
            new(task),
            config,
            Some(TakeOver {
                agent_session: own,
                transcript: Some(transcript),
                history: Vec::new(),
            }),
        );
        if let (Err(_), Some(copy)) = (&created, copy) {
            let _ = std::fs::remove_dir_all(
                aside_core::paths::agent_store(&self.layout.home).join(copy),
            );
        }
        created
    }

    /// A copy, under a new id, of the built-in agent's stored session behind `record`, in code
    /// mode; None when `record` is not a built-in agent session with a stored conversation.
    fn copy_builtin_session(&self, record: &SessionRecord) -> Option<String> {
        if record.agent != aside_core::agents::BUILTIN {
            return None;
        }
        let store = aside_core::paths::agent_store(&self.layout.home);
        let from = store.join(record.acp_session_id.as_deref()?);
        let mut meta: serde_json::Value =
            serde_json::from_slice(&std::fs::read(from.join("meta.json")).ok()?).ok()?;
        let messages = std::fs::read(from.join("messages.json")).ok()?;
        // The agent's ids are its own (32 characters of [0-9a-z]); four random aside ids make one.
        let id = format!(
            "{}{}{}{}",
            SessionId::random(),
            SessionId::random(),
            SessionId::random(),
            SessionId::random()
        );
        let to = store.join(&id);
        std::fs::create_dir(&to).ok()?;
        meta["id"] = id.clone().into();
        meta["mode"] = "code".into();
        let copied = std::fs::write(to.join("meta.json"), serde_json::to_vec_pretty(&meta).ok()?)
            .and_then(|()| std::fs::write(to.join("messages.json"), &messages))
            .and_then(|()| {
                match std::fs::copy(from.join("updates.jsonl"), to.join("updates.jsonl")) {
                    Err(e) if e.kind() != std::io::ErrorKind::NotFound => Err(e),
                    _ => Ok(()),
                }
            });
        if copied.is_err() {
            let _ = std::fs::remove_dir_all(&to);
            return None;
        }
        Some(id)
    }

    /// Hides (or shows again) a session.
    pub fn archive(&self, record: &SessionRecord, archived: bool) -> Result<()> {
        Ok(self.index.update(&record.id, Change::Archived(archived))?)
    }

    /// The repositories sessions were started in, most recent first.
    pub fn repos(&self) -> Result<Vec<PathBuf>> {
        Ok(self.index.repos()?)
    }
}

/// The first words of a background session that goes on with a built-in agent's conversation
/// (its history is the agent's own), before the user's extra instructions.
pub const FORK_NOTE: &str = "(aside: this conversation now goes on in the background, in a new worktree of the repository: the working directory above. Nobody will answer questions until you finish, so carry on with the task on your own.)";

/// Where session port ranges start, and how many ports each session gets.
const PORT_BASE: u16 = 20_000;
const PORT_BLOCK: u16 = 10;

/// How much of a conversation a hand-off prompt carries (the newest turns, whole).
pub const HANDOFF_CHARS: usize = 40_000;

/// The plan in a plan session's events: its last message, else its plan entries.
pub fn plan_of(events: &[aside_core::Event]) -> String {
    use aside_protocol::events::acp::{ContentBlock, SessionUpdate};
    use aside_protocol::events::Body;
    let mut message = String::new();
    let mut entries: Vec<String> = Vec::new();
    for event in events {
        match Body::of(event) {
            Body::Prompt(_) => message.clear(),
            Body::Update(update) => match *update {
                SessionUpdate::AgentMessageChunk(chunk) => {
                    if let ContentBlock::Text(text) = chunk.content {
                        message.push_str(&text.text);
                    }
                }
                SessionUpdate::Plan(plan) => {
                    entries = plan
                        .entries
                        .iter()
                        .enumerate()
                        .map(|(n, e)| format!("{}. {}", n + 1, e.content))
                        .collect();
                }
                _ => {}
            },
            _ => {}
        }
    }
    if message.trim().is_empty() {
        entries.join("\n")
    } else {
        message.trim().to_string()
    }
}

/// Whether `path` is inside a git repository.
pub fn is_repo(path: &Path) -> bool {
    aside_git::repo_root(path).is_ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_plan_is_the_last_answer_else_the_plan_entries() {
        let event = |seq, kind: &str, data| aside_core::Event {
            seq,
            ts: String::new(),
            kind: kind.into(),
            data,
            piece: None,
        };
        let chunk = |text: &str| json!({"sessionUpdate": "agent_message_chunk", "content": {"type": "text", "text": text}});
        let events = [
            event(1, "prompt", json!({"text": "task"})),
            event(2, "agent_message_chunk", chunk("1. Add a flag\n")),
            event(3, "agent_message_chunk", chunk("2. Document it")),
        ];
        assert_eq!(plan_of(&events), "1. Add a flag\n2. Document it");
        let entries = [event(
            1,
            "plan",
            json!({"sessionUpdate": "plan", "entries": [
                {"content": "Read", "priority": "medium", "status": "pending"},
                {"content": "Write", "priority": "medium", "status": "pending"}]}),
        )];
        assert_eq!(plan_of(&entries), "1. Read\n2. Write");
    }

    #[test]
    fn slugs_and_names_are_branch_safe() {
        assert_eq!(
            slug("Fix the login bug in auth.rs, please!"),
            "fix-the-login-bug-in"
        );
        assert_eq!(slug("???"), "task");
        assert!(valid_name("fix-1.2_x"));
        assert!(!valid_name("../x") && !valid_name("-x") && !valid_name("a b"));
    }
}
