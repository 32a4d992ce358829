//! What a background session is: its id, status, mode, approval policy and stored record.

use serde::{Deserialize, Serialize};
use std::path::PathBuf;

/// A short, typable session id (8 lowercase letters and digits), resolvable by unique prefix.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(transparent)]
pub struct SessionId(pub String);

impl SessionId {
    /// A new random id.
    pub fn random() -> SessionId {
        const ALPHABET: &[u8] = b"0123456789abcdefghijklmnopqrstuvwxyz";
        let mut bytes = [0u8; 8];
        fill_random(&mut bytes);
        SessionId(
            bytes
                .iter()
                .map(|b| ALPHABET[usize::from(*b) % ALPHABET.len()] as char)
                .collect(),
        )
    }

    /// Whether `s` has the shape of an id (so it is safe as a file name).
    pub fn is_valid(s: &str) -> bool {
        !s.is_empty()
            && s.len() <= 32
            && s.chars()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit())
    }

    /// The id as text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Display for SessionId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

fn fill_random(bytes: &mut [u8]) {
    use std::io::Read as _;
    let ok = std::fs::File::open("/dev/urandom")
        .and_then(|mut f| f.read_exact(bytes))
        .is_ok();
    if !ok {
        // No /dev/urandom: time and pid still make collisions unlikely for a local tool.
        let seed = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_nanos())
            .unwrap_or(0)
            ^ u128::from(std::process::id()) << 64;
        for (i, b) in bytes.iter_mut().enumerate() {
            *b = (seed >> ((i * 13) % 120)) as u8;
        }
    }
}

macro_rules! string_enum {
    ($(#[$meta:meta])* $name:ident { $($(#[$vmeta:meta])* $variant:ident = $text:literal),* $(,)? }) => {
        $(#[$meta])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
        #[serde(rename_all = "snake_case")]
        pub enum $name { $($(#[$vmeta])* $variant),* }

        impl $name {
            /// Every value, in order.
            pub const ALL: &'static [$name] = &[$($name::$variant),*];

            /// The name used in the CLI, the store and JSON.
            pub fn as_str(self) -> &'static str {
                match self { $($name::$variant => $text),* }
            }

            /// Parses the name used in the CLI, the store and JSON.
            pub fn parse(s: &str) -> Option<$name> {
                match s { $($text => Some($name::$variant),)* _ => None }
            }
        }

        impl std::fmt::Display for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str(self.as_str())
            }
        }
    };
}

string_enum! {
    /// Where a session is in its life.
    Status {
        /// Waiting for a free slot.
        Queued = "queued",
        /// Its worktree and agent are being prepared.
        Starting = "starting",
        /// The agent is working on a turn.
        Running = "running",
        /// The agent waits for a permission answer.
        NeedsInput = "needs_input",
        /// The last turn ended; follow-ups are welcome.
        Completed = "completed",
        /// The agent or the host failed; the reason is recorded.
        Failed = "failed",
        /// The user cancelled the turn.
        Cancelled = "cancelled",
        /// Its host died mid-work; `aside resume` continues it.
        Interrupted = "interrupted",
        /// The agent's own terminal UI has the session (`aside attach --native`); aside takes it
        /// back when that exits.
        InTerminal = "in_terminal",
    }
}

impl Status {
    /// Whether a host should be working on the session in this status.
    pub fn is_active(self) -> bool {
        matches!(
            self,
            Status::Queued | Status::Starting | Status::Running | Status::NeedsInput
        )
    }
}

string_enum! {
    /// What a session is for.
    #[derive(Default)]
    SessionKind {
        /// A task worked on in the background (`aside new`).
        #[default]
        Task = "task",
        /// A plan made in plan mode (read-only) before a task (`aside plan`).
        Plan = "plan",
        /// A conversation in the foreground (`aside chat`).
        Chat = "chat",
    }
}

string_enum! {
    /// How a session is isolated from the user's workspace.
    Mode {
        /// In its own git worktree on branch `aside/<name>`.
        Isolated = "isolated",
        /// In the repository itself.
        Workspace = "workspace",
    }
}

string_enum! {
    /// Which permission requests are answered without asking the user.
    Approve {
        /// Everything is allowed.
        All = "all",
        /// File edits (and reads) are allowed; commands and anything else ask.
        Edits = "edits",
        /// Everything but reads asks.
        Ask = "ask",
    }
}

impl Approve {
    /// How much it asks about: a higher value is stricter (all < edits < ask).
    pub fn strictness(self) -> u8 {
        match self {
            Approve::All => 0,
            Approve::Edits => 1,
            Approve::Ask => 2,
        }
    }

    /// The policy a session in `mode` gets when nobody chose one: everything inside its own
    /// worktree when isolated, every action asked about in the user's own checkout.
    pub fn default_for(mode: Mode) -> Approve {
        match mode {
            Mode::Isolated => Approve::All,
            Mode::Workspace => Approve::Ask,
        }
    }
}

/// The stored record of a session.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct SessionRecord {
    /// Its id.
    pub id: SessionId,
    /// Short title (first line of the task).
    pub title: String,
    /// The whole task.
    pub task: String,
    /// Agent name (builtin, copilot, …).
    pub agent: String,
    /// The agent command line, program first.
    pub agent_command: Vec<String>,
    /// Isolation.
    pub mode: Mode,
    /// Approval policy.
    pub approve: Approve,
    /// Status as the host last wrote it.
    pub status: Status,
    /// Why it failed, when it did.
    pub reason: Option<String>,
    /// Top of the repository.
    pub repo: PathBuf,
    /// Where the agent works: the worktree, or the repo in workspace mode.
    pub worktree: PathBuf,
    /// Its branch (isolated mode).
    pub branch: Option<String>,
    /// The commit its branch started from.
    pub base: Option<String>,
    /// RFC 3339.
    pub created_at: String,
    /// RFC 3339.
    pub updated_at: String,
    /// Hidden from `ls` without `--all`.
    pub archived: bool,
    /// A permission request waits for an answer.
    pub pending_permission: bool,
    /// Files changed against the base, as of the last checkpoint.
    pub changed_files: u64,
    /// Lines added against the base, as of the last checkpoint.
    #[serde(default)]
    pub lines_added: u64,
    /// Lines removed against the base, as of the last checkpoint.
    #[serde(default)]
    pub lines_removed: u64,
    /// The agent's own session id, for resume.
    pub acp_session_id: Option<String>,
    /// `applied` or `merged` once its work came back.
    pub integrated: Option<String>,
    /// What the session is for.
    #[serde(default)]
    pub kind: SessionKind,
    /// How it was asked to run, beyond its agent and mode.
    #[serde(default)]
    pub settings: Settings,
    /// What it used so far, in brief.
    #[serde(default)]
    pub usage: crate::usage::Summary,
}

/// How a session was asked to run, beyond its agent and mode: set when it is made.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Settings {
    /// The block of ports its processes may use, first and last (`ASIDE_PORT`,
    /// `ASIDE_PORT_RANGE`); no other session has them.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ports: Option<(u16, u16)>,
    /// The model asked for (`aside new --model`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub model: Option<String>,
    /// Its worktree is made without the repository's submodules (`--no-submodules`).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub no_submodules: bool,
    /// Whether it runs in aside's sandbox, when its start said (`--sandbox`, `--no-sandbox`);
    /// the user's config decides otherwise.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sandbox: Option<bool>,
    /// Its budget, when its start (or `aside resume --budget`) said; the user's config (and
    /// the repository's) decide otherwise.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub budget: Option<crate::usage::Budget>,
    /// The session it goes on from (a plan it carries out, a fork, a chat handed on): its
    /// lineage, whose usage adds up with its own.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub from: Option<SessionId>,
    /// Where its worktree starts when it continues a session moved from another machine
    /// (`aside move`): that session's branch and its uncommitted work.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub start: Option<Start>,
}

