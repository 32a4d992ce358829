//! Other machines (`[machines.NAME]`): reached with the user's own OpenSSH (keys, ports, jump
//! hosts and host keys are its business: aside passes a destination and never prompts), and
//! checked before anything runs there: that SSH gets in, that aside is installed, and that its
//! version can work with this one.

use aside_core::config::MachineConfig;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// This aside's version.
pub const VERSION: &str = env!("CARGO_PKG_VERSION");

/// How long a check waits for SSH to connect.
pub const CONNECT_TIMEOUT_SECS: u32 = 10;

/// What a check found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Found {
    /// SSH works and aside there can work with this one.
    Ready {
        /// Its version.
        version: String,
        /// How long the round trip took.
        took: Duration,
    },
    /// SSH does not get in.
    Unreachable {
        /// What ssh said (its last line).
        why: String,
    },
    /// SSH works; aside is not there (or not on the PATH a command over SSH gets).
    NoAside {
        /// The program that was run.
        program: String,
    },
    /// aside is there, at a version that cannot work with this one.
    Incompatible {
        /// Its version.
        version: String,
    },
}

impl Found {
    /// Whether sessions can run there.
    pub fn ready(&self) -> bool {
        matches!(self, Found::Ready { .. })
    }

    /// What the user reads: what was found, and how to fix it.
    pub fn describe(&self, name: &str, machine: &MachineConfig) -> (String, Option<String>) {
        match self {
            Found::Ready { version, took } => (
                format!(
                    "{} over SSH: aside {version} ({} ms)",
                    machine.ssh,
                    took.as_millis()
                ),
                None,
            ),
            Found::Unreachable { why } => (
                format!("cannot reach {name} over SSH ({}): {why}", machine.ssh),
                Some(format!(
                    "make `ssh {}` log in without a password prompt (a key in ssh-agent or IdentityFile in ~/.ssh/config) and accept its host key once; then aside machine check {name}",
                    machine.ssh
                )),
            ),
            Found::NoAside { program } => (
                format!(
                    "SSH works, but `{program}` is not found on {name} (a command over SSH gets a non-interactive shell's PATH)"
                ),
                Some(format!(
                    "install aside {VERSION} there, or name it: aside machine add {name} --ssh {} --aside /path/to/aside",
                    machine.ssh
                )),
            ),
            Found::Incompatible { version } => (
                format!("{name} has aside {version}; this is aside {VERSION}: they cannot work together"),
                Some(format!("install aside {VERSION} on {name} (or this one's version there)")),
            ),
        }
    }
}

/// Whether two aside versions can work together: the same major version, and while it is 0 the
/// same minor one.
pub fn compatible(a: &str, b: &str) -> bool {
    let parts = |v: &str| -> Vec<u64> {
        v.trim()
            .split(['.', '-', '+'])
            .take(2)
            .map(|p| p.parse().unwrap_or(u64::MAX))
            .collect()
    };
    let (a, b) = (parts(a), parts(b));
    match (a.first(), b.first()) {
        (Some(0), Some(0)) => a.get(1) == b.get(1),
        (Some(x), Some(y)) => x == y && *x != u64::MAX,
        _ => false,
    }
}

/// The ssh program: `ssh`, or what `ASIDE_SSH` names (a wrapper adding options, as `GIT_SSH`).
pub fn ssh_program() -> std::ffi::OsString {
    std::env::var_os("ASIDE_SSH")
        .filter(|p| !p.is_empty())
        .unwrap_or_else(|| "ssh".into())
}

/// The `ssh` command that runs `remote` (a shell command line) on the machine: batch mode (no
/// prompt ever), a connect timeout, the destination after `--`.
pub fn ssh(machine: &MachineConfig, remote: &str) -> Command {
    let mut cmd = Command::new(ssh_program());
    cmd.args([
        "-o",
        "BatchMode=yes",
        "-o",
        &format!("ConnectTimeout={CONNECT_TIMEOUT_SECS}"),
        "-o",
        "ServerAliveInterval=15",
        "--",
        machine.ssh.trim(),
        remote,
    ])
    .stdin(Stdio::null());
    cmd
}

/// The aside program a machine runs.
pub fn program(machine: &MachineConfig) -> String {
    machine.aside.clone().unwrap_or_else(|| "aside".to_string())
}

