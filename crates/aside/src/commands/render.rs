//! Turning a session's events into text for a terminal. Events are read typed
//! ([`Body`]: ACP's own update types and aside's kinds); agent text is printed as text.

pub(crate) use aside_core::text::terminal_safe;

/// A writer that shows control characters instead of passing them on: everything a command
/// prints of a session (the task, the agent's text, command output, titles) goes through one,
/// so no escape sequence from a repository file or a model reaches the terminal. aside prints
/// no escape sequences of its own on these paths.
pub(crate) struct Safe<W: std::io::Write>(pub W);

impl<W: std::io::Write> std::io::Write for Safe<W> {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        // `write!` hands over whole `str` pieces, so a character is never split between calls.
        let text = String::from_utf8_lossy(buf);
        self.0.write_all(terminal_safe(&text).as_bytes())?;
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        self.0.flush()
    }
}
use aside_core::Event;
use aside_protocol::conversation::{Block, Conversation, Note};
use aside_protocol::describe::{action_lines, block_text};
use aside_protocol::events::acp::{
    Plan, PlanEntryStatus, SessionUpdate, ToolCallContent, ToolCallUpdate,
};
use aside_protocol::events::{name_of, Body};

/// A tool call's output: its text content, diffs and terminals named.
pub(super) fn text_of(content: &[ToolCallContent]) -> String {
    let mut out = Vec::new();
    for item in content {
        match item {
            ToolCallContent::Content(c) => out.push(block_text(&c.content)),
            ToolCallContent::Diff(d) => out.push(format!("(diff of {})", d.path.display())),
            ToolCallContent::Terminal(_) => out.push("(terminal output)".to_string()),
            _ => {}
        }
    }
    out.join("\n")
}

fn indent(text: &str, max_lines: usize) -> String {
    let lines: Vec<&str> = text.lines().collect();
    let mut out: Vec<String> = lines
        .iter()
        .take(max_lines)
        .map(|l| format!("    {l}"))
        .collect();
    if lines.len() > max_lines {
        out.push(format!("    … {} more lines", lines.len() - max_lines));
    }
    out.join("\n")
}

pub(super) fn plan_text(plan: &Plan) -> String {
    let mut out = String::from("Plan:\n");
    for entry in &plan.entries {
        let mark = match entry.status {
            PlanEntryStatus::Completed => "[x]",
            PlanEntryStatus::InProgress => "[~]",
            _ => "[ ]",
        };
        out.push_str(&format!("  {mark} {}\n", entry.content));
    }
    out
}

/// "title [kind]" of a tool call.
pub(super) fn call_head(call: &ToolCallUpdate) -> String {
    format!(
        "{} [{}]",
        call.fields.title.as_deref().unwrap_or("an action"),
        call.fields
            .kind
            .as_ref()
            .map(name_of)
            .unwrap_or_else(|| "other".into())
    )
}

/// The lines of what a tool call asks to do, each on its own line after `indent`.
pub(super) fn action_block(call: &ToolCallUpdate, indent: &str) -> String {
    action_lines(call)
        .iter()
        .map(|line| format!("\n{indent}{line}"))
        .collect()
}

/// The whole conversation: prompts, agent messages, tool calls with their final state and
/// output, plans, permission requests (as `aside_protocol::conversation` folds them).
pub fn conversation(events: &[Event]) -> String {
    let conversation = Conversation::of(events);
    let mut out = String::new();
    for block in conversation.blocks() {
        match block {
            Block::Prompt(prompt) => out.push_str(&format!("\n> {}\n", prompt.text)),
            Block::Message(text) => out.push_str(&format!("\nagent: {text}\n")),
            Block::Tool(call) => {
                out.push_str(&format!(
                    "  • {} [{}] {}\n",
                    call.title,
                    name_of(&call.kind),
                    name_of(&call.status)
                ));
                let text = text_of(&call.content);
                if !text.is_empty() {
                    out.push_str(&indent(&text, 12));
                    out.push('\n');
                }
            }
            Block::Plan(plan) => out.push_str(&plan_text(plan)),
            Block::Asked { asked, answer } => {
                out.push_str(&format!(
                    "  ? permission asked: {}{}\n",
                    call_head(&asked.tool_call),
                    action_block(&asked.tool_call, "      ")
                ));
                if let Some(choice) = answer {
                    out.push_str(&format!("  ! answered: {}\n", name_of(choice)));
                }
            }
            Block::Allowed(allowed) => out.push_str(&format!(
                "  ? allowed by {}: {}{}\n",
                allowed.decision.by,
                call_head(&allowed.tool_call),
                action_block(&allowed.tool_call, "      ")
            )),
            Block::Note(Note::Error(message)) => out.push_str(&format!("  error: {message}\n")),
            Block::Note(Note::Warning(message)) => {
                out.push_str(&format!("  ! warning: {message}\n"))
            }
            Block::Note(Note::Damaged { seq, error }) => out.push_str(&format!(
                "  ! event {seq} is damaged and was skipped: {error}\n"
            )),
            Block::Thought(_) | Block::Note(_) => {}
        }
    }
    out
}

