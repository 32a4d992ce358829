//! `aside wait`: block until sessions are done (or need an answer), for scripts.

use aside_core::Status;
use std::time::{Duration, Instant};

/// Wait until every session given is done (completed, failed, cancelled or interrupted), or
/// with `--until needs_input` until each needs an answer (or is done: it never will). Prints
/// `ID STATUS` per session as each gets there. Exit status: 0 when all completed (or need
/// input), 1 when one failed, was cancelled or interrupted, 2 on --timeout.
#[derive(clap::Args)]
pub struct Args {
    /// Session ids (or unique prefixes).
    #[arg(required = true, add = clap_complete::engine::ArgValueCompleter::new(super::completions::session_ids))]
    ids: Vec<String>,
    /// What to wait for.
    #[arg(long, value_enum, default_value = "done")]
    until: Until,
    /// Give up after this many seconds (exit status 2).
    #[arg(long, value_name = "SECS")]
    timeout: Option<u64>,
}

#[derive(Clone, Copy, PartialEq, clap::ValueEnum)]
enum Until {
    /// The turn ended: completed, failed, cancelled or interrupted.
    Done,
    /// The agent asks for an answer (or is done).
    NeedsInput,
}

fn done(status: Status) -> bool {
    !status.is_active() && status != Status::InTerminal
}

pub fn run(args: Args) -> anyhow::Result<()> {
    let ctx = super::common::open()?;
    let mut waiting: Vec<aside_core::SessionRecord> = args
        .ids
        .iter()
        .map(|id| ctx.resolve(id))
        .collect::<Result<_, _>>()?;
    let deadline = args
        .timeout
        .map(|s| Instant::now() + Duration::from_secs(s));
    let mut bad = false;
    while !waiting.is_empty() {
        let mut still = Vec::new();
        for record in waiting {
            let now = ctx.index.get(&record.id)?.unwrap_or(record);
            let status = ctx.status(&now);
            let there = match args.until {
                Until::Done => done(status),
                Until::NeedsInput => status == Status::NeedsInput || done(status),
            };
            if there {
                bad |= matches!(
                    status,
                    Status::Failed | Status::Cancelled | Status::Interrupted
                );
                println!("{} {status}", now.id);
            } else {
                still.push(now);
            }
        }
        waiting = still;
        if waiting.is_empty() {
            break;
        }
        if deadline.is_some_and(|d| Instant::now() >= d) {
            for record in &waiting {
                eprintln!(
                    "aside: gave up waiting for {} ({})",
                    record.id,
                    ctx.status(record)
                );
            }
            std::process::exit(2);
        }
        std::thread::sleep(Duration::from_millis(200));
    }
    if bad {
        std::process::exit(1);
    }
    Ok(())
}
