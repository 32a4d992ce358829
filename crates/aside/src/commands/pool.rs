//! `aside pool`: the spare worktrees kept ready for new sessions.

use std::path::{Path, PathBuf};

/// Show or clear the spare worktrees kept checked out so a new isolated session starts at once
/// (`[sessions] worktree_pool` in the config, `[worktree] pool` in a repository's .aside.toml).
#[derive(clap::Args)]
pub struct Args {
    #[command(subcommand)]
    action: Option<Action>,
    /// Every repository with sessions, not only this one.
    #[arg(long, global = true)]
    all: bool,
    /// Print JSON.
    #[arg(long)]
    json: bool,
}

#[derive(clap::Subcommand)]
enum Action {
    /// Remove the spare worktrees (they are made again as sessions start).
    Clear,
}

/// Refill a repository's pool (internal: started by a session's host at idle priority).
#[derive(clap::Args)]
pub struct RefillArgs {
    repo: PathBuf,
    base: String,
    size: usize,
}

fn repos(all: bool) -> anyhow::Result<Vec<PathBuf>> {
    if all {
        let ctx = super::common::open()?;
        return Ok(ctx.repos()?);
    }
    let here = std::env::current_dir()?;
    Ok(vec![aside_git::main_repo_root(&here).map_err(|_| {
        anyhow::anyhow!(
            "{} is not in a git repository: run this in one, or pass --all",
            here.display()
        )
    })?])
}

fn describe(repo: &Path) -> serde_json::Value {
    let spares = aside_git::pool_spares(repo);
    let head = aside_git::resolve_commit(repo, "HEAD").unwrap_or_default();
    let size = aside_core::config::RepoConfig::load(repo)
        .ok()
        .zip(aside_core::Config::load_user().ok())
        .map(|(r, c)| r.pool_size(c.sessions.worktree_pool))
        .unwrap_or(1);
    serde_json::json!({
        "repo": repo,
        "size": size,
        "ready": spares.len(),
        "at_head": spares.iter().filter(|s| s.head == head).count(),
        "spares": spares.iter().map(|s| serde_json::json!({"path": s.path, "head": s.head})).collect::<Vec<_>>(),
    })
}

pub fn run(args: Args) -> anyhow::Result<()> {
    let repos = repos(args.all)?;
    match args.action {
        Some(Action::Clear) => {
            let mut total = 0;
            for repo in &repos {
                let removed = aside_git::pool_clear(repo)?;
                total += removed;
                if !args.json {
                    println!(
                        "{}: removed {removed} spare worktree{}",
                        repo.display(),
                        if removed == 1 { "" } else { "s" }
                    );
                }
            }
            if args.json {
                println!("{}", serde_json::json!({"removed": total}));
            }
        }
        None => {
            let pools: Vec<_> = repos.iter().map(|r| describe(r)).collect();
            if args.json {
                println!("{}", serde_json::to_string_pretty(&pools)?);
                return Ok(());
            }
            for pool in &pools {
                println!(
                    "{}: {} of {} spare worktrees ready ({} at HEAD)",
                    pool["repo"].as_str().unwrap_or_default(),
                    pool["ready"],
                    pool["size"],
                    pool["at_head"]
                );
                for spare in pool["spares"].as_array().into_iter().flatten() {
                    println!(
                        "  {}  {}",
                        spare["head"]
                            .as_str()
                            .unwrap_or_default()
                            .chars()
                            .take(12)
                            .collect::<String>(),
                        spare["path"].as_str().unwrap_or_default()
                    );
                }
            }
        }
    }
    Ok(())
}

pub fn refill(args: RefillArgs) -> anyhow::Result<()> {
    let done = aside_git::pool_refill(&args.repo, &args.base, args.size)?;
    if done.gave_way {
        eprintln!(
            "{}: the repository stayed busy; the pool refills with the next session",
            args.repo.display()
        );
    }
    Ok(())
}
