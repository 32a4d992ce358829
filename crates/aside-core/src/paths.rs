//! Where aside keeps its state and where it reads its config, following the XDG base directories.

use std::path::PathBuf;

/// Reads an environment variable as a non-empty path.
fn env_path(name: &str) -> Option<PathBuf> {
    std::env::var_os(name)
        .filter(|v| !v.is_empty())
        .map(PathBuf::from)
}

fn home() -> PathBuf {
    env_path("HOME").unwrap_or_else(|| PathBuf::from("/"))
}

/// `$ASIDE_HOME`, else `$XDG_DATA_HOME/aside`, else `~/.local/share/aside`.
pub fn aside_home() -> PathBuf {
    env_path("ASIDE_HOME").unwrap_or_else(|| {
        env_path("XDG_DATA_HOME")
            .unwrap_or_else(|| home().join(".local/share"))
            .join("aside")
    })
}

/// Where the built-in agent keeps its sessions (one directory per ACP session id), under an
/// aside home.
pub fn agent_store(aside_home: &std::path::Path) -> PathBuf {
    aside_home.join("agent").join("sessions")
}

/// `$XDG_CONFIG_HOME/aside/config.toml`, else `~/.config/aside/config.toml`.
pub fn user_config_file() -> PathBuf {
    env_path("XDG_CONFIG_HOME")
        .unwrap_or_else(|| home().join(".config"))
        .join("aside")
        .join("config.toml")
}

/// Creates `dir` (and its parents) readable by the user only (0700); an existing directory is
/// left as it is.
pub fn create_private_dir(dir: &std::path::Path) -> std::io::Result<()> {
    use std::os::unix::fs::DirBuilderExt as _;
    std::fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(dir)
}

/// Writes `bytes` to `path` readable by the user only (0600, in a directory made 0700 when it
/// is made): to a temporary file beside it, synced, then renamed over it, so a crash leaves the
/// old file or the new one, never half of one.
pub fn write_private(path: &std::path::Path, bytes: &[u8]) -> std::io::Result<()> {
    use std::io::Write as _;
    use std::os::unix::fs::OpenOptionsExt as _;
    let dir = path.parent().unwrap_or(std::path::Path::new("."));
    create_private_dir(dir)?;
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let tmp = dir.join(format!(".{name}.{}.tmp", std::process::id()));
    let _ = std::fs::remove_file(&tmp);
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(&tmp)?;
    let written = file.write_all(bytes).and_then(|()| file.sync_all());
    if let Err(e) = written {
        let _ = std::fs::remove_file(&tmp);
        return Err(e);
    }
    std::fs::rename(&tmp, path)
}

/// Whether `path` names something inside a git directory, or a `.git` link itself: one of its
/// components is `.git` (in any case, as case-insensitive file systems and git's own path
/// checks treat it). What an agent may not write: git's config and hooks run programs.
pub fn names_git_dir(path: &std::path::Path) -> bool {
    path.components()
        .any(|c| c.as_os_str().to_string_lossy().eq_ignore_ascii_case(".git"))
}
