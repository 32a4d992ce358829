//! The tools the model can call: their specs, argument checking and the work they do.
//!
//! A call goes through two steps. [`prepare`] checks the arguments and confines every path, so
//! that a bad call becomes an error the model can read before anything is asked or touched; the
//! result says how to show the call to the client and whether it needs permission. Then
//! [`execute`] does the work (commands run in `command.rs` / through the client's terminal).

use crate::confine::Roots;
use crate::model::ToolSpec;
use serde::Deserialize;
use serde_json::json;
use std::path::PathBuf;

/// Most characters of one tool output the model sees; the middle of longer output is cut.
pub const OUTPUT_CAP: usize = 30_000;
const MAX_LIST: usize = 1000;
const MAX_MATCHES: usize = 200;
const MAX_READ_LINES: usize = 2000;

/// Which ACP kind a call is, for icons and grouping in clients.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// Reads a file.
    Read,
    /// Changes a file.
    Edit,
    /// Lists or searches.
    Search,
    /// Runs a command.
    Execute,
    /// Updates the plan.
    Think,
    /// A tool of an MCP server.
    Other,
}

/// What a call needs the user's leave for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Permission {
    /// Changing files.
    Edit,
    /// Running commands.
    Execute,
    /// Calling tools of MCP servers.
    Mcp,
}

/// A checked call, ready to show and to run.
#[derive(Debug, Clone)]
pub struct Prepared {
    /// Human title, e.g. "Edit src/main.rs".
    pub title: String,
    /// ACP kind.
    pub kind: Kind,
    /// Files the call touches.
    pub locations: Vec<PathBuf>,
    /// Whether it must be allowed first.
    pub permission: Option<Permission>,
    /// The work.
    pub action: Action,
}

/// The work a call does.
#[derive(Debug, Clone)]
pub enum Action {
    /// Read lines of a file.
    Read {
        /// The file.
        path: PathBuf,
        /// First line, 1-based.
        offset: usize,
        /// How many lines.
        limit: usize,
    },
    /// Replace a file's content (create it if needed).
    Write {
        /// The file.
        path: PathBuf,
        /// Content before, if the file existed.
        old: Option<String>,
        /// Content after.
        new: String,
    },
    /// List files under a directory.
    List {
        /// The directory.
        path: PathBuf,
    },
    /// Search file contents by regex.
    Search {
        /// Where.
        path: PathBuf,
        /// What.
        regex: regex::Regex,
    },
    /// Run a shell command in the session cwd.
    Run {
        /// The command line.
        command: String,
        /// Time limit.
        timeout: std::time::Duration,
    },
    /// Replace the plan.
    Plan {
        /// Entries in order.
        entries: Vec<PlanItem>,
    },
    /// Call a tool of an MCP server.
    Mcp {
        /// The tool.
        tool: Box<crate::mcp::McpTool>,
        /// The model's JSON arguments.
        arguments: String,
    },
}

/// One step of the plan.
#[derive(Debug, Clone, Deserialize, serde::Serialize, PartialEq)]
pub struct PlanItem {
    /// What the step is.
    pub content: String,
    /// pending, in_progress or completed.
    #[serde(default = "pending")]
    pub status: String,
    /// high, medium or low.
    #[serde(default = "medium")]
    pub priority: String,
}

fn pending() -> String {
    "pending".to_string()
}
fn medium() -> String {
    "medium".to_string()
}

/// What a finished call produced.
#[derive(Debug, Clone, Default)]
pub struct Output {
    /// Text for the model.
    pub text: String,
}

