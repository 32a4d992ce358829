//! `aside host <id>`: one session's supervisor, from its queue slot to its last turn.
//!
//! `mod.rs` runs the session: its queue slot, worktree, agent connection and turn loop.
//! `lifecycle` is the loop's state (queue, turn, pending requests, cancelling), pure and
//! unit-tested; `socket` serves clients; `agent` starts and stops the agent's process group;
//! `policy` answers permission requests; `signals` turns SIGTERM/SIGHUP/SIGINT into a clean stop.

mod agent;
mod budget;
mod checkpoint;
mod control;
mod lifecycle;
mod netproxy;
mod notify;
mod policy;
mod prepare;
mod recorder;
mod signals;
mod socket;
mod spawn;

use self::recorder::Pending;
pub use self::spawn::spawn;
use self::spawn::spawn_refill;
use aside_protocol::handoff::PLAN_ONLY;

use self::agent::{kill_group, startup_timeout, stop_agent, AgentProcess};
use self::lifecycle::{
    plural, taken_requests, waiting_follow_ups, Accepted, Asked, Lifecycle, Queued,
};
use self::policy::{auto_answer, cancelled_answer, choose, for_the_user, selected};
use self::signals::{listen_for_signals, stop_signal, Signals};
use self::socket::{accept_loop, Control};
use crate::liveness;
use crate::protocol::events::{
    Body, Checkpoint, Decision, FileStat, PermissionAllowed, PermissionAnswer, PermissionAsked,
    Prompt, Setup, StatusChange, TurnEnd, Warning,
};
use crate::protocol::{Reply, Request};
use agent_client_protocol::schema::ProtocolVersion;
use agent_client_protocol::v1::schema::{
    CancelNotification, Implementation, InitializeRequest, LoadSessionRequest, NewSessionRequest,
    PromptRequest, PromptResponse, RequestPermissionRequest, RequestPermissionResponse,
    ResumeSessionRequest, SessionConfigOption, SessionModeState, SessionNotification,
    SessionUpdate, SetSessionConfigOptionRequest, SetSessionModeRequest, StopReason,
};
use agent_client_protocol::v1::{ConnectionTo, Responder};
use agent_client_protocol::{Agent, ByteStreams, Client};
use anyhow::{anyhow, Context as _};
use aside_core::{Config, Event, Mode, SessionId, SessionKind, SessionRecord, Status};
use aside_store::{Change, EventLog, Index, Layout};
use serde_json::Value;
use std::collections::VecDeque;
use std::path::PathBuf;
use std::time::Duration;
use tokio::sync::{broadcast, mpsc, oneshot};
use tokio_util::compat::{TokioAsyncReadCompatExt as _, TokioAsyncWriteCompatExt as _};

/// Runs the host of session `id` until its agent stops.
pub fn run(layout: Layout, id: SessionId, config: Config) -> anyhow::Result<()> {
    // One thread is plenty for one session, and keeps a host small when many run at once.
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("while starting the runtime")?;
    runtime.block_on(main(layout, id, config))
}

enum FromAgent {
    Update(Box<SessionUpdate>),
    Permission(
        Box<(
            RequestPermissionRequest,
            Responder<RequestPermissionResponse>,
        )>,
    ),
    /// The sandbox's proxy refused a connection to this `host:port`.
    Blocked(String),
}

