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

/// What a tool call asks to do, from its `rawInput`, content and locations rather than the title
/// the model chose: the full command line of a shell tool, the path and the changed lines of an
/// edit, the paths it touches. Untrusted text: printed as text, never interpreted.
pub fn action_lines(call: &Value) -> Vec<String> {
    let mut out = Vec::new();
    let input = &call["rawInput"];
    let command = ["command", "cmd", "commandLine", "script"]
        .iter()
        .find_map(|key| match &input[*key] {
            Value::String(s) if !s.trim().is_empty() => Some(s.clone()),
            Value::Array(parts) if !parts.is_empty() => Some(
                parts
                    .iter()
                    .map(|p| match p.as_str() {
                        Some(s) if s.is_empty() || s.contains([' ', '\'', '"', '$']) => {
                            format!("'{}'", s.replace('\'', "'\\''"))
                        }
                        Some(s) => s.to_string(),
                        None => p.to_string(),
                    })
                    .collect::<Vec<_>>()
                    .join(" "),
            ),
            _ => None,
        });
    if let Some(command) = command {
        for (n, line) in command.lines().enumerate() {
            out.push(format!("{} {line}", if n == 0 { "$" } else { ">" }));
        }
        if let Some(dir) = ["cwd", "workdir", "directory"]
            .iter()
            .find_map(|key| input[*key].as_str())
        {
            out.push(format!("  (in {dir})"));
        }
    }
    let mut shown_paths = Vec::new();
    for item in call["content"].as_array().into_iter().flatten() {
        match item["type"].as_str() {
            Some("diff") => {
                let path = item["path"].as_str().unwrap_or("?");
                shown_paths.push(path.to_string());
                let old = item["oldText"].as_str();
                let new = item["newText"].as_str().unwrap_or_default();
                out.push(match old {
                    None => format!("create {path}"),
                    Some(_) if new.is_empty() => format!("empty {path}"),
                    Some(_) => format!("edit {path}"),
                });
                out.extend(changed_lines(old.unwrap_or_default(), new, 20));
            }
            Some("content") => {
                if let Some(text) = item["content"]["text"].as_str() {
                    out.extend(text.lines().take(5).map(str::to_string));
                }
            }
            _ => {}
        }
    }
    for location in call["locations"].as_array().into_iter().flatten() {
        if let Some(path) = location["path"].as_str() {
            if !shown_paths.iter().any(|p| p == path) {
                shown_paths.push(path.to_string());
                match location["line"].as_u64() {
                    Some(line) => out.push(format!("at {path}:{line}")),
                    None => out.push(format!("at {path}")),
                }
            }
        }
    }
    if out.is_empty() {
        if let Some(fields) = input.as_object().filter(|f| !f.is_empty()) {
            let text = serde_json::to_string(fields).unwrap_or_default();
            let short: String = text.chars().take(400).collect();
            out.push(format!(
                "input: {short}{}",
                if short.len() < text.len() { "…" } else { "" }
            ));
        }
    }
    out
}

