//! The ACP side: the handlers for every method the agent serves (the live sessions they act on
//! are in `session.rs`).
//!
//! Handlers run inside the SDK's dispatch loop and must return quickly: a prompt turn runs in
//! its own tokio task and answers through its moved responder.

use crate::session::{internal, not_found, AgentState, Mode};
use crate::store::{Meta, Store};
use crate::turn;
use agent_client_protocol::v1::schema::{
    AgentCapabilities, CancelNotification, CloseSessionRequest, CloseSessionResponse,
    Implementation, InitializeRequest, InitializeResponse, ListSessionsRequest,
    ListSessionsResponse, LoadSessionRequest, LoadSessionResponse, McpCapabilities, McpServer,
    NewSessionRequest, NewSessionResponse, PromptCapabilities, PromptRequest, PromptResponse,
    ResumeSessionRequest, ResumeSessionResponse, SessionAdditionalDirectoriesCapabilities,
    SessionCapabilities, SessionCloseCapabilities, SessionConfigOption,
    SessionConfigOptionCategory, SessionConfigSelectOption, SessionInfo, SessionListCapabilities,
    SessionMode, SessionModeState, SessionResumeCapabilities, SessionUpdate,
    SetSessionConfigOptionRequest, SetSessionConfigOptionResponse, SetSessionModeRequest,
    SetSessionModeResponse,
};
use agent_client_protocol::v1::ConnectionTo;
use agent_client_protocol::{Agent, Client, Error};
use aside_core::ModelConfig;
use std::path::PathBuf;
use std::sync::Arc;

fn invalid(message: String) -> Error {
    Error::new(-32602, message)
}

fn modes(current: Mode) -> SessionModeState {
    SessionModeState::new(
        current.id(),
        vec![
            SessionMode::new("code", "Code")
                .description("Reads, edits files and runs commands".to_string()),
            SessionMode::new("plan", "Plan")
                .description("Read-only: explores and answers with a plan".to_string()),
        ],
    )
}

/// The session's options: its mode, and its model (the configured one unless it asked for
/// another; any name the endpoint serves is taken, so the choices are the ones known here).
fn config_options(current: Mode, model: &str, configured: &str) -> Vec<SessionConfigOption> {
    let mut models = vec![SessionConfigSelectOption::new(
        configured.to_string(),
        configured.to_string(),
    )];
    if model != configured {
        models.push(SessionConfigSelectOption::new(
            model.to_string(),
            model.to_string(),
        ));
    }
    vec![
        SessionConfigOption::select(
            "mode",
            "Mode",
            current.id(),
            vec![
                SessionConfigSelectOption::new("code", "Code"),
                SessionConfigSelectOption::new("plan", "Plan"),
            ],
        )
        .category(SessionConfigOptionCategory::Mode),
        SessionConfigOption::select("model", "Model", model.to_string(), models)
            .category(SessionConfigOptionCategory::Model),
    ]
}

/// The model name the settings give, or `default` when it is found at run time (Ollama).
fn configured_model(state: &AgentState) -> String {
    state
        .model_config
        .model
        .clone()
        .unwrap_or_else(|| DEFAULT_MODEL.to_string())
}

const DEFAULT_MODEL: &str = "default";

/// The options of session `id` as they are now.
fn options_of(state: &AgentState, id: &str) -> Result<Vec<SessionConfigOption>, Error> {
    let session = state.session(id)?;
    let configured = configured_model(state);
    let model = session.model().unwrap_or_else(|| configured.clone());
    Ok(config_options(session.mode(), &model, &configured))
}

/// Chooses the model of session `id`: `default` (or the configured name) goes back to the
/// configured one.
fn set_model(state: &AgentState, session_id: &str, model: &str) -> Result<(), Error> {
    let session = state.session(session_id)?;
    let model = model.trim();
    if model.is_empty() {
        return Err(invalid("model takes a model name".to_string()));
    }
    let chosen =
        (model != DEFAULT_MODEL && model != configured_model(state)).then(|| model.to_string());
    if let Ok(mut m) = session.model.lock() {
        *m = chosen.clone();
    }
    if let Ok(mut conv) = session.conversation.try_lock() {
        conv.meta.model = chosen;
        let _ = state.store.save_meta(&conv.meta);
    }
    Ok(())
}

fn check_cwd(cwd: &std::path::Path) -> Result<(), Error> {
    if !cwd.is_absolute() {
        return Err(invalid(format!(
            "cwd must be an absolute path, got {}",
            cwd.display()
        )));
    }
    if !cwd.is_dir() {
        return Err(invalid(format!("cwd {} is not a directory", cwd.display())));
    }
    Ok(())
}

