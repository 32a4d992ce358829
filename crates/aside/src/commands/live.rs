//! A conversation as it happens, for the foreground commands (`chat`, `plan`): the agent's text
//! as it streams, each tool call on one line once it is done (title, what it ran or edited,
//! outcome), plans as a checklist, permission requests with the real command or diff.

use super::render::{action_block, call_head, plan_text, text_of};
use aside_core::Event;
use aside_protocol::conversation::{as_update, ToolCalls};
use aside_protocol::describe::{action_lines, block_text};
use aside_protocol::events::acp::{SessionUpdate, ToolCallStatus, ToolCallUpdate};
use aside_protocol::events::Body;
use std::io::Write;

/// The longest a tool call's line gets before it is cut (characters).
const LINE: usize = 110;

#[derive(Default)]
pub struct LivePrinter {
    /// How the user answers a permission request here.
    answer_hint: &'static str,
    in_text: bool,
    /// Tool calls not finished yet, by id: their fields so far (ACP: an update's fields replace
    /// the earlier ones).
    open: ToolCalls,
    /// The order the open calls started in.
    order: Vec<String>,
}

/// `text` cut to `max` characters, with an ellipsis when something was cut.
fn cut(text: &str, max: usize) -> String {
    let text = text.trim();
    if text.chars().count() <= max {
        return text.to_string();
    }
    let short: String = text.chars().take(max.saturating_sub(1)).collect();
    format!("{}…", short.trim_end())
}

/// What a tool call ran or touched, in a few words: its command, the files it edits, the paths
/// it reads.
fn what(call: &ToolCallUpdate) -> String {
    let lines = action_lines(call);
    if let Some(command) = lines.iter().find(|l| l.starts_with("$ ")) {
        let more = lines.iter().any(|l| l.starts_with("> "));
        return format!("{command}{}", if more { " …" } else { "" });
    }
    let edits: Vec<&str> = lines
        .iter()
        .filter(|l| {
            ["create ", "edit ", "empty "]
                .iter()
                .any(|p| l.starts_with(p))
        })
        .map(String::as_str)
        .collect();
    if !edits.is_empty() {
        return edits.join(", ");
    }
    let places: Vec<&str> = lines.iter().filter_map(|l| l.strip_prefix("at ")).collect();
    if !places.is_empty() {
        return places.join(", ");
    }
    lines.first().cloned().unwrap_or_default()
}

/// One line for a finished (or abandoned) tool call: `✓ title · what`, `✗ title · what ·
/// failed: why`.
fn call_line(call: &ToolCallUpdate, ended: &str) -> String {
    let title = call.fields.title.as_deref().unwrap_or("a tool call").trim();
    let what = what(call);
    let (mark, outcome) = match call.fields.status {
        Some(ToolCallStatus::Completed) => ("✓", String::new()),
        Some(ToolCallStatus::Failed) => {
            let why = text_of(call.fields.content.as_deref().unwrap_or_default());
            let why = why.lines().find(|l| !l.trim().is_empty()).unwrap_or("");
            (
                "✗",
                if why.is_empty() {
                    " · failed".to_string()
                } else {
                    format!(" · failed: {}", cut(why, 60))
                },
            )
        }
        _ => ("…", format!(" · {ended}")),
    };
    let head = if what.is_empty() || title.contains(what.trim_start_matches("$ ")) {
        cut(title, LINE)
    } else {
        cut(&format!("{title} · {what}"), LINE)
    };
    format!("  {mark} {head}{outcome}")
}

impl LivePrinter {
    /// A printer that tells the user to answer permission requests with `answer_hint`.
    pub fn new(answer_hint: &'static str) -> LivePrinter {
        LivePrinter {
            answer_hint,
            ..LivePrinter::default()
        }
    }

    /// Writes what `e` adds to the conversation to stderr (progress, not a command's result).
    pub fn eprint(&mut self, e: &Event) {
        self.print_to(e, &mut std::io::stderr().lock());
    }

    /// Writes what `e` adds to the conversation to `out`.
    pub fn print_to(&mut self, e: &Event, out: &mut dyn Write) {
        let out: &mut dyn Write = &mut super::render::Safe(out);
        let body = Body::of(e);
        if let Body::Update(update) = &body {
            if let SessionUpdate::AgentMessageChunk(chunk)
            | SessionUpdate::AgentThoughtChunk(chunk) = update.as_ref()
            {
                let _ = write!(out, "{}", block_text(&chunk.content));
                self.in_text = true;
                return;
            }
        }
        let line = match body {
            Body::Update(update) => match *update {
                update @ (SessionUpdate::ToolCall(_) | SessionUpdate::ToolCallUpdate(_)) => {
                    self.tool_call(&update, out);
                    return;
                }
                SessionUpdate::Plan(plan) => plan_text(&plan).trim_end().to_string(),
                _ => return,
            },
            Body::PermissionRequest(asked) => format!(
                "? {} — {}{}",
                call_head(&asked.tool_call),
                self.answer_hint,
                action_block(&asked.tool_call, "    ")
            ),
            Body::Interrupted { reason, .. } => reason,
            Body::CancelRequested { .. } => "cancelling the turn".to_string(),
            Body::Error { message } => format!("error: {message}"),
            Body::Warning(w) => format!("warning: {}", w.message),
            Body::TurnEnd(_) => {
                self.end_turn(out);
                return;
            }
            _ => return,
        };
        self.finish_to(out);
        let _ = writeln!(out, "{line}");
    }

