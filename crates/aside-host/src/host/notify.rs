//! Telling the user that a session needs an answer, completed or failed: their `[notify]
//! command` (the session's id, title, status, repository and reason in its environment), and a
//! desktop notification where asked and a desktop session bus is present. Both run detached
//! and are never waited for: a slow or broken hook cannot hold the session.

use aside_core::config::NotifyConfig;
use aside_core::SessionRecord;
use std::process::{Command, Stdio};

fn spawn(mut cmd: Command) {
    cmd.stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null());
    aside_core::process::detach(&mut cmd);
    match cmd.spawn() {
        // Reaped by a thread, so the host keeps no zombie.
        Ok(mut child) => {
            std::thread::spawn(move || child.wait());
        }
        Err(e) => tracing::warn!("cannot run the notification command: {e}"),
    }
}

pub(crate) fn tell(config: &NotifyConfig, record: &SessionRecord, reason: Option<&str>) {
    let status = record.status.as_str();
    if let Some((program, args)) = config.command.as_ref().and_then(|c| c.split_first()) {
        let mut cmd = Command::new(program);
        cmd.args(args)
            .env("ASIDE_SESSION_ID", record.id.as_str())
            .env("ASIDE_SESSION_TITLE", &record.title)
            .env("ASIDE_SESSION_STATUS", status)
            .env("ASIDE_SESSION_REPO", &record.repo)
            .env("ASIDE_SESSION_REASON", reason.unwrap_or_default())
            .current_dir(&record.repo);
        spawn(cmd);
    }
    let bus = std::env::var_os("DBUS_SESSION_BUS_ADDRESS").is_some_and(|v| !v.is_empty());
    if config.desktop == Some(true) && bus {
        let what = match record.status {
            aside_core::Status::NeedsInput => "needs your answer",
            aside_core::Status::Failed => "failed",
            _ => "is done",
        };
        let mut cmd = Command::new("notify-send");
        cmd.args(["--app-name=aside", &format!("{} {what}", record.title)])
            .arg(format!("aside show {}", record.id));
        spawn(cmd);
    }
}
