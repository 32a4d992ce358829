//! Every screen of the terminal view, drawn from made-up sessions at 80×24 and compared with
//! its snapshot (`cargo insta review` after a deliberate change).
#![allow(clippy::unwrap_used)]

use aside_core::Event;
use aside_tui::app::{App, Command, Row, Screen};
use aside_tui::theme::Theme;
use ratatui::backend::TestBackend;
use ratatui::crossterm::event::{KeyCode, KeyEvent, KeyModifiers};
use ratatui::Terminal;
use serde_json::{json, Value};

/// 2026-11-30T12:00:00Z.
const NOW: i64 = 1_796_040_000;

fn row(id: &str, title: &str, status: &str, updated: &str) -> Row {
    Row {
        id: id.into(),
        title: title.into(),
        repo: "webshop".into(),
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

fn app() -> App {
    let mut app = App::new(
        Theme::plain(),
        vec!["builtin".into(), "copilot".into(), "codex".into()],
    );
    let mut rows = vec![
        row(
            "k2j4x9aa",
            "Fix the flaky checkout test",
            "completed",
            "2026-11-30T11:58:00.000Z",
        ),
        row(
            "p0q8m3zz",
            "Add --verbose to the CLI",
            "needs_input",
            "2026-11-30T11:50:00.000Z",
        ),
        row(
            "b7c1d2ee",
            "Upgrade the parser crate",
            "running",
            "2026-11-30T11:59:30.000Z",
        ),
        row(
            "9f8e7d6c-1111-4000-8000-000000000001",
            "explain the build setup",
            "idle",
            "2026-11-30T09:00:00.000Z",
        ),
    ];
    rows[0].files = 3;
    rows[0].last_line = "All 214 tests pass; the race was in the fixture.".into();
    rows[1].last_line = "I need to run the migration.".into();
    rows[3].external = true;
    rows[3].agent = "copilot".into();
    app.set_rows(rows);
    app
}

fn event(seq: u64, kind: &str, data: Value) -> Event {
    Event {
        seq,
        ts: String::new(),
        kind: kind.into(),
        data,
        piece: None,
    }
}

fn conversation(app: &mut App) {
    let events = [
        event(
            1,
            "prompt",
            json!({"text": "Add --verbose to the CLI", "resumed": false, "request": null}),
        ),
        event(
            2,
            "plan",
            json!({"sessionUpdate": "plan", "entries": [
            {"content": "Read the argument parser", "priority": "high", "status": "completed"},
            {"content": "Add the flag and its tests", "priority": "high", "status": "in_progress"}]}),
        ),
        event(
            3,
            "agent_message_chunk",
            json!({"sessionUpdate": "agent_message_chunk", "content": {"type": "text", "text": "## Plan\nThe flag goes in `src/cli.rs`; **no** other file changes.\n- parse it\n- print each step"}}),
        ),
        event(
            4,
            "tool_call",
            json!({"sessionUpdate": "tool_call", "toolCallId": "t1", "title": "Read src/cli.rs", "kind": "read", "status": "completed",
            "locations": [{"path": "src/cli.rs"}]}),
        ),
        event(
            5,
            "tool_call",
            json!({"sessionUpdate": "tool_call", "toolCallId": "t2", "title": "Edit src/cli.rs", "kind": "edit", "status": "pending",
            "content": [{"type": "diff", "path": "src/cli.rs", "oldText": "quiet: bool,\n", "newText": "quiet: bool,\nverbose: bool,\n"}]}),
        ),
        event(
            6,
            "tool_call_update",
            json!({"sessionUpdate": "tool_call_update", "toolCallId": "t2", "status": "completed"}),
        ),
        event(
            7,
            "agent_message_chunk",
            json!({"sessionUpdate": "agent_message_chunk", "content": {"type": "text", "text": "Now the migration. \u{1b}[31mred\u{1b}[0m"}}),
        ),
        event(
            8,
            "tool_call",
            json!({"sessionUpdate": "tool_call", "toolCallId": "t3", "title": "Run the migration", "kind": "execute", "status": "pending",
            "rawInput": {"command": "sqlx migrate run --database-url $DB"}}),
        ),
        event(
            9,
            "permission_request",
            json!({"toolCall": {"toolCallId": "t3", "title": "Run the migration", "kind": "execute",
            "rawInput": {"command": "sqlx migrate run --database-url $DB"}}, "options": []}),
        ),
    ];
    for e in &events {
        app.transcript.push(e);
    }
}

fn draw(app: &mut App) -> String {
    let mut terminal = Terminal::new(TestBackend::new(80, 24)).unwrap();
    terminal
        .draw(|frame| aside_tui::ui::draw(frame, app, NOW))
        .unwrap();
    format!("{}", terminal.backend())
}

fn key(code: KeyCode) -> KeyEvent {
    KeyEvent::new(code, KeyModifiers::NONE)
}

#[test]
fn the_list() {
    let mut app = app();
    insta::assert_snapshot!(draw(&mut app));
}

#[test]
fn the_list_filtered_with_nothing_left() {
    let mut app = app();
    app.on_key(key(KeyCode::Char('/')));
    for c in "nothing like this".chars() {
        app.on_key(key(KeyCode::Char(c)));
    }
    insta::assert_snapshot!(draw(&mut app));
}

#[test]
fn an_empty_list() {
    let mut app = App::new(Theme::plain(), vec!["builtin".into()]);
    insta::assert_snapshot!(draw(&mut app));
}

#[test]
fn a_session_asking_for_permission() {
    let mut app = app();
    app.open("p0q8m3zz".into());
    conversation(&mut app);
    insta::assert_snapshot!(draw(&mut app));
}

#[test]
fn a_session_with_its_tool_calls_expanded() {
    let mut app = app();
    app.open("p0q8m3zz".into());
    conversation(&mut app);
    app.on_key(KeyEvent::new(KeyCode::Tab, KeyModifiers::NONE));
    insta::assert_snapshot!(draw(&mut app));
}

#[test]
fn the_diff() {
    let mut app = app();
    app.open("k2j4x9aa".into());
    assert_eq!(
        app.on_key(key(KeyCode::Char('d'))),
        Some(Command::LoadDiff("k2j4x9aa".into()))
    );
    app.diff = "diff --git a/src/cli.rs b/src/cli.rs\n--- a/src/cli.rs\n+++ b/src/cli.rs\n@@ -1,2 +1,3 @@\n quiet: bool,\n+verbose: bool,\n-debug: bool,"
        .lines()
        .map(str::to_string)
        .collect();
    assert_eq!(app.screen, Screen::Diff("k2j4x9aa".into()));
    insta::assert_snapshot!(draw(&mut app));
}

#[test]
fn the_new_session_form() {
    let mut app = app();
    app.on_key(key(KeyCode::Char('n')));
    for c in "Add a dark mode".chars() {
        app.on_key(key(KeyCode::Char(c)));
    }
    app.on_key(key(KeyCode::Tab));
    app.on_key(key(KeyCode::Right));
    insta::assert_snapshot!(draw(&mut app));
    assert_eq!(
        app.on_key(key(KeyCode::Enter)),
        Some(Command::Create {
            task: "Add a dark mode".into(),
            agent: "copilot".into(),
            isolated: true,
            approve: None,
            base: None,
            budget: None,
            machine: None,
        })
    );
}

#[test]
fn the_new_session_form_offers_the_configured_machines() {
    let mut with = app();
    with.machines = vec!["box1".into()];
    with.on_key(key(KeyCode::Char('n')));
    for c in "Run the suite".chars() {
        with.on_key(key(KeyCode::Char(c)));
    }
    for _ in 0..5 {
        with.on_key(key(KeyCode::Tab));
    }
    // A budget, as `aside new --budget` takes it.
    for c in "200k".chars() {
        with.on_key(key(KeyCode::Char(c)));
    }
    with.on_key(key(KeyCode::Tab));
    assert!(draw(&mut with).contains("runs on ‹ this machine ›"));
    with.on_key(key(KeyCode::Right));
    assert!(draw(&mut with).contains("runs on ‹ box1 ›"));
    match with.on_key(key(KeyCode::Enter)) {
        Some(Command::Create {
            machine,
            task,
            budget,
            ..
        }) => {
            assert_eq!(budget.as_deref(), Some("200k"));
            assert_eq!(machine.as_deref(), Some("box1"));
            assert_eq!(task, "Run the suite");
        }
        other => panic!("{other:?}"),
    }
    // Without machines the form has no such line.
    let mut plain = app();
    plain.on_key(key(KeyCode::Char('n')));
    assert!(!draw(&mut plain).contains("runs on"));
}

#[test]
fn a_destructive_action_asks_first() {
    let mut app = app();
    app.on_key(key(KeyCode::Char('m')));
    insta::assert_snapshot!(draw(&mut app));
}

#[test]
fn the_follow_up_box() {
    let mut app = app();
    app.open("k2j4x9aa".into());
    app.on_key(key(KeyCode::Char('f')));
    for c in "also update the README".chars() {
        app.on_key(key(KeyCode::Char(c)));
    }
    insta::assert_snapshot!(draw(&mut app));
    assert_eq!(
        app.on_key(key(KeyCode::Enter)),
        Some(Command::Send(
            "k2j4x9aa".into(),
            "also update the README".into()
        ))
    );
}

#[test]
fn the_help() {
    let mut app = app();
    app.on_key(key(KeyCode::Char('?')));
    insta::assert_snapshot!(draw(&mut app));
}

#[test]
fn a_narrow_terminal_still_fits() {
    let mut app = app();
    let mut terminal = Terminal::new(TestBackend::new(60, 16)).unwrap();
    terminal
        .draw(|frame| aside_tui::ui::draw(frame, &mut app, NOW))
        .unwrap();
    insta::assert_snapshot!(format!("{}", terminal.backend()));
}

#[test]
fn a_session_of_100000_events_opens_and_scrolls() {
    let mut app = app();
    app.open("b7c1d2ee".into());
    for n in 0..100_000u64 {
        let e = if n % 2 == 0 {
            event(
                n + 1,
                "prompt",
                json!({"text": format!("message {n}"), "resumed": false, "request": null}),
            )
        } else {
            event(
                n + 1,
                "agent_message_chunk",
                json!({"sessionUpdate": "agent_message_chunk", "content": {"type": "text", "text": format!("answer {n}")}}),
            )
        };
        app.transcript.push(&e);
    }
    let screen = draw(&mut app);
    assert!(screen.contains("answer 99999"), "{screen}");
    for _ in 0..50 {
        app.on_key(key(KeyCode::PageUp));
        draw(&mut app);
    }
    let screen = draw(&mut app);
    assert!(!screen.contains("answer 99999"), "{screen}");
    app.on_key(key(KeyCode::Char('G')));
    assert!(draw(&mut app).contains("answer 99999"));
}
