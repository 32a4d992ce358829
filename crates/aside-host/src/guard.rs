//! `aside guard -- PROGRAM ARGS…`: the first process of an agent's process group.
//!
//! The host starts the agent through a guard so that nothing the agent started outlives the
//! host, even when the host dies by `kill -9` and cannot clean up: the kernel tells the guard
//! (parent-death signal SIGTERM), and the guard stops the whole group, SIGTERM first, SIGKILL
//! after a grace. The agent inherits the guard's stdio (the host's pipes) directly, so the guard
//! never copies a byte. When the agent exits on its own the guard exits with its status.

use aside_core::process;
use std::time::Duration;
use tokio::signal::unix::{signal, SignalKind};

/// Runs the guard; returns the exit code (the agent's, or 128 + the signal that ended it).
pub fn run(command: &[String]) -> i32 {
    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(e) => {
            eprintln!("aside guard: cannot start: {e}");
            return 70;
        }
    };
    runtime.block_on(guard(command))
}

async fn guard(command: &[String]) -> i32 {
    let Some((program, args)) = command.split_first() else {
        eprintln!("aside guard: no command given");
        return 64;
    };
    let (Ok(mut term), Ok(mut hup), Ok(mut int)) = (
        signal(SignalKind::terminate()),
        signal(SignalKind::hangup()),
        signal(SignalKind::interrupt()),
    ) else {
        eprintln!("aside guard: cannot listen for signals");
        return 70;
    };
    // Whatever the agent starts stays ours to stop, even what double-forks out of the group.
    process::become_subreaper();
    let mut agent = std::process::Command::new(program);
    agent.args(args);
    process::pass_model_key(&mut agent);
    let mut child = match tokio::process::Command::from(agent).spawn() {
        Ok(child) => child,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            eprintln!("agent command `{program}` not found");
            return 127;
        }
        Err(e) => {
            eprintln!("cannot start the agent `{program}`: {e}");
            return 126;
        }
    };
    let agent_pid = child.id().and_then(|p| i32::try_from(p).ok());
    // Orphans reparented here are reaped as they end (no polling: a guard sleeps between them).
    let Ok(mut reap) = signal(SignalKind::child()) else {
        eprintln!("aside guard: cannot listen for signals");
        return 70;
    };
    let status = loop {
        tokio::select! {
            status = child.wait() => break status,
            _ = term.recv() => return stop_group(&mut child).await,
            _ = hup.recv() => return stop_group(&mut child).await,
            _ = int.recv() => return stop_group(&mut child).await,
            _ = reap.recv() => process::reap_children(agent_pid),
        }
    };
    // The agent is gone: so is anything it left running, in the group or out of it.
    stop_descendants().await;
    match status {
        Ok(status) => exit_code(status),
        Err(_) => 1,
    }
}

/// Stops every descendant of the guard (those that left the group with `setsid` included):
/// SIGTERM, then SIGKILL after the grace to what is left.
async fn stop_descendants() {
    let me = std::process::id() as i32;
    for pid in process::descendants(me) {
        process::kill_pid(pid, libc::SIGTERM);
    }
    let deadline = tokio::time::Instant::now() + process::stop_grace();
    while tokio::time::Instant::now() < deadline {
        process::reap_children(None);
        if process::descendants(me).is_empty() {
            return;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    for pid in process::descendants(me) {
        process::kill_pid(pid, libc::SIGKILL);
    }
    process::reap_children(None);
}

fn exit_code(status: std::process::ExitStatus) -> i32 {
    use std::os::unix::process::ExitStatusExt as _;
    status
        .code()
        .or_else(|| status.signal().map(|s| 128 + s))
        .unwrap_or(1)
}

/// Stops the whole group (the guard is its leader): SIGTERM, then SIGKILL after the grace. The
/// guard itself handles SIGTERM, so it outlives the first round and sees the agent go.
async fn stop_group(child: &mut tokio::process::Child) -> i32 {
    let me = std::process::id() as i32;
    // The group, and what left it (a command that daemonized with setsid).
    let outside = process::descendants(me);
    process::kill_group(me, libc::SIGTERM);
    for pid in &outside {
        process::kill_pid(*pid, libc::SIGTERM);
    }
    let code = match tokio::time::timeout(process::stop_grace(), child.wait()).await {
        Ok(Ok(status)) => exit_code(status),
        _ => 128 + libc::SIGKILL,
    };
    for pid in process::descendants(me) {
        process::kill_pid(pid, libc::SIGKILL);
    }
    process::reap_children(None);
    // Whatever the agent started and left behind goes too; this ends the guard as well.
    process::kill_group(me, libc::SIGKILL);
    code
}
