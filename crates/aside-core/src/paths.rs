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
