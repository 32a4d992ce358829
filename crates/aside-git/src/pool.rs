//! Spare worktrees, checked out ahead of time so a new session starts at once.

use std::path::{Path, PathBuf};

use crate::cmd::{check, git, git_env};
use crate::worktree::{copy_worktree_includes, populate, worktree_lock, worktree_path};
use crate::{GitError, Result};

/// The directory of spare worktrees kept ready for new sessions: `<repo>.worktrees/.pool`.
pub fn pool_dir(repo: &Path) -> PathBuf {
    worktree_path(repo, ".pool")
}

/// Spares whose checkout is complete: `spare-N` directories with a `spare-N.ready` marker.
fn ready_spares(repo: &Path) -> Vec<PathBuf> {
    let Ok(entries) = std::fs::read_dir(pool_dir(repo)) else {
        return vec![];
    };
    entries
        .flatten()
        .filter_map(|e| {
            let name = e.file_name().to_string_lossy().into_owned();
            name.strip_suffix(".ready")
                .map(|spare| pool_dir(repo).join(spare))
        })
        .collect()
}

/// How many spare worktrees are ready.
pub fn pool_len(repo: &Path) -> usize {
    ready_spares(repo).len()
}

/// Checks out a spare worktree (detached at `base`) into the pool; it is offered to new sessions
/// once its `.ready` marker exists. Directories are only ever moved by git itself, so git never
/// sees a worktree whose directory is missing (which `git worktree prune` would drop).
pub fn pool_add(repo: &Path, base: &str) -> Result<()> {
    static COUNTER: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
    let n = COUNTER.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos())
        .unwrap_or(0);
    let spare = pool_dir(repo).join(format!("spare-{}-{n}-{nanos}", std::process::id()));
    std::fs::create_dir_all(pool_dir(repo)).map_err(GitError::Spawn)?;
    drop_abandoned_spares(repo);
    let path = spare.display().to_string();
    {
        let _lock = worktree_lock(repo)?;
        let args = [
            "worktree",
            "add",
            "-q",
            "--no-checkout",
            "--detach",
            &path,
            base,
        ];
        check(&args, git_env(repo, &args, &[], None)?)?;
    }
    populate(&spare)?;
    std::fs::write(spare.with_extension("ready"), b"").map_err(GitError::Spawn)?;
    Ok(())
}

/// Removes spares whose checkout never finished (their maker was killed): no `.ready` marker
/// an hour after they were started.
fn drop_abandoned_spares(repo: &Path) {
    let Ok(entries) = std::fs::read_dir(pool_dir(repo)) else {
        return;
    };
    for entry in entries.flatten() {
        let path = entry.path();
        let name = entry.file_name().to_string_lossy().into_owned();
        let is_spare_dir = name.starts_with("spare-") && !name.contains('.');
        if !is_spare_dir
            || path.with_extension("ready").exists()
            || path.with_extension("claim").exists()
        {
            continue;
        }
        let old = entry
            .metadata()
            .and_then(|m| m.modified())
            .ok()
            .and_then(|t| t.elapsed().ok())
            .is_some_and(|age| age > std::time::Duration::from_secs(3600));
        if old {
            let Ok(_lock) = worktree_lock(repo) else {
                return;
            };
            let _ = git(
                repo,
                &[
                    "worktree",
                    "remove",
                    "--force",
                    "--force",
                    &path.display().to_string(),
                ],
            );
        }
    }
}

/// Takes a spare worktree from the pool for a session: git moves it to `path` and puts it on a
/// new `branch` at `base` (only files that differ are written). False when no spare is ready.
pub fn pool_claim(repo: &Path, path: &Path, branch: &str, base: &str) -> Result<bool> {
    for spare in ready_spares(repo) {
        // Creating the claim file is the claim: of two sessions racing for a spare, one wins.
        let claim = spare.with_extension("claim");
        if std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .open(&claim)
            .is_err()
        {
            continue;
        }
        let _ = std::fs::remove_file(spare.with_extension("ready"));
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent).map_err(GitError::Spawn)?;
        }
        let (from, to) = (spare.display().to_string(), path.display().to_string());
        let lock = worktree_lock(repo)?;
        let moved = git(repo, &["worktree", "move", &from, &to]);
        let _ = std::fs::remove_file(&claim);
        moved?;
        let branched = git(path, &["checkout", "-q", "-b", branch, base]);
        drop(lock);
        match branched {
            Ok(_) => {
                copy_worktree_includes(repo, path)?;
                return Ok(true);
            }
            Err(e) => {
                // A spare that cannot take the branch is dropped; the caller makes a fresh one.
                let _lock = worktree_lock(repo)?;
                let _ = git(repo, &["worktree", "remove", "--force", "--force", &to]);
                return Err(e);
            }
        }
    }
    Ok(false)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testutil::{read, repo};
    use crate::{remove_worktree, resolve_commit};

    #[test]
    fn a_spare_worktree_is_claimed_on_a_new_branch() {
        let (_d, repo) = repo();
        let base = resolve_commit(&repo, "HEAD").unwrap();
        pool_add(&repo, &base).unwrap();
        assert_eq!(pool_len(&repo), 1);
        // The repository moved on since the spare was made.
        std::fs::write(repo.join("a.txt"), "changed\n").unwrap();
        git(&repo, &["commit", "-qam", "second"]).unwrap();
        let head = resolve_commit(&repo, "HEAD").unwrap();
        let wt = worktree_path(&repo, "claimed");
        assert!(pool_claim(&repo, &wt, "aside/claimed", &head).unwrap());
        assert_eq!(pool_len(&repo), 0);
        assert_eq!(read(&wt, "a.txt"), "changed\n");
        assert_eq!(
            git(&wt, &["rev-parse", "--abbrev-ref", "HEAD"]).unwrap(),
            "aside/claimed"
        );
        assert!(git(&repo, &["worktree", "list"])
            .unwrap()
            .contains(&wt.display().to_string()));
        assert!(!pool_claim(&repo, &worktree_path(&repo, "other"), "aside/other", &head).unwrap());
        remove_worktree(&repo, &wt, Some("aside/claimed"), false).unwrap();
    }
}
