//! Agent sessions started outside aside — in Copilot CLI, Codex or Claude Code in a terminal —
//! found in the tools' own files, so that aside lists, shows and continues them.
//!
//! Each tool keeps a session as one append-only JSON-lines file (formats and liveness markers:
//! `shared/reference/session-formats.md`):
//! - Copilot CLI: `$COPILOT_HOME/session-state/<id>/events.jsonl` (+ `workspace.yaml`);
//! - Codex: `$CODEX_HOME/sessions/YYYY/MM/DD/rollout-<time>-<id>.jsonl`;
//! - Claude Code: `$CLAUDE_CONFIG_DIR/projects/<dir>/<id>.jsonl`.
//!
//! [`scan`] stats every file and reads only the head of the new or changed ones (their id,
//! directory, branch and first user message), keeping what it read in a cache keyed by path,
//! size and modification time; whether a tool is live on a session is worked out fresh each time
//! from the process table (pids and start times), never from a marker file alone.

mod cache;
mod claude;
mod codex;
mod copilot;

use crate::import::{self, Conversation, Format};
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};
use std::time::SystemTime;

/// A tool that writes sessions aside can read.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Tool {
    /// GitHub Copilot CLI.
    Copilot,
    /// OpenAI Codex.
    Codex,
    /// Claude Code.
    Claude,
}

impl Tool {
    /// The name of aside's agent preset for it, which also names it in lists.
    pub fn agent(self) -> &'static str {
        match self {
            Tool::Copilot => "copilot",
            Tool::Codex => "codex",
            Tool::Claude => "claude",
        }
    }

    fn format(self) -> Format {
        match self {
            Tool::Copilot => Format::CopilotCli,
            Tool::Codex => Format::Codex,
            Tool::Claude => Format::ClaudeCode,
        }
    }

    /// The command that opens the tool's own terminal UI on session `id`.
    pub fn resume_command(self, id: &str, summary: &Summary) -> Vec<String> {
        match self {
            Tool::Copilot => vec!["copilot".into(), format!("--resume={id}")],
            Tool::Codex => {
                let mut command = vec!["codex".to_string(), "resume".into()];
                // Sessions of `codex exec` are hidden from `codex resume` without it.
                if summary.client.as_deref() == Some("codex_exec") {
                    command.push("--include-non-interactive".into());
                }
                command.push(id.to_string());
                command
            }
            Tool::Claude => vec!["claude".into(), "--resume".into(), id.to_string()],
        }
    }
}

/// Where each tool keeps its state.
#[derive(Debug, Clone)]
pub struct Homes {
    /// `$COPILOT_HOME`, else `~/.copilot`.
    pub copilot: PathBuf,
    /// `$CODEX_HOME`, else `~/.codex`.
    pub codex: PathBuf,
    /// `$CLAUDE_CONFIG_DIR`, else `~/.claude`.
    pub claude: PathBuf,
}

impl Homes {
    /// From the environment, as the tools themselves read it.
    pub fn from_env() -> Homes {
        let var = |name: &str| {
            std::env::var_os(name)
                .filter(|v| !v.is_empty())
                .map(PathBuf::from)
        };
        let home = var("HOME").unwrap_or_else(|| PathBuf::from("/"));
        Homes {
            copilot: var("COPILOT_HOME").unwrap_or_else(|| home.join(".copilot")),
            codex: var("CODEX_HOME").unwrap_or_else(|| home.join(".codex")),
            claude: var("CLAUDE_CONFIG_DIR").unwrap_or_else(|| home.join(".claude")),
        }
    }
}

/// What the head of a session file says about it (cached).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Summary {
    /// The tool's own session id.
    pub id: String,
    /// The directory it works in.
    pub cwd: PathBuf,
    /// Its name, else its first user message (one line).
    pub title: String,
    /// The git branch it started on.
    pub branch: Option<String>,
    /// When it started (RFC 3339), when the file says.
    pub created_at: Option<String>,
    /// Which client wrote it: Copilot's `client_name`, Codex's `originator`, Claude's
    /// `entrypoint`.
    pub client: Option<String>,
}

