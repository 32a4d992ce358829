//! `aside merge`: merge a session's branch.

use super::common::Ctx;
use aside_core::{Mode, Status};
use aside_store::Change;

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
    let ctx = Ctx::open()?;
    let record = ctx.resolve(&args.id)?;
    let (Mode::Isolated, Some(branch)) = (record.mode, record.branch.as_deref()) else {
        anyhow::bail!(
            "session {} worked in your workspace directly: there is no branch to merge",
            record.id
        );
    };
    let status = ctx.status(&record);
    if matches!(
        status,
        Status::Running | Status::NeedsInput | Status::Starting
    ) {
        anyhow::bail!("session {} is still working ({status}); wait for the turn to end, or `aside cancel {}`", record.id, record.id);
    }
    if record.worktree.exists() {
        aside_git::checkpoint(
            &record.worktree,
            &format!("aside: {} (before merge)", record.title),
        )?;
    }
    let message = if args.squash {
        record.title.clone()
    } else {
        format!("Merge {branch}: {}", record.title)
    };
    let commit = aside_git::merge(&record.repo, branch, args.squash, &message)?;
    ctx.index.update(&record.id, Change::Integrated("merged"))?;
    println!("{commit}");
    eprintln!("merged {branch} into {}", record.repo.display());
    Ok(())
}
