//! One prompt turn: the model is called, its text streamed to the client, its tool calls checked,
//! permitted and run, until it answers without calling a tool.

use crate::command::{self, Ending};
use crate::model::{ChatRequest, Delta, FinishReason, Message, ModelClient, ModelError, ToolUse};
use crate::server::{AgentState, Mode, Session};
use crate::tools::{self, Action, Kind, Permission, Prepared};
use agent_client_protocol::v1::schema::{
    CreateTerminalRequest, KillTerminalRequest, ReleaseTerminalRequest, RequestPermissionOutcome,
    RequestPermissionRequest, SessionNotification, StopReason, TerminalOutputRequest,
    WaitForTerminalExitRequest,
};
use agent_client_protocol::v1::ConnectionTo;
use agent_client_protocol::{Client, Error};
use aside_core::now;
use serde_json::{json, Value};
use std::sync::Arc;
use tokio_util::sync::CancellationToken;

/// Most model calls in one turn before it stops with `max_turn_requests`.
const MAX_STEPS: usize = 100;
/// Share of the context window at which older turns are compacted.
const COMPACT_AT: f64 = 0.8;
/// Most characters of a tool's output shown in the client (the model gets `tools::OUTPUT_CAP`).
const DISPLAY_CAP: usize = 20_000;

fn from_json<T: serde::de::DeserializeOwned>(value: Value) -> Result<T, Error> {
    serde_json::from_value(value).map_err(crate::server::internal)
}

/// Sends one `session/update` given as its JSON.
pub fn send_update(
    cx: &ConnectionTo<Client>,
    session_id: &str,
    update: &Value,
) -> Result<(), Error> {
    let notification: SessionNotification =
        from_json(json!({"sessionId": session_id, "update": update}))?;
    cx.send_notification(notification)
}

/// Sends updates to the client and keeps them for the session's replay log; consecutive
/// message chunks are stored as one.
struct Emitter {
    cx: ConnectionTo<Client>,
    session_id: String,
    pending: Vec<Value>,
}

impl Emitter {
    fn emit(&mut self, update: Value) {
        if let Err(e) = send_update(&self.cx, &self.session_id, &update) {
            tracing::warn!("cannot send update: {e}");
        }
        self.record(update);
    }

    fn record(&mut self, update: Value) {
        let kind = update["sessionUpdate"]
            .as_str()
            .unwrap_or_default()
            .to_string();
        if kind.ends_with("_message_chunk") {
            if let Some(last) = self.pending.last_mut() {
                if last["sessionUpdate"] == kind.as_str() {
                    let text = update["content"]["text"].as_str().unwrap_or_default();
                    if let Some(existing) = last["content"]["text"].as_str() {
                        last["content"]["text"] = Value::String(format!("{existing}{text}"));
                        return;
                    }
                }
            }
        }
        self.pending.push(update);
    }

    fn chunk(&mut self, kind: &str, text: &str) {
        self.emit(json!({"sessionUpdate": kind, "content": {"type": "text", "text": text}}));
    }
}

/// Persists what the turn has produced so far.
fn save(
    state: &AgentState,
    session: &Session,
    conv: &mut crate::server::Conversation,
    out: &mut Emitter,
) {
    conv.meta.updated_at = now();
    conv.meta.mode = session.mode().id().to_string();
    let updates = std::mem::take(&mut out.pending);
    let result = state
        .store
        .append_updates(&session.id, &updates)
        .and_then(|_| state.store.save_messages(&session.id, &conv.messages))
        .and_then(|_| state.store.save_meta(&conv.meta));
    if let Err(e) = result {
        tracing::error!("cannot persist session {}: {e}", session.id);
    }
}

