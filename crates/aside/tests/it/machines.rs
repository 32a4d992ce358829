//! Other machines over real OpenSSH: `sshd` on a loopback port of the test's own is the second
//! machine (its own HOME, aside state and PATH), reached through an `ssh -F` wrapper
//! (`ASIDE_SSH`). `.ci/run` installs openssh-server and openssh-client.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use crate::common;
use aside_testkit::sshd::{self, Sshd};
use serde_json::Value;

/// A test environment with a second machine `box1` (aside installed there: this build) and a
/// name `deadbox` that reaches nothing.
pub(crate) fn with_machine() -> Option<(common::Env, Sshd)> {
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
    let home = remote.join("home");
    let mut machine_env: Vec<(String, String)> = [
        ("HOME", home.display().to_string()),
        (
            "XDG_CONFIG_HOME",
            home.join(".config").display().to_string(),
        ),
        (
            "XDG_DATA_HOME",
            home.join(".local/share").display().to_string(),
        ),
        (
            "ASIDE_HOME",
            remote.join("aside-home").display().to_string(),
        ),
        ("PATH", format!("{bin}:/usr/local/bin:/usr/bin:/bin")),
        // The machine's own model endpoint: the test's fake model, reached over loopback.
        ("ASIDE_PROVIDER", "openai".into()),
        ("ASIDE_BASE_URL", env.model.openai_base()),
        ("ASIDE_MODEL", "fake".into()),
        ("ASIDE_API_KEY", String::new()),
        ("ASIDE_MAX_RETRIES", "0".into()),
        ("ASIDE_HOST_IDLE_SECS", "3".into()),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_string(), v))
    .collect();
    machine_env.extend(common::sandbox_fallback());
    machine_env.extend(
        [
            "GIT_AUTHOR_NAME",
            "GIT_AUTHOR_EMAIL",
            "GIT_COMMITTER_NAME",
            "GIT_COMMITTER_EMAIL",
        ]
        .iter()
        .map(|k| (k.to_string(), "aside-test".to_string())),
    );
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

/// Stops what runs on the machine when the test ends (its hosts outlive the SSH connection
/// that started them, as they should).
pub(crate) struct StopThere(pub(crate) std::path::PathBuf);

impl Drop for StopThere {
    fn drop(&mut self) {
        let _ = std::process::Command::new(&self.0)
            .args(["-o", "BatchMode=yes", "box1", "aside stop --all"])
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .status();
    }
}

