//! A Markdown transcript: headings `#` to `###` that read `User` or `Assistant` (any case, an
//! optional trailing colon) start the turns; the text under each heading is the turn's. A `#`
//! heading before the first turn is the title. Headings inside fenced code blocks don't count.

use super::{Conversation, Format, Role, Turns};

/// What is missing when a Markdown file has no turns.
pub(super) const MISSING: &str = "it has no `## User` / `## Assistant` headings";

/// The transcript, or `None` when no heading starts a turn.
pub(super) fn read(text: &str) -> Option<Conversation> {
    let mut turns = Turns::default();
    let mut title = None;
    let mut current: Option<(Role, Vec<&str>)> = None;
    let mut fence: Option<&str> = None;
    let mut seen = false;
    for line in text.lines() {
        let trimmed = line.trim_start();
        if let Some(open) = fence {
            if trimmed.starts_with(open) {
                fence = None;
            }
        } else if trimmed.starts_with("```") || trimmed.starts_with("~~~") {
            fence = Some(&trimmed[..3]);
        } else if let Some(role) = role_heading(line) {
            flush(&mut turns, current.take());
            current = Some((role, Vec::new()));
            seen = true;
            continue;
        } else if !seen && title.is_none() {
            if let Some(heading) = line.strip_prefix("# ") {
                title = Some(heading.trim().to_string());
                continue;
            }
        }
        if let Some((_, lines)) = current.as_mut() {
            lines.push(line);
        }
    }
    flush(&mut turns, current);
    seen.then(|| turns.done(Format::Markdown, title))
}

fn flush(turns: &mut Turns, current: Option<(Role, Vec<&str>)>) {
    if let Some((role, lines)) = current {
        let text = lines.join("\n");
        match role {
            Role::User => turns.user(&text),
            Role::Assistant => turns.assistant(&text),
        }
    }
}

/// The role a heading line names: `## User`, `### assistant:`, `# USER`.
fn role_heading(line: &str) -> Option<Role> {
    let hashes = line.chars().take_while(|c| *c == '#').count();
    if !(1..=3).contains(&hashes) {
        return None;
    }
    let rest = &line[hashes..];
    if !rest.starts_with(char::is_whitespace) {
        return None;
    }
    let word = rest
        .trim()
        .trim_end_matches(':')
        .trim_end()
        .to_ascii_lowercase();
    match word.as_str() {
        "user" => Some(Role::User),
        "assistant" => Some(Role::Assistant),
        _ => None,
    }
}