/// Turns the prompt's content blocks into the text the model reads.
fn prompt_text(prompt: &[agent_client_protocol::v1::schema::ContentBlock]) -> String {
    let mut parts = Vec::new();
    for block in prompt {
        let value = serde_json::to_value(block).unwrap_or(Value::Null);
        match value["type"].as_str() {
            Some("text") => parts.push(value["text"].as_str().unwrap_or_default().to_string()),
            Some("resource_link") => parts.push(format!(
                "[attached file: {}]",
                value["uri"].as_str().unwrap_or_default()
            )),
            Some("resource") => {
                let r = &value["resource"];
                let uri = r["uri"].as_str().unwrap_or_default();
                match r["text"].as_str() {
                    Some(text) => parts.push(format!("<file uri=\"{uri}\">\n{text}\n</file>")),
                    None => parts.push(format!("[attached binary resource: {uri}]")),
                }
            }
            _ => parts.push("[unsupported content omitted]".to_string()),
        }
    }
    parts.join("\n\n")
}

/// Runs one turn to its stop reason. A failure that ends the turn (endpoint down, nothing
/// configured) is an error whose message says what to do.
pub async fn run(
    state: Arc<AgentState>,
    session: Arc<Session>,
    cx: ConnectionTo<Client>,
    prompt: Vec<agent_client_protocol::v1::schema::ContentBlock>,
) -> Result<StopReason, Error> {
    let mut conv = session.conversation.lock().await;
    let cancel = CancellationToken::new();
    if let Ok(mut slot) = session.cancel.lock() {
        *slot = cancel.clone();
    }
    let mut out = Emitter {
        cx: cx.clone(),
        session_id: session.id.clone(),
        pending: Vec::new(),
    };
    let text = prompt_text(&prompt);
    // The client already shows its own prompt; it is stored for replay on load.
    out.record(json!({"sessionUpdate": "user_message_chunk",
                      "content": {"type": "text", "text": text}}));
    if conv.meta.title.is_none() {
        let title: String = text
            .lines()
            .next()
            .unwrap_or_default()
            .chars()
            .take(80)
            .collect();
        out.emit(
            json!({"sessionUpdate": "session_info_update", "title": title, "updatedAt": now()}),
        );
        conv.meta.title = Some(title);
    }
    conv.messages.push(Message::User { text });
    save(&state, &session, &mut conv, &mut out);

    let model = match state.model().await {
        Ok(model) => model,
        Err(e) => return Err(crate::server::internal(e)),
    };
    let result = steps(&state, &session, &cx, &model, &mut conv, &mut out, &cancel).await;
    save(&state, &session, &mut conv, &mut out);
    result
}

async fn steps(
    state: &AgentState,
    session: &Session,
    cx: &ConnectionTo<Client>,
    model: &ModelClient,
    conv: &mut crate::server::Conversation,
    out: &mut Emitter,
    cancel: &CancellationToken,
) -> Result<StopReason, Error> {
    for _ in 0..MAX_STEPS {
        if cancel.is_cancelled() {
            return Ok(StopReason::Cancelled);
        }
        let mode = session.mode();
        let system = crate::prompt::system_prompt(session.roots.cwd(), mode == Mode::Plan);
        if needs_compaction(&system, &conv.messages, model) {
            match compact(model, &system, &mut conv.messages, cancel).await {
                Ok(()) => save(state, session, conv, out),
                Err(ModelError::Cancelled) => return Ok(StopReason::Cancelled),
                Err(e) => {
                    return Err(crate::server::internal(format!(
                        "compacting the conversation failed: {e}"
                    )))
                }
            }
        }
        let specs = tools::specs(mode == Mode::Plan);
        let request = ChatRequest {
            system: &system,
            messages: &conv.messages,
            tools: &specs,
        };
        let mut streamed = String::new();
        let reply = {
            let mut on_delta = |d: Delta<'_>| match d {
                Delta::Text(t) => {
                    streamed.push_str(t);
                    out.chunk("agent_message_chunk", t);
                }
                Delta::Thought(t) => out.chunk("agent_thought_chunk", t),
            };
            model.chat(&request, cancel, &mut on_delta).await
        };
        let reply = match reply {
            Ok(reply) => reply,
            Err(ModelError::Cancelled) => {
                if !streamed.is_empty() {
                    conv.messages.push(Message::Assistant {
                        text: streamed,
                        tool_calls: vec![],
                    });
                }
                return Ok(StopReason::Cancelled);
            }
            Err(e) => return Err(crate::server::internal(e)),
        };
        if let (Some(input), output) = (reply.input_tokens, reply.output_tokens) {
            out.emit(json!({"sessionUpdate": "usage_update",
                            "used": input.saturating_add(output.unwrap_or(0)), "size": model.context_window}));
        }
        conv.messages.push(Message::Assistant {
            text: reply.text.clone(),
            tool_calls: reply.tool_calls.clone(),
        });
        save(state, session, conv, out);
        if reply.tool_calls.is_empty() {
            return Ok(match reply.finish {
                FinishReason::Stop => StopReason::EndTurn,
                FinishReason::Length => StopReason::MaxTokens,
                FinishReason::Refusal => StopReason::Refusal,
            });
        }
        let mut cancelled = false;
        for call in &reply.tool_calls {
            let (content, is_error) = if cancelled {
                ("cancelled by the user before it ran".to_string(), true)
            } else {
                match tool_call(state, session, cx, out, call, cancel).await {
                    ToolOutcome::Done { text, is_error } => (text, is_error),
                    ToolOutcome::Cancelled => {
                        cancelled = true;
                        ("cancelled by the user".to_string(), true)
                    }
                }
            };
            // Every tool call gets its result, so the conversation stays valid for the model.
            conv.messages.push(Message::ToolResult {
                call_id: call.id.clone(),
                content,
                is_error,
            });
            save(state, session, conv, out);
        }
        if cancelled {
            return Ok(StopReason::Cancelled);
        }
    }
    Ok(StopReason::MaxTurnRequests)
}

