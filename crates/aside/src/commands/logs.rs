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
    /// Print only the last N events (then follow, with -f).
    #[arg(long, value_name = "N")]
    tail: Option<usize>,
}

pub fn run(args: Args) -> anyhow::Result<()> {
    let ctx = super::common::open()?;
    let record = ctx.resolve(&args.id)?;
    let mut printer = LogPrinter::default();
    let log = EventLog::open(&ctx.layout, &record.id)?;
    let mut last = 0;
    match args.tail {
        Some(n) => {
            for event in log.tail(n)? {
                printer.print(&event);
                last = event.seq;
            }
        }
        // Printed as it is read: a long session is never held whole.
        None => log.each_since(0, |event| {
            printer.print(&event);
            last = event.seq;
            true
        })?,
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
