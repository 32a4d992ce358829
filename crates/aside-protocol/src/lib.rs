//! How clients talk to a session's host: the control socket protocol, its framing, and the one
//! client every view uses.
//!
//! One JSON request line per connection, answered by one JSON line, or, for `subscribe`, by a
//! stream of event lines. Every request carries the protocol version, so a client and a host of
//! different aside versions refuse each other clearly. Lines are read with a size limit
//! (`codec`). `client::follow` is how every reader follows a session: what is stored, then what
//! its host streams, across host restarts, missing nothing and showing nothing twice.
//!
//! Owns: request and reply types, framing, the client, the typed events, and what every view
//! shares about a conversation without rendering it: the reducer (`conversation`) and the
//! plain-text description of a tool call (`describe`). Must not: render for one view, or know
//! about agents.

pub mod client;
pub mod codec;
pub mod conversation;
pub mod describe;
pub mod events;

use aside_core::Event;
use serde::{Deserialize, Serialize};

/// The protocol version spoken on the socket.
pub const VERSION: u32 = 1;

/// What a client asks of a host.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(tag = "op", rename_all = "snake_case")]
pub enum Request {
    /// A follow-up: starts the next turn, or waits behind the current one.
    Prompt {
        /// The text.
        text: String,
        /// The client's id for this follow-up, so one sent again (its host died before it
        /// answered) is taken once.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        request: Option<String>,
    },
    /// Cancels the current turn.
    Cancel,
    /// Answers the oldest pending permission request.
    Answer {
        /// What the user chose.
        choice: Choice,
    },
    /// Streams events after `since`, then live ones.
    Subscribe {
        /// Last seq the client has.
        since: u64,
    },
    /// Stops the agent and the host now: the session keeps its status, or becomes
    /// `interrupted` (resumable) when a turn was running.
    Stop,
    /// Switches the agent's session mode: `plan` (its read-only planning mode) or `code` (the
    /// mode it started in), or a mode id the agent offers.
    SetMode {
        /// The mode.
        mode: String,
    },
}

/// A permission answer.
#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum Choice {
    /// allow_once.
    Allow,
    /// allow_always.
    AllowAlways,
    /// reject_once.
    Deny,
}

/// A request line: the version and the request.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Envelope {
    /// Protocol version.
    pub v: u32,
    /// The request.
    #[serde(flatten)]
    pub request: Request,
}

/// A line the host sends back.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(untagged)]
pub enum Reply {
    /// An event (subscriptions).
    Event {
        /// The event.
        event: Event,
    },
    /// The request was done, or failed with `error`.
    Done {
        /// Whether it worked.
        ok: bool,
        /// Why not.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        error: Option<String>,
        /// What the host wants the user to know about a request that worked (e.g. follow-ups
        /// a cancel dropped).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        message: Option<String>,
        /// The host is stopping and did not take the request: a new host should be started
        /// and the request sent again.
        #[serde(default, skip_serializing_if = "std::ops::Not::not")]
        gone: bool,
    },
}

impl Reply {
    /// A request that worked.
    pub fn ok(message: Option<String>) -> Reply {
        Reply::Done {
            ok: true,
            error: None,
            message,
            gone: false,
        }
    }

    /// A refused request, with the reason the user reads.
    pub fn refused(error: impl Into<String>) -> Reply {
        Reply::Done {
            ok: false,
            error: Some(error.into()),
            message: None,
            gone: false,
        }
    }

    /// The host is stopping and did not take the request.
    pub fn gone() -> Reply {
        Reply::Done {
            ok: false,
            error: Some("the session's host is stopping".into()),
            message: None,
            gone: true,
        }
    }
}
