//! The OS sandbox the built-in agent's commands run in (`[sandbox]`): bubblewrap on Linux,
//! the filesystem read-only but for the session's worktree, the git directory its commits need
//! (its hooks and config kept read-only) and the caches the user lists; a private /tmp; the
//! secrets in HOME and aside's own state not readable; no network unless allowed.
//!
//! The host works out a session's [`Policy`] and hands it to the agent (`ASIDE_SANDBOX`, JSON);
//! the agent wraps each command with [`Policy::wrap`].

use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};

pub mod agents;
pub mod net;

/// The variable the host hands a session's [`Policy`] to the built-in agent in (JSON).
pub const ENV: &str = "ASIDE_SANDBOX";

/// `[sandbox]` in config.toml.
#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct SandboxConfig {
    /// Whether the built-in agent's commands run in the sandbox (default true).
    #[serde(default = "yes")]
    pub enabled: bool,
    /// `none` (default), `all`, or the hosts commands may reach (`["github.com",
    /// "*.npmjs.org", "localhost:8080"]`).
    #[serde(default)]
    pub network: Option<toml::Value>,
    /// More paths commands may write (a build's caches: `~/.cargo/registry`, `~/.npm`).
    #[serde(default)]
    pub writable: Vec<String>,
    /// Where the sandbox cannot work on this machine: `ask` (default: each command waits for
    /// the user's yes, whatever the approval policy), `refuse` (not run, the agent told why) or
    /// `run` (unsandboxed, said in each command's output).
    #[serde(default)]
    pub unavailable: Option<String>,
    /// The most processes a command (or a sandboxed agent) may have running at once, counted
    /// as the kernel counts them: all of the user's (default 16384).
    #[serde(default)]
    pub processes: Option<u64>,
    /// The most memory a command of the built-in agent may map (`"2G"`, `"512M"`; none by
    /// default).
    #[serde(default)]
    pub memory: Option<String>,
}

/// `[sandbox]` of a repository's `.aside.toml`: the caches its builds write and the hosts
/// they reach. It only ever narrows the user's own `[sandbox]`: what the user's config does
/// not allow stays disallowed (and is said).
#[derive(Debug, Clone, Default, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct RepoSandbox {
    /// Paths its builds write, among the user's `writable`.
    #[serde(default)]
    pub writable: Option<Vec<String>>,
    /// `none`, `all` or the hosts it needs, among those the user's config allows.
    #[serde(default)]
    pub network: Option<toml::Value>,
}

/// The sandbox of sessions in `repo`: the user's `[sandbox]` narrowed by the repository's
/// `.aside.toml`, and what the repository asked for that the user's config does not allow.
pub fn for_repo(config: &crate::Config, repo: &Path) -> (SandboxConfig, Vec<String>) {
    let home = std::env::var_os("HOME")
        .map(PathBuf::from)
        .unwrap_or_default();
    match crate::config::RepoConfig::load(repo) {
        Ok(r) => config.sandbox.narrowed_by(&r.sandbox, &home),
        Err(_) => (config.sandbox.clone(), Vec::new()),
    }
}

/// What a sandbox's network is.
#[derive(Debug, Clone, PartialEq)]
pub enum Network {
    /// None at all.
    None,
    /// Everything the machine reaches.
    All,
    /// These hosts (`host`, `*.domain`, `host:port`) through aside's proxy.
    Only(Vec<String>),
}

fn yes() -> bool {
    true
}

impl Default for SandboxConfig {
    fn default() -> SandboxConfig {
        SandboxConfig {
            enabled: true,
            network: None,
            writable: Vec::new(),
            unavailable: None,
            processes: None,
            memory: None,
        }
    }
}

impl SandboxConfig {
    /// What deserializing cannot tell.
    pub fn check(&self) -> Result<(), String> {
        self.network()?;
        match self.unavailable.as_deref() {
            None | Some("ask" | "refuse" | "run") => {}
            Some(other) => {
                return Err(format!(
                    "sandbox.unavailable is `{other}`: use ask, refuse or run"
                ))
            }
        }
        self.memory()?;
        for path in &self.writable {
            if !(path.starts_with('/') || path.starts_with("~/")) {
                return Err(format!(
                    "sandbox.writable has `{path}`: give absolute paths (or ~/…)"
                ));
            }
        }
        Ok(())
    }

