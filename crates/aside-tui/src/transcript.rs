//! A session's conversation for the terminal, built event by event: prompts, the agent's text
//! (Markdown, a small subset, rendered for the terminal), tool calls (one line, expandable to
//! the real command, diff and output), the plan as a checklist, permission requests.
//!
//! Lines are wrapped here, at the view's width, and kept: a new event re-renders only the
//! blocks it changed (the last ones, almost always), so a session of 100,000 events opens once
//! and then scrolls by slicing. Agent text is untrusted: control characters (terminal escape
//! sequences among them) are replaced before anything reaches the screen.

use aside_core::Event;
use aside_protocol::conversation::{as_update, Block, Conversation, Note};
use aside_protocol::events::acp::{
    ContentBlock, PlanEntryStatus, ToolCallContent, ToolCallStatus, ToolCallUpdate,
};
use aside_protocol::events::name_of;
use ratatui::style::Style;
use ratatui::text::{Line, Span};
use unicode_width::UnicodeWidthChar;

use crate::theme::Theme;

/// The conversation so far (`aside_protocol::conversation`, the one reducer every view
/// renders), and its lines at one width.
#[derive(Default)]
pub struct Transcript {
    conversation: Conversation,
    /// Said before the conversation: how many earlier events are not shown.
    lead: Option<String>,
    /// Rendered lines (the lead's first), and where each block's lines start.
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

    /// The newest stored event taken.
    pub fn last_seq(&self) -> u64 {
        self.conversation.last_seq()
    }

    /// Starts the transcript after `seq`: the events before it are not shown (a long session
    /// opens at its end), and a note says how many there are.
    pub fn start_after(&mut self, seq: u64, note: String) {
        if seq > self.conversation.last_seq() {
            self.conversation.start_after(seq);
            self.lead = Some(note);
            self.dirty_from = 0;
            self.lines.clear();
            self.starts.clear();
        }
    }

    /// Takes one event into the conversation.
    pub fn push(&mut self, e: &Event) {
        self.conversation.push(e);
        self.dirty_from = self.dirty_from.min(self.conversation.take_changed());
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
        let blocks = self.conversation.blocks().len();
        if self.dirty_from == 0 {
            self.lines.clear();
            self.starts.clear();
            if let Some(lead) = &self.lead {
                let lead = self.note(lead, false);
                self.lines.extend(lead);
            }
        }
        if self.dirty_from < blocks {
            let from = self.dirty_from;
            let keep = self.starts.get(from).copied().unwrap_or(self.lines.len());
            self.lines.truncate(keep);
            self.starts.truncate(from);
            for n in from..blocks {
                self.starts.push(self.lines.len());
                let rendered = self.render(&self.conversation.blocks()[n]);
                self.lines.extend(rendered);
            }
        }
        self.dirty_from = blocks;
        &self.lines
    }

    /// A note's lines: dim, or in the color of trouble.
    fn note(&self, text: &str, bad: bool) -> Vec<Line<'static>> {
        let t = &self.theme;
        wrap(&clean(text), usize::from(self.width.max(20)))
            .into_iter()
            .map(|line| Line::from(Span::styled(line, if bad { t.bad } else { t.dim })))
            .collect()
    }

    /// A block's lines.
    fn render(&self, block: &Block) -> Vec<Line<'static>> {
        let t = &self.theme;
        let width = usize::from(self.width.max(20));
        let note = |text: &str, bad: bool| self.note(text, bad);
        let mut out = Vec::new();
        match block {
            Block::Prompt(prompt) => {
                out.push(Line::default());
                for (n, line) in wrap(&clean(&prompt.text), width - 2)
                    .into_iter()
                    .enumerate()
                {
                    let mark = if n == 0 { "› " } else { "  " };
                    out.push(Line::from(vec![
                        Span::styled(mark, t.user),
                        Span::styled(line, t.user),
                    ]));
                }
            }
            Block::Message(text) => {
                out.push(Line::default());
                out.extend(markdown(&clean(text), width, t));
            }
            Block::Thought(text) => {
                let text = clean(text);
                let first = text.lines().find(|l| !l.trim().is_empty()).unwrap_or("");
                out.push(Line::from(Span::styled(
                    truncate(&format!("thinking: {first}"), width),
                    t.dim,
                )));
            }
            Block::Tool(call) => out.extend(tool_lines(&as_update(call), self.expanded, width, t)),
            Block::Plan(plan) => {
                out.push(Line::from(Span::styled("Plan", t.bold)));
                for entry in &plan.entries {
                    let (mark, style) = match entry.status {
                        PlanEntryStatus::Completed => ("[x]", t.good),
                        PlanEntryStatus::InProgress => ("[~]", t.busy),
                        _ => ("[ ]", Style::default()),
                    };
                    for (n, line) in wrap(&clean(&entry.content), width - 6)
                        .into_iter()
                        .enumerate()
                    {
                        let mark = if n == 0 { mark } else { "   " };
                        out.push(Line::from(vec![
                            Span::styled(format!("  {mark} "), style),
                            Span::raw(line),
                        ]));
                    }
                }
            }
            Block::Asked { asked, answer } => {
                let call = &asked.tool_call;
                let title = call
                    .fields
                    .title
                    .clone()
                    .unwrap_or_else(|| "an action".into());
                let head = match answer {
                    None => format!(
                        "? permission asked: {} — a approve · A always · x deny",
                        clean(&title)
                    ),
                    Some(choice) => format!(
                        "? permission asked: {} — answered: {}",
                        clean(&title),
                        name_of(choice)
                    ),
                };
                out.push(Line::from(Span::styled(
                    truncate(&head, width),
                    if answer.is_none() { t.warn } else { t.dim },
                )));
                for line in aside_protocol::describe::action_lines(call) {
                    out.push(diff_styled(
                        &truncate(&format!("    {}", clean(&line)), width),
                        t,
                    ));
                }
            }
            Block::Note(Note::Interrupted(reason)) => out.extend(note(reason, true)),
            Block::Note(Note::Error(message)) => {
                out.extend(note(&format!("error: {message}"), true))
            }
            Block::Note(Note::Warning(message)) => {
                out.extend(note(&format!("warning: {message}"), true))
            }
            Block::Note(Note::Cancelled) => out.extend(note("turn cancelled", false)),
            Block::Note(Note::Checkpoint(c)) => out.extend(note(
                &format!(
                    "checkpoint {} · {} changed",
                    c.commit.chars().take(10).collect::<String>(),
                    match c.files.len() {
                        1 => "1 file".to_string(),
                        n => format!("{n} files"),
                    }
                ),
                false,
            )),
            // The policy's own answers, setup output and damaged rows are for `show` and `logs`.
            Block::Allowed(_) | Block::Note(_) => {}
        }
        out
    }
}

/// A tool call: one line (mark, title, what it ran or touched), and when expanded the command
/// or diff and the start of its output.
fn tool_lines(
    call: &ToolCallUpdate,
    expanded: bool,
    width: usize,
    t: &Theme,
) -> Vec<Line<'static>> {
    let (mark, style) = match call.fields.status {
        Some(ToolCallStatus::Completed) => ("✓", t.good),
        Some(ToolCallStatus::Failed) => ("✗", t.bad),
        Some(ToolCallStatus::InProgress) => ("…", t.busy),
        _ => ("·", t.dim),
    };
    let title = clean(call.fields.title.as_deref().unwrap_or("a tool call"));
    let actions = aside_protocol::describe::action_lines(call);
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
