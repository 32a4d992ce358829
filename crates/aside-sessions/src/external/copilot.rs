//! GitHub Copilot CLI: `session-state/<id>/events.jsonl`, with `workspace.yaml` beside it (id,
//! cwd, branch, name, `client_name`). A directory without `events.jsonl` is an empty shell. The
//! interactive CLI holds `inuse.<pid>.lock` in the directory while the session is open (left
//! behind by a crash); `copilot -p` writes no marker.

use super::{first_message, run_on, External, Summary, Tool};
use serde_json::Value;
use std::path::{Path, PathBuf};

pub(super) fn files(home: &Path) -> Vec<PathBuf> {
    let Ok(dir) = std::fs::read_dir(home.join("session-state")) else {
        return Vec::new();
    };
    dir.flatten()
        .map(|entry| entry.path().join("events.jsonl"))
        .filter(|file| file.is_file())
        .collect()
}

/// `key: value` of a flat YAML file, the value unquoted (`'it''s'`, `"a \" b"`).
fn yaml_value(yaml: &str, key: &str) -> Option<String> {
    let value = yaml
        .lines()
        .find_map(|line| line.strip_prefix(key)?.strip_prefix(':'))?
        .trim();
    let value = if let Some(inner) = value.strip_prefix('\'').and_then(|v| v.strip_suffix('\'')) {
        inner.replace("''", "'")
    } else if let Some(inner) = value.strip_prefix('"').and_then(|v| v.strip_suffix('"')) {
        serde_json::from_str::<String>(&format!("\"{inner}\"")).unwrap_or_else(|_| inner.into())
    } else {
        value.to_string()
    };
    (!value.is_empty() && value != "null" && value != "~").then_some(value)
}

pub(super) fn summarize(file: &Path, head: &[u8]) -> Option<Summary> {
    let dir = file.parent()?;
    let yaml = std::fs::read_to_string(dir.join("workspace.yaml")).unwrap_or_default();
    let start: Value = head
        .split(|b| *b == b'\n')
        .filter_map(|l| serde_json::from_slice::<Value>(l).ok())
        .find(|l| l["type"] == "session.start")
        .unwrap_or(Value::Null);
    if start.is_null() {
        // No session.start in it: not (yet) a session, or not Copilot's.
        return None;
    }
    let context = &start["data"]["context"];
    let id = yaml_value(&yaml, "id")
        .or_else(|| start["data"]["sessionId"].as_str().map(str::to_string))
        .or_else(|| Some(dir.file_name()?.to_string_lossy().into_owned()))?;
    let cwd = yaml_value(&yaml, "cwd").or_else(|| context["cwd"].as_str().map(str::to_string))?;
    // Copilot names a session after its first message unless the user named it.
    let title = first_message(head, Tool::Copilot).or_else(|| yaml_value(&yaml, "name"))?;
    Some(Summary {
        id,
        cwd: PathBuf::from(cwd),
        title,
        branch: yaml_value(&yaml, "branch")
            .or_else(|| context["branch"].as_str().map(str::to_string)),
        created_at: yaml_value(&yaml, "created_at")
            .or_else(|| start["data"]["startTime"].as_str().map(str::to_string)),
        client: yaml_value(&yaml, "client_name"),
    })
}

pub(super) fn live(session: &External, processes: &super::Processes) -> bool {
    let dir = session.file.parent().unwrap_or(Path::new("/"));
    let locked = std::fs::read_dir(dir)
        .into_iter()
        .flatten()
        .flatten()
        .any(|entry| {
            let name = entry.file_name().to_string_lossy().into_owned();
            let Some(pid) = name
                .strip_prefix("inuse.")
                .and_then(|n| n.strip_suffix(".lock"))
                .and_then(|n| n.parse::<i32>().ok())
            else {
                return false;
            };
            // A lock left by a crash names a pid that is gone, or reused by a process started
            // after the lock was taken, or by another program.
            let taken = entry.metadata().and_then(|m| m.modified()).ok();
            processes.list.iter().any(|p| {
                p.pid == pid
                    && p.runs("copilot")
                    && taken.is_none_or(|t| p.started <= t + std::time::Duration::from_secs(1))
            })
        });
    locked || run_on(processes, "copilot", &[], session)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn workspace_yaml_values_are_unquoted() {
        let yaml = "id: abc\ncwd: /tmp/x y\nname: 'it''s: a test'\nbranch: \"main\"\nsummary: ~\n";
        assert_eq!(yaml_value(yaml, "id").as_deref(), Some("abc"));
        assert_eq!(yaml_value(yaml, "cwd").as_deref(), Some("/tmp/x y"));
        assert_eq!(yaml_value(yaml, "name").as_deref(), Some("it's: a test"));
        assert_eq!(yaml_value(yaml, "branch").as_deref(), Some("main"));
        assert_eq!(yaml_value(yaml, "summary"), None);
        assert_eq!(yaml_value(yaml, "missing"), None);
    }
}
