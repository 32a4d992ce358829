//! Sessions on other machines as every view sees them: the machines' lists (asked at once, the
//! last answer kept for when one cannot be reached), and one session followed live.
//!
//! A session there is followed through `aside stream ID --since SEQ` run over SSH: its events
//! exactly as they are stored there (streamed text as it streams), as JSON lines, and its record
//! when it changes without an event. Nothing listens on either machine for it: it is SSH's own
//! channel, and it ends with the connection. When the connection drops, the follower connects
//! again and asks for the events after the last one it handed on, so a view misses nothing and
//! repeats nothing; the session itself goes on there regardless.

use crate::machines;
use aside_core::config::MachineConfig;
use aside_core::Event;
use aside_protocol::client::Dedup;
use serde_json::Value;
use std::collections::BTreeMap;
use std::time::Duration;
use tokio::io::AsyncBufReadExt;

/// A session id that names a machine: `NAME:ID`.
pub fn split(id: &str) -> Option<(&str, &str)> {
    id.split_once(':').filter(|(name, id)| {
        aside_core::config::machine_name_ok(name) && aside_core::SessionId::is_valid(id)
    })
}

/// One machine's sessions: what it answered (or why it could not), and what it answered last,
/// for when it cannot.
pub struct MachineSessions {
    /// The machine's name.
    pub name: String,
    /// Its sessions now (marked with the machine, ids `NAME:ID`), or why they could not be asked.
    pub answer: Result<Vec<Value>, String>,
    /// Its sessions as last seen, when it could not be asked.
    pub seen: Vec<Value>,
}

impl MachineSessions {
    /// The sessions to show: those it answered, or those last seen marked `unreachable`.
    pub fn items(&self) -> Vec<Value> {
        match &self.answer {
            Ok(list) => list.clone(),
            Err(_) => self
                .seen
                .iter()
                .cloned()
                .map(|mut s| {
                    s["unreachable"] = Value::Bool(true);
                    s
                })
                .collect(),
        }
    }
}

/// Each session of `list` (as `aside ls --json` there printed it) named `NAME:ID` and marked with
/// its machine; sessions started in that machine's agents' CLIs are left there.
fn mark(name: &str, list: Vec<Value>) -> Vec<Value> {
    list.into_iter()
        .filter(|s| {
            s["external"] != true
                && s["id"]
                    .as_str()
                    .is_some_and(aside_core::SessionId::is_valid)
        })
        .map(|mut s| {
            let id = s["id"].as_str().unwrap_or_default().to_string();
            s["id"] = Value::String(format!("{name}:{id}"));
            s["machine"] = Value::String(name.to_string());
            s
        })
        .collect()
}

/// How long a machine may take to list its sessions: 20 s (`ASIDE_MACHINE_LIST_SECS` changes it).
pub fn list_limit() -> Duration {
    Duration::from_secs(
        std::env::var("ASIDE_MACHINE_LIST_SECS")
            .ok()
            .and_then(|s| s.parse().ok())
            .unwrap_or(20),
    )
}

