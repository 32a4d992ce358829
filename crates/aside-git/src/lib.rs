//! Git for aside: worktrees, checkpoints, diffs, apply and merge, through the `git` command line.
//!
//! Owns: every git invocation. Reports git's own error text; never guesses.
//! Must not: touch a user's uncommitted work. Snapshots of a working directory are taken with a
//! temporary index, so the user's index is never changed; apply and merge are checked in full
//! (with `git merge-tree`) before anything is written.

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

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
    /// The directory is not in a git repository.
    #[error("{} is not inside a git repository", .0.display())]
    NotARepo(PathBuf),
    /// The changes would land on files the user changed and has not committed.
    #[error("refused: you have uncommitted changes in {}; commit or stash them first. Nothing was changed", .0.join(", "))]
    DirtyFiles(Vec<String>),
    /// The changes conflict with the target.
    #[error("refused: the changes conflict with your workspace in {}. Nothing was changed", .0.join(", "))]
    Conflicts(Vec<String>),
    /// Something else the user must fix first.
    #[error("refused: {0}")]
    Refused(String),
}

type Result<T> = std::result::Result<T, GitError>;

/// Runs git in `dir` with extra environment.
fn git_env(
    dir: &Path,
    args: &[&str],
    env: &[(&str, &str)],
    stdin: Option<&[u8]>,
) -> Result<Output> {
    let mut cmd = Command::new("git");
    cmd.arg("-C").arg(dir).args(args);
    for (k, v) in env {
        cmd.env(k, v);
    }
    cmd.stdout(Stdio::piped()).stderr(Stdio::piped());
    cmd.stdin(if stdin.is_some() {
        Stdio::piped()
    } else {
        Stdio::null()
    });
    let mut child = cmd.spawn().map_err(GitError::Spawn)?;
    if let (Some(input), Some(mut pipe)) = (stdin, child.stdin.take()) {
        use std::io::Write as _;
        pipe.write_all(input).map_err(GitError::Spawn)?;
    }
    child.wait_with_output().map_err(GitError::Spawn)
}

fn check(args: &[&str], out: Output) -> Result<Output> {
    if out.status.success() {
        Ok(out)
    } else {
        Err(GitError::Failed {
            args: args.join(" "),
            stderr: String::from_utf8_lossy(&out.stderr).trim().to_string(),
        })
    }
}

fn git(dir: &Path, args: &[&str]) -> Result<String> {
    let out = check(args, git_env(dir, args, &[], None)?)?;
    Ok(String::from_utf8_lossy(&out.stdout).trim_end().to_string())
}

/// Holds the repository's worktree lock: git reads every worktree's metadata when it adds,
/// moves or removes one, or checks a branch out, and fails on one that another process is half
/// way through making. aside takes this lock around those steps; checkouts run outside it.
struct WorktreeLock {
    _file: std::fs::File,
}

fn worktree_lock(repo: &Path) -> Result<WorktreeLock> {
    let common = git(
        repo,
        &["rev-parse", "--path-format=absolute", "--git-common-dir"],
    )?;
    let file = std::fs::OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(Path::new(&common).join("aside-worktrees.lock"))
        .map_err(GitError::Spawn)?;
    file.lock().map_err(GitError::Spawn)?;
    Ok(WorktreeLock { _file: file })
}

/// Fills a worktree made with `--no-checkout` (parallel checkout helps big repositories).
fn populate(path: &Path) -> Result<()> {
    let args = ["-c", "checkout.workers=0", "reset", "-q", "--hard"];
    check(&args, git_env(path, &args, &[], None)?)?;
    Ok(())
}

/// The top of the repository containing `dir`.
pub fn repo_root(dir: &Path) -> Result<PathBuf> {
    let out = git_env(dir, &["rev-parse", "--show-toplevel"], &[], None)?;
    if !out.status.success() {
        return Err(GitError::NotARepo(dir.to_path_buf()));
    }
    Ok(PathBuf::from(String::from_utf8_lossy(&out.stdout).trim()))
}

