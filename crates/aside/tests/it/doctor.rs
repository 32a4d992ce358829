//! `aside doctor` on a machine the test lays out: some agents installed (stubs on a PATH built
//! here), some not, a model endpoint, a worktree left by nobody.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use crate::common::Env;
use aside_testkit::Reply;
use serde_json::Value;
use std::os::unix::fs::PermissionsExt as _;

fn doctor(env: &Env, extra: &[(&str, &str)]) -> (bool, Value) {
    let mut cmd = env.cmd(&["doctor", "--json"]);
    for (k, v) in extra {
        cmd.env(k, v);
    }
    let out = cmd.output().unwrap();
    let report: Value = serde_json::from_slice(&out.stdout)
        .unwrap_or_else(|e| panic!("{e}: {}", String::from_utf8_lossy(&out.stdout)));
    (out.status.success(), report)
}

fn check<'a>(report: &'a Value, name: &str) -> &'a Value {
    report["checks"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["check"] == name)
        .unwrap_or_else(|| panic!("no check {name} in {report:#}"))
}

#[test]
fn doctor_tells_what_is_installed_configured_and_left_behind() {
    let env = Env::new();
    // A PATH of this test's own: git and the shell's tools, a stub Copilot CLI, nothing else.
    let bin = env.root.join("bin");
    std::fs::create_dir_all(&bin).unwrap();
    let stub = bin.join("copilot");
    std::fs::write(&stub, "#!/bin/sh\necho 'GitHub Copilot CLI 9.9.9'\n").unwrap();
    std::fs::set_permissions(&stub, std::fs::Permissions::from_mode(0o755)).unwrap();
    let path = format!("{}:/usr/bin:/bin", bin.display());
    env.config("[agents.mine]\ncommand = [\"my-agent\", \"--acp\"]\n");
    let (ok, report) = doctor(
        &env,
        &[
            ("PATH", &path),
            ("COPILOT_PROVIDER_BASE_URL", "http://127.0.0.1:9/v1"),
        ],
    );
    assert!(
        !ok,
        "a configured agent that is missing is a problem: {report:#}"
    );
    assert_eq!(check(&report, "git")["level"], "ok");
    assert_eq!(check(&report, "state")["level"], "ok");
    let copilot = check(&report, "agent copilot");
    assert_eq!(copilot["level"], "ok", "{copilot}");
    assert_eq!(
        copilot["detail"],
        format!("{} (GitHub Copilot CLI 9.9.9)", stub.display())
    );
    let codex = check(&report, "agent codex");
    assert_eq!(codex["level"], "note");
    assert_eq!(
        codex["detail"],
        "not installed (`codex-acp` is not on PATH)"
    );
    assert_eq!(codex["fix"], "npm install -g @zed-industries/codex-acp");
    let mine = check(&report, "agent mine");
    assert_eq!(mine["level"], "problem");
    assert_eq!(mine["detail"], "not installed (`my-agent` is not on PATH)");
    // Where VS Code's Agents window connects, and a token others could read is a problem.
    let host = check(&report, "ahp");
    assert_eq!(host["level"], "ok", "{host}");
    assert!(host["detail"]
        .as_str()
        .unwrap()
        .contains("ws://127.0.0.1:PORT/ahp?tkn="));
    let token = env.root.join("aside-home/ahp-token");
    std::fs::create_dir_all(token.parent().unwrap()).unwrap();
    std::fs::write(&token, "0123456789abcdef0123456789abcdef\n").unwrap();
    std::fs::set_permissions(&token, std::fs::Permissions::from_mode(0o644)).unwrap();
    let (_, loose) = doctor(&env, &[("PATH", &path)]);
    let host = check(&loose, "ahp");
    assert_eq!(host["level"], "problem", "{host}");
    assert!(host["fix"].as_str().unwrap().starts_with("rm "), "{host}");
    std::fs::remove_file(&token).unwrap();
    // The endpoint is not an agent: the advice names only agents that are ready.
    let text = env.cmd(&["doctor"]).env("PATH", &path).output().unwrap();
    let text = String::from_utf8_lossy(&text.stdout);
    let advice = text.lines().find(|l| l.contains("(ready:")).unwrap();
    assert!(
        !advice.contains("ahp") && !advice.contains("host"),
        "{advice}"
    );
    // The built-in agent's endpoint answers and lists its model.
    assert_eq!(
        check(&report, "model")["detail"],
        format!("fake at {}", env.model.openai_base())
    );

    // A model the endpoint does not have; then a worktree no session owns.
    env.config("");
    env.model.push_for("doctor-task", [Reply::text("done")]);
    let id = env.new_session("doctor-task: a task", &[]);
    env.wait_status(&id, "completed");
    let (ok, report) = doctor(&env, &[("PATH", &path), ("ASIDE_MODEL", "no-such-model")]);
    assert!(!ok);
    let model = check(&report, "model");
    assert_eq!(model["level"], "problem");
    assert!(
        model["detail"]
            .as_str()
            .unwrap()
            .ends_with("does not list no-such-model; it has: fake, fake-model"),
        "{model}"
    );
    let stray = env.root.join("proj.worktrees").join("stray");
    aside_testkit::repo::git(
        &env.repo,
        &["worktree", "add", "-q", "--detach", stray.to_str().unwrap()],
    );
    let (ok, report) = doctor(&env, &[("PATH", &path)]);
    assert!(!ok);
    let worktree = check(&report, "worktree");
    assert_eq!(
        worktree["detail"],
        format!(
            "{} belongs to no session (left by a removed one)",
            stray.display()
        )
    );
    assert_eq!(
        worktree["fix"],
        format!(
            "look inside, then: git -C {} worktree remove --force {}",
            env.repo.display(),
            stray.display()
        )
    );
    assert_eq!(
        check(&report, "sessions")["detail"]
            .as_str()
            .unwrap()
            .split(' ')
            .next(),
        Some("1")
    );
    aside_testkit::repo::git(
        &env.repo,
        &["worktree", "remove", "--force", stray.to_str().unwrap()],
    );
    let (ok, report) = doctor(&env, &[("PATH", &path)]);
    assert!(ok, "{report:#}");
    assert_eq!(report["problems"], 0);
    // And as text, with the fix under each problem.
    let text = env.ok(&["doctor"]);
    assert!(
        text.contains("✓ git") && text.contains("\nno problems found\n"),
        "{text}"
    );
    assert!(
        text.lines()
            .last()
            .unwrap()
            .starts_with("start a session: aside new --agent builtin \"<task>\""),
        "{text}"
    );
}