fn set_mode(state: &AgentState, session_id: &str, mode_id: &str) -> Result<Mode, Error> {
    let session = state.session(session_id)?;
    let mode = Mode::parse(mode_id)
        .ok_or_else(|| invalid(format!("unknown mode `{mode_id}`: use code or plan")))?;
    if let Ok(mut m) = session.mode.lock() {
        *m = mode;
    }
    let store = state.store.clone();
    let session_for_save = session.clone();
    // The meta is saved by whoever holds the conversation next; try now without waiting.
    if let Ok(mut conv) = session_for_save.conversation.try_lock() {
        conv.meta.mode = mode.id().to_string();
        let _ = store.save_meta(&conv.meta);
    }
    Ok(mode)
}

/// Restores a stored session into this process; replays its updates when `replay`.
fn restore(
    state: &AgentState,
    cx: &ConnectionTo<Client>,
    id: &str,
    cwd: PathBuf,
    additional: Vec<PathBuf>,
    mcp_servers: Vec<McpServer>,
    replay: bool,
) -> Result<Mode, Error> {
    let existing = state.session(id).ok();
    let session = match existing {
        Some(session) => session,
        None => {
            let (mut meta, messages) =
                state.store.load(id).map_err(internal)?.ok_or_else(|| {
                    not_found(format!(
                        "no stored session {id} under {}",
                        state.store.root().display()
                    ))
                })?;
            meta.cwd = cwd;
            if !additional.is_empty() {
                meta.additional_directories = additional;
            }
            state.register(meta, messages, mcp_servers)
        }
    };
    if replay {
        for update in state.store.updates(id).map_err(internal)? {
            // Stored as the JSON that was sent; a line that is no update fails the load.
            let update: SessionUpdate = serde_json::from_value(update).map_err(internal)?;
            crate::session::send_update(cx, id, update)?;
        }
    }
    Ok(session.mode())
}

