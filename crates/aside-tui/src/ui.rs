//! Drawing: every screen is a function of the [`App`], nothing else.

use crate::app::{App, Overlay, Screen, APPROVALS};
use crate::transcript::{clean, truncate};
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::style::Style;
use ratatui::text::{Line, Span};
use ratatui::widgets::{
    Block, Borders, Cell, Clear, Paragraph, Row as TableRow, Table, TableState,
};
use ratatui::Frame;

/// Seconds since the epoch of an RFC 3339 UTC time (`2026-11-30T03:03:15.739Z`).
pub fn epoch_secs(t: &str) -> Option<i64> {
    let since = aside_core::time::parse_rfc3339(t)?
        .duration_since(std::time::UNIX_EPOCH)
        .ok()?;
    i64::try_from(since.as_secs()).ok()
}

/// "12s", "5m", "3h", "2d" since `t`.
pub fn ago(t: &str, now: i64) -> String {
    let Some(then) = epoch_secs(t) else {
        return String::new();
    };
    let s = (now - then).max(0);
    match s {
        0..60 => format!("{s}s"),
        60..3600 => format!("{}m", s / 60),
        3600..86_400 => format!("{}h", s / 3600),
        _ => format!("{}d", s / 86_400),
    }
}

fn status_style(app: &App, status: &str) -> Style {
    let t = &app.theme;
    match status {
        "needs_input" => t.warn,
        "running" | "starting" | "in_terminal" => t.busy,
        "completed" => t.good,
        "failed" | "interrupted" => t.bad,
        _ => t.dim,
    }
}

fn status_text(status: &str) -> String {
    match status {
        "needs_input" => "NEEDS INPUT".into(),
        "in_terminal" => "in terminal".into(),
        s => s.into(),
    }
}

/// Draws the whole view.
pub fn draw(frame: &mut Frame, app: &mut App, now: i64) {
    let [top, main, status, help] = Layout::vertical([
        Constraint::Length(1),
        Constraint::Min(3),
        Constraint::Length(1),
        Constraint::Length(1),
    ])
    .areas(frame.area());
    draw_top(frame, app, top);
    match app.screen.clone() {
        Screen::List => draw_list(frame, app, main, now),
        Screen::Session(id) => draw_session(frame, app, &id, main),
        Screen::Diff(id) => draw_diff(frame, app, &id, main),
    }
    let message = match &app.message {
        Some((text, bad)) => Span::styled(
            truncate(&clean(text), usize::from(status.width)),
            if *bad { app.theme.bad } else { app.theme.good },
        ),
        None => Span::raw(""),
    };
    frame.render_widget(Paragraph::new(Line::from(message)), status);
    frame.render_widget(
        Paragraph::new(Line::from(Span::styled(
            truncate(help_line(app), usize::from(help.width)),
            app.theme.dim,
        ))),
        help,
    );
    draw_overlay(frame, app);
}

fn help_line(app: &App) -> &'static str {
    match (&app.overlay, &app.screen) {
        (Overlay::FollowUp(..), _) => "Enter send · Esc cancel",
        (Overlay::Filter(_), _) => "type to filter · Enter keep · Esc keep",
        (Overlay::New(_), _) => "Tab next field · ←/→ choose · Enter start · Esc cancel",
        (Overlay::Confirm(..), _) => "y yes · n no",
        (_, Screen::List) => {
            "Enter open · n new · f follow-up · a/x approve/deny · d diff · ? keys · q quit"
        }
        (_, Screen::Session(_)) => {
            "f follow-up · a/x approve/deny · c cancel · Tab tools · d diff · ? keys · Esc"
        }
        (_, Screen::Diff(_)) => "↑/↓ PgUp/PgDn scroll · Esc back",
    }
}