enum ToolOutcome {
    Done { text: String, is_error: bool },
    Cancelled,
}

fn kind_str(kind: Kind) -> &'static str {
    match kind {
        Kind::Read => "read",
        Kind::Edit => "edit",
        Kind::Search => "search",
        Kind::Execute => "execute",
        Kind::Think => "think",
    }
}

fn text_content(text: &str) -> Value {
    json!([{"type": "content", "content": {"type": "text", "text": tools::cap_middle(text, DISPLAY_CAP)}}])
}

async fn tool_call(
    state: &AgentState,
    session: &Session,
    cx: &ConnectionTo<Client>,
    out: &mut Emitter,
    call: &ToolUse,
    cancel: &CancellationToken,
) -> ToolOutcome {
    let raw_input: Value =
        serde_json::from_str(&call.arguments).unwrap_or(Value::String(call.arguments.clone()));
    let read_only = session.mode() == Mode::Plan;
    let prepared = match tools::prepare(&session.roots, &call.name, &call.arguments, read_only) {
        Ok(p) => p,
        Err(error) => {
            out.emit(json!({"sessionUpdate": "tool_call", "toolCallId": call.id,
                "title": format!("{} (invalid call)", call.name), "kind": "other", "status": "failed",
                "rawInput": raw_input, "content": text_content(&error)}));
            return ToolOutcome::Done {
                text: error,
                is_error: true,
            };
        }
    };
    let locations: Vec<Value> = prepared
        .locations
        .iter()
        .map(|p| json!({"path": p}))
        .collect();
    let mut content = match &prepared.action {
        Action::Write { path, old, new } => {
            json!([{"type": "diff", "path": path, "oldText": old, "newText": new}])
        }
        _ => json!([]),
    };
    out.emit(
        json!({"sessionUpdate": "tool_call", "toolCallId": call.id, "title": prepared.title,
        "kind": kind_str(prepared.kind), "status": "pending", "locations": locations,
        "rawInput": raw_input, "content": content}),
    );

    if let Some(permission) = prepared.permission {
        match ask(session, cx, call, &prepared, permission, &content, cancel).await {
            Answer::Allowed => {}
            Answer::Rejected => {
                out.emit(
                    json!({"sessionUpdate": "tool_call_update", "toolCallId": call.id,
                    "status": "failed", "content": text_content("Rejected by the user")}),
                );
                return ToolOutcome::Done {
                    text:
                        "The user rejected this action; it was not carried out. Do not retry it; \
                           take another approach or explain what you need."
                            .to_string(),
                    is_error: true,
                };
            }
            Answer::Cancelled => {
                out.emit(
                    json!({"sessionUpdate": "tool_call_update", "toolCallId": call.id,
                    "status": "failed", "content": text_content("Cancelled")}),
                );
                return ToolOutcome::Cancelled;
            }
        }
    }
    out.emit(json!({"sessionUpdate": "tool_call_update", "toolCallId": call.id, "status": "in_progress"}));

    let result: Result<String, String> = match &prepared.action {
        Action::Run { command, timeout } => {
            let terminal = state
                .client_caps
                .lock()
                .map(|c| c.terminal)
                .unwrap_or(false);
            let run = if terminal {
                run_in_client_terminal(cx, session, &call.id, out, command, *timeout, cancel).await
            } else {
                run_locally(session, command, *timeout, cancel).await
            };
            match run {
                RunResult::Cancelled(output) => {
                    out.emit(json!({"sessionUpdate": "tool_call_update", "toolCallId": call.id,
                        "status": "failed", "content": text_content(&format!("{output}\n[cancelled]"))}));
                    return ToolOutcome::Cancelled;
                }
                RunResult::Done(r) => r,
            }
        }
        Action::Plan { entries } => {
            let entries: Vec<Value> = entries
                .iter()
                .map(|e| {
                    json!({"content": e.content,
                "status": e.status, "priority": match e.priority.as_str() {
                    "high" | "low" => e.priority.as_str(), _ => "medium" }})
                })
                .collect();
            out.emit(json!({"sessionUpdate": "plan", "entries": entries}));
            tools::execute_file_action(&session.roots, &prepared.action).map(|o| o.text)
        }
        action => {
            let roots = session.roots.clone();
            let action = action.clone();
            tokio::task::spawn_blocking(move || tools::execute_file_action(&roots, &action))
                .await
                .unwrap_or_else(|e| Err(format!("the tool crashed: {e}")))
                .map(|o| o.text)
        }
    };
    match result {
        Ok(text) => {
            if !matches!(prepared.action, Action::Write { .. }) {
                content = text_content(&text);
            }
            out.emit(
                json!({"sessionUpdate": "tool_call_update", "toolCallId": call.id,
                "status": "completed", "content": content}),
            );
            ToolOutcome::Done {
                text,
                is_error: false,
            }
        }
        Err(text) => {
            out.emit(
                json!({"sessionUpdate": "tool_call_update", "toolCallId": call.id,
                "status": "failed", "content": text_content(&text)}),
            );
            ToolOutcome::Done {
                text,
                is_error: true,
            }
        }
    }
}