async fn main(layout: Layout, id: SessionId, config: Config) -> anyhow::Result<()> {
    layout.create_dirs()?;
    let signals = listen_for_signals()?;
    let Some(_lock) = liveness::acquire(&layout, &id)? else {
        return Err(anyhow!("a host already runs for session {id}"));
    };
    let index = Index::open(&layout)?;
    let record = index
        .get(&id)?
        .ok_or_else(|| anyhow!("no session {id} in the index"))?;
    let agent_name = record.agent.clone();
    let events = EventLog::open(&layout, &id)?;
    // Room kept aside for the last words of a host whose disk fills up: freed to record that
    // the session failed, and why.
    let reserve = layout.reserve(&id);
    if std::fs::write(&reserve, vec![0u8; RESERVE]).is_err() {
        let _ = std::fs::remove_file(&reserve);
    }
    // Every slot is allocated up front (~130 bytes each): 1,024 is a quarter second of the
    // fastest model's pieces; a reader that falls further behind reads the stored rows again.
    let (bus, _) = broadcast::channel::<Event>(1024);
    let (ctl_tx, ctl_rx) = mpsc::channel::<Control>(64);

    let socket = layout.socket(&id);
    let _ = std::fs::remove_file(&socket);
    let listener = tokio::net::UnixListener::bind(&socket)
        .with_context(|| format!("while binding {}", socket.display()))?;
    {
        use std::os::unix::fs::PermissionsExt as _;
        std::fs::set_permissions(&socket, std::fs::Permissions::from_mode(0o600))?;
    }
    tokio::spawn(accept_loop(
        listener,
        ctl_tx,
        bus.clone(),
        layout.clone(),
        id.clone(),
    ));

    let limit = config.sessions.max_concurrent();
    let record_repo = record.repo.clone();
    let repo_config = aside_core::config::RepoConfig::load(&record_repo).ok();
    // Submodules are checked out unless the session, the repository or the user says not.
    let submodules = !record.settings.no_submodules
        && repo_config
            .as_ref()
            .and_then(|r| r.worktree.submodules)
            .or(config.worktree.submodules)
            .unwrap_or(true);
    // The user's sandbox, narrowed by what the repository says its builds need.
    let (sandbox, sandbox_beyond) = match &repo_config {
        Some(r) => config.sandbox.narrowed_by(
            &r.sandbox,
            &std::env::var_os("HOME")
                .map(std::path::PathBuf::from)
                .unwrap_or_default(),
        ),
        None => (config.sandbox.clone(), Vec::new()),
    };
    let budget = aside_core::usage::budget_for(&record, &config);
    let usage_model = aside_core::usage::model_of(&record, &config);
    let cached_in_input = record.agent_command.first().is_some_and(|program| {
        aside_core::agents::family(&record.agent, std::path::Path::new(program)) == "copilot"
    });
    let mut host = Host {
        layout: layout.clone(),
        index,
        events,
        bus,
        record,
        limit,
        pool_size: repo_config
            .as_ref()
            .map(|r| r.pool_size(config.sessions.worktree_pool))
            .unwrap_or_else(|| config.sessions.worktree_pool.unwrap_or(1)),
        submodules,
        idle: config.sessions.idle(),
        signals,
        resting: Status::Completed,
        modes: None,
        last_touch: std::time::Instant::now(),
        notify: config.notify.clone(),
        agent_config: config.agents.get(&agent_name).cloned().unwrap_or_default(),
        sandbox,
        sandbox_beyond,
        usage: Default::default(),
        usage_model,
        prices: aside_core::usage::Prices::with(&config.prices),
        budget,
        budget_warned: false,
        unpriced_said: false,
        uncounted_said: false,
        over_budget: None,
        cached_in_input,
        mcp_servers: config.mcp_servers.clone(),
        pending: None,
        seed: None,
        unrecorded: None,
    };
    let outcome = host.run(ctl_rx).await;
    // Its room is given back: to record the failure on a full disk, or because it is done.
    let _ = std::fs::remove_file(&reserve);
    if let Err(e) = &outcome {
        tracing::error!("session {id} failed: {e:#}");
        if host.unrecorded.is_none() || host.record.status != Status::Failed {
            let reason = format!("{e:#}");
            host.set_status(Status::Failed, Some(&reason));
        }
    }
    let _ = std::fs::remove_file(&socket);
    Ok(())
}

/// A task stopped when this is dropped (the sandbox's proxy, with the agent it serves).
struct AbortOnDrop(tokio::task::JoinHandle<()>);

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        self.0.abort();
    }
}

/// Bytes a host keeps in reserve for recording its end when the disk fills up.
const RESERVE: usize = 256 * 1024;

