//! A session's conversation for the terminal, built event by event: prompts, the agent's text
//! (Markdown, a small subset, rendered for the terminal), tool calls (one line, expandable to
//! the real command, diff and output), the plan as a checklist, permission requests.
//!
//! Lines are wrapped here, at the view's width, and kept: a new event re-renders only the
//! blocks it changed (the last ones, almost always), so a session of 100,000 events opens once
//! and then scrolls by slicing. Agent text is untrusted: control characters (terminal escape
//! sequences among them) are replaced before anything reaches the screen.

use aside_core::Event;
use aside_protocol::events::acp::{
    ContentBlock, PlanEntryStatus, SessionUpdate, ToolCallContent, ToolCallStatus, ToolCallUpdate,
};
use aside_protocol::events::{name_of, Body};
use ratatui::style::Style;
use ratatui::text::{Line, Span};
use serde_json::Value;
use std::collections::HashMap;
use unicode_width::UnicodeWidthChar;

use crate::theme::Theme;

/// One piece of the conversation.
#[derive(Debug, Clone)]
enum Block {
    User(String),
    Agent(String),
    Thought(String),
    Tool(Value),
    Plan(Vec<(PlanEntryStatus, String)>),
    Permission {
        call: Value,
        answered: Option<String>,
    },
    Note(String, bool),
}

/// The conversation so far, and its lines at one width.
#[derive(Default)]
pub struct Transcript {
    blocks: Vec<Block>,
    /// toolCallId → index of its block.
    tools: HashMap<String, usize>,
    /// The newest event taken.
    pub last_seq: u64,
    /// Rendered lines, and where each block's lines start.
    lines: Vec<Line<'static>>,
    starts: Vec<usize>,
    /// The first block whose lines are stale.
    dirty_from: usize,
    width: u16,
    expanded: bool,
    theme: Theme,
}

/// Text with control characters (escape sequences among them) and bidirectional overrides made
/// visible and harmless, as the CLI shows them (`aside_core::text::terminal_safe`).
pub fn clean(text: &str) -> String {
    aside_core::text::terminal_safe(text).replace('\t', " ")
}

impl Transcript {
    pub fn new(theme: Theme) -> Transcript {
        Transcript {
            theme,
            ..Transcript::default()
        }
    }

    fn touch(&mut self, block: usize) {
        self.dirty_from = self.dirty_from.min(block);
    }

    fn push_block(&mut self, block: Block) {
        self.blocks.push(block);
        self.touch(self.blocks.len() - 1);
    }

    /// Takes one event into the conversation.
    /// Starts the transcript after `seq`: the events before it are not shown (a long session
    /// opens at its end), and a note says how many there are.
    pub fn start_after(&mut self, seq: u64, note: String) {
        if seq > self.last_seq {
            self.last_seq = seq;
            self.push_block(Block::Note(note, false));
        }
    }

    pub fn push(&mut self, e: &Event) {
        if e.seq <= self.last_seq && e.seq != 0 {
            return;
        }
        self.last_seq = self.last_seq.max(e.seq);
        match Body::of(e) {
            Body::Update(update) => match *update {
                SessionUpdate::AgentMessageChunk(chunk) => self.text(chunk.content, false),
                SessionUpdate::AgentThoughtChunk(chunk) => self.text(chunk.content, true),
                SessionUpdate::ToolCall(_) | SessionUpdate::ToolCallUpdate(_) => self.tool(e),
                SessionUpdate::Plan(plan) => self.push_block(Block::Plan(
                    plan.entries
                        .into_iter()
                        .map(|entry| (entry.status, clean(&entry.content)))
                        .collect(),
                )),
                _ => {}
            },
            Body::Prompt(prompt) => self.push_block(Block::User(clean(&prompt.text))),
            Body::PermissionRequest(_) => self.push_block(Block::Permission {
                call: e.data["toolCall"].clone(),
                answered: None,
            }),
            Body::PermissionAnswer(answer) => {
                if let Some(n) = self
                    .blocks
                    .iter()
                    .rposition(|b| matches!(b, Block::Permission { answered: None, .. }))
                {
                    if let Block::Permission { answered, .. } = &mut self.blocks[n] {
                        *answered = Some(name_of(&answer.choice));
                    }
                    self.touch(n);
                }
            }
            Body::Interrupted { reason, .. } => self.push_block(Block::Note(clean(&reason), true)),
            Body::Error { message } => {
                self.push_block(Block::Note(format!("error: {}", clean(&message)), true))
            }
            Body::Other { kind, data } if kind == "warning" => self.push_block(Block::Note(
                format!(
                    "warning: {}",
                    clean(data["message"].as_str().unwrap_or_default())
                ),
                true,
            )),
            Body::TurnEnd(end)
                if end.stop_reason.as_ref().map(name_of).as_deref() == Some("cancelled") =>
            {
                self.push_block(Block::Note("turn cancelled".into(), false))
            }
            Body::Checkpoint(c) => self.push_block(Block::Note(
                format!(
                    "checkpoint {} · {} changed",
                    c.commit.chars().take(10).collect::<String>(),
                    match c.files.len() {
                        1 => "1 file".to_string(),
                        n => format!("{n} files"),
                    }
                ),
                false,
            )),
            _ => {}
        }
    }

