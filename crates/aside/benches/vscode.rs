//! Benchmark of the VS Code extension in real VS Code (`cargo bench -p aside --bench vscode`;
//! code-server and the packaged extension as `.ci/run` installs them: `ASIDE_TEST_CODE_SERVER`,
//! `ASIDE_TEST_VSIX`): the extension's activation; a status change in aside → shown in the
//! Agents view (median, p90, over 20 sessions answered from the CLI); a 100,000-event session
//! (BENCH_EVENTS) opening in the session editor (from the click to its last event drawn).
#![allow(clippy::unwrap_used, clippy::expect_used)]

use aside_core::{Approve, Mode, SessionId, SessionRecord, Status};
use aside_store::{EventLog, Index, Layout};
use aside_testkit::browser::Browser;
use aside_testkit::vscode::{in_webview as in_editor, installed, CodeServer};
use aside_testkit::{FakeModel, Reply};
use serde_json::{json, Value};
use std::time::{Duration, Instant};

#[path = "shared/long.rs"]
mod long;

fn percentile(sorted: &[f64], p: f64) -> f64 {
    sorted[((sorted.len() - 1) as f64 * p).round() as usize]
}

#[tokio::main]
async fn main() {
    let Some((server, vsix)) = installed() else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().canonicalize().unwrap();
    let repo = root.join("repo");
    aside_testkit::repo::init_repo(&repo, &[("README.md", "# r\n")]);
    let model = FakeModel::start();
    let exe = env!("CARGO_BIN_EXE_aside");
    let aside = || {
        let mut cmd = aside_testkit::bench::aside_command(exe, &root, Some(&model));
        cmd.current_dir(&repo).env("ASIDE_HOST_IDLE_SECS", "3");
        cmd
    };
    // A long session, written straight into the store.
    let total: u64 = std::env::var("BENCH_EVENTS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(100_000);
    let layout = Layout::new(root.join("aside-home"));
    let big = SessionId("big00000".into());
    Index::open(&layout)
        .unwrap()
        .insert(&SessionRecord {
            id: big.clone(),
            title: "The long session".into(),
            task: "A long one".into(),
            agent: "builtin".into(),
            agent_command: vec![exe.into(), "agent".into()],
            mode: Mode::Isolated,
            approve: Approve::All,
            status: Status::Completed,
            reason: None,
            repo: repo.clone(),
            worktree: repo.clone(),
            branch: None,
            base: None,
            created_at: aside_core::now(),
            updated_at: aside_core::now(),
            archived: false,
            pending_permission: false,
            changed_files: 0,
            lines_added: 0,
            lines_removed: 0,
            acp_session_id: None,
            integrated: None,
            kind: Default::default(),
            settings: Default::default(),
            usage: Default::default(),
        })
        .unwrap();
    long::fill(&EventLog::open(&layout, &big).unwrap(), total);
    // Sessions waiting for an answer, to be answered one by one.
    const WAITING: usize = 20;
    let mut ids = Vec::new();
    for i in 0..WAITING {
        let key = format!("bench-{i:02}");
        model.push_for(
            &key,
            [
                Reply::tool("run_command", json!({"command": "true"})),
                Reply::text("done"),
            ],
        );
        let id = aside_testkit::bench::stdout_of(
            aside(),
            &["new", "--approve", "ask", &format!("{key}: run it")],
        );
        ids.push((key, id.lines().next().unwrap().to_string()));
    }
    for (_, id) in &ids {
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            let list: Value =
                serde_json::from_str(&aside_testkit::bench::stdout_of(aside(), &["ls", "--json"]))
                    .unwrap();
            let waiting = list
                .as_array()
                .unwrap()
                .iter()
                .any(|s| s["id"] == id.as_str() && s["status"] == "needs_input");
            if waiting {
                break;
            }
            assert!(Instant::now() < deadline, "{id} never asked");
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    let vars: Vec<(String, String)> = [
        ("HOME", root.join("home").display().to_string()),
        (
            "XDG_CONFIG_HOME",
            root.join("home/.config").display().to_string(),
        ),
        ("ASIDE_HOME", root.join("aside-home").display().to_string()),
        ("ASIDE_PROVIDER", "openai".into()),
        ("ASIDE_BASE_URL", model.openai_base()),
        ("ASIDE_MODEL", "fake".into()),
        ("ASIDE_HOST_IDLE_SECS", "3".into()),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_string(), v))
    .collect();
    let inherited = aside_testkit::env::inherited();
    let code = CodeServer::start(&server, &vsix, &root, &repo, exe, &inherited, &vars);
    let b = Browser::start().await;
    b.resize(1400, 900).await;
    let opened = Instant::now();
    b.goto(&format!("{}/?folder={}", code.url, repo.display()))
        .await;
    b.wait_within(
        Duration::from_secs(60),
        "aside's activity-bar item",
        "return document.querySelector('.activitybar [aria-label^=\"aside\"]')",
    )
    .await;
    b.click(".activitybar [aria-label^=\"aside\"]").await;
    b.wait_within(
        Duration::from_secs(60),
        "the sessions",
        &format!(
            "return document.querySelectorAll('.pane-body .monaco-list-row').length >= {}",
            WAITING + 1
        ),
    )
    .await;
    let first_list = opened.elapsed();
    let activation = code.check()["activationMs"].as_f64().unwrap();

    // When each row first shows `completed`, by the page's clock.
    b.eval(
        "window.__seen = {};
         const tick = () => { for (const r of document.querySelectorAll('.pane-body .monaco-list-row')) {
           const l = (r.querySelector('.label-name') || {}).textContent || '';
           const d = (r.querySelector('.label-description') || {}).textContent || '';
           if (d.startsWith('completed') && !(l in window.__seen)) window.__seen[l] = Date.now(); } };
         new MutationObserver(tick).observe(document.body, { subtree: true, childList: true, characterData: true });",
        json!([]),
    )
    .await;
    for (_, id) in &ids {
        aside_testkit::bench::stdout_of(aside(), &["approve", id]);
        tokio::time::sleep(Duration::from_millis(300)).await;
    }
    let mut latencies = Vec::new();
    for (key, id) in &ids {
        let label = format!("{key}: run it");
        let seen = b
            .wait_within(
                Duration::from_secs(60),
                &format!("{label} completed"),
                &format!("return window.__seen[{}]", json!(label)),
            )
            .await
            .as_f64()
            .unwrap();
        // When aside stored the change.
        let log = EventLog::open(&layout, &SessionId(id.clone())).unwrap();
        let status = log.last_of("status", 1).unwrap().pop().unwrap();
        assert_eq!(status.data["status"], "completed");
        let stored = b
            .eval(
                &format!("return Date.parse({})", json!(status.ts)),
                json!([]),
            )
            .await
            .as_f64()
            .unwrap();
        latencies.push(seen - stored);
    }
    latencies.sort_by(f64::total_cmp);

    // The long session's editor: from the click to its last event drawn.
    b.eval(
        &format!(
            "window.__drawn = null; const start = Date.now(); window.__clicked = start;
             const poll = setInterval(() => {{ const r = (() => {{ {} }})(); if (r) {{ window.__drawn = Date.now() - start; clearInterval(poll); }} }}, 5);
             [...document.querySelectorAll('.pane-body .monaco-list-row')].find(r => r.textContent.includes('The long session')).click();",
            in_editor(&format!("return doc.body.dataset.seq === '{total}'"))
        ),
        json!([]),
    )
    .await;
    let drawn = b
        .wait_within(
            Duration::from_secs(120),
            "the long session drawn",
            "return window.__drawn",
        )
        .await
        .as_f64()
        .unwrap();
    println!(
        "vscode: extension activated in {activation:.0} ms (activate()); the workbench opened to the Agents view listing {} sessions in {} ms",
        WAITING + 1,
        first_list.as_millis()
    );
    println!(
        "vscode: status change stored by aside -> shown in the Agents view: median {:.0} ms, p90 {:.0} ms, max {:.0} ms over {} sessions",
        percentile(&latencies, 0.5),
        percentile(&latencies, 0.9),
        latencies[latencies.len() - 1],
        latencies.len()
    );
    println!(
        "vscode: a {total}-event session opened in the session editor (click -> its last event drawn) in {drawn:.0} ms"
    );
}
