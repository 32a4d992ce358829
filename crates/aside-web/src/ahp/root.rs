//! The root channel: aside's agents as AHP agents, its sessions as AHP session summaries
//! (`listSessions`), and the list's changes pushed as `root/session*` notifications.

use super::hub::Hub;
use crate::api::{IndexProbe, LIST_LOOK, LIST_RECHECK};
use aside_core::{Config, SessionRecord};
use aside_sessions::{SessionView, Sessions};
use serde::Serialize;
use serde_json::{json, Value};
use std::collections::HashMap;
use std::path::Path;
use std::sync::Mutex;

/// The root channel.
pub const ROOT: &str = "ahp-root://";

/// An agent's AHP provider id: its name without dashes or other punctuation (VS Code reads the
/// provider as a URI scheme), `aside` when nothing is left.
pub fn provider(agent: &str) -> String {
    let id: String = agent
        .chars()
        .filter(char::is_ascii_alphanumeric)
        .map(|c| c.to_ascii_lowercase())
        .collect();
    match id.chars().next() {
        Some(c) if c.is_ascii_alphabetic() => id,
        Some(_) => format!("aside{id}"),
        None => "aside".to_string(),
    }
}

/// A session's channel: `<provider>:/<id>`.
pub fn session_uri(provider: &str, id: &str) -> String {
    format!("{provider}:/{id}")
}

/// A session's chat channel.
pub fn chat_uri(id: &str) -> String {
    format!("ahp-chat:/{id}")
}

/// A channel as aside reads it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Channel {
    /// The root.
    Root,
    /// A session's channel (the aside id).
    Session(String),
    /// A session's chat.
    Chat(String),
    /// A session's changes: all of them (None), or one turn's.
    Changes(String, Option<String>),
}

impl Channel {
    /// Reads a channel URI; None for one aside does not serve.
    pub fn parse(uri: &str) -> Option<Channel> {
        if uri == ROOT {
            return Some(Channel::Root);
        }
        let (scheme, rest) = uri.split_once(":/")?;
        if scheme == CHANGES {
            let (id, which) = rest.split_once('/')?;
            if !aside_core::SessionId::is_valid(id) {
                return None;
            }
            return match which.split_once('/') {
                None if which == "session" => Some(Channel::Changes(id.to_string(), None)),
                Some(("turn", turn)) if plain_id(turn) => {
                    Some(Channel::Changes(id.to_string(), Some(turn.to_string())))
                }
                _ => None,
            };
        }
        let id = rest.trim_start_matches('/');
        // A session here, or one on another machine (`NAME:ID`).
        if !aside_core::SessionId::is_valid(id) && aside_sessions::remote::split(id).is_none() {
            return None;
        }
        match scheme {
            "ahp-chat" => Some(Channel::Chat(id.to_string())),
            s if !s.is_empty() && s.chars().all(|c| c.is_ascii_alphanumeric()) => {
                Some(Channel::Session(id.to_string()))
            }
            _ => None,
        }
    }

    /// The aside session it is about.
    pub fn session(&self) -> Option<&str> {
        match self {
            Channel::Root => None,
            Channel::Session(id) | Channel::Chat(id) | Channel::Changes(id, _) => Some(id),
        }
    }
}

/// The scheme of a session's changesets: `aside-changes:/<id>/session`,
/// `aside-changes:/<id>/turn/<turn id>`.
pub const CHANGES: &str = "aside-changes";

/// The scheme of a file as a commit of a session holds it: `aside-git:/<id>/<commit>/<path>`.
pub const AT_COMMIT: &str = "aside-git";

/// Whether a turn id may stand in a URI as it is.
fn plain_id(id: &str) -> bool {
    !id.is_empty()
        && id.len() <= 128
        && id
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
}

/// A path as a URI holds it (the characters a URI path may not hold escaped).
pub fn escape(path: &str) -> String {
    let mut uri = String::new();
    for byte in path.bytes() {
        if byte.is_ascii_alphanumeric() || b"/-._~!$&'()*+,;=:@".contains(&byte) {
            uri.push(byte as char);
        } else {
            uri.push_str(&format!("%{byte:02X}"));
        }
    }
    uri
}

