//! `aside show`: a session's whole conversation.

use aside_store::EventLog;

/// Show a session: status, the whole conversation (prompts, agent messages, tool calls with
/// their output, the plan) and the changed files.
#[derive(clap::Args)]
pub struct Args {
    /// Session id (or a unique prefix).
    id: String,
    /// Print JSON: the session, its events and its changed files.
    #[arg(long)]
    json: bool,
}

pub fn run(args: Args) -> anyhow::Result<()> {
    let ctx = super::common::open()?;
    let record = ctx.resolve(&args.id)?;
    let events = EventLog::open(&ctx.layout, &record.id)?.since(0)?;
    let files = ctx.changed_files(&record);
    if args.json {
        let files: Vec<_> = files
            .iter()
            .map(|f| serde_json::json!({"path": f.path, "added": f.added, "removed": f.removed}))
            .collect();
        let out = serde_json::json!({"session": ctx.json(&record), "events": events, "changed_files": files});
        println!("{}", serde_json::to_string_pretty(&out)?);
        return Ok(());
    }
    let status = ctx.status(&record);
    println!("{}  {}", record.id, record.title);
    match &record.reason {
        Some(reason) => println!("status:   {status} — {reason}"),
        None => println!("status:   {status}"),
    }
    println!(
        "agent:    {}    mode: {}    approve: {}",
        record.agent, record.mode, record.approve
    );
    println!("worktree: {}", record.worktree.display());
    if let Some(branch) = &record.branch {
        println!(
            "branch:   {branch} (from {})",
            record
                .base
                .as_deref()
                .unwrap_or("?")
                .chars()
                .take(12)
                .collect::<String>()
        );
    }
    print!("{}", super::render::conversation(&events));
    if !files.is_empty() {
        println!("\nchanged files:");
        for f in &files {
            println!("  {:<50} +{} -{}", f.path, f.added, f.removed);
        }
    }
    Ok(())
}
