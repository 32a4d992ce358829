//! Benchmark of sessions on another machine (`cargo bench -p aside --bench machines`), against
//! a real `sshd` on loopback (the test kit's): `aside new --on` until the agent there has its
//! prompt, beside a local `aside new`; and `aside ls` with 3 machines of 200 sessions each.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use aside_core::{Approve, Mode, SessionId, SessionRecord, Status};
use aside_store::{Index, Layout};
use aside_testkit::sshd::{self, Sshd};
use aside_testkit::{Chunk, FakeModel, Reply};
use std::path::Path;
use std::time::{Duration, Instant};

fn record(i: usize, repo: &Path) -> SessionRecord {
    SessionRecord {
        id: SessionId(format!("m{i:07}")),
        title: format!("Remote task {i}"),
        task: format!("Remote task {i}"),
        agent: "builtin".into(),
        agent_command: vec!["aside".into(), "agent".into()],
        mode: Mode::Isolated,
        approve: Approve::All,
        status: Status::Completed,
        reason: None,
        repo: repo.to_path_buf(),
        worktree: repo.join(format!("wt{i}")),
        branch: Some(format!("aside/task-{i}")),
        base: Some("0".repeat(40)),
        created_at: aside_core::now(),
        updated_at: aside_core::now(),
        archived: false,
        pending_permission: false,
        changed_files: 1,
        lines_added: 1,
        lines_removed: 0,
        acp_session_id: None,
        integrated: None,
        kind: Default::default(),
        settings: Default::default(),
        usage: Default::default(),
    }
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

/// Until the fake model has received `n` requests.
fn until_requests(model: &FakeModel, n: usize) {
    let deadline = Instant::now() + Duration::from_secs(60);
    while model.received().len() < n {
        assert!(Instant::now() < deadline, "the agent never asked the model");
        std::thread::sleep(Duration::from_millis(2));
    }
}

fn main() {
    if !sshd::available() {
        eprintln!("skipped: install openssh-server and openssh-client");
        return;
    }
    let exe = env!("CARGO_BIN_EXE_aside");
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().canonicalize().unwrap();
    let repo = root.join("repo");
    aside_testkit::repo::init_repo(&repo, &[("README.md", "# r\n")]);
    let model = FakeModel::start();
    let bin = Path::new(exe).parent().unwrap().display().to_string();
    let names = ["box1", "box2", "box3"];
    let mut servers = Vec::new();
    for name in names {
        let there = root.join(name);
        let home = there.join("home");
        std::fs::create_dir_all(&home).unwrap();
        let env: Vec<(String, String)> = [
            ("HOME", home.display().to_string()),
            (
                "XDG_CONFIG_HOME",
                home.join(".config").display().to_string(),
            ),
            ("ASIDE_HOME", there.join("aside-home").display().to_string()),
            ("PATH", format!("{bin}:/usr/local/bin:/usr/bin:/bin")),
            ("ASIDE_PROVIDER", "openai".into()),
            ("ASIDE_BASE_URL", model.openai_base()),
            ("ASIDE_MODEL", "fake".into()),
            ("ASIDE_HOST_IDLE_SECS", "2".into()),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_string(), v))
        .collect();
        servers.push(Sshd::start(&there.join("sshd"), &env, &[name], &[]));
    }
    let aside = |args: &[&str]| {
        let mut cmd = aside_testkit::bench::aside_command(exe, &root, Some(&model));
        cmd.current_dir(&repo)
            .env("ASIDE_SSH", &servers[0].ssh)
            .env("ASIDE_HOST_IDLE_SECS", "2");
        aside_testkit::bench::stdout_of(cmd, args)
    };
    // Each name reaches its own sshd: one wrapper per machine would do; the first's config names
    // only box1, so each machine is added with its own wrapper as its `ssh`... simpler: one
    // config file naming all three.
    let config: String = servers
        .iter()
        .map(|s| std::fs::read_to_string(s.dir.join("ssh_config")).unwrap())
        .collect();
    std::fs::write(servers[0].dir.join("ssh_config"), config).unwrap();
    for name in names {
        aside(&["machine", "add", name, "--ssh", name, "--no-check"]);
    }
    let rounds = 5;
    let (mut local, mut remote) = (Vec::new(), Vec::new());
    for i in 0..rounds {
        model.push([Reply::text("ok")]);
        let before = model.received().len();
        let started = Instant::now();
        aside(&["new", &format!("local task {i}")]);
        until_requests(&model, before + 1);
        local.push(started.elapsed().as_secs_f64() * 1000.0);
        model.push([Reply::text("ok")]);
        let before = model.received().len();
        let started = Instant::now();
        aside(&["new", "--on", "box1", &format!("remote task {i}")]);
        until_requests(&model, before + 1);
        remote.push(started.elapsed().as_secs_f64() * 1000.0);
    }
    println!(
        "machines: aside new until the agent has its prompt: local median {:.0} ms, --on a machine over SSH (loopback) median {:.0} ms ({rounds} each)",
        median(local),
        median(remote)
    );
    // 200 sessions on each machine, written straight into their indexes.
    for name in names {
        let layout = Layout::new(root.join(name).join("aside-home"));
        let index = Index::open(&layout).unwrap();
        for i in 0..200 {
            index.insert(&record(i, &repo)).unwrap();
        }
    }
    let mut ls = Vec::new();
    for _ in 0..5 {
        let started = Instant::now();
        let out = aside(&["ls", "--json"]);
        ls.push(started.elapsed().as_secs_f64() * 1000.0);
        assert!(out.matches("\"machine\"").count() >= 600);
    }
    println!(
        "machines: aside ls with 3 machines x 200 sessions (each asked over SSH at once): median {:.0} ms",
        median(ls)
    );
    // Event latency: a session streaming 30 pieces of text 100 ms apart, followed live from
    // here (stored time there, or the piece's send time, to its arrival here: one clock, since
    // both "machines" are this one), over SSH and, for comparison, a local one.
    std::env::set_var("ASIDE_SSH", &servers[0].ssh);
    let streamed = || {
        Reply::stream(
            (0..30)
                .flat_map(|i| {
                    [
                        Chunk::Delay(Duration::from_millis(100)),
                        Chunk::Text(format!("p{i} ")),
                    ]
                })
                .collect(),
        )
    };
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let lag = |event: &aside_core::Event| {
        let sent = aside_core::time::parse_rfc3339(&event.ts).unwrap();
        std::time::SystemTime::now()
            .duration_since(sent)
            .unwrap_or_default()
            .as_secs_f64()
            * 1000.0
    };
    let done =
        |event: &aside_core::Event| event.kind == "status" && event.data["status"] == "completed";
    model.push([streamed()]);
    let id = aside(&["new", "--on", "box1", "latency there"]);
    let there = id.trim().strip_prefix("box1:").unwrap().to_string();
    let machine = aside_core::config::MachineConfig {
        ssh: "box1".into(),
        aside: None,
        checkouts: Default::default(),
    };
    let remote_lags = runtime.block_on(async {
        let mut follower = aside_sessions::remote::Follower::new(&machine, &there, 0);
        let mut lags = Vec::new();
        loop {
            if let aside_sessions::remote::Step::Event(event) = follower.next().await {
                if event.piece.is_some() {
                    lags.push(lag(&event));
                }
                if done(&event) {
                    return lags;
                }
            }
        }
    });
    model.push([streamed()]);
    let id = aside(&["new", "latency here"]);
    let layout = Layout::new(root.join("aside-home"));
    let local_lags = runtime.block_on(async {
        let mut follower =
            aside_protocol::client::Follower::new(&layout, &SessionId(id.trim().to_string()), 0);
        let mut lags = Vec::new();
        loop {
            if let Ok(aside_protocol::client::Step::Event(event)) = follower.next().await {
                if event.piece.is_some() {
                    lags.push(lag(&event));
                }
                if done(&event) {
                    return lags;
                }
            }
        }
    });
    let (rn, ln) = (remote_lags.len(), local_lags.len());
    println!(
        "machines: streamed text from the agent to a view: over SSH (loopback) median {:.1} ms, max {:.1} ms ({rn} pieces); local median {:.1} ms, max {:.1} ms ({ln} pieces)",
        median(remote_lags.clone()),
        remote_lags.iter().copied().fold(0.0, f64::max),
        median(local_lags.clone()),
        local_lags.iter().copied().fold(0.0, f64::max),
    );
    let _ = aside(&["stop", "--all"]);
    for name in names {
        let _ = std::process::Command::new(&servers[0].ssh)
            .args([name, "aside stop --all"])
            .output();
    }
}
