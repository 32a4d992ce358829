//! Benchmark: one `aside agent` session with two short turns that each make one tool call, on
//! the fake model, driven by an ACP client. Prints the wall time from spawn to the end of the
//! second turn and the agent's peak RSS. Run with `cargo bench -p aside --bench agent_turns`.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use aside_testkit::{AcpClient, FakeModel, Reply};
use serde_json::json;
use std::path::Path;
use std::time::{Duration, Instant};

fn peak_rss_kib(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    status
        .lines()
        .find(|l| l.starts_with("VmHWM:"))
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|n| n.parse().ok())
        .unwrap_or(0)
}

async fn one_run(model: &FakeModel, repo: &Path, vars: &[(String, String)]) -> (Duration, u64) {
    model.push([
        Reply::tool("read_file", json!({"path": "README.md"})),
        Reply::text("It is a readme."),
        Reply::tool("run_command", json!({"command": "echo hi"})),
        Reply::text("Said hi."),
    ]);
    let started = Instant::now();
    let client = AcpClient::spawn(
        Path::new(env!("CARGO_BIN_EXE_aside")),
        &["agent"],
        vars,
        repo,
    )
    .await;
    client.initialize(json!({})).await;
    let t_init = started.elapsed();
    let session = client.new_session(repo).await;
    let t_new = started.elapsed();
    let mut turns = Vec::new();
    for prompt in ["read the readme", "say hi"] {
        let r = client.prompt(&session, prompt).await;
        assert_eq!(r["result"]["stopReason"], "end_turn", "{r}");
        turns.push(started.elapsed());
    }
    if std::env::var_os("BENCH_PHASES").is_some() {
        eprintln!("init {t_init:?} new {t_new:?} turns {turns:?}");
    }
    let elapsed = started.elapsed();
    let rss = peak_rss_kib(client.child.id().unwrap());
    client.close_stdin();
    (elapsed, rss)
}

#[tokio::main]
async fn main() {
    let dir = tempfile::tempdir().unwrap();
    let repo = dir.path().join("repo");
    std::fs::create_dir_all(repo.join(".git")).unwrap();
    std::fs::write(repo.join("README.md"), "# demo\n").unwrap();
    let model = FakeModel::start();
    let vars: Vec<(String, String)> = [
        ("HOME", dir.path().display().to_string()),
        (
            "XDG_CONFIG_HOME",
            dir.path().join(".config").display().to_string(),
        ),
        ("ASIDE_HOME", dir.path().join("aside").display().to_string()),
        ("ASIDE_PROVIDER", "openai".into()),
        ("ASIDE_BASE_URL", model.openai_base()),
        ("ASIDE_MODEL", "fake".into()),
        ("ASIDE_API_KEY", String::new()),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_string(), v))
    .collect();
    let runs = 20;
    let mut times = Vec::new();
    let mut peak = 0;
    for _ in 0..runs {
        let (t, rss) = one_run(&model, &repo, &vars).await;
        times.push(t);
        peak = peak.max(rss);
    }
    times.sort();
    let ms = |d: Duration| d.as_secs_f64() * 1000.0;
    println!(
        "aside agent, 2 turns x 1 tool call, {runs} runs: median {:.1} ms, min {:.1} ms, max {:.1} ms; peak RSS {:.1} MiB",
        ms(times[runs / 2]),
        ms(times[0]),
        ms(times[runs - 1]),
        peak as f64 / 1024.0
    );
}
