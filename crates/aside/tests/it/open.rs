//! `aside open` and the web view's "Open in editor", through the real binary: a temp HOME,
//! ASIDE_HOME and repository, the built-in agent on the fake model, and stub editors (shell
//! scripts) that record how they were started.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use crate::common::{self, Ui};
use aside_testkit::browser::{self, Browser};
use aside_testkit::procs::kill_9;
use aside_testkit::Reply;
use serde_json::{json, Value};
use std::os::unix::fs::PermissionsExt as _;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

/// The common test environment (`common::Env`: cleared environment, temporary HOME and state,
/// the fake model) with a repository whose path has a space (it must reach the editor as one
/// argument, and the vscode:// link must encode it), stub editors in `bin/`, and no `code`,
/// `VISUAL` or `EDITOR` of the machine's.
struct Env {
    base: common::Env,
    /// Stub editors, and what they record.
    bin: PathBuf,
    /// Processes to end when the test does (a detached stub editor).
    leftovers: Vec<i32>,
}

impl std::ops::Deref for Env {
    type Target = common::Env;
    fn deref(&self) -> &common::Env {
        &self.base
    }
}

impl std::ops::DerefMut for Env {
    fn deref_mut(&mut self) -> &mut common::Env {
        &mut self.base
    }
}

impl Drop for Env {
    fn drop(&mut self) {
        for pid in &self.leftovers {
            kill_9(*pid);
        }
    }
}

/// `$PATH` without any directory that holds a `code`, so the default editor is not found
/// however the machine running the tests is set up.
fn path_without_code() -> String {
    let path = std::env::var_os("PATH").unwrap_or_default();
    let dirs: Vec<PathBuf> = std::env::split_paths(&path)
        .filter(|dir| !dir.join("code").exists())
        .collect();
    std::env::join_paths(dirs)
        .unwrap()
        .to_string_lossy()
        .into_owned()
}

impl Env {
    fn new() -> Env {
        let mut base = common::Env::with_repo("my proj", &[("README.md", "# my proj\n")]);
        let bin = base.root.join("bin");
        std::fs::create_dir_all(&bin).unwrap();
        base.set("PATH", &path_without_code());
        base.set("VISUAL", "");
        base.set("EDITOR", "");
        Env {
            base,
            bin,
            leftovers: vec![],
        }
    }

    /// Runs a command that must succeed; (stdout, stderr).
    fn ok_both(&self, args: &[&str]) -> (String, String) {
        let out = self.run(args);
        let stderr = String::from_utf8_lossy(&out.stderr).trim().to_string();
        assert!(out.status.success(), "aside {args:?} failed:\n{stderr}");
        (
            String::from_utf8_lossy(&out.stdout).trim().to_string(),
            stderr,
        )
    }

    /// A finished session (its worktree made); its id and worktree.
    fn finished_session(&self, marker: &str) -> (String, PathBuf) {
        self.model.push_for(marker, [Reply::text("Done.")]);
        let id = self.ok(&["new", &format!("{marker}: look around")]);
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            let s = self.session(&id);
            if s["status"] == "completed" {
                let worktree = PathBuf::from(s["worktree"].as_str().unwrap());
                assert!(worktree.is_dir(), "{s}");
                return (id, worktree);
            }
            assert!(Instant::now() < deadline, "{id} never completed: {s}");
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// An executable script in `bin/` that records its arguments (one a line) and working
    /// directory under `bin/NAME.args` and `bin/NAME.cwd`, then runs `then`.
    fn stub(&self, name: &str, then: &str) -> PathBuf {
        let path = self.bin.join(name);
        let record = self.bin.join(name).display().to_string();
        std::fs::write(
            &path,
            format!(
                "#!/bin/sh\nprintf '%s\\n' \"$@\" > '{record}.args'\npwd > '{record}.cwd'\n{then}\n"
            ),
        )
        .unwrap();
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).unwrap();
        path
    }

