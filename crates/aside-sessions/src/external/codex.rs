//! Codex: `sessions/YYYY/MM/DD/rollout-<local time>-<thread id>.jsonl`, first line
//! `session_meta` (id, cwd, git branch, `originator`: `codex_exec` for `codex exec`). A process
//! that owns a thread holds an exclusive flock on `thread-writer-locks/<id>.lock` (the file
//! outlives the lock); `codex exec` takes none.

use super::{first_message, run_on, External, Summary, Tool};
use serde_json::Value;
use std::path::{Path, PathBuf};

/// The files of the three date levels under `sessions/` (archived sessions are not listed).
pub(super) fn files(home: &Path) -> Vec<PathBuf> {
    let mut level = vec![home.join("sessions")];
    for _ in 0..3 {
        level = level
            .iter()
            .filter_map(|dir| std::fs::read_dir(dir).ok())
            .flat_map(|d| d.flatten().map(|e| e.path()))
            .filter(|p| p.is_dir())
            .collect();
    }
    level
        .iter()
        .filter_map(|dir| std::fs::read_dir(dir).ok())
        .flat_map(|d| d.flatten().map(|e| e.path()))
        .filter(|p| {
            let name = p.file_name().unwrap_or_default().to_string_lossy();
            name.starts_with("rollout-") && name.ends_with(".jsonl")
        })
        .collect()
}

pub(super) fn summarize(_file: &Path, head: &[u8]) -> Option<Summary> {
    let first = head.split(|b| *b == b'\n').next()?;
    let line: Value = serde_json::from_slice(first).ok()?;
    if line["type"] != "session_meta" {
        return None;
    }
    let meta = &line["payload"];
    let text = |v: &Value| v.as_str().map(str::to_string);
    Some(Summary {
        id: text(&meta["id"])?,
        cwd: PathBuf::from(text(&meta["cwd"])?),
        title: first_message(head, Tool::Codex)?,
        branch: text(&meta["git"]["branch"]),
        created_at: text(&meta["timestamp"]),
        client: text(&meta["originator"]),
    })
}

pub(super) fn live(session: &External, home: &Path, processes: &super::Processes) -> bool {
    let lock = home
        .join("thread-writer-locks")
        .join(format!("{}.lock", session.summary.id));
    // Taking the lock for an instant tells whether another process holds it; a file without a
    // holder is a leftover.
    let held =
        std::fs::File::open(&lock).is_ok_and(|file| !aside_core::process::try_flock(&file, false));
    held || run_on(processes, "codex", &[], session)
}
