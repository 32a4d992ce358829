//! A conversation in one shape, whoever held it (an aside session, or a file another tool
//! saved): user and assistant turns, each assistant turn with one brief line per tool call; and
//! the one way aside hands a conversation to an agent that cannot load it as its own history
//! ([`Conversation::handoff_prompt`]). The host seeds a new agent session with it; `aside new
//! --from-chat`, a fork and a hand-off from `aside chat` write it for the session they make.
//! Reading other tools' files into a [`Conversation`] is `aside_sessions::import`'s.

use aside_core::Event;
use serde_json::Value;

/// How long a hand-off prompt may be, in characters (the newest turns that fit are kept).
pub const LIMIT_CHARS: usize = 40_000;

/// What precedes the first prompt of a plan whose agent has no plan mode (aside's own plans,
/// and a plan-first session an AHP client starts).
pub const PLAN_ONLY: &str = "(aside: plan only. Explore what you need, then answer with a numbered, step-by-step plan for the task below. Do not change any file and do not run commands that change anything.)";

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

/// Builds the turns in order: assistant text and tool lines join the assistant turn in progress.
#[derive(Default)]
pub struct Turns {
    turns: Vec<Turn>,
}

impl Turns {
    /// A message from the user starts a new turn.
    pub fn user(&mut self, text: &str) {
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
    pub fn assistant(&mut self, text: &str) {
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
    pub fn tool(&mut self, line: String) {
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

    pub fn done(self, source: Format, title: Option<String>) -> Conversation {
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

/// Text on one line (newlines become spaces), at most 200 characters.
pub fn one_line(text: &str) -> String {
    let joined = text.split_whitespace().collect::<Vec<_>>().join(" ");
    if joined.chars().count() > 200 {
        let cut: String = joined.chars().take(199).collect();
        format!("{cut}…")
    } else {
        joined
    }
}

/// An aside session's conversation from its events: each `prompt` (`data.text`; aside's own
/// continuation prompts, `data.resumed`, are skipped) is a user turn; the `agent_message_chunk`
/// texts (`data.content.text`) that follow are joined into the assistant's turn (a tool call or
/// a continuation starts a new paragraph), and each `tool_call` adds its title as a tool line.
/// Other events are skipped.
pub fn from_aside_events(events: &[Event]) -> Conversation {
    let mut reader = Reader::default();
    for event in events {
        reader.feed(event);
    }
    reader.finish()
}

/// [`from_aside_events`] of a session's whole log, read one event at a time (what it keeps is
/// the conversation's text, not the events).
pub fn from_aside_log(
    log: &aside_store::EventLog,
) -> Result<Conversation, aside_store::StoreError> {
    let mut reader = Reader::default();
    log.each_since(0, |event| {
        reader.feed(&event);
        true
    })?;
    Ok(reader.finish())
}

/// A conversation being read from aside's events.
#[derive(Default)]
struct Reader {
    turns: Turns,
    // Chunks are pieces of one message: joined as they are, then added as one block when a
    // tool call or the next prompt ends it.
    text: String,
}

impl Reader {
    fn feed(&mut self, event: &Event) {
        let data = &event.data;
        match event.kind.as_str() {
            "prompt" => {
                self.turns.assistant(&std::mem::take(&mut self.text));
                if data.get("resumed").and_then(Value::as_bool) == Some(true) {
                    return;
                }
                self.turns
                    .user(data.get("text").and_then(Value::as_str).unwrap_or_default());
            }
            "agent_message_chunk" => {
                if let Some(chunk) = data.pointer("/content/text").and_then(Value::as_str) {
                    self.text.push_str(chunk);
                }
            }
            "tool_call" => {
                self.turns.assistant(&std::mem::take(&mut self.text));
                let title = data
                    .get("title")
                    .and_then(Value::as_str)
                    .unwrap_or("tool call");
                self.turns.tool(one_line(title));
            }
            _ => {}
        }
    }

    fn finish(mut self) -> Conversation {
        self.turns.assistant(&self.text);
        self.turns.done(Format::Aside, None)
    }
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
