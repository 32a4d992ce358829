//! Helpers for the tests: throwaway repositories and exact pictures of a user's state.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

pub(crate) use crate::cmd::git;

/// A new repository `proj` in a temporary directory, its own user identity, on `main`.
pub(crate) fn empty_repo() -> (tempfile::TempDir, PathBuf) {
    let dir = tempfile::tempdir().unwrap();
    let repo = dir.path().join("proj");
    std::fs::create_dir_all(&repo).unwrap();
    for args in [
        vec!["init", "-q", "-b", "main"],
        vec!["config", "user.email", "t@t"],
        vec!["config", "user.name", "t"],
        vec!["config", "commit.gpgsign", "false"],
    ] {
        git(&repo, &args).unwrap();
    }
    (dir, repo)
}

/// [`empty_repo`] with `a.txt` ("one two three", a line each) and `b.txt` committed.
pub(crate) fn repo() -> (tempfile::TempDir, PathBuf) {
    let (dir, repo) = empty_repo();
    write(&repo, "a.txt", "one\ntwo\nthree\n");
    write(&repo, "b.txt", "bee\n");
    git(&repo, &["add", "-A"]).unwrap();
    git(&repo, &["commit", "-q", "-m", "init"]).unwrap();
    (dir, repo)
}

/// Writes `dir/rel`, making its directory.
pub(crate) fn write(dir: &Path, rel: &str, content: impl AsRef<[u8]>) {
    let path = dir.join(rel);
    if let Some(parent) = path.parent() {
        std::fs::create_dir_all(parent).unwrap();
    }
    std::fs::write(path, content).unwrap();
}

/// `dir/rel` as text.
pub(crate) fn read(dir: &Path, rel: &str) -> String {
    std::fs::read_to_string(dir.join(rel)).unwrap()
}

/// Every file under `dir` but `.git`, by relative path, with its bytes.
pub(crate) fn files(dir: &Path) -> BTreeMap<String, Vec<u8>> {
    fn walk(root: &Path, dir: &Path, out: &mut BTreeMap<String, Vec<u8>>) {
        for entry in std::fs::read_dir(dir).unwrap() {
            let entry = entry.unwrap();
            let path = entry.path();
            if path.file_name().is_some_and(|n| n == ".git") {
                continue;
            }
            if entry.file_type().unwrap().is_dir() {
                walk(root, &path, out);
            } else {
                let rel = path
                    .strip_prefix(root)
                    .unwrap()
                    .to_string_lossy()
                    .into_owned();
                out.insert(rel, std::fs::read(&path).unwrap());
            }
        }
    }
    let mut out = BTreeMap::new();
    walk(dir, dir, &mut out);
    out
}

/// What git records of the user's state besides the files: the index (its raw bytes and
/// `ls-files -s`), the staged diff and HEAD.
#[derive(Debug, PartialEq, Eq)]
pub(crate) struct GitState {
    pub index_bytes: Vec<u8>,
    pub ls_files: String,
    pub staged: String,
    pub head: String,
}

/// The git side of the user's state in `repo`.
pub(crate) fn git_state(repo: &Path) -> GitState {
    GitState {
        index_bytes: std::fs::read(repo.join(".git/index")).unwrap_or_default(),
        ls_files: git(repo, &["ls-files", "-s"]).unwrap(),
        staged: git(repo, &["diff", "--cached", "--binary"]).unwrap(),
        head: git(repo, &["rev-parse", "HEAD"]).unwrap(),
    }
}

/// The whole user state: files and git's records.
#[derive(Debug, PartialEq, Eq)]
pub(crate) struct UserState {
    pub files: BTreeMap<String, Vec<u8>>,
    pub git: GitState,
}

/// The whole user state of `repo`.
pub(crate) fn user_state(repo: &Path) -> UserState {
    UserState {
        git: git_state(repo),
        files: files(repo),
    }
}
