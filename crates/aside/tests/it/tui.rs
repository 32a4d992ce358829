//! The terminal Agents view end to end: `aside` in tmux, driven by keys, against real sessions
//! on the fake model.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use crate::common::{Env, Tmux};
use aside_testkit::{Chunk, Reply};
use serde_json::{json, Value};
use std::time::Duration;

#[test]
fn a_session_started_approved_followed_up_and_applied_from_the_view_outlives_it() {
    if !crate::common::tmux_available() {
        return;
    }
    let env = Env::new();
    env.model.push_for(
        "tui-task",
        [
            Reply::tool("run_command", json!({"command": "echo hi > hello.txt"})),
            Reply::text("Wrote **hello.txt**."),
            Reply::stream(vec![Chunk::Text("Still at it".into()), Chunk::Hang]),
        ],
    );
    let tmux = Tmux::start_in(
        &env.vars(),
        &env.repo,
        &format!("'{}'", env!("CARGO_BIN_EXE_aside")),
    );
    tmux.wait_for("No sessions yet. Press n to start one");
    // A new session, asking before it runs commands.
    tmux.keys(&[
        "n",
        "tui-task: write hello",
        "Tab",
        "Tab",
        "Tab",
        "Right",
        "Right",
        "Right",
    ]);
    tmux.wait_for("approvals ‹ ask ›");
    tmux.keys(&["Enter"]);
    let screen = tmux.wait_for("a approve · A always · x deny");
    assert!(screen.contains("$ echo hi > hello.txt"), "{screen}");
    let screen = tmux.wait_for("NEEDS INPUT");
    assert!(screen.contains("· builtin · isolated · proj"), "{screen}");
    let list: Value = serde_json::from_str(&env.ok(&["ls", "--json"])).unwrap();
    let id = list[0]["id"].as_str().unwrap().to_string();
    assert_eq!(list[0]["status"], "needs_input");
    tmux.keys(&["a"]);
    let screen = tmux.wait_for("Wrote hello.txt.");
    assert!(screen.contains("✓ Run echo hi > hello.txt"), "{screen}");
    env.wait_status(&id, "completed");
    // What it used (two model calls of 120 tokens), in the session's header.
    tmux.wait_for("· 240 tokens");
    // Its work, applied to the user's checkout after a confirmation.
    tmux.keys(&["p"]);
    tmux.wait_for("Apply session");
    tmux.keys(&["y"]);
    tmux.wait_for(&format!("applied {id} to your working tree: hello.txt"));
    assert_eq!(
        std::fs::read_to_string(env.repo.join("hello.txt")).unwrap(),
        "hi\n"
    );
    // A follow-up; the agent is still working on it when the view quits.
    tmux.keys(&["f", "keep going", "Enter"]);
    tmux.wait_for("Still at it");
    tmux.keys(&["Escape"]);
    tmux.wait_for("TITLE / LAST MESSAGE");
    tmux.keys(&["q"]);
    tmux.wait_for("EXITED=0");
    std::thread::sleep(Duration::from_millis(500));
    let s = env.session(&id);
    assert_eq!(s["status"], "running", "{s}");
    assert_eq!(s["host"], true, "{s}");
}

#[test]
fn without_a_terminal_aside_prints_the_session_list() {
    let env = Env::new();
    env.model.push_for("piped", [Reply::text("ok")]);
    let id = env.new_session("piped: a task", &[]);
    env.wait_status(&id, "completed");
    let out = env.ok(&[]);
    assert!(
        out.starts_with("ID ") && out.contains(&id) && out.contains("piped: a task"),
        "{out}"
    );
}

/// The new-session form in a repository whose `.aside.toml` has setup commands: the view shows
/// the commands and asks; saying no starts nothing, saying yes trusts them and starts.
#[test]
fn the_form_shows_a_repositorys_commands_and_asks_before_trusting_them() {
    if !crate::common::tmux_available() {
        return;
    }
    let env = Env::new();
    let mark = env.root.join("setup-ran");
    std::fs::write(
        env.repo.join(".aside.toml"),
        format!("[setup]\nrun = [\"touch '{}'\"]\n", mark.display()),
    )
    .unwrap();
    env.model.push_for("tui-trust", [Reply::text("done")]);
    let tmux = Tmux::start_in(
        &env.vars(),
        &env.repo,
        &format!("'{}'", env!("CARGO_BIN_EXE_aside")),
    );
    tmux.wait_for("No sessions yet. Press n to start one");
    tmux.keys(&["n", "tui-trust: go", "Enter"]);
    let screen = tmux.wait_for("Trust it and start the session?");
    assert!(
        screen.contains("setup (runs in each new session's worktree): touch"),
        "{screen}"
    );
    tmux.keys(&["n"]);
    tmux.wait_for("No sessions yet. Press n to start one");
    assert_eq!(env.ok(&["ls", "--json"]).trim(), "[]");
    assert!(!mark.exists());
    tmux.keys(&["n", "tui-trust: go", "Enter"]);
    tmux.wait_for("Trust it and start the session?");
    tmux.keys(&["y"]);
    tmux.wait_for("done");
    env.wait_file(&mark);
    tmux.keys(&["Escape"]);
    tmux.wait_for("TITLE / LAST MESSAGE");
    tmux.keys(&["q"]);
    tmux.wait_for("EXITED=0");
}

/// An open session shows the agent's text while it streams: pieces the host has not stored yet
/// (here it stores them only after ten minutes) reach the view through the host, not the log.
#[test]
fn streamed_text_shows_as_it_streams() {
    if !crate::common::tmux_available() {
        return;
    }
    let mut env = Env::new();
    env.extra
        .push(("ASIDE_EVENT_FLUSH_MS".into(), "600000".into()));
    env.extra
        .push(("ASIDE_HOST_IDLE_SECS".into(), "120".into()));
    env.model.push_for("tui-stream", [Reply::text("ready")]);
    let id = env.new_session("tui-stream: talk", &[]);
    env.wait_status(&id, "completed");
    let tmux = Tmux::start_in(
        &env.vars(),
        &env.repo,
        &format!("'{}'", env!("CARGO_BIN_EXE_aside")),
    );
    tmux.wait_for("tui-stream: talk");
    tmux.keys(&["Enter"]);
    tmux.wait_for("ready");
    // The view is open on the session; now the agent streams.
    env.model.push_for(
        "tui-stream",
        [Reply::stream(vec![
            Chunk::Text("Streaming, not stored yet".into()),
            Chunk::Hang,
        ])],
    );
    env.ok(&["send", &id, "tui-stream: go on"]);
    tmux.wait_for("Streaming, not stored yet");
    let stored = env.ok(&["logs", &id]);
    assert!(
        !stored.contains("Streaming"),
        "it was stored after all:\n{stored}"
    );
    tmux.keys(&["Escape"]);
    tmux.wait_for("TITLE / LAST MESSAGE");
    tmux.keys(&["q"]);
    tmux.wait_for("EXITED=0");
}