/// The tools offered in a mode: read-only ones in `plan`.
pub fn specs(read_only: bool) -> Vec<ToolSpec> {
    let mut tools = vec![
        ToolSpec {
            name: "read_file".into(),
            description: "Read a text file. Lines are numbered. Use offset/limit for large files."
                .into(),
            parameters: json!({"type": "object", "properties": {
                "path": {"type": "string", "description": "Path relative to the working directory"},
                "offset": {"type": "integer", "description": "First line to read, 1-based"},
                "limit": {"type": "integer", "description": "Number of lines to read"}},
                "required": ["path"]}),
        },
        ToolSpec {
            name: "list_files".into(),
            description: "List files under a directory, recursively, respecting .gitignore.".into(),
            parameters: json!({"type": "object", "properties": {
                "path": {"type": "string", "description": "Directory, default the working directory"}}}),
        },
        ToolSpec {
            name: "search".into(),
            description: "Search file contents with a regular expression (respects .gitignore). \
                          Returns path:line: text for each match."
                .into(),
            parameters: json!({"type": "object", "properties": {
                "pattern": {"type": "string", "description": "Regular expression"},
                "path": {"type": "string", "description": "Directory or file to search, default the working directory"}},
                "required": ["pattern"]}),
        },
        ToolSpec {
            name: "update_plan".into(),
            description: "Record or update your plan: the whole list of steps with their status."
                .into(),
            parameters: json!({"type": "object", "properties": {
                "entries": {"type": "array", "items": {"type": "object", "properties": {
                    "content": {"type": "string"},
                    "status": {"type": "string", "enum": ["pending", "in_progress", "completed"]},
                    "priority": {"type": "string", "enum": ["high", "medium", "low"]}},
                    "required": ["content", "status"]}}},
                "required": ["entries"]}),
        },
    ];
    if !read_only {
        tools.extend([
            ToolSpec {
                name: "write_file".into(),
                description: "Create or overwrite a file with the given content.".into(),
                parameters: json!({"type": "object", "properties": {
                    "path": {"type": "string"}, "content": {"type": "string"}},
                    "required": ["path", "content"]}),
            },
            ToolSpec {
                name: "edit_file".into(),
                description: "Replace old_string with new_string in a file. old_string must \
                              match exactly once: include enough surrounding lines."
                    .into(),
                parameters: json!({"type": "object", "properties": {
                    "path": {"type": "string"}, "old_string": {"type": "string"},
                    "new_string": {"type": "string"}},
                    "required": ["path", "old_string", "new_string"]}),
            },
            ToolSpec {
                name: "run_command".into(),
                description: "Run a shell command (sh -c) in the working directory. Output is \
                              capped. Default timeout 120 s."
                    .into(),
                parameters: json!({"type": "object", "properties": {
                    "command": {"type": "string"},
                    "timeout_secs": {"type": "integer", "description": "Time limit, at most 1800"}},
                    "required": ["command"]}),
            },
        ]);
    }
    tools
}

fn parse<T: for<'de> Deserialize<'de>>(name: &str, arguments: &str) -> Result<T, String> {
    let text = if arguments.trim().is_empty() {
        "{}"
    } else {
        arguments
    };
    serde_json::from_str(text).map_err(|e| {
        format!("invalid arguments for {name}: {e}. Arguments must be a JSON object matching the tool's schema.")
    })
}

fn read_text(path: &std::path::Path, shown: &str) -> Result<String, String> {
    let bytes = std::fs::read(path).map_err(|e| format!("cannot read {shown}: {e}"))?;
    String::from_utf8(bytes).map_err(|_| format!("{shown} is not a UTF-8 text file"))
}

