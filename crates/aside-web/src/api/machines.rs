//! Sessions on other machines (`NAME:ID`) in the web view: listed beside local ones (asked in
//! the background, never awaited by a live list), read, followed live and acted on over SSH
//! (`aside_sessions::remote`), with the same answers the page reads for a local session.

use super::*;
use aside_core::config::MachineConfig;
use aside_sessions::remote;
use std::sync::Mutex;
use std::time::Instant;

/// How often the machines' lists are asked again while a list is open.
pub(crate) const MACHINE_POLL: Duration = Duration::from_secs(5);

/// The machines' sessions as last answered (see [`remote::sessions`]).
#[derive(Default)]
pub struct MachineLists {
    inner: Mutex<Lists>,
    /// Told when an answer came.
    pub(crate) changed: tokio::sync::Notify,
}

#[derive(Default)]
struct Lists {
    items: Vec<Value>,
    asked_at: Option<Instant>,
    answered: bool,
    asking: bool,
}

impl MachineLists {
    /// The sessions every configured machine listed last (archived ones only with `all`);
    /// asked again in the background when the answer is older than [`MACHINE_POLL`].
    pub(crate) fn items(self: &std::sync::Arc<Self>, all: bool) -> Vec<Value> {
        let mut lists = self.inner.lock().unwrap_or_else(|e| e.into_inner());
        if !lists.asking && lists.asked_at.is_none_or(|t| t.elapsed() >= MACHINE_POLL) {
            lists.asking = true;
            lists.asked_at = Some(Instant::now());
            let this = self.clone();
            std::thread::spawn(move || {
                let machines = Config::load_user().unwrap_or_default().machines;
                let items: Vec<Value> = remote::sessions(&machines, true)
                    .iter()
                    .flat_map(|m| m.items())
                    .collect();
                let mut lists = this.inner.lock().unwrap_or_else(|e| e.into_inner());
                lists.items = items;
                lists.answered = true;
                lists.asking = false;
                lists.asked_at = Some(Instant::now());
                drop(lists);
                this.changed.notify_waiters();
            });
        }
        lists
            .items
            .iter()
            .filter(|s| all || s["archived"] != true)
            .cloned()
            .collect()
    }

    /// [`items`](Self::items), waiting for the machines' first answer (each machine is given
    /// at most `remote::list_limit()`).
    pub(crate) async fn answered(self: &std::sync::Arc<Self>, all: bool) -> Vec<Value> {
        let deadline = tokio::time::Instant::now() + remote::list_limit() + Duration::from_secs(2);
        loop {
            let told = self.changed.notified();
            let items = self.items(all);
            if self.inner.lock().map(|l| l.answered).unwrap_or(true) {
                return items;
            }
            if tokio::time::timeout_at(deadline, told).await.is_err() {
                return items;
            }
        }
    }
}

/// The machine a `NAME:ID` names, with the id there; None for a local id; an error when no such
/// machine is configured.
pub(crate) fn machine_of(id: &str) -> Result<Option<(String, MachineConfig, String)>, ApiError> {
    let Some((name, there)) = remote::split(id) else {
        return Ok(None);
    };
    let config = Config::load_user().map_err(|e| bad_request(e.to_string()))?;
    match config.machines.get(name) {
        Some(machine) => Ok(Some((name.to_string(), machine.clone(), there.to_string()))),
        None => Err(ApiError {
            status: StatusCode::NOT_FOUND,
            message: format!("no machine `{name}` is configured: aside machine ls"),
            trust: None,
        }),
    }
}

/// What went wrong running aside on a machine, as the page shows it.
fn failed(name: &str, why: String) -> ApiError {
    ApiError {
        status: StatusCode::BAD_GATEWAY,
        message: format!("on machine {name}: {why}"),
        trust: None,
    }
}

/// Runs `aside ARGS` on the machine, off the async threads.
async fn run_there(
    name: &str,
    machine: MachineConfig,
    args: Vec<String>,
) -> Result<String, ApiError> {
    tokio::task::spawn_blocking(move || {
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        remote::act(&machine, &args, None)
    })
    .await
    .map_err(internal)?
    .map_err(|why| failed(name, why))
}

/// A session's record from a machine, named and marked as the list names it.
fn marked(name: &str, mut session: Value) -> Value {
    let id = session["id"].as_str().unwrap_or_default().to_string();
    session["id"] = json!(format!("{name}:{id}"));
    session["machine"] = json!(name);
    session
}

/// `POST /api/sessions` with a machine: `aside new --on NAME` (the base is the repository's HEAD).
pub(crate) async fn start(
    config: &Config,
    name: String,
    repo: std::path::PathBuf,
    what: remote::StartThere,
) -> Result<Value, ApiError> {
    let machine = config.machines.get(&name).cloned().ok_or_else(|| {
        bad_request(format!(
            "no machine `{name}` is configured: aside machine ls"
        ))
    })?;
    tokio::task::spawn_blocking(move || remote::start(&name, &machine, &repo, &what))
        .await
        .map_err(internal)?
        .map_err(|why| ApiError {
            status: StatusCode::BAD_GATEWAY,
            message: why,
            trust: None,
        })
}