/// The lines an edit removes (`-`) and adds (`+`), without the unchanged lines around them.
fn changed_lines(old: &str, new: &str, max: usize) -> Vec<String> {
    let old: Vec<&str> = old.lines().collect();
    let new: Vec<&str> = new.lines().collect();
    let prefix = old.iter().zip(&new).take_while(|(a, b)| a == b).count();
    let suffix = old[prefix..]
        .iter()
        .rev()
        .zip(new[prefix..].iter().rev())
        .take_while(|(a, b)| a == b)
        .count();
    let removed = &old[prefix..old.len() - suffix];
    let added = &new[prefix..new.len() - suffix];
    let mut out: Vec<String> = removed
        .iter()
        .map(|l| format!("- {l}"))
        .chain(added.iter().map(|l| format!("+ {l}")))
        .collect();
    if out.len() > max {
        let more = out.len() - max;
        out.truncate(max);
        out.push(format!("… {more} more changed lines"));
    }
    out
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
            "permission_request" | "permission" => {
                end_message(&mut out, &mut in_message);
                let call = &e.data["toolCall"];
                let how = if e.kind == "permission" {
                    format!(
                        "allowed by {}",
                        e.data["decision"]["by"].as_str().unwrap_or("policy")
                    )
                } else {
                    "permission asked".to_string()
                };
                out.push_str(&format!(
                    "  ? {how}: {} [{}]\n",
                    call["title"].as_str().unwrap_or("an action"),
                    call["kind"].as_str().unwrap_or("other")
                ));
                for line in action_lines(call) {
                    out.push_str(&format!("      {line}\n"));
                }
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
            "permission_request" | "permission" => {
                let call = &e.data["toolCall"];
                let how = if e.kind == "permission" {
                    format!(
                        "allowed by {}",
                        e.data["decision"]["by"].as_str().unwrap_or("policy")
                    )
                } else {
                    "answer with /approve or /deny here, or `aside approve` / `aside deny`"
                        .to_string()
                };
                let mut text = format!(
                    "{} [{}] — {how}",
                    call["title"].as_str().unwrap_or("an action"),
                    call["kind"].as_str().unwrap_or("other")
                );
                for line in action_lines(call) {
                    text.push_str(&format!("\n    {line}"));
                }
                text
            }
            "interrupted" => format!(
                "{}{}",
                e.data["reason"].as_str().unwrap_or("the host stopped"),
                match e.data["queued"].as_u64() {
                    Some(0) | None => String::new(),
                    Some(1) => "; 1 queued follow-up kept".to_string(),
                    Some(n) => format!("; {n} queued follow-ups kept"),
                }
            ),
            "turn_end" => e.data["stopReason"]
                .as_str()
                .unwrap_or_default()
                .to_string(),
            "checkpoint" => format!(
                "{} ({})",
                e.data["commit"]
                    .as_str()
                    .unwrap_or_default()
                    .chars()
                    .take(10)
                    .collect::<String>(),
                plural(
                    e.data["files"].as_array().map(Vec::len).unwrap_or(0),
                    "file changed",
                    "files changed"
                )
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
            "cancel_requested" => match e.data["dropped"].as_u64() {
                Some(0) | None => "cancelling the turn".to_string(),
                Some(1) => "cancelling the turn; dropped 1 queued follow-up".to_string(),
                Some(n) => format!("cancelling the turn; dropped {n} queued follow-ups"),
            },
            "config_option_update" => return,
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
    use serde_json::json;

    #[test]
    fn a_permission_shows_the_command_not_only_the_title() {
        let call = json!({"title": "create file", "kind": "execute",
            "rawInput": {"command": "rm -rf build/ && echo done", "description": "clean"}});
        assert_eq!(action_lines(&call), ["$ rm -rf build/ && echo done"]);
        let argv = json!({"rawInput": {"command": ["bash", "-lc", "rm -rf /tmp/x"], "cwd": "/w"}});
        assert_eq!(
            action_lines(&argv),
            ["$ bash -lc 'rm -rf /tmp/x'", "  (in /w)"]
        );
    }

    #[test]
    fn a_permission_shows_the_path_and_changed_lines_of_an_edit() {
        let call = json!({"title": "edit", "kind": "edit",
            "content": [{"type": "diff", "path": "/w/a.txt", "oldText": "one\ntwo\nthree\n", "newText": "one\nTWO\nthree\n"}],
            "locations": [{"path": "/w/a.txt"}, {"path": "/w/b.txt", "line": 3}]});
        assert_eq!(
            action_lines(&call),
            ["edit /w/a.txt", "- two", "+ TWO", "at /w/b.txt:3"]
        );
        let create = json!({"content": [{"type": "diff", "path": "n.txt", "newText": "x"}]});
        assert_eq!(action_lines(&create), ["create n.txt", "+ x"]);
    }

    #[test]
    fn an_unknown_tool_shows_its_input() {
        let call = json!({"title": "t", "rawInput": {"url": "http://x"}});
        assert_eq!(action_lines(&call), [r#"input: {"url":"http://x"}"#]);
        assert!(action_lines(&json!({"title": "t"})).is_empty());
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