struct Host {
    layout: Layout,
    index: Index,
    events: EventLog,
    bus: broadcast::Sender<Event>,
    record: SessionRecord,
    limit: usize,
    pool_size: usize,
    idle: Duration,
    signals: Signals,
    resting: Status,
    /// The agent's session modes, as it announced them, and the one it started in.
    modes: Option<SessionModeState>,
    last_touch: std::time::Instant,
    /// Who is told when the session needs an answer or ends.
    notify: aside_core::config::NotifyConfig,
    /// The session's agent's own settings (`[agents.NAME]`: env, model).
    agent_config: aside_core::AgentConfig,
    /// `[sandbox]` (narrowed by the repository's `.aside.toml`): where the built-in agent's
    /// commands run.
    sandbox: aside_core::sandbox::SandboxConfig,
    /// What the repository's `.aside.toml` asked of the sandbox that the user's config does
    /// not allow: said when the session starts.
    sandbox_beyond: Vec<String>,
    /// What the session used so far.
    usage: aside_protocol::usage::Usage,
    /// The model its agent's reported tokens are priced as (the session's, else the config's).
    usage_model: String,
    /// Prices by model.
    prices: aside_core::usage::Prices,
    /// What it may use.
    budget: aside_core::usage::Budget,
    /// Whether 80 % of the budget was said.
    budget_warned: bool,
    /// Whether a dollar budget without a known price was said.
    unpriced_said: bool,
    /// Whether a budget its agent gives no token counts for was said.
    uncounted_said: bool,
    /// Why the session must stop now (its budget reached).
    over_budget: Option<String>,
    /// Whether its agent's reported input tokens count the cache reads in (Copilot CLI's do).
    cached_in_input: bool,
    /// MCP servers given to the agent with its session (`[[mcp_servers]]`).
    mcp_servers: Vec<aside_core::config::McpServerConfig>,
    /// Streamed text not stored yet.
    pending: Option<Pending>,
    /// Whether a new worktree gets its submodules.
    submodules: bool,
    /// Why an event could not be stored (a full disk): the session cannot go on unrecorded, so
    /// the host ends it as failed with this reason.
    unrecorded: Option<String>,
    /// What the next turn's prompt goes with when the agent could not load its session: the
    /// agent starts afresh and learns the conversation so far from it.
    seed: Option<Seed>,
}

/// How a fresh agent session learns a conversation it could not load.
enum Seed {
    /// The hand-off written when the session took over another's conversation
    /// (`sessions/ID/handoff.md`), for its first prompt.
    Handoff(String),
    /// The session's own conversation so far, in the same hand-off form, before the prompt.
    Conversation,
}

/// The agent's last stderr lines for a failure reason, or that there were none.
fn stderr_says(tail: &str) -> String {
    if tail.trim().is_empty() {
        "It wrote nothing to stderr; check its command under [agents.NAME] or its own settings."
            .to_string()
    } else {
        format!("Its stderr:\n{tail}")
    }
}

/// Whether an agent's session mode is its planning one (id `plan`, or named so).
fn is_plan_mode(mode: &agent_client_protocol::v1::schema::SessionMode) -> bool {
    mode.id.0.eq_ignore_ascii_case("plan") || mode.name.to_ascii_lowercase().contains("plan")
}

/// How often a host with nothing happening checks that its session still exists.
const GONE_CHECK: Duration = Duration::from_secs(5);

/// The turn loop's state: the running turn is the agent's future answer; a pending permission
/// request is what was asked (the whole tool call and the agent's options) and its responder.
type Life = Lifecycle<
    oneshot::Receiver<Result<PromptResponse, agent_client_protocol::Error>>,
    (PermissionAsked, Responder<RequestPermissionResponse>),
>;

/// What the turn loop decided when it ended.
enum Ending {
    /// Stop asked for, a stop signal, idle for long enough, or the agent exited while idle.
    Stopped,
}

