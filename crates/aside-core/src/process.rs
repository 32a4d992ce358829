//! Process-group, signal and lock helpers: every `unsafe` call of aside lives here.
//!
//! Agents run in their own process group so that stopping one stops everything it started
//! (npm launchers, Claude Code's child). A guard process sits in that group and takes the whole
//! group down when the host that started it dies, even by `kill -9`.

use std::fs::File;
use std::os::fd::AsRawFd as _;
use std::os::unix::process::CommandExt as _;
use std::process::Command;

/// Sends `signal` to every process of group `pgid` (nothing for pgid ≤ 1: never init's group or
/// our own by mistake).
pub fn kill_group(pgid: i32, signal: i32) {
    if pgid > 1 {
        // SAFETY: kill(2) takes no pointers; a stale group id only fails with ESRCH.
        unsafe {
            libc::kill(-pgid, signal);
        }
    }
}

/// The live processes (zombies left out) of group `pgid`, read from `/proc`.
pub fn group_members(pgid: i32) -> Vec<i32> {
    stats()
        .into_iter()
        .filter(|p| p.live() && p.pgrp == pgid)
        .map(|p| p.pid)
        .collect()
}

/// Makes `cmd` start its program in a new process session (no controlling terminal): closing the
/// terminal that started it never stops it.
pub fn detach(cmd: &mut Command) {
    // SAFETY: setsid(2) is async-signal-safe and touches no memory of the parent.
    unsafe {
        cmd.pre_exec(|| {
            if libc::setsid() == -1 {
                return Err(std::io::Error::last_os_error());
            }
            Ok(())
        });
    }
}

/// Makes `cmd` run at the lowest CPU priority (nice 19) and in the idle I/O class: background
/// work (refilling spare worktrees) that must not slow what the user runs. Children inherit it.
pub fn background_priority(cmd: &mut Command) {
    // SAFETY: setpriority(2) and ioprio_set(2) are async-signal-safe system calls on the child
    // itself; they touch no memory of the parent.
    unsafe {
        cmd.pre_exec(|| {
            libc::setpriority(libc::PRIO_PROCESS, 0, 19);
            // ioprio_set(IOPRIO_WHO_PROCESS, self, IOPRIO_CLASS_IDLE << 13): best effort (a
            // kernel or scheduler without I/O classes keeps the default).
            const IOPRIO_WHO_PROCESS: libc::c_long = 1;
            const IOPRIO_CLASS_IDLE: libc::c_long = 3;
            libc::syscall(
                libc::SYS_ioprio_set,
                IOPRIO_WHO_PROCESS,
                0,
                IOPRIO_CLASS_IDLE << 13,
            );
            Ok(())
        });
    }
}

/// Makes the kernel send `signal` to `cmd`'s process when the thread that spawned it dies (the
/// host, however it dies). If the parent is already gone by then, the child does not start.
pub fn die_with_parent(cmd: &mut Command, signal: i32) {
    let parent = std::process::id() as libc::pid_t;
    // SAFETY: prctl(2) and getppid(2) are async-signal-safe and only read their arguments.
    unsafe {
        cmd.pre_exec(move || {
            if libc::prctl(libc::PR_SET_PDEATHSIG, signal as libc::c_ulong, 0, 0, 0) == -1 {
                return Err(std::io::Error::last_os_error());
            }
            if libc::getppid() != parent {
                return Err(std::io::Error::other(
                    "the parent exited before the child started",
                ));
            }
            Ok(())
        });
    }
}

/// Lets a write to a closed pipe end the process quietly, as `ls | head` expects of a command
/// line tool (Rust ignores SIGPIPE and would panic in `println!` instead). Only for commands that
/// print and exit; long-running processes keep SIGPIPE ignored and handle EPIPE as an error.
pub fn restore_sigpipe() {
    // SAFETY: installs the default disposition; no handler code runs in our process.
    unsafe {
        libc::signal(libc::SIGPIPE, libc::SIG_DFL);
    }
}

/// Makes Ctrl-C in the terminal leave this process alone (`on` false) or end it again (`on`
/// true): while a program it started has the terminal, the key is that program's.
pub fn interruptible(on: bool) {
    // SAFETY: installs a disposition, no handler code runs in our process.
    unsafe {
        libc::signal(libc::SIGINT, if on { libc::SIG_DFL } else { libc::SIG_IGN });
    }
}

