//! Session events, typed. An event is stored and sent as `{seq, ts, kind, data}` (JSON, the
//! same on disk, on the socket and in the web view); [`Body::of`] reads it as ACP's own session
//! update types, or one of aside's kinds, and [`Body::kind`] / [`Body::data`] write it back.
//! Views match on these types instead of looking up JSON keys.

/// ACP's schema types (v1), as the events carry them: views read them from here.
pub use agent_client_protocol::v1::schema as acp;

use acp::{PermissionOption, SessionUpdate, StopReason, ToolCallUpdate};
use aside_core::{Event, Status};
use serde::{Deserialize, Serialize};
use serde_json::Value;

/// A prompt that started a turn (`prompt`) or waits behind one (`prompt_queued`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Prompt {
    /// The text sent to the agent.
    pub text: String,
    /// aside's own continuation of an interrupted turn, not the user's words.
    #[serde(default)]
    pub resumed: bool,
    /// The client's id for this follow-up (a request sent again is taken once).
    #[serde(default)]
    pub request: Option<String>,
}

/// The session's status changed.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StatusChange {
    /// The new status.
    pub status: Status,
    /// Why (failed, interrupted), when known.
    #[serde(default)]
    pub reason: Option<String>,
}

/// A permission request: the whole tool call (filled in from the agent's earlier updates) and
/// the agent's options.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PermissionAsked {
    /// What the agent wants to do.
    pub tool_call: ToolCallUpdate,
    /// The agent's options, chosen by kind.
    #[serde(default)]
    pub options: Vec<PermissionOption>,
}

/// How the policy settled a permission request without asking.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Decision {
    /// The option chosen.
    pub option_id: String,
    /// Who chose it, e.g. `policy all`.
    pub by: String,
}

/// A permission request the policy settled.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PermissionAllowed {
    /// What the agent did.
    pub tool_call: ToolCallUpdate,
    /// The agent's options.
    #[serde(default)]
    pub options: Vec<PermissionOption>,
    /// The policy's choice.
    pub decision: Decision,
}

/// The user answered a permission request.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PermissionAnswer {
    /// The option chosen.
    pub option_id: String,
    /// What the user chose.
    pub choice: crate::Choice,
}

/// A turn ended.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct TurnEnd {
    /// Why, as the agent said.
    pub stop_reason: Option<StopReason>,
    /// The turn's tokens, when the agent reported them with its end (ACP's
    /// `PromptResponse.usage`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub usage: Option<crate::usage::Tokens>,
}

/// A file a checkpoint counted.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FileStat {
    /// Path in the repository.
    pub path: String,
    /// Lines added.
    #[serde(default)]
    pub added: u64,
    /// Lines removed.
    #[serde(default)]
    pub removed: u64,
}

/// The worktree was committed at the end of a turn.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Checkpoint {
    /// The commit.
    pub commit: String,
    /// The files changed against the base.
    #[serde(default)]
    pub files: Vec<FileStat>,
}

/// Something the user should know that did not stop the session (a submodule not checked out,
/// a file `.worktreeinclude` names that could not be copied).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Warning {
    /// What happened, and what it means for the session.
    pub message: String,
    /// The submodule it is about, if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub submodule: Option<String>,
}

/// A `[setup]` command of the repository ran in the new worktree.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Setup {
    /// The command.
    pub command: String,
    /// What it printed (the end of it, when long).
    #[serde(default)]
    pub output: String,
    /// How it exited; None when a signal ended it.
    pub exit_code: Option<i64>,
}

/// What an event says.
#[derive(Debug, Clone, PartialEq)]
pub enum Body {
    /// An ACP `session/update` from the agent, as it sent it (message and thought chunks, tool
    /// calls and their updates, plans, usage, …).
    Update(Box<SessionUpdate>),
    /// A prompt started a turn.
    Prompt(Prompt),
    /// A follow-up waits behind the running turn.
    PromptQueued(Prompt),
    /// The status changed.
    Status(StatusChange),
    /// The agent asks the user.
    PermissionRequest(Box<PermissionAsked>),
    /// The policy answered the agent.
    Permission(Box<PermissionAllowed>),
    /// The user answered.
    PermissionAnswer(PermissionAnswer),
    /// The turn is being cancelled; `dropped` queued follow-ups went with it.
    CancelRequested {
        /// Follow-ups dropped.
        dropped: u64,
    },
    /// The host stopped mid-turn (a signal, `aside stop`); the session is resumable.
    Interrupted {
        /// Why.
        reason: String,
        /// Follow-ups still queued, kept for the next host.
        queued: u64,
    },
    /// A turn ended.
    TurnEnd(TurnEnd),
    /// A checkpoint commit.
    Checkpoint(Checkpoint),
    /// Something failed.
    Error {
        /// What.
        message: String,
    },
    /// Something the user should know; the session went on.
    Warning(Warning),
    /// A setup command ran.
    Setup(Setup),
    /// A kind this aside does not know (a newer one), or data that does not fit its kind:
    /// kept as it is, never an error.
    Other {
        /// The stored kind.
        kind: String,
        /// The stored data.
        data: Value,
    },
}

