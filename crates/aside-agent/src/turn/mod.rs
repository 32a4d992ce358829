//! One prompt turn: the model is called, its text streamed to the client, its tool calls checked,
//! permitted and run, until it answers without calling a tool.

mod commands;
mod compaction;
mod permission;
mod updates;

use self::commands::*;
use self::compaction::*;
use self::permission::*;
use self::updates::*;
use crate::command::{self, Ending};
use crate::mcp;
use crate::model::{
    ChatReply, ChatRequest, Delta, FinishReason, Message, ModelClient, ModelError, ToolUse,
};
use crate::session::{internal, send_update, AgentState, Conversation, Mode, Session};
use crate::tools::{self, Action, Kind, Permission, Prepared};
use agent_client_protocol::v1::schema::{
    ContentBlock, ContentChunk, CreateTerminalRequest, Diff, KillTerminalRequest, PermissionOption,
    PermissionOptionKind, Plan, PlanEntry, PlanEntryPriority, PlanEntryStatus,
    ReleaseTerminalRequest, RequestPermissionOutcome, RequestPermissionRequest, SessionInfoUpdate,
    SessionUpdate, StopReason, Terminal, TerminalOutputRequest, ToolCall, ToolCallContent,
    ToolCallLocation, ToolCallStatus, ToolCallUpdate, ToolCallUpdateFields, ToolKind, UsageUpdate,
    WaitForTerminalExitRequest,
};
use agent_client_protocol::v1::ConnectionTo;
use agent_client_protocol::{Client, Error};
use aside_core::now;
use serde_json::Value;
use std::sync::Arc;
use tokio_util::sync::CancellationToken;

/// Most model calls in one turn before it stops with `max_turn_requests`.
const MAX_STEPS: usize = 100;
/// Share of the context window at which older turns are compacted.
const COMPACT_AT: f64 = 0.8;
/// Most characters of a tool's output shown in the client (the model gets `tools::OUTPUT_CAP`).
const DISPLAY_CAP: usize = 20_000;

/// Persists what the turn has produced so far.
fn save(state: &AgentState, session: &Session, conv: &mut Conversation, out: &mut Emitter) {
    conv.meta.updated_at = now();
    conv.meta.mode = session.mode().id().to_string();
    conv.meta.model = session.model();
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
    out.record(SessionUpdate::UserMessageChunk(text_chunk(&text)));
    if conv.meta.title.is_none() {
        let title: String = text
            .lines()
            .next()
            .unwrap_or_default()
            .chars()
            .take(80)
            .collect();
        out.emit(SessionUpdate::SessionInfoUpdate(
            SessionInfoUpdate::new()
                .title(title.clone())
                .updated_at(now()),
        ));
        conv.meta.title = Some(title);
    }
    conv.messages.push(Message::User { text });
    save(&state, &session, &mut conv, &mut out);

    let model = match (state.model().await, session.model()) {
        (Ok(model), Some(chosen)) => model.with_model(&chosen),
        (Ok(model), None) => model,
        (Err(e), _) => return Err(internal(e)),
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
    conv: &mut Conversation,
    out: &mut Emitter,
    cancel: &CancellationToken,
) -> Result<StopReason, Error> {
    let Some(mcp) = start_mcp(session, out, cancel).await else {
        return Ok(StopReason::Cancelled);
    };
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
                Err(e) => return Err(internal(format!("compacting the conversation failed: {e}"))),
            }
        }
        let mut specs = tools::specs(mode == Mode::Plan);
        specs.extend(mcp.specs(mode == Mode::Plan));
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
                    out.chunk(SessionUpdate::AgentMessageChunk, t);
                }
                Delta::Thought(t) => out.chunk(SessionUpdate::AgentThoughtChunk, t),
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
            Err(e) => return Err(internal(e)),
        };
        // What the call used, as the endpoint reported it (or counted here when it did not),
        // with the context's fill.
        let call = call_usage(&reply, &system, &conv.messages, model.model());
        let mut meta = serde_json::Map::new();
        meta.insert(
            aside_core::usage::META_KEY.to_string(),
            serde_json::to_value(&call).unwrap_or_default(),
        );
        out.emit(SessionUpdate::UsageUpdate(
            UsageUpdate::new(call.tokens.total(), model.context_window).meta(meta),
        ));
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
                match tool_call(state, session, mcp, cx, out, call, cancel).await {
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

/// The session's MCP servers, started on its first turn; a server that failed is shown as a
/// failed call (once). None when the user cancelled while they started.
async fn start_mcp<'a>(
    session: &'a Session,
    out: &mut Emitter,
    cancel: &CancellationToken,
) -> Option<&'a mcp::Servers> {
    if let Some(started) = session.mcp.get() {
        return Some(started);
    }
    let starting = session
        .mcp
        .get_or_init(|| mcp::Servers::connect(&session.mcp_servers, session.roots.cwd()));
    let started = tokio::select! {
        started = starting => started,
        _ = cancel.cancelled() => return None,
    };
    for failure in &started.failures {
        out.emit(SessionUpdate::ToolCall(
            ToolCall::new(
                format!("mcp-start-{}", failure.server),
                format!("Start MCP server {}", failure.server),
            )
            .kind(ToolKind::Other)
            .status(ToolCallStatus::Failed)
            .content(text_content(&failure.error)),
        ));
    }
    Some(started)
}