/// Serves ACP on stdin/stdout until the client closes it.
pub async fn serve(model_config: ModelConfig, store: Store) -> Result<(), Error> {
    let state = Arc::new(AgentState::new(model_config, store));
    let (s1, s2, s3, s4, s5, s6, s7, s8, s9, s10) = (
        state.clone(),
        state.clone(),
        state.clone(),
        state.clone(),
        state.clone(),
        state.clone(),
        state.clone(),
        state.clone(),
        state.clone(),
        state.clone(),
    );
    Agent
        .v1()
        .name("aside")
        .on_receive_request(
            async move |init: InitializeRequest, responder, _cx| {
                if let Ok(mut caps) = s1.client_caps.lock() {
                    *caps = init.client_capabilities.clone();
                }
                responder.respond(
                    InitializeResponse::new(init.protocol_version)
                        .agent_capabilities(
                            AgentCapabilities::new()
                                .load_session(true)
                                .mcp_capabilities(McpCapabilities::new().http(true))
                                .prompt_capabilities(
                                    PromptCapabilities::new().embedded_context(true),
                                )
                                .session_capabilities(
                                    SessionCapabilities::new()
                                        .list(SessionListCapabilities::new())
                                        .resume(SessionResumeCapabilities::new())
                                        .close(SessionCloseCapabilities::new())
                                        .additional_directories(
                                            SessionAdditionalDirectoriesCapabilities::new(),
                                        ),
                                ),
                        )
                        .agent_info(
                            Implementation::new("aside", env!("CARGO_PKG_VERSION"))
                                .title("aside agent".to_string()),
                        ),
                )
            },
            agent_client_protocol::on_receive_request!(),
        )
        .on_receive_request(
            async move |req: NewSessionRequest, responder, _cx| {
                if let Err(e) = check_cwd(&req.cwd) {
                    return responder.respond_with_error(e);
                }
                let id = uuid::Uuid::new_v4().simple().to_string();
                let now = aside_core::now();
                let meta = Meta {
                    id: id.clone(),
                    cwd: req.cwd.clone(),
                    additional_directories: req.additional_directories.clone(),
                    title: None,
                    mode: Mode::Code.id().to_string(),
                    model: None,
                    created_at: now.clone(),
                    updated_at: now,
                };
                if let Err(e) = s2.store.create(&meta) {
                    return responder.respond_with_error(internal(format!(
                        "cannot store the session under {}: {e}",
                        s2.store.root().display()
                    )));
                }
                s2.register(meta, Vec::new(), req.mcp_servers.clone());
                let options = options_of(&s2, &id).unwrap_or_default();
                responder.respond(
                    NewSessionResponse::new(id)
                        .modes(modes(Mode::Code))
                        .config_options(options),
                )
            },
            agent_client_protocol::on_receive_request!(),
        )
        .on_receive_request(
            async move |req: LoadSessionRequest, responder, cx| {
                if let Err(e) = check_cwd(&req.cwd) {
                    return responder.respond_with_error(e);
                }
                match restore(
                    &s3,
                    &cx,
                    &req.session_id.0,
                    req.cwd.clone(),
                    req.additional_directories.clone(),
                    req.mcp_servers.clone(),
                    true,
                ) {
                    Ok(mode) => responder.respond(
                        LoadSessionResponse::new()
                            .modes(modes(mode))
                            .config_options(options_of(&s3, &req.session_id.0).unwrap_or_default()),
                    ),
                    Err(e) => responder.respond_with_error(e),
                }
            },
            agent_client_protocol::on_receive_request!(),
        )
        .on_receive_request(
            async move |req: ResumeSessionRequest, responder, cx| {
                if let Err(e) = check_cwd(&req.cwd) {
                    return responder.respond_with_error(e);
                }
                match restore(
                    &s4,
                    &cx,
                    &req.session_id.0,
                    req.cwd.clone(),
                    req.additional_directories.clone(),
                    req.mcp_servers.clone(),
                    false,
                ) {
                    Ok(mode) => responder.respond(
                        ResumeSessionResponse::new()
                            .modes(modes(mode))
                            .config_options(options_of(&s4, &req.session_id.0).unwrap_or_default()),
                    ),
                    Err(e) => responder.respond_with_error(e),
                }
            },
            agent_client_protocol::on_receive_request!(),
        )
        .on_receive_request(
            async move |req: ListSessionsRequest, responder, _cx| {
                let metas = match s5.store.list() {
                    Ok(m) => m,
                    Err(e) => return responder.respond_with_error(internal(e)),
                };
                let sessions = metas
                    .into_iter()
                    .filter(|m| req.cwd.as_ref().is_none_or(|cwd| &m.cwd == cwd))
                    .map(|m| {
                        SessionInfo::new(m.id, m.cwd)
                            .title(m.title)
                            .updated_at(m.updated_at)
                    })
                    .collect();
                responder.respond(ListSessionsResponse::new(sessions))
            },
            agent_client_protocol::on_receive_request!(),
        )
        .on_receive_request(
            async move |req: CloseSessionRequest, responder, _cx| {
                let removed = s6.remove(req.session_id.0.as_ref());
                match removed {
                    Some(session) => {
                        if let Ok(token) = session.cancel.lock() {
                            token.cancel();
                        }
                        responder.respond(CloseSessionResponse::new())
                    }
                    None => responder.respond_with_error(not_found(format!(
                        "no active session {}",
                        req.session_id.0
                    ))),
                }
            },
            agent_client_protocol::on_receive_request!(),
        )
        .on_receive_request(
            async move |req: SetSessionModeRequest, responder, _cx| match set_mode(
                &s7,
                &req.session_id.0,
                &req.mode_id.0,
            ) {
                Ok(_) => responder.respond(SetSessionModeResponse::new()),
                Err(e) => responder.respond_with_error(e),
            },
            agent_client_protocol::on_receive_request!(),
        )
        .on_receive_request(
            async move |req: SetSessionConfigOptionRequest, responder, _cx| {
                let option = req.config_id.0.as_ref();
                let Some(value) = req.value.as_value_id() else {
                    return responder.respond_with_error(invalid(format!(
                        "{option} takes a value id: code or plan for mode, a model name for model"
                    )));
                };
                let session = &req.session_id.0;
                let set = match option {
                    "mode" => set_mode(&s8, session, &value.0).map(|_| ()),
                    "model" => set_model(&s8, session, &value.0),
                    other => Err(invalid(format!(
                        "unknown config option `{other}`: the options are `mode` and `model`"
                    ))),
                };
                match set.and_then(|()| options_of(&s8, session)) {
                    Ok(options) => responder.respond(SetSessionConfigOptionResponse::new(options)),
                    Err(e) => responder.respond_with_error(e),
                }
            },
            agent_client_protocol::on_receive_request!(),
        )
        .on_receive_request(
            async move |req: PromptRequest, responder, cx| {
                let session = match s9.session(&req.session_id.0) {
                    Ok(s) => s,
                    Err(e) => return responder.respond_with_error(e),
                };
                let state = s9.clone();
                tokio::spawn(async move {
                    let result = turn::run(state, session, cx, req.prompt).await;
                    let _ = match result {
                        Ok(stop) => responder.respond(PromptResponse::new(stop)),
                        Err(e) => responder.respond_with_error(e),
                    };
                });
                Ok(())
            },
            agent_client_protocol::on_receive_request!(),
        )
        .on_receive_notification(
            async move |n: CancelNotification, _cx| {
                if let Ok(session) = s10.session(&n.session_id.0) {
                    if let Ok(token) = session.cancel.lock() {
                        token.cancel();
                    }
                }
                Ok(())
            },
            agent_client_protocol::on_receive_notification!(),
        )
        .connect_to(agent_client_protocol::Stdio::new())
        .await
}
