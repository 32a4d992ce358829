//! Checkpoints at each turn's end, and the hand-off a new agent session is seeded with.

use super::*;

impl Host {
    /// Commits the worktree at the end of a turn (isolated mode) and counts changed files (in
    /// workspace mode against the snapshot taken at start, committing nothing).
    pub(crate) async fn checkpoint(&mut self) {
        if self.record.mode != Mode::Isolated {
            let (Some(base), dir) = (self.record.base.clone(), self.record.worktree.clone()) else {
                return;
            };
            let files =
                tokio::task::spawn_blocking(move || aside_git::changed_files(&dir, &base)).await;
            if let Ok(Ok(files)) = files {
                let change = Change::Changes {
                    files: files.len() as u64,
                    added: files.iter().map(|f| f.added).sum(),
                    removed: files.iter().map(|f| f.removed).sum(),
                };
                let _ = self.index.update(&self.record.id, change);
            }
            return;
        }
        let worktree = self.record.worktree.clone();
        let repo = self.record.repo.clone();
        let base = self.record.base.clone().unwrap_or_default();
        let turn = self.events.count_of("turn_end").unwrap_or(0);
        let message = format!("aside: {} (turn {turn})", self.record.title);
        let result = tokio::task::spawn_blocking(move || {
            // An agent that repointed the worktree's .git gets no git of aside's run there.
            aside_git::verify_worktree(&repo, &worktree)?;
            let commit = aside_git::checkpoint(&worktree, &message)?;
            let files = aside_git::changed_files(&worktree, &base)?;
            Ok::<_, aside_git::GitError>((commit, files))
        })
        .await;
        match result {
            Ok(Ok((commit, files))) => {
                let change = Change::Changes {
                    files: files.len() as u64,
                    added: files.iter().map(|f| f.added).sum(),
                    removed: files.iter().map(|f| f.removed).sum(),
                };
                let _ = self.index.update(&self.record.id, change);
                if let Some(commit) = commit {
                    let files = files
                        .into_iter()
                        .map(|f| FileStat {
                            path: f.path,
                            added: f.added,
                            removed: f.removed,
                        })
                        .collect();
                    self.emit(Body::Checkpoint(Checkpoint { commit, files }));
                }
            }
            Ok(Err(e)) => self.emit(Body::Error {
                message: format!("checkpoint failed: {e}"),
            }),
            Err(e) => self.emit(Body::Error {
                message: format!("checkpoint failed: {e}"),
            }),
        }
    }

    /// What happened so far, handed to an agent that cannot load the session, with `next` (the
    /// prompt it is to take now) as the user's last words: the one hand-off format
    /// (`handoff::Conversation::handoff_prompt`).
    pub(crate) fn transcript(&self, next: &str) -> anyhow::Result<String> {
        let conversation = aside_protocol::handoff::from_aside_log(&self.events)?;
        Ok(conversation.handoff_prompt(Some(next), aside_protocol::handoff::LIMIT_CHARS))
    }
}
