//! Answering the agent's permission requests: the session's policy, the user's choice, by the
//! options' ACP kind (never by position), and the whole tool call shown to the user.

use crate::protocol::Choice;
use agent_client_protocol::v1::schema::RequestPermissionResponse;
use aside_core::Approve;
use serde_json::{json, Value};
use std::collections::HashMap;

/// The option a permission request gets without asking, under the session's policy.
pub(crate) fn auto_answer(approve: Approve, request: &Value) -> Option<String> {
    let kind = request["toolCall"]["kind"].as_str().unwrap_or("other");
    let allowed = match approve {
        Approve::All => true,
        Approve::Edits => matches!(
            kind,
            "read" | "search" | "think" | "edit" | "delete" | "move"
        ),
        Approve::Ask => matches!(kind, "read" | "search" | "think"),
    };
    if allowed {
        choose(request, Choice::Allow)
    } else {
        None
    }
}

/// Merges a `tool_call` / `tool_call_update` into what is known of that tool call (ACP: fields an
/// update leaves out keep their value).
pub(crate) fn remember_tool_call(known: &mut HashMap<String, Value>, update: &Value) {
    let Some(id) = update["toolCallId"].as_str() else {
        return;
    };
    let merged = whole_tool_call(known, update);
    known.insert(id.to_string(), merged);
}

/// A tool call update filled in with what is known of that call.
pub(crate) fn whole_tool_call(known: &HashMap<String, Value>, update: &Value) -> Value {
    let id = update["toolCallId"].as_str().unwrap_or_default();
    let mut whole = known
        .get(id)
        .cloned()
        .unwrap_or_else(|| Value::Object(Default::default()));
    if let (Some(whole), Some(fields)) = (whole.as_object_mut(), update.as_object()) {
        for (key, value) in fields {
            if !value.is_null() && key != "sessionUpdate" {
                whole.insert(key.clone(), value.clone());
            }
        }
    }
    whole
}

/// The option of the wanted kind (falling back to its sibling), by kind, never by position.
pub(crate) fn choose(request: &Value, choice: Choice) -> Option<String> {
    let kinds: &[&str] = match choice {
        Choice::Allow => &["allow_once", "allow_always"],
        Choice::AllowAlways => &["allow_always", "allow_once"],
        Choice::Deny => &["reject_once", "reject_always"],
    };
    let options = request["options"].as_array()?;
    kinds.iter().find_map(|kind| {
        options
            .iter()
            .find(|o| o["kind"] == *kind)
            .and_then(|o| o["optionId"].as_str().map(str::to_string))
    })
}

pub(crate) fn selected(option: &str) -> RequestPermissionResponse {
    serde_json::from_value(json!({"outcome": {"outcome": "selected", "optionId": option}}))
        .unwrap_or_else(|_| cancelled_answer())
}

pub(crate) fn cancelled_answer() -> RequestPermissionResponse {
    RequestPermissionResponse::new(
        agent_client_protocol::v1::schema::RequestPermissionOutcome::Cancelled,
    )
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn a_permission_request_is_filled_in_from_its_tool_call() {
        let mut known = HashMap::new();
        remember_tool_call(
            &mut known,
            &json!({"sessionUpdate": "tool_call", "toolCallId": "t1", "title": "bash",
                "kind": "execute", "rawInput": {"command": "rm -rf build"}}),
        );
        remember_tool_call(
            &mut known,
            &json!({"sessionUpdate": "tool_call_update", "toolCallId": "t1", "status": "pending"}),
        );
        let whole = whole_tool_call(
            &known,
            &json!({"toolCallId": "t1", "title": "create file", "rawInput": null}),
        );
        assert_eq!(
            whole,
            json!({"toolCallId": "t1", "title": "create file", "kind": "execute",
                "status": "pending", "rawInput": {"command": "rm -rf build"}})
        );
        assert_eq!(
            whole_tool_call(&known, &json!({"toolCallId": "t2", "title": "x"})),
            json!({"toolCallId": "t2", "title": "x"})
        );
    }

    #[test]
    fn the_policy_allows_by_kind_and_picks_options_by_kind() {
        let request = |kind: &str| {
            json!({"toolCall": {"kind": kind}, "options": [
                {"optionId": "no", "kind": "reject_once", "name": "No"},
                {"optionId": "yes", "kind": "allow_once", "name": "Yes"},
                {"optionId": "always", "kind": "allow_always", "name": "Always"}]})
        };
        assert_eq!(
            auto_answer(Approve::All, &request("execute")).as_deref(),
            Some("yes")
        );
        assert_eq!(
            auto_answer(Approve::Edits, &request("edit")).as_deref(),
            Some("yes")
        );
        assert_eq!(auto_answer(Approve::Edits, &request("execute")), None);
        assert_eq!(auto_answer(Approve::Ask, &request("edit")), None);
        assert_eq!(
            auto_answer(Approve::Ask, &request("read")).as_deref(),
            Some("yes")
        );
        assert_eq!(choose(&request("x"), Choice::Deny).as_deref(), Some("no"));
        assert_eq!(
            choose(&request("x"), Choice::AllowAlways).as_deref(),
            Some("always")
        );
        let only_once = json!({"options": [{"optionId": "o", "kind": "allow_once"}]});
        assert_eq!(
            choose(&only_once, Choice::AllowAlways).as_deref(),
            Some("o")
        );
        assert_eq!(choose(&only_once, Choice::Deny), None);
    }
}
