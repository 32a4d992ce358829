//! The VS Code extension (`editors/vscode`) in real VS Code: code-server (VS Code 1.139 in the
//! browser) with the packaged extension installed, its workbench in headless Chromium, aside's
//! sessions made by the real binary against the fake model. `.ci/run` installs code-server and
//! packages the extension (`ASIDE_TEST_CODE_SERVER`, `ASIDE_TEST_VSIX`); without them the tests
//! skip, unless `ASIDE_REQUIRE_VSCODE` is set. Screenshots of each step go to
//! `target/screenshots/vscode/`.

use crate::common::Env;
use aside_testkit::browser::{self, Browser};
use aside_testkit::Reply;
use serde_json::{json, Value};
use std::os::unix::process::CommandExt as _;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// code-server and the packaged extension, when this machine has them.
fn installed() -> Option<(PathBuf, PathBuf)> {
    let server = std::env::var_os("ASIDE_TEST_CODE_SERVER").map(PathBuf::from);
    let vsix = std::env::var_os("ASIDE_TEST_VSIX").map(PathBuf::from);
    match (server, vsix) {
        (Some(server), Some(vsix)) if server.exists() && vsix.exists() && browser::available() => {
            Some((server, vsix))
        }
        _ if std::env::var_os("ASIDE_REQUIRE_VSCODE").is_some() => panic!(
            "ASIDE_REQUIRE_VSCODE is set but code-server or the packaged extension is missing: \
             run .ci/run (it installs code-server and packages editors/vscode)"
        ),
        _ => {
            eprintln!("skipped: ASIDE_TEST_CODE_SERVER / ASIDE_TEST_VSIX not set");
            None
        }
    }
}

/// A code-server of the test's own, serving `env`'s repository with the extension installed.
struct CodeServer {
    child: Child,
    url: String,
    /// What the extension writes about itself (`ASIDE_VSCODE_CHECK`).
    check: PathBuf,
}

impl Drop for CodeServer {
    fn drop(&mut self) {
        // code-server leaves children behind a plain kill: its whole process group goes.
        let _ = Command::new("kill")
            .args(["-9", "--", &format!("-{}", self.child.id())])
            .status();
        let _ = self.child.wait();
    }
}

impl CodeServer {
    fn start(env: &Env, server: &Path, vsix: &Path) -> CodeServer {
        let root = env.root.join("vscode");
        let (data, extensions) = (root.join("data"), root.join("extensions"));
        std::fs::create_dir_all(data.join("User")).unwrap();
        std::fs::write(
            data.join("User/settings.json"),
            json!({
                "aside.path": env!("CARGO_BIN_EXE_aside"),
                "chat.disableAIFeatures": true,
                "workbench.startupEditor": "none",
                "workbench.tips.enabled": false,
                "update.mode": "none",
                "telemetry.telemetryLevel": "off",
                "extensions.autoUpdate": false,
                "security.workspace.trust.enabled": false,
                "git.enabled": false,
            })
            .to_string(),
        )
        .unwrap();
        let vars = env.vars();
        let installed = Command::new(server)
            .arg("--user-data-dir")
            .arg(&data)
            .arg("--extensions-dir")
            .arg(&extensions)
            .arg("--install-extension")
            .arg(vsix)
            .env_clear()
            .envs(crate::common::inherited())
            .envs(vars.clone())
            .output()
            .unwrap();
        assert!(
            installed.status.success(),
            "the extension did not install: {}",
            String::from_utf8_lossy(&installed.stderr)
        );
        let port = {
            let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
            l.local_addr().unwrap().port()
        };
        let check = root.join("check.json");
        let log = std::fs::File::create(root.join("code-server.log")).unwrap();
        let child = Command::new(server)
            .process_group(0)
            .args([
                "--auth",
                "none",
                "--bind-addr",
                &format!("127.0.0.1:{port}"),
                "--disable-telemetry",
                "--disable-update-check",
                "--disable-workspace-trust",
                "--disable-getting-started-override",
            ])
            .arg("--user-data-dir")
            .arg(&data)
            .arg("--extensions-dir")
            .arg(&extensions)
            .arg(&env.repo)
            .env_clear()
            .envs(crate::common::inherited())
            .envs(vars)
            .env("XDG_CONFIG_HOME", root.join("config"))
            .env("ASIDE_VSCODE_CHECK", &check)
            .stdin(Stdio::null())
            .stdout(log.try_clone().unwrap())
            .stderr(log)
            .spawn()
            .unwrap();
        let url = format!("http://127.0.0.1:{port}");
        let deadline = Instant::now() + Duration::from_secs(60);
        while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(Instant::now() < deadline, "code-server never listened");
            std::thread::sleep(Duration::from_millis(100));
        }
        CodeServer { child, url, check }
    }

    /// What the extension last wrote about itself, once it has.
    fn check(&self) -> Value {
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            if let Ok(text) = std::fs::read_to_string(&self.check) {
                if let Ok(v) = serde_json::from_str::<Value>(&text) {
                    return v;
                }
            }
            assert!(
                Instant::now() < deadline,
                "the extension never reported (see {})",
                self.check.with_file_name("code-server.log").display()
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    }
}

