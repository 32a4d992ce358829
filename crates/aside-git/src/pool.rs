//! Spare worktrees, checked out ahead of time so a new session starts at once.

use std::path::{Path, PathBuf};

use crate::cmd::{check, git, git_command, git_env};
use crate::worktree::{worktree_lock, worktree_path};
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
    drop_abandoned_spares(repo, std::time::Duration::from_secs(3600));
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
    // One checkout worker: a spare is background work, the user's own commands come first.
    let args = ["-c", "checkout.workers=1", "reset", "-q", "--hard"];
    if let Err(e) = checkout_giving_way(repo, &spare, &args) {
        let _lock = worktree_lock(repo)?;
        let _ = git(repo, &["worktree", "remove", "--force", "--force", &path]);
        return Err(e);
    }
    std::fs::write(spare.with_extension("ready"), b"").map_err(GitError::Spawn)?;
    Ok(())
}

/// How often a spare's checkout looks whether the user started working with git.
const WATCH: std::time::Duration = std::time::Duration::from_millis(40);

/// Runs a checkout of the spare `dir` (git `args`), stopping it (SIGSTOP) for as long as the
/// user is working with git in `repo` and letting it go on (SIGCONT) when they stop, so a
/// refill only ever uses the filesystem while the user does not. A checkout held back for
/// [`QUIET_WAIT`] in one stretch is ended: [`GitError::GaveWay`].
fn checkout_giving_way(repo: &Path, dir: &Path, args: &[&str]) -> Result<()> {
    use std::io::Read as _;
    use std::os::unix::process::CommandExt as _;
    let watch = Watch::new(repo, Some(dir));
    let mut cmd = git_command(dir, args);
    cmd.stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped());
    // SAFETY: prctl(2) is async-signal-safe and touches no memory of the parent. A refill that
    // is killed takes its checkout with it, even a stopped one (SIGKILL ends stopped processes).
    unsafe {
        cmd.pre_exec(|| {
            libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL);
            Ok(())
        });
    }
    let mut child = cmd.spawn().map_err(GitError::Spawn)?;
    let stderr = child.stderr.take();
    let reader = std::thread::spawn(move || {
        let mut bytes = Vec::new();
        if let Some(mut stderr) = stderr {
            let _ = stderr.read_to_end(&mut bytes);
        }
        bytes
    });
    let pid = child.id() as libc::pid_t;
    let mut stopped_since: Option<std::time::Instant> = None;
    let status = loop {
        if let Some(status) = child.try_wait().map_err(GitError::Spawn)? {
            break status;
        }
        match (watch.user_busy(), stopped_since) {
            (true, None) => {
                // SAFETY: a signal to our own child, which has not been waited for.
                unsafe { libc::kill(pid, libc::SIGSTOP) };
                stopped_since = Some(std::time::Instant::now());
            }
            (true, Some(since)) if since.elapsed() > QUIET_WAIT => {
                let _ = child.kill();
                let _ = child.wait();
                return Err(GitError::GaveWay);
            }
            (false, Some(_)) => {
                // SAFETY: as above.
                unsafe { libc::kill(pid, libc::SIGCONT) };
                stopped_since = None;
            }
            _ => {}
        }
        std::thread::sleep(WATCH);
    };
    let stderr = reader.join().unwrap_or_default();
    let out = std::process::Output {
        status,
        stdout: Vec::new(),
        stderr,
    };
    check(args, out).map(|_| ())
}

/// What tells that the user is working with git in a repository: the index locks of the
/// repository and of its worktrees (a `git worktree add` checks out under its new worktree's
/// lock; a session's cold start too), except the spare being checked out.
struct Watch {
    git_dir: Option<PathBuf>,
    own: Option<PathBuf>,
}

impl Watch {
    fn new(repo: &Path, spare: Option<&Path>) -> Watch {
        let dir = |at: &Path, what: &str| {
            git(at, &["rev-parse", "--path-format=absolute", what])
                .ok()
                .map(PathBuf::from)
        };
        Watch {
            git_dir: dir(repo, "--git-common-dir"),
            own: spare
                .and_then(|spare| dir(spare, "--git-dir"))
                .map(|d| d.join("index.lock")),
        }
    }

    /// A git command holds an index lock of the repository (other than the spare's own), or
    /// the repository's index changed in the last two seconds.
    fn user_busy(&self) -> bool {
        let Some(git_dir) = &self.git_dir else {
            return false;
        };
        if held(&git_dir.join("index.lock")) || recently_changed(&git_dir.join("index")) {
            return true;
        }
        let Ok(worktrees) = std::fs::read_dir(git_dir.join("worktrees")) else {
            return false;
        };
        worktrees.flatten().any(|w| {
            let lock = w.path().join("index.lock");
            Some(&lock) != self.own.as_ref() && held(&lock)
        })
    }
}