impl Host {
    async fn run(&mut self, mut ctl: mpsc::Receiver<Control>) -> anyhow::Result<()> {
        let mut queue: VecDeque<Queued> = VecDeque::new();
        // What the host must know of the past (was the task sent, which follow-ups wait, which
        // requests were taken) is in the prompts and cancels, read through the kind index: a
        // long session's log is not read.
        let history = self
            .events
            .of_kinds(&["prompt", "prompt_queued", "cancel_requested"])?;
        let status = self.record.status;
        if !history.iter().any(|e| e.kind == "prompt") {
            // Never started (or failed before its first prompt): the task itself (a chat has
            // none: its first prompt comes from the user).
            if self.record.kind != SessionKind::Chat {
                queue.push_back(Queued::new(self.record.task.clone(), false));
            }
        } else if status.is_active() || status == Status::Interrupted {
            queue.push_back(Queued::new(
                "(aside: your previous turn was interrupted before it finished. Continue the task where you left off.)".into(),
                true,
            ));
        } else if status == Status::Failed {
            queue.push_back(Queued::new(
                "(aside: your previous turn stopped with an error before it finished. Continue the task where you left off.)".into(),
                true,
            ));
        }
        queue.extend(waiting_follow_ups(&history));
        // A host started for a finished session (a follow-up, an attach) goes back to that
        // status when it has nothing to do, instead of showing as busy.
        self.resting = match status {
            Status::Completed | Status::Cancelled => status,
            _ => Status::Completed,
        };
        // A session stopped at its budget stays stopped until it is given more.
        self.count_stored_usage()?;
        if let Some(reason) = self.budget.reached(&self.usage_summary()) {
            let why = format!(
                "{reason}; `aside resume {} --budget …` goes on with a larger one",
                self.record.id
            );
            self.set_status(Status::Interrupted, Some(&why));
            return Ok(());
        }
        self.set_status(Status::Queued, None);
        let mut taken = taken_requests(&history);
        let mut signals = self.signals.clone();
        // A slot first: sessions start in order, up to the limit.
        loop {
            let layout = self.layout.clone();
            if self.index.may_start(&self.record.id, self.limit, |other| {
                liveness::host_alive(&layout, other)
            })? {
                break;
            }
            tokio::select! {
                Some(c) = ctl.recv() => match c.request {
                    Request::Cancel => {
                        let _ = c.reply.send(Reply::ok(None));
                        self.set_status(Status::Cancelled, Some("cancelled while queued"));
                        return Ok(());
                    }
                    Request::Stop => {
                        let _ = c.reply.send(Reply::ok(None));
                        let reason = format!("stopped while queued; `aside resume {}` queues it again", self.record.id);
                        self.set_status(Status::Interrupted, Some(&reason));
                        return Ok(());
                    }
                    Request::Prompt { text, request } => {
                        if request.as_ref().is_none_or(|r| taken.insert(r.clone())) {
                            self.emit(Body::PromptQueued(Prompt { text: text.clone(), resumed: false, request: request.clone() }));
                            queue.push_back(Queued { text, resumed: false, request });
                        }
                        self.fail_unrecorded();
                        let _ = c.reply.send(match &self.unrecorded {
                            Some(why) => Reply::refused(format!("not sent: {why}")),
                            None => Reply::ok(None),
                        });
                        self.check_recorded()?;
                    }
                    _ => { let _ = c.reply.send(Reply::refused("the session is still queued")); }
                },
                name = stop_signal(&mut signals) => {
                    let reason = format!("the host was stopped ({name}) while queued; `aside resume {}` queues it again", self.record.id);
                    self.set_status(Status::Interrupted, Some(&reason));
                    return Ok(());
                }
                _ = tokio::time::sleep(Duration::from_millis(200)) => {
                    if self.session_gone() {
                        return Ok(());
                    }
                }
            }
        }
        self.set_status(Status::Starting, None);
        if self.record.mode == Mode::Isolated && !self.record.worktree.exists() {
            let (repo, path) = (self.record.repo.clone(), self.record.worktree.clone());
            let branch = self.record.branch.clone().unwrap_or_default();
            let base = self.record.base.clone().unwrap_or_default();
            let start = self.record.settings.start.clone();
            let pool = if start.is_some() { 0 } else { self.pool_size };
            let not_copied = tokio::task::spawn_blocking(move || {
                // A moved session's work: its worktree as it was, on a branch at its tip.
                if let Some(start) = start {
                    aside_git::create_worktree(&repo, &path, &branch, &start.snapshot)?;
                    aside_git::reset_keeping_files(&path, &start.tip)?;
                    return aside_git::copy_worktree_includes(&repo, &path);
                }
                // A spare from the pool when there is one; a fresh checkout otherwise.
                let claimed = pool > 0
                    && aside_git::pool_claim(&repo, &path, &branch, &base).unwrap_or(false);
                if !claimed {
                    aside_git::create_worktree(&repo, &path, &branch, &base)?;
                }
                aside_git::copy_worktree_includes(&repo, &path)
            })
            .await?
            .context("while creating the worktree")?;
            for message in not_copied {
                self.emit(Body::Warning(Warning {
                    message,
                    submodule: None,
                }));
            }
            if self.submodules && aside_git::has_submodules(&self.record.worktree) {
                self.populate_submodules().await;
            }
            if pool > 0 {
                // Refill the pool for the next session while this one works: in a process of
                // its own at idle priority, which outlives this host if it must.
                let base = self.record.base.clone().unwrap_or_default();
                if let Err(e) = spawn_refill(&self.layout, &self.record.repo, &base, pool) {
                    tracing::warn!("cannot refill the worktree pool: {e}");
                }
            }
        }
        let fresh = !history.iter().any(|e| e.kind == "prompt");
        if fresh {
            for said in std::mem::take(&mut self.sandbox_beyond) {
                self.emit(Body::Warning(Warning {
                    message: said,
                    submodule: None,
                }));
            }
            self.setup().await?;
        }
        self.drive_agent(ctl, Lifecycle::new(queue, taken))
            .await
            .map(|_| ())
    }

