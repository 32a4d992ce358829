//! `aside merge`: merge a session's branch.

use aside_sessions::Outcome;

/// Merge the session's branch into the repository's current branch (a merge commit, or one
/// commit with --squash). Anything the agent left uncommitted is checkpointed first.
#[derive(clap::Args)]
pub struct Args {
    /// Session id (or a unique prefix).
    #[arg(add = clap_complete::engine::ArgValueCompleter::new(super::completions::session_ids))]
    id: String,
    /// Squash the session's commits into one.
    #[arg(long)]
    squash: bool,
}

pub fn run(args: Args) -> anyhow::Result<()> {
    let ctx = super::common::open()?;
    let record = ctx.resolve(&args.id)?;
    let branch = record.branch.as_deref().unwrap_or_default();
    match ctx.merge(&record, args.squash)? {
        Outcome::Nothing => eprintln!("nothing to merge: session {} changed no files", record.id),
        Outcome::Already => eprintln!("already merged: {branch} is part of your current branch"),
        Outcome::Done(commit) => {
            println!("{commit}");
            eprintln!("merged {branch} into {}", record.repo.display());
        }
    }
    Ok(())
}