enum Answer {
    Allowed,
    Rejected,
    Cancelled,
}

async fn ask(
    session: &Session,
    cx: &ConnectionTo<Client>,
    call: &ToolUse,
    prepared: &Prepared,
    permission: Permission,
    content: &Value,
    cancel: &CancellationToken,
) -> Answer {
    if session
        .always_allowed
        .lock()
        .is_ok_and(|a| a.contains(&permission))
    {
        return Answer::Allowed;
    }
    let request: RequestPermissionRequest = match from_json(json!({
    "sessionId": session.id,
    "toolCall": {"toolCallId": call.id, "title": prepared.title, "kind": kind_str(prepared.kind),
                 "status": "pending", "content": content,
                 "locations": prepared.locations.iter().map(|p| json!({"path": p})).collect::<Vec<_>>()},
    "options": [
        {"optionId": "allow_once", "name": "Allow", "kind": "allow_once"},
        {"optionId": "allow_always", "name": match permission {
            Permission::Edit => "Always allow edits", Permission::Execute => "Always allow commands" },
         "kind": "allow_always"},
        {"optionId": "reject_once", "name": "Reject", "kind": "reject_once"},
    ]})) {
        Ok(r) => r,
        Err(_) => return Answer::Rejected,
    };
    let response = tokio::select! {
        r = cx.send_request(request).block_task() => r,
        // The client must still answer `cancelled`; the turn does not wait for it.
        _ = cancel.cancelled() => return Answer::Cancelled,
    };
    match response {
        Ok(response) => match response.outcome {
            RequestPermissionOutcome::Selected(selected) => match selected.option_id.0.as_ref() {
                "allow_once" => Answer::Allowed,
                "allow_always" => {
                    if let Ok(mut allowed) = session.always_allowed.lock() {
                        allowed.insert(permission);
                    }
                    Answer::Allowed
                }
                _ => Answer::Rejected,
            },
            RequestPermissionOutcome::Cancelled => Answer::Cancelled,
            _ => Answer::Rejected,
        },
        Err(e) => {
            tracing::warn!("permission request failed: {e}");
            Answer::Rejected
        }
    }
}

