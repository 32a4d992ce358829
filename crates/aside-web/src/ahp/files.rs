//! New sessions from a client (their options, the folder picker, `createSession`), what
//! disposing one does (archive, at most), and reading files: all of it confined to the
//! repositories aside knows and its sessions' worktrees.

use super::conn::{Conn, RpcError};
use super::root::{self, file_path, file_uri};
use ahp_types::errors::{ahp_error_codes, json_rpc_error_codes};
use aside_core::{Config, Mode, SessionKind};
use aside_sessions::{NewSession, Sessions};
use serde_json::{json, Value};
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// The largest file `resourceRead` gives.
pub const MAX_READ: u64 = 8 * 1024 * 1024;

fn internal(e: impl std::fmt::Display) -> RpcError {
    RpcError::new(-32603, e.to_string())
}

async fn blocking<T: Send + 'static>(
    conn: &Conn,
    work: impl FnOnce(&Sessions) -> Result<T, RpcError> + Send + 'static,
) -> Result<T, RpcError> {
    let layout = conn.hub.layout.clone();
    tokio::task::spawn_blocking(move || {
        let sessions = Sessions::open_at(layout).map_err(internal)?;
        work(&sessions)
    })
    .await
    .map_err(internal)?
}

/// Where a new session's folder picker starts: the repository aside used last, else the
/// directory `aside ui` runs in.
pub fn default_directory(layout: aside_store::Layout) -> Option<String> {
    let sessions = Sessions::open_at(layout).ok()?;
    let repo = sessions
        .index
        .list(true)
        .ok()
        .and_then(|all| all.first().map(|r| r.repo.clone()))
        .or_else(|| std::env::current_dir().ok())?;
    Some(file_uri(&repo))
}

/// The folders a client may see: the repositories aside knows and its sessions' worktrees.
fn roots(sessions: &Sessions) -> Vec<PathBuf> {
    // Never a home directory or the whole disk (a workspace session may have run in one).
    let home = std::env::var_os("HOME").and_then(|h| PathBuf::from(h).canonicalize().ok());
    let too_wide = |p: &Path| p.parent().is_none() || Some(p) == home.as_deref();
    let mut roots: Vec<PathBuf> = sessions.repos().unwrap_or_default();
    roots.extend(
        sessions
            .index
            .list(true)
            .unwrap_or_default()
            .into_iter()
            .map(|r| r.worktree),
    );
    let mut roots: Vec<PathBuf> = roots
        .into_iter()
        .filter_map(|r| r.canonicalize().ok())
        .filter(|r| !too_wide(r))
        .collect();
    roots.sort();
    roots.dedup();
    roots
}

/// A path from a client's URI, as it is on disk (links followed). A path that does not exist
/// is refused as one outside would be: the answer tells nothing of what exists where.
fn local(uri: &str) -> Result<PathBuf, RpcError> {
    let path = file_path(uri).ok_or_else(|| {
        RpcError::invalid(format!(
            "{uri} is not an absolute file: URI on this machine"
        ))
    })?;
    path.canonicalize().map_err(|_| refused(uri))
}

fn inside(roots: &[PathBuf], path: &Path) -> bool {
    roots.iter().any(|r| path.starts_with(r))
}

fn refused(uri: &str) -> RpcError {
    RpcError::new(
        ahp_error_codes::PERMISSION_DENIED,
        format!(
            "{uri} is outside the repositories aside knows and its sessions' worktrees, or missing"
        ),
    )
}