/// A session started outside aside.
#[derive(Debug, Clone)]
pub struct External {
    /// The tool that wrote it.
    pub tool: Tool,
    /// What its file says.
    pub summary: Summary,
    /// Its file.
    pub file: PathBuf,
    /// When its file last changed.
    pub modified: SystemTime,
    /// Whether the tool is live on it now (a terminal UI, `-p`, `exec`).
    pub live: bool,
}

impl External {
    /// Its last activity, RFC 3339.
    pub fn updated_at(&self) -> String {
        rfc3339(self.modified)
    }

    /// `running` while the tool is live on it, else `idle`.
    pub fn status(&self) -> &'static str {
        if self.live {
            "running"
        } else {
            "idle"
        }
    }

    /// The whole conversation, and how many lines of the file could not be read.
    pub fn conversation(&self) -> std::io::Result<(Conversation, usize)> {
        let bytes = std::fs::read(&self.file)?;
        Ok(import::read_tool_lines(&bytes, self.tool.format()))
    }
}

pub use aside_core::time::rfc3339;

/// How much of a new file is read for its summary.
const HEAD: usize = 256 * 1024;

/// The first `HEAD` bytes of `path`.
fn head(path: &Path) -> Option<Vec<u8>> {
    use std::io::Read as _;
    let mut bytes = Vec::new();
    std::fs::File::open(path)
        .ok()?
        .take(HEAD as u64)
        .read_to_end(&mut bytes)
        .ok()?;
    Some(bytes)
}

/// The first line of the first user turn of the conversation in `bytes`, cut to 100 characters.
fn first_message(bytes: &[u8], tool: Tool) -> Option<String> {
    let (conversation, _) = import::read_tool_lines(bytes, tool.format());
    let title = conversation.title.clone().or_else(|| {
        conversation
            .turns
            .iter()
            .find(|t| t.role == import::Role::User)
            .map(|t| t.text.clone())
    })?;
    let line = title.lines().find(|l| !l.trim().is_empty())?.trim();
    Some(line.chars().take(100).collect())
}

/// Every session file of every tool under `homes`, with the tool that wrote it.
fn files(homes: &Homes) -> Vec<(Tool, PathBuf)> {
    let mut out: Vec<(Tool, PathBuf)> = Vec::new();
    out.extend(
        copilot::files(&homes.copilot)
            .into_iter()
            .map(|f| (Tool::Copilot, f)),
    );
    out.extend(
        codex::files(&homes.codex)
            .into_iter()
            .map(|f| (Tool::Codex, f)),
    );
    out.extend(
        claude::files(&homes.claude)
            .into_iter()
            .map(|f| (Tool::Claude, f)),
    );
    out
}

fn summarize(tool: Tool, file: &Path) -> Option<Summary> {
    let bytes = head(file)?;
    match tool {
        Tool::Copilot => copilot::summarize(file, &bytes),
        Tool::Codex => codex::summarize(file, &bytes),
        Tool::Claude => claude::summarize(file, &bytes),
    }
}

/// The sessions of every tool under `homes`, newest activity first, their summaries cached in
/// `cache_file`. Files that are not (yet) sessions — no user message so far, an empty shell —
/// are left out; nothing unreadable is fatal.
pub fn scan(homes: &Homes, cache_file: &Path) -> Vec<External> {
    let mut cache = cache::Cache::load(cache_file);
    let mut found = Vec::new();
    for (tool, file) in files(homes) {
        let Ok(meta) = std::fs::metadata(&file) else {
            continue;
        };
        let modified = meta.modified().unwrap_or(SystemTime::UNIX_EPOCH);
        let summary = cache.summary(&file, meta.len(), modified, || summarize(tool, &file));
        if let Some(summary) = summary {
            found.push(External {
                tool,
                summary,
                file,
                modified,
                live: false,
            });
        }
    }
    cache.save(cache_file);
    if !found.is_empty() {
        let processes = Processes::now();
        let claude_markers = claude::markers(&homes.claude);
        for session in &mut found {
            session.live = match session.tool {
                Tool::Copilot => copilot::live(session, &processes),
                Tool::Codex => codex::live(session, &homes.codex, &processes),
                Tool::Claude => claude::live(session, &claude_markers, &processes),
            };
        }
    }
    found.sort_by_key(|s| std::cmp::Reverse(s.modified));
    found
}

