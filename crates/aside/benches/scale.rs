//! aside at scale, each comparison run side by side in one run (`cargo bench -p aside --bench
//! scale`; figures go to docs/performance.md):
//! 1. worktrees of a generated repository of BENCH_FILES files (default 100,000: 400 directories
//!    of 250): plain `git worktree add`, then `aside new` until the agent has its prompt with the
//!    pool off (a cold checkout) and from the pool;
//! 2. the user's `git status` and `git worktree add` in that repository, alone and while aside
//!    refills the pool, taking turns;
//!    (parts 1 and 2 remove nothing until their end: this filesystem, ext4 without a journal,
//!    creates files several times slower for minutes after many were deleted);
//! 3. BENCH_SESSIONS (default 500) sessions at once with the built-in agent, the fake model
//!    answering each after a second: all complete, no event lost, `aside ls --json` during the
//!    run, memory per host;
//! 4. `aside ls` with BENCH_LS (default 10,000) sessions in the index;
//! 5. a session of BENCH_EVENTS (default 100,000) events: `show`, `logs --tail 50`;
//! 6. a repository with 3 submodules of 2,000 files each: `git worktree add`, the same plus `git
//!    submodule update --init --recursive`, and an aside session with its submodules (pool off).
//!
//! BENCH_PARTS=1,3 runs only those parts.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use aside_testkit::bench;
use aside_testkit::repo::{git, init_repo};
use aside_testkit::{Chunk, FakeModel, Reply};
use serde_json::Value;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