    /// A GUI stub: records, then writes its pid (`bin/NAME.pid`, last) and stays, as an editor
    /// window does.
    fn gui_stub(&self, name: &str) -> PathBuf {
        let pid = self.bin.join(format!("{name}.pid")).display().to_string();
        self.stub(
            name,
            &format!("echo $$ > '{pid}.tmp' && mv '{pid}.tmp' '{pid}'\nexec sleep 600"),
        )
    }

    /// What a stub recorded: its arguments and working directory.
    fn recorded(&self, name: &str) -> (Vec<String>, PathBuf) {
        let args = std::fs::read_to_string(self.bin.join(format!("{name}.args"))).unwrap();
        let cwd = std::fs::read_to_string(self.bin.join(format!("{name}.cwd"))).unwrap();
        (
            args.lines().map(str::to_string).collect(),
            PathBuf::from(cwd.trim()),
        )
    }

    /// Waits until the detached GUI stub `name` has started; its pid (ended with the test).
    fn wait_gui_stub(&mut self, name: &str) -> i32 {
        let file = self.bin.join(format!("{name}.pid"));
        let deadline = Instant::now() + Duration::from_secs(30);
        while !file.exists() {
            assert!(Instant::now() < deadline, "{name} never started");
            std::thread::sleep(Duration::from_millis(20));
        }
        let pid: i32 = std::fs::read_to_string(&file)
            .unwrap()
            .trim()
            .parse()
            .unwrap();
        self.leftovers.push(pid);
        pid
    }

    fn config_file(&self) -> PathBuf {
        self.root.join("home/.config/aside/config.toml")
    }
}

/// A process's session id and process group, from /proc.
fn sid_and_pgid(pid: i32) -> (i32, i32) {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap();
    let fields: Vec<&str> = stat
        .rsplit_once(')')
        .unwrap()
        .1
        .split_whitespace()
        .collect();
    (fields[3].parse().unwrap(), fields[2].parse().unwrap())
}

#[test]
fn a_terminal_editor_from_editor_runs_in_the_worktree_and_its_status_is_aside_opens() {
    let mut env = Env::new();
    let (id, worktree) = env.finished_session("term-task");
    let editor = env.stub("myeditor", "exit 0");
    // Split like a shell word list; the worktree's path comes last, as one argument.
    env.set("EDITOR", &format!("{}  -p", editor.display()));
    let (stdout, stderr) = env.ok_both(&["open", &id[..6]]);
    assert_eq!((stdout.as_str(), stderr.as_str()), ("", ""));
    assert_eq!(
        env.recorded("myeditor"),
        (
            vec!["-p".to_string(), worktree.display().to_string()],
            worktree.clone()
        )
    );

    // $VISUAL comes before $EDITOR, and the editor's exit status is aside open's.
    let visual = env.stub("myvisual", "exit 7");
    env.set("VISUAL", &visual.display().to_string());
    let out = env.run(&["open", &id]);
    assert_eq!(out.status.code(), Some(7));
    assert_eq!(String::from_utf8_lossy(&out.stderr), "");
    assert_eq!(
        env.recorded("myvisual"),
        (vec![worktree.display().to_string()], worktree.clone())
    );

    // --print prints the path and opens nothing.
    std::fs::remove_file(env.bin.join("myvisual.args")).unwrap();
    assert_eq!(
        env.ok(&["open", &id, "--print"]),
        worktree.display().to_string()
    );
    assert!(!env.bin.join("myvisual.args").exists());
}

