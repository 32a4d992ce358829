//! The sandbox's cost (`cargo bench -p aside --bench sandbox`): a command run as the built-in
//! agent runs it (`sh -c`), plain, inside bubblewrap with a session's policy (no network, the
//! worktree and git directory writable, HOME's secrets hidden) and with a list of hosts (the
//! `sandbox-net` bridge in front of it), median of many runs each; and, where the real
//! codex-acp is at hand (`ASIDE_TEST_CODEX`), a Codex session's start with and without its
//! whole agent in the sandbox.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::time::Instant;

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

fn main() {
    // The bridge a command with hosts to reach runs under is this binary's (as it is aside's).
    let args: Vec<String> = std::env::args().collect();
    if args.get(1).map(String::as_str) == Some(aside_core::sandbox::net::SUBCOMMAND) {
        std::process::exit(aside_core::sandbox::net::bridge_main(&args[2..]));
    }
    if let Err(why) = aside_core::sandbox::probe() {
        eprintln!("skipped: {why}");
        return;
    }
    let dir = tempfile::tempdir_in(env!("CARGO_TARGET_TMPDIR")).unwrap();
    let repo = dir.path().join("repo");
    aside_testkit::repo::init_repo(&repo, &[("README.md", "# r\n")]);
    let home = std::path::PathBuf::from(std::env::var("HOME").unwrap_or_default());
    let policy = aside_core::sandbox::Policy::for_session(
        &Default::default(),
        &repo,
        Some(&repo.join(".git")),
        &home,
        &dir.path().join("aside-home"),
    );
    let plain: Vec<String> = ["sh", "-c", "git status --short >/dev/null"]
        .iter()
        .map(|s| s.to_string())
        .collect();
    let wrapped = policy.wrap("bwrap", &repo, &plain);
    let time = |argv: &[String]| {
        let started = Instant::now();
        let ok = std::process::Command::new(&argv[0])
            .args(&argv[1..])
            .current_dir(&repo)
            .status()
            .unwrap()
            .success();
        assert!(ok, "{argv:?}");
        started.elapsed().as_secs_f64() * 1000.0
    };
    // With hosts to reach: the proxy's socket (only bound: the command connects nowhere).
    let socket = dir.path().join("net.sock");
    let _listener = std::os::unix::net::UnixListener::bind(&socket).unwrap();
    let mut hosts = policy.clone();
    hosts.allow = vec!["example.invalid".into(), "127.0.0.1:9".into()];
    hosts.proxy = Some(socket);
    let bridged = hosts.wrap("bwrap", &repo, &plain);
    let rounds = 50;
    let (mut bare, mut boxed, mut netted) = (Vec::new(), Vec::new(), Vec::new());
    for _ in 0..rounds {
        bare.push(time(&plain));
        boxed.push(time(&wrapped));
        netted.push(time(&bridged));
    }
    println!(
        "sandbox: `sh -c 'git status'` plain median {:.1} ms, in bubblewrap median {:.1} ms, with a list of hosts (the bridge) median {:.1} ms ({rounds} each)",
        median(bare),
        median(boxed),
        median(netted)
    );
    if let Some(codex) = std::env::var_os("ASIDE_TEST_CODEX") {
        codex_start(std::path::Path::new(&codex));
    }
}

/// A Codex session's start (aside new until the model has its first request), the agent
/// unconfined and whole in the sandbox.
fn codex_start(codex: &std::path::Path) {
    use aside_testkit::{FakeModel, Reply};
    let exe = env!("CARGO_BIN_EXE_aside");
    let dir = tempfile::tempdir_in(env!("CARGO_TARGET_TMPDIR")).unwrap();
    let root = dir.path().canonicalize().unwrap();
    let repo = root.join("repo");
    aside_testkit::repo::init_repo(&repo, &[("README.md", "# r\n")]);
    let model = FakeModel::start();
    let codex_home = root.join("home/.codex");
    std::fs::create_dir_all(&codex_home).unwrap();
    std::fs::write(
        codex_home.join("config.toml"),
        format!(
            "model = \"fake-model\"\nmodel_provider = \"fake\"\n\n[model_providers.fake]\nname = \"fake\"\nbase_url = \"{}\"\nwire_api = \"responses\"\n",
            model.openai_base()
        ),
    )
    .unwrap();
    let path = format!(
        "{}:{}",
        codex.parent().unwrap().display(),
        std::env::var("PATH").unwrap_or_default()
    );
    let aside = |args: &[&str]| {
        let mut cmd = aside_testkit::bench::aside_command(exe, &root, Some(&model));
        cmd.current_dir(&repo)
            .env("PATH", &path)
            .env("CODEX_HOME", &codex_home)
            .env("ASIDE_HOST_IDLE_SECS", "2");
        aside_testkit::bench::stdout_of(cmd, args)
    };
    let rounds = 5;
    let (mut bare, mut boxed) = (Vec::new(), Vec::new());
    for i in 0..rounds {
        for (flag, into) in [("--no-sandbox", &mut bare), ("--sandbox", &mut boxed)] {
            model.push([Reply::text("ok")]);
            let before = model.received().len();
            let started = Instant::now();
            aside(&["new", "--agent", "codex", flag, &format!("task {i} {flag}")]);
            let deadline = Instant::now() + std::time::Duration::from_secs(60);
            while model.received().len() <= before {
                assert!(Instant::now() < deadline, "codex never asked the model");
                std::thread::sleep(std::time::Duration::from_millis(2));
            }
            into.push(started.elapsed().as_secs_f64() * 1000.0);
        }
    }
    println!(
        "sandbox: a Codex session's start (aside new until its first model request): unconfined median {:.0} ms, whole agent in the sandbox median {:.0} ms ({rounds} each)",
        median(bare),
        median(boxed)
    );
}
