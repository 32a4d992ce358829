//! The view's loop: keys in, commands carried out through `aside_sessions`, data read from the
//! store (the index every second, the open session's event log every 200 ms; sessions started
//! elsewhere every few seconds), the screen redrawn, a bell rung when a session needs an answer
//! or ends.

use crate::app::{App, Command, Row, Screen};
use crate::theme::Theme;
use aside_core::config::MachineConfig;
use aside_core::{Config, Mode, SessionKind};
use aside_protocol::client::{follow_until, Flow, Step, Stopper};
use aside_protocol::Choice;
use aside_sessions::{NewSession, Outcome, Sessions};
use ratatui::crossterm::event::{self, Event as TermEvent, KeyEventKind};
use std::collections::{BTreeMap, HashMap};
use std::io::Write as _;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// What the loop needs besides the sessions.
pub struct Options {
    /// The aside binary, for the commands that take the terminal (`open`, `attach --native`).
    pub exe: PathBuf,
    /// Where new sessions start.
    pub dir: PathBuf,
}

const LIST_EVERY: Duration = Duration::from_secs(1);
const EXTERNAL_EVERY: Duration = Duration::from_secs(3);
const EVENTS_EVERY: Duration = Duration::from_millis(200);

fn now_secs() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0)
}

/// The start of the agent's last message in session `id`'s log.
fn last_line(ctx: &Sessions, id: &aside_core::SessionId) -> String {
    let Ok(log) = aside_store::EventLog::open(&ctx.layout, id) else {
        return String::new();
    };
    let last = log.last_seq().unwrap_or(0);
    let events = log.since(last.saturating_sub(60)).unwrap_or_default();
    let mut text = String::new();
    for e in &events {
        match e.kind.as_str() {
            "prompt" => text.clear(),
            "agent_message_chunk" => {
                if e.data["content"]["text"].is_string() && text.ends_with("\n\n") {
                    text.clear();
                }
                text.push_str(e.data["content"]["text"].as_str().unwrap_or_default());
            }
            _ => {}
        }
    }
    text.lines()
        .rev()
        .find(|l| !l.trim().is_empty())
        .unwrap_or_default()
        .trim()
        .chars()
        .take(120)
        .collect()
}

/// The configured machines' sessions, asked over SSH on a thread of its own at most every
/// [`MACHINE_EVERY`]: the list never waits for a machine.
#[derive(Default)]
struct MachineLists {
    items: Vec<serde_json::Value>,
    asked_at: Option<Instant>,
    asking: bool,
}

const MACHINE_EVERY: Duration = Duration::from_secs(5);

struct Loader {
    machines: BTreeMap<String, MachineConfig>,
    remote: Arc<Mutex<MachineLists>>,
    externals: Vec<aside_sessions::external::External>,
    externals_at: Option<Instant>,
    /// id → (updated_at, last line), so a log is read again only when its session changed.
    lines: HashMap<String, (String, String)>,
}

impl Loader {
    fn rows(&mut self, ctx: &Sessions) -> Vec<Row> {
        let name = |p: &std::path::Path| {
            p.file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_default()
        };
        let records = ctx.index.list(false).unwrap_or_default();
        let mut rows: Vec<Row> = records
            .iter()
            .map(|r| {
                let id = r.id.to_string();
                let line = match self.lines.get(&id) {
                    Some((at, line)) if *at == r.updated_at => line.clone(),
                    _ => {
                        let line = last_line(ctx, &r.id);
                        self.lines
                            .insert(id.clone(), (r.updated_at.clone(), line.clone()));
                        line
                    }
                };
                Row {
                    id,
                    title: r.title.clone(),
                    repo: name(&r.repo),
                    agent: r.agent.clone(),
                    mode: r.mode.as_str().to_string(),
                    status: ctx.status(r).as_str().to_string(),
                    files: r.changed_files,
                    usage: r.usage,
                    updated_at: r.updated_at.clone(),
                    last_line: line,
                    external: false,
                    archived: r.archived,
                }
            })
            .collect();
        if self
            .externals_at
            .is_none_or(|t| t.elapsed() >= EXTERNAL_EVERY)
        {
            let repos = ctx.repos().unwrap_or_default();
            self.externals = ctx
                .externals()
                .into_iter()
                .filter(|s| Sessions::known_repo(&repos, &s.summary.cwd).is_some())
                .collect();
            self.externals_at = Some(Instant::now());
        }
        rows.extend(self.machine_rows());
        rows.extend(self.externals.iter().map(|s| Row {
            id: s.summary.id.clone(),
            title: s.summary.title.clone(),
            repo: name(&s.summary.cwd),
            agent: s.tool.agent().to_string(),
            mode: "external".into(),
            status: s.status().to_string(),
            files: 0,
            usage: Default::default(),
            updated_at: s.updated_at(),
            last_line: String::new(),
            external: true,
            archived: false,
        }));
        rows
    }
}