enum RunResult {
    Done(Result<String, String>),
    Cancelled(String),
}

fn describe(ending: &Ending, output: &str, timeout: std::time::Duration) -> Result<String, String> {
    let output = output.trim_end_matches('\n');
    let sep = if output.is_empty() { "" } else { "\n" };
    match ending {
        Ending::Exited(Some(0)) => Ok(format!("{output}{sep}[exit code 0]")),
        Ending::Exited(Some(code)) => Err(format!("{output}{sep}[exit code {code}]")),
        Ending::Exited(None) => Err(format!("{output}{sep}[killed by a signal]")),
        Ending::TimedOut => Err(format!(
            "{output}{sep}[timed out after {} s and was killed]",
            timeout.as_secs()
        )),
        Ending::Cancelled => Err(format!("{output}{sep}[cancelled]")),
    }
}

async fn run_locally(
    session: &Session,
    command: &str,
    timeout: std::time::Duration,
    cancel: &CancellationToken,
) -> RunResult {
    match command::run(
        command,
        session.roots.cwd(),
        timeout,
        tools::OUTPUT_CAP,
        cancel,
    )
    .await
    {
        Ok(done) if done.ending == Ending::Cancelled => RunResult::Cancelled(done.output),
        Ok(done) => RunResult::Done(describe(&done.ending, &done.output, timeout)),
        Err(e) => RunResult::Done(Err(format!("cannot start the command: {e}"))),
    }
}

/// Runs the command in a terminal the client owns, so the user sees it live.
async fn run_in_client_terminal(
    cx: &ConnectionTo<Client>,
    session: &Session,
    call_id: &str,
    out: &mut Emitter,
    command: &str,
    timeout: std::time::Duration,
    cancel: &CancellationToken,
) -> RunResult {
    let create: CreateTerminalRequest = match from_json(json!({"sessionId": session.id,
        "command": "sh", "args": ["-c", command], "cwd": session.roots.cwd(),
        "outputByteLimit": tools::OUTPUT_CAP}))
    {
        Ok(r) => r,
        Err(e) => return RunResult::Done(Err(e.to_string())),
    };
    let terminal_id = match cx.send_request(create).block_task().await {
        Ok(r) => r.terminal_id,
        Err(e) => {
            return RunResult::Done(Err(format!("the client could not start a terminal: {e}")))
        }
    };
    out.emit(
        json!({"sessionUpdate": "tool_call_update", "toolCallId": call_id,
        "content": [{"type": "terminal", "terminalId": terminal_id.0}]}),
    );
    let sid = session.id.clone();
    let tid = terminal_id.0.to_string();
    let req = |method: &str| json!({"sessionId": sid, "terminalId": tid, "_method": method});
    let wait: Result<WaitForTerminalExitRequest, _> = from_json(req("wait"));
    let mut ending = Ending::Exited(None);
    if let Ok(wait) = wait {
        tokio::select! {
            r = cx.send_request(wait).block_task() => {
                if let Ok(r) = r { ending = Ending::Exited(r.exit_status.exit_code.map(|c| c as i32)); }
            }
            _ = tokio::time::sleep(timeout) => ending = Ending::TimedOut,
            _ = cancel.cancelled() => ending = Ending::Cancelled,
        }
    }
    if matches!(ending, Ending::TimedOut | Ending::Cancelled) {
        if let Ok(kill) = from_json::<KillTerminalRequest>(req("kill")) {
            let _ = cx.send_request(kill).block_task().await;
        }
    }
    let output = match from_json::<TerminalOutputRequest>(req("output")) {
        Ok(r) => cx
            .send_request(r)
            .block_task()
            .await
            .map(|o| o.output)
            .unwrap_or_default(),
        Err(_) => String::new(),
    };
    if let Ok(release) = from_json::<ReleaseTerminalRequest>(req("release")) {
        let _ = cx.send_request(release).block_task().await;
    }
    if ending == Ending::Cancelled {
        return RunResult::Cancelled(output);
    }
    RunResult::Done(describe(
        &ending,
        &tools::cap_middle(&output, tools::OUTPUT_CAP),
        timeout,
    ))
}

