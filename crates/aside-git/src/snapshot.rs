//! Snapshots of a working directory's state, checkpoints, and what changed since a commit.

use std::path::{Path, PathBuf};

use crate::cmd::{check, commit_tree, git, git_env, head_commit, ASIDE_IDENTITY};
use crate::{GitError, Result};

/// The tree of `dir`'s working state (tracked and untracked, not ignored), written with a
/// temporary index so the real one is untouched.
pub fn snapshot_tree(dir: &Path) -> Result<String> {
    let index = git(
        dir,
        &["rev-parse", "--path-format=absolute", "--git-path", "index"],
    )?;
    let tmp = tempfile_path(dir)?;
    // Starting from a copy of the real index keeps git's stat cache: fast on big trees.
    if let Ok(meta) = std::fs::metadata(&index) {
        std::fs::copy(&index, &tmp).map_err(GitError::Spawn)?;
        // The copy keeps the original's mtime: git trusts a cached stat only for files older
        // than its index, and a newer copy would hide edits made in the same clock tick.
        if let Ok(modified) = meta.modified() {
            let file = std::fs::File::options()
                .write(true)
                .open(&tmp)
                .map_err(GitError::Spawn)?;
            file.set_modified(modified).map_err(GitError::Spawn)?;
        }
    }
    let tmp_str = tmp.display().to_string();
    let env = [("GIT_INDEX_FILE", tmp_str.as_str())];
    let result = (|| {
        let args = ["add", "-A"];
        check(&args, git_env(dir, &args, &env, None)?)?;
        let args = ["write-tree"];
        let out = check(&args, git_env(dir, &args, &env, None)?)?;
        Ok(String::from_utf8_lossy(&out.stdout).trim().to_string())
    })();
    let _ = std::fs::remove_file(&tmp);
    result
}

fn tempfile_path(dir: &Path) -> Result<PathBuf> {
    let git_dir = git(dir, &["rev-parse", "--path-format=absolute", "--git-dir"])?;
    static COUNTER: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
    let n = COUNTER.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    Ok(PathBuf::from(git_dir).join(format!("aside-index-{}-{n}", std::process::id())))
}

/// Commits everything in the worktree (if anything changed); returns the new commit.
pub fn checkpoint(worktree: &Path, message: &str) -> Result<Option<String>> {
    git(worktree, &["add", "-A"])?;
    let staged = git_env(worktree, &["diff", "--cached", "--quiet"], &[], None)?;
    if staged.status.success() {
        return Ok(None);
    }
    let args = ["commit", "-q", "--no-verify", "-m", message];
    check(&args, git_env(worktree, &args, &ASIDE_IDENTITY, None)?)?;
    Ok(Some(git(worktree, &["rev-parse", "HEAD"])?))
}

/// One changed file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FileChange {
    /// Path relative to the repository.
    pub path: String,
    /// Lines added (0 for binary files).
    pub added: u64,
    /// Lines removed.
    pub removed: u64,
}

/// Moves the branch checked out in `dir` to `commit`, and its index with it, leaving the files
/// as they are (`git reset --mixed`): what differs shows as uncommitted work.
pub fn reset_keeping_files(dir: &Path, commit: &str) -> Result<()> {
    git(dir, &["reset", "-q", commit, "--"]).map(|_| ())
}

/// The URL of remote `name` of the repository at `dir`, if it has one.
pub fn remote_url(dir: &Path, name: &str) -> Option<String> {
    git(dir, &["remote", "get-url", name])
        .ok()
        .map(|url| url.trim().to_string())
        .filter(|url| !url.is_empty())
}

/// Pushes `refspec` from `dir` to `remote` (a `host:path` over SSH), with `ssh_command` as
/// git's ssh (`GIT_SSH_COMMAND`); forced: the refs aside writes there are its own.
pub fn push_over_ssh(dir: &Path, remote: &str, refspec: &str, ssh_command: &str) -> Result<()> {
    let args = ["push", "--quiet", "--force", "--no-verify", remote, refspec];
    let out = git_env(dir, &args, &[("GIT_SSH_COMMAND", ssh_command)], None)?;
    crate::cmd::check(&args, out).map(|_| ())
}

/// Fetches `refspec` from `remote` (a `host:path` over SSH) into `dir`, with `ssh_command` as
/// git's ssh.
pub fn fetch_over_ssh(dir: &Path, remote: &str, refspec: &str, ssh_command: &str) -> Result<()> {
    let args = [
        "fetch",
        "--quiet",
        "--no-tags",
        "--no-write-fetch-head",
        remote,
        refspec,
    ];
    let out = git_env(dir, &args, &[("GIT_SSH_COMMAND", ssh_command)], None)?;
    crate::cmd::check(&args, out).map(|_| ())
}

