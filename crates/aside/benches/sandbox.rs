//! The sandbox's cost (`cargo bench -p aside --bench sandbox`): a command run as the built-in
//! agent runs it (`sh -c`), plain and inside bubblewrap with a session's policy (no network, the
//! worktree and git directory writable, HOME's secrets hidden), median of many runs each.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::time::Instant;

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

fn main() {
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
    let rounds = 50;
    let (mut bare, mut boxed) = (Vec::new(), Vec::new());
    for _ in 0..rounds {
        bare.push(time(&plain));
        boxed.push(time(&wrapped));
    }
    println!(
        "sandbox: `sh -c 'git status'` plain median {:.1} ms, in bubblewrap median {:.1} ms ({rounds} each)",
        median(bare),
        median(boxed)
    );
}