#[test]
fn a_session_runs_on_another_machine_beside_local_ones_and_an_unreachable_one_is_said() {
    let Some((env, server)) = with_machine() else {
        return;
    };
    let stop = StopThere(server.ssh.clone());
    env.ok(&["machine", "add", "box1", "--ssh", "box1", "--no-check"]);
    env.model
        .push_for("local-one", [aside_testkit::Reply::text("Here.")]);
    let local = env.new_session("local-one: say hi", &[]);
    env.model.push_for(
        "remote-one",
        [
            aside_testkit::Reply::tool(
                "write_file",
                serde_json::json!({"path": "REMOTE.md", "content": "made there\n"}),
            ),
            aside_testkit::Reply::text("Wrote it there."),
        ],
    );
    env.model
        .push_for("remote-two", [aside_testkit::Reply::text("Second there.")]);
    let id = env.ok(&["new", "--on", "box1", "remote-one: write a file"]);
    assert!(id.starts_with("box1:"), "{id}");
    let waited = env.ok(&["wait", &id]);
    assert!(waited.contains("completed"), "{waited}");
    env.wait_status(&local, "completed");
    // One list: the local session and the machine's, marked.
    let table = env.ok(&["ls"]);
    assert!(table.contains(&local) && table.contains(&id), "{table}");
    let list: Value = serde_json::from_str(&env.ok(&["ls", "--json"])).unwrap();
    let there = list
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["id"] == id.as_str())
        .unwrap_or_else(|| panic!("{list:#}"));
    assert_eq!(there["machine"], "box1");
    assert_eq!(there["status"], "completed");
    assert_eq!(there["changed_files"], 1);
    // Its conversation and its diff, from here.
    let logs = env.ok(&["logs", &id]);
    assert!(logs.contains("Wrote it there."), "{logs}");
    let diff = env.ok(&["diff", &id]);
    assert!(diff.contains("+made there"), "{diff}");
    // A follow-up, sent from here, taken there.
    env.ok(&["send", &id, "remote-two: again"]);
    let waited = env.ok(&["wait", &id]);
    assert!(waited.contains("completed"), "{waited}");
    let logs = env.ok(&["logs", &id]);
    assert!(logs.contains("Second there."), "{logs}");
    // Its work comes home: fetched over SSH, applied 3-way with the user's own edit kept.
    std::fs::write(env.repo.join("README.md"), "# proj\nmine, not committed\n").unwrap();
    let applied = env.ok(&["apply", &id]);
    assert!(applied.contains("REMOTE.md"), "{applied}");
    assert_eq!(
        std::fs::read_to_string(env.repo.join("REMOTE.md")).unwrap(),
        "made there\n"
    );
    assert_eq!(
        std::fs::read_to_string(env.repo.join("README.md")).unwrap(),
        "# proj\nmine, not committed\n"
    );
    // A machine that lets SSH in but never answers is given a time limit, then said.
    let slow = server.dir.join("slow-aside");
    std::fs::write(&slow, "#!/bin/sh\nexec sleep 617\n").unwrap();
    use std::os::unix::fs::PermissionsExt as _;
    std::fs::set_permissions(&slow, std::fs::Permissions::from_mode(0o755)).unwrap();
    env.ok(&[
        "machine",
        "add",
        "slowbox",
        "--ssh",
        "box1",
        "--aside",
        slow.to_str().unwrap(),
        "--no-check",
    ]);
    let out = env
        .cmd(&["ls"])
        .env("ASIDE_MACHINE_LIST_SECS", "2")
        .output()
        .unwrap();
    assert!(out.status.success());
    let (table, said) = (
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr),
    );
    assert!(table.contains(&local) && table.contains(&id), "{table}");
    assert!(
        said.contains("machine slowbox is unreachable (it did not answer within 2 s)"),
        "{said}"
    );
    env.ok(&["machine", "rm", "slowbox"]);
    // (What still sleeps there is the test's own.)
    let _ = std::process::Command::new("pkill")
        .args(["-f", "sleep 617"])
        .status();
    // The machine goes away: local sessions still list and work; its sessions are shown as
    // last seen, marked, and acting on one says why it cannot.
    drop(stop);
    drop(server);
    let out = env.run(&["ls"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let table = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(table.contains(&local), "{table}");
    assert!(
        table
            .lines()
            .any(|l| l.contains(&id) && l.contains("(unreachable)")),
        "{table}"
    );
    assert!(stderr.contains("machine box1 is unreachable"), "{stderr}");
    let refused = env.fails(&["show", &id]);
    assert!(refused.contains("cannot reach box1 over SSH"), "{refused}");
}

/// The frames of a live SSE stream as they come: (event name, data).
type Frames = std::sync::Arc<std::sync::Mutex<Vec<(String, Value)>>>;

/// Reads `GET path` of the web view as SSE into `frames` until the stream ends.
fn read_sse(ui: &common::Ui, path: &str) -> (Frames, tokio::task::JoinHandle<()>) {
    let frames: Frames = Default::default();
    let (url, token, into) = (
        format!("{}{path}", ui.base),
        ui.token.clone(),
        frames.clone(),
    );
    let task = tokio::spawn(async move {
        let mut response = reqwest::Client::new()
            .get(url)
            .bearer_auth(token)
            .send()
            .await
            .unwrap();
        assert!(response.status().is_success(), "{}", response.status());
        let mut text = String::new();
        while let Ok(Some(chunk)) = response.chunk().await {
            text.push_str(&String::from_utf8_lossy(&chunk));
            while let Some(end) = text.find("\n\n") {
                let frame: String = text.drain(..end + 2).collect();
                let name = frame
                    .lines()
                    .find_map(|l| l.strip_prefix("event: "))
                    .unwrap_or_default()
                    .to_string();
                let data: String = frame
                    .lines()
                    .filter_map(|l| l.strip_prefix("data: "))
                    .collect::<Vec<_>>()
                    .join("\n");
                if let Ok(data) = serde_json::from_str(&data) {
                    into.lock().unwrap().push((name, data));
                }
            }
        }
    });
    (frames, task)
}

/// Waits until a frame satisfies `found`.
async fn until(frames: &Frames, what: &str, found: impl Fn(&str, &Value) -> bool) {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    loop {
        if frames.lock().unwrap().iter().any(|(n, d)| found(n, d)) {
            return;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "never saw {what}: {:#?}",
            frames.lock().unwrap()
        );
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
}

/// The web view shows a machine's session beside local ones and follows it live over SSH;
/// a permission is approved and a follow-up sent from the page's API; the SSH connection killed
/// mid-turn loses nothing: the session completes there and the page's stream catches up with
/// every event, none twice.
#[tokio::test(flavor = "multi_thread")]
async fn the_web_view_follows_and_drives_a_session_on_another_machine_across_a_dropped_connection()
{
    use aside_testkit::{Chunk, Reply};
    let Some((env, server)) = with_machine() else {
        return;
    };
    let _stop = StopThere(server.ssh.clone());
    env.ok(&["machine", "add", "box1", "--ssh", "box1", "--no-check"]);
    env.model.push_for("web-local", [Reply::text("Local.")]);
    let local = env.new_session("web-local: say hi", &[]);
    env.model.push_for(
        "web-remote",
        [
            Reply::tool(
                "write_file",
                serde_json::json!({"path": "there.txt", "content": "made there\n"}),
            ),
            Reply::stream(vec![
                Chunk::Text("part one. ".into()),
                Chunk::Delay(std::time::Duration::from_secs(4)),
                Chunk::Text("part two.".into()),
            ]),
            Reply::text("Followed up."),
        ],
    );
    let id = env.ok(&[
        "new",
        "--on",
        "box1",
        "--approve",
        "ask",
        "web-remote: write there.txt",
    ]);
    let there = id.strip_prefix("box1:").unwrap().to_string();
    env.wait_status(&local, "completed");
    let ui = common::Ui::start(&env);
    let client = reqwest::Client::new();
    let get = |path: String| {
        let request = client
            .get(format!("{}{path}", ui.base))
            .bearer_auth(&ui.token);
        async move { request.send().await.unwrap() }
    };
    // One list: the local session and the machine's, marked with it.
    let list: Value = get("/api/sessions?all=true".into())
        .await
        .json()
        .await
        .unwrap();
    let ids: Vec<&str> = list
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["id"].as_str().unwrap())
        .collect();
    assert!(
        ids.contains(&local.as_str()) && ids.contains(&id.as_str()),
        "{list:#}"
    );
    let row = list
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["id"] == id.as_str())
        .unwrap();
    assert_eq!(row["machine"], "box1");
    // Its page's stream, live from the machine.
    let (frames, _reader) = read_sse(&ui, &format!("/api/sessions/{id}/events?tail=1000"));
    until(&frames, "the permission request", |n, d| {
        n == "event" && d["kind"] == "permission_request"
    })
    .await;
    let approved = client
        .post(format!("{}/api/sessions/{id}/approve", ui.base))
        .bearer_auth(&ui.token)
        .json(&serde_json::json!({}))
        .send()
        .await
        .unwrap();
    assert!(
        approved.status().is_success(),
        "{}",
        approved.text().await.unwrap()
    );
    until(&frames, "part one streamed", |n, d| {
        n == "event" && d.to_string().contains("part one")
    })
    .await;
    // The SSH connection drops mid-turn (its ssh and the stream there killed).
    let killed = std::process::Command::new("pkill")
        .args(["-f", &format!("stream {there} --since")])
        .status()
        .unwrap();
    assert!(killed.success(), "no stream connection to kill");
    until(&frames, "the lost connection said", |n, d| {
        n == "machine" && d["machine"] == "box1"
    })
    .await;
    until(&frames, "the turn completed", |n, d| {
        n == "event" && d["kind"] == "status" && d["data"]["status"] == "completed"
    })
    .await;
    // Every stored event once, in order, from the first; the streamed text whole, once.
    let check = |frames: &Frames| {
        let frames = frames.lock().unwrap();
        let stored: Vec<u64> = frames
            .iter()
            .filter(|(n, d)| n == "event" && d["piece"].is_null())
            .map(|(_, d)| d["seq"].as_u64().unwrap())
            .collect();
        let expected: Vec<u64> = (1..=*stored.last().unwrap()).collect();
        assert_eq!(stored, expected, "{frames:#?}");
        frames
            .iter()
            .filter(|(n, d)| n == "event" && d["kind"] == "agent_message_chunk")
            .filter_map(|(_, d)| d["data"]["content"]["text"].as_str())
            .collect::<String>()
    };
    let text = check(&frames);
    assert_eq!(text.matches("part one. part two.").count(), 1, "{text}");
    // The session as the page reads it, and its diff, from there.
    let shown: Value = get(format!("/api/sessions/{id}"))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(shown["session"]["id"], id.as_str());
    assert_eq!(shown["session"]["machine"], "box1");
    assert_eq!(shown["session"]["status"], "completed");
    assert_eq!(shown["changed_files"][0]["path"], "there.txt");
    let diff: Value = get(format!("/api/sessions/{id}/diff"))
        .await
        .json()
        .await
        .unwrap();
    assert!(
        diff["files"][0]["patch"]
            .as_str()
            .unwrap()
            .contains("+made there"),
        "{diff}"
    );
    // A follow-up from the page, taken there, streamed here.
    let sent = client
        .post(format!("{}/api/sessions/{id}/prompt", ui.base))
        .bearer_auth(&ui.token)
        .json(&serde_json::json!({"text": "web-remote: once more"}))
        .send()
        .await
        .unwrap();
    assert!(sent.status().is_success(), "{}", sent.text().await.unwrap());
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    let text = loop {
        let text = check(&frames);
        if text.contains("Followed up.") {
            break text;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "never followed up: {text}"
        );
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    };
    assert_eq!(text.matches("Followed up.").count(), 1, "{text}");
    // Applied from the page into the repository here it was started from, the user's own
    // uncommitted edit kept.
    std::fs::write(env.repo.join("README.md"), "# proj\nmine, not committed\n").unwrap();
    let applied = client
        .post(format!("{}/api/sessions/{id}/apply", ui.base))
        .bearer_auth(&ui.token)
        .json(&serde_json::json!({}))
        .send()
        .await
        .unwrap();
    assert!(
        applied.status().is_success(),
        "{}",
        applied.text().await.unwrap()
    );
    let said: Value = applied.json().await.unwrap();
    assert_eq!(
        said["message"],
        format!("applied {id}: there.txt"),
        "{said}"
    );
    assert_eq!(
        std::fs::read_to_string(env.repo.join("there.txt")).unwrap(),
        "made there\n"
    );
    assert_eq!(
        std::fs::read_to_string(env.repo.join("README.md")).unwrap(),
        "# proj\nmine, not committed\n"
    );
    // The new-session form's API: the machines offered, a session started there.
    let meta: Value = get("/api/meta".into()).await.json().await.unwrap();
    assert_eq!(meta["machines"], serde_json::json!(["box1"]));
    env.model
        .push_for("web-form", [Reply::text("From the form.")]);
    let post = |body: Value| {
        let request = client
            .post(format!("{}/api/sessions", ui.base))
            .bearer_auth(&ui.token)
            .json(&body);
        async move { request.send().await.unwrap() }
    };
    let refused = post(
        serde_json::json!({"task": "web-form: plan", "repo": env.repo,
        "machine": "box1", "plan": true}),
    )
    .await;
    assert_eq!(refused.status(), 400);
    let said: Value = refused.json().await.unwrap();
    assert!(
        said["error"]
            .as_str()
            .unwrap()
            .contains("plan first and workspace sessions run on this machine"),
        "{said}"
    );
    let made: Value = post(
        serde_json::json!({"task": "web-form: from the form", "repo": env.repo,
        "machine": "box1"}),
    )
    .await
    .json()
    .await
    .unwrap();
    let made_id = made["id"].as_str().unwrap();
    assert!(made_id.starts_with("box1:"), "{made}");
    assert_eq!(made["machine"], "box1");
    let waited = env.ok(&["wait", made_id]);
    assert!(waited.contains("completed"), "{waited}");
    assert!(env.ok(&["logs", made_id]).contains("From the form."));
    // In a real browser: the list marks the machine's row, its page shows the conversation
    // from there and says where it runs.
    use aside_testkit::browser::{self, Browser};
    if !browser::available() {
        assert!(
            std::env::var_os("ASIDE_REQUIRE_BROWSER").is_none(),
            "ASIDE_REQUIRE_BROWSER is set but chromium/chromedriver are missing"
        );
        return;
    }
    let b = Browser::start().await;
    b.goto(&ui.url).await;
    let tag = b
        .wait(
            "the machine's session in the list, marked",
            &format!("const r = document.querySelector('tr[data-id=\"{id}\"] .tag.machine'); return r && r.textContent"),
        )
        .await;
    assert_eq!(tag, "on box1");
    // Its new-session form offers the machine.
    b.click("#new-toggle").await;
    b.wait(
        "the machine in the new-session form",
        "const f = document.getElementById('new-machine-field'); return f && !f.hidden && !!document.querySelector('#new-machine option[value=\"box1\"]')",
    )
    .await;
    b.goto(&format!("{}/s/{id}", ui.base)).await;
    b.wait(
        "the conversation from the machine",
        "return document.body.innerText.includes('Followed up.') && document.body.innerText.includes('part one. part two.')",
    )
    .await;
    let meta = b
        .eval(
            "return document.getElementById('meta').textContent",
            serde_json::json!([]),
        )
        .await;
    assert!(meta.as_str().unwrap().contains("on machine box1"), "{meta}");
}