/// A URI's escaped path read back.
pub fn unescape(text: &str) -> Option<String> {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' && i + 2 < bytes.len() {
            let hex = std::str::from_utf8(&bytes[i + 1..i + 3]).ok()?;
            out.push(u8::from_str_radix(hex, 16).ok()?);
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8(out).ok()
}

/// A `file:` URI of a local path.
pub fn file_uri(path: &Path) -> String {
    format!("file://{}", escape(&path.to_string_lossy()))
}

/// The local path of a `file:` URI, if it is one.
pub fn file_path(uri: &str) -> Option<std::path::PathBuf> {
    let path = std::path::PathBuf::from(unescape(uri.strip_prefix("file://")?)?);
    path.is_absolute().then_some(path)
}

/// AHP's status bits of a session as its view shows it.
pub fn status_bits(view: &SessionView, read: bool) -> u32 {
    let mut bits = match view.status {
        "running" | "starting" | "queued" | "in_terminal" => 8,
        "needs_input" => 24,
        "failed" | "interrupted" => 2,
        _ => 1,
    };
    if view.pending_permission {
        bits = 24;
    }
    if view.archived {
        bits |= 64;
    }
    if read {
        bits |= 32;
    }
    bits
}

/// How many of the newest sessions a list reads the last line of (each is a read of its log;
/// the others say their status until they change and become the newest).
pub const LAST_LINES: usize = 200;

/// A session as AHP lists it (`SessionSummary`).
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Summary {
    pub resource: String,
    pub provider: String,
    pub title: String,
    pub status: u32,
    pub created_at: String,
    pub modified_at: String,
    pub activity: String,
    pub working_directories: Vec<String>,
    pub changes: Changes,
    pub default_chat: String,
    #[serde(rename = "_meta")]
    pub meta: Meta,
}

/// What a session changed (`ChangesSummary`).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Changes {
    pub files: u64,
    pub additions: u64,
    pub deletions: u64,
}

/// What aside adds to a summary.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Meta {
    #[serde(rename = "aside.id")]
    pub id: String,
    #[serde(rename = "aside.agent")]
    pub agent: String,
    #[serde(rename = "aside.branch")]
    pub branch: Option<String>,
    #[serde(rename = "aside.status")]
    pub status: String,
}

impl Summary {
    /// A session's summary from its view and the last line of its agent's message.
    pub fn of(view: &SessionView, line: &str) -> Summary {
        let provider = provider(view.agent);
        let line = line.trim();
        let activity = match (view.status, view.reason) {
            ("failed" | "interrupted", Some(reason)) => format!("{}: {reason}", view.status),
            _ if !line.is_empty() => line.to_string(),
            _ => view.status.replace('_', " "),
        };
        Summary {
            resource: session_uri(&provider, view.id),
            provider,
            title: view.title.to_string(),
            status: status_bits(view, false),
            created_at: view.created_at.to_string(),
            modified_at: view.updated_at.to_string(),
            activity,
            working_directories: vec![file_uri(view.worktree)],
            changes: Changes {
                files: view.changed_files,
                additions: view.lines_added,
                deletions: view.lines_removed,
            },
            default_chat: chat_uri(view.id),
            meta: Meta {
                id: view.id.to_string(),
                agent: view.agent.to_string(),
                branch: view.branch.map(str::to_string),
                status: view.status.to_string(),
            },
        }
    }

    /// The fields that differ from `old`, as `root/sessionSummaryChanged` sends them.
    pub fn changes_from(&self, old: &Summary) -> serde_json::Map<String, Value> {
        let (now, before) = (
            serde_json::to_value(self).unwrap_or_default(),
            serde_json::to_value(old).unwrap_or_default(),
        );
        let mut changes = serde_json::Map::new();
        for key in [
            "title",
            "status",
            "modifiedAt",
            "activity",
            "changes",
            "_meta",
        ] {
            if now[key] != before[key] {
                changes.insert(key.to_string(), now[key].clone());
            }
        }
        changes
    }
}

