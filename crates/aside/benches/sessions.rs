//! Benchmark of background sessions, on the fake model (`cargo bench -p aside --bench sessions`):
//! - time from `aside new` to the agent receiving its prompt, for a small repository and a
//!   generated 100,000-file one, beside plain `git worktree add` of the same repository;
//! - host and agent RSS per session;
//! - 50 concurrent sessions: all complete, no event lost, total memory.
//!
//! Set BENCH_FILES to change the size of the big repository.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use aside_testkit::bench;
use aside_testkit::procs::{host_pid, processes_in};
use aside_testkit::repo::{git, init_repo};
use aside_testkit::{Chunk, FakeModel, Reply};
use serde_json::Value;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

fn make_repo(root: &Path, name: &str, files: usize) -> PathBuf {
    let repo = root.join(name);
    init_repo(&repo, &[("README.md", "# bench\n")]);
    for i in 0..files {
        let dir = repo.join(format!("d{:03}", i / 1000));
        if i % 1000 == 0 {
            std::fs::create_dir_all(&dir).unwrap();
        }
        std::fs::write(dir.join(format!("f{i}.txt")), format!("file {i}\n")).unwrap();
    }
    git(&repo, &["add", "-A"]);
    git(&repo, &["commit", "-q", "-m", "files"]);
    repo
}

struct Bench {
    root: PathBuf,
    model: FakeModel,
}

impl Bench {
    fn aside(&self, repo: &Path, args: &[&str]) -> String {
        let mut cmd =
            bench::aside_command(env!("CARGO_BIN_EXE_aside"), &self.root, Some(&self.model));
        cmd.current_dir(repo).env("ASIDE_HOST_IDLE_SECS", "2");
        bench::stdout_of(cmd, args)
    }

    fn sessions(&self, repo: &Path) -> Vec<Value> {
        serde_json::from_str::<Value>(&self.aside(repo, &["ls", "--all", "--json"]))
            .unwrap()
            .as_array()
            .unwrap()
            .clone()
    }

    fn wait_all(&self, repo: &Path, n: usize) -> Vec<Value> {
        let deadline = Instant::now() + Duration::from_secs(600);
        loop {
            let s = self.sessions(repo);
            if s.len() == n
                && s.iter()
                    .all(|s| s["status"] == "completed" || s["status"] == "failed")
            {
                return s;
            }
            assert!(Instant::now() < deadline, "sessions never finished: {s:?}");
            std::thread::sleep(Duration::from_millis(100));
        }
    }
}

/// An `aside ROLE` process: hosts and guards run as the `aside-host` binary beside `aside`.
fn is_aside(args: &[String], role: &str) -> bool {
    args.len() >= 2
        && (args[0] == env!("CARGO_BIN_EXE_aside") || args[0] == env!("CARGO_BIN_EXE_aside-host"))
        && args[1] == role
}

fn new_to_prompt(bench: &Bench, repo: &Path, label: &str) {
    // Baseline first, on a quiet machine: plain `git worktree add` of the same repository.
    let name = format!("baseline-{}", repo.file_name().unwrap().to_string_lossy());
    let wt = repo.parent().unwrap().join(&name);
    let started = Instant::now();
    git(
        repo,
        &["worktree", "add", "-q", "-b", &name, wt.to_str().unwrap()],
    );
    let baseline = started.elapsed();
    git(
        repo,
        &["worktree", "remove", "--force", wt.to_str().unwrap()],
    );
    let runs = 4;
    let (mut times, mut made) = (Vec::new(), Vec::new());
    for i in 0..runs {
        // The first run makes a fresh checkout; the next ones find a spare worktree, once the
        // host has refilled the pool.
        let deadline = Instant::now() + Duration::from_secs(600);
        while i > 0 && aside_git::pool_len(repo) == 0 {
            assert!(Instant::now() < deadline, "the pool was never refilled");
            std::thread::sleep(Duration::from_millis(50));
        }
        let before = bench.model.received().len();
        bench.model.push([Reply::text("ok")]);
        let started = Instant::now();
        let id = bench.aside(repo, &["new", &format!("bench {label} {i}")]);
        let deadline = Instant::now() + Duration::from_secs(600);
        let at = loop {
            if let Some(r) = bench.model.received().get(before) {
                break r.at;
            }
            assert!(Instant::now() < deadline);
            std::thread::sleep(Duration::from_millis(1));
        };
        times.push(at - started);
        made.push(id);
    }
    // Removed at the end: removing a repository's last session clears its pool.
    for id in made {
        bench.aside(repo, &["rm", &id, "--force"]);
    }
    let cold = times.remove(0);
    times.sort();
    let runs = times.len();
    println!(
        "{label}: aside new -> agent has the prompt: cold (fresh checkout) {:.0} ms; from the worktree pool median {:.0} ms (min {:.0}, max {:.0}); plain git worktree add: {:.0} ms",
        cold.as_secs_f64() * 1000.0,
        times[runs / 2].as_secs_f64() * 1000.0,
        times[0].as_secs_f64() * 1000.0,
        times[runs - 1].as_secs_f64() * 1000.0,
        baseline.as_secs_f64() * 1000.0
    );
}

