//! `aside host <id>`: one session's supervisor, from its queue slot to its last turn.

use crate::liveness;
use crate::protocol::{Choice, Envelope, Reply, Request, VERSION};
use agent_client_protocol::schema::ProtocolVersion;
use agent_client_protocol::v1::schema::{
    CancelNotification, Implementation, InitializeRequest, LoadSessionRequest, NewSessionRequest,
    PromptRequest, PromptResponse, RequestPermissionRequest, RequestPermissionResponse,
    ResumeSessionRequest, SessionNotification,
};
use agent_client_protocol::v1::{ConnectionTo, Responder};
use agent_client_protocol::{Agent, ByteStreams, Client};
use anyhow::{anyhow, Context as _};
use aside_core::{Approve, Config, Event, Mode, SessionId, SessionRecord, Status};
use aside_store::{Change, EventLog, Index, Layout};
use serde_json::{json, Value};
use std::collections::{HashMap, VecDeque};
use std::os::unix::process::CommandExt as _;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::sync::{broadcast, mpsc, oneshot, watch};
use tokio_util::compat::{TokioAsyncReadCompatExt as _, TokioAsyncWriteCompatExt as _};

/// How long an agent may take to answer `initialize` (`ASIDE_AGENT_STARTUP_TIMEOUT` seconds,
/// default 30): a wrong command becomes a failed session, not a hang.
fn startup_timeout() -> Duration {
    let secs = std::env::var("ASIDE_AGENT_STARTUP_TIMEOUT")
        .ok()
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or(30);
    Duration::from_secs(secs)
}

/// Lines of the agent's stderr kept for a failure reason.
const STDERR_TAIL: usize = 20;

/// Runs the host of session `id` until its agent stops.
pub fn run(layout: Layout, id: SessionId, config: Config) -> anyhow::Result<()> {
    // One thread is plenty for one session, and keeps a host small when many run at once.
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("while starting the runtime")?;
    runtime.block_on(main(layout, id, config))
}

/// A request from a socket connection, with where to send the answer.
struct Control {
    request: Request,
    reply: oneshot::Sender<Reply>,
}

/// The signal that asked the host to stop, once one has.
type Signals = watch::Receiver<Option<&'static str>>;

/// Waits until a stop signal arrives; its name.
async fn stop_signal(signals: &mut Signals) -> &'static str {
    match signals.wait_for(Option::is_some).await {
        Ok(name) => name.unwrap_or("a signal"),
        Err(_) => std::future::pending().await,
    }
}

/// SIGTERM, SIGHUP and SIGINT stop the host cleanly: the turn is cancelled, the agent's group
/// stopped and the session left resumable.
fn listen_for_signals() -> anyhow::Result<Signals> {
    use tokio::signal::unix::{signal, SignalKind};
    let mut term = signal(SignalKind::terminate())?;
    let mut hup = signal(SignalKind::hangup())?;
    let mut int = signal(SignalKind::interrupt())?;
    let (tx, rx) = watch::channel(None);
    tokio::spawn(async move {
        let name = tokio::select! {
            _ = term.recv() => "SIGTERM",
            _ = hup.recv() => "SIGHUP",
            _ = int.recv() => "SIGINT",
        };
        let _ = tx.send(Some(name));
        // Keep the handlers installed: a second signal must not kill the host mid-cleanup.
        std::future::pending::<()>().await
    });
    Ok(rx)
}

enum FromAgent {
    Update(Value),
    Permission(
        Box<(
            RequestPermissionRequest,
            Responder<RequestPermissionResponse>,
        )>,
    ),
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
    let events = EventLog::open(&layout, &id)?;
    let (bus, _) = broadcast::channel::<Event>(4096);
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

    let limit = config.sessions.max_concurrent.unwrap_or_else(|| {
        2 * std::thread::available_parallelism()
            .map(|n| n.get())
            .unwrap_or(1)
    });
    let mut host = Host {
        layout: layout.clone(),
        index,
        events,
        bus,
        record,
        limit,
        pool_size: config.sessions.worktree_pool.unwrap_or(1),
        idle: config.sessions.idle(),
        signals,
        taken: Default::default(),
        resting: Status::Completed,
        last_touch: std::time::Instant::now(),
    };
    let outcome = host.run(ctl_rx).await;
    if let Err(e) = &outcome {
        tracing::error!("session {id} failed: {e:#}");
        let reason = format!("{e:#}");
        host.set_status(Status::Failed, Some(&reason));
    }
    let _ = std::fs::remove_file(&socket);
    Ok(())
}

async fn accept_loop(
    listener: tokio::net::UnixListener,
    ctl: mpsc::Sender<Control>,
    bus: broadcast::Sender<Event>,
    layout: Layout,
    id: SessionId,
) {
    while let Ok((stream, _)) = listener.accept().await {
        let ctl = ctl.clone();
        let bus = bus.clone();
        let layout = layout.clone();
        let id = id.clone();
        tokio::spawn(async move {
            if let Err(e) = serve_connection(stream, ctl, bus, layout, id).await {
                tracing::debug!("control connection ended: {e}");
            }
        });
    }
}