/// The commit `rev` names.
pub fn resolve_commit(repo: &Path, rev: &str) -> Result<String> {
    git(
        repo,
        &[
            "rev-parse",
            "--verify",
            "--quiet",
            &format!("{rev}^{{commit}}"),
        ],
    )
    .map_err(|_| GitError::Refused(format!("`{rev}` is not a commit in {}", repo.display())))
}

/// Whether a branch of that name exists.
pub fn branch_exists(repo: &Path, branch: &str) -> bool {
    git(
        repo,
        &[
            "rev-parse",
            "--verify",
            "--quiet",
            &format!("refs/heads/{branch}"),
        ],
    )
    .is_ok()
}

/// `<repo-parent>/<repo>.worktrees/<name>`.
pub fn worktree_path(repo: &Path, name: &str) -> PathBuf {
    let repo_name = repo
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| "repo".into());
    repo.parent()
        .unwrap_or(repo)
        .join(format!("{repo_name}.worktrees"))
        .join(name)
}

/// Creates a worktree at `path` on a new branch from `base`, then copies the files that
/// `.worktreeinclude` lists (gitignored files such as `.env`).
pub fn create_worktree(repo: &Path, path: &Path, branch: &str, base: &str) -> Result<()> {
    if let Some(parent) = path.parent() {
        std::fs::create_dir_all(parent).map_err(GitError::Spawn)?;
    }
    let path_str = path.display().to_string();
    {
        let _lock = worktree_lock(repo)?;
        let args = [
            "worktree",
            "add",
            "-q",
            "--no-checkout",
            "--no-track",
            "-b",
            branch,
            &path_str,
            base,
        ];
        check(&args, git_env(repo, &args, &[], None)?)?;
    }
    populate(path)?;
    copy_worktree_includes(repo, path)
}

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

/// Copies ignored files matching `.worktreeinclude` (gitignore syntax) from `repo` to `worktree`.
pub fn copy_worktree_includes(repo: &Path, worktree: &Path) -> Result<()> {
    let include = repo.join(".worktreeinclude");
    if !include.exists() {
        return Ok(());
    }
    let mut builder = ignore::gitignore::GitignoreBuilder::new(repo);
    if let Some(e) = builder.add(&include) {
        return Err(GitError::Refused(format!(
            "cannot read {}: {e}",
            include.display()
        )));
    }
    let matcher = builder
        .build()
        .map_err(|e| GitError::Refused(format!("invalid pattern in {}: {e}", include.display())))?;
    let listed = git(
        repo,
        &[
            "ls-files",
            "--others",
            "--ignored",
            "--exclude-standard",
            "-z",
        ],
    )?;
    for rel in listed.split('\0').filter(|s| !s.is_empty()) {
        let from = repo.join(rel);
        if !matcher.matched_path_or_any_parents(rel, false).is_ignore() {
            continue;
        }
        let to = worktree.join(rel);
        if let Some(parent) = to.parent() {
            std::fs::create_dir_all(parent).map_err(GitError::Spawn)?;
        }
        std::fs::copy(&from, &to).map_err(GitError::Spawn)?;
    }
    Ok(())
}

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
    let env = [
        ("GIT_AUTHOR_NAME", "aside"),
        ("GIT_AUTHOR_EMAIL", "aside@localhost"),
        ("GIT_COMMITTER_NAME", "aside"),
        ("GIT_COMMITTER_EMAIL", "aside@localhost"),
    ];
    let args = ["commit", "-q", "--no-verify", "-m", message];
    check(&args, git_env(worktree, &args, &env, None)?)?;
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

/// Files changed in `dir`'s working state against `base`.
pub fn changed_files(dir: &Path, base: &str) -> Result<Vec<FileChange>> {
    let tree = snapshot_tree(dir)?;
    let out = git(
        dir,
        &["diff", "--numstat", "-z", "--no-renames", base, &tree],
    )?;
    Ok(parse_numstat(&out))
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
    let tree = snapshot_tree(dir)?;
    let mut args = vec!["diff", "--no-color", "--no-ext-diff"];
    if stat {
        args.push("--stat");
    }
    args.extend([base, tree.as_str()]);
    git(dir, &args)
}

