//! `aside rm` and `aside archive`.

/// Remove a session: stop its agent, delete its worktree and branch, forget it. Refused while it
/// holds work that was neither applied nor merged, unless --force.
#[derive(clap::Args)]
pub struct Args {
    /// Session id (or a unique prefix).
    #[arg(add = clap_complete::engine::ArgValueCompleter::new(super::completions::session_ids))]
    id: String,
    /// Remove even unapplied, unmerged work.
    #[arg(long)]
    force: bool,
    /// Keep the branch aside/NAME.
    #[arg(long)]
    keep_branch: bool,
    /// Print the result as JSON.
    #[arg(long)]
    json: bool,
}

/// Hide a session from `aside ls` (it stays in `aside ls --all`).
#[derive(clap::Args)]
pub struct ArchiveArgs {
    /// Session id (or a unique prefix).
    #[arg(add = clap_complete::engine::ArgValueCompleter::new(super::completions::session_ids))]
    id: String,
}

/// Show an archived session in `aside ls` again.
#[derive(clap::Args)]
pub struct UnarchiveArgs {
    /// Session id (or a unique prefix).
    #[arg(add = clap_complete::engine::ArgValueCompleter::new(super::completions::session_ids))]
    id: String,
}

pub fn run(args: Args) -> anyhow::Result<()> {
    let ctx = super::common::open()?;
    let record = ctx.resolve(&args.id)?;
    if record.mode == aside_core::Mode::Isolated && record.worktree.is_dir() {
        let repo = aside_core::config::RepoConfig::load(&record.repo)?;
        let user = aside_core::Config::load_user()?.defaults;
        super::trust::settle(&record.repo, &repo, &user, true)?;
    }
    ctx.remove(&record, args.force, args.keep_branch)?;
    if args.json {
        let out = serde_json::json!({"session": record.id, "removed": true,
            "worktree": record.worktree, "branch_kept": args.keep_branch.then_some(record.branch.as_deref()).flatten()});
        println!("{}", serde_json::to_string_pretty(&out)?);
        return Ok(());
    }
    eprintln!("removed {}", record.id);
    Ok(())
}

pub fn archive(args: ArchiveArgs) -> anyhow::Result<()> {
    let ctx = super::common::open()?;
    let record = ctx.resolve(&args.id)?;
    ctx.archive(&record, true)?;
    eprintln!("archived {}; `aside ls --all` still lists it", record.id);
    Ok(())
}

pub fn unarchive(args: UnarchiveArgs) -> anyhow::Result<()> {
    let ctx = super::common::open()?;
    let record = ctx.resolve(&args.id)?;
    if !record.archived {
        eprintln!("{} is not archived", record.id);
        return Ok(());
    }
    ctx.archive(&record, false)?;
    eprintln!("unarchived {}", record.id);
    Ok(())
}