fn draw_top(frame: &mut Frame, app: &App, area: Rect) {
    let waiting = app
        .rows
        .iter()
        .filter(|r| r.status == "needs_input")
        .count();
    let mut spans = vec![Span::styled("aside · Agents", app.theme.bold)];
    spans.push(Span::raw(format!(
        "  {} session{}",
        app.rows.len(),
        if app.rows.len() == 1 { "" } else { "s" }
    )));
    if waiting > 0 {
        spans.push(Span::styled(
            format!(
                "  {waiting} need{} input",
                if waiting == 1 { "s" } else { "" }
            ),
            app.theme.warn,
        ));
    }
    for (name, value) in [
        ("filter", Some(&app.filter).filter(|f| !f.is_empty())),
        ("status", app.status_filter.as_ref()),
        ("repo", app.repo_filter.as_ref()),
    ] {
        if let Some(value) = value {
            spans.push(Span::styled(
                format!("  [{name}: {}]", clean(value)),
                app.theme.dim,
            ));
        }
    }
    frame.render_widget(Paragraph::new(Line::from(spans)), area);
}

fn draw_list(frame: &mut Frame, app: &App, area: Rect, now: i64) {
    let rows = app.visible();
    if rows.is_empty() {
        let text = if app.rows.is_empty() {
            "No sessions yet. Press n to start one (or run: aside new \"<task>\")."
        } else {
            "No session matches the filters (Esc clears the text filter, t and r cycle the others)."
        };
        frame.render_widget(
            Paragraph::new(text).block(Block::default().borders(Borders::TOP)),
            area,
        );
        return;
    }
    let header = TableRow::new([
        "STATUS",
        "AGENT",
        "REPO",
        "FILES",
        "AGO",
        "TITLE / LAST MESSAGE",
    ])
    .style(app.theme.header);
    let wide = area.width >= 100;
    let table_rows: Vec<TableRow> = rows
        .iter()
        .map(|r| {
            let mut status = status_text(&r.status);
            if r.external {
                status.push('*');
            }
            let mut title = vec![Span::raw(clean(&r.title))];
            if !r.last_line.is_empty() {
                title.push(Span::styled(
                    format!("  {}", clean(&r.last_line)),
                    app.theme.dim,
                ));
            }
            TableRow::new(vec![
                Cell::from(Span::styled(status, status_style(app, &r.status))),
                Cell::from(clean(&r.agent)),
                Cell::from(clean(&r.repo)),
                Cell::from(if r.external {
                    "-".into()
                } else {
                    r.files.to_string()
                }),
                Cell::from(ago(&r.updated_at, now)),
                Cell::from(Line::from(title)),
            ])
        })
        .collect();
    let widths = [
        Constraint::Length(12),
        Constraint::Length(if wide { 9 } else { 8 }),
        Constraint::Length(if wide { 14 } else { 10 }),
        Constraint::Length(5),
        Constraint::Length(4),
        Constraint::Min(10),
    ];
    let table =
        Table::new(table_rows, widths)
            .header(header)
            .row_highlight_style(app.theme.selected)
            .block(Block::default().borders(Borders::TOP).title(
                if rows.iter().any(|r| r.external) {
                    " * started in the agent's own CLI "
                } else {
                    ""
                },
            ));
    let mut state = TableState::default().with_selected(Some(app.selected));
    frame.render_stateful_widget(table, area, &mut state);
}