/// Files changed from commit `from` to commit `to` (a turn's checkpoint against the one before).
pub fn changed_between(dir: &Path, from: &str, to: &str) -> Result<Vec<FileChange>> {
    let out = git(
        dir,
        &["diff", "--numstat", "-z", "--no-renames", from, to, "--"],
    )?;
    Ok(parse_numstat(&out))
}

/// The content of `path` at commit `rev` (no textconv, no filters: the bytes git stores), None
/// when it has none there.
pub fn blob(dir: &Path, rev: &str, path: &str) -> Result<Option<Vec<u8>>> {
    let spec = format!("{rev}:{path}");
    let out = git_env(dir, &["cat-file", "blob", &spec], &[], None)?;
    Ok(out.status.success().then_some(out.stdout))
}

/// Files changed in `dir`'s working state against `base`; inside its populated submodules too
/// (as `sub/path`, against the commit `base` pins for the submodule: what the agent committed
/// there and what it left uncommitted), beside the moved pointer (`sub`) itself.
pub fn changed_files(dir: &Path, base: &str) -> Result<Vec<FileChange>> {
    let tree = snapshot_tree(dir)?;
    let out = git(
        dir,
        &["diff", "--numstat", "-z", "--no-renames", base, &tree],
    )?;
    let mut files = parse_numstat(&out);
    files.extend(changed_in_submodules(dir, base)?);
    Ok(files)
}

/// The part of [`changed_files`] inside `dir`'s populated submodules: work that no commit of
/// `dir`'s own branch holds, so a merged branch does not account for it.
pub fn changed_in_submodules(dir: &Path, base: &str) -> Result<Vec<FileChange>> {
    let mut files = Vec::new();
    for (path, pinned) in submodules_at(dir, base) {
        // One submodule git cannot read does not hide the others (nor the repository's own).
        let Ok(inner) = changed_files(&dir.join(&path), &pinned) else {
            continue;
        };
        for f in inner {
            files.push(FileChange {
                path: format!("{path}/{}", f.path),
                ..f
            });
        }
    }
    Ok(files)
}

/// The populated submodules of `dir` that `base` pins, with the commit it pins for each.
fn submodules_at(dir: &Path, base: &str) -> Vec<(String, String)> {
    crate::submodules::populated(dir)
        .into_iter()
        .filter_map(|path| {
            let pinned = git(
                dir,
                &[
                    "rev-parse",
                    "--verify",
                    "--quiet",
                    &format!("{base}:{path}"),
                ],
            )
            .ok()?;
            Some((path, pinned))
        })
        .collect()
}

fn parse_numstat(out: &str) -> Vec<FileChange> {
    out.split('\0')
        .filter(|s| !s.is_empty())
        .filter_map(|entry| {
            let mut parts = entry.splitn(3, '\t');
            let added = parts.next()?.parse().unwrap_or(0);
            let removed = parts.next()?.parse().unwrap_or(0);
            Some(FileChange {
                path: parts.next()?.to_string(),
                added,
                removed,
            })
        })
        .collect()
}

/// The diff of `dir`'s working state against `base` (a patch, or `--stat` text).
pub fn diff(dir: &Path, base: &str, stat: bool) -> Result<String> {
    diff_under(dir, base, stat, "")
}

/// [`diff`], its paths under `prefix`; followed by the diffs inside `dir`'s submodules.
fn diff_under(dir: &Path, base: &str, stat: bool, prefix: &str) -> Result<String> {
    let tree = snapshot_tree(dir)?;
    let (src, dst) = (
        format!("--src-prefix=a/{prefix}"),
        format!("--dst-prefix=b/{prefix}"),
    );
    let mut args = vec![
        "diff",
        "--no-color",
        "--no-ext-diff",
        "--no-textconv",
        &src,
        &dst,
    ];
    if stat {
        args.push("--stat");
    }
    args.extend([base, tree.as_str()]);
    let mut out = git(dir, &args)?;
    for (path, pinned) in submodules_at(dir, base) {
        let Ok(inner) = diff_under(&dir.join(&path), &pinned, stat, &format!("{prefix}{path}/"))
        else {
            continue;
        };
        if !inner.is_empty() {
            if !out.is_empty() {
                out.push('\n');
            }
            if stat {
                out.push_str(&format!("inside submodule {prefix}{path}:\n"));
            }
            out.push_str(&inner);
        }
    }
    Ok(out)
}