    fn text(&mut self, content: ContentBlock, thought: bool) {
        let ContentBlock::Text(text) = content else {
            return;
        };
        let text = clean(&text.text);
        let last = self.blocks.len().wrapping_sub(1);
        match self.blocks.last_mut() {
            Some(Block::Agent(t)) if !thought => t.push_str(&text),
            Some(Block::Thought(t)) if thought => t.push_str(&text),
            _ => {
                self.push_block(if thought {
                    Block::Thought(text)
                } else {
                    Block::Agent(text)
                });
                return;
            }
        }
        self.touch(last);
    }

    fn tool(&mut self, e: &Event) {
        let Some(id) = e.data["toolCallId"].as_str() else {
            return;
        };
        match self.tools.get(id).copied() {
            Some(n) => {
                if let (Block::Tool(Value::Object(slot)), Some(fields)) =
                    (&mut self.blocks[n], e.data.as_object())
                {
                    for (k, v) in fields {
                        if !v.is_null() {
                            slot.insert(k.clone(), v.clone());
                        }
                    }
                }
                self.touch(n);
            }
            None => {
                self.tools.insert(id.to_string(), self.blocks.len());
                self.push_block(Block::Tool(e.data.clone()));
            }
        }
    }

    /// Shows every tool call's detail (the command, diff and output), or one line each.
    pub fn set_expanded(&mut self, expanded: bool) {
        if self.expanded != expanded {
            self.expanded = expanded;
            self.dirty_from = 0;
        }
    }

    pub fn expanded(&self) -> bool {
        self.expanded
    }

    /// The lines at `width`, re-rendering only what changed since the last call.
    pub fn lines(&mut self, width: u16) -> &[Line<'static>] {
        if width != self.width {
            self.width = width;
            self.dirty_from = 0;
        }
        if self.dirty_from < self.blocks.len() {
            let from = self.dirty_from;
            let keep = self.starts.get(from).copied().unwrap_or(self.lines.len());
            self.lines.truncate(keep);
            self.starts.truncate(from);
            for n in from..self.blocks.len() {
                self.starts.push(self.lines.len());
                let rendered = self.render(&self.blocks[n]);
                self.lines.extend(rendered);
            }
        }
        self.dirty_from = self.blocks.len();
        &self.lines
    }

    fn render(&self, block: &Block) -> Vec<Line<'static>> {
        let t = &self.theme;
        let width = usize::from(self.width.max(20));
        let mut out = Vec::new();
        match block {
            Block::User(text) => {
                out.push(Line::default());
                for (n, line) in wrap(text, width - 2).into_iter().enumerate() {
                    let mark = if n == 0 { "› " } else { "  " };
                    out.push(Line::from(vec![
                        Span::styled(mark, t.user),
                        Span::styled(line, t.user),
                    ]));
                }
            }
            Block::Agent(text) => {
                out.push(Line::default());
                out.extend(markdown(text, width, t));
            }
            Block::Thought(text) => {
                let first = text.lines().find(|l| !l.trim().is_empty()).unwrap_or("");
                out.push(Line::from(Span::styled(
                    truncate(&format!("thinking: {first}"), width),
                    t.dim,
                )));
            }
            Block::Tool(value) => out.extend(tool_lines(value, self.expanded, width, t)),
            Block::Plan(entries) => {
                out.push(Line::from(Span::styled("Plan", t.bold)));
                for (status, content) in entries {
                    let (mark, style) = match status {
                        PlanEntryStatus::Completed => ("[x]", t.good),
                        PlanEntryStatus::InProgress => ("[~]", t.busy),
                        _ => ("[ ]", Style::default()),
                    };
                    for (n, line) in wrap(content, width - 6).into_iter().enumerate() {
                        let mark = if n == 0 { mark } else { "   " };
                        out.push(Line::from(vec![
                            Span::styled(format!("  {mark} "), style),
                            Span::raw(line),
                        ]));
                    }
                }
            }
            Block::Permission { call, answered } => {
                let call = as_call(call);
                let title = call
                    .as_ref()
                    .and_then(|c| c.fields.title.clone())
                    .unwrap_or_else(|| "an action".into());
                let head = match answered {
                    None => format!(
                        "? permission asked: {} — a approve · A always · x deny",
                        clean(&title)
                    ),
                    Some(choice) => {
                        format!("? permission asked: {} — answered: {choice}", clean(&title))
                    }
                };
                out.push(Line::from(Span::styled(
                    truncate(&head, width),
                    if answered.is_none() { t.warn } else { t.dim },
                )));
                if let Some(call) = &call {
                    for line in aside_protocol::describe::action_lines(call) {
                        out.push(diff_styled(
                            &truncate(&format!("    {}", clean(&line)), width),
                            t,
                        ));
                    }
                }
            }
            Block::Note(text, bad) => {
                for line in wrap(text, width) {
                    out.push(Line::from(Span::styled(
                        line,
                        if *bad { t.bad } else { t.dim },
                    )));
                }
            }
        }
        out
    }
}

