//! The OS sandbox the built-in agent's commands run in (bubblewrap from the distribution;
//! `.ci/run` installs it): what a command may write, read and reach, as the model's own
//! requests show it (each command's output is a tool result in the next request).
#![allow(clippy::unwrap_used, clippy::expect_used)]

use crate::common::Env;
use aside_testkit::Reply;
use serde_json::json;

fn available() -> bool {
    let works = std::process::Command::new("bwrap")
        .args(["--ro-bind", "/", "/", "--unshare-net", "true"])
        .status()
        .is_ok_and(|s| s.success());
    if !works {
        assert!(
            std::env::var_os("ASIDE_REQUIRE_BROWSER").is_none(),
            "bubblewrap is needed for this test: apt-get install bubblewrap (.ci/run does)"
        );
        eprintln!("skipped: bubblewrap does not work here (apt-get install bubblewrap)");
    }
    works
}

fn run(command: &str) -> Reply {
    Reply::tool("run_command", json!({"command": command}))
}

/// The tool results the model was sent in its last request.
fn results(env: &Env) -> String {
    env.model.received().last().unwrap().body.to_string()
}

#[test]
fn commands_write_only_the_worktree_read_no_secrets_and_reach_no_network() {
    if !available() {
        return;
    }
    // (Outside /tmp: the sandbox's /tmp is its own.)
    let env = Env::outside_tmp();
    let home = env.root.join("home");
    std::fs::create_dir_all(home.join(".ssh")).unwrap();
    std::fs::write(home.join(".ssh/id_ed25519"), "PRIVATE-KEY-MATERIAL\n").unwrap();
    std::fs::write(home.join(".bashrc"), "# mine\n").unwrap();
    let other = env.root.join("other-repo");
    std::fs::create_dir_all(&other).unwrap();
    let port = env
        .model
        .openai_base()
        .trim_end_matches("/v1")
        .rsplit(':')
        .next()
        .unwrap()
        .to_string();
    // (Words the commands print are split in their source, so only their output has them whole.)
    let connect = format!("bash -c 'exec 3<>/dev/tcp/127.0.0.1/{port} && echo \"CONN\"ECTED'");
    env.model.push_for(
        "sbx-a",
        [
            run("echo pwned >> ~/.bashrc"),
            run(&format!("echo pwned > {}/x.txt", other.display())),
            run("echo pwned > /etc/aside-sbx"),
            run("cat ~/.ssh/id_ed25519"),
            run("echo in > in-tree.txt && git add in-tree.txt && git -c user.name=a -c user.email=a@a commit -qm in && echo \"COMM\"ITTED"),
            run(&connect),
            run("(setsid sleep 31338.5 </dev/null >/dev/null 2>&1 &); sleep 0.3; echo launched"),
            Reply::text("Tried everything."),
        ],
    );
    let id = env.new_session("sbx-a: try things", &[]);
    let s = env.wait_status(&id, "completed");
    let seen = results(&env);
    // Blocked writes fail as read-only, and each failure says what the sandbox allows.
    for blocked in ["home/.bashrc", "other-repo/x.txt", "/etc/aside-sbx"] {
        assert!(
            seen.contains(&format!("{blocked}: Read-only file system")),
            "{blocked}: {seen}"
        );
    }
    assert!(
        seen.contains("[aside: this command ran in a sandbox: only "),
        "{seen}"
    );
    assert!(seen.contains("there is no network"), "{seen}");
    assert_eq!(
        std::fs::read_to_string(home.join(".bashrc")).unwrap(),
        "# mine\n"
    );
    assert!(!other.join("x.txt").exists());
    assert!(!std::path::Path::new("/etc/aside-sbx").exists());
    // The key is not there for it to read.
    assert!(!seen.contains("PRIVATE-KEY-MATERIAL"), "{seen}");
    // Its worktree and its commits work.
    assert!(seen.contains("COMMITTED"), "{seen}");
    let worktree = std::path::PathBuf::from(s["worktree"].as_str().unwrap());
    assert_eq!(
        aside_testkit::repo::git(&worktree, &["log", "-1", "--format=%s"]),
        "in"
    );
    // Nothing it started outlives its command, even what left its session.
    let left = std::process::Command::new("pgrep")
        .args(["-f", "sleep 31338.5"])
        .output()
        .unwrap();
    assert!(!left.status.success(), "a daemon outlived its command");
    // No network, not even the model endpoint on loopback.
    assert!(!seen.contains("CONNECTED"), "{seen}");

    // Network allowed by the user's config: the same connection works.
    let config = env.root.join("home/.config/aside/config.toml");
    std::fs::create_dir_all(config.parent().unwrap()).unwrap();
    std::fs::write(&config, "[sandbox]\nnetwork = \"all\"\n").unwrap();
    env.model
        .push_for("sbx-b", [run(&connect), Reply::text("Connected.")]);
    let id = env.new_session("sbx-b: connect", &[]);
    env.wait_status(&id, "completed");
    assert!(results(&env).contains("CONNECTED"));
    // Each session says it, as its agent's commands run now.
    let shown = env.ok(&["show", &id]);
    assert!(
        shown.contains("sandbox:  commands write only the worktree; HOME's credentials hidden; network allowed"),
        "{shown}"
    );
    // `aside sandbox` says what it allows and that it works.
    let said = env.ok(&["sandbox"]);
    assert!(
        said.contains("✓ the sandbox works on this machine")
            && said.contains(".ssh")
            && said.contains("reachable ([sandbox] network = \"all\")"),
        "{said}"
    );
}

