//! What a session changed, and bringing it home: diff, apply, merge.

use super::*;

impl Sessions {
    /// Refuses a session whose worktree no longer points at its repository as aside made it
    /// (`aside_git::verify_worktree`): no git of aside's runs in it then.
    pub(crate) fn linked(record: &SessionRecord) -> Result<()> {
        if record.mode == Mode::Isolated {
            aside_git::verify_worktree(&record.repo, &record.worktree)?;
        }
        Ok(())
    }

    /// The commit a session's changes are measured from.
    pub fn base_of(record: &SessionRecord) -> String {
        record.base.clone().unwrap_or_else(|| "HEAD".to_string())
    }

    /// Files the session changed (since its base: a workspace session's base is the snapshot of
    /// the workspace taken when it started).
    pub fn changed_files(&self, record: &SessionRecord) -> Vec<FileChange> {
        if record.base.is_some() && record.worktree.exists() && Sessions::linked(record).is_ok() {
            aside_git::changed_files(&record.worktree, &Sessions::base_of(record))
                .unwrap_or_default()
        } else {
            vec![]
        }
    }

    /// Files a checkpoint commit of the session changed against the commit before it (one
    /// turn's work).
    pub fn checkpoint_changes(
        &self,
        record: &SessionRecord,
        commit: &str,
    ) -> Result<Vec<FileChange>> {
        Sessions::linked(record)?;
        Ok(aside_git::changed_between(
            &record.worktree,
            &format!("{commit}^"),
            commit,
        )?)
    }

    /// The content of `path` (relative to the repository) at commit `rev` of the session's
    /// worktree; None when the commit has no such file.
    pub fn file_at(
        &self,
        record: &SessionRecord,
        rev: &str,
        path: &str,
    ) -> Result<Option<Vec<u8>>> {
        // A commit id, or the one before it (`id^`).
        let commit = rev.strip_suffix('^').unwrap_or(rev);
        if commit.is_empty() || !commit.chars().all(|c| c.is_ascii_hexdigit()) {
            return Err(OpError::Refused(format!("`{rev}` is not a commit id")));
        }
        let relative = std::path::Path::new(path);
        if path.is_empty()
            || relative.is_absolute()
            || relative
                .components()
                .any(|c| !matches!(c, std::path::Component::Normal(_)))
        {
            return Err(OpError::Refused(format!(
                "`{path}` is not a path inside the repository"
            )));
        }
        Sessions::linked(record)?;
        Ok(aside_git::blob(&record.worktree, rev, path)?)
    }

    /// The session's diff (or its `--stat`).
    pub fn diff(&self, record: &SessionRecord, stat: bool) -> Result<String> {
        if record.base.is_none() {
            return Err(OpError::Refused(format!(
                "session {} works in {}, which is not a git repository: there is no diff to show",
                record.id,
                record.worktree.display()
            )));
        }
        if !record.worktree.exists() {
            return Err(OpError::Refused(format!(
                "the worktree of {} does not exist (yet): {}",
                record.id,
                record.worktree.display()
            )));
        }
        Sessions::linked(record)?;
        Ok(aside_git::diff(
            &record.worktree,
            &Sessions::base_of(record),
            stat,
        )?)
    }

    /// Applies the session's changes to the repository as uncommitted changes (a 3-way merge
    /// with the user's own uncommitted work; refused, touching nothing, on a true conflict).
    pub fn apply(&self, record: &SessionRecord) -> Result<Outcome<Vec<String>>> {
        if record.mode == Mode::Workspace {
            return Err(OpError::Refused(format!(
                "session {} worked in your workspace directly: its changes are already there",
                record.id
            )));
        }
        self.refuse_while_working(record)?;
        if !record.worktree.exists() {
            return Err(OpError::Refused(format!(
                "the worktree of {} is gone ({}); nothing to apply",
                record.id,
                record.worktree.display()
            )));
        }
        Sessions::linked(record)?;
        let base = Sessions::base_of(record);
        match aside_git::apply(&record.repo, &record.worktree, &base) {
            Ok(files) if files.is_empty() => Ok(Outcome::Nothing),
            Ok(files) => {
                self.index
                    .update(&record.id, Change::Integrated("applied"))?;
                Ok(Outcome::Done(files))
            }
            Err(GitError::AlreadyApplied) => {
                self.index
                    .update(&record.id, Change::Integrated("applied"))?;
                Ok(Outcome::Already)
            }
            Err(e) => Err(e.into()),
        }
    }

    /// What `apply` and `merge` leave behind: files the session changed inside submodules,
    /// which belong to those submodules' own repositories; and the command that brings them
    /// into the user's checkout.
    pub fn left_in_submodules(&self, record: &SessionRecord) -> Result<(Vec<String>, String)> {
        if record.mode != Mode::Isolated || !record.worktree.exists() {
            return Ok((Vec::new(), String::new()));
        }
        let inside =
            aside_git::changed_in_submodules(&record.worktree, &Sessions::base_of(record))?;
        let subs = aside_git::submodule_paths(&record.worktree);
        let mut tops: Vec<String> = inside
            .iter()
            .filter_map(|f| {
                subs.iter()
                    .find(|s| f.path.starts_with(&format!("{s}/")))
                    .map(|s| format!("--include='{s}/*'"))
            })
            .collect();
        tops.dedup();
        let command = format!(
            "cd {} && aside diff {} | git apply {}",
            record.repo.display(),
            record.id,
            tops.join(" ")
        );
        Ok((inside.into_iter().map(|f| f.path).collect(), command))
    }

    /// Merges the session's branch (checkpointing anything uncommitted first); the new commit.
    pub fn merge(&self, record: &SessionRecord, squash: bool) -> Result<Outcome<String>> {
        let (Mode::Isolated, Some(branch)) = (record.mode, record.branch.as_deref()) else {
            return Err(OpError::Refused(format!(
                "session {} worked in your workspace directly: there is no branch to merge",
                record.id
            )));
        };
        self.refuse_while_working(record)?;
        if record.worktree.exists() {
            aside_git::checkpoint(
                &record.worktree,
                &format!("aside: {} (before merge)", record.title),
            )?;
        }
        let message = if squash {
            record.title.clone()
        } else {
            format!("Merge {branch}: {}", record.title)
        };
        let tip = aside_git::resolve_commit(&record.repo, branch)?;
        if record.base.as_deref() == Some(tip.as_str()) {
            return Ok(Outcome::Nothing);
        }
        if aside_git::is_merged(&record.repo, branch) {
            self.index
                .update(&record.id, Change::Integrated("merged"))?;
            return Ok(Outcome::Already);
        }
        let commit = match aside_git::merge(&record.repo, branch, squash, &message) {
            Ok(commit) => commit,
            // A squashed branch never becomes an ancestor: git finds nothing left to merge.
            Err(GitError::NothingToMerge { .. }) => return Ok(Outcome::Nothing),
            Err(e @ GitError::MergeConflicts { .. }) => {
                return Err(OpError::Refused(format!(
                    "{e}; or let the agent resolve them in its worktree: aside send {} \"merge the repository's current branch into yours and resolve the conflicts\", then aside merge {} again",
                    record.id, record.id
                )))
            }
            Err(e) => return Err(e.into()),
        };
        self.index
            .update(&record.id, Change::Integrated("merged"))?;
        Ok(Outcome::Done(commit))
    }
}
