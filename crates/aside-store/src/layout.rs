//! Where everything lives under `$ASIDE_HOME`.

use crate::{mkdir_private, Result};
use aside_core::SessionId;
use std::path::PathBuf;

/// Where everything lives under `$ASIDE_HOME`.
#[derive(Debug, Clone)]
pub struct Layout {
    /// `$ASIDE_HOME`.
    pub home: PathBuf,
}

impl Layout {
    /// The layout under `home`.
    pub fn new(home: impl Into<PathBuf>) -> Layout {
        Layout { home: home.into() }
    }

    /// The sessions index.
    pub fn index(&self) -> PathBuf {
        self.home.join("index.db")
    }

    /// A session's own directory (event log, host log).
    pub fn session_dir(&self, id: &SessionId) -> PathBuf {
        self.home.join("sessions").join(id.as_str())
    }

    /// A session's record as the index holds it (its lasting fields), kept beside its events
    /// so a lost or truncated index can be rebuilt.
    pub fn record(&self, id: &SessionId) -> PathBuf {
        self.session_dir(id).join("record.json")
    }

    /// Room a session's host keeps in reserve, given back to record the session's end when the
    /// disk fills up.
    pub fn reserve(&self, id: &SessionId) -> PathBuf {
        self.session_dir(id).join("reserve")
    }

    /// Where sessions' own directories are.
    pub fn sessions_dir(&self) -> PathBuf {
        self.home.join("sessions")
    }

    /// A session's event log.
    pub fn events(&self, id: &SessionId) -> PathBuf {
        self.session_dir(id).join("events.db")
    }

    /// The conversation a session took over from another, as a transcript prompt: what its host
    /// sends instead when the agent cannot go on with that conversation's own agent session.
    pub fn handoff(&self, id: &SessionId) -> PathBuf {
        self.session_dir(id).join("handoff.md")
    }

    /// The host's log file (its stdout and stderr).
    pub fn host_log(&self, id: &SessionId) -> PathBuf {
        self.session_dir(id).join("host.log")
    }

    /// The host's control socket.
    pub fn socket(&self, id: &SessionId) -> PathBuf {
        self.home.join("run").join(format!("{id}.sock"))
    }

    /// The lock the host holds for its whole life: free means no host runs.
    pub fn host_lock(&self, id: &SessionId) -> PathBuf {
        self.home.join("run").join(format!("{id}.lock"))
    }

    /// Creates the directories, private to the user.
    pub fn create_dirs(&self) -> Result<()> {
        mkdir_private(&self.home)?;
        mkdir_private(&self.home.join("run"))?;
        mkdir_private(&self.home.join("sessions"))
    }
}
