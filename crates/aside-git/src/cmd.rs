//! Running git: the one place a `git` process is started.

use std::path::Path;
use std::process::{Command, Output, Stdio};

use crate::{GitError, Result};

/// The identity of the commits aside makes itself (checkpoints, snapshots).
pub(crate) const ASIDE_IDENTITY: [(&str, &str); 4] = [
    ("GIT_AUTHOR_NAME", "aside"),
    ("GIT_AUTHOR_EMAIL", "aside@localhost"),
    ("GIT_COMMITTER_NAME", "aside"),
    ("GIT_COMMITTER_EMAIL", "aside@localhost"),
];

/// Options given to every git aside runs, over whatever the repository's config says.
pub(crate) const PINNED: [&str; 10] = [
    "-c",
    "core.fsmonitor=false",
    "-c",
    "core.hooksPath=/dev/null",
    "-c",
    "commit.gpgSign=false",
    "-c",
    "tag.gpgSign=false",
    "-c",
    "core.sshCommand=ssh",
];

/// git in `dir` with `args`, as aside runs it; for a caller that watches the process itself.
pub(crate) fn git_command(dir: &Path, args: &[&str]) -> Command {
    let mut cmd = Command::new("git");
    // A repository's config is data an agent may have written: none of the settings that make
    // git run a program of the repository's choosing applies to aside's own git (no hooks, no
    // file system monitor, no signing program).
    cmd.args(PINNED).arg("-C").arg(dir).args(args);
    // aside's own status-like commands never take the user's index lock (git's opportunistic
    // index refresh), which could make the user's `git add` or `git commit` fail.
    cmd.env("GIT_OPTIONAL_LOCKS", "0");
    cmd
}

/// Runs git in `dir` with extra environment and optional standard input; any exit status.
pub(crate) fn git_env(
    dir: &Path,
    args: &[&str],
    env: &[(&str, &str)],
    stdin: Option<&[u8]>,
) -> Result<Output> {
    let mut cmd = git_command(dir, args);
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

/// Runs git in `dir` to the end, whatever signal the terminal sends meanwhile: in a process
/// group of its own (a signal to the user's foreground group does not reach it) with the
/// terminal's signals deferred in this process until it is done. For the writes into the
/// user's working tree, which must not stop half way.
pub(crate) fn git_to_the_end(dir: &Path, args: &[&str], stdin: Option<&[u8]>) -> Result<Output> {
    use std::os::unix::process::CommandExt as _;
    let _deferred = aside_core::process::defer_signals();
    let mut cmd = git_command(dir, args);
    cmd.process_group(0)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .stdin(if stdin.is_some() {
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

/// `out` if git succeeded, else [`GitError::Failed`] with git's own words.
pub(crate) fn check(args: &[&str], out: Output) -> Result<Output> {
    if out.status.success() {
        Ok(out)
    } else {
        Err(GitError::Failed {
            args: args.join(" "),
            stderr: String::from_utf8_lossy(&out.stderr).trim().to_string(),
        })
    }
}

/// Runs git in `dir`; its standard output without the trailing newline.
pub(crate) fn git(dir: &Path, args: &[&str]) -> Result<String> {
    let out = check(args, git_env(dir, args, &[], None)?)?;
    Ok(String::from_utf8_lossy(&out.stdout).trim_end().to_string())
}

/// The commit HEAD points at; None on a branch with no commits yet.
pub(crate) fn head_commit(dir: &Path) -> Result<Option<String>> {
    let args = ["rev-parse", "--verify", "--quiet", "HEAD^{commit}"];
    let out = git_env(dir, &args, &[], None)?;
    Ok(out
        .status
        .success()
        .then(|| String::from_utf8_lossy(&out.stdout).trim().to_string()))
}

/// Writes a commit of `tree` (author aside) with the given parent, if any.
pub(crate) fn commit_tree(
    repo: &Path,
    tree: &str,
    parent: Option<&str>,
    message: &str,
) -> Result<String> {
    let mut args = vec!["commit-tree", tree];
    if let Some(parent) = parent {
        args.extend(["-p", parent]);
    }
    args.extend(["-m", message]);
    let out = check(&args, git_env(repo, &args, &ASIDE_IDENTITY, None)?)?;
    Ok(String::from_utf8_lossy(&out.stdout).trim().to_string())
}

/// Paths that differ between two tree-ishes (no rename detection), optionally only those of
/// the given `--diff-filter` kinds. Plumbing, so the user's diff settings cannot change it.
pub(crate) fn names_filtered(
    repo: &Path,
    from: &str,
    to: &str,
    filter: Option<&str>,
) -> Result<Vec<String>> {
    let filter = filter.map(|f| format!("--diff-filter={f}"));
    let mut args = vec!["diff-tree", "-r", "--name-only", "-z", "--no-renames"];
    if let Some(f) = &filter {
        args.push(f);
    }
    args.extend([from, to]);
    let out = check(&args, git_env(repo, &args, &[], None)?)?;
    Ok(String::from_utf8_lossy(&out.stdout)
        .split('\0')
        .filter(|s| !s.is_empty())
        .map(str::to_string)
        .collect())
}

/// Paths that differ between two tree-ishes.
pub(crate) fn names(repo: &Path, from: &str, to: &str) -> Result<Vec<String>> {
    names_filtered(repo, from, to, None)
}
