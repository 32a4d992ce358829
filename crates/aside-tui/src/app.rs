//! What the view shows and what a key asks for. No I/O here: the loop in `lib.rs` loads data
//! into an [`App`] and carries out the [`Command`]s its keys return, so every screen can be
//! drawn from made-up data in tests.

use crate::theme::Theme;
use crate::transcript::Transcript;
use ratatui::crossterm::event::{KeyCode, KeyEvent, KeyModifiers};

/// A session as the list shows it.
#[derive(Debug, Clone, PartialEq)]
pub struct Row {
    pub id: String,
    pub title: String,
    pub repo: String,
    pub agent: String,
    pub mode: String,
    pub status: String,
    pub files: u64,
    /// What it used so far, in brief.
    pub usage: aside_core::usage::Summary,
    pub updated_at: String,
    /// The start of the agent's last message.
    pub last_line: String,
    /// Started in the agent's own CLI.
    pub external: bool,
    pub archived: bool,
}

impl Row {
    fn waits(&self) -> bool {
        self.status == "needs_input"
    }
}

/// What the view is showing.
#[derive(Debug, Clone, PartialEq)]
pub enum Screen {
    List,
    Session(String),
    Diff(String),
}

/// A line of text being typed.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Input {
    pub text: String,
}

impl Input {
    /// Edits the text with `key`; true when the key was an edit.
    fn edit(&mut self, key: &KeyEvent) -> bool {
        match key.code {
            KeyCode::Char(c) if !key.modifiers.contains(KeyModifiers::CONTROL) => {
                self.text.push(c);
                true
            }
            KeyCode::Backspace => {
                self.text.pop();
                true
            }
            _ => false,
        }
    }
}

/// The new-session form.
#[derive(Debug, Clone, PartialEq)]
pub struct NewForm {
    pub task: Input,
    pub agents: Vec<String>,
    pub agent: usize,
    pub isolated: bool,
    pub approve: usize,
    pub base: Input,
    /// Its budget as `aside new --budget` takes it (empty: the config's).
    pub budget: Input,
    /// Where it runs: this machine (0) or one of `machines` (1…).
    pub machines: Vec<String>,
    pub machine: usize,
    /// Which field has the cursor: 0 task, 1 agent, 2 mode, 3 approvals, 4 base, 5 budget,
    /// 6 machine (when there are machines).
    pub field: usize,
}

impl NewForm {
    /// How many fields it has.
    pub fn fields(&self) -> usize {
        if self.machines.is_empty() {
            6
        } else {
            7
        }
    }

    /// Where it runs, in words.
    pub fn runs_on(&self) -> &str {
        match self.machine {
            0 => "this machine",
            n => self.machines.get(n - 1).map_or("?", String::as_str),
        }
    }
}

/// Approval policies as the form offers them (the first: the mode's default).
pub const APPROVALS: &[&str] = &["default", "all", "edits", "ask"];

/// Something over the screen that takes the keys.
#[derive(Debug, Clone, PartialEq)]
pub enum Overlay {
    None,
    /// A follow-up to the session.
    FollowUp(String, Input),
    /// The list's text filter.
    Filter(Input),
    /// Asking before a destructive action.
    Confirm(String, Command),
    New(NewForm),
    Help,
}

/// What a key asks the loop to do.
#[derive(Debug, Clone, PartialEq)]
pub enum Command {
    Quit,
    Create {
        task: String,
        agent: String,
        isolated: bool,
        approve: Option<String>,
        base: Option<String>,
        /// Its budget, as `aside new --budget` takes it.
        budget: Option<String>,
        /// Another machine to run it on (`aside new --on`).
        machine: Option<String>,
    },
    Send(String, String),
    Approve(String, bool),
    Deny(String),
    Cancel(String),
    Stop(String),
    Resume(String),
    Apply(String),
    Merge(String),
    Archive(String),
    /// Open the session's worktree in the editor (the view steps aside meanwhile).
    Editor(String),
    /// The session in its agent's own CLI (`aside attach --native`).
    Native(String),
    /// `aside attach`: the session as a stream of lines, with a prompt.
    Attach(String),
    /// Load the diff for the diff screen.
    LoadDiff(String),
    /// The user trusts what a repository's `.aside.toml` asks (as shown), then `then` runs.
    Trust {
        repo: std::path::PathBuf,
        asks: aside_core::trust::Asks,
        then: Box<Command>,
    },
}

