//! Bringing a session's work into the user's repository: apply (as uncommitted changes) and
//! merge (as commits). Both merge in memory first and write nothing unless that is clean.

use std::collections::HashSet;
use std::path::Path;

use crate::cmd::{
    check, commit_tree, git, git_env, git_to_the_end, head_commit, names, names_filtered,
};
use crate::snapshot::snapshot_tree;
use crate::worktree::{repo_root, resolve_commit};
use crate::{GitError, Result};

/// Merges two commits in memory with `git merge-tree --write-tree`; Ok(tree) or the
/// conflicting files. With `base`, that is the merge base (a cherry-pick of base..theirs onto
/// ours); git before 2.40 lacks `--merge-base`, and then git finds the merge base itself.
fn merge_trees(
    repo: &Path,
    ours: &str,
    theirs: &str,
    base: Option<&str>,
) -> Result<std::result::Result<String, Vec<String>>> {
    let base_arg = base.map(|b| format!("--merge-base={b}"));
    let mut args = vec![
        "merge-tree",
        "--write-tree",
        "--name-only",
        "--no-messages",
        "-z",
    ];
    if let Some(b) = &base_arg {
        args.push(b);
    }
    args.extend([ours, theirs]);
    let out = git_env(repo, &args, &[], None)?;
    if out.status.code() == Some(129) && base.is_some() {
        // A usage error: this git does not know --merge-base.
        return merge_trees(repo, ours, theirs, None);
    }
    let text = String::from_utf8_lossy(&out.stdout).to_string();
    let mut fields = text.split('\0');
    let tree = fields.next().unwrap_or_default().trim().to_string();
    match out.status.code() {
        Some(0) => Ok(Ok(tree)),
        Some(1) => {
            let mut files: Vec<String> = fields
                .filter(|l| !l.is_empty())
                .map(str::to_string)
                .collect();
            files.sort();
            files.dedup();
            Ok(Err(files))
        }
        _ => Err(GitError::Failed {
            args: args.join(" "),
            stderr: String::from_utf8_lossy(&out.stderr).trim().to_string(),
        }),
    }
}