/// The terminal view lists a machine's session, follows it live over SSH, approves its
/// permission request there and applies its work to the repository here.
#[test]
fn the_terminal_view_follows_approves_and_applies_a_session_on_another_machine() {
    use aside_testkit::Reply;
    if !common::tmux_available() {
        return;
    }
    let Some((env, server)) = with_machine() else {
        return;
    };
    let _stop = StopThere(server.ssh.clone());
    env.ok(&["machine", "add", "box1", "--ssh", "box1", "--no-check"]);
    env.model.push_for(
        "tui-remote",
        [
            Reply::tool(
                "write_file",
                serde_json::json!({"path": "from-box1.txt", "content": "made on box1\n"}),
            ),
            Reply::text("Wrote it on box1."),
        ],
    );
    let id = env.ok(&[
        "new",
        "--on",
        "box1",
        "--approve",
        "ask",
        "tui-remote: write a file",
    ]);
    let tmux = common::Tmux::start_in(
        &env.vars(),
        &env.repo,
        &format!("'{}'", env!("CARGO_BIN_EXE_aside")),
    );
    // Its row names the machine with the repository.
    let screen = tmux.wait_for("tui-remote: write a file");
    assert!(screen.contains("box1:proj"), "{screen}");
    tmux.keys(&["Enter"]);
    tmux.wait_for("a approve · A always · x deny");
    tmux.keys(&["a"]);
    tmux.wait_for("Wrote it on box1.");
    let waited = env.ok(&["wait", &id]);
    assert!(waited.contains("completed"), "{waited}");
    tmux.keys(&["p"]);
    tmux.wait_for("Apply session");
    tmux.keys(&["y"]);
    tmux.wait_for(&format!("applied {id}: from-box1.txt"));
    assert_eq!(
        std::fs::read_to_string(env.repo.join("from-box1.txt")).unwrap(),
        "made on box1\n"
    );
    // The new-session form offers the machine.
    env.model
        .push_for("tui-form", [Reply::text("From the terminal's form.")]);
    tmux.keys(&["Escape", "n", "tui-form: over there"]);
    tmux.keys(&["Tab", "Tab", "Tab", "Tab", "Tab", "Tab"]);
    tmux.wait_for("runs on ‹ this machine ›");
    tmux.keys(&["Right"]);
    tmux.wait_for("runs on ‹ box1 ›");
    tmux.keys(&["Enter"]);
    tmux.wait_for("From the terminal's form.");
    let list: Value = serde_json::from_str(&env.ok(&["ls", "--json"])).unwrap();
    assert!(
        list.as_array()
            .unwrap()
            .iter()
            .any(|s| s["machine"] == "box1" && s["title"] == "tui-form: over there"),
        "{list:#}"
    );
    tmux.keys(&["Escape", "q"]);
    tmux.wait_for("EXITED=0");
}