impl Command {
    /// Whether the user is asked first, and how.
    fn question(&self) -> Option<String> {
        Some(match self {
            Command::Apply(id) => format!("Apply session {id}'s changes to your working tree?"),
            Command::Merge(id) => format!("Merge session {id}'s branch into your current branch?"),
            Command::Archive(id) => {
                format!("Archive session {id}? (aside unarchive brings it back)")
            }
            Command::Stop(id) => format!("Stop session {id}'s agent now? (nothing is lost)"),
            Command::Cancel(id) => format!("Cancel session {id}'s running turn?"),
            _ => return None,
        })
    }
}

pub struct App {
    pub rows: Vec<Row>,
    pub selected: usize,
    pub screen: Screen,
    pub overlay: Overlay,
    /// How many times a session's screen was opened (each starts an empty transcript).
    pub opened: u64,
    pub filter: String,
    pub status_filter: Option<String>,
    pub repo_filter: Option<String>,
    /// The open session's conversation.
    pub transcript: Transcript,
    /// Lines scrolled up from the bottom (0: follow the end).
    pub scroll: usize,
    pub diff: Vec<String>,
    pub diff_scroll: usize,
    /// The last outcome or error, shown in the status line.
    pub message: Option<(String, bool)>,
    pub agents: Vec<String>,
    /// The agent the new-session form starts on.
    pub default_agent: usize,
    /// The configured machines a new session may run on.
    pub machines: Vec<String>,
    /// What the built-in agent's commands may do, in a few words (`[sandbox]`), for its
    /// sessions' headers.
    pub sandbox: Option<String>,
    /// The third-party agents that run whole in the sandbox (`[agents.NAME] sandbox = true`).
    pub sandboxed_agents: Vec<String>,
    pub theme: Theme,
}

/// The statuses the filter cycles through.
const STATUSES: &[&str] = &[
    "needs_input",
    "running",
    "queued",
    "completed",
    "failed",
    "cancelled",
    "interrupted",
    "in_terminal",
    "idle",
];

impl App {
    pub fn new(theme: Theme, agents: Vec<String>) -> App {
        App {
            rows: Vec::new(),
            selected: 0,
            screen: Screen::List,
            overlay: Overlay::None,
            opened: 0,
            filter: String::new(),
            status_filter: None,
            repo_filter: None,
            transcript: Transcript::new(theme),
            scroll: 0,
            diff: Vec::new(),
            diff_scroll: 0,
            message: None,
            agents,
            default_agent: 0,
            machines: Vec::new(),
            sandbox: None,
            sandboxed_agents: Vec::new(),
            theme,
        }
    }

    /// The rows the filters let through: sessions waiting for an answer first, then by last
    /// activity.
    pub fn visible(&self) -> Vec<&Row> {
        let needle = self.filter.to_lowercase();
        let mut rows: Vec<&Row> = self
            .rows
            .iter()
            .filter(|r| self.status_filter.as_ref().is_none_or(|s| &r.status == s))
            .filter(|r| self.repo_filter.as_ref().is_none_or(|s| &r.repo == s))
            .filter(|r| {
                needle.is_empty()
                    || [&r.title, &r.id, &r.repo, &r.agent, &r.last_line]
                        .iter()
                        .any(|f| f.to_lowercase().contains(&needle))
            })
            .collect();
        rows.sort_by(|a, b| {
            b.waits()
                .cmp(&a.waits())
                .then_with(|| b.updated_at.cmp(&a.updated_at))
        });
        rows
    }

    /// Replaces the list, keeping the selection on the same session.
    pub fn set_rows(&mut self, rows: Vec<Row>) {
        let current = self.current_id();
        self.rows = rows;
        if let Some(id) = current {
            if let Some(n) = self.visible().iter().position(|r| r.id == id) {
                self.selected = n;
            }
        }
        self.selected = self.selected.min(self.visible().len().saturating_sub(1));
    }

    /// The session the keys act on: the open one, else the selected row.
    pub fn current_id(&self) -> Option<String> {
        match &self.screen {
            Screen::Session(id) | Screen::Diff(id) => Some(id.clone()),
            Screen::List => self.visible().get(self.selected).map(|r| r.id.clone()),
        }
    }

