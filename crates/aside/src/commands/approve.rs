//! `aside approve` and `aside deny`: answer a pending permission request.

use super::common::Ctx;
use aside_host::protocol::{Choice, Request};

/// Allow the action the agent is waiting on.
#[derive(clap::Args)]
pub struct ApproveArgs {
    /// Session id (or a unique prefix).
    id: String,
    /// Allow this kind of action for the rest of the session.
    #[arg(long)]
    always: bool,
}

/// Reject the action the agent is waiting on.
#[derive(clap::Args)]
pub struct DenyArgs {
    /// Session id (or a unique prefix).
    id: String,
}

fn answer(id: &str, choice: Choice) -> anyhow::Result<()> {
    let ctx = Ctx::open()?;
    let record = ctx.resolve(id)?;
    match aside_host::client::send(&ctx.layout, &record.id, Request::Answer { choice }) {
        Ok(()) => Ok(()),
        Err(aside_host::client::ClientError::NoHost) => anyhow::bail!(
            "session {} has no running host (status {}); nothing is waiting for an answer",
            record.id,
            ctx.status(&record)
        ),
        Err(e) => anyhow::bail!("session {}: {e}", record.id),
    }
}

pub fn approve(args: ApproveArgs) -> anyhow::Result<()> {
    answer(
        &args.id,
        if args.always {
            Choice::AllowAlways
        } else {
            Choice::Allow
        },
    )
}

pub fn deny(args: DenyArgs) -> anyhow::Result<()> {
    answer(&args.id, Choice::Deny)
}