    /// What commands reach of the network.
    pub fn network(&self) -> Result<Network, String> {
        let wrong = |what: &dyn std::fmt::Display| {
            format!("sandbox.network is `{what}`: use \"none\", \"all\" or a list of hosts ([\"github.com\", \"*.npmjs.org\", \"localhost:8080\"])")
        };
        match &self.network {
            None => Ok(Network::None),
            Some(toml::Value::String(s)) if s == "none" => Ok(Network::None),
            Some(toml::Value::String(s)) if s == "all" => Ok(Network::All),
            Some(toml::Value::Array(entries)) => {
                let mut hosts = Vec::new();
                for entry in entries {
                    let Some(entry) = entry.as_str() else {
                        return Err(wrong(entry));
                    };
                    net::check_entry(entry)?;
                    hosts.push(entry.to_string());
                }
                Ok(if hosts.is_empty() {
                    Network::None
                } else {
                    Network::Only(hosts)
                })
            }
            Some(other) => Err(wrong(other)),
        }
    }

    /// This config narrowed by a repository's `[sandbox]`: its writable paths that lie inside
    /// the user's, its hosts that the user's network covers. What it asked beyond those is
    /// returned in words.
    pub fn narrowed_by(&self, repo: &RepoSandbox, home: &Path) -> (SandboxConfig, Vec<String>) {
        let mut out = self.clone();
        let mut beyond = Vec::new();
        let expand = |p: &str| match p.strip_prefix("~/") {
            Some(rest) => home.join(rest),
            None => PathBuf::from(p),
        };
        if let Some(wanted) = &repo.writable {
            // Compared as the paths they really are: no `..`, symlinks resolved where they
            // exist (a cloned repository must not reach past the user's paths by spelling).
            let real = |p: &Path| std::fs::canonicalize(p).unwrap_or_else(|_| p.to_path_buf());
            let mine: Vec<PathBuf> = self.writable.iter().map(|m| real(&expand(m))).collect();
            out.writable = wanted
                .iter()
                .filter_map(|w| {
                    let path = expand(w);
                    let plain = (w.starts_with('/') || w.starts_with("~/"))
                        && !path
                            .components()
                            .any(|c| c == std::path::Component::ParentDir);
                    let path = real(&path);
                    let inside = plain && mine.iter().any(|m| path.starts_with(m));
                    if !inside {
                        beyond.push(format!("the repository's .aside.toml asks to write {w}: not among [sandbox] writable in your config, so it stays read-only (add it there to allow it)"));
                    }
                    inside.then(|| path.display().to_string())
                })
                .collect();
        }
        if repo.network.is_some() {
            let asked = SandboxConfig {
                network: repo.network.clone(),
                ..SandboxConfig::default()
            }
            .network();
            let mine = self.network().unwrap_or(Network::None);
            let narrowed = match (asked, mine) {
                (Err(e), mine) => {
                    beyond.push(format!("the repository's .aside.toml: {e}"));
                    mine
                }
                (Ok(Network::None), _) => Network::None,
                (Ok(Network::All), mine) => {
                    if mine != Network::All {
                        beyond.push("the repository's .aside.toml asks for the whole network: your config does not allow it".to_string());
                    }
                    mine
                }
                (Ok(Network::Only(hosts)), Network::All) => Network::Only(hosts),
                (Ok(Network::Only(hosts)), mine) => {
                    let allowed: &[String] = match &mine {
                        Network::Only(m) => m,
                        _ => &[],
                    };
                    let kept: Vec<String> = hosts
                        .into_iter()
                        .filter(|h| {
                            let ok = allowed.iter().any(|a| net::covers(a, h));
                            if !ok {
                                beyond.push(format!("the repository's .aside.toml asks to reach {h}: not in [sandbox] network in your config, so it stays blocked"));
                            }
                            ok
                        })
                        .collect();
                    if kept.is_empty() {
                        Network::None
                    } else {
                        Network::Only(kept)
                    }
                }
            };
            out.network = Some(match narrowed {
                Network::None => toml::Value::String("none".into()),
                Network::All => toml::Value::String("all".into()),
                Network::Only(hosts) => {
                    toml::Value::Array(hosts.into_iter().map(toml::Value::String).collect())
                }
            });
        }
        (out, beyond)
    }

