//! What scripts and desktops get: `aside wait` and the `[notify]` command.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use crate::common::{notify_hook, wait_line, Env};
use aside_testkit::{Chunk, Reply};
use serde_json::json;
use std::time::{Duration, Instant};

#[test]
fn wait_blocks_until_a_session_asks_or_ends_and_the_notify_command_is_told() {
    let env = Env::new();
    let (hook, told) = notify_hook(
        &env,
        "$ASIDE_SESSION_ID $ASIDE_SESSION_STATUS [$ASIDE_SESSION_TITLE] $ASIDE_SESSION_REPO",
    );
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

#[test]
fn commands_that_report_a_result_print_it_as_json() {
    let env = Env::new();
    env.model.push_for(
        "json-task",
        [
            Reply::tool(
                "write_file",
                json!({"path": "NOTES.md", "content": "one\ntwo\n"}),
            ),
            Reply::text("Wrote it."),
            Reply::text("Nothing more."),
        ],
    );
    let out = env.ok(&["new", "json-task: write notes", "--json"]);
    let s: serde_json::Value = serde_json::from_str(&out).unwrap();
    let id = s["id"].as_str().unwrap().to_string();
    assert_eq!(s["title"], "json-task: write notes");
    assert_eq!(s["mode"], "isolated");
    env.wait_status(&id, "completed");
    let diff: serde_json::Value =
        serde_json::from_str(&env.ok(&["diff", &id, "--stat", "--json"])).unwrap();
    assert_eq!(
        diff["files"],
        json!([{"path": "NOTES.md", "added": 2, "removed": 0}])
    );
    assert!(diff.get("patch").is_none());
    let diff: serde_json::Value = serde_json::from_str(&env.ok(&["diff", &id, "--json"])).unwrap();
    assert!(diff["patch"].as_str().unwrap().contains("+one"), "{diff}");
    let sent: serde_json::Value =
        serde_json::from_str(&env.ok(&["send", &id, "anything else?", "--json"])).unwrap();
    assert_eq!(sent["id"], id.as_str());
    env.wait_status(&id, "completed");
    let applied: serde_json::Value =
        serde_json::from_str(&env.ok(&["apply", &id, "--json"])).unwrap();
    assert_eq!(
        applied,
        json!({"session": id, "outcome": "applied", "files": ["NOTES.md"]})
    );
    let again: serde_json::Value =
        serde_json::from_str(&env.ok(&["apply", &id, "--json"])).unwrap();
    assert_eq!(again["outcome"], "already");
    // Applied work may go: rm reports what it removed.
    let removed: serde_json::Value = serde_json::from_str(&env.ok(&["rm", &id, "--json"])).unwrap();
    assert_eq!(removed["session"], id.as_str());
    assert_eq!(removed["removed"], true);
}
