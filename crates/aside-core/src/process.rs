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
    let Ok(dir) = std::fs::read_dir("/proc") else {
        return vec![];
    };
    dir.flatten()
        .filter_map(|entry| entry.file_name().to_str()?.parse::<i32>().ok())
        .filter(|pid| {
            let Ok(stat) = std::fs::read_to_string(format!("/proc/{pid}/stat")) else {
                return false;
            };
            // After the command name, in parentheses that may hold anything: state, ppid, pgrp.
            let Some(rest) = stat.rsplit_once(')').map(|(_, rest)| rest) else {
                return false;
            };
            let fields: Vec<&str> = rest.split_whitespace().collect();
            fields
                .first()
                .is_some_and(|state| *state != "Z" && *state != "X")
                && fields.get(2).and_then(|g| g.parse::<i32>().ok()) == Some(pgid)
        })
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

#[cfg(test)]
mod tests {
    use super::*;

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