/// The text of a chat turn's markdown parts.
fn turn_text(chat: &ahp_types::state::ChatState, turn: usize) -> String {
    crate::agent_host::parts(chat, turn)
        .as_array()
        .unwrap()
        .iter()
        .filter(|p| p["kind"] == "markdown")
        .filter_map(|p| p["content"].as_str())
        .collect()
}

/// The AHP endpoint (what VS Code's Agents window attaches to) lists a machine's session
/// beside local ones, opens and follows it, confirms its tool call and sends it a follow-up,
/// all carried out there; the SSH connection killed mid-turn loses nothing.
#[tokio::test(flavor = "multi_thread")]
async fn the_agent_host_endpoint_shows_and_steers_a_session_on_another_machine() {
    use crate::agent_host::{connect, kind, list, subscribe_chat, subscribe_session, until};
    use ahp::reducers::apply_action_to_chat;
    use ahp_types::actions::StateAction;
    use aside_testkit::{Chunk, Reply};
    use serde_json::json;
    let Some((env, server)) = with_machine() else {
        return;
    };
    let _stop = StopThere(server.ssh.clone());
    env.ok(&["machine", "add", "box1", "--ssh", "box1", "--no-check"]);
    env.model.push_for("ahp-local", [Reply::text("Local.")]);
    let local = env.new_session("ahp-local: say hi", &[]);
    env.model.push_for(
        "ahp-remote",
        [
            Reply::tool(
                "write_file",
                json!({"path": "ahp.txt", "content": "from ahp\n"}),
            ),
            Reply::stream(vec![
                Chunk::Text("part one. ".into()),
                Chunk::Delay(std::time::Duration::from_secs(4)),
                Chunk::Text("part two.".into()),
            ]),
            Reply::text("Followed up there."),
        ],
    );
    let id = env.ok(&[
        "new",
        "--on",
        "box1",
        "--approve",
        "ask",
        "ahp-remote: write ahp.txt",
    ]);
    let there = id.strip_prefix("box1:").unwrap().to_string();
    env.wait_status(&local, "completed");
    let ui = common::Ui::start(&env);
    let client = connect(&ui.ahp).await;
    let _: serde_json::Value = client
        .request(
            "initialize",
            json!({"channel": "ahp-root://", "protocolVersions": ["1.0.0"],
                "clientId": "machines-test", "initialSubscriptions": ["ahp-root://"]}),
        )
        .await
        .unwrap();
    // Listed beside the local one (the machine is asked in the background: soon).
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    let item = loop {
        let items = list(&client).await;
        if let Some(item) = items.iter().find(|s| s["_meta"]["aside.id"] == id.as_str()) {
            assert!(
                items
                    .iter()
                    .any(|s| s["_meta"]["aside.id"] == local.as_str()),
                "{items:#?}"
            );
            break item.clone();
        }
        assert!(
            std::time::Instant::now() < deadline,
            "never listed: {items:#?}"
        );
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    };
    let resource = item["resource"].as_str().unwrap().to_string();
    assert!(resource.ends_with(&format!(":/{id}")), "{resource}");
    // Opened: its tool call waits for a confirmation, as a local one's does.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    let session = loop {
        let (session, _sub) = subscribe_session(&client, &resource).await;
        if session.input_needed.as_ref().is_some_and(|w| !w.is_empty()) {
            break session;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "never waited: {session:?}"
        );
        tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    };
    let chat_uri = session.default_chat.clone().unwrap();
    let (mut chat, mut sub) = subscribe_chat(&client, &chat_uri).await;
    let turn = chat.active_turn.clone().unwrap();
    let call = serde_json::to_value(&turn.response_parts).unwrap()[0]["toolCall"].clone();
    assert_eq!(call["status"], "pending-confirmation", "{call}");
    let allow = call["options"]
        .as_array()
        .unwrap()
        .iter()
        .find(|o| o["kind"] == "approve")
        .unwrap()["id"]
        .clone();
    let confirm: StateAction = serde_json::from_value(json!({
        "type": "chat/toolCallConfirmed", "turnId": turn.id, "toolCallId": call["toolCallId"],
        "approved": true, "selectedOptionId": allow,
    }))
    .unwrap();
    client.dispatch(chat_uri.clone(), confirm).await.unwrap();
    until(
        &mut sub,
        "part one",
        |e| {
            apply_action_to_chat(&mut chat, &e.action);
        },
        |e| {
            serde_json::to_value(&e.action)
                .unwrap()
                .to_string()
                .contains("part one")
        },
    )
    .await;
    // The SSH connection drops mid-turn: the projection reconnects and catches up.
    let killed = std::process::Command::new("pkill")
        .args(["-f", &format!("stream {there} --since")])
        .status()
        .unwrap();
    assert!(killed.success(), "no stream connection to kill");
    until(
        &mut sub,
        "the turn's end",
        |e| {
            apply_action_to_chat(&mut chat, &e.action);
        },
        |e| kind(e) == "chat/turnComplete",
    )
    .await;
    assert_eq!(
        turn_text(&chat, 0).matches("part one. part two.").count(),
        1,
        "{chat:?}"
    );
    // A follow-up under the client's own turn id, taken there.
    client
        .dispatch(
            chat_uri.clone(),
            serde_json::from_value(json!({
                "type": "chat/turnStarted", "turnId": "remote-turn-1",
                "startedAt": "2026-12-06T10:00:00.000Z",
                "message": {"text": "ahp-remote: again", "origin": {"kind": "user"}},
            }))
            .unwrap(),
        )
        .await
        .unwrap();
    let started = until(
        &mut sub,
        "the follow-up's turn",
        |e| {
            apply_action_to_chat(&mut chat, &e.action);
        },
        |e| kind(e) == "chat/turnStarted",
    )
    .await;
    let StateAction::ChatTurnStarted(a) = &started.action else {
        panic!()
    };
    assert_eq!(a.turn_id, "remote-turn-1");
    until(
        &mut sub,
        "the follow-up's end",
        |e| {
            apply_action_to_chat(&mut chat, &e.action);
        },
        |e| kind(e) == "chat/turnComplete",
    )
    .await;
    assert_eq!(turn_text(&chat, 1), "Followed up there.");
    // A fresh client's snapshot is what the actions made.
    let other = connect(&ui.ahp).await;
    let _: serde_json::Value = other
        .request(
            "initialize",
            json!({"channel": "ahp-root://", "protocolVersions": ["1.0.0"], "clientId": "machines-test-2"}),
        )
        .await
        .unwrap();
    let (fresh, _) = subscribe_chat(&other, &chat_uri).await;
    assert_eq!(turn_text(&fresh, 0), turn_text(&chat, 0));
    assert_eq!(turn_text(&fresh, 1), "Followed up there.");
}