/// Checks a machine: SSH, aside there, its version.
pub fn check(machine: &MachineConfig) -> Found {
    let program = program(machine);
    let started = Instant::now();
    let out = match ssh(
        machine,
        &format!("{} --version", crate::shell_word(&program)),
    )
    .stdout(Stdio::piped())
    .stderr(Stdio::piped())
    .output()
    {
        Ok(out) => out,
        Err(e) => {
            return Found::Unreachable {
                why: format!("cannot run ssh: {e} (install OpenSSH's client)"),
            }
        }
    };
    let took = started.elapsed();
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    let last = |text: &str| {
        text.lines()
            .rev()
            .find(|l| !l.trim().is_empty())
            .unwrap_or("")
            .trim()
            .to_string()
    };
    match out.status.code() {
        // ssh's own failures.
        Some(255) | None => Found::Unreachable {
            why: {
                let why = last(&stderr);
                if why.is_empty() {
                    "ssh failed".to_string()
                } else {
                    why
                }
            },
        },
        // The shell there found no such program.
        Some(126 | 127) => Found::NoAside { program },
        Some(0) => match stdout.trim().strip_prefix("aside ") {
            Some(version) if compatible(version, VERSION) => Found::Ready {
                version: version.trim().to_string(),
                took,
            },
            Some(version) => Found::Incompatible {
                version: version.trim().to_string(),
            },
            // Something else answered to that name.
            None => Found::NoAside { program },
        },
        Some(_) => Found::NoAside { program },
    }
}

/// git's ssh for pushes to a machine: the same program and options as every other call.
pub fn ssh_command() -> String {
    format!(
        "{} -o BatchMode=yes -o ConnectTimeout={CONNECT_TIMEOUT_SECS}",
        crate::shell_word(&ssh_program().to_string_lossy())
    )
}

/// Where aside keeps its checkout of local repository `repo` on a machine (relative to the
/// machine's HOME): `aside-checkouts/<name>-<hash of the local path>`.
pub fn checkout_of(repo: &std::path::Path) -> String {
    let path = repo.display().to_string();
    // FNV-1a: stable across versions and machines (std's hasher is not).
    let hash = path.bytes().fold(0xcbf29ce484222325u64, |h, b| {
        (h ^ u64::from(b)).wrapping_mul(0x100000001b3)
    });
    let name: String = repo
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default()
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '-' || c == '_' {
                c
            } else {
                '-'
            }
        })
        .collect();
    format!("aside-checkouts/{name}-{:08x}", hash as u32)
}

/// Runs a shell command line on the machine; its standard output, or what went wrong.
pub fn run(machine: &MachineConfig, remote: &str, input: Option<&str>) -> Result<String, String> {
    use std::io::Write as _;
    let mut child = ssh(machine, remote)
        .stdin(if input.is_some() {
            Stdio::piped()
        } else {
            Stdio::null()
        })
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| format!("cannot run ssh: {e}"))?;
    if let (Some(input), Some(mut stdin)) = (input, child.stdin.take()) {
        let _ = stdin.write_all(input.as_bytes());
    }
    let out = child.wait_with_output().map_err(|e| format!("ssh: {e}"))?;
    if out.status.success() {
        return Ok(String::from_utf8_lossy(&out.stdout).into_owned());
    }
    let stderr = String::from_utf8_lossy(&out.stderr);
    let why = stderr
        .lines()
        .rev()
        .find(|l| !l.trim().is_empty())
        .unwrap_or("it failed")
        .trim()
        .to_string();
    Err(why)
}

/// [`run`] given at most `limit`: a machine that lets SSH in but whose answer hangs (a lock, a
/// slow disk) is said not to answer, its ssh killed.
pub fn run_within(
    machine: &MachineConfig,
    remote: &str,
    limit: Duration,
) -> Result<String, String> {
    use std::io::Read as _;
    let mut child = ssh(machine, remote)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| format!("cannot run ssh: {e}"))?;
    let read = |pipe: Option<Box<dyn std::io::Read + Send>>| {
        std::thread::spawn(move || {
            let mut text = String::new();
            if let Some(mut pipe) = pipe {
                let _ = pipe.read_to_string(&mut text);
            }
            text
        })
    };
    let out = read(
        child
            .stdout
            .take()
            .map(|p| Box::new(p) as Box<dyn std::io::Read + Send>),
    );
    let err = read(
        child
            .stderr
            .take()
            .map(|p| Box::new(p) as Box<dyn std::io::Read + Send>),
    );
    let deadline = Instant::now() + limit;
    let status = loop {
        match child.try_wait() {
            Ok(Some(status)) => break status,
            Ok(None) if Instant::now() < deadline => std::thread::sleep(Duration::from_millis(20)),
            _ => {
                let _ = child.kill();
                let _ = child.wait();
                return Err(format!("it did not answer within {} s", limit.as_secs()));
            }
        }
    };
    let (out, err) = (
        out.join().unwrap_or_default(),
        err.join().unwrap_or_default(),
    );
    if status.success() {
        return Ok(out);
    }
    Err(err
        .lines()
        .rev()
        .find(|l| !l.trim().is_empty())
        .unwrap_or("it failed")
        .trim()
        .to_string())
}