/// The sessions of every machine in `machines`, each asked over SSH (`aside ls --json`) at once;
/// each answer is kept in `$ASIDE_HOME/machines/NAME.json` and shown from there when the machine
/// cannot be reached.
pub fn sessions(machines: &BTreeMap<String, MachineConfig>, all: bool) -> Vec<MachineSessions> {
    let cache_dir = aside_core::paths::aside_home().join("machines");
    let asked: Vec<_> = machines
        .iter()
        .map(|(name, machine)| {
            let (name, machine) = (name.clone(), machine.clone());
            std::thread::spawn(move || {
                let mut args = vec!["ls", "--json"];
                if all {
                    args.push("--all");
                }
                let line = machines::aside_line(&machine, &args);
                let answer = machines::run_within(&machine, &line, list_limit()).and_then(|out| {
                    serde_json::from_str::<Vec<Value>>(&out)
                        .map_err(|e| format!("its aside answered something unexpected ({e})"))
                });
                (name, answer)
            })
        })
        .collect();
    asked
        .into_iter()
        .filter_map(|t| t.join().ok())
        .map(|(name, answer)| {
            let cache = cache_dir.join(format!("{name}.json"));
            match answer {
                Ok(list) => {
                    let _ = aside_core::paths::write_private(
                        &cache,
                        serde_json::to_string(&list).unwrap_or_default().as_bytes(),
                    );
                    MachineSessions {
                        answer: Ok(mark(&name, list)),
                        seen: Vec::new(),
                        name,
                    }
                }
                Err(why) => {
                    let seen = std::fs::read(&cache)
                        .ok()
                        .and_then(|b| serde_json::from_slice::<Vec<Value>>(&b).ok())
                        .unwrap_or_default();
                    MachineSessions {
                        answer: Err(why),
                        seen: mark(&name, seen),
                        name,
                    }
                }
            }
        })
        .collect()
}

/// A session as a machine's `ls --json` lists it, owned, to be read as a local one's view.
#[derive(Debug, Clone, serde::Deserialize)]
pub struct Listed {
    pub id: String,
    pub title: String,
    #[serde(default)]
    pub task: String,
    pub agent: String,
    pub mode: String,
    pub approve: String,
    pub status: String,
    #[serde(default)]
    pub host: bool,
    pub reason: Option<String>,
    pub repo: std::path::PathBuf,
    pub worktree: std::path::PathBuf,
    pub branch: Option<String>,
    pub base: Option<String>,
    pub created_at: String,
    pub updated_at: String,
    #[serde(default)]
    pub changed_files: u64,
    #[serde(default)]
    pub lines_added: u64,
    #[serde(default)]
    pub lines_removed: u64,
    #[serde(default)]
    pub pending_permission: bool,
    #[serde(default)]
    pub archived: bool,
    pub integrated: Option<String>,
    #[serde(default)]
    pub kind: String,
    pub agent_session_id: Option<String>,
    #[serde(default)]
    pub usage: aside_core::usage::Summary,
}

impl Listed {
    /// It as a local session's view.
    pub fn view(&self) -> crate::SessionView<'_> {
        crate::SessionView {
            id: &self.id,
            title: &self.title,
            task: &self.task,
            agent: &self.agent,
            mode: &self.mode,
            approve: &self.approve,
            status: &self.status,
            host: self.host,
            reason: self.reason.as_deref(),
            repo: &self.repo,
            worktree: &self.worktree,
            branch: self.branch.as_deref(),
            base: self.base.as_deref(),
            created_at: &self.created_at,
            updated_at: &self.updated_at,
            changed_files: self.changed_files,
            lines_added: self.lines_added,
            lines_removed: self.lines_removed,
            pending_permission: self.pending_permission,
            archived: self.archived,
            integrated: self.integrated.as_deref(),
            kind: &self.kind,
            external: false,
            agent_session_id: self.agent_session_id.as_deref(),
            usage: self.usage,
        }
    }
}

/// One line of `aside stream`.
#[derive(serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Line {
    /// The session's next event.
    Event(Event),
    /// The session's record as `show --json` gives it, when it changed without an event (its
    /// host went away, it was archived).
    Session(Value),
}

/// One step of following a session on a machine.
#[derive(Debug)]
pub enum Step {
    /// Its next event, in order (see `aside_protocol::client::Follower`).
    Event(Event),
    /// Its record changed.
    Session(Value),
    /// The connection to the machine broke (why); the follower connects again on the next call
    /// and goes on after the last event it gave.
    Lost(String),
}

/// How long a follower waits before it connects again after a lost connection: growing from
/// the first up to the last.
const RETRY: [Duration; 4] = [
    Duration::from_millis(500),
    Duration::from_secs(1),
    Duration::from_secs(2),
    Duration::from_secs(5),
];

