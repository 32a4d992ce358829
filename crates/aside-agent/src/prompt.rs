//! The system prompt: who the agent is, its mode, and the repo's AGENTS.md files.

use std::path::Path;

const BASE: &str = "You are aside's coding agent. You work on your own in the user's project, in \
the working directory below, while the user does other things: finish the task without asking \
unless you truly cannot go on. Use the tools to read, search, edit files and run commands; paths \
are relative to the working directory and cannot leave it. Prefer small, exact edits with \
edit_file. Run the project's tests or build when you change code. For multi-step work keep a \
plan with update_plan. End with a short summary of what you changed and how you checked it.";

const PLAN: &str = "You are in PLAN mode: you may only read and search. Do not change files or \
run commands. Explore the code as needed, record the steps with update_plan, and answer with the \
plan: what to change, where, and how to verify it.";

/// Builds the system prompt for a session.
pub fn system_prompt(cwd: &Path, plan_mode: bool) -> String {
    let mut prompt = format!("{BASE}\n\nWorking directory: {}\n", cwd.display());
    if plan_mode {
        prompt.push_str(&format!("\n{PLAN}\n"));
    }
    for (path, text) in agents_files(cwd) {
        prompt.push_str(&format!(
            "\nInstructions from {} (follow them):\n{}\n",
            path.display(),
            text.trim()
        ));
    }
    prompt
}

/// AGENTS.md files from the repository root down to `cwd`, outermost first.
fn agents_files(cwd: &Path) -> Vec<(std::path::PathBuf, String)> {
    let mut dirs = Vec::new();
    for dir in cwd.ancestors() {
        dirs.push(dir.to_path_buf());
        if dir.join(".git").exists() {
            break;
        }
    }
    // Without a repository only the cwd's own file counts.
    if !dirs.last().is_some_and(|d| d.join(".git").exists()) {
        dirs.truncate(1);
    }
    dirs.reverse();
    dirs.into_iter()
        .filter_map(|dir| {
            let path = dir.join("AGENTS.md");
            // Not UTF-8 (a Latin-1 file, say) is no reason to drop the user's rules.
            let bytes = std::fs::read(&path).ok()?;
            Some((path, String::from_utf8_lossy(&bytes).into_owned()))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn agents_files_from_root_to_cwd() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().join("repo");
        std::fs::create_dir_all(root.join(".git")).unwrap();
        std::fs::create_dir_all(root.join("pkg/sub")).unwrap();
        std::fs::write(dir.path().join("AGENTS.md"), "outside").unwrap();
        std::fs::write(root.join("AGENTS.md"), "root rules").unwrap();
        std::fs::write(root.join("pkg/AGENTS.md"), "pkg rules").unwrap();
        let prompt = system_prompt(&root.join("pkg/sub"), false);
        let r = prompt.find("root rules").unwrap();
        let p = prompt.find("pkg rules").unwrap();
        assert!(r < p);
        assert!(!prompt.contains("outside"));
    }
}
