//! `aside trust`: what a repository's `.aside.toml` may make aside do on your behalf.

use anyhow::Context as _;
use aside_core::config::{DefaultsConfig, RepoConfig};
use aside_core::trust::{Asks, TrustStore};
use aside_core::Config;
use std::path::{Path, PathBuf};

/// Trust a repository's `.aside.toml`: its [setup] and [teardown] commands, and [defaults] looser
/// than your own (workspace mode, a more permissive approval policy).
///
/// Nothing a repository's file asks for runs until you trust exactly that; a changed
/// `.aside.toml` asks again. `aside new`, `chat`, `plan`, `rm`, the terminal view and the web
/// view show what it asks and offer the same.
#[derive(clap::Args)]
pub struct Args {
    /// The repository (default: the one you are in).
    path: Option<PathBuf>,
    /// List the repositories you trust and what you trusted.
    #[arg(long, conflicts_with = "revoke")]
    list: bool,
    /// Stop trusting the repository.
    #[arg(long)]
    revoke: bool,
}

pub fn run(args: Args) -> anyhow::Result<()> {
    let store = TrustStore::open();
    if args.list {
        let trusted = store.list();
        if trusted.is_empty() {
            eprintln!("no repository is trusted");
        }
        let user = Config::load_user().map(|c| c.defaults).unwrap_or_default();
        for t in trusted {
            println!("{}  (since {})", t.repo.display(), t.at);
            let mut lines = t.asks.describe(&user);
            if lines.is_empty() {
                lines.push("nothing that needs trust".into());
            }
            for line in lines {
                println!("  {}", super::render::terminal_safe(&line));
            }
        }
        return Ok(());
    }
    let root = repository(args.path)?;
    if args.revoke {
        if store.revoke(&root)? {
            eprintln!("no longer trusted: {}", root.display());
        } else {
            eprintln!("{} was not trusted", root.display());
        }
        return Ok(());
    }
    let config = RepoConfig::load(&root)?;
    let asks = Asks::of(&config);
    let user = Config::load_user()?.defaults;
    let lines = asks.describe(&user);
    if lines.is_empty() {
        eprintln!(
            "{}/.aside.toml asks for nothing that needs trust",
            root.display()
        );
    }
    store
        .trust(&root, &asks)
        .context("while recording that you trust it")?;
    eprintln!("trusted {}:", root.display());
    for line in lines {
        eprintln!("  {}", super::render::terminal_safe(&line));
    }
    Ok(())
}

/// The repository's root: of PATH, or of the current directory.
pub(crate) fn repository(path: Option<PathBuf>) -> anyhow::Result<PathBuf> {
    let dir = match path {
        Some(path) => path,
        None => std::env::current_dir().context("while reading the current directory")?,
    };
    anyhow::ensure!(dir.exists(), "{} does not exist", dir.display());
    aside_git::main_repo_root(&dir)
        .or_else(|_| aside_git::repo_root(&dir))
        .unwrap_or(dir)
        .canonicalize()
        .context("while resolving the repository's path")
}

/// Before a command that would act on `root`'s `.aside.toml` (`config`): what it asks that is
/// not trusted is shown and asked about in a terminal; without one, commands (`[setup]`, and
/// `[teardown]` when `teardown`) are refused with the command that trusts them, and looser
/// defaults are left out with a note. Ok(true) when the file is trusted as it stands.
pub(crate) fn settle(
    root: &Path,
    config: &RepoConfig,
    user: &DefaultsConfig,
    teardown: bool,
) -> anyhow::Result<bool> {
    use std::io::IsTerminal as _;
    let asks = Asks::of(config);
    let store = TrustStore::open();
    if !asks.need_trust(user) || store.trusts(root, &asks) {
        return Ok(true);
    }
    let runs = !asks.setup.is_empty() || (teardown && !asks.teardown.is_empty());
    let untrusted = aside_sessions::Untrusted {
        repo: root.to_path_buf(),
        lines: asks.describe(user),
        asks,
    };
    let lines: Vec<String> = untrusted
        .lines
        .iter()
        .map(|l| format!("  {}", super::render::terminal_safe(l)))
        .collect();
    let shown = super::render::terminal_safe(&root.display().to_string());
    let trust_command = format!(
        "aside trust {}",
        aside_sessions::shell_word(&root.display().to_string())
    );
    if std::io::stdin().is_terminal() && std::io::stderr().is_terminal() {
        eprintln!(
            "{shown}/.aside.toml asks aside to do this on your behalf:\n{}",
            lines.join("\n")
        );
        eprint!("Trust it (until the file changes; `aside trust --revoke` undoes it)? [y/N] ");
        let mut answer = String::new();
        std::io::stdin().read_line(&mut answer)?;
        if matches!(answer.trim(), "y" | "Y" | "yes" | "Yes") {
            store.trust(root, &untrusted.asks)?;
            return Ok(true);
        }
        anyhow::ensure!(
            !runs,
            "not trusted, so nothing was run or started; `{trust_command}` trusts it later"
        );
        eprintln!("not trusted: going on with your own settings");
        return Ok(false);
    }
    // The refusal every view gives (`aside_sessions::Untrusted`); printed as text by main.
    anyhow::ensure!(!runs, "{untrusted}");
    eprintln!(
        "note: {shown}/.aside.toml asks for settings looser than yours, not applied until you trust it (`{trust_command}`):\n{}",
        lines.join("\n")
    );
    Ok(false)
}