/// Brings the changes of `worktree` since `base` into `repo`'s working directory as
/// uncommitted changes, merged three ways with the user's working state: HEAD plus their
/// uncommitted and untracked files. An agent's change and a user's edit in the same file both
/// survive when they do not overlap. The user's index and HEAD are never changed.
///
/// All or nothing: on a true conflict (the same lines changed differently, a file changed on
/// one side and deleted on the other, an ignored file where the agent adds one) it returns
/// [`GitError::Conflicts`] and nothing is touched. Returns the files written; `Ok(vec![])`
/// when the agent changed nothing; [`GitError::AlreadyApplied`] when the user's files already
/// hold the agent's changes (a second apply).
pub fn apply(repo: &Path, worktree: &Path, base: &str) -> Result<Vec<String>> {
    // An apply that was stopped half way (its git killed) is completed first.
    if let Some(done) = finish_interrupted_apply(repo, worktree)? {
        return Ok(done);
    }
    let agent_tree = snapshot_tree(worktree)?;
    let agent_files = names(repo, base, &agent_tree)?;
    if agent_files.is_empty() {
        return Ok(vec![]);
    }
    // git apply only patches paths under its working directory: run everything at the top.
    let top = repo_root(repo)?;
    let user_tree = snapshot_tree(&top)?;
    let differing: HashSet<String> = names(&top, &user_tree, &agent_tree)?.into_iter().collect();
    if agent_files.iter().all(|f| !differing.contains(f)) {
        return Err(GitError::AlreadyApplied);
    }
    // Ours: the user's state on top of HEAD; theirs: the agent's on top of base. Merging with
    // base as the merge base applies exactly the agent's changes, even when HEAD has moved on
    // from base, or away from it (a rebase, an amend, another branch).
    let head = head_commit(&top)?;
    let ours = commit_tree(
        &top,
        &user_tree,
        head.as_deref(),
        "aside: your working state",
    )?;
    let theirs = commit_tree(&top, &agent_tree, Some(base), "aside: the session's work")?;
    let merged = match merge_trees(&top, &ours, &theirs, Some(base))? {
        Ok(tree) => tree,
        Err(files) if files.is_empty() => return Err(GitError::Conflicts(agent_files)),
        Err(files) => return Err(GitError::Conflicts(files)),
    };
    if merged == user_tree {
        // Clean, and nothing to write: the user's files already have the agent's changes.
        return Err(GitError::AlreadyApplied);
    }
    // A file the merge adds must not overwrite one the snapshot did not see (an ignored file).
    let blocked: Vec<String> = names_filtered(&top, &user_tree, &merged, Some("A"))?
        .into_iter()
        .filter(|p| top.join(p).symlink_metadata().is_ok())
        .collect();
    if !blocked.is_empty() {
        return Err(GitError::Conflicts(blocked));
    }
    // Plumbing diff, so no user diff setting (noprefix, color, external tools) changes it.
    let args = [
        "diff-tree",
        "-r",
        "-p",
        "--binary",
        "--no-renames",
        &user_tree,
        &merged,
    ];
    let patch = check(&args, git_env(&top, &args, &[], None)?)?.stdout;
    // What is about to change, kept until it has: an apply whose git is killed half way is
    // completed by the next one.
    let journal = Journal::at(&top)?;
    // From here to the journal's removal, a closed terminal or Ctrl-C waits for the end.
    let _deferred = aside_core::process::defer_signals();
    journal.write(worktree, &user_tree, &merged)?;
    // Without --index, git apply writes the working tree only. It checks every hunk before it
    // writes anything, so a file edited since the snapshot fails the whole apply untouched.
    // It runs to the end whatever the terminal sends (a closed terminal, Ctrl-C, Ctrl-\).
    let apply_args = ["apply", "--binary", "--whitespace=nowarn", "-"];
    let applied = check(
        &apply_args,
        git_to_the_end(&top, &apply_args, Some(&patch))?,
    );
    journal.remove();
    applied?;
    names(&top, &user_tree, &merged)
}

/// `<git dir>/aside-apply`: an apply under way (the worktree it comes from, the user's state it
/// started from and the state it makes), removed when it is done.
struct Journal {
    path: std::path::PathBuf,
}

impl Journal {
    fn at(top: &Path) -> Result<Journal> {
        let path = git(
            top,
            &[
                "rev-parse",
                "--path-format=absolute",
                "--git-path",
                "aside-apply",
            ],
        )?;
        Ok(Journal { path: path.into() })
    }

    fn write(&self, worktree: &Path, from: &str, to: &str) -> Result<()> {
        let text = format!("worktree {}\nfrom {from}\nto {to}\n", worktree.display());
        let tmp = self.path.with_extension("tmp");
        std::fs::write(&tmp, text)
            .and_then(|()| std::fs::rename(&tmp, &self.path))
            .map_err(GitError::Spawn)
    }

    /// The worktree, from-tree and to-tree of an apply that did not finish.
    fn read(&self) -> Option<(std::path::PathBuf, String, String)> {
        let text = std::fs::read_to_string(&self.path).ok()?;
        let field = |name: &str| {
            text.lines()
                .find_map(|l| l.strip_prefix(name)?.strip_prefix(' '))
                .map(str::to_string)
        };
        Some((field("worktree")?.into(), field("from")?, field("to")?))
    }

    fn remove(&self) {
        let _ = std::fs::remove_file(&self.path);
    }
}

