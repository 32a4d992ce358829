//! Finding the repository, and making and removing the worktrees sessions run in.

use std::path::{Path, PathBuf};

use crate::cmd::{check, git, git_env};
use crate::{GitError, Result};

/// Holds the repository's worktree lock: git reads every worktree's metadata when it adds,
/// moves or removes one, or checks a branch out, and fails on one that another process is half
/// way through making. aside takes this lock around those steps; checkouts run outside it.
pub(crate) struct WorktreeLock {
    _file: std::fs::File,
}

/// Takes the worktree lock of the repository containing `repo` (waits for it).
pub(crate) fn worktree_lock(repo: &Path) -> Result<WorktreeLock> {
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

/// Fills a worktree made with `--no-checkout`: four checkout workers from the first file (on a
/// 100,000-file tree this measured about 10% faster than plain `git worktree add`; nearly all
/// the rest is the kernel creating files).
pub(crate) fn populate(path: &Path) -> Result<()> {
    let args = [
        "-c",
        "checkout.workers=4",
        "-c",
        "checkout.thresholdForParallelism=1",
        "reset",
        "-q",
        "--hard",
    ];
    check(&args, git_env(path, &args, &[], None)?)?;
    Ok(())
}

/// Refuses a path git would print cut (its output is a line per path): a directory whose name
/// holds a newline would otherwise be taken for another one.
pub fn whole_path(dir: &Path) -> Result<()> {
    use std::os::unix::ffi::OsStrExt as _;
    if dir.as_os_str().as_bytes().contains(&b'\n') {
        return Err(GitError::Refused(format!(
            "{} holds a newline in its path, which aside cannot pass to git whole; rename it (or work from a path without one)",
            dir.display().to_string().escape_default()
        )));
    }
    Ok(())
}

/// The top of the repository containing `dir`.
pub fn repo_root(dir: &Path) -> Result<PathBuf> {
    whole_path(dir)?;
    let out = git_env(dir, &["rev-parse", "--show-toplevel"], &[], None)?;
    if !out.status.success() {
        return Err(GitError::NotARepo(dir.to_path_buf()));
    }
    let text = String::from_utf8_lossy(&out.stdout);
    Ok(PathBuf::from(text.strip_suffix('\n').unwrap_or(&text)))
}

/// Checks that a session's worktree is still linked to `repo` as aside made it: its `.git` a
/// plain file naming a directory under `repo`'s own `.git/worktrees/`. An agent that rewrote
/// it could point git at a directory of its own making, whose config runs programs
/// (`core.fsmonitor`, …) when aside's git next looks at the worktree; so aside runs no git there
/// until it is put back.
pub fn verify_worktree(repo: &Path, worktree: &Path) -> Result<()> {
    let link = worktree.join(".git");
    let tampered = |why: String| {
        Err(GitError::Refused(format!(
            "the worktree {} is no longer linked to {} as aside made it ({why}), so aside runs no git in it. Restore it with `git -C {} worktree repair {}`",
            worktree.display(),
            repo.display(),
            repo.display(),
            worktree.display()
        )))
    };
    let meta = match std::fs::symlink_metadata(&link) {
        Ok(meta) => meta,
        Err(e) => return tampered(format!("its .git cannot be read: {e}")),
    };
    if !meta.file_type().is_file() {
        return tampered("its .git is not a plain file".into());
    }
    let text = std::fs::read_to_string(&link).unwrap_or_default();
    let Some(target) = text
        .strip_prefix("gitdir: ")
        .map(|t| t.trim_end_matches('\n'))
    else {
        return tampered("its .git does not name a git directory".into());
    };
    let common = git(
        repo,
        &["rev-parse", "--path-format=absolute", "--git-common-dir"],
    )?;
    let worktrees = Path::new(&common)
        .join("worktrees")
        .canonicalize()
        .map_err(GitError::Spawn)?;
    let target = worktree.join(target);
    match target.canonicalize() {
        Ok(real) if real.parent() == Some(worktrees.as_path()) => Ok(()),
        _ => tampered(format!(
            "its .git points at {}",
            target.display().to_string().escape_default()
        )),
    }
}

/// The main working tree of the repository holding `dir`: for a linked worktree (a session's
/// own, say) the repository it belongs to, so sessions never nest `<worktree>.worktrees/`.
pub fn main_repo_root(dir: &Path) -> Result<PathBuf> {
    whole_path(dir)?;
    // One git: `aside ls` asks it on every listing.
    let args = [
        "rev-parse",
        "--path-format=absolute",
        "--show-toplevel",
        "--git-common-dir",
    ];
    let out = git_env(dir, &args, &[], None)?;
    let text = String::from_utf8_lossy(&out.stdout);
    let mut lines = text.lines();
    let (Some(top), Some(common), true) = (lines.next(), lines.next(), out.status.success()) else {
        return Err(GitError::NotARepo(dir.to_path_buf()));
    };
    let common = Path::new(common);
    match (common.file_name(), common.parent()) {
        (Some(name), Some(parent)) if name == ".git" => Ok(parent.to_path_buf()),
        // A bare repository or a separate git dir: the worktree itself is the best answer.
        _ => Ok(PathBuf::from(top)),
    }
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
/// The linked worktrees of `repo` (the main one left out).
pub fn worktrees(repo: &Path) -> Result<Vec<PathBuf>> {
    let out = git(repo, &["worktree", "list", "--porcelain"])?;
    let mut all: Vec<PathBuf> = out
        .lines()
        .filter_map(|l| l.strip_prefix("worktree "))
        .map(PathBuf::from)
        .collect();
    if !all.is_empty() {
        all.remove(0);
    }
    Ok(all)
}

/// The local branches of `repo` whose names start with `prefix`.
pub fn branches(repo: &Path, prefix: &str) -> Result<Vec<String>> {
    let out = git(
        repo,
        &[
            "for-each-ref",
            "--format=%(refname:short)",
            &format!("refs/heads/{prefix}"),
        ],
    )?;
    Ok(out
        .lines()
        .map(str::to_string)
        .filter(|b| !b.is_empty())
        .collect())
}

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

/// Creates a worktree at `path` on a new branch from `base` (then [`copy_worktree_includes`]).
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
    populate(path)
}

/// Copies ignored files matching `.worktreeinclude` (gitignore syntax) from `repo` to
/// `worktree`; what could not be copied is skipped and named in the warnings returned. A
/// symbolic link is copied as a link, never as the file it points at (an ignored link to
/// `~/.ssh/id_rsa` must not become a readable copy in the agent's worktree).
pub fn copy_worktree_includes(repo: &Path, worktree: &Path) -> Result<Vec<String>> {
    let include = repo.join(".worktreeinclude");
    if !include.exists() {
        return Ok(Vec::new());
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
    let mut warnings = Vec::new();
    for rel in listed.split('\0').filter(|s| !s.is_empty()) {
        if !matcher.matched_path_or_any_parents(rel, false).is_ignore() {
            continue;
        }
        let (from, to) = (repo.join(rel), worktree.join(rel));
        let copied = (|| {
            if let Some(parent) = to.parent() {
                std::fs::create_dir_all(parent)?;
            }
            let meta = std::fs::symlink_metadata(&from)?;
            if meta.file_type().is_symlink() {
                std::os::unix::fs::symlink(std::fs::read_link(&from)?, &to)
            } else if meta.file_type().is_file() {
                // copy_file_range: a reflink (copy-on-write, instant) where the filesystem has
                // them.
                std::fs::copy(&from, &to).map(|_| ())
            } else {
                Err(std::io::Error::other("not a regular file or a link"))
            }
        })();
        if let Err(e) = copied {
            warnings.push(format!(
                "{rel} (listed by .worktreeinclude) was not copied into the worktree: {e}"
            ));
        }
    }
    Ok(warnings)
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
    use crate::testutil::{read, repo, write};

    #[test]
    fn worktreeinclude_copies_ignored_files() {
        let (_d, repo) = repo();
        write(&repo, ".gitignore", ".env\n*.log\n");
        write(&repo, ".worktreeinclude", ".env\n");
        write(&repo, ".env", "SECRET=1\n");
        write(&repo, "x.log", "log\n");
        let base = resolve_commit(&repo, "HEAD").unwrap();
        let wt = worktree_path(&repo, "t5");
        create_worktree(&repo, &wt, "aside/t5", &base).unwrap();
        assert!(copy_worktree_includes(&repo, &wt).unwrap().is_empty());
        assert_eq!(read(&wt, ".env"), "SECRET=1\n");
        assert!(!wt.join("x.log").exists());
    }

    #[test]
    fn links_are_copied_as_links_and_what_cannot_be_copied_is_named() {
        let (_d, repo) = repo();
        let outside = tempfile::tempdir().unwrap();
        write(outside.path(), "id_rsa", "PRIVATE KEY\n");
        write(&repo, ".gitignore", ".env\nkey\ncache\n");
        write(&repo, ".worktreeinclude", ".env\nkey\ncache\n");
        write(&repo, ".env", "A=1\n");
        std::os::unix::fs::symlink(outside.path().join("id_rsa"), repo.join("key")).unwrap();
        std::os::unix::fs::symlink(outside.path(), repo.join("cache")).unwrap();
        let base = resolve_commit(&repo, "HEAD").unwrap();
        let wt = worktree_path(&repo, "t8");
        create_worktree(&repo, &wt, "aside/t8", &base).unwrap();
        assert!(copy_worktree_includes(&repo, &wt).unwrap().is_empty());
        assert_eq!(read(&wt, ".env"), "A=1\n");
        for link in ["key", "cache"] {
            let meta = std::fs::symlink_metadata(wt.join(link)).unwrap();
            assert!(
                meta.file_type().is_symlink(),
                "{link} was copied as its target"
            );
        }
        // One that cannot be made is named, and the rest still come.
        std::fs::remove_dir_all(&wt).unwrap();
        std::fs::create_dir_all(wt.join("key")).unwrap();
        write(&wt, "key/x", "in the way\n");
        let warnings = copy_worktree_includes(&repo, &wt).unwrap();
        assert_eq!(warnings.len(), 1, "{warnings:?}");
        assert!(
            warnings[0]
                .starts_with("key (listed by .worktreeinclude) was not copied into the worktree: "),
            "{warnings:?}"
        );
        assert_eq!(read(&wt, ".env"), "A=1\n");
    }

    #[test]
    fn a_build_cache_listed_in_worktreeinclude_comes_along_whole() {
        use std::os::unix::fs::PermissionsExt as _;
        let (_d, repo) = repo();
        write(&repo, ".gitignore", "target/\n");
        write(&repo, ".worktreeinclude", "target/\n");
        write(&repo, "target/debug/deps/libx.rlib", "rlib\n");
        write(&repo, "target/debug/app", "#!/bin/sh\n");
        let app = repo.join("target/debug/app");
        std::fs::set_permissions(&app, std::fs::Permissions::from_mode(0o755)).unwrap();
        let base = resolve_commit(&repo, "HEAD").unwrap();
        let wt = worktree_path(&repo, "t7");
        create_worktree(&repo, &wt, "aside/t7", &base).unwrap();
        assert!(copy_worktree_includes(&repo, &wt).unwrap().is_empty());
        assert_eq!(read(&wt, "target/debug/deps/libx.rlib"), "rlib\n");
        let mode = std::fs::metadata(wt.join("target/debug/app"))
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o755, "the copy keeps it executable");
    }

    #[test]
    fn a_worktree_is_made_and_removed_with_its_branch() {
        let (_d, repo) = repo();
        assert_eq!(repo_root(&repo).unwrap(), repo.canonicalize().unwrap());
        assert!(matches!(
            repo_root(repo.parent().unwrap()),
            Err(GitError::NotARepo(_))
        ));
        assert!(resolve_commit(&repo, "nope").is_err());
        let base = resolve_commit(&repo, "HEAD").unwrap();
        let wt = worktree_path(&repo, "t6");
        assert!(wt.ends_with("proj.worktrees/t6"));
        create_worktree(&repo, &wt, "aside/t6", &base).unwrap();
        assert!(branch_exists(&repo, "aside/t6"));
        assert_eq!(read(&wt, "a.txt"), "one\ntwo\nthree\n");
        remove_worktree(&repo, &wt, Some("aside/t6"), false).unwrap();
        assert!(!wt.exists());
        assert!(!branch_exists(&repo, "aside/t6"));
    }
}
