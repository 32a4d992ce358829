//! Submodules of a session's worktree: checked out at the commits the tree pins, recursively,
//! with their objects taken from the user's own checkout when it has them (a local clone:
//! offline, and hard links on the same filesystem), else from their configured URL.
//!
//! Best effort: a submodule that cannot be populated is reported, never an error of the whole.

use std::path::Path;

use crate::cmd::{check, git, git_env};

/// A submodule that could not be checked out.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SubmoduleFailure {
    /// Its path from the top of the worktree.
    pub path: String,
    /// Git's words.
    pub error: String,
}

/// `(name, path)` of the submodules `.gitmodules` declares in `dir`.
fn declared(dir: &Path) -> Vec<(String, String)> {
    if !dir.join(".gitmodules").is_file() {
        return Vec::new();
    }
    let Ok(out) = git(
        dir,
        &[
            "config",
            "-f",
            ".gitmodules",
            "--get-regexp",
            r"^submodule\..*\.path$",
        ],
    ) else {
        return Vec::new();
    };
    out.lines()
        .filter_map(|line| {
            let (key, path) = line.split_once(' ')?;
            let name = key.strip_prefix("submodule.")?.strip_suffix(".path")?;
            Some((name.to_string(), path.to_string()))
        })
        .collect()
}

/// Whether `dir` has submodules to populate.
pub fn has_submodules(dir: &Path) -> bool {
    !declared(dir).is_empty()
}

/// The git directory of the user's checkout of a submodule, when it is populated there.
fn local_source(source: &Path) -> Option<String> {
    if !source.join(".git").exists() {
        return None;
    }
    git(source, &["rev-parse", "--absolute-git-dir"]).ok()
}

/// Checks out the submodules of `dir` (a new worktree) at the commits its tree pins, and
/// theirs, recursively. `source` is the same directory in the user's checkout: a submodule
/// populated there is cloned from it, without the network. `step` is told each submodule as it
/// starts. Returns the submodules that could not be populated, with git's error.
pub fn populate_submodules(
    dir: &Path,
    source: &Path,
    step: &mut dyn FnMut(&str),
) -> Vec<SubmoduleFailure> {
    populate_in(dir, source, "", step)
}

fn populate_in(
    dir: &Path,
    source: &Path,
    prefix: &str,
    step: &mut dyn FnMut(&str),
) -> Vec<SubmoduleFailure> {
    let mut failures = Vec::new();
    for (name, path) in declared(dir) {
        let shown = format!("{prefix}{path}");
        step(&shown);
        let fail = |error: String| SubmoduleFailure {
            path: shown.clone(),
            error: one_line(&error),
        };
        let Some(url) = real_url(dir, source, &name) else {
            failures.push(fail(format!("no URL for submodule {name} in .gitmodules")));
            continue;
        };
        // Given to this command only: `git submodule init` in a linked worktree would write the
        // URL into the repository's shared config, which is the user's.
        let url_setting = |url: &str| format!("submodule.{name}.url={url}");
        let active = format!("submodule.{name}.active=true");
        let no_prompt = [("GIT_TERMINAL_PROMPT", "0")];
        let update = ["submodule", "update", "-q", "--", &path];
        let run = |settings: &[&str]| {
            let mut args: Vec<&str> = Vec::new();
            for setting in settings {
                args.extend(["-c", setting]);
            }
            args.extend(update);
            git_env(dir, &args, &no_prompt, None).and_then(|out| check(&args, out))
        };
        // The user's own copy first (the only place `protocol.file.allow` is widened: it is
        // their repository), then the submodule's URL when that copy lacks the pinned commit.
        let local = local_source(&source.join(&path)).map(|git_dir| url_setting(&git_dir));
        let from_local = local.as_deref().is_some_and(|local| {
            run(&["protocol.file.allow=always", local, active.as_str()]).is_ok()
        });
        if !from_local {
            // A clone from the local copy that lacked the commit stays, its remote that copy:
            // the retry fetches from the real URL instead.
            if dir.join(&path).join(".git").exists() {
                let _ = git(&dir.join(&path), &["remote", "set-url", "origin", &url]);
            }
            if let Err(e) = run(&[url_setting(&url).as_str(), active.as_str()]) {
                failures.push(fail(e.to_string()));
                continue;
            }
        }
        // Its remote is the submodule's own URL, not the copy it came from.
        let _ = git(&dir.join(&path), &["remote", "set-url", "origin", &url]);
        failures.extend(populate_in(
            &dir.join(&path),
            &source.join(&path),
            &format!("{shown}/"),
            step,
        ));
    }
    failures
}

