//! `aside`: run coding agents in the background.
//!
//! The binary is thin: one file per command under `commands/`, each parsing its arguments,
//! calling a library crate and rendering the result. stdout carries results; everything else
//! goes to stderr.

mod commands;

use clap::{CommandFactory as _, Parser, Subcommand};
use std::process::ExitCode;

/// Run coding agents in the background, each in its own git worktree.
#[derive(Parser)]
#[command(name = "aside", version, about)]
struct Cli {
    /// Without a command: the terminal Agents view (the session list when not in a terminal).
    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Subcommand)]
enum Command {
    New(commands::new::Args),
    Plan(commands::plan::Args),
    Chat(commands::chat::Args),
    Ls(commands::ls::Args),
    Show(commands::show::Args),
    Adopt(commands::adopt::Args),
    Open(commands::open::Args),
    Logs(commands::logs::Args),
    Send(commands::send::Args),
    Cancel(commands::cancel::Args),
    Stop(commands::stop::Args),
    Approve(commands::approve::ApproveArgs),
    Deny(commands::approve::DenyArgs),
    Diff(commands::diff::Args),
    Apply(commands::apply::Args),
    Merge(commands::merge::Args),
    Move(commands::moves::Args),
    Attach(commands::attach::Args),
    Resume(commands::resume::Args),
    Rm(commands::rm::Args),
    Archive(commands::rm::ArchiveArgs),
    Unarchive(commands::rm::UnarchiveArgs),
    Ui(commands::ui::Args),
    Doctor(commands::doctor::Args),
    Completions(commands::completions::Args),
    Config(commands::config::Args),
    Machine(commands::machine::Args),
    Wait(commands::wait::Args),
    Pool(commands::pool::Args),
    Trust(commands::trust::Args),
    /// The sandbox the built-in agent's commands run in, and whether it works here.
    Sandbox(commands::sandbox::Args),
    /// What sessions used: tokens and cost, by session, agent, model, repository and day.
    Usage(commands::usage::Args),
    /// The terminal Agents view (what `aside` alone opens).
    Tui(commands::tui::Args),
    Agent(commands::agent::Args),
    #[command(hide = true)]
    Host(commands::host::Args),
    #[command(hide = true)]
    Guard(commands::guard::Args),
    #[command(hide = true)]
    Refill(commands::pool::RefillArgs),
    #[command(hide = true)]
    Stream(commands::stream::Args),
    #[command(hide = true)]
    Pack(commands::moves::PackArgs),
    #[command(hide = true)]
    Receive(commands::moves::ReceiveArgs),
}

fn main() -> ExitCode {
    // Before anything else (and any thread): the model key leaves the environment that
    // commands of the agent could read.
    aside_core::process::hide_model_key();
    // A shell asking what to complete (COMPLETE=bash aside -- aside sh…) is answered, and that
    // is all.
    clap_complete::CompleteEnv::with_factory(Cli::command).complete();
    // A session on another machine (`MACHINE:ID`): its aside there does it.
    let raw: Option<Vec<String>> = std::env::args_os().map(|a| a.into_string().ok()).collect();
    if let Some(code) = raw.as_deref().and_then(commands::machine::forwarded) {
        return code;
    }
    // Inside a sandbox, before a command that reaches listed hosts (internal).
    if let Some([_, sub, rest @ ..]) = raw.as_deref() {
        if sub == aside_core::sandbox::net::SUBCOMMAND {
            std::process::exit(aside_core::sandbox::net::bridge_main(rest));
        }
    }
    let cli = Cli::parse();
    let command = cli.command.unwrap_or(Command::Tui(commands::tui::Args {}));
    // Commands that print and exit end quietly on a closed pipe (`aside ls | head`); the
    // long-running ones (host, guard, agent, ui) treat a closed pipe as an error instead.
    if !matches!(
        command,
        Command::Host(_)
            | Command::Guard(_)
            | Command::Agent(_)
            | Command::Ui(_)
            | Command::Refill(_)
    ) {
        aside_core::process::restore_sigpipe();
    }
    tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_env("ASIDE_LOG")
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn")),
        )
        .init();
    let result = match command {
        Command::New(args) => commands::new::run(args),
        Command::Plan(args) => commands::plan::run(args),
        Command::Chat(args) => commands::chat::run(args),
        Command::Ls(args) => commands::ls::run(args),
        Command::Show(args) => commands::show::run(args),
        Command::Adopt(args) => commands::adopt::run(args),
        Command::Open(args) => commands::open::run(args),
        Command::Logs(args) => commands::logs::run(args),
        Command::Send(args) => commands::send::run(args),
        Command::Cancel(args) => commands::cancel::run(args),
        Command::Stop(args) => commands::stop::run(args),
        Command::Approve(args) => commands::approve::approve(args),
        Command::Deny(args) => commands::approve::deny(args),
        Command::Diff(args) => commands::diff::run(args),
        Command::Apply(args) => commands::apply::run(args),
        Command::Merge(args) => commands::merge::run(args),
        Command::Attach(args) => commands::attach::run(args),
        Command::Resume(args) => commands::resume::run(args),
        Command::Rm(args) => commands::rm::run(args),
        Command::Archive(args) => commands::rm::archive(args),
        Command::Unarchive(args) => commands::rm::unarchive(args),
        Command::Ui(args) => commands::ui::run(args),
        Command::Doctor(args) => commands::doctor::run(args),
        Command::Completions(args) => commands::completions::run(args),
        Command::Config(args) => commands::config::run(args),
        Command::Machine(args) => commands::machine::run(args),
        Command::Wait(args) => commands::wait::run(args),
        Command::Tui(args) => commands::tui::run(args),
        Command::Agent(args) => commands::agent::run(args),
        Command::Host(args) => commands::host::run(args),
        Command::Guard(args) => commands::guard::run(args),
        Command::Pool(args) => commands::pool::run(args),
        Command::Trust(args) => commands::trust::run(args),
        Command::Refill(args) => commands::pool::refill(args),
        Command::Stream(args) => commands::stream::run(args),
        Command::Move(args) => commands::moves::run(args),
        Command::Sandbox(args) => commands::sandbox::run(args),
        Command::Usage(args) => commands::usage::run(args),
        Command::Pack(args) => commands::moves::pack(args),
        Command::Receive(args) => commands::moves::receive(args),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            // Errors echo input (a task, a path, an agent's words): shown as text.
            eprintln!(
                "aside: {}",
                aside_core::text::terminal_safe(&format!("{e:#}"))
            );
            ExitCode::FAILURE
        }
    }
}