/// Follows session `id` on `machine` after its stored event `since`: every event once, in order,
/// across dropped connections (see the module's notes). Dropping it ends its SSH connection.
pub struct Follower {
    machine: MachineConfig,
    id: String,
    dedup: Dedup,
    /// The connection and its lines, while there is one.
    live: Option<(
        tokio::process::Child,
        tokio::io::Lines<tokio::io::BufReader<tokio::process::ChildStdout>>,
    )>,
    /// Connections lost in a row (how long to wait before the next).
    lost: usize,
    /// The last line ssh (or aside there) wrote on its error output, read as it comes (a pipe
    /// left unread would stall the stream once full).
    said: std::sync::Arc<std::sync::Mutex<String>>,
}

impl Follower {
    /// A follower of session `id` (its id there) on `machine`, after stored event `since`.
    pub fn new(machine: &MachineConfig, id: &str, since: u64) -> Follower {
        Follower {
            machine: machine.clone(),
            id: id.to_string(),
            dedup: Dedup::new(since),
            live: None,
            lost: 0,
            said: Default::default(),
        }
    }

    /// The last stored event given.
    pub fn last(&self) -> u64 {
        self.dedup.last()
    }

    /// The ssh process of the connection now, if there is one (a test kills it).
    pub fn ssh_pid(&self) -> Option<u32> {
        self.live.as_ref().and_then(|(child, _)| child.id())
    }

    fn connect(&mut self) -> Result<(), String> {
        let line = format!(
            "{} stream {} --since {}",
            crate::shell_word(&machines::program(&self.machine)),
            crate::shell_word(&self.id),
            self.dedup.last()
        );
        let std = machines::ssh(&self.machine, &line);
        let mut cmd = tokio::process::Command::from(std);
        // aside there ends its stream when its standard input closes: when this end drops.
        cmd.stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .kill_on_drop(true);
        let mut child = cmd.spawn().map_err(|e| format!("cannot run ssh: {e}"))?;
        let stdout = child
            .stdout
            .take()
            .ok_or_else(|| "ssh gave no output".to_string())?;
        if let Some(err) = child.stderr.take() {
            let said = self.said.clone();
            if let Ok(mut s) = said.lock() {
                s.clear();
            }
            tokio::spawn(async move {
                let mut lines = tokio::io::BufReader::new(err).lines();
                while let Ok(Some(line)) = lines.next_line().await {
                    if !line.trim().is_empty() {
                        if let Ok(mut s) = said.lock() {
                            *s = line.trim().chars().take(500).collect();
                        }
                    }
                }
            });
        }
        self.live = Some((child, tokio::io::BufReader::new(stdout).lines()));
        Ok(())
    }

    /// Why the connection ended: ssh's (or aside's there) last line.
    async fn ended(&self, mut child: tokio::process::Child) -> String {
        let _ = child.start_kill();
        let status = child.wait().await.ok().and_then(|s| s.code());
        // What it wrote last comes through its reader a moment after the exit.
        tokio::time::sleep(Duration::from_millis(50)).await;
        let last = self.said.lock().map(|s| s.clone()).unwrap_or_default();
        match (status, last.is_empty()) {
            (_, false) => last,
            (Some(255) | None, true) => "the SSH connection broke".to_string(),
            (Some(code), true) => format!("aside there stopped (exit {code})"),
        }
    }

