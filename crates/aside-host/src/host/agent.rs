//! The agent's process: started under `aside guard` in its own process group, its stderr kept
//! for failure reasons, stopped whole.

use aside_core::SessionId;
use aside_store::Layout;
use std::path::Path;
use std::time::Duration;

/// How long an agent may take to answer `initialize` (`ASIDE_AGENT_STARTUP_TIMEOUT` seconds,
/// default 30): a wrong command becomes a failed session, not a hang.
pub(crate) fn startup_timeout() -> Duration {
    let secs = std::env::var("ASIDE_AGENT_STARTUP_TIMEOUT")
        .ok()
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or(30);
    Duration::from_secs(secs)
}

/// Lines of the agent's stderr kept for a failure reason.
pub(crate) const STDERR_TAIL: usize = 20;

/// Stops the agent process group an earlier host of this session left behind (that host was
/// killed before it could, and its guard did not), so a resumed session never runs two agents.
pub(crate) fn stop_leftover(layout: &Layout, id: &SessionId, worktree: &Path) {
    let file = pgid_file(layout, id);
    let Some(pgid) = std::fs::read_to_string(&file)
        .ok()
        .and_then(|s| s.trim().parse::<i32>().ok())
    else {
        return;
    };
    // Only if that group still runs our agent: its leader's cwd is the session's worktree.
    let cwd = std::fs::read_link(format!("/proc/{pgid}/cwd")).ok();
    if cwd.as_deref() == Some(worktree) {
        kill_group(Some(pgid), libc::SIGKILL);
    }
    let _ = std::fs::remove_file(file);
}

/// Where the agent's process group is remembered, for the next host.
pub(crate) fn pgid_file(layout: &Layout, id: &SessionId) -> std::path::PathBuf {
    layout.session_dir(id).join("agent.pgid")
}

pub(crate) fn kill_group(pgid: Option<i32>, signal: i32) {
    if let Some(pgid) = pgid {
        aside_core::process::kill_group(pgid, signal);
    }
}

/// Stops the agent: its stdin closes with the connection; then SIGTERM, then SIGKILL, on the
/// whole group (npm launchers start the real binary as a child).
pub(crate) async fn stop_agent(child: &mut tokio::process::Child, pgid: Option<i32>) {
    if tokio::time::timeout(Duration::from_millis(500), child.wait())
        .await
        .is_err()
    {
        kill_group(pgid, libc::SIGTERM);
        if tokio::time::timeout(Duration::from_secs(2), child.wait())
            .await
            .is_err()
        {
            kill_group(pgid, libc::SIGKILL);
            let _ = child.wait().await;
        }
    }
    kill_group(pgid, libc::SIGKILL);
}