    /// The sandbox of this session, when it has one: the built-in agent's commands (`[sandbox]`
    /// on, or `--sandbox`), or a third-party agent as a whole (`[agents.NAME] sandbox = true`,
    /// or `--sandbox`). The second part says whether it is a whole agent's.
    fn sandbox_policy(&self) -> Option<(aside_core::sandbox::Policy, bool)> {
        let builtin = self.record.agent == aside_core::agents::BUILTIN
            && self.agent_config.command.is_empty();
        let on = self.record.settings.sandbox.unwrap_or(if builtin {
            self.sandbox.enabled
        } else {
            self.agent_config.sandbox.unwrap_or(false)
        });
        if !on {
            return None;
        }
        let git_dir = Some(self.record.repo.join(".git")).filter(|g| g.is_dir());
        // Never unconfined for want of a HOME: the sandbox then has no HOME secrets to hide.
        let home = std::env::var_os("HOME")
            .map(std::path::PathBuf::from)
            .unwrap_or_else(|| std::path::PathBuf::from("/"));
        let policy = aside_core::sandbox::Policy::for_session(
            &self.sandbox,
            &self.record.worktree,
            git_dir.as_deref(),
            &home,
            &self.layout.home,
        );
        if builtin {
            return Some((policy, false));
        }
        // (A program that is not there fails the start itself, with its install hint.)
        let program = self
            .record
            .agent_command
            .first()
            .and_then(|p| aside_core::agents::find_program(p))
            .unwrap_or_default();
        let needs = aside_core::sandbox::agents::needs(
            &self.record.agent,
            &self.agent_config,
            &program,
            &home,
            &|key| std::env::var(key).ok(),
        );
        // Its state exists before the sandbox binds it writable: directories, and a JSON file
        // (Claude Code's ~/.claude.json) as the empty object it starts from.
        for state in &needs.state {
            if state.extension().is_some_and(|e| e == "json") {
                if !state.exists() {
                    let _ = std::fs::write(state, "{}\n");
                }
            } else {
                let _ = std::fs::create_dir_all(state);
            }
        }
        // Its settings that start things later exist, so they can be kept read-only (a
        // command cannot write new hooks in their place).
        for file in &needs.settings {
            if !file.exists() && file.parent().is_some_and(|d| d.is_dir()) {
                let empty = if file.extension().is_some_and(|e| e == "json") {
                    "{}\n"
                } else {
                    ""
                };
                let _ = std::fs::write(file, empty);
            }
        }
        Some((policy.for_agent(&needs), true))
    }

    /// Starts the sandbox's proxy when its policy lists hosts, pointing the policy at it; what
    /// it refuses reaches the session loop through `tx`.
    fn start_proxy(
        &self,
        policy: &mut aside_core::sandbox::Policy,
        tx: &mpsc::UnboundedSender<FromAgent>,
    ) -> anyhow::Result<Option<AbortOnDrop>> {
        if !policy.needs_proxy() {
            return Ok(None);
        }
        // A Unix socket's path has room for about 100 bytes.
        let mut socket = self.layout.session_dir(&self.record.id).join("net.sock");
        if socket.as_os_str().len() > 100 {
            socket = std::env::temp_dir().join(format!("aside-net-{}.sock", self.record.id));
        }
        let tx = tx.clone();
        let task = netproxy::serve(&socket, policy.allow.clone(), move |target| {
            let _ = tx.send(FromAgent::Blocked(target));
        })
        .with_context(|| format!("cannot start the sandbox's proxy on {}", socket.display()))?;
        policy.proxy = Some(socket);
        Ok(Some(AbortOnDrop(task)))
    }

