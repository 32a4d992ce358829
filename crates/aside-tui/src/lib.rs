//! The terminal Agents view (`aside` with no arguments, or `aside tui`): every session, live,
//! and everything the web view does, from the keyboard. Quitting it never stops a session.
//!
//! [`app`] holds the state and turns keys into commands, [`ui`] draws it, [`transcript`] turns
//! a session's events into lines; [`run`] loads data from the store (the sessions index, each
//! session's event log — never a host), carries the commands out through `aside_sessions`, and
//! rings the terminal when a session needs an answer or ends.

pub mod app;
pub mod run;
pub mod theme;
pub mod transcript;
pub mod ui;