/// A call of an MCP tool, checked like a built-in one: asked for, and refused in plan mode
/// unless the server marks the tool read-only.
fn prepare_mcp(tool: &mcp::McpTool, arguments: &str, read_only: bool) -> Result<Prepared, String> {
    if read_only && !tool.read_only {
        return Err(format!(
            "`{}` may change things and is not available in plan mode",
            tool.spec.name
        ));
    }
    Ok(Prepared {
        title: tool.title.clone(),
        kind: Kind::Other,
        locations: vec![],
        permission: Some(Permission::Mcp),
        action: Action::Mcp {
            tool: Box::new(tool.clone()),
            arguments: arguments.to_string(),
        },
    })
}

async fn tool_call(
    state: &AgentState,
    session: &Session,
    mcp: &mcp::Servers,
    cx: &ConnectionTo<Client>,
    out: &mut Emitter,
    call: &ToolUse,
    cancel: &CancellationToken,
) -> ToolOutcome {
    let read_only = session.mode() == Mode::Plan;
    let prepared = match mcp.find(&call.name) {
        Some(tool) => prepare_mcp(tool, &call.arguments, read_only),
        None => tools::prepare(&session.roots, &call.name, &call.arguments, read_only),
    };
    let prepared = match prepared {
        Ok(p) => p,
        Err(error) => {
            out.emit(invalid_call(call, &error));
            return ToolOutcome::Done {
                text: error,
                is_error: true,
            };
        }
    };
    let mut content = diff_content(&prepared.action);
    out.emit(announced(call, &prepared, &content));

    // A command that would run without its sandbox waits for the user's yes, every time.
    let unsandboxed = matches!(prepared.action, Action::Run { .. })
        .then(commands::unsandboxed_ask)
        .flatten();
    if let Some(permission) = prepared.permission {
        let answer = match unsandboxed {
            Some(why) => ask_unsandboxed(session, cx, call, &prepared, &content, why, cancel).await,
            None => ask(session, cx, call, &prepared, permission, &content, cancel).await,
        };
        match answer {
            Answer::Allowed => {}
            Answer::Rejected => {
                out.emit(failed(&call.id, "Rejected by the user"));
                return ToolOutcome::Done {
                    text:
                        "The user rejected this action; it was not carried out. Do not retry it; \
                           take another approach or explain what you need."
                            .to_string(),
                    is_error: true,
                };
            }
            Answer::Cancelled => {
                out.emit(failed(&call.id, "Cancelled"));
                return ToolOutcome::Cancelled;
            }
        }
    }
    out.emit(call_update(
        &call.id,
        ToolCallUpdateFields::new().status(ToolCallStatus::InProgress),
    ));

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
                    out.emit(failed(&call.id, &format!("{output}\n[cancelled]")));
                    return ToolOutcome::Cancelled;
                }
                RunResult::Done(r) => r,
            }
        }
        Action::Mcp { tool, arguments } => {
            tokio::select! {
                result = mcp.call(tool, arguments) => result,
                _ = cancel.cancelled() => {
                    out.emit(failed(&call.id, "Cancelled"));
                    return ToolOutcome::Cancelled;
                }
            }
        }
        Action::Plan { entries } => {
            out.emit(SessionUpdate::Plan(plan(entries)));
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
            out.emit(call_update(
                &call.id,
                ToolCallUpdateFields::new()
                    .status(ToolCallStatus::Completed)
                    .content(content),
            ));
            ToolOutcome::Done {
                text,
                is_error: false,
            }
        }
        Err(text) => {
            out.emit(failed(&call.id, &text));
            ToolOutcome::Done {
                text,
                is_error: true,
            }
        }
    }
}

