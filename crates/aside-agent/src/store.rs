//! Sessions on disk, so that a new `aside agent` process can load or resume them.
//!
//! One directory per session under `$ASIDE_HOME/agent/sessions/<id>/`:
//! - `meta.json`: cwd, title, mode, times (rewritten atomically);
//! - `messages.json`: the conversation the model sees, already compacted (rewritten atomically;
//!   its size is bounded by the context window);
//! - `updates.jsonl`: every `session/update` sent to the client, appended, replayed on load.

use crate::model::Message;
use serde::{Deserialize, Serialize};
use std::io::Write as _;
use std::path::{Path, PathBuf};

/// What is known about a session besides its conversation.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Meta {
    /// The ACP session id.
    pub id: String,
    /// Working directory.
    pub cwd: PathBuf,
    /// Additional directories the tools may touch.
    #[serde(default)]
    pub additional_directories: Vec<PathBuf>,
    /// First words of the first prompt.
    pub title: Option<String>,
    /// `code` or `plan`.
    pub mode: String,
    /// The model this session asked for (ACP config option `model`); none: the configured one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub model: Option<String>,
    /// RFC 3339.
    pub created_at: String,
    /// RFC 3339.
    pub updated_at: String,
}

/// The directory all sessions live in.
#[derive(Debug, Clone)]
pub struct Store {
    root: PathBuf,
}

/// Writes `bytes` to `path` through a temp file and a rename, so a crash or a kill of the agent
/// leaves the old or the new content, never half of it. No fsync: it is a process crash this
/// guards against, and an fsync per step would cost more than the rest of a turn.
fn write_atomic(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    let tmp = path.with_extension("tmp");
    std::fs::write(&tmp, bytes)?;
    std::fs::rename(&tmp, path)
}

impl Store {
    /// The store under `$ASIDE_HOME`.
    pub fn open_default() -> std::io::Result<Store> {
        Store::open(&aside_core::paths::agent_store(
            &aside_core::paths::aside_home(),
        ))
    }

    /// A store in `root`, created private to the user.
    pub fn open(root: &Path) -> std::io::Result<Store> {
        use std::os::unix::fs::DirBuilderExt as _;
        std::fs::DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(root)?;
        Ok(Store {
            root: root.to_path_buf(),
        })
    }

    fn dir(&self, id: &str) -> Option<PathBuf> {
        // Ids come from clients: only our own shape is a valid directory name.
        let valid = !id.is_empty()
            && id.len() <= 64
            && id
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_');
        valid.then(|| self.root.join(id))
    }

    /// Creates the directory of a new session and writes its meta.
    pub fn create(&self, meta: &Meta) -> std::io::Result<()> {
        let dir = self
            .dir(&meta.id)
            .ok_or_else(|| std::io::Error::other("invalid session id"))?;
        std::fs::create_dir_all(&dir)?;
        self.save_meta(meta)?;
        self.save_messages(&meta.id, &[])
    }

    /// Rewrites a session's meta.
    pub fn save_meta(&self, meta: &Meta) -> std::io::Result<()> {
        let dir = self
            .dir(&meta.id)
            .ok_or_else(|| std::io::Error::other("invalid session id"))?;
        write_atomic(&dir.join("meta.json"), &serde_json::to_vec_pretty(meta)?)
    }

    /// Rewrites a session's conversation.
    pub fn save_messages(&self, id: &str, messages: &[Message]) -> std::io::Result<()> {
        let dir = self
            .dir(id)
            .ok_or_else(|| std::io::Error::other("invalid session id"))?;
        write_atomic(&dir.join("messages.json"), &serde_json::to_vec(messages)?)
    }

    /// Appends updates sent to the client, one JSON line each.
    pub fn append_updates<T: Serialize>(&self, id: &str, updates: &[T]) -> std::io::Result<()> {
        if updates.is_empty() {
            return Ok(());
        }
        let dir = self
            .dir(id)
            .ok_or_else(|| std::io::Error::other("invalid session id"))?;
        let mut buf = Vec::new();
        for update in updates {
            serde_json::to_writer(&mut buf, update)?;
            buf.push(b'\n');
        }
        let mut file = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(dir.join("updates.jsonl"))?;
        file.write_all(&buf)
    }

    /// Reads a session's meta and conversation; None when there is no such session.
    pub fn load(&self, id: &str) -> std::io::Result<Option<(Meta, Vec<Message>)>> {
        let Some(dir) = self.dir(id) else {
            return Ok(None);
        };
        let meta = match std::fs::read(dir.join("meta.json")) {
            Ok(bytes) => serde_json::from_slice::<Meta>(&bytes)?,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(e),
        };
        let messages = match std::fs::read(dir.join("messages.json")) {
            Ok(bytes) => serde_json::from_slice(&bytes)?,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Vec::new(),
            Err(e) => return Err(e),
        };
        Ok(Some((meta, messages)))
    }

    /// Every update sent for a session, in order. A torn last line (a crash mid-append, possibly
    /// inside a multi-byte character) is skipped, as is any other line that is not JSON.
    pub fn updates(&self, id: &str) -> std::io::Result<Vec<serde_json::Value>> {
        let Some(dir) = self.dir(id) else {
            return Ok(Vec::new());
        };
        let bytes = match std::fs::read(dir.join("updates.jsonl")) {
            Ok(bytes) => bytes,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
            Err(e) => return Err(e),
        };
        Ok(bytes
            .split(|b| *b == b'\n')
            .filter_map(|line| serde_json::from_slice(line).ok())
            .collect())
    }

    /// Metas of all sessions, newest first.
    pub fn list(&self) -> std::io::Result<Vec<Meta>> {
        let mut metas = Vec::new();
        for entry in std::fs::read_dir(&self.root)? {
            let path = entry?.path().join("meta.json");
            if let Ok(bytes) = std::fs::read(&path) {
                if let Ok(meta) = serde_json::from_slice::<Meta>(&bytes) {
                    metas.push(meta);
                }
            }
        }
        metas.sort_by(|a, b| b.updated_at.cmp(&a.updated_at));
        Ok(metas)
    }

    /// The directory holding every session.
    pub fn root(&self) -> &Path {
        &self.root
    }
}
