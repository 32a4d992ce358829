//! Pages, the JSON API and the SSE streams. Writes go through `aside_sessions`.

use crate::AppState;
use aside_core::{Approve, Config, Event, Mode};
use aside_protocol::client::{follow_until, Flow, Step, Stopper};
use aside_protocol::Choice;
use aside_sessions::{NewSession, OpError, Outcome, Sessions};
use axum::body::Body;
use axum::extract::{Path, Query, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::sse::{Event as SseEvent, KeepAlive, Sse};
use axum::response::{Html, IntoResponse, Response};
use axum::Json;
use futures::StreamExt as _;
use serde::de::DeserializeOwned;
use serde::Deserialize;
use serde_json::{json, Value};
use std::collections::HashMap;
use std::convert::Infallible;
use std::time::Duration;
use tokio::sync::mpsc;

const INDEX_HTML: &str = include_str!("assets/index.html");
const SESSION_HTML: &str = include_str!("assets/session.html");
const APP_JS: &str = include_str!("assets/app.js");
const APP_CSS: &str = include_str!("assets/app.css");

/// An API error: a status and a message the page shows as it is.
pub struct ApiError {
    status: StatusCode,
    message: String,
    /// What a repository's `.aside.toml` asks that the user has not trusted, for the page to
    /// show and offer to trust.
    trust: Option<Value>,
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let mut body = json!({"error": self.message});
        if let Some(trust) = self.trust {
            body["trust"] = trust;
        }
        let mut response = (self.status, Json(body)).into_response();
        if self.status == StatusCode::PAYLOAD_TOO_LARGE {
            // A body far over the limit is not read to its end, so the connection cannot
            // carry another request: say so, or a client sends its next one into a closing
            // socket.
            response.headers_mut().insert(
                header::CONNECTION,
                axum::http::HeaderValue::from_static("close"),
            );
        }
        response
    }
}

impl From<OpError> for ApiError {
    fn from(e: OpError) -> ApiError {
        let status = match &e {
            OpError::NotFound(_) => StatusCode::NOT_FOUND,
            e if e.is_user_error() => StatusCode::CONFLICT,
            _ => StatusCode::INTERNAL_SERVER_ERROR,
        };
        let trust = match &e {
            OpError::Untrusted(u) => {
                Some(json!({"repo": u.repo, "asks": u.asks, "lines": u.lines}))
            }
            _ => None,
        };
        ApiError {
            status,
            message: e.to_string(),
            trust,
        }
    }
}

fn internal(e: impl std::fmt::Display) -> ApiError {
    ApiError {
        status: StatusCode::INTERNAL_SERVER_ERROR,
        message: e.to_string(),
        trust: None,
    }
}

fn bad_request(message: impl Into<String>) -> ApiError {
    ApiError {
        status: StatusCode::BAD_REQUEST,
        message: message.into(),
        trust: None,
    }
}

/// The most a request body may hold (the largest real one, a follow-up, is a few KiB).
const BODY_LIMIT: usize = 1024 * 1024;

/// How much of a body over the limit is still read (and dropped) before the refusal, so the
/// client, still sending, gets the answer: closing a socket with unread data resets it.
const DRAIN_LIMIT: usize = 16 * 1024 * 1024;

fn too_large() -> ApiError {
    ApiError {
        status: StatusCode::PAYLOAD_TOO_LARGE,
        message: format!(
            "the request body is too large: the limit is {} MiB",
            BODY_LIMIT / (1024 * 1024)
        ),
        trust: None,
    }
}

/// Reads a request body of at most [`BODY_LIMIT`] bytes.
async fn read_body(headers: &HeaderMap, body: Body) -> Result<Vec<u8>, ApiError> {
    let declared = headers
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<usize>().ok());
    if declared.is_some_and(|n| n > DRAIN_LIMIT) {
        return Err(too_large());
    }
    let mut stream = body.into_data_stream();
    let mut bytes = Vec::new();
    let mut total = 0usize;
    while let Some(chunk) = stream.next().await {
        let chunk =
            chunk.map_err(|e| bad_request(format!("the request body could not be read: {e}")))?;
        total = total.saturating_add(chunk.len());
        if total <= BODY_LIMIT {
            bytes.extend_from_slice(&chunk);
        } else if total > DRAIN_LIMIT {
            break;
        }
    }
    if total > BODY_LIMIT {
        return Err(too_large());
    }
    Ok(bytes)
}