async fn write_reply(
    stream: &mut (impl AsyncWriteExt + Unpin),
    reply: &Reply,
) -> std::io::Result<()> {
    let line = serde_json::to_string(reply).map_err(std::io::Error::other)?;
    stream.write_all(format!("{line}\n").as_bytes()).await
}

async fn serve_connection(
    stream: tokio::net::UnixStream,
    ctl: mpsc::Sender<Control>,
    bus: broadcast::Sender<Event>,
    layout: Layout,
    id: SessionId,
) -> anyhow::Result<()> {
    let (read, mut write) = stream.into_split();
    let mut line = String::new();
    BufReader::new(read).read_line(&mut line).await?;
    let envelope: Envelope = match serde_json::from_str(&line) {
        Ok(e) => e,
        Err(e) => {
            let reply = Reply::refused(format!("invalid request: {e}"));
            return Ok(write_reply(&mut write, &reply).await?);
        }
    };
    if envelope.v != VERSION {
        let reply = Reply::refused(format!(
            "this host speaks protocol {VERSION}, the client {}: use the same aside version for both",
            envelope.v
        ));
        return Ok(write_reply(&mut write, &reply).await?);
    }
    if let Request::Subscribe { since } = envelope.request {
        // Subscribe before reading the store, so nothing falls between the two.
        let mut live = bus.subscribe();
        let log = EventLog::open(&layout, &id)?;
        let mut last = since;
        for event in log.since(last)? {
            last = event.seq;
            write_reply(&mut write, &Reply::Event { event }).await?;
        }
        loop {
            match live.recv().await {
                Ok(event) if event.seq > last => {
                    last = event.seq;
                    write_reply(&mut write, &Reply::Event { event }).await?;
                }
                Ok(_) => {}
                Err(broadcast::error::RecvError::Lagged(_)) => {
                    for event in log.since(last)? {
                        last = event.seq;
                        write_reply(&mut write, &Reply::Event { event }).await?;
                    }
                }
                Err(broadcast::error::RecvError::Closed) => return Ok(()),
            }
        }
    }
    let (tx, rx) = oneshot::channel();
    let sent = ctl
        .send(Control {
            request: envelope.request,
            reply: tx,
        })
        .await;
    // A host on its way out answers "gone", so the client starts a new one and asks again.
    let reply = match sent {
        Ok(()) => rx.await.unwrap_or_else(|_| Reply::gone()),
        Err(_) => Reply::gone(),
    };
    write_reply(&mut write, &reply).await?;
    Ok(())
}

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
    taken: std::collections::HashSet<String>,
    resting: Status,
    last_touch: std::time::Instant,
}

/// What the turn loop decided when it ended.
enum Ending {
    /// Stop asked for, a stop signal, idle for long enough, or the agent exited while idle.
    Stopped,
}

/// A prompt waiting for its turn.
#[derive(Debug, Clone, PartialEq)]
struct Queued {
    text: String,
    /// aside's own continuation of an interrupted turn, not the user's words.
    resumed: bool,
    /// The client's id for this follow-up: a request sent again (the host died before it
    /// answered) is recognised and taken once.
    request: Option<String>,
}

impl Queued {
    fn new(text: String, resumed: bool) -> Queued {
        Queued {
            text,
            resumed,
            request: None,
        }
    }

    fn from_event(data: &Value) -> Queued {
        Queued {
            text: data["text"].as_str().unwrap_or_default().to_string(),
            resumed: false,
            request: data["request"].as_str().map(str::to_string),
        }
    }
}

/// Follow-ups accepted behind a turn (`prompt_queued`) that no turn has taken yet (`prompt`),
/// oldest first; a cancel drops what was queued before it. A new host takes them up again, so
/// a follow-up is never lost to a host that died.
fn waiting_follow_ups(events: &[Event]) -> VecDeque<Queued> {
    let mut waiting: VecDeque<Queued> = VecDeque::new();
    for event in events {
        match event.kind.as_str() {
            "prompt_queued" => waiting.push_back(Queued::from_event(&event.data)),
            "prompt" => {
                let taken = Queued::from_event(&event.data);
                let same = |q: &Queued| match (&q.request, &taken.request) {
                    (Some(a), Some(b)) => a == b,
                    _ => q.text == taken.text,
                };
                if let Some(at) = waiting.iter().position(same) {
                    waiting.remove(at);
                }
            }
            "cancel_requested" => waiting.clear(),
            _ => {}
        }
    }
    waiting
}

/// The request ids of every follow-up the session already took (see [`Queued::request`]).
fn taken_requests(events: &[Event]) -> std::collections::HashSet<String> {
    events
        .iter()
        .filter(|e| e.kind == "prompt" || e.kind == "prompt_queued")
        .filter_map(|e| e.data["request"].as_str().map(str::to_string))
        .collect()
}

