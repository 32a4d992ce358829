//! What the tests of the real binary share: a temp HOME, ASIDE_HOME and repository with the
//! built-in agent on the fake model ([`Env`]), and `aside chat` in a pseudo-terminal ([`Pty`]).
#![allow(dead_code, clippy::unwrap_used, clippy::expect_used)]

use aside_testkit::procs::{host_pid, kill_9, processes_in};
use aside_testkit::repo::init_repo;
use aside_testkit::{Chunk, FakeModel, Reply};
use serde_json::Value;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::{Duration, Instant};

pub struct Env {
    _dir: tempfile::TempDir,
    pub root: PathBuf,
    pub repo: PathBuf,
    pub model: FakeModel,
    pub extra: Vec<(String, String)>,
}

/// A failed test must not leave hosts behind: whatever still runs is stopped.
impl Drop for Env {
    fn drop(&mut self) {
        let _ = self
            .cmd(&["stop", "--all"])
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .status();
    }
}

pub use aside_testkit::env::inherited;

impl Env {
    pub fn new() -> Env {
        Env::with_repo(
            "proj",
            &[
                ("README.md", "# proj\n"),
                ("src/lib.txt", "alpha\nbeta\ngamma\n"),
            ],
        )
    }

    /// [`Env::new`] rooted outside /tmp (under cargo's target directory): for what a private
    /// /tmp would hide, such as the sandbox's.
    pub fn outside_tmp() -> Env {
        Env::with_repo_at(
            tempfile::tempdir_in(env!("CARGO_TARGET_TMPDIR")).unwrap(),
            "proj",
            &[("README.md", "# proj\n")],
        )
    }

    /// An environment whose repository is `name` (under the temporary root) holding `files`.
    pub fn with_repo(name: &str, files: &[(&str, &str)]) -> Env {
        Env::with_repo_at(tempfile::tempdir().unwrap(), name, files)
    }

    fn with_repo_at(dir: tempfile::TempDir, name: &str, files: &[(&str, &str)]) -> Env {
        let root = dir.path().canonicalize().unwrap();
        let repo = root.join(name);
        std::fs::create_dir_all(root.join("home")).unwrap();
        init_repo(&repo, files);
        Env {
            _dir: dir,
            root,
            repo,
            model: FakeModel::start(),
            extra: vec![],
        }
    }