/// `resourceList`: a folder's entries inside what aside knows; above it, only the folders
/// that lead there (the picker can walk down to a repository, and sees nothing else).
pub async fn list(conn: &Arc<Conn>, params: &Value) -> Result<Value, RpcError> {
    let uri = params["uri"].as_str().unwrap_or_default().to_string();
    blocking(conn, move |sessions| {
        let dir = local(&uri)?;
        let roots = roots(sessions);
        let leads: Vec<&PathBuf> = roots.iter().filter(|r| r.starts_with(&dir)).collect();
        if !inside(&roots, &dir) && leads.is_empty() {
            return Err(refused(&uri));
        }
        let mut entries = Vec::new();
        for entry in std::fs::read_dir(&dir).map_err(internal)?.flatten() {
            let path = entry.path();
            let kind = match entry.file_type() {
                Ok(t) if t.is_dir() => "directory",
                Ok(t) if t.is_file() => "file",
                Ok(t) if t.is_symlink() => match path.metadata() {
                    Ok(m) if m.is_dir() => "directory",
                    Ok(_) => "file",
                    Err(_) => continue,
                },
                _ => continue,
            };
            let shown = inside(&roots, &dir)
                || leads
                    .iter()
                    .any(|r| path.canonicalize().is_ok_and(|p| r.starts_with(&p)));
            if shown {
                entries.push(json!({"name": entry.file_name().to_string_lossy(), "type": kind}));
            }
        }
        entries.sort_by(|a, b| a["name"].as_str().cmp(&b["name"].as_str()));
        Ok(json!({"entries": entries}))
    })
    .await
}

/// `resourceResolve`: what a path is (inside what aside knows, or a folder leading there).
pub async fn resolve(conn: &Arc<Conn>, params: &Value) -> Result<Value, RpcError> {
    let uri = params["uri"].as_str().unwrap_or_default().to_string();
    blocking(conn, move |sessions| {
        let path = local(&uri)?;
        let roots = roots(sessions);
        if !inside(&roots, &path) && !roots.iter().any(|r| r.starts_with(&path)) {
            return Err(refused(&uri));
        }
        let meta = path.metadata().map_err(internal)?;
        Ok(json!({
            "uri": file_uri(&path),
            "type": if meta.is_dir() { "directory" } else { "file" },
            "size": meta.len(),
        }))
    })
    .await
}

fn content(bytes: Vec<u8>) -> Value {
    match String::from_utf8(bytes) {
        Ok(text) => json!({"data": text, "encoding": "utf-8"}),
        Err(e) => json!({"data": base64(e.as_bytes()), "encoding": "base64"}),
    }
}

/// `resourceRead`: a file inside what aside knows, or as a commit of a session holds it
/// (`aside-git:`), as text when it is, else base64.
pub async fn read(conn: &Arc<Conn>, params: &Value) -> Result<Value, RpcError> {
    let uri = params["uri"].as_str().unwrap_or_default().to_string();
    if let Some((id, rev, path)) = super::changes::parse_at_commit(&uri) {
        return blocking(conn, move |sessions| {
            let record = root::record(sessions, &id)
                .map_err(|e| RpcError::new(ahp_error_codes::SESSION_NOT_FOUND, e))?;
            let bytes = sessions
                .file_at(&record, &rev, &path)
                .map_err(|e| RpcError::invalid(e.to_string()))?
                .ok_or_else(|| {
                    RpcError::new(
                        ahp_error_codes::NOT_FOUND,
                        format!("{uri}: no such file at that commit"),
                    )
                })?;
            Ok(content(bytes))
        })
        .await;
    }
    blocking(conn, move |sessions| {
        let path = local(&uri)?;
        if !inside(&roots(sessions), &path) {
            return Err(refused(&uri));
        }
        let meta = path.metadata().map_err(internal)?;
        if !meta.is_file() {
            return Err(RpcError::invalid(format!("{uri} is not a file")));
        }
        if meta.len() > MAX_READ {
            return Err(RpcError::invalid(format!(
                "{uri} is {} bytes; aside reads files of at most {MAX_READ}",
                meta.len()
            )));
        }
        Ok(content(std::fs::read(&path).map_err(internal)?))
    })
    .await
}