fn draw_session(frame: &mut Frame, app: &mut App, id: &str, area: Rect) {
    let [head, body] = Layout::vertical([Constraint::Length(2), Constraint::Min(1)]).areas(area);
    let row = app.rows.iter().find(|r| r.id == id).cloned();
    let head_lines = match &row {
        Some(r) => vec![
            Line::from(vec![
                Span::styled(
                    truncate(&clean(&r.title), usize::from(head.width).saturating_sub(16)),
                    app.theme.bold,
                ),
                Span::raw("  "),
                Span::styled(status_text(&r.status), status_style(app, &r.status)),
            ]),
            Line::from(Span::styled(
                format!(
                    "{id} · {} · {} · {}{}",
                    clean(&r.agent),
                    if r.external {
                        "started in its own CLI"
                    } else {
                        r.mode.as_str()
                    },
                    clean(&r.repo),
                    if r.files > 0 {
                        format!(" · {} files changed", r.files)
                    } else {
                        String::new()
                    },
                ) + &if r.usage.tokens > 0 {
                    format!(
                        " · {}{} tokens{}",
                        if r.usage.estimated { "~" } else { "" },
                        aside_core::usage::short(r.usage.tokens),
                        r.usage
                            .cost
                            .map(|c| format!(" {}", aside_core::usage::dollars(c)))
                            .unwrap_or_default()
                    )
                } else {
                    String::new()
                } + &match (&app.sandbox, r.agent == "builtin" && !r.external) {
                    (Some(sandbox), true) => format!(" · {sandbox}"),
                    _ if app.sandboxed_agents.contains(&r.agent) && !r.external => {
                        " · sandboxed (the whole agent)".to_string()
                    }
                    _ => String::new(),
                },
                app.theme.dim,
            )),
        ],
        None => vec![Line::from(id.to_string())],
    };
    frame.render_widget(Paragraph::new(head_lines), head);
    let height = usize::from(body.height);
    let lines = app.transcript.lines(body.width);
    let total = lines.len();
    let max_scroll = total.saturating_sub(height);
    app.scroll = app.scroll.min(max_scroll);
    let end = total - app.scroll;
    let start = end.saturating_sub(height);
    let visible: Vec<Line> = app.transcript.lines(body.width)[start..end].to_vec();
    frame.render_widget(Paragraph::new(visible), body);
}

fn draw_diff(frame: &mut Frame, app: &App, id: &str, area: Rect) {
    let t = &app.theme;
    let height = usize::from(area.height).saturating_sub(1);
    let lines: Vec<Line> = if app.diff.is_empty() {
        vec![Line::from("No changes.")]
    } else {
        app.diff
            .iter()
            .skip(app.diff_scroll)
            .take(height)
            .map(|l| {
                let style =
                    if l.starts_with("+++") || l.starts_with("---") || l.starts_with("diff ") {
                        t.bold
                    } else if l.starts_with('+') {
                        t.add
                    } else if l.starts_with('-') {
                        t.del
                    } else if l.starts_with("@@") {
                        t.busy
                    } else {
                        Style::default()
                    };
                Line::from(Span::styled(
                    truncate(&clean(l), usize::from(area.width)),
                    style,
                ))
            })
            .collect()
    };
    frame.render_widget(
        Paragraph::new(lines).block(
            Block::default()
                .borders(Borders::TOP)
                .title(format!(" diff of {id} ({} lines) ", app.diff.len())),
        ),
        area,
    );
}

/// A box of `width` × `height` in the middle of `area`.
fn centered(area: Rect, width: u16, height: u16) -> Rect {
    let width = width.min(area.width);
    let height = height.min(area.height);
    Rect {
        x: area.x + (area.width - width) / 2,
        y: area.y + (area.height - height) / 2,
        width,
        height,
    }
}