/// Checks a call's arguments and paths. `read_only` refuses tools that change things.
pub fn prepare(
    roots: &Roots,
    name: &str,
    arguments: &str,
    read_only: bool,
) -> Result<Prepared, String> {
    let writes = matches!(name, "write_file" | "edit_file" | "run_command");
    if writes && read_only {
        return Err(format!(
            "{name} is not available in plan mode: explore with read_file, list_files and search, \
             then answer with a plan"
        ));
    }
    match name {
        "read_file" => {
            #[derive(Deserialize)]
            struct Args {
                path: String,
                offset: Option<usize>,
                limit: Option<usize>,
            }
            let args: Args = parse(name, arguments)?;
            let path = roots.resolve(&args.path)?;
            let shown = roots.display(&path);
            Ok(Prepared {
                title: format!("Read {shown}"),
                kind: Kind::Read,
                locations: vec![path.clone()],
                permission: None,
                action: Action::Read {
                    path,
                    offset: args.offset.unwrap_or(1).max(1),
                    limit: args
                        .limit
                        .unwrap_or(MAX_READ_LINES)
                        .clamp(1, MAX_READ_LINES),
                },
            })
        }
        "write_file" => {
            #[derive(Deserialize)]
            struct Args {
                path: String,
                content: String,
            }
            let args: Args = parse(name, arguments)?;
            let path = roots.resolve(&args.path)?;
            let shown = roots.display(&path);
            if path.is_dir() {
                return Err(format!("{shown} is a directory"));
            }
            let old = if path.exists() {
                Some(read_text(&path, &shown)?)
            } else {
                None
            };
            Ok(Prepared {
                title: format!("Write {shown}"),
                kind: Kind::Edit,
                locations: vec![path.clone()],
                permission: Some(Permission::Edit),
                action: Action::Write {
                    path,
                    old,
                    new: args.content,
                },
            })
        }
        "edit_file" => {
            #[derive(Deserialize)]
            struct Args {
                path: String,
                old_string: String,
                new_string: String,
            }
            let args: Args = parse(name, arguments)?;
            let path = roots.resolve(&args.path)?;
            let shown = roots.display(&path);
            let old = read_text(&path, &shown)?;
            if args.old_string.is_empty() {
                return Err("old_string is empty: give the exact text to replace".to_string());
            }
            let count = old.matches(&args.old_string).count();
            if count != 1 {
                return Err(if count == 0 {
                    format!("old_string was not found in {shown}: read the file and copy the text exactly, whitespace included")
                } else {
                    format!("old_string matches {count} places in {shown}: include more surrounding text so it matches exactly once")
                });
            }
            let new = old.replacen(&args.old_string, &args.new_string, 1);
            Ok(Prepared {
                title: format!("Edit {shown}"),
                kind: Kind::Edit,
                locations: vec![path.clone()],
                permission: Some(Permission::Edit),
                action: Action::Write {
                    path,
                    old: Some(old),
                    new,
                },
            })
        }
        "list_files" => {
            #[derive(Deserialize)]
            struct Args {
                path: Option<String>,
            }
            let args: Args = parse(name, arguments)?;
            let path = roots.resolve(args.path.as_deref().unwrap_or("."))?;
            Ok(Prepared {
                title: format!("List {}", roots.display(&path)),
                kind: Kind::Search,
                locations: vec![path.clone()],
                permission: None,
                action: Action::List { path },
            })
        }
        "search" => {
            #[derive(Deserialize)]
            struct Args {
                pattern: String,
                path: Option<String>,
            }
            let args: Args = parse(name, arguments)?;
            let regex = regex::Regex::new(&args.pattern)
                .map_err(|e| format!("invalid regular expression: {e}"))?;
            let path = roots.resolve(args.path.as_deref().unwrap_or("."))?;
            Ok(Prepared {
                title: format!("Search {} in {}", args.pattern, roots.display(&path)),
                kind: Kind::Search,
                locations: vec![path.clone()],
                permission: None,
                action: Action::Search { path, regex },
            })
        }
        "run_command" => {
            #[derive(Deserialize)]
            struct Args {
                command: String,
                timeout_secs: Option<u64>,
            }
            let args: Args = parse(name, arguments)?;
            if args.command.trim().is_empty() {
                return Err("command is empty".to_string());
            }
            Ok(Prepared {
                title: format!("Run {}", args.command),
                kind: Kind::Execute,
                locations: vec![],
                permission: Some(Permission::Execute),
                action: Action::Run {
                    command: args.command,
                    timeout: std::time::Duration::from_secs(
                        args.timeout_secs.unwrap_or(120).clamp(1, 1800),
                    ),
                },
            })
        }
        "update_plan" => {
            #[derive(Deserialize)]
            struct Args {
                entries: Vec<PlanItem>,
            }
            let args: Args = parse(name, arguments)?;
            for entry in &args.entries {
                if !matches!(
                    entry.status.as_str(),
                    "pending" | "in_progress" | "completed"
                ) {
                    return Err(format!(
                        "invalid status `{}`: use pending, in_progress or completed",
                        entry.status
                    ));
                }
            }
            Ok(Prepared {
                title: "Update plan".to_string(),
                kind: Kind::Think,
                locations: vec![],
                permission: None,
                action: Action::Plan {
                    entries: args.entries,
                },
            })
        }
        other => Err(format!(
            "unknown tool `{other}`. Available tools: {}",
            specs(read_only)
                .iter()
                .map(|t| t.name.to_string())
                .collect::<Vec<_>>()
                .join(", ")
        )),
    }
}

