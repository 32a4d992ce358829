//! Claude Code: `projects/<slug>/<sessionId>.jsonl`. Lines of `type` `user` / `assistant` carry
//! `message {role, content}`, content a string or blocks (`text`, `tool_use`, `tool_result`,
//! `thinking`, …). Skipped: meta lines (`isMeta`: a slash command's expanded prompt, caveats),
//! sidechains (subagents), compaction summaries, API error stand-ins, `tool_result`s (a user line
//! holding only those is no turn), thinking, and the blocks Claude Code wraps in tags itself
//! (`<system-reminder>`, `<local-command-stdout>`, …). A slash command shows as typed:
//! `/name args`. The title is the newest `summary` or `custom-title` line's.

use super::{is_wrapped_block, tool_line, Conversation, Format, Turns};
use serde_json::Value;

pub(super) fn read(lines: &[Value]) -> Conversation {
    let mut turns = Turns::default();
    let mut title = None;
    for line in lines {
        let flag = |key: &str| line.get(key).and_then(Value::as_bool) == Some(true);
        let ty = line.get("type").and_then(Value::as_str).unwrap_or_default();
        match ty {
            "summary" => {
                if let Some(s) = line.get("summary").and_then(Value::as_str) {
                    title = Some(s.to_string());
                }
                continue;
            }
            "custom-title" => {
                if let Some(s) = line.get("customTitle").and_then(Value::as_str) {
                    title = Some(s.to_string());
                }
                continue;
            }
            "user" | "assistant" => {}
            _ => continue,
        }
        if flag("isMeta")
            || flag("isSidechain")
            || flag("isCompactSummary")
            || flag("isApiErrorMessage")
        {
            continue;
        }
        let content = line.pointer("/message/content").unwrap_or(&Value::Null);
        if ty == "user" {
            let texts: Vec<String> = match content {
                Value::String(s) => vec![s.clone()],
                Value::Array(blocks) => blocks
                    .iter()
                    .filter(|b| b.get("type").and_then(Value::as_str) == Some("text"))
                    .filter_map(|b| b.get("text").and_then(Value::as_str))
                    .map(str::to_string)
                    .collect(),
                _ => Vec::new(),
            };
            let texts: Vec<String> = texts.iter().filter_map(|t| user_text(t)).collect();
            turns.user(&texts.join("\n\n"));
        } else {
            match content {
                Value::String(s) => turns.assistant(s),
                Value::Array(blocks) => {
                    for block in blocks {
                        match block
                            .get("type")
                            .and_then(Value::as_str)
                            .unwrap_or_default()
                        {
                            "text" => turns.assistant(
                                block
                                    .get("text")
                                    .and_then(Value::as_str)
                                    .unwrap_or_default(),
                            ),
                            "tool_use" | "server_tool_use" => {
                                let name =
                                    block.get("name").and_then(Value::as_str).unwrap_or("tool");
                                let input = block.get("input").unwrap_or(&Value::Null);
                                turns.tool(tool_line(name, input, None));
                            }
                            _ => {}
                        }
                    }
                }
                _ => {}
            }
        }
    }
    turns.done(Format::ClaudeCode, title)
}

/// The person's words in a user text: a slash command as typed, nothing for the blocks Claude
/// Code adds itself.
fn user_text(text: &str) -> Option<String> {
    if let Some(name) = between(text, "<command-name>", "</command-name>") {
        let args = between(text, "<command-args>", "</command-args>").unwrap_or_default();
        let name = if name.starts_with('/') {
            name.to_string()
        } else {
            format!("/{name}")
        };
        return Some(format!("{name} {args}").trim().to_string());
    }
    if is_wrapped_block(text) || text.starts_with("[Request interrupted by user") {
        return None;
    }
    Some(text.to_string())
}

fn between<'a>(text: &'a str, open: &str, close: &str) -> Option<&'a str> {
    let start = text.find(open)? + open.len();
    let end = text[start..].find(close)? + start;
    Some(text[start..end].trim())
}
