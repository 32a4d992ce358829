//! Answering the agent's permission requests: the session's policy, the user's choice, by the
//! options' ACP kind (never by position), and the whole tool call shown to the user.

use crate::protocol::Choice;
use agent_client_protocol::v1::schema::{
    PermissionOption, PermissionOptionKind, RequestPermissionResponse, SessionConfigKind,
    SessionConfigOption, SessionConfigOptionCategory, SessionConfigSelectOption,
    SessionConfigSelectOptions, ToolCallContent, ToolCallUpdate, ToolKind,
};
use aside_core::Approve;
use serde_json::{json, Value};

/// Whether a tool call names a path inside a git directory, or a `.git` link itself: in its
/// locations, its diffs, or any `…path…` field of its input (whatever shape the agent gave it).
fn touches_git_dir(call: &ToolCallUpdate) -> bool {
    fn any_path(value: &Value, key_is_path: bool) -> bool {
        match value {
            Value::String(s) => {
                key_is_path && aside_core::paths::names_git_dir(std::path::Path::new(s))
            }
            Value::Array(items) => items.iter().any(|v| any_path(v, key_is_path)),
            Value::Object(map) => map
                .iter()
                .any(|(k, v)| any_path(v, k.to_ascii_lowercase().contains("path"))),
            _ => false,
        }
    }
    let in_locations = call
        .fields
        .locations
        .iter()
        .flatten()
        .any(|l| aside_core::paths::names_git_dir(&l.path));
    let in_diffs = call.fields.content.iter().flatten().any(|c| match c {
        ToolCallContent::Diff(diff) => aside_core::paths::names_git_dir(&diff.path),
        _ => false,
    });
    in_locations
        || in_diffs
        || call
            .fields
            .raw_input
            .as_ref()
            .is_some_and(|input| any_path(input, false))
}

/// Whether the agent marked the request as the user's to answer, whatever the policy: a command
/// it would run without its sandbox (the sandbox cannot work there).
pub(crate) fn for_the_user(call: &ToolCallUpdate) -> bool {
    call.meta
        .as_ref()
        .is_some_and(|m| m.get("aside.unsandboxed") == Some(&Value::Bool(true)))
}

/// The option a permission request gets without asking, under the session's policy: `all`
/// allows everything; `edits` reads, searches and edits (an edit of git's own files can make git
/// run programs: that is a command, and asks); `ask` only reads and searches.
pub(crate) fn auto_answer(
    approve: Approve,
    call: &ToolCallUpdate,
    options: &[PermissionOption],
) -> Option<String> {
    let kind = call.fields.kind.unwrap_or(ToolKind::Other);
    let looks = matches!(kind, ToolKind::Read | ToolKind::Search | ToolKind::Think);
    let changes = matches!(kind, ToolKind::Edit | ToolKind::Delete | ToolKind::Move);
    let allowed = match approve {
        Approve::All => true,
        Approve::Edits => looks || (changes && !touches_git_dir(call)),
        Approve::Ask => looks,
    };
    allowed.then(|| choose(options, Choice::Allow)).flatten()
}