fn commit_tree(repo: &Path, tree: &str, parent: &str) -> Result<String> {
    let env = [
        ("GIT_AUTHOR_NAME", "aside"),
        ("GIT_AUTHOR_EMAIL", "aside@localhost"),
        ("GIT_COMMITTER_NAME", "aside"),
        ("GIT_COMMITTER_EMAIL", "aside@localhost"),
    ];
    let args = ["commit-tree", tree, "-p", parent, "-m", "aside snapshot"];
    let out = check(&args, git_env(repo, &args, &env, None)?)?;
    Ok(String::from_utf8_lossy(&out.stdout).trim().to_string())
}

/// Merges two commits in memory; Ok(tree) or the conflicting files.
fn merge_trees(
    repo: &Path,
    ours: &str,
    theirs: &str,
) -> Result<std::result::Result<String, Vec<String>>> {
    let args = [
        "merge-tree",
        "--write-tree",
        "--name-only",
        "--no-messages",
        ours,
        theirs,
    ];
    let out = git_env(repo, &args, &[], None)?;
    let text = String::from_utf8_lossy(&out.stdout).to_string();
    let mut lines = text.lines();
    let tree = lines.next().unwrap_or_default().to_string();
    match out.status.code() {
        Some(0) => Ok(Ok(tree)),
        Some(1) => {
            let mut files: Vec<String> = lines
                .filter(|l| !l.is_empty())
                .map(str::to_string)
                .collect();
            files.dedup();
            Ok(Err(files))
        }
        _ => Err(GitError::Failed {
            args: args.join(" "),
            stderr: String::from_utf8_lossy(&out.stderr).trim().to_string(),
        }),
    }
}

fn names(repo: &Path, from: &str, to: &str) -> Result<Vec<String>> {
    let out = git(
        repo,
        &["diff", "--name-only", "--no-renames", "-z", from, to],
    )?;
    Ok(out
        .split('\0')
        .filter(|s| !s.is_empty())
        .map(str::to_string)
        .collect())
}

/// Brings the changes of `worktree` (since `base`) into `repo`'s working directory as
/// uncommitted changes. All or nothing: refused, with nothing touched, when the user has
/// uncommitted changes in the same files or the changes conflict. Returns the files applied.
pub fn apply(repo: &Path, worktree: &Path, base: &str) -> Result<Vec<String>> {
    let agent_tree = snapshot_tree(worktree)?;
    let agent_files = names(repo, base, &agent_tree)?;
    if agent_files.is_empty() {
        return Ok(vec![]);
    }
    let user_tree = snapshot_tree(repo)?;
    let dirty = names(repo, "HEAD", &user_tree)?;
    let overlap: Vec<String> = agent_files
        .iter()
        .filter(|f| dirty.contains(f))
        .cloned()
        .collect();
    if !overlap.is_empty() {
        return Err(GitError::DirtyFiles(overlap));
    }
    let head = git(repo, &["rev-parse", "HEAD"])?;
    let ours = commit_tree(repo, &user_tree, &head)?;
    let theirs = commit_tree(repo, &agent_tree, base)?;
    let merged = match merge_trees(repo, &ours, &theirs)? {
        Ok(tree) => tree,
        Err(files) => return Err(GitError::Conflicts(files)),
    };
    let args = [
        "diff",
        "--binary",
        "--no-color",
        "--no-ext-diff",
        "--no-renames",
        &user_tree,
        &merged,
    ];
    let patch = check(&args, git_env(repo, &args, &[], None)?)?.stdout;
    if patch.is_empty() {
        return Ok(vec![]);
    }
    let apply_args = ["apply", "--binary", "--whitespace=nowarn", "-"];
    check(&apply_args, git_env(repo, &apply_args, &[], Some(&patch))?)?;
    names(repo, &user_tree, &merged)
}