/// Git's error on one line (it writes a line per attempt).
fn one_line(error: &str) -> String {
    let lines: Vec<&str> = error
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .collect();
    let mut text = lines.join(" / ");
    if text.chars().count() > 600 {
        text = text.chars().take(600).collect::<String>() + "…";
    }
    text
}

/// The URL submodule `name` of `dir` is fetched from: the one the user's checkout (`source`)
/// has for it, else `.gitmodules`', a relative one resolved as git does (against the
/// superproject's remote, else against the user's checkout: not against the worktree, which
/// lives elsewhere).
fn real_url(dir: &Path, source: &Path, name: &str) -> Option<String> {
    let key = format!("submodule.{name}.url");
    if let Ok(url) = git(source, &["config", "--get", &key]) {
        if !url.is_empty() {
            return Some(url);
        }
    }
    let declared = git(dir, &["config", "-f", ".gitmodules", "--get", &key]).ok()?;
    if !(declared.starts_with("./") || declared.starts_with("../")) {
        return Some(declared);
    }
    let base =
        git(dir, &["remote", "get-url", "origin"]).unwrap_or_else(|_| source.display().to_string());
    Some(join_relative(&base, &declared))
}

/// `rel` (`./x`, `../x`) taken from `base` (a path or a URL), as git resolves submodule URLs.
fn join_relative(base: &str, rel: &str) -> String {
    let mut base = base.trim_end_matches('/').to_string();
    let mut rel = rel;
    loop {
        if let Some(rest) = rel.strip_prefix("./") {
            rel = rest;
        } else if let Some(rest) = rel.strip_prefix("../") {
            match base.rfind(['/', ':']) {
                Some(i) => base.truncate(i),
                None => base.clear(),
            }
            rel = rest;
        } else {
            break;
        }
    }
    format!("{base}/{rel}")
}

/// The populated submodules of `dir`, as paths from it, nested ones too (`lib`, `lib/deep`).
pub fn submodule_paths(dir: &Path) -> Vec<String> {
    let mut all = Vec::new();
    for path in populated(dir) {
        let nested = submodule_paths(&dir.join(&path));
        all.push(path.clone());
        all.extend(nested.into_iter().map(|n| format!("{path}/{n}")));
    }
    // The deepest first, so a file's own submodule is the first whose path it starts with.
    all.sort_by_key(|p| std::cmp::Reverse(p.len()));
    all
}

