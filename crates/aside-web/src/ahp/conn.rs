//! One AHP connection: JSON-RPC requests and notifications in, answers, actions of its
//! subscriptions and the root's notifications out, in order, through one writer.

use super::chat::Projector;
use super::hub::Hub;
use super::root::{self, Channel, ROOT};
use super::{files, steer, NEW_IN_1_0, VERSIONS};
use ahp_types::actions::ActionEnvelope;
use ahp_types::errors::{ahp_error_codes, json_rpc_error_codes};
use axum::extract::ws::{Message, WebSocket};
use futures::{SinkExt as _, StreamExt as _};
use serde_json::{json, Value};
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use tokio::sync::{broadcast, mpsc};

/// The most channels one connection may follow at once.
pub const MAX_SUBSCRIPTIONS: usize = 256;

/// The most requests of one connection answered at once (the rest wait their turn).
const MAX_INFLIGHT: usize = 16;

/// The most bytes waiting to be written to one connection (a client that reads nothing while
/// asking for files cannot make aside hold more).
const OUT_BYTES: usize = 64 * 1024 * 1024;

/// The most actions held for one subscription while its snapshot is on its way (past it, the
/// connection is closed: the client reconnects).
const MAX_PENDING: usize = 10_000;

/// A JSON-RPC error: code, message, data.
#[derive(Debug)]
pub struct RpcError {
    pub code: i32,
    pub message: String,
    pub data: Option<Value>,
}

impl RpcError {
    pub fn new(code: i32, message: impl Into<String>) -> RpcError {
        RpcError {
            code,
            message: message.into(),
            data: None,
        }
    }

    pub fn invalid(message: impl Into<String>) -> RpcError {
        RpcError::new(json_rpc_error_codes::INVALID_PARAMS, message)
    }
}

/// What a connection follows: each channel, with the sequence number its snapshot was taken at.
pub struct Subscription {
    pub from: u64,
    /// The session's projection it holds (none for the root).
    pub projector: Option<Arc<Projector>>,
    /// While its snapshot is on its way to the client: the actions that came meanwhile, sent
    /// right after the snapshot (those it already holds left out).
    pending: Option<Vec<Arc<ActionEnvelope>>>,
}

/// What the connection's one sender is asked to send.
enum Send {
    /// A request's answer; then the subscriptions it made start receiving actions.
    Answer(Value, Vec<String>),
}

/// What the writer writes (the permit holds the message's bytes against [`OUT_BYTES`]).
enum Outgoing {
    Text(String, Option<tokio::sync::OwnedSemaphorePermit>),
    Close,
}

/// One connection's state.
pub struct Conn {
    pub hub: Arc<Hub>,
    out: mpsc::Sender<Outgoing>,
    /// The bytes that may wait to be written.
    budget: Arc<tokio::sync::Semaphore>,
    answers: mpsc::Sender<Send>,
    /// The client's id, once it said it.
    pub client_id: Mutex<Option<String>>,
    /// The version negotiated.
    pub version: Mutex<Option<String>>,
    pub subscriptions: Mutex<HashMap<String, Subscription>>,
}

impl Conn {
    fn initialized(&self) -> bool {
        self.version.lock().map(|v| v.is_some()).unwrap_or(false)
    }

    /// Writes a message (only the sender task calls this: one order for answers and actions).
    async fn put(&self, text: String) -> bool {
        let bytes = text.len().clamp(1, OUT_BYTES) as u32;
        let Ok(permit) = self.budget.clone().acquire_many_owned(bytes).await else {
            return false;
        };
        self.out
            .send(Outgoing::Text(text, Some(permit)))
            .await
            .is_ok()
    }

    /// Answers a request through the sender (after what it sent before).
    pub async fn answer(&self, message: Value, activate: Vec<String>) {
        let _ = self.answers.send(Send::Answer(message, activate)).await;
    }