fn millis_until(started: Instant, mut done: impl FnMut() -> bool) -> f64 {
    while !done() {
        assert!(
            started.elapsed() < Duration::from_secs(30),
            "never happened"
        );
        std::thread::sleep(Duration::from_millis(2));
    }
    started.elapsed().as_secs_f64() * 1000.0
}

fn spread(mut v: Vec<f64>) -> String {
    v.sort_by(f64::total_cmp);
    format!(
        "median {:.0} ms (min {:.0}, max {:.0})",
        v[v.len() / 2],
        v[0],
        v[v.len() - 1]
    )
}

/// How long releasing a session mid-turn takes, until nothing of it runs: `aside stop`, SIGTERM
/// of its host, `kill -9` of its host (the guard takes the agent down).
fn stopping(bench: &Bench, repo: &Path) {
    let (mut stop, mut term, mut kill) = (vec![], vec![], vec![]);
    let asked = |n: usize| {
        let deadline = Instant::now() + Duration::from_secs(30);
        while bench.model.received().len() < n {
            assert!(Instant::now() < deadline, "the agent never asked the model");
            std::thread::sleep(Duration::from_millis(2));
        }
    };
    let hang = || Reply::stream(vec![Chunk::Text("thinking".into()), Chunk::Hang]);
    for round in 0..5 {
        bench.model.push([hang(), hang(), hang()]);
        let before = bench.model.received().len();
        let id = bench.aside(repo, &["new", &format!("stop round {round}")]);
        asked(before + 1);
        let worktree = PathBuf::from(
            bench
                .sessions(repo)
                .into_iter()
                .find(|s| s["id"] == id.as_str())
                .unwrap()["worktree"]
                .as_str()
                .unwrap(),
        );
        let started = Instant::now();
        bench.aside(repo, &["stop", &id]);
        stop.push(millis_until(started, || {
            processes_in(&worktree).is_empty() && host_pid(&id).is_none()
        }));

        bench.aside(repo, &["resume", &id]);
        asked(before + 2);
        let host = host_pid(&id).unwrap();
        let started = Instant::now();
        Command::new("kill").arg(host.to_string()).status().unwrap();
        term.push(millis_until(started, || {
            processes_in(&worktree).is_empty() && host_pid(&id).is_none()
        }));

        bench.aside(repo, &["resume", &id]);
        asked(before + 3);
        let host = host_pid(&id).unwrap();
        let started = Instant::now();
        Command::new("kill")
            .args(["-9", &host.to_string()])
            .status()
            .unwrap();
        kill.push(millis_until(started, || processes_in(&worktree).is_empty()));
        bench.aside(repo, &["rm", &id, "--force"]);
    }
    println!(
        "releasing a session mid-turn until nothing of it runs (built-in agent, 5 rounds): aside stop {}; SIGTERM of the host {}; kill -9 of the host {}",
        spread(stop),
        spread(term),
        spread(kill)
    );
}