/// A lock older than this was left by a git that was killed: nobody works under it.
const STALE_LOCK: std::time::Duration = std::time::Duration::from_secs(600);

/// Whether the index lock `lock` is held: it exists and is not stale.
fn held(lock: &Path) -> bool {
    std::fs::metadata(lock)
        .and_then(|m| m.modified())
        .is_ok_and(|t| t.elapsed().map_or(true, |age| age < STALE_LOCK))
}

/// Whether `file` was modified in the last [`RECENT`].
fn recently_changed(file: &Path) -> bool {
    std::fs::metadata(file)
        .and_then(|m| m.modified())
        .ok()
        .and_then(|t| t.elapsed().ok())
        .is_some_and(|age| age < RECENT)
}

/// Removes spares whose checkout never finished (their maker was killed): no `.ready` marker
/// (nor a claim) `after` they were started. A refill holds the pool's lock, so no other refill
/// is making one: it drops them at once.
fn drop_abandoned_spares(repo: &Path, after: std::time::Duration) {
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
            .is_some_and(|age| age >= after);
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
/// new `branch` at `base`. A spare already at `base` only gets the branch (no file is touched:
/// tens of milliseconds on any size of tree); one at an older commit is checked out to `base`
/// (only files that differ are written). False when no spare is ready.
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
        // The refill takes a spare off the list the same way while it moves it on: whoever
        // removes the marker has it.
        if std::fs::remove_file(spare.with_extension("ready")).is_err() {
            let _ = std::fs::remove_file(&claim);
            continue;
        }
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent).map_err(GitError::Spawn)?;
        }
        let (from, to) = (spare.display().to_string(), path.display().to_string());
        let lock = worktree_lock(repo)?;
        let moved = git(repo, &["worktree", "move", &from, &to]);
        let _ = std::fs::remove_file(&claim);
        moved?;
        let at_base = git(path, &["rev-parse", "HEAD"]).is_ok_and(|head| head == base);
        let branched = if at_base {
            git(path, &["branch", "--no-track", branch, base]).and_then(|_| {
                git(
                    path,
                    &[
                        "symbolic-ref",
                        "-m",
                        "aside: claim a spare worktree",
                        "HEAD",
                        &format!("refs/heads/{branch}"),
                    ],
                )
            })
        } else {
            git(path, &["checkout", "-q", "-b", branch, base])
        };
        drop(lock);
        match branched {
            Ok(_) => return Ok(true),
            Err(e) => {
                // A spare that cannot take the branch is dropped (and a branch made half way),
                // so the caller makes a fresh one.
                let _lock = worktree_lock(repo)?;
                let _ = git(repo, &["worktree", "remove", "--force", "--force", &to]);
                let _ = git(repo, &["branch", "-D", "-q", branch]);
                return Err(e);
            }
        }
    }
    Ok(false)
}

/// A spare worktree of the pool.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Spare {
    /// Its directory.
    pub path: PathBuf,
    /// The commit it is checked out at.
    pub head: String,
}

/// The spares ready to be claimed, with their commits.
pub fn pool_spares(repo: &Path) -> Vec<Spare> {
    ready_spares(repo)
        .into_iter()
        .map(|path| Spare {
            head: git(&path, &["rev-parse", "HEAD"]).unwrap_or_default(),
            path,
        })
        .collect()
}

/// What a refill did.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Refill {
    /// Spares made.
    pub added: usize,
    /// Spares moved on to the new base.
    pub refreshed: usize,
    /// Another refill of this pool was running: this one did nothing.
    pub busy: bool,
    /// The user's repository stayed busy: it stopped early.
    pub gave_way: bool,
}

/// How long a refill waits for the user's repository to be quiet before it gives up.
const QUIET_WAIT: std::time::Duration = std::time::Duration::from_secs(60);
/// The user's index changed this recently: they are working with git.
const RECENT: std::time::Duration = std::time::Duration::from_secs(2);

/// Waits until the user's repository is quiet; false when it stayed busy for [`QUIET_WAIT`].
fn wait_quiet(repo: &Path) -> bool {
    let watch = Watch::new(repo, None);
    let deadline = std::time::Instant::now() + QUIET_WAIT;
    while watch.user_busy() {
        if std::time::Instant::now() > deadline {
            return false;
        }
        std::thread::sleep(std::time::Duration::from_millis(500));
    }
    true
}

