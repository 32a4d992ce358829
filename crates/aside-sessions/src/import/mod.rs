//! Saved conversations from elsewhere, read into one shape: the reading half of
//! `aside new --from-chat SOURCE [task…]`.
//!
//! [`read`] takes a file's bytes (and its name, as a hint and for messages), recognises the
//! format from the content and returns the [`Conversation`]: user and assistant turns, each
//! assistant turn with one brief line per tool call. [`from_aside_events`] does the same for an
//! aside session's own history. Every reader is lenient: lines and fields it does not know are
//! skipped, so a tool's next version that adds a field still reads.
//!
//! Formats (the details are in `shared/reference/session-formats.md`):
//! - a VS Code chat export ("Chat: Export Chat…", one JSON object with `requests[]`; old and new
//!   shapes);
//! - a VS Code chat session file (`chatSessions/<id>.json`, version 3, or the newer
//!   `<id>.jsonl` mutation log, replayed in order);
//! - a Markdown transcript: headings `#` to `###` reading `User` or `Assistant` (any case, an
//!   optional trailing colon); a `#` heading before the first of them is the title;
//! - a Copilot CLI `events.jsonl`;
//! - a Codex rollout `.jsonl` (environment context, developer and instruction blocks skipped);
//! - a Claude Code session `.jsonl` (meta and sidechain lines, tool results skipped; a slash
//!   command shows as the user typed it);
//! - aside's own events as JSON lines (`{seq, ts, kind, data}`).
//!
//! [`Conversation::handoff_prompt`] writes a conversation as the first prompt of a new session,
//! in the template documented there.

mod aside;
mod claude;
mod codex;
mod copilot;
mod markdown;
mod vscode;

pub use aside_protocol::handoff::{
    from_aside_events, from_aside_log, one_line, Conversation, Format, Role, Turn, Turns,
};

use serde_json::Value;

/// The formats `read` accepts (and an aside session id), as error messages list them.
pub const ACCEPTED: &str = "Accepted: a VS Code chat export (.json), a VS Code chat session \
     (.json/.jsonl), a Markdown transcript with ## User / ## Assistant headings, a Copilot CLI \
     events.jsonl, a Codex rollout .jsonl, a Claude Code session .jsonl, or an aside session id.";

/// Why a file could not be read as a conversation. The message names the file, says what was
/// wrong and lists the formats accepted.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ImportError {
    /// Not a format aside knows, or broken.
    #[error("cannot read {name} as a conversation: {why}. {ACCEPTED}")]
    Unreadable {
        /// The file's name (or "the input").
        name: String,
        /// What was wrong.
        why: String,
    },
    /// A known format, but no message from the user in it.
    #[error("cannot read {name} as a conversation: it is {format} with no message from the user. {ACCEPTED}")]
    Empty {
        /// The file's name (or "the input").
        name: String,
        /// What it was read as.
        format: Format,
    },
}

/// Reads a saved conversation, recognising its format from the content; `name_hint` (the file's
/// name or path) names the file in errors, and a `.md` name is tried as Markdown first.
///
/// An unknown or broken file, and a conversation without a user turn, are [`ImportError`]s.
pub fn read(bytes: &[u8], name_hint: Option<&str>) -> Result<Conversation, ImportError> {
    let name = name_hint.unwrap_or("the input").to_string();
    let unreadable = |why: String| ImportError::Unreadable {
        name: name.clone(),
        why,
    };
    let text = std::str::from_utf8(bytes)
        .map_err(|_| unreadable("it is not UTF-8 text".into()))?
        .trim_start_matches('\u{feff}');
    if text.trim().is_empty() {
        return Err(unreadable("it is empty".into()));
    }
    let markdown_name = name_hint.is_some_and(|n| {
        let n = n.to_ascii_lowercase();
        n.ends_with(".md") || n.ends_with(".markdown")
    });
    let conversation = if markdown_name {
        // A `.md` file is Markdown unless its content says otherwise.
        match markdown::read(text) {
            Some(conversation) => conversation,
            None => detect(text).map_err(|_| unreadable(markdown::MISSING.into()))?,
        }
    } else {
        detect(text).map_err(unreadable)?
    };
    if conversation.turns.iter().any(|t| t.role == Role::User) {
        Ok(conversation)
    } else {
        Err(ImportError::Empty {
            name,
            format: conversation.source,
        })
    }
}