    /// `memory` in bytes.
    pub fn memory(&self) -> Result<Option<u64>, String> {
        let Some(text) = &self.memory else {
            return Ok(None);
        };
        let t = text.trim();
        let (digits, unit) = t.split_at(t.find(|c: char| !c.is_ascii_digit()).unwrap_or(t.len()));
        let scale: u64 = match unit.trim().to_ascii_uppercase().as_str() {
            "" => 1,
            "K" | "KB" | "KIB" => 1 << 10,
            "M" | "MB" | "MIB" => 1 << 20,
            "G" | "GB" | "GIB" => 1 << 30,
            _ => 0,
        };
        match digits.parse::<u64>() {
            Ok(n) if scale > 0 && n > 0 => Ok(Some(n.saturating_mul(scale))),
            _ => Err(format!(
                "sandbox.memory is `{text}`: give a size such as \"2G\" or \"512M\""
            )),
        }
    }

    /// What an unusable sandbox means for commands: `ask`, `refuse` or `run`
    /// (`ASIDE_SANDBOX_UNAVAILABLE` overrides the file).
    pub fn when_unavailable(&self) -> String {
        let chosen = std::env::var("ASIDE_SANDBOX_UNAVAILABLE")
            .ok()
            .filter(|s| matches!(s.as_str(), "ask" | "refuse" | "run"));
        chosen
            .or_else(|| self.unavailable.clone())
            .unwrap_or_else(|| "ask".to_string())
    }
}

/// What one session's commands (or its whole agent) may do.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Policy {
    /// Directories commands may write (the worktree first).
    pub writable: Vec<PathBuf>,
    /// Paths inside those kept read-only (the git directory's hooks and config).
    pub read_only: Vec<PathBuf>,
    /// Paths readable although the private /tmp would hide them (an agent's own program).
    #[serde(default)]
    pub readable: Vec<PathBuf>,
    /// Paths commands cannot read (an empty directory or file in their place).
    pub hidden: Vec<PathBuf>,
    /// Whether commands reach the whole network.
    pub network: bool,
    /// When they do not: the hosts they reach through the host's proxy (`host`, `*.domain`,
    /// `host:port`; loopback ones as themselves); none when empty.
    #[serde(default)]
    pub allow: Vec<String>,
    /// The host's proxy socket, when `allow` has hosts.
    #[serde(default)]
    pub proxy: Option<PathBuf>,
    /// Whether the user listed hosts for commands (`[sandbox] network = [...]`), beyond what a
    /// whole agent needs for its model.
    #[serde(default)]
    pub listed: bool,
    /// When the sandbox does not work here: `ask` the user for each command, `refuse`, or
    /// `run` unsandboxed.
    pub unavailable: String,
    /// The most processes at once (`RLIMIT_NPROC`).
    #[serde(default)]
    pub processes: Option<u64>,
    /// The most memory a command maps (`RLIMIT_AS`), in bytes.
    #[serde(default)]
    pub memory: Option<u64>,
}

/// What a sandboxed third-party agent needs beyond a command's sandbox.
#[derive(Debug, Clone, Default)]
pub struct AgentNeeds {
    /// Its own state (`~/.codex`, `~/.copilot`, …): writable.
    pub state: Vec<PathBuf>,
    /// Its model API and what else it must reach (`host`, `host:port`).
    pub hosts: Vec<String>,
    /// Its program's files (read-only, even under /tmp).
    pub program: Vec<PathBuf>,
    /// Files in its state that make things run later, outside the sandbox (hooks, MCP servers,
    /// notify commands): kept read-only.
    pub settings: Vec<PathBuf>,
}

/// Variables that point at ways out of the sandbox (agent and bus sockets).
const UNSET: &[&str] = &[
    "SSH_AUTH_SOCK",
    "GPG_AGENT_INFO",
    "DBUS_SESSION_BUS_ADDRESS",
    "DOCKER_HOST",
];

/// Processes at once when `[sandbox] processes` does not say.
const PROCESSES: u64 = 16384;

