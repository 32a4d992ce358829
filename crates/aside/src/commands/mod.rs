//! One module per command.

pub mod adopt;
pub mod agent;
pub mod apply;
pub mod approve;
pub mod attach;
pub mod cancel;
pub mod chat;
mod common;
pub mod diff;
pub mod doctor;
pub mod guard;
pub mod host;
mod live;
pub mod logs;
pub mod ls;
pub mod merge;
pub mod new;
pub mod open;
pub mod plan;
mod render;
pub mod resume;
pub mod rm;
pub mod send;
pub mod show;
pub mod stop;
pub mod tui;
pub mod ui;