/// Whether the request says its body is JSON (`application/json`, or `application/…+json`).
fn json_content_type(headers: &HeaderMap) -> bool {
    let Some(value) = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
    else {
        return false;
    };
    let essence = value
        .split(';')
        .next()
        .unwrap_or_default()
        .trim()
        .to_ascii_lowercase();
    essence == "application/json"
        || (essence.starts_with("application/") && essence.ends_with("+json"))
}

/// A request's JSON body, read within [`BODY_LIMIT`]; None when it has none. A body that is
/// not labelled JSON is refused, never ignored (a cross-site form can send text/plain).
async fn json_body<T: DeserializeOwned>(
    headers: &HeaderMap,
    body: Body,
) -> Result<Option<T>, ApiError> {
    let bytes = read_body(headers, body).await?;
    if bytes.is_empty() && headers.get(header::CONTENT_TYPE).is_none() {
        return Ok(None);
    }
    if !json_content_type(headers) {
        return Err(ApiError {
            status: StatusCode::UNSUPPORTED_MEDIA_TYPE,
            message: "the request body must be JSON, sent with Content-Type: application/json"
                .to_string(),
            trust: None,
        });
    }
    if bytes.is_empty() {
        return Ok(None);
    }
    serde_json::from_slice(&bytes).map(Some).map_err(|e| {
        if e.classify() == serde_json::error::Category::Data {
            ApiError {
                status: StatusCode::UNPROCESSABLE_ENTITY,
                message: format!("the request body has the wrong shape: {e}"),
                trust: None,
            }
        } else {
            bad_request(format!("the request body is not valid JSON: {e}"))
        }
    })
}

/// Runs blocking store and git work off the async threads, with the sessions opened.
async fn with_sessions<T: Send + 'static>(
    state: &AppState,
    work: impl FnOnce(&Sessions) -> Result<T, ApiError> + Send + 'static,
) -> Result<T, ApiError> {
    let layout = state.layout.clone();
    tokio::task::spawn_blocking(move || {
        let sessions = Sessions::open_at(layout)?;
        work(&sessions)
    })
    .await
    .map_err(internal)?
}

pub async fn list_page() -> Html<&'static str> {
    Html(INDEX_HTML)
}

pub async fn session_page() -> Html<&'static str> {
    Html(SESSION_HTML)
}

pub async fn asset(Path(file): Path<String>) -> Response {
    let (body, kind) = match file.as_str() {
        "app.js" => (APP_JS, "text/javascript; charset=utf-8"),
        "app.css" => (APP_CSS, "text/css; charset=utf-8"),
        _ => return (StatusCode::NOT_FOUND, "no such asset").into_response(),
    };
    (
        [
            (header::CONTENT_TYPE, kind),
            (header::CACHE_CONTROL, "no-cache"),
        ],
        body,
    )
        .into_response()
}

#[derive(Deserialize)]
pub struct ListQuery {
    #[serde(default)]
    all: bool,
}

/// `list` with each session's progress (plan steps done and in all, the last line of the
/// agent's message), read again only for the sessions that changed since last time.
fn list_with_progress(
    sessions: &Sessions,
    all: bool,
    cache: &std::sync::Mutex<HashMap<String, (String, Value)>>,
) -> Result<Vec<Value>, ApiError> {
    let records = sessions.index.list(all).map_err(OpError::from)?;
    let mut cache = cache
        .lock()
        .map_err(|_| internal("the progress cache is poisoned"))?;
    Ok(records
        .iter()
        .zip(sessions.views(&records))
        .map(|(r, view)| {
            let mut json = serde_json::to_value(view).unwrap_or(Value::Null);
            let id = r.id.to_string();
            let progress = match cache.get(&id) {
                Some((at, progress)) if *at == r.updated_at => progress.clone(),
                _ => {
                    let (plan, line) = sessions.progress(r);
                    let progress = json!({"plan": plan.map(|(done, total)| json!({"done": done, "total": total})), "last_line": line});
                    cache.insert(id, (r.updated_at.clone(), progress.clone()));
                    progress
                }
            };
            json["plan"] = progress["plan"].clone();
            json["last_line"] = progress["last_line"].clone();
            json
        })
        .collect())
}

