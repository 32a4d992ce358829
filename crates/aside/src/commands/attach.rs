//! `aside attach`: the session live in the terminal, with a prompt for follow-ups.

use super::render::LogPrinter;
use aside_host::protocol::{Choice, Request};
use aside_store::EventLog;
use std::io::BufRead as _;

/// Watch a session live and talk to it. Lines you type are sent as follow-ups; /approve,
/// /approve-always, /deny and /cancel answer the agent. Ctrl-C (or Ctrl-D) detaches: the
/// session goes on.
#[derive(clap::Args)]
pub struct Args {
    /// Session id (or a unique prefix).
    id: String,
}

pub fn run(args: Args) -> anyhow::Result<()> {
    let ctx = super::common::open()?;
    let record = ctx.resolve(&args.id)?;
    if !ctx.host_alive(&record) {
        ctx.start_host(&record)?;
    }
    let layout = ctx.layout.clone();
    let id = record.id.clone();
    let stored = EventLog::open(&ctx.layout, &record.id)?.since(0)?;
    let last = stored.last().map(|e| e.seq).unwrap_or(0);
    let mut printer = LogPrinter::default();
    for event in &stored {
        printer.print(event);
    }
    std::thread::spawn(move || {
        let _ = aside_host::client::subscribe(&layout, &id, last, |event| {
            printer.print(&event);
            true
        });
        eprintln!("\n[the session's host stopped]");
    });
    eprintln!("attached to {} — type a follow-up and press Enter; /approve, /deny, /cancel; Ctrl-C detaches", record.id);
    for line in std::io::stdin().lock().lines() {
        let line = line?;
        let text = line.trim();
        let request = match text {
            "" => continue,
            "/approve" => Request::Answer {
                choice: Choice::Allow,
            },
            "/approve-always" => Request::Answer {
                choice: Choice::AllowAlways,
            },
            "/deny" => Request::Answer {
                choice: Choice::Deny,
            },
            "/cancel" => Request::Cancel,
            _ => Request::Prompt {
                text: text.to_string(),
            },
        };
        if let Err(e) = aside_host::client::send(&ctx.layout, &record.id, request) {
            eprintln!("aside: {e}");
        }
    }
    Ok(())
}