#[derive(Serialize, Deserialize)]
struct Dropped {
    #[serde(default)]
    dropped: u64,
}

#[derive(Serialize, Deserialize)]
struct Why {
    #[serde(default)]
    reason: String,
    #[serde(default)]
    queued: u64,
}

#[derive(Serialize, Deserialize)]
struct Message {
    message: String,
}

fn parse<T: serde::de::DeserializeOwned>(data: &Value) -> Option<T> {
    serde_json::from_value(data.clone()).ok()
}

impl Body {
    /// Reads a stored event.
    pub fn of(event: &Event) -> Body {
        Body::parse(&event.kind, &event.data)
    }

    /// Reads a kind and its data.
    pub fn parse(kind: &str, data: &Value) -> Body {
        let body = match kind {
            "prompt" => parse(data).map(Body::Prompt),
            "prompt_queued" => parse(data).map(Body::PromptQueued),
            "status" => parse(data).map(Body::Status),
            "permission_request" => parse(data).map(|p| Body::PermissionRequest(Box::new(p))),
            "permission" => parse(data).map(|p| Body::Permission(Box::new(p))),
            "permission_answer" => parse(data).map(Body::PermissionAnswer),
            "cancel_requested" => {
                parse::<Dropped>(data).map(|d| Body::CancelRequested { dropped: d.dropped })
            }
            "interrupted" => parse::<Why>(data).map(|w| Body::Interrupted {
                reason: w.reason,
                queued: w.queued,
            }),
            "turn_end" => parse(data).map(Body::TurnEnd),
            "checkpoint" => parse(data).map(Body::Checkpoint),
            "error" => parse::<Message>(data).map(|m| Body::Error { message: m.message }),
            "warning" => parse(data).map(Body::Warning),
            "setup" => parse(data).map(Body::Setup),
            _ if data["sessionUpdate"] == kind => {
                parse::<SessionUpdate>(data).map(|u| Body::Update(Box::new(u)))
            }
            _ => None,
        };
        body.unwrap_or_else(|| Body::Other {
            kind: kind.to_string(),
            data: data.clone(),
        })
    }

    /// The stored kind: ACP's `sessionUpdate` name for updates, aside's own otherwise.
    pub fn kind(&self) -> String {
        match self {
            Body::Update(update) => serde_json::to_value(update)
                .ok()
                .and_then(|v| v["sessionUpdate"].as_str().map(str::to_string))
                .unwrap_or_else(|| "update".to_string()),
            Body::Prompt(_) => "prompt".into(),
            Body::PromptQueued(_) => "prompt_queued".into(),
            Body::Status(_) => "status".into(),
            Body::PermissionRequest(_) => "permission_request".into(),
            Body::Permission(_) => "permission".into(),
            Body::PermissionAnswer(_) => "permission_answer".into(),
            Body::CancelRequested { .. } => "cancel_requested".into(),
            Body::Interrupted { .. } => "interrupted".into(),
            Body::TurnEnd(_) => "turn_end".into(),
            Body::Checkpoint(_) => "checkpoint".into(),
            Body::Error { .. } => "error".into(),
            Body::Warning(_) => "warning".into(),
            Body::Setup(_) => "setup".into(),
            Body::Other { kind, .. } => kind.clone(),
        }
    }

