//! Opening a session's worktree in the user's editor, for `aside open` and the web view's "Open
//! in editor": which editor ([`choose`], pure) and starting it ([`Editor::spawn_detached`],
//! [`Editor::run`]).
//!
//! The choice, first that is set: `[editor] command`, `$VISUAL`, `$EDITOR`, else
//! `code --new-window` when `code` is on PATH. An editor that opens a window of its own (a GUI
//! editor) starts detached and the caller returns at once; a terminal editor runs in the
//! foreground, in the worktree. The web server has no terminal, so it only takes GUI editors.

use crate::OpError;
use aside_core::config::EditorConfig;
use aside_core::{SessionRecord, Status};
use std::path::{Path, PathBuf};
use std::process::{Command, ExitStatus, Stdio};

/// Editors that open a window of their own, by program file name: started detached.
const GUI_EDITORS: &[&str] = &[
    "code",
    "code-insiders",
    "codium",
    "cursor",
    "windsurf",
    "subl",
    "zed",
    "idea",
    "pycharm",
    "gedit",
    "kate",
];

/// Where the chosen command came from; messages name it so the user knows what to change.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Source {
    /// `[editor] command` in config.toml.
    Config,
    /// `$VISUAL`.
    Visual,
    /// `$EDITOR`.
    Editor,
    /// `code --new-window`, because `code` is on PATH.
    Default,
}

impl std::fmt::Display for Source {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Source::Config => "[editor] command",
            Source::Visual => "$VISUAL",
            Source::Editor => "$EDITOR",
            Source::Default => "the default, VS Code",
        })
    }
}

/// Whether the caller has a terminal a terminal editor could run in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Terminal {
    /// The CLI: a terminal editor runs in the foreground.
    Available,
    /// A server (`aside ui`): terminal editors are passed over.
    Absent,
}

/// What the choice reads besides `[editor]`: the environment, PATH and where the config lives.
#[derive(Debug, Clone, Default)]
pub struct Environment {
    /// `$VISUAL`.
    pub visual: Option<String>,
    /// `$EDITOR`.
    pub editor: Option<String>,
    /// Whether `code` is on PATH.
    pub code_on_path: bool,
    /// The user's config file, for the messages that say how to set `[editor] command`.
    pub config_file: PathBuf,
}

impl Environment {
    /// This process's environment.
    pub fn current() -> Environment {
        Environment {
            visual: std::env::var("VISUAL").ok(),
            editor: std::env::var("EDITOR").ok(),
            code_on_path: on_path("code"),
            config_file: aside_core::paths::user_config_file(),
        }
    }
}

/// Whether an executable file `program` is in a directory of `$PATH`.
fn on_path(program: &str) -> bool {
    use std::os::unix::fs::PermissionsExt as _;
    let Some(path) = std::env::var_os("PATH") else {
        return false;
    };
    std::env::split_paths(&path).any(|dir| {
        std::fs::metadata(dir.join(program))
            .is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
    })
}

/// An editor command, chosen.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Editor {
    /// Program and arguments; the worktree's path is appended.
    pub argv: Vec<String>,
    /// It opens a window of its own, so it starts detached; else it runs in the terminal.
    pub gui: bool,
    /// Where it came from.
    pub source: Source,
}

impl std::fmt::Display for Editor {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.argv.join(" "))
    }
}

/// Why the worktree could not be opened. All but some spawn failures are the user's to fix.
#[derive(Debug, thiserror::Error)]
pub enum EditorError {
    /// Nothing names an editor.
    #[error("no editor to open the worktree with: set `[editor] command = [\"code\", \"--new-window\"]` in {}, or $EDITOR (e.g. `export EDITOR=vim`)", config_file.display())]
    NoEditor {
        /// The user's config file.
        config_file: PathBuf,
    },
    /// Only terminal editors are set, and the caller has no terminal.
    #[error("{program} (from {source_name}) runs in a terminal, and `aside ui` has none to run it in: set a GUI editor as `[editor] command = [\"code\", \"--new-window\"]` in {}, or use the vscode:// link", config_file.display())]
    TerminalOnly {
        /// The terminal editor that was passed over.
        program: String,
        /// Where it came from.
        source_name: Source,
        /// The user's config file.
        config_file: PathBuf,
    },
    /// `[editor] command = []`.
    #[error("[editor] command in {} is empty: name a program and its arguments, e.g. [\"code\", \"--new-window\"]", config_file.display())]
    EmptyCommand {
        /// The user's config file.
        config_file: PathBuf,
    },
    /// The session's worktree is not made yet (its host makes it when the session starts).
    #[error("the worktree of session {id} is not made yet ({status}): open it once the session has started")]
    NotYet {
        /// The session.
        id: String,
        /// Its status.
        status: Status,
    },
    /// The session's worktree is gone.
    #[error("the worktree of session {id}, {}, no longer exists", path.display())]
    Gone {
        /// The session.
        id: String,
        /// Where it was.
        path: PathBuf,
    },
    /// The editor could not be started.
    #[error("cannot start the editor `{program}` (from {source_name}): {error}")]
    Spawn {
        /// The program.
        program: String,
        /// Where it came from.
        source_name: Source,
        /// What the OS said.
        error: std::io::Error,
    },
}