/// Prints events as they come: message chunks inline, everything else on a line of its own.
#[derive(Default)]
pub struct LogPrinter {
    in_text: bool,
}

impl LogPrinter {
    /// Prints one event to stdout.
    pub fn print(&mut self, e: &Event) {
        self.print_to(e, &mut Safe(std::io::stdout().lock()));
    }

    /// Writes one event to `stdout`.
    fn print_to(&mut self, e: &Event, stdout: &mut dyn std::io::Write) {
        let body = Body::of(e);
        if let Body::Update(update) = &body {
            if let SessionUpdate::AgentMessageChunk(chunk)
            | SessionUpdate::AgentThoughtChunk(chunk) = update.as_ref()
            {
                let _ = write!(stdout, "{}", block_text(&chunk.content));
                self.in_text = true;
                let _ = stdout.flush();
                return;
            }
        }
        if self.in_text {
            let _ = writeln!(stdout);
            self.in_text = false;
        }
        let line = match body {
            Body::Prompt(p) | Body::PromptQueued(p) => p.text,
            Body::Status(s) => match s.reason {
                Some(reason) => format!("{} ({reason})", s.status),
                None => s.status.to_string(),
            },
            Body::Update(update) => match *update {
                SessionUpdate::ToolCall(call) => format!(
                    "{} [{}] {}",
                    call.title,
                    name_of(&call.kind),
                    name_of(&call.status)
                ),
                SessionUpdate::ToolCallUpdate(update) => {
                    let text = text_of(update.fields.content.as_deref().unwrap_or_default());
                    let status = update
                        .fields
                        .status
                        .as_ref()
                        .map(name_of)
                        .unwrap_or_else(|| "update".into());
                    if text.is_empty() {
                        status
                    } else {
                        format!("{status}\n{}", indent(&text, 12))
                    }
                }
                SessionUpdate::Plan(plan) => plan_text(&plan).trim_end().to_string(),
                SessionUpdate::UsageUpdate(usage) => {
                    format!("{} of {} tokens in context", usage.used, usage.size)
                }
                SessionUpdate::SessionInfoUpdate(info) => match info.title.value() {
                    Some(title) => format!("title: {title}"),
                    None => return,
                },
                SessionUpdate::AvailableCommandsUpdate(commands) => {
                    format!("{} commands available", commands.available_commands.len())
                }
                SessionUpdate::CurrentModeUpdate(mode) => format!("mode: {}", mode.current_mode_id),
                SessionUpdate::ConfigOptionUpdate(_) => return,
                other => serde_json::to_string(&other).unwrap_or_default(),
            },
            Body::PermissionRequest(asked) => format!(
                "{} — answer with /approve or /deny here, or `aside approve` / `aside deny`{}",
                call_head(&asked.tool_call),
                action_block(&asked.tool_call, "    ")
            ),
            Body::Permission(allowed) => format!(
                "{} — allowed by {}{}",
                call_head(&allowed.tool_call),
                allowed.decision.by,
                action_block(&allowed.tool_call, "    ")
            ),
            Body::Interrupted { reason, queued } => format!(
                "{reason}{}",
                match queued {
                    0 => String::new(),
                    1 => "; 1 queued follow-up kept".to_string(),
                    n => format!("; {n} queued follow-ups kept"),
                }
            ),
            Body::CancelRequested { dropped } => match dropped {
                0 => "cancelling the turn".to_string(),
                1 => "cancelling the turn; dropped 1 queued follow-up".to_string(),
                n => format!("cancelling the turn; dropped {n} queued follow-ups"),
            },
            Body::TurnEnd(end) => end.stop_reason.as_ref().map(name_of).unwrap_or_default(),
            Body::Checkpoint(c) => format!(
                "{} ({})",
                c.commit.chars().take(10).collect::<String>(),
                plural(c.files.len(), "file changed", "files changed")
            ),
            Body::Error { message } => message,
            Body::PermissionAnswer(answer) => {
                format!("{} ({})", name_of(&answer.choice), answer.option_id)
            }
            Body::Warning(w) => format!("warning: {}", w.message),
            Body::Setup(setup) => format!(
                "$ {}{}{}",
                setup.command,
                match setup.output.trim_end() {
                    out if !out.is_empty() => format!("\n{}", indent(out, 12)),
                    _ => String::new(),
                },
                match setup.exit_code {
                    Some(0) => String::new(),
                    Some(code) => format!("\n    (exit code {code})"),
                    None => "\n    (killed by a signal)".to_string(),
                }
            ),
            Body::Other { data, .. } => data.to_string(),
        };
        let _ = writeln!(stdout, "[{}] {line}", e.kind);
    }

    /// Ends a pending line of text.
    pub fn finish(&mut self) {
        if self.in_text {
            println!();
            self.in_text = false;
        }
    }
}

