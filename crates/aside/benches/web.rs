//! Benchmark of the web view in headless Chromium (`cargo bench -p aside --bench web`):
//! the list page with 500 sessions and a session page with BENCH_EVENTS (default 100,000)
//! events, time to render (it opens at the end: about the last 1,000, from their turn); and
//! the time from storing a new event to showing it on an open page.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use aside_core::{Approve, Mode, SessionId, SessionRecord, Status};
use aside_store::{EventLog, Index, Layout};
use aside_testkit::browser::{self, Browser};
use aside_testkit::{Chunk, FakeModel, Reply};

#[path = "shared/long.rs"]
mod long;
use serde_json::json;
use std::io::BufRead as _;
use std::process::Stdio;
use std::time::Duration;

fn record(id: &str, i: usize, repo: &std::path::Path) -> SessionRecord {
    let statuses = [
        Status::Completed,
        Status::Failed,
        Status::Cancelled,
        Status::Completed,
    ];
    SessionRecord {
        id: SessionId(id.to_string()),
        title: format!("Task number {i}: refactor module {i} and add tests"),
        task: format!("Task number {i}"),
        agent: ["builtin", "copilot", "codex"][i % 3].to_string(),
        agent_command: vec!["aside".into(), "agent".into()],
        mode: Mode::Isolated,
        approve: Approve::All,
        status: statuses[i % statuses.len()],
        reason: None,
        repo: repo.to_path_buf(),
        worktree: repo.join(format!("wt{i}")),
        branch: Some(format!("aside/task-{i}")),
        base: Some("0".repeat(40)),
        created_at: aside_core::now(),
        updated_at: aside_core::now(),
        archived: false,
        pending_permission: false,
        changed_files: (i % 7) as u64,
        lines_added: (i * 3 % 200) as u64,
        lines_removed: (i % 50) as u64,
        acp_session_id: None,
        integrated: None,
        kind: Default::default(),
        settings: Default::default(),
    }
}

#[tokio::main]
async fn main() {
    if !browser::available() {
        eprintln!("skipped: install chromium and chromium-driver");
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().canonicalize().unwrap();
    let repo = root.join("repo");
    aside_testkit::repo::init_repo(&repo, &[("README.md", "# r\n")]);
    let layout = Layout::new(root.join("aside-home"));
    let index = Index::open(&layout).unwrap();
    for i in 0..500 {
        index
            .insert(&record(&format!("s{i:07}"), i, &repo))
            .unwrap();
    }
    // One session with `total` events of every kind.
    let total: u64 = std::env::var("BENCH_EVENTS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(100_000);
    let big = "big00000";
    index.insert(&record(big, 0, &repo)).unwrap();
    let log = EventLog::open(&layout, &SessionId(big.into())).unwrap();
    long::fill(&log, total);
    assert_eq!(log.last_seq().unwrap(), total);

    let model = FakeModel::start();
    let mut ui =
        aside_testkit::bench::aside_command(env!("CARGO_BIN_EXE_aside"), &root, Some(&model))
            .args(["ui"])
            .current_dir(&repo)
            .env("ASIDE_HOST_IDLE_SECS", "3")
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
    let mut url = String::new();
    std::io::BufReader::new(ui.stdout.take().unwrap())
        .read_line(&mut url)
        .unwrap();
    let url = url.trim().to_string();
    let base = url.split("/?").next().unwrap().to_string();

    let b = Browser::start().await;
    let mut list_ms = Vec::new();
    for _ in 0..3 {
        b.goto(&url).await;
        b.wait(
            "500 rows",
            "return document.querySelectorAll('#rows tr').length === 501",
        )
        .await;
        list_ms.push(
            b.eval("return window.__listRenderedAt", json!([]))
                .await
                .as_f64()
                .unwrap(),
        );
    }
    list_ms.sort_by(f64::total_cmp);
    let mut page_ms = Vec::new();
    for _ in 0..3 {
        b.goto(&format!("{base}/s/{big}")).await;
        b.wait(
            "the last event",
            &format!("return document.body.dataset.seq === '{total}'"),
        )
        .await;
        page_ms.push(
            b.eval("return window.__aside.renderedAt", json!([]))
                .await
                .as_f64()
                .unwrap(),
        );
    }
    page_ms.sort_by(f64::total_cmp);

    // Live latency: a real session streaming 40 chunks, 50 ms apart, on an open page.
    let mut chunks = Vec::new();
    for i in 0..40 {
        chunks.push(Chunk::Text(format!("chunk {i}. ")));
        chunks.push(Chunk::Delay(Duration::from_millis(50)));
    }
    model.push_for(
        "live-task",
        [
            Reply::stream(vec![Chunk::Delay(Duration::from_millis(1500))])
                .then(Reply::stream(chunks)),
        ],
    );
    let http = reqwest::Client::new();
    let token = url.split("token=").nth(1).unwrap();
    let created: serde_json::Value = http
        .post(format!("{base}/api/sessions"))
        .bearer_auth(token)
        .json(&json!({"task": "live-task: stream", "repo": repo}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let id = created["id"].as_str().unwrap();
    b.goto(&format!("{base}/s/{id}")).await;
    b.wait(
        "the end of the turn",
        "return document.querySelector('#status').textContent === 'completed'",
    )
    .await;
    let mut lat: Vec<f64> =
        serde_json::from_value(b.eval("return window.__latencies", json!([])).await).unwrap();
    lat.sort_by(f64::total_cmp);
    println!(
        "web: list page with 500 sessions rendered in median {:.0} ms (from navigation; min {:.0}, max {:.0})",
        list_ms[1], list_ms[0], list_ms[2]
    );
    println!(
        "web: session page of a {total}-event session rendered in median {:.0} ms (from navigation; min {:.0}, max {:.0})",
        page_ms[1], page_ms[0], page_ms[2]
    );
    println!(
        "web: new event stored -> shown on an open page: median {:.0} ms, p90 {:.0} ms, max {:.0} ms over {} live events",
        lat[lat.len() / 2],
        lat[lat.len() * 9 / 10],
        lat[lat.len() - 1],
        lat.len()
    );
    let _ = ui.kill();
    let _ = ui.wait();
}
