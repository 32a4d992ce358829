//! One module per command.

pub mod agent;
