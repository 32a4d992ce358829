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
}

/// Reject the action the agent is waiting on.
#[derive(clap::Args)]
pub struct DenyArgs {
    /// Session id (or a unique prefix).
    #[arg(add = clap_complete::engine::ArgValueCompleter::new(super::completions::session_ids))]
    id: String,
}

fn answer(id: &str, choice: Choice) -> anyhow::Result<()> {
    let ctx = super::common::open()?;
    let record = ctx.resolve(id)?;
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
    )
}

pub fn deny(args: DenyArgs) -> anyhow::Result<()> {
    answer(&args.id, Choice::Deny)
}