impl Loader {
    /// The machines' sessions as they last answered (asked again in the background when
    /// that is old), each marked with its machine; an unreachable one's as last seen.
    fn machine_rows(&self) -> Vec<Row> {
        if self.machines.is_empty() {
            return Vec::new();
        }
        let mut lists = self.remote.lock().unwrap_or_else(|e| e.into_inner());
        if !lists.asking && lists.asked_at.is_none_or(|t| t.elapsed() >= MACHINE_EVERY) {
            lists.asking = true;
            let (machines, into) = (self.machines.clone(), self.remote.clone());
            std::thread::spawn(move || {
                let items = aside_sessions::remote::sessions(&machines, false)
                    .iter()
                    .flat_map(|m| m.items())
                    .collect();
                let mut lists = into.lock().unwrap_or_else(|e| e.into_inner());
                *lists = MachineLists {
                    items,
                    asked_at: Some(Instant::now()),
                    asking: false,
                };
            });
        }
        let text =
            |s: &serde_json::Value, key: &str| s[key].as_str().unwrap_or_default().to_string();
        lists
            .items
            .iter()
            .map(|s| {
                let repo = std::path::Path::new(&text(s, "repo"))
                    .file_name()
                    .map(|n| n.to_string_lossy().into_owned())
                    .unwrap_or_default();
                Row {
                    id: text(s, "id"),
                    title: text(s, "title"),
                    repo: format!("{}:{repo}", text(s, "machine")),
                    agent: text(s, "agent"),
                    mode: text(s, "mode"),
                    status: text(s, "status"),
                    files: s["changed_files"].as_u64().unwrap_or(0),
                    usage: serde_json::from_value(s["usage"].clone()).unwrap_or_default(),
                    updated_at: text(s, "updated_at"),
                    last_line: if s["unreachable"] == true {
                        format!("{} cannot be reached: as last seen", text(s, "machine"))
                    } else {
                        String::new()
                    },
                    external: false,
                    archived: s["archived"] == true,
                }
            })
            .collect()
    }
}

/// What rings the terminal: a desktop notification where the terminal takes OSC 9 (with a BEL
/// ending it), a plain BEL under tmux or screen (which would swallow or mangle OSC 9).
pub fn notification(text: &str, multiplexed: bool) -> Vec<u8> {
    if multiplexed {
        return b"\x07".to_vec();
    }
    let text: String = crate::transcript::clean(text)
        .replace('\n', " ")
        .chars()
        .take(200)
        .collect();
    format!("\x1b]9;{text}\x07").into_bytes()
}

/// Rings this terminal (see [`notification`]).
pub fn notify(text: &str) {
    use std::io::IsTerminal as _;
    // Only a terminal rings; escape codes must not end up in a pipe or a file.
    if !std::io::stdout().is_terminal() {
        return;
    }
    let multiplexed = std::env::var_os("TMUX").is_some()
        || std::env::var("TERM").is_ok_and(|t| t.starts_with("screen"));
    let mut out = std::io::stdout();
    let _ = out.write_all(&notification(text, multiplexed));
    let _ = out.flush();
}

