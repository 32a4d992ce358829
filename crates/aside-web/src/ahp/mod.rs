//! aside as an Agent Host: the Agent Host Protocol (JSON-RPC over a WebSocket, state per channel
//! kept by AHP's own reducers) at `/ahp` on `aside ui`'s port, for VS Code's Agents window and
//! any AHP client. The one network protocol aside speaks.
//!
//! Rooms: `map` (a session's events as chat actions, pure), `chat` (a session projected and
//! followed), `changes` (a session's changesets, from git), `root` (agents, the session list and its notifications), `hub` (what connections
//! share: the numbered actions, replay), `conn` (one connection's JSON-RPC), `steer` (what a
//! client dispatches, carried out the way the CLI does it), `files` (new sessions, folders,
//! files and changes, confined to what aside knows).
//!
//! Security (the protocol's threat model minimums): the token (`?tkn=`) is checked at the
//! upgrade, before any JSON-RPC, 403 otherwise; a browser page of another origin is refused
//! (403); frames are at most 1 MiB and JSON nesting is serde_json's 128; subscriptions per
//! connection and kept actions are bounded; no protected resources are advertised (so no
//! client sends tokens); what a client may do is decided here, never from flags it sends;
//! prompts and tokens are not logged.

mod changes;
mod chat;
mod conn;
mod files;
pub(crate) mod hub;
mod map;
mod root;
mod steer;

use crate::AppState;
use axum::extract::ws::rejection::WebSocketUpgradeRejection;
use axum::extract::ws::WebSocketUpgrade;
use axum::extract::{Query, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use std::collections::HashMap;

/// The most one frame (one JSON-RPC message) may hold.
pub const MAX_FRAME: usize = 1024 * 1024;

/// The protocol versions aside speaks, newest first (VS Code 1.139 and 1.140 offer 0.9.0).
pub const VERSIONS: [&str; 2] = ["1.0.0", "0.9.0"];

/// The actions AHP 1.0 added: never sent to a client that negotiated 0.9.0 (read from
/// ahp-types 0.9.0 and 1.0.0; a unit test checks every action aside sends against 0.9's).
pub const NEW_IN_1_0: [&str; 11] = [
    "canvas/stateChanged",
    "chat/backgroundWorkRemoved",
    "chat/backgroundWorkSet",
    "chat/canvasesChanged",
    "chat/changesetsChanged",
    "chat/isArchivedChanged",
    "chat/isReadChanged",
    "chat/movableChanged",
    "session/chatsReordered",
    "session/mcpServerBackgroundRequested",
    "root/terminalsChanged",
];

/// The origins a browser-based client may connect from: VS Code's desktop window, and this
/// server's own pages.
fn origin_allowed(state: &AppState, origin: Option<&str>) -> bool {
    match origin {
        None => true,
        Some("vscode-file://vscode-app") => true,
        Some(origin) => origin.strip_prefix("http://").is_some_and(|host| {
            let port = state.port;
            host == format!("127.0.0.1:{port}") || host == format!("localhost:{port}")
        }),
    }
}

/// `GET /ahp?tkn=TOKEN`: the WebSocket upgrade, refused (403) before it without the token or
/// from a foreign page.
pub async fn upgrade(
    State(state): State<AppState>,
    Query(query): Query<HashMap<String, String>>,
    headers: HeaderMap,
    ws: Result<WebSocketUpgrade, WebSocketUpgradeRejection>,
) -> Response {
    let token_ok = query
        .get("tkn")
        .is_some_and(|t| crate::security::same(t, &state.ahp_token));
    if !token_ok {
        return (
            StatusCode::FORBIDDEN,
            "forbidden: connect with the URL `aside ui` printed (ws://127.0.0.1:PORT/ahp?tkn=TOKEN)",
        )
            .into_response();
    }
    let origin = headers.get(header::ORIGIN).and_then(|v| v.to_str().ok());
    if !origin_allowed(&state, origin) {
        return (
            StatusCode::FORBIDDEN,
            "forbidden: this page's origin may not drive aside",
        )
            .into_response();
    }
    let ws = match ws {
        Ok(ws) => ws,
        Err(e) => {
            return (
                StatusCode::BAD_REQUEST,
                format!(
                    "this is aside's Agent Host Protocol endpoint: connect with a WebSocket ({e})"
                ),
            )
                .into_response()
        }
    };
    let Ok(permit) = state.streams.clone().try_acquire_owned() else {
        return (
            StatusCode::TOO_MANY_REQUESTS,
            format!(
                "too many live connections ({}): close some views, then connect again",
                crate::MAX_STREAMS
            ),
        )
            .into_response();
    };
    let hub = state.hub.clone();
    ws.max_message_size(MAX_FRAME)
        .max_frame_size(MAX_FRAME)
        .on_upgrade(move |socket| async move {
            conn::serve(socket, hub).await;
            drop(permit);
        })
}
