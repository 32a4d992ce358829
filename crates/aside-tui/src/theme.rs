//! Colors, or none: NO_COLOR (any value) keeps only bold, dim and reverse.

use ratatui::style::{Color, Modifier, Style};

#[derive(Debug, Clone, Copy, Default)]
pub struct Theme {
    pub user: Style,
    pub bold: Style,
    pub dim: Style,
    pub code: Style,
    pub good: Style,
    pub bad: Style,
    pub busy: Style,
    pub warn: Style,
    pub add: Style,
    pub del: Style,
    pub selected: Style,
    pub header: Style,
}

impl Theme {
    /// With colors unless NO_COLOR is set.
    pub fn from_env() -> Theme {
        if std::env::var_os("NO_COLOR").is_some_and(|v| !v.is_empty()) {
            Theme::plain()
        } else {
            Theme::colored()
        }
    }

    pub fn colored() -> Theme {
        let fg = |c| Style::default().fg(c);
        Theme {
            user: fg(Color::Cyan).add_modifier(Modifier::BOLD),
            bold: Style::default().add_modifier(Modifier::BOLD),
            dim: Style::default().add_modifier(Modifier::DIM),
            code: fg(Color::Yellow),
            good: fg(Color::Green),
            bad: fg(Color::Red),
            busy: fg(Color::Blue),
            warn: fg(Color::Yellow).add_modifier(Modifier::BOLD),
            add: fg(Color::Green),
            del: fg(Color::Red),
            selected: Style::default().add_modifier(Modifier::REVERSED),
            header: Style::default().add_modifier(Modifier::BOLD | Modifier::UNDERLINED),
        }
    }

    pub fn plain() -> Theme {
        let m = |m| Style::default().add_modifier(m);
        Theme {
            user: m(Modifier::BOLD),
            bold: m(Modifier::BOLD),
            dim: m(Modifier::DIM),
            code: Style::default(),
            good: Style::default(),
            bad: m(Modifier::BOLD),
            busy: Style::default(),
            warn: m(Modifier::BOLD),
            add: Style::default(),
            del: Style::default(),
            selected: m(Modifier::REVERSED),
            header: m(Modifier::BOLD | Modifier::UNDERLINED),
        }
    }
}
