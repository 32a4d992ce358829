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

pub use aside::{from_aside_events, from_aside_log};

use serde_json::Value;

/// Who spoke a turn.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    /// The person.
    User,
    /// The agent or chat model.
    Assistant,
}

/// One turn of a conversation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Turn {
    /// Who spoke.
    pub role: Role,
    /// What was said (Markdown as the tool stored it), trimmed.
    pub text: String,
    /// One brief line per tool call the assistant made in this turn: the tool's own title, or
    /// ``ran `cmd` `` for a command. Empty for user turns.
    pub tools: Vec<String>,
}

/// Where a conversation came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    /// VS Code's "Chat: Export Chat…" file.
    VsCodeExport,
    /// A VS Code chat session file (`.json` or the `.jsonl` mutation log).
    VsCodeSession,
    /// A Markdown transcript with User / Assistant headings.
    Markdown,
    /// A GitHub Copilot CLI `events.jsonl`.
    CopilotCli,
    /// A Codex rollout `.jsonl`.
    Codex,
    /// A Claude Code session `.jsonl`.
    ClaudeCode,
    /// An aside session's own history.
    Aside,
}

impl Format {
    /// The format in words, with its article: "a Codex session".
    pub fn describe(self) -> &'static str {
        match self {
            Format::VsCodeExport => "a VS Code chat export",
            Format::VsCodeSession => "a VS Code chat session",
            Format::Markdown => "a Markdown transcript",
            Format::CopilotCli => "a Copilot CLI session",
            Format::Codex => "a Codex session",
            Format::ClaudeCode => "a Claude Code session",
            Format::Aside => "an aside session",
        }
    }
}

impl std::fmt::Display for Format {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.describe())
    }
}

/// A conversation read from one of the [`Format`]s.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Conversation {
    /// Where it came from.
    pub source: Format,
    /// Its title, when the file names one.
    pub title: Option<String>,
    /// The turns, oldest first. Empty texts and empty assistant turns are left out.
    pub turns: Vec<Turn>,
}

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

/// Builds the turns in order: assistant text and tool lines join the assistant turn in progress.
#[derive(Default)]
struct Turns {
    turns: Vec<Turn>,
}

impl Turns {
    /// A message from the user starts a new turn.
    fn user(&mut self, text: &str) {
        let text = text.trim();
        if !text.is_empty() {
            self.turns.push(Turn {
                role: Role::User,
                text: text.to_string(),
                tools: Vec::new(),
            });
        }
    }

    /// A block of the assistant's text, after a blank line when the turn has text already.
    fn assistant(&mut self, text: &str) {
        let text = text.trim();
        if text.is_empty() {
            return;
        }
        let turn = self.assistant_turn();
        if !turn.text.is_empty() {
            turn.text.push_str("\n\n");
        }
        turn.text.push_str(text);
    }

    /// One tool call of the assistant's.
    fn tool(&mut self, line: String) {
        let line = line.trim();
        if !line.is_empty() {
            self.assistant_turn().tools.push(line.to_string());
        }
    }

    fn assistant_turn(&mut self) -> &mut Turn {
        if self.turns.last().is_none_or(|t| t.role != Role::Assistant) {
            self.turns.push(Turn {
                role: Role::Assistant,
                text: String::new(),
                tools: Vec::new(),
            });
        }
        let last = self.turns.len() - 1;
        &mut self.turns[last]
    }

