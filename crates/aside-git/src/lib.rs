//! Git for aside: worktrees, spare worktrees, snapshots, checkpoints, diffs, apply and merge,
//! all through the `git` command line.
//!
//! Owns: every git invocation. Reports git's own error text; never guesses.
//!
//! Must not: touch a user's uncommitted work, index or HEAD except where asked to (apply
//! writes the user's files, merge commits). Snapshots of a working directory are taken with a
//! temporary index, so the user's index is never changed; apply and merge first do the whole
//! merge in memory (`git merge-tree`), and on a conflict write nothing.
//!
//! Modules: `worktree` (repository, worktrees), `pool` (spare worktrees), `submodules` (a
//! worktree's submodules), `snapshot` (working-state snapshots, checkpoints, diffs),
//! `integrate` (apply, merge); all
//! public items are re-exported here.

mod cmd;
mod integrate;
mod pool;
mod snapshot;
mod submodules;
mod worktree;

#[cfg(test)]
mod apply_props;
#[cfg(test)]
mod testutil;

pub use integrate::{apply, is_merged, merge};
pub use pool::{
    pool_add, pool_claim, pool_clear, pool_dir, pool_len, pool_refill, pool_spares, Refill, Spare,
};
pub use snapshot::{
    blob, changed_between, changed_files, changed_in_submodules, checkpoint, diff, drop_snapshot,
    fetch_over_ssh, push_over_ssh, remote_url, reset_keeping_files, snapshot_commit, snapshot_tree,
    FileChange,
};
pub use submodules::{has_submodules, populate_submodules, submodule_paths, SubmoduleFailure};
pub use worktree::{
    branch_exists, branches, copy_worktree_includes, create_worktree, main_repo_root,
    remove_worktree, repo_root, resolve_commit, verify_worktree, whole_path, worktree_path,
    worktrees,
};

use std::path::PathBuf;

/// Why a git operation failed.
#[derive(Debug, thiserror::Error)]
pub enum GitError {
    /// git could not be started.
    #[error("cannot run git: {0}; is git installed?")]
    Spawn(std::io::Error),
    /// git exited with an error.
    #[error("git {args} failed: {stderr}")]
    Failed {
        /// The arguments, for the message.
        args: String,
        /// git's own words.
        stderr: String,
    },
    /// Background work (a pool refill) stopped because the user kept working with git in the
    /// repository.
    #[error("gave way: the repository stayed busy with the user's git commands")]
    GaveWay,
    /// The directory is not in a git repository.
    #[error("{} is not inside a git repository", .0.display())]
    NotARepo(PathBuf),
    /// A merge would land on files the user changed and has not committed (`git merge` needs
    /// them clean).
    #[error("refused: you have uncommitted changes in {}; commit or stash them first. Nothing was changed", .0.join(", "))]
    DirtyFiles(Vec<String>),
    /// Apply: the session's changes conflict with the user's working state.
    #[error("refused: the changes conflict with your uncommitted work or your commits in {}. Nothing was changed", .0.join(", "))]
    Conflicts(Vec<String>),
    /// Merge: the branch conflicts with the user's current branch.
    #[error("refused: merging {branch} conflicts with your branch in {}. Nothing was changed. To resolve by hand: git merge {branch}, fix the files, git add them, git commit", .files.join(", "))]
    MergeConflicts {
        /// The branch that was to be merged.
        branch: String,
        /// The conflicting files.
        files: Vec<String>,
    },
    /// Apply: the user's files already hold the session's changes (it was applied before).
    #[error("already applied: your workspace already has these changes")]
    AlreadyApplied,
    /// Something else the user must fix first.
    #[error("refused: {0}")]
    Refused(String),
    /// Merge: the branch brings nothing the current branch lacks.
    #[error("refused: {branch} has no changes to merge")]
    NothingToMerge {
        /// The branch.
        branch: String,
    },
}

/// Results of this crate.
pub(crate) type Result<T> = std::result::Result<T, GitError>;
