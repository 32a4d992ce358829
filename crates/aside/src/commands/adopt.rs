//! `aside adopt`: continue a session started in an agent's own CLI as an aside session.

use aside_core::Mode;

/// Continue a session started in Copilot CLI, Codex or Claude Code (in a terminal) as an aside
/// background session: its agent loads the same session, so it goes on with its own history;
/// from then on it takes follow-ups, and its work shows in diff, apply and merge. `aside ls`
/// lists such sessions as external.
#[derive(clap::Args)]
pub struct Args {
    /// The agent's session id (or a unique prefix of at least 4 characters).
    #[arg(add = clap_complete::engine::ArgValueCompleter::new(super::completions::any_session_ids))]
    id: String,
    /// What to tell the agent next (optional; `aside send` works later too).
    message: Vec<String>,
    /// Go on in a new worktree of its repository instead of the directory it worked in.
    #[arg(long, conflicts_with = "workspace")]
    isolated: bool,
    /// Go on in the directory it worked in (the default).
    #[arg(long)]
    workspace: bool,
    /// Adopt it even though its own CLI is still live on it.
    #[arg(long)]
    force: bool,
}

pub fn run(args: Args) -> anyhow::Result<()> {
    let config = aside_core::Config::load_user()?;
    let ctx = super::common::open()?;
    if args.id.len() >= 4 {
        if let Some(own) = ctx.index.list(true)?.into_iter().find(|r| {
            r.acp_session_id
                .as_deref()
                .is_some_and(|s| s.starts_with(&args.id))
        }) {
            anyhow::bail!(
                "agent session {} is aside session {} already: aside send {} \"…\" continues it",
                own.acp_session_id.unwrap_or_default(),
                own.id,
                own.id
            );
        }
    }
    let session = aside_sessions::external::find(ctx.externals(), &args.id)?;
    let mode = if args.isolated {
        Mode::Isolated
    } else {
        Mode::Workspace
    };
    let record = ctx.adopt(&session, mode, args.force, &config)?;
    let message = args.message.join(" ");
    if !message.trim().is_empty() {
        ctx.send(&record, &message, &config)?;
    }
    println!("{}", record.id);
    eprintln!(
        "adopted {}'s session {} as {} in {}; follow with: aside logs -f {}",
        session.tool.agent(),
        session.summary.id,
        record.id,
        record.worktree.display(),
        record.id
    );
    Ok(())
}