fn base64(bytes: &[u8]) -> String {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::with_capacity(bytes.len().div_ceil(3) * 4);
    for chunk in bytes.chunks(3) {
        let n = chunk
            .iter()
            .enumerate()
            .fold(0u32, |acc, (i, b)| acc | (u32::from(*b) << (16 - 8 * i)));
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(ALPHABET[((n >> (18 - 6 * i)) & 63) as usize] as char);
            } else {
                out.push('=');
            }
        }
    }
    out
}

/// `resolveSessionConfig`: what a new session may be asked for.
pub async fn resolve_config(_conn: &Arc<Conn>, params: &Value) -> Result<Value, RpcError> {
    let config = params["config"].clone();
    let pick = |key: &str, default: Value| {
        config
            .get(key)
            .filter(|v| !v.is_null())
            .cloned()
            .unwrap_or(default)
    };
    Ok(json!({
        "schema": {
            "type": "object",
            "properties": {
                "isolation": {"type": "string", "title": "Isolation", "default": "worktree",
                    "enum": ["worktree", "folder"],
                    "enumLabels": ["Isolated", "Workspace"],
                    "enumDescriptions": ["In a new git worktree on its own branch (aside's default)", "In the folder itself, beside your own edits"]},
                "branch": {"type": "string", "title": "Base", "description": "The branch or commit the worktree starts from (empty: what is checked out)", "default": ""},
                "plan": {"type": "boolean", "title": "Plan first", "description": "The first turn only plans (the agent's plan mode, or a plan-only instruction); the turns after it carry the plan out", "default": false},
                "model": {"type": "string", "title": "Model", "description": "The model the agent uses (empty: the agent's default)", "default": ""},
                "budget": {"type": "string", "title": "Budget", "description": "Stop its turn when it has used this much: tokens (200k), dollars ($3) or both (empty: your config's)", "default": ""},
                "autoApprove": {"type": "string", "title": "Approvals", "default": "default",
                    "enum": ["default", "all", "edits", "ask"],
                    "enumLabels": ["aside's default for the isolation", "Allow everything", "Allow edits, ask for the rest", "Ask for everything"]},
            },
        },
        "values": {
            "isolation": pick("isolation", json!("worktree")),
            "branch": pick("branch", json!("")),
            "plan": pick("plan", json!(false)),
            "model": pick("model", json!("")),
            "budget": pick("budget", json!("")),
            "autoApprove": pick("autoApprove", json!("default")),
        },
    }))
}

