//! An aside session's own history: its stored events.

use super::{from_aside_events, Conversation};
use aside_core::Event;
use serde_json::Value;

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
