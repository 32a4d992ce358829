//! Real VS Code for the extension's tests and benchmark: code-server (VS Code in the browser)
//! with the packaged extension (`editors/vscode`) installed, serving a folder, in the
//! environment the caller gives (nothing else of the caller's). `.ci/run` installs code-server
//! and packages the extension: `ASIDE_TEST_CODE_SERVER` (a launcher that runs it on the Node it
//! needs) and `ASIDE_TEST_VSIX`.

use serde_json::{json, Value};
use std::os::unix::process::CommandExt as _;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// code-server and the packaged extension, when this machine has them.
pub fn installed() -> Option<(PathBuf, PathBuf)> {
    let server = std::env::var_os("ASIDE_TEST_CODE_SERVER").map(PathBuf::from);
    let vsix = std::env::var_os("ASIDE_TEST_VSIX").map(PathBuf::from);
    match (server, vsix) {
        (Some(server), Some(vsix))
            if server.exists() && vsix.exists() && crate::browser::available() =>
        {
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
pub struct CodeServer {
    child: Child,
    /// Where it serves, `http://127.0.0.1:PORT`.
    pub url: String,
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
    /// Installs the extension into a profile under `root` and serves `folder`, with `vars`
    /// (on top of `inherited`) as the whole environment; `aside` is the program the extension
    /// runs.
    pub fn start(
        server: &Path,
        vsix: &Path,
        root: &Path,
        folder: &Path,
        aside: &str,
        inherited: &[(String, String)],
        vars: &[(String, String)],
    ) -> CodeServer {
        let root = root.join("vscode");
        let (data, extensions) = (root.join("data"), root.join("extensions"));
        std::fs::create_dir_all(data.join("User")).unwrap();
        std::fs::write(
            data.join("User/settings.json"),
            json!({
                "aside.path": aside,
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
        let installed = Command::new(server)
            .arg("--user-data-dir")
            .arg(&data)
            .arg("--extensions-dir")
            .arg(&extensions)
            .arg("--install-extension")
            .arg(vsix)
            .env_clear()
            .envs(inherited.iter().cloned())
            .envs(vars.iter().cloned())
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
            .arg(folder)
            .env_clear()
            .envs(inherited.iter().cloned())
            .envs(vars.iter().cloned())
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
    pub fn check(&self) -> Value {
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

/// `script` run with `doc`, the document of the webview VS Code shows (an iframe of the
/// workbench's origin holding the page's own iframe; a hidden editor's stays in the page,
/// invisible, and is passed over); null until it is there.
pub fn in_webview(script: &str) -> String {
    format!(
        "const doc = (() => {{ const f = [...document.querySelectorAll('iframe.webview')].find(f => f.checkVisibility({{ visibilityProperty: true, opacityProperty: true }})); \
         const inner = f && f.contentDocument && f.contentDocument.querySelector('#active-frame'); \
         return inner && inner.contentDocument && inner.contentDocument.body ? inner.contentDocument : null; }})(); \
         if (!doc) return null; {script}"
    )
}