/// Does the file work of a call (not commands, which need a runner). Errors are for the model.
pub fn execute_file_action(roots: &Roots, action: &Action) -> Result<Output, String> {
    match action {
        Action::Read {
            path,
            offset,
            limit,
        } => {
            let shown = roots.display(path);
            let text = read_text(path, &shown)?;
            let total = text.lines().count();
            let mut out = String::new();
            for (i, line) in text
                .lines()
                .enumerate()
                .skip(offset.saturating_sub(1))
                .take(*limit)
            {
                out.push_str(&format!("{:>6}\t{}\n", i + 1, line));
            }
            // Both come from the model: a huge offset must not overflow.
            let last = offset.saturating_sub(1).saturating_add(*limit).min(total);
            if last < total {
                out.push_str(&format!(
                    "[lines {offset}-{last} of {total}; use offset to read more]\n"
                ));
            } else if out.is_empty() {
                out = format!("[{shown} has {total} lines]\n");
            }
            Ok(Output {
                text: cap_middle(&out, OUTPUT_CAP),
            })
        }
        Action::Write { path, new, old } => {
            let shown = roots.display(path);
            // Checked again as it is written: a command may have swapped a directory on the
            // way for a link since the write was prepared and approved.
            let now = roots.resolve(&path.display().to_string())?;
            if &now != path {
                return Err(format!(
                    "refused: {shown} now resolves to {}, not where it did when the write was approved",
                    now.display()
                ));
            }
            if let Some(parent) = path.parent() {
                std::fs::create_dir_all(parent)
                    .map_err(|e| format!("cannot create {}: {e}", parent.display()))?;
            }
            std::fs::write(path, new).map_err(|e| format!("cannot write {shown}: {e}"))?;
            Ok(Output {
                text: match old {
                    Some(_) => format!("Updated {shown}"),
                    None => format!("Created {shown}"),
                },
            })
        }
        Action::List { path } => {
            let mut lines = Vec::new();
            let mut more = false;
            for entry in walker(path).build().flatten() {
                if entry.depth() == 0 {
                    continue;
                }
                if lines.len() >= MAX_LIST {
                    more = true;
                    break;
                }
                let mut shown = roots.display(entry.path());
                if entry.file_type().is_some_and(|t| t.is_dir()) {
                    shown.push('/');
                }
                lines.push(shown);
            }
            lines.sort();
            if more {
                lines.push(format!(
                    "[more than {MAX_LIST} entries; list a subdirectory]"
                ));
            }
            if lines.is_empty() {
                lines.push("[no files]".to_string());
            }
            Ok(Output {
                text: lines.join("\n"),
            })
        }
        Action::Search { path, regex } => {
            let mut matches = Vec::new();
            'files: for entry in walker(path).build().flatten() {
                if !entry.file_type().is_some_and(|t| t.is_file()) {
                    continue;
                }
                let Ok(text) = std::fs::read_to_string(entry.path()) else {
                    continue;
                };
                for (i, line) in text.lines().enumerate() {
                    if regex.is_match(line) {
                        if matches.len() >= MAX_MATCHES {
                            matches.push(format!(
                                "[more than {MAX_MATCHES} matches; narrow the pattern or path]"
                            ));
                            break 'files;
                        }
                        let line: String = line.chars().take(300).collect();
                        matches.push(format!(
                            "{}:{}: {}",
                            roots.display(entry.path()),
                            i + 1,
                            line
                        ));
                    }
                }
            }
            if matches.is_empty() {
                matches.push("[no matches]".to_string());
            }
            Ok(Output {
                text: matches.join("\n"),
            })
        }
        Action::Plan { entries } => Ok(Output {
            text: format!("Plan updated ({} steps)", entries.len()),
        }),
        Action::Run { .. } => Err("internal: commands run through a runner".to_string()),
        Action::Mcp { .. } => Err("internal: MCP tools run through their server".to_string()),
    }
}