/// "1 file changed", "2 files changed".
pub fn plural(n: usize, one: &str, many: &str) -> String {
    if n == 1 {
        format!("1 {one}")
    } else {
        format!("{n} {many}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The events of a session as aside stores them, every kind `show` prints.
    fn sample() -> Vec<Event> {
        use serde_json::json;
        let rows = [
            ("prompt", json!({"text": "fix the build"})),
            (
                "agent_message_chunk",
                json!({"sessionUpdate": "agent_message_chunk", "content": {"type": "text", "text": "Let me "}}),
            ),
            ("status", json!({"status": "running"})),
            (
                "agent_message_chunk",
                json!({"sessionUpdate": "agent_message_chunk", "content": {"type": "text", "text": "look."}}),
            ),
            (
                "agent_thought_chunk",
                json!({"sessionUpdate": "agent_thought_chunk", "content": {"type": "text", "text": "hmm"}}),
            ),
            (
                "tool_call",
                json!({"sessionUpdate": "tool_call", "toolCallId": "t1", "title": "Run tests", "kind": "execute", "status": "pending", "rawInput": {"command": "cargo test"}}),
            ),
            (
                "tool_call_update",
                json!({"sessionUpdate": "tool_call_update", "toolCallId": "t1", "status": "completed", "content": [{"type": "content", "content": {"type": "text", "text": "test result: ok\n2 passed"}}]}),
            ),
            (
                "plan",
                json!({"sessionUpdate": "plan", "entries": [{"content": "Read", "status": "completed", "priority": "medium"}, {"content": "Fix", "status": "in_progress", "priority": "medium"}]}),
            ),
            (
                "tool_call",
                json!({"sessionUpdate": "tool_call", "toolCallId": "t2", "title": "Edit a.rs", "kind": "edit", "status": "pending", "content": [{"type": "diff", "path": "/w/a.rs", "oldText": "a\n", "newText": "b\n"}]}),
            ),
            (
                "permission_request",
                json!({"toolCall": {"toolCallId": "t2", "title": "Edit a.rs", "kind": "edit", "content": [{"type": "diff", "path": "/w/a.rs", "oldText": "a\n", "newText": "b\n"}]}, "options": [{"optionId": "y", "name": "Yes", "kind": "allow_once"}]}),
            ),
            (
                "permission_answer",
                json!({"optionId": "y", "choice": "allow"}),
            ),
            (
                "permission",
                json!({"toolCall": {"toolCallId": "t3", "title": "Read b.rs", "kind": "read", "locations": [{"path": "/w/b.rs"}]}, "options": [], "decision": {"optionId": "y", "by": "policy all"}}),
            ),
            (
                "tool_call_update",
                json!({"sessionUpdate": "tool_call_update", "toolCallId": "t2", "status": "failed"}),
            ),
            (
                "agent_message_chunk",
                json!({"sessionUpdate": "agent_message_chunk", "content": {"type": "text", "text": "Fixed **it**."}}),
            ),
            (
                "warning",
                json!({"message": "submodule lib could not be checked out"}),
            ),
            ("error", json!({"message": "checkpoint failed: disk"})),
            ("corrupt", json!({"error": "data is not JSON"})),
            ("turn_end", json!({"stopReason": "end_turn"})),
            (
                "checkpoint",
                json!({"commit": "abcdef1234567", "files": [{"path": "a.rs", "added": 1, "removed": 1}]}),
            ),
            ("prompt", json!({"text": "and the docs", "resumed": false})),
            (
                "agent_message_chunk",
                json!({"sessionUpdate": "agent_message_chunk", "content": {"type": "text", "text": "Docs done."}}),
            ),
            ("turn_end", json!({"stopReason": "end_turn"})),
        ];
        rows.into_iter()
            .enumerate()
            .map(|(n, (kind, data))| Event {
                seq: n as u64 + 1,
                ts: String::new(),
                kind: kind.to_string(),
                data,
                piece: None,
            })
            .collect()
    }

    /// What `show` printed of these events before the conversation had one reducer (checked
    /// against the earlier renderer when it was replaced): old sessions read the same.
    #[test]
    fn show_renders_a_session_as_it_always_did() {
        assert_eq!(
            conversation(&sample()),
            "
> fix the build

agent: Let me look.
  • Run tests [execute] completed
    test result: ok
    2 passed
Plan:
  [x] Read
  [~] Fix
  • Edit a.rs [edit] failed
    (diff of /w/a.rs)
  ? permission asked: Edit a.rs [edit]
      edit /w/a.rs
      - a
      + b
  ! answered: allow
  ? allowed by policy all: Read b.rs [read]
      at /w/b.rs

agent: Fixed **it**.
  ! warning: submodule lib could not be checked out
  error: checkpoint failed: disk
  ! event 17 is damaged and was skipped: data is not JSON

> and the docs

agent: Docs done.
"
        );
    }

    #[test]
    fn plurals() {
        assert_eq!(plural(1, "file changed", "files changed"), "1 file changed");
        assert_eq!(
            plural(0, "file changed", "files changed"),
            "0 files changed"
        );
    }
}