/// Reads the JSON lines of a tool whose format is known (an agent's own session file), however
/// broken: lines that are not JSON (a line being written, a torn last line, bytes that are not
/// UTF-8) are skipped and counted, never fatal.
pub fn read_tool_lines(bytes: &[u8], format: Format) -> (Conversation, usize) {
    let mut skipped = 0;
    let lines: Vec<Value> = bytes
        .split(|b| *b == b'\n')
        .filter(|l| !l.iter().all(u8::is_ascii_whitespace))
        .filter_map(|l| match serde_json::from_slice::<Value>(l) {
            Ok(v) if v.is_object() => Some(v),
            _ => {
                skipped += 1;
                None
            }
        })
        .collect();
    let conversation = match format {
        Format::CopilotCli => copilot::read(&lines),
        Format::Codex => codex::read(&lines),
        Format::ClaudeCode => claude::read(&lines),
        Format::Aside => aside::read_lines(&lines),
        _ => Conversation {
            source: format,
            title: None,
            turns: Vec::new(),
        },
    };
    (conversation, skipped)
}

/// Recognises the format from the content and reads it.
fn detect(text: &str) -> Result<Conversation, String> {
    let trimmed = text.trim_start();
    if trimmed.starts_with('{') || trimmed.starts_with('[') {
        match serde_json::from_str::<Value>(text) {
            Ok(value) => return read_json(&value),
            Err(whole) => {
                let lines = json_lines(text);
                if lines.is_empty() {
                    return Err(format!("it is not valid JSON ({whole})"));
                }
                return read_json_lines(&lines).map_err(|_| {
                    format!(
                        "it is neither valid JSON ({whole}) nor JSON lines from a tool aside knows"
                    )
                });
            }
        }
    }
    markdown::read(text).ok_or_else(|| {
        "it is neither JSON, JSON lines nor a Markdown transcript with User / Assistant \
         headings"
            .to_string()
    })
}

/// One JSON document: a VS Code export or session, or aside's events as an array.
fn read_json(value: &Value) -> Result<Conversation, String> {
    if value.get("requests").is_some_and(Value::is_array) {
        return Ok(vscode::read(value));
    }
    if let Some(items) = value.as_array() {
        if items.first().is_some_and(aside::is_event) {
            return Ok(aside::read_lines(items));
        }
        // One JSON line in a file of one line.
        return read_json_lines(items);
    }
    if looks_like_line(value).is_some() {
        return read_json_lines(std::slice::from_ref(value));
    }
    Err("it is JSON, but not a chat export or a session (no `requests` list)".into())
}

/// The lines of a JSON lines file that parse; the rest are skipped.
fn json_lines(text: &str) -> Vec<Value> {
    text.lines()
        .filter(|l| !l.trim().is_empty())
        .filter_map(|l| serde_json::from_str::<Value>(l).ok())
        .filter(Value::is_object)
        .collect()
}

/// Which tool writes lines like this one.
fn looks_like_line(line: &Value) -> Option<Format> {
    let kind = line.get("kind");
    if kind.and_then(Value::as_u64).is_some_and(|k| k <= 3)
        && (line.get("v").is_some() || line.get("k").is_some())
    {
        return Some(Format::VsCodeSession);
    }
    if kind.is_some_and(Value::is_string) && line.get("seq").is_some() && line.get("data").is_some()
    {
        return Some(Format::Aside);
    }
    let ty = line.get("type").and_then(Value::as_str).unwrap_or_default();
    if line.get("payload").is_some()
        && matches!(
            ty,
            "session_meta" | "response_item" | "event_msg" | "turn_context" | "compacted"
        )
    {
        return Some(Format::Codex);
    }
    if ty.contains('.') && line.get("data").is_some_and(Value::is_object) {
        return Some(Format::CopilotCli);
    }
    if matches!(ty, "user" | "assistant") && line.get("message").is_some_and(Value::is_object) {
        return Some(Format::ClaudeCode);
    }
    None
}