fn as_call(value: &Value) -> Option<ToolCallUpdate> {
    let mut value = value.clone();
    if value.get("toolCallId").is_none() {
        value["toolCallId"] = "?".into();
    }
    serde_json::from_value(value).ok()
}

/// A tool call: one line (mark, title, what it ran or touched), and when expanded the command
/// or diff and the start of its output.
fn tool_lines(value: &Value, expanded: bool, width: usize, t: &Theme) -> Vec<Line<'static>> {
    let Some(call) = as_call(value) else {
        return Vec::new();
    };
    let (mark, style) = match call.fields.status {
        Some(ToolCallStatus::Completed) => ("✓", t.good),
        Some(ToolCallStatus::Failed) => ("✗", t.bad),
        Some(ToolCallStatus::InProgress) => ("…", t.busy),
        _ => ("·", t.dim),
    };
    let title = clean(call.fields.title.as_deref().unwrap_or("a tool call"));
    let actions = aside_protocol::describe::action_lines(&call);
    let what = actions
        .iter()
        .find(|l| l.starts_with("$ ") || l.starts_with("edit ") || l.starts_with("create "))
        .map(|l| clean(l))
        .unwrap_or_default();
    // The title often says it already: "Edit src/cli.rs", "Run `ls`".
    let said = what
        .trim_start_matches("$ ")
        .trim_start_matches("edit ")
        .trim_start_matches("create ");
    let head = if what.is_empty() || title.contains(said) {
        title
    } else {
        format!("{title} · {what}")
    };
    let mut out = vec![Line::from(vec![
        Span::styled(format!("  {mark} "), style),
        Span::raw(truncate(&head, width.saturating_sub(4))),
    ])];
    if expanded {
        let output: Vec<String> = call
            .fields
            .content
            .iter()
            .flatten()
            .filter_map(|c| match c {
                ToolCallContent::Content(c) => match &c.content {
                    ContentBlock::Text(text) => Some(clean(&text.text)),
                    _ => None,
                },
                _ => None,
            })
            .collect();
        let output = output.join("\n");
        let lines: Vec<&str> = output.lines().collect();
        // What it ran or changed; its output follows, once.
        for line in actions.iter().filter(|l| !lines.contains(&l.as_str())) {
            out.push(diff_styled(
                &truncate(&format!("      {}", clean(line)), width),
                t,
            ));
        }
        for line in lines.iter().take(12) {
            out.push(Line::from(Span::styled(
                truncate(&format!("      │ {line}"), width),
                t.dim,
            )));
        }
        if lines.len() > 12 {
            out.push(Line::from(Span::styled(
                format!("      │ … {} more lines", lines.len() - 12),
                t.dim,
            )));
        }
    }
    out
}

/// A line of a diff or command, colored by its first character.
fn diff_styled(line: &str, t: &Theme) -> Line<'static> {
    let body = line.trim_start();
    let style = if body.starts_with("+ ") || body.starts_with('+') && !body.starts_with("+++") {
        t.add
    } else if body.starts_with("- ") || body.starts_with('-') && !body.starts_with("---") {
        t.del
    } else {
        Style::default()
    };
    Line::from(Span::styled(line.to_string(), style))
}

