//! The OS sandbox the built-in agent's commands run in (`[sandbox]`): bubblewrap on Linux,
//! the filesystem read-only but for the session's worktree, the git directory its commits need
//! (its hooks and config kept read-only) and the caches the user lists; a private /tmp; the
//! secrets in HOME and aside's own state not readable; no network unless allowed.
//!
//! The host works out a session's [`Policy`] and hands it to the agent (`ASIDE_SANDBOX`, JSON);
//! the agent wraps each command with [`Policy::wrap`].

use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};

/// The variable the host hands a session's [`Policy`] to the built-in agent in (JSON).
pub const ENV: &str = "ASIDE_SANDBOX";

/// `[sandbox]` in config.toml.
#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct SandboxConfig {
    /// Whether the built-in agent's commands run in the sandbox (default true).
    #[serde(default = "yes")]
    pub enabled: bool,
    /// `none` (default) or `all`.
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
        for path in &self.writable {
            if !(path.starts_with('/') || path.starts_with("~/")) {
                return Err(format!(
                    "sandbox.writable has `{path}`: give absolute paths (or ~/…)"
                ));
            }
        }
        Ok(())
    }

    /// Whether commands reach the network.
    pub fn network(&self) -> Result<bool, String> {
        match &self.network {
            None => Ok(false),
            Some(toml::Value::String(s)) if s == "none" => Ok(false),
            Some(toml::Value::String(s)) if s == "all" => Ok(true),
            Some(toml::Value::Array(_)) => Err(
                "sandbox.network as a list of domains is not built yet: use \"none\" or \"all\""
                    .to_string(),
            ),
            Some(other) => Err(format!(
                "sandbox.network is `{other}`: use \"none\" or \"all\""
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

/// What one session's commands may do.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Policy {
    /// Directories commands may write (the worktree first).
    pub writable: Vec<PathBuf>,
    /// Paths inside those kept read-only (the git directory's hooks and config).
    pub read_only: Vec<PathBuf>,
    /// Paths commands cannot read (an empty directory or file in their place).
    pub hidden: Vec<PathBuf>,
    /// Whether commands reach the network.
    pub network: bool,
    /// When the sandbox does not work here: `ask` the user for each command, `refuse`, or
    /// `run` unsandboxed.
    pub unavailable: String,
}

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
        if let Some(git) = git_dir {
            writable.push(git.to_path_buf());
            read_only.extend([git.join("hooks"), git.join("config")]);
        }
        writable.extend(config.writable.iter().map(|p| expand(p)));
        let mut hidden: Vec<PathBuf> = SECRETS.iter().map(|s| home.join(s)).collect();
        hidden.push(aside_home.to_path_buf());
        // What the session needs is never hidden (a worktree under aside's home, say).
        hidden.retain(|h| !writable.iter().any(|w| w.starts_with(h)));
        Policy {
            writable,
            read_only,
            hidden,
            network: config.network().unwrap_or(false),
            unavailable: config.when_unavailable(),
        }
    }

    /// `argv` run in `cwd` inside the sandbox: the bubblewrap command line (`bwrap` is the
    /// program to run it with).
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
        for dir in self.writable.iter().filter(|d| d.exists()) {
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
        args.extend(["--chdir".into(), path(cwd), "--".into()]);
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
            if self.network {
                "the network is reachable"
            } else {
                "there is no network (sandbox.network = \"all\" in the user's config allows it)"
            }
        )
    }
}

/// A session's sandbox in a line, as `show` and the views say it, by the user's `config`: only
/// the built-in agent's commands are aside's to confine.
pub fn describe(config: &crate::Config, agent: &str) -> String {
    if !crate::agents::uses_builtin(agent, config) {
        return format!("{agent} runs its commands itself (not confined by aside)");
    }
    let config = &config.sandbox;
    if !config.enabled {
        return "off: commands run unconfined ([sandbox] enabled = false)".to_string();
    }
    format!(
        "commands write only the worktree; HOME's credentials hidden; {}",
        if config.network().unwrap_or(false) {
            "network allowed"
        } else {
            "no network"
        }
    )
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
    fn a_network_list_is_said_not_built_and_bad_values_refused() {
        let parse = |text: &str| -> SandboxConfig { toml::from_str(text).unwrap() };
        assert_eq!(parse("network = \"all\"").network(), Ok(true));
        assert!(parse("network = [\"github.com\"]")
            .check()
            .unwrap_err()
            .contains("not built yet"));
        assert!(parse("unavailable = \"maybe\"")
            .check()
            .unwrap_err()
            .contains("use ask, refuse or run"));
        assert!(parse("writable = [\"rel/path\"]").check().is_err());
    }
}
