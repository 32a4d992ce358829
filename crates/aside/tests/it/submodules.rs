//! A session's worktree has the repository's submodules, recursively, from the user's own
//! checkout (no network); a submodule that cannot be had is a warning, not a failure;
//! `--no-submodules` opts out; `diff` shows an agent's edit inside one and `rm` keeps it.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use crate::common::Env;
use aside_testkit::repo::{git, init_repo};
use aside_testkit::Reply;
use serde_json::json;
use std::path::Path;

/// git with local file URLs allowed: only the test's own commands widen this.
fn git_file(dir: &Path, args: &[&str]) -> String {
    let mut all = vec!["-c", "protocol.file.allow=always"];
    all.extend_from_slice(args);
    git(dir, &all)
}

/// `lib` (with its own submodule `deep`) added to the test's repository and checked out there,
/// as a user has it. The sources live beside the repository.
fn add_submodules(env: &Env) {
    let deep = env.root.join("deep-src");
    let lib = env.root.join("lib-src");
    init_repo(&deep, &[("deep.txt", "deep v1\n")]);
    init_repo(&lib, &[("lib.txt", "lib v1\n")]);
    git_file(
        &lib,
        &["submodule", "add", "-q", deep.to_str().unwrap(), "deep"],
    );
    git(&lib, &["commit", "-qm", "add deep"]);
    git_file(
        &env.repo,
        &["submodule", "add", "-q", lib.to_str().unwrap(), "lib"],
    );
    git(&env.repo, &["commit", "-qm", "add lib"]);
    git_file(
        &env.repo,
        &["submodule", "update", "--init", "--recursive", "-q"],
    );
}

fn worktree(env: &Env, id: &str) -> std::path::PathBuf {
    env.session(id)["worktree"].as_str().unwrap().into()
}

#[test]
fn sessions_get_the_submodules_of_their_repository() {
    let env = Env::new();
    add_submodules(&env);
    // The sources go away: what the session gets comes from the user's checkout.
    std::fs::remove_dir_all(env.root.join("lib-src")).unwrap();
    std::fs::remove_dir_all(env.root.join("deep-src")).unwrap();
    env.model.push_for(
        "sub-task",
        [
            Reply::tool(
                "write_file",
                json!({"path": "lib/lib.txt", "content": "lib changed by the agent\n"}),
            ),
            Reply::tool(
                "write_file",
                json!({"path": "README.md", "content": "# proj, with lib\n"}),
            ),
            Reply::text("Edited the library."),
        ],
    );
    let id = env.new_session("sub-task: edit the library", &[]);
    env.wait_status(&id, "completed");
    let wt = worktree(&env, &id);
    assert_eq!(
        std::fs::read_to_string(wt.join("lib/deep/deep.txt")).unwrap(),
        "deep v1\n"
    );
    assert_eq!(
        git(&wt.join("lib"), &["rev-parse", "HEAD:deep"]),
        git(&wt.join("lib/deep"), &["rev-parse", "HEAD"])
    );
    // The agent's edit inside the submodule is its work: diff shows it, ls counts it.
    let diff = env.ok(&["diff", &id]);
    assert!(
        diff.contains("b/lib/lib.txt") && diff.contains("+lib changed by the agent"),
        "{diff}"
    );
    assert_eq!(env.session(&id)["changed_files"], 2);
    // The next session takes a spare from the pool: its submodules too.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
    while !env.ok(&["pool"]).contains("1 of 1 spare worktrees ready") {
        assert!(
            std::time::Instant::now() < deadline,
            "the pool was not refilled"
        );
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
    env.model.push_for("pooled", [Reply::text("ok")]);
    let next = env.new_session("pooled: look", &[]);
    env.wait_status(&next, "completed");
    let next_wt = worktree(&env, &next);
    assert_eq!(
        std::fs::read_to_string(next_wt.join("lib/lib.txt")).unwrap(),
        "lib v1\n"
    );
    assert_eq!(git(&next_wt, &["status", "--porcelain"]), "");

    // apply takes the repository's own files and says what it leaves in submodules, with the
    // command that brings them in.
    let out = env.run(&["apply", &id]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("not applied: 1 file inside submodules (lib/lib.txt); bring them into your checkout with: cd ")
            && err.contains(&format!("aside diff {id} | git apply --include='lib/*'")),
        "{err}"
    );
    let command = err
        .split("with: ")
        .nth(1)
        .unwrap()
        .lines()
        .next()
        .unwrap()
        .to_string();
    let brought = std::process::Command::new("sh")
        .arg("-c")
        .arg(&command)
        .envs(env.vars())
        .env(
            "PATH",
            format!(
                "{}:{}",
                Path::new(env!("CARGO_BIN_EXE_aside"))
                    .parent()
                    .unwrap()
                    .display(),
                std::env::var("PATH").unwrap()
            ),
        )
        .status()
        .unwrap();
    assert!(brought.success(), "{command}");
    assert_eq!(
        std::fs::read_to_string(env.repo.join("lib/lib.txt")).unwrap(),
        "lib changed by the agent\n"
    );
    git(&env.repo.join("lib"), &["checkout", "-q", "lib.txt"]);
    assert_eq!(
        std::fs::read_to_string(env.repo.join("README.md")).unwrap(),
        "# proj, with lib\n"
    );
    // Applied covers the repository's own files only: rm still keeps the submodule's edits
    // unless forced; forced, the worktree goes with its submodules.
    let err = env.fails(&["rm", &id]);
    assert!(
        err.contains(
            "changed files inside a submodule that exist only in its worktree (lib/lib.txt)"
        ),
        "{err}"
    );
    assert!(wt.join("lib/lib.txt").exists());
    env.ok(&["rm", &id, "--force"]);
    assert!(!wt.exists());
    assert!(!git(&env.repo, &["worktree", "list"]).contains(wt.to_str().unwrap()));

    // --no-submodules: left as git leaves them, empty.
    env.model.push_for("bare", [Reply::text("ok")]);
    let bare = env.new_session("bare: look", &["--no-submodules"]);
    env.wait_status(&bare, "completed");
    let wt = worktree(&env, &bare);
    assert!(wt.join("lib").is_dir() && !wt.join("lib/lib.txt").exists());
}

#[test]
fn a_submodule_that_cannot_be_had_is_a_warning_and_the_session_runs() {
    let env = Env::new();
    add_submodules(&env);
    // Neither the user's checkout nor the submodule's URL has it any more.
    git(
        &env.repo,
        &["submodule", "deinit", "-q", "--force", "--all"],
    );
    std::fs::remove_dir_all(env.repo.join(".git/modules")).unwrap();
    std::fs::remove_dir_all(env.root.join("lib-src")).unwrap();
    env.model
        .push_for("warned", [Reply::text("Working anyway.")]);
    let id = env.new_session("warned: go on", &[]);
    env.wait_status(&id, "completed");
    let shown = env.ok(&["show", &id]);
    assert!(
        shown.contains(
            "! warning: submodule lib could not be checked out; the session goes on without it:"
        ),
        "{shown}"
    );
    assert!(shown.contains("Working anyway."), "{shown}");
    let logs = env.ok(&["logs", &id]);
    assert!(
        logs.contains("warning: submodule lib could not be checked out"),
        "{logs}"
    );
}
