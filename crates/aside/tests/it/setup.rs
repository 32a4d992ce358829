//! A repository's `[setup]` and `[teardown]` commands, and each session's own ports.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use crate::common::Env;
use aside_testkit::Reply;

/// The ports a session's setup printed (`ports FIRST FIRST-LAST`).
fn ports_of(env: &Env, id: &str) -> (u32, u32) {
    let logs = env.ok(&["logs", id]);
    let line = logs
        .lines()
        .find_map(|l| l.trim().strip_prefix("ports "))
        .unwrap_or_else(|| panic!("no ports in:\n{logs}"))
        .to_string();
    let range = line.split_whitespace().nth(1).unwrap();
    let (first, last) = range.split_once('-').unwrap();
    assert_eq!(line.split_whitespace().next().unwrap(), first);
    (first.parse().unwrap(), last.parse().unwrap())
}

#[test]
fn setup_runs_before_the_agent_with_its_own_ports_and_a_failure_fails_the_session() {
    let env = Env::new();
    let bye = env.root.join("teardown.txt");
    std::fs::write(
        env.repo.join(".aside.toml"),
        format!(
            "[setup]\nrun = [\"echo prepared > prepared.txt\", \"echo ports $ASIDE_PORT $ASIDE_PORT_RANGE\"]\n\n[teardown]\nrun = [\"echo bye from $PWD >> '{}'\"]\n",
            bye.display()
        ),
    )
    .unwrap();
    env.ok(&["trust"]);
    env.model.push_for("setup-a", [Reply::text("ready")]);
    env.model.push_for("setup-b", [Reply::text("ready")]);
    let a = env.new_session("setup-a: work", &[]);
    let b = env.new_session("setup-b: work", &[]);
    let sa = env.wait_status(&a, "completed");
    env.wait_status(&b, "completed");
    let worktree = std::path::PathBuf::from(sa["worktree"].as_str().unwrap());
    assert_eq!(
        std::fs::read_to_string(worktree.join("prepared.txt")).unwrap(),
        "prepared\n"
    );
    let logs = env.ok(&["logs", &a]);
    assert!(
        logs.contains("[setup] $ echo prepared > prepared.txt"),
        "{logs}"
    );
    // Two live sessions, two ranges that do not overlap.
    let (pa, pb) = (ports_of(&env, &a), ports_of(&env, &b));
    assert!(pa.1 >= pa.0 && pb.1 >= pb.0);
    assert!(pa.1 < pb.0 || pb.1 < pa.0, "{pa:?} and {pb:?} overlap");
    // Teardown runs in the worktree when the session is removed.
    env.ok(&["rm", &a, "--force"]);
    assert_eq!(
        std::fs::read_to_string(&bye).unwrap(),
        format!("bye from {}\n", worktree.display())
    );
    assert!(!worktree.exists());

    // A setup that fails fails the session, saying which command and what it printed; the
    // agent never starts.
    std::fs::write(
        env.repo.join(".aside.toml"),
        "[setup]\nrun = [\"echo fine\", \"echo 'npm: not found' >&2; exit 3\"]\n",
    )
    .unwrap();
    env.ok(&["trust"]);
    let asked = env.model.received().len();
    let c = env.new_session("setup-c: never starts", &[]);
    let s = env.wait_status(&c, "failed");
    assert_eq!(
        s["reason"],
        "setup `echo 'npm: not found' >&2; exit 3` failed (exit status: 3): npm: not found"
    );
    assert_eq!(
        env.model.received().len(),
        asked,
        "the agent was never asked"
    );
    let logs = env.ok(&["logs", &c]);
    assert!(
        logs.contains("npm: not found") && logs.contains("(exit code 3)"),
        "{logs}"
    );
}
