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
    /// Print the result as JSON.
    #[arg(long)]
    json: bool,
}

pub fn run(args: Args) -> anyhow::Result<()> {
    let ctx = super::common::open()?;
    let record = ctx.resolve(&args.id)?;
    if args.json {
        // Per file: its path and lines added and removed; with the patch unless --stat.
        let files: Vec<serde_json::Value> = ctx
            .changed_files(&record)
            .iter()
            .map(|f| serde_json::json!({"path": f.path, "added": f.added, "removed": f.removed}))
            .collect();
        let mut out = serde_json::json!({"session": record.id, "files": files});
        if !args.stat {
            out["patch"] = ctx.diff(&record, false)?.into();
        }
        println!("{}", serde_json::to_string_pretty(&out)?);
        return Ok(());
    }
    let diff = ctx.diff(&record, args.stat)?;
    if diff.is_empty() {
        eprintln!("no changes");
    } else if std::io::IsTerminal::is_terminal(&std::io::stdout()) {
        // On a terminal a patch is read, not applied: what the agent wrote is shown as text.
        println!("{}", super::render::terminal_safe(&diff));
    } else {
        println!("{diff}");
    }
    Ok(())
}
