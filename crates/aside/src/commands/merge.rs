//! `aside merge`: merge a session's branch.

use aside_sessions::Outcome;

/// Merge the session's branch into the repository's current branch (a merge commit, or one
/// commit with --squash). Anything the agent left uncommitted is checkpointed first.
#[derive(clap::Args)]
pub struct Args {
    /// Session id (or a unique prefix).
    #[arg(add = clap_complete::engine::ArgValueCompleter::new(super::completions::session_ids))]
    id: String,
    /// Squash the session's commits into one.
    #[arg(long)]
    squash: bool,
    /// Print the result as JSON.
    #[arg(long)]
    json: bool,
}

pub fn run(args: Args) -> anyhow::Result<()> {
    let ctx = super::common::open()?;
    let record = ctx.resolve(&args.id)?;
    let branch = record.branch.as_deref().unwrap_or_default();
    let outcome = ctx.merge(&record, args.squash)?;
    if args.json {
        let out = match &outcome {
            Outcome::Done(commit) => {
                serde_json::json!({"session": record.id, "outcome": "merged", "branch": branch, "commit": commit})
            }
            Outcome::Nothing => {
                serde_json::json!({"session": record.id, "outcome": "nothing", "branch": branch, "commit": null})
            }
            Outcome::Already => {
                serde_json::json!({"session": record.id, "outcome": "already", "branch": branch, "commit": null})
            }
        };
        println!("{}", serde_json::to_string_pretty(&out)?);
        return Ok(());
    }
    match outcome {
        Outcome::Nothing => eprintln!("nothing to merge: session {} changed no files", record.id),
        Outcome::Already => eprintln!("already merged: {branch} is part of your current branch"),
        Outcome::Done(commit) => {
            println!("{commit}");
            eprintln!("merged {branch} into {}", record.repo.display());
        }
    }
    Ok(())
}
