//! Benchmark of one long session (`cargo bench -p aside --bench long_session`): the built-in
//! agent on the fake model, each reply streamed in 50 chunks, BENCH_TURNS follow-ups (default
//! 2,000) queued one after another. Printed, for streamed text stored as it is now (a row per
//! quarter second) and as it was (a row per chunk, ASIDE_EVENT_FLUSH_MS=0), side by side:
//! - aside's time per turn (between turn ends) over the first and the last 100 turns, and their
//!   ratio;
//! - the host's peak RSS;
//! - events stored, events/s, and the store's size on disk per 1,000 turns;
//! - `show` (its tail) and `logs --tail 50` on the finished session (median of 5).
//!
//! The agent runs with a 16,000-token context window, so it compacts its conversation as it
//! would near a real model's limit and its requests stay bounded.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use aside_testkit::bench;
use aside_testkit::procs::host_pid;
use aside_testkit::repo::init_repo;
use aside_testkit::{Chunk, FakeModel, Reply};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

struct Run {
    root: PathBuf,
    repo: PathBuf,
    model: FakeModel,
    flush_ms: u64,
}

impl Run {
    fn new(root: &Path, flush_ms: u64) -> Run {
        let root = root.join(format!("flush-{flush_ms}"));
        let repo = root.join("proj");
        std::fs::create_dir_all(root.join("home")).unwrap();
        init_repo(&repo, &[("README.md", "# long\n")]);
        Run {
            root,
            repo,
            model: FakeModel::start(),
            flush_ms,
        }
    }

    fn aside(&self, args: &[&str]) -> String {
        let mut cmd =
            bench::aside_command(env!("CARGO_BIN_EXE_aside"), &self.root, Some(&self.model));
        cmd.current_dir(&self.repo)
            .env("ASIDE_HOST_IDLE_SECS", "30")
            .env("ASIDE_EVENT_FLUSH_MS", self.flush_ms.to_string())
            // A small context window: the agent compacts its conversation as a real one would
            // (the fake model answers the summaries), so what it sends stays bounded.
            .env("ASIDE_CONTEXT_WINDOW", "16000");
        bench::stdout_of(cmd, args)
    }
}

fn reply(turn: usize) -> Reply {
    let chunks = (0..50)
        .map(|i| Chunk::Text(format!("turn {turn} word {i} ")))
        .collect();
    Reply::stream(chunks)
}

fn kib(pid: i32, field: &str) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .unwrap_or_default()
        .lines()
        .find(|l| l.starts_with(field))
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|n| n.parse().ok())
        .unwrap_or(0)
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(|a, b| a.partial_cmp(b).unwrap());
    v[v.len() / 2]
}

fn time_ms(run: &Run, args: &[&str]) -> f64 {
    median(
        (0..5)
            .map(|_| {
                let t = Instant::now();
                run.aside(args);
                t.elapsed().as_secs_f64() * 1000.0
            })
            .collect(),
    )
}

struct Figures {
    first: f64,
    last: f64,
    peak_rss_kib: u64,
    events: u64,
    /// Over the turns after the task's.
    events_per_s: f64,
    bytes_per_1000_turns: f64,
    show_ms: f64,
    logs_ms: f64,
}