/// Brings the pool of `repo` to `size` spares at `base`, one refill at a time per repository:
/// ready spares at an older commit are checked out to `base` (only changed files are written;
/// spares are moved on rather than removed and made again), then new spares are made until
/// there are `size`. Before each step it waits while the user is working with git in the
/// repository. Meant to run in a background process at idle priority
/// (`aside_core::process::background_priority`).
pub fn pool_refill(repo: &Path, base: &str, size: usize) -> Result<Refill> {
    // A base that names no commit would fail every spare's checkout, and a failed spare is
    // removed: refused before any is touched.
    let base = crate::resolve_commit(repo, base)?;
    let base = base.as_str();
    std::fs::create_dir_all(pool_dir(repo)).map_err(GitError::Spawn)?;
    let lock = std::fs::OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(pool_dir(repo).join(".refill.lock"))
        .map_err(GitError::Spawn)?;
    match lock.try_lock() {
        Ok(()) => {}
        Err(std::fs::TryLockError::WouldBlock) => {
            return Ok(Refill {
                busy: true,
                ..Refill::default()
            })
        }
        Err(std::fs::TryLockError::Error(e)) => return Err(GitError::Spawn(e)),
    }
    // A refill killed half way left a spare (and maybe its git's index lock, which would look
    // like the user's git at work).
    drop_abandoned_spares(repo, std::time::Duration::ZERO);
    let mut done = Refill::default();
    for spare in pool_spares(repo) {
        if spare.head == base {
            continue;
        }
        if !wait_quiet(repo) {
            done.gave_way = true;
            return Ok(done);
        }
        // Taken off the ready list while it changes, so no session claims it half way.
        let ready = spare.path.with_extension("ready");
        if std::fs::remove_file(&ready).is_err() {
            continue;
        }
        let args = [
            "-c",
            "checkout.workers=1",
            "checkout",
            "-q",
            "--detach",
            base,
        ];
        match checkout_giving_way(repo, &spare.path, &args) {
            Ok(()) => {
                std::fs::write(&ready, b"").map_err(GitError::Spawn)?;
                done.refreshed += 1;
            }
            Err(e) => {
                let _lock = worktree_lock(repo)?;
                let path = spare.path.display().to_string();
                let _ = git(repo, &["worktree", "remove", "--force", "--force", &path]);
                if matches!(e, GitError::GaveWay) {
                    done.gave_way = true;
                    return Ok(done);
                }
            }
        }
    }
    while pool_len(repo) < size {
        if !wait_quiet(repo) {
            done.gave_way = true;
            break;
        }
        match pool_add(repo, base) {
            Ok(()) => done.added += 1,
            Err(GitError::GaveWay) => {
                done.gave_way = true;
                break;
            }
            Err(e) => return Err(e),
        }
    }
    Ok(done)
}

