//! How clients talk to a session's host: the control socket protocol, its framing, and the one
//! client every view uses.
//!
//! One JSON request line per connection, answered by one JSON line, or, for `subscribe`, by a
//! stream of event lines. Every request carries the protocol version, so a client and a host of
//! different aside versions refuse each other clearly. Lines are read with a size limit
//! (`codec`). `client::Follower` (async; `client::follow` blocking) is how every reader follows a
//! session: what is stored, then what its host streams, across host restarts, missing nothing
//! and showing nothing twice.
//!
//! Owns: request and reply types, framing, the client, the typed events, and what every view
//! shares about a conversation without rendering it: the reducer (`conversation`), the
//! plain-text description of a tool call (`describe`) and the hand-off of a conversation to an
//! agent (`handoff`). Must not: render for one view, or know
//! about agents.

pub mod client;
pub mod codec;
pub mod conversation;
pub mod describe;
pub mod events;
pub mod handoff;
pub mod usage;

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
    /// How a request ended.
    Done(Done),
}

/// How a request ended: one of three, never two at once. On the wire it is
/// `{"ok": bool, "error"?, "message"?, "gone"?}`, as every aside before it wrote it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(from = "DoneWire", into = "DoneWire")]
pub enum Done {
    /// It was done; `message` is what the host wants the user to know (e.g. follow-ups a
    /// cancel dropped).
    Ok {
        /// What to tell the user, if anything.
        message: Option<String>,
    },
    /// It was refused, with the reason the user reads.
    Refused {
        /// Why.
        error: String,
    },
    /// The host is stopping and did not take the request: a new host should be started and the
    /// request sent again.
    Gone,
}

#[derive(Serialize, Deserialize)]
struct DoneWire {
    ok: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    error: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    message: Option<String>,
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    gone: bool,
}

impl From<DoneWire> for Done {
    fn from(wire: DoneWire) -> Done {
        match wire {
            DoneWire {
                ok: true, message, ..
            } => Done::Ok { message },
            DoneWire { gone: true, .. } => Done::Gone,
            DoneWire { error, .. } => Done::Refused {
                error: error
                    .unwrap_or_else(|| "the host refused the request without a reason".into()),
            },
        }
    }
}

impl From<Done> for DoneWire {
    fn from(done: Done) -> DoneWire {
        let wire = |ok, error, message, gone| DoneWire {
            ok,
            error,
            message,
            gone,
        };
        match done {
            Done::Ok { message } => wire(true, None, message, false),
            Done::Refused { error } => wire(false, Some(error), None, false),
            Done::Gone => wire(
                false,
                Some("the session's host is stopping".into()),
                None,
                true,
            ),
        }
    }
}

impl Reply {
    /// A request that worked.
    pub fn ok(message: Option<String>) -> Reply {
        Reply::Done(Done::Ok { message })
    }

    /// A refused request, with the reason the user reads.
    pub fn refused(error: impl Into<String>) -> Reply {
        Reply::Done(Done::Refused {
            error: error.into(),
        })
    }

    /// The host is stopping and did not take the request.
    pub fn gone() -> Reply {
        Reply::Done(Done::Gone)
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn read(line: &str) -> Done {
        match serde_json::from_str::<Reply>(line).unwrap() {
            Reply::Done(done) => done,
            Reply::Event { .. } => unreachable!("{line} is not an event"),
        }
    }

    #[test]
    fn an_ending_is_one_of_three_and_reads_as_every_aside_wrote_it() {
        assert_eq!(read(r#"{"ok":true}"#), Done::Ok { message: None });
        assert_eq!(
            read(r#"{"ok":true,"message":"dropped 1"}"#),
            Done::Ok {
                message: Some("dropped 1".into())
            }
        );
        assert_eq!(
            read(r#"{"ok":false,"error":"no"}"#),
            Done::Refused { error: "no".into() }
        );
        assert_eq!(
            read(r#"{"ok":false}"#),
            Done::Refused {
                error: "the host refused the request without a reason".into()
            }
        );
        assert_eq!(
            read(r#"{"ok":false,"error":"the session's host is stopping","gone":true}"#),
            Done::Gone
        );
        for reply in [
            Reply::ok(Some("m".into())),
            Reply::refused("why"),
            Reply::gone(),
        ] {
            let Reply::Done(done) = &reply else {
                unreachable!()
            };
            assert_eq!(&read(&serde_json::to_string(&reply).unwrap()), done);
        }
        assert_eq!(
            serde_json::to_string(&Reply::gone()).unwrap(),
            r#"{"ok":false,"error":"the session's host is stopping","gone":true}"#
        );
    }
}
