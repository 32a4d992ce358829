//! Making an agent's own stored session loadable from another working directory, for a session
//! that takes a conversation over in a new worktree.
//!
//! Claude Code keeps a session in `<config dir>/projects/<cwd, each character other than a
//! letter or digit made '-'>/<session id>.jsonl` and resumes it only from that directory, so the
//! file is copied into the new directory's project (the original stays). The built-in agent,
//! Copilot CLI and Codex find a session by id wherever it is loaded.

use std::path::{Path, PathBuf};

/// The name of Claude Code's project directory for working directory `cwd`, as Claude computes
/// it: each UTF-16 unit other than an ASCII letter or digit made `-`; past 200 characters, the
/// first 200 and a hash of the path (its `String.hashCode`, base 36).
fn claude_project(cwd: &Path) -> String {
    let units: Vec<u16> = cwd.to_string_lossy().encode_utf16().collect();
    let slug: String = units
        .iter()
        .map(|u| match char::from_u32(u32::from(*u)) {
            Some(c) if c.is_ascii_alphanumeric() => c,
            _ => '-',
        })
        .collect();
    if slug.len() <= 200 {
        return slug;
    }
    let hash = units
        .iter()
        .fold(0i32, |h, u| h.wrapping_mul(31).wrapping_add(i32::from(*u)));
    format!(
        "{}-{}",
        &slug[..200],
        base36(i64::from(hash).unsigned_abs())
    )
}

fn base36(mut n: u64) -> String {
    const DIGITS: &[u8] = b"0123456789abcdefghijklmnopqrstuvwxyz";
    let mut out = Vec::new();
    loop {
        out.push(DIGITS[(n % 36) as usize]);
        n /= 36;
        if n == 0 {
            break;
        }
    }
    out.reverse();
    String::from_utf8(out).unwrap_or_default()
}

/// Prepares agent `agent`'s session `id` to be loaded in `cwd`; the path of what it wrote, if
/// anything. Best effort: an agent that then cannot load it gets a transcript instead.
pub fn prepare(agent: &str, id: &str, cwd: &Path) -> Option<PathBuf> {
    if agent != "claude" || id.is_empty() || id.contains(['/', '\\']) || id.starts_with('.') {
        return None;
    }
    let projects = crate::external::Homes::from_env().claude.join("projects");
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
        // Claude: "/" + "a" * 250 → the first 200 of "-aaa…" and the path's hashCode in base 36
        // (computed with node: Math.abs(hash).toString(36)).
        let long = format!("/{}", "a".repeat(250));
        let name = claude_project(Path::new(&long));
        assert_eq!(&name[..201], &format!("-{}-", "a".repeat(199)));
        assert_eq!(&name[201..], "feo44x");
    }
}