/// Removes every spare of the pool of `repo` (waiting for a refill that runs to finish), and
/// the pool's directory; how many spares there were.
pub fn pool_clear(repo: &Path) -> Result<usize> {
    let dir = pool_dir(repo);
    if !dir.exists() {
        return Ok(0);
    }
    let lock = std::fs::OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(dir.join(".refill.lock"))
        .map_err(GitError::Spawn)?;
    lock.lock().map_err(GitError::Spawn)?;
    let mut removed = 0;
    for entry in std::fs::read_dir(&dir).map_err(GitError::Spawn)?.flatten() {
        let name = entry.file_name().to_string_lossy().into_owned();
        if !name.starts_with("spare-") || name.contains('.') {
            continue;
        }
        let _ = std::fs::remove_file(entry.path().with_extension("ready"));
        let _lock = worktree_lock(repo)?;
        let path = entry.path().display().to_string();
        if git(repo, &["worktree", "remove", "--force", "--force", &path]).is_err() {
            let _ = std::fs::remove_dir_all(entry.path());
        }
        removed += 1;
    }
    // Still holding the lock: a refill starting now waits, instead of making a spare in a
    // directory about to go.
    let _ = std::fs::remove_dir_all(&dir);
    drop(lock);
    let _ = git(repo, &["worktree", "prune"]);
    Ok(removed)
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

    #[test]
    fn a_spare_at_the_base_is_claimed_without_a_checkout() {
        let (_d, repo) = repo();
        let base = resolve_commit(&repo, "HEAD").unwrap();
        pool_add(&repo, &base).unwrap();
        let wt = worktree_path(&repo, "fast");
        assert!(pool_claim(&repo, &wt, "aside/fast", &base).unwrap());
        assert_eq!(
            git(&wt, &["rev-parse", "--abbrev-ref", "HEAD"]).unwrap(),
            "aside/fast"
        );
        assert_eq!(git(&wt, &["rev-parse", "HEAD"]).unwrap(), base);
        assert_eq!(git(&wt, &["status", "--porcelain"]).unwrap(), "");
        // The branch is a real one, from the repository's side too.
        assert!(crate::branch_exists(&repo, "aside/fast"));
        remove_worktree(&repo, &wt, Some("aside/fast"), false).unwrap();
    }

    #[test]
    fn a_spare_checkout_stops_while_the_user_works_with_git() {
        let (_d, repo) = repo();
        for i in 0..3000 {
            crate::testutil::write(&repo, &format!("d{}/f{i}.txt", i % 30), format!("{i}\n"));
        }
        git(&repo, &["add", "-A"]).unwrap();
        git(&repo, &["commit", "-qm", "many"]).unwrap();
        let spare = pool_dir(&repo).join("spare-test");
        let path = spare.display().to_string();
        git(
            &repo,
            &["worktree", "add", "-q", "--no-checkout", "--detach", &path],
        )
        .unwrap();
        // The user's `git worktree add` is checking out (it holds its new worktree's index lock).
        let user = repo.join(".git/worktrees/user");
        std::fs::create_dir_all(&user).unwrap();
        std::fs::write(user.join("index.lock"), "").unwrap();
        let checkout = {
            let (repo, spare) = (repo.clone(), spare.clone());
            std::thread::spawn(move || {
                checkout_giving_way(&repo, &spare, &["reset", "-q", "--hard"])
            })
        };
        std::thread::sleep(std::time::Duration::from_millis(800));
        assert!(
            !checkout.is_finished(),
            "the checkout went on while the user's git ran"
        );
        assert!(!spare.join("d29/f2999.txt").exists());
        std::fs::remove_file(user.join("index.lock")).unwrap();
        checkout.join().unwrap().unwrap();
        assert_eq!(read(&spare, "d29/f2999.txt"), "2999\n");
        assert_eq!(git(&spare, &["status", "--porcelain"]).unwrap(), "");
    }

    #[test]
    fn a_refill_cleans_up_after_a_killed_one() {
        let (_d, repo) = repo();
        let base = resolve_commit(&repo, "HEAD").unwrap();
        // A refill killed mid-checkout: its spare has no `.ready`, its git left the lock.
        let spare = pool_dir(&repo).join("spare-killed");
        let path = spare.display().to_string();
        git(
            &repo,
            &["worktree", "add", "-q", "--no-checkout", "--detach", &path],
        )
        .unwrap();
        let admin = git(
            &spare,
            &["rev-parse", "--path-format=absolute", "--git-dir"],
        )
        .unwrap();
        std::fs::write(Path::new(&admin).join("index.lock"), "").unwrap();
        let done = pool_refill(&repo, &base, 1).unwrap();
        assert!(
            !done.gave_way,
            "the refill took its own leftover lock for the user's git"
        );
        assert_eq!(done.added, 1);
        assert!(!spare.exists());
        assert_eq!(pool_len(&repo), 1);
        assert_eq!(crate::worktrees(&repo).unwrap().len(), 1);
    }

    #[test]
    fn a_refill_moves_stale_spares_on_and_fills_up_once_at_a_time() {
        let (_d, repo) = repo();
        let old = resolve_commit(&repo, "HEAD").unwrap();
        let done = pool_refill(&repo, &old, 2).unwrap();
        assert_eq!((done.added, done.refreshed), (2, 0));
        assert_eq!(pool_len(&repo), 2);
        // The base moves on: the spares follow it, none is made again.
        std::fs::write(repo.join("a.txt"), "moved\n").unwrap();
        git(&repo, &["commit", "-qam", "moved"]).unwrap();
        let new = resolve_commit(&repo, "HEAD").unwrap();
        // The user's index just changed (the commit): the refill waits for a quiet moment.
        std::thread::sleep(RECENT);
        let done = pool_refill(&repo, &new, 2).unwrap();
        assert_eq!((done.added, done.refreshed), (0, 2));
        for spare in pool_spares(&repo) {
            assert_eq!(spare.head, new);
            assert_eq!(read(&spare.path, "a.txt"), "moved\n");
        }
        // A base that is no commit is refused, and the spares stay.
        let refused = pool_refill(&repo, "no-such-base", 2).unwrap_err();
        assert_eq!(
            refused.to_string(),
            format!(
                "refused: `no-such-base` is not a commit in {}",
                repo.display()
            )
        );
        assert_eq!(pool_len(&repo), 2);
        // A second refill while one runs does nothing.
        let lock = std::fs::File::open(pool_dir(&repo).join(".refill.lock")).unwrap();
        lock.lock().unwrap();
        assert!(pool_refill(&repo, &new, 3).unwrap().busy);
        drop(lock);
        // The user working with git (its index lock held) is busy; otherwise quiet.
        let watch = Watch::new(&repo, None);
        assert!(!watch.user_busy());
        std::fs::write(repo.join(".git/index.lock"), "").unwrap();
        assert!(watch.user_busy());
        std::fs::remove_file(repo.join(".git/index.lock")).unwrap();
        assert_eq!(pool_clear(&repo).unwrap(), 2);
        assert_eq!(pool_len(&repo), 0);
        assert!(!pool_dir(&repo).exists());
        assert_eq!(crate::worktrees(&repo).unwrap(), Vec::<PathBuf>::new());
    }
}