/// The words of `aside ARGS` there, each quoted for its shell.
pub fn aside_line(machine: &MachineConfig, args: &[&str]) -> String {
    let mut line = crate::shell_word(&program(machine));
    for arg in args {
        line.push(' ');
        line.push_str(&crate::shell_word(arg));
    }
    line
}

/// Runs aside there with `args` (each quoted for its shell), in `dir` (relative to its HOME)
/// when given, with `input` on its standard input.
pub fn run_aside(
    machine: &MachineConfig,
    dir: Option<&str>,
    args: &[&str],
    input: Option<&str>,
) -> Result<String, String> {
    let mut line = String::new();
    if let Some(dir) = dir {
        line.push_str(&format!("cd {} && ", crate::shell_word(dir)));
    }
    line.push_str(&aside_line(machine, args));
    run(machine, &line, input)
}

/// The checkout on the machine that sessions of local repository `repo` run in: the one the
/// user named for it (`[machines.NAME] checkouts`), or aside's own; and whether it is the user's.
pub fn checkout_for(machine: &MachineConfig, repo: &std::path::Path) -> (String, bool) {
    let key = repo.display().to_string();
    match machine.checkouts.get(&key) {
        Some(there) => (there.strip_prefix("~/").unwrap_or(there).to_string(), true),
        None => (checkout_of(repo), false),
    }
}

/// Whether a remote's URL can mean the same repository on another machine: a network URL or
/// an absolute path (a relative one would be read from the checkout there).
fn reachable_elsewhere(url: &str) -> bool {
    url.contains("://")
        || url.starts_with('/')
        || url
            .split_once(':')
            .is_some_and(|(host, _)| !host.contains('/'))
}

/// Puts commit `base` of local repository `repo` into its checkout on the machine and returns
/// that checkout's path there. aside's own checkout is made the first time (its `origin` the
/// local repository's, when that can be reached from there) with HEAD at the base; a checkout the
/// user named must exist and is left on its own branch. The base is fetched there from the
/// checkout's `origin` when it lacks it (no prompt; most repositories' commits are there), and
/// pushed from here over the same SSH when that fails.
pub fn send_base(
    machine: &MachineConfig,
    repo: &std::path::Path,
    base: &str,
) -> Result<String, String> {
    let (checkout, named) = checkout_for(machine, repo);
    let q = crate::shell_word(&checkout);
    let b = crate::shell_word(base);
    let origin = aside_git::remote_url(repo, "origin").filter(|u| reachable_elsewhere(u));
    // One connection: make (or find) the checkout, then look for the base, fetching it when
    // it is missing; says whether it is there now.
    let mut script = String::new();
    if named {
        script.push_str(&format!(
            "git -C {q} rev-parse --git-dir >/dev/null 2>&1 || {{ echo 'no-checkout'; exit 0; }}; "
        ));
    } else {
        script.push_str(&format!(
            "git init -q {q} && git -C {q} config receive.denyCurrentBranch updateInstead || exit 1; "
        ));
        if let Some(url) = &origin {
            script.push_str(&format!(
                "git -C {q} remote get-url origin >/dev/null 2>&1 || git -C {q} remote add origin {}; ",
                crate::shell_word(url)
            ));
        }
    }
    script.push_str(&format!(
        "if ! git -C {q} cat-file -e {b}^{{commit}} 2>/dev/null; then \
         GIT_TERMINAL_PROMPT=0 GIT_SSH_COMMAND='ssh -o BatchMode=yes' \
         git -C {q} fetch -q --no-tags origin {b} >/dev/null 2>&1; fi; \
         if git -C {q} cat-file -e {b}^{{commit}} 2>/dev/null; then echo have; else echo need; fi"
    ));
    let answer = run(machine, &script, None)?;
    let answer = answer.trim();
    if answer == "no-checkout" {
        return Err(format!(
            "the checkout named for {} ({checkout}) is not a git repository there: clone it there, or change [machines.NAME] checkouts in config.toml",
            repo.display()
        ));
    }
    if answer != "have" {
        aside_git::push_over_ssh(
            repo,
            &format!("{}:{checkout}", machine.ssh.trim()),
            &format!("{base}:refs/aside/base"),
            &ssh_command(),
        )
        .map_err(|e| format!("cannot push the base commit to it: {e}"))?;
    }
    // aside's own checkout: HEAD at the base (the user's is left as it is).
    if !named {
        run(
            machine,
            &format!("git -C {q} -c advice.detachedHead=false checkout -q --detach {b}"),
            None,
        )?;
    }
    Ok(checkout)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn versions_work_together_within_a_minor_version_while_major_is_zero() {
        assert!(compatible("0.1.0", "0.1.7"));
        assert!(!compatible("0.1.0", "0.2.0"));
        assert!(compatible("1.2.0", "1.9.3"));
        assert!(!compatible("1.2.0", "2.0.0"));
        assert!(!compatible("garbage", "0.1.0"));
    }
}