fn run(root: &Path, flush_ms: u64, turns: usize) -> Figures {
    let r = Run::new(root, flush_ms);
    // The task's reply waits until every follow-up is queued, so the turns after it run back to
    // back: their pace is aside's (and the agent's), not the sender's.
    let mut first = vec![Chunk::Delay(Duration::from_millis(
        turns as u64 * 40 + 3000,
    ))];
    first.extend((0..50).map(|i| Chunk::Text(format!("task word {i} "))));
    r.model.push([Reply::stream(first)]);
    r.model.push((1..=turns).map(reply));
    r.model.push_for(
        "Summarise this conversation",
        (0..turns).map(|_| Reply::text("Earlier: numbered follow-ups, each answered.")),
    );
    let id = r.aside(&["new", "long: begin"]);
    for turn in 0..turns {
        r.aside(&["send", &id, &format!("long: turn {turn}")]);
    }
    let layout = aside_store::Layout::new(r.root.join("aside-home"));
    let sid = aside_core::SessionId(id.clone());
    let mut peak = 0;
    let deadline = Instant::now() + Duration::from_secs(3600);
    loop {
        if let Some(pid) = host_pid(&id) {
            peak = peak.max(kib(pid, "VmHWM:"));
        }
        let log = aside_store::EventLog::open(&layout, &sid).unwrap();
        if log.count_of("turn_end").unwrap() as usize > turns {
            break;
        }
        assert!(Instant::now() < deadline, "the turns never ended");
        std::thread::sleep(Duration::from_millis(200));
    }
    let log = aside_store::EventLog::open(&layout, &sid).unwrap();
    let ends: Vec<f64> = log
        .last_of("turn_end", usize::MAX >> 1)
        .unwrap()
        .iter()
        .map(|e| {
            aside_core::time::parse_rfc3339(&e.ts)
                .unwrap()
                .duration_since(std::time::UNIX_EPOCH)
                .unwrap()
                .as_secs_f64()
        })
        .collect();
    // From the end of the task's turn: follow-up after follow-up.
    let per_turn: Vec<f64> = ends.windows(2).map(|w| (w[1] - w[0]) * 1000.0).collect();
    let window = 100.min(per_turn.len() / 2).max(1);
    let first = median(per_turn[..window].to_vec());
    let last = median(per_turn[per_turn.len() - window..].to_vec());
    let events = log.last_seq().unwrap();
    r.aside(&["stop", "--all"]);
    // The store's size with its write-ahead log folded in.
    let db = layout.events(&sid);
    rusqlite::Connection::open(&db)
        .unwrap()
        .execute_batch("PRAGMA wal_checkpoint(TRUNCATE);")
        .unwrap();
    let bytes = std::fs::metadata(&db).unwrap().len();
    let show_ms = time_ms(&r, &["show", &id]);
    let logs_ms = time_ms(&r, &["logs", &id, "--tail", "50"]);
    Figures {
        first,
        last,
        peak_rss_kib: peak,
        events,
        events_per_s: events as f64 / ((ends[ends.len() - 1] - ends[0]).max(0.001)),
        bytes_per_1000_turns: bytes as f64 * 1000.0 / (turns + 1) as f64,
        show_ms,
        logs_ms,
    }
}

/// Events per second one log takes when written as fast as it can be (chunk-sized rows).
fn store_rate() -> f64 {
    let dir = tempfile::tempdir().unwrap();
    let layout = aside_store::Layout::new(dir.path());
    let log = aside_store::EventLog::open(&layout, &aside_core::SessionId("rate".into())).unwrap();
    let data = serde_json::json!({"sessionUpdate": "agent_message_chunk",
        "content": {"type": "text", "text": "a chunk of streamed text, about this long "}});
    let n = 20_000;
    let t = Instant::now();
    for _ in 0..n {
        log.append("agent_message_chunk", &data).unwrap();
    }
    n as f64 / t.elapsed().as_secs_f64()
}

fn main() {
    let turns: usize = std::env::var("BENCH_TURNS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(2000);
    let dir = tempfile::tempdir().unwrap();
    println!(
        "the store takes {:.0} events/s (20,000 chunk rows appended one by one)",
        store_rate()
    );
    println!(
        "one session, {turns} follow-ups, replies of 50 chunks, built-in agent on the fake model"
    );
    let now = run(dir.path(), 250, turns);
    let before = run(dir.path(), 0, turns);
    println!(
        "{:<34} {:>16} {:>16}",
        "", "a row per 250 ms", "a row per chunk"
    );
    let row = |name: &str, a: String, b: String| println!("{name:<34} {a:>16} {b:>16}");
    row(
        "time per turn, first 100 (median)",
        format!("{:.0} ms", now.first),
        format!("{:.0} ms", before.first),
    );
    row(
        "time per turn, last 100 (median)",
        format!("{:.0} ms", now.last),
        format!("{:.0} ms", before.last),
    );
    row(
        "last / first",
        format!("{:.2}×", now.last / now.first),
        format!("{:.2}×", before.last / before.first),
    );
    row(
        "host peak RSS",
        format!("{:.1} MiB", now.peak_rss_kib as f64 / 1024.0),
        format!("{:.1} MiB", before.peak_rss_kib as f64 / 1024.0),
    );
    row(
        "events stored",
        now.events.to_string(),
        before.events.to_string(),
    );
    row(
        "events/s over the follow-ups",
        format!("{:.0}", now.events_per_s),
        format!("{:.0}", before.events_per_s),
    );
    row(
        "store per 1,000 turns",
        format!("{:.2} MB", now.bytes_per_1000_turns / 1e6),
        format!("{:.2} MB", before.bytes_per_1000_turns / 1e6),
    );
    row(
        "show (tail), median of 5",
        format!("{:.0} ms", now.show_ms),
        format!("{:.0} ms", before.show_ms),
    );
    row(
        "logs --tail 50, median of 5",
        format!("{:.0} ms", now.logs_ms),
        format!("{:.0} ms", before.logs_ms),
    );
}
