//! One AHP connection: JSON-RPC requests and notifications in, answers, actions of its
//! subscriptions and the root's notifications out, in order, through one writer.

use super::chat::Projector;
use super::hub::Hub;
use super::root::{self, Channel, ROOT};
use super::{files, steer, NEW_IN_1_0, VERSIONS};
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
}

/// One connection's state.
pub struct Conn {
    pub hub: Arc<Hub>,
    out: mpsc::Sender<String>,
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

    /// Sends a message as it is.
    pub async fn send(&self, message: &Value) {
        let _ = self.out.send(message.to_string()).await;
    }

    /// Follows a channel: its snapshot now, its actions from then on.
    pub async fn subscribe(&self, uri: &str) -> Result<Value, RpcError> {
        let channel = self.hub.channel(uri).ok_or_else(|| {
            RpcError::new(
                ahp_error_codes::NOT_FOUND,
                format!("aside serves no channel {uri}"),
            )
        })?;
        {
            let subs = self
                .subscriptions
                .lock()
                .map_err(|_| RpcError::new(-32603, "poisoned"))?;
            if !subs.contains_key(uri) && subs.len() >= MAX_SUBSCRIPTIONS {
                return Err(RpcError::new(
                    json_rpc_error_codes::INVALID_REQUEST,
                    format!("too many subscriptions on one connection (at most {MAX_SUBSCRIPTIONS}): unsubscribe from some first"),
                ));
            }
        }
        let (snapshot, sub) = match &channel {
            Channel::Root => {
                let from = self.hub.last_seq();
                let state = tokio::task::spawn_blocking(root::state)
                    .await
                    .unwrap_or_default();
                (
                    json!({"resource": ROOT, "state": state, "fromSeq": from}),
                    Subscription {
                        from,
                        projector: None,
                    },
                )
            }
            Channel::Changes(id, turn) => {
                let projector = self.hub.projector(id).await.map_err(|e| {
                    RpcError::new(ahp_error_codes::SESSION_NOT_FOUND, format!("{uri}: {e}"))
                })?;
                let state = changeset_state(&self.hub, id, turn.as_deref())
                    .await
                    .map_err(|e| RpcError::new(-32603, format!("{uri}: {e}")))?;
                let from = self.hub.last_seq();
                self.hub
                    .follow_changes(uri, id, turn.clone(), state.clone());
                (
                    json!({"resource": uri, "state": state, "fromSeq": from}),
                    Subscription {
                        from,
                        projector: Some(projector),
                    },
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
                    return Err(RpcError::new(
                        ahp_error_codes::SESSION_NOT_FOUND,
                        format!("{uri}: session {id} is {canonical}"),
                    ));
                }
                let snapshot = projector.snapshot(&self.hub, uri);
                let from = snapshot.from_seq as u64;
                (
                    serde_json::to_value(&snapshot).unwrap_or_default(),
                    Subscription {
                        from,
                        projector: Some(projector),
                    },
                )
            }
        };
        if let Ok(mut subs) = self.subscriptions.lock() {
            if let Some(old) = subs.insert(uri.to_string(), sub) {
                if let Some(p) = old.projector {
                    self.hub.left(&p.id);
                }
            }
        }
        Ok(snapshot)
    }

