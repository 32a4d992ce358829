//! Background sessions through the real binary: temp HOME, ASIDE_HOME and repository, the
//! built-in agent on the fake model.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use crate::common::{codex_env, wait_no_process_in, Env, Pty};
use aside_testkit::procs::{host_pid, host_pids, kill_9};
use aside_testkit::repo::{git, init_repo};
use aside_testkit::{Chunk, Reply, Rng};
use serde_json::{json, Value};
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::{Duration, Instant};

/// The pid of the session's one host, waiting (up to 10 s) for an earlier one that is on its
/// way out to be gone.
fn only_host_pid(id: &str) -> i32 {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let hosts = host_pids(id);
        if hosts.len() == 1 {
            return hosts[0];
        }
        assert!(Instant::now() < deadline, "hosts of {id}: {hosts:?}");
        std::thread::sleep(Duration::from_millis(20));
    }
}

#[test]
fn three_isolated_sessions_run_at_once_and_come_back_by_diff_apply_and_merge() {
    let env = Env::new();
    for i in 0..3 {
        env.model.push_for(
            &format!("task-{i}"),
            [
                Reply::stream(vec![Chunk::Delay(Duration::from_millis(500))])
                    .then(Reply::tool("write_file", json!({"path": format!("src/file{i}.txt"), "content": format!("made by session {i}\n")}))),
                Reply::text(&format!("Created src/file{i}.txt.")),
            ],
        );
    }
    let ids: Vec<String> = (0..3)
        .map(|i| env.new_session(&format!("task-{i}: create src/file{i}.txt"), &[]))
        .collect();
    // The launching commands have exited; the sessions are still at work.
    for id in &ids {
        let session = env.session(id);
        let status = session["status"].as_str().unwrap().to_string();
        assert!(
            ["queued", "starting", "running"].contains(&status.as_str()),
            "{id} is {status}: {}",
            session["reason"]
        );
    }
    let sessions: Vec<Value> = ids
        .iter()
        .map(|id| env.wait_status(id, "completed"))
        .collect();
    let worktrees: std::collections::HashSet<&str> = sessions
        .iter()
        .map(|s| s["worktree"].as_str().unwrap())
        .collect();
    assert_eq!(worktrees.len(), 3);
    for (i, s) in sessions.iter().enumerate() {
        assert_eq!(s["changed_files"], 1, "{s}");
        assert_eq!(s["pending_permission"], false);
        assert_eq!(s["agent"], "builtin");
        assert_eq!(s["mode"], "isolated");
        let branch = s["branch"].as_str().unwrap();
        assert!(
            branch.starts_with(&format!("aside/task-{i}-create-src-file{i}")),
            "{branch}"
        );
        assert!(s["worktree"]
            .as_str()
            .unwrap()
            .starts_with(&format!("{}.worktrees/", env.repo.display())));
        // The checkpoint commit holds the agent's work.
        assert_eq!(
            git(
                Path::new(s["worktree"].as_str().unwrap()),
                &["status", "--porcelain"]
            ),
            ""
        );
    }

    let stat = env.ok(&["diff", &ids[0], "--stat"]);
    assert!(
        stat.contains("src/file0.txt | 1 +") && stat.contains("1 file changed"),
        "{stat}"
    );
    let diff = env.ok(&["diff", &ids[0]]);
    assert!(diff.contains("+made by session 0"));

    // apply: exactly the agent's change, uncommitted.
    assert_eq!(env.ok(&["apply", &ids[0]]), "src/file0.txt");
    assert_eq!(
        git(&env.repo, &["status", "--porcelain"]),
        "?? src/file0.txt"
    );
    assert_eq!(
        std::fs::read_to_string(env.repo.join("src/file0.txt")).unwrap(),
        "made by session 0\n"
    );

    // merge and merge --squash: exactly the agent's change, committed.
    std::fs::remove_file(env.repo.join("src/file0.txt")).unwrap();
    env.ok(&["merge", &ids[1]]);
    assert_eq!(
        git(&env.repo, &["diff", "--name-only", "HEAD~1", "HEAD"]),
        "src/file1.txt"
    );
    env.ok(&["merge", &ids[2], "--squash"]);
    assert_eq!(
        git(&env.repo, &["show", "--name-only", "--format=%s", "HEAD"]),
        "task-2: create src/file2.txt\n\nsrc/file2.txt"
    );
    assert_eq!(git(&env.repo, &["status", "--porcelain"]), "");

    // rm: merged or applied work goes without --force; the worktree and branch are gone.
    for id in &ids {
        env.ok(&["rm", id]);
    }
    for s in &sessions {
        assert!(!Path::new(s["worktree"].as_str().unwrap()).exists());
    }
    assert_eq!(git(&env.repo, &["branch", "--list", "aside/*"]), "");
    assert_eq!(env.ok(&["ls", "--all", "--json"]), "[]");
}

#[test]
fn apply_keeps_uncommitted_user_work_and_refuses_on_the_same_files() {
    let env = Env::new();
    env.model.push_for(
        "lib-task",
        [
            Reply::tool(
                "edit_file",
                json!({"path": "src/lib.txt", "old_string": "beta", "new_string": "BETA"}),
            ),
            Reply::text("done"),
        ],
    );
    let id = env.new_session("lib-task: uppercase beta", &[]);
    env.wait_status(&id, "completed");
    // The user has work of their own, uncommitted, in other files.
    std::fs::write(env.repo.join("README.md"), "# proj\nmy notes\n").unwrap();
    std::fs::write(env.repo.join("scratch.txt"), "untracked\n").unwrap();
    git(&env.repo, &["add", "README.md"]);
    std::fs::write(env.repo.join("README.md"), "# proj\nmy notes\nmore\n").unwrap();
    assert_eq!(env.ok(&["apply", &id]), "src/lib.txt");
    assert_eq!(
        std::fs::read_to_string(env.repo.join("src/lib.txt")).unwrap(),
        "alpha\nBETA\ngamma\n"
    );
    assert_eq!(
        std::fs::read_to_string(env.repo.join("README.md")).unwrap(),
        "# proj\nmy notes\nmore\n"
    );
    assert_eq!(
        std::fs::read_to_string(env.repo.join("scratch.txt")).unwrap(),
        "untracked\n"
    );
    assert_eq!(
        git(&env.repo, &["diff", "--cached", "--name-only"]),
        "README.md",
        "the user's staging is untouched"
    );

    // A second apply says so and changes nothing.
    let out = env.run(&["apply", &id]);
    assert!(out.status.success());
    assert_eq!(
        String::from_utf8_lossy(&out.stderr).trim(),
        format!("already applied: your workspace already has the changes of {id}")
    );

    // 3-way: the user's own uncommitted edit in the same file, away from the agent's line,
    // survives beside it.
    git(&env.repo, &["checkout", "--", "src/lib.txt"]);
    std::fs::write(env.repo.join("src/lib.txt"), "alpha\nbeta\ngamma\nmine\n").unwrap();
    assert_eq!(env.ok(&["apply", &id]), "src/lib.txt");
    assert_eq!(
        std::fs::read_to_string(env.repo.join("src/lib.txt")).unwrap(),
        "alpha\nBETA\ngamma\nmine\n"
    );

    // A true conflict (the same line changed both ways) is refused; nothing moves.
    git(&env.repo, &["checkout", "--", "src/lib.txt"]);
    std::fs::write(env.repo.join("src/lib.txt"), "alpha\nmine\ngamma\n").unwrap();
    let err = env.fails(&["apply", &id]);
    assert_eq!(err, "aside: refused: the changes conflict with your uncommitted work or your commits in src/lib.txt. Nothing was changed");
    assert_eq!(
        std::fs::read_to_string(env.repo.join("src/lib.txt")).unwrap(),
        "alpha\nmine\ngamma\n"
    );
    assert_eq!(
        std::fs::read_to_string(env.repo.join("README.md")).unwrap(),
        "# proj\nmy notes\nmore\n"
    );

    // rm refuses unapplied work; --force discards it.
    env.model.push_for(
        "other-task",
        [
            Reply::tool("write_file", json!({"path": "x.txt", "content": "x"})),
            Reply::text("ok"),
        ],
    );
    let id2 = env.new_session("other-task: write x", &[]);
    env.wait_status(&id2, "completed");
    let err = env.fails(&["rm", &id2]);
    assert!(
        err.contains("holds work that was neither applied nor merged (1 changed file)"),
        "{err}"
    );
    env.ok(&["rm", &id2, "--force", "--keep-branch"]);
    assert_eq!(
        git(
            &env.repo,
            &[
                "branch",
                "--list",
                "aside/other-task*",
                "--format=%(refname:short)"
            ]
        )
        .lines()
        .count(),
        1
    );
}

#[test]
fn a_killed_host_is_interrupted_and_resume_completes_the_turn() {
    let env = Env::new();
    env.model.push_for(
        "resume-task",
        [
            Reply::stream(vec![Chunk::Text("Working on it".into()), Chunk::Hang]),
            Reply::text("Finished after resume."),
        ],
    );
    let id = env.new_session("resume-task: do a long thing", &[]);
    env.wait_event(&id, "first chunk", |e| e["kind"] == "agent_message_chunk");
    let pid = host_pid(&id).expect("host process");
    kill_9(pid);
    env.wait_status(&id, "interrupted");
    assert_eq!(env.ok(&["resume", &id]), id);
    let done = env.wait_status(&id, "completed");
    assert_eq!(done["status"], "completed");
    let events = env.events(&id);
    let seqs: Vec<u64> = events.iter().map(|e| e["seq"].as_u64().unwrap()).collect();
    assert_eq!(
        seqs,
        (1..=seqs.len() as u64).collect::<Vec<_>>(),
        "no gap, no duplicate"
    );
    let texts: Vec<&str> = events
        .iter()
        .filter(|e| e["kind"] == "agent_message_chunk")
        .map(|e| e["data"]["content"]["text"].as_str().unwrap())
        .collect();
    assert_eq!(texts.iter().filter(|t| **t == "Working on it").count(), 1);
    assert!(texts.concat().contains("Finished after resume."));
    assert!(events
        .iter()
        .any(|e| e["kind"] == "prompt" && e["data"]["resumed"] == true));
    assert_eq!(
        events
            .iter()
            .filter(|e| e["kind"] == "prompt" && e["data"]["resumed"] == false)
            .count(),
        1
    );
}

