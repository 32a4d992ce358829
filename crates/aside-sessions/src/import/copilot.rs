//! GitHub Copilot CLI: `session-state/<id>/events.jsonl`, one `{type, data, id, timestamp,
//! parentId}` per line. `user.message {content}` is the user's turn; `assistant.message
//! {content, toolRequests}` the assistant's text and tool calls; a `tool.execution_start` whose
//! call the assistant's message did not list adds a tool line too. A subagent's messages (with a
//! `parentToolCallId`) are its own, not the conversation's.

use super::{tool_line, Conversation, Format, Turns};
use serde_json::Value;
use std::collections::HashSet;

pub(super) fn read(lines: &[Value]) -> Conversation {
    let mut turns = Turns::default();
    let mut seen_calls: HashSet<String> = HashSet::new();
    for line in lines {
        let data = line.get("data").unwrap_or(&Value::Null);
        let str_of = |key: &str| data.get(key).and_then(Value::as_str);
        if str_of("parentToolCallId").is_some() {
            continue;
        }
        match line.get("type").and_then(Value::as_str).unwrap_or_default() {
            "user.message" => turns.user(str_of("content").unwrap_or_default()),
            "assistant.message" => {
                turns.assistant(str_of("content").unwrap_or_default());
                for request in data
                    .get("toolRequests")
                    .and_then(Value::as_array)
                    .into_iter()
                    .flatten()
                {
                    if let Some(id) = request.get("toolCallId").and_then(Value::as_str) {
                        seen_calls.insert(id.to_string());
                    }
                    turns.tool(tool_of(request, "name"));
                }
            }
            "tool.execution_start" => {
                let id = str_of("toolCallId").unwrap_or_default();
                if id.is_empty() || seen_calls.insert(id.to_string()) {
                    turns.tool(tool_of(data, "toolName"));
                }
            }
            _ => {}
        }
    }
    turns.done(Format::CopilotCli, None)
}

/// A tool request's line: a command, or the CLI's own summary of the call.
fn tool_of(request: &Value, name_key: &str) -> String {
    let name = request
        .get(name_key)
        .and_then(Value::as_str)
        .unwrap_or("tool");
    let args = request.get("arguments").unwrap_or(&Value::Null);
    let title = ["intentionSummary", "toolTitle"]
        .iter()
        .find_map(|k| request.get(*k).and_then(Value::as_str))
        .or_else(|| args.get("description").and_then(Value::as_str));
    tool_line(name, args, title)
}