async fn shot(b: &Browser, name: &str) {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../target/screenshots/vscode");
    b.screenshot(&dir.join(format!("{name}.png"))).await;
}

/// `script` run with `doc`, the document of the session editor's page (a webview: an iframe of
/// this origin holding the page's own iframe); `doc` is null until it is there.
fn in_editor(script: &str) -> String {
    format!(
        "const doc = (() => {{ const f = document.querySelector('iframe.webview'); \
         const inner = f && f.contentDocument && f.contentDocument.querySelector('#active-frame'); \
         return inner && inner.contentDocument && inner.contentDocument.body ? inner.contentDocument : null; }})(); \
         if (!doc) return null; {script}"
    )
}

/// The Agents view's rows: (label, description) of each session.
const ROWS: &str = "return [...document.querySelectorAll('.pane-body .monaco-list-row')]
    .map(r => [(r.querySelector('.label-name') || {}).textContent || '',
               (r.querySelector('.label-description') || {}).textContent || ''])";

/// The description of the row whose label is `title`, once it matches `pattern` (a regex).
async fn wait_row(b: &Browser, title: &str, pattern: &str) -> String {
    let script = format!(
        "{}.find(([l, d]) => l === {} && new RegExp({}).test(d));",
        ROWS.trim_start_matches("return "),
        json!(title),
        json!(pattern)
    );
    let found = b
        .wait_within(
            Duration::from_secs(60),
            &format!("the row {title} showing {pattern}"),
            &format!("const row = {script} return row ? row[1] : null;"),
        )
        .await;
    found.as_str().unwrap_or_default().to_string()
}

#[tokio::test]
async fn the_agents_view_shows_cli_sessions_live_and_the_editor_streams_and_answers() {
    let Some((server, vsix)) = installed() else {
        return;
    };
    let env = Env::new();
    // A session that asks before it runs a command: it needs the user's answer.
    env.model.push_for(
        "vscode-cli",
        [
            Reply::tool("run_command", json!({"command": "echo from-the-agent"})),
            Reply::text("Ran it: **from-the-agent**. <img src=x onerror=alert(1)>"),
        ],
    );
    let id = env.new_session("vscode-cli: run the check", &["--approve", "ask"]);
    env.wait_status(&id, "needs_input");
    let code = CodeServer::start(&env, &server, &vsix);
    let b = Browser::start().await;
    b.resize(1400, 900).await;
    b.goto(&format!("{}/?folder={}", code.url, env.repo.display()))
        .await;
    b.wait_within(
        Duration::from_secs(60),
        "the workbench",
        "return document.querySelector('.monaco-workbench .activitybar')",
    )
    .await;
    // The extension activated and read the list from aside.
    let check = code.check();
    assert_eq!(check["activated"], true, "{check}");
    // The Agents view, from its activity-bar item.
    b.wait(
        "aside's activity-bar item",
        "return document.querySelector('.activitybar [aria-label^=\"aside\"]')",
    )
    .await;
    b.click(".activitybar [aria-label^=\"aside\"]").await;
    let row = wait_row(&b, "vscode-cli: run the check", "^needs input").await;
    assert!(row.contains("builtin") && row.contains("isolated"), "{row}");
    // The view's badge says a session waits for the user.
    b.wait(
        "the badge",
        "return [...document.querySelectorAll('.activitybar .badge-content')].some(e => e.textContent.trim() === '1')",
    )
    .await;
    shot(&b, "01-agents-view-needs-input").await;

    // The session editor: the whole command asked about, answered from the editor.
    b.eval(
        "[...document.querySelectorAll('.pane-body .monaco-list-row')].find(r => r.textContent.includes('vscode-cli: run the check')).click()",
        json!([]),
    )
    .await;
    b.wait_within(
        Duration::from_secs(30),
        "the session editor",
        "return document.querySelector('iframe.webview')",
    )
    .await;
    // The webview is an iframe (of this origin) holding the page's own iframe.
    let asked = b
        .wait(
            "the permission request",
            &in_editor("return doc.querySelector('.permission') && doc.querySelector('.permission').textContent"),
        )
        .await;
    assert!(
        asked.as_str().unwrap().contains("echo from-the-agent"),
        "{asked}"
    );
    shot(&b, "02-session-editor-asks").await;
    b.eval(
        &in_editor("doc.querySelector('.permission .opts button[data-kind=allow_once]').click()"),
        json!([]),
    )
    .await;
    // The turn finishes: the reply streams in, its HTML shown as text, never run.
    b.wait(
        "the agent's reply",
        &in_editor("return [...doc.querySelectorAll('.msg.agent')].some(m => m.textContent.includes('<img src=x onerror=alert(1)>'))"),
    )
    .await;
    let images = b
        .eval(
            &in_editor("return doc.querySelectorAll('.msg.agent img').length"),
            json!([]),
        )
        .await;
    assert_eq!(images, 0);
    // And the Agents view follows: completed, the badge gone.
    let row = wait_row(&b, "vscode-cli: run the check", "^completed").await;
    assert!(row.contains("completed"), "{row}");
    shot(&b, "03-answered-and-completed").await;
    assert_eq!(env.session(&id)["status"], "completed");
}
