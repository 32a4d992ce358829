//! `aside ls`: the sessions.

use aside_core::Status;

/// List sessions, newest activity first.
#[derive(clap::Args)]
pub struct Args {
    /// Include archived sessions.
    #[arg(long)]
    all: bool,
    /// Print a JSON array instead of a table.
    #[arg(long)]
    json: bool,
}

pub fn run(args: Args) -> anyhow::Result<()> {
    let ctx = super::common::open()?;
    let sessions = ctx.index.list(args.all)?;
    if args.json {
        let list: Vec<_> = sessions.iter().map(|r| ctx.json(r)).collect();
        println!("{}", serde_json::to_string_pretty(&list)?);
        return Ok(());
    }
    if sessions.is_empty() {
        eprintln!("no sessions yet; start one with: aside new \"<task>\"");
        return Ok(());
    }
    println!(
        "{:<9} {:<12} {:<9} {:>5}  {:<19}  TITLE",
        "ID", "STATUS", "AGENT", "FILES", "UPDATED"
    );
    for r in &sessions {
        let status = ctx.status(r);
        let shown = if status == Status::NeedsInput {
            "NEEDS_INPUT".to_string()
        } else {
            status.to_string()
        };
        let updated: String = r.updated_at.replace('T', " ").chars().take(19).collect();
        let title: String = r.title.chars().take(60).collect();
        println!(
            "{:<9} {:<12} {:<9} {:>5}  {:<19}  {title}",
            r.id, shown, r.agent, r.changed_files, updated
        );
    }
    Ok(())
}