/// Merges `branch` into the current branch of `repo` (a merge commit, or one squashed commit
/// with `message`). Refused with nothing touched on conflicts, on uncommitted changes in the
/// files it would change, and (for squash) on staged changes.
pub fn merge(repo: &Path, branch: &str, squash: bool, message: &str) -> Result<String> {
    let head = git(repo, &["rev-parse", "HEAD"])?;
    let tip = resolve_commit(repo, branch)?;
    let merge_base = git(repo, &["merge-base", &head, &tip])?;
    let incoming = names(repo, &merge_base, &tip)?;
    if incoming.is_empty() {
        return Err(GitError::Refused(format!(
            "{branch} has no changes to merge"
        )));
    }
    let user_tree = snapshot_tree(repo)?;
    let dirty = names(repo, "HEAD", &user_tree)?;
    let overlap: Vec<String> = incoming
        .iter()
        .filter(|f| dirty.contains(f))
        .cloned()
        .collect();
    if !overlap.is_empty() {
        return Err(GitError::DirtyFiles(overlap));
    }
    if let Err(files) = merge_trees(repo, &head, &tip)? {
        return Err(GitError::Conflicts(files));
    }
    if squash {
        if !git_env(repo, &["diff", "--cached", "--quiet"], &[], None)?
            .status
            .success()
        {
            return Err(GitError::Refused(
                "you have staged changes; commit or unstage them before a squash merge".into(),
            ));
        }
        git(repo, &["merge", "--squash", "-q", branch])?;
        git(repo, &["commit", "-q", "--no-verify", "-m", message])?;
    } else {
        git(
            repo,
            &[
                "merge",
                "--no-ff",
                "-q",
                "--no-verify",
                "-m",
                message,
                branch,
            ],
        )?;
    }
    git(repo, &["rev-parse", "HEAD"])
}

/// Whether `branch`'s changes are already in `repo`'s HEAD.
pub fn is_merged(repo: &Path, branch: &str) -> bool {
    git_env(
        repo,
        &["merge-base", "--is-ancestor", branch, "HEAD"],
        &[],
        None,
    )
    .map(|o| o.status.success())
    .unwrap_or(false)
}

