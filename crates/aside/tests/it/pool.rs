//! `aside pool`: spare worktrees, sized per repository, refilled in the background, cleared on
//! request and with the repository's last session.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use crate::common::Env;
use aside_testkit::Reply;
use serde_json::Value;
use std::time::{Duration, Instant};

fn pool(env: &Env) -> Value {
    let out: Value = serde_json::from_str(&env.ok(&["pool", "--json"])).unwrap();
    out[0].clone()
}

fn wait_ready(env: &Env, n: u64) -> Value {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let p = pool(env);
        if p["ready"] == n {
            return p;
        }
        assert!(
            Instant::now() < deadline,
            "the pool never had {n} spares: {p}"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

#[test]
fn the_pool_is_sized_per_repository_refilled_and_cleared() {
    let env = Env::new();
    std::fs::write(env.repo.join(".aside.toml"), "[worktree]\npool = 2\n").unwrap();
    env.model
        .push_for("pool-a", [Reply::text("a done."), Reply::text("b done.")]);
    let a = env.new_session("pool-a: first", &[]);
    env.wait_status(&a, "completed");
    let p = wait_ready(&env, 2);
    assert_eq!(p["size"], 2);
    assert_eq!(p["at_head"], 2);
    let text = env.ok(&["pool"]);
    assert!(
        text.contains("2 of 2 spare worktrees ready (2 at HEAD)"),
        "{text}"
    );
    // A second session takes a spare; the pool is made whole again behind it.
    let b = env.new_session("pool-a: second", &[]);
    env.wait_status(&b, "completed");
    let worktree = env.session(&b)["worktree"].as_str().unwrap().to_string();
    assert!(std::path::Path::new(&worktree).join("README.md").exists());
    wait_ready(&env, 2);
    // `aside pool clear` removes the spares (and git forgets them).
    let cleared = env.ok(&["pool", "clear"]);
    assert!(cleared.ends_with("removed 2 spare worktrees"), "{cleared}");
    assert_eq!(pool(&env)["ready"], 0);
    let listed = std::process::Command::new("git")
        .args(["-C", env.repo.to_str().unwrap(), "worktree", "list"])
        .output()
        .unwrap();
    assert!(!String::from_utf8_lossy(&listed.stdout).contains(".pool"));
    // Refilled by the next session, and gone with the repository's last session.
    env.model.push_for("pool-c", [Reply::text("c done.")]);
    let c = env.new_session("pool-c: third", &[]);
    env.wait_status(&c, "completed");
    wait_ready(&env, 2);
    for id in [&a, &b] {
        env.ok(&["rm", id, "--force"]);
    }
    assert_eq!(
        pool(&env)["ready"],
        2,
        "other sessions remain: the pool stays"
    );
    env.ok(&["rm", &c, "--force"]);
    assert_eq!(pool(&env)["ready"], 0);
    let pool_dir = env.repo.parent().unwrap().join("proj.worktrees/.pool");
    assert!(!pool_dir.exists(), "{}", pool_dir.display());
    // Outside a repository: what to do instead.
    let err = {
        let out = env
            .cmd(&["pool"])
            .current_dir(env.root.join("home"))
            .output()
            .unwrap();
        assert!(!out.status.success());
        String::from_utf8_lossy(&out.stderr).to_string()
    };
    assert!(
        err.contains("is not in a git repository: run this in one, or pass --all"),
        "{err}"
    );
}
