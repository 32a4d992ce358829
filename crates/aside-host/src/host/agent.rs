//! The agent's process: started under `aside guard` in its own process group, its stderr kept
//! for failure reasons, stopped whole.

use anyhow::{anyhow, Context as _};
use aside_core::{SessionId, SessionRecord};
use aside_store::Layout;
use std::collections::VecDeque;
use std::os::unix::process::CommandExt as _;
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::io::{AsyncBufReadExt as _, BufReader};
use tokio::process::{Child, ChildStdin, ChildStdout};

/// How long an agent may take to answer `initialize` (`ASIDE_AGENT_STARTUP_TIMEOUT` seconds,
/// default 30): a wrong command becomes a failed session, not a hang.
pub(crate) fn startup_timeout() -> Duration {
    let secs = std::env::var("ASIDE_AGENT_STARTUP_TIMEOUT")
        .ok()
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or(30);
    Duration::from_secs(secs)
}

/// Lines of the agent's stderr kept for a failure reason.
const STDERR_TAIL: usize = 20;

/// The last lines the agent wrote to stderr (each also goes to the host log).
#[derive(Clone, Default)]
pub(crate) struct StderrTail(Arc<Mutex<VecDeque<String>>>);

impl StderrTail {
    fn push(&self, line: String) {
        if let Ok(mut tail) = self.0.lock() {
            tail.push_back(line);
            while tail.len() > STDERR_TAIL {
                tail.pop_front();
            }
        }
    }

    /// The kept lines, for a failure reason.
    pub(crate) fn text(&self) -> String {
        self.0
            .lock()
            .map(|t| t.iter().cloned().collect::<Vec<_>>().join("\n"))
            .unwrap_or_default()
    }
}

/// A running agent: its guard process, the group it leads, its stdio.
pub(crate) struct AgentProcess {
    pub(crate) child: Child,
    pub(crate) pgid: Option<i32>,
    pub(crate) stdin: ChildStdin,
    pub(crate) stdout: ChildStdout,
    pub(crate) stderr: StderrTail,
    /// Why it runs without the sandbox it was to run in (`[sandbox] unavailable = "run"`).
    pub(crate) unconfined: Option<String>,
}

impl AgentProcess {
    /// Starts the session's agent in its worktree, under `aside guard` (leader of a new process
    /// group; it stops the whole group when this host dies, even by kill -9), and remembers the
    /// group in `pgid_file` for the next host. With a `sandbox`, the whole agent runs in it
    /// (where it cannot work: refused, or run without it when the user's config says `run`).
    pub(crate) fn start(
        record: &SessionRecord,
        settings: &aside_core::AgentConfig,
        ports: Vec<(String, String)>,
        model: Option<&str>,
        pgid_file: &Path,
        sandbox: Option<&aside_core::sandbox::Policy>,
    ) -> anyhow::Result<AgentProcess> {
        let command = &record.agent_command;
        let Some((program, args)) = command.split_first() else {
            return Err(anyhow!("the session has no agent command"));
        };
        let Some(resolved) = aside_core::agents::find_program(program) else {
            return Err(anyhow!(aside_core::agents::check_installed(
                &record.agent,
                command
            )
            .err()
            .unwrap_or_else(|| format!("agent command `{program}` not found"))));
        };
        // The agent's own environment from the config, and a model: asked for by whoever
        // started this host (`aside chat --model`), else the config's.
        let (mut model_args, mut model_env): (Vec<String>, Vec<(String, String)>) = (
            Vec::new(),
            settings
                .env
                .iter()
                .map(|(k, v)| (k.clone(), v.clone()))
                .collect(),
        );
        if let Some(model) = model {
            aside_core::agents::use_model(&record.agent, model, &mut model_args, &mut model_env);
        }
        let exe = std::env::current_exe().context("while finding the aside binary")?;
        let mut argv: Vec<String> = std::iter::once(resolved.display().to_string())
            .chain(args.iter().cloned())
            .chain(model_args)
            .collect();
        let mut unconfined = None;
        let mut cmd = std::process::Command::new(exe);
        if let Some(policy) = sandbox {
            match aside_core::sandbox::probe() {
                Ok(()) => {
                    // An agent with a sandbox of its own keeps it, set from the same policy.
                    argv.extend(aside_core::sandbox::agents::own_sandbox_args(
                        &record.agent,
                        &resolved,
                        // Its commands reach what the user allowed, through aside's bridge.
                        policy.network || policy.listed,
                    ));
                    argv = policy.wrap(
                        &aside_core::sandbox::bwrap_program(),
                        &record.worktree,
                        &argv,
                    );
                    policy.limit(&mut cmd);
                }
                Err(why) if policy.unavailable == "run" => unconfined = Some(why),
                Err(why) => {
                    return Err(anyhow!(
                        "the agent `{}` is to run in aside's sandbox, and {why}. Start the session with --no-sandbox to run it unconfined, or set [sandbox] unavailable = \"run\"",
                        record.agent
                    ))
                }
            }
        }
        cmd.arg("guard")
            .arg("--")
            .args(&argv)
            .envs(ports)
            .envs(model_env)
            .env_remove(aside_core::agents::MODEL_VAR)
            .current_dir(&record.worktree)
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .process_group(0);
        aside_core::process::die_with_parent(&mut cmd, libc::SIGTERM);
        aside_core::process::pass_model_key(&mut cmd);
        let mut child = tokio::process::Command::from(cmd)
            .kill_on_drop(true)
            .spawn()
            .map_err(|e| anyhow!("cannot start the agent `{}`: {e}", command.join(" ")))?;
        let pgid = child.id().and_then(|p| i32::try_from(p).ok());
        if let Some(pgid) = pgid {
            let _ = std::fs::write(pgid_file, pgid.to_string());
        }
        let stdin = child
            .stdin
            .take()
            .ok_or_else(|| anyhow!("no agent stdin"))?;
        let stdout = child
            .stdout
            .take()
            .ok_or_else(|| anyhow!("no agent stdout"))?;
        let tail = StderrTail::default();
        if let Some(stderr) = child.stderr.take() {
            let tail = tail.clone();
            tokio::spawn(async move {
                let mut lines = BufReader::new(stderr).lines();
                while let Ok(Some(line)) = lines.next_line().await {
                    eprintln!("agent: {line}");
                    tail.push(line);
                }
            });
        }
        Ok(AgentProcess {
            child,
            pgid,
            stdin,
            stdout,
            stderr: tail,
            unconfined,
        })
    }
}