/// A base commit the repository's remote has is fetched there from it (nothing pushed from
/// here); one only here is pushed; a checkout the user named is used as it is, on its own
/// branch; a named checkout that is not there is refused with the fix.
#[test]
fn the_base_comes_from_the_remote_when_it_can_and_a_named_checkout_is_used() {
    use aside_testkit::repo::git;
    use aside_testkit::Reply;
    let Some((env, server)) = with_machine() else {
        return;
    };
    let _stop = StopThere(server.ssh.clone());
    env.ok(&["machine", "add", "box1", "--ssh", "box1", "--no-check"]);
    // The repository's remote: a bare repository both "machines" reach by its path.
    let origin = env.root.join("origin.git");
    git(
        &env.root,
        &[
            "clone",
            "-q",
            "--bare",
            env.repo.to_str().unwrap(),
            origin.to_str().unwrap(),
        ],
    );
    git(
        &env.repo,
        &["remote", "add", "origin", origin.to_str().unwrap()],
    );
    env.model.push_for(
        "from-origin",
        [Reply::text("Based on origin."), Reply::text("Based here.")],
    );
    let id = env.ok(&["new", "--on", "box1", "from-origin: look"]);
    let waited = env.ok(&["wait", &id]);
    assert!(waited.contains("completed"), "{waited}");
    let home = env.root.join("box1/home");
    let checkout = home.join(aside_sessions::machines::checkout_of(&env.repo));
    let fetched = std::fs::read_to_string(checkout.join(".git/FETCH_HEAD")).unwrap();
    // (git names a remote without its `.git`)
    assert!(
        fetched.contains(origin.to_str().unwrap().trim_end_matches(".git")),
        "{fetched}"
    );
    let pushed = std::process::Command::new("git")
        .arg("-C")
        .arg(&checkout)
        .args(["rev-parse", "--verify", "-q", "refs/aside/base"])
        .output()
        .unwrap();
    assert!(!pushed.status.success(), "the base was pushed, not fetched");
    // A commit only here: pushed.
    std::fs::write(env.repo.join("LOCAL.md"), "only here\n").unwrap();
    git(&env.repo, &["add", "LOCAL.md"]);
    git(&env.repo, &["commit", "-q", "-m", "only here"]);
    let head = git(&env.repo, &["rev-parse", "HEAD"]);
    let id = env.ok(&["new", "--on", "box1", "from-origin: again"]);
    env.ok(&["wait", &id]);
    assert_eq!(git(&checkout, &["rev-parse", "refs/aside/base"]), head);
    // A checkout of the user's there, named for this repository: sessions run from it, and it
    // stays on its branch.
    let mine = home.join("src/proj");
    git(
        &home,
        &[
            "clone",
            "-q",
            origin.to_str().unwrap(),
            mine.to_str().unwrap(),
        ],
    );
    let local = format!("{}=src/proj", env.repo.display());
    env.ok(&[
        "machine",
        "add",
        "box1",
        "--ssh",
        "box1",
        "--checkout",
        &local,
        "--no-check",
    ]);
    let listed: Value = serde_json::from_str(&env.ok(&["machine", "ls", "--json"])).unwrap();
    assert_eq!(
        listed[0]["checkouts"][env.repo.display().to_string()],
        "src/proj"
    );
    env.model
        .push_for("named-checkout", [Reply::text("In your checkout.")]);
    let out = env.ok(&["new", "--on", "box1", "--json", "named-checkout: look"]);
    let session: Value = serde_json::from_str(&out).unwrap();
    assert!(
        session["worktree"]
            .as_str()
            .unwrap()
            .contains("src/proj.worktrees/"),
        "{session}"
    );
    assert_eq!(git(&mine, &["symbolic-ref", "--short", "HEAD"]), "main");
    env.ok(&["wait", session["id"].as_str().unwrap()]);
    // Named, but not there: refused, with what to do.
    let wrong = format!("{}=nowhere/proj", env.repo.display());
    env.ok(&[
        "machine",
        "add",
        "box1",
        "--ssh",
        "box1",
        "--checkout",
        &wrong,
        "--no-check",
    ]);
    let refused = env.fails(&["new", "--on", "box1", "named-checkout: again"]);
    assert!(
        refused.contains("(nowhere/proj) is not a git repository there: clone it there"),
        "{refused}"
    );
    let bad = env.fails(&[
        "machine",
        "add",
        "box1",
        "--ssh",
        "box1",
        "--checkout",
        "nope",
    ]);
    assert!(bad.contains("give it as LOCAL=THERE"), "{bad}");
}