/// JSON lines: the first line a tool is recognised by decides.
fn read_json_lines(lines: &[Value]) -> Result<Conversation, String> {
    match lines.iter().find_map(looks_like_line) {
        Some(Format::VsCodeSession) => vscode::read_log(lines).map(|v| vscode::read(&v)),
        Some(Format::Aside) => Ok(aside::read_lines(lines)),
        Some(Format::Codex) => Ok(codex::read(lines)),
        Some(Format::CopilotCli) => Ok(copilot::read(lines)),
        Some(Format::ClaudeCode) => Ok(claude::read(lines)),
        _ => Err("it is JSON lines, but not from a tool aside knows".into()),
    }
}

/// The brief line for one tool call: ``ran `cmd` `` for a command, else the tool's own title,
/// else its name and what it worked on (a path, a pattern, …).
fn tool_line(name: &str, args: &Value, title: Option<&str>) -> String {
    if let Some(cmd) = command_of(name, args) {
        return ran(&cmd);
    }
    if let Some(title) = title.map(str::trim).filter(|t| !t.is_empty()) {
        return one_line(title);
    }
    let subject = [
        "file_path",
        "path",
        "filePath",
        "pattern",
        "query",
        "url",
        "description",
    ]
    .iter()
    .find_map(|k| args.get(*k).and_then(Value::as_str))
    .map(str::trim)
    .filter(|s| !s.is_empty());
    match subject {
        Some(s) => one_line(&format!("{name} {s}")),
        None => one_line(name),
    }
}

/// ``ran `cmd` `` on one line.
fn ran(cmd: &str) -> String {
    format!("ran `{}`", one_line(cmd))
}

/// The command line a shell tool ran, if this is one.
fn command_of(name: &str, args: &Value) -> Option<String> {
    const SHELLS: [&str; 10] = [
        "bash",
        "shell",
        "exec_command",
        "shell_command",
        "local_shell",
        "run_in_terminal",
        "powershell",
        "execute",
        "run_terminal_cmd",
        "container.exec",
    ];
    let lower = name.to_ascii_lowercase();
    if !SHELLS.contains(&lower.as_str()) {
        return None;
    }
    let cmd = args.get("command").or_else(|| args.get("cmd"))?;
    match cmd {
        Value::String(s) => Some(s.clone()),
        Value::Array(parts) => {
            let parts: Vec<&str> = parts.iter().filter_map(Value::as_str).collect();
            // ["bash", "-lc", "ls"]: the script is what was meant.
            match parts.as_slice() {
                [shell, flag, script]
                    if is_shell(shell) && flag.starts_with('-') && flag.ends_with('c') =>
                {
                    Some(script.to_string())
                }
                _ => Some(parts.join(" ")),
            }
        }
        _ => None,
    }
}

fn is_shell(program: &str) -> bool {
    let base = program.rsplit('/').next().unwrap_or(program);
    matches!(
        base,
        "bash" | "sh" | "zsh" | "dash" | "fish" | "pwsh" | "powershell"
    )
}

/// A user text that is entirely one `<tag>…</tag>` block the tool added (environment context,
/// instructions, reminders), not the person's words.
fn is_wrapped_block(text: &str) -> bool {
    let text = text.trim();
    let Some(rest) = text.strip_prefix('<') else {
        return false;
    };
    let tag: String = rest
        .chars()
        .take_while(|c| c.is_ascii_alphanumeric() || *c == '_' || *c == '-')
        .collect();
    !tag.is_empty() && text.ends_with(&format!("</{tag}>"))
}

/// The string of a JSON value that is a string or an object with a string `value` (VS Code's
/// markdown strings).
fn text_or_value(value: &Value) -> Option<&str> {
    value
        .as_str()
        .or_else(|| value.get("value").and_then(Value::as_str))
}