    /// The next step.
    pub async fn next(&mut self) -> Step {
        loop {
            if self.live.is_none() {
                if self.lost > 0 {
                    tokio::time::sleep(RETRY[(self.lost - 1).min(RETRY.len() - 1)]).await;
                }
                if let Err(why) = self.connect() {
                    self.lost += 1;
                    return Step::Lost(why);
                }
            }
            let Some((_, lines)) = self.live.as_mut() else {
                continue;
            };
            match lines.next_line().await {
                Ok(Some(line)) => {
                    match serde_json::from_str::<Line>(&line) {
                        Ok(Line::Event(event)) => {
                            // Connected for real (its first line, the record, is not enough:
                            // an aside there that fails after it would be asked again at once).
                            self.lost = 0;
                            if let Some(event) = self.dedup.pass(event) {
                                return Step::Event(event);
                            }
                        }
                        Ok(Line::Session(record)) => return Step::Session(record),
                        // A line of a newer aside this one does not know: passed over.
                        Err(_) => {}
                    }
                }
                Ok(None) | Err(_) => {
                    self.lost += 1;
                    let why = match self.live.take() {
                        Some((child, _)) => self.ended(child).await,
                        None => "the SSH connection broke".to_string(),
                    };
                    return Step::Lost(why);
                }
            }
        }
    }
}

/// What a session started on a machine is given (as `aside new` there takes it).
#[derive(Debug, Default, Clone)]
pub struct StartThere {
    pub task: String,
    pub agent: Option<String>,
    pub approve: Option<String>,
    pub name: Option<String>,
    pub model: Option<String>,
    /// The commit to start from (default: HEAD of the repository).
    pub base: Option<String>,
    pub no_submodules: bool,
    /// `--sandbox` / `--no-sandbox`.
    pub sandbox: Option<bool>,
    /// `--budget`, as written.
    pub budget: Option<String>,
}

/// Starts a session of the local repository holding `dir` on machine `name`: the machine
/// checked, the base put into its checkout there (`machines::send_base`), then `aside new`
/// there. Its record as aside there gave it, named `NAME:ID` and marked with the machine.
pub fn start(
    name: &str,
    machine: &MachineConfig,
    dir: &std::path::Path,
    what: &StartThere,
) -> Result<Value, String> {
    let found = machines::check(machine);
    if !found.ready() {
        let (detail, fix) = found.describe(name, machine);
        return Err(format!(
            "{detail}{}",
            fix.map(|f| format!("\nfix: {f}")).unwrap_or_default()
        ));
    }
    let repo = aside_git::repo_root(dir)
        .map_err(|_| format!("{} is not in a git repository", dir.display()))?;
    let base = aside_git::resolve_commit(&repo, what.base.as_deref().unwrap_or("HEAD"))
        .map_err(|e| format!("cannot read the base commit: {e}"))?;
    let checkout =
        machines::send_base(machine, &repo, &base).map_err(|e| format!("{name}: {e}"))?;
    let mut args: Vec<&str> = vec!["new", "--json", "--base", &base];
    let options = [
        ("--agent", what.agent.as_deref()),
        ("--approve", what.approve.as_deref()),
        ("--name", what.name.as_deref()),
        ("--model", what.model.as_deref()),
        ("--budget", what.budget.as_deref()),
    ];
    for (flag, value) in &options {
        if let Some(value) = value.filter(|v| !v.is_empty()) {
            args.extend([*flag, value]);
        }
    }
    if what.no_submodules {
        args.push("--no-submodules");
    }
    match what.sandbox {
        Some(true) => args.push("--sandbox"),
        Some(false) => args.push("--no-sandbox"),
        None => {}
    }
    args.push("-");
    let out = machines::run_aside(machine, Some(&checkout), &args, Some(&what.task))
        .map_err(|e| format!("{name}: aside new failed there: {e}"))?;
    let mut session: Value = serde_json::from_str(&out)
        .map_err(|e| format!("{name}: aside there answered something unexpected ({e})"))?;
    let id = session["id"].as_str().unwrap_or_default().to_string();
    if !aside_core::SessionId::is_valid(&id) {
        return Err(format!(
            "{name}: aside there answered an id aside cannot use"
        ));
    }
    session["id"] = Value::String(format!("{name}:{id}"));
    session["machine"] = Value::String(name.to_string());
    Ok(session)
}

