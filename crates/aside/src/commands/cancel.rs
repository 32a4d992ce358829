//! `aside cancel`: stop the current turn.

use super::common::Ctx;
use aside_host::protocol::Request;

/// Cancel the session's current turn; the session stays for follow-ups.
#[derive(clap::Args)]
pub struct Args {
    /// Session id (or a unique prefix).
    id: String,
}

pub fn run(args: Args) -> anyhow::Result<()> {
    let ctx = Ctx::open()?;
    let record = ctx.resolve(&args.id)?;
    match aside_host::client::send(&ctx.layout, &record.id, Request::Cancel) {
        Ok(()) => {
            eprintln!("cancelling {}", record.id);
            Ok(())
        }
        Err(aside_host::client::ClientError::NoHost) => anyhow::bail!(
            "session {} has no running host (status {}); nothing to cancel",
            record.id,
            ctx.status(&record)
        ),
        Err(e) => Err(e.into()),
    }
}