/// Runs `command` with the terminal given back to it; the view comes back after.
fn step_aside(
    terminal: &mut ratatui::DefaultTerminal,
    command: &mut std::process::Command,
) -> Result<std::process::ExitStatus, String> {
    ratatui::restore();
    let status = command.status().map_err(|e| e.to_string());
    *terminal = ratatui::try_init().map_err(|e| e.to_string())?;
    let _ = terminal.clear();
    status
}

/// The view, until the user quits. Sessions go on.
pub fn run(ctx: Sessions, config: Config, options: Options) -> Result<(), String> {
    let theme = Theme::from_env();
    // Installed agents first; the configured default selected in the new-session form.
    let exe = options.exe.display().to_string();
    let found = aside_core::agents::detect_installed_first(&config, &exe);
    let agents: Vec<String> = found.into_iter().map(|a| a.name).collect();
    let default_agent = agents
        .iter()
        .position(|a| *a == config.defaults.agent())
        .unwrap_or(0);
    let mut app = App::new(theme, agents);
    app.default_agent = default_agent;
    app.machines = config.machines.keys().cloned().collect();
    let network = match config.sandbox.network() {
        Ok(aside_core::sandbox::Network::All) => "network allowed",
        Ok(aside_core::sandbox::Network::Only(_)) => "listed hosts only",
        _ => "no network",
    };
    app.sandbox = Some(if config.sandbox.enabled {
        format!("sandboxed, {network}")
    } else {
        "no sandbox".to_string()
    });
    app.sandboxed_agents = config
        .agents
        .iter()
        .filter(|(_, a)| a.sandbox == Some(true))
        .map(|(name, _)| name.clone())
        .collect();
    let mut loader = Loader {
        machines: config.machines.clone(),
        remote: Default::default(),
        externals: Vec::new(),
        externals_at: None,
        lines: HashMap::new(),
    };
    let mut terminal = ratatui::try_init().map_err(|e| format!("cannot use the terminal: {e}"))?;
    let mut statuses: HashMap<String, String> = HashMap::new();
    let mut first = true;
    let mut list_at: Option<Instant> = None;
    let mut events_at: Option<Instant> = None;
    let mut follower: Option<Follower> = None;
    let mut external_seen: Option<(String, u64)> = None;
    let result = loop {
        if list_at.is_none_or(|t| t.elapsed() >= LIST_EVERY) {
            let rows = loader.rows(&ctx);
            for r in &rows {
                let before = statuses.insert(r.id.clone(), r.status.clone());
                if !first && before.as_deref() != Some(r.status.as_str()) && !r.external {
                    match r.status.as_str() {
                        "needs_input" => notify(&format!("aside: {} needs your answer", r.title)),
                        "completed" | "failed" => {
                            notify(&format!("aside: {} {}", r.title, r.status))
                        }
                        _ => {}
                    }
                }
            }
            first = false;
            app.set_rows(rows);
            list_at = Some(Instant::now());
        }
        match app.screen.clone() {
            Screen::Session(id) => {
                // aside's own session: what its follower brought since (streamed text as it
                // streams); one started elsewhere: its file, read again every so often.
                if !follow(&ctx, &loader.machines, &mut app, &id, &mut follower)
                    && events_at.is_none_or(|t| t.elapsed() >= EVENTS_EVERY)
                {
                    load_external(&mut app, &id, &mut external_seen, &loader);
                    events_at = Some(Instant::now());
                }
            }
            _ => follower = None,
        }
        let now = now_secs();
        if let Err(e) = terminal.draw(|frame| crate::ui::draw(frame, &mut app, now)) {
            break Err(e.to_string());
        }
        // A followed session's events arrive on their own: drawn soon after they come.
        let wait = if follower.is_some() { 30 } else { 100 };
        match event::poll(Duration::from_millis(wait)) {
            Ok(true) => {}
            Ok(false) => continue,
            Err(e) => break Err(e.to_string()),
        }
        let key = match event::read() {
            Ok(TermEvent::Key(key)) if key.kind != KeyEventKind::Release => key,
            Ok(_) => continue,
            Err(e) => break Err(e.to_string()),
        };
        let Some(command) = app.on_key(key) else {
            continue;
        };
        if command == Command::Quit {
            break Ok(());
        }
        let outcome = carry_out(&ctx, &config, &options, &mut app, &mut terminal, command);
        match outcome {
            Ok(Some(text)) => app.note(&text, false),
            Ok(None) => {}
            Err(text) => app.note(&text, true),
        }
        // What the command changed shows at once.
        list_at = None;
        events_at = None;
    };
    ratatui::restore();
    result
}