#[test]
fn cancel_mid_turn_then_follow_up() {
    let env = Env::new();
    env.model.push_for(
        "cancel-task",
        [
            Reply::stream(vec![Chunk::Text("Thinking".into()), Chunk::Hang]),
            Reply::text("Second turn done."),
        ],
    );
    let id = env.new_session("cancel-task: think forever", &[]);
    env.wait_event(&id, "first chunk", |e| e["kind"] == "agent_message_chunk");
    env.ok(&["cancel", &id]);
    env.wait_status(&id, "cancelled");
    assert!(env
        .events(&id)
        .iter()
        .any(|e| e["kind"] == "turn_end" && e["data"]["stopReason"] == "cancelled"));
    let err = env.fails(&["cancel", &id]);
    assert_eq!(err, "aside: nothing to cancel: the session is cancelled");
    env.ok(&["send", &id, "try again"]);
    env.wait_status(&id, "completed");
    let show = env.ok(&["show", &id]);
    assert!(
        show.contains("> try again") && show.contains("agent: Second turn done."),
        "{show}"
    );
}

#[test]
fn permissions_are_answered_from_another_process() {
    let env = Env::new();
    env.model.push_for(
        "perm-yes",
        [
            Reply::tool(
                "write_file",
                json!({"path": "yes.txt", "content": "allowed\n"}),
            ),
            Reply::text("wrote it"),
        ],
    );
    env.model.push_for(
        "perm-no",
        [
            Reply::tool(
                "write_file",
                json!({"path": "no.txt", "content": "denied\n"}),
            ),
            Reply::text("ok, not writing"),
        ],
    );
    let yes = env.new_session("perm-yes: write yes.txt", &["--approve", "ask"]);
    let no = env.new_session("perm-no: write no.txt", &["--approve", "ask"]);
    for id in [&yes, &no] {
        let s = env.wait_status(id, "needs_input");
        assert_eq!(s["pending_permission"], true);
    }
    let ls = env.ok(&["ls"]);
    assert!(ls.contains("NEEDS_INPUT"), "{ls}");
    env.ok(&["approve", &yes]);
    env.ok(&["deny", &no]);
    let yes_s = env.wait_status(&yes, "completed");
    let no_s = env.wait_status(&no, "completed");
    assert_eq!(
        std::fs::read_to_string(Path::new(yes_s["worktree"].as_str().unwrap()).join("yes.txt"))
            .unwrap(),
        "allowed\n"
    );
    assert!(!Path::new(no_s["worktree"].as_str().unwrap())
        .join("no.txt")
        .exists());
    assert_eq!(yes_s["pending_permission"], false);
    let err = env.fails(&["approve", &yes]);
    assert_eq!(
        err,
        format!("aside: session {yes}: no permission request is waiting for an answer")
    );
}

#[test]
fn bad_input_is_refused_clearly_and_nothing_is_half_made() {
    let mut env = Env::new();
    let plain = env.root.join("plain");
    std::fs::create_dir_all(&plain).unwrap();
    let err = env.fails(&["new", "task", "--repo", plain.to_str().unwrap()]);
    assert_eq!(err, format!("aside: {} is not inside a git repository; isolated sessions need one. Run aside in a repository, pass --repo DIR, or use --workspace", plain.display()));
    let err = env.fails(&["new", "task", "--agent", "nope"]);
    assert_eq!(err, "aside: unknown agent `nope`; known agents: builtin, copilot, codex, claude, gemini, qwen, opencode. Declare others under [agents.NAME] in the config file");
    let err = env.fails(&["new", "task", "--base", "no-such-ref"]);
    assert!(err.contains("--base no-such-ref is not a commit"), "{err}");
    assert_eq!(env.ok(&["ls", "--all", "--json"]), "[]", "nothing recorded");
    assert_eq!(
        git(&env.repo, &["worktree", "list"]).lines().count(),
        1,
        "no worktree made"
    );

    let err = env.fails(&["show", "zzzz"]);
    assert_eq!(
        err,
        "aside: no session matches `zzzz`; `aside ls --all` lists them"
    );

    // An agent that is not installed, one that never speaks ACP, and one that crashes mid-turn.
    let crasher = env.root.join("crasher.py");
    std::fs::write(&crasher, r#"
import json, sys
for line in sys.stdin:
    msg = json.loads(line)
    if msg.get("method") == "initialize":
        print(json.dumps({"jsonrpc": "2.0", "id": msg["id"], "result": {"protocolVersion": 1, "agentCapabilities": {}}}), flush=True)
    elif msg.get("method") == "session/new":
        print(json.dumps({"jsonrpc": "2.0", "id": msg["id"], "result": {"sessionId": "s1"}}), flush=True)
    elif msg.get("method") == "session/prompt":
        print("fatal: out of cheese", file=sys.stderr, flush=True)
        sys.exit(3)
"#).unwrap();
    env.config(&format!(
        "[agents.ghost]\ncommand = [\"aside-test-no-such-agent\"]\n[agents.mute]\ncommand = [\"sleep\", \"30\"]\n[agents.crasher]\ncommand = [\"python3\", \"{}\"]\n",
        crasher.display()
    ));
    env.extra
        .push(("ASIDE_AGENT_STARTUP_TIMEOUT".into(), "1".into()));
    // A missing agent program is refused before anything is made.
    let before = env.ok(&["ls", "--all", "--json"]);
    let err = env.fails(&["new", "ghost task", "--agent", "ghost"]);
    assert_eq!(err, "aside: agent `ghost` needs `aside-test-no-such-agent`, which is not installed (not found on PATH): install it, or fix `command` under [agents.NAME] in the config file, or choose another agent with --agent");
    let err = env.fails(&["new", "copilot task", "--agent", "copilot"]);
    assert!(
        err.contains("npm install -g @github/copilot") || !err.contains("not installed"),
        "{err}"
    );
    assert_eq!(
        env.ok(&["ls", "--all", "--json"]),
        before,
        "no session was recorded"
    );
    let mute = env.new_session("mute task", &["--agent", "mute"]);
    let s = env.wait_status(&mute, "failed");
    assert!(
        s["reason"]
            .as_str()
            .unwrap()
            .starts_with("the agent `sleep 30` did not answer ACP `initialize` within 1 s"),
        "{s}"
    );
    let crash = env.new_session("crash task", &["--agent", "crasher"]);
    let s = env.wait_status(&crash, "failed");
    let reason = s["reason"].as_str().unwrap();
    assert!(
        reason.contains("exited mid-turn") && reason.contains("fatal: out of cheese"),
        "{reason}"
    );
    assert!(
        Path::new(s["worktree"].as_str().unwrap()).exists(),
        "the worktree is kept"
    );
    assert!(
        env.events(&crash).iter().any(|e| e["kind"] == "prompt"),
        "the events are kept"
    );
    let show = env.ok(&["show", &crash]);
    assert!(show.contains("status:   failed — "), "{show}");

    // An ambiguous prefix lists the matches: two sessions whose ids share "zz".
    let index =
        aside_store::Index::open(&aside_store::Layout::new(env.root.join("aside-home"))).unwrap();
    let mut record = index.resolve(&crash).unwrap();
    for id in ["zz000001", "zz000002"] {
        record.id = aside_core::SessionId(id.into());
        index.insert(&record).unwrap();
    }
    let err = env.fails(&["show", "zz"]);
    assert_eq!(
        err,
        "aside: `zz` is ambiguous: it matches zz000001, zz000002; type more of the id"
    );
    assert!(env.ok(&["show", "zz000002"]).starts_with("zz000002"));
    let err = env.fails(&["show", ""]);
    assert!(err.contains("no session matches"), "{err}");
}

#[test]
fn two_new_sessions_at_the_same_moment_get_their_own_worktrees() {
    let env = Env::new();
    env.model
        .push_for("twin", [Reply::text("one"), Reply::text("two")]);
    let children: Vec<std::process::Child> = (0..2)
        .map(|_| {
            env.cmd(&["new", "twin task"])
                .stdout(std::process::Stdio::piped())
                .stderr(std::process::Stdio::piped())
                .spawn()
                .unwrap()
        })
        .collect();
    let ids: Vec<String> = children
        .into_iter()
        .map(|c| {
            let out = c.wait_with_output().unwrap();
            assert!(
                out.status.success(),
                "{}",
                String::from_utf8_lossy(&out.stderr)
            );
            String::from_utf8_lossy(&out.stdout).trim().to_string()
        })
        .collect();
    assert_ne!(ids[0], ids[1]);
    let a = env.wait_status(&ids[0], "completed");
    let b = env.wait_status(&ids[1], "completed");
    assert_ne!(a["worktree"], b["worktree"]);
    assert_ne!(a["branch"], b["branch"]);
    let worktrees = git(&env.repo, &["worktree", "list"]);
    assert_eq!(
        worktrees.lines().filter(|l| !l.contains("/.pool/")).count(),
        3,
        "{worktrees}"
    );
}

#[test]
fn a_follow_up_restarts_a_stopped_host_and_continues_the_agent_session() {
    let env = Env::new();
    env.model.push_for(
        "memory-task",
        [
            Reply::text("The secret word is heliotrope."),
            Reply::text("It was heliotrope."),
        ],
    );
    let id = env.new_session("memory-task: pick a secret word", &[]);
    env.wait_status(&id, "completed");
    // The idle host stops (ASIDE_HOST_IDLE_SECS=3); the session stays completed, not interrupted.
    let deadline = Instant::now() + Duration::from_secs(20);
    while host_pid(&id).is_some() {
        assert!(Instant::now() < deadline, "the idle host never stopped");
        std::thread::sleep(Duration::from_millis(100));
    }
    assert_eq!(env.session(&id)["status"], "completed");
    // Attaching starts a host that, with nothing to do, rests as completed (not busy).
    let before = env.events(&id).last().unwrap()["seq"].as_u64().unwrap();
    let out = env
        .cmd(&["attach", &id])
        .stdin(std::process::Stdio::null())
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    env.wait_event(&id, "the restarted host at rest", |e| {
        e["kind"] == "status"
            && e["data"]["status"] == "completed"
            && e["seq"].as_u64().unwrap() > before
    });
    assert_eq!(env.session(&id)["status"], "completed");
    env.ok(&["send", &id, "what was the word?"]);
    env.wait_event(&id, "second answer", |e| {
        e["kind"] == "turn_end" && e["seq"].as_u64().unwrap() > before
    });
    env.wait_status(&id, "completed");
    let last = env.model.received().last().unwrap().body.to_string();
    assert!(
        last.contains("The secret word is heliotrope.") && last.contains("what was the word?"),
        "{last}"
    );
}

#[test]
fn sessions_beyond_the_limit_wait_queued_and_start_in_order() {
    let env = Env::new();
    env.config("[sessions]\nmax_concurrent = 1\n");
    env.model.push_for(
        "slot-a",
        [Reply::stream(vec![
            Chunk::Text("A working".into()),
            Chunk::Hang,
        ])],
    );
    env.model.push_for("slot-b", [Reply::text("B done")]);
    env.model.push_for("slot-c", [Reply::text("C done")]);
    let a = env.new_session("slot-a: first", &[]);
    env.wait_status(&a, "running");
    let b = env.new_session("slot-b: second", &[]);
    let c = env.new_session("slot-c: third", &[]);
    env.wait_status(&b, "queued");
    env.wait_status(&c, "queued");
    // ls says why they wait.
    let ls = env.ok(&["ls"]);
    let row = |id: &str| ls.lines().find(|l| l.starts_with(id)).unwrap().to_string();
    assert!(
        row(&b).ends_with("— waiting for a slot: 1 of 1 running ([sessions] max_concurrent)"),
        "{ls}"
    );
    assert!(
        row(&c).ends_with(
            "— waiting for a slot: 1 of 1 running, 1 queued ahead ([sessions] max_concurrent)"
        ),
        "{ls}"
    );
    env.ok(&["cancel", &a]);
    env.wait_status(&c, "completed");
    env.wait_status(&b, "completed");
    let started = |id: &str| {
        env.events(id)
            .iter()
            .find(|e| e["kind"] == "status" && e["data"]["status"] == "starting")
            .map(|e| e["ts"].as_str().unwrap().to_string())
            .unwrap()
    };
    assert!(
        started(&b) <= started(&c),
        "b was queued first and starts first"
    );
}

/// The `copilot` preset against the real GitHub Copilot CLI from npm, offline, pointed at the
/// fake model. `.ci/run` installs @github/copilot and sets ASIDE_TEST_COPILOT to its native binary.
#[test]
fn copilot_preset_runs_the_real_copilot_cli() {
    let Some(copilot) = std::env::var_os("ASIDE_TEST_COPILOT") else {
        eprintln!("skipped: set ASIDE_TEST_COPILOT to the native copilot binary (.ci/run does)");
        return;
    };
    let env = crate::common::copilot_env(&copilot);
    env.model.push_for("copilot-task", [
        Reply::tool("bash", json!({"command": "echo hello from copilot > hello.txt", "description": "Write hello.txt", "mode": "sync"})),
        Reply::text("Done by Copilot."),
    ]);
    let id = env.new_session("copilot-task: say hello", &["--agent", "copilot"]);
    let s = env.wait_status(&id, "completed");
    assert_eq!(s["agent"], "copilot");
    let show = env.ok(&["show", &id]);
    assert!(show.contains("Done by Copilot."), "{show}");
    assert!(
        env.events(&id).iter().any(|e| e["kind"] == "permission"),
        "the policy answered Copilot's permission request"
    );
    env.check_wrote_hello(&id, &s, "hello from copilot\n");
    env.check_stopping_leaves_nothing("copilot");
}

#[test]
fn attach_shows_the_session_live_and_sends_follow_ups() {
    let env = Env::new();
    env.model.push_for(
        "attach-task",
        [
            Reply::text("First answer."),
            Reply::text("Answer to the follow-up."),
        ],
    );
    let id = env.new_session("attach-task: say something", &[]);
    env.wait_status(&id, "completed");
    let mut attach = env
        .cmd(&["attach", &id])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    {
        use std::io::Write as _;
        let stdin = attach.stdin.as_mut().unwrap();
        writeln!(stdin, "/aprove").unwrap();
        writeln!(stdin, "and now a follow-up").unwrap();
    }
    env.wait_event(&id, "the follow-up's answer", |e| {
        e["kind"] == "agent_message_chunk"
            && e["data"]["content"]["text"]
                .as_str()
                .unwrap()
                .contains("llow-up.")
    });
    env.wait_status(&id, "completed");
    // Ctrl-C detaches; the session goes on.
    Command::new("kill")
        .arg("-INT")
        .arg(attach.id().to_string())
        .status()
        .unwrap();
    let out = attach.wait_with_output().unwrap();
    assert!(out.status.success(), "Ctrl-C detaches cleanly");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stdout.contains("First answer.") && stdout.contains("[prompt] and now a follow-up"),
        "{stdout}"
    );
    assert!(
        stderr.contains("aside: unknown command /aprove: use /approve, /approve-always, /deny or /cancel (start a message with // to send it as text)"),
        "{stderr}"
    );
    assert!(
        !stdout.contains("/aprove"),
        "an unknown command is not sent to the agent"
    );
    assert!(
        stderr.trim_end().ends_with(&format!("detached from {id}; the session keeps running (aside attach {id} to come back, aside stop {id} to release it)")),
        "{stderr}"
    );
    assert!(
        stdout.contains("Answer to the follow-up."),
        "the live part was shown: {stdout}"
    );
    assert_eq!(env.session(&id)["status"], "completed");
}