/// HOME's secrets no command needs: keys, cloud and forge credentials.
const SECRETS: &[&str] = &[
    ".ssh",
    ".aws",
    ".azure",
    ".gnupg",
    ".config/gh",
    ".config/gcloud",
    ".docker",
    ".kube",
    ".netrc",
    ".git-credentials",
    ".npmrc",
    ".pypirc",
    ".cargo/credentials.toml",
    ".config/aside",
    ".copilot",
    ".codex",
    ".claude",
];

impl Policy {
    /// The policy for a session working in `worktree` (whose git directory is `git_dir`), by
    /// `config`, with aside's state at `aside_home` and the user's HOME at `home`.
    pub fn for_session(
        config: &SandboxConfig,
        worktree: &Path,
        git_dir: Option<&Path>,
        home: &Path,
        aside_home: &Path,
    ) -> Policy {
        let expand = |p: &str| match p.strip_prefix("~/") {
            Some(rest) => home.join(rest),
            None => PathBuf::from(p),
        };
        let mut writable = vec![worktree.to_path_buf()];
        let mut read_only = Vec::new();
        let mut hidden: Vec<PathBuf> = SECRETS.iter().map(|s| home.join(s)).collect();
        hidden.push(aside_home.to_path_buf());
        // Sockets that would carry a command out of the sandbox (a read-only mount does not
        // stop a connect): the user's session bus, ssh and gpg agents, systemd --user (all in
        // the runtime directory), container engines, the system bus.
        hidden.push(
            std::env::var_os("XDG_RUNTIME_DIR")
                .map(PathBuf::from)
                .unwrap_or_else(|| {
                    // SAFETY: getuid cannot fail.
                    PathBuf::from(format!("/run/user/{}", unsafe { libc::getuid() }))
                }),
        );
        hidden.extend(
            [
                "/run/docker.sock",
                "/var/run/docker.sock",
                "/run/podman",
                "/run/containerd",
                "/run/dbus/system_bus_socket",
            ]
            .map(PathBuf::from),
        );
        hidden.extend(env_files(home));
        if let Some(git) = git_dir {
            writable.push(git.to_path_buf());
            read_only.extend([git.join("hooks"), git.join("config")]);
            // The repository's own checkout keeps its secrets too (the worktree has its own).
            if let Some(checkout) = git.parent().filter(|c| *c != worktree) {
                hidden.extend(env_files(checkout));
            }
        }
        writable.extend(config.writable.iter().map(|p| expand(p)));
        // As the paths they really are: `wrap` binds one only while it still is (a symlink a
        // command puts in its place later is not followed out).
        for path in &mut writable {
            if let Ok(real) = std::fs::canonicalize(&*path) {
                *path = real;
            }
        }
        // Compared as the paths they really are, like the writable ones.
        for path in &mut hidden {
            if let Ok(real) = std::fs::canonicalize(&*path) {
                *path = real;
            }
        }
        // What the session needs is never hidden (a worktree under aside's home, say).
        hidden.retain(|h| !writable.iter().any(|w| w.starts_with(h)));
        let (network, allow) = match config.network() {
            Ok(Network::All) => (true, Vec::new()),
            Ok(Network::Only(hosts)) => (false, hosts),
            _ => (false, Vec::new()),
        };
        Policy {
            writable,
            read_only,
            readable: Vec::new(),
            hidden,
            network,
            listed: !allow.is_empty(),
            allow,
            proxy: None,
            unavailable: config.when_unavailable(),
            processes: Some(config.processes.unwrap_or(PROCESSES)),
            memory: config.memory().ok().flatten(),
        }
    }

    /// The policy for a whole third-party agent: a command's, with its own state writable (and
    /// readable: it holds its login), its model API reachable and no memory cap (agents on
    /// Node reserve far more address space than they use).
    pub fn for_agent(mut self, needs: &AgentNeeds) -> Policy {
        // As the paths they really are (a state directory in a dotfiles repository is bound
        // where it lives): `wrap` binds only paths that still are.
        let state: Vec<PathBuf> = needs
            .state
            .iter()
            .map(|p| std::fs::canonicalize(p).unwrap_or_else(|_| p.clone()))
            .collect();
        self.hidden.retain(|h| {
            !state
                .iter()
                .chain(&needs.state)
                .any(|s| s.starts_with(h) || h.starts_with(s))
        });
        self.writable.extend(state);
        if !self.network {
            for host in &needs.hosts {
                if !self.allow.contains(host) {
                    self.allow.push(host.clone());
                }
            }
        }
        self.readable.extend(needs.program.iter().cloned());
        self.read_only.extend(needs.settings.iter().cloned());
        self.memory = None;
        self
    }