fn walker(path: &std::path::Path) -> ignore::WalkBuilder {
    let mut builder = ignore::WalkBuilder::new(path);
    // Show dotfiles such as .github, but never git's own database.
    builder
        .hidden(false)
        .require_git(false)
        .filter_entry(|e| e.file_name() != ".git");
    builder
}

/// Keeps the head and the tail of `text` within `cap` characters, saying what was cut.
pub fn cap_middle(text: &str, cap: usize) -> String {
    let count = text.chars().count();
    if count <= cap {
        return text.to_string();
    }
    let half = cap / 2;
    let head: String = text.chars().take(half).collect();
    let tail: String = text.chars().skip(count - half).collect();
    format!(
        "{head}\n[... {} characters cut ...]\n{tail}",
        count - 2 * half
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn edit_must_match_once() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("a.txt"), "x\nx\ny\n").unwrap();
        let roots = Roots::new(dir.path(), &[]);
        let err = prepare(
            &roots,
            "edit_file",
            r#"{"path":"a.txt","old_string":"x","new_string":"z"}"#,
            false,
        )
        .unwrap_err();
        assert!(err.contains("matches 2 places"), "{err}");
        let err = prepare(
            &roots,
            "edit_file",
            r#"{"path":"a.txt","old_string":"q","new_string":"z"}"#,
            false,
        )
        .unwrap_err();
        assert!(err.contains("was not found"), "{err}");
        let ok = prepare(
            &roots,
            "edit_file",
            r#"{"path":"a.txt","old_string":"y","new_string":"z"}"#,
            false,
        )
        .unwrap();
        let Action::Write { new, .. } = ok.action else {
            panic!()
        };
        assert_eq!(new, "x\nx\nz\n");
    }

    #[test]
    fn list_and_search_respect_gitignore() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join(".gitignore"), "target/\n").unwrap();
        std::fs::create_dir_all(dir.path().join("target")).unwrap();
        std::fs::write(dir.path().join("target/big.txt"), "needle\n").unwrap();
        std::fs::write(dir.path().join("main.rs"), "fn main() { needle(); }\n").unwrap();
        let roots = Roots::new(dir.path(), &[]);
        let list = prepare(&roots, "list_files", "{}", false).unwrap();
        let out = execute_file_action(&roots, &list.action).unwrap().text;
        assert!(out.contains("main.rs") && !out.contains("big.txt"), "{out}");
        let search = prepare(&roots, "search", r#"{"pattern":"needle"}"#, false).unwrap();
        let out = execute_file_action(&roots, &search.action).unwrap().text;
        assert_eq!(out, "main.rs:1: fn main() { needle(); }");
    }

    #[test]
    fn cap_keeps_head_and_tail() {
        let text = format!("{}{}", "a".repeat(100), "b".repeat(100));
        let capped = cap_middle(&text, 20);
        assert!(capped.starts_with("aaaaaaaaaa\n[... 180 characters cut ...]\nbbbbbbbbbb"));
    }
}