/// One model call's tokens: as the endpoint reported them, else counted from the text (about
/// four characters a token) and marked estimated.
fn call_usage(
    reply: &ChatReply,
    system: &str,
    messages: &[Message],
    model: &str,
) -> aside_core::usage::CallUsage {
    use aside_core::usage::{CallUsage, Tokens};
    let estimate = |chars: usize| (chars as u64).div_ceil(4);
    let (input, estimated_in) = match reply.input_tokens {
        Some(n) => (n, false),
        None => (
            estimate(system.len() + serde_json::to_string(messages).map_or(0, |m| m.len())),
            true,
        ),
    };
    let (output, estimated_out) = match reply.output_tokens {
        Some(n) => (n, false),
        None => (
            estimate(
                reply.text.len()
                    + reply
                        .tool_calls
                        .iter()
                        .map(|c| c.name.len() + c.arguments.len())
                        .sum::<usize>(),
            ),
            true,
        ),
    };
    let cached = reply.cached_tokens.unwrap_or(0).min(input);
    CallUsage {
        tokens: Tokens {
            input: input - cached,
            cached,
            output,
            reasoning: reply.reasoning_tokens.unwrap_or(0).min(output),
        },
        model: model.to_string(),
        estimated: estimated_in || estimated_out,
    }
}

#[cfg(test)]
mod tests {
    //! The typed updates must go over the wire as the JSON the agent sent before they were typed
    //! (the host stores them and replays old logs): each is checked against that JSON, read by
    //! the schema, and against the fields clients rely on.
    use super::*;
    use serde_json::json;
    use std::path::PathBuf;

    fn call(arguments: &str) -> ToolUse {
        ToolUse {
            id: "call_1".to_string(),
            name: "write_file".to_string(),
            arguments: arguments.to_string(),
        }
    }

    fn write(old: Option<&str>) -> Prepared {
        Prepared {
            title: "Write a.txt".to_string(),
            kind: Kind::Edit,
            locations: vec![PathBuf::from("/w/a.txt")],
            permission: Some(Permission::Edit),
            action: Action::Write {
                path: PathBuf::from("/w/a.txt"),
                old: old.map(str::to_string),
                new: "new\n".to_string(),
            },
        }
    }

    fn same_as(update: &SessionUpdate, before: Value) {
        let read: SessionUpdate = serde_json::from_value(before.clone()).unwrap();
        assert_eq!(update, &read, "{before}");
    }