/// AHP summaries of these sessions, newest first as given (without the read flag: the hub
/// adds it). The last line of the newest [`LAST_LINES`] is read (once per change: cached with
/// the web view's list).
pub fn summaries(
    sessions: &Sessions,
    records: &[SessionRecord],
    cache: &Mutex<HashMap<String, (String, Value)>>,
) -> Vec<Summary> {
    let views = sessions.views(records);
    let mut cache = cache.lock().unwrap_or_else(|p| p.into_inner());
    records
        .iter()
        .zip(views)
        .enumerate()
        .map(|(n, (record, view))| {
            let line = match cache.get(view.id) {
                Some((at, progress)) if *at == record.updated_at => {
                    progress["last_line"].as_str().unwrap_or_default().to_string()
                }
                _ if n < LAST_LINES => {
                    let (plan, line) = sessions.progress(record);
                    let progress = json!({"plan": plan.map(|(done, total)| json!({"done": done, "total": total})), "last_line": line});
                    cache.insert(view.id.to_string(), (record.updated_at.clone(), progress));
                    line
                }
                _ => String::new(),
            };
            Summary::of(&view, &line)
        })
        .collect()
}

/// The summaries of sessions on other machines, as their lists gave them (ids `NAME:ID`): no
/// working directory (it is on that machine, not one a client here can open).
pub fn remote_summaries(items: &[Value]) -> Vec<Summary> {
    items
        .iter()
        .filter_map(|item| {
            let listed: aside_sessions::remote::Listed =
                serde_json::from_value(item.clone()).ok()?;
            let mut summary = Summary::of(&listed.view(), "");
            if item["unreachable"] == true {
                summary.activity = format!(
                    "{} cannot be reached: as last seen ({})",
                    item["machine"].as_str().unwrap_or("its machine"),
                    summary.activity
                );
            }
            summary.working_directories.clear();
            Some(summary)
        })
        .collect()
}

/// The aside session `id` names exactly (a client names sessions by their whole id).
pub fn record(sessions: &Sessions, id: &str) -> Result<SessionRecord, String> {
    sessions
        .index
        .get(&aside_core::SessionId(id.to_string()))
        .map_err(|e| e.to_string())?
        .ok_or_else(|| format!("no session {id}"))
}

/// Every session's summary, newest first, under the channels clients chose, with the read
/// flags they set.
pub fn list(hub: &Hub, sessions: &Sessions) -> Result<Vec<Summary>, String> {
    let records = sessions.index.list(true).map_err(|e| e.to_string())?;
    let mut all = summaries(sessions, &records, &hub.progress);
    all.extend(remote_summaries(&hub.machines.items(true)));
    let read = hub.read.lock().map(|r| r.clone()).unwrap_or_default();
    for s in &mut all {
        if let Some(uri) = hub.alias_of(&s.meta.id) {
            s.resource = uri;
        }
        if read.get(&s.meta.id) == Some(&s.modified_at) {
            s.status |= 32;
        }
    }
    Ok(all)
}

/// The root state: one agent per agent aside knows (installed first).
pub fn state() -> Value {
    let config = Config::load_user().unwrap_or_default();
    let exe = std::env::current_exe()
        .map(|e| e.display().to_string())
        .unwrap_or_default();
    let mut seen = Vec::new();
    let agents: Vec<Value> = aside_core::agents::detect_installed_first(&config, &exe)
        .iter()
        .filter_map(|a| {
            let id = provider(&a.name);
            if seen.contains(&id) {
                return None;
            }
            seen.push(id.clone());
            let description = if a.program.is_some() {
                format!("{} through aside: background sessions in their own worktrees", a.name)
            } else {
                format!(
                    "{} (not installed: {})",
                    a.name,
                    aside_core::agents::install_hint(&a.name)
                )
            };
            Some(json!({"provider": id, "displayName": a.name, "description": description, "models": []}))
        })
        .collect();
    json!({"agents": agents})
}

/// The agent a provider id names.
pub fn agent_of(provider_id: &str) -> Option<String> {
    let config = Config::load_user().unwrap_or_default();
    let exe = std::env::current_exe()
        .map(|e| e.display().to_string())
        .unwrap_or_default();
    aside_core::agents::detect_installed_first(&config, &exe)
        .into_iter()
        .map(|a| a.name)
        .find(|name| provider(name) == provider_id)
}