/// The `codex` preset against the real codex-acp from npm (@zed-industries/codex-acp), with a
/// custom Responses-API model provider pointing at the fake model. `.ci/run` installs it and sets
/// ASIDE_TEST_CODEX to its native binary.
#[test]
fn codex_preset_runs_the_real_codex_acp() {
    let Some(codex) = std::env::var_os("ASIDE_TEST_CODEX") else {
        eprintln!("skipped: set ASIDE_TEST_CODEX to the native codex-acp binary (.ci/run does)");
        return;
    };
    let env = codex_env(&codex);
    env.model.push_for(
        "codex-task",
        [
            Reply::tool(
                "exec_command",
                json!({"cmd": "echo hello from codex > hello.txt", "login": false}),
            ),
            Reply::text("Hello from Codex."),
        ],
    );
    let id = env.new_session("codex-task: say hello", &["--agent", "codex"]);
    let s = env.wait_status(&id, "completed");
    let tools: Vec<String> = env.model.received()[0].body["tools"]
        .as_array()
        .map(|t| {
            t.iter()
                .filter_map(|t| t["name"].as_str().map(str::to_string))
                .collect()
        })
        .unwrap_or_default();
    assert!(tools.contains(&"exec_command".to_string()), "{tools:?}");
    assert_eq!(s["agent"], "codex");
    let show = env.ok(&["show", &id]);
    assert!(show.contains("Hello from Codex."), "{show}");
    env.check_wrote_hello(&id, &s, "hello from codex\n");
    env.check_stopping_leaves_nothing("codex");
}

/// An agent that never finishes a turn, ignores the end of its stdin and SIGTERM, and starts a
/// child of its own: the worst case for cleaning up.
fn stubborn_agent(env: &Env) {
    let stubborn = env.root.join("stubborn.py");
    std::fs::write(&stubborn, r#"
import json, os, signal, subprocess, sys, time
signal.signal(signal.SIGTERM, signal.SIG_IGN)
with open("agent.pid", "a") as f:
    f.write(f"{os.getpid()}\n")
child = subprocess.Popen(["sleep", "300"])
for line in sys.stdin:
    msg = json.loads(line)
    if msg.get("method") == "initialize":
        print(json.dumps({"jsonrpc": "2.0", "id": msg["id"], "result": {"protocolVersion": 1, "agentCapabilities": {}}}), flush=True)
    elif msg.get("method") == "session/new":
        print(json.dumps({"jsonrpc": "2.0", "id": msg["id"], "result": {"sessionId": "s1"}}), flush=True)
while True:
    time.sleep(1)
"#).unwrap();
    env.config(&format!(
        "[agents.stubborn]\ncommand = [\"python3\", \"{}\"]\n",
        stubborn.display()
    ));
}

#[test]
fn a_killed_host_takes_its_agent_and_the_agents_children_with_it() {
    let mut env = Env::new();
    // The agent ignores SIGTERM: each stop waits out the grace before SIGKILL; a short one.
    env.extra.push(("ASIDE_STOP_GRACE_MS".into(), "300".into()));
    stubborn_agent(&env);
    let id = env.new_session("stubborn task", &["--agent", "stubborn"]);
    let s = env.wait_status(&id, "running");
    let worktree = PathBuf::from(s["worktree"].as_str().unwrap());
    env.wait_file(&worktree.join("agent.pid"));
    let host = host_pid(&id).expect("host process");
    kill_9(host);
    env.wait_status(&id, "interrupted");
    wait_no_process_in(&worktree, "after kill -9 of the host");

    // resume starts a new agent in its place.
    env.ok(&["resume", &id]);
    env.wait_status(&id, "running");
    let deadline = Instant::now() + Duration::from_secs(10);
    while std::fs::read_to_string(worktree.join("agent.pid"))
        .unwrap()
        .lines()
        .count()
        < 2
    {
        assert!(Instant::now() < deadline, "no new agent was started");
        std::thread::sleep(Duration::from_millis(50));
    }

    // SIGTERM (and SIGHUP, as when a terminal closes) of the host: the turn is cancelled, the
    // whole group stopped (SIGKILL after the grace, since this agent ignores SIGTERM), the
    // session interrupted and resumable.
    for signal in ["TERM", "HUP", "INT"] {
        let host = only_host_pid(&id);
        let status = Command::new("kill")
            .args([&format!("-{signal}"), &host.to_string()])
            .status()
            .unwrap();
        assert!(status.success());
        let s = env.wait_status(&id, "interrupted");
        assert_eq!(
            s["reason"],
            format!(
                "the host was stopped (SIG{signal}) mid-turn; `aside resume {id}` continues it"
            ),
            "{s}\nhost log:\n{}",
            std::fs::read_to_string(
                env.root
                    .join("aside-home/sessions")
                    .join(&id)
                    .join("host.log")
            )
            .unwrap_or_default()
        );
        wait_no_process_in(&worktree, &format!("after SIG{signal} of the host"));
        assert!(env.events(&id).iter().any(|e| e["kind"] == "interrupted"));
        env.ok(&["resume", &id]);
        env.wait_status(&id, "running");
    }

    // aside stop: released now, interrupted mid-turn, nothing left running.
    let out = env.run(&["stop", &id]);
    assert!(out.status.success());
    assert_eq!(
        String::from_utf8_lossy(&out.stderr).trim(),
        format!("stopped {id} (interrupted)")
    );
    wait_no_process_in(&worktree, "after aside stop");
    assert_eq!(
        env.fails(&["stop"]),
        "error: the following required arguments were not provided:\n  <IDS>...\n\nUsage: aside stop <IDS>...\n\nFor more information, try '--help'."
    );
    env.ok(&["rm", &id, "--force"]);
}

/// The `claude` preset against the real claude-agent-acp from npm (with its Claude Code), offline,
/// pointed at the fake model's Anthropic endpoint. `.ci/run` installs it and sets
/// ASIDE_TEST_CLAUDE to its `claude-agent-acp` launcher.
#[test]
fn claude_preset_runs_the_real_claude_agent_acp() {
    let Some(claude) = std::env::var_os("ASIDE_TEST_CLAUDE") else {
        eprintln!("skipped: set ASIDE_TEST_CLAUDE to the claude-agent-acp launcher (.ci/run does)");
        return;
    };
    let env = crate::common::claude_env(&claude);
    env.model.push_for("claude-task", [
        Reply::tool("Bash", json!({"command": "echo hello from claude > hello.txt", "description": "Write hello.txt"})),
        Reply::text("Done by Claude."),
    ]);
    let id = env.new_session("claude-task: say hello", &["--agent", "claude"]);
    let s = env.wait_status(&id, "completed");
    let show = env.ok(&["show", &id]);
    assert!(show.contains("Done by Claude."), "{show}");
    env.check_wrote_hello(&id, &s, "hello from claude\n");
    env.check_stopping_leaves_nothing("claude");
}

/// Stdout and stderr of a command, and whether it succeeded.
fn both(out: &Output) -> (bool, String, String) {
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).trim().to_string(),
        String::from_utf8_lossy(&out.stderr).trim().to_string(),
    )
}