/// Sessions started in the agents' own CLIs in the repositories aside knows, as JSON.
fn externals_json(sessions: &Sessions) -> Result<Vec<Value>, ApiError> {
    let repos = sessions.repos()?;
    Ok(sessions
        .externals()
        .iter()
        .filter_map(|s| {
            let repo = Sessions::known_repo(&repos, &s.summary.cwd)?;
            Some(sessions.external_json(s, Some(&repo)))
        })
        .collect())
}

/// The session started elsewhere whose agent session id starts with `id`.
fn find_external(
    sessions: &Sessions,
    id: &str,
) -> Result<aside_sessions::external::External, ApiError> {
    aside_sessions::external::find(sessions.externals(), id).map_err(|why| ApiError {
        status: StatusCode::NOT_FOUND,
        message: why.to_string(),
        trust: None,
    })
}

pub async fn list(
    State(state): State<AppState>,
    Query(q): Query<ListQuery>,
) -> Result<Json<Vec<Value>>, ApiError> {
    Ok(Json(
        with_sessions(&state.clone(), move |s| {
            let mut list = list_with_progress(s, q.all, &state.progress)?;
            list.extend(externals_json(s)?);
            Ok(list)
        })
        .await?,
    ))
}

pub async fn meta(State(state): State<AppState>) -> Result<Json<Value>, ApiError> {
    let repos = with_sessions(&state, |s| Ok(s.repos()?)).await?;
    let config = Config::load_user().unwrap_or_default();
    let exe = std::env::current_exe()
        .map(|e| e.display().to_string())
        .unwrap_or_default();
    // Installed agents first, each with how to install it when it is not.
    let found = aside_core::agents::detect_installed_first(&config, &exe);
    let agents: Vec<Value> = found
        .iter()
        .map(|a| {
            json!({"name": a.name, "installed": a.program.is_some(),
                "install": (a.program.is_none()).then(|| aside_core::agents::install_hint(&a.name))})
        })
        .collect();
    let cwd = std::env::current_dir().ok();
    Ok(Json(
        json!({"repos": repos, "agents": agents, "default_agent": config.defaults.agent(), "cwd": cwd}),
    ))
}

#[derive(Deserialize)]
pub struct CreateBody {
    task: String,
    repo: String,
    #[serde(default)]
    agent: Option<String>,
    #[serde(default)]
    mode: Option<String>,
    #[serde(default)]
    approve: Option<String>,
    /// Plan first: the agent plans in plan mode; the session page then offers Start.
    #[serde(default)]
    plan: bool,
}

pub async fn create(
    State(state): State<AppState>,
    headers: HeaderMap,
    body: Body,
) -> Result<Json<Value>, ApiError> {
    let body: CreateBody = json_body(&headers, body).await?.ok_or_else(|| {
        bad_request(
            "the request body is empty: send the new session as JSON, {\"task\": …, \"repo\": …}",
        )
    })?;
    let mode_name = body.mode.as_deref().unwrap_or("isolated");
    let mode = Mode::parse(mode_name).ok_or_else(|| {
        bad_request(format!(
            "unknown mode `{mode_name}`: use isolated or workspace"
        ))
    })?;
    let approve = match body.approve.as_deref() {
        None | Some("") => None,
        Some(a) => Some(Approve::parse(a).ok_or_else(|| {
            bad_request(format!(
                "unknown approval policy `{a}`: use all, edits or ask"
            ))
        })?),
    };
    if body.repo.trim().is_empty() {
        return Err(bad_request("choose the repository the agent works in"));
    }
    let config = Config::load_user().map_err(|e| bad_request(e.to_string()))?;
    let new = NewSession {
        task: body.task.clone(),
        agent: body
            .agent
            .filter(|a| !a.is_empty())
            .unwrap_or_else(|| config.defaults.agent()),
        mode,
        base: None,
        name: None,
        approve,
        dir: body.repo.into(),
        model: None,
        kind: if body.plan {
            aside_core::SessionKind::Plan
        } else {
            aside_core::SessionKind::Task
        },
        title: body.plan.then(|| {
            format!(
                "Plan: {}",
                body.task.lines().next().unwrap_or_default().trim()
            )
        }),
        no_submodules: false,
    };
    let record = with_sessions(&state, move |s| {
        let r = s.create(new, &config)?;
        Ok(s.json(&r))
    })
    .await?;
    Ok(Json(record))
}

