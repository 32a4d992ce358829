//! `aside rm` and `aside archive`.

use super::common::{base_of, Ctx};
use aside_core::Mode;
use aside_host::protocol::Request;
use aside_store::Change;

/// Remove a session: stop its agent, delete its worktree and branch, forget it. Refused while it
/// holds work that was neither applied nor merged, unless --force.
#[derive(clap::Args)]
pub struct Args {
    /// Session id (or a unique prefix).
    id: String,
    /// Remove even unapplied, unmerged work.
    #[arg(long)]
    force: bool,
    /// Keep the branch aside/NAME.
    #[arg(long)]
    keep_branch: bool,
}

/// Hide a session from `aside ls` (it stays in `aside ls --all`).
#[derive(clap::Args)]
pub struct ArchiveArgs {
    /// Session id (or a unique prefix).
    id: String,
}

pub fn run(args: Args) -> anyhow::Result<()> {
    let ctx = Ctx::open()?;
    let record = ctx.resolve(&args.id)?;
    if record.mode == Mode::Isolated
        && record.worktree.exists()
        && !args.force
        && record.integrated.is_none()
    {
        let files = aside_git::changed_files(&record.worktree, &base_of(&record))?;
        let merged = record
            .branch
            .as_deref()
            .is_some_and(|b| aside_git::is_merged(&record.repo, b));
        if !files.is_empty() && !merged {
            anyhow::bail!(
                "session {} holds work that was neither applied nor merged ({} changed files); `aside apply {}` or `aside merge {}` it first, or pass --force to discard it",
                record.id, files.len(), record.id, record.id
            );
        }
    }
    if ctx.host_alive(&record) {
        let _ = aside_host::client::send(&ctx.layout, &record.id, Request::Stop);
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
        while ctx.host_alive(&record) {
            if std::time::Instant::now() > deadline {
                anyhow::bail!("the host of {} did not stop; try again", record.id);
            }
            std::thread::sleep(std::time::Duration::from_millis(50));
        }
    }
    if record.mode == Mode::Isolated {
        aside_git::remove_worktree(
            &record.repo,
            &record.worktree,
            record.branch.as_deref(),
            args.keep_branch,
        )?;
    }
    ctx.index.delete(&record.id)?;
    let _ = std::fs::remove_dir_all(ctx.layout.session_dir(&record.id));
    eprintln!("removed {}", record.id);
    Ok(())
}

pub fn archive(args: ArchiveArgs) -> anyhow::Result<()> {
    let ctx = Ctx::open()?;
    let record = ctx.resolve(&args.id)?;
    ctx.index.update(&record.id, Change::Archived(true))?;
    eprintln!("archived {}; `aside ls --all` still lists it", record.id);
    Ok(())
}
