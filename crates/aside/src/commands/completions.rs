//! `aside completions SHELL`, and the values completed as you type: session ids (with their
//! titles) and agent names, read from the store when the shell asks.

use clap_complete::engine::CompletionCandidate;
use clap_complete::env::Shells;

/// Print the shell code that completes aside's commands, options, session ids and agent names:
/// `source <(aside completions bash)` in ~/.bashrc (zsh the same; fish: `aside completions fish
/// | source`; PowerShell: `aside completions powershell | Out-String | Invoke-Expression`).
#[derive(clap::Args)]
pub struct Args {
    /// bash, zsh, fish, elvish or powershell.
    shell: String,
}

pub fn run(args: Args) -> anyhow::Result<()> {
    let shells = Shells::builtins();
    let Some(shell) = shells.completer(&args.shell) else {
        anyhow::bail!(
            "aside completes in bash, zsh, fish, elvish and powershell, not `{}`",
            args.shell
        );
    };
    // The shell runs this very binary to complete, wherever it is installed.
    let exe = std::env::current_exe()?.display().to_string();
    let mut out = std::io::stdout().lock();
    shell.write_registration("COMPLETE", "aside", "aside", &exe, &mut out)?;
    Ok(())
}

/// The sessions (not archived) whose ids start with what is typed, each with its title; and
/// sessions started in the agents' own CLIs, for the commands that take them.
fn ids(current: &std::ffi::OsStr, external: bool) -> Vec<CompletionCandidate> {
    let typed = current.to_string_lossy();
    let Ok(ctx) = aside_sessions::Sessions::open() else {
        return Vec::new();
    };
    let mut out: Vec<CompletionCandidate> = ctx
        .index
        .list(false)
        .unwrap_or_default()
        .into_iter()
        .filter(|r| r.id.as_str().starts_with(typed.as_ref()))
        .map(|r| CompletionCandidate::new(r.id.to_string()).help(Some(r.title.clone().into())))
        .collect();
    if external {
        out.extend(
            ctx.externals()
                .into_iter()
                .filter(|s| s.summary.id.starts_with(typed.as_ref()))
                .map(|s| {
                    CompletionCandidate::new(s.summary.id.clone()).help(Some(
                        format!("{} (in {})", s.summary.title, s.tool.agent()).into(),
                    ))
                }),
        );
    }
    out
}

/// Session ids, for the commands that take aside's sessions.
pub fn session_ids(current: &std::ffi::OsStr) -> Vec<CompletionCandidate> {
    ids(current, false)
}

/// Session ids, with those of sessions started in the agents' own CLIs.
pub fn any_session_ids(current: &std::ffi::OsStr) -> Vec<CompletionCandidate> {
    ids(current, true)
}

/// Agent names: the built-in one, the presets, those in the config; installed ones first.
pub fn agents(current: &std::ffi::OsStr) -> Vec<CompletionCandidate> {
    let typed = current.to_string_lossy();
    let config = aside_core::Config::load_user().unwrap_or_default();
    let exe = std::env::current_exe()
        .map(|e| e.display().to_string())
        .unwrap_or_default();
    let found = aside_core::agents::detect_installed_first(&config, &exe);
    found
        .into_iter()
        .filter(|a| a.name.starts_with(typed.as_ref()))
        .map(|a| {
            let help = if a.program.is_some() {
                "installed".to_string()
            } else {
                format!(
                    "not installed: {}",
                    aside_core::agents::install_hint(&a.name)
                )
            };
            CompletionCandidate::new(a.name).help(Some(help.into()))
        })
        .collect()
}