/// An open session followed the way every reader follows one (`client::follow`: what is
/// stored, then what its host streams, piece by piece, across host restarts), on a thread of
/// its own that hands events over; stopped when the screen closes.
struct Follower {
    id: String,
    /// Which opening of the screen it fills (each starts an empty transcript).
    opened: u64,
    events: std::sync::mpsc::Receiver<aside_core::Event>,
    stopper: Arc<Stopper>,
}

impl Follower {
    /// A follower of session `id` (this opening of its screen) whose thread runs `follow`,
    /// which gives each step to `hand` (an event, or none) and stops when it says so: when the
    /// screen has closed.
    fn start(
        id: &str,
        opened: u64,
        follow: impl FnOnce(&Stopper, &mut dyn FnMut(Option<aside_core::Event>) -> Flow)
            + Send
            + 'static,
    ) -> Follower {
        let (tx, events) = std::sync::mpsc::channel();
        let stopper = Arc::new(Stopper::default());
        let stop = stopper.clone();
        std::thread::spawn(move || {
            let mut hand = |event: Option<aside_core::Event>| {
                let gone = event.is_some_and(|e| tx.send(e).is_err());
                if gone || stop.stopped() {
                    Flow::Stop
                } else {
                    Flow::Continue
                }
            };
            follow(&stop, &mut hand);
        });
        Follower {
            id: id.to_string(),
            opened,
            events,
            stopper,
        }
    }
}

impl Drop for Follower {
    fn drop(&mut self) {
        self.stopper.stop();
    }
}

/// Takes what the follower of aside's session `id` brought into the transcript, starting one
/// when the screen was just opened. False when `id` is not one of aside's sessions (one started
/// in an agent's own CLI).
fn follow(
    ctx: &Sessions,
    machines: &BTreeMap<String, MachineConfig>,
    app: &mut App,
    id: &str,
    follower: &mut Option<Follower>,
) -> bool {
    let current = follower
        .as_ref()
        .is_some_and(|f| f.id == id && f.opened == app.opened);
    let there = aside_sessions::remote::split(id)
        .and_then(|(name, there)| Some((machines.get(name)?.clone(), there.to_string())));
    if !current && there.is_some() {
        // A session on another machine: followed over SSH from its start, across dropped
        // connections.
        *follower = None;
        let Some((machine, there)) = there else {
            return false;
        };
        let since = app.transcript.last_seq();
        *follower = Some(Follower::start(id, app.opened, move |stop, hand| {
            let _ = aside_sessions::remote::follow_until(&machine, &there, since, stop, |step| {
                hand(match step {
                    aside_sessions::remote::Step::Event(event) => Some(event),
                    _ => None,
                })
            });
        }));
    } else if !current {
        *follower = None;
        let Ok(record) = ctx.resolve(id) else {
            return false;
        };
        // A long session opens at its end (about the last 2,000 events, from their turn).
        let start = aside_store::EventLog::open(&ctx.layout, &record.id)
            .and_then(|log| log.tail_start(TAIL))
            .unwrap_or(0);
        app.transcript.start_after(
            start,
            format!("{start} earlier events: `aside show {id} --all` prints them"),
        );
        let (layout, since) = (ctx.layout.clone(), app.transcript.last_seq());
        *follower = Some(Follower::start(id, app.opened, move |stop, hand| {
            let _ = follow_until(&layout, &record.id, since, stop, |step| {
                hand(match step {
                    Step::Event(event) => Some(event),
                    Step::NoHost => None,
                })
            });
        }));
    }
    if let Some(f) = follower {
        while let Ok(event) = f.events.try_recv() {
            app.transcript.push(&event);
        }
    }
    true
}