/// The ref that pins the snapshot `label`.
fn snapshot_ref(label: &str) -> String {
    format!("refs/aside/snapshots/{label}")
}

/// Commits the working state of `dir` (tracked and untracked files, not ignored ones) on top of
/// HEAD (no parent in a repository without commits), pins it as `refs/aside/snapshots/<label>`
/// so git's garbage collection keeps it, and returns the commit. The user's index, HEAD and
/// files are untouched. [`changed_files`] and [`diff`] against it show only later changes.
pub fn snapshot_commit(dir: &Path, label: &str) -> Result<String> {
    let tree = snapshot_tree(dir)?;
    let head = head_commit(dir)?;
    let commit = commit_tree(
        dir,
        &tree,
        head.as_deref(),
        &format!("aside snapshot {label}"),
    )?;
    git(dir, &["update-ref", &snapshot_ref(label), &commit])?;
    Ok(commit)
}

/// Deletes the ref that pins the snapshot `label` (made by [`snapshot_commit`]); errors are
/// ignored (a missing snapshot is already gone).
pub fn drop_snapshot(repo: &Path, label: &str) {
    let _ = git(repo, &["update-ref", "-d", &snapshot_ref(label)]);
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testutil::{empty_repo, files, git_state, repo, write};

    fn paths(changes: &[FileChange]) -> Vec<&str> {
        changes.iter().map(|c| c.path.as_str()).collect()
    }

    #[test]
    fn a_snapshot_commit_hides_earlier_work_and_shows_later_work() {
        let (_d, repo) = repo();
        // The user's work before the session: an edit (one part staged) and an untracked file.
        write(&repo, "a.txt", "one\nTWO\nthree\n");
        git(&repo, &["add", "a.txt"]).unwrap();
        write(&repo, "a.txt", "one\nTWO\nthree\nfour\n");
        write(&repo, "mine.txt", "mine\n");
        let (before_files, before_git) = (files(&repo), git_state(&repo));

        let snap = snapshot_commit(&repo, "s1").unwrap();
        assert_eq!(files(&repo), before_files);
        assert_eq!(git_state(&repo), before_git);
        assert_eq!(
            git(&repo, &["rev-parse", "refs/aside/snapshots/s1"]).unwrap(),
            snap
        );
        assert_eq!(
            git(&repo, &["rev-parse", &format!("{snap}^")]).unwrap(),
            before_git.head
        );
        assert!(changed_files(&repo, &snap).unwrap().is_empty());
        assert_eq!(diff(&repo, &snap, false).unwrap(), "");

        // The session's work: a later edit to the same file and to another one.
        write(&repo, "a.txt", "one\nTWO\nthree\nfour\nfive\n");
        write(&repo, "b.txt", "bee\nsting\n");
        let changes = changed_files(&repo, &snap).unwrap();
        assert_eq!(paths(&changes), ["a.txt", "b.txt"]);
        assert_eq!((changes[0].added, changes[0].removed), (1, 0));
        let patch = diff(&repo, &snap, false).unwrap();
        assert!(patch.contains("+five"), "{patch}");
        assert!(
            !patch.contains("+TWO") && !patch.contains("mine"),
            "{patch}"
        );

        drop_snapshot(&repo, "s1");
        assert!(git(
            &repo,
            &["rev-parse", "--verify", "-q", "refs/aside/snapshots/s1"]
        )
        .is_err());
        drop_snapshot(&repo, "s1");
    }

    #[test]
    fn a_snapshot_commit_works_before_the_first_commit() {
        let (_d, repo) = empty_repo();
        write(&repo, "x.txt", "x\n");
        let snap = snapshot_commit(&repo, "first").unwrap();
        assert!(git(&repo, &["rev-parse", "--verify", "-q", &format!("{snap}^")]).is_err());
        assert!(git(&repo, &["rev-parse", "--verify", "-q", "HEAD"]).is_err());
        assert_eq!(git(&repo, &["ls-files"]).unwrap(), "");
        write(&repo, "y.txt", "y\n");
        assert_eq!(paths(&changed_files(&repo, &snap).unwrap()), ["y.txt"]);
    }

    #[test]
    fn a_bad_label_is_an_error() {
        let (_d, repo) = repo();
        assert!(snapshot_commit(&repo, "bad..label").is_err());
    }
}
