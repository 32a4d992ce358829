//! `aside`: run coding agents in the background.
//!
//! The binary is thin: one file per command under `commands/`, each parsing its arguments,
//! calling a library crate and rendering the result. stdout carries results; everything else
//! goes to stderr.

mod commands;

use clap::{Parser, Subcommand};
use std::process::ExitCode;

/// Run coding agents in the background, each in its own git worktree.
#[derive(Parser)]
#[command(name = "aside", version, about)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    Agent(commands::agent::Args),
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_env("ASIDE_LOG")
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn")),
        )
        .init();
    let result = match cli.command {
        Command::Agent(args) => commands::agent::run(args),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("aside: {e:#}");
            ExitCode::FAILURE
        }
    }
}