    async fn drive_agent(
        &mut self,
        mut ctl: mpsc::Receiver<Control>,
        mut life: Life,
    ) -> anyhow::Result<Ending> {
        agent::stop_leftover(&self.layout, &self.record.id, &self.record.worktree);
        let model = agent::wanted_model(&self.record, &self.agent_config);
        let mut env = self.record.settings.port_env();
        let (agent_tx, agent_rx) = mpsc::unbounded_channel::<FromAgent>();
        let mut whole_agent = None;
        let mut _proxy = None;
        if let Some((mut policy, whole)) = self.sandbox_policy() {
            _proxy = self.start_proxy(&mut policy, &agent_tx)?;
            if whole {
                whole_agent = Some(policy);
            } else {
                env.push((
                    aside_core::sandbox::ENV.to_string(),
                    serde_json::to_string(&policy)?,
                ));
            }
        }
        let AgentProcess {
            mut child,
            pgid,
            stdin,
            stdout,
            stderr,
            unconfined,
        } = AgentProcess::start(
            &self.record,
            &self.agent_config,
            env,
            model.as_deref(),
            &agent::pgid_file(&self.layout, &self.record.id),
            whole_agent.as_ref(),
        )?;
        if let Some(why) = unconfined {
            self.emit(Body::Warning(Warning {
                message: format!(
                    "{} runs without aside's sandbox: {why} ([sandbox] unavailable = \"run\")",
                    self.record.agent
                ),
                submodule: None,
            }));
        }
        let tail = move || stderr.text();

        let tx_updates = agent_tx.clone();
        let tx_perms = agent_tx;
        let transport = ByteStreams::new(stdin.compat_write(), stdout.compat());
        // The turn loop runs inside the connection, borrowing the host for that time.
        let mut outcome: Option<anyhow::Result<Ending>> = None;
        let result = Client
            .v1()
            .name("aside-host")
            .on_receive_notification(
                async move |n: SessionNotification, _cx| {
                    let _ = tx_updates.send(FromAgent::Update(Box::new(n.update)));
                    Ok(())
                },
                agent_client_protocol::on_receive_notification!(),
            )
            .on_receive_request(
                async move |req: RequestPermissionRequest, responder, _cx| {
                    let _ = tx_perms.send(FromAgent::Permission(Box::new((req, responder))));
                    Ok(())
                },
                agent_client_protocol::on_receive_request!(),
            )
            .connect_with(transport, async |cx: ConnectionTo<Agent>| {
                let r = self
                    .session(cx, &mut child, agent_rx, &mut ctl, &mut life, &tail)
                    .await;
                // From here on a client must start a new host rather than talk to this one.
                let _ = std::fs::remove_file(self.layout.socket(&self.record.id));
                // Recorded before the agent is stopped: its stdout closing ends the connection,
                // which may drop this future before stop_agent returns (the group is killed
                // below in any case).
                outcome = Some(r);
                stop_agent(&mut child, pgid).await;
                Ok(())
            })
            .await;
        // An agent that exited on its own (the session loop never ran to its end) says so with
        // its status; checked before the group is killed below.
        let exited = match outcome {
            Some(_) => None,
            None => tokio::time::timeout(Duration::from_millis(500), child.wait())
                .await
                .ok()
                .and_then(Result::ok),
        };
        kill_group(pgid, libc::SIGKILL);
        let _ = std::fs::remove_file(agent::pgid_file(&self.layout, &self.record.id));
        let program = self.record.agent_command.join(" ");
        // What the session loop decided wins over the connection's own end (it may report the
        // transport closing because the loop stopped the agent).
        match (outcome, result, exited) {
            (Some(r), _, _) => r,
            (None, Ok(()), _) => Err(anyhow!(
                "the agent connection ended before the session began"
            )),
            (None, Err(_), Some(status)) => Err(anyhow!(
                "the agent `{program}` exited during startup ({status}). {}",
                stderr_says(&tail())
            )),
            (None, Err(e), None) => Err(anyhow!(
                "the connection to the agent `{program}` failed: {e}. {}",
                stderr_says(&tail())
            )),
        }
    }

