//! Benchmark of a long session in the terminal view (`cargo bench -p aside-tui`): 100,000 events
//! taken into a conversation, the first draw, a page scrolled, a new event at the end.
#![allow(clippy::unwrap_used)]

use aside_core::Event;
use aside_tui::app::{App, Row};
use aside_tui::theme::Theme;
use ratatui::backend::TestBackend;
use ratatui::crossterm::event::{KeyCode, KeyEvent, KeyModifiers};
use ratatui::Terminal;
use serde_json::json;
use std::time::{Duration, Instant};

fn event(seq: u64) -> Event {
    let (kind, data) = match seq % 4 {
        0 => (
            "prompt",
            json!({"text": format!("message {seq}: please look at src/lib.rs"), "resumed": false, "request": null}),
        ),
        1 => (
            "agent_message_chunk",
            json!({"sessionUpdate": "agent_message_chunk", "content": {"type": "text", "text": format!("Reading the **code** in `src/lib.rs` for step {seq}, then running the tests.\n")}}),
        ),
        2 => (
            "tool_call",
            json!({"sessionUpdate": "tool_call", "toolCallId": format!("t{seq}"), "title": "Run tests", "kind": "execute", "status": "pending", "rawInput": {"command": "cargo test -q"}}),
        ),
        _ => (
            "tool_call_update",
            json!({"sessionUpdate": "tool_call_update", "toolCallId": format!("t{}", seq - 1), "status": "completed"}),
        ),
    };
    Event {
        seq,
        ts: String::new(),
        kind: kind.into(),
        data,
        piece: None,
    }
}

fn main() {
    let mut app = App::new(Theme::colored(), vec!["builtin".into()]);
    app.set_rows(vec![Row {
        id: "s1".into(),
        title: "long".into(),
        repo: "r".into(),
        agent: "builtin".into(),
        mode: "isolated".into(),
        status: "running".into(),
        files: 0,
        usage: Default::default(),
        updated_at: String::new(),
        last_line: String::new(),
        external: false,
        archived: false,
    }]);
    app.open("s1".into());
    let mut terminal = Terminal::new(TestBackend::new(120, 40)).unwrap();
    let count = 100_000;
    let started = Instant::now();
    for seq in 1..=count {
        app.transcript.push(&event(seq));
    }
    let pushed = started.elapsed();
    let started = Instant::now();
    terminal
        .draw(|f| aside_tui::ui::draw(f, &mut app, 0))
        .unwrap();
    let first = started.elapsed();
    let mut scrolls = Vec::new();
    for _ in 0..100 {
        app.on_key(KeyEvent::new(KeyCode::PageUp, KeyModifiers::NONE));
        let started = Instant::now();
        terminal
            .draw(|f| aside_tui::ui::draw(f, &mut app, 0))
            .unwrap();
        scrolls.push(started.elapsed());
    }
    let mut appends = Vec::new();
    for seq in count + 1..count + 101 {
        app.transcript.push(&event(seq));
        let started = Instant::now();
        terminal
            .draw(|f| aside_tui::ui::draw(f, &mut app, 0))
            .unwrap();
        appends.push(started.elapsed());
    }
    let median = |mut v: Vec<Duration>| {
        v.sort();
        v[v.len() / 2]
    };
    let ms = |d: Duration| d.as_secs_f64() * 1000.0;
    println!("terminal view, a session of {count} events at 120×40:");
    println!("  events taken in         {:8.1} ms", ms(pushed));
    println!("  first draw (all lines)  {:8.1} ms", ms(first));
    println!(
        "  draw after a page up    {:8.2} ms median",
        ms(median(scrolls))
    );
    println!(
        "  draw after a new event  {:8.2} ms median",
        ms(median(appends))
    );
}
