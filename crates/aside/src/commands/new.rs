//! `aside new`: start an agent on a task in the background.

use super::common::Ctx;
use anyhow::{bail, Context as _};
use aside_core::{Approve, Config, Mode, SessionId, SessionRecord, Status};
use std::path::PathBuf;

/// Start an agent on a task in the background and print the session id.
///
/// Isolated sessions (the default) work in `<repo>.worktrees/<name>` on branch `aside/<name>`,
/// created from the current HEAD (or --base). The agent runs under a detached host: closing the
/// terminal never stops it.
#[derive(clap::Args)]
pub struct Args {
    /// What the agent should do.
    task: String,
    /// Which agent: builtin (default), copilot, codex, claude, gemini, qwen, opencode, or one
    /// declared under [agents.NAME] in the config file.
    #[arg(long, default_value = aside_core::agents::BUILTIN)]
    agent: String,
    /// Work in a new git worktree (the default).
    #[arg(long, conflicts_with = "workspace")]
    isolated: bool,
    /// Work in the repository itself, without isolation.
    #[arg(long)]
    workspace: bool,
    /// Commit or branch the worktree starts from (default HEAD).
    #[arg(long, value_name = "REF")]
    base: Option<String>,
    /// Name of the worktree and branch (aside/NAME); default from the task.
    #[arg(long)]
    name: Option<String>,
    /// Which permission requests are allowed without asking: all (default when isolated),
    /// edits, or ask (default in workspace mode).
    #[arg(long, value_parser = ["all", "edits", "ask"])]
    approve: Option<String>,
    /// The repository (default: the current directory).
    #[arg(long, value_name = "DIR")]
    repo: Option<PathBuf>,
}

/// A branch-safe name from the task: a few words, lowercase, dashes.
fn slug(task: &str) -> String {
    let words: Vec<String> = task
        .split(|c: char| !c.is_ascii_alphanumeric())
        .filter(|w| !w.is_empty())
        .take(5)
        .map(|w| w.to_ascii_lowercase())
        .collect();
    let mut slug = words.join("-");
    slug.truncate(40);
    if slug.is_empty() {
        "task".to_string()
    } else {
        slug.trim_end_matches('-').to_string()
    }
}

fn valid_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 100
        && !name.starts_with(['.', '-'])
        && !name.contains("..")
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
}

pub fn run(args: Args) -> anyhow::Result<()> {
    if args.task.trim().is_empty() {
        bail!("the task is empty: say what the agent should do, e.g. aside new \"fix the failing test\"");
    }
    let config = Config::load_user()?;
    let exe = std::env::current_exe().context("while finding the aside binary")?;
    let agent_command =
        aside_core::agents::agent_command(&args.agent, &config, &exe.display().to_string())
            .map_err(anyhow::Error::msg)?;
    let mode = if args.workspace {
        Mode::Workspace
    } else {
        Mode::Isolated
    };
    let dir = match &args.repo {
        Some(dir) => dir.clone(),
        None => std::env::current_dir().context("while reading the current directory")?,
    };
    let dir = dir
        .canonicalize()
        .with_context(|| format!("{} does not exist", dir.display()))?;
    let approve =
        args.approve
            .as_deref()
            .and_then(Approve::parse)
            .unwrap_or(if mode == Mode::Isolated {
                Approve::All
            } else {
                Approve::Ask
            });

    let ctx = Ctx::open()?;
    let mut id = SessionId::random();
    while ctx.index.get(&id)?.is_some() {
        id = SessionId::random();
    }
    let title: String = args
        .task
        .lines()
        .next()
        .unwrap_or_default()
        .trim()
        .chars()
        .take(100)
        .collect();
    let (repo, worktree, branch, base) = match mode {
        Mode::Isolated => {
            let repo = aside_git::repo_root(&dir).map_err(|_| {
                anyhow::anyhow!(
                    "{} is not inside a git repository; isolated sessions need one. Run aside in a repository, pass --repo DIR, or use --workspace",
                    dir.display()
                )
            })?;
            let base_ref = args.base.as_deref().unwrap_or("HEAD");
            let base = aside_git::resolve_commit(&repo, base_ref).map_err(|_| {
                if args.base.is_some() {
                    anyhow::anyhow!("--base {base_ref} is not a commit in {}", repo.display())
                } else {
                    anyhow::anyhow!("{} has no commits yet; make a first commit (the worktree starts from it) or use --workspace", repo.display())
                }
            })?;
            let name = match &args.name {
                Some(name) if !valid_name(name) => bail!(
                    "invalid --name `{name}`: use letters, digits, '-', '_' and '.' (it names a branch and a directory)"
                ),
                Some(name) => name.clone(),
                None => format!("{}-{}", slug(&args.task), &id.as_str()[..4]),
            };
            let branch = format!("aside/{name}");
            let worktree = aside_git::worktree_path(&repo, &name);
            if aside_git::branch_exists(&repo, &branch) {
                bail!(
                    "branch {branch} already exists in {}; choose another --name",
                    repo.display()
                );
            }
            if worktree.exists() {
                bail!(
                    "{} already exists; choose another --name",
                    worktree.display()
                );
            }
            (repo, worktree, Some(branch), Some(base))
        }
        Mode::Workspace => {
            let repo = aside_git::repo_root(&dir).unwrap_or_else(|_| dir.clone());
            let base = aside_git::resolve_commit(&repo, "HEAD").ok();
            (repo.clone(), repo, None, base)
        }
    };
    let now = aside_core::now();
    let record = SessionRecord {
        id: id.clone(),
        title,
        task: args.task.clone(),
        agent: args.agent.clone(),
        agent_command,
        mode,
        approve,
        status: Status::Queued,
        reason: None,
        repo,
        worktree,
        branch,
        base,
        created_at: now.clone(),
        updated_at: now,
        archived: false,
        pending_permission: false,
        changed_files: 0,
        acp_session_id: None,
        integrated: None,
    };
    ctx.index.insert(&record)?;
    // Waits until the host holds its lock, so no reader ever sees the session without one.
    ctx.start_host(&record)?;
    println!("{id}");
    eprintln!("started {id}: {}", record.title);
    eprintln!(
        "  agent:    {} ({})",
        record.agent,
        record.agent_command.join(" ")
    );
    eprintln!("  worktree: {}", record.worktree.display());
    if let Some(branch) = &record.branch {
        eprintln!("  branch:   {branch}");
    }
    eprintln!("  follow:   aside logs -f {id}    attach: aside attach {id}");
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slugs_are_branch_safe() {
        assert_eq!(
            slug("Fix the login bug in auth.rs, please!"),
            "fix-the-login-bug-in"
        );
        assert_eq!(slug("???"), "task");
        assert!(valid_name("fix-1.2_x"));
        assert!(!valid_name("../x") && !valid_name("-x") && !valid_name("a b"));
    }
}