/// Stops the agent process group an earlier host of this session left behind (that host was
/// killed before it could, and its guard did not), so a resumed session never runs two agents.
pub(crate) fn stop_leftover(layout: &Layout, id: &SessionId, worktree: &Path) {
    let file = pgid_file(layout, id);
    let Some(pgid) = std::fs::read_to_string(&file)
        .ok()
        .and_then(|s| s.trim().parse::<i32>().ok())
    else {
        return;
    };
    // Only if that group still runs our agent: its leader's cwd is the session's worktree.
    let cwd = std::fs::read_link(format!("/proc/{pgid}/cwd")).ok();
    if cwd.as_deref() == Some(worktree) {
        kill_group(Some(pgid), libc::SIGKILL);
    }
    let _ = std::fs::remove_file(file);
}

/// Where the agent's process group is remembered, for the next host.
/// The model the session's agent is to use: asked for by whoever started this host (`aside chat
/// --model`, `/model`), else by `aside new --model` (the record's settings), else the config's
/// `[agents.NAME] model`.
pub(crate) fn wanted_model(
    record: &aside_core::SessionRecord,
    agent: &aside_core::AgentConfig,
) -> Option<String> {
    std::env::var(aside_core::agents::MODEL_VAR)
        .ok()
        .filter(|m| !m.is_empty())
        .or_else(|| record.settings.model.clone())
        .or_else(|| agent.model.clone())
}

pub(crate) fn pgid_file(layout: &Layout, id: &SessionId) -> std::path::PathBuf {
    layout.session_dir(id).join("agent.pgid")
}

pub(crate) fn kill_group(pgid: Option<i32>, signal: i32) {
    if let Some(pgid) = pgid {
        aside_core::process::kill_group(pgid, signal);
    }
}

/// Stops the agent: SIGTERM to the whole group (npm launchers start the real binary as a
/// child; the guard passes it on), SIGKILL after the stop grace (2 s). No wait for it to leave on its own first:
/// its stdin is still open here (the connection ends after), so it would not.
pub(crate) async fn stop_agent(child: &mut tokio::process::Child, pgid: Option<i32>) {
    if let Ok(Some(_)) = child.try_wait() {
        kill_group(pgid, libc::SIGKILL);
        return;
    }
    kill_group(pgid, libc::SIGTERM);
    if tokio::time::timeout(aside_core::process::stop_grace(), child.wait())
        .await
        .is_err()
    {
        kill_group(pgid, libc::SIGKILL);
        let _ = child.wait().await;
    }
    kill_group(pgid, libc::SIGKILL);
}
