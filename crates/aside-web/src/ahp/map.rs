//! A session's events as Agent Host Protocol actions on its chat: the one typed conversation
//! (`aside_protocol::events::Body`, tool calls merged by `conversation::ToolCalls`, described by
//! `describe`) read once more, for AHP clients. Pure: events in, actions out, in order; the
//! projector applies them with AHP's own reducers and sends them.
//!
//! Ids come from the events, so a restarted `aside ui` names every turn and part as before: a
//! turn is `t<seq>` of its prompt (or the id the AHP client gave it), a text part `m<seq>` of
//! its first row, a plan `p<seq>`. Streamed pieces carry their row's seq, so a live session and
//! the same session read back end in the same state.

use ahp_types::actions::StateAction;
use aside_core::{Event, Status};
use aside_protocol::conversation::{as_update, ToolCalls};
use aside_protocol::describe::{action_lines, block_text};
use aside_protocol::events::acp::{
    ContentBlock, PermissionOptionKind, Plan, PlanEntryStatus, SessionUpdate, StopReason, ToolCall,
    ToolCallContent, ToolCallStatus,
};
use aside_protocol::events::{Body, Prompt};
use aside_protocol::Choice;
use serde_json::{json, Value};
use std::collections::{HashMap, VecDeque};

/// What a follow-up sent from an AHP client carries as its request id: the prefix, then the id
/// the client gave the turn (or the queued message), so the prompt stored for it starts the turn
/// the client already shows.
pub const REQUEST_PREFIX: &str = "ahp:";

/// The most text of one tool call's result sent to clients (a command's whole output can be
/// megabytes; the worktree and `aside logs` keep all of it).
const RESULT_LIMIT: usize = 64 * 1024;

/// What one event becomes (each lives for the event that made it: not boxed).
#[derive(Debug, Clone, PartialEq)]
#[allow(clippy::large_enum_variant)]
pub enum Out {
    /// An action on the chat.
    Chat(StateAction),
    /// A tool call now waits for the user's confirmation: the session needs input.
    Asking {
        /// Its turn.
        turn_id: String,
        /// The call.
        tool_call_id: String,
    },
    /// The confirmation a tool call waited for was given.
    Answered {
        /// The call.
        tool_call_id: String,
    },
}

/// How far a tool call of the open turn went.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Phase {
    Started,
    Asked,
    Ready,
    Denied,
    Done,
}

#[derive(Debug, Clone)]
struct Open {
    id: String,
    started_at: String,
    /// What the turn used so far, and the model that answered last.
    tokens: aside_core::usage::Tokens,
    model: Option<String>,
}

/// Folds a session's events into actions.
#[derive(Debug, Default, Clone)]
pub struct Mapper {
    turn: Option<Open>,
    /// The text part streamed text joins (id, whether it is reasoning).
    text: Option<(String, bool)>,
    calls: ToolCalls,
    phases: HashMap<String, Phase>,
    /// The tool call whose confirmation is awaited.
    asked: Option<String>,
    /// Its options, by id, with their kinds.
    options: Vec<(String, PermissionOptionKind)>,
    /// Follow-ups waiting behind the running turn, by id.
    queued: VecDeque<String>,
    /// The plan last shown.
    plan: Option<String>,
    /// The newest turn started.
    last_turn: Option<String>,
    /// Each turn's checkpoint commit (its work, for its changeset).
    checkpoints: HashMap<String, String>,
}

/// `chat/usage` with what the open turn used so far (AHP counts input with the cache reads in).
fn turn_usage(open: &Open, meta: Value) -> Value {
    let t = &open.tokens;
    let mut usage = json!({"_meta": meta});
    if t.total() > 0 {
        usage["inputTokens"] = json!(t.input.saturating_add(t.cached));
        usage["outputTokens"] = json!(t.output);
        usage["cacheReadTokens"] = json!(t.cached);
    }
    if let Some(model) = &open.model {
        usage["model"] = json!(model);
    }
    json!({"type": "chat/usage", "turnId": open.id, "usage": usage})
}

