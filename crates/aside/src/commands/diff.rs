//! `aside diff`: what the agent changed.

use super::common::{base_of, Ctx};

/// Show the session's changes: its base to its branch, plus anything not yet committed in its
/// worktree.
#[derive(clap::Args)]
pub struct Args {
    /// Session id (or a unique prefix).
    id: String,
    /// Only a summary of changed files.
    #[arg(long)]
    stat: bool,
}

pub fn run(args: Args) -> anyhow::Result<()> {
    let ctx = Ctx::open()?;
    let record = ctx.resolve(&args.id)?;
    if !record.worktree.exists() {
        anyhow::bail!(
            "the worktree of {} does not exist (yet): {}",
            record.id,
            record.worktree.display()
        );
    }
    let diff = aside_git::diff(&record.worktree, &base_of(&record), args.stat)?;
    if diff.is_empty() {
        eprintln!("no changes");
    } else {
        println!("{diff}");
    }
    Ok(())
}