impl Host {
    /// Stores an event, then broadcasts it.
    fn emit(&mut self, kind: &str, data: Value) {
        match self.events.append(kind, &data) {
            Ok(event) => {
                let _ = self.bus.send(event);
            }
            Err(e) => tracing::error!("cannot store event: {e}"),
        }
        // Last activity, at most once a second.
        if self.last_touch.elapsed() > Duration::from_secs(1) {
            self.last_touch = std::time::Instant::now();
            let _ = self.index.update(&self.record.id, Change::Touch);
        }
    }

    fn set_status(&mut self, status: Status, reason: Option<&str>) {
        self.record.status = status;
        if let Err(e) = self.index.set_status(&self.record.id, status, reason) {
            tracing::error!("cannot store status: {e}");
        }
        self.emit(
            "status",
            json!({"status": status.as_str(), "reason": reason}),
        );
    }

    async fn run(&mut self, mut ctl: mpsc::Receiver<Control>) -> anyhow::Result<()> {
        let mut queue: VecDeque<Queued> = VecDeque::new();
        let history = self.events.since(0)?;
        let status = self.record.status;
        if !history.iter().any(|e| e.kind == "prompt") {
            // Never started (or failed before its first prompt): the task itself.
            queue.push_back(Queued::new(self.record.task.clone(), false));
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
        self.taken = taken_requests(&history);
        // A host started for a finished session (a follow-up, an attach) goes back to that
        // status when it has nothing to do, instead of showing as busy.
        self.resting = match status {
            Status::Completed | Status::Cancelled => status,
            _ => Status::Completed,
        };
        self.set_status(Status::Queued, None);
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
                        if self.take_request(&request) {
                            self.emit("prompt_queued", json!({"text": text, "request": request}));
                            queue.push_back(Queued { text, resumed: false, request });
                        }
                        let _ = c.reply.send(Reply::ok(None));
                    }
                    _ => { let _ = c.reply.send(Reply::refused("the session is still queued")); }
                },
                name = stop_signal(&mut signals) => {
                    let reason = format!("the host was stopped ({name}) while queued; `aside resume {}` queues it again", self.record.id);
                    self.set_status(Status::Interrupted, Some(&reason));
                    return Ok(());
                }
                _ = tokio::time::sleep(Duration::from_millis(200)) => {}
            }
        }
        self.set_status(Status::Starting, None);
        if self.record.mode == Mode::Isolated && !self.record.worktree.exists() {
            let (repo, path) = (self.record.repo.clone(), self.record.worktree.clone());
            let branch = self.record.branch.clone().unwrap_or_default();
            let base = self.record.base.clone().unwrap_or_default();
            let pool = self.pool_size;
            tokio::task::spawn_blocking(move || {
                // A spare from the pool when there is one; a fresh checkout otherwise.
                let claimed = pool > 0
                    && aside_git::pool_claim(&repo, &path, &branch, &base).unwrap_or(false);
                if !claimed {
                    aside_git::create_worktree(&repo, &path, &branch, &base)?;
                }
                Ok::<_, aside_git::GitError>(())
            })
            .await?
            .context("while creating the worktree")?;
            if pool > 0 {
                // Refill the pool for the next session while this one works.
                let repo = self.record.repo.clone();
                let base = self.record.base.clone().unwrap_or_default();
                tokio::task::spawn_blocking(move || {
                    if aside_git::pool_len(&repo) < pool {
                        if let Err(e) = aside_git::pool_add(&repo, &base) {
                            tracing::warn!("cannot refill the worktree pool: {e}");
                        }
                    }
                });
            }
        }
        self.drive_agent(ctl, queue).await.map(|_| ())
    }

    async fn drive_agent(
        &mut self,
        mut ctl: mpsc::Receiver<Control>,
        mut queue: VecDeque<Queued>,
    ) -> anyhow::Result<Ending> {
        let command = self.record.agent_command.clone();
        let Some((program, args)) = command.split_first() else {
            return Err(anyhow!("the session has no agent command"));
        };
        self.stop_leftover_agent();
        let Some(resolved) = aside_core::agents::find_program(program) else {
            return Err(anyhow!(aside_core::agents::check_installed(
                &self.record.agent,
                &command
            )
            .err()
            .unwrap_or_else(|| format!("agent command `{program}` not found"))));
        };
        // The agent runs under a guard, leader of its own process group, which stops the whole
        // group when this host dies, even by kill -9 (see guard.rs).
        let exe = std::env::current_exe().context("while finding the aside binary")?;
        let mut cmd = std::process::Command::new(exe);
        cmd.arg("guard")
            .arg("--")
            .arg(&resolved)
            .args(args)
            .current_dir(&self.record.worktree)
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .process_group(0);
        aside_core::process::die_with_parent(&mut cmd, libc::SIGTERM);
        let mut child = match tokio::process::Command::from(cmd)
            .kill_on_drop(true)
            .spawn()
        {
            Ok(child) => child,
            Err(e) => {
                return Err(anyhow!(
                    "cannot start the agent `{}`: {e}",
                    command.join(" ")
                ))
            }
        };
        let pgid = child.id().and_then(|p| i32::try_from(p).ok());
        // Remembered on disk: if this host is killed, the next one stops what it left running.
        let pgid_file = self.layout.session_dir(&self.record.id).join("agent.pgid");
        if let Some(pgid) = pgid {
            let _ = std::fs::write(&pgid_file, pgid.to_string());
        }
        let stdin = child
            .stdin
            .take()
            .ok_or_else(|| anyhow!("no agent stdin"))?;
        let stdout = child
            .stdout
            .take()
            .ok_or_else(|| anyhow!("no agent stdout"))?;
        let stderr_tail = Arc::new(Mutex::new(VecDeque::<String>::new()));
        if let Some(stderr) = child.stderr.take() {
            let tail = stderr_tail.clone();
            tokio::spawn(async move {
                let mut lines = BufReader::new(stderr).lines();
                while let Ok(Some(line)) = lines.next_line().await {
                    eprintln!("agent: {line}");
                    if let Ok(mut tail) = tail.lock() {
                        tail.push_back(line);
                        while tail.len() > STDERR_TAIL {
                            tail.pop_front();
                        }
                    }
                }
            });
        }
        let tail = move || {
            stderr_tail
                .lock()
                .map(|t| t.iter().cloned().collect::<Vec<_>>().join("\n"))
                .unwrap_or_default()
        };

        let (agent_tx, agent_rx) = mpsc::unbounded_channel::<FromAgent>();
        let tx_updates = agent_tx.clone();
        let tx_perms = agent_tx;
        let transport = ByteStreams::new(stdin.compat_write(), stdout.compat());
        // The turn loop runs inside the connection, borrowing the host for that time.
        let result = Client
            .v1()
            .name("aside-host")
            .on_receive_notification(
                async move |n: SessionNotification, _cx| {
                    let update = serde_json::to_value(&n.update).unwrap_or(Value::Null);
                    let _ = tx_updates.send(FromAgent::Update(update));
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
                    .session(cx, &mut child, agent_rx, &mut ctl, &mut queue, &tail)
                    .await;
                // From here on a client must start a new host rather than talk to this one.
                let _ = std::fs::remove_file(self.layout.socket(&self.record.id));
                stop_agent(&mut child, pgid).await;
                Ok(r)
            })
            .await;
        kill_group(pgid, libc::SIGKILL);
        let _ = std::fs::remove_file(&pgid_file);
        match result {
            Ok(r) => r,
            Err(e) => Err(anyhow!(
                "the agent connection failed: {e}. Agent stderr:\n{}",
                tail()
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
        queue: &mut VecDeque<Queued>,
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
                Ok(Err(e)) => return Err(anyhow!("the agent `{program}` refused `initialize`: {e}. Its stderr:\n{}", tail())),
                Ok(Ok(r)) => r,
            },
            status = child.wait() => {
                return Err(anyhow!("the agent `{program}` exited during startup ({}). Its stderr:\n{}",
                    status.map(|s| s.to_string()).unwrap_or_default(), tail()));
            }
        };
        let caps = serde_json::to_value(&init.agent_capabilities).unwrap_or(Value::Null);
        let cwd: PathBuf = self.record.worktree.clone();
        let mut session_id: Option<String> = None;
        if let Some(previous) = self.record.acp_session_id.clone() {
            if !caps["sessionCapabilities"]["resume"].is_null() {
                let r = cx
                    .send_request(ResumeSessionRequest::new(previous.clone(), cwd.clone()))
                    .block_task()
                    .await;
                if r.is_ok() {
                    session_id = Some(previous.clone());
                }
            }
            if session_id.is_none() && caps["loadSession"] == true {
                let r = cx
                    .send_request(LoadSessionRequest::new(previous.clone(), cwd.clone()))
                    .block_task()
                    .await;
                if r.is_ok() {
                    session_id = Some(previous.clone());
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
                // A fresh agent session, seeded with what happened so far.
                if let Some(first) = queue.front_mut() {
                    first.text = format!("{}\n\n{}", self.transcript()?, first.text);
                }
            }
        }
        let session_id = match session_id {
            Some(id) => id,
            None => {
                let r = cx
                    .send_request(NewSessionRequest::new(cwd.clone()))
                    .block_task()
                    .await
                    .map_err(|e| {
                        anyhow!(
                            "the agent refused session/new: {e}. Its stderr:\n{}",
                            tail()
                        )
                    })?;
                let id = r.session_id.0.to_string();
                self.index
                    .update(&self.record.id, Change::AcpSession(&id))?;
                self.record.acp_session_id = Some(id.clone());
                id
            }
        };

        if queue.is_empty() {
            let resting = self.resting;
            self.set_status(resting, None);
        }
        let mut turn: Option<
            oneshot::Receiver<Result<PromptResponse, agent_client_protocol::Error>>,
        > = None;
        let mut pending: VecDeque<(Value, Responder<RequestPermissionResponse>)> = VecDeque::new();
        let mut cancelling = false;
        let mut tool_calls: HashMap<String, Value> = HashMap::new();
        let idle = self.idle;
        loop {
            if turn.is_none() {
                if let Some(next) = queue.pop_front() {
                    turn = Some(self.begin_turn(&cx, &session_id, next));
                    cancelling = false;
                }
            }
            let idle_now = turn.is_none() && queue.is_empty() && pending.is_empty();
            tokio::select! {
                _ = tokio::time::sleep(idle), if idle_now => return Ok(Ending::Stopped),
                name = stop_signal(&mut signals) => {
                    let why = format!("the host was stopped ({name})");
                    self.interrupt(&cx, &session_id, &mut turn, &mut pending, queue, &why).await;
                    return Ok(Ending::Stopped);
                }
                Some(msg) = agent_rx.recv() => match msg {
                    FromAgent::Update(update) => {
                        let kind = update["sessionUpdate"].as_str().unwrap_or("update").to_string();
                        if kind == "tool_call" || kind == "tool_call_update" {
                            remember_tool_call(&mut tool_calls, &update);
                        }
                        self.emit(&kind, update);
                    }
                    FromAgent::Permission(boxed) => {
                        let (request, responder) = *boxed;
                        let mut request = serde_json::to_value(&request).unwrap_or(Value::Null);
                        // The request's tool call is an update: what it leaves out (the command
                        // line, the diff) is in the tool call announced before. The user sees
                        // the whole of it.
                        request["toolCall"] = whole_tool_call(&tool_calls, &request["toolCall"]);
                        if cancelling {
                            let _ = responder.respond(cancelled_answer());
                        } else if let Some(option) = self.auto_answer(&request) {
                            self.emit("permission", json!({"toolCall": request["toolCall"], "options": request["options"],
                                "decision": {"optionId": option, "by": format!("policy {}", self.record.approve)}}));
                            let _ = responder.respond(selected(&option));
                        } else {
                            self.emit("permission_request", json!({"toolCall": request["toolCall"], "options": request["options"]}));
                            pending.push_back((request, responder));
                            self.index.update(&self.record.id, Change::PendingPermission(true))?;
                            if self.record.status != Status::NeedsInput {
                                self.set_status(Status::NeedsInput, None);
                            }
                        }
                    }
                },
                Some(control) = ctl.recv() => {
                    let Control { request, reply } = control;
                    let answer = match request {
                        Request::Prompt { text, request } => {
                            if !self.take_request(&request) {
                                // Sent again after a host died: already taken.
                            } else if turn.is_some() {
                                self.emit("prompt_queued", json!({"text": text, "request": request}));
                                queue.push_back(Queued { text, resumed: false, request });
                            } else {
                                // The turn starts (and the prompt is stored) before the answer,
                                // so whoever sent it never reads the previous turn's status and
                                // a host dying now cannot lose it.
                                turn = Some(self.begin_turn(&cx, &session_id, Queued { text, resumed: false, request }));
                                cancelling = false;
                            }
                            Ok(Reply::ok(None))
                        }
                        Request::Cancel => {
                            if turn.is_some() {
                                cancelling = true;
                                let _ = cx.send_notification(CancelNotification::new(session_id.clone()));
                                while let Some((_, responder)) = pending.pop_front() {
                                    let _ = responder.respond(cancelled_answer());
                                }
                                // Cancel means "stop working": queued follow-ups go too, and
                                // the user is told how many, here and in the history.
                                let dropped = queue.len();
                                queue.clear();
                                self.emit("cancel_requested", json!({"dropped": dropped}));
                                Ok(Reply::ok((dropped > 0).then(|| format!(
                                    "dropped {}; send {} again when you want {}",
                                    plural(dropped, "queued follow-up"),
                                    if dropped == 1 { "it" } else { "them" },
                                    if dropped == 1 { "it" } else { "them" },
                                ))))
                            } else {
                                Err(format!("nothing to cancel: the session is {}", self.record.status))
                            }
                        }
                        Request::Answer { choice } => match pending.pop_front() {
                            None => Err("no permission request is waiting for an answer".to_string()),
                            Some((request, responder)) => match choose(&request, choice) {
                                Some(option) => {
                                    let _ = responder.respond(selected(&option));
                                    self.emit("permission_answer", json!({"optionId": option, "choice": choice}));
                                    if pending.is_empty() {
                                        self.index.update(&self.record.id, Change::PendingPermission(false))?;
                                        self.set_status(Status::Running, None);
                                    }
                                    Ok(Reply::ok(None))
                                }
                                None => {
                                    let msg = format!("the agent offered no option for {choice:?}");
                                    pending.push_front((request, responder));
                                    Err(msg)
                                }
                            },
                        },
                        Request::Stop => {
                            self.interrupt(&cx, &session_id, &mut turn, &mut pending, queue, "stopped by `aside stop`").await;
                            let _ = reply.send(Reply::ok(None));
                            return Ok(Ending::Stopped);
                        }
                        Request::Subscribe { .. } => Err("subscribe is served by the connection".into()),
                    };
                    let _ = reply.send(answer.unwrap_or_else(Reply::refused));
                },
                result = async { match turn.as_mut() { Some(rx) => rx.await, None => std::future::pending().await } } => {
                    turn = None;
                    while let Some((_, responder)) = pending.pop_front() {
                        let _ = responder.respond(cancelled_answer());
                    }
                    self.index.update(&self.record.id, Change::PendingPermission(false))?;
                    match result {
                        Ok(Ok(response)) => {
                            let stop = serde_json::to_value(response.stop_reason).unwrap_or(Value::Null);
                            self.emit("turn_end", json!({"stopReason": stop}));
                            self.checkpoint().await;
                            if !queue.is_empty() {
                                continue;
                            }
                            let status = if stop == "cancelled" { Status::Cancelled } else { Status::Completed };
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
                            self.emit("error", json!({"message": message}));
                            self.checkpoint().await;
                            self.set_status(Status::Failed, Some(&message));
                        }
                        Err(_) => return Err(anyhow!("lost the agent's answer to the prompt")),
                    }
                },
                status = child.wait() => {
                    let working = turn.is_some() || !queue.is_empty();
                    if working {
                        self.checkpoint().await;
                        return Err(anyhow!("the agent `{program}` exited mid-turn ({}). Its stderr:\n{}",
                            status.map(|s| s.to_string()).unwrap_or_default(), tail()));
                    }
                    return Ok(Ending::Stopped);
                },
            }
        }
    }

    /// Whether a follow-up is new (and notes it as taken): one sent again by a client whose
    /// host died before it answered was already stored.
    fn take_request(&mut self, request: &Option<String>) -> bool {
        match request {
            Some(id) => self.taken.insert(id.clone()),
            None => true,
        }
    }

    /// Stores the prompt, marks the session running and sends the prompt to the agent; the
    /// receiver gets the agent's answer when the turn ends.
    fn begin_turn(
        &mut self,
        cx: &ConnectionTo<Agent>,
        session_id: &str,
        next: Queued,
    ) -> oneshot::Receiver<Result<PromptResponse, agent_client_protocol::Error>> {
        self.emit(
            "prompt",
            json!({"text": next.text, "resumed": next.resumed, "request": next.request}),
        );
        if self.record.status != Status::Running {
            self.set_status(Status::Running, None);
        }
        let (tx, rx) = oneshot::channel();
        let request = PromptRequest::new(session_id.to_string(), vec![next.text.into()]);
        let cx = cx.clone();
        tokio::spawn(async move {
            let _ = tx.send(cx.send_request(request).block_task().await);
        });
        rx
    }

    /// Ends the host's work now, losing nothing: a running turn is cancelled (ACP
    /// `session/cancel`; the agent gets a moment to wind down and save its session), pending
    /// permission requests are answered `cancelled`, the worktree is checkpointed and the session
    /// becomes `interrupted`, resumable. Queued follow-ups stay in the history as
    /// `prompt_queued`, so the next host takes them up. An idle session keeps its status.
    async fn interrupt(
        &mut self,
        cx: &ConnectionTo<Agent>,
        session_id: &str,
        turn: &mut Option<oneshot::Receiver<Result<PromptResponse, agent_client_protocol::Error>>>,
        pending: &mut VecDeque<(Value, Responder<RequestPermissionResponse>)>,
        queue: &VecDeque<Queued>,
        why: &str,
    ) {
        while let Some((_, responder)) = pending.pop_front() {
            let _ = responder.respond(cancelled_answer());
        }
        let Some(rx) = turn.take() else {
            return;
        };
        let _ = cx.send_notification(CancelNotification::new(session_id.to_string()));
        let _ = tokio::time::timeout(Duration::from_secs(1), rx).await;
        let _ = self
            .index
            .update(&self.record.id, Change::PendingPermission(false));
        self.emit("interrupted", json!({"reason": why, "queued": queue.len()}));
        self.checkpoint().await;
        let reason = format!(
            "{why} mid-turn; `aside resume {}` continues it",
            self.record.id
        );
        self.set_status(Status::Interrupted, Some(&reason));
    }

    /// Stops the agent process group an earlier host of this session left behind (that host was
    /// killed before it could), so a resumed session never runs two agents.
    fn stop_leftover_agent(&self) {
        let file = self.layout.session_dir(&self.record.id).join("agent.pgid");
        let Some(pgid) = std::fs::read_to_string(&file)
            .ok()
            .and_then(|s| s.trim().parse::<i32>().ok())
        else {
            return;
        };
        // Only if that group still runs our agent: its leader's cwd is the session's worktree.
        let cwd = std::fs::read_link(format!("/proc/{pgid}/cwd")).ok();
        if cwd.as_deref() == Some(self.record.worktree.as_path()) {
            kill_group(Some(pgid), libc::SIGKILL);
        }
        let _ = std::fs::remove_file(file);
    }

    /// The option a permission request gets without asking, under the session's policy.
    fn auto_answer(&self, request: &Value) -> Option<String> {
        let kind = request["toolCall"]["kind"].as_str().unwrap_or("other");
        let allowed = match self.record.approve {
            Approve::All => true,
            Approve::Edits => matches!(
                kind,
                "read" | "search" | "think" | "edit" | "delete" | "move"
            ),
            Approve::Ask => matches!(kind, "read" | "search" | "think"),
        };
        if allowed {
            choose(request, Choice::Allow)
        } else {
            None
        }
    }

    /// Commits the worktree at the end of a turn (isolated mode) and counts changed files (in
    /// workspace mode against the snapshot taken at start, committing nothing).
    async fn checkpoint(&mut self) {
        if self.record.mode != Mode::Isolated {
            let (Some(base), dir) = (self.record.base.clone(), self.record.worktree.clone()) else {
                return;
            };
            let files =
                tokio::task::spawn_blocking(move || aside_git::changed_files(&dir, &base)).await;
            if let Ok(Ok(files)) = files {
                let change = Change::Changes {
                    files: files.len() as u64,
                    added: files.iter().map(|f| f.added).sum(),
                    removed: files.iter().map(|f| f.removed).sum(),
                };
                let _ = self.index.update(&self.record.id, change);
            }
            return;
        }
        let worktree = self.record.worktree.clone();
        let base = self.record.base.clone().unwrap_or_default();
        let turn = self
            .events
            .since(0)
            .map(|e| e.iter().filter(|e| e.kind == "turn_end").count())
            .unwrap_or(0);
        let message = format!("aside: {} (turn {turn})", self.record.title);
        let result = tokio::task::spawn_blocking(move || {
            let commit = aside_git::checkpoint(&worktree, &message)?;
            let files = aside_git::changed_files(&worktree, &base)?;
            Ok::<_, aside_git::GitError>((commit, files))
        })
        .await;
        match result {
            Ok(Ok((commit, files))) => {
                let change = Change::Changes {
                    files: files.len() as u64,
                    added: files.iter().map(|f| f.added).sum(),
                    removed: files.iter().map(|f| f.removed).sum(),
                };
                let _ = self.index.update(&self.record.id, change);
                if let Some(commit) = commit {
                    let files: Vec<Value> = files
                        .iter()
                        .map(|f| json!({"path": f.path, "added": f.added, "removed": f.removed}))
                        .collect();
                    self.emit("checkpoint", json!({"commit": commit, "files": files}));
                }
            }
            Ok(Err(e)) => self.emit(
                "error",
                json!({"message": format!("checkpoint failed: {e}")}),
            ),
            Err(e) => self.emit(
                "error",
                json!({"message": format!("checkpoint failed: {e}")}),
            ),
        }
    }

    /// What happened so far, as text, for an agent that cannot load the session.
    fn transcript(&self) -> anyhow::Result<String> {
        let mut out = String::from(
            "(aside: this conversation continues an earlier one; here is what happened so far)\n",
        );
        let mut agent = String::new();
        for event in self.events.since(0)? {
            match event.kind.as_str() {
                "prompt" => {
                    if !agent.is_empty() {
                        out.push_str(&format!("AGENT: {agent}\n"));
                        agent.clear();
                    }
                    out.push_str(&format!(
                        "USER: {}\n",
                        event.data["text"].as_str().unwrap_or_default()
                    ));
                }
                "agent_message_chunk" => {
                    agent.push_str(event.data["content"]["text"].as_str().unwrap_or_default())
                }
                "tool_call" => out.push_str(&format!(
                    "TOOL: {}\n",
                    event.data["title"].as_str().unwrap_or_default()
                )),
                _ => {}
            }
        }
        if !agent.is_empty() {
            out.push_str(&format!("AGENT: {agent}\n"));
        }
        Ok(out)
    }
}

/// Merges a `tool_call` / `tool_call_update` into what is known of that tool call (ACP: fields an
/// update leaves out keep their value).
fn remember_tool_call(known: &mut HashMap<String, Value>, update: &Value) {
    let Some(id) = update["toolCallId"].as_str() else {
        return;
    };
    let merged = whole_tool_call(known, update);
    known.insert(id.to_string(), merged);
}

/// A tool call update filled in with what is known of that call.
fn whole_tool_call(known: &HashMap<String, Value>, update: &Value) -> Value {
    let id = update["toolCallId"].as_str().unwrap_or_default();
    let mut whole = known
        .get(id)
        .cloned()
        .unwrap_or_else(|| Value::Object(Default::default()));
    if let (Some(whole), Some(fields)) = (whole.as_object_mut(), update.as_object()) {
        for (key, value) in fields {
            if !value.is_null() && key != "sessionUpdate" {
                whole.insert(key.clone(), value.clone());
            }
        }
    }
    whole
}

/// "1 queued follow-up", "2 queued follow-ups".
fn plural(n: usize, noun: &str) -> String {
    if n == 1 {
        format!("1 {noun}")
    } else {
        format!("{n} {noun}s")
    }
}

/// The option of the wanted kind (falling back to its sibling), by kind, never by position.
fn choose(request: &Value, choice: Choice) -> Option<String> {
    let kinds: &[&str] = match choice {
        Choice::Allow => &["allow_once", "allow_always"],
        Choice::AllowAlways => &["allow_always", "allow_once"],
        Choice::Deny => &["reject_once", "reject_always"],
    };
    let options = request["options"].as_array()?;
    kinds.iter().find_map(|kind| {
        options
            .iter()
            .find(|o| o["kind"] == *kind)
            .and_then(|o| o["optionId"].as_str().map(str::to_string))
    })
}

fn selected(option: &str) -> RequestPermissionResponse {
    serde_json::from_value(json!({"outcome": {"outcome": "selected", "optionId": option}}))
        .unwrap_or_else(|_| cancelled_answer())
}

fn cancelled_answer() -> RequestPermissionResponse {
    RequestPermissionResponse::new(
        agent_client_protocol::v1::schema::RequestPermissionOutcome::Cancelled,
    )
}

fn kill_group(pgid: Option<i32>, signal: i32) {
    if let Some(pgid) = pgid {
        aside_core::process::kill_group(pgid, signal);
    }
}

/// Stops the agent: its stdin closes with the connection; then SIGTERM, then SIGKILL, on the
/// whole group (npm launchers start the real binary as a child).
async fn stop_agent(child: &mut tokio::process::Child, pgid: Option<i32>) {
    if tokio::time::timeout(Duration::from_millis(500), child.wait())
        .await
        .is_err()
    {
        kill_group(pgid, libc::SIGTERM);
        if tokio::time::timeout(Duration::from_secs(2), child.wait())
            .await
            .is_err()
        {
            kill_group(pgid, libc::SIGKILL);
            let _ = child.wait().await;
        }
    }
    kill_group(pgid, libc::SIGKILL);
}

/// Starts `aside host <id>` detached: its own process session, stdio to the host log.
pub fn spawn(
    layout: &Layout,
    id: &SessionId,
    exe: &std::path::Path,
) -> std::io::Result<std::process::Child> {
    std::fs::create_dir_all(layout.session_dir(id))?;
    let log = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(layout.host_log(id))?;
    let mut cmd = std::process::Command::new(exe);
    cmd.arg("host")
        .arg(id.as_str())
        .env("ASIDE_HOME", &layout.home)
        .stdin(std::process::Stdio::null())
        .stdout(log.try_clone()?)
        .stderr(log);
    aside_core::process::detach(&mut cmd);
    cmd.spawn()
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn event(seq: u64, kind: &str, data: Value) -> Event {
        Event {
            seq,
            ts: String::new(),
            kind: kind.into(),
            data,
        }
    }

    #[test]
    fn queued_follow_ups_no_turn_took_are_taken_up_again() {
        let events = [
            event(1, "prompt", json!({"text": "task"})),
            event(2, "prompt_queued", json!({"text": "a"})),
            event(3, "prompt_queued", json!({"text": "b"})),
            event(4, "prompt", json!({"text": "a"})),
        ];
        let texts = |q: VecDeque<Queued>| q.into_iter().map(|q| q.text).collect::<Vec<_>>();
        assert_eq!(texts(waiting_follow_ups(&events)), ["b"]);
        let cancelled = [
            event(1, "prompt_queued", json!({"text": "a"})),
            event(2, "cancel_requested", json!({"dropped": 1})),
            event(3, "prompt_queued", json!({"text": "c"})),
        ];
        assert_eq!(texts(waiting_follow_ups(&cancelled)), ["c"]);
        // Follow-ups with the same text are told apart by their request ids.
        let twice = [
            event(
                1,
                "prompt_queued",
                json!({"text": "again", "request": "r1"}),
            ),
            event(
                2,
                "prompt_queued",
                json!({"text": "again", "request": "r2"}),
            ),
            event(3, "prompt", json!({"text": "again", "request": "r2"})),
        ];
        let left = waiting_follow_ups(&twice);
        assert_eq!(left.len(), 1);
        assert_eq!(left[0].request.as_deref(), Some("r1"));
        assert_eq!(taken_requests(&twice).len(), 2);
    }

    #[test]
    fn a_permission_request_is_filled_in_from_its_tool_call() {
        let mut known = HashMap::new();
        remember_tool_call(
            &mut known,
            &json!({"sessionUpdate": "tool_call", "toolCallId": "t1", "title": "bash",
                "kind": "execute", "rawInput": {"command": "rm -rf build"}}),
        );
        remember_tool_call(
            &mut known,
            &json!({"sessionUpdate": "tool_call_update", "toolCallId": "t1", "status": "pending"}),
        );
        let whole = whole_tool_call(
            &known,
            &json!({"toolCallId": "t1", "title": "create file", "rawInput": null}),
        );
        assert_eq!(
            whole,
            json!({"toolCallId": "t1", "title": "create file", "kind": "execute",
                "status": "pending", "rawInput": {"command": "rm -rf build"}})
        );
        assert_eq!(
            whole_tool_call(&known, &json!({"toolCallId": "t2", "title": "x"})),
            json!({"toolCallId": "t2", "title": "x"})
        );
    }
}
