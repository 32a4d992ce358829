//! A session's changes as AHP changesets, for the Agents window's Changes panel and diffs: all
//! of them (its worktree against its base: what `aside apply` brings) and each turn's (its
//! checkpoint commit against the one before). Files come from git; their contents through
//! `resourceRead` (the worktree's files, and `aside-git:` URIs of a commit's).

use super::root::{escape, file_uri, AT_COMMIT, CHANGES};
use aside_core::SessionRecord;
use aside_sessions::Sessions;
use serde_json::{json, Value};

/// The changesets a session offers (its session state's `changesets`).
pub fn offered(id: &str) -> Value {
    json!([
        {"label": "All Changes", "uriTemplate": format!("{CHANGES}:/{id}/session"), "changeKind": "session",
            "description": "Everything the session changed since its base: what `aside apply` brings"},
        {"label": "Turn", "uriTemplate": format!("{CHANGES}:/{id}/turn/{{turnId}}"), "changeKind": "turn",
            "description": "What one turn changed"},
    ])
}

/// The URI of `path` as commit `rev` of session `id` holds it.
pub fn at_commit(id: &str, rev: &str, path: &str) -> String {
    format!("{AT_COMMIT}:/{id}/{rev}/{}", escape(path))
}

/// Reads an `aside-git:` URI: the session, the commit and the path.
pub fn parse_at_commit(uri: &str) -> Option<(String, String, String)> {
    let rest = uri.strip_prefix(&format!("{AT_COMMIT}:/"))?;
    let (id, rest) = rest.split_once('/')?;
    let (rev, path) = rest.split_once('/')?;
    Some((
        id.to_string(),
        rev.to_string(),
        super::root::unescape(path)?,
    ))
}

/// The changeset's state: all the session's changes (`turn` None) or one turn's. A turn whose
/// checkpoint is not known (before what aside follows of the session, or no checkpoint yet)
/// has none.
pub fn state(
    sessions: &Sessions,
    record: &SessionRecord,
    checkpoint: Option<Option<String>>,
) -> Result<Value, String> {
    let id = record.id.as_str();
    let files = match &checkpoint {
        None => {
            let base = Sessions::base_of(record);
            sessions
                .changed_files(record)
                .into_iter()
                .map(|f| {
                    let before = sessions
                        .file_at(record, &base, &f.path)
                        .ok()
                        .flatten()
                        .is_some()
                        .then(|| side(record, &f.path, at_commit(id, &base, &f.path)));
                    let local = record.worktree.join(&f.path);
                    let after = local
                        .exists()
                        .then(|| side(record, &f.path, file_uri(&local)));
                    file(record, &f.path, before, after, f.added, f.removed)
                })
                .collect::<Vec<_>>()
        }
        Some(None) => Vec::new(),
        Some(Some(commit)) => {
            let parent = format!("{commit}^");
            sessions
                .checkpoint_changes(record, commit)
                .map_err(|e| e.to_string())?
                .into_iter()
                .map(|f| {
                    let exists = |rev: &str| {
                        sessions
                            .file_at(record, rev, &f.path)
                            .ok()
                            .flatten()
                            .is_some()
                    };
                    let before = exists(&parent)
                        .then(|| side(record, &f.path, at_commit(id, &parent, &f.path)));
                    let after = exists(commit)
                        .then(|| side(record, &f.path, at_commit(id, commit, &f.path)));
                    file(record, &f.path, before, after, f.added, f.removed)
                })
                .collect()
        }
    };
    Ok(json!({"status": "ready", "files": files}))
}

fn side(record: &SessionRecord, path: &str, content: String) -> Value {
    json!({"uri": file_uri(&record.worktree.join(path)), "content": {"uri": content}})
}

fn file(
    record: &SessionRecord,
    path: &str,
    before: Option<Value>,
    after: Option<Value>,
    added: u64,
    removed: u64,
) -> Value {
    let mut edit = json!({"diff": {"added": added, "removed": removed}});
    if let Some(before) = before {
        edit["before"] = before;
    }
    if let Some(after) = after {
        edit["after"] = after;
    }
    json!({"id": file_uri(&record.worktree.join(path)), "edit": edit})
}