/// The session whose id starts with `prefix` (at least 4 characters); an error says why there
/// is none, or which ones match.
pub fn find(sessions: Vec<External>, prefix: &str) -> Result<External, NotFound> {
    if prefix.len() < 4 {
        return Err(NotFound::None(format!(
            "no session matches `{prefix}`; give at least 4 characters of an agent's session id"
        )));
    }
    let mut matching: Vec<External> = sessions
        .into_iter()
        .filter(|s| s.summary.id.starts_with(prefix))
        .collect();
    match matching.len() {
        0 => Err(NotFound::None(format!(
            "no session matches `{prefix}`; `aside ls --all-repos` lists them all"
        ))),
        1 => Ok(matching.remove(0)),
        _ => Err(NotFound::Ambiguous(format!(
            "`{prefix}` matches {} sessions ({}); give more of the id",
            matching.len(),
            matching
                .iter()
                .map(|s| format!("{} {}", s.tool.agent(), s.summary.id))
                .collect::<Vec<_>>()
                .join(", ")
        ))),
    }
}

/// Why [`find`] found no one session, with what to tell the user.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum NotFound {
    /// None matches.
    #[error("{0}")]
    None(String),
    /// Several match: more of the id is needed.
    #[error("{0}")]
    Ambiguous(String),
}

/// The processes of this machine, read once per listing; the files each of the tools' own
/// processes has open, read once for all sessions.
pub(super) struct Processes {
    pub(super) list: Vec<aside_core::process::ProcessInfo>,
    open: std::collections::HashMap<i32, Vec<PathBuf>>,
}

impl Processes {
    fn now() -> Processes {
        Processes::of(aside_core::process::processes())
    }

    pub(super) fn of(list: Vec<aside_core::process::ProcessInfo>) -> Processes {
        let open = list
            .iter()
            .filter(|p| ["copilot", "codex", "claude"].iter().any(|t| p.runs(t)))
            .map(|p| (p.pid, aside_core::process::open_files(p.pid)))
            .collect();
        Processes { list, open }
    }

    fn open_files(&self, pid: i32) -> &[PathBuf] {
        self.open.get(&pid).map(Vec::as_slice).unwrap_or_default()
    }
}

/// Whether a process of the tool works on `session` now: one opened on it by id (`copilot
/// --resume=ID`, `codex resume ID`, `claude --resume ID`), or one that has its file (or, for
/// Copilot, a file of its directory: `inuse.<pid>.hold`) open — how `copilot -p` and `codex
/// exec`, which leave no marker, are seen. `one_shot` (Claude's `-p`, which keeps no file
/// open): a run of the tool that started in the session's directory just before the session
/// did. Another process of the tool in the same directory (an open terminal UI, Codex's
/// daemon, aside's own agent) is not this session's.
fn run_on(processes: &Processes, name: &str, one_shot: &[&str], session: &External) -> bool {
    let id = session.summary.id.as_str();
    let dir = session.file.parent();
    let created = session
        .summary
        .created_at
        .as_deref()
        .and_then(aside_core::time::parse_rfc3339);
    // Start times come from the boot time, known to the second (rounded down): a run that
    // started after the session's first line cannot show a time after it only within that.
    let started_it = |t: SystemTime| {
        created.is_some_and(|c| t <= c && t + std::time::Duration::from_secs(30) >= c)
    };
    processes.list.iter().any(|p| {
        if p.pid == std::process::id() as i32 || !p.runs(name) {
            return false;
        }
        let names_it = p.args.iter().skip(1).any(|a| a.contains(id));
        let one_shot_run = !one_shot.is_empty()
            && p.args
                .iter()
                .skip(1)
                .any(|a| one_shot.contains(&a.as_str()))
            && p.cwd.as_deref() == Some(session.summary.cwd.as_path())
            && started_it(p.started);
        names_it
            || one_shot_run
            || processes.open_files(p.pid).iter().any(|f| {
                f == &session.file
                    || (session.tool == Tool::Copilot && dir.is_some_and(|d| f.starts_with(d)))
            })
    })
}