/// New events of a session started in an agent's own CLI, from its file when it grew.
fn load_external(
    app: &mut App,
    id: &str,
    external_seen: &mut Option<(String, u64)>,
    loader: &Loader,
) {
    if let Some(session) = loader.externals.iter().find(|s| s.summary.id == id) {
        let size = std::fs::metadata(&session.file)
            .map(|m| m.len())
            .unwrap_or(0);
        if external_seen.as_ref() == Some(&(id.to_string(), size)) {
            return;
        }
        *external_seen = Some((id.to_string(), size));
        if let Ok((conversation, _)) = session.conversation() {
            for (n, (kind, data)) in conversation.to_events().into_iter().enumerate() {
                app.transcript.push(&aside_core::Event {
                    seq: n as u64 + 1,
                    ts: String::new(),
                    kind: kind.to_string(),
                    data,
                    piece: None,
                });
            }
        }
    }
}

/// About how many of a session's newest events the terminal view reads when it opens one.
const TAIL: usize = 2000;

fn carry_out(
    ctx: &Sessions,
    config: &Config,
    options: &Options,
    app: &mut App,
    terminal: &mut ratatui::DefaultTerminal,
    command: Command,
) -> Result<Option<String>, String> {
    let resolve = |id: &str| ctx.resolve(id).map_err(|e| e.to_string());
    let done = |text: String| Ok(Some(text));
    if let Some(said) = on_machine(config, options, app, &command) {
        return said;
    }
    match command {
        Command::Quit => Ok(None),
        Command::Trust { repo, asks, then } => {
            ctx.trust()
                .trust(&repo, &asks)
                .map_err(|e| format!("cannot record the trust: {e}"))?;
            carry_out(ctx, config, options, app, terminal, *then)
        }
        Command::Create {
            ref task,
            ref agent,
            isolated,
            ref approve,
            ref base,
            ref budget,
            machine: Some(ref name),
        } => {
            if let Some(b) = budget {
                aside_core::usage::Budget::parse(b)?;
            }
            // On another machine: `aside new --on`, in its own worktree there.
            if !isolated {
                return Err(format!(
                    "a session on {name} works in its own worktree there: choose isolated"
                ));
            }
            let machine = config
                .machines
                .get(name)
                .ok_or_else(|| format!("no machine `{name}` is configured: aside machine ls"))?;
            let what = aside_sessions::remote::StartThere {
                task: task.clone(),
                agent: Some(agent.clone()),
                approve: approve.clone(),
                base: base.clone(),
                budget: budget.clone(),
                ..Default::default()
            };
            let session = aside_sessions::remote::start(name, machine, &options.dir, &what)?;
            let id = session["id"].as_str().unwrap_or_default().to_string();
            app.open(id.clone());
            done(format!("started {id} on {name} in the background"))
        }
        Command::Create {
            ref task,
            ref agent,
            isolated,
            ref approve,
            ref base,
            ref budget,
            machine: None,
        } => {
            let budget = budget
                .as_deref()
                .map(aside_core::usage::Budget::parse)
                .transpose()?;
            let create = command.clone();
            let (task, agent, approve, base) =
                (task.clone(), agent.clone(), approve.clone(), base.clone());
            let record = ctx.create(
                NewSession {
                    task,
                    agent,
                    mode: if isolated {
                        Mode::Isolated
                    } else {
                        Mode::Workspace
                    },
                    base,
                    name: None,
                    approve: approve.as_deref().and_then(aside_core::Approve::parse),
                    dir: options.dir.clone(),
                    kind: SessionKind::Task,
                    model: None,
                    title: None,
                    no_submodules: false,
                    sandbox: None,
                    budget,
                    from: None,
                },
                config,
            );
            let record = match record {
                Err(aside_sessions::OpError::Untrusted(untrusted)) => {
                    let aside_sessions::Untrusted { repo, asks, lines } = *untrusted;
                    // Shown, and asked: trusting is the user's act.
                    let question = format!(
                        "{}/.aside.toml asks aside to do this on your behalf:\n{}\nTrust it and start the session?",
                        repo.display(),
                        lines.iter().map(|l| format!("  {l}")).collect::<Vec<_>>().join("\n")
                    );
                    app.overlay = crate::app::Overlay::Confirm(
                        question,
                        Command::Trust {
                            repo,
                            asks,
                            then: Box::new(create),
                        },
                    );
                    return Ok(None);
                }
                other => other.map_err(|e| e.to_string())?,
            };
            app.open(record.id.to_string());
            done(format!("started {} in the background", record.id))
        }
        Command::Send(id, text) => {
            ctx.send(&resolve(&id)?, &text, config)
                .map_err(|e| e.to_string())?;
            app.scroll = 0;
            done(format!("sent to {id}"))
        }
        Command::Approve(id, always) => {
            let choice = if always {
                Choice::AllowAlways
            } else {
                Choice::Allow
            };
            ctx.answer(&resolve(&id)?, choice)
                .map_err(|e| e.to_string())?;
            done(format!("approved ({id})"))
        }
        Command::Deny(id) => {
            ctx.answer(&resolve(&id)?, Choice::Deny)
                .map_err(|e| e.to_string())?;
            done(format!("denied ({id})"))
        }
        Command::Cancel(id) => {
            ctx.cancel(&resolve(&id)?).map_err(|e| e.to_string())?;
            done(format!("cancelling {id}'s turn"))
        }
        Command::Stop(id) => {
            let stopped = ctx.stop(&resolve(&id)?).map_err(|e| e.to_string())?;
            done(if stopped {
                format!("stopped {id}'s agent; nothing was lost")
            } else {
                format!("{id} had nothing running")
            })
        }
        Command::Resume(id) => {
            ctx.resume(&resolve(&id)?, config)
                .map_err(|e| e.to_string())?;
            done(format!("resumed {id}"))
        }
        Command::Apply(id) => match ctx.apply(&resolve(&id)?).map_err(|e| e.to_string())? {
            Outcome::Done(files) => done(format!(
                "applied {} to your working tree: {}",
                id,
                files.join(", ")
            )),
            Outcome::Nothing => done(format!("{id} changed no files")),
            Outcome::Already => done(format!("your working tree already has {id}'s changes")),
        },
        Command::Merge(id) => match ctx
            .merge(&resolve(&id)?, false)
            .map_err(|e| e.to_string())?
        {
            Outcome::Done(commit) => done(format!(
                "merged {id} as {}",
                commit.chars().take(10).collect::<String>()
            )),
            Outcome::Nothing => done(format!("{id} changed no files")),
            Outcome::Already => done(format!("{id} is merged already")),
        },
        Command::Archive(id) => {
            ctx.archive(&resolve(&id)?, true)
                .map_err(|e| e.to_string())?;
            app.screen = Screen::List;
            done(format!("archived {id}"))
        }
        Command::Editor(id) => {
            let status = step_aside(
                terminal,
                std::process::Command::new(&options.exe).args(["open", &id]),
            )?;
            if status.success() {
                Ok(None)
            } else {
                Err(format!("aside open {id} failed ({status})"))
            }
        }
        Command::Attach(id) => {
            step_aside(
                terminal,
                std::process::Command::new(&options.exe).args(["attach", &id]),
            )?;
            Ok(None)
        }
        Command::Native(id) => {
            let status = step_aside(
                terminal,
                std::process::Command::new(&options.exe).args(["attach", "--native", &id]),
            )?;
            if status.success() {
                done(format!("{id} is back from its own CLI"))
            } else {
                Err(format!("aside attach --native {id} failed ({status})"))
            }
        }
        Command::LoadDiff(id) => {
            let record = resolve(&id)?;
            app.diff = ctx
                .diff(&record, false)
                .map_err(|e| e.to_string())?
                .lines()
                .map(str::to_string)
                .collect();
            Ok(None)
        }
    }
}