    /// Whether commands need the host's proxy (hosts listed, the network not all theirs).
    pub fn needs_proxy(&self) -> bool {
        !self.network && !self.allow.is_empty()
    }

    /// Sets `cmd`'s process and memory limits (inherited by the sandbox and all in it).
    pub fn limit(&self, cmd: &mut std::process::Command) {
        use std::os::unix::process::CommandExt as _;
        let (processes, memory) = (self.processes, self.memory);
        // SAFETY: setrlimit is async-signal-safe; nothing else runs between fork and exec.
        unsafe {
            cmd.pre_exec(move || {
                let set = |what, n: u64| {
                    let limit = libc::rlimit {
                        rlim_cur: n as libc::rlim_t,
                        rlim_max: n as libc::rlim_t,
                    };
                    libc::setrlimit(what, &limit);
                };
                if let Some(n) = processes {
                    let mut now = libc::rlimit {
                        rlim_cur: 0,
                        rlim_max: 0,
                    };
                    // Never raised above what the user already has.
                    if libc::getrlimit(libc::RLIMIT_NPROC, &mut now) == 0 && now.rlim_cur > n {
                        set(libc::RLIMIT_NPROC, n);
                    }
                }
                if let Some(n) = memory {
                    set(libc::RLIMIT_AS, n);
                }
                Ok(())
            });
        }
    }

    /// `argv` run in `cwd` inside the sandbox: the bubblewrap command line (`bwrap` is the
    /// program to run it with). With hosts to reach, the command runs under this program's
    /// `sandbox-net` bridge.
    pub fn wrap(&self, bwrap: &str, cwd: &Path, argv: &[String]) -> Vec<String> {
        let mut args: Vec<String> = vec![
            bwrap.to_string(),
            "--die-with-parent".into(),
            "--unshare-pid".into(),
            "--unshare-ipc".into(),
            "--unshare-uts".into(),
            "--ro-bind".into(),
            "/".into(),
            "/".into(),
            "--dev".into(),
            "/dev".into(),
            "--proc".into(),
            "/proc".into(),
            "--tmpfs".into(),
            "/tmp".into(),
        ];
        if !self.network {
            args.push("--unshare-net".into());
        }
        let path = |p: &Path| p.display().to_string();
        let helper = self
            .needs_proxy()
            .then(|| std::env::current_exe().ok())
            .flatten();
        for p in self
            .readable
            .iter()
            .chain(helper.iter())
            .filter(|p| p.exists())
        {
            args.extend(["--ro-bind".into(), path(p), path(p)]);
        }
        // Only paths that are still what they were: no symlink followed out of them.
        let unchanged = |p: &&PathBuf| std::fs::canonicalize(p).is_ok_and(|real| real == **p);
        for dir in self.writable.iter().filter(unchanged) {
            args.extend(["--bind".into(), path(dir), path(dir)]);
        }
        for p in self.read_only.iter().filter(|p| p.exists()) {
            args.extend(["--ro-bind".into(), path(p), path(p)]);
        }
        for p in self.hidden.iter() {
            match std::fs::symlink_metadata(p) {
                Ok(m) if m.is_dir() => args.extend(["--tmpfs".into(), path(p)]),
                Ok(_) => args.extend(["--ro-bind".into(), "/dev/null".into(), path(p)]),
                Err(_) => {}
            }
        }
        let bridge = match (&self.proxy, helper) {
            (Some(socket), Some(helper)) => {
                args.extend(["--bind".into(), path(socket), net::SOCKET_INSIDE.into()]);
                let mut bridge = vec![
                    path(&helper),
                    net::SUBCOMMAND.into(),
                    "--socket".into(),
                    net::SOCKET_INSIDE.into(),
                ];
                for port in net::forwarded_ports(&self.allow) {
                    bridge.extend(["--forward".into(), port.to_string()]);
                }
                if net::needs_proxy(&self.allow) {
                    bridge.push("--proxy".into());
                }
                bridge.push("--".into());
                bridge
            }
            _ => Vec::new(),
        };
        // Nor are they named to it.
        for var in UNSET {
            args.extend(["--unsetenv".into(), var.to_string()]);
        }
        args.extend(["--chdir".into(), path(cwd), "--".into()]);
        args.extend(bridge);
        args.extend(argv.iter().cloned());
        args
    }

