//! `aside apply`: bring a session's changes into the main workspace, uncommitted.

use aside_sessions::Outcome;

/// Apply the session's changes to your workspace as uncommitted changes, merged 3-way with your
/// own uncommitted work: an agent change and your edit in the same file both survive when they
/// don't overlap. All or nothing: on a true conflict nothing is touched and the files are named.
#[derive(clap::Args)]
pub struct Args {
    /// Session id (or a unique prefix).
    #[arg(add = clap_complete::engine::ArgValueCompleter::new(super::completions::session_ids))]
    id: String,
    /// Print the result as JSON.
    #[arg(long)]
    json: bool,
}

pub fn run(args: Args) -> anyhow::Result<()> {
    let ctx = super::common::open()?;
    let record = ctx.resolve(&args.id)?;
    let outcome = ctx.apply(&record)?;
    let (inside, command) = ctx.left_in_submodules(&record)?;
    if args.json {
        let mut out = match &outcome {
            Outcome::Done(files) => {
                serde_json::json!({"session": record.id, "outcome": "applied", "files": files})
            }
            Outcome::Nothing => {
                serde_json::json!({"session": record.id, "outcome": "nothing", "files": []})
            }
            Outcome::Already => {
                serde_json::json!({"session": record.id, "outcome": "already", "files": []})
            }
        };
        if !inside.is_empty() {
            out["not_applied_in_submodules"] = serde_json::json!(inside);
            out["submodules_command"] = serde_json::json!(command);
        }
        println!("{}", serde_json::to_string_pretty(&out)?);
        return Ok(());
    }
    match outcome {
        Outcome::Nothing if !inside.is_empty() => eprintln!(
            "nothing of the repository's own files to apply from session {}",
            record.id
        ),
        Outcome::Nothing => eprintln!("nothing to apply: session {} changed no files", record.id),
        Outcome::Already => eprintln!(
            "already applied: your workspace already has the changes of {}",
            record.id
        ),
        Outcome::Done(files) => {
            for f in &files {
                println!("{}", super::render::terminal_safe(f));
            }
            eprintln!(
                "applied {} to {} as uncommitted changes",
                super::render::plural(files.len(), "file", "files"),
                record.repo.display()
            );
        }
    }
    // Edits inside submodules belong to those submodules: said, never silently dropped.
    if !inside.is_empty() {
        eprintln!(
            "not applied: {} inside submodules ({}); bring them into your checkout with: {command}",
            super::render::plural(inside.len(), "file", "files"),
            inside.join(", ")
        );
    }
    Ok(())
}