    /// Follows a channel: its snapshot now, its actions from then on (held until the caller's
    /// answer carrying the snapshot is sent: name the channel in [`Conn::answer`]).
    pub async fn subscribe(&self, uri: &str) -> Result<Value, RpcError> {
        let channel = self.hub.channel(uri).ok_or_else(|| {
            RpcError::new(
                ahp_error_codes::NOT_FOUND,
                format!("aside serves no channel {uri}"),
            )
        })?;
        let fresh = {
            let mut subs = self
                .subscriptions
                .lock()
                .map_err(|_| RpcError::new(-32603, "poisoned"))?;
            if !subs.contains_key(uri) && subs.len() >= MAX_SUBSCRIPTIONS {
                return Err(RpcError::new(
                    json_rpc_error_codes::INVALID_REQUEST,
                    format!("too many subscriptions on one connection (at most {MAX_SUBSCRIPTIONS}): unsubscribe from some first"),
                ));
            }
            // Actions from now on wait for the snapshot.
            match subs.get_mut(uri) {
                Some(sub) => {
                    sub.pending.get_or_insert_with(Vec::new);
                    false
                }
                None => {
                    subs.insert(
                        uri.to_string(),
                        Subscription {
                            from: u64::MAX,
                            projector: None,
                            pending: Some(Vec::new()),
                        },
                    );
                    true
                }
            }
        };
        let made = self.snapshot_of(uri, &channel).await;
        let mut subs = self
            .subscriptions
            .lock()
            .map_err(|_| RpcError::new(-32603, "poisoned"))?;
        match made {
            Err(e) => {
                if fresh {
                    subs.remove(uri);
                }
                // (Still followed as before: what waited goes out after the answer.)
                Err(e)
            }
            Ok((snapshot, from, projector)) => {
                if let Some(sub) = subs.get_mut(uri) {
                    sub.from = from;
                    if let Some(old) = std::mem::replace(&mut sub.projector, projector) {
                        self.hub.left(&old.id);
                    }
                }
                Ok(snapshot)
            }
        }
    }

    /// A channel's snapshot, its sequence number and the projection it holds.
    async fn snapshot_of(
        &self,
        uri: &str,
        channel: &Channel,
    ) -> Result<(Value, u64, Option<Arc<Projector>>), RpcError> {
        let (snapshot, sub) = match channel {
            Channel::Root => {
                let from = self.hub.last_seq();
                let state = tokio::task::spawn_blocking(root::state)
                    .await
                    .unwrap_or_default();
                (
                    json!({"resource": ROOT, "state": state, "fromSeq": from}),
                    (from, None),
                )
            }
            Channel::Changes(id, turn) => {
                let projector = self.hub.projector(id).await.map_err(|e| {
                    RpcError::new(ahp_error_codes::SESSION_NOT_FOUND, format!("{uri}: {e}"))
                })?;
                // Numbered before it is read: a change while it is read is sent again (the
                // whole list each time: harmless).
                let from = self.hub.last_seq();
                let state = changeset_state(&self.hub, id, turn.as_deref())
                    .await
                    .map_err(|e| RpcError::new(-32603, format!("{uri}: {e}")))?;
                self.hub
                    .follow_changes(uri, id, turn.clone(), state.clone());
                (
                    json!({"resource": uri, "state": state, "fromSeq": from}),
                    (from, Some(projector)),
                )
            }
            Channel::Session(id) | Channel::Chat(id) => {
                let projector = self.hub.projector(id).await.map_err(|e| {
                    RpcError::new(ahp_error_codes::SESSION_NOT_FOUND, format!("{uri}: {e}"))
                })?;
                let canonical = if matches!(channel, Channel::Chat(_)) {
                    projector.chat_uri.clone()
                } else {
                    projector.session_uri.clone()
                };
                if canonical != uri {
                    let id = projector.id.clone();
                    drop(projector);
                    self.hub.left(&id);
                    return Err(RpcError::new(
                        ahp_error_codes::SESSION_NOT_FOUND,
                        format!("{uri}: session {id} is {canonical}"),
                    ));
                }
                let snapshot = projector.snapshot(&self.hub, uri);
                let from = snapshot.from_seq as u64;
                (
                    serde_json::to_value(&snapshot).unwrap_or_default(),
                    (from, Some(projector)),
                )
            }
        };
        Ok((snapshot, sub.0, sub.1))
    }

    pub fn unsubscribe(&self, uri: &str) {
        let old = self
            .subscriptions
            .lock()
            .ok()
            .and_then(|mut s| s.remove(uri));
        if let Some(Channel::Changes(..)) = Channel::parse(uri) {
            self.hub.unfollow_changes(uri);
        }
        if let Some(p) = old.and_then(|s| s.projector) {
            let id = p.id.clone();
            drop(p);
            self.hub.left(&id);
        }
    }