    pub fn current_row(&self) -> Option<&Row> {
        let id = self.current_id()?;
        self.rows.iter().find(|r| r.id == id)
    }

    /// Opens a session's screen with an empty conversation (the loop fills it).
    pub fn open(&mut self, id: String) {
        self.transcript = Transcript::new(self.theme);
        self.opened += 1;
        self.scroll = 0;
        self.screen = Screen::Session(id);
    }

    fn ask(&mut self, command: Command) -> Option<Command> {
        match command.question() {
            Some(question) => {
                self.overlay = Overlay::Confirm(question, command);
                None
            }
            None => Some(command),
        }
    }

    /// Handles a key; Some when the loop has work to do.
    pub fn on_key(&mut self, key: KeyEvent) -> Option<Command> {
        if key.modifiers.contains(KeyModifiers::CONTROL) && key.code == KeyCode::Char('c') {
            return Some(Command::Quit);
        }
        match std::mem::replace(&mut self.overlay, Overlay::None) {
            Overlay::None => {}
            Overlay::Help => return None,
            Overlay::Confirm(question, command) => {
                return match key.code {
                    KeyCode::Char('y') | KeyCode::Char('Y') | KeyCode::Enter => Some(command),
                    KeyCode::Char('n') | KeyCode::Esc => None,
                    _ => {
                        self.overlay = Overlay::Confirm(question, command);
                        None
                    }
                };
            }
            Overlay::Filter(mut input) => {
                match key.code {
                    KeyCode::Enter | KeyCode::Esc => {}
                    _ => {
                        input.edit(&key);
                        self.filter = input.text.clone();
                        self.selected = 0;
                        self.overlay = Overlay::Filter(input);
                    }
                }
                return None;
            }
            Overlay::FollowUp(id, mut input) => {
                match key.code {
                    KeyCode::Esc => {}
                    KeyCode::Enter if !input.text.trim().is_empty() => {
                        return Some(Command::Send(id, input.text));
                    }
                    _ => {
                        input.edit(&key);
                        self.overlay = Overlay::FollowUp(id, input);
                    }
                }
                return None;
            }
            Overlay::New(mut form) => return self.form_key(&mut form, key),
        }
        let id = self.current_id();
        let on = |make: fn(String) -> Command| id.clone().map(make);
        // Keys every screen shares.
        let command = match key.code {
            KeyCode::Char('?') => {
                self.overlay = Overlay::Help;
                return None;
            }
            KeyCode::Char('n') => {
                self.overlay = Overlay::New(NewForm {
                    task: Input::default(),
                    agents: self.agents.clone(),
                    agent: self.default_agent,
                    isolated: true,
                    approve: 0,
                    base: Input::default(),
                    budget: Input::default(),
                    machines: self.machines.clone(),
                    machine: 0,
                    field: 0,
                });
                return None;
            }
            KeyCode::Char('f') => {
                if let Some(id) = id {
                    if self.current_row().is_some_and(|r| r.external) {
                        self.note(
                            "adopt it first: aside adopt ID (it was started in its own CLI)",
                            false,
                        );
                    } else {
                        self.overlay = Overlay::FollowUp(id, Input::default());
                    }
                }
                return None;
            }
            KeyCode::Char('a') => on(|id| Command::Approve(id, false)),
            KeyCode::Char('A') => on(|id| Command::Approve(id, true)),
            KeyCode::Char('x') => on(Command::Deny),
            KeyCode::Char('c') => on(Command::Cancel),
            KeyCode::Char('s') => on(Command::Stop),
            KeyCode::Char('R') => on(Command::Resume),
            KeyCode::Char('p') => on(Command::Apply),
            KeyCode::Char('m') => on(Command::Merge),
            KeyCode::Char('z') => on(Command::Archive),
            KeyCode::Char('o') => on(Command::Editor),
            KeyCode::Char('e') => on(Command::Native),
            KeyCode::Char('T') => on(Command::Attach),
            KeyCode::Char('d') => {
                if let Some(id) = id {
                    self.diff_scroll = 0;
                    self.screen = Screen::Diff(id.clone());
                    Some(Command::LoadDiff(id))
                } else {
                    None
                }
            }
            _ => None,
        };
        if let Some(command) = command {
            return self.ask(command);
        }
        match self.screen.clone() {
            Screen::List => self.list_key(key),
            Screen::Session(_) => self.session_key(key),
            Screen::Diff(id) => {
                let page = 20;
                match key.code {
                    KeyCode::Esc | KeyCode::Char('q') => self.screen = Screen::Session(id),
                    KeyCode::Down | KeyCode::Char('j') => self.diff_scroll += 1,
                    KeyCode::Up | KeyCode::Char('k') => {
                        self.diff_scroll = self.diff_scroll.saturating_sub(1)
                    }
                    KeyCode::PageDown | KeyCode::Char(' ') => self.diff_scroll += page,
                    KeyCode::PageUp => self.diff_scroll = self.diff_scroll.saturating_sub(page),
                    KeyCode::Home => self.diff_scroll = 0,
                    _ => {}
                }
                self.diff_scroll = self.diff_scroll.min(self.diff.len().saturating_sub(1));
                None
            }
        }
    }

