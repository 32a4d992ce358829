//! The web view's HTTP side: errors as the page reads them, request body checks and the pages
//! here; the sessions (`sessions`), what a page does to one (`actions`) and the live streams
//! (`stream`) in rooms of their own. Writes go through `aside_sessions`.

mod actions;
mod machines;
mod sessions;
mod stream;

pub use self::actions::*;
pub use self::machines::MachineLists;
pub use self::sessions::*;
pub use self::stream::*;
use crate::AppState;
use aside_core::{Approve, Config, Event, Mode};
use aside_protocol::client::{Follower, Step};
use aside_protocol::conversation::ToolCalls;
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

const INDEX_HTML: &str = include_str!("../assets/index.html");
const SESSION_HTML: &str = include_str!("../assets/session.html");
const APP_CSS: &str = include_str!("../assets/app.css");

/// The page's script: ES modules, each one idea (`app.js` the entry).
const MODULES: &[(&str, &str)] = &[
    ("app.js", include_str!("../assets/app.js")),
    ("dom.js", include_str!("../assets/dom.js")),
    ("api.js", include_str!("../assets/api.js")),
    ("markdown.js", include_str!("../assets/markdown.js")),
    ("conversation.js", include_str!("../assets/conversation.js")),
    ("list.js", include_str!("../assets/list.js")),
    ("session.js", include_str!("../assets/session.js")),
];

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
    let module = MODULES.iter().find(|(name, _)| *name == file.as_str());
    let (body, kind) = match (file.as_str(), module) {
        (_, Some((_, module))) => (*module, "text/javascript; charset=utf-8"),
        ("app.css", None) => (APP_CSS, "text/css; charset=utf-8"),
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
