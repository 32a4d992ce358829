//! `aside open`: a session's worktree in the user's editor.

use aside_sessions::editor::{self, Environment, Terminal};

/// Open a session's worktree in your editor: `[editor] command` from config.toml (the path is
/// appended), else $VISUAL, else $EDITOR, else `code --new-window`. A GUI editor starts in the
/// background and this returns at once; a terminal editor runs here, in the worktree, and
/// `aside open` exits with its status.
#[derive(clap::Args)]
pub struct Args {
    /// Session id (or a unique prefix).
    #[arg(add = clap_complete::engine::ArgValueCompleter::new(super::completions::session_ids))]
    id: String,
    /// Print the worktree's path instead of opening it (`cd "$(aside open ID --print)"`).
    #[arg(long)]
    print: bool,
}

pub fn run(args: Args) -> anyhow::Result<()> {
    let ctx = super::common::open()?;
    let record = ctx.resolve(&args.id)?;
    let dir = editor::worktree(&record)?;
    if args.print {
        println!("{}", dir.display());
        return Ok(());
    }
    let config = aside_core::Config::load_user()?;
    let editor = editor::choose(&config.editor, &Environment::current(), Terminal::Available)?;
    if editor.gui {
        editor.spawn_detached(dir)?;
        eprintln!("opened {} in {editor}", dir.display());
        return Ok(());
    }
    let status = editor.run(dir)?;
    if !status.success() {
        // The editor's own status, as a shell would report it (128 + signal when killed);
        // the editor has already said why, if anything.
        use std::os::unix::process::ExitStatusExt as _;
        let code = status
            .code()
            .or_else(|| status.signal().map(|s| 128 + s))
            .unwrap_or(1);
        std::process::exit(code);
    }
    Ok(())
}
