//! `aside merge`: merge a session's branch.

/// Merge the session's branch into the repository's current branch (a merge commit, or one
/// commit with --squash). Anything the agent left uncommitted is checkpointed first.
#[derive(clap::Args)]
pub struct Args {
    /// Session id (or a unique prefix).
    id: String,
    /// Squash the session's commits into one.
    #[arg(long)]
    squash: bool,
}

pub fn run(args: Args) -> anyhow::Result<()> {
    let ctx = super::common::open()?;
    let record = ctx.resolve(&args.id)?;
    let commit = ctx.merge(&record, args.squash)?;
    println!("{commit}");
    eprintln!(
        "merged {} into {}",
        record.branch.as_deref().unwrap_or_default(),
        record.repo.display()
    );
    Ok(())
}
