//! Asking the client before an edit, a command or an MCP tool runs, and remembering "always".

use super::*;

/// Asks whether the call may run, showing it as announced (pending).
pub(crate) fn permission_request(
    session_id: &str,
    call: &ToolUse,
    prepared: &Prepared,
    permission: Permission,
    content: &[ToolCallContent],
) -> RequestPermissionRequest {
    let tool_call = ToolCallUpdate::new(
        call.id.clone(),
        ToolCallUpdateFields::new()
            .title(prepared.title.clone())
            .kind(tool_kind(prepared.kind))
            .status(ToolCallStatus::Pending)
            .content(content.to_vec())
            .locations(locations(prepared)),
    );
    let always = match permission {
        Permission::Edit => "Always allow edits",
        Permission::Execute => "Always allow commands",
        Permission::Mcp => "Always allow MCP tools",
    };
    RequestPermissionRequest::new(
        session_id.to_string(),
        tool_call,
        vec![
            PermissionOption::new("allow_once", "Allow", PermissionOptionKind::AllowOnce),
            PermissionOption::new("allow_always", always, PermissionOptionKind::AllowAlways),
            PermissionOption::new("reject_once", "Reject", PermissionOptionKind::RejectOnce),
        ],
    )
}

/// Asks before a command runs without its sandbox (it cannot work here): never remembered as
/// "always", marked so the client asks the user whatever its approval policy
/// (`_meta["aside.unsandboxed"]`), the reason in its title.
pub(crate) async fn ask_unsandboxed(
    session: &Session,
    cx: &ConnectionTo<Client>,
    call: &ToolUse,
    prepared: &Prepared,
    content: &[ToolCallContent],
    why: &str,
    cancel: &CancellationToken,
) -> Answer {
    let mut marked = prepared.clone();
    marked.title = format!("Without a sandbox ({why}): {}", prepared.title);
    let mut request = permission_request(&session.id, call, &marked, Permission::Execute, content);
    let mut meta = serde_json::Map::new();
    meta.insert("aside.unsandboxed".into(), serde_json::Value::Bool(true));
    request.tool_call = request.tool_call.meta(meta);
    request
        .options
        .retain(|o| o.kind != PermissionOptionKind::AllowAlways);
    let response = tokio::select! {
        r = cx.send_request(request).block_task() => r,
        _ = cancel.cancelled() => return Answer::Cancelled,
    };
    match response {
        Ok(response) => match response.outcome {
            RequestPermissionOutcome::Selected(selected)
                if selected.option_id.0.as_ref() == "allow_once" =>
            {
                Answer::Allowed
            }
            RequestPermissionOutcome::Cancelled => Answer::Cancelled,
            _ => Answer::Rejected,
        },
        Err(_) => Answer::Rejected,
    }
}

pub(crate) enum Answer {
    Allowed,
    Rejected,
    Cancelled,
}

pub(crate) async fn ask(
    session: &Session,
    cx: &ConnectionTo<Client>,
    call: &ToolUse,
    prepared: &Prepared,
    permission: Permission,
    content: &[ToolCallContent],
    cancel: &CancellationToken,
) -> Answer {
    if session
        .always_allowed
        .lock()
        .is_ok_and(|a| a.contains(&permission))
    {
        return Answer::Allowed;
    }
    let request = permission_request(&session.id, call, prepared, permission, content);
    let response = tokio::select! {
        r = cx.send_request(request).block_task() => r,
        // The client must still answer `cancelled`; the turn does not wait for it.
        _ = cancel.cancelled() => return Answer::Cancelled,
    };
    match response {
        Ok(response) => match response.outcome {
            RequestPermissionOutcome::Selected(selected) => match selected.option_id.0.as_ref() {
                "allow_once" => Answer::Allowed,
                "allow_always" => {
                    if let Ok(mut allowed) = session.always_allowed.lock() {
                        allowed.insert(permission);
                    }
                    Answer::Allowed
                }
                _ => Answer::Rejected,
            },
            RequestPermissionOutcome::Cancelled => Answer::Cancelled,
            _ => Answer::Rejected,
        },
        Err(e) => {
            tracing::warn!("permission request failed: {e}");
            Answer::Rejected
        }
    }
}
