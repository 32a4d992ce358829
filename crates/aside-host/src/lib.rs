//! The per-session supervisor, `aside host <id>`, and what clients use to talk to it.
//!
//! Owns: the agent process (its own process group, killed whole), the ACP client connection,
//! the approval policy, the session's event log (the host is its only writer: events are stored
//! before they are broadcast), status changes, checkpoints, and the control socket.
//! Must not: render anything.

pub mod guard;
mod host;
pub mod liveness;

pub use host::{run, spawn};

/// The client↔host protocol and its client (in `aside-protocol`), under their old paths.
pub use aside_protocol::{self as protocol, client};