    /// What the sandbox allows, in words, for a command that failed (the agent reads it).
    pub fn explain(&self) -> String {
        let list = |ps: &[PathBuf]| {
            ps.iter()
                .map(|p| p.display().to_string())
                .collect::<Vec<_>>()
                .join(", ")
        };
        format!(
            "[aside: this command ran in a sandbox: only {} (and a private /tmp) can be written; {} cannot be read; {}]",
            list(&self.writable),
            list(
                &self
                    .hidden
                    .iter()
                    .filter(|p| p.exists())
                    .cloned()
                    .collect::<Vec<_>>()
            ),
            self.network_in_words()
        )
    }

    /// What the network is, in words.
    fn network_in_words(&self) -> String {
        if self.network {
            "the network is reachable".to_string()
        } else if self.allow.is_empty() {
            "there is no network (sandbox.network in the user's config allows hosts)".to_string()
        } else {
            format!(
                "the network reaches only {} (through a proxy: HTTPS_PROXY is set); other hosts are blocked (sandbox.network in the user's config lists them)",
                self.allow.join(", ")
            )
        }
    }
}

/// The `.env` files directly in `dir` (`.env`, `.env.local`, …).
fn env_files(dir: &Path) -> Vec<PathBuf> {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return Vec::new();
    };
    entries
        .flatten()
        .filter(|e| {
            let name = e.file_name();
            let name = name.to_string_lossy();
            name == ".env" || name.starts_with(".env.")
        })
        .map(|e| e.path())
        .collect()
}

/// Whether a session of `agent` runs in the sandbox, by the user's `config` and the session's
/// own `choice` (`aside new --sandbox` / `--no-sandbox`): the built-in agent's commands unless
/// `[sandbox] enabled = false`; a third-party agent as a whole when `[agents.NAME] sandbox =
/// true`.
pub fn wanted(config: &crate::Config, agent: &str, choice: Option<bool>) -> bool {
    choice.unwrap_or_else(|| {
        if crate::agents::uses_builtin(agent, config) {
            config.sandbox.enabled
        } else {
            config
                .agents
                .get(agent)
                .and_then(|a| a.sandbox)
                .unwrap_or(false)
        }
    })
}

/// A session's sandbox in a line, as `show` and the views say it, by the user's `config`
/// (narrowed by the `.aside.toml` of `repo`) and the session's own `choice`.
pub fn describe(config: &crate::Config, agent: &str, choice: Option<bool>, repo: &Path) -> String {
    let builtin = crate::agents::uses_builtin(agent, config);
    if !wanted(config, agent, choice) {
        return match (builtin, choice) {
            (true, Some(false)) => "off: commands run unconfined (--no-sandbox)".to_string(),
            (true, _) => "off: commands run unconfined ([sandbox] enabled = false)".to_string(),
            (false, _) => format!(
                "{agent} runs its commands itself (not confined by aside: [agents.{agent}] sandbox = true or aside new --sandbox confines it)"
            ),
        };
    }
    let network = match for_repo(config, repo).0.network() {
        Ok(Network::All) => "network allowed".to_string(),
        Ok(Network::Only(hosts)) if builtin => format!("network: {} only", hosts.join(", ")),
        Ok(Network::Only(hosts)) => format!("network: its model API and {} only", hosts.join(", ")),
        _ if builtin => "no network".to_string(),
        _ => "network: its model API only".to_string(),
    };
    if builtin {
        format!("commands write only the worktree; HOME's credentials hidden; {network}")
    } else {
        format!("the whole agent: writes only the worktree and its own state; HOME's credentials hidden; {network}")
    }
}

