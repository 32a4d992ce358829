//! Claude Code: `projects/<dir>/<session id>.jsonl` (the directory named after the cwd; the cwd
//! itself is read from the lines). An interactive session writes `sessions/<pid>.json` (`pid`,
//! `sessionId`, `procStart`: the process's start time in clock ticks after boot, as /proc
//! gives it); `claude -p` leaves no marker.

use super::{first_message, working_in, External, Summary, Tool};
use serde_json::Value;
use std::path::{Path, PathBuf};

pub(super) fn files(home: &Path) -> Vec<PathBuf> {
    let Ok(projects) = std::fs::read_dir(home.join("projects")) else {
        return Vec::new();
    };
    projects
        .flatten()
        .filter_map(|project| std::fs::read_dir(project.path()).ok())
        .flat_map(|d| d.flatten().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|e| e == "jsonl") && p.is_file())
        .collect()
}

pub(super) fn summarize(file: &Path, head: &[u8]) -> Option<Summary> {
    let lines: Vec<Value> = head
        .split(|b| *b == b'\n')
        .filter_map(|l| serde_json::from_slice::<Value>(l).ok())
        .collect();
    let placed = lines.iter().find(|l| l["cwd"].is_string())?;
    let text = |v: &Value| v.as_str().map(str::to_string);
    Some(Summary {
        id: text(&placed["sessionId"])
            .or_else(|| Some(file.file_stem()?.to_string_lossy().into_owned()))?,
        cwd: PathBuf::from(text(&placed["cwd"])?),
        title: first_message(head, Tool::Claude)?,
        branch: text(&placed["gitBranch"]).filter(|b| !b.is_empty()),
        created_at: text(&placed["timestamp"]),
        client: text(&placed["entrypoint"]),
    })
}

/// The markers of interactive sessions (`sessions/<pid>.json`), read once per scan.
pub(super) fn markers(home: &Path) -> Vec<Value> {
    std::fs::read_dir(home.join("sessions"))
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|entry| {
            serde_json::from_slice::<Value>(&std::fs::read(entry.path()).ok()?).ok()
        })
        .collect()
}

pub(super) fn live(
    session: &External,
    markers: &[Value],
    processes: &[aside_core::process::ProcessInfo],
) -> bool {
    let marked = markers
        .iter()
        .filter(|marker| marker["sessionId"] == session.summary.id.as_str())
        .any(|marker| {
            let pid = marker["pid"].as_i64().unwrap_or(-1);
            // procStart is a string of ticks; a marker whose pid now belongs to another process
            // (started at another time) is stale.
            let started = marker["procStart"]
                .as_str()
                .and_then(|s| s.parse::<u64>().ok())
                .or_else(|| marker["procStart"].as_u64());
            processes.iter().any(|p| {
                i64::from(p.pid) == pid && started.is_none_or(|ticks| ticks == p.start_ticks)
            })
        });
    marked || working_in(processes, "claude", &session.summary.cwd, session.modified)
}
