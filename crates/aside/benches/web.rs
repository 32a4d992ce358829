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
        usage: Default::default(),
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
    let (mut url, mut ahp_url) = (String::new(), String::new());
    let mut printed = std::io::BufReader::new(ui.stdout.take().unwrap());
    printed.read_line(&mut url).unwrap();
    printed.read_line(&mut ahp_url).unwrap();
    let url = url.trim().to_string();
    let ahp_url = ahp_url.trim().to_string();
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
    let ahp = agent_host(&ahp_url, &base, token, &repo, &model, &index, big, total).await;
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
    for line in ahp {
        println!("{line}");
    }
    let _ = ui.kill();
    let _ = ui.wait();
}

async fn ahp_client(url: &str, name: &str) -> ahp::Client {
    let transport = ahp_ws::WebSocketTransport::connect(url).await.unwrap();
    let client = ahp::Client::connect(transport, ahp::ClientConfig::default())
        .await
        .unwrap();
    client
        .initialize(name.into(), vec!["0.9.0".into()], vec![])
        .await
        .unwrap();
    client
}

fn median(mut v: Vec<f64>) -> (f64, f64, f64) {
    v.sort_by(f64::total_cmp);
    (v[v.len() / 2], v[v.len() * 9 / 10], v[v.len() - 1])
}

/// The Agent Host Protocol endpoint of the same server: a live session's streamed text from
/// being stored to reaching an AHP client, `listSessions` with 10,000 sessions, and subscribing
/// to the long session until its first snapshot.
#[allow(clippy::too_many_arguments)]
async fn agent_host(
    url: &str,
    base: &str,
    token: &str,
    repo: &std::path::Path,
    model: &FakeModel,
    index: &Index,
    big: &str,
    total: u64,
) -> Vec<String> {
    use ahp::SubscriptionEvent;
    let mut out = Vec::new();
    // Live: 40 chunks, 50 ms apart; each one's store time (the host's stamp, read by a
    // follower beside) against when the AHP client received it.
    let mut chunks = Vec::new();
    for i in 0..40 {
        chunks.push(Chunk::Text(format!("ahp chunk {i}. ")));
        chunks.push(Chunk::Delay(Duration::from_millis(50)));
    }
    model.push_for(
        "ahp-live",
        [
            Reply::stream(vec![Chunk::Delay(Duration::from_millis(1500))])
                .then(Reply::stream(chunks)),
        ],
    );
    let created: serde_json::Value = reqwest::Client::new()
        .post(format!("{base}/api/sessions"))
        .bearer_auth(token)
        .json(&json!({"task": "ahp-live: stream", "repo": repo}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let id = created["id"].as_str().unwrap().to_string();
    let client = ahp_client(url, "bench-live").await;
    let (_, mut sub) = client.subscribe(format!("ahp-chat:/{id}")).await.unwrap();
    let layout = Layout::new(repo.parent().unwrap().join("aside-home"));
    let stamps = std::sync::Arc::new(std::sync::Mutex::new(std::collections::HashMap::new()));
    let follow = {
        let stamps = stamps.clone();
        let id = SessionId(id.clone());
        tokio::spawn(async move {
            let mut follower = aside_protocol::client::Follower::new(&layout, &id, 0);
            while let Ok(step) = follower.next().await {
                if let aside_protocol::client::Step::Event(e) = step {
                    if let Some(text) = e.data["content"]["text"].as_str() {
                        if let Some(at) = aside_core::time::parse_rfc3339(&e.ts) {
                            stamps.lock().unwrap().insert(text.to_string(), at);
                        }
                    }
                }
            }
        })
    };
    let mut arrived = Vec::new();
    loop {
        let Some(SubscriptionEvent::Action(env)) = sub.recv().await else {
            continue;
        };
        let action = serde_json::to_value(&env.action).unwrap();
        let now = std::time::SystemTime::now();
        match action["type"].as_str().unwrap_or_default() {
            "chat/delta" => arrived.push((
                action["content"].as_str().unwrap_or_default().to_string(),
                now,
            )),
            "chat/responsePart" => arrived.push((
                action["part"]["content"]
                    .as_str()
                    .unwrap_or_default()
                    .to_string(),
                now,
            )),
            "chat/turnComplete" => break,
            _ => {}
        }
    }
    tokio::time::sleep(Duration::from_millis(300)).await;
    follow.abort();
    let lat: Vec<f64> = {
        let stamps = stamps.lock().unwrap();
        arrived
            .iter()
            .filter_map(|(text, at)| {
                let stored = stamps.get(text)?;
                Some(at.duration_since(*stored).ok()?.as_secs_f64() * 1000.0)
            })
            .collect()
    };
    if !lat.is_empty() {
        let (med, p90, max) = median(lat.clone());
        out.push(format!(
            "ahp: new event stored -> action received by an AHP client: median {med:.0} ms, p90 {p90:.0} ms, max {max:.0} ms over {} live events",
            lat.len()
        ));
    }
    // listSessions with 10,000 sessions.
    for i in 500..10_000 {
        index.insert(&record(&format!("s{i:07}"), i, repo)).unwrap();
    }
    let mut list_ms = Vec::new();
    for _ in 0..4 {
        let started = std::time::Instant::now();
        let list: serde_json::Value = client
            .request("listSessions", json!({"channel": "ahp-root://"}))
            .await
            .unwrap();
        list_ms.push(started.elapsed().as_secs_f64() * 1000.0);
        assert!(list["items"].as_array().unwrap().len() > 10_000);
    }
    let cold = list_ms.remove(0);
    let (warm, _, max) = median(list_ms);
    out.push(format!(
        "ahp: listSessions of 10,001 sessions: {cold:.0} ms the first time (each session's progress read), then median {warm:.0} ms (max {max:.0})"
    ));
    // Subscribing to the long session: the first client makes its projection; a second
    // shares it.
    let started = std::time::Instant::now();
    let (first, _) = client.subscribe(format!("ahp-chat:/{big}")).await.unwrap();
    let cold = started.elapsed().as_secs_f64() * 1000.0;
    let turns = match first.snapshot.unwrap().state {
        ahp_types::state::SnapshotState::Chat(c) => c.turns.len(),
        _ => 0,
    };
    let other = ahp_client(url, "bench-other").await;
    let started = std::time::Instant::now();
    let _ = other.subscribe(format!("ahp-chat:/{big}")).await.unwrap();
    let warm = started.elapsed().as_secs_f64() * 1000.0;
    out.push(format!(
        "ahp: subscribe to a {total}-event session until its first snapshot ({turns} turns, the rest a page at a time): {cold:.0} ms, {warm:.0} ms for a second client"
    ));
    out
}