    fn list_key(&mut self, key: KeyEvent) -> Option<Command> {
        let count = self.visible().len();
        match key.code {
            KeyCode::Char('q') => return Some(Command::Quit),
            // Esc clears the filters; it never quits (a stray Esc must not close the view).
            KeyCode::Esc => {
                self.filter.clear();
                self.status_filter = None;
                self.repo_filter = None;
            }
            KeyCode::Down | KeyCode::Char('j') => {
                self.selected = (self.selected + 1).min(count.saturating_sub(1))
            }
            KeyCode::Up | KeyCode::Char('k') => self.selected = self.selected.saturating_sub(1),
            KeyCode::Home | KeyCode::Char('g') => self.selected = 0,
            KeyCode::End | KeyCode::Char('G') => self.selected = count.saturating_sub(1),
            KeyCode::Enter => {
                if let Some(id) = self.current_id() {
                    self.open(id);
                }
            }
            KeyCode::Char('/') => {
                self.overlay = Overlay::Filter(Input {
                    text: self.filter.clone(),
                })
            }
            KeyCode::Char('t') => {
                self.status_filter = match &self.status_filter {
                    None => Some(STATUSES[0].to_string()),
                    Some(s) => STATUSES
                        .iter()
                        .position(|x| x == s)
                        .and_then(|n| STATUSES.get(n + 1))
                        .map(|s| s.to_string()),
                };
                self.selected = 0;
            }
            KeyCode::Char('r') => {
                let mut repos: Vec<String> = self.rows.iter().map(|r| r.repo.clone()).collect();
                repos.sort();
                repos.dedup();
                self.repo_filter = match &self.repo_filter {
                    None => repos.first().cloned(),
                    Some(r) => repos
                        .iter()
                        .position(|x| x == r)
                        .and_then(|n| repos.get(n + 1))
                        .cloned(),
                };
                self.selected = 0;
            }
            _ => {}
        }
        None
    }

    fn session_key(&mut self, key: KeyEvent) -> Option<Command> {
        let page = 20;
        match key.code {
            KeyCode::Esc | KeyCode::Char('q') => self.screen = Screen::List,
            KeyCode::Up | KeyCode::Char('k') => self.scroll += 1,
            KeyCode::Down | KeyCode::Char('j') => self.scroll = self.scroll.saturating_sub(1),
            KeyCode::PageUp => self.scroll += page,
            KeyCode::PageDown | KeyCode::Char(' ') => {
                self.scroll = self.scroll.saturating_sub(page)
            }
            KeyCode::Home | KeyCode::Char('g') => self.scroll = usize::MAX / 2,
            KeyCode::End | KeyCode::Char('G') => self.scroll = 0,
            KeyCode::Tab => {
                let expanded = !self.transcript.expanded();
                self.transcript.set_expanded(expanded);
            }
            _ => {}
        }
        None
    }

