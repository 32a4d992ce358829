//! Tool calls and content described for people: what a call asks to do, read from its input
//! and content rather than from the title the model chose. Shared by every text view (the CLI,
//! the terminal view). The text is the agent's, untrusted: views print it as text.

use crate::events::acp::{ContentBlock, ToolCallContent, ToolCallUpdate};
use serde_json::Value;

/// The text of a content block (other kinds are named, not shown).
pub fn block_text(block: &ContentBlock) -> String {
    match block {
        ContentBlock::Text(text) => text.text.clone(),
        ContentBlock::Image(_) => "(image)".to_string(),
        ContentBlock::Audio(_) => "(audio)".to_string(),
        ContentBlock::ResourceLink(link) => format!("(link: {})", link.uri),
        ContentBlock::Resource(_) => "(embedded resource)".to_string(),
        _ => String::new(),
    }
}

/// What a tool call asks to do, from its `rawInput`, content and locations rather than the title
/// the model chose: the full command line of a shell tool, the path and the changed lines of an
/// edit, the paths it touches. Untrusted text: printed as text, never interpreted.
pub fn action_lines(call: &ToolCallUpdate) -> Vec<String> {
    let mut out = Vec::new();
    let input = call.fields.raw_input.clone().unwrap_or(Value::Null);
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
    for item in call.fields.content.iter().flatten() {
        match item {
            ToolCallContent::Diff(diff) => {
                let path = diff.path.display().to_string();
                out.push(match &diff.old_text {
                    None => format!("create {path}"),
                    Some(_) if diff.new_text.is_empty() => format!("empty {path}"),
                    Some(_) => format!("edit {path}"),
                });
                out.extend(changed_lines(
                    diff.old_text.as_deref().unwrap_or_default(),
                    &diff.new_text,
                    20,
                ));
                shown_paths.push(path);
            }
            ToolCallContent::Content(c) => {
                out.extend(block_text(&c.content).lines().take(5).map(str::to_string));
            }
            _ => {}
        }
    }
    for location in call.fields.locations.iter().flatten() {
        let path = location.path.display().to_string();
        if !shown_paths.contains(&path) {
            match location.line {
                Some(line) => out.push(format!("at {path}:{line}")),
                None => out.push(format!("at {path}")),
            }
            shown_paths.push(path);
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

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn call(value: Value) -> ToolCallUpdate {
        let mut value = value;
        value["toolCallId"] = json!("t");
        serde_json::from_value(value).unwrap()
    }

    #[test]
    fn a_permission_shows_the_command_not_only_the_title() {
        let call_json = json!({"title": "create file", "kind": "execute",
            "rawInput": {"command": "rm -rf build/ && echo done", "description": "clean"}});
        assert_eq!(
            action_lines(&call(call_json)),
            ["$ rm -rf build/ && echo done"]
        );
        let argv = json!({"rawInput": {"command": ["bash", "-lc", "rm -rf /tmp/x"], "cwd": "/w"}});
        assert_eq!(
            action_lines(&call(argv)),
            ["$ bash -lc 'rm -rf /tmp/x'", "  (in /w)"]
        );
    }

    #[test]
    fn a_permission_shows_the_path_and_changed_lines_of_an_edit() {
        let call_json = json!({"title": "edit", "kind": "edit",
            "content": [{"type": "diff", "path": "/w/a.txt", "oldText": "one\ntwo\nthree\n", "newText": "one\nTWO\nthree\n"}],
            "locations": [{"path": "/w/a.txt"}, {"path": "/w/b.txt", "line": 3}]});
        assert_eq!(
            action_lines(&call(call_json)),
            ["edit /w/a.txt", "- two", "+ TWO", "at /w/b.txt:3"]
        );
        let create = json!({"content": [{"type": "diff", "path": "n.txt", "newText": "x"}]});
        assert_eq!(action_lines(&call(create)), ["create n.txt", "+ x"]);
    }

    #[test]
    fn an_unknown_tool_shows_its_input() {
        let call_json = json!({"title": "t", "rawInput": {"url": "http://x"}});
        assert_eq!(
            action_lines(&call(call_json)),
            [r#"input: {"url":"http://x"}"#]
        );
        assert!(action_lines(&call(json!({"title": "t"}))).is_empty());
    }
}
