//! `aside` (no arguments) and `aside tui`: the terminal Agents view.

use anyhow::Context as _;
use std::io::IsTerminal as _;

/// The terminal Agents view: every session, live; open one for its conversation, answer its
/// questions, send follow-ups, review and apply its work. `?` lists the keys; quitting never
/// stops a session. Without a terminal it prints the session list (`aside ls`).
#[derive(clap::Args)]
pub struct Args {}

pub fn run(_args: Args) -> anyhow::Result<()> {
    if !std::io::stdin().is_terminal() || !std::io::stdout().is_terminal() {
        return super::ls::run(super::ls::Args::default());
    }
    let config = aside_core::Config::load_user()?;
    let ctx = super::common::open()?;
    let options = aside_tui::run::Options {
        exe: std::env::current_exe().context("while finding the aside binary")?,
        dir: std::env::current_dir().context("while reading the current directory")?,
    };
    aside_tui::run::run(ctx, config, options).map_err(anyhow::Error::msg)
}