/// Completes an apply into `repo` that was stopped half way: the files still as they were
/// before it get what it was writing; files that already have it are left alone. Refused,
/// touching nothing, when the interrupted apply came from another session's worktree or when
/// the user changed one of its files since. None when no apply was interrupted.
fn finish_interrupted_apply(repo: &Path, worktree: &Path) -> Result<Option<Vec<String>>> {
    let top = repo_root(repo)?;
    let journal = Journal::at(&top)?;
    let Some((from_worktree, from, to)) = journal.read() else {
        return Ok(None);
    };
    if from_worktree != worktree {
        return Err(GitError::Refused(format!(
            "an earlier apply into {} (from {}) was interrupted half way; apply that session again to complete it first",
            top.display(),
            from_worktree.display()
        )));
    }
    let now = snapshot_tree(&top)?;
    let planned: HashSet<String> = names(&top, &from, &to)?.into_iter().collect();
    let not_done: HashSet<String> = names(&top, &now, &to)?.into_iter().collect();
    let changed_since: HashSet<String> = names(&top, &from, &now)?.into_iter().collect();
    // Still as before the apply: to be written. Neither before nor after: the user's.
    let mut todo: Vec<String> = planned
        .iter()
        .filter(|p| not_done.contains(*p) && !changed_since.contains(*p))
        .cloned()
        .collect();
    let mut theirs: Vec<String> = planned
        .iter()
        .filter(|p| not_done.contains(*p) && changed_since.contains(*p))
        .cloned()
        .collect();
    // A file its git was writing when it was killed holds the start of what it was writing:
    // put back as it was before, and written again with the rest.
    let blob = |tree: &str, path: &str| -> Option<Vec<u8>> {
        let spec = format!("{tree}:{path}");
        let out = git_env(&top, &["cat-file", "blob", &spec], &[], None).ok()?;
        out.status.success().then_some(out.stdout)
    };
    let mut half_written = Vec::new();
    theirs.retain(|path| {
        let Ok(now) = std::fs::read(top.join(path)) else {
            return true;
        };
        let started = blob(&to, path).is_some_and(|target| target.starts_with(&now));
        if started {
            half_written.push(path.clone());
        }
        !started
    });
    todo.sort();
    theirs.sort();
    if !theirs.is_empty() {
        return Err(GitError::Refused(format!(
            "an apply into {} was interrupted half way, and since then {} changed: look at them, then remove {} to apply afresh",
            top.display(),
            theirs.join(", "),
            journal.path.display()
        )));
    }
    for path in &half_written {
        let file = top.join(path);
        match blob(&from, path) {
            Some(before) => std::fs::write(&file, before).map_err(GitError::Spawn)?,
            None => std::fs::remove_file(&file).map_err(GitError::Spawn)?,
        }
        todo.push(path.clone());
    }
    if todo.is_empty() {
        // Its git finished after all (only aside was stopped).
        journal.remove();
        return Err(GitError::AlreadyApplied);
    }
    {
        let mut args = vec![
            "diff-tree",
            "-r",
            "-p",
            "--binary",
            "--no-renames",
            &from,
            &to,
            "--",
        ];
        args.extend(todo.iter().map(String::as_str));
        let patch = check(&args, git_env(&top, &args, &[], None)?)?.stdout;
        let apply_args = ["apply", "--binary", "--whitespace=nowarn", "-"];
        check(
            &apply_args,
            git_to_the_end(&top, &apply_args, Some(&patch))?,
        )?;
    }
    journal.remove();
    let mut all: Vec<String> = planned.into_iter().collect();
    all.sort();
    Ok(Some(all))
}