/// An action as the wire writes it, read as ahp-types' own (a shape the crate would not know
/// is a bug here, never something sent).
pub fn action(value: Value) -> StateAction {
    let action: StateAction = serde_json::from_value(value.clone())
        .unwrap_or_else(|_| StateAction::Unknown(value.clone()));
    debug_assert!(
        !matches!(action, StateAction::Unknown(_)),
        "not an AHP 1.0 action: {value}"
    );
    action
}

/// The id of the turn a prompt starts.
pub fn turn_id(prompt: &Prompt, seq: u64) -> String {
    match prompt
        .request
        .as_deref()
        .and_then(|r| r.strip_prefix(REQUEST_PREFIX))
    {
        Some(id) if !id.is_empty() => id.to_string(),
        _ => format!("t{seq}"),
    }
}

/// The message a prompt shows as.
pub fn message(text: &str, resumed: bool) -> Value {
    let mut message = json!({"text": text, "origin": {"kind": "user"}});
    if resumed {
        message["_meta"] = json!({"aside.resumed": true});
    }
    message
}

/// Milliseconds from `from` to `to` (RFC 3339), 0 when either cannot be read.
fn millis(from: &str, to: &str) -> i64 {
    let at = |t: &str| aside_core::time::parse_rfc3339(t);
    match (at(from), at(to)) {
        (Some(a), Some(b)) => b
            .duration_since(a)
            .map(|d| d.as_millis() as i64)
            .unwrap_or(0),
        _ => 0,
    }
}

fn clip(mut text: String) -> String {
    if text.len() > RESULT_LIMIT {
        let mut cut = RESULT_LIMIT;
        while !text.is_char_boundary(cut) {
            cut -= 1;
        }
        text.truncate(cut);
        text.push_str("\n… (cut: the whole output is in `aside logs`)");
    }
    text
}

fn plan_text(plan: &Plan) -> String {
    let mut text = String::from("**Plan**\n");
    for entry in &plan.entries {
        let mark = match entry.status {
            PlanEntryStatus::Completed => "[x]",
            PlanEntryStatus::InProgress => "[~]",
            _ => "[ ]",
        };
        text.push_str(&format!("- {mark} {}\n", entry.content));
    }
    text
}

impl Mapper {
    /// A mapper at the start of a session (or of a window starting at a turn's start).
    pub fn new() -> Mapper {
        Mapper::default()
    }

    /// The open turn.
    pub fn turn(&self) -> Option<&str> {
        self.turn.as_ref().map(|t| t.id.as_str())
    }

    /// The checkpoint commit that ended turn `turn`, when it is known.
    pub fn checkpoint(&self, turn: &str) -> Option<&str> {
        self.checkpoints.get(turn).map(String::as_str)
    }

    /// The tool call waiting for the user's confirmation, with its options.
    pub fn asked(&self) -> Option<(&str, &[(String, PermissionOptionKind)])> {
        self.asked
            .as_deref()
            .map(|id| (id, self.options.as_slice()))
    }

