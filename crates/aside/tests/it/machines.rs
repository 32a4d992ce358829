//! Other machines over real OpenSSH: `sshd` on a loopback port of the test's own is the second
//! machine (its own HOME, aside state and PATH), reached through an `ssh -F` wrapper
//! (`ASIDE_SSH`). `.ci/run` installs openssh-server and openssh-client.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use crate::common;
use aside_testkit::sshd::{self, Sshd};
use serde_json::Value;

/// A test environment with a second machine `box1` (aside installed there: this build) and a
/// name `deadbox` that reaches nothing.
fn with_machine() -> Option<(common::Env, Sshd)> {
    if !sshd::available() {
        if std::env::var_os("ASIDE_REQUIRE_SSHD").is_some() {
            panic!("sshd is not installed: apt-get install openssh-server openssh-client");
        }
        eprintln!("skipped: install openssh-server and openssh-client (.ci/run does)");
        return None;
    }
    let mut env = common::Env::new();
    let remote = env.root.join("box1");
    let bin = std::path::Path::new(env!("CARGO_BIN_EXE_aside"))
        .parent()
        .unwrap()
        .display()
        .to_string();
    std::fs::create_dir_all(remote.join("home")).unwrap();
    let machine_env = vec![
        (
            "HOME".to_string(),
            remote.join("home").display().to_string(),
        ),
        (
            "ASIDE_HOME".to_string(),
            remote.join("aside-home").display().to_string(),
        ),
        (
            "PATH".to_string(),
            format!("{bin}:/usr/local/bin:/usr/bin:/bin"),
        ),
    ];
    let server = Sshd::start(
        &remote.join("sshd"),
        &machine_env,
        &["box1", "oldbox", "noaside"],
        &["deadbox"],
    );
    env.set("ASIDE_SSH", &server.ssh.display().to_string());
    Some((env, server))
}

#[test]
fn machines_are_added_listed_checked_and_removed_with_what_is_wrong_said() {
    let Some((env, server)) = with_machine() else {
        return;
    };
    // Added, and checked at once: SSH gets in and the same aside answers.
    let out = env
        .cmd(&["machine", "add", "box1", "--ssh", "box1"])
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        stdout.contains("✓ box1")
            && stdout.contains(&format!("aside {}", env!("CARGO_PKG_VERSION"))),
        "{stdout}"
    );
    // An aside of another version there: refused, both versions named.
    let old = server.dir.join("old-aside");
    std::fs::write(&old, "#!/bin/sh\necho 'aside 9.4.0'\n").unwrap();
    use std::os::unix::fs::PermissionsExt as _;
    std::fs::set_permissions(&old, std::fs::Permissions::from_mode(0o755)).unwrap();
    env.ok(&[
        "machine",
        "add",
        "oldbox",
        "--ssh",
        "oldbox",
        "--aside",
        old.to_str().unwrap(),
        "--no-check",
    ]);
    env.ok(&[
        "machine",
        "add",
        "noaside",
        "--ssh",
        "noaside",
        "--aside",
        "/nonexistent/aside",
        "--no-check",
    ]);
    env.ok(&[
        "machine",
        "add",
        "deadbox",
        "--ssh",
        "deadbox",
        "--no-check",
    ]);
    let list: Value = serde_json::from_str(&env.ok(&["machine", "ls", "--json"])).unwrap();
    let names: Vec<&str> = list
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["box1", "deadbox", "noaside", "oldbox"]);
    let out = env.cmd(&["machine", "check", "--json"]).output().unwrap();
    assert!(!out.status.success(), "some machines are not ready");
    let checks: Value = serde_json::from_slice(&out.stdout).unwrap();
    let of = |name: &str| {
        checks
            .as_array()
            .unwrap()
            .iter()
            .find(|c| c["name"] == name)
            .unwrap()
            .clone()
    };
    assert_eq!(of("box1")["ready"], true, "{checks:#}");
    let old = of("oldbox");
    assert_eq!(old["ready"], false);
    assert!(
        old["detail"]
            .as_str()
            .unwrap()
            .contains("oldbox has aside 9.4.0; this is aside ")
            && old["detail"]
                .as_str()
                .unwrap()
                .contains(env!("CARGO_PKG_VERSION")),
        "{old}"
    );
    let missing = of("noaside");
    assert!(
        missing["detail"]
            .as_str()
            .unwrap()
            .contains("`/nonexistent/aside` is not found on noaside"),
        "{missing}"
    );
    assert!(
        missing["fix"]
            .as_str()
            .unwrap()
            .contains("--aside /path/to/aside"),
        "{missing}"
    );
    let dead = of("deadbox");
    assert!(
        dead["detail"]
            .as_str()
            .unwrap()
            .starts_with("cannot reach deadbox over SSH (deadbox): "),
        "{dead}"
    );
    assert!(
        dead["fix"]
            .as_str()
            .unwrap()
            .contains("without a password prompt"),
        "{dead}"
    );
    // Doctor says the same, one line per machine.
    let out = env.cmd(&["doctor", "--json"]).output().unwrap();
    let report: Value = serde_json::from_slice(&out.stdout).unwrap();
    let line = |name: &str| {
        report["checks"]
            .as_array()
            .unwrap()
            .iter()
            .find(|c| c["check"] == format!("machine {name}"))
            .unwrap()
            .clone()
    };
    assert_eq!(line("box1")["level"], "ok");
    assert_eq!(line("deadbox")["level"], "problem");
    // Bad names and destinations are refused before anything is written.
    let bad = env.fails(&["machine", "add", "local", "--ssh", "x"]);
    assert!(bad.contains("cannot name a machine"), "{bad}");
    let bad = env.fails(&[
        "machine",
        "add",
        "evil",
        "--ssh=-oProxyCommand=touch /tmp/pwned",
    ]);
    assert!(bad.contains("not starting with -"), "{bad}");
    // Nor is such an entry read from the file.
    let file = env.root.join("home/.config/aside/config.toml");
    let config = std::fs::read_to_string(&file).unwrap();
    std::fs::write(
        &file,
        format!("{config}\n[machines.evil]\nssh = \"-oProxyCommand=sh\"\n"),
    )
    .unwrap();
    let bad = env.fails(&["machine", "ls"]);
    assert!(
        bad.contains("machines.evil.ssh") && bad.contains("not starting with -"),
        "{bad}"
    );
    std::fs::write(&file, config).unwrap();
    // Removed: gone from the list, nothing on it touched.
    env.ok(&["machine", "rm", "deadbox"]);
    let gone = env.fails(&["machine", "check", "deadbox"]);
    assert!(
        gone.contains("no machine `deadbox`") && gone.contains("machines: box1, noaside, oldbox"),
        "{gone}"
    );
}