#[test]
fn a_failed_session_is_picked_up_again_once_the_settings_are_fixed() {
    let mut env = Env::new();
    env.model.push_for(
        "fix-task",
        [
            Reply::tool(
                "write_file",
                json!({"path": "fixed.txt", "content": "ok\n"}),
            ),
            Reply::text("Fixed it."),
        ],
    );
    // A model endpoint that does not answer: the first turn fails.
    let good = env.model.openai_base();
    env.extra
        .push(("ASIDE_BASE_URL".into(), "http://127.0.0.1:9/v1".into()));
    let id = env.new_session("fix-task: write fixed.txt", &[]);
    let failed = env.wait_status(&id, "failed");
    let reason = failed["reason"].as_str().unwrap().to_string();
    assert!(reason.contains("127.0.0.1:9"), "{reason}");
    let ls = env.ok(&["ls"]);
    let line = ls.lines().find(|l| l.starts_with(&id)).unwrap();
    assert!(
        line.contains("failed") && line.contains("— "),
        "ls shows why: {ls}"
    );
    assert!(line.contains("proj"), "ls has the REPO column: {ls}");

    // The user fixes the endpoint in their shell and resumes: the same session completes.
    env.extra.retain(|(k, _)| k != "ASIDE_BASE_URL");
    env.extra.push(("ASIDE_BASE_URL".into(), good));
    assert_eq!(env.ok(&["resume", &id]), id);
    let done = env.wait_status(&id, "completed");
    assert_eq!(done["reason"], Value::Null);
    let worktree = PathBuf::from(done["worktree"].as_str().unwrap());
    assert_eq!(
        std::fs::read_to_string(worktree.join("fixed.txt")).unwrap(),
        "ok\n"
    );
    let resumed = env
        .events(&id)
        .into_iter()
        .find(|e| e["kind"] == "prompt" && e["data"]["resumed"] == true)
        .expect("a continuation prompt");
    assert!(resumed["data"]["text"]
        .as_str()
        .unwrap()
        .contains("stopped with an error"));

    // Its host is still there (idle): resume says so in plain words.
    if host_pid(&id).is_some() {
        let err = env.fails(&["resume", &id]);
        assert_eq!(err, format!("aside: session {id} is completed and its agent is still running, waiting for a follow-up (aside send {id} \"...\"); nothing to resume"));
    }
}