/// A moved session's work: its worktree starts on branch commit `tip` with `snapshot` (a commit
/// whose tree is the worktree as it was, uncommitted work included) checked out, uncommitted.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Start {
    /// The commit its branch was at.
    pub tip: String,
    /// Its worktree as it was, as a commit (child of `tip`).
    pub snapshot: String,
}

impl Settings {
    /// The session's ports as its processes see them: `ASIDE_PORT` (the first) and
    /// `ASIDE_PORT_RANGE` (`FIRST-LAST`); none when it has no block.
    pub fn port_env(&self) -> Vec<(String, String)> {
        match self.ports {
            Some((first, last)) => vec![
                ("ASIDE_PORT".to_string(), first.to_string()),
                ("ASIDE_PORT_RANGE".to_string(), format!("{first}-{last}")),
            ],
            None => Vec::new(),
        }
    }
}

/// One stored event of a session's log.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Event {
    /// Position in the session's log, from 1.
    pub seq: u64,
    /// RFC 3339.
    pub ts: String,
    /// ACP's `sessionUpdate` name for agent updates (agent_message_chunk, tool_call, plan, …),
    /// or one of aside's: prompt, status, permission_request, permission_answer, turn_end,
    /// checkpoint, error.
    pub kind: String,
    /// The payload: the ACP update itself for agent updates.
    pub data: serde_json::Value,
    /// For streamed text only while it streams: the host stores a message's chunks as one row
    /// (flushed every quarter second), and sends each chunk to live readers as piece N of the
    /// row `seq` it will be part of. Stored events have none.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub piece: Option<u32>,
}

/// RFC 3339 time of now, in UTC with milliseconds.
pub fn now() -> String {
    crate::time::rfc3339(std::time::SystemTime::now())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_are_short_and_valid() {
        let id = SessionId::random();
        assert_eq!(id.as_str().len(), 8);
        assert!(SessionId::is_valid(id.as_str()));
        assert!(!SessionId::is_valid("../x"));
    }

    #[test]
    fn now_is_rfc3339() {
        let t = now();
        assert_eq!(t.len(), 24, "{t}");
        assert!(t.starts_with("20") && t.ends_with('Z'));
    }

    #[test]
    fn statuses_round_trip() {
        for s in Status::ALL {
            assert_eq!(Status::parse(s.as_str()), Some(*s));
        }
    }
}