    #[test]
    fn a_write_is_announced_with_its_diff_locations_and_input() {
        let prepared = write(Some("old\n"));
        let content = diff_content(&prepared.action);
        let update = announced(&call(r#"{"path":"a.txt"}"#), &prepared, &content);
        same_as(
            &update,
            json!({"sessionUpdate": "tool_call", "toolCallId": "call_1", "title": "Write a.txt",
                "kind": "edit", "status": "pending", "locations": [{"path": "/w/a.txt"}],
                "rawInput": {"path": "a.txt"},
                "content": [{"type": "diff", "path": "/w/a.txt", "oldText": "old\n",
                             "newText": "new\n"}]}),
        );
        let wire = serde_json::to_value(&update).unwrap();
        assert_eq!(wire["sessionUpdate"], "tool_call");
        assert_eq!(wire["toolCallId"], "call_1");
        assert_eq!(wire["kind"], "edit");
        assert_eq!(wire["rawInput"]["path"], "a.txt");
        assert_eq!(wire["locations"][0]["path"], "/w/a.txt");
        assert_eq!(wire["content"][0]["type"], "diff");
        assert_eq!(wire["content"][0]["oldText"], "old\n");
        assert_eq!(wire["content"][0]["newText"], "new\n");

        let created = write(None);
        same_as(
            &announced(&call("{}"), &created, &diff_content(&created.action)),
            json!({"sessionUpdate": "tool_call", "toolCallId": "call_1", "title": "Write a.txt",
                "kind": "edit", "status": "pending", "locations": [{"path": "/w/a.txt"}],
                "rawInput": {}, "content": [{"type": "diff", "path": "/w/a.txt", "oldText": null,
                                             "newText": "new\n"}]}),
        );
    }

    #[test]
    fn an_invalid_call_is_announced_failed_with_its_raw_arguments() {
        for (arguments, raw) in [
            ("{not json", json!("{not json")),
            ("null", Value::Null),
            (r#"{"x":1}"#, json!({"x": 1})),
        ] {
            let update = invalid_call(&call(arguments), "bad path");
            same_as(
                &update,
                json!({"sessionUpdate": "tool_call", "toolCallId": "call_1",
                    "title": "write_file (invalid call)", "kind": "other", "status": "failed",
                    "rawInput": raw,
                    "content": [{"type": "content",
                                 "content": {"type": "text", "text": "bad path"}}]}),
            );
            assert_eq!(serde_json::to_value(&update).unwrap()["status"], "failed");
        }
    }

    #[test]
    fn tool_call_updates_carry_status_and_content() {
        same_as(
            &failed("call_1", "Rejected by the user"),
            json!({"sessionUpdate": "tool_call_update", "toolCallId": "call_1", "status": "failed",
                "content": [{"type": "content",
                             "content": {"type": "text", "text": "Rejected by the user"}}]}),
        );
        same_as(
            &call_update(
                "call_1",
                ToolCallUpdateFields::new().status(ToolCallStatus::InProgress),
            ),
            json!({"sessionUpdate": "tool_call_update", "toolCallId": "call_1",
                   "status": "in_progress"}),
        );
        let prepared = write(Some("old\n"));
        same_as(
            &call_update(
                "call_1",
                ToolCallUpdateFields::new()
                    .status(ToolCallStatus::Completed)
                    .content(diff_content(&prepared.action)),
            ),
            json!({"sessionUpdate": "tool_call_update", "toolCallId": "call_1",
                "status": "completed", "content": [{"type": "diff", "path": "/w/a.txt",
                                                    "oldText": "old\n", "newText": "new\n"}]}),
        );
        same_as(
            &call_update(
                "call_1",
                ToolCallUpdateFields::new()
                    .content(vec![ToolCallContent::Terminal(Terminal::new("term_1"))]),
            ),
            json!({"sessionUpdate": "tool_call_update", "toolCallId": "call_1",
                "content": [{"type": "terminal", "terminalId": "term_1"}]}),
        );
        let long = "x".repeat(DISPLAY_CAP * 2);
        let wire = serde_json::to_value(failed("call_1", &long)).unwrap();
        assert_eq!(
            wire["content"][0]["content"]["text"],
            tools::cap_middle(&long, DISPLAY_CAP)
        );
    }

    #[test]
    fn plans_chunks_usage_and_title_keep_their_shape() {
        let entries = vec![
            tools::PlanItem {
                content: "a".to_string(),
                status: "in_progress".to_string(),
                priority: "high".to_string(),
            },
            tools::PlanItem {
                content: "b".to_string(),
                status: "completed".to_string(),
                priority: "urgent".to_string(),
            },
        ];
        same_as(
            &SessionUpdate::Plan(plan(&entries)),
            json!({"sessionUpdate": "plan", "entries": [
                {"content": "a", "status": "in_progress", "priority": "high"},
                {"content": "b", "status": "completed", "priority": "medium"}]}),
        );
        same_as(
            &SessionUpdate::AgentMessageChunk(text_chunk("hi")),
            json!({"sessionUpdate": "agent_message_chunk",
                   "content": {"type": "text", "text": "hi"}}),
        );
        same_as(
            &SessionUpdate::UsageUpdate(UsageUpdate::new(12, 1000)),
            json!({"sessionUpdate": "usage_update", "used": 12, "size": 1000}),
        );
        same_as(
            &SessionUpdate::SessionInfoUpdate(
                SessionInfoUpdate::new()
                    .title("Fix it".to_string())
                    .updated_at("2024-01-01T00:00:00Z".to_string()),
            ),
            json!({"sessionUpdate": "session_info_update", "title": "Fix it",
                   "updatedAt": "2024-01-01T00:00:00Z"}),
        );
    }

    #[test]
    fn a_permission_request_shows_the_call_and_three_options() {
        let prepared = write(Some("old\n"));
        let content = diff_content(&prepared.action);
        let request = permission_request("s1", &call("{}"), &prepared, Permission::Edit, &content);
        let before: RequestPermissionRequest = serde_json::from_value(json!({
        "sessionId": "s1",
        "toolCall": {"toolCallId": "call_1", "title": "Write a.txt", "kind": "edit",
                     "status": "pending",
                     "content": [{"type": "diff", "path": "/w/a.txt", "oldText": "old\n",
                                  "newText": "new\n"}],
                     "locations": [{"path": "/w/a.txt"}]},
        "options": [
            {"optionId": "allow_once", "name": "Allow", "kind": "allow_once"},
            {"optionId": "allow_always", "name": "Always allow edits", "kind": "allow_always"},
            {"optionId": "reject_once", "name": "Reject", "kind": "reject_once"},
        ]}))
        .unwrap();
        assert_eq!(request, before);
        let commands = permission_request("s1", &call("{}"), &prepared, Permission::Execute, &[]);
        let wire = serde_json::to_value(&commands).unwrap();
        assert_eq!(wire["options"][1]["name"], "Always allow commands");
        assert_eq!(wire["toolCall"]["content"], json!([]));
        assert_eq!(wire["toolCall"]["status"], "pending");
    }

    #[test]
    fn consecutive_message_chunks_are_kept_as_one() {
        let mut pending = Vec::new();
        for update in [
            SessionUpdate::UserMessageChunk(text_chunk("ask")),
            SessionUpdate::AgentMessageChunk(text_chunk("a")),
            SessionUpdate::AgentMessageChunk(text_chunk("b")),
            SessionUpdate::AgentThoughtChunk(text_chunk("t")),
            SessionUpdate::AgentThoughtChunk(text_chunk("u")),
            SessionUpdate::AgentMessageChunk(text_chunk("c")),
        ] {
            record(&mut pending, update);
        }
        assert_eq!(
            pending,
            vec![
                SessionUpdate::UserMessageChunk(text_chunk("ask")),
                SessionUpdate::AgentMessageChunk(text_chunk("ab")),
                SessionUpdate::AgentThoughtChunk(text_chunk("t")),
                SessionUpdate::AgentThoughtChunk(text_chunk("u")),
                SessionUpdate::AgentMessageChunk(text_chunk("c")),
            ]
        );
    }
}