    #[allow(clippy::too_many_arguments)]
    async fn session(
        &mut self,
        cx: ConnectionTo<Agent>,
        child: &mut tokio::process::Child,
        mut agent_rx: mpsc::UnboundedReceiver<FromAgent>,
        ctl: &mut mpsc::Receiver<Control>,
        life: &mut Life,
        tail: &(dyn Fn() -> String + Send + Sync),
    ) -> anyhow::Result<Ending> {
        let program = self.record.agent_command.join(" ");
        let init = InitializeRequest::new(ProtocolVersion::V1)
            .client_info(Implementation::new("aside", env!("CARGO_PKG_VERSION")));
        let startup = startup_timeout();
        let mut signals = self.signals.clone();
        let init = tokio::select! {
            name = stop_signal(&mut signals) => {
                let reason = format!("the host was stopped ({name}) while the agent started; `aside resume {}` starts it again", self.record.id);
                self.set_status(Status::Interrupted, Some(&reason));
                return Ok(Ending::Stopped);
            }
            r = tokio::time::timeout(startup, cx.send_request(init).block_task()) => match r {
                Err(_) => return Err(anyhow!(
                    "the agent `{program}` did not answer ACP `initialize` within {} s: is it an ACP agent, with its ACP flag (for example `copilot --acp --stdio`)?",
                    startup.as_secs()
                )),
                Ok(Err(e)) => {
                    // An agent that exited is reported as such, not as a closed transport.
                    if let Ok(Ok(status)) = tokio::time::timeout(Duration::from_millis(500), child.wait()).await {
                        return Err(anyhow!("the agent `{program}` exited during startup ({status}). {}", stderr_says(&tail())));
                    }
                    return Err(anyhow!("the agent `{program}` refused `initialize`: {e}. {}", stderr_says(&tail())));
                }
                Ok(Ok(r)) => r,
            },
            status = child.wait() => {
                return Err(anyhow!("the agent `{program}` exited during startup ({}). {}",
                    status.map(|s| s.to_string()).unwrap_or_default(), stderr_says(&tail())));
            }
        };
        let caps = serde_json::to_value(&init.agent_capabilities).unwrap_or(Value::Null);
        let cwd: PathBuf = self.record.worktree.clone();
        let mut session_id: Option<String> = None;
        let mut modes = None;
        let mut options = None;
        if let Some(previous) = self.record.acp_session_id.clone() {
            if !caps["sessionCapabilities"]["resume"].is_null() {
                let r = cx
                    .send_request(
                        ResumeSessionRequest::new(previous.clone(), cwd.clone())
                            .mcp_servers(self.mcp(&caps)),
                    )
                    .block_task()
                    .await;
                if let Ok(r) = r {
                    session_id = Some(previous.clone());
                    modes = r.modes;
                    options = r.config_options;
                }
            }
            if session_id.is_none() && caps["loadSession"] == true {
                let r = cx
                    .send_request(
                        LoadSessionRequest::new(previous.clone(), cwd.clone())
                            .mcp_servers(self.mcp(&caps)),
                    )
                    .block_task()
                    .await;
                if let Ok(r) = r {
                    session_id = Some(previous.clone());
                    modes = r.modes;
                    options = r.config_options;
                    // The replayed history is already in the event log.
                    while let Ok(msg) = agent_rx.try_recv() {
                        if let FromAgent::Permission(request) = msg {
                            let (_, responder) = *request;
                            let _ = responder
                                .respond_with_error(agent_client_protocol::Error::internal_error());
                        }
                    }
                }
            }
            if session_id.is_none() {
                // A fresh agent session: its next prompt goes with the conversation so far (a
                // session that took over another's conversation, with that one's hand-off for
                // its task).
                tracing::warn!("the agent could not load session {previous}; its next prompt carries the conversation so far");
                let started = self.events.count_of("prompt")? > 0;
                let handoff = (!started && !self.record.task.trim().is_empty())
                    .then(|| std::fs::read_to_string(self.layout.handoff(&self.record.id)).ok())
                    .flatten();
                self.seed = Some(handoff.map_or(Seed::Conversation, Seed::Handoff));
            }
        }
        let fresh = session_id.is_none();
        let session_id = match session_id {
            Some(id) => id,
            None => {
                let r = cx
                    .send_request(NewSessionRequest::new(cwd.clone()).mcp_servers(self.mcp(&caps)))
                    .block_task()
                    .await
                    .map_err(|e| {
                        anyhow!(
                            "the agent refused session/new: {e}. Its stderr:\n{}",
                            tail()
                        )
                    })?;
                let id = r.session_id.0.to_string();
                modes = r.modes;
                options = r.config_options;
                self.index
                    .update(&self.record.id, Change::AcpSession(&id))?;
                self.record.acp_session_id = Some(id.clone());
                id
            }
        };

        self.modes = modes.clone();
        if let Some(model) = agent::wanted_model(&self.record, &self.agent_config) {
            // Agents aside knows were started with the model (a variable or a flag); the others
            // are asked through the ACP config option of category `model`.
            let known = aside_core::agents::use_model(
                &self.record.agent,
                &model,
                &mut Vec::new(),
                &mut Vec::new(),
            );
            if !known {
                self.choose_model(
                    &cx,
                    &session_id,
                    options.as_deref().unwrap_or_default(),
                    &model,
                )
                .await?;
            }
        }
        if self.record.kind == SessionKind::Plan && fresh {
            self.enter_plan_mode(&cx, &session_id, modes, life).await;
        }
        if life.queue_is_empty() {
            let resting = self.resting;
            self.set_status(resting, None);
        }
        let mut tool_calls = aside_protocol::conversation::ToolCalls::default();
        let idle = self.idle;
        loop {
            // A session whose events cannot be stored does not go on unrecorded.
            self.check_recorded()?;
            if let Some(next) = life.next_turn() {
                let turn = self.begin_turn(&cx, &session_id, next);
                life.started(turn);
            }
            let idle_now = life.is_idle();
            let flush_due = self.flush_due();
            tokio::select! {
                _ = tokio::time::sleep(idle), if idle_now => return Ok(Ending::Stopped),
                // Streamed text is stored a quarter second after it came, even if nothing
                // follows it for a while.
                _ = tokio::time::sleep_until(flush_due.unwrap_or_else(tokio::time::Instant::now)), if flush_due.is_some() => self.flush(),
                // A session removed under a quiet host (its state deleted, `aside rm` of a
                // session waiting for an answer) leaves nothing running.
                _ = tokio::time::sleep(GONE_CHECK), if !idle_now => {
                    if self.session_gone() {
                        tracing::warn!("session {} was removed; stopping", self.record.id);
                        return Ok(Ending::Stopped);
                    }
                }
                name = stop_signal(&mut signals) => {
                    let why = format!("the host was stopped ({name})");
                    self.interrupt(&cx, &session_id, life, &why).await;
                    return Ok(Ending::Stopped);
                }
                Some(msg) = agent_rx.recv() => match msg {
                    FromAgent::Update(update) => {
                        tool_calls.take(&update);
                        self.emit(Body::Update(update));
                        if let Some(reason) = self.over_budget.take() {
                            self.stop_at_budget(Some((&cx, &session_id)), life, &reason).await;
                            return Ok(Ending::Stopped);
                        }
                    }
                    FromAgent::Permission(boxed) => {
                        let (request, responder) = *boxed;
                        self.on_permission(life, &tool_calls, request, responder)?;
                    }
                    FromAgent::Blocked(target) => {
                        self.emit(Body::Warning(Warning {
                            message: format!("aside's sandbox blocked a connection to {target}: it is not in [sandbox] network"),
                            submodule: None,
                        }));
                    }
                },
                Some(control) = ctl.recv() => {
                    if let Some(ending) = self.on_control(&cx, &session_id, life, control).await? {
                        return Ok(ending);
                    }
                },
                result = async { match life.turn.as_mut() { Some(rx) => rx.await, None => std::future::pending().await } } => {
                    let (unanswered, more) = life.turn_ended();
                    for (_, responder) in unanswered {
                        let _ = responder.respond(cancelled_answer());
                    }
                    self.index.update(&self.record.id, Change::PendingPermission(false))?;
                    match result {
                        Ok(Ok(response)) => {
                            let cancelled = response.stop_reason == StopReason::Cancelled;
                            let usage = self.turn_tokens(&response);
                            self.emit(Body::TurnEnd(TurnEnd { stop_reason: Some(response.stop_reason), usage }));
                            if let Some(reason) = self.over_budget.take() {
                                self.stop_at_budget(None, life, &reason).await;
                                return Ok(Ending::Stopped);
                            }
                            self.checkpoint().await;
                            if more {
                                continue;
                            }
                            let status = if cancelled { Status::Cancelled } else { Status::Completed };
                            self.set_status(status, None);
                        }
                        Ok(Err(e)) => {
                            // A prompt that failed because the agent died is reported as its
                            // death, with its stderr, whichever of the two arrived first.
                            if let Ok(Ok(status)) = tokio::time::timeout(Duration::from_millis(500), child.wait()).await {
                                self.checkpoint().await;
                                return Err(anyhow!("the agent `{program}` exited mid-turn ({status}). Its stderr:\n{}", tail()));
                            }
                            let message = e.to_string();
                            self.emit(Body::Error { message: message.clone() });
                            self.checkpoint().await;
                            self.set_status(Status::Failed, Some(&message));
                        }
                        Err(_) => return Err(anyhow!("lost the agent's answer to the prompt")),
                    }
                },
                status = child.wait() => {
                    if life.is_working() {
                        self.checkpoint().await;
                        return Err(anyhow!("the agent `{program}` exited mid-turn ({}). Its stderr:\n{}",
                            status.map(|s| s.to_string()).unwrap_or_default(), tail()));
                    }
                    return Ok(Ending::Stopped);
                },
            }
        }
    }
}
