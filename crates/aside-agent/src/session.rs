//! What the handlers (`server.rs`) and a prompt turn (`turn.rs`) share: the live sessions and
//! the process-wide agent state, the errors clients see, and how a `session/update` is sent.
//!
//! Depends on neither of them, so the dependencies point one way: server → turn → session.

use crate::confine::Roots;
use crate::model::{Message, ModelClient};
use crate::store::{Meta, Store};
use crate::tools::Permission;
use agent_client_protocol::v1::schema::{
    ClientCapabilities, McpServer, SessionNotification, SessionUpdate,
};
use agent_client_protocol::v1::ConnectionTo;
use agent_client_protocol::{Client, Error};
use aside_core::ModelConfig;
use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex};
use tokio_util::sync::CancellationToken;

/// A session's mode.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// Reads, edits and runs commands.
    Code,
    /// Read-only: explores and answers with a plan.
    Plan,
}

impl Mode {
    /// The mode with this id, if there is one.
    pub fn parse(id: &str) -> Option<Mode> {
        match id {
            "code" => Some(Mode::Code),
            "plan" => Some(Mode::Plan),
            _ => None,
        }
    }

    /// The id clients see.
    pub fn id(self) -> &'static str {
        match self {
            Mode::Code => "code",
            Mode::Plan => "plan",
        }
    }
}

/// The part of a session a turn holds for its whole length.
pub struct Conversation {
    /// Stored facts.
    pub meta: Meta,
    /// What the model sees.
    pub messages: Vec<Message>,
}

/// One live session.
pub struct Session {
    /// ACP session id.
    pub id: String,
    /// Where its tools may go.
    pub roots: Roots,
    /// Held by the running turn; a second prompt waits for it.
    pub conversation: tokio::sync::Mutex<Conversation>,
    /// Cancels the running turn.
    pub cancel: Mutex<CancellationToken>,
    /// Its mode, changed by set_mode while no lock is held long.
    pub mode: Mutex<Mode>,
    /// The model it asked for (config option `model`); none: the configured one.
    pub model: Mutex<Option<String>>,
    /// Kinds of action the user allowed for the rest of the session.
    pub always_allowed: Mutex<HashSet<Permission>>,
    /// The MCP servers the client named, started on the first turn.
    pub mcp_servers: Vec<McpServer>,
    /// Those servers once started (with the ones that failed).
    pub mcp: tokio::sync::OnceCell<crate::mcp::Servers>,
}

impl Session {
    /// The current mode.
    pub fn mode(&self) -> Mode {
        self.mode.lock().map(|m| *m).unwrap_or(Mode::Code)
    }

    /// The model it asked for, if it did.
    pub fn model(&self) -> Option<String> {
        self.model.lock().ok().and_then(|m| m.clone())
    }
}

/// Everything shared by the handlers of one agent process.
pub struct AgentState {
    /// Where sessions are persisted.
    pub store: Store,
    /// Model settings (file + env).
    pub model_config: ModelConfig,
    model: tokio::sync::Mutex<Option<ModelClient>>,
    sessions: Mutex<HashMap<String, Arc<Session>>>,
    /// What the client said it can do.
    pub client_caps: Mutex<ClientCapabilities>,
}

impl AgentState {
    /// A process with no session yet; the model client is made on first use.
    pub fn new(model_config: ModelConfig, store: Store) -> AgentState {
        AgentState {
            store,
            model_config,
            model: tokio::sync::Mutex::new(None),
            sessions: Mutex::new(HashMap::new()),
            client_caps: Mutex::new(ClientCapabilities::default()),
        }
    }

    /// The model client, configured on first use (so a later-started Ollama is found).
    pub async fn model(&self) -> Result<ModelClient, crate::model::ModelError> {
        let mut slot = self.model.lock().await;
        if let Some(client) = slot.as_ref() {
            return Ok(client.clone());
        }
        let client = ModelClient::from_config(&self.model_config).await?;
        *slot = Some(client.clone());
        Ok(client)
    }

    /// The live session `id`, or the error a client sees when there is none.
    pub fn session(&self, id: &str) -> Result<Arc<Session>, Error> {
        self.sessions
            .lock()
            .ok()
            .and_then(|s| s.get(id).cloned())
            .ok_or_else(|| {
                not_found(format!(
                    "no active session {id}: create one with session/new or restore it with session/load"
                ))
            })
    }

    /// Makes a stored or new session live in this process.
    pub fn register(
        &self,
        meta: Meta,
        messages: Vec<Message>,
        mcp_servers: Vec<McpServer>,
    ) -> Arc<Session> {
        let mode = Mode::parse(&meta.mode).unwrap_or(Mode::Code);
        let model = meta.model.clone();
        let session = Arc::new(Session {
            id: meta.id.clone(),
            roots: Roots::new(&meta.cwd, &meta.additional_directories),
            conversation: tokio::sync::Mutex::new(Conversation { meta, messages }),
            cancel: Mutex::new(CancellationToken::new()),
            mode: Mutex::new(mode),
            model: Mutex::new(model),
            always_allowed: Mutex::new(HashSet::new()),
            mcp_servers,
            mcp: tokio::sync::OnceCell::new(),
        });
        if let Ok(mut sessions) = self.sessions.lock() {
            sessions.insert(session.id.clone(), session.clone());
        }
        session
    }

    /// Takes the live session `id` out of this process, if it is there.
    pub fn remove(&self, id: &str) -> Option<Arc<Session>> {
        self.sessions.lock().ok().and_then(|mut s| s.remove(id))
    }
}

/// An internal error whose message is the cause, so clients show it as it is.
pub fn internal(e: impl std::fmt::Display) -> Error {
    Error::new(-32603, e.to_string())
}

/// A session (or stored session) that does not exist.
pub fn not_found(message: String) -> Error {
    Error::new(-32002, message)
}

/// Sends one `session/update` for `session_id`.
pub fn send_update(
    cx: &ConnectionTo<Client>,
    session_id: &str,
    update: SessionUpdate,
) -> Result<(), Error> {
    cx.send_notification(SessionNotification::new(session_id.to_string(), update))
}