fn env_or(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

struct Bench {
    root: PathBuf,
    model: FakeModel,
}

impl Bench {
    fn cmd(&self, dir: &Path, args: &[&str]) -> Command {
        let mut cmd =
            bench::aside_command(env!("CARGO_BIN_EXE_aside"), &self.root, Some(&self.model));
        cmd.args(args)
            .current_dir(dir)
            .env("ASIDE_HOST_IDLE_SECS", "5");
        cmd
    }

    fn aside(&self, dir: &Path, args: &[&str]) -> String {
        bench::stdout_of(self.cmd(dir, &[]), args)
    }

    fn config(&self, text: &str) {
        let dir = self.root.join("home/.config/aside");
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(dir.join("config.toml"), text).unwrap();
    }
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

fn stats(mut v: Vec<f64>) -> (f64, f64, f64) {
    v.sort_by(f64::total_cmp);
    (v[0], v[v.len() / 2], v[v.len() - 1])
}

fn show(label: &str, v: Vec<f64>) -> f64 {
    let (min, median, max) = stats(v);
    println!("  {label:<52} median {median:>7.0} ms  (min {min:.0}, max {max:.0})");
    median
}

fn make_repo(root: &Path, files: usize) -> PathBuf {
    let repo = root.join("big");
    init_repo(&repo, &[("README.md", "# big\n")]);
    for i in 0..files {
        let dir = repo.join(format!("d{:03}", i / 250));
        if i % 250 == 0 {
            std::fs::create_dir_all(&dir).unwrap();
        }
        std::fs::write(
            dir.join(format!("f{i}.txt")),
            format!("file {i}\nline two\n"),
        )
        .unwrap();
    }
    git(&repo, &["add", "-A"]);
    git(&repo, &["commit", "-q", "-m", "files"]);
    repo
}

/// `aside new` until the fake model has the session's first request.
fn new_to_prompt(bench: &Bench, repo: &Path, task: &str) -> (Duration, String) {
    let before = bench.model.received().len();
    bench.model.push([Reply::text("ok")]);
    let started = Instant::now();
    let id = bench.aside(repo, &["new", task]);
    let deadline = Instant::now() + Duration::from_secs(600);
    loop {
        if let Some(r) = bench.model.received().get(before) {
            return (r.at - started, id);
        }
        assert!(Instant::now() < deadline, "the agent never asked");
        std::thread::sleep(Duration::from_millis(1));
    }
}

fn wait_no_host(id: &str) {
    let deadline = Instant::now() + Duration::from_secs(60);
    while aside_testkit::procs::host_pid(id).is_some() {
        assert!(Instant::now() < deadline);
        std::thread::sleep(Duration::from_millis(20));
    }
}

fn part_worktrees(bench: &Bench, repo: &Path) {
    println!(
        "1. a session's worktree, {} files",
        env_or("BENCH_FILES", 100_000)
    );
    let rounds = 3;
    let (mut plain, mut cold, mut pooled) = (vec![], vec![], vec![]);
    // Nothing is removed until the end: ext4 without a journal creates files several times
    // slower for a while after many were deleted, which would measure the benchmark's own
    // removals rather than the checkouts.
    let mut made = vec![];
    for round in 0..rounds {
        let name = format!("plain-{round}");
        let path = repo.parent().unwrap().join(&name);
        let t = Instant::now();
        git(
            repo,
            &["worktree", "add", "-q", "-b", &name, path.to_str().unwrap()],
        );
        plain.push(ms(t.elapsed()));
        made.push(Made::Worktree(path, name));

        bench.config("[sessions]\nworktree_pool = 0\n");
        let (took, id) = new_to_prompt(bench, repo, &format!("cold {round}"));
        cold.push(ms(took));
        wait_no_host(&id);
        made.push(Made::Session(id));
    }
    bench.config("[sessions]\nworktree_pool = 1\n");
    // The first session fills the pool; each next one takes the spare its predecessor left.
    let (_, first) = new_to_prompt(bench, repo, "fill the pool");
    for round in 0..5 {
        let deadline = Instant::now() + Duration::from_secs(600);
        while aside_git::pool_len(repo) == 0 {
            assert!(Instant::now() < deadline, "the pool was never refilled");
            std::thread::sleep(Duration::from_millis(50));
        }
        let (took, id) = new_to_prompt(bench, repo, &format!("pooled {round}"));
        pooled.push(ms(took));
        wait_no_host(&id);
        made.push(Made::Session(id));
    }
    let plain = show("git worktree add", plain);
    let cold = show("aside new -> prompt, cold checkout (pool off)", cold);
    let pooled = show("aside new -> prompt, from the pool", pooled);
    println!(
        "  cold / git worktree add = {:.2}; pooled / git worktree add = {:.3}",
        cold / plain,
        pooled / plain
    );
    made.push(Made::Session(first));
    remove_all(bench, repo, made);
}

/// A worktree (path and branch) or a session a part made, removed at its end.
enum Made {
    Worktree(PathBuf, String),
    Session(String),
}

fn remove_all(bench: &Bench, repo: &Path, made: Vec<Made>) {
    for made in made {
        match made {
            Made::Worktree(path, branch) => {
                git(
                    repo,
                    &["worktree", "remove", "--force", path.to_str().unwrap()],
                );
                git(repo, &["branch", "-D", &branch]);
            }
            Made::Session(id) => {
                bench.aside(repo, &["rm", &id, "--force"]);
            }
        }
    }
}

fn part_refill(bench: &Bench, repo: &Path) {
    println!("2. the user's git while aside refills the pool (nice 19, idle I/O)");
    let rounds = 5;
    let time = |args: &[&str]| {
        let t = Instant::now();
        git(repo, args);
        ms(t.elapsed())
    };
    // As in part 1, nothing is removed until the end (ext4 creates files slowly for a while
    // after many were deleted).
    let mut made = vec![];
    let mut user_round = |status: &mut Vec<f64>, add: &mut Vec<f64>, round: usize| {
        status.push(time(&["status", "--porcelain"]));
        let name = format!("user-{round}-{}", made.len());
        let path = repo.parent().unwrap().join(&name);
        add.push(time(&[
            "worktree",
            "add",
            "-q",
            "-b",
            &name,
            path.to_str().unwrap(),
        ]));
        made.push(Made::Worktree(path, name));
    };
    let base = aside_git::resolve_commit(repo, "HEAD").unwrap();
    let host_bin = env!("CARGO_BIN_EXE_aside-host");
    let (mut alone_status, mut alone_add) = (vec![], vec![]);
    let (mut busy_status, mut busy_add) = (vec![], vec![]);
    // Rounds alone and during a refill take turns, so both see the filesystem in the same state.
    // Each round starts with nothing left to write back (a killed refill's files included).
    let sync = || Command::new("sync").status().unwrap();
    for round in 0..rounds {
        sync();
        user_round(&mut alone_status, &mut alone_add, round);
        sync();
        // A refill making spares (more than it can make in a round), started as the host
        // starts it, killed after the round (its checkout dies with it); the spares stay.
        let mut cmd = Command::new(host_bin);
        cmd.args(["refill", repo.to_str().unwrap(), &base, "100"]);
        aside_core::process::background_priority(&mut cmd);
        let mut refill = cmd.spawn().unwrap();
        std::thread::sleep(Duration::from_millis(300));
        user_round(&mut busy_status, &mut busy_add, round);
        let _ = refill.kill();
        let _ = refill.wait();
    }
    remove_all(bench, repo, made);
    aside_git::pool_clear(repo).unwrap();
    let a = show("git status, alone", alone_status);
    let b = show("git status, during a refill", busy_status);
    let c = show("git worktree add, alone", alone_add);
    let d = show("git worktree add, during a refill", busy_add);
    println!(
        "  slower during a refill: git status {:+.0}%, git worktree add {:+.0}%",
        (b / a - 1.0) * 100.0,
        (d / c - 1.0) * 100.0
    );
}

fn part_sessions(bench: &Bench, root: &Path) {
    let n = env_or("BENCH_SESSIONS", 500);
    println!("3. {n} sessions at once, built-in agent, each reply after 1 s");
    let repo = root.join("small");
    init_repo(&repo, &[("README.md", "# small\n")]);
    bench.config("[sessions]\nmax_concurrent = 16\nworktree_pool = 0\n");
    bench.model.push((0..n).map(|i| {
        Reply::stream(vec![
            Chunk::Delay(Duration::from_secs(1)),
            Chunk::Text(format!("done {i} ")),
            Chunk::Text("and more".into()),
        ])
    }));
    let started = Instant::now();
    for i in 0..n {
        bench.aside(&repo, &["new", &format!("many {i}")]);
    }
    let created = started.elapsed();
    let mut ls_times = Vec::new();
    let mut peak = (0, 0, 0);
    let sessions = loop {
        let t = Instant::now();
        let list: Value = serde_json::from_str(&bench.aside(&repo, &["ls", "--json"])).unwrap();
        ls_times.push(ms(t.elapsed()));
        let hosts = aside_testkit::procs::memory_of(|a| {
            a.len() >= 2 && a[0].ends_with("/aside-host") && a[1] == "host"
        });
        if hosts.0 > peak.0 {
            peak = hosts;
        }
        let list = list.as_array().unwrap().clone();
        if list.len() == n
            && list
                .iter()
                .all(|s| s["status"] == "completed" || s["status"] == "failed")
        {
            break list;
        }
        assert!(
            started.elapsed() < Duration::from_secs(3600),
            "never finished"
        );
        std::thread::sleep(Duration::from_millis(200));
    };
    let elapsed = started.elapsed();
    let completed = sessions
        .iter()
        .filter(|s| s["status"] == "completed")
        .count();
    let mut lost = 0;
    for s in &sessions {
        let show: Value = serde_json::from_str(
            &bench.aside(&repo, &["show", s["id"].as_str().unwrap(), "--json"]),
        )
        .unwrap();
        let events = show["events"].as_array().unwrap();
        let seqs: Vec<u64> = events.iter().map(|e| e["seq"].as_u64().unwrap()).collect();
        let text: String = events
            .iter()
            .filter(|e| e["kind"] == "agent_message_chunk")
            .filter_map(|e| e["data"]["content"]["text"].as_str())
            .collect();
        if seqs != (1..=seqs.len() as u64).collect::<Vec<_>>() || !text.ends_with("and more") {
            lost += 1;
        }
    }
    println!(
        "  {completed} of {n} completed in {:.1} s ({:.1} s to create them); {lost} with a missing or duplicated event",
        elapsed.as_secs_f64(),
        created.as_secs_f64()
    );
    show("aside ls --json during the run", ls_times);
    println!(
        "  peak {} hosts at once: {:.1} MiB RSS each, {:.1} MiB PSS each (the binary's pages shared)",
        peak.0,
        peak.1 as f64 / 1024.0 / peak.0.max(1) as f64,
        peak.2 as f64 / 1024.0 / peak.0.max(1) as f64
    );
    bench.aside(&repo, &["stop", "--all"]);
}

fn part_ls(bench: &Bench, root: &Path) {
    let n = env_or("BENCH_LS", 10_000);
    println!("4. aside ls with {n} sessions in the index");
    let repo = root.join("listed");
    init_repo(&repo, &[("README.md", "# listed\n")]);
    bench.config("[sessions]\nworktree_pool = 0\n");
    bench.model.push([Reply::text("ok")]);
    let id = bench.aside(&repo, &["new", "the model of the others"]);
    let layout = aside_store::Layout::new(bench.root.join("aside-home"));
    let index = aside_store::Index::open(&layout).unwrap();
    let template = index
        .get(&aside_core::SessionId(id.clone()))
        .unwrap()
        .unwrap();
    for i in 0..n {
        let mut r = template.clone();
        r.id = aside_core::SessionId::random();
        r.title = format!("listed {i}");
        r.status = aside_core::Status::Completed;
        index.insert(&r).unwrap();
    }
    let time = |args: &[&str]| -> Vec<f64> {
        (0..5)
            .map(|_| {
                let t = Instant::now();
                bench.aside(&repo, args);
                ms(t.elapsed())
            })
            .collect()
    };
    show("aside ls", time(&["ls"]));
    show("aside ls --json", time(&["ls", "--json"]));
    bench.aside(&repo, &["stop", "--all"]);
}

fn part_events(bench: &Bench, root: &Path) {
    let n = env_or("BENCH_EVENTS", 100_000);
    println!("5. a session of {n} events");
    let repo = root.join("long");
    init_repo(&repo, &[("README.md", "# long\n")]);
    bench.model.push([Reply::text("ok")]);
    let id = bench.aside(&repo, &["new", "long one"]);
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let list: Value = serde_json::from_str(&bench.aside(&repo, &["ls", "--json"])).unwrap();
        if list
            .as_array()
            .unwrap()
            .iter()
            .any(|s| s["id"] == id.as_str() && s["status"] == "completed")
        {
            break;
        }
        assert!(Instant::now() < deadline);
        std::thread::sleep(Duration::from_millis(50));
    }
    bench.aside(&repo, &["stop", &id]);
    let layout = aside_store::Layout::new(bench.root.join("aside-home"));
    let log = aside_store::EventLog::open(&layout, &aside_core::SessionId(id.clone())).unwrap();
    let stored = log.since(0).unwrap();
    let like = |kind: &str| stored.iter().find(|e| e.kind == kind).unwrap().data.clone();
    let (mut prompt, mut chunk, end) = (
        like("prompt"),
        like("agent_message_chunk"),
        like("turn_end"),
    );
    let t = Instant::now();
    let mut written = 0;
    let mut turn = 0;
    while written < n {
        prompt["text"] = Value::String(format!("turn {turn}"));
        log.append("prompt", &prompt).unwrap();
        for c in 0..48 {
            chunk["content"]["text"] = Value::String(format!("chunk {c} of turn {turn} "));
            log.append("agent_message_chunk", &chunk).unwrap();
        }
        log.append("turn_end", &end).unwrap();
        written += 50;
        turn += 1;
    }
    println!(
        "  the store took {} events in {:.1} s ({:.0} events/s, one transaction each)",
        written,
        t.elapsed().as_secs_f64(),
        written as f64 / t.elapsed().as_secs_f64()
    );
    let time = |args: &[&str]| -> Vec<f64> {
        (0..5)
            .map(|_| {
                let t = Instant::now();
                bench.aside(&repo, args);
                ms(t.elapsed())
            })
            .collect()
    };
    show("aside show (its last turns)", time(&["show", &id]));
    show("aside logs --tail 50", time(&["logs", &id, "--tail", "50"]));
    show(
        "aside show --json (its last turns)",
        time(&["show", &id, "--json"]),
    );
}

fn part_submodules(bench: &Bench, root: &Path) {
    println!("6. a repository with 3 submodules of 2,000 files each");
    let files = |n: usize| -> Vec<(String, String)> {
        (0..n)
            .map(|i| (format!("d{}/f{i}.txt", i / 250), format!("file {i}\n")))
            .collect()
    };
    let owned = files(2000);
    let as_refs: Vec<(&str, &str)> = owned
        .iter()
        .map(|(a, b)| (a.as_str(), b.as_str()))
        .collect();
    let top = root.join("with-subs");
    init_repo(&top, &as_refs);
    for n in 0..3 {
        let src = root.join(format!("sub-src-{n}"));
        init_repo(&src, &as_refs);
        git(
            &top,
            &[
                "-c",
                "protocol.file.allow=always",
                "submodule",
                "add",
                "-q",
                src.to_str().unwrap(),
                &format!("sub{n}"),
            ],
        );
    }
    git(&top, &["commit", "-q", "-m", "submodules"]);
    bench.config("[sessions]\nworktree_pool = 0\n");
    let (mut plain, mut with_update, mut aside) = (vec![], vec![], vec![]);
    // Each measurement follows a removal of the same size (this filesystem creates files slowly
    // right after many were deleted): the session first, then git.
    for round in 0..3 {
        let (took, id) = new_to_prompt(bench, &top, &format!("with submodules {round}"));
        aside.push(ms(took));
        wait_no_host(&id);
        bench.aside(&top, &["rm", &id, "--force"]);
        let name = format!("plain-sub-{round}");
        let path = root.join(&name);
        let t = Instant::now();
        git(
            &top,
            &["worktree", "add", "-q", "-b", &name, path.to_str().unwrap()],
        );
        plain.push(ms(t.elapsed()));
        let t = Instant::now();
        git(
            &path,
            &[
                "-c",
                "protocol.file.allow=always",
                "submodule",
                "update",
                "--init",
                "--recursive",
                "-q",
            ],
        );
        with_update.push(plain[round] + ms(t.elapsed()));
        git(
            &top,
            &["worktree", "remove", "--force", path.to_str().unwrap()],
        );
        git(&top, &["branch", "-D", &name]);
    }
    let plain = show("git worktree add (submodules left empty)", plain);
    let update = show("… + git submodule update --init --recursive", with_update);
    let aside = show("aside new -> prompt, with its submodules", aside);
    println!(
        "  aside with submodules / plain git worktree add = {:.2}; / git with its submodules = {:.2}",
        aside / plain,
        aside / update
    );
}

fn main() {
    let parts: Vec<usize> = std::env::var("BENCH_PARTS")
        .map(|v| v.split(',').filter_map(|p| p.trim().parse().ok()).collect())
        .unwrap_or_else(|_| vec![1, 2, 3, 4, 5, 6]);
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().canonicalize().unwrap();
    let bench = Bench {
        root: root.clone(),
        model: FakeModel::start(),
    };
    if parts.contains(&1) || parts.contains(&2) {
        let repo = make_repo(&root, env_or("BENCH_FILES", 100_000));
        if parts.contains(&1) {
            part_worktrees(&bench, &repo);
        }
        if parts.contains(&2) {
            part_refill(&bench, &repo);
        }
    }
    if parts.contains(&3) {
        part_sessions(&bench, &root);
    }
    if parts.contains(&4) {
        part_ls(&bench, &root);
    }
    if parts.contains(&5) {
        part_events(&bench, &root);
    }
    if parts.contains(&6) {
        part_submodules(&bench, &root);
    }
}
