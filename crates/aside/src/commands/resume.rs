//! `aside resume`: restart a session whose host died.

/// Restart an interrupted session (its host died): a new host relaunches the agent and
/// continues the same agent session.
#[derive(clap::Args)]
pub struct Args {
    /// Session id (or a unique prefix).
    id: String,
}

pub fn run(args: Args) -> anyhow::Result<()> {
    let ctx = super::common::open()?;
    let record = ctx.resolve(&args.id)?;
    if ctx.host_alive(&record) {
        anyhow::bail!(
            "session {} is running ({}); nothing to resume",
            record.id,
            ctx.status(&record)
        );
    }
    ctx.start_host(&record)?;
    println!("{}", record.id);
    eprintln!("resumed {} ({} before)", record.id, ctx.status(&record));
    Ok(())
}
