//! `aside host <id>`: the detached supervisor of one session (started by `aside new`).

/// Run a session's host (internal: started by aside itself).
#[derive(clap::Args)]
pub struct Args {
    /// Session id.
    id: String,
}

pub fn run(args: Args) -> anyhow::Result<()> {
    let config = aside_core::Config::load_user()?;
    if !aside_core::SessionId::is_valid(&args.id) {
        anyhow::bail!("invalid session id `{}`", args.id);
    }
    let layout = aside_store::Layout::new(aside_core::paths::aside_home());
    aside_host::run(layout, aside_core::SessionId(args.id), config)
}