/// `GET /api/sessions/NAME:ID`.
pub(crate) async fn show(
    name: String,
    machine: MachineConfig,
    id: String,
) -> Result<Value, ApiError> {
    let out = run_there(&name, machine, vec!["show".into(), "--json".into(), id]).await?;
    let shown: Value = serde_json::from_str(&out).map_err(|e| {
        failed(
            &name,
            format!("its aside answered something unexpected ({e})"),
        )
    })?;
    Ok(json!({
        "session": marked(&name, shown["session"].clone()),
        "changed_files": shown["changed_files"],
        "plan": null,
    }))
}

/// `GET /api/sessions/NAME:ID/diff`.
pub(crate) async fn diff(
    name: String,
    machine: MachineConfig,
    id: String,
) -> Result<Value, ApiError> {
    let out = run_there(&name, machine, vec!["diff".into(), id]).await?;
    Ok(json!({"files": split_diff(&out)}))
}

/// `POST /api/sessions/NAME:ID/ACTION`: what the CLI does there with `aside ACTION ID`; apply
/// and merge bring its work into the repository here it was started from.
#[allow(clippy::too_many_arguments)]
pub(crate) async fn act(
    state: &AppState,
    name: String,
    machine: MachineConfig,
    id: String,
    action: Action,
    text: String,
    always: bool,
    squash: bool,
) -> Result<Value, ApiError> {
    let args: Vec<String> = match action {
        Action::Prompt => vec!["send".into(), id, "--".into(), text],
        Action::Cancel => vec!["cancel".into(), id],
        Action::Stop => vec!["stop".into(), id],
        Action::Resume => vec!["resume".into(), id],
        Action::Approve if always => vec!["approve".into(), id, "--always".into()],
        Action::Approve => vec!["approve".into(), id],
        Action::Deny => vec!["deny".into(), id],
        Action::Apply | Action::Merge => {
            let merge = action == Action::Merge;
            let verb = if merge { "merge" } else { "apply" };
            let shown = show(name.clone(), machine.clone(), id.clone()).await?;
            let there = shown["session"]["repo"]
                .as_str()
                .unwrap_or_default()
                .to_string();
            let repos = with_sessions(state, |s| Ok(s.repos()?)).await?;
            let Some(repo) = remote::local_repo_of(&machine, &there, &repos) else {
                return Err(OpError::Refused(format!(
                    "no repository here is the one session {name}:{id} was started from: run `aside {verb} {name}:{id}` in it"
                ))
                .into());
            };
            let said = tokio::task::spawn_blocking(move || {
                remote::bring_home(&name, &machine, &id, &repo, merge, squash)
            })
            .await
            .map_err(internal)?
            .map_err(|why| ApiError {
                status: StatusCode::CONFLICT,
                message: why,
                trust: None,
            })?;
            return Ok(json!({"message": said}));
        }
        _ => {
            return Err(OpError::Refused(format!(
                "not for a session on another machine from here: run `aside` on {name} for it"
            ))
            .into())
        }
    };
    let said = run_there(&name, machine, args).await?;
    Ok(json!({"message": said.trim()}))
}

/// `GET /api/sessions/NAME:ID/events`: the session's events from the machine, from the start (or
/// after the Last-Event-ID a reconnecting page sends), across dropped connections; a lost
/// connection is said (`machine`) and the stream goes on where it was when it is back.
pub(crate) fn follow(
    name: String,
    machine: MachineConfig,
    id: String,
    since: u64,
    tail: bool,
    tx: mpsc::Sender<SseEvent>,
    permit: tokio::sync::OwnedSemaphorePermit,
) {
    tokio::spawn(async move {
        let _permit = permit;
        if tail {
            // The page asked for the end; a machine's session is read whole (its tool calls
            // described from their start).
            let window = SseEvent::default()
                .event("window")
                .data(json!({"start": since}).to_string());
            if tx.send(window).await.is_err() {
                return;
            }
        }
        let mut enricher = Enricher::default();
        let mut follower = remote::Follower::new(&machine, &id, since);
        loop {
            let step = tokio::select! {
                step = follower.next() => step,
                () = tx.closed() => return,
            };
            let message = match step {
                remote::Step::Event(mut event) => {
                    enricher.enrich(None, &mut event);
                    sse_event(&event)
                }
                remote::Step::Session(record) => SseEvent::default()
                    .event("session")
                    .data(marked(&name, record).to_string()),
                remote::Step::Lost(why) => SseEvent::default()
                    .event("machine")
                    .data(json!({"machine": name, "lost": why}).to_string()),
            };
            if tx.send(message).await.is_err() {
                return;
            }
        }
    });
}