    /// The actions one event makes.
    pub fn take(&mut self, event: &Event) -> Vec<Out> {
        let mut out = Vec::new();
        let body = if event.kind == "corrupt" {
            Body::Error {
                message: format!(
                    "event {} could not be read: {}",
                    event.seq,
                    event.data["error"].as_str().unwrap_or_default()
                ),
            }
        } else {
            Body::of(event)
        };
        match body {
            Body::Prompt(prompt) => self.prompt(event, &prompt, &mut out),
            Body::PromptQueued(prompt) => {
                let id = prompt
                    .request
                    .clone()
                    .map(|r| {
                        r.strip_prefix(REQUEST_PREFIX)
                            .map_or(r.clone(), str::to_string)
                    })
                    .unwrap_or_else(|| format!("q{}", event.seq));
                self.queued.push_back(id.clone());
                out.push(Out::Chat(action(json!({
                    "type": "chat/pendingMessageSet", "kind": "queued", "id": id,
                    "message": message(&prompt.text, false),
                }))));
            }
            Body::CancelRequested { dropped } => {
                let keep = self.queued.len().saturating_sub(dropped as usize);
                for id in self.queued.split_off(keep) {
                    out.push(Out::Chat(action(json!({
                        "type": "chat/pendingMessageRemoved", "kind": "queued", "id": id,
                    }))));
                }
            }
            Body::Update(update) => match *update {
                SessionUpdate::AgentMessageChunk(chunk) => {
                    self.text(event, &chunk.content, false, &mut out)
                }
                SessionUpdate::AgentThoughtChunk(chunk) => {
                    self.text(event, &chunk.content, true, &mut out)
                }
                update @ (SessionUpdate::ToolCall(_) | SessionUpdate::ToolCallUpdate(_)) => {
                    let id = match &update {
                        SessionUpdate::ToolCall(call) => call.tool_call_id.0.to_string(),
                        SessionUpdate::ToolCallUpdate(u) => u.tool_call_id.0.to_string(),
                        _ => return out,
                    };
                    self.calls.take(&update);
                    self.tool(&id, &mut out);
                }
                SessionUpdate::Plan(plan) => {
                    let text = plan_text(&plan);
                    if self.plan.as_deref() != Some(text.as_str()) {
                        if let Some(turn) = self.open_id() {
                            self.text = None;
                            out.push(Out::Chat(action(json!({
                                "type": "chat/responsePart", "turnId": turn,
                                "part": {"kind": "markdown", "id": format!("p{}", event.seq), "content": text},
                            }))));
                            self.plan = Some(text);
                        }
                    }
                }
                SessionUpdate::UsageUpdate(usage) => {
                    // A model call's tokens (the built-in agent's) add to the turn's.
                    let call = usage
                        .meta
                        .as_ref()
                        .and_then(|m| m.get(aside_core::usage::META_KEY))
                        .and_then(|v| {
                            serde_json::from_value::<aside_core::usage::CallUsage>(v.clone()).ok()
                        });
                    if let (Some(open), Some(call)) = (self.turn.as_mut(), call) {
                        open.tokens.add(&call.tokens);
                        open.model = Some(call.model).filter(|m| !m.is_empty());
                    }
                    if let Some(open) = &self.turn {
                        let mut meta = json!({"aside.contextUsed": usage.used, "aside.contextSize": usage.size});
                        if let Some(cost) = &usage.cost {
                            meta["aside.cost"] = serde_json::to_value(cost).unwrap_or_default();
                        }
                        out.push(Out::Chat(action(turn_usage(open, meta))));
                    }
                }
                _ => {}
            },
            Body::PermissionRequest(asked) => {
                let id = asked.tool_call.tool_call_id.0.to_string();
                self.calls
                    .take(&SessionUpdate::ToolCallUpdate(asked.tool_call.clone()));
                let Some(turn) = self.open_id() else {
                    return out;
                };
                self.start(&id, &mut out);
                let options: Vec<Value> = asked
                    .options
                    .iter()
                    .map(|o| {
                        let kind = match o.kind {
                            PermissionOptionKind::AllowOnce | PermissionOptionKind::AllowAlways => {
                                "approve"
                            }
                            _ => "deny",
                        };
                        json!({"id": o.option_id.0.to_string(), "label": o.name, "kind": kind})
                    })
                    .collect();
                let mut ready = self.ready(&turn, &id);
                ready["confirmationTitle"] = json!(self.title(&id));
                ready["options"] = json!(options);
                out.push(Out::Chat(action(ready)));
                self.phases.insert(id.clone(), Phase::Asked);
                self.asked = Some(id.clone());
                self.options = asked
                    .options
                    .iter()
                    .map(|o| (o.option_id.0.to_string(), o.kind))
                    .collect();
                out.push(Out::Asking {
                    turn_id: turn,
                    tool_call_id: id,
                });
            }
            Body::Permission(allowed) => {
                let id = allowed.tool_call.tool_call_id.0.to_string();
                self.calls
                    .take(&SessionUpdate::ToolCallUpdate(allowed.tool_call.clone()));
                if let Some(turn) = self.open_id() {
                    self.start(&id, &mut out);
                    if self.phases.get(&id) == Some(&Phase::Started) {
                        let mut ready = self.ready(&turn, &id);
                        ready["confirmed"] = json!("setting");
                        out.push(Out::Chat(action(ready)));
                        self.phases.insert(id, Phase::Ready);
                    }
                }
            }
            Body::PermissionAnswer(answer) => {
                if let (Some(id), Some(turn)) = (self.asked.take(), self.open_id()) {
                    let approved = answer.choice != Choice::Deny;
                    out.push(Out::Chat(action(json!({
                        "type": "chat/toolCallConfirmed", "turnId": turn, "toolCallId": id,
                        "approved": approved, "confirmed": "user-action",
                        "selectedOptionId": answer.option_id,
                    }))));
                    self.phases.insert(
                        id.clone(),
                        if approved {
                            Phase::Ready
                        } else {
                            Phase::Denied
                        },
                    );
                    out.push(Out::Answered { tool_call_id: id });
                }
            }
            Body::TurnEnd(end) => {
                // The turn's tokens, when the agent reported them with its end.
                if let (Some(open), Some(tokens)) = (self.turn.as_mut(), end.usage.as_ref()) {
                    open.tokens.add(tokens);
                    out.push(Out::Chat(action(turn_usage(open, json!({})))));
                }
                if let Some(open) = self.turn.take() {
                    let kind = if end.stop_reason == Some(StopReason::Cancelled) {
                        "chat/turnCancelled"
                    } else {
                        "chat/turnComplete"
                    };
                    out.push(Out::Chat(action(json!({
                        "type": kind, "turnId": open.id,
                        "duration": millis(&open.started_at, &event.ts),
                    }))));
                    self.closed(&mut out);
                }
            }
            Body::Interrupted { reason, .. } => self.fail(event, "interrupted", &reason, &mut out),
            Body::Status(change) if change.status == Status::Failed => {
                let reason = change.reason.unwrap_or_else(|| "the session failed".into());
                self.fail(event, "failed", &reason, &mut out)
            }
            Body::Error { message } => self.note(format!("Error: {message}"), &mut out),
            Body::Warning(w) => self.note(w.message, &mut out),
            Body::Setup(setup) => {
                let how = match setup.exit_code {
                    Some(0) => "ran".to_string(),
                    Some(code) => format!("exited with {code}"),
                    None => "was killed".to_string(),
                };
                self.note(format!("Setup `{}` {how}", setup.command), &mut out)
            }
            Body::Checkpoint(c) => {
                if let Some(turn) = self.open_id().or_else(|| self.last_turn.clone()) {
                    self.checkpoints.insert(turn, c.commit.clone());
                }
                self.note(
                    format!(
                        "Checkpoint {}: {} file(s) changed",
                        &c.commit[..c.commit.len().min(12)],
                        c.files.len()
                    ),
                    &mut out,
                )
            }
            _ => {}
        }
        out
    }