    /// The stored data.
    pub fn data(&self) -> Value {
        let value = match self {
            Body::Update(update) => serde_json::to_value(update),
            Body::Prompt(p) | Body::PromptQueued(p) => serde_json::to_value(p),
            Body::Status(s) => serde_json::to_value(s),
            Body::PermissionRequest(p) => serde_json::to_value(p),
            Body::Permission(p) => serde_json::to_value(p),
            Body::PermissionAnswer(a) => serde_json::to_value(a),
            Body::CancelRequested { dropped } => {
                serde_json::to_value(Dropped { dropped: *dropped })
            }
            Body::Interrupted { reason, queued } => serde_json::to_value(Why {
                reason: reason.clone(),
                queued: *queued,
            }),
            Body::TurnEnd(t) => serde_json::to_value(t),
            Body::Checkpoint(c) => serde_json::to_value(c),
            Body::Error { message } => serde_json::to_value(Message {
                message: message.clone(),
            }),
            Body::Warning(w) => serde_json::to_value(w),
            Body::Setup(s) => serde_json::to_value(s),
            Body::Other { data, .. } => return data.clone(),
        };
        value.unwrap_or(Value::Null)
    }
}

/// The JSON name of a schema enum value (`execute`, `in_progress`, `end_turn`…).
pub fn name_of(value: &impl Serialize) -> String {
    serde_json::to_value(value)
        .ok()
        .and_then(|v| v.as_str().map(str::to_string))
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use serde_json::json;

    fn round_trip(kind: &str, data: Value) -> Body {
        let body = Body::parse(kind, &data);
        assert!(
            !matches!(body, Body::Other { .. }),
            "{kind} {data} is not typed"
        );
        assert_eq!(body.kind(), kind);
        assert_eq!(
            Body::parse(kind, &body.data()),
            body,
            "{kind} reads back the same"
        );
        body
    }

    #[test]
    fn every_kind_the_host_stores_reads_typed_and_back() {
        round_trip(
            "prompt",
            json!({"text": "hi", "resumed": false, "request": "r1"}),
        );
        round_trip("prompt_queued", json!({"text": "later", "request": null}));
        round_trip("status", json!({"status": "needs_input", "reason": null}));
        let asked = round_trip(
            "permission_request",
            json!({"toolCall": {"toolCallId": "t1", "title": "bash", "kind": "execute",
                "rawInput": {"command": "rm -rf build"}},
                "options": [{"optionId": "y", "name": "Yes", "kind": "allow_once"}]}),
        );
        let Body::PermissionRequest(asked) = asked else {
            unreachable!()
        };
        assert_eq!(
            asked.tool_call.fields.raw_input,
            Some(json!({"command": "rm -rf build"}))
        );
        round_trip(
            "permission",
            json!({"toolCall": {"toolCallId": "t2", "title": "read"}, "options": [],
                "decision": {"optionId": "y", "by": "policy all"}}),
        );
        round_trip(
            "permission_answer",
            json!({"optionId": "y", "choice": "deny"}),
        );
        round_trip("cancel_requested", json!({"dropped": 2}));
        round_trip("interrupted", json!({"reason": "stopped", "queued": 1}));
        round_trip("turn_end", json!({"stopReason": "end_turn"}));
        round_trip(
            "checkpoint",
            json!({"commit": "abc", "files": [{"path": "a", "added": 1, "removed": 0}]}),
        );
        round_trip("error", json!({"message": "boom"}));
        round_trip(
            "warning",
            json!({"message": "lib skipped", "submodule": "lib"}),
        );
        round_trip("warning", json!({"message": "a.env not copied"}));
        round_trip(
            "setup",
            json!({"command": "npm ci", "output": "ok", "exit_code": 0}),
        );
        round_trip(
            "setup",
            json!({"command": "sleep 9", "output": "", "exit_code": null}),
        );
        round_trip(
            "agent_message_chunk",
            json!({"sessionUpdate": "agent_message_chunk", "content": {"type": "text", "text": "hi"}}),
        );
        round_trip(
            "tool_call",
            json!({"sessionUpdate": "tool_call", "toolCallId": "c", "title": "Run", "kind": "execute",
                "status": "pending", "content": [{"type": "diff", "path": "/w/a", "oldText": "a", "newText": "b"}]}),
        );
    }

    #[test]
    fn unknown_or_damaged_events_are_kept_as_they_are() {
        let odd = Body::parse("from_the_future", &json!({"x": 1}));
        assert_eq!(odd.kind(), "from_the_future");
        assert_eq!(odd.data(), json!({"x": 1}));
        let damaged = Body::parse("status", &json!({"status": "sleeping"}));
        assert!(matches!(damaged, Body::Other { .. }));
        assert_eq!(damaged.data(), json!({"status": "sleeping"}));
    }
}