    fn form_key(&mut self, form: &mut NewForm, key: KeyEvent) -> Option<Command> {
        match key.code {
            KeyCode::Esc => return None,
            KeyCode::Tab | KeyCode::Down => form.field = (form.field + 1) % form.fields(),
            KeyCode::BackTab | KeyCode::Up => {
                form.field = (form.field + form.fields() - 1) % form.fields()
            }
            KeyCode::Enter => {
                if form.task.text.trim().is_empty() {
                    self.note("say what the agent should do", true);
                } else {
                    return Some(Command::Create {
                        task: form.task.text.clone(),
                        agent: form.agents.get(form.agent).cloned().unwrap_or_default(),
                        isolated: form.isolated,
                        approve: (form.approve > 0).then(|| APPROVALS[form.approve].to_string()),
                        base: Some(form.base.text.trim().to_string()).filter(|b| !b.is_empty()),
                        budget: Some(form.budget.text.trim().to_string()).filter(|b| !b.is_empty()),
                        machine: (form.machine > 0)
                            .then(|| form.machines.get(form.machine - 1).cloned())
                            .flatten(),
                    });
                }
            }
            KeyCode::Left | KeyCode::Right => {
                let forward = key.code == KeyCode::Right;
                let step = |n: usize, len: usize| {
                    if forward {
                        (n + 1) % len.max(1)
                    } else {
                        (n + len.max(1) - 1) % len.max(1)
                    }
                };
                match form.field {
                    1 => form.agent = step(form.agent, form.agents.len()),
                    2 => form.isolated = !form.isolated,
                    3 => form.approve = step(form.approve, APPROVALS.len()),
                    6 => form.machine = step(form.machine, form.machines.len() + 1),
                    _ => {}
                }
            }
            _ => match form.field {
                0 => {
                    form.task.edit(&key);
                }
                4 => {
                    form.base.edit(&key);
                }
                5 => {
                    form.budget.edit(&key);
                }
                _ => {}
            },
        }
        self.overlay = Overlay::New(form.clone());
        None
    }

    /// Shows `text` in the status line.
    pub fn note(&mut self, text: &str, bad: bool) {
        self.message = Some((text.to_string(), bad));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    pub fn row(id: &str, status: &str, updated: &str) -> Row {
        Row {
            id: id.into(),
            title: format!("task {id}"),
            repo: "proj".into(),
            agent: "builtin".into(),
            mode: "isolated".into(),
            status: status.into(),
            files: 0,
            usage: Default::default(),
            updated_at: updated.into(),
            last_line: String::new(),
            external: false,
            archived: false,
        }
    }

    fn key(c: char) -> KeyEvent {
        KeyEvent::new(KeyCode::Char(c), KeyModifiers::NONE)
    }

    #[test]
    fn sessions_waiting_for_an_answer_come_first_then_the_newest() {
        let mut app = App::new(Theme::plain(), vec![]);
        app.set_rows(vec![
            row("old", "completed", "1"),
            row("new", "running", "3"),
            row("asks", "needs_input", "2"),
        ]);
        let ids: Vec<&str> = app.visible().iter().map(|r| r.id.as_str()).collect();
        assert_eq!(ids, ["asks", "new", "old"]);
    }

    #[test]
    fn destructive_actions_are_confirmed_first() {
        let mut app = App::new(Theme::plain(), vec![]);
        app.set_rows(vec![row("s1", "completed", "1")]);
        assert_eq!(app.on_key(key('p')), None);
        assert!(matches!(app.overlay, Overlay::Confirm(_, _)));
        assert_eq!(app.on_key(key('y')), Some(Command::Apply("s1".into())));
        assert_eq!(app.on_key(key('m')), None);
        assert_eq!(app.on_key(key('n')), None);
        assert_eq!(app.overlay, Overlay::None);
        assert_eq!(
            app.on_key(key('a')),
            Some(Command::Approve("s1".into(), false))
        );
    }

    #[test]
    fn the_filter_matches_title_repo_and_agent() {
        let mut app = App::new(Theme::plain(), vec![]);
        app.set_rows(vec![
            row("s1", "completed", "1"),
            row("s2", "completed", "2"),
        ]);
        app.on_key(key('/'));
        for c in "task s1".chars() {
            app.on_key(key(c));
        }
        assert_eq!(app.visible().len(), 1);
        app.on_key(KeyEvent::new(KeyCode::Enter, KeyModifiers::NONE));
        assert_eq!(app.filter, "task s1");
    }
}