/// Takes an flock(2) on `file` without waiting: exclusive or shared. False when another open
/// file description holds a conflicting lock.
pub fn try_flock(file: &File, exclusive: bool) -> bool {
    let operation = if exclusive {
        libc::LOCK_EX
    } else {
        libc::LOCK_SH
    };
    // SAFETY: flock(2) on a descriptor we own; no memory is involved.
    unsafe { libc::flock(file.as_raw_fd(), operation | libc::LOCK_NB) == 0 }
}

/// The pid of this process's parent.
pub fn parent_pid() -> i32 {
    // SAFETY: getppid(2) cannot fail.
    unsafe { libc::getppid() }
}

/// A running process, as `/proc` shows it.
#[derive(Debug, Clone)]
pub struct ProcessInfo {
    /// Its pid.
    pub pid: i32,
    /// Its arguments (the program first).
    pub args: Vec<String>,
    /// Its working directory, when readable.
    pub cwd: Option<std::path::PathBuf>,
    /// When it started.
    pub started: std::time::SystemTime,
    /// When it started, in clock ticks after boot as /proc gives it (what Claude Code records as
    /// `procStart`).
    pub start_ticks: u64,
}

impl ProcessInfo {
    /// Whether any of its first arguments (the program, or the script an interpreter runs) is
    /// named `name` or starts with `name` and a `-` or `.` (`copilot-linux-x64`, `cli.js` is not).
    pub fn runs(&self, name: &str) -> bool {
        self.args.iter().take(3).any(|arg| {
            let file = std::path::Path::new(arg)
                .file_name()
                .map(|f| f.to_string_lossy().into_owned())
                .unwrap_or_default();
            file == name
                || file
                    .strip_prefix(name)
                    .is_some_and(|rest| rest.starts_with(['-', '.']))
        })
    }
}

/// The seconds since the epoch at which the system booted (`btime` of /proc/stat).
fn boot_time() -> Option<u64> {
    std::fs::read_to_string("/proc/stat")
        .ok()?
        .lines()
        .find_map(|l| l.strip_prefix("btime ")?.trim().parse().ok())
}

/// Clock ticks per second, the unit of a process's start time in /proc.
fn clock_ticks() -> u64 {
    // SAFETY: sysconf(3) takes no pointers.
    let ticks = unsafe { libc::sysconf(libc::_SC_CLK_TCK) };
    u64::try_from(ticks).ok().filter(|t| *t > 0).unwrap_or(100)
}

/// Process `pid`, if it lives (zombies count as gone).
pub fn process(pid: i32) -> Option<ProcessInfo> {
    process_with(pid, boot_time()?, clock_ticks())
}

fn process_with(pid: i32, boot: u64, ticks: u64) -> Option<ProcessInfo> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // After the command name, in parentheses that may hold anything: state is field 3, the
    // start time (ticks after boot) field 22.
    let rest = stat.rsplit_once(')')?.1;
    let fields: Vec<&str> = rest.split_whitespace().collect();
    if matches!(fields.first(), Some(&"Z") | Some(&"X")) {
        return None;
    }
    let start_ticks: u64 = fields.get(19)?.parse().ok()?;
    let started = std::time::UNIX_EPOCH
        + std::time::Duration::from_secs(boot)
        + std::time::Duration::from_millis(start_ticks * 1000 / ticks);
    let cmdline = std::fs::read(format!("/proc/{pid}/cmdline")).ok()?;
    let args = cmdline
        .split(|b| *b == 0)
        .filter(|a| !a.is_empty())
        .map(|a| String::from_utf8_lossy(a).into_owned())
        .collect();
    Some(ProcessInfo {
        pid,
        args,
        cwd: std::fs::read_link(format!("/proc/{pid}/cwd")).ok(),
        started,
        start_ticks,
    })
}

/// The files process `pid` has open (those this user may see).
pub fn open_files(pid: i32) -> Vec<std::path::PathBuf> {
    std::fs::read_dir(format!("/proc/{pid}/fd"))
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|fd| std::fs::read_link(fd.path()).ok())
        .collect()
}

/// Every process this user can see.
pub fn processes() -> Vec<ProcessInfo> {
    let (Some(boot), ticks) = (boot_time(), clock_ticks()) else {
        return vec![];
    };
    let Ok(dir) = std::fs::read_dir("/proc") else {
        return vec![];
    };
    dir.flatten()
        .filter_map(|entry| entry.file_name().to_str()?.parse::<i32>().ok())
        .filter_map(|pid| process_with(pid, boot, ticks))
        .collect()
}

/// The variable that carries the built-in agent's model API key.
pub const MODEL_KEY_VAR: &str = "ASIDE_API_KEY";

