//! Claude Code: `projects/<dir>/<session id>.jsonl` (the directory named after the cwd; the cwd
//! itself is read from the lines). An interactive session writes `sessions/<pid>.json` (`pid`,
//! `sessionId`, `procStart`: the process's start time in clock ticks after boot, as /proc
//! gives it); `claude -p` leaves no marker.

use super::{first_message, run_on, External, Summary, Tool};
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

pub(super) fn live(session: &External, markers: &[Value], processes: &super::Processes) -> bool {
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
            // Older versions write only `startedAt` (ms): it must match the start as well.
            let started_ms = marker["startedAt"].as_u64();
            processes.list.iter().any(|p| {
                let started_at = p
                    .started
                    .duration_since(std::time::UNIX_EPOCH)
                    .map(|d| d.as_millis() as u64)
                    .unwrap_or_default();
                i64::from(p.pid) == pid
                    && (p.runs("claude") || p.args.iter().take(3).any(|a| a.contains("claude")))
                    && match (started, started_ms) {
                        (Some(ticks), _) => ticks == p.start_ticks,
                        (None, Some(ms)) => ms.abs_diff(started_at) <= 3000,
                        (None, None) => false,
                    }
            })
        });
    marked || run_on(processes, "claude", &["-p", "--print"], session)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn session() -> External {
        External {
            tool: Tool::Claude,
            summary: Summary {
                id: "c1".into(),
                cwd: "/nowhere".into(),
                title: "t".into(),
                branch: None,
                created_at: None,
                client: Some("cli".into()),
            },
            file: "/nowhere/c1.jsonl".into(),
            modified: std::time::UNIX_EPOCH,
            live: false,
        }
    }

    fn process(pid: i32, program: &str, started_ms: u64, ticks: u64) -> super::super::Processes {
        super::super::Processes::of(vec![aside_core::process::ProcessInfo {
            pid,
            args: vec![program.into()],
            cwd: None,
            started: std::time::UNIX_EPOCH + std::time::Duration::from_millis(started_ms),
            start_ticks: ticks,
        }])
    }

    #[test]
    fn a_marker_counts_only_for_the_claude_process_that_wrote_it() {
        let by_ticks = [serde_json::json!({"pid": 42, "sessionId": "c1", "procStart": "777"})];
        assert!(live(
            &session(),
            &by_ticks,
            &process(42, "/usr/bin/claude", 0, 777)
        ));
        // The pid, reused by a process started later.
        assert!(!live(
            &session(),
            &by_ticks,
            &process(42, "/usr/bin/claude", 0, 900)
        ));
        // Older versions write startedAt (ms) only.
        let by_ms = [serde_json::json!({"pid": 42, "sessionId": "c1", "startedAt": 5_000})];
        assert!(live(&session(), &by_ms, &process(42, "claude", 5_400, 0)));
        assert!(!live(&session(), &by_ms, &process(42, "sleep", 5_400, 0)));
        assert!(!live(&session(), &by_ms, &process(42, "claude", 60_000, 0)));
    }
}
