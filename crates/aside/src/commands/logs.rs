//! `aside logs`: a session's events as they happen.

use super::render::LogPrinter;
use aside_core::Status;
use aside_protocol::client::{follow, Flow, Step};
use aside_store::EventLog;

/// Print a session's events; with -f, keep following until the session stops.
#[derive(clap::Args)]
pub struct Args {
    /// Session id (or a unique prefix).
    #[arg(add = clap_complete::engine::ArgValueCompleter::new(super::completions::session_ids))]
    id: String,
    /// Follow new events until the turn ends.
    #[arg(short, long)]
    follow: bool,
}

pub fn run(args: Args) -> anyhow::Result<()> {
    let ctx = super::common::open()?;
    let record = ctx.resolve(&args.id)?;
    let mut printer = LogPrinter::default();
    let stored = EventLog::open(&ctx.layout, &record.id)?.since(0)?;
    let mut last = 0;
    for event in &stored {
        printer.print(event);
        last = event.seq;
    }
    if args.follow && ctx.status(&record).is_active() {
        follow(&ctx.layout, &record.id, last, |step| match step {
            Step::Event(event) => {
                printer.print(&event);
                // Follow until the session stops working.
                let stopped = event.kind == "status"
                    && event.data["status"]
                        .as_str()
                        .and_then(Status::parse)
                        .is_some_and(|s| !s.is_active());
                if stopped {
                    Flow::Stop
                } else {
                    Flow::Continue
                }
            }
            Step::NoHost => {
                printer.finish();
                let now = ctx
                    .resolve(record.id.as_str())
                    .unwrap_or_else(|_| record.clone());
                eprintln!(
                    "the session's host is not running ({}); `aside resume {}` restarts it",
                    ctx.status(&now),
                    record.id
                );
                Flow::Stop
            }
        })?;
    }
    printer.finish();
    Ok(())
}