#[test]
fn follow_ups_survive_a_killed_host_and_send_resumes_an_interrupted_session() {
    let env = Env::new();
    env.model.push_for(
        "survive-task",
        [
            Reply::stream(vec![Chunk::Text("Working".into()), Chunk::Hang]),
            Reply::text("Continued."),
            Reply::text("Did the first follow-up."),
            Reply::text("Did the second follow-up."),
            Reply::text("Did the third follow-up."),
        ],
    );
    let id = env.new_session("survive-task: a long job", &[]);
    env.wait_event(&id, "first chunk", |e| e["kind"] == "agent_message_chunk");
    // A running session: resume refuses in plain words.
    let err = env.fails(&["resume", &id]);
    assert_eq!(
        err,
        format!("aside: session {id} is running; nothing to resume")
    );
    // Two follow-ups wait behind the turn; then the host dies.
    env.ok(&["send", &id, "first follow-up"]);
    env.ok(&["send", &id, "second follow-up"]);
    kill_9(host_pid(&id).expect("host process"));
    env.wait_status(&id, "interrupted");
    // A follow-up to the interrupted session resumes it and is delivered too.
    let (ok, _, err) = both(&env.run(&["send", &id, "third follow-up"]));
    assert!(ok, "{err}");
    env.wait_status(&id, "completed");
    let events = env.events(&id);
    let prompts: Vec<String> = events
        .iter()
        .filter(|e| e["kind"] == "prompt")
        .map(|e| e["data"]["text"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(prompts.len(), 5, "{prompts:?}");
    assert!(prompts[1].contains("interrupted"), "{prompts:?}");
    assert_eq!(
        &prompts[2..],
        ["first follow-up", "second follow-up", "third follow-up"]
    );
    let seqs: Vec<u64> = events.iter().map(|e| e["seq"].as_u64().unwrap()).collect();
    assert_eq!(seqs, (1..=seqs.len() as u64).collect::<Vec<_>>());
}

#[test]
fn cancel_says_how_many_queued_follow_ups_it_dropped() {
    let env = Env::new();
    env.model.push_for(
        "drop-task",
        [
            Reply::stream(vec![Chunk::Text("Busy".into()), Chunk::Hang]),
            Reply::text("After the cancel."),
        ],
    );
    let id = env.new_session("drop-task: busy", &[]);
    env.wait_event(&id, "first chunk", |e| e["kind"] == "agent_message_chunk");
    env.ok(&["send", &id, "one"]);
    env.ok(&["send", &id, "two"]);
    let (ok, _, err) = both(&env.run(&["cancel", &id]));
    assert!(ok);
    assert_eq!(
        err,
        format!("cancelling {id}; dropped 2 queued follow-ups; send them again when you want them")
    );
    env.wait_status(&id, "cancelled");
    assert!(env
        .events(&id)
        .iter()
        .any(|e| e["kind"] == "cancel_requested" && e["data"]["dropped"] == 2));
    let logs = env.ok(&["logs", &id]);
    assert!(
        logs.contains("cancelling the turn; dropped 2 queued follow-ups"),
        "{logs}"
    );
}

#[test]
fn ls_marks_archived_sessions_filters_by_repo_and_a_closed_pipe_ends_quietly() {
    let env = Env::new();
    env.model.push_for("ls-one", [Reply::text("one")]);
    env.model.push_for("ls-two", [Reply::text("two")]);
    let one = env.new_session("ls-one: first", &[]);
    let two = env.new_session("ls-two: second", &[]);
    env.wait_status(&one, "completed");
    env.wait_status(&two, "completed");
    env.ok(&["archive", &one]);
    let ls = env.ok(&["ls"]);
    assert!(!ls.contains(&one) && ls.contains(&two), "{ls}");
    let all = env.ok(&["ls", "--all"]);
    let header = all.lines().next().unwrap();
    assert!(
        header.starts_with("ID") && header.contains("REPO") && header.ends_with("TITLE"),
        "{all}"
    );
    // Columns line up: every row has its STATUS where the header has it.
    let at = header.find("STATUS").unwrap();
    for row in all.lines().skip(1) {
        assert_eq!(&row[..at].trim_end().len(), &8, "{all}");
    }
    let line = all.lines().find(|l| l.starts_with(&one)).unwrap();
    assert!(line.contains("completed (archived)"), "{all}");
    let (ok, _, err) = both(&env.run(&["unarchive", &one]));
    assert!(ok);
    assert_eq!(err, format!("unarchived {one}"));
    assert!(env.ok(&["ls"]).contains(&one));

    // --repo: sessions of that repository only.
    let other = env.root.join("other");
    init_repo(&other, &[("a.txt", "a\n")]);
    assert!(env
        .ok(&["ls", "--repo", other.to_str().unwrap()])
        .is_empty());
    let here = env.ok(&["ls", "--repo", env.repo.join("src").to_str().unwrap()]);
    assert!(here.contains(&one) && here.contains(&two), "{here}");
    let err = env.fails(&["ls", "--repo", "/no/such/dir"]);
    assert_eq!(err, "aside: /no/such/dir does not exist");

    // `aside ls | head -1` and `aside diff | head -1`: no panic, no message.
    for cmd in ["ls --all", "show ID", "logs ID"] {
        let cmd = cmd.replace("ID", &one);
        let out = Command::new("sh")
            .arg("-c")
            .arg(format!(
                "'{}' {cmd} | head -c 1 >/dev/null; echo \"${{PIPESTATUS:-}}\"",
                env!("CARGO_BIN_EXE_aside")
            ))
            .current_dir(&env.repo)
            .envs(env.vars())
            .output()
            .unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(
            !stderr.contains("panicked") && !stderr.contains("Broken pipe"),
            "aside {cmd} | head: {stderr}"
        );
    }
}

#[test]
fn a_workspace_session_shows_only_its_own_changes() {
    let env = Env::new();
    env.model.push_for(
        "ws-task",
        [
            Reply::tool(
                "write_file",
                json!({"path": "agent.txt", "content": "by the agent\n"}),
            ),
            Reply::text("done"),
        ],
    );
    // The user's own uncommitted work, before the session starts.
    std::fs::write(env.repo.join("README.md"), "# proj\nmy edit\n").unwrap();
    std::fs::write(env.repo.join("mine.txt"), "mine\n").unwrap();
    let id = env.new_session(
        "ws-task: write agent.txt",
        &["--workspace", "--approve", "all"],
    );
    let done = env.wait_status(&id, "completed");
    assert_eq!(done["changed_files"], 1, "{done}");
    let stat = env.ok(&["diff", &id, "--stat"]);
    assert!(stat.contains("agent.txt"), "{stat}");
    assert!(
        !stat.contains("README.md") && !stat.contains("mine.txt"),
        "the user's earlier work is not the agent's: {stat}"
    );
    // Nothing of the user's was touched.
    assert_eq!(
        std::fs::read_to_string(env.repo.join("README.md")).unwrap(),
        "# proj\nmy edit\n"
    );
    let err = env.fails(&["apply", &id]);
    assert!(err.contains("its changes are already there"), "{err}");
}

#[test]
fn new_inside_a_sessions_worktree_uses_the_main_repository() {
    let env = Env::new();
    env.model.push_for("outer-task", [Reply::text("outer")]);
    env.model.push_for("inner-task", [Reply::text("inner")]);
    let outer = env.new_session("outer-task: first", &[]);
    let s = env.wait_status(&outer, "completed");
    let worktree = PathBuf::from(s["worktree"].as_str().unwrap());
    let out = env
        .cmd(&["new", "inner-task: second"])
        .current_dir(&worktree)
        .output()
        .unwrap();
    let (ok, inner, err) = both(&out);
    assert!(ok, "{err}");
    let s = env.wait_status(&inner, "completed");
    assert_eq!(s["repo"], env.repo.display().to_string());
    let path = s["worktree"].as_str().unwrap();
    assert!(
        path.starts_with(&format!("{}.worktrees/", env.repo.display())),
        "{path}"
    );
    assert!(!worktree.with_extension("worktrees").exists());
}

#[test]
fn a_session_waiting_for_an_answer_holds_no_slot() {
    let env = Env::new();
    env.config("[sessions]\nmax_concurrent = 1\n");
    env.model.push_for(
        "ask-task",
        [
            Reply::tool("run_command", json!({"command": "echo asked"})),
            Reply::text("ran it"),
        ],
    );
    env.model
        .push_for("after-task", [Reply::text("done meanwhile")]);
    let asking = env.new_session("ask-task: run a command", &["--approve", "edits"]);
    env.wait_status(&asking, "needs_input");
    let show = env.ok(&["show", &asking]);
    assert!(
        show.contains("$ echo asked"),
        "the command is shown: {show}"
    );
    let after = env.new_session("after-task: something else", &[]);
    env.wait_status(&after, "completed");
    env.ok(&["approve", &asking]);
    env.wait_status(&asking, "completed");
}

fn campaign_number(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// Many `kill -9`s of hosts at random moments during turns. Every session resumes and
/// completes; its event sequence has no gap and no duplicate; and every event a live client was
/// shown is stored, the same. `scripts/campaign.sh` runs a larger one and prints its figures
/// (ASIDE_CAMPAIGN_SESSIONS, ASIDE_CAMPAIGN_ROUNDS, ASIDE_CAMPAIGN_SEED).
#[test]
fn a_campaign_of_random_host_kills_loses_nothing() {
    let sessions = campaign_number("ASIDE_CAMPAIGN_SESSIONS", 3) as usize;
    let rounds = campaign_number("ASIDE_CAMPAIGN_ROUNDS", 3);
    let seed = campaign_number(
        "ASIDE_CAMPAIGN_SEED",
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_nanos() as u64
            | 1,
    );
    eprintln!("campaign: {sessions} sessions × {rounds} rounds, seed {seed}");
    let started = Instant::now();
    let env = Env::new();
    let layout = aside_store::Layout::new(env.root.join("aside-home"));
    let ids: Vec<String> = (0..sessions)
        .map(|n| {
            let marker = format!("campaign-{n}");
            let mut replies = Vec::new();
            for step in 0..(rounds as usize + 2) * 6 {
                replies.push(Reply::stream(vec![
                    Chunk::Text(format!("step {step} begins. ")),
                    Chunk::Delay(Duration::from_millis(40)),
                    Chunk::Tool {
                        id: format!("w{step}"),
                        name: "write_file".into(),
                        arguments: json!({"path": format!("out-{step}.txt"), "content": format!("{step}\n")}).to_string(),
                    },
                ]));
                replies.push(Reply::stream(vec![
                    Chunk::Text(format!("step {step} ")),
                    Chunk::Delay(Duration::from_millis(40)),
                    Chunk::Text("is done.".into()),
                ]));
            }
            env.model.push_for(&marker, replies);
            env.new_session(&format!("{marker}: write files"), &[])
        })
        .collect();

    // A live client per session, following whichever host runs, recording what it was shown.
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let followers: Vec<_> = ids
        .iter()
        .map(|id| {
            let (layout, id, stop) = (
                layout.clone(),
                aside_core::SessionId(id.clone()),
                stop.clone(),
            );
            std::thread::spawn(move || {
                let mut shown: Vec<aside_core::Event> = Vec::new();
                let running = || !stop.load(std::sync::atomic::Ordering::Relaxed);
                let _ = aside_protocol::client::follow(&layout, &id, 0, |step| {
                    if let aside_protocol::client::Step::Event(event) = step {
                        shown.push(event);
                    }
                    if running() {
                        aside_protocol::client::Flow::Continue
                    } else {
                        aside_protocol::client::Flow::Stop
                    }
                });
                shown
            })
        })
        .collect();

    let kills = std::sync::Arc::new(std::sync::atomic::AtomicU64::new(0));
    let workers: Vec<_> = ids
        .iter()
        .enumerate()
        .map(|(n, id)| {
            let env_vars = env.vars();
            let repo = env.repo.clone();
            let id = id.clone();
            let kills = kills.clone();
            let mut rng = Rng::new(seed.wrapping_add(n as u64));
            std::thread::spawn(move || {
                let aside = |args: &[&str]| {
                    Command::new(env!("CARGO_BIN_EXE_aside"))
                        .args(args)
                        .current_dir(&repo)
                        .envs(env_vars.clone())
                        .output()
                        .unwrap()
                };
                for round in 0..rounds {
                    std::thread::sleep(Duration::from_millis(rng.below(300) as u64));
                    if rng.below(3) > 0 {
                        if let Some(pid) = host_pid(&id) {
                            kill_9(pid);
                            kills.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                        }
                    }
                    let out = aside(&["send", &id, &format!("campaign-{n} round {round}")]);
                    assert!(
                        out.status.success(),
                        "seed {seed}: send failed: {}",
                        String::from_utf8_lossy(&out.stderr)
                    );
                }
                // And once more during the last turns, so `resume` has work to do.
                std::thread::sleep(Duration::from_millis(rng.below(200) as u64));
                if let Some(pid) = host_pid(&id) {
                    kill_9(pid);
                    kills.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                }
            })
        })
        .collect();
    for worker in workers {
        worker.join().unwrap();
    }
    // Every session is picked up again until it completes.
    let mut resumes = 0;
    for id in &ids {
        let deadline = Instant::now() + Duration::from_secs(120);
        loop {
            let s = env.session(id);
            match s["status"].as_str().unwrap() {
                "completed" => break,
                "interrupted" | "failed" => {
                    assert!(env.run(&["resume", id]).status.success() || host_pid(id).is_some());
                    resumes += 1;
                }
                _ => {}
            }
            assert!(
                Instant::now() < deadline,
                "seed {seed}: {id} never completed: {s}"
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    }
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    // Stop the hosts so the followers' streams end.
    env.ok(&["stop", "--all"]);
    let mut events_total = 0;
    for (id, follower) in ids.iter().zip(followers) {
        let shown = follower.join().unwrap();
        let stored = aside_store::EventLog::open(&layout, &aside_core::SessionId(id.clone()))
            .unwrap()
            .since(0)
            .unwrap();
        events_total += stored.len();
        let seqs: Vec<u64> = stored.iter().map(|e| e.seq).collect();
        assert_eq!(
            seqs,
            (1..=seqs.len() as u64).collect::<Vec<_>>(),
            "seed {seed}: {id}: a gap or a duplicate"
        );
        // Streamed text was shown as pieces, then its stored row with what they did not say:
        // together they are exactly the stored text (pieces of a row a killed host never
        // stored start again from piece 0 under the next host).
        let mut pieces: std::collections::HashMap<u64, String> = Default::default();
        let text = |e: &aside_core::Event| e.data["content"]["text"].as_str().map(str::to_string);
        for event in &shown {
            if let Some(piece) = event.piece {
                let so_far = pieces.entry(event.seq).or_default();
                if piece == 0 {
                    so_far.clear();
                }
                so_far.push_str(&text(event).unwrap());
                continue;
            }
            let kept = &stored[event.seq as usize - 1];
            assert_eq!(
                kept.kind, event.kind,
                "seed {seed}: {id}: event {}",
                event.seq
            );
            match (text(kept), text(event)) {
                (Some(kept_text), Some(rest)) => assert_eq!(
                    kept_text,
                    format!("{}{rest}", pieces.remove(&event.seq).unwrap_or_default()),
                    "seed {seed}: {id}: streamed text {} was shown but not stored so",
                    event.seq
                ),
                _ => assert_eq!(
                    kept.data, event.data,
                    "seed {seed}: {id}: event {} was shown but not stored so",
                    event.seq
                ),
            }
        }
        let prompts: Vec<&str> = stored
            .iter()
            .filter(|e| e.kind == "prompt" && e.data["resumed"] == false)
            .map(|e| e.data["text"].as_str().unwrap())
            .collect();
        let n = ids.iter().position(|i| i == id).unwrap();
        for round in 0..rounds {
            let text = format!("campaign-{n} round {round}");
            assert_eq!(
                prompts.iter().filter(|p| **p == text).count(),
                1,
                "seed {seed}: {id}: follow-up `{text}` delivered once: {prompts:?}"
            );
        }
    }
    println!(
        "campaign figures: seed {seed}, {sessions} sessions, {rounds} rounds, {} kill -9s, {resumes} resumes, {events_total} events checked, {:.1} s",
        kills.load(std::sync::atomic::Ordering::Relaxed),
        started.elapsed().as_secs_f64()
    );
}

#[test]
fn the_builtin_agent_is_stopped_whole_by_sigterm_and_kill_9_of_its_host() {
    let env = Env::new();
    env.check_stopping_leaves_nothing("builtin");
}

#[test]
fn an_unknown_config_key_names_the_key_and_the_file() {
    let env = Env::new();
    env.config("[sessions]\nidle_sec = 5\n");
    let err = env.fails(&["ls"]);
    let file = env.root.join("home/.config/aside/config.toml");
    assert!(
        err.starts_with(&format!(
            "aside: config file {} is invalid:",
            file.display()
        )),
        "{err}"
    );
    assert!(err.contains("idle_sec"), "{err}");
    env.config("[sessions]\nidle_secs = \"soon\"\n");
    let err = env.fails(&["new", "x"]);
    assert!(err.contains("idle_secs"), "{err}");
    let mut env = env;
    env.config("");
    env.extra
        .push(("ASIDE_HOST_IDLE_SECS".into(), "later".into()));
    let err = env.fails(&["new", "x"]);
    assert_eq!(
        err,
        "aside: ASIDE_HOST_IDLE_SECS=later is not valid: use a whole number of seconds"
    );
}

#[test]
fn a_host_whose_session_was_deleted_stops_even_while_waiting_for_an_answer() {
    let env = Env::new();
    env.model.push_for(
        "orphan-task",
        [
            Reply::tool("run_command", json!({"command": "echo never"})),
            Reply::text("unreachable"),
        ],
    );
    let id = env.new_session("orphan-task: ask first", &["--approve", "ask"]);
    let s = env.wait_status(&id, "needs_input");
    let worktree = PathBuf::from(s["worktree"].as_str().unwrap());
    assert!(host_pid(&id).is_some());
    std::fs::remove_dir_all(env.root.join("aside-home")).unwrap();
    let deadline = Instant::now() + Duration::from_secs(20);
    while host_pid(&id).is_some() {
        assert!(
            Instant::now() < deadline,
            "the host outlived its deleted session"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    wait_no_process_in(&worktree, "after the session's state was deleted");
}

#[test]
fn new_refuses_the_built_in_agent_without_a_model_endpoint() {
    let mut env = Env::new();
    for name in ["ASIDE_PROVIDER", "ASIDE_BASE_URL", "ASIDE_MODEL"] {
        env.extra.push((name.into(), String::new()));
    }
    let err = env.fails(&["new", "anything"]);
    let config = env.root.join("home/.config/aside/config.toml");
    assert_eq!(
        err,
        format!("aside: the built-in agent cannot start: no model endpoint is configured. Set ASIDE_PROVIDER (openai|anthropic), ASIDE_BASE_URL, ASIDE_MODEL and ASIDE_API_KEY, or the [model] table in {}; or start Ollama on 127.0.0.1:11434", config.display())
    );
    env.extra
        .push(("ASIDE_BASE_URL".into(), "http://127.0.0.1:9/v1".into()));
    let err = env.fails(&["new", "anything"]);
    assert!(err.contains("the model name is not set"), "{err}");
    assert_eq!(
        env.ok(&["ls", "--all", "--json"]),
        "[]",
        "nothing was recorded"
    );
}

#[test]
fn apply_and_merge_say_nothing_to_do_alike_and_a_merge_conflict_names_the_next_steps() {
    let env = Env::new();
    env.model
        .push_for("idle-task", [Reply::text("Nothing to change.")]);
    let idle = env.new_session("idle-task: look around", &[]);
    env.wait_status(&idle, "completed");
    let apply = env.run(&["apply", &idle]);
    let merge = env.run(&["merge", &idle]);
    assert_eq!(apply.status.code(), merge.status.code());
    assert!(apply.status.success());
    assert_eq!(
        String::from_utf8_lossy(&apply.stderr).trim(),
        format!("nothing to apply: session {idle} changed no files")
    );
    assert_eq!(
        String::from_utf8_lossy(&merge.stderr).trim(),
        format!("nothing to merge: session {idle} changed no files")
    );

    env.model.push_for(
        "clash-task",
        [
            Reply::tool(
                "edit_file",
                json!({"path": "src/lib.txt", "old_string": "beta", "new_string": "agent beta"}),
            ),
            Reply::text("done"),
        ],
    );
    let clash = env.new_session("clash-task: change beta", &[]);
    let s = env.wait_status(&clash, "completed");
    // Meanwhile the user committed another change of the same line.
    std::fs::write(env.repo.join("src/lib.txt"), "alpha\nuser beta\ngamma\n").unwrap();
    git(&env.repo, &["commit", "-qam", "mine"]);
    let head = git(&env.repo, &["rev-parse", "HEAD"]);
    let branch = s["branch"].as_str().unwrap();
    let err = env.fails(&["merge", &clash]);
    assert_eq!(
        err,
        format!("aside: refused: merging {branch} conflicts with your branch in src/lib.txt. Nothing was changed. To resolve by hand: git merge {branch}, fix the files, git add them, git commit; or let the agent resolve them in its worktree: aside send {clash} \"merge the repository's current branch into yours and resolve the conflicts\", then aside merge {clash} again")
    );
    assert_eq!(
        git(&env.repo, &["rev-parse", "HEAD"]),
        head,
        "nothing was merged"
    );
    assert_eq!(git(&env.repo, &["status", "--porcelain"]), "");
}

#[test]
fn an_idle_host_leaves_after_the_configured_time() {
    let mut env = Env::new();
    // The config file decides when the environment does not.
    env.extra
        .push(("ASIDE_HOST_IDLE_SECS".into(), String::new()));
    env.config("[sessions]\nidle_secs = 1\n");
    env.model.push_for("idle-config", [Reply::text("done")]);
    let id = env.new_session("idle-config: quick", &[]);
    env.wait_status(&id, "completed");
    let deadline = Instant::now() + Duration::from_secs(10);
    while host_pid(&id).is_some() {
        assert!(
            Instant::now() < deadline,
            "the idle host stayed past idle_secs"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    assert_eq!(env.session(&id)["status"], "completed");
}

#[test]
fn resume_uses_the_agent_command_as_the_config_names_it_now() {
    let env = Env::new();
    // An agent whose command is wrong: it exits at once.
    env.config("[agents.mine]\ncommand = [\"false\"]\n");
    env.model
        .push_for("mine-task", [Reply::text("Done by the fixed agent.")]);
    let id = env.new_session("mine-task: do it", &["--agent", "mine"]);
    let failed = env.wait_status(&id, "failed");
    assert!(
        failed["reason"]
            .as_str()
            .unwrap()
            .contains("the agent `false` exited during startup"),
        "{failed}"
    );
    // The user fixes the config and resumes the same session.
    env.config(&format!(
        "[agents.mine]\ncommand = [\"{}\", \"agent\"]\n",
        env!("CARGO_BIN_EXE_aside")
    ));
    env.ok(&["resume", &id]);
    env.wait_status(&id, "completed");
    assert!(env.ok(&["show", &id]).contains("Done by the fixed agent."));
}

#[test]
fn a_long_task_comes_from_standard_input_or_a_file() {
    let env = Env::new();
    env.model.push_for("stdin-task", [Reply::text("read it")]);
    env.model
        .push_for("file-task", [Reply::text("read it too")]);
    let task = "stdin-task: a long task\nwith a second line\nand a third\n";
    let mut child = env
        .cmd(&["new", "-"])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    {
        use std::io::Write as _;
        child
            .stdin
            .take()
            .unwrap()
            .write_all(task.as_bytes())
            .unwrap();
    }
    let (ok, id, err) = both(&child.wait_with_output().unwrap());
    assert!(ok, "{err}");
    let s = env.wait_status(&id, "completed");
    assert_eq!(s["task"], task);
    assert_eq!(s["title"], "stdin-task: a long task");
    let file = env.root.join("task.md");
    std::fs::write(&file, "file-task: from a file\n\ndetails\n").unwrap();
    let id = env.new_session_from_file(&file);
    assert_eq!(
        env.wait_status(&id, "completed")["task"],
        "file-task: from a file\n\ndetails\n"
    );
    let err = env.fails(&["new", "--task-file", "/no/such/task.md"]);
    assert!(
        err.starts_with("aside: cannot read the task file /no/such/task.md:"),
        "{err}"
    );
}

#[test]
fn plan_yes_hands_the_accepted_plan_to_a_background_session() {
    let env = Env::new();
    env.model.push_for(
        "plan-task",
        [
            Reply::text("1. Add a --verbose flag\n2. Document it in the README"),
            Reply::text("Implemented the plan."),
        ],
    );
    let out = env.run(&["plan", "--yes", "plan-task: add a verbose flag"]);
    let (ok, id, err) = both(&out);
    assert!(ok, "{err}");
    assert!(
        err.contains("1. Add a --verbose flag"),
        "the plan is shown: {err}"
    );
    let done = env.wait_status(&id, "completed");
    assert_eq!(done["title"], "plan-task: add a verbose flag");
    let received = env.model.received();
    let tools = |body: &Value| -> Vec<String> {
        body["tools"]
            .as_array()
            .map(|t| {
                t.iter()
                    .map(|t| {
                        t["function"]["name"]
                            .as_str()
                            .unwrap_or_default()
                            .to_string()
                    })
                    .collect()
            })
            .unwrap_or_default()
    };
    // The planning turn ran in plan mode: no tool that changes anything was offered.
    let planning = &received[0].body;
    assert!(planning
        .to_string()
        .contains("plan-task: add a verbose flag"));
    let offered = tools(planning);
    assert!(
        !offered.is_empty()
            && !offered
                .iter()
                .any(|t| t == "write_file" || t == "run_command"),
        "{offered:?}"
    );
    // The background session's first prompt carries the task and the accepted plan, in code mode.
    let working = &received[1].body;
    let text = working.to_string();
    assert!(
        text.contains("plan-task: add a verbose flag")
            && text.contains("carry it out")
            && text.contains("1. Add a --verbose flag"),
        "{text}"
    );
    assert!(tools(working).iter().any(|t| t == "write_file"));
    // The planning session is kept, archived, and released.
    let all: Value = serde_json::from_str(&env.ok(&["ls", "--all", "--json"])).unwrap();
    let plan = all
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["title"] == "Plan: plan-task: add a verbose flag")
        .expect("the planning session");
    assert_eq!(plan["archived"], true);
    assert_eq!(plan["status"], "completed");
    assert_eq!(plan["host"], false);
}

#[test]
fn a_saved_conversation_or_another_session_continues_in_the_background() {
    let env = Env::new();
    let transcript = env.root.join("chat.md");
    std::fs::write(
        &transcript,
        "# Verbose flag\n\n## User\n\nfromchat-task: how should --verbose work?\n\n## Assistant\n\nPrint each step to stderr.\n\n## User\n\nAnd quiet by default?\n\n## Assistant\n\nYes, quiet unless asked.\n",
    )
    .unwrap();
    env.model.push_for(
        "fromchat-task",
        [
            Reply::text("Carried on from the chat."),
            Reply::text("Forked and went on."),
        ],
    );
    let id = env.ok(&[
        "new",
        "--from-chat",
        transcript.to_str().unwrap(),
        "now implement it",
    ]);
    let s = env.wait_status(&id, "completed");
    assert_eq!(s["title"], "now implement it");
    let first = env.model.received()[0].body.to_string();
    for part in [
        "User: fromchat-task: how should --verbose work?",
        "Assistant: Print each step to stderr.",
        "User: And quiet by default?",
        "Assistant: Yes, quiet unless asked.",
        "User: now implement it",
    ] {
        assert!(first.contains(part), "{part} missing from {first}");
    }
    // Another aside session, forked by its id: its conversation carries over.
    let fork = env.ok(&["new", "--from-chat", &id]);
    env.wait_status(&fork, "completed");
    let second = env.model.received()[1].body.to_string();
    assert!(
        second.contains("Assistant: Carried on from the chat.")
            && second.contains("Continue the task."),
        "{second}"
    );
    // Something that is not a conversation: a clear error, nothing started.
    let before = env.ok(&["ls", "--all", "--json"]);
    let junk = env.root.join("junk.txt");
    std::fs::write(&junk, "just some words\n").unwrap();
    let err = env.fails(&["new", "--from-chat", junk.to_str().unwrap()]);
    assert!(
        err.starts_with(&format!(
            "aside: cannot read {} as a conversation:",
            junk.display()
        )) && err.contains("Accepted: a VS Code chat export (.json)"),
        "{err}"
    );
    let err = env.fails(&["new", "--from-chat", "nosuchthing"]);
    assert!(
        err.starts_with("aside: --from-chat nosuchthing: no such file, and no aside session matches it. Accepted:"),
        "{err}"
    );
    assert_eq!(env.ok(&["ls", "--all", "--json"]), before);
}

#[test]
fn a_chat_in_a_terminal_answers_permissions_cancels_and_delegates() {
    let env = Env::new();
    env.model.push_for(
        "chat-task",
        [
            Reply::text("Print each step with --verbose."),
            Reply::tool("run_command", json!({"command": "echo from-the-chat"})),
            Reply::text("The command ran."),
            Reply::stream(vec![Chunk::Text("Thinking hard".into()), Chunk::Hang]),
            Reply::text("Step one, then two."),
            Reply::text("Answered by the other model."),
            Reply::text("The other agent speaks."),
            Reply::text("Implemented in the background."),
        ],
    );
    env.config(&format!(
        "[agents.again]\ncommand = [\"{}\", \"agent\"]\n",
        env!("CARGO_BIN_EXE_aside")
    ));
    let mut pty = Pty::chat(&env);
    pty.wait_prompt();
    pty.keys("chat-task: how should --verbose work?\r");
    pty.wait_for("Print each step with --verbose.");
    // A permission request, answered inline, showing the real command.
    pty.keys("run a check\r");
    pty.wait_for("$ echo from-the-chat");
    // Keys that arrive together are all read, even while the chat prints beside the editor.
    pty.burst("/approve\r");
    let text = pty.wait_for("The command ran.");
    // The tool call, once done, is one line: title, what it ran, outcome.
    let line = text
        .lines()
        .find(|l| l.contains("✓ "))
        .unwrap_or_else(|| panic!("no line for the finished tool call in:\n{text}"));
    assert!(line.contains("echo from-the-chat"), "{line}");
    // Ctrl-C cancels the running turn; the chat goes on.
    pty.keys("think about it\r");
    pty.wait_for("Thinking hard");
    pty.keys("\x03");
    pty.wait_then_prompt("cancelling the turn");
    let list: Value = serde_json::from_str(&env.ok(&["ls", "--json"])).unwrap();
    let chat = list.as_array().unwrap()[0]["id"]
        .as_str()
        .unwrap()
        .to_string();
    env.wait_status(&chat, "cancelled");
    pty.keys("/frob\r");
    pty.wait_then_prompt("aside: unknown command /frob");
    // /plan switches the agent to its read-only plan mode, /code back.
    pty.keys("/plan\r");
    pty.wait_then_prompt("now in Plan mode");
    pty.keys("plan the rest\r");
    pty.wait_for("Step one, then two.");
    let asked = env.model.received();
    let offered = asked.last().unwrap().body["tools"].to_string();
    assert!(
        !offered.contains("write_file") && offered.contains("read_file"),
        "plan mode offers read-only tools: {offered}"
    );
    pty.keys("/code\r");
    pty.wait_then_prompt("now in Code mode");
    // /model: the next message goes to another model (a new agent process takes the
    // conversation on).
    pty.keys("/model other-model\r");
    pty.wait_then_prompt("the next message goes to other-model");
    pty.keys("which model now?\r");
    pty.wait_for("Answered by the other model.");
    let last = env.model.received().last().unwrap().body.clone();
    assert_eq!(last["model"], "other-model");
    assert!(
        last.to_string().contains("plan the rest"),
        "the conversation carried on: {last}"
    );
    // /agent: another agent goes on, with the conversation so far.
    pty.keys("/agent again\r");
    pty.wait_then_prompt("going on with again");
    pty.keys("your turn, again\r");
    pty.wait_for("The other agent speaks.");
    let carried = env.model.received().last().unwrap().body.to_string();
    assert!(
        carried.contains("User: chat-task: how should --verbose work?")
            && carried.contains("User: your turn, again"),
        "{carried}"
    );
    // /delegate hands the whole conversation on and ends the chat.
    pty.keys("/delegate now implement it\r");
    let id = pty.handed_off();
    env.wait_status(&id, "completed");
    // The agent `again` loads the chat's own agent session in the new worktree: the request
    // holds the chat's messages (the first of them the transcript /agent carried), its answer
    // as an assistant message, then the instructions.
    let first = env
        .model
        .received()
        .into_iter()
        .find(|r| r.body.to_string().contains("now implement it"))
        .expect("the background session's first request")
        .body;
    let messages = first["messages"].as_array().unwrap();
    let said = |role: &str, text: &str| {
        messages
            .iter()
            .any(|m| m["role"] == role && m["content"].to_string().contains(text))
    };
    assert!(said("assistant", "The other agent speaks."), "{first}");
    assert!(said("user", "now implement it"), "{first}");
    let first = first.to_string();
    for part in [
        "User: chat-task: how should --verbose work?",
        "Assistant: Print each step with --verbose.",
        "User: run a check",
        "Assistant: The command ran.",
        "User: think about it",
        "User: plan the rest",
        "Assistant: Step one, then two.",
        "your turn, again",
    ] {
        assert!(first.contains(part), "{part} missing from {first}");
    }
    // The chat is kept, archived, and released.
    let s = env.session(&chat);
    assert_eq!(s["kind"], "chat");
    assert_eq!(s["archived"], true);
    assert_eq!(s["host"], false);
}

#[test]
fn a_chat_with_the_builtin_agent_hands_its_own_conversation_to_the_background() {
    let env = Env::new();
    env.model.push_for(
        "native-chat",
        [
            Reply::text("Use a flag named --verbose."),
            Reply::text("Print one line per step."),
            Reply::tool(
                "write_file",
                json!({"path": "VERBOSE.md", "content": "steps\n"}),
            ),
            Reply::text("Written in the background."),
        ],
    );
    let mut pty = Pty::chat(&env);
    pty.wait_prompt();
    pty.keys("native-chat: how do I show progress?\r");
    pty.wait_then_prompt("Use a flag named --verbose.");
    pty.keys("and what does it print?\r");
    pty.wait_then_prompt("Print one line per step.");
    pty.keys("/delegate write it down in VERBOSE.md\r");
    let id = pty.handed_off();
    env.wait_status(&id, "completed");
    // The background agent's first request holds the chat's messages as its own, in order,
    // then the extra instructions: no transcript.
    let first = env
        .model
        .received()
        .into_iter()
        .find(|r| r.body.to_string().contains("write it down in VERBOSE.md"))
        .expect("the background session's first request")
        .body;
    let messages: Vec<(String, String)> = first["messages"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|m| m["role"] != "system")
        .map(|m| {
            let text = match &m["content"] {
                Value::String(s) => s.clone(),
                other => other.to_string(),
            };
            (m["role"].as_str().unwrap().to_string(), text)
        })
        .collect();
    let said: Vec<(&str, &str)> = messages
        .iter()
        .map(|(r, t)| (r.as_str(), t.as_str()))
        .collect();
    assert_eq!(said.len(), 5, "{said:?}");
    assert_eq!(said[0], ("user", "native-chat: how do I show progress?"));
    assert_eq!(said[1], ("assistant", "Use a flag named --verbose."));
    assert_eq!(said[2], ("user", "and what does it print?"));
    assert_eq!(said[3], ("assistant", "Print one line per step."));
    assert!(
        said[4].0 == "user" && said[4].1.ends_with("\n\nwrite it down in VERBOSE.md"),
        "{said:?}"
    );
    assert!(!first.to_string().contains("User: native-chat"));
    // It worked in its own worktree, on its own.
    let s = env.session(&id);
    assert_eq!(s["mode"], "isolated");
    let worktree = s["worktree"].as_str().unwrap();
    assert_eq!(
        std::fs::read_to_string(Path::new(worktree).join("VERBOSE.md")).unwrap(),
        "steps\n"
    );
    assert!(!env.repo.join("VERBOSE.md").exists());
}

#[test]
fn a_delegated_chat_whose_agent_cannot_load_it_goes_on_from_a_transcript() {
    let env = Env::new();
    env.model.push_for(
        "lost-chat",
        [
            Reply::text("Start with the parser."),
            Reply::text("Carried on from the transcript."),
        ],
    );
    env.config(&format!(
        "[agents.again]\ncommand = [\"{}\", \"agent\"]\n",
        env!("CARGO_BIN_EXE_aside")
    ));
    let mut pty = Pty::chat_with(&env, &["--agent", "again"]);
    pty.wait_prompt();
    pty.keys("lost-chat: where do I start?\r");
    pty.wait_then_prompt("Start with the parser.");
    // The agent's own record of the chat is gone (its state wiped, another machine's agent):
    // it cannot load it, so the background session gets the conversation as a transcript.
    // (The agent may still be saving it as the reply ends: removed once nothing is written.)
    let saved = env.root.join("aside-home/agent/sessions");
    let deadline = Instant::now() + Duration::from_secs(10);
    while let Err(e) = std::fs::remove_dir_all(&saved) {
        assert!(
            Instant::now() < deadline,
            "cannot remove {}: {e}",
            saved.display()
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    pty.keys("/delegate then write the parser\r");
    let id = pty.handed_off();
    env.wait_status(&id, "completed");
    let first = env
        .model
        .received()
        .into_iter()
        .map(|r| r.body.to_string())
        .find(|b| b.contains("then write the parser"))
        .expect("the background session's first request");
    for part in [
        "User: lost-chat: where do I start?",
        "Assistant: Start with the parser.",
        "User: then write the parser",
    ] {
        assert!(first.contains(part), "{part} missing from {first}");
    }
}

/// A chat with `agent` (two turns, keyed `key`), then `/delegate then finish it`: the
/// background session's first model request, once it completed.
fn delegate_a_chat(env: &Env, agent: &str, key: &str) -> Value {
    env.model.push_for(
        key,
        [
            Reply::text("Answer one."),
            Reply::text("Answer two."),
            Reply::text("Finished in the background."),
        ],
    );
    let mut pty = Pty::chat_with(env, &["--agent", agent]);
    pty.wait_prompt();
    pty.keys(&format!("{key}: first question\r"));
    pty.wait_then_prompt("Answer one.");
    pty.keys("second question\r");
    pty.wait_then_prompt("Answer two.");
    pty.keys("/delegate then finish it\r");
    let id = pty.handed_off();
    let s = env.wait_status(&id, "completed");
    assert_eq!(s["mode"], "isolated");
    assert_eq!(s["agent"], agent);
    env.model
        .received()
        .into_iter()
        .find(|r| r.body.to_string().contains("then finish it"))
        .expect("the background session's first request")
        .body
}

/// `/delegate` from a chat with the real Copilot CLI: the background session loads Copilot's
/// own session (ACP session/load) in its new worktree.
#[test]
fn a_copilot_chat_is_delegated_as_copilots_own_session() {
    let Some(copilot) = std::env::var_os("ASIDE_TEST_COPILOT") else {
        eprintln!("skipped: set ASIDE_TEST_COPILOT to the native copilot binary (.ci/run does)");
        return;
    };
    let env = crate::common::copilot_env(&copilot);
    let first = delegate_a_chat(&env, "copilot", "copilot-chat");
    let messages = first["messages"].as_array().unwrap();
    let said = |role: &str, text: &str| {
        messages
            .iter()
            .any(|m| m["role"] == role && m["content"].to_string().contains(text))
    };
    for (role, text) in [
        ("user", "copilot-chat: first question"),
        ("assistant", "Answer one."),
        ("user", "second question"),
        ("assistant", "Answer two."),
        ("user", "then finish it"),
    ] {
        assert!(said(role, text), "no {role} message {text:?} in {first}");
    }
    assert!(!first.to_string().contains("User: copilot-chat"), "{first}");
    env.check_stopping_leaves_nothing("copilot");
}

/// `aside chat --agent codex --model M`: Codex asks the endpoint for M.
#[test]
fn a_codex_chat_runs_the_model_it_is_given() {
    let Some(codex) = std::env::var_os("ASIDE_TEST_CODEX") else {
        eprintln!("skipped: set ASIDE_TEST_CODEX to the native codex-acp binary (.ci/run does)");
        return;
    };
    let env = codex_env(&codex);
    env.model.push_for(
        "codex-model",
        [Reply::text("Answered by the chosen model.")],
    );
    let mut pty = Pty::chat_with(&env, &["--agent", "codex", "--model", "chosen-model"]);
    pty.wait_prompt();
    pty.keys("codex-model: which model?\r");
    pty.wait_then_prompt("Answered by the chosen model.");
    let asked = env
        .model
        .received()
        .into_iter()
        .find(|r| r.body.to_string().contains("codex-model: which model?"))
        .unwrap();
    assert_eq!(asked.body["model"], "chosen-model");
    pty.keys("/exit\r");
    assert!(pty.child.wait().unwrap().success());
}

/// `/delegate` from chats with the real codex-acp and claude-agent-acp: the conversation reaches
/// the background agent's first request as the agent's own session.
#[test]
fn codex_and_claude_chats_are_delegated_with_their_conversation() {
    let mut tried = 0;
    if let Some(codex) = std::env::var_os("ASIDE_TEST_CODEX") {
        let env = codex_env(&codex);
        let first = delegate_a_chat(&env, "codex", "codex-chat").to_string();
        // codex-acp loads its own session in the new worktree.
        assert!(!first.contains("User: codex-chat"), "{first}");
        for part in [
            "codex-chat: first question",
            "Answer one.",
            "second question",
            "Answer two.",
            "then finish it",
        ] {
            assert!(first.contains(part), "{part} missing from {first}");
        }
        tried += 1;
    }
    if let Some(claude) = std::env::var_os("ASIDE_TEST_CLAUDE") {
        let env = crate::common::claude_env(&claude);
        let first = delegate_a_chat(&env, "claude", "claude-chat").to_string();
        // Claude Code keeps sessions per project directory: aside copies the chat's session
        // into the new worktree's, and claude-agent-acp loads it there.
        assert!(!first.contains("User: claude-chat"), "{first}");
        for part in [
            "claude-chat: first question",
            "Answer one.",
            "second question",
            "Answer two.",
            "then finish it",
        ] {
            assert!(first.contains(part), "{part} missing from {first}");
        }
        tried += 1;
    }
    if tried == 0 {
        eprintln!("skipped: set ASIDE_TEST_CODEX and ASIDE_TEST_CLAUDE (.ci/run does)");
    }
}

#[test]
fn a_chat_without_a_terminal_says_what_to_use_and_starts_nothing() {
    let env = Env::new();
    let err = env.fails(&["chat"]);
    assert_eq!(
        err,
        "aside: aside chat talks with you in a terminal, and its input or output is not one. For a task from a pipe or a file use `aside new -` or `aside new --task-file FILE`; for a saved conversation `aside new --from-chat FILE`"
    );
    assert_eq!(env.ok(&["ls", "--all", "--json"]).trim(), "[]");
}

/// A long session reads from its end: `show` prints its last turns and says how many events
/// came before (`--all` prints them), `logs --tail N` the last N; a damaged event row is named
/// by its seq and skipped, and the session still takes a follow-up (its host resumes it).
#[test]
fn a_long_session_shows_its_end_and_skips_a_damaged_row() {
    let env = Env::new();
    env.model.push_for(
        "long-one",
        [
            Reply::text("First answer."),
            Reply::tool(
                "write_file",
                json!({"path": "after.txt", "content": "after\n"}),
            ),
            Reply::text("After the damage."),
        ],
    );
    let id = env.new_session("long-one: begin", &[]);
    env.wait_status(&id, "completed");
    env.ok(&["stop", &id]);
    let layout = aside_store::Layout::new(env.root.join("aside-home"));
    let sid = aside_core::SessionId(id.clone());
    let last = crate::common::append_old_turns(&env.root.join("aside-home"), &id, 1000);

    let shown = env.ok(&["show", &id]);
    assert!(shown.contains("answer 999."), "{shown}");
    assert!(
        !shown.contains("old turn 10."),
        "the start is not printed by default"
    );
    assert!(
        shown.contains(&format!(
            "earlier events; `aside show {id} --all` prints them"
        )),
        "{shown}"
    );
    let all = env.ok(&["show", &id, "--all"]);
    assert!(
        all.contains("long-one: begin")
            && all.contains("old turn 10.")
            && all.contains("answer 999.")
    );
    let json: Value = serde_json::from_str(&env.ok(&["show", &id, "--json"])).unwrap();
    let events = json["events"].as_array().unwrap();
    assert_eq!(events.last().unwrap()["seq"], last);
    assert_eq!(
        json["earlier_events"],
        events[0]["seq"].as_u64().unwrap() - 1
    );
    let tail = env.ok(&["logs", &id, "--tail", "3"]);
    assert_eq!(tail.lines().count(), 3, "{tail}");
    assert!(
        tail.contains("old turn 999.") && tail.contains("answer 999."),
        "{tail}"
    );

    // A row damaged on disk (say, a torn write): named, skipped, and the rest reads.
    let damaged = last - 1;
    rusqlite::Connection::open(layout.events(&sid))
        .unwrap()
        .execute(
            "UPDATE events SET data = '{\"content\": {\"te' WHERE seq = ?1",
            [damaged as i64],
        )
        .unwrap();
    let shown = env.ok(&["show", &id]);
    assert!(
        shown.contains(&format!(
            "! event {damaged} is damaged and was skipped: its data is not JSON"
        )),
        "{shown}"
    );
    assert!(shown.contains("old turn 999."), "{shown}");
    env.ok(&["send", &id, "long-one: after"]);
    env.wait_status(&id, "completed");
    let shown = env.ok(&["show", &id]);
    assert!(shown.contains("After the damage."), "{shown}");
    // The restarted host counted the turns without reading the log: this is turn 1,002.
    let worktree = env.session(&id)["worktree"].as_str().unwrap().to_string();
    let subject = Command::new("git")
        .args(["-C", &worktree, "log", "-1", "--format=%s"])
        .output()
        .unwrap();
    let subject = String::from_utf8_lossy(&subject.stdout);
    assert_eq!(subject.trim(), "aside: long-one: begin (turn 1002)");
}

/// Streamed text is stored a quarter second at a time: a host killed between two flushes
/// leaves a stored message that is a prefix of what streamed, with no gap in the seqs, and the
/// session resumes.
#[test]
fn a_host_killed_mid_message_keeps_a_prefix_of_it() {
    let env = Env::new();
    let words = ["alpha ", "beta ", "gamma ", "delta ", "epsilon "];
    let mut chunks = Vec::new();
    for word in words {
        chunks.push(Chunk::Text(word.to_string()));
        chunks.push(Chunk::Delay(Duration::from_millis(600)));
    }
    env.model.push_for(
        "torn-message",
        [Reply::stream(chunks), Reply::text("Resumed and done.")],
    );
    let id = env.new_session("torn-message: talk slowly", &[]);
    let layout = aside_store::Layout::new(env.root.join("aside-home"));
    let sid = aside_core::SessionId(id.clone());
    // A live reader sees each word as it streams, before it is stored.
    let mut live = String::new();
    aside_protocol::client::follow(&layout, &sid, 0, |step| {
        if let aside_protocol::client::Step::Event(e) = step {
            if e.kind == "agent_message_chunk" {
                live.push_str(e.data["content"]["text"].as_str().unwrap_or_default());
            }
        }
        if live.contains("gamma") {
            aside_protocol::client::Flow::Stop
        } else {
            aside_protocol::client::Flow::Continue
        }
    })
    .unwrap();
    kill_9(host_pid(&id).unwrap());
    env.wait_status(&id, "interrupted");
    let stored = aside_store::EventLog::open(&layout, &sid)
        .unwrap()
        .since(0)
        .unwrap();
    let seqs: Vec<u64> = stored.iter().map(|e| e.seq).collect();
    assert_eq!(seqs, (1..=seqs.len() as u64).collect::<Vec<_>>());
    let text: String = stored
        .iter()
        .filter(|e| e.kind == "agent_message_chunk")
        .filter_map(|e| e.data["content"]["text"].as_str())
        .collect();
    let streamed = words.concat();
    assert!(
        streamed.starts_with(&text) && text.starts_with("alpha beta "),
        "stored {text:?}, streamed {streamed:?}"
    );
    env.ok(&["resume", &id]);
    env.wait_status(&id, "completed");
    assert!(env.ok(&["show", &id]).contains("Resumed and done."));
}

#[test]
fn a_follow_up_whose_agent_lost_the_session_goes_on_from_the_conversation_so_far() {
    let env = Env::new();
    env.model.push_for(
        "lost-session",
        [
            Reply::text("The parser is in src/lib.txt."),
            Reply::text("Carried on from the hand-off."),
        ],
    );
    let id = env.new_session("lost-session: where is the parser?", &[]);
    env.wait_status(&id, "completed");
    // The agent's own record of the session is gone (its state wiped): it cannot load it, so
    // the follow-up reaches a fresh agent session with the conversation so far.
    env.ok(&["stop", &id]);
    let deadline = Instant::now() + Duration::from_secs(10);
    while env.session(&id)["host"] == true {
        assert!(Instant::now() < deadline, "the host never stopped");
        std::thread::sleep(Duration::from_millis(20));
    }
    let saved = env.root.join("aside-home/agent/sessions");
    std::fs::remove_dir_all(&saved).unwrap();
    env.ok(&["send", &id, "now write its tests"]);
    env.wait_event(&id, "the second reply", |e| {
        e["kind"] == "agent_message_chunk"
            && e["data"]["content"]["text"]
                .as_str()
                .is_some_and(|t| t.contains("Carried on"))
    });
    let first = env
        .model
        .received()
        .into_iter()
        .map(|r| r.body.to_string())
        .find(|b| b.contains("now write its tests"))
        .expect("the follow-up's request");
    for part in [
        "(aside: the following is the conversation so far, from an aside session;",
        "User: lost-session: where is the parser?",
        "Assistant: The parser is in src/lib.txt.",
        "User: now write its tests",
    ] {
        assert!(first.contains(part), "{part} missing from {first}");
    }
    // The log keeps the user's own words, not the hand-off sent with them.
    let shown = env.ok(&["show", &id]);
    assert!(shown.contains("now write its tests"), "{shown}");
    assert!(!shown.contains("conversation so far"), "{shown}");
}