    fn open_id(&self) -> Option<String> {
        self.turn.as_ref().map(|t| t.id.clone())
    }

    fn prompt(&mut self, event: &Event, prompt: &Prompt, out: &mut Vec<Out>) {
        // A turn that never ended (its host died; aside resumes it with a new prompt).
        if let Some(open) = self.turn.take() {
            out.push(Out::Chat(action(json!({
                "type": "chat/turnCancelled", "turnId": open.id,
                "duration": millis(&open.started_at, &event.ts),
            }))));
            self.closed(out);
        }
        let id = turn_id(prompt, event.seq);
        // The follow-up it was queued as, if it was.
        let queued_as = prompt
            .request
            .as_deref()
            .map(|r| r.strip_prefix(REQUEST_PREFIX).unwrap_or(r));
        let queued = match queued_as.and_then(|q| self.queued.iter().position(|x| x == q)) {
            Some(at) => self.queued.remove(at),
            None if !prompt.resumed && prompt.request.is_none() => self.queued.pop_front(),
            None => None,
        };
        let mut started = json!({
            "type": "chat/turnStarted", "turnId": id, "startedAt": event.ts,
            "message": message(&prompt.text, prompt.resumed),
        });
        if let Some(queued) = queued {
            started["queuedMessageId"] = json!(queued);
        }
        out.push(Out::Chat(action(started)));
        self.last_turn = Some(id.clone());
        self.turn = Some(Open {
            id,
            started_at: event.ts.clone(),
            tokens: Default::default(),
            model: None,
        });
    }