/// Watches the list while anyone listens: each session added, removed or changed becomes a
/// notification to every connection.
pub async fn watch(hub: &std::sync::Arc<Hub>) {
    let layout = hub.layout.clone();
    let probe = IndexProbe::open(layout).await;
    let mut known: Option<HashMap<String, Summary>> = None;
    let mut version: Option<i64> = None;
    let mut read_at: Option<std::time::Instant> = None;
    let mut remote: Vec<Value> = Vec::new();
    loop {
        if hub.notes.receiver_count() == 0 {
            let Ok(mut watching) = hub.watching.lock() else {
                return;
            };
            if hub.notes.receiver_count() == 0 {
                *watching = false;
                return;
            }
        }
        let now = probe.data_version().await;
        let due = read_at.is_none_or(|t| t.elapsed() >= LIST_RECHECK);
        let answered = hub.machines.items(true);
        let moved = answered != remote;
        remote = answered;
        if now.is_some() && now == version && !due && !moved {
            tokio::time::sleep(LIST_LOOK).await;
            continue;
        }
        version = now;
        read_at = Some(std::time::Instant::now());
        let layout = hub.layout.clone();
        let h = hub.clone();
        let listed = tokio::task::spawn_blocking(move || {
            let sessions = Sessions::open_at(layout).map_err(|e| e.to_string())?;
            list(&h, &sessions)
        })
        .await;
        let Ok(Ok(listed)) = listed else {
            tokio::time::sleep(LIST_RECHECK).await;
            continue;
        };
        let now: HashMap<String, Summary> = listed
            .into_iter()
            .map(|s| (s.resource.clone(), s))
            .collect();
        if let Some(before) = &known {
            for (uri, s) in &now {
                match before.get(uri) {
                    None => note(
                        hub,
                        "root/sessionAdded",
                        json!({"channel": ROOT, "summary": s}),
                    ),
                    Some(old) if old != s => {
                        note(
                            hub,
                            "root/sessionSummaryChanged",
                            json!({"channel": ROOT, "session": uri, "changes": s.changes_from(old)}),
                        );
                        if let Some(p) = hub.projected(&s.meta.id) {
                            p.summary_changed(hub, s.status, &s.activity);
                        }
                        // A checkpoint (or a status change: a turn ended) changes the work.
                        if old.changes != s.changes || old.meta.status != s.meta.status {
                            hub.reread_changes_soon(&s.meta.id);
                        }
                    }
                    Some(_) => {}
                }
            }
            for uri in before.keys().filter(|uri| !now.contains_key(*uri)) {
                note(
                    hub,
                    "root/sessionRemoved",
                    json!({"channel": ROOT, "session": uri}),
                );
            }
        }
        known = Some(now);
        tokio::time::sleep(LIST_LOOK).await;
    }
}

fn note(hub: &Hub, method: &str, params: Value) {
    let _ = hub.notes.send(std::sync::Arc::new(
        json!({"jsonrpc": "2.0", "method": method, "params": params}),
    ));
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn provider_ids_have_no_dashes_and_channels_read_back() {
        assert_eq!(provider("claude-code"), "claudecode");
        assert_eq!(provider("my_agent-2"), "myagent2");
        assert_eq!(provider("--"), "aside");
        assert_eq!(provider("9x"), "aside9x");
        assert_eq!(
            Channel::parse(&session_uri("copilot", "abc123")),
            Some(Channel::Session("abc123".into()))
        );
        assert_eq!(
            Channel::parse(&chat_uri("abc123")),
            Some(Channel::Chat("abc123".into()))
        );
        assert_eq!(Channel::parse("copilot:/../etc"), None);
        assert_eq!(Channel::parse("ahp-chat:/ABC"), None);
        assert_eq!(Channel::parse(ROOT), Some(Channel::Root));
        assert_eq!(
            Channel::parse("aside-changes:/abc/session"),
            Some(Channel::Changes("abc".into(), None))
        );
        assert_eq!(
            Channel::parse("aside-changes:/abc/turn/t12"),
            Some(Channel::Changes("abc".into(), Some("t12".into())))
        );
        assert_eq!(Channel::parse("aside-changes:/abc/turn/../x"), None);
        assert_eq!(Channel::parse("aside-changes:/abc/other"), None);
    }

    #[test]
    fn file_uris_escape_and_read_back() {
        let path = Path::new("/tmp/a b/ü%x");
        let uri = file_uri(path);
        assert_eq!(uri, "file:///tmp/a%20b/%C3%BC%25x");
        assert_eq!(file_path(&uri).unwrap(), path);
        assert_eq!(file_path("file://relative"), None);
        assert_eq!(file_path("http://x/y"), None);
    }
}