    /// Takes a tool call's update (`conversation::ToolCalls` merges); prints its line once it is
    /// done.
    fn tool_call(&mut self, update: &SessionUpdate, out: &mut dyn Write) {
        let id = match update {
            SessionUpdate::ToolCall(call) => call.tool_call_id.0.to_string(),
            SessionUpdate::ToolCallUpdate(update) => update.tool_call_id.0.to_string(),
            _ => return,
        };
        if self.open.get(&id).is_none() {
            self.order.push(id.clone());
        }
        self.open.take(update);
        let done = self.open.get(&id).is_some_and(|call| {
            matches!(
                call.status,
                ToolCallStatus::Completed | ToolCallStatus::Failed
            )
        });
        if let Some(call) = done.then(|| self.open.remove(&id)).flatten() {
            self.order.retain(|o| *o != id);
            self.finish_to(out);
            let _ = writeln!(out, "{}", call_line(&as_update(&call), ""));
        }
    }

    /// The calls a turn left unfinished (cancelled, or the agent never said).
    fn end_turn(&mut self, out: &mut dyn Write) {
        self.finish_to(out);
        for id in std::mem::take(&mut self.order) {
            if let Some(call) = self.open.remove(&id) {
                let _ = writeln!(out, "{}", call_line(&as_update(&call), "not finished"));
            }
        }
    }

    /// Ends a pending line of text in `out`.
    pub fn finish_to(&mut self, out: &mut dyn Write) {
        if self.in_text {
            let _ = writeln!(out);
            self.in_text = false;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;
    use serde_json::Value;

    fn event(kind: &str, data: Value) -> Event {
        Event {
            seq: 0,
            ts: String::new(),
            kind: kind.into(),
            data,
            piece: None,
        }
    }

    fn render(events: &[Event]) -> String {
        let mut printer = LivePrinter::new("/approve, /always or /deny");
        let mut out = Vec::new();
        for e in events {
            printer.print_to(e, &mut out);
        }
        printer.finish_to(&mut out);
        String::from_utf8(out).unwrap()
    }

    #[test]
    fn a_tool_call_is_one_line_with_what_it_ran_and_its_outcome() {
        let text = render(&[
            event(
                "agent_message_chunk",
                json!({"sessionUpdate": "agent_message_chunk", "content": {"type": "text", "text": "Let me check."}}),
            ),
            event(
                "tool_call",
                json!({"sessionUpdate": "tool_call", "toolCallId": "1", "title": "Run tests", "kind": "execute", "status": "pending", "rawInput": {"command": "cargo test -q"}}),
            ),
            event(
                "tool_call_update",
                json!({"sessionUpdate": "tool_call_update", "toolCallId": "1", "status": "in_progress"}),
            ),
            event(
                "tool_call",
                json!({"sessionUpdate": "tool_call", "toolCallId": "2", "title": "Edit", "kind": "edit", "status": "pending",
                "content": [{"type": "diff", "path": "/w/src/a.rs", "oldText": "a", "newText": "b"}]}),
            ),
            event(
                "tool_call_update",
                json!({"sessionUpdate": "tool_call_update", "toolCallId": "1", "status": "failed",
                "content": [{"type": "content", "content": {"type": "text", "text": "\nerror[E0425]: cannot find value `x`\nmore"}}]}),
            ),
            event(
                "tool_call_update",
                json!({"sessionUpdate": "tool_call_update", "toolCallId": "2", "status": "completed"}),
            ),
            event(
                "tool_call",
                json!({"sessionUpdate": "tool_call", "toolCallId": "3", "title": "Read file", "kind": "read", "status": "in_progress",
                "locations": [{"path": "/w/README.md"}]}),
            ),
            event("turn_end", json!({"stopReason": "cancelled"})),
        ]);
        assert_eq!(
            text,
            "Let me check.\n\
             \x20 ✗ Run tests · $ cargo test -q · failed: error[E0425]: cannot find value `x`\n\
             \x20 ✓ Edit · edit /w/src/a.rs\n\
             \x20 … Read file · /w/README.md · not finished\n"
        );
    }

    #[test]
    fn a_title_that_already_says_the_command_is_not_repeated() {
        let text = render(&[event(
            "tool_call",
            json!({"sessionUpdate": "tool_call", "toolCallId": "1", "title": "Run `ls -la`", "kind": "execute",
                "status": "completed", "rawInput": {"command": "ls -la"}}),
        )]);
        assert_eq!(text, "  ✓ Run `ls -la`\n");
    }

    #[test]
    fn plans_are_checklists_and_permission_requests_show_the_command() {
        let text = render(&[
            event(
                "plan",
                json!({"sessionUpdate": "plan", "entries": [
                {"content": "Read the code", "priority": "high", "status": "completed"},
                {"content": "Add the flag", "priority": "high", "status": "pending"}]}),
            ),
            event(
                "permission_request",
                json!({"toolCall": {"toolCallId": "9", "title": "Run", "kind": "execute",
                "rawInput": {"command": "rm -rf build"}}, "options": []}),
            ),
        ]);
        assert!(
            text.starts_with("Plan:\n  [x] Read the code\n  [ ] Add the flag\n? Run [execute] — /approve, /always or /deny\n    $ rm -rf build"),
            "{text}"
        );
    }
}