    /// After a turn ended: nothing of it stays open.
    fn closed(&mut self, out: &mut Vec<Out>) {
        self.text = None;
        self.phases.clear();
        self.plan = None;
        if let Some(id) = self.asked.take() {
            out.push(Out::Answered { tool_call_id: id });
        }
    }

    fn fail(&mut self, event: &Event, kind: &str, reason: &str, out: &mut Vec<Out>) {
        if let Some(open) = self.turn.take() {
            out.push(Out::Chat(action(json!({
                "type": "chat/error", "turnId": open.id,
                "duration": millis(&open.started_at, &event.ts),
                "part": {"kind": "error", "error": {"errorType": kind, "message": reason},
                    "resumable": kind == "interrupted"},
            }))));
            self.closed(out);
        }
    }

    fn note(&mut self, text: String, out: &mut Vec<Out>) {
        if let Some(turn) = self.open_id() {
            self.text = None;
            out.push(Out::Chat(action(json!({
                "type": "chat/responsePart", "turnId": turn,
                "part": {"kind": "systemNotification", "content": text},
            }))));
        }
    }

    fn text(&mut self, event: &Event, content: &ContentBlock, reasoning: bool, out: &mut Vec<Out>) {
        let ContentBlock::Text(text) = content else {
            return;
        };
        let Some(turn) = self.open_id() else {
            return;
        };
        if text.text.is_empty() {
            return;
        }
        match &self.text {
            Some((part, r)) if *r == reasoning => {
                let kind = if reasoning {
                    "chat/reasoning"
                } else {
                    "chat/delta"
                };
                out.push(Out::Chat(action(json!({
                    "type": kind, "turnId": turn, "partId": part, "content": text.text,
                }))));
            }
            _ => {
                let part = format!("m{}", event.seq);
                let kind = if reasoning { "reasoning" } else { "markdown" };
                out.push(Out::Chat(action(json!({
                    "type": "chat/responsePart", "turnId": turn,
                    "part": {"kind": kind, "id": part, "content": text.text},
                }))));
                self.text = Some((part, reasoning));
            }
        }
    }

    fn title(&self, id: &str) -> String {
        let Some(call) = self.calls.get(id) else {
            return "Tool call".to_string();
        };
        if !call.title.trim().is_empty() {
            return call.title.clone();
        }
        action_lines(&as_update(call))
            .into_iter()
            .next()
            .unwrap_or_else(|| "Tool call".to_string())
    }

    /// Announces the call in the open turn, once.
    fn start(&mut self, id: &str, out: &mut Vec<Out>) {
        let Some(turn) = self.open_id() else {
            return;
        };
        if self.phases.contains_key(id) {
            return;
        }
        self.text = None;
        let name = self
            .calls
            .get(id)
            .map(|c: &ToolCall| {
                c.name.clone().unwrap_or_else(|| {
                    serde_json::to_value(c.kind)
                        .ok()
                        .and_then(|v| v.as_str().map(str::to_string))
                        .unwrap_or_else(|| "other".into())
                })
            })
            .unwrap_or_else(|| "other".into());
        out.push(Out::Chat(action(json!({
            "type": "chat/toolCallStart", "turnId": turn, "toolCallId": id,
            "toolName": name, "displayName": self.title(id),
        }))));
        self.phases.insert(id.to_string(), Phase::Started);
    }

