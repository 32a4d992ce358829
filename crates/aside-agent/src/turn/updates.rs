//! The ACP updates a turn sends: streamed text, tool calls announced and finished, plans,
//! collected for the session's store as they go.

use super::*;

/// Sends updates to the client and keeps them for the session's replay log; consecutive
/// message chunks (user or agent, not thoughts) are stored as one.
pub(crate) struct Emitter {
    pub(crate) cx: ConnectionTo<Client>,
    pub(crate) session_id: String,
    pub(crate) pending: Vec<SessionUpdate>,
}

impl Emitter {
    pub(crate) fn emit(&mut self, update: SessionUpdate) {
        if let Err(e) = send_update(&self.cx, &self.session_id, update.clone()) {
            tracing::warn!("cannot send update: {e}");
        }
        self.record(update);
    }

    pub(crate) fn record(&mut self, update: SessionUpdate) {
        record(&mut self.pending, update);
    }

    /// Streams `text` as a chunk of the kind `as_update` makes (agent message or thought).
    pub(crate) fn chunk(&mut self, as_update: fn(ContentChunk) -> SessionUpdate, text: &str) {
        self.emit(as_update(text_chunk(text)));
    }
}

/// Adds `update` to the updates kept for the replay log, appending the text of a user or agent
/// message chunk to the chunk of the same kind before it.
pub(crate) fn record(pending: &mut Vec<SessionUpdate>, update: SessionUpdate) {
    match (pending.last_mut(), &update) {
        (Some(SessionUpdate::UserMessageChunk(last)), SessionUpdate::UserMessageChunk(next))
        | (Some(SessionUpdate::AgentMessageChunk(last)), SessionUpdate::AgentMessageChunk(next)) => {
            if let (ContentBlock::Text(last), ContentBlock::Text(next)) =
                (&mut last.content, &next.content)
            {
                last.text.push_str(&next.text);
                return;
            }
        }
        _ => {}
    }
    pending.push(update);
}

/// A chunk of plain text.
pub(crate) fn text_chunk(text: &str) -> ContentChunk {
    ContentChunk::new(ContentBlock::from(text))
}

pub(crate) fn tool_kind(kind: Kind) -> ToolKind {
    match kind {
        Kind::Read => ToolKind::Read,
        Kind::Edit => ToolKind::Edit,
        Kind::Search => ToolKind::Search,
        Kind::Execute => ToolKind::Execute,
        Kind::Think => ToolKind::Think,
        Kind::Other => ToolKind::Other,
    }
}

/// A tool call's content: `text`, its middle cut for display.
pub(crate) fn text_content(text: &str) -> Vec<ToolCallContent> {
    vec![ToolCallContent::from(tools::cap_middle(text, DISPLAY_CAP))]
}

/// The files a call touches.
pub(crate) fn locations(prepared: &Prepared) -> Vec<ToolCallLocation> {
    prepared
        .locations
        .iter()
        .map(|p| ToolCallLocation::new(p.clone()))
        .collect()
}

/// A call `tools::prepare` refused, announced as already failed.
pub(crate) fn invalid_call(call: &ToolUse, error: &str) -> SessionUpdate {
    SessionUpdate::ToolCall(
        ToolCall::new(call.id.clone(), format!("{} (invalid call)", call.name))
            .kind(ToolKind::Other)
            .status(ToolCallStatus::Failed)
            .raw_input(raw_input(&call.arguments))
            .content(text_content(error)),
    )
}

/// A checked call, announced as pending with what it will change.
pub(crate) fn announced(
    call: &ToolUse,
    prepared: &Prepared,
    content: &[ToolCallContent],
) -> SessionUpdate {
    SessionUpdate::ToolCall(
        ToolCall::new(call.id.clone(), prepared.title.clone())
            .kind(tool_kind(prepared.kind))
            .status(ToolCallStatus::Pending)
            .locations(locations(prepared))
            .raw_input(raw_input(&call.arguments))
            .content(content.to_vec()),
    )
}

/// What a call shows before it runs: the diff of a write, nothing for the others.
pub(crate) fn diff_content(action: &Action) -> Vec<ToolCallContent> {
    match action {
        Action::Write { path, old, new } => vec![ToolCallContent::Diff(
            Diff::new(path.clone(), new.clone()).old_text(old.clone()),
        )],
        _ => Vec::new(),
    }
}

/// A `tool_call_update` of the call `call_id`.
pub(crate) fn call_update(call_id: &str, fields: ToolCallUpdateFields) -> SessionUpdate {
    SessionUpdate::ToolCallUpdate(ToolCallUpdate::new(call_id.to_string(), fields))
}

/// A `tool_call_update` that ends the call `call_id` as failed, showing `text`.
pub(crate) fn failed(call_id: &str, text: &str) -> SessionUpdate {
    call_update(
        call_id,
        ToolCallUpdateFields::new()
            .status(ToolCallStatus::Failed)
            .content(text_content(text)),
    )
}

/// The call's arguments as the client sees them: their JSON, or the text when it is not JSON
/// (JSON `null` is no input at all, as the schema reads it).
pub(crate) fn raw_input(arguments: &str) -> Option<Value> {
    match serde_json::from_str(arguments) {
        Ok(Value::Null) => None,
        Ok(value) => Some(value),
        Err(_) => Some(Value::String(arguments.to_string())),
    }
}

/// The plan as the client sees it. `tools::prepare` lets only the three schema statuses
/// through; an entry with any other would not be a valid ACP plan entry and is left out.
pub(crate) fn plan(entries: &[tools::PlanItem]) -> Plan {
    Plan::new(
        entries
            .iter()
            .filter_map(|e| {
                let status = match e.status.as_str() {
                    "pending" => PlanEntryStatus::Pending,
                    "in_progress" => PlanEntryStatus::InProgress,
                    "completed" => PlanEntryStatus::Completed,
                    _ => return None,
                };
                let priority = match e.priority.as_str() {
                    "high" => PlanEntryPriority::High,
                    "low" => PlanEntryPriority::Low,
                    _ => PlanEntryPriority::Medium,
                };
                Some(PlanEntry::new(e.content.clone(), priority, status))
            })
            .collect(),
    )
}
