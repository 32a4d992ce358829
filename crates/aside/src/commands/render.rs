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
use aside_protocol::describe::{action_lines, block_text};
use aside_protocol::events::acp::{
    Plan, PlanEntryStatus, SessionUpdate, ToolCallContent, ToolCallUpdate,
};
use aside_protocol::events::{name_of, Body};
use serde_json::Value;
use std::collections::HashMap;

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

/// Merges the tool calls of a session, by id, into their final state (ACP: an update's fields
/// replace the earlier ones).
fn final_tool_calls(events: &[Event]) -> HashMap<String, ToolCallUpdate> {
    let mut merged: HashMap<String, Value> = HashMap::new();
    for e in events
        .iter()
        .filter(|e| e.kind == "tool_call" || e.kind == "tool_call_update")
    {
        let id = e.data["toolCallId"]
            .as_str()
            .unwrap_or_default()
            .to_string();
        let slot = merged
            .entry(id)
            .or_insert_with(|| Value::Object(Default::default()));
        if let (Some(slot), Some(fields)) = (slot.as_object_mut(), e.data.as_object()) {
            for (k, v) in fields {
                if !v.is_null() {
                    slot.insert(k.clone(), v.clone());
                }
            }
        }
    }
    merged
        .into_iter()
        .filter_map(|(id, value)| Some((id, serde_json::from_value::<ToolCallUpdate>(value).ok()?)))
        .collect()
}

/// The whole conversation: prompts, agent messages, tool calls with their final state and
/// output, plans, permission requests.
pub fn conversation(events: &[Event]) -> String {
    let calls = final_tool_calls(events);
    let mut out = String::new();
    let mut in_message = false;
    let end_message = |out: &mut String, in_message: &mut bool| {
        if *in_message {
            out.push('\n');
            *in_message = false;
        }
    };
    for e in events {
        if e.kind == aside_store::CORRUPT {
            end_message(&mut out, &mut in_message);
            out.push_str(&format!(
                "  ! event {} is damaged and was skipped: {}\n",
                e.seq,
                e.data["error"].as_str().unwrap_or_default()
            ));
            continue;
        }
        match Body::of(e) {
            Body::Update(update) => match *update {
                SessionUpdate::AgentMessageChunk(chunk) => {
                    if !in_message {
                        out.push_str("\nagent: ");
                        in_message = true;
                    }
                    out.push_str(&block_text(&chunk.content));
                }
                SessionUpdate::ToolCall(call) => {
                    end_message(&mut out, &mut in_message);
                    let id = call.tool_call_id.0.to_string();
                    let (title, kind, status, content) = match calls.get(&id) {
                        Some(merged) => (
                            merged.fields.title.clone().unwrap_or(call.title.clone()),
                            merged.fields.kind.as_ref().map(name_of),
                            merged.fields.status.as_ref().map(name_of),
                            merged.fields.content.clone().unwrap_or_default(),
                        ),
                        None => (
                            call.title.clone(),
                            Some(name_of(&call.kind)),
                            Some(name_of(&call.status)),
                            call.content.clone(),
                        ),
                    };
                    out.push_str(&format!(
                        "  • {title} [{}] {}\n",
                        kind.unwrap_or_else(|| "other".into()),
                        status.unwrap_or_else(|| "pending".into())
                    ));
                    let text = text_of(&content);
                    if !text.is_empty() {
                        out.push_str(&indent(&text, 12));
                        out.push('\n');
                    }
                }
                SessionUpdate::Plan(plan) => {
                    end_message(&mut out, &mut in_message);
                    out.push_str(&plan_text(&plan));
                }
                _ => {}
            },
            Body::Prompt(prompt) => {
                end_message(&mut out, &mut in_message);
                out.push_str(&format!("\n> {}\n", prompt.text));
            }
            Body::PermissionRequest(asked) => {
                end_message(&mut out, &mut in_message);
                out.push_str(&format!(
                    "  ? permission asked: {}{}\n",
                    call_head(&asked.tool_call),
                    action_block(&asked.tool_call, "      ")
                ));
            }
            Body::Permission(allowed) => {
                end_message(&mut out, &mut in_message);
                out.push_str(&format!(
                    "  ? allowed by {}: {}{}\n",
                    allowed.decision.by,
                    call_head(&allowed.tool_call),
                    action_block(&allowed.tool_call, "      ")
                ));
            }
            Body::PermissionAnswer(answer) => {
                out.push_str(&format!("  ! answered: {}\n", name_of(&answer.choice)))
            }
            Body::Error { message } => {
                end_message(&mut out, &mut in_message);
                out.push_str(&format!("  error: {message}\n"));
            }
            Body::Other { kind, data } if kind == "warning" => {
                end_message(&mut out, &mut in_message);
                out.push_str(&format!(
                    "  ! warning: {}\n",
                    data["message"].as_str().unwrap_or_default()
                ));
            }
            Body::TurnEnd(_) => end_message(&mut out, &mut in_message),
            _ => {}
        }
    }
    end_message(&mut out, &mut in_message);
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
            Body::Other { kind, data } if kind == "warning" => {
                format!("warning: {}", data["message"].as_str().unwrap_or_default())
            }
            Body::Other { kind, data } if kind == "setup" => format!(
                "$ {}{}{}",
                data["command"].as_str().unwrap_or_default(),
                match data["output"].as_str().map(str::trim_end) {
                    Some(out) if !out.is_empty() => format!("\n{}", indent(out, 12)),
                    _ => String::new(),
                },
                match data["exit_code"].as_i64() {
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

    #[test]
    fn plurals() {
        assert_eq!(plural(1, "file changed", "files changed"), "1 file changed");
        assert_eq!(
            plural(0, "file changed", "files changed"),
            "0 files changed"
        );
    }
}