static MODEL_KEY: std::sync::OnceLock<Option<String>> = std::sync::OnceLock::new();

/// Takes the model API key (`ASIDE_API_KEY`) out of this process's environment, keeping it in
/// memory ([`model_key`]): the variable is removed and its value overwritten where the kernel
/// shows the environment a process started with (`/proc/PID/environ`), which every command an
/// agent runs as the same user could otherwise read. Each aside process calls it first thing,
/// before it starts a thread, and hands the key to the one child that needs it (a host, a guard,
/// the agent) with [`pass_model_key`], which takes it out again in turn.
pub fn hide_model_key() {
    MODEL_KEY.get_or_init(|| {
        let value = std::env::var(MODEL_KEY_VAR).ok()?;
        let prefix = format!("{MODEL_KEY_VAR}=");
        extern "C" {
            static mut environ: *mut *mut libc::c_char;
        }
        // SAFETY: called before any other thread exists (nothing reads or changes the
        // environment meanwhile); `environ` is the NULL-terminated array of NUL-terminated
        // strings the C runtime keeps, and each entry is overwritten only within its own length.
        unsafe {
            let mut entry = environ;
            while !entry.is_null() && !(*entry).is_null() {
                let text = std::ffi::CStr::from_ptr(*entry);
                let bytes = text.to_bytes();
                if bytes.starts_with(prefix.as_bytes()) {
                    let value_at = (*entry).add(prefix.len());
                    std::ptr::write_bytes(value_at, 0, bytes.len() - prefix.len());
                }
                entry = entry.add(1);
            }
        }
        std::env::remove_var(MODEL_KEY_VAR);
        Some(value).filter(|v| !v.is_empty())
    });
}

/// The model API key this process was started with ([`hide_model_key`]).
pub fn model_key() -> Option<&'static str> {
    MODEL_KEY.get().and_then(|k| k.as_deref())
}

/// Gives `cmd` the model API key this process holds, in its environment (it hides it again).
pub fn pass_model_key(cmd: &mut Command) {
    if let Some(key) = model_key() {
        cmd.env(MODEL_KEY_VAR, key);
    }
}

/// Makes this process the reaper of its orphaned descendants (`PR_SET_CHILD_SUBREAPER`): a
/// process that double-forks and `setsid`s away from its group is reparented here rather than to
/// init, so it is still found by [`descendants`] and stopped with the rest.
pub fn become_subreaper() {
    // SAFETY: prctl(2) with integer arguments only.
    unsafe {
        libc::prctl(libc::PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0);
    }
}

/// What `/proc/PID/stat` says of one process: its parent, group and state.
struct Stat {
    pid: i32,
    ppid: i32,
    pgrp: i32,
    state: char,
}

impl Stat {
    fn live(&self) -> bool {
        !matches!(self.state, 'Z' | 'X')
    }
}

/// Every process's parent, group and state, from `/proc`.
fn stats() -> Vec<Stat> {
    let Ok(dir) = std::fs::read_dir("/proc") else {
        return vec![];
    };
    dir.flatten()
        .filter_map(|entry| entry.file_name().to_str()?.parse::<i32>().ok())
        .filter_map(|pid| {
            let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
            // After the command name, in parentheses that may hold anything: state, ppid, pgrp.
            let rest = stat.rsplit_once(')')?.1;
            let mut fields = rest.split_whitespace();
            let state = fields.next()?.chars().next()?;
            let ppid = fields.next()?.parse().ok()?;
            let pgrp = fields.next()?.parse().ok()?;
            Some(Stat {
                pid,
                ppid,
                pgrp,
                state,
            })
        })
        .collect()
}

/// The live descendants of `pid` (children, their children, …), whatever process group or
/// session they moved to; zombies left out.
pub fn descendants(pid: i32) -> Vec<i32> {
    let all = stats();
    let mut found = vec![pid];
    let mut at = 0;
    while at < found.len() {
        let parent = found[at];
        let children: Vec<i32> = all
            .iter()
            .filter(|p| p.ppid == parent && !found.contains(&p.pid))
            .map(|p| p.pid)
            .collect();
        found.extend(children);
        at += 1;
    }
    found.remove(0);
    found.retain(|p| all.iter().any(|q| q.pid == *p && q.live()));
    found
}

/// Sends `signal` to process `pid` (nothing for pid ≤ 1).
pub fn kill_pid(pid: i32, signal: i32) {
    if pid > 1 {
        // SAFETY: kill(2) takes no pointers; a gone pid only fails with ESRCH.
        unsafe {
            libc::kill(pid, signal);
        }
    }
}