impl From<EditorError> for OpError {
    fn from(e: EditorError) -> OpError {
        match &e {
            EditorError::Spawn { error, .. }
                if !matches!(
                    error.kind(),
                    std::io::ErrorKind::NotFound | std::io::ErrorKind::PermissionDenied
                ) =>
            {
                OpError::Internal(e.to_string())
            }
            _ => OpError::Refused(e.to_string()),
        }
    }
}

/// The words of `$VISUAL` or `$EDITOR`, split on whitespace as a shell splits an unquoted
/// word list (`vim -p`); None when unset or blank.
fn words(value: Option<&str>) -> Option<Vec<String>> {
    let words: Vec<String> = value?.split_whitespace().map(str::to_string).collect();
    (!words.is_empty()).then_some(words)
}

fn is_gui(program: &str) -> bool {
    let name = Path::new(program)
        .file_name()
        .and_then(|n| n.to_str())
        .unwrap_or(program);
    GUI_EDITORS.contains(&name)
}

/// Chooses the editor: `[editor] command` (GUI unless `terminal = true`), `$VISUAL`, `$EDITOR`
/// (GUI when the program is a known GUI editor), else `code --new-window` when `code` is on
/// PATH. Without a terminal, terminal editors are passed over; when only they were set, the
/// error says so.
pub fn choose(
    config: &EditorConfig,
    env: &Environment,
    terminal: Terminal,
) -> Result<Editor, EditorError> {
    let mut candidates = Vec::new();
    if let Some(command) = &config.command {
        if command.first().is_none_or(|p| p.trim().is_empty()) {
            return Err(EditorError::EmptyCommand {
                config_file: env.config_file.clone(),
            });
        }
        candidates.push(Editor {
            argv: command.clone(),
            gui: !config.terminal.unwrap_or(false),
            source: Source::Config,
        });
    }
    for (value, source) in [(&env.visual, Source::Visual), (&env.editor, Source::Editor)] {
        if let Some(argv) = words(value.as_deref()) {
            let gui = is_gui(&argv[0]);
            candidates.push(Editor { argv, gui, source });
        }
    }
    if env.code_on_path {
        candidates.push(Editor {
            argv: vec!["code".into(), "--new-window".into()],
            gui: true,
            source: Source::Default,
        });
    }
    let first_terminal = candidates.iter().find(|e| !e.gui).cloned();
    let chosen = match terminal {
        Terminal::Available => candidates.into_iter().next(),
        Terminal::Absent => candidates.into_iter().find(|e| e.gui),
    };
    match (chosen, first_terminal) {
        (Some(editor), _) => Ok(editor),
        (None, Some(skipped)) => Err(EditorError::TerminalOnly {
            program: skipped.argv[0].clone(),
            source_name: skipped.source,
            config_file: env.config_file.clone(),
        }),
        (None, None) => Err(EditorError::NoEditor {
            config_file: env.config_file.clone(),
        }),
    }
}

/// The session's worktree, to open: refused when it is not made yet or no longer exists.
pub fn worktree(record: &SessionRecord) -> Result<&Path, EditorError> {
    if record.worktree.is_dir() {
        return Ok(&record.worktree);
    }
    if matches!(record.status, Status::Queued | Status::Starting) {
        return Err(EditorError::NotYet {
            id: record.id.to_string(),
            status: record.status,
        });
    }
    Err(EditorError::Gone {
        id: record.id.to_string(),
        path: record.worktree.clone(),
    })
}

impl Editor {
    fn command(&self, dir: &Path) -> Command {
        let mut cmd = Command::new(&self.argv[0]);
        cmd.args(&self.argv[1..]).arg(dir).current_dir(dir);
        cmd
    }

    fn spawn_error(&self, error: std::io::Error) -> EditorError {
        EditorError::Spawn {
            program: self.argv[0].clone(),
            source_name: self.source,
            error,
        }
    }

