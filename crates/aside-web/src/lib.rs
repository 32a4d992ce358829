//! The web Agents view, `aside ui`: every session of every repository, live, with every action
//! the CLI has.
//!
//! Owns: the HTTP API, the SSE streams and the pages (shipped inside the binary).
//! Must not: bypass the host for writes: every action goes through `aside_sessions`, the same
//! path the CLI takes. Agent text is untrusted: the pages build DOM nodes from text, never HTML.
//!
//! Security: bound to 127.0.0.1; every API request needs the token as a bearer token (the page
//! gets it once from the URL, keeps it in its own origin's storage, never in a cookie, which
//! every server on 127.0.0.1 would receive); a foreign `Host` is refused (DNS rebinding), and so
//! is a mutating request with a foreign `Origin` (CSRF); a strict Content-Security-Policy;
//! request bodies are JSON (labelled so) of at most 1 MiB.

mod ahp;
mod api;
mod security;

use axum::routing::{get, post};
use axum::Router;
use std::net::SocketAddr;
use std::sync::Arc;

/// What every handler shares.
#[derive(Clone)]
pub struct AppState {
    /// The access token.
    pub token: Arc<str>,
    /// The port it is bound to (for the Host and Origin checks).
    pub port: u16,
    /// The address it listens on, when not loopback (a Host naming it is ours too).
    pub listen: Option<std::net::IpAddr>,
    /// `$ASIDE_HOME`.
    pub layout: aside_store::Layout,
    /// Each session's progress (plan steps, last message line) as last read, by id, with the
    /// `updated_at` it was read at: a session's log is read again only when it changed.
    pub progress: Progress,
    /// The live streams open at once (each holds a thread and a host connection while it
    /// lasts): bounded, so a client that opens many cannot starve the API.
    pub streams: Arc<tokio::sync::Semaphore>,
    /// The Agent Host Protocol endpoint's token (`/ahp?tkn=`): its own, so the web page's
    /// token (kept in the browser) cannot drive AHP, nor this one the page.
    pub ahp_token: Arc<str>,
    /// What AHP connections share.
    pub hub: Arc<ahp::hub::Hub>,
    /// The sessions of the configured machines, as they last answered.
    pub machines: Arc<api::MachineLists>,
}

/// Each session's progress as last read, by id (see [`AppState::progress`]).
pub type Progress =
    Arc<std::sync::Mutex<std::collections::HashMap<String, (String, serde_json::Value)>>>;

/// The most live streams (session pages and lists) open at once.
pub const MAX_STREAMS: usize = 64;

/// A running server.
pub struct Server {
    /// The bound address.
    pub addr: SocketAddr,
    /// The URL to open, with the token.
    pub url: String,
    /// The Agent Host Protocol endpoint, with its token: what VS Code's Agents window is given.
    pub ahp_url: String,
    listener: tokio::net::TcpListener,
    router: Router,
}

/// A random token: 32 hex characters from /dev/urandom.
fn random_token() -> std::io::Result<String> {
    use std::io::Read as _;
    let mut bytes = [0u8; 16];
    std::fs::File::open("/dev/urandom")?.read_exact(&mut bytes)?;
    Ok(bytes.iter().map(|b| format!("{b:02x}")).collect())
}

/// The address as a URL names it (loopback as 127.0.0.1, which every client can reach).
fn shown(addr: SocketAddr) -> String {
    if addr.ip().is_loopback() || addr.ip().is_unspecified() {
        format!("127.0.0.1:{}", addr.port())
    } else {
        addr.to_string()
    }
}

/// The AHP endpoint's token: made once and kept (readable by the user only) in
/// `$ASIDE_HOME/ahp-token`, so a host saved in VS Code's settings works again after a restart
/// on the same port. Delete the file to change it.
fn ahp_token(layout: &aside_store::Layout) -> std::io::Result<String> {
    let file = layout.home.join("ahp-token");
    if let Ok(kept) = std::fs::read_to_string(&file) {
        let kept = kept.trim();
        if kept.len() >= 32 && kept.bytes().all(|b| b.is_ascii_hexdigit()) {
            return Ok(kept.to_string());
        }
    }
    let token = random_token()?;
    // Makes $ASIDE_HOME (0700) when this is the first thing aside writes there.
    aside_core::paths::write_private(&file, format!("{token}\n").as_bytes())?;
    Ok(token)
}

/// Binds 127.0.0.1:`port` (0 picks a free port).
pub async fn bind(port: u16, layout: aside_store::Layout) -> std::io::Result<Server> {
    bind_on(std::net::Ipv4Addr::LOCALHOST.into(), port, layout).await
}

/// Binds `ip`:`port`. Anything but loopback is the caller's explicit choice (`aside ui
/// --listen`): requests must then name that address as their Host.
pub async fn bind_on(
    ip: std::net::IpAddr,
    port: u16,
    layout: aside_store::Layout,
) -> std::io::Result<Server> {
    let listener = tokio::net::TcpListener::bind((ip, port)).await?;
    let addr = listener.local_addr()?;
    let token = random_token()?;
    let ahp_token = ahp_token(&layout)?;
    let progress: Progress = Default::default();
    let machines: Arc<api::MachineLists> = Default::default();
    let state = AppState {
        token: token.clone().into(),
        port: addr.port(),
        listen: (!ip.is_loopback()).then_some(ip),
        hub: ahp::hub::Hub::new(layout.clone(), progress.clone(), machines.clone()),
        layout,
        progress,
        streams: Arc::new(tokio::sync::Semaphore::new(MAX_STREAMS)),
        ahp_token: ahp_token.clone().into(),
        machines,
    };
    let router = Router::new()
        .route("/", get(api::list_page))
        .route("/s/{id}", get(api::session_page))
        .route("/assets/{file}", get(api::asset))
        .route("/api/sessions", get(api::list).post(api::create))
        .route("/api/sessions/stream", get(api::list_stream))
        .route("/api/meta", get(api::meta))
        .route("/api/trust", post(api::trust))
        .route("/api/sessions/{id}", get(api::show))
        .route("/api/sessions/{id}/events", get(api::events))
        .route("/api/sessions/{id}/earlier", get(api::earlier))
        .route("/api/sessions/{id}/diff", get(api::diff))
        .route("/api/sessions/{id}/{action}", post(api::action))
        .route("/ahp", get(ahp::upgrade))
        .layer(axum::middleware::from_fn_with_state(
            state.clone(),
            security::guard,
        ))
        .with_state(state);
    Ok(Server {
        url: format!("http://{}/?token={token}", shown(addr)),
        ahp_url: format!("ws://{}/ahp?tkn={ahp_token}", shown(addr)),
        addr,
        listener,
        router,
    })
}

impl Server {
    /// Serves until the process ends.
    pub async fn serve(self) -> std::io::Result<()> {
        axum::serve(self.listener, self.router).await
    }
}