    /// `chat/toolCallReady` of a call, without `confirmed`: the caller says how it was.
    fn ready(&self, turn: &str, id: &str) -> Value {
        let mut ready = json!({
            "type": "chat/toolCallReady", "turnId": turn, "toolCallId": id,
            "invocationMessage": self.title(id),
        });
        if let Some(input) = self.calls.get(id).and_then(|c| c.raw_input.as_ref()) {
            ready["toolInput"] = json!(input.to_string());
        }
        ready
    }

    fn tool(&mut self, id: &str, out: &mut Vec<Out>) {
        let Some(turn) = self.open_id() else {
            return;
        };
        let Some(status) = self.calls.get(id).map(|c| c.status) else {
            return;
        };
        self.start(id, out);
        let phase = self.phases.get(id).copied();
        let running = matches!(
            status,
            ToolCallStatus::InProgress | ToolCallStatus::Completed | ToolCallStatus::Failed
        );
        if running && phase == Some(Phase::Started) {
            let mut ready = self.ready(&turn, id);
            ready["confirmed"] = json!("not-needed");
            out.push(Out::Chat(action(ready)));
            self.phases.insert(id.to_string(), Phase::Ready);
        }
        let done = matches!(status, ToolCallStatus::Completed | ToolCallStatus::Failed);
        if done && self.phases.get(id) == Some(&Phase::Ready) {
            let success = status == ToolCallStatus::Completed;
            let mut result = json!({"success": success, "pastTenseMessage": self.title(id)});
            let text = self.result_text(id);
            if !text.is_empty() {
                result["content"] = json!([{"type": "text", "text": clip(text.clone())}]);
            }
            if !success {
                result["error"] = json!({"message": if text.is_empty() { "failed".to_string() } else { clip(text) }});
            }
            out.push(Out::Chat(action(json!({
                "type": "chat/toolCallComplete", "turnId": turn, "toolCallId": id,
                "result": result,
            }))));
            self.phases.insert(id.to_string(), Phase::Done);
        }
    }

