//! Removing and archiving sessions, and the repository's teardown commands (trusted only).

use super::*;

impl Sessions {
    /// Stops the session, removes its worktree (and branch unless `keep_branch`) and forgets it.
    /// Refused while it holds work neither applied nor merged, unless `force`.
    pub fn remove(&self, record: &SessionRecord, force: bool, keep_branch: bool) -> Result<()> {
        if record.mode == Mode::Isolated && record.worktree.exists() && !force {
            Sessions::linked(record)?;
            let base = Sessions::base_of(record);
            // Edits inside submodules are on no branch of the repository: applied, merged or
            // not, they exist only in this worktree.
            match record.integrated {
                Some(_) => {
                    let inside = aside_git::changed_in_submodules(&record.worktree, &base)?;
                    if !inside.is_empty() {
                        return Err(OpError::Refused(format!(
                            "session {} changed files inside a submodule that exist only in its worktree ({}); bring them in first (`aside apply {}` says how) or pass --force to discard them",
                            record.id,
                            inside.iter().map(|f| f.path.as_str()).collect::<Vec<_>>().join(", "),
                            record.id
                        )));
                    }
                }
                None => {
                    let files = aside_git::changed_files(&record.worktree, &base)?;
                    let subs = aside_git::submodule_paths(&record.worktree);
                    let inside = files
                        .iter()
                        .any(|f| subs.iter().any(|s| f.path.starts_with(&format!("{s}/"))));
                    let merged = !inside
                        && record
                            .branch
                            .as_deref()
                            .is_some_and(|b| aside_git::is_merged(&record.repo, b));
                    if !files.is_empty() && !merged {
                        return Err(OpError::Refused(format!(
                            "session {} holds work that was neither applied nor merged ({} changed file{}); `aside apply {}` or `aside merge {}` it first, or pass --force to discard it",
                            record.id, files.len(), if files.len() == 1 { "" } else { "s" }, record.id, record.id
                        )));
                    }
                }
            }
        }
        self.stop(record)?;
        if record.mode == Mode::Workspace {
            aside_git::drop_snapshot(&record.repo, record.id.as_str());
        }
        if record.mode == Mode::Isolated && record.worktree.is_dir() {
            self.teardown(record)?;
        }
        if record.mode == Mode::Isolated {
            aside_git::remove_worktree(
                &record.repo,
                &record.worktree,
                record.branch.as_deref(),
                keep_branch,
            )?;
        }
        // Its kept record first: a crash after it leaves a session the index still lists, never
        // a removed one that a rebuild would bring back.
        let _ = std::fs::remove_file(self.layout.record(&record.id));
        self.index.delete(&record.id)?;
        let _ = std::fs::remove_dir_all(self.layout.session_dir(&record.id));
        // The repository's last session takes its spare worktrees with it.
        if record.mode == Mode::Isolated
            && !self.index.list(true)?.iter().any(|r| r.repo == record.repo)
        {
            let _ = aside_git::pool_clear(&record.repo);
        }
        Ok(())
    }

    /// Refuses when `repo`'s `.aside.toml` has commands of that kind which the user has not
    /// trusted as they stand (`aside_core::trust`).
    pub fn check_trusted(&self, repo: &Path, which: Commands) -> Result<()> {
        let config = aside_core::config::RepoConfig::load(repo)
            .map_err(|e| OpError::Refused(e.to_string()))?;
        let asks = Asks::of(&config);
        let commands = match which {
            Commands::Setup => &asks.setup,
            Commands::Teardown => &asks.teardown,
        };
        if commands.is_empty() || self.trust().trusts(repo, &asks) {
            return Ok(());
        }
        let user = Config::load_user().map(|c| c.defaults).unwrap_or_default();
        Err(OpError::Untrusted(Box::new(Untrusted {
            repo: repo.to_path_buf(),
            lines: asks.describe(&user),
            asks,
        })))
    }

    /// The user's trust records for repositories' `.aside.toml`.
    pub fn trust(&self) -> TrustStore {
        TrustStore::new(&self.layout.home)
    }

    /// The repository's `[teardown] run` commands, in the session's worktree, before it goes;
    /// the first that fails stops the removal, with its output.
    pub(crate) fn teardown(&self, record: &SessionRecord) -> Result<()> {
        self.check_trusted(&record.repo, Commands::Teardown)?;
        let commands = aside_core::config::RepoConfig::load(&record.repo)
            .map_err(|e| OpError::Refused(e.to_string()))?
            .teardown
            .run;
        for command in commands {
            let out = std::process::Command::new("sh")
                .args(["-c", &command])
                .current_dir(&record.worktree)
                .envs(record.settings.port_env())
                .stdin(std::process::Stdio::null())
                .output()
                .map_err(|e| OpError::Internal(format!("cannot run teardown `{command}`: {e}")))?;
            if !out.status.success() {
                let mut text = String::from_utf8_lossy(&out.stdout).into_owned();
                text.push_str(&String::from_utf8_lossy(&out.stderr));
                return Err(OpError::Refused(format!(
                    "teardown `{command}` failed ({}); session {} is kept. Its output: {}",
                    out.status,
                    record.id,
                    text.trim()
                )));
            }
        }
        Ok(())
    }

    /// Hides (or shows again) a session.
    pub fn archive(&self, record: &SessionRecord, archived: bool) -> Result<()> {
        Ok(self.index.update(&record.id, Change::Archived(archived))?)
    }
}