/// The option of the wanted kind (falling back to its sibling), by kind, never by position.
pub(crate) fn choose(options: &[PermissionOption], choice: Choice) -> Option<String> {
    use PermissionOptionKind::{AllowAlways, AllowOnce, RejectAlways, RejectOnce};
    let kinds: &[PermissionOptionKind] = match choice {
        Choice::Allow => &[AllowOnce, AllowAlways],
        Choice::AllowAlways => &[AllowAlways, AllowOnce],
        Choice::Deny => &[RejectOnce, RejectAlways],
    };
    kinds.iter().find_map(|kind| {
        options
            .iter()
            .find(|o| o.kind == *kind)
            .map(|o| o.option_id.0.to_string())
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

/// The model config option of an agent's session and the value to send for `wanted`: the
/// select of category `model` (or id `model`); its value whose id or name is `wanted` (any case),
/// else `wanted` as given. Also the choices it lists, for an error. Err when it has none.
pub(crate) fn model_option(
    options: &[SessionConfigOption],
    wanted: &str,
) -> Result<(String, String, String), String> {
    let found = options.iter().find_map(|o| match &o.kind {
        SessionConfigKind::Select(select)
            if o.category == Some(SessionConfigOptionCategory::Model)
                || o.id.0.as_ref() == "model" =>
        {
            Some((o, select))
        }
        _ => None,
    });
    let Some((option, select)) = found else {
        return Err(format!(
            "the agent offers no model choice (no ACP session config option of category \
             `model`), so model `{wanted}` cannot be chosen: set it in the agent's own settings"
        ));
    };
    let values: Vec<&SessionConfigSelectOption> = match &select.options {
        SessionConfigSelectOptions::Ungrouped(values) => values.iter().collect(),
        SessionConfigSelectOptions::Grouped(groups) => {
            groups.iter().flat_map(|g| g.options.iter()).collect()
        }
        _ => Vec::new(),
    };
    let value = values
        .iter()
        .find(|v| v.value.0.as_ref() == wanted)
        .or_else(|| {
            values.iter().find(|v| {
                v.value.0.eq_ignore_ascii_case(wanted) || v.name.eq_ignore_ascii_case(wanted)
            })
        })
        .map_or_else(|| wanted.to_string(), |v| v.value.0.to_string());
    let choices = values
        .iter()
        .map(|v| v.value.0.as_ref())
        .collect::<Vec<_>>()
        .join(", ");
    Ok((option.id.0.to_string(), value, choices))
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn the_policy_allows_by_kind_and_picks_options_by_kind() {
        let options: Vec<PermissionOption> = serde_json::from_value(json!([
            {"optionId": "no", "kind": "reject_once", "name": "No"},
            {"optionId": "yes", "kind": "allow_once", "name": "Yes"},
            {"optionId": "always", "kind": "allow_always", "name": "Always"}]))
        .unwrap();
        let call = |value: Value| -> ToolCallUpdate {
            let mut value = value;
            value["toolCallId"] = json!("c1");
            serde_json::from_value(value).unwrap()
        };
        let of_kind = |kind: &str| call(json!({"kind": kind}));
        let answer = |approve, c: &ToolCallUpdate| auto_answer(approve, c, &options);
        assert_eq!(
            answer(Approve::All, &of_kind("execute")).as_deref(),
            Some("yes")
        );
        assert_eq!(
            answer(Approve::Edits, &of_kind("edit")).as_deref(),
            Some("yes")
        );
        assert_eq!(answer(Approve::Edits, &of_kind("execute")), None);
        // Edits of git's own files ask, however they name them.
        for asked in [
            json!({"kind": "edit", "locations": [{"path": "/w/.git/config"}]}),
            json!({"kind": "edit", "content": [{"type": "diff", "path": "/w/.git", "newText": "gitdir: /tmp/x"}]}),
            json!({"kind": "delete", "rawInput": {"file_path": "sub/.GIT/hooks/pre-commit"}}),
        ] {
            let c = call(asked.clone());
            assert_eq!(answer(Approve::Edits, &c), None, "{asked}");
            assert!(answer(Approve::All, &c).is_some());
        }
        let elsewhere = call(
            json!({"kind": "edit", "locations": [{"path": "/w/.gitignore"}],
            "rawInput": {"content": "see .git/config"}}),
        );
        assert_eq!(answer(Approve::Edits, &elsewhere).as_deref(), Some("yes"));
        assert_eq!(answer(Approve::Ask, &of_kind("edit")), None);
        assert_eq!(
            answer(Approve::Ask, &of_kind("read")).as_deref(),
            Some("yes")
        );
        assert_eq!(choose(&options, Choice::Deny).as_deref(), Some("no"));
        assert_eq!(
            choose(&options, Choice::AllowAlways).as_deref(),
            Some("always")
        );
        let only_once: Vec<PermissionOption> = serde_json::from_value(
            json!([{"optionId": "o", "kind": "allow_once", "name": "Once"}]),
        )
        .unwrap();
        assert_eq!(
            choose(&only_once, Choice::AllowAlways).as_deref(),
            Some("o")
        );
        assert_eq!(choose(&only_once, Choice::Deny), None);
    }

    #[test]
    fn the_model_option_is_found_by_category_and_its_value_by_id_or_name() {
        use agent_client_protocol::v1::schema::SessionConfigSelectGroup;
        let mode = SessionConfigOption::select(
            "mode",
            "Mode",
            "code",
            vec![SessionConfigSelectOption::new("code", "Code")],
        );
        let model = SessionConfigOption::select(
            "llm",
            "Model",
            "a-1",
            vec![SessionConfigSelectGroup::new(
                "fast",
                "Fast",
                vec![
                    SessionConfigSelectOption::new("a-1", "Alpha One"),
                    SessionConfigSelectOption::new("b-2", "Beta Two"),
                ],
            )],
        )
        .category(SessionConfigOptionCategory::Model);
        let options = [mode.clone(), model];
        let pick = |wanted| model_option(&options, wanted).unwrap();
        assert_eq!(pick("b-2"), ("llm".into(), "b-2".into(), "a-1, b-2".into()));
        assert_eq!(pick("beta two").1, "b-2");
        // Not listed: sent as given, for the agent to take or refuse.
        assert_eq!(pick("c-3").1, "c-3");
        let err = model_option(&[mode], "b-2").unwrap_err();
        assert!(err.contains("the agent offers no model choice"), "{err}");
    }
}