    fn result_text(&self, id: &str) -> String {
        let Some(call) = self.calls.get(id) else {
            return String::new();
        };
        let mut parts = Vec::new();
        for item in &call.content {
            match item {
                ToolCallContent::Content(c) => parts.push(block_text(&c.content)),
                ToolCallContent::Diff(d) => parts.push(format!("Edited {}", d.path.display())),
                _ => {}
            }
        }
        if parts.is_empty() {
            match &call.raw_output {
                Some(Value::String(s)) => parts.push(s.clone()),
                Some(Value::Null) | None => {}
                Some(other) => parts.push(
                    ["output", "stdout", "content"]
                        .iter()
                        .find_map(|k| other[*k].as_str().map(str::to_string))
                        .unwrap_or_else(|| other.to_string()),
                ),
            }
        }
        parts.join("\n")
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use ahp::reducers::{apply_action_to_chat, ReduceOutcome};
    use ahp_types::state::ChatState;

    fn ev(seq: u64, kind: &str, data: Value) -> Event {
        Event {
            seq,
            ts: format!("2026-12-06T10:00:{:02}.000Z", seq % 60),
            kind: kind.to_string(),
            data,
            piece: None,
        }
    }

    fn chat() -> ChatState {
        serde_json::from_value(json!({
            "resource": "ahp-chat:/s", "title": "t", "status": 1,
            "modifiedAt": "2026-12-06T10:00:00.000Z", "turns": [],
        }))
        .unwrap()
    }

    /// Every action the events make applies, reads as AHP 0.9's own (what VS Code 1.139 and
    /// 1.140 speak), and the state they end in.
    fn run(events: &[Event]) -> (ChatState, Vec<Out>) {
        let mut mapper = Mapper::new();
        let mut state = chat();
        let mut all = Vec::new();
        for e in events {
            for out in mapper.take(e) {
                if let Out::Chat(a) = &out {
                    let outcome = apply_action_to_chat(&mut state, a);
                    assert_eq!(outcome, ReduceOutcome::Applied, "{a:?}");
                    let wire = serde_json::to_value(a).unwrap();
                    let old: ahp_types_0_9::actions::StateAction =
                        serde_json::from_value(wire.clone()).unwrap();
                    assert!(
                        !matches!(old, ahp_types_0_9::actions::StateAction::Unknown(_)),
                        "AHP 0.9 does not read {wire}"
                    );
                }
                all.push(out);
            }
        }
        (state, all)
    }

    fn chunk(text: &str) -> Value {
        json!({"sessionUpdate": "agent_message_chunk", "content": {"type": "text", "text": text}})
    }

    #[test]
    fn a_turn_with_text_a_tool_call_and_a_plan_ends_complete() {
        let events = [
            ev(1, "prompt", json!({"text": "fix it"})),
            ev(
                2,
                "agent_thought_chunk",
                json!({"sessionUpdate": "agent_thought_chunk", "content": {"type": "text", "text": "hmm"}}),
            ),
            ev(3, "agent_message_chunk", chunk("Hello ")),
            ev(4, "agent_message_chunk", chunk("world")),
            ev(
                5,
                "tool_call",
                json!({"sessionUpdate": "tool_call", "toolCallId": "c1", "title": "Run tests", "kind": "execute", "status": "pending", "rawInput": {"command": "cargo test"}}),
            ),
            ev(
                6,
                "tool_call_update",
                json!({"sessionUpdate": "tool_call_update", "toolCallId": "c1", "status": "completed", "content": [{"type": "content", "content": {"type": "text", "text": "ok"}}]}),
            ),
            ev(
                7,
                "plan",
                json!({"sessionUpdate": "plan", "entries": [{"content": "a", "priority": "high", "status": "completed"}]}),
            ),
            ev(8, "turn_end", json!({"stopReason": "end_turn"})),
        ];
        let (state, _) = run(&events);
        assert!(state.active_turn.is_none());
        let turn = &state.turns[0];
        assert_eq!(turn.id, "t1");
        assert_eq!(turn.message.text, "fix it");
        assert_eq!(turn.duration, Some(7000));
        let parts = serde_json::to_value(&turn.response_parts).unwrap();
        assert_eq!(parts[0]["kind"], "reasoning");
        assert_eq!(parts[1]["content"], "Hello world");
        assert_eq!(parts[2]["toolCall"]["status"], "completed");
        assert_eq!(parts[2]["toolCall"]["content"][0]["text"], "ok");
        assert_eq!(
            parts[2]["toolCall"]["toolInput"],
            r#"{"command":"cargo test"}"#
        );
        assert!(parts[3]["content"].as_str().unwrap().contains("- [x] a"));
    }

    #[test]
    fn a_permission_waits_then_the_answer_lets_the_call_run() {
        let events = [
            ev(1, "prompt", json!({"text": "go"})),
            ev(
                2,
                "tool_call",
                json!({"sessionUpdate": "tool_call", "toolCallId": "c1", "title": "Write x", "kind": "edit", "status": "pending"}),
            ),
            ev(
                3,
                "permission_request",
                json!({"toolCall": {"toolCallId": "c1"}, "options": [
                {"optionId": "yes", "name": "Allow", "kind": "allow_once"},
                {"optionId": "no", "name": "Reject", "kind": "reject_once"}]}),
            ),
        ];
        let (state, out) = run(&events);
        assert!(out
            .iter()
            .any(|o| matches!(o, Out::Asking { tool_call_id, .. } if tool_call_id == "c1")));
        let parts =
            serde_json::to_value(&state.active_turn.as_ref().unwrap().response_parts).unwrap();
        assert_eq!(parts[0]["toolCall"]["status"], "pending-confirmation");
        assert_eq!(parts[0]["toolCall"]["options"][1]["kind"], "deny");
        let mut mapper = Mapper::new();
        let mut state = chat();
        for e in events.iter().chain([
            &ev(4, "permission_answer", json!({"optionId": "yes", "choice": "allow"})),
            &ev(5, "tool_call_update", json!({"sessionUpdate": "tool_call_update", "toolCallId": "c1", "status": "completed"})),
        ]) {
            for o in mapper.take(e) {
                if let Out::Chat(a) = o {
                    assert_eq!(apply_action_to_chat(&mut state, &a), ReduceOutcome::Applied);
                }
            }
        }
        let parts = serde_json::to_value(&state.active_turn.unwrap().response_parts).unwrap();
        assert_eq!(parts[0]["toolCall"]["status"], "completed");
        assert_eq!(parts[0]["toolCall"]["confirmed"], "user-action");
    }

    #[test]
    fn queued_follow_ups_start_their_own_turns_and_cancel_drops_the_rest() {
        let events = [
            ev(1, "prompt", json!({"text": "one"})),
            ev(
                2,
                "prompt_queued",
                json!({"text": "two", "request": "ahp:turn-2"}),
            ),
            ev(
                3,
                "prompt_queued",
                json!({"text": "three", "request": "r3"}),
            ),
            ev(4, "turn_end", json!({"stopReason": "end_turn"})),
            ev(5, "prompt", json!({"text": "two", "request": "ahp:turn-2"})),
            ev(6, "cancel_requested", json!({"dropped": 1})),
            ev(7, "turn_end", json!({"stopReason": "cancelled"})),
        ];
        let (state, _) = run(&events);
        assert_eq!(state.turns.len(), 2);
        assert_eq!(state.turns[1].id, "turn-2");
        assert!(state.queued_messages.is_none());
        assert_eq!(
            serde_json::to_value(state.turns[1].state).unwrap(),
            json!("cancelled")
        );
    }

    #[test]
    fn an_interrupted_turn_is_an_error_the_user_can_resume_and_the_resume_is_a_new_turn() {
        let events = [
            ev(1, "prompt", json!({"text": "one"})),
            ev(2, "agent_message_chunk", chunk("part")),
            ev(
                3,
                "interrupted",
                json!({"reason": "the host was stopped", "queued": 0}),
            ),
            ev(4, "prompt", json!({"text": "go on", "resumed": true})),
            ev(5, "prompt", json!({"text": "again"})),
        ];
        let (state, _) = run(&events);
        assert_eq!(
            serde_json::to_value(state.turns[0].state).unwrap(),
            json!("error")
        );
        let parts = serde_json::to_value(&state.turns[0].response_parts).unwrap();
        assert_eq!(parts[1]["error"]["message"], "the host was stopped");
        assert_eq!(parts[1]["resumable"], true);
        assert_eq!(
            state.turns[1].message.meta.as_ref().unwrap()["aside.resumed"],
            true
        );
        assert_eq!(state.active_turn.unwrap().id, "t5");
    }

    #[test]
    fn streamed_pieces_end_as_the_stored_rows_would() {
        let piece = |seq, n, text: &str| Event {
            piece: Some(n),
            ..ev(seq, "agent_message_chunk", chunk(text))
        };
        let live = [
            ev(1, "prompt", json!({"text": "x"})),
            piece(2, 0, "Hel"),
            piece(2, 1, "lo"),
            ev(2, "agent_message_chunk", chunk("")),
            piece(3, 0, "!"),
            ev(3, "agent_message_chunk", chunk("")),
        ];
        let stored = [
            ev(1, "prompt", json!({"text": "x"})),
            ev(2, "agent_message_chunk", chunk("Hello")),
            ev(3, "agent_message_chunk", chunk("!")),
        ];
        assert_eq!(run(&live).0, run(&stored).0);
    }

    #[test]
    fn big_tool_output_is_cut() {
        let big = "x".repeat(RESULT_LIMIT * 2);
        let events = [
            ev(1, "prompt", json!({"text": "x"})),
            ev(
                2,
                "tool_call",
                json!({"sessionUpdate": "tool_call", "toolCallId": "c", "title": "t", "status": "completed", "rawOutput": big}),
            ),
        ];
        let (state, _) = run(&events);
        let parts = serde_json::to_value(&state.active_turn.unwrap().response_parts).unwrap();
        let text = parts[0]["toolCall"]["content"][0]["text"].as_str().unwrap();
        assert!(text.len() < RESULT_LIMIT + 100 && text.ends_with("`aside logs`)"));
    }
}