pub async fn show(
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> Result<Json<Value>, ApiError> {
    let out = with_sessions(&state, move |s| {
        let record = match s.locate(&id)? {
            aside_sessions::Located::Own(record) => record,
            // A session started in an agent's own CLI, read-only.
            aside_sessions::Located::External(session) => {
                let repo = Sessions::known_repo(&s.repos()?, &session.summary.cwd);
                return Ok(
                    json!({"session": s.external_json(&session, repo.as_deref()),
                    "changed_files": [], "plan": null}),
                );
            }
        };
        let files: Vec<Value> = s
            .changed_files(&record)
            .iter()
            .map(|f| json!({"path": f.path, "added": f.added, "removed": f.removed}))
            .collect();
        // A plan session carries its plan, for the page to show and start.
        let plan = if record.kind == aside_core::SessionKind::Plan {
            Some(s.plan_of(&record)?)
        } else {
            None
        };
        Ok(json!({"session": s.json(&record), "changed_files": files, "plan": plan}))
    })
    .await?;
    Ok(Json(out))
}

/// Splits a unified diff into one entry per file.
fn split_diff(diff: &str) -> Vec<Value> {
    let mut files = Vec::new();
    let mut current: Option<(String, String)> = None;
    for line in diff.lines() {
        if let Some(rest) = line.strip_prefix("diff --git ") {
            if let Some((path, patch)) = current.take() {
                files.push((path, patch));
            }
            let path = rest.split(" b/").last().unwrap_or(rest).to_string();
            current = Some((path, String::new()));
        }
        if let Some((_, patch)) = current.as_mut() {
            patch.push_str(line);
            patch.push('\n');
        }
    }
    if let Some(last) = current {
        files.push(last);
    }
    files
        .into_iter()
        .map(|(path, patch)| {
            let added = patch
                .lines()
                .filter(|l| l.starts_with('+') && !l.starts_with("+++"))
                .count();
            let removed = patch
                .lines()
                .filter(|l| l.starts_with('-') && !l.starts_with("---"))
                .count();
            json!({"path": path, "added": added, "removed": removed, "patch": patch})
        })
        .collect()
}

pub async fn diff(
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> Result<Json<Value>, ApiError> {
    let files = with_sessions(&state, move |s| {
        let record = s.resolve(&id)?;
        Ok(split_diff(&s.diff(&record, false)?))
    })
    .await?;
    Ok(Json(json!({"files": files})))
}

#[derive(Deserialize, Default)]
pub struct ActionBody {
    #[serde(default)]
    text: String,
    #[serde(default)]
    always: bool,
    #[serde(default)]
    squash: bool,
    #[serde(default)]
    force: bool,
}

/// The actions `POST /api/sessions/<id>/<action>` takes.
const ACTIONS: &[&str] = &[
    "prompt",
    "cancel",
    "stop",
    "resume",
    "approve",
    "deny",
    "apply",
    "merge",
    "archive",
    "unarchive",
    "remove",
    "start",
    "fork",
    "adopt",
    "open",
];

pub async fn action(
    State(state): State<AppState>,
    Path((id, action)): Path<(String, String)>,
    headers: HeaderMap,
    body: Body,
) -> Result<Json<Value>, ApiError> {
    if !ACTIONS.contains(&action.as_str()) {
        return Err(bad_request(format!(
            "unknown action `{action}`: use one of {}",
            ACTIONS.join(", ")
        )));
    }
    let body: ActionBody = json_body(&headers, body).await?.unwrap_or_default();
    // Only the actions that may start a host (agent command) or an editor read the config.
    let config = if matches!(
        action.as_str(),
        "prompt" | "resume" | "start" | "fork" | "open" | "adopt"
    ) {
        Config::load_user().map_err(|e| bad_request(e.to_string()))?
    } else {
        Config::default()
    };
    let out = with_sessions(&state, move |s| {
        if action == "adopt" {
            // A session started in an agent's own CLI becomes an aside session.
            let session = find_external(s, &id)?;
            let record = s.adopt(&session, Mode::Workspace, body.force, &config)?;
            return Ok(json!({"id": record.id}));
        }
        let record = s.resolve(&id)?;
        let result = match action.as_str() {
            "prompt" => s.send(&record, &body.text, &config).map(|_| json!({})),
            "cancel" => s
                .cancel(&record)
                .map(|message| json!({"message": message})),
            "stop" => s.stop(&record).map(|stopped| json!({"stopped": stopped})),
            "resume" => s.resume(&record, &config).map(|_| json!({})),
            "approve" => s
                .answer(
                    &record,
                    if body.always {
                        Choice::AllowAlways
                    } else {
                        Choice::Allow
                    },
                )
                .map(|_| json!({})),
            "deny" => s.answer(&record, Choice::Deny).map(|_| json!({})),
            "apply" => s.apply(&record).and_then(|outcome| {
                let mut out = match outcome {
                    Outcome::Done(files) => json!({"files": files}),
                    Outcome::Nothing => json!({"files": [], "message": "Nothing to apply: the session changed no files"}),
                    Outcome::Already => json!({"files": [], "message": "Already applied: your workspace already has these changes"}),
                };
                // Edits inside submodules are said, never silently dropped.
                let (inside, command) = s.left_in_submodules(&record)?;
                if !inside.is_empty() {
                    let applied = out["files"].as_array().map_or(0, Vec::len);
                    out["message"] = json!(format!(
                        "Applied {applied} file(s). Not applied: {} inside submodules ({}); bring them into your checkout with: {command}",
                        inside.len(),
                        inside.join(", ")
                    ));
                }
                Ok(out)
            }),
            "merge" => s.merge(&record, body.squash).map(|outcome| match outcome {
                Outcome::Done(commit) => json!({"commit": commit}),
                Outcome::Nothing => json!({"message": "Nothing to merge: the session changed no files"}),
                Outcome::Already => json!({"message": "Already merged"}),
            }),
            "archive" => s.archive(&record, true).map(|_| json!({})),
            "unarchive" => s.archive(&record, false).map(|_| json!({})),
            "remove" => s.remove(&record, body.force, false).map(|_| json!({})),
            // A finished plan starts its task; `text` is the plan as the user edited it.
            "start" => s
                .start_plan(&record, Some(body.text.clone()), &config)
                .map(|started| json!({"id": started.id})),
            // A new session continues this one's conversation; `text`: what to do next.
            "fork" => s
                .fork(&record, Some(body.text.as_str()), &config)
                .map(|started| json!({"id": started.id})),
            // The worktree in a GUI editor on this machine: the server has no terminal.
            "open" => open_in_editor(&record, &config),
            other => return Err(bad_request(format!("unknown action `{other}`"))),
        };
        Ok(result?)
    })
    .await?;
    Ok(Json(out))
}

/// Starts the configured (or a GUI) editor on the session's worktree, detached.
fn open_in_editor(record: &aside_core::SessionRecord, config: &Config) -> Result<Value, OpError> {
    use aside_sessions::editor::{self, Environment, Terminal};
    let dir = editor::worktree(record)?;
    let editor = editor::choose(&config.editor, &Environment::current(), Terminal::Absent)?;
    editor.spawn_detached(dir)?;
    Ok(json!({
        "message": format!("Opened {} in {editor}", dir.display()),
        "editor": editor.argv,
    }))
}

#[derive(Deserialize)]
pub struct EventsQuery {
    since: Option<u64>,
    /// Without `since`: start about this many events before the end (at a turn's start); the
    /// first message, `window`, says where.
    tail: Option<usize>,
}

/// How many events the page asks for at a time: the end first, earlier ones on request.
#[derive(Deserialize)]
pub struct EarlierQuery {
    before: u64,
    limit: Option<usize>,
}

/// Most events one window of a session's log may hold.
const MAX_WINDOW: usize = 5000;

/// A window of a session's stored events ending before `before` (at a turn's start, about
/// `limit` of them), for a page that shows the end of a long session first: `{start, events}`,
/// `start` 0 when nothing is earlier.
pub async fn earlier(
    State(state): State<AppState>,
    Path(id): Path<String>,
    Query(q): Query<EarlierQuery>,
) -> Result<Json<Value>, ApiError> {
    let limit = q.limit.unwrap_or(1000).clamp(1, MAX_WINDOW);
    let out = with_sessions(&state, move |s| {
        let record = s.resolve(&id)?;
        let log = aside_store::EventLog::open(&s.layout, &record.id).map_err(internal)?;
        let start = log.start_before(q.before, limit).map_err(internal)?;
        let count = q.before.saturating_sub(start + 1) as usize;
        let events = log.window(start, count).map_err(internal)?;
        Ok(json!({"start": start, "events": events}))
    })
    .await?;
    Ok(Json(out))
}

/// An event for the browser; stored ones carry their seq as the id a reconnecting browser sends
/// back (pieces of streamed text none: their row is sent after them).
fn sse_event(event: &Event) -> SseEvent {
    let sse = SseEvent::default()
        .event("event")
        .data(serde_json::to_string(event).unwrap_or_default());
    match event.piece {
        Some(_) => sse,
        None => sse.id(event.seq.to_string()),
    }
}

/// Live events of a session: the stored ones after `since` (or the Last-Event-ID a reconnecting
/// browser sends), then new ones as the host stores them.
pub async fn events(
    State(state): State<AppState>,
    Path(id): Path<String>,
    Query(q): Query<EventsQuery>,
    headers: HeaderMap,
) -> Result<Sse<impl futures::Stream<Item = Result<SseEvent, Infallible>>>, ApiError> {
    let permit = stream_permit(&state)?;
    let lookup = id.clone();
    let found = with_sessions(&state, move |s| Ok(s.locate(&lookup)?)).await?;
    let last_event_id = headers
        .get("last-event-id")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse().ok());
    let (tx, rx) = mpsc::channel::<SseEvent>(256);
    let layout = state.layout.clone();
    let record = match found {
        aside_sessions::Located::Own(record) => record,
        aside_sessions::Located::External(session) => {
            let since = last_event_id.or(q.since).unwrap_or(0);
            tokio::task::spawn_blocking(move || {
                let _permit = permit;
                follow_external(session, since, tx)
            });
            return Ok(sse_of(rx));
        }
    };
    // The page going away ends the follow at once, even while it waits for the host.
    let stopper = std::sync::Arc::new(Stopper::default());
    let (watch, stop) = (tx.clone(), stopper.clone());
    tokio::spawn(async move {
        watch.closed().await;
        stop.stop();
    });
    // The one client's follow: stored events, then the host's stream, across host restarts.
    // It blocks, so it runs on a blocking thread, until the page goes away.
    tokio::task::spawn_blocking(move || {
        let _permit = permit;
        let id = record.id;
        let since = match (last_event_id.or(q.since), q.tail) {
            (Some(since), _) => since,
            (None, Some(tail)) => {
                let start = aside_store::EventLog::open(&layout, &id)
                    .and_then(|log| log.tail_start(tail.clamp(1, MAX_WINDOW)))
                    .unwrap_or(0);
                let window = SseEvent::default()
                    .event("window")
                    .data(json!({"start": start}).to_string());
                if tx.blocking_send(window).is_err() {
                    return;
                }
                start
            }
            (None, None) => 0,
        };
        let mut shown: Option<String> = None;
        // The session is read again often for a few seconds after its last event (a host that
        // just died may still hold its lock for a moment), then every few seconds.
        let mut read_at: Option<std::time::Instant> = None;
        let mut event_at = std::time::Instant::now();
        let _ = follow_until(&layout, &id, since, &stopper, |step| {
            if tx.is_closed() {
                return Flow::Stop;
            }
            let every = if event_at.elapsed() < Duration::from_secs(5) {
                Duration::from_millis(150)
            } else {
                SESSION_RECHECK
            };
            let message = match step {
                Step::Event(event) => {
                    read_at = None;
                    event_at = std::time::Instant::now();
                    sse_event(&event)
                }
                Step::NoHost if read_at.is_some_and(|t| t.elapsed() < every) => {
                    return Flow::Continue;
                }
                // No host now: the page learns the session's status as readers see it (an
                // active session without a host is interrupted), once per change.
                Step::NoHost => {
                    read_at = Some(std::time::Instant::now());
                    let now = Sessions::open_at(layout.clone())
                        .and_then(|s| Ok(s.json(&s.resolve(id.as_str())?)));
                    let Ok(now) = now else {
                        return Flow::Continue;
                    };
                    let text = now.to_string();
                    if shown.as_deref() == Some(text.as_str()) {
                        return Flow::Continue;
                    }
                    shown = Some(text.clone());
                    SseEvent::default().event("session").data(text)
                }
            };
            match tx.blocking_send(message) {
                Ok(()) => Flow::Continue,
                Err(_) => Flow::Stop,
            }
        });
    });
    Ok(sse_of(rx))
}

/// How often the list is read again when the index did not change (a host that died changes
/// what readers see without a commit).
const LIST_RECHECK: Duration = Duration::from_secs(3);

/// How often a page's session without a host is read again for changes no event tells of
/// (archived, applied, removed).
const SESSION_RECHECK: Duration = Duration::from_secs(3);

/// A place for one more live stream, or 429 saying why.
fn stream_permit(state: &AppState) -> Result<tokio::sync::OwnedSemaphorePermit, ApiError> {
    state
        .streams
        .clone()
        .try_acquire_owned()
        .map_err(|_| ApiError {
            status: StatusCode::TOO_MANY_REQUESTS,
            message: format!(
            "too many live streams open ({}): close some of the view's pages or tabs, then reload",
            crate::MAX_STREAMS
        ),
            trust: None,
        })
}

/// An SSE response of what arrives on `rx`, with keep-alives (often enough that a page gone
/// away is noticed within seconds, and what its stream held is freed).
fn sse_of(
    rx: mpsc::Receiver<SseEvent>,
) -> Sse<impl futures::Stream<Item = Result<SseEvent, Infallible>>> {
    let stream =
        futures::stream::unfold(
            rx,
            |mut rx| async move { rx.recv().await.map(|e| (Ok(e), rx)) },
        );
    Sse::new(stream).keep_alive(KeepAlive::new().interval(Duration::from_secs(2)))
}

/// How often the file of a session started elsewhere is read again for the page.
const EXTERNAL_POLL: Duration = Duration::from_secs(2);

/// The events of a session started elsewhere, read from its agent's file (converted as `show`
/// does), then the new ones whenever the file changes, until the page goes away.
fn follow_external(
    session: aside_sessions::external::External,
    since: u64,
    tx: mpsc::Sender<SseEvent>,
) {
    let mut sent = since;
    let mut seen: Option<(u64, std::time::SystemTime)> = None;
    while !tx.is_closed() {
        let stamp = std::fs::metadata(&session.file)
            .ok()
            .map(|m| (m.len(), m.modified().unwrap_or(std::time::UNIX_EPOCH)));
        if stamp != seen {
            seen = stamp;
            if let Ok((conversation, _)) = session.conversation() {
                for (n, (kind, data)) in conversation.to_events().into_iter().enumerate() {
                    let seq = n as u64 + 1;
                    if seq <= sent {
                        continue;
                    }
                    let event = Event {
                        seq,
                        ts: String::new(),
                        kind: kind.to_string(),
                        data,
                        piece: None,
                    };
                    if tx.blocking_send(sse_event(&event)).is_err() {
                        return;
                    }
                    sent = seq;
                }
            }
        }
        std::thread::sleep(EXTERNAL_POLL);
    }
}

/// The list, live: every change of a session (status, activity, files) as it is stored.
pub async fn list_stream(
    State(state): State<AppState>,
    Query(q): Query<ListQuery>,
) -> Result<Sse<impl futures::Stream<Item = Result<SseEvent, Infallible>>>, ApiError> {
    let permit = stream_permit(&state)?;
    let (tx, rx) = mpsc::channel::<SseEvent>(16);
    tokio::spawn(async move {
        let _permit = permit;
        let mut known: HashMap<String, String> = HashMap::new();
        let mut first = true;
        // Sessions started elsewhere are read from the tools' files: less often.
        let mut externals: Vec<Value> = Vec::new();
        let mut externals_read: Option<std::time::Instant> = None;
        // The index is read again only when a commit changed it (its data_version, asked on a
        // connection kept open), or every few seconds for what no commit tells (a host that
        // died).
        let layout = state.layout.clone();
        let probe = tokio::task::spawn_blocking(move || aside_store::Index::open(&layout).ok())
            .await
            .ok()
            .flatten()
            .map(|index| std::sync::Arc::new(std::sync::Mutex::new(index)));
        let mut version: Option<i64> = None;
        let mut read_at: Option<std::time::Instant> = None;
        loop {
            let all = q.all;
            let mut changed = read_at.is_none_or(|t| t.elapsed() >= LIST_RECHECK);
            if externals_read.is_none_or(|t| t.elapsed() >= EXTERNAL_POLL) {
                let read = with_sessions(&state, externals_json)
                    .await
                    .unwrap_or_default();
                changed |= read != externals;
                externals = read;
                externals_read = Some(std::time::Instant::now());
            }
            let now = match &probe {
                Some(probe) => {
                    let probe = probe.clone();
                    tokio::task::spawn_blocking(move || probe.lock().ok()?.data_version().ok())
                        .await
                        .ok()
                        .flatten()
                }
                None => None,
            };
            changed |= now.is_none() || now != version;
            version = now;
            if !changed {
                tokio::select! {
                    _ = tokio::time::sleep(Duration::from_millis(300)) => {}
                    _ = tx.closed() => return,
                }
                continue;
            }
            read_at = Some(std::time::Instant::now());
            let cache = state.progress.clone();
            let mut list = with_sessions(&state, move |s| list_with_progress(s, all, &cache))
                .await
                .unwrap_or_default();
            list.extend(externals.iter().cloned());
            let mut upsert = Vec::new();
            let mut seen = std::collections::HashSet::new();
            for session in list {
                let id = session["id"].as_str().unwrap_or_default().to_string();
                let text = session.to_string();
                seen.insert(id.clone());
                if known.get(&id) != Some(&text) {
                    known.insert(id, text);
                    upsert.push(session);
                }
            }
            let removed: Vec<String> = known
                .keys()
                .filter(|k| !seen.contains(*k))
                .cloned()
                .collect();
            for id in &removed {
                known.remove(id);
            }
            // The first message goes out even when there is no session, so the page knows.
            if first || !upsert.is_empty() || !removed.is_empty() {
                first = false;
                let data = json!({"upsert": upsert, "remove": removed}).to_string();
                if tx
                    .send(SseEvent::default().event("sessions").data(data))
                    .await
                    .is_err()
                {
                    return;
                }
            }
            tokio::select! {
                _ = tokio::time::sleep(Duration::from_millis(300)) => {}
                _ = tx.closed() => return,
            }
        }
    });
    Ok(sse_of(rx))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn diffs_split_per_file() {
        let diff = "diff --git a/x.txt b/x.txt\n--- a/x.txt\n+++ b/x.txt\n@@ -1 +1 @@\n-a\n+b\ndiff --git a/y b/y\nnew file mode 100644\n--- /dev/null\n+++ b/y\n@@ -0,0 +1 @@\n+y\n";
        let files = split_diff(diff);
        assert_eq!(files.len(), 2);
        assert_eq!(files[0]["path"], "x.txt");
        assert_eq!(
            (files[0]["added"].as_u64(), files[0]["removed"].as_u64()),
            (Some(1), Some(1))
        );
        assert_eq!(files[1]["path"], "y");
    }
}

/// `POST /api/trust`: the user trusts what a repository's `.aside.toml` asks, exactly as the
/// page showed it (`asks`, from the error that offered it); a file changed since is refused, so
/// nothing is trusted unseen.
#[derive(serde::Deserialize)]
pub struct TrustBody {
    repo: String,
    asks: aside_core::trust::Asks,
}

pub async fn trust(
    State(state): State<AppState>,
    headers: HeaderMap,
    body: Body,
) -> Result<Json<Value>, ApiError> {
    let body: TrustBody = json_body(&headers, body)
        .await?
        .ok_or_else(|| bad_request("send {\"repo\": …, \"asks\": …} as shown"))?;
    let out = with_sessions(&state, move |s| {
        let repo = std::path::PathBuf::from(&body.repo)
            .canonicalize()
            .map_err(|_| bad_request(format!("{} does not exist", body.repo)))?;
        let config = aside_core::config::RepoConfig::load(&repo)
            .map_err(|e| bad_request(e.to_string()))?;
        if aside_core::trust::Asks::of(&config) != body.asks {
            return Err(OpError::Refused(format!(
                "{}/.aside.toml changed since it was shown; nothing was trusted: try again to see it as it is now",
                repo.display()
            ))
            .into());
        }
        s.trust()
            .trust(&repo, &body.asks)
            .map_err(|e| internal(format!("cannot record the trust: {e}")))?;
        Ok(json!({"trusted": repo}))
    })
    .await?;
    Ok(Json(out))
}
