//! `aside send`: a follow-up.

use super::common::Ctx;
use aside_host::protocol::Request;

/// Send a follow-up: it starts the next turn, or waits behind the current one.
#[derive(clap::Args)]
pub struct Args {
    /// Session id (or a unique prefix).
    id: String,
    /// The message.
    text: String,
}

pub fn run(args: Args) -> anyhow::Result<()> {
    if args.text.trim().is_empty() {
        anyhow::bail!("the message is empty");
    }
    let ctx = Ctx::open()?;
    let record = ctx.resolve(&args.id)?;
    if !ctx.host_alive(&record) {
        // The host of a finished session may have stopped: start it again for the follow-up.
        ctx.start_host(&record)?;
    }
    aside_host::client::send(&ctx.layout, &record.id, Request::Prompt { text: args.text })?;
    eprintln!(
        "sent to {}; follow with: aside logs -f {}",
        record.id, record.id
    );
    Ok(())
}