    fn subscribed(&self) -> Vec<String> {
        self.subscriptions
            .lock()
            .map(|s| s.keys().cloned().collect())
            .unwrap_or_default()
    }
}

/// A changeset of session `id` as it is now: all its changes, or turn `turn`'s.
pub async fn changeset_state(
    hub: &Arc<Hub>,
    id: &str,
    turn: Option<&str>,
) -> Result<Value, String> {
    let checkpoint = match turn {
        None => None,
        Some(turn) => Some(
            hub.projector(id)
                .await?
                .with(|p| p.mapper.checkpoint(turn).map(str::to_string)),
        ),
    };
    hub.on_session(id, move |sessions, record| {
        super::changes::state(sessions, record, checkpoint)
    })
    .await
}

fn response(id: &Value, result: Result<Value, RpcError>) -> Value {
    match result {
        Ok(result) => json!({"jsonrpc": "2.0", "id": id, "result": result}),
        Err(e) => {
            let mut error = json!({"code": e.code, "message": e.message});
            if let Some(data) = e.data {
                error["data"] = data;
            }
            json!({"jsonrpc": "2.0", "id": id, "error": error})
        }
    }
}

/// Serves one connection until it closes.
pub async fn serve(socket: WebSocket, hub: Arc<Hub>) {
    let (mut sink, mut stream) = socket.split();
    let (out, mut outgoing) = mpsc::channel::<Outgoing>(256);
    let writer = tokio::spawn(async move {
        while let Some(Outgoing::Text(text, permit)) = outgoing.recv().await {
            if sink.send(Message::Text(text.into())).await.is_err() {
                break;
            }
            drop(permit);
        }
        let _ = sink.close().await;
    });
    let (answers, answered) = mpsc::channel::<Send>(64);
    let conn = Arc::new(Conn {
        hub: hub.clone(),
        out,
        budget: Arc::new(tokio::sync::Semaphore::new(OUT_BYTES)),
        answers,
        client_id: Mutex::new(None),
        version: Mutex::new(None),
        subscriptions: Mutex::new(HashMap::new()),
    });
    let sender = tokio::spawn(sender(
        conn.clone(),
        answered,
        hub.actions.subscribe(),
        hub.notes.subscribe(),
    ));
    // Dispatched actions are carried out one after another, in the order sent.
    let (dispatches, mut dispatched) = mpsc::channel::<Value>(256);
    let steering = {
        let conn = conn.clone();
        tokio::spawn(async move {
            while let Some(params) = dispatched.recv().await {
                steer::dispatch(&conn, params).await;
            }
        })
    };
    let inflight = Arc::new(tokio::sync::Semaphore::new(MAX_INFLIGHT));
    let refuse =
        |code: i32, message: &str| response(&Value::Null, Err(RpcError::new(code, message)));
    while let Some(Ok(message)) = stream.next().await {
        let text = match message {
            Message::Text(text) => text,
            Message::Close(_) => break,
            Message::Ping(_) | Message::Pong(_) => continue,
            Message::Binary(_) => {
                let refusal = refuse(
                    json_rpc_error_codes::INVALID_REQUEST,
                    "AHP messages are JSON text frames; a binary frame was sent",
                );
                conn.answer(refusal, Vec::new()).await;
                continue;
            }
        };
        let message: Value = match serde_json::from_str(text.as_str()) {
            Ok(v) => v,
            Err(e) => {
                let refusal = refuse(json_rpc_error_codes::PARSE_ERROR, &format!("not JSON: {e}"));
                conn.answer(refusal, Vec::new()).await;
                continue;
            }
        };
        let Some(method) = message["method"].as_str().map(str::to_string) else {
            // A response (aside asks clients nothing) or something else: an answer only when
            // it carries an id to answer.
            if message.get("result").is_none() && message.get("error").is_none() {
                let refusal = response(
                    message.get("id").unwrap_or(&Value::Null),
                    Err(RpcError::new(
                        json_rpc_error_codes::INVALID_REQUEST,
                        "a JSON-RPC request needs a method",
                    )),
                );
                conn.answer(refusal, Vec::new()).await;
            }
            continue;
        };
        let params = message.get("params").cloned().unwrap_or(Value::Null);
        match message.get("id").cloned() {
            // A notification.
            // A client dispatching faster than aside carries out waits: none is dropped.
            None if method == "dispatchAction" && conn.initialized() => {
                let queued = dispatches.send(params).await;
                if queued.is_err() {
                    break;
                }
            }
            None if method == "unsubscribe" => {
                if let Some(uri) = params["channel"].as_str() {
                    conn.unsubscribe(uri);
                }
            }
            None => {}
            Some(id) => {
                let conn = conn.clone();
                let Ok(permit) = inflight.clone().acquire_owned().await else {
                    break;
                };
                tokio::spawn(async move {
                    let (result, activate) = request(&conn, &method, params).await;
                    conn.answer(response(&id, result), activate).await;
                    drop(permit);
                });
            }
        }
    }
    sender.abort();
    steering.abort();
    for uri in conn.subscribed() {
        conn.unsubscribe(&uri);
    }
    let _ = conn.out.send(Outgoing::Close).await;
    drop(conn);
    let _ = writer.await;
}

