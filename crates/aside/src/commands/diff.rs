//! `aside diff`: what the agent changed.

/// Show the session's changes: its base to its branch, plus anything not yet committed in its
/// worktree.
#[derive(clap::Args)]
pub struct Args {
    /// Session id (or a unique prefix).
    #[arg(add = clap_complete::engine::ArgValueCompleter::new(super::completions::session_ids))]
    id: String,
    /// Only a summary of changed files.
    #[arg(long)]
    stat: bool,
}

pub fn run(args: Args) -> anyhow::Result<()> {
    let ctx = super::common::open()?;
    let record = ctx.resolve(&args.id)?;
    let diff = ctx.diff(&record, args.stat)?;
    if diff.is_empty() {
        eprintln!("no changes");
    } else {
        println!("{diff}");
    }
    Ok(())
}