    pub fn vars(&self) -> Vec<(String, String)> {
        let home = self.root.join("home");
        let mut vars: Vec<(String, String)> = [
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
                self.root.join("aside-home").display().to_string(),
            ),
            ("ASIDE_PROVIDER", "openai".into()),
            ("ASIDE_BASE_URL", self.model.openai_base()),
            ("ASIDE_MODEL", "fake".into()),
            ("ASIDE_API_KEY", String::new()),
            ("ASIDE_MAX_RETRIES", "0".into()),
            ("OLLAMA_HOST", "127.0.0.1:1".into()),
            // Idle hosts stop soon, so tests leave no process behind (and follow-ups exercise
            // restarting a host).
            ("ASIDE_HOST_IDLE_SECS", "3".into()),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_string(), v))
        .collect();
        vars.extend(sandbox_fallback());
        vars.extend(self.extra.iter().cloned());
        vars
    }

    /// Sets `name` for every `aside` this environment runs (later settings win).
    pub fn set(&mut self, name: &str, value: &str) {
        self.extra.push((name.to_string(), value.to_string()));
    }

    /// `aside ARGS` in the repository, with this environment only: nothing of the caller's
    /// (its HOME, its keys, its ASIDE_* settings) reaches it, but for where programs are found.
    pub fn cmd(&self, args: &[&str]) -> Command {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_aside"));
        cmd.args(args)
            .current_dir(&self.repo)
            .env_clear()
            .envs(inherited())
            .envs(self.vars());
        cmd
    }

    pub fn run(&self, args: &[&str]) -> Output {
        self.cmd(args).output().unwrap()
    }

    /// Runs a command that must succeed; returns its stdout.
    pub fn ok(&self, args: &[&str]) -> String {
        let out = self.run(args);
        assert!(
            out.status.success(),
            "aside {args:?} failed:\n{}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).trim().to_string()
    }

    /// Runs a command that must fail; returns its stderr.
    pub fn fails(&self, args: &[&str]) -> String {
        let out = self.run(args);
        assert!(
            !out.status.success(),
            "aside {args:?} should have failed:\n{}",
            String::from_utf8_lossy(&out.stdout)
        );
        String::from_utf8_lossy(&out.stderr).trim().to_string()
    }

    pub fn new_session(&self, task: &str, extra: &[&str]) -> String {
        let mut args = vec!["new", task];
        args.extend_from_slice(extra);
        self.ok(&args)
    }

    pub fn new_session_from_file(&self, file: &Path) -> String {
        self.ok(&["new", "--task-file", file.to_str().unwrap()])
    }

    /// The ids of every session, newest first.
    pub fn session_ids(&self) -> Vec<String> {
        let list: Value = serde_json::from_str(&self.ok(&["ls", "--all", "--json"])).unwrap();
        list.as_array()
            .unwrap()
            .iter()
            .filter_map(|s| s["id"].as_str().map(str::to_string))
            .collect()
    }

    pub fn session(&self, id: &str) -> Value {
        let list: Value = serde_json::from_str(&self.ok(&["ls", "--all", "--json"])).unwrap();
        list.as_array()
            .unwrap()
            .iter()
            .find(|s| s["id"] == id)
            .cloned()
            .unwrap_or(Value::Null)
    }

    /// Waits (up to 30 s) until the session's status is `status`.
    pub fn wait_status(&self, id: &str, status: &str) -> Value {
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            let s = self.session(id);
            if s["status"] == status {
                return s;
            }
            if Instant::now() > deadline {
                let log = std::fs::read_to_string(
                    self.root
                        .join("aside-home/sessions")
                        .join(id)
                        .join("host.log"),
                )
                .unwrap_or_default();
                panic!("session {id} never reached {status}: {s}\nhost log:\n{log}");
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    pub fn events(&self, id: &str) -> Vec<Value> {
        let show: Value = serde_json::from_str(&self.ok(&["show", id, "--json"])).unwrap();
        show["events"].as_array().unwrap().clone()
    }

    /// Waits until an event matching `pred` is stored.
    pub fn wait_event(&self, id: &str, what: &str, pred: impl Fn(&Value) -> bool) {
        let deadline = Instant::now() + Duration::from_secs(30);
        while !self.events(id).iter().any(&pred) {
            assert!(
                Instant::now() < deadline,
                "no {what} event in {id}: {:?}",
                self.events(id)
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// Puts the directory of a third-party agent's launcher first on PATH, so its preset finds it.
    pub fn prepend_path(&mut self, launcher: &std::ffi::OsStr) {
        let dir = Path::new(launcher).parent().unwrap().to_path_buf();
        let path = format!(
            "{}:{}",
            dir.display(),
            std::env::var("PATH").unwrap_or_default()
        );
        self.extra.push(("PATH".to_string(), path));
    }

    /// Checks a session whose agent's own shell tool wrote hello.txt: it ran in the session's
    /// worktree, was checkpointed, and after `rm` nothing is left running there.
    pub fn check_wrote_hello(&self, id: &str, session: &Value, content: &str) {
        let worktree = PathBuf::from(session["worktree"].as_str().unwrap());
        let show = self.ok(&["show", id]);
        assert_eq!(
            std::fs::read_to_string(worktree.join("hello.txt")).unwrap_or_default(),
            content,
            "{show}"
        );
        assert_eq!(session["changed_files"], 1, "{session}");
        assert_eq!(
            self.ok(&["diff", id, "--stat"])
                .lines()
                .next()
                .unwrap()
                .trim(),
            "hello.txt | 1 +"
        );
        self.ok(&["rm", id, "--force"]);
        assert_eq!(
            processes_in(&worktree),
            Vec::<String>::new(),
            "nothing left running in the worktree"
        );
    }

    /// Mid-turn (the model never answers), SIGTERM of the host and then, after a resume,
    /// `kill -9` of the host leave no process of the session running, and the session is
    /// interrupted and resumable both times.
    pub fn check_stopping_leaves_nothing(&self, agent: &str) {
        let marker = format!("{agent}-stop-task");
        let hang = || Reply::stream(vec![Chunk::Text("Thinking".into()), Chunk::Hang]);
        self.model.push_for(&marker, [hang(), hang()]);
        let asked = |n: usize| {
            let deadline = Instant::now() + Duration::from_secs(60);
            while self
                .model
                .received()
                .iter()
                .filter(|r| r.body.to_string().contains(&marker))
                .count()
                < n
            {
                assert!(Instant::now() < deadline, "{agent} never asked the model");
                std::thread::sleep(Duration::from_millis(50));
            }
        };
        let id = self.new_session(&format!("{marker}: think"), &["--agent", agent]);
        asked(1);
        let s = self.session(&id);
        let worktree = PathBuf::from(s["worktree"].as_str().unwrap());
        assert!(
            !processes_in(&worktree).is_empty(),
            "{agent} runs in its worktree"
        );
        let host = host_pid(&id).expect("host process");
        assert!(Command::new("kill")
            .arg(host.to_string())
            .status()
            .unwrap()
            .success());
        // Readers may see it interrupted (no host) an instant before the host has stored why.
        let deadline = Instant::now() + Duration::from_secs(10);
        let s = loop {
            let s = self.wait_status(&id, "interrupted");
            if s["reason"].is_string() || Instant::now() > deadline {
                break s;
            }
            std::thread::sleep(Duration::from_millis(50));
        };
        assert!(
            s["reason"].as_str().unwrap_or_default().contains("SIGTERM"),
            "{s}"
        );
        wait_no_process_in(&worktree, &format!("{agent} after SIGTERM of its host"));

        self.ok(&["resume", &id]);
        asked(2);
        kill_9(host_pid(&id).expect("host process"));
        self.wait_status(&id, "interrupted");
        wait_no_process_in(&worktree, &format!("{agent} after kill -9 of its host"));
        self.ok(&["rm", &id, "--force"]);
    }

    /// Waits (up to 30 s) until `path` exists.
    pub fn wait_file(&self, path: &Path) {
        let deadline = Instant::now() + Duration::from_secs(30);
        while !path.exists() {
            assert!(
                Instant::now() < deadline,
                "{} never appeared",
                path.display()
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    pub fn config(&self, text: &str) {
        let dir = self.root.join("home/.config/aside");
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(dir.join("config.toml"), text).unwrap();
    }
}

/// `aside chat` in a real pseudo-terminal (allocated with pty-process): the line editor reads
/// keys as a terminal sends them.
pub struct Pty {
    pub child: std::process::Child,
    pty: std::sync::Arc<pty_process::blocking::Pty>,
    output: std::sync::Arc<std::sync::Mutex<String>>,
}

impl Pty {
    pub fn chat(env: &Env) -> Pty {
        Pty::chat_with(env, &[])
    }

    pub fn chat_with(env: &Env, args: &[&str]) -> Pty {
        let mut all = vec!["chat"];
        all.extend_from_slice(args);
        Pty::aside(env, &all)
    }

    /// `aside ARGS` in a terminal of its own, in the repository.
    pub fn aside(env: &Env, args: &[&str]) -> Pty {
        let (pty, pts) = pty_process::blocking::open().unwrap();
        pty.resize(pty_process::Size::new(40, 120)).unwrap();
        let child = pty_process::blocking::Command::new(env!("CARGO_BIN_EXE_aside"))
            .args(args)
            .current_dir(&env.repo)
            .env_clear()
            .envs(inherited())
            .envs(env.vars())
            .env("TERM", "xterm")
            .spawn(pts)
            .unwrap();
        let pty = std::sync::Arc::new(pty);
        let output = std::sync::Arc::new(std::sync::Mutex::new(String::new()));
        let (reader, sink) = (pty.clone(), output.clone());
        std::thread::spawn(move || {
            let mut buf = [0u8; 4096];
            // Ends with EIO once the chat and everything it started closed the terminal.
            while let Ok(n) = std::io::Read::read(&mut &*reader, &mut buf) {
                if n == 0 {
                    break;
                }
                sink.lock()
                    .unwrap()
                    .push_str(&String::from_utf8_lossy(&buf[..n]));
            }
        });
        Pty { child, pty, output }
    }

    /// Types `keys` as a person would: a key at a time.
    pub fn keys(&mut self, keys: &str) {
        use std::io::Write as _;
        for key in keys.chars() {
            (&*self.pty).write_all(key.to_string().as_bytes()).unwrap();
            std::thread::sleep(Duration::from_millis(3));
        }
    }

    /// Waits for the chat to hand its conversation on and exit (successfully); the id of the
    /// background session, from the whole line that names it.
    pub fn handed_off(&mut self) -> String {
        let text = self.wait_for("; follow: aside logs -f ");
        let status = self.child.wait().unwrap();
        assert!(status.success(), "{text}");
        text.split("handed the conversation to ")
            .nth(1)
            .unwrap()
            .chars()
            .take_while(|c| c.is_ascii_alphanumeric())
            .collect()
    }

    /// Sends `text` in one write, as a fast typist over ssh or a terminal without bracketed paste
    /// does: the keys reach the editor together.
    pub fn burst(&mut self, text: &str) {
        use std::io::Write as _;
        (&*self.pty).write_all(text.as_bytes()).unwrap();
    }

    /// Waits for `what`, then for the line editor's next prompt after it, so keys typed next
    /// reach the editor and not a terminal between two reads.
    pub fn wait_then_prompt(&self, what: &str) -> String {
        self.wait_for(what);
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            let text = self.output.lock().unwrap().clone();
            let after = text.rfind(what).map(|at| &text[at..]).unwrap_or_default();
            if after.contains("you> ") {
                std::thread::sleep(Duration::from_millis(100));
                return text;
            }
            assert!(
                Instant::now() < deadline,
                "no prompt after {what:?} in:\n{text}"
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// Waits for the chat's first prompt and for its line editor to read key by key (it
    /// switches the terminal to raw mode right after printing the prompt).
    pub fn wait_prompt(&self) {
        use std::os::fd::AsFd as _;
        self.wait_for("you> ");
        let deadline = Instant::now() + Duration::from_secs(30);
        while !aside_testkit::procs::terminal_is_raw(self.pty.as_fd()) {
            assert!(Instant::now() < deadline, "the terminal never went raw");
            std::thread::sleep(Duration::from_millis(5));
        }
    }

    pub fn wait_for(&self, what: &str) -> String {
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            let text = self.output.lock().unwrap().clone();
            if text.contains(what) {
                return text;
            }
            assert!(Instant::now() < deadline, "never saw {what:?} in:\n{text}");
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

/// Codex's config in `env`'s HOME (`~/.codex/config.toml`): the fake model as its provider,
/// over the Responses API. Its folder.
pub fn codex_config(env: &Env) -> PathBuf {
    let codex_home = env.root.join("home/.codex");
    std::fs::create_dir_all(&codex_home).unwrap();
    std::fs::write(
        codex_home.join("config.toml"),
        format!(
            // aside's worktree is the isolation; Codex's own sandbox would need bubblewrap.
            "model = \"fake-model\"\nmodel_provider = \"fake\"\nsandbox_mode = \"danger-full-access\"\n\n[model_providers.fake]\nname = \"fake\"\nbase_url = \"{}\"\nwire_api = \"responses\"\n",
            env.model.openai_base()
        ),
    )
    .unwrap();
    codex_home
}

/// A test environment where the `codex` preset runs the real codex-acp `codex`, offline against
/// the fake model.
pub fn codex_env(codex: &std::ffi::OsStr) -> Env {
    let mut env = Env::new();
    env.prepend_path(codex);
    let codex_home = codex_config(&env);
    env.extra
        .push(("CODEX_HOME".to_string(), codex_home.display().to_string()));
    env
}

/// Waits (up to 10 s) until no process works in `dir`.
pub fn wait_no_process_in(dir: &Path, what: &str) {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let left = processes_in(dir);
        if left.is_empty() {
            return;
        }
        assert!(Instant::now() < deadline, "{what}: still running: {left:?}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// `aside ui` on a free port, in an [`Env`]'s environment.
pub struct Ui {
    server: std::process::Child,
    /// The URL it printed, with its token.
    pub url: String,
    /// `http://127.0.0.1:PORT`.
    pub base: String,
    /// Its token.
    pub token: String,
    /// The Agent Host Protocol endpoint it printed, with its token.
    pub ahp: String,
}

impl Drop for Ui {
    fn drop(&mut self) {
        let _ = self.server.kill();
        let _ = self.server.wait();
    }
}

impl Ui {
    pub fn start(env: &Env) -> Ui {
        Ui::start_on(env, 0)
    }

    /// `aside ui --port PORT`.
    pub fn start_on(env: &Env, port: u16) -> Ui {
        use std::io::BufRead as _;
        let mut server = env
            .cmd(&["ui", "--port", &port.to_string()])
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::null())
            .spawn()
            .unwrap();
        let (mut line, mut ahp) = (String::new(), String::new());
        let mut out = std::io::BufReader::new(server.stdout.take().unwrap());
        out.read_line(&mut line).unwrap();
        out.read_line(&mut ahp).unwrap();
        let url = line.trim().to_string();
        let base = url.split("/?").next().unwrap().to_string();
        let token = url.split("token=").nth(1).unwrap().to_string();
        Ui {
            server,
            url,
            base,
            token,
            ahp: ahp.trim().to_string(),
        }
    }
}

/// On a machine where bubblewrap does not work, the built-in agent's commands run unsandboxed
/// (said in their output) instead of being refused, so the tests of everything else still run;
/// where it works (`.ci/run` installs it) every test's commands run in the sandbox.
pub fn sandbox_fallback() -> Option<(String, String)> {
    static WORKS: std::sync::OnceLock<bool> = std::sync::OnceLock::new();
    let works = *WORKS.get_or_init(|| {
        Command::new("bwrap")
            .args(["--ro-bind", "/", "/", "--unshare-net", "true"])
            .output()
            .is_ok_and(|o| o.status.success())
    });
    (!works).then(|| ("ASIDE_SANDBOX_UNAVAILABLE".to_string(), "run".to_string()))
}

/// A tmux server of the test's own, for a terminal UI driven by keys.
pub struct Tmux {
    socket: String,
}

impl Tmux {
    /// Starts `command` (run by sh, with `vars` set) in a 120×40 window.
    pub fn start(vars: &[(String, String)], command: &str) -> Tmux {
        Tmux::start_in(vars, Path::new("/"), command)
    }

    /// Starts `command` in directory `dir`.
    pub fn start_in(vars: &[(String, String)], dir: &Path, command: &str) -> Tmux {
        let socket = format!("aside-test-{}-{}", std::process::id(), rand_suffix());
        // Only these variables (and the terminal tmux gives its window): nothing of the
        // caller's.
        let env: Vec<String> = inherited()
            .iter()
            .chain(vars)
            .map(|(k, v)| format!("{k}='{}'", v.replace('\'', "'\\''")))
            .collect();
        let line = format!(
            "env -i TERM=\"$TERM\" {} {command}; echo EXITED=$?; sleep 60",
            env.join(" ")
        );
        let ok = Command::new("tmux")
            .args(["-L", &socket, "new-session", "-d", "-x", "120", "-y", "40"])
            .arg("-c")
            .arg(dir)
            .arg(&line)
            .status()
            .unwrap()
            .success();
        assert!(ok, "tmux did not start");
        Tmux { socket }
    }

    pub fn screen(&self) -> String {
        let out = Command::new("tmux")
            .args(["-L", &self.socket, "capture-pane", "-p"])
            .output()
            .unwrap();
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    pub fn wait_for(&self, what: &str) -> String {
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            let screen = self.screen();
            if screen.contains(what) {
                return screen;
            }
            assert!(
                Instant::now() < deadline,
                "never saw {what:?} on:\n{screen}"
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// Waits until `busy` has been off the screen for a whole second: a terminal UI that takes
    /// typed keys while it works may queue them instead of running them.
    pub fn wait_quiet(&self, busy: &str) {
        let deadline = Instant::now() + Duration::from_secs(30);
        let mut quiet_since = Instant::now();
        loop {
            let screen = self.screen();
            if screen.contains(busy) {
                quiet_since = Instant::now();
            } else if quiet_since.elapsed() >= Duration::from_secs(1) {
                return;
            }
            assert!(
                Instant::now() < deadline,
                "{busy:?} stayed on the screen:\n{screen}"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    pub fn keys(&self, keys: &[&str]) {
        for key in keys {
            Command::new("tmux")
                .args(["-L", &self.socket, "send-keys", key])
                .status()
                .unwrap();
            std::thread::sleep(Duration::from_millis(300));
        }
    }
}

impl Drop for Tmux {
    fn drop(&mut self) {
        let _ = Command::new("tmux")
            .args(["-L", &self.socket, "kill-server"])
            .status();
    }
}

fn rand_suffix() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .subsec_nanos()
        .into()
}

/// Whether tmux is installed; a test that needs it skips without it, saying so, unless the run
/// requires every tool (`ASIDE_REQUIRE_BROWSER`, as `.ci/run` sets it), where it fails.
pub fn tmux_available() -> bool {
    if Command::new("tmux").arg("-V").output().is_ok() {
        return true;
    }
    assert!(
        std::env::var_os("ASIDE_REQUIRE_BROWSER").is_none(),
        "tmux is needed for this test: apt-get install tmux (.ci/run does)"
    );
    eprintln!("skipped: tmux is not installed (apt-get install tmux; .ci/run does)");
    false
}

/// An [`Env`] whose PATH has the real Copilot CLI (`ASIDE_TEST_COPILOT`), offline, on the fake
/// model.
pub fn copilot_env(copilot: &std::ffi::OsStr) -> Env {
    let mut env = Env::new();
    env.prepend_path(copilot);
    let base = env.model.openai_base();
    env.extra.extend([
        ("COPILOT_OFFLINE".to_string(), "true".to_string()),
        ("COPILOT_PROVIDER_BASE_URL".to_string(), base),
        (
            "COPILOT_PROVIDER_API_KEY".to_string(),
            "test-key".to_string(),
        ),
        ("COPILOT_MODEL".to_string(), "fake-model".to_string()),
    ]);
    env
}

/// Whether `node` runs here (the test MCP server is a node script).
pub fn node_available() -> bool {
    Command::new("node").arg("--version").output().is_ok()
}

/// The test MCP server (`tests/fixtures/mcp-server.js`) over stdio: its `[[mcp_servers]]` entry
/// named `name`, marking what it receives in `marks`.
pub fn mcp_stdio_config(name: &str, marks: &Path) -> String {
    format!(
        "[[mcp_servers]]\nname = \"{name}\"\ncommand = [\"node\", \"{}\"]\nenv = {{ MARK_FILE = \"{}\" }}\n\n",
        mcp_script().display(),
        marks.display()
    )
}

fn mcp_script() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/mcp-server.js")
}

/// The test MCP server serving streamable HTTP on a free port; killed on drop.
pub struct McpHttp {
    child: std::process::Child,
    /// Its endpoint.
    pub url: String,
    /// Where it marks each method (and call) it receives.
    pub marks: PathBuf,
}

impl McpHttp {
    pub fn start(dir: &Path) -> McpHttp {
        let marks = dir.join("mcp-http-marks.txt");
        let port_file = dir.join("mcp-http-port");
        let child = Command::new("node")
            .arg(mcp_script())
            .arg("--http")
            .arg(&port_file)
            .env("MARK_FILE", &marks)
            .spawn()
            .unwrap();
        let mut server = McpHttp {
            child,
            url: String::new(),
            marks,
        };
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            if let Ok(port) = std::fs::read_to_string(&port_file) {
                if !port.is_empty() {
                    server.url = format!("http://127.0.0.1:{port}/mcp");
                    return server;
                }
            }
            assert!(
                Instant::now() < deadline,
                "the HTTP MCP server did not start"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// Its `[[mcp_servers]]` entry named `name`, sending the header `X-Test: yes`.
    pub fn config(&self, name: &str) -> String {
        format!(
            "[[mcp_servers]]\nname = \"{name}\"\nurl = \"{}\"\nheaders = {{ X-Test = \"yes\" }}\n\n",
            self.url
        )
    }

    pub fn marked(&self) -> String {
        std::fs::read_to_string(&self.marks).unwrap_or_default()
    }
}

impl Drop for McpHttp {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// An [`Env`] whose PATH has claude-agent-acp (`ASIDE_TEST_CLAUDE`), on the fake model.
pub fn claude_env(claude: &std::ffi::OsStr) -> Env {
    let mut env = Env::new();
    env.prepend_path(claude);
    let url = env.model.url.clone();
    env.extra.extend([
        ("ANTHROPIC_BASE_URL".to_string(), url),
        ("ANTHROPIC_API_KEY".to_string(), "sk-ant-test".to_string()),
        // Claude Code refuses to skip permission checks as root unless told it is sandboxed;
        // here aside's worktree is the sandbox.
        ("IS_SANDBOX".to_string(), "1".to_string()),
    ]);
    env
}

/// Appends `turns` turns (prompt "old turn N.", answer "answer N.", turn end) to session `id`'s
/// log under the state directory `aside_home`, shaped like the events its host stored (its first
/// turn is the model); the log's last seq after them.
pub fn append_old_turns(aside_home: &Path, id: &str, turns: usize) -> u64 {
    let log = aside_store::EventLog::open(
        &aside_store::Layout::new(aside_home),
        &aside_core::SessionId(id.to_string()),
    )
    .unwrap();
    let stored = log.since(0).unwrap();
    let like = |kind: &str| stored.iter().find(|e| e.kind == kind).unwrap().data.clone();
    let (mut prompt, mut chunk, end) = (
        like("prompt"),
        like("agent_message_chunk"),
        like("turn_end"),
    );
    for turn in 0..turns {
        prompt["text"] = Value::String(format!("old turn {turn}."));
        chunk["content"]["text"] = Value::String(format!("answer {turn}."));
        log.append("prompt", &prompt).unwrap();
        log.append("agent_message_chunk", &chunk).unwrap();
        log.append("turn_end", &end).unwrap();
    }
    log.last_seq().unwrap()
}

/// Waits (up to 10 s) until `file` holds a line with `what`; its whole text.
pub fn wait_line(file: &std::path::Path, what: &str) -> String {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    loop {
        let text = std::fs::read_to_string(file).unwrap_or_default();
        if text.lines().any(|l| l.contains(what)) {
            return text;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "no line with {what:?} in {file:?}:\n{text}"
        );
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
}

/// A `[notify] command` script for `env` that appends `line` (shell words: `$ASIDE_SESSION_…`)
/// to a file: the script's path and the file's.
pub fn notify_hook(env: &Env, line: &str) -> (PathBuf, PathBuf) {
    use std::os::unix::fs::PermissionsExt as _;
    let told = env.root.join("told.txt");
    let hook = env.root.join("hook.sh");
    std::fs::write(
        &hook,
        format!("#!/bin/sh\necho \"{line}\" >> '{}'\n", told.display()),
    )
    .unwrap();
    std::fs::set_permissions(&hook, std::fs::Permissions::from_mode(0o755)).unwrap();
    (hook, told)
}