/// Rough token count: four characters a token.
fn estimate_tokens(system: &str, messages: &[Message]) -> u64 {
    let chars: usize = system.len()
        + messages
            .iter()
            .map(|m| match m {
                Message::User { text } => text.len(),
                Message::Assistant { text, tool_calls } => {
                    text.len()
                        + tool_calls
                            .iter()
                            .map(|c| c.arguments.len() + c.name.len())
                            .sum::<usize>()
                }
                Message::ToolResult { content, .. } => content.len(),
            })
            .sum::<usize>();
    (chars / 4) as u64
}

fn needs_compaction(system: &str, messages: &[Message], model: &ModelClient) -> bool {
    let budget = model
        .context_window
        .saturating_sub(model.max_output_tokens.min(model.context_window / 2));
    estimate_tokens(system, messages) as f64 > budget as f64 * COMPACT_AT && messages.len() > 2
}

/// Makes room in the conversation. Everything before the last user message is replaced by a
/// summary the model writes; if the current turn alone is still too large, the output of its
/// older tool calls is dropped (the model can run them again).
async fn compact(
    model: &ModelClient,
    system: &str,
    messages: &mut Vec<Message>,
    cancel: &CancellationToken,
) -> Result<(), ModelError> {
    let split = messages
        .iter()
        .rposition(|m| matches!(m, Message::User { .. }))
        .unwrap_or(0);
    if split > 0 {
        let summary = summarise(model, &messages[..split], cancel).await?;
        let mut kept = vec![
            Message::User {
                text: format!("[Summary of the earlier conversation]\n{summary}"),
            },
            Message::Assistant {
                text: "Understood; I will continue from this summary.".to_string(),
                tool_calls: vec![],
            },
        ];
        kept.extend(messages.drain(split..));
        *messages = kept;
    }
    if needs_compaction(system, messages, model) {
        let last = messages
            .iter()
            .rposition(|m| matches!(m, Message::ToolResult { .. }))
            .unwrap_or(0);
        for message in messages.iter_mut().take(last) {
            if let Message::ToolResult { content, .. } = message {
                *content = "[output removed to save context; run the tool again if you need it]"
                    .to_string();
            }
        }
    }
    Ok(())
}

async fn summarise(
    model: &ModelClient,
    old: &[Message],
    cancel: &CancellationToken,
) -> Result<String, ModelError> {
    let mut transcript = String::new();
    for m in old {
        match m {
            Message::User { text } => {
                transcript.push_str(&format!("USER: {}\n\n", tools::cap_middle(text, 4000)))
            }
            Message::Assistant { text, tool_calls } => {
                transcript.push_str(&format!("ASSISTANT: {}\n", tools::cap_middle(text, 4000)));
                for c in tool_calls {
                    transcript.push_str(&format!(
                        "  called {}({})\n",
                        c.name,
                        tools::cap_middle(&c.arguments, 500)
                    ));
                }
                transcript.push('\n');
            }
            Message::ToolResult {
                content, is_error, ..
            } => transcript.push_str(&format!(
                "TOOL {}: {}\n\n",
                if *is_error { "ERROR" } else { "RESULT" },
                tools::cap_middle(content, 1500)
            )),
        }
    }
    let request_messages = vec![Message::User {
        text: format!(
            "Summarise this conversation between a user and a coding agent so the agent can \
continue the work without it: the task, decisions made, files changed, commands run and their \
results, and what remains to do. Be concise and specific.\n\n{transcript}"
        ),
    }];
    let request = ChatRequest {
        system: "You write precise summaries of coding sessions.",
        messages: &request_messages,
        tools: &[],
    };
    Ok(model.chat(&request, cancel, &mut |_| {}).await?.text)
}
