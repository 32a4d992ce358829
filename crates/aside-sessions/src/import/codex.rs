//! Codex: `sessions/YYYY/MM/DD/rollout-…-<id>.jsonl`, lines `{timestamp, type, payload}`. The
//! conversation is in the `response_item`s: messages with role user / assistant (developer and
//! system messages, and the user-role blocks Codex adds itself — `<environment_context>`,
//! instructions — are skipped), and the calls: `function_call`, `custom_tool_call`,
//! `local_shell_call`, `web_search_call`. `event_msg` lines repeat the same turns and are skipped.

use super::{is_wrapped_block, one_line, tool_line, Conversation, Format, Turns};
use serde_json::Value;

pub(super) fn read(lines: &[Value]) -> Conversation {
    let mut turns = Turns::default();
    for line in lines {
        if line.get("type").and_then(Value::as_str) != Some("response_item") {
            continue;
        }
        let Some(item) = line.get("payload") else {
            continue;
        };
        let str_of = |key: &str| item.get(key).and_then(Value::as_str);
        match str_of("type").unwrap_or_default() {
            "message" => {
                let parts = item
                    .get("content")
                    .and_then(Value::as_array)
                    .map(Vec::as_slice)
                    .unwrap_or_default();
                match str_of("role").unwrap_or_default() {
                    "user" => {
                        let texts: Vec<&str> = texts(parts, "input_text")
                            .filter(|t| !is_context(t))
                            .collect();
                        turns.user(&texts.join("\n\n"));
                    }
                    "assistant" => {
                        for text in texts(parts, "output_text") {
                            turns.assistant(text);
                        }
                    }
                    _ => {}
                }
            }
            "function_call" => {
                let name = str_of("name").unwrap_or("tool");
                let args = str_of("arguments")
                    .and_then(|a| serde_json::from_str::<Value>(a).ok())
                    .unwrap_or_default();
                turns.tool(tool_line(name, &args, None));
            }
            "custom_tool_call" => {
                let name = str_of("name").unwrap_or("tool");
                let input = str_of("input").unwrap_or_default();
                let files = patched_files(input);
                turns.tool(if files.is_empty() {
                    one_line(name)
                } else {
                    one_line(&format!("edited {}", files.join(", ")))
                });
            }
            "local_shell_call" => {
                let line = match item.pointer("/action/command") {
                    Some(cmd) => {
                        tool_line("local_shell", &serde_json::json!({ "command": cmd }), None)
                    }
                    None => "local_shell".to_string(),
                };
                turns.tool(line);
            }
            "web_search_call" => {
                let query = item
                    .pointer("/action/query")
                    .and_then(Value::as_str)
                    .unwrap_or_default();
                turns.tool(one_line(&format!("web search {query}")));
            }
            _ => {}
        }
    }
    turns.done(Format::Codex, None)
}

/// The texts of a message's parts of one type.
fn texts<'a>(parts: &'a [Value], ty: &'a str) -> impl Iterator<Item = &'a str> + 'a {
    parts
        .iter()
        .filter(move |p| p.get("type").and_then(Value::as_str) == Some(ty))
        .filter_map(|p| p.get("text").and_then(Value::as_str))
}

/// A user-role block Codex writes itself: environment context, AGENTS.md and other
/// instructions, a turn-aborted marker.
fn is_context(text: &str) -> bool {
    let text = text.trim_start();
    is_wrapped_block(text)
        || text.starts_with("# AGENTS.md instructions")
        || text.starts_with("<environment_context>")
}

/// The files an `apply_patch` input touches (`*** Add File: path`, `*** Update File: …`,
/// `*** Delete File: …`).
fn patched_files(patch: &str) -> Vec<String> {
    patch
        .lines()
        .filter_map(|l| {
            ["*** Add File: ", "*** Update File: ", "*** Delete File: "]
                .iter()
                .find_map(|p| l.strip_prefix(p))
        })
        .map(|p| p.trim().to_string())
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_patch_names_its_files() {
        let patch = "*** Begin Patch\n*** Update File: src/a.rs\n@@\n-x\n+y\n*** Add File: b.txt\n+hi\n*** End Patch";
        assert_eq!(patched_files(patch), ["src/a.rs", "b.txt"]);
    }
}