/// The connection's one sender: answers, then the actions of its subscriptions (those after
/// each one's snapshot, known to its version, held while a snapshot is on its way), and the
/// root's notifications. A client too slow to keep up is disconnected (it reconnects, and is
/// replayed or sent snapshots).
async fn sender(
    conn: Arc<Conn>,
    mut answers: mpsc::Receiver<Send>,
    mut actions: broadcast::Receiver<Arc<ActionEnvelope>>,
    mut notes: broadcast::Receiver<Arc<Value>>,
) {
    let close = |conn: Arc<Conn>| async move {
        let _ = conn.out.send(Outgoing::Close).await;
    };
    loop {
        tokio::select! {
            answer = answers.recv() => {
                let Some(Send::Answer(message, activate)) = answer else { return };
                if !conn.put(message.to_string()).await {
                    return;
                }
                // What came for its subscriptions while their snapshots were made.
                let mut held: Vec<Arc<ActionEnvelope>> = Vec::new();
                match conn.subscriptions.lock() {
                    Ok(mut subs) => {
                        for uri in &activate {
                            if let Some(sub) = subs.get_mut(uri) {
                                let from = sub.from;
                                let waited = sub.pending.take().unwrap_or_default();
                                held.extend(waited.into_iter().filter(|e| e.server_seq > from));
                            }
                        }
                    }
                    Err(_) => return,
                }
                // In the order they were numbered, whichever channel.
                held.sort_by_key(|e| e.server_seq);
                for envelope in held {
                    if !send_action(&conn, &envelope).await {
                        return;
                    }
                }
            }
            envelope = actions.recv() => {
                let envelope = match envelope {
                    Ok(e) => e,
                    Err(_) => return close(conn).await,
                };
                let wanted = match conn.subscriptions.lock() {
                    Ok(mut subs) => match subs.get_mut(&envelope.channel) {
                        Some(sub) => match &mut sub.pending {
                            Some(held) if held.len() >= MAX_PENDING => None,
                            Some(held) => {
                                held.push(envelope.clone());
                                Some(false)
                            }
                            None => Some(envelope.server_seq > sub.from),
                        },
                        None => Some(false),
                    },
                    Err(_) => None,
                };
                match wanted {
                    None => return close(conn).await,
                    Some(true) => {
                        if !send_action(&conn, &envelope).await {
                            return;
                        }
                    }
                    Some(false) => {}
                }
            }
            note = notes.recv() => {
                match note {
                    Ok(note) if conn.initialized() => {
                        if !conn.put(note.to_string()).await {
                            return;
                        }
                    }
                    Ok(_) => {}
                    // A list it no longer knows whole: it reconnects and lists again.
                    Err(_) => return close(conn).await,
                }
            }
        }
    }
}

async fn send_action(conn: &Conn, envelope: &ActionEnvelope) -> bool {
    if !known(conn, &envelope.action) {
        return true;
    }
    let message = json!({"jsonrpc": "2.0", "method": "action", "params": envelope});
    conn.put(message.to_string()).await
}