    pub fn unsubscribe(&self, uri: &str) {
        let old = self
            .subscriptions
            .lock()
            .ok()
            .and_then(|mut s| s.remove(uri));
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
    let layout = hub.layout.clone();
    let id = id.to_string();
    tokio::task::spawn_blocking(move || {
        let sessions = aside_sessions::Sessions::open_at(layout).map_err(|e| e.to_string())?;
        let record = sessions
            .index
            .get(&aside_core::SessionId(id.clone()))
            .map_err(|e| e.to_string())?
            .ok_or_else(|| format!("no session {id}"))?;
        super::changes::state(&sessions, &record, checkpoint)
    })
    .await
    .map_err(|e| e.to_string())?
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
    let (out, mut outgoing) = mpsc::channel::<String>(1024);
    let writer = tokio::spawn(async move {
        while let Some(text) = outgoing.recv().await {
            // Nothing to send: the connection is to close.
            if text.is_empty() {
                break;
            }
            if sink.send(Message::Text(text.into())).await.is_err() {
                break;
            }
        }
        let _ = sink.close().await;
    });
    let conn = Arc::new(Conn {
        hub: hub.clone(),
        out,
        client_id: Mutex::new(None),
        version: Mutex::new(None),
        subscriptions: Mutex::new(HashMap::new()),
    });
    let forward = tokio::spawn(forward(
        conn.clone(),
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
    while let Some(Ok(message)) = stream.next().await {
        let text = match message {
            Message::Text(text) => text,
            Message::Close(_) => break,
            Message::Ping(_) | Message::Pong(_) => continue,
            Message::Binary(_) => {
                conn.send(&response(
                    &Value::Null,
                    Err(RpcError::new(
                        json_rpc_error_codes::INVALID_REQUEST,
                        "AHP messages are JSON text frames; a binary frame was sent",
                    )),
                ))
                .await;
                continue;
            }
        };
        let message: Value = match serde_json::from_str(text.as_str()) {
            Ok(v) => v,
            Err(e) => {
                conn.send(&response(
                    &Value::Null,
                    Err(RpcError::new(
                        json_rpc_error_codes::PARSE_ERROR,
                        format!("not JSON: {e}"),
                    )),
                ))
                .await;
                continue;
            }
        };
        let Some(method) = message["method"].as_str().map(str::to_string) else {
            // A response (aside asks clients nothing) or something else: an answer only when
            // it carries an id to answer.
            if message.get("result").is_none() && message.get("error").is_none() {
                conn.send(&response(
                    message.get("id").unwrap_or(&Value::Null),
                    Err(RpcError::new(
                        json_rpc_error_codes::INVALID_REQUEST,
                        "a JSON-RPC request needs a method",
                    )),
                ))
                .await;
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
                    let result = request(&conn, &method, params).await;
                    conn.send(&response(&id, result)).await;
                    drop(permit);
                });
            }
        }
    }
    forward.abort();
    steering.abort();
    for uri in conn.subscribed() {
        conn.unsubscribe(&uri);
    }
    drop(conn);
    let _ = writer.await;
}

/// Sends the connection the actions of its subscriptions (those after each one's snapshot),
/// known to its version, and the root's notifications; a client too slow to keep up is
/// disconnected (it reconnects, and is replayed or sent snapshots).
async fn forward(
    conn: Arc<Conn>,
    mut actions: broadcast::Receiver<Arc<ahp_types::actions::ActionEnvelope>>,
    mut notes: broadcast::Receiver<Arc<Value>>,
) {
    loop {
        tokio::select! {
            envelope = actions.recv() => {
                let envelope = match envelope {
                    Ok(e) => e,
                    Err(broadcast::error::RecvError::Lagged(_)) | Err(broadcast::error::RecvError::Closed) => {
                        let _ = conn.out.send(String::new()).await;
                        return;
                    }
                };
                let wanted = conn
                    .subscriptions
                    .lock()
                    .ok()
                    .and_then(|s| s.get(&envelope.channel).map(|sub| envelope.server_seq > sub.from))
                    .unwrap_or(false);
                if !wanted || !known(&conn, &envelope.action) {
                    continue;
                }
                let message = json!({"jsonrpc": "2.0", "method": "action", "params": &*envelope});
                conn.send(&message).await;
            }
            note = notes.recv() => {
                match note {
                    Ok(note) if conn.initialized() => conn.send(&note).await,
                    Ok(_) => {}
                    Err(broadcast::error::RecvError::Lagged(_)) => {}
                    Err(broadcast::error::RecvError::Closed) => return,
                }
            }
        }
    }
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

fn string(params: &Value, key: &str) -> Result<String, RpcError> {
    params[key]
        .as_str()
        .map(str::to_string)
        .ok_or_else(|| RpcError::invalid(format!("`{key}` is missing (a string)")))
}

/// Answers one request.
async fn request(conn: &Arc<Conn>, method: &str, params: Value) -> Result<Value, RpcError> {
    match method {
        "ping" => return Ok(Value::Null),
        "initialize" => return initialize(conn, &params).await,
        "reconnect" => return reconnect(conn, &params).await,
        _ if !conn.initialized() => {
            return Err(RpcError::new(
                json_rpc_error_codes::INVALID_REQUEST,
                format!("`{method}` before `initialize`: initialize first"),
            ))
        }
        _ => {}
    }
    match method {
        "subscribe" => {
            let uri = string(&params, "channel")?;
            Ok(json!({"snapshot": conn.subscribe(&uri).await?}))
        }
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

async fn initialize(conn: &Arc<Conn>, params: &Value) -> Result<Value, RpcError> {
    let offered: Vec<String> = params["protocolVersions"]
        .as_array()
        .map(|v| {
            v.iter()
                .filter_map(|s| s.as_str().map(str::to_string))
                .collect()
        })
        .unwrap_or_default();
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
        snapshots.push(conn.subscribe(uri).await?);
    }
    let default_directory = tokio::task::spawn_blocking(files::default_directory)
        .await
        .ok()
        .flatten();
    Ok(json!({
        "protocolVersion": version,
        "serverSeq": server_seq,
        "serverInfo": {"name": "aside", "version": env!("CARGO_PKG_VERSION")},
        "snapshots": snapshots,
        "defaultDirectory": default_directory,
    }))
}

/// `reconnect`: what the client missed since `lastSeenServerSeq` on its subscriptions, when
/// aside still has all of it; else a snapshot of each.
async fn reconnect(conn: &Arc<Conn>, params: &Value) -> Result<Value, RpcError> {
    let client_id = string(params, "clientId")?;
    let last = params["lastSeenServerSeq"]
        .as_i64()
        .ok_or_else(|| RpcError::invalid("`lastSeenServerSeq` is missing (a number)"))?
        .max(0) as u64;
    let wanted: Vec<String> = params["subscriptions"]
        .as_array()
        .map(|v| {
            v.iter()
                .filter_map(|s| s.as_str().map(str::to_string))
                .collect()
        })
        .unwrap_or_default();
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
                .is_some_and(|p| p.born <= last + 1),
            None => false,
        });
    // Subscribed first: what is sent after each snapshot reaches the client as usual, and the
    // replay stops there.
    let mut snapshots = Vec::new();
    let mut missing = Vec::new();
    for uri in &wanted {
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
        Some(actions) => json!({"type": "replay", "actions": actions, "missing": missing}),
        None => json!({"type": "snapshot", "snapshots": snapshots}),
    })
}