/// The bubblewrap program (`ASIDE_BWRAP` names another).
pub fn bwrap_program() -> String {
    std::env::var("ASIDE_BWRAP")
        .ok()
        .filter(|p| !p.is_empty())
        .unwrap_or_else(|| "bwrap".to_string())
}

/// Whether the sandbox works on this machine: Err says why not, with the fix.
pub fn probe() -> Result<(), String> {
    let program = bwrap_program();
    let out = std::process::Command::new(&program)
        .args([
            "--die-with-parent",
            "--unshare-pid",
            "--unshare-net",
            "--ro-bind",
            "/",
            "/",
            "--dev",
            "/dev",
            "--proc",
            "/proc",
            "true",
        ])
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .output();
    match out {
        Err(_) => Err(format!(
            "bubblewrap ({program}) is not installed: apt-get install bubblewrap (or dnf install bubblewrap)"
        )),
        Ok(out) if out.status.success() => Ok(()),
        Ok(out) => {
            let said = String::from_utf8_lossy(&out.stderr).trim().to_string();
            let fix = if std::fs::read_to_string("/proc/sys/kernel/apparmor_restrict_unprivileged_userns")
                .is_ok_and(|v| v.trim() == "1")
            {
                "AppArmor restricts unprivileged user namespaces (Ubuntu 24.04): allow bwrap with an AppArmor profile, or sudo sysctl kernel.apparmor_restrict_unprivileged_userns=0"
            } else if std::fs::read_to_string("/proc/sys/kernel/unprivileged_userns_clone")
                .is_ok_and(|v| v.trim() == "0")
            {
                "unprivileged user namespaces are off: sudo sysctl kernel.unprivileged_userns_clone=1"
            } else {
                "user namespaces do not work here (a container without them?): run aside where they do, or set [sandbox] unavailable = \"run\" to run commands unsandboxed"
            };
            Err(format!("bubblewrap cannot make a sandbox here ({said}): {fix}"))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_policy_writes_the_worktree_and_git_and_hides_home_secrets() {
        let home = Path::new("/home/me");
        let policy = Policy::for_session(
            &SandboxConfig {
                writable: vec!["~/.cargo/registry".into()],
                ..Default::default()
            },
            Path::new("/src/proj.worktrees/fix"),
            Some(Path::new("/src/proj/.git")),
            home,
            Path::new("/home/me/.local/share/aside"),
        );
        assert_eq!(
            policy.writable,
            [
                PathBuf::from("/src/proj.worktrees/fix"),
                PathBuf::from("/src/proj/.git"),
                PathBuf::from("/home/me/.cargo/registry")
            ]
        );
        assert!(policy
            .read_only
            .contains(&PathBuf::from("/src/proj/.git/hooks")));
        assert!(policy.hidden.contains(&PathBuf::from("/home/me/.ssh")));
        assert!(policy
            .hidden
            .contains(&PathBuf::from("/home/me/.local/share/aside")));
        assert!(!policy.network);
        let argv = policy.wrap(
            "bwrap",
            Path::new("/src/proj.worktrees/fix"),
            &["sh".into()],
        );
        assert!(argv.contains(&"--unshare-net".to_string()));
        assert_eq!(argv.last().unwrap(), "sh");
    }

    #[test]
    fn a_repository_only_narrows_the_users_sandbox() {
        let home = Path::new("/home/me");
        let mine: SandboxConfig = toml::from_str(
            "writable = [\"~/.cache\"]\nnetwork = [\"*.npmjs.org\", \"github.com\"]\n",
        )
        .unwrap();
        let repo: RepoSandbox = toml::from_str(
            "writable = [\"~/.cache/pip\", \"~/.ssh\"]\nnetwork = [\"registry.npmjs.org\", \"evil.example\"]\n",
        )
        .unwrap();
        let (narrowed, beyond) = mine.narrowed_by(&repo, home);
        assert_eq!(narrowed.writable, ["/home/me/.cache/pip"]);
        assert_eq!(
            narrowed.network(),
            Ok(Network::Only(vec!["registry.npmjs.org".into()]))
        );
        assert_eq!(beyond.len(), 2, "{beyond:?}");
        assert!(beyond[0].contains("~/.ssh") && beyond[1].contains("evil.example"));
        // It cannot open the network the user keeps closed.
        let closed = SandboxConfig::default();
        let all: RepoSandbox = toml::from_str("network = \"all\"").unwrap();
        assert_eq!(
            closed.narrowed_by(&all, home).0.network(),
            Ok(Network::None)
        );
        // Nor add what the user never listed.
        let nothing = SandboxConfig::default().narrowed_by(&repo, home).0;
        assert!(nothing.writable.is_empty());
    }

    #[test]
    fn a_repository_cannot_spell_or_link_its_way_out_of_the_users_paths() {
        let dir = tempfile::tempdir().unwrap();
        let home = dir.path().canonicalize().unwrap();
        std::fs::create_dir_all(home.join(".cache/ok")).unwrap();
        std::os::unix::fs::symlink(&home, home.join(".cache/link")).unwrap();
        let mine = SandboxConfig {
            writable: vec!["~/.cache".into()],
            ..Default::default()
        };
        let repo: RepoSandbox = toml::from_str(
            "writable = [\"~/.cache/../.bashrc\", \"~/.cache/link\", \"~/.cache/ok\"]",
        )
        .unwrap();
        let (narrowed, beyond) = mine.narrowed_by(&repo, &home);
        assert_eq!(
            narrowed.writable,
            [home.join(".cache/ok").display().to_string()]
        );
        assert_eq!(beyond.len(), 2, "{beyond:?}");
        // A writable path a command turned into a symlink since is not bound at all.
        let policy = Policy::for_session(
            &narrowed,
            &home.join("wt"),
            None,
            &home,
            &home.join("aside"),
        );
        let bound = |p: &Policy| {
            p.wrap("bwrap", &home, &["true".into()])
                .windows(2)
                .any(|w| w[0] == "--bind" && w[1] == home.join(".cache/ok").display().to_string())
        };
        assert!(bound(&policy));
        std::fs::remove_dir(home.join(".cache/ok")).unwrap();
        std::os::unix::fs::symlink(&home, home.join(".cache/ok")).unwrap();
        assert!(!bound(&policy));
    }

    #[test]
    fn an_agents_state_behind_a_symlink_is_bound_where_it_lives() {
        let dir = tempfile::tempdir().unwrap();
        let home = dir.path().canonicalize().unwrap();
        std::fs::create_dir_all(home.join("dotfiles/codex")).unwrap();
        std::os::unix::fs::symlink(home.join("dotfiles/codex"), home.join(".codex")).unwrap();
        let policy = Policy::for_session(
            &SandboxConfig::default(),
            &home.join("wt"),
            None,
            &home,
            &home.join("aside"),
        )
        .for_agent(&AgentNeeds {
            state: vec![home.join(".codex")],
            ..Default::default()
        });
        let real = home.join("dotfiles/codex").display().to_string();
        assert!(policy
            .wrap("bwrap", &home, &["true".into()])
            .windows(2)
            .any(|w| w[0] == "--bind" && w[1] == real));
        // Its state is not hidden as one of HOME's credentials either.
        assert!(!policy
            .hidden
            .iter()
            .any(|h| h.ends_with(".codex") || *h == home.join("dotfiles/codex")));
    }

    #[test]
    fn network_lists_and_sizes_are_read_and_bad_values_refused() {
        let parse = |text: &str| -> SandboxConfig { toml::from_str(text).unwrap() };
        assert_eq!(parse("network = \"all\"").network(), Ok(Network::All));
        assert_eq!(
            parse("network = [\"github.com\", \"localhost:8080\"]").network(),
            Ok(Network::Only(vec![
                "github.com".into(),
                "localhost:8080".into()
            ]))
        );
        assert!(parse("network = [\"localhost\"]")
            .check()
            .unwrap_err()
            .contains("needs its port"));
        assert!(parse("memory = \"lots\"").check().is_err());
        assert_eq!(parse("memory = \"2G\"").memory(), Ok(Some(2 << 30)));
        assert!(parse("unavailable = \"maybe\"")
            .check()
            .unwrap_err()
            .contains("use ask, refuse or run"));
        assert!(parse("writable = [\"rel/path\"]").check().is_err());
    }
}