/// Whether the connection's version knows the action.
fn known(conn: &Conn, action: &ahp_types::actions::StateAction) -> bool {
    let old = conn
        .version
        .lock()
        .map(|v| v.as_deref() == Some("0.9.0"))
        .unwrap_or(false);
    if !old {
        return true;
    }
    let kind = serde_json::to_value(action)
        .ok()
        .and_then(|v| v["type"].as_str().map(str::to_string))
        .unwrap_or_default();
    !NEW_IN_1_0.contains(&kind.as_str())
}

/// The strings of an array parameter (others left out; none when it is missing).
fn strings(params: &Value, key: &str) -> Vec<String> {
    params[key]
        .as_array()
        .map(|v| {
            v.iter()
                .filter_map(|s| s.as_str().map(str::to_string))
                .collect()
        })
        .unwrap_or_default()
}

fn string(params: &Value, key: &str) -> Result<String, RpcError> {
    params[key]
        .as_str()
        .map(str::to_string)
        .ok_or_else(|| RpcError::invalid(format!("`{key}` is missing (a string)")))
}

/// Answers one request; with the channels it subscribed to (they receive actions once the
/// answer is sent).
async fn request(
    conn: &Arc<Conn>,
    method: &str,
    params: Value,
) -> (Result<Value, RpcError>, Vec<String>) {
    let mut subscribed = Vec::new();
    let result = match method {
        "ping" => Ok(Value::Null),
        "initialize" => initialize(conn, &params, &mut subscribed).await,
        "reconnect" => reconnect(conn, &params, &mut subscribed).await,
        _ if !conn.initialized() => Err(RpcError::new(
            json_rpc_error_codes::INVALID_REQUEST,
            format!("`{method}` before `initialize`: initialize first"),
        )),
        "subscribe" => match string(&params, "channel") {
            Ok(uri) => {
                subscribed.push(uri.clone());
                conn.subscribe(&uri)
                    .await
                    .map(|snapshot| json!({"snapshot": snapshot}))
            }
            Err(e) => Err(e),
        },
        _ => served(conn, method, params).await,
    };
    (result, subscribed)
}

/// The requests of an initialized connection that subscribe to nothing.
async fn served(conn: &Arc<Conn>, method: &str, params: Value) -> Result<Value, RpcError> {
    match method {
        "listSessions" => {
            let hub = conn.hub.clone();
            let items = tokio::task::spawn_blocking(move || {
                let sessions = aside_sessions::Sessions::open_at(hub.layout.clone())
                    .map_err(|e| e.to_string())?;
                root::list(&hub, &sessions)
            })
            .await
            .map_err(|e| RpcError::new(-32603, e.to_string()))?
            .map_err(|e| RpcError::new(-32603, e))?;
            Ok(json!({"items": items}))
        }
        "fetchTurns" => {
            let uri = string(&params, "channel")?;
            let Some(Channel::Chat(id)) = conn.hub.channel(&uri) else {
                return Err(RpcError::invalid(format!("{uri} is not a chat")));
            };
            let projector = conn
                .subscriptions
                .lock()
                .ok()
                .and_then(|s| s.get(&uri).and_then(|sub| sub.projector.clone()))
                .ok_or_else(|| {
                    RpcError::invalid(format!("subscribe to {uri} before fetching its turns"))
                })?;
            debug_assert_eq!(projector.id, id);
            projector
                .fetch_turns(&conn.hub)
                .await
                .map_err(|e| RpcError::new(-32603, e))?;
            Ok(json!({}))
        }
        "resolveSessionConfig" => files::resolve_config(conn, &params).await,
        "createSession" => files::create(conn, &params).await,
        "disposeSession" => files::dispose(conn, &params).await,
        "resourceList" => files::list(conn, &params).await,
        "resourceResolve" => files::resolve(conn, &params).await,
        "resourceRead" => files::read(conn, &params).await,
        _ => Err(RpcError::new(
            json_rpc_error_codes::METHOD_NOT_FOUND,
            format!("aside does not serve `{method}`"),
        )),
    }
}