/// Follows session `id` on `machine` after `since` on this thread (for the terminal view), giving
/// each step to `on` until it says stop or `stopper` stops it, at once.
pub fn follow_until(
    machine: &MachineConfig,
    id: &str,
    since: u64,
    stopper: &aside_protocol::client::Stopper,
    mut on: impl FnMut(Step) -> aside_protocol::client::Flow,
) -> std::io::Result<()> {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    let mut follower = Follower::new(machine, id, since);
    runtime.block_on(async {
        loop {
            let step = tokio::select! {
                step = follower.next() => step,
                () = stopper.wait() => return,
            };
            if on(step) == aside_protocol::client::Flow::Stop {
                return;
            }
        }
    });
    Ok(())
}

/// `apply` / `merge` of a session on a machine: its branch fetched over SSH into this
/// repository (`refs/aside/machines/NAME/ID`), then the same 3-way apply (all or nothing, the
/// user's uncommitted work kept) or merge as for a local session.
pub fn bring_home(
    name: &str,
    machine: &MachineConfig,
    id: &str,
    repo: &std::path::Path,
    merge: bool,
    squash: bool,
) -> Result<String, String> {
    let shown = machines::run_aside(machine, None, &["show", "--json", id], None)
        .map_err(|e| format!("{name}: {e}"))?;
    let session: serde_json::Value = serde_json::from_str(&shown)
        .map_err(|e| format!("{name}: aside there answered something unexpected ({e})"))?;
    let session = session.get("session").cloned().unwrap_or(session);
    let text = |key: &str| session[key].as_str().unwrap_or_default().to_string();
    if matches!(
        text("status").as_str(),
        "running" | "starting" | "needs_input" | "queued"
    ) {
        return Err(format!(
            "session {name}:{id} is still working ({}); wait for the turn to end (aside wait {name}:{id}), or aside cancel {name}:{id}",
            text("status")
        ));
    }
    let (branch, base, there) = (text("branch"), text("base"), text("repo"));
    if branch.is_empty() || base.is_empty() {
        return Err(format!(
            "session {name}:{id} has no branch to bring here (a workspace session there)"
        ));
    }
    // What the machine answered is data: a branch and a commit id of the shapes aside makes,
    // never an option or a second refspec.
    if !plain_branch(&branch)
        || base.len() < 7
        || !base.chars().all(|c| c.is_ascii_hexdigit())
        || there.starts_with('-')
        || there.chars().any(char::is_control)
    {
        return Err(format!(
            "{name} answered a session {id} aside cannot use (branch {branch:?}, base {base:?}): nothing was fetched"
        ));
    }
    aside_git::resolve_commit(repo, &base).map_err(|_| {
        format!(
            "this repository ({}) does not have the session's base commit {}: run it in the repository the session was started from",
            repo.display(),
            &base[..base.len().min(12)]
        )
    })?;
    let local_ref = format!("refs/aside/machines/{name}/{id}");
    aside_git::fetch_over_ssh(
        repo,
        &format!("{}:{there}", machine.ssh.trim()),
        &format!("+refs/heads/{branch}:{local_ref}"),
        &machines::ssh_command(),
    )
    .map_err(|e| format!("cannot fetch the session's branch from {name}: {e}"))?;
    if merge {
        let message = format!("{} (aside session {name}:{id})", text("title"));
        let commit =
            aside_git::merge(repo, &local_ref, squash, &message).map_err(|e| e.to_string())?;
        return Ok(format!("merged {name}:{id} as {commit}"));
    }
    // A worktree of the fetched work, here, for the 3-way apply; gone after.
    let scratch = aside_core::paths::aside_home()
        .join("machines")
        .join(format!("apply-{name}-{id}"));
    let scratch_branch = format!("aside/from-{name}-{id}");
    let _ = aside_git::remove_worktree(repo, &scratch, Some(&scratch_branch), false);
    aside_git::create_worktree(repo, &scratch, &scratch_branch, &local_ref)
        .map_err(|e| e.to_string())?;
    let applied = aside_git::apply(repo, &scratch, &base);
    let _ = aside_git::remove_worktree(repo, &scratch, Some(&scratch_branch), false);
    let files = applied.map_err(|e| e.to_string())?;
    Ok(if files.is_empty() {
        format!("Nothing to apply: {name}:{id} changed no files")
    } else {
        format!("applied {name}:{id}: {}", files.join(", "))
    })
}