#[test]
fn a_configured_gui_editor_starts_detached_and_aside_open_returns_at_once() {
    let mut env = Env::new();
    let (id, worktree) = env.finished_session("gui-task");
    let stub = env.gui_stub("mygui");
    // The configured command wins over $VISUAL and $EDITOR.
    env.set("VISUAL", "vim");
    env.set("EDITOR", "vim");
    env.config(&format!(
        "[editor]\ncommand = [\"{}\", \"--new-window\"]\n",
        stub.display()
    ));
    // `output()` waits for the end of aside's stdout and stderr: it returns while the editor
    // still runs, so the editor holds neither.
    let (stdout, stderr) = env.ok_both(&["open", &id]);
    assert_eq!(stdout, "");
    assert_eq!(
        stderr,
        format!(
            "opened {} in {} --new-window",
            worktree.display(),
            stub.display()
        )
    );
    let pid = env.wait_gui_stub("mygui");
    assert_eq!(
        env.recorded("mygui"),
        (
            vec!["--new-window".to_string(), worktree.display().to_string()],
            worktree.clone()
        )
    );
    // Its own process session (closing the terminal leaves it open), stdio on /dev/null.
    let (sid, pgid) = sid_and_pgid(pid);
    assert_eq!((sid, pgid), (pid, pid));
    for fd in 0..3 {
        assert_eq!(
            std::fs::read_link(format!("/proc/{pid}/fd/{fd}")).unwrap(),
            Path::new("/dev/null")
        );
    }
    kill_9(pid);

    // `terminal = true` runs the configured command in the foreground instead.
    let term = env.stub("myterm", "exit 0");
    env.config(&format!(
        "[editor]\ncommand = [\"{}\"]\nterminal = true\n",
        term.display()
    ));
    assert_eq!(env.ok_both(&["open", &id]), (String::new(), String::new()));
    assert_eq!(
        env.recorded("myterm"),
        (vec![worktree.display().to_string()], worktree.clone())
    );
}

#[test]
fn without_an_editor_or_a_worktree_the_error_says_what_to_do() {
    let env = Env::new();
    let (id, worktree) = env.finished_session("err-task");
    assert_eq!(
        env.fails(&["open", &id]),
        format!(
            "aside: no editor to open the worktree with: set `[editor] command = [\"code\", \"--new-window\"]` in {}, or $EDITOR (e.g. `export EDITOR=vim`)",
            env.config_file().display()
        )
    );
    env.config("[editor]\ncommand = [\"/nonexistent/zed\"]\n");
    let err = env.fails(&["open", &id]);
    assert!(
        err.starts_with(
            "aside: cannot start the editor `/nonexistent/zed` (from [editor] command): No such file or directory"
        ),
        "{err}"
    );
    env.config("[editor]\ncomand = [\"zed\"]\n");
    let err = env.fails(&["open", &id]);
    assert!(err.contains("unknown field `comand`"), "{err}");

    // A worktree deleted behind aside's back.
    std::fs::remove_dir_all(&worktree).unwrap();
    assert_eq!(
        env.fails(&["open", &id]),
        format!(
            "aside: the worktree of session {id}, {}, no longer exists",
            worktree.display()
        )
    );
    // A removed session is gone altogether.
    env.ok(&["rm", &id, "--force"]);
    assert_eq!(
        env.fails(&["open", &id]),
        format!("aside: no session matches `{id}`; `aside ls --all` lists them")
    );
}

/// `POST /api/sessions/ID/open` to `ui`, with the token and Origin given: (status, body).
async fn open_in(ui: &Ui, id: &str, token: Option<&str>, origin: Option<&str>) -> (u16, String) {
    let mut request = reqwest::Client::new()
        .post(format!("{}/api/sessions/{id}/open", ui.base))
        .json(&json!({}));
    if let Some(token) = token {
        request = request.bearer_auth(token);
    }
    if let Some(origin) = origin {
        request = request.header("origin", origin);
    }
    let r = request.send().await.unwrap();
    (r.status().as_u16(), r.text().await.unwrap())
}

