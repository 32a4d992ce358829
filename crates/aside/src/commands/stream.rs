//! `aside stream` (hidden): a session's events as JSON lines, for an aside on another machine
//! following it over SSH (`aside_sessions::remote::Follower`).

use aside_protocol::client::{follow, Flow, Step};
use aside_sessions::remote::Line;
use std::io::Write as _;
use std::time::{Duration, Instant};

/// Print session ID's events after `--since` as JSON lines (`{"event": …}`), and its record
/// when it changes without one (`{"session": …}`), until standard input closes.
#[derive(clap::Args)]
pub struct Args {
    /// Session id (or a unique prefix).
    id: String,
    /// The last event the reader has.
    #[arg(long, default_value_t = 0)]
    since: u64,
}

/// How often the record is read again while no host runs.
const RECHECK: Duration = Duration::from_secs(1);

pub fn run(args: Args) -> anyhow::Result<()> {
    let ctx = super::common::open()?;
    let record = ctx.resolve(&args.id)?;
    // The reader's end (an SSH channel) going away ends the stream, even while nothing happens.
    std::thread::spawn(|| {
        let _ = std::io::copy(&mut std::io::stdin().lock(), &mut std::io::sink());
        std::process::exit(0);
    });
    let mut out = std::io::stdout().lock();
    let mut write = |line: &Line| -> bool {
        serde_json::to_writer(&mut out, line).is_ok()
            && out.write_all(b"\n").is_ok()
            && out.flush().is_ok()
    };
    let mut shown = ctx.json(&record);
    if !write(&Line::Session(shown.clone())) {
        return Ok(());
    }
    let mut read_at = Instant::now();
    follow(&ctx.layout, &record.id, args.since, |step| {
        let line = match step {
            Step::Event(event) => Line::Event(event),
            Step::NoHost if read_at.elapsed() < RECHECK => return Flow::Continue,
            Step::NoHost => {
                read_at = Instant::now();
                let Ok(Some(now)) = ctx.index.get(&record.id) else {
                    return Flow::Continue;
                };
                let now = ctx.json(&now);
                if now == shown {
                    return Flow::Continue;
                }
                shown = now.clone();
                Line::Session(now)
            }
        };
        if write(&line) {
            Flow::Continue
        } else {
            Flow::Stop
        }
    })?;
    Ok(())
}