fn main() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().canonicalize().unwrap();
    std::fs::create_dir_all(root.join("home/.config/aside")).unwrap();
    std::fs::write(
        root.join("home/.config/aside/config.toml"),
        "[sessions]\nmax_concurrent = 50\n",
    )
    .unwrap();
    let bench = Bench {
        root: root.clone(),
        model: FakeModel::start(),
    };

    let small = make_repo(&root, "small", 100);
    new_to_prompt(&bench, &small, "small repo (100 files)");

    // 50 concurrent sessions.
    let n = 50;
    bench.model.push((0..n).map(|_| Reply::text("done")));
    let started = Instant::now();
    for i in 0..n {
        bench.aside(&small, &["new", &format!("concurrent {i}")]);
    }
    let mut peak_hosts = (0, 0, 0);
    let mut peak_agents = (0, 0, 0);
    let mut peak_guards = (0, 0, 0);
    let sessions = loop {
        let hosts = aside_testkit::procs::memory_of(|a| is_aside(a, "host"));
        let agents = aside_testkit::procs::memory_of(|a| is_aside(a, "agent"));
        let guards = aside_testkit::procs::memory_of(|a| is_aside(a, "guard"));
        if hosts.1 + agents.1 + guards.1 > peak_hosts.1 + peak_agents.1 + peak_guards.1 {
            peak_hosts = hosts;
            peak_agents = agents;
            peak_guards = guards;
        }
        let s = bench.sessions(&small);
        if s.len() == n
            && s.iter()
                .all(|s| s["status"] == "completed" || s["status"] == "failed")
        {
            break s;
        }
        std::thread::sleep(Duration::from_millis(100));
    };
    let elapsed = started.elapsed();
    let completed = sessions
        .iter()
        .filter(|s| s["status"] == "completed")
        .count();
    let mut lost = 0;
    for s in &sessions {
        let show: Value = serde_json::from_str(
            &bench.aside(&small, &["show", s["id"].as_str().unwrap(), "--json"]),
        )
        .unwrap();
        let events = show["events"].as_array().unwrap();
        let seqs: Vec<u64> = events.iter().map(|e| e["seq"].as_u64().unwrap()).collect();
        let contiguous = seqs == (1..=seqs.len() as u64).collect::<Vec<_>>();
        let ended = events.iter().any(|e| e["kind"] == "turn_end");
        let text: String = events
            .iter()
            .filter(|e| e["kind"] == "agent_message_chunk")
            .filter_map(|e| e["data"]["content"]["text"].as_str())
            .collect();
        if !contiguous || !ended || text != "done" {
            lost += 1;
        }
    }
    println!(
        "{n} concurrent sessions: {completed} completed in {:.1} s, {lost} with a missing or duplicated event; peak memory {:.0} MiB RSS ({} hosts {:.0} MiB, {} agents {:.0} MiB; {:.1} MiB per host, {:.1} MiB per agent), {:.0} MiB PSS ({:.1} MiB per host, {:.1} MiB per agent)",
        elapsed.as_secs_f64(),
        (peak_hosts.1 + peak_agents.1) as f64 / 1024.0,
        peak_hosts.0,
        peak_hosts.1 as f64 / 1024.0,
        peak_agents.0,
        peak_agents.1 as f64 / 1024.0,
        peak_hosts.1 as f64 / 1024.0 / peak_hosts.0.max(1) as f64,
        peak_agents.1 as f64 / 1024.0 / peak_agents.0.max(1) as f64,
        (peak_hosts.2 + peak_agents.2) as f64 / 1024.0,
        peak_hosts.2 as f64 / 1024.0 / peak_hosts.0.max(1) as f64,
        peak_agents.2 as f64 / 1024.0 / peak_agents.0.max(1) as f64,
    );
    println!(
        "  agent guards at that moment: {} of them, {:.1} MiB RSS ({:.1} MiB each), {:.1} MiB PSS ({:.2} MiB each)",
        peak_guards.0,
        peak_guards.1 as f64 / 1024.0,
        peak_guards.1 as f64 / 1024.0 / peak_guards.0.max(1) as f64,
        peak_guards.2 as f64 / 1024.0,
        peak_guards.2 as f64 / 1024.0 / peak_guards.0.max(1) as f64,
    );
    for s in &sessions {
        bench.aside(&small, &["rm", s["id"].as_str().unwrap(), "--force"]);
    }
    stopping(&bench, &small);

    let files: usize = std::env::var("BENCH_FILES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(100_000);
    let started = Instant::now();
    let big = make_repo(&root, "big", files);
    eprintln!(
        "(generated a {files}-file repository in {:.0} s)",
        started.elapsed().as_secs_f64()
    );
    new_to_prompt(&bench, &big, &format!("big repo ({files} files)"));
    let _ = bench.wait_all(&big, 0);
}
