//! `aside apply`: bring a session's changes into the main workspace, uncommitted.

use super::common::{base_of, Ctx};
use aside_core::{Mode, Status};
use aside_store::Change;

/// Apply the session's changes to your workspace as uncommitted changes. All or nothing: on a
/// conflict, or when you have uncommitted changes in the same files, nothing is touched and the
/// files are named.
#[derive(clap::Args)]
pub struct Args {
    /// Session id (or a unique prefix).
    id: String,
}

pub fn run(args: Args) -> anyhow::Result<()> {
    let ctx = Ctx::open()?;
    let record = ctx.resolve(&args.id)?;
    if record.mode == Mode::Workspace {
        anyhow::bail!(
            "session {} worked in your workspace directly: its changes are already there",
            record.id
        );
    }
    let status = ctx.status(&record);
    if matches!(
        status,
        Status::Running | Status::NeedsInput | Status::Starting
    ) {
        anyhow::bail!("session {} is still working ({status}); wait for the turn to end, or `aside cancel {}`", record.id, record.id);
    }
    let files = aside_git::apply(&record.repo, &record.worktree, &base_of(&record))?;
    if files.is_empty() {
        eprintln!("nothing to apply: the session changed no files");
        return Ok(());
    }
    ctx.index
        .update(&record.id, Change::Integrated("applied"))?;
    for f in &files {
        println!("{f}");
    }
    eprintln!(
        "applied {} file(s) to {} as uncommitted changes",
        files.len(),
        record.repo.display()
    );
    Ok(())
}
