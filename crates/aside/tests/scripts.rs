//! What scripts and desktops get: `aside wait` and the `[notify]` command.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use aside_testkit::{Chunk, Reply};
use common::Env;
use serde_json::json;
use std::os::unix::fs::PermissionsExt as _;
use std::time::{Duration, Instant};

/// Waits (up to 10 s) until `file` holds a line with `what`; its whole text.
fn wait_line(file: &std::path::Path, what: &str) -> String {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let text = std::fs::read_to_string(file).unwrap_or_default();
        if text.lines().any(|l| l.contains(what)) {
            return text;
        }
        assert!(
            Instant::now() < deadline,
            "no line with {what:?} in {file:?}:\n{text}"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[test]
fn wait_blocks_until_a_session_asks_or_ends_and_the_notify_command_is_told() {
    let env = Env::new();
    let told = env.root.join("told.txt");
    let hook = env.root.join("hook.sh");
    std::fs::write(
        &hook,
        format!(
            "#!/bin/sh\necho \"$ASIDE_SESSION_ID $ASIDE_SESSION_STATUS [$ASIDE_SESSION_TITLE] $ASIDE_SESSION_REPO\" >> '{}'\n",
            told.display()
        ),
    )
    .unwrap();
    std::fs::set_permissions(&hook, std::fs::Permissions::from_mode(0o755)).unwrap();
    env.config(&format!("[notify]\ncommand = [\"{}\"]\n", hook.display()));
    env.model.push_for(
        "wait-task",
        [
            Reply::tool("run_command", json!({"command": "echo hi"})),
            Reply::text("Done."),
        ],
    );
    let id = env.new_session("wait-task: ask first", &["--workspace"]);
    let out = env
        .cmd(&["wait", &id, "--until", "needs-input"])
        .output()
        .unwrap();
    assert!(out.status.success());
    assert_eq!(
        String::from_utf8_lossy(&out.stdout),
        format!("{id} needs_input\n")
    );
    let text = wait_line(&told, "needs_input");
    assert!(
        text.contains(&format!(
            "{id} needs_input [wait-task: ask first] {}",
            env.repo.display()
        )),
        "{text}"
    );
    env.ok(&["approve", &id]);
    let out = env.cmd(&["wait", &id]).output().unwrap();
    assert!(out.status.success());
    assert_eq!(
        String::from_utf8_lossy(&out.stdout),
        format!("{id} completed\n")
    );
    wait_line(&told, "completed");

    // A session that keeps working: --timeout gives up, with status 2.
    env.model.push_for(
        "slow-task",
        [Reply::stream(vec![
            Chunk::Text("thinking".into()),
            Chunk::Hang,
        ])],
    );
    let slow = env.new_session("slow-task: take long", &[]);
    let started = Instant::now();
    let out = env
        .cmd(&["wait", &slow, "--timeout", "1"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(started.elapsed() < Duration::from_secs(10));
    assert_eq!(
        String::from_utf8_lossy(&out.stderr).trim(),
        format!("aside: gave up waiting for {slow} (running)")
    );
    // Cancelled is not a success.
    env.ok(&["cancel", &slow]);
    let out = env.cmd(&["wait", &slow]).output().unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(
        String::from_utf8_lossy(&out.stdout),
        format!("{slow} cancelled\n")
    );
    let err = env.fails(&["wait", "nosuch"]);
    assert_eq!(
        err,
        "aside: no session matches `nosuch`; `aside ls --all` lists them"
    );
}
