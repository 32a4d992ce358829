//! Making an agent's own stored session loadable from another working directory, for a session
//! that takes a conversation over in a new worktree.
//!
//! Claude Code keeps a session in `<config dir>/projects/<cwd, each character other than a
//! letter or digit made '-'>/<session id>.jsonl` and resumes it only from that directory, so the
//! file is copied into the new directory's project (the original stays). The built-in agent,
//! Copilot CLI and Codex find a session by id wherever it is loaded.

use std::path::{Path, PathBuf};

/// Claude Code's config directory: `$CLAUDE_CONFIG_DIR`, else `~/.claude`.
fn claude_dir() -> Option<PathBuf> {
    std::env::var_os("CLAUDE_CONFIG_DIR")
        .filter(|d| !d.is_empty())
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".claude")))
}

/// The name of Claude Code's project directory for working directory `cwd`.
fn claude_project(cwd: &Path) -> String {
    cwd.to_string_lossy()
        .chars()
        .map(|c| if c.is_ascii_alphanumeric() { c } else { '-' })
        .collect()
}

/// Prepares agent `agent`'s session `id` to be loaded in `cwd`; the path of what it wrote, if
/// anything. Best effort: an agent that then cannot load it gets a transcript instead.
pub fn prepare(agent: &str, id: &str, cwd: &Path) -> Option<PathBuf> {
    if agent != "claude" || id.is_empty() || id.contains(['/', '\\']) || id.starts_with('.') {
        return None;
    }
    let projects = claude_dir()?.join("projects");
    let to = projects
        .join(claude_project(cwd))
        .join(format!("{id}.jsonl"));
    if to.exists() {
        return None;
    }
    let from = std::fs::read_dir(&projects)
        .ok()?
        .flatten()
        .map(|project| project.path().join(format!("{id}.jsonl")))
        .find(|file| file.is_file())?;
    std::fs::create_dir_all(to.parent()?).ok()?;
    std::fs::copy(&from, &to).ok()?;
    Some(to)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn claude_names_a_project_after_its_directory() {
        assert_eq!(
            claude_project(Path::new("/tmp/my.repo.worktrees/fix-it_2")),
            "-tmp-my-repo-worktrees-fix-it-2"
        );
    }
}