/// Merges `branch` into the current branch of `repo` (a merge commit, or one squashed commit
/// with `message`) and returns the new HEAD. Refused with nothing touched when the branch has
/// nothing new ([`GitError::Refused`]), on uncommitted changes in the files it would change
/// ([`GitError::DirtyFiles`]), on conflicts ([`GitError::MergeConflicts`]) and (for squash)
/// on staged changes.
pub fn merge(repo: &Path, branch: &str, squash: bool, message: &str) -> Result<String> {
    // What an interrupted git leaves behind, said with the way out rather than git's own error.
    let lock = git(
        repo,
        &[
            "rev-parse",
            "--path-format=absolute",
            "--git-path",
            "index.lock",
        ],
    )?;
    if Path::new(&lock).exists() {
        return Err(GitError::Refused(format!(
            "git's lock {lock} exists: another git is at work in {}, or one was stopped half way (a closed terminal, a kill). If no git is running, remove it (rm {lock}), check `git status`, then merge again",
            repo.display()
        )));
    }
    let merging = git(
        repo,
        &[
            "rev-parse",
            "--path-format=absolute",
            "--git-path",
            "MERGE_HEAD",
        ],
    )?;
    if Path::new(&merging).exists() {
        return Err(GitError::Refused(format!(
            "a merge is under way in {}: finish it (git commit) or undo it (git merge --abort), then merge again",
            repo.display()
        )));
    }
    let head = git(repo, &["rev-parse", "HEAD"])?;
    let tip = resolve_commit(repo, branch)?;
    let merge_base = git(repo, &["merge-base", &head, &tip])?;
    let incoming = names(repo, &merge_base, &tip)?;
    if incoming.is_empty() {
        return Err(GitError::NothingToMerge {
            branch: branch.to_string(),
        });
    }
    let user_tree = snapshot_tree(repo)?;
    let dirty: HashSet<String> = names(repo, "HEAD", &user_tree)?.into_iter().collect();
    let overlap: Vec<String> = incoming.into_iter().filter(|f| dirty.contains(f)).collect();
    if !overlap.is_empty() {
        return Err(GitError::DirtyFiles(overlap));
    }
    if let Err(files) = merge_trees(repo, &head, &tip, None)? {
        return Err(GitError::MergeConflicts {
            branch: branch.to_string(),
            files,
        });
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
        // Each runs to the end whatever the terminal sends, so git's lock is not left behind.
        let args = ["merge", "--squash", "-q", branch];
        check(&args, git_to_the_end(repo, &args, None)?)?;
        let args = ["commit", "-q", "--no-verify", "-m", message];
        check(&args, git_to_the_end(repo, &args, None)?)?;
    } else {
        let args = [
            "merge",
            "--no-ff",
            "-q",
            "--no-verify",
            "-m",
            message,
            branch,
        ];
        check(&args, git_to_the_end(repo, &args, None)?)?;
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testutil::{git_state, read, repo, user_state, write};
    use crate::{
        branch_exists, changed_files, checkpoint, create_worktree, diff, remove_worktree,
        worktree_path, FileChange,
    };
    use std::path::PathBuf;

    /// A session worktree `name` on `aside/<name>` from HEAD; returns it and its base.
    fn session(repo: &Path, name: &str) -> (PathBuf, String) {
        let base = resolve_commit(repo, "HEAD").unwrap();
        let wt = worktree_path(repo, name);
        create_worktree(repo, &wt, &format!("aside/{name}"), &base).unwrap();
        (wt, base)
    }

    const TEN: &str = "1\n2\n3\n4\n5\n6\n7\n8\n9\n10\n";

    #[test]
    fn apply_brings_changes_and_keeps_user_work() {
        let (_d, repo) = repo();
        let (wt, base) = session(&repo, "t1");
        write(&wt, "a.txt", "one\nTWO\nthree\n");
        write(&wt, "new.txt", "new\n");
        // The user changed another file meanwhile.
        write(&repo, "b.txt", "user bee\n");
        let files = apply(&repo, &wt, &base).unwrap();
        assert_eq!(files, ["a.txt", "new.txt"]);
        assert_eq!(read(&repo, "a.txt"), "one\nTWO\nthree\n");
        assert_eq!(read(&repo, "b.txt"), "user bee\n");
        // Applied as uncommitted changes: the index is untouched.
        assert_eq!(
            git(&repo, &["diff", "--cached", "--name-only"]).unwrap(),
            ""
        );
    }

    #[test]
    fn apply_merges_a_non_overlapping_edit_to_a_file_the_user_changed() {
        let (_d, repo) = repo();
        write(&repo, "a.txt", TEN);
        git(&repo, &["commit", "-qam", "ten"]).unwrap();
        let (wt, base) = session(&repo, "t2");
        write(&wt, "a.txt", TEN.replace("2\n", "agent\n"));
        // The user staged one version of the file and then edited it further.
        write(&repo, "a.txt", TEN.replace("9\n", "staged\n"));
        git(&repo, &["add", "a.txt"]).unwrap();
        write(&repo, "a.txt", TEN.replace("9\n", "user\n"));
        let before = git_state(&repo);
        assert_eq!(apply(&repo, &wt, &base).unwrap(), ["a.txt"]);
        assert_eq!(
            read(&repo, "a.txt"),
            TEN.replace("2\n", "agent\n").replace("9\n", "user\n")
        );
        // The user's index (their staged version), HEAD and staged diff are as they were.
        assert_eq!(git_state(&repo), before);
        assert_eq!(
            git(&repo, &["show", ":a.txt"]).unwrap() + "\n",
            TEN.replace("9\n", "staged\n")
        );
    }

    #[test]
    fn apply_refuses_a_true_conflict_with_uncommitted_work_and_touches_nothing() {
        let (_d, repo) = repo();
        let (wt, base) = session(&repo, "t3");
        write(&wt, "a.txt", "one\nagent\nthree\n");
        write(&wt, "b.txt", "agent bee\n");
        write(&repo, "a.txt", "one\nmine\nthree\n");
        git(&repo, &["add", "a.txt"]).unwrap();
        write(&repo, "a.txt", "one\nmine, edited\nthree\n");
        write(&repo, "untracked.txt", "u\n");
        let before = user_state(&repo);
        let err = apply(&repo, &wt, &base).unwrap_err();
        assert!(
            matches!(&err, GitError::Conflicts(f) if f == &["a.txt"]),
            "{err:?}"
        );
        assert_eq!(
            err.to_string(),
            "refused: the changes conflict with your uncommitted work or your commits in a.txt. Nothing was changed"
        );
        assert_eq!(user_state(&repo), before);
    }

    #[test]
    fn conflicting_apply_names_the_files() {
        let (_d, repo) = repo();
        let (wt, base) = session(&repo, "t4");
        write(&wt, "a.txt", "one\nagent\nthree\n");
        write(&repo, "a.txt", "one\nuser\nthree\n");
        git(&repo, &["commit", "-qam", "user change"]).unwrap();
        let before = user_state(&repo);
        let err = apply(&repo, &wt, &base).unwrap_err();
        assert!(
            matches!(&err, GitError::Conflicts(f) if f == &["a.txt"]),
            "{err:?}"
        );
        assert_eq!(user_state(&repo), before);
    }

    #[test]
    fn a_second_apply_is_already_applied_and_an_empty_session_applies_nothing() {
        let (_d, repo) = repo();
        let (wt, base) = session(&repo, "t5");
        assert_eq!(apply(&repo, &wt, &base).unwrap(), Vec::<String>::new());
        write(&wt, "a.txt", "one\nTWO\nthree\n");
        std::fs::remove_file(wt.join("b.txt")).unwrap();
        write(&wt, "c.bin", [0u8, 1, 2, 255]);
        checkpoint(&wt, "turn").unwrap();
        assert_eq!(
            apply(&repo, &wt, &base).unwrap(),
            ["a.txt", "b.txt", "c.bin"]
        );
        assert!(!repo.join("b.txt").exists());
        assert_eq!(std::fs::read(repo.join("c.bin")).unwrap(), [0u8, 1, 2, 255]);
        let before = user_state(&repo);
        let err = apply(&repo, &wt, &base).unwrap_err();
        assert!(matches!(err, GitError::AlreadyApplied), "{err:?}");
        assert_eq!(
            err.to_string(),
            "already applied: your workspace already has these changes"
        );
        assert_eq!(user_state(&repo), before);
        // Still applied after the user committed it and edited a file further.
        git(&repo, &["add", "-A"]).unwrap();
        git(&repo, &["commit", "-qm", "took it"]).unwrap();
        write(&repo, "a.txt", "zero\none\nTWO\nthree\n");
        assert!(matches!(
            apply(&repo, &wt, &base),
            Err(GitError::AlreadyApplied)
        ));
    }

    #[test]
    fn apply_after_the_user_committed_since_the_base() {
        let (_d, repo) = repo();
        write(&repo, "a.txt", TEN);
        git(&repo, &["commit", "-qam", "ten"]).unwrap();
        let (wt, base) = session(&repo, "t6");
        write(&wt, "a.txt", TEN.replace("9\n", "agent\n"));
        write(&repo, "a.txt", TEN.replace("1\n", "committed\n"));
        git(&repo, &["commit", "-qam", "user"]).unwrap();
        write(
            &repo,
            "a.txt",
            TEN.replace("1\n", "committed\n").replace("5\n", "dirty\n"),
        );
        let before = git_state(&repo);
        assert_eq!(apply(&repo, &wt, &base).unwrap(), ["a.txt"]);
        assert_eq!(
            read(&repo, "a.txt"),
            TEN.replace("1\n", "committed\n")
                .replace("5\n", "dirty\n")
                .replace("9\n", "agent\n")
        );
        assert_eq!(git_state(&repo), before);
    }

    #[test]
    fn apply_brings_only_the_sessions_changes_when_the_base_is_not_an_ancestor_of_head() {
        let (_d, repo) = repo();
        write(&repo, "a.txt", TEN);
        git(&repo, &["commit", "-qam", "ten"]).unwrap();
        let (wt, base) = session(&repo, "t7");
        write(&wt, "b.txt", "agent bee\n");
        // The user rewrote the base commit: it no longer has a.txt's ten lines.
        write(&repo, "a.txt", "rewritten\n");
        git(&repo, &["commit", "-q", "--amend", "-am", "amended"]).unwrap();
        assert!(!is_merged(&repo, &base));
        assert_eq!(apply(&repo, &wt, &base).unwrap(), ["b.txt"]);
        assert_eq!(read(&repo, "a.txt"), "rewritten\n");
        assert_eq!(read(&repo, "b.txt"), "agent bee\n");
    }

    #[test]
    fn apply_refuses_binary_and_delete_conflicts() {
        let (_d, repo) = repo();
        write(&repo, "c.bin", [0u8, 1, 2]);
        git(&repo, &["add", "-A"]).unwrap();
        git(&repo, &["commit", "-qm", "bin"]).unwrap();
        let (wt, base) = session(&repo, "t8");
        write(&wt, "c.bin", [0u8, 9, 9]);
        std::fs::remove_file(wt.join("a.txt")).unwrap();
        write(&repo, "c.bin", [0u8, 7, 7]);
        write(&repo, "a.txt", "one\ntwo\nthree\nfour\n");
        let before = user_state(&repo);
        let err = apply(&repo, &wt, &base).unwrap_err();
        assert!(
            matches!(&err, GitError::Conflicts(f) if f == &["a.txt", "c.bin"]),
            "{err:?}"
        );
        assert_eq!(user_state(&repo), before);
    }

    #[test]
    fn apply_refuses_to_overwrite_an_ignored_file() {
        let (_d, repo) = repo();
        let (wt, base) = session(&repo, "t9");
        write(&wt, "local.cfg", "agent\n");
        // The user ignores their own local.cfg (with an uncommitted .gitignore).
        write(&repo, ".gitignore", "local.cfg\n");
        write(&repo, "local.cfg", "mine\n");
        let before = user_state(&repo);
        let err = apply(&repo, &wt, &base).unwrap_err();
        assert!(
            matches!(&err, GitError::Conflicts(f) if f == &["local.cfg"]),
            "{err:?}"
        );
        assert_eq!(user_state(&repo), before);
    }

    #[test]
    fn apply_keeps_crlf_files_and_brings_mode_changes() {
        use std::os::unix::fs::PermissionsExt as _;
        let (_d, repo) = repo();
        write(&repo, ".gitattributes", "*.txt text eol=crlf\n");
        write(&repo, "run.sh", "echo hi\n");
        git(&repo, &["add", "-A"]).unwrap();
        git(&repo, &["commit", "-qm", "crlf"]).unwrap();
        std::fs::remove_file(repo.join("a.txt")).unwrap();
        git(&repo, &["checkout", "--", "a.txt"]).unwrap();
        write(&repo, "a.txt", "zero\r\none\r\ntwo\r\nthree\r\n");
        let (wt, base) = session(&repo, "t12");
        // (The session's base has the committed a.txt, without the user's "zero" line.)
        write(&wt, "a.txt", "one\r\ntwo\r\nthree\r\nagent\r\n");
        let mode = std::fs::Permissions::from_mode(0o755);
        std::fs::set_permissions(wt.join("run.sh"), mode).unwrap();
        assert_eq!(apply(&repo, &wt, &base).unwrap(), ["a.txt", "run.sh"]);
        assert_eq!(
            read(&repo, "a.txt"),
            "zero\r\none\r\ntwo\r\nthree\r\nagent\r\n"
        );
        let mode = std::fs::metadata(repo.join("run.sh"))
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o111, 0o111);
    }

    #[test]
    fn checkpoint_merge_and_remove() {
        let (_d, repo) = repo();
        let (wt, base) = session(&repo, "t10");
        assert_eq!(checkpoint(&wt, "nothing").unwrap(), None);
        let nothing = merge(&repo, "aside/t10", true, "x").unwrap_err();
        assert!(matches!(&nothing, GitError::NothingToMerge { branch } if branch == "aside/t10"));
        assert_eq!(
            nothing.to_string(),
            "refused: aside/t10 has no changes to merge"
        );
        write(&wt, "c.txt", "see\n");
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
        assert!(!is_merged(&repo, "aside/t10"));
        merge(&repo, "aside/t10", true, "Add c").unwrap();
        assert_eq!(read(&repo, "c.txt"), "see\n");
        assert_eq!(git(&repo, &["log", "-1", "--format=%s"]).unwrap(), "Add c");
        remove_worktree(&repo, &wt, Some("aside/t10"), false).unwrap();
        assert!(!wt.exists());
        assert!(!branch_exists(&repo, "aside/t10"));
    }

    #[test]
    fn merge_refuses_dirty_files_and_conflicts_naming_the_next_steps() {
        let (_d, repo) = repo();
        let (wt, _) = session(&repo, "t11");
        write(&wt, "a.txt", "one\nagent\nthree\n");
        checkpoint(&wt, "turn").unwrap();
        write(&repo, "a.txt", "one\nuser\nthree\n");
        let before = user_state(&repo);
        let err = merge(&repo, "aside/t11", false, "m").unwrap_err();
        assert!(
            matches!(&err, GitError::DirtyFiles(f) if f == &["a.txt"]),
            "{err:?}"
        );
        assert_eq!(user_state(&repo), before);

        git(&repo, &["commit", "-qam", "user"]).unwrap();
        let before = user_state(&repo);
        let err = merge(&repo, "aside/t11", false, "m").unwrap_err();
        assert!(
            matches!(&err, GitError::MergeConflicts { branch, files } if branch == "aside/t11" && files == &["a.txt"]),
            "{err:?}"
        );
        assert_eq!(
            err.to_string(),
            "refused: merging aside/t11 conflicts with your branch in a.txt. Nothing was changed. \
             To resolve by hand: git merge aside/t11, fix the files, git add them, git commit"
        );
        assert_eq!(user_state(&repo), before);
    }
}
