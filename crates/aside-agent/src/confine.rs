//! Keeps every path a tool touches inside the session's directories.
//!
//! A path is resolved against the session cwd, `..` is applied lexically, and the longest
//! existing prefix is canonicalised so that a symlink pointing outside is caught even when the
//! final file does not exist yet.

use std::path::{Component, Path, PathBuf};

/// The directories a session may touch.
#[derive(Debug, Clone)]
pub struct Roots {
    cwd: PathBuf,
    /// Canonical forms of the cwd and the additional directories.
    allowed: Vec<PathBuf>,
}

impl Roots {
    /// `cwd` is where relative paths start; `extra` are the session's additional directories.
    pub fn new(cwd: &Path, extra: &[PathBuf]) -> Roots {
        let allowed = std::iter::once(cwd)
            .chain(extra.iter().map(PathBuf::as_path))
            .map(|p| p.canonicalize().unwrap_or_else(|_| normalize(p)))
            .collect();
        Roots {
            cwd: cwd.to_path_buf(),
            allowed,
        }
    }

    /// The session cwd.
    pub fn cwd(&self) -> &Path {
        &self.cwd
    }

    /// Resolves `path` (relative to the cwd, or absolute) to a real path inside the roots, or
    /// explains why it is refused.
    pub fn resolve(&self, path: &str) -> Result<PathBuf, String> {
        if path.is_empty() {
            return Err("the path is empty".to_string());
        }
        let joined = self.cwd.join(path);
        let lexical = normalize(&joined);
        let real = canonicalize_existing_prefix(&lexical);
        if let Some(root) = self.allowed.iter().find(|root| real.starts_with(root)) {
            // git's own files are not the agent's to read or change: a write to `.git/config`
            // (or a `.git` link repointed at a directory of the agent's making) could make git
            // run programs, for aside and for the user.
            let inside_git = aside_core::paths::names_git_dir;
            let cwd = self.allowed.first().unwrap_or(root);
            if inside_git(real.strip_prefix(root).unwrap_or(&real))
                || inside_git(lexical.strip_prefix(cwd).unwrap_or(Path::new(path)))
                || inside_git(Path::new(path))
            {
                return Err(format!(
                    "refused: `{path}` is inside git's own directory (or is the `.git` link itself), \
                     which the file tools do not touch: use git commands for what you need there"
                ));
            }
            Ok(real)
        } else {
            Err(format!(
                "refused: `{path}` resolves to {} which is outside the session's working directory {}. \
                 Only files under it can be read or changed; use a path relative to it.",
                real.display(),
                self.cwd.display()
            ))
        }
    }

    /// Shows `path` relative to the cwd when it is inside it.
    pub fn display(&self, path: &Path) -> String {
        let base = self
            .allowed
            .first()
            .map(PathBuf::as_path)
            .unwrap_or(&self.cwd);
        match path.strip_prefix(base) {
            Ok(rel) if rel.as_os_str().is_empty() => ".".to_string(),
            Ok(rel) => rel.display().to_string(),
            Err(_) => path.display().to_string(),
        }
    }
}

/// Applies `.` and `..` without touching the file system.
fn normalize(path: &Path) -> PathBuf {
    let mut out = PathBuf::new();
    for component in path.components() {
        match component {
            Component::ParentDir => {
                out.pop();
            }
            Component::CurDir => {}
            other => out.push(other),
        }
    }
    out
}

/// Canonicalises the longest prefix of `path` that exists, then appends the rest.
fn canonicalize_existing_prefix(path: &Path) -> PathBuf {
    let mut rest = Vec::new();
    let mut current = path.to_path_buf();
    loop {
        if let Ok(real) = current.canonicalize() {
            let mut out = real;
            for part in rest.iter().rev() {
                out.push(part);
            }
            return out;
        }
        match (
            current.file_name().map(|n| n.to_os_string()),
            current.parent(),
        ) {
            (Some(name), Some(parent)) => {
                rest.push(name);
                current = parent.to_path_buf();
            }
            _ => return path.to_path_buf(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escapes_are_refused() {
        let dir = tempfile::tempdir().unwrap();
        let cwd = dir.path().join("repo");
        std::fs::create_dir_all(cwd.join("src")).unwrap();
        let outside = dir.path().join("secret");
        std::fs::create_dir_all(&outside).unwrap();
        std::os::unix::fs::symlink(&outside, cwd.join("link")).unwrap();
        let roots = Roots::new(&cwd, &[]);

        assert!(roots.resolve("src/main.rs").is_ok());
        assert!(roots.resolve("src/../new.txt").is_ok());
        assert!(roots
            .resolve(&cwd.join("a.txt").display().to_string())
            .is_ok());
        for bad in [
            "../secret/x",
            "/etc/passwd",
            "link/x",
            "link",
            "src/../../secret",
        ] {
            let err = roots.resolve(bad).unwrap_err();
            assert!(
                err.contains("outside the session's working directory"),
                "{bad}: {err}"
            );
        }
    }

    #[test]
    fn git_directories_and_the_git_link_are_refused() {
        let dir = tempfile::tempdir().unwrap();
        let cwd = dir.path().join("repo");
        std::fs::create_dir_all(cwd.join(".git/hooks")).unwrap();
        std::fs::create_dir_all(cwd.join("vendor/lib/.git")).unwrap();
        std::os::unix::fs::symlink(cwd.join(".git"), cwd.join("innocent")).unwrap();
        let roots = Roots::new(&cwd, &[]);
        for bad in [
            ".git/config",
            ".git",
            "./.git/hooks/pre-commit",
            "src/../.git/config",
            "vendor/lib/.git/config",
            ".GIT/config",
            "innocent/config",
            &cwd.join(".git/config").display().to_string(),
        ] {
            let err = roots.resolve(bad).unwrap_err();
            assert!(err.contains("inside git's own directory"), "{bad}: {err}");
        }
        assert!(roots.resolve(".gitignore").is_ok());
        assert!(roots.resolve("docs/.github/x.yml").is_ok());
    }

    #[test]
    fn additional_directories_are_allowed() {
        let dir = tempfile::tempdir().unwrap();
        let cwd = dir.path().join("a");
        let extra = dir.path().join("b");
        std::fs::create_dir_all(&cwd).unwrap();
        std::fs::create_dir_all(&extra).unwrap();
        let roots = Roots::new(&cwd, std::slice::from_ref(&extra));
        assert!(roots.resolve("../b/file").is_ok());
        assert!(roots.resolve("../c/file").is_err());
    }
}