/// The populated submodules of `dir`, as paths from it (not recursive).
pub(crate) fn populated(dir: &Path) -> Vec<String> {
    declared(dir)
        .into_iter()
        .map(|(_, path)| path)
        .filter(|path| dir.join(path).join(".git").exists())
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testutil::{read, repo, write};
    use crate::{create_worktree, resolve_commit, worktree_path};

    /// A repository with a submodule `lib` that has its own submodule `deep`, all local.
    fn with_submodules() -> (tempfile::TempDir, std::path::PathBuf) {
        let (dir, top) = repo();
        let root = top.parent().unwrap().to_path_buf();
        let deep = root.join("deep-src");
        let lib = root.join("lib-src");
        for (path, file) in [(&deep, "deep.txt"), (&lib, "lib.txt")] {
            std::fs::create_dir_all(path).unwrap();
            for args in [
                vec!["init", "-q"],
                vec!["config", "user.email", "t@t"],
                vec!["config", "user.name", "t"],
                vec!["config", "commit.gpgsign", "false"],
            ] {
                git(path, &args).unwrap();
            }
            write(path, file, "v1\n");
            git(path, &["add", "."]).unwrap();
            git(path, &["commit", "-qm", "v1"]).unwrap();
        }
        let add = |dir: &Path, url: &Path, at: &str| {
            let url = url.display().to_string();
            git(
                dir,
                &[
                    "-c",
                    "protocol.file.allow=always",
                    "submodule",
                    "add",
                    "-q",
                    &url,
                    at,
                ],
            )
            .unwrap();
            git(dir, &["commit", "-qm", &format!("add {at}")]).unwrap();
        };
        add(&lib, &deep, "deep");
        add(&top, &lib, "lib");
        git(
            &top,
            &[
                "-c",
                "protocol.file.allow=always",
                "submodule",
                "update",
                "--init",
                "--recursive",
                "-q",
            ],
        )
        .unwrap();
        (dir, top)
    }

    #[test]
    fn a_worktree_gets_its_submodules_from_the_users_checkout() {
        let (_d, top) = with_submodules();
        let base = resolve_commit(&top, "HEAD").unwrap();
        let wt = worktree_path(&top, "with-subs");
        create_worktree(&top, &wt, "aside/with-subs", &base).unwrap();
        assert!(has_submodules(&wt));
        assert!(!wt.join("lib/lib.txt").exists(), "git leaves them empty");
        // The sources are gone: only the user's checkout can give them.
        let root = top.parent().unwrap();
        std::fs::remove_dir_all(root.join("lib-src")).unwrap();
        std::fs::remove_dir_all(root.join("deep-src")).unwrap();
        let mut steps = Vec::new();
        let failed = populate_submodules(&wt, &top, &mut |s| steps.push(s.to_string()));
        assert_eq!(failed, vec![]);
        assert_eq!(steps, ["lib", "lib/deep"]);
        assert_eq!(read(&wt, "lib/lib.txt"), "v1\n");
        assert_eq!(read(&wt, "lib/deep/deep.txt"), "v1\n");
        assert_eq!(
            git(&wt, &["rev-parse", "HEAD:lib"]).unwrap(),
            git(&wt.join("lib"), &["rev-parse", "HEAD"]).unwrap()
        );
        assert_eq!(git(&wt, &["status", "--porcelain"]).unwrap(), "");
        // Its remote is the submodule's own URL again.
        let url = git(&wt.join("lib"), &["remote", "get-url", "origin"]).unwrap();
        assert!(url.ends_with("lib-src"), "{url}");
    }

    #[test]
    fn relative_urls_are_taken_from_the_users_side() {
        assert_eq!(join_relative("/home/u/app", "../lib"), "/home/u/lib");
        assert_eq!(join_relative("/home/u/app/", "./lib"), "/home/u/app/lib");
        assert_eq!(
            join_relative("https://host/org/app.git", "../lib.git"),
            "https://host/org/lib.git"
        );
        assert_eq!(
            join_relative("git@host:org/app", "../lib"),
            "git@host:org/lib"
        );
    }

    #[test]
    fn the_users_config_is_not_touched() {
        let (_d, top) = with_submodules();
        let config = std::fs::read_to_string(top.join(".git/config")).unwrap();
        let base = resolve_commit(&top, "HEAD").unwrap();
        let wt = worktree_path(&top, "untouched");
        create_worktree(&top, &wt, "aside/untouched", &base).unwrap();
        assert_eq!(populate_submodules(&wt, &top, &mut |_| {}), vec![]);
        assert_eq!(
            std::fs::read_to_string(top.join(".git/config")).unwrap(),
            config
        );
        // The agent still sees its edits inside one.
        write(&wt, "lib/lib.txt", "edited\n");
        assert!(git(&wt, &["status", "--porcelain"])
            .unwrap()
            .contains("lib"));
    }

    #[test]
    fn a_submodule_that_cannot_be_populated_is_reported() {
        let (_d, top) = with_submodules();
        let base = resolve_commit(&top, "HEAD").unwrap();
        let wt = worktree_path(&top, "broken");
        create_worktree(&top, &wt, "aside/broken", &base).unwrap();
        // Neither the user's checkout nor the URL has it.
        let root = top.parent().unwrap();
        std::fs::remove_dir_all(root.join("lib-src")).unwrap();
        let failed = populate_submodules(&wt, &root.join("nowhere"), &mut |_| {});
        assert_eq!(failed.len(), 1);
        assert_eq!(failed[0].path, "lib");
        assert!(!failed[0].error.is_empty());
        assert!(wt.join("README.md").exists() || wt.join(".gitmodules").exists());
    }
}
