//! `aside approve` and `aside deny`: answer a pending permission request.

use aside_protocol::Choice;

/// Allow the action the agent is waiting on.
#[derive(clap::Args)]
pub struct ApproveArgs {
    /// Session id (or a unique prefix).
    #[arg(add = clap_complete::engine::ArgValueCompleter::new(super::completions::session_ids))]
    id: String,
    /// Allow this kind of action for the rest of the session.
    #[arg(long)]
    always: bool,
    /// Only if the request waiting is for this tool call (what a client far away saw).
    #[arg(long, hide = true, value_name = "TOOL_CALL_ID")]
    call: Option<String>,
}

/// Reject the action the agent is waiting on.
#[derive(clap::Args)]
pub struct DenyArgs {
    /// Session id (or a unique prefix).
    #[arg(add = clap_complete::engine::ArgValueCompleter::new(super::completions::session_ids))]
    id: String,
    /// Only if the request waiting is for this tool call (what a client far away saw).
    #[arg(long, hide = true, value_name = "TOOL_CALL_ID")]
    call: Option<String>,
}

fn answer(id: &str, choice: Choice, call: Option<&str>) -> anyhow::Result<()> {
    use aside_protocol::events::Body;
    let ctx = super::common::open()?;
    let record = ctx.resolve(id)?;
    if let Some(call) = call {
        // The request waiting now is the newest one asked.
        let log = aside_store::EventLog::open(&ctx.layout, &record.id)?;
        let waiting =
            log.last_of("permission_request", 1)?
                .pop()
                .and_then(|e| match Body::of(&e) {
                    Body::PermissionRequest(asked) => {
                        Some(asked.tool_call.tool_call_id.0.to_string())
                    }
                    _ => None,
                });
        anyhow::ensure!(
            record.pending_permission && waiting.as_deref() == Some(call),
            "session {}: tool call {call} is not the one waiting for an answer{}",
            record.id,
            waiting
                .filter(|_| record.pending_permission)
                .map(|w| format!(" ({w} is)"))
                .unwrap_or_default()
        );
    }
    Ok(ctx.answer(&record, choice)?)
}

pub fn approve(args: ApproveArgs) -> anyhow::Result<()> {
    answer(
        &args.id,
        if args.always {
            Choice::AllowAlways
        } else {
            Choice::Allow
        },
        args.call.as_deref(),
    )
}

pub fn deny(args: DenyArgs) -> anyhow::Result<()> {
    answer(&args.id, Choice::Deny, args.call.as_deref())
}