/// Whether `branch` is a branch name as aside makes them: no option, no second refspec, no
/// walk up.
fn plain_branch(branch: &str) -> bool {
    !branch.is_empty()
        && !branch.starts_with(['-', '/'])
        && !branch.contains("..")
        && branch
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '/' | '-' | '_' | '.'))
}

/// The local repository a machine's session (whose repository there is `there`) was started
/// from, among `repos`: the one whose checkout there (`machines::checkout_for`) it is.
pub fn local_repo_of(
    machine: &MachineConfig,
    there: &str,
    repos: &[std::path::PathBuf],
) -> Option<std::path::PathBuf> {
    repos
        .iter()
        .find(|repo| {
            let (checkout, _) = machines::checkout_for(machine, repo);
            let checkout = checkout.trim_end_matches('/');
            there == checkout || there.ends_with(&format!("/{checkout}"))
        })
        .cloned()
}

/// Runs `aside ARGS` on `machine` for one of its sessions (the id there among the args) with
/// `input` on its standard input: its output, or what it (or ssh) said went wrong.
pub fn act(machine: &MachineConfig, args: &[&str], input: Option<&str>) -> Result<String, String> {
    machines::run_aside(machine, None, args, input)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_plain_branch_names_are_fetched() {
        assert!(plain_branch("aside/fix-the-test"));
        assert!(!plain_branch("x:refs/heads/main"));
        assert!(!plain_branch("--upload-pack=sh"));
        assert!(!plain_branch("a/../b"));
        assert!(!plain_branch("a b"));
    }

    #[test]
    fn a_session_there_is_traced_to_the_repository_here_it_came_from() {
        let machine = MachineConfig {
            ssh: "box".into(),
            aside: None,
            checkouts: [("/src/named".to_string(), "work/named".to_string())].into(),
        };
        let repos = vec![
            std::path::PathBuf::from("/src/proj"),
            std::path::PathBuf::from("/src/named"),
        ];
        let own = format!("/home/me/{}", machines::checkout_of(&repos[0]));
        assert_eq!(
            local_repo_of(&machine, &own, &repos),
            Some(repos[0].clone())
        );
        assert_eq!(
            local_repo_of(&machine, "/home/me/work/named", &repos),
            Some(repos[1].clone())
        );
        assert_eq!(local_repo_of(&machine, "/home/me/other", &repos), None);
    }

    #[test]
    fn a_machine_session_id_names_the_machine_and_a_valid_id() {
        assert_eq!(split("box:abc123"), Some(("box", "abc123")));
        assert_eq!(split("abc123"), None);
        assert_eq!(split("box:../x"), None);
        assert_eq!(split("-o:abc"), None);
    }

    #[test]
    fn the_sessions_a_machine_lists_are_named_after_it_and_its_external_ones_left_there() {
        let list = vec![
            serde_json::json!({"id": "abc", "status": "working"}),
            serde_json::json!({"id": "ext", "external": true}),
        ];
        let marked = mark("box", list);
        assert_eq!(marked.len(), 1);
        assert_eq!(marked[0]["id"], "box:abc");
        assert_eq!(marked[0]["machine"], "box");
        let unreachable = MachineSessions {
            name: "box".into(),
            answer: Err("no route".into()),
            seen: marked,
        };
        assert_eq!(unreachable.items()[0]["unreachable"], true);
    }
}
