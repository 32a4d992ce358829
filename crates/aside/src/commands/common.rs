//! What several commands share: opening the store, resolving ids, the status a reader sees,
//! and the JSON shape of a session.

use anyhow::Context as _;
use aside_core::{SessionRecord, Status};
use aside_store::{Index, Layout};
use serde_json::{json, Value};

/// The store and config every command works with.
pub struct Ctx {
    /// Where state lives.
    pub layout: Layout,
    /// The sessions index.
    pub index: Index,
}

impl Ctx {
    /// Opens `$ASIDE_HOME`'s store.
    pub fn open() -> anyhow::Result<Ctx> {
        let layout = Layout::new(aside_core::paths::aside_home());
        let index = Index::open(&layout).context("while opening the session index")?;
        Ok(Ctx { layout, index })
    }

    /// The session `prefix` names.
    pub fn resolve(&self, prefix: &str) -> anyhow::Result<SessionRecord> {
        Ok(self.index.resolve(prefix)?)
    }

    /// The status as a reader sees it: an active session whose host is gone is interrupted.
    pub fn status(&self, record: &SessionRecord) -> Status {
        if record.status.is_active() && !aside_host::liveness::host_alive(&self.layout, &record.id)
        {
            Status::Interrupted
        } else {
            record.status
        }
    }

    /// Whether the session's host runs.
    pub fn host_alive(&self, record: &SessionRecord) -> bool {
        aside_host::liveness::host_alive(&self.layout, &record.id)
    }

    /// Starts the session's host, detached, and waits (up to 10 s) until it holds its lock and
    /// answers on its socket, or has already finished (a session that fails at once).
    pub fn start_host(&self, record: &SessionRecord) -> anyhow::Result<()> {
        let exe = std::env::current_exe().context("while finding the aside binary")?;
        let mut child = aside_host::spawn(&self.layout, &record.id, &exe)
            .context("while starting the session's host")?;
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
        loop {
            if std::os::unix::net::UnixStream::connect(self.layout.socket(&record.id)).is_ok() {
                return Ok(());
            }
            if let Ok(Some(_)) = child.try_wait() {
                return Ok(());
            }
            if std::time::Instant::now() > deadline {
                anyhow::bail!(
                    "the host of session {} did not start; see {}",
                    record.id,
                    self.layout.host_log(&record.id).display()
                );
            }
            std::thread::sleep(std::time::Duration::from_millis(5));
        }
    }

    /// The JSON of a session, as `ls --json` and `show --json` print it.
    pub fn json(&self, r: &SessionRecord) -> Value {
        json!({
            "id": r.id,
            "title": r.title,
            "task": r.task,
            "agent": r.agent,
            "mode": r.mode.as_str(),
            "approve": r.approve.as_str(),
            "status": self.status(r).as_str(),
            "reason": r.reason,
            "repo": r.repo,
            "worktree": r.worktree,
            "branch": r.branch,
            "base": r.base,
            "created_at": r.created_at,
            "updated_at": r.updated_at,
            "changed_files": r.changed_files,
            "pending_permission": r.pending_permission,
            "archived": r.archived,
            "integrated": r.integrated,
        })
    }
}

/// The commit a session's changes are measured from (its base; HEAD for a workspace session
/// without one).
pub fn base_of(record: &SessionRecord) -> String {
    record.base.clone().unwrap_or_else(|| "HEAD".to_string())
}
