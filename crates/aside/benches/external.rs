//! Benchmark of listing sessions started outside aside (`cargo bench -p aside --bench
//! external`): `aside ls` with BENCH_SESSIONS (default 1,000) session files of Copilot CLI,
//! Codex and Claude Code (a third each, from the real files in the import fixtures), the first
//! run (every file read) and warm runs (the cache), beside `aside ls` with no such files.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use aside_testkit::repo::init_repo;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

fn fixture(name: &str) -> String {
    std::fs::read_to_string(
        Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../aside-sessions/tests/fixtures")
            .join(name),
    )
    .unwrap()
}

/// Session `n`'s id, in the shape the tools use.
fn uuid(n: usize) -> String {
    format!("{n:08x}-0000-4000-8000-{n:012x}")
}

/// Writes `count` session files under `home`, working in `repo`.
fn make_sessions(home: &Path, repo: &Path, count: usize) {
    // The Claude fixture's own session id and directory, replaced per session.
    const CLAUDE_ID: &str = "9513a53c-0b31-4cf1-b75e-b73e2729ce2e";
    const CLAUDE_CWD: &str = "/tmp/imp/cl/work";
    let (copilot, codex, claude) = (
        fixture("copilot-events.jsonl"),
        fixture("codex-rollout.jsonl"),
        fixture("claude-code.jsonl"),
    );
    let cwd = repo.display().to_string();
    for n in 0..count {
        let id = uuid(n);
        match n % 3 {
            0 => {
                let dir = home.join(".copilot/session-state").join(&id);
                std::fs::create_dir_all(&dir).unwrap();
                std::fs::write(
                    dir.join("workspace.yaml"),
                    format!("id: {id}\ncwd: {cwd}\nbranch: main\nclient_name: github/cli\n"),
                )
                .unwrap();
                std::fs::write(dir.join("events.jsonl"), &copilot).unwrap();
            }
            1 => {
                let dir = home.join(".codex/sessions/2026/11/30");
                std::fs::create_dir_all(&dir).unwrap();
                let meta = format!(
                    "{{\"timestamp\":\"2026-11-30T00:00:00.000Z\",\"type\":\"session_meta\",\"payload\":{{\"id\":\"{id}\",\"cwd\":\"{cwd}\",\"originator\":\"codex_exec\",\"git\":{{\"branch\":\"main\"}}}}}}\n"
                );
                let rest: String = codex.lines().skip(1).map(|l| format!("{l}\n")).collect();
                std::fs::write(
                    dir.join(format!("rollout-2026-11-30T00-00-00-{id}.jsonl")),
                    meta + &rest,
                )
                .unwrap();
            }
            _ => {
                let dir = home.join(".claude/projects/bench");
                std::fs::create_dir_all(&dir).unwrap();
                let text = claude.replace(CLAUDE_ID, &id).replace(
                    &format!("\"cwd\":\"{CLAUDE_CWD}\""),
                    &format!("\"cwd\":\"{cwd}\""),
                );
                std::fs::write(dir.join(format!("{id}.jsonl")), text).unwrap();
            }
        }
    }
}

fn ls(root: &Path, repo: &Path) -> (Duration, usize) {
    let started = Instant::now();
    let out = aside_testkit::bench::aside_command(env!("CARGO_BIN_EXE_aside"), root, None)
        .args(["ls", "--json"])
        .current_dir(repo)
        .env_remove("COPILOT_HOME")
        .env_remove("CODEX_HOME")
        .env_remove("CLAUDE_CONFIG_DIR")
        .output()
        .unwrap();
    let took = started.elapsed();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let list: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    (took, list.as_array().unwrap().len())
}

fn median(mut times: Vec<Duration>) -> (Duration, Duration, Duration) {
    times.sort();
    (times[0], times[times.len() / 2], times[times.len() - 1])
}

fn main() {
    let count: usize = std::env::var("BENCH_SESSIONS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(1000);
    let dir = tempfile::tempdir().unwrap();
    let root: PathBuf = dir.path().canonicalize().unwrap();
    let repo = root.join("proj");
    init_repo(&repo, &[("README.md", "# bench\n")]);
    std::fs::create_dir_all(root.join("home")).unwrap();
    let rounds = 10;
    let empty = median((0..rounds).map(|_| ls(&root, &repo).0).collect());
    make_sessions(&root.join("home"), &repo, count);
    let (cold, listed) = ls(&root, &repo);
    assert_eq!(listed, count, "every session file is listed");
    let warm = median((0..rounds).map(|_| ls(&root, &repo).0).collect());
    let ms = |d: Duration| d.as_secs_f64() * 1000.0;
    println!("aside ls with {count} external session files ({rounds} warm runs):");
    println!(
        "  no session files      min {:7.1} ms  median {:7.1} ms  max {:7.1} ms",
        ms(empty.0),
        ms(empty.1),
        ms(empty.2)
    );
    println!("  first run (reads all) {:7.1} ms", ms(cold));
    println!(
        "  warm (cached)         min {:7.1} ms  median {:7.1} ms  max {:7.1} ms  ({:.1}x the empty list)",
        ms(warm.0),
        ms(warm.1),
        ms(warm.2),
        ms(warm.1) / ms(empty.1).max(0.001)
    );
}