/// The display width of `s`.
pub fn width_of(s: &str) -> usize {
    s.chars().map(|c| c.width().unwrap_or(0)).sum()
}

/// `s` cut to `max` columns, with an ellipsis when cut.
pub fn truncate(s: &str, max: usize) -> String {
    if width_of(s) <= max {
        return s.to_string();
    }
    let mut out = String::new();
    let mut used = 0;
    for c in s.chars() {
        let w = c.width().unwrap_or(0);
        if used + w + 1 > max {
            break;
        }
        out.push(c);
        used += w;
    }
    out.push('…');
    out
}

/// `text` broken into lines of at most `width` columns, at spaces where it can.
pub fn wrap(text: &str, width: usize) -> Vec<String> {
    let width = width.max(8);
    let mut out = Vec::new();
    for line in text.split('\n') {
        let mut current = String::new();
        let mut used = 0;
        for word in line.split_inclusive(' ') {
            let w = width_of(word);
            if used + w > width && used > 0 {
                out.push(current.trim_end().to_string());
                current.clear();
                used = 0;
            }
            if w > width {
                // A word longer than the line: cut it.
                for c in word.chars() {
                    let cw = c.width().unwrap_or(0);
                    if used + cw > width {
                        out.push(std::mem::take(&mut current));
                        used = 0;
                    }
                    current.push(c);
                    used += cw;
                }
            } else {
                current.push_str(word);
                used += w;
            }
        }
        out.push(current.trim_end().to_string());
    }
    out
}

/// Markdown for the terminal: headings bold, list items with bullets, code blocks dim and
/// indented, `code` and **bold** spans styled. Anything else is text.
fn markdown(text: &str, width: usize, t: &Theme) -> Vec<Line<'static>> {
    let mut out = Vec::new();
    let mut in_code = false;
    for raw in text.trim_matches('\n').split('\n') {
        if raw.trim_start().starts_with("```") {
            in_code = !in_code;
            continue;
        }
        if in_code {
            out.push(Line::from(Span::styled(
                truncate(&format!("    {raw}"), width),
                t.code,
            )));
            continue;
        }
        let trimmed = raw.trim_start();
        let heading = trimmed.starts_with('#');
        let (prefix, body) = if heading {
            ("", trimmed.trim_start_matches('#').trim_start())
        } else if let Some(rest) = trimmed
            .strip_prefix("- ")
            .or_else(|| trimmed.strip_prefix("* "))
        {
            ("  • ", rest)
        } else {
            ("", raw)
        };
        let indent = " ".repeat(width_of(prefix));
        for (n, piece) in wrap(body, width - width_of(prefix)).into_iter().enumerate() {
            let mut spans = vec![Span::raw(if n == 0 {
                prefix.to_string()
            } else {
                indent.clone()
            })];
            if heading {
                spans.push(Span::styled(piece, t.bold));
            } else {
                spans.extend(inline(&piece, t));
            }
            out.push(Line::from(spans));
        }
    }
    out
}

/// `code` and **bold** spans of one line.
fn inline(line: &str, t: &Theme) -> Vec<Span<'static>> {
    let mut spans = Vec::new();
    let mut rest = line;
    loop {
        let next = [rest.find('`'), rest.find("**")]
            .into_iter()
            .flatten()
            .min();
        let Some(at) = next else {
            spans.push(Span::raw(rest.to_string()));
            return spans;
        };
        let (marker, style) = if rest[at..].starts_with("**") {
            ("**", t.bold)
        } else {
            ("`", t.code)
        };
        let after = &rest[at + marker.len()..];
        let Some(end) = after.find(marker) else {
            spans.push(Span::raw(rest.to_string()));
            return spans;
        };
        spans.push(Span::raw(rest[..at].to_string()));
        spans.push(Span::styled(after[..end].to_string(), style));
        rest = &after[end + marker.len()..];
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escape_sequences_in_agent_text_are_made_harmless() {
        assert_eq!(
            clean("red\x1b[31m\x07bell\nok\u{202e}"),
            "red␛[31m␇bell\nok<U+202E>"
        );
    }

    #[test]
    fn text_wraps_at_spaces_and_cuts_long_words() {
        assert_eq!(wrap("aaa bbb ccc", 8), ["aaa bbb", "ccc"]);
        assert_eq!(wrap("abcdefghijkl", 8), ["abcdefgh", "ijkl"]);
        assert_eq!(truncate("abcdefghij", 5), "abcd…");
    }
}