    /// Starts the editor on `dir` in a process session of its own, stdio on /dev/null, and
    /// returns at once: closing the terminal (or stopping `aside ui`) leaves it open.
    pub fn spawn_detached(&self, dir: &Path) -> Result<(), EditorError> {
        let mut cmd = self.command(dir);
        cmd.stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null());
        aside_core::process::detach(&mut cmd);
        let mut child = cmd.spawn().map_err(|e| self.spawn_error(e))?;
        // Reaped by a thread, so a long-running server collects no zombies; a CLI that exits
        // first leaves the editor to init.
        std::thread::spawn(move || child.wait());
        Ok(())
    }

    /// Runs the editor on `dir` in the foreground, in `dir`, on this terminal; its exit status.
    pub fn run(&self, dir: &Path) -> Result<ExitStatus, EditorError> {
        self.command(dir).status().map_err(|e| self.spawn_error(e))
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn env(visual: Option<&str>, editor: Option<&str>, code_on_path: bool) -> Environment {
        Environment {
            visual: visual.map(str::to_string),
            editor: editor.map(str::to_string),
            code_on_path,
            config_file: PathBuf::from("/home/u/.config/aside/config.toml"),
        }
    }

    fn configured(command: &[&str], terminal: Option<bool>) -> EditorConfig {
        EditorConfig {
            command: Some(command.iter().map(|s| s.to_string()).collect()),
            terminal,
        }
    }

    fn chosen(config: &EditorConfig, env: &Environment, t: Terminal) -> (String, bool, Source) {
        let e = choose(config, env, t).unwrap();
        (e.to_string(), e.gui, e.source)
    }

    #[test]
    fn the_configured_command_comes_first_and_is_gui_unless_terminal() {
        let all = env(Some("nvim"), Some("vim"), true);
        let gui = configured(&["zed", "--new"], None);
        assert_eq!(
            chosen(&gui, &all, Terminal::Available),
            ("zed --new".into(), true, Source::Config)
        );
        let term = configured(&["hx"], Some(true));
        assert_eq!(
            chosen(&term, &all, Terminal::Available),
            ("hx".into(), false, Source::Config)
        );
    }

    #[test]
    fn then_visual_then_editor_split_on_whitespace() {
        let none = EditorConfig::default();
        assert_eq!(
            chosen(
                &none,
                &env(Some("nvim"), Some("vim"), true),
                Terminal::Available
            ),
            ("nvim".into(), false, Source::Visual)
        );
        let e = choose(
            &none,
            &env(Some("  "), Some("vim  -p"), true),
            Terminal::Available,
        )
        .unwrap();
        assert_eq!(e.argv, ["vim", "-p"]);
        assert_eq!((e.gui, e.source), (false, Source::Editor));
        // A known GUI editor by its file name, with its arguments as given.
        assert_eq!(
            chosen(
                &none,
                &env(None, Some("/usr/bin/subl -w"), false),
                Terminal::Available
            ),
            ("/usr/bin/subl -w".into(), true, Source::Editor)
        );
        assert_eq!(
            chosen(&none, &env(None, Some("code"), true), Terminal::Available),
            ("code".into(), true, Source::Editor)
        );
    }

    #[test]
    fn else_vs_code_in_a_new_window_when_it_is_on_path() {
        assert_eq!(
            chosen(
                &EditorConfig::default(),
                &env(None, None, true),
                Terminal::Available
            ),
            ("code --new-window".into(), true, Source::Default)
        );
    }

    #[test]
    fn nothing_set_says_how_to_set_one() {
        let err = choose(
            &EditorConfig::default(),
            &env(None, Some(""), false),
            Terminal::Available,
        )
        .unwrap_err();
        assert_eq!(
            err.to_string(),
            "no editor to open the worktree with: set `[editor] command = [\"code\", \"--new-window\"]` in /home/u/.config/aside/config.toml, or $EDITOR (e.g. `export EDITOR=vim`)"
        );
        let err = choose(
            &configured(&[], None),
            &env(None, Some("vim"), true),
            Terminal::Available,
        )
        .unwrap_err();
        assert!(
            err.to_string()
                .starts_with("[editor] command in /home/u/.config/aside/config.toml is empty"),
            "{err}"
        );
    }

    #[test]
    fn without_a_terminal_terminal_editors_are_passed_over() {
        let none = EditorConfig::default();
        assert_eq!(
            chosen(&none, &env(None, Some("vim"), true), Terminal::Absent),
            ("code --new-window".into(), true, Source::Default)
        );
        assert_eq!(
            chosen(
                &configured(&["hx"], Some(true)),
                &env(None, Some("zed"), false),
                Terminal::Absent
            ),
            ("zed".into(), true, Source::Editor)
        );
        let err = choose(&none, &env(None, Some("vim -p"), false), Terminal::Absent).unwrap_err();
        assert_eq!(
            err.to_string(),
            "vim (from $EDITOR) runs in a terminal, and `aside ui` has none to run it in: set a GUI editor as `[editor] command = [\"code\", \"--new-window\"]` in /home/u/.config/aside/config.toml, or use the vscode:// link"
        );
        assert!(matches!(
            choose(&none, &env(None, None, false), Terminal::Absent),
            Err(EditorError::NoEditor { .. })
        ));
    }
}