    fn done(self, source: Format, title: Option<String>) -> Conversation {
        let title = title
            .map(|t| t.trim().to_string())
            .filter(|t| !t.is_empty());
        Conversation {
            source,
            title,
            turns: self.turns,
        }
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

/// Text on one line (newlines become spaces), at most 200 characters.
fn one_line(text: &str) -> String {
    let joined = text.split_whitespace().collect::<Vec<_>>().join(" ");
    if joined.chars().count() > 200 {
        let cut: String = joined.chars().take(199).collect();
        format!("{cut}…")
    } else {
        joined
    }
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

impl Conversation {
    /// The conversation as the first prompt of a new session, for agents that cannot load it as
    /// their own history. The template:
    ///
    /// ```text
    /// (aside: the following is the conversation so far, from <source>[ "<title>"]; continue the work from where it stopped.)
    /// [(aside: N earlier turns were left out to keep this short.)]
    ///
    /// User: <text>
    ///
    /// Assistant: <text>
    ///   [tool] <one line per tool call>
    ///
    /// User: <extra>            (or, with no extra instructions: Continue the task.)
    /// ```
    ///
    /// Turns are separated by a blank line; a turn's text keeps its own lines. `limit_chars`
    /// bounds the whole prompt in characters: the newest turns that fit whole are kept and the
    /// earlier ones left out (counted on the second line); no model is asked to summarise. When
    /// even the newest turn does not fit, only its end is kept, after its label and `…`. The
    /// preamble, the count and the closing line are always there, so a limit smaller than they
    /// are leaves no turns.
    pub fn handoff_prompt(&self, extra: Option<&str>, limit_chars: usize) -> String {
        let from = match &self.title {
            Some(title) => format!("{} \"{}\"", self.source.describe(), one_line(title)),
            None => self.source.describe().to_string(),
        };
        let preamble = format!(
            "(aside: the following is the conversation so far, from {from}; continue the work from where it stopped.)"
        );
        let closing = match extra.map(str::trim).filter(|e| !e.is_empty()) {
            Some(extra) => format!("User: {extra}"),
            None => "Continue the task.".to_string(),
        };
        let blocks: Vec<String> = self.turns.iter().map(render_turn).collect();
        let total: usize =
            blocks.iter().map(|b| b.chars().count()).sum::<usize>() + 2 * blocks.len();
        let fixed = preamble.chars().count() + 2 + closing.chars().count();
        let mut kept: Vec<String> = Vec::new();
        let mut left_out = 0;
        if fixed + total > limit_chars {
            // Room for the turns once the preamble, the count line and the closing are written
            // (the count is sized for its largest value).
            let note_len = left_out_note(self.turns.len()).chars().count() + 1;
            let mut room = limit_chars.saturating_sub(fixed + note_len);
            for block in blocks.iter().rev() {
                let len = block.chars().count() + 2;
                if len <= room {
                    room -= len;
                    kept.push(block.clone());
                } else {
                    if kept.is_empty() && room > 2 {
                        kept.push(tail_of(block, room - 2));
                    }
                    break;
                }
            }
            kept.reverse();
            left_out = blocks.len() - kept.len();
        } else {
            kept = blocks;
        }
        let mut out = preamble;
        if left_out > 0 {
            out.push('\n');
            out.push_str(&left_out_note(left_out));
        }
        for block in &kept {
            out.push_str("\n\n");
            out.push_str(block);
        }
        out.push_str("\n\n");
        out.push_str(&closing);
        out
    }
}

fn left_out_note(n: usize) -> String {
    let turns = if n == 1 { "turn was" } else { "turns were" };
    format!("(aside: {n} earlier {turns} left out to keep this short.)")
}

impl Conversation {
    /// The conversation as aside events (`kind`, `data`): a `prompt` per user turn, an
    /// `agent_message_chunk` per assistant text and a finished `tool_call` per tool line, so it
    /// shows (and is stored) like aside's own sessions.
    pub fn to_events(&self) -> Vec<(&'static str, Value)> {
        let mut events = Vec::new();
        let mut calls = 0;
        for turn in &self.turns {
            match turn.role {
                Role::User => events.push((
                    "prompt",
                    serde_json::json!({"text": turn.text, "resumed": false, "request": null}),
                )),
                Role::Assistant => {
                    for tool in &turn.tools {
                        calls += 1;
                        events.push((
                            "tool_call",
                            serde_json::json!({"sessionUpdate": "tool_call",
                                "toolCallId": format!("imported-{calls}"), "title": tool,
                                "kind": "other", "status": "completed"}),
                        ));
                    }
                    if !turn.text.is_empty() {
                        events.push((
                            "agent_message_chunk",
                            serde_json::json!({"sessionUpdate": "agent_message_chunk",
                                "content": {"type": "text", "text": turn.text}}),
                        ));
                    }
                }
            }
        }
        events
    }
}

/// `User: text` / `Assistant: text` with its tool lines below, indented.
fn render_turn(turn: &Turn) -> String {
    let label = match turn.role {
        Role::User => "User:",
        Role::Assistant => "Assistant:",
    };
    let mut out = if turn.text.is_empty() {
        label.to_string()
    } else {
        format!("{label} {}", turn.text)
    };
    for tool in &turn.tools {
        out.push_str("\n  [tool] ");
        out.push_str(tool);
    }
    out
}

/// The label of a rendered turn and the last characters of the rest, `max` characters in all.
fn tail_of(block: &str, max: usize) -> String {
    let (label, rest) = block.split_once(':').unwrap_or((block, ""));
    let rest = rest.strip_prefix(' ').unwrap_or(rest);
    let room = max.saturating_sub(label.chars().count() + 3);
    let count = rest.chars().count();
    let tail: String = rest.chars().skip(count.saturating_sub(room)).collect();
    format!("{label}: …{tail}")
}