async fn initialize(
    conn: &Arc<Conn>,
    params: &Value,
    subscribed: &mut Vec<String>,
) -> Result<Value, RpcError> {
    let offered = strings(params, "protocolVersions");
    let version = VERSIONS
        .iter()
        .find(|v| offered.iter().any(|o| o == *v))
        .ok_or_else(|| RpcError {
            code: ahp_error_codes::UNSUPPORTED_PROTOCOL_VERSION,
            message: format!(
                "aside speaks AHP {}; the client offered {}",
                VERSIONS.join(" and "),
                if offered.is_empty() {
                    "none".to_string()
                } else {
                    offered.join(", ")
                }
            ),
            data: Some(json!({"supportedVersions": VERSIONS})),
        })?;
    let client_id = string(params, "clientId")?;
    if let Ok(mut slot) = conn.client_id.lock() {
        *slot = Some(client_id);
    }
    if let Ok(mut slot) = conn.version.lock() {
        *slot = Some(version.to_string());
    }
    conn.hub.watch_list();
    let server_seq = conn.hub.last_seq();
    let mut snapshots = Vec::new();
    for uri in params["initialSubscriptions"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(Value::as_str)
    {
        subscribed.push(uri.to_string());
        snapshots.push(conn.subscribe(uri).await?);
    }
    let layout = conn.hub.layout.clone();
    let default_directory = tokio::task::spawn_blocking(move || files::default_directory(layout))
        .await
        .ok()
        .flatten();
    let mut result = json!({
        "protocolVersion": version,
        "serverSeq": server_seq,
        "serverInfo": {"name": "aside", "version": env!("CARGO_PKG_VERSION")},
        "snapshots": snapshots,
    });
    if let Some(dir) = default_directory {
        result["defaultDirectory"] = json!(dir);
    }
    Ok(result)
}

/// `reconnect`: what the client missed since `lastSeenServerSeq` on its subscriptions, when
/// aside still has all of it; else a snapshot of each.
async fn reconnect(
    conn: &Arc<Conn>,
    params: &Value,
    subscribed: &mut Vec<String>,
) -> Result<Value, RpcError> {
    let client_id = string(params, "clientId")?;
    let last = params["lastSeenServerSeq"]
        .as_i64()
        .ok_or_else(|| RpcError::invalid("`lastSeenServerSeq` is missing (a number)"))?
        .max(0) as u64;
    let wanted = strings(params, "subscriptions");
    if wanted.len() > MAX_SUBSCRIPTIONS {
        return Err(RpcError::invalid(format!(
            "too many subscriptions (at most {MAX_SUBSCRIPTIONS})"
        )));
    }
    if let Ok(mut slot) = conn.client_id.lock() {
        *slot = Some(client_id);
    }
    if let Ok(mut slot) = conn.version.lock() {
        // The version of the connection it had: what it offered then is not sent again.
        slot.get_or_insert_with(|| VERSIONS[1].to_string());
    }
    conn.hub.watch_list();
    // Every session it follows must have been followed here all along.
    // (A client that saw nothing, `lastSeenServerSeq` 0, has nothing to build on.)
    let replayable = last > 0
        && wanted.iter().all(|uri| match conn.hub.channel(uri) {
            Some(Channel::Root) => true,
            Some(c) => c
                .session()
                .and_then(|id| conn.hub.projected(id))
                .is_some_and(|p| p.born <= last),
            None => false,
        });
    // Subscribed first: what is sent after each snapshot reaches the client as usual, and the
    // replay stops there.
    let mut snapshots = Vec::new();
    let mut missing = Vec::new();
    for uri in &wanted {
        subscribed.push(uri.clone());
        match conn.subscribe(uri).await {
            Ok(snapshot) => snapshots.push(snapshot),
            Err(_) => missing.push(uri.clone()),
        }
    }
    let upto: HashMap<String, u64> = conn
        .subscriptions
        .lock()
        .map(|s| s.iter().map(|(k, v)| (k.clone(), v.from)).collect())
        .unwrap_or_default();
    let replay = if replayable {
        conn.hub.replay(last, &wanted).map(|actions| {
            actions
                .into_iter()
                .filter(|e| upto.get(&e.channel).is_some_and(|to| e.server_seq <= *to))
                .collect::<Vec<_>>()
        })
    } else {
        None
    };
    Ok(match replay {
        Some(actions) => {
            let actions: Vec<&ActionEnvelope> = actions.iter().map(|e| &**e).collect();
            json!({"type": "replay", "actions": actions, "missing": missing})
        }
        None => json!({"type": "snapshot", "snapshots": snapshots}),
    })
}
