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
pub mod machines;
pub mod remote;
pub use moving::Packed;
mod takeover;
pub mod terminal;

mod continuation;
mod control;
mod create;
mod integrate;
mod moving;
mod remove;
mod views;

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
    // (A leading `=` is quoted: zsh, macOS's login shell, expands `=cmd` to a path.)
    if !s.is_empty()
        && !s.starts_with('=')
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
    /// Whether it runs in aside's sandbox (`--sandbox`, `--no-sandbox`); None: as the user's
    /// config says.
    pub sandbox: Option<bool>,
    /// Its budget (`--budget`); None: the user's config (narrowed by the repository's).
    pub budget: Option<aside_core::usage::Budget>,
    /// The session it goes on from (a plan started, a fork, a chat handed on).
    pub from: Option<SessionId>,
}

/// An agent session a new aside session goes on with.
struct TakeOver {
    /// The agent's own session id, loaded (or resumed) by the host.
    agent_session: Option<String>,
    /// The conversation as a hand-off prompt, sent instead when the agent cannot load it.
    transcript: Option<String>,
    /// Events to store first: the conversation so far, when it is not in aside's log yet.
    history: Vec<(String, Value)>,
    /// Where the worktree starts (a moved session's work).
    start: Option<aside_core::session::Start>,
}

/// A session as an id names it: aside's own, or one started in an agent's own CLI.
pub enum Located {
    /// One of aside's sessions.
    Own(Box<SessionRecord>),
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
    /// What it used so far: tokens, and the cost when its models' prices are known.
    pub usage: aside_core::usage::Summary,
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
            Located::Own(record) => Ok(*record),
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
            other => return Ok(Located::Own(Box::new(other?))),
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
                return Ok(Located::Own(Box::new(owning.remove(0))));
            }
        }
        match external::find(self.externals(), prefix) {
            Ok(s) => Ok(Located::External(s)),
            Err(external::NotFound::Ambiguous(why)) => Err(OpError::NotFound(why)),
            Err(external::NotFound::None(_)) => Err(OpError::NotFound(format!(
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
}

/// The first words of a background session that goes on with a built-in agent's conversation
/// (its history is the agent's own), before the user's extra instructions.
pub const FORK_NOTE: &str = "(aside: this conversation now goes on in the background, in a new worktree of the repository: the working directory above. Nobody will answer questions until you finish, so carry on with the task on your own.)";

/// Where session port ranges start, and how many ports each session gets.
const PORT_BASE: u16 = 20_000;
const PORT_BLOCK: u16 = 10;

/// How much of a conversation a hand-off prompt carries (the newest turns, whole).
pub const HANDOFF_CHARS: usize = aside_protocol::handoff::LIMIT_CHARS;

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