/// `createSession`: an aside session in the folder's repository that waits for its first
/// message (the client sends it as the first turn), under the channel the client chose.
pub async fn create(conn: &Arc<Conn>, params: &Value) -> Result<Value, RpcError> {
    let uri = params["channel"].as_str().unwrap_or_default().to_string();
    let shape = || {
        RpcError::invalid(format!(
            "`channel` {uri:?} is not a new session's URI: PROVIDER:/ID, PROVIDER one of the root state's agents"
        ))
    };
    let (scheme, rest) = uri.split_once(":/").ok_or_else(shape)?;
    let rest = rest.trim_start_matches('/');
    if scheme.is_empty()
        || !scheme.chars().all(|c| c.is_ascii_alphanumeric())
        || rest.is_empty()
        || rest.len() > 200
        || uri.chars().any(char::is_control)
    {
        return Err(shape());
    }
    let provider = params["provider"].as_str().unwrap_or(scheme).to_string();
    if provider != scheme {
        return Err(shape());
    }
    // A channel that names a session already (aside's own, or one a client chose) is not
    // taken over.
    let taken = match conn.hub.channel(&uri) {
        // One on another machine's (`NAME:ID`) is that machine's.
        Some(root::Channel::Session(id)) if aside_sessions::remote::split(&id).is_some() => true,
        Some(root::Channel::Session(id)) => {
            conn.hub.alias_of(&id).as_deref() == Some(uri.as_str()) || {
                let layout = conn.hub.layout.clone();
                tokio::task::spawn_blocking(move || {
                    Sessions::open_at(layout)
                        .ok()
                        .is_some_and(|s| root::record(&s, &id).is_ok())
                })
                .await
                .unwrap_or(true)
            }
        }
        Some(_) => true,
        None => false,
    };
    if taken {
        return Err(RpcError::new(
            ahp_error_codes::CONFLICT,
            format!("{uri} is a session already: choose a new URI for a new session"),
        ));
    }
    let agent = tokio::task::spawn_blocking({
        let provider = provider.clone();
        move || root::agent_of(&provider)
    })
    .await
    .map_err(internal)?
    .ok_or_else(|| {
        RpcError::invalid(format!(
            "aside has no agent `{provider}`: use one of the root state's agents"
        ))
    })?;
    let dir = params["workingDirectories"][0]
        .as_str()
        .ok_or_else(|| RpcError::invalid("`workingDirectories` is missing: choose a folder"))?
        .to_string();
    let dir = file_path(&dir)
        .ok_or_else(|| RpcError::invalid(format!("{dir} is not a file: URI on this machine")))?;
    let config_values = params["config"].clone();
    let text = |key: &str| {
        config_values[key]
            .as_str()
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .map(str::to_string)
    };
    let mode = match text("isolation").as_deref() {
        Some("folder") | Some("workspace") => Mode::Workspace,
        _ => Mode::Isolated,
    };
    let approve = match text("autoApprove").as_deref() {
        Some(a @ ("all" | "edits" | "ask")) => aside_core::Approve::parse(a),
        _ => None,
    };
    let plan = config_values["plan"].as_bool() == Some(true);
    let budget = text("budget")
        .map(|b| aside_core::usage::Budget::parse(&b))
        .transpose()
        .map_err(RpcError::invalid)?;
    let new = NewSession {
        task: String::new(),
        agent,
        mode,
        base: text("branch"),
        name: None,
        approve,
        dir,
        kind: SessionKind::Chat,
        title: Some(if plan {
            "New plan".into()
        } else {
            "New session".into()
        }),
        model: text("model"),
        no_submodules: false,
        sandbox: None,
        budget,
        from: None,
    };
    let config = Config::load_user().map_err(|e| RpcError::invalid(e.to_string()))?;
    let record = blocking(conn, move |sessions| {
        sessions
            .create(new, &config)
            .map_err(|e| RpcError::new(json_rpc_error_codes::INVALID_PARAMS, e.to_string()))
    })
    .await?;
    conn.hub.alias(record.id.as_str(), &uri);
    if plan {
        if let Ok(mut planning) = conn.hub.plan_first.lock() {
            planning.insert(record.id.to_string(), false);
        }
    }
    Ok(json!({}))
}

/// `disposeSession`: archives it, never more. (VS Code disposes sessions it only meant to
/// show; a worktree and its unapplied work stay until the user removes them with aside.)
pub async fn dispose(conn: &Arc<Conn>, params: &Value) -> Result<Value, RpcError> {
    let uri = params["channel"].as_str().unwrap_or_default().to_string();
    let id = conn
        .hub
        .channel(&uri)
        .and_then(|c| c.session().map(str::to_string))
        .ok_or_else(|| {
            RpcError::new(
                ahp_error_codes::SESSION_NOT_FOUND,
                format!("no session {uri}"),
            )
        })?;
    blocking(conn, move |sessions| {
        let record = root::record(sessions, &id)
            .map_err(|e| RpcError::new(ahp_error_codes::SESSION_NOT_FOUND, e))?;
        sessions.archive(&record, true).map_err(internal)
    })
    .await?;
    Ok(json!({}))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn base64_pads() {
        assert_eq!(base64(b""), "");
        assert_eq!(base64(b"f"), "Zg==");
        assert_eq!(base64(b"fo"), "Zm8=");
        assert_eq!(base64(b"foo"), "Zm9v");
        assert_eq!(base64(&[0xff, 0x00, 0xfe, 0x01]), "/wD+AQ==");
    }
}