/// What a command does to a session on another machine (`NAME:ID`): what `aside` does with it
/// there, over SSH (apply and merge bring its work into the repository here, as `aside apply
/// NAME:ID` does); None for a local session.
fn on_machine(
    config: &Config,
    options: &Options,
    app: &mut App,
    command: &Command,
) -> Option<Result<Option<String>, String>> {
    let id = match command {
        Command::Send(id, _)
        | Command::Approve(id, _)
        | Command::Deny(id)
        | Command::Cancel(id)
        | Command::Stop(id)
        | Command::Resume(id)
        | Command::Apply(id)
        | Command::Merge(id)
        | Command::Archive(id)
        | Command::Editor(id)
        | Command::Native(id)
        | Command::LoadDiff(id) => id,
        // `aside attach NAME:ID` runs there itself.
        _ => return None,
    };
    let (name, there) = aside_sessions::remote::split(id)?;
    let Some(machine) = config.machines.get(name) else {
        return Some(Err(format!(
            "no machine `{name}` is configured: aside machine ls"
        )));
    };
    let run = |args: &[&str]| {
        aside_sessions::remote::act(machine, args, None)
            .map_err(|why| format!("on machine {name}: {why}"))
    };
    let said = |out: String, fallback: String| {
        let out = out.trim();
        if out.is_empty() {
            fallback
        } else {
            out.lines().last().unwrap_or(out).to_string()
        }
    };
    Some(match command {
        Command::Send(_, text) => run(&["send", there, "--", text]).map(|out| {
            app.scroll = 0;
            Some(said(out, format!("sent to {id}")))
        }),
        Command::Approve(_, always) => {
            let mut args = vec!["approve", there];
            if *always {
                args.push("--always");
            }
            run(&args).map(|out| Some(said(out, format!("approved ({id})"))))
        }
        Command::Deny(_) => {
            run(&["deny", there]).map(|out| Some(said(out, format!("denied ({id})"))))
        }
        Command::Cancel(_) => {
            run(&["cancel", there]).map(|out| Some(said(out, format!("cancelling {id}'s turn"))))
        }
        Command::Stop(_) => {
            run(&["stop", there]).map(|out| Some(said(out, format!("stopped {id}"))))
        }
        Command::Resume(_) => {
            run(&["resume", there]).map(|out| Some(said(out, format!("resumed {id}"))))
        }
        Command::LoadDiff(_) => run(&["diff", there]).map(|out| {
            app.diff = out.lines().map(str::to_string).collect();
            None
        }),
        // Its work comes into the repository the view was opened in, as `aside apply` does.
        Command::Apply(_) | Command::Merge(_) => {
            let verb = if matches!(command, Command::Apply(_)) {
                "apply"
            } else {
                "merge"
            };
            match std::process::Command::new(&options.exe)
                .args([verb, id])
                .current_dir(&options.dir)
                .output()
            {
                Ok(out) if out.status.success() => Ok(Some(said(
                    String::from_utf8_lossy(&out.stdout).into_owned(),
                    format!("{verb} {id}: done"),
                ))),
                Ok(out) => Err(said(
                    String::from_utf8_lossy(&out.stderr).into_owned(),
                    format!("aside {verb} {id} failed"),
                )),
                Err(e) => Err(format!("cannot run aside {verb}: {e}")),
            }
        }
        _ => Err(format!(
            "not for a session on another machine from here: run `aside` on {name} (ssh {}) for it",
            machine.ssh
        )),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_notification_is_osc_9_or_a_bell_under_a_multiplexer() {
        assert_eq!(
            notification("aside: fix it\x1b]0;evil\x07 needs your answer", false),
            "\x1b]9;aside: fix it␛]0;evil␇ needs your answer\x07"
                .as_bytes()
                .to_vec()
        );
        assert_eq!(notification("anything", true), b"\x07".to_vec());
    }
}