/// Removes a worktree (even with changes: the caller decided) and, unless `keep_branch`, its
/// branch.
pub fn remove_worktree(
    repo: &Path,
    path: &Path,
    branch: Option<&str>,
    keep_branch: bool,
) -> Result<()> {
    let _lock = worktree_lock(repo)?;
    if path.exists() {
        let p = path.display().to_string();
        git(repo, &["worktree", "remove", "--force", "--force", &p])?;
    } else {
        git(repo, &["worktree", "prune"])?;
    }
    if let (Some(branch), false) = (branch, keep_branch) {
        if branch_exists(repo, branch) {
            git(repo, &["branch", "-D", "-q", branch])?;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn repo() -> (tempfile::TempDir, PathBuf) {
        let dir = tempfile::tempdir().unwrap();
        let repo = dir.path().join("proj");
        std::fs::create_dir_all(&repo).unwrap();
        for args in [
            vec!["init", "-q", "-b", "main"],
            vec!["config", "user.email", "t@t"],
            vec!["config", "user.name", "t"],
        ] {
            git(&repo, &args).unwrap();
        }
        std::fs::write(repo.join("a.txt"), "one\ntwo\nthree\n").unwrap();
        std::fs::write(repo.join("b.txt"), "bee\n").unwrap();
        git(&repo, &["add", "-A"]).unwrap();
        git(&repo, &["commit", "-q", "-m", "init"]).unwrap();
        (dir, repo)
    }

    #[test]
    fn apply_brings_changes_and_keeps_user_work() {
        let (_d, repo) = repo();
        let base = resolve_commit(&repo, "HEAD").unwrap();
        let wt = worktree_path(&repo, "t1");
        create_worktree(&repo, &wt, "aside/t1", &base).unwrap();
        std::fs::write(wt.join("a.txt"), "one\nTWO\nthree\n").unwrap();
        std::fs::write(wt.join("new.txt"), "new\n").unwrap();
        // The user changed another file meanwhile.
        std::fs::write(repo.join("b.txt"), "user bee\n").unwrap();
        let files = apply(&repo, &wt, &base).unwrap();
        assert_eq!(files, ["a.txt", "new.txt"]);
        assert_eq!(
            std::fs::read_to_string(repo.join("a.txt")).unwrap(),
            "one\nTWO\nthree\n"
        );
        assert_eq!(
            std::fs::read_to_string(repo.join("b.txt")).unwrap(),
            "user bee\n"
        );
        // Applied as uncommitted changes: the index is untouched.
        assert_eq!(
            git(&repo, &["diff", "--cached", "--name-only"]).unwrap(),
            ""
        );
    }

    #[test]
    fn apply_refuses_on_dirty_files_and_touches_nothing() {
        let (_d, repo) = repo();
        let base = resolve_commit(&repo, "HEAD").unwrap();
        let wt = worktree_path(&repo, "t2");
        create_worktree(&repo, &wt, "aside/t2", &base).unwrap();
        std::fs::write(wt.join("a.txt"), "agent\n").unwrap();
        std::fs::write(wt.join("b.txt"), "agent bee\n").unwrap();
        std::fs::write(repo.join("a.txt"), "mine\n").unwrap();
        let err = apply(&repo, &wt, &base).unwrap_err().to_string();
        assert_eq!(err, "refused: you have uncommitted changes in a.txt; commit or stash them first. Nothing was changed");
        assert_eq!(
            std::fs::read_to_string(repo.join("a.txt")).unwrap(),
            "mine\n"
        );
        assert_eq!(
            std::fs::read_to_string(repo.join("b.txt")).unwrap(),
            "bee\n"
        );
    }

    #[test]
    fn conflicting_apply_names_the_files() {
        let (_d, repo) = repo();
        let base = resolve_commit(&repo, "HEAD").unwrap();
        let wt = worktree_path(&repo, "t3");
        create_worktree(&repo, &wt, "aside/t3", &base).unwrap();
        std::fs::write(wt.join("a.txt"), "one\nagent\nthree\n").unwrap();
        std::fs::write(repo.join("a.txt"), "one\nuser\nthree\n").unwrap();
        git(&repo, &["commit", "-qam", "user change"]).unwrap();
        let err = apply(&repo, &wt, &base).unwrap_err().to_string();
        assert_eq!(
            err,
            "refused: the changes conflict with your workspace in a.txt. Nothing was changed"
        );
        assert_eq!(
            std::fs::read_to_string(repo.join("a.txt")).unwrap(),
            "one\nuser\nthree\n"
        );
    }

    #[test]
    fn checkpoint_merge_and_remove() {
        let (_d, repo) = repo();
        let base = resolve_commit(&repo, "HEAD").unwrap();
        let wt = worktree_path(&repo, "t4");
        create_worktree(&repo, &wt, "aside/t4", &base).unwrap();
        assert_eq!(checkpoint(&wt, "nothing").unwrap(), None);
        std::fs::write(wt.join("c.txt"), "see\n").unwrap();
        assert!(checkpoint(&wt, "turn 1").unwrap().is_some());
        assert_eq!(
            changed_files(&wt, &base).unwrap(),
            [FileChange {
                path: "c.txt".into(),
                added: 1,
                removed: 0
            }]
        );
        assert!(diff(&wt, &base, true).unwrap().contains("c.txt | 1 +"));
        merge(&repo, "aside/t4", true, "Add c").unwrap();
        assert_eq!(
            std::fs::read_to_string(repo.join("c.txt")).unwrap(),
            "see\n"
        );
        assert_eq!(git(&repo, &["log", "-1", "--format=%s"]).unwrap(), "Add c");
        remove_worktree(&repo, &wt, Some("aside/t4"), false).unwrap();
        assert!(!wt.exists());
        assert!(!branch_exists(&repo, "aside/t4"));
    }

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
        assert_eq!(
            std::fs::read_to_string(wt.join("a.txt")).unwrap(),
            "changed\n"
        );
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

    #[test]
    fn worktreeinclude_copies_ignored_files() {
        let (_d, repo) = repo();
        std::fs::write(repo.join(".gitignore"), ".env\n*.log\n").unwrap();
        std::fs::write(repo.join(".worktreeinclude"), ".env\n").unwrap();
        std::fs::write(repo.join(".env"), "SECRET=1\n").unwrap();
        std::fs::write(repo.join("x.log"), "log\n").unwrap();
        let base = resolve_commit(&repo, "HEAD").unwrap();
        let wt = worktree_path(&repo, "t5");
        create_worktree(&repo, &wt, "aside/t5", &base).unwrap();
        assert_eq!(
            std::fs::read_to_string(wt.join(".env")).unwrap(),
            "SECRET=1\n"
        );
        assert!(!wt.join("x.log").exists());
    }
}