#[test]
fn where_the_sandbox_cannot_work_commands_are_refused_unless_the_user_allows_them() {
    let mut env = Env::outside_tmp();
    // A machine without bubblewrap (or whose user namespaces are off) looks the same.
    env.set("ASIDE_BWRAP", "/nonexistent/bwrap");
    env.set("ASIDE_SANDBOX_UNAVAILABLE", "refuse");
    env.model.push_for(
        "sbx-c",
        [run("echo RAN > ran.txt"), Reply::text("Refused, then.")],
    );
    let id = env.new_session("sbx-c: run it", &[]);
    let s = env.wait_status(&id, "completed");
    let seen = results(&env);
    assert!(
        seen.contains("[aside: not run: commands run in a sandbox and bubblewrap (/nonexistent/bwrap) is not installed: apt-get install bubblewrap"),
        "{seen}"
    );
    let worktree = std::path::PathBuf::from(s["worktree"].as_str().unwrap());
    assert!(!worktree.join("ran.txt").exists());
    // Doctor says it too, with the fix.
    let out = env.run(&["doctor", "--json"]);
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let line = report["checks"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["check"] == "sandbox")
        .cloned()
        .unwrap();
    assert_eq!(line["level"], "problem", "{line}");
    assert!(
        line["fix"]
            .as_str()
            .unwrap()
            .contains("apt-get install bubblewrap"),
        "{line}"
    );
    let out = env.run(&["sandbox"]);
    assert!(!out.status.success());
    let said = String::from_utf8_lossy(&out.stdout);
    assert!(
        said.contains("✗ bubblewrap (/nonexistent/bwrap) is not installed")
            && said.contains("are not run, and the agent is told why"),
        "{said}"
    );
    // By default, each such command waits for the user's yes, even under "allow everything".
    env.set("ASIDE_SANDBOX_UNAVAILABLE", "");
    env.model.push_for(
        "sbx-e",
        [run("echo ASKED > asked.txt"), Reply::text("Asked first.")],
    );
    let id = env.new_session("sbx-e: ask first", &[]);
    let s = env.wait_status(&id, "needs_input");
    assert_eq!(s["approve"], "all");
    let shown = env.ok(&["show", &id]);
    assert!(
        shown.contains("Without a sandbox (bubblewrap (/nonexistent/bwrap) is not installed"),
        "{shown}"
    );
    env.ok(&["approve", &id]);
    let s = env.wait_status(&id, "completed");
    let worktree = std::path::PathBuf::from(s["worktree"].as_str().unwrap());
    assert!(worktree.join("asked.txt").exists());
    assert!(results(&env).contains("[aside: ran without a sandbox: bubblewrap"));
    // Allowed by the user's config: run unsandboxed, unasked, and said so.
    let config = env.root.join("home/.config/aside/config.toml");
    std::fs::create_dir_all(config.parent().unwrap()).unwrap();
    std::fs::write(&config, "[sandbox]\nunavailable = \"run\"\n").unwrap();
    env.model.push_for(
        "sbx-d",
        [
            run("echo RAN > ran.txt && echo \"DO\"NE"),
            Reply::text("Ran."),
        ],
    );
    let id = env.new_session("sbx-d: run it anyway", &[]);
    let s = env.wait_status(&id, "completed");
    let seen = results(&env);
    assert!(
        seen.contains("DONE") && seen.contains("[aside: ran without a sandbox: bubblewrap"),
        "{seen}"
    );
    let worktree = std::path::PathBuf::from(s["worktree"].as_str().unwrap());
    assert!(worktree.join("ran.txt").exists());
}