#[tokio::test]
async fn the_web_action_launches_only_a_gui_editor_and_only_with_the_token() {
    let mut env = Env::new();
    let (id, worktree) = env.finished_session("web-task");
    env.set("EDITOR", "vim");
    let ui = Ui::start(&env.base);
    // The server has no terminal: a terminal editor is refused, saying what to do instead.
    let (status, body) = open_in(&ui, &id, Some(&ui.token), Some(&ui.base)).await;
    assert_eq!(status, 409);
    assert_eq!(
        serde_json::from_str::<Value>(&body).unwrap(),
        json!({"error": format!(
            "vim (from $EDITOR) runs in a terminal, and `aside ui` has none to run it in: set a GUI editor as `[editor] command = [\"code\", \"--new-window\"]` in {}, or use the vscode:// link",
            env.config_file().display()
        )})
    );

    // The config is read at each request.
    let stub = env.gui_stub("webgui");
    env.config(&format!("[editor]\ncommand = [\"{}\"]\n", stub.display()));
    // Without the token, or from another site, nothing starts.
    let (status, _) = open_in(&ui, &id, None, Some(&ui.base)).await;
    assert_eq!(status, 401);
    let (status, _) = open_in(&ui, &id, Some(&ui.token), Some("http://evil.example")).await;
    assert_eq!(status, 403);
    assert!(!env.bin.join("webgui.args").exists());

    let (status, body) = open_in(&ui, &id, Some(&ui.token), Some(&ui.base)).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(
        serde_json::from_str::<Value>(&body).unwrap(),
        json!({
            "message": format!("Opened {} in {}", worktree.display(), stub.display()),
            "editor": [stub.display().to_string()],
        })
    );
    let pid = env.wait_gui_stub("webgui");
    assert_eq!(
        env.recorded("webgui"),
        (vec![worktree.display().to_string()], worktree.clone())
    );
    assert_eq!(sid_and_pgid(pid).0, pid, "detached from the server");
}

#[tokio::test]
async fn in_a_real_browser_the_session_page_offers_copy_path_and_open_in_editor() {
    if !browser::available() {
        eprintln!("skipped: Debian's chromium and chromium-driver are not installed (.ci/run installs them)");
        return;
    }
    let mut env = Env::new();
    let (id, worktree) = env.finished_session("page-task");
    let stub = env.gui_stub("pagegui");
    env.config(&format!("[editor]\ncommand = [\"{}\"]\n", stub.display()));
    let ui = Ui::start(&env.base);
    let b = Browser::start().await;
    b.goto(&ui.url).await;
    b.goto(&format!("{}/s/{id}", ui.base)).await;
    let href = b
        .wait(
            "the vscode link",
            "const a = document.querySelector('#open-vscode'); return !a.hidden && a.getAttribute('href') !== '#' && a.getAttribute('href')",
        )
        .await;
    let encoded: Vec<String> = worktree
        .display()
        .to_string()
        .split('/')
        .map(|s| s.replace(' ', "%20"))
        .collect();
    assert_eq!(href, format!("vscode://file{}", encoded.join("/")));
    assert!(href.as_str().unwrap().contains("my%20proj"), "{href}");
    assert_eq!(
        b.eval(
            "return [document.querySelector('#worktree').textContent, document.querySelector('#copy-worktree').textContent, document.querySelector('#open-editor').textContent]",
            json!([])
        )
        .await,
        json!([worktree.display().to_string(), "Copy path", "Open in editor"])
    );

    // Copy path: to the clipboard, or, where the page may not write it, the path selected.
    b.click("#copy-worktree").await;
    let copied = b
        .wait(
            "the copy button's answer",
            "const t = document.querySelector('#copy-worktree').textContent; return t !== 'Copy path' && [t, String(window.getSelection())]",
        )
        .await;
    assert!(
        copied[0] == "Copied"
            || copied == json!(["Selected — press Ctrl+C", worktree.display().to_string()]),
        "{copied}"
    );

    b.click("#open-editor").await;
    let message = b
        .wait(
            "the editor's notice",
            "const n = document.querySelector('#action-result'); return !n.hidden && n.textContent",
        )
        .await;
    assert_eq!(
        message,
        format!("Opened {} in {}", worktree.display(), stub.display())
    );
    env.wait_gui_stub("pagegui");
    assert_eq!(
        env.recorded("pagegui"),
        (vec![worktree.display().to_string()], worktree.clone())
    );
}