/// `aside move` takes a session to another machine and back: its branch (a commit on it), its
/// uncommitted work and its history go with it, the built-in agent goes on with its own
/// conversation there, and the session it was is archived; a working session is refused.
#[test]
fn a_session_moves_to_another_machine_and_back_with_its_work_and_history() {
    use aside_testkit::repo::git;
    use aside_testkit::Reply;
    let Some((env, server)) = with_machine() else {
        return;
    };
    let _stop = StopThere(server.ssh.clone());
    env.ok(&["machine", "add", "box1", "--ssh", "box1", "--no-check"]);
    env.model.push_for(
        "move-a",
        [
            Reply::tool(
                "write_file",
                serde_json::json!({"path": "NOTES.md", "content": "draft\n"}),
            ),
            Reply::text("Wrote the notes."),
            Reply::text("Carried on there."),
            Reply::text("Back home."),
        ],
    );
    let id = env.new_session("move-a: write notes", &[]);
    let s = env.wait_status(&id, "completed");
    let worktree = std::path::PathBuf::from(s["worktree"].as_str().unwrap());
    // (Each turn's work is committed on the session's branch.) A commit of the user's on it,
    // and work not committed: an edit and a new file.
    std::fs::write(worktree.join("COMMITTED.md"), "on the branch\n").unwrap();
    git(&worktree, &["add", "COMMITTED.md"]);
    git(
        &worktree,
        &[
            "-c",
            "user.name=t",
            "-c",
            "user.email=t@t",
            "commit",
            "-q",
            "-m",
            "committed by hand",
        ],
    );
    std::fs::write(worktree.join("NOTES.md"), "draft, edited\n").unwrap();
    std::fs::write(worktree.join("LOOSE.md"), "not committed\n").unwrap();
    // (as `git status --porcelain` says it, trimmed)
    let uncommitted = "M NOTES.md\n?? LOOSE.md";
    assert_eq!(git(&worktree, &["status", "--porcelain"]), uncommitted);
    // A session that waits for an answer does not move.
    env.model.push_for(
        "move-b",
        [Reply::tool(
            "write_file",
            serde_json::json!({"path": "X.md", "content": "x\n"}),
        )],
    );
    let busy = env.new_session("move-b: ask first", &["--approve", "ask"]);
    env.wait_status(&busy, "needs_input");
    // An answer meant for another tool call (what a client far away saw) is refused.
    let stale = env.fails(&["approve", &busy, "--call", "call_old_0"]);
    assert!(
        stale.contains(
            "tool call call_old_0 is not the one waiting for an answer (call_write_file_0 is)"
        ),
        "{stale}"
    );
    let refused = env.fails(&["move", &busy, "--to", "box1"]);
    assert!(
        refused.contains(&format!("session {busy} is needs_input: wait for its turn to end, or cancel it (aside cancel {busy}), then move it")),
        "{refused}"
    );
    // An agent that machine does not have: refused, with its own words, and nothing lost here.
    let file = env.root.join("home/.config/aside/config.toml");
    let config = std::fs::read_to_string(&file).unwrap();
    std::fs::write(
        &file,
        format!(
            "{config}\n[agents.mine]\ncommand = [\"{}\", \"agent\"]\n",
            env!("CARGO_BIN_EXE_aside")
        ),
    )
    .unwrap();
    env.model.push_for("move-c", [Reply::text("Mine, here.")]);
    let mine = env.new_session("move-c: with my own agent", &["--agent", "mine"]);
    env.wait_status(&mine, "completed");
    let refused = env.fails(&["move", &mine, "--to", "box1"]);
    assert!(
        refused.contains("box1 could not take it: ")
            && refused.contains("unknown agent `mine`")
            && refused.contains(&format!("session {mine} stays here")),
        "{refused}"
    );
    let kept = env.session(&mine);
    assert_eq!(kept["archived"], false, "{kept}");
    // The worktree of a moved session, once its host has made it.
    let worktree_of = |id: &str| {
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
        loop {
            let shown: Value = serde_json::from_str(&env.ok(&["show", id, "--json"])).unwrap();
            let dir = std::path::PathBuf::from(shown["session"]["worktree"].as_str().unwrap());
            if dir.join("NOTES.md").exists() {
                return dir;
            }
            assert!(std::time::Instant::now() < deadline, "no worktree: {shown}");
            std::thread::sleep(std::time::Duration::from_millis(200));
        }
    };
    // There: the branch with its commits, the uncommitted work uncommitted.
    let moved = env.ok(&["move", &id, "--to", "box1"]);
    assert!(moved.starts_with("box1:"), "{moved}");
    let there = worktree_of(&moved);
    assert_eq!(git(&there, &["status", "--porcelain"]), uncommitted);
    // Listed with what it changed (its branch's commits and the uncommitted work).
    let list: Value = serde_json::from_str(&env.ok(&["ls", "--json"])).unwrap();
    let item = list
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["id"] == moved.as_str())
        .cloned()
        .unwrap_or_else(|| panic!("{list:#}"));
    // NOTES.md, COMMITTED.md, LOOSE.md
    assert_eq!(item["changed_files"], 3, "{item}");
    assert_eq!(
        git(&there, &["log", "-1", "--format=%s"]),
        "committed by hand"
    );
    assert_eq!(env.session(&id)["archived"], true);
    // Its agent goes on there with its own conversation.
    env.ok(&["send", &moved, "move-a: carry on"]);
    let waited = env.ok(&["wait", &moved]);
    assert!(waited.contains("completed"), "{waited}");
    let logs = env.ok(&["logs", &moved]);
    assert!(
        logs.contains("Wrote the notes.") && logs.contains("Carried on there."),
        "{logs}"
    );
    let asked = env.model.received().last().unwrap().body.to_string();
    assert!(
        asked.contains("Wrote the notes.") && asked.contains("move-a: carry on"),
        "{asked}"
    );
    // And back here (its turn's work is committed there now), with a follow-up.
    std::fs::write(there.join("LATE.md"), "left there\n").unwrap();
    // Not into a repository without its base: refused with where to run it, nothing moved.
    let elsewhere = env.root.join("elsewhere");
    aside_testkit::repo::init_repo(&elsewhere, &[("OTHER.md", "other\n")]);
    let out = env
        .cmd(&["move", &moved, "--to", "local"])
        .current_dir(&elsewhere)
        .output()
        .unwrap();
    let said = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    assert!(
        said.contains("does not have the session's base commit")
            && said.contains("run aside move in the repository it was started from"),
        "{said}"
    );
    let shown: Value = serde_json::from_str(&env.ok(&["show", &moved, "--json"])).unwrap();
    assert_eq!(shown["session"]["archived"], false);
    let back = env.ok(&["move", &moved, "--to", "local", "move-a: come back"]);
    let s = env.wait_status(&back, "completed");
    let home = std::path::PathBuf::from(s["worktree"].as_str().unwrap());
    assert_eq!(
        std::fs::read_to_string(home.join("NOTES.md")).unwrap(),
        "draft, edited\n"
    );
    assert_eq!(
        std::fs::read_to_string(home.join("LATE.md")).unwrap(),
        "left there\n"
    );
    let logs = env.ok(&["logs", &back]);
    assert!(
        logs.contains("Carried on there.") && logs.contains("Back home."),
        "{logs}"
    );
    let shown: Value = serde_json::from_str(&env.ok(&["show", &moved, "--json"])).unwrap();
    assert_eq!(shown["session"]["archived"], true);
    let table = env.ok(&["ls", "--all"]);
    assert!(
        table
            .lines()
            .any(|l| l.starts_with(&moved) && l.contains("(archived)")),
        "{table}"
    );
    // Its work applies here like any session's.
    let applied = env.ok(&["apply", &back]);
    assert!(
        applied.contains("NOTES.md")
            && applied.contains("COMMITTED.md")
            && applied.contains("LATE.md"),
        "{applied}"
    );
}
