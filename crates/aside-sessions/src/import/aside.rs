//! An aside session's own history: its stored events.

use super::{Conversation, Format, Turns};
use aside_core::Event;
use serde_json::Value;

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
                self.turns.tool(super::one_line(title));
            }
            _ => {}
        }
    }

    fn finish(mut self) -> Conversation {
        self.turns.assistant(&self.text);
        self.turns.done(Format::Aside, None)
    }
}

/// Whether a JSON value is one of aside's stored events.
pub(super) fn is_event(value: &Value) -> bool {
    value.get("seq").is_some()
        && value.get("kind").is_some_and(Value::is_string)
        && value.get("data").is_some()
}

/// aside's events as JSON values (lines of a file, or an array); others are skipped.
pub(super) fn read_lines(lines: &[Value]) -> Conversation {
    let events: Vec<Event> = lines
        .iter()
        .filter(|v| is_event(v))
        .filter_map(|v| serde_json::from_value(v.clone()).ok())
        .collect();
    from_aside_events(&events)
}