fn draw_overlay(frame: &mut Frame, app: &App) {
    let area = frame.area();
    let t = &app.theme;
    match &app.overlay {
        Overlay::None => {}
        Overlay::Help => {
            let text = HELP.lines().map(Line::from).collect::<Vec<_>>();
            let r = centered(area, 76, text.len() as u16 + 2);
            frame.render_widget(Clear, r);
            frame.render_widget(
                Paragraph::new(text).block(
                    Block::default()
                        .borders(Borders::ALL)
                        .title(" keys (any key closes) "),
                ),
                r,
            );
        }
        Overlay::Confirm(question, _) => {
            // A question may quote a repository's file: shown as text, a line at a time.
            let mut lines: Vec<Line> = question
                .lines()
                .map(|l| Line::from(crate::transcript::clean(l)))
                .collect();
            let width = question
                .lines()
                .map(|l| l.chars().count())
                .max()
                .unwrap_or(0);
            let height = lines.len() as u16 + 3;
            lines.push(Line::from(Span::styled("y yes · n no", t.dim)));
            let r = centered(area, (width as u16).saturating_add(4).max(30), height);
            frame.render_widget(Clear, r);
            frame.render_widget(
                Paragraph::new(lines)
                    .block(Block::default().borders(Borders::ALL).title(" confirm ")),
                r,
            );
        }
        Overlay::FollowUp(id, input) => {
            input_box(frame, &input.text, &format!(" follow-up to {id} "))
        }
        Overlay::Filter(input) => input_box(frame, &input.text, " filter "),
        Overlay::New(form) => {
            let r = centered(area, 72, if form.machines.is_empty() { 10 } else { 11 });
            frame.render_widget(Clear, r);
            let field = |n: usize, name: &str, value: String| {
                let style = if form.field == n {
                    t.selected
                } else {
                    Style::default()
                };
                Line::from(vec![
                    Span::styled(format!("{name:>10} "), t.bold),
                    Span::styled(value, style),
                ])
            };
            let mut lines = vec![
                field(0, "task", format!("{}▏", form.task.text)),
                field(
                    1,
                    "agent",
                    format!(
                        "‹ {} ›",
                        form.agents
                            .get(form.agent)
                            .map(String::as_str)
                            .unwrap_or("?")
                    ),
                ),
                field(
                    2,
                    "mode",
                    format!(
                        "‹ {} ›",
                        if form.isolated {
                            "isolated (own worktree)"
                        } else {
                            "workspace (this checkout)"
                        }
                    ),
                ),
                field(3, "approvals", format!("‹ {} ›", APPROVALS[form.approve])),
                field(
                    4,
                    "base",
                    format!(
                        "{}▏",
                        if form.base.text.is_empty() {
                            "HEAD"
                        } else {
                            &form.base.text
                        }
                    ),
                ),
            ];
            lines.push(field(
                5,
                "budget",
                format!(
                    "{}▏",
                    if form.budget.text.is_empty() && form.field != 5 {
                        "your config's (200k, $3)"
                    } else {
                        &form.budget.text
                    }
                ),
            ));
            if !form.machines.is_empty() {
                lines.push(field(6, "runs on", format!("‹ {} ›", form.runs_on())));
            }
            lines.push(Line::default());
            lines.push(Line::from(Span::styled(
                "Enter starts it in the background · Esc cancels",
                t.dim,
            )));
            frame.render_widget(
                Paragraph::new(lines).block(
                    Block::default()
                        .borders(Borders::ALL)
                        .title(" new session "),
                ),
                r,
            );
        }
    }
}

/// A one-line input box above the status line.
fn input_box(frame: &mut Frame, text: &str, title: &str) {
    let area = frame.area();
    let r = Rect {
        x: area.x,
        y: area.height.saturating_sub(5),
        width: area.width,
        height: 3.min(area.height),
    };
    frame.render_widget(Clear, r);
    frame.render_widget(
        Paragraph::new(format!("{text}▏")).block(
            Block::default()
                .borders(Borders::ALL)
                .title(title.to_string()),
        ),
        r,
    );
}

const HELP: &str = "\
 List                        Session
 ↑/↓ j/k  move               ↑/↓ PgUp/PgDn  scroll
 Enter    open               Tab            show tool details
 /        filter by text     Esc            back to the list
 t        cycle status       d              diff, colored, scrollable
 r        cycle repository
 Everywhere (on the selected or open session)
 n new session    f follow-up    a approve    A approve always
 x deny           c cancel       s stop       R resume
 p apply          m merge        z archive    o open in editor
 e open in the agent's own CLI (aside attach --native)   T aside attach
 q quit: sessions keep running";