/// Reaps this process's children that have exited (a subreaper inherits orphans and must wait
/// for them), all but `keep`, which its owner waits for.
pub fn reap_children(keep: Option<i32>) {
    let me = std::process::id() as i32;
    for p in stats() {
        if p.ppid == me && p.state == 'Z' && Some(p.pid) != keep {
            let mut status = 0;
            // SAFETY: waitpid(2) on our own exited child, writing only to `status`.
            unsafe {
                libc::waitpid(p.pid, &mut status, libc::WNOHANG);
            }
        }
    }
}

/// While held, the signals a terminal sends (SIGHUP when it closes, SIGINT on Ctrl-C, SIGQUIT on
/// Ctrl-\\, and SIGTERM) wait instead of ending the process; they are delivered when it drops.
/// A child started meanwhile inherits the same mask. For work that must finish once begun.
pub struct SignalsDeferred {
    old: libc::sigset_t,
}

/// Defers the terminal's signals for the calling thread (see [`SignalsDeferred`]).
pub fn defer_signals() -> SignalsDeferred {
    // SAFETY: sigset_t is plain data; sigemptyset/sigaddset/pthread_sigmask write only to the
    // sets passed, which live on this stack frame or in the returned value.
    unsafe {
        let mut set: libc::sigset_t = std::mem::zeroed();
        let mut old: libc::sigset_t = std::mem::zeroed();
        libc::sigemptyset(&mut set);
        for signal in [libc::SIGHUP, libc::SIGINT, libc::SIGQUIT, libc::SIGTERM] {
            libc::sigaddset(&mut set, signal);
        }
        libc::pthread_sigmask(libc::SIG_BLOCK, &set, &mut old);
        SignalsDeferred { old }
    }
}

impl Drop for SignalsDeferred {
    fn drop(&mut self) {
        // SAFETY: restores the mask saved by defer_signals, read from our own field.
        unsafe {
            libc::pthread_sigmask(libc::SIG_SETMASK, &self.old, std::ptr::null_mut());
        }
    }
}

/// How long an agent's process group gets between SIGTERM and SIGKILL when a session stops: 2 s,
/// or `ASIDE_STOP_GRACE_MS` (tests that stop many agents take less). The one definition the
/// host and the guard share.
pub fn stop_grace() -> std::time::Duration {
    static GRACE: std::sync::OnceLock<std::time::Duration> = std::sync::OnceLock::new();
    *GRACE.get_or_init(|| {
        std::time::Duration::from_millis(
            std::env::var("ASIDE_STOP_GRACE_MS")
                .ok()
                .and_then(|v| v.trim().parse().ok())
                .unwrap_or(2000),
        )
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_process_is_read_with_its_start_time_and_directory() {
        let before = std::time::SystemTime::now() - std::time::Duration::from_secs(1);
        let mut child = Command::new("sleep")
            .arg("30")
            .current_dir("/tmp")
            .spawn()
            .unwrap();
        let pid = child.id() as i32;
        // Until it has exec'd, the child shows the parent's command line.
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
        let mut info = process(pid).unwrap();
        while !info.runs("sleep") && std::time::Instant::now() < deadline {
            std::thread::sleep(std::time::Duration::from_millis(5));
            info = process(pid).unwrap();
        }
        assert!(info.runs("sleep") && !info.runs("slee"), "{:?}", info.args);
        assert_eq!(info.cwd.as_deref(), Some(std::path::Path::new("/tmp")));
        assert!(info.started >= before, "{:?} < {before:?}", info.started);
        assert!(processes().iter().any(|p| p.pid == pid));
        child.kill().unwrap();
        child.wait().unwrap();
        assert!(process(pid).is_none());
    }

    #[test]
    fn a_group_is_stopped_whole() {
        let mut cmd = Command::new("sh");
        cmd.args(["-c", "sleep 30 & sleep 30 & wait"])
            .process_group(0);
        let mut child = cmd.spawn().unwrap();
        let pgid = child.id() as i32;
        assert!(!group_members(pgid).is_empty());
        kill_group(pgid, libc::SIGKILL);
        child.wait().unwrap();
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
        while !group_members(pgid).is_empty() && std::time::Instant::now() < deadline {
            std::thread::sleep(std::time::Duration::from_millis(10));
        }
        assert_eq!(
            group_members(pgid),
            Vec::<i32>::new(),
            "the background sleeps outlived the kill"
        );
    }
}
