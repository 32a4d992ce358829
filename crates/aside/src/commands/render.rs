//! Turning a session's events into text for a terminal.

use aside_core::Event;
use serde_json::Value;
use std::collections::HashMap;
use std::io::Write as _;

fn text_of(content: &Value) -> String {
    // tool_call content: [{type: content, content: {type: text, text}}, {type: diff, …}, …]
    let mut out = Vec::new();
    for item in content.as_array().into_iter().flatten() {
        match item["type"].as_str() {
            Some("content") => {
                if let Some(t) = item["content"]["text"].as_str() {
                    out.push(t.to_string());
                }
            }
            Some("diff") => out.push(format!(
                "(diff of {})",
                item["path"].as_str().unwrap_or_default()
            )),
            Some("terminal") => out.push("(terminal output)".to_string()),
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

fn plan_text(data: &Value) -> String {
    let mut out = String::from("Plan:\n");
    for entry in data["entries"].as_array().into_iter().flatten() {
        let mark = match entry["status"].as_str() {
            Some("completed") => "[x]",
            Some("in_progress") => "[~]",
            _ => "[ ]",
        };
        out.push_str(&format!(
            "  {mark} {}\n",
            entry["content"].as_str().unwrap_or_default()
        ));
    }
    out
}

/// The whole conversation: prompts, agent messages, tool calls with their final state and
/// output, plans, permission requests.
pub fn conversation(events: &[Event]) -> String {
    // Final state of each tool call, merged from its updates.
    let mut calls: HashMap<String, Value> = HashMap::new();
    for e in events
        .iter()
        .filter(|e| e.kind == "tool_call" || e.kind == "tool_call_update")
    {
        let id = e.data["toolCallId"]
            .as_str()
            .unwrap_or_default()
            .to_string();
        let slot = calls
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
    let mut out = String::new();
    let mut in_message = false;
    let end_message = |out: &mut String, in_message: &mut bool| {
        if *in_message {
            out.push('\n');
            *in_message = false;
        }
    };
    for e in events {
        match e.kind.as_str() {
            "agent_message_chunk" => {
                if !in_message {
                    out.push_str("\nagent: ");
                    in_message = true;
                }
                out.push_str(e.data["content"]["text"].as_str().unwrap_or_default());
            }
            "prompt" => {
                end_message(&mut out, &mut in_message);
                out.push_str(&format!(
                    "\n> {}\n",
                    e.data["text"].as_str().unwrap_or_default()
                ));
            }
            "tool_call" => {
                end_message(&mut out, &mut in_message);
                let id = e.data["toolCallId"].as_str().unwrap_or_default();
                let call = calls.get(id).unwrap_or(&e.data);
                out.push_str(&format!(
                    "  • {} [{}] {}\n",
                    call["title"].as_str().unwrap_or("tool"),
                    call["kind"].as_str().unwrap_or("other"),
                    call["status"].as_str().unwrap_or("pending")
                ));
                let text = text_of(&call["content"]);
                if !text.is_empty() {
                    out.push_str(&indent(&text, 12));
                    out.push('\n');
                }
            }
            "plan" => {
                end_message(&mut out, &mut in_message);
                out.push_str(&plan_text(&e.data));
            }
            "permission_request" => {
                end_message(&mut out, &mut in_message);
                out.push_str(&format!(
                    "  ? permission asked: {}\n",
                    e.data["toolCall"]["title"].as_str().unwrap_or("an action")
                ));
            }
            "permission_answer" => out.push_str(&format!(
                "  ! answered: {}\n",
                e.data["choice"].as_str().unwrap_or_default()
            )),
            "error" => {
                end_message(&mut out, &mut in_message);
                out.push_str(&format!(
                    "  error: {}\n",
                    e.data["message"].as_str().unwrap_or_default()
                ));
            }
            "turn_end" => end_message(&mut out, &mut in_message),
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
        let mut stdout = std::io::stdout().lock();
        let chunk = matches!(
            e.kind.as_str(),
            "agent_message_chunk" | "agent_thought_chunk"
        );
        if chunk {
            let text = e.data["content"]["text"].as_str().unwrap_or_default();
            let _ = write!(stdout, "{text}");
            self.in_text = true;
            let _ = stdout.flush();
            return;
        }
        if self.in_text {
            let _ = writeln!(stdout);
            self.in_text = false;
        }
        let line = match e.kind.as_str() {
            "prompt" | "prompt_queued" => e.data["text"].as_str().unwrap_or_default().to_string(),
            "status" => match e.data["reason"].as_str() {
                Some(reason) => format!(
                    "{} ({reason})",
                    e.data["status"].as_str().unwrap_or_default()
                ),
                None => e.data["status"].as_str().unwrap_or_default().to_string(),
            },
            "tool_call" => format!(
                "{} [{}] {}",
                e.data["title"].as_str().unwrap_or_default(),
                e.data["kind"].as_str().unwrap_or("other"),
                e.data["status"].as_str().unwrap_or("pending")
            ),
            "tool_call_update" => {
                let text = text_of(&e.data["content"]);
                let status = e.data["status"].as_str().unwrap_or("update");
                if text.is_empty() {
                    status.to_string()
                } else {
                    format!("{status}\n{}", indent(&text, 12))
                }
            }
            "plan" => plan_text(&e.data).trim_end().to_string(),
            "permission_request" => format!(
                "{} — answer with `aside approve` or `aside deny`",
                e.data["toolCall"]["title"].as_str().unwrap_or("an action")
            ),
            "permission" => format!(
                "{} — allowed by {}",
                e.data["toolCall"]["title"].as_str().unwrap_or("an action"),
                e.data["decision"]["by"].as_str().unwrap_or("policy")
            ),
            "turn_end" => e.data["stopReason"]
                .as_str()
                .unwrap_or_default()
                .to_string(),
            "checkpoint" => format!(
                "{} ({} files changed)",
                e.data["commit"]
                    .as_str()
                    .unwrap_or_default()
                    .chars()
                    .take(10)
                    .collect::<String>(),
                e.data["files"].as_array().map(Vec::len).unwrap_or(0)
            ),
            "error" => e.data["message"].as_str().unwrap_or_default().to_string(),
            "usage_update" => format!(
                "{} of {} tokens in context",
                e.data["used"].as_u64().unwrap_or(0),
                e.data["size"].as_u64().unwrap_or(0)
            ),
            "session_info_update" => match e.data["title"].as_str() {
                Some(title) => format!("title: {title}"),
                None => return,
            },
            "available_commands_update" => format!(
                "{} commands available",
                e.data["availableCommands"]
                    .as_array()
                    .map(Vec::len)
                    .unwrap_or(0)
            ),
            "current_mode_update" => format!(
                "mode: {}",
                e.data["currentModeId"].as_str().unwrap_or_default()
            ),
            "config_option_update" | "cancel_requested" => return,
            _ => e.data.to_string(),
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
