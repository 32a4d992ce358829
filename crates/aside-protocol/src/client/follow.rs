//! Following a session: what is stored, then what its host streams, across host restarts. One
//! async [`Follower`] does it (the web view awaits it; nothing blocks a thread per page);
//! [`follow`] and [`follow_until`] run it to the end for the CLI and the terminal view's thread.

use super::{connect_async, ClientError};
use crate::codec::{read_frame_async, MAX_REPLY};
use crate::{Done, Reply, Request};
use aside_core::{Event, SessionId};
use aside_store::{EventLog, Layout};
use std::collections::VecDeque;
use std::time::Duration;
use tokio::io::BufReader;
use tokio::net::UnixStream;

/// One step of following a session.
#[derive(Debug)]
pub enum Step {
    /// The next event, in order.
    Event(Event),
    /// No host runs for the session now (it finished, stopped or died); following goes on, if
    /// the reader wants, when one runs again.
    NoHost,
}

/// Whether to go on following.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Flow {
    /// Go on.
    Continue,
    /// Stop here.
    Stop,
}

/// How often a follower without a host looks for a new one.
const LOOK_AGAIN: Duration = Duration::from_millis(200);

/// How many stored events are read from the log at a time (a long log is read in windows, so
/// the first ones are given at once and memory stays small).
const BATCH: usize = 1000;

/// What a follower without a host watches: whether a host's socket is there, and the event
/// log's files (size and time: every stored event changes the write-ahead one).
#[derive(PartialEq)]
struct Signs {
    socket: bool,
    log: [Option<(u64, std::time::SystemTime)>; 2],
}

fn signs(layout: &Layout, id: &SessionId) -> Signs {
    let db = layout.events(id);
    let stat = |path: &std::path::Path| {
        std::fs::metadata(path)
            .ok()
            .map(|m| (m.len(), m.modified().unwrap_or(std::time::UNIX_EPOCH)))
    };
    Signs {
        socket: layout.socket(id).exists(),
        log: [stat(&db), stat(&db.with_extension("db-wal"))],
    }
}

/// Streamed text a follower has given as pieces of a row not stored yet.
struct Streaming {
    seq: u64,
    next: u32,
    text: String,
}

/// What a follower hands on of each event it receives: stored events once, in order; pieces of
/// streamed text as they come, when it has every piece of their row from the first; and a stored
/// row whose pieces it gave with only the text they did not cover (empty, usually), so a reader
/// still learns that row's seq. A follower of a session on another machine keeps one across
/// reconnections, so nothing is given twice (a host never sends pieces again: a stream joined
/// in the middle of a row skips its pieces; a row's piece 0 again is a new host's, started over).
pub struct Dedup {
    last: u64,
    streaming: Option<Streaming>,
}

fn chunk_text(event: &Event) -> Option<&str> {
    event.data["content"]["text"].as_str()
}

impl Dedup {
    /// Hands on what comes after stored event `since`.
    pub fn new(since: u64) -> Dedup {
        Dedup {
            last: since,
            streaming: None,
        }
    }

    /// The last stored event handed on.
    pub fn last(&self) -> u64 {
        self.last
    }

    /// The event to hand on for `event`, if any.
    pub fn pass(&mut self, mut event: Event) -> Option<Event> {
        if event.seq <= self.last {
            return None;
        }
        if let Some(piece) = event.piece {
            let text = chunk_text(&event)?.to_string();
            match &mut self.streaming {
                Some(s) if s.seq == event.seq && s.next == piece => {
                    s.next += 1;
                    s.text.push_str(&text);
                }
                _ if piece == 0 => {
                    self.streaming = Some(Streaming {
                        seq: event.seq,
                        next: 1,
                        text,
                    });
                }
                // Joined in the middle of a row, or missed a piece: the stored row tells it.
                _ => return None,
            }
            return Some(event);
        }
        self.last = event.seq;
        let Some(given) = self.streaming.take().filter(|s| s.seq == event.seq) else {
            return Some(event);
        };
        let rest = chunk_text(&event)
            .and_then(|stored| stored.strip_prefix(given.text.as_str()))
            .map(str::to_string);
        if let Some(rest) = rest {
            event.data["content"]["text"] = serde_json::Value::String(rest);
        }
        Some(event)
    }
}

/// Where a follower is.
enum Phase {
    /// Looking whether the log or the socket changed (after `wait`).
    Look { wait: bool },
    /// Reading the stored events after the last one given.
    Stored,
    /// Reading what the host streams.
    Live(BufReader<UnixStream>),
}

/// Follows the events of one session after `since`: what is stored first, then what its host
/// streams, across host restarts (a follow-up starts a new host). Every event is given once, in
/// order: the way every reader (logs, attach, the terminal view, the web view) follows a
/// session. Streamed text comes as it streams, as pieces (`Event::piece`) of the row it is
/// stored in later; that row then comes with only the text the pieces did not give (a reader
/// that keys events by seq takes pieces beside it). When no host runs, [`Follower::next`] says
/// [`Step::NoHost`] now and then, and goes on when one runs again. Dropping it stops it at once.
pub struct Follower {
    layout: Layout,
    id: SessionId,
    dedup: Dedup,
    read: VecDeque<Event>,
    phase: Phase,
    looked: Option<Signs>,
}

impl Follower {
    /// A follower of session `id`'s events after `since`.
    pub fn new(layout: &Layout, id: &SessionId, since: u64) -> Follower {
        Follower {
            layout: layout.clone(),
            id: id.clone(),
            dedup: Dedup::new(since),
            read: VecDeque::new(),
            phase: Phase::Look { wait: false },
            looked: None,
        }
    }

    /// The next step. A host that refuses the subscription ends the follow with its reason.
    pub async fn next(&mut self) -> Result<Step, ClientError> {
        loop {
            while let Some(event) = self.read.pop_front() {
                if let Some(event) = self.dedup.pass(event) {
                    return Ok(Step::Event(event));
                }
            }
            match &mut self.phase {
                Phase::Look { wait } => {
                    if *wait {
                        tokio::time::sleep(LOOK_AGAIN).await;
                    }
                    // While no host runs, the log and the socket are only looked at (two stats):
                    // they are read again when one of them changed.
                    let now = signs(&self.layout, &self.id);
                    if self.looked.as_ref() == Some(&now) {
                        self.phase = Phase::Look { wait: true };
                        return Ok(Step::NoHost);
                    }
                    self.looked = Some(now);
                    self.phase = Phase::Stored;
                }
                Phase::Stored => {
                    let (layout, id, after) =
                        (self.layout.clone(), self.id.clone(), self.dedup.last);
                    let batch = tokio::task::spawn_blocking(move || {
                        EventLog::open(&layout, &id).and_then(|log| log.window(after, BATCH))
                    })
                    .await
                    .map_err(|e| ClientError::Io(std::io::Error::other(e.to_string())))?
                    .map_err(|e| ClientError::Io(std::io::Error::other(e.to_string())))?;
                    if !batch.is_empty() {
                        self.read.extend(batch);
                        continue;
                    }
                    // Pieces from an earlier host do not continue under this one (a killed
                    // host's row may be streamed again, from piece 0, with the same seq).
                    self.dedup.streaming = None;
                    let request = Request::Subscribe {
                        since: self.dedup.last,
                    };
                    match connect_async(&self.layout, &self.id, request).await {
                        Ok(stream) => self.phase = Phase::Live(BufReader::new(stream)),
                        Err(_) => {
                            self.phase = Phase::Look { wait: true };
                            return Ok(Step::NoHost);
                        }
                    }
                }
                Phase::Live(reader) => match read_frame_async(reader, MAX_REPLY).await {
                    Ok(Some(line)) => match serde_json::from_str::<Reply>(&line) {
                        Ok(Reply::Event { event }) => self.read.push_back(event),
                        Ok(Reply::Done(Done::Refused { error })) => {
                            return Err(ClientError::Refused(error))
                        }
                        _ => {}
                    },
                    // The host closed the stream (it is stopping) or the socket broke.
                    Ok(None) | Err(_) => {
                        self.phase = Phase::Look { wait: true };
                        return Ok(Step::NoHost);
                    }
                },
            }
        }
    }
}

/// Ends a [`follow_until`] from another thread at once, even while it waits for the host's next
/// event (no thread or connection is held until the session's next event).
#[derive(Default)]
pub struct Stopper {
    stopped: std::sync::atomic::AtomicBool,
    wake: tokio::sync::Notify,
}

impl Stopper {
    /// Stops the follow.
    pub fn stop(&self) {
        self.stopped
            .store(true, std::sync::atomic::Ordering::SeqCst);
        self.wake.notify_one();
    }

    /// Whether it was stopped.
    pub fn stopped(&self) -> bool {
        self.stopped.load(std::sync::atomic::Ordering::SeqCst)
    }

    /// Returns once it is stopped (for one waiter at a time).
    pub async fn wait(&self) {
        while !self.stopped() {
            self.wake.notified().await;
        }
    }
}

/// Follows session `id` after `since` (see [`Follower`]), giving each step to `on` until it says
/// stop; blocking, for the CLI.
pub fn follow(
    layout: &Layout,
    id: &SessionId,
    since: u64,
    on: impl FnMut(Step) -> Flow,
) -> Result<(), ClientError> {
    follow_until(layout, id, since, &Stopper::default(), on)
}

/// [`follow`] that `stopper` can end from another thread, at once.
pub fn follow_until(
    layout: &Layout,
    id: &SessionId,
    since: u64,
    stopper: &Stopper,
    mut on: impl FnMut(Step) -> Flow,
) -> Result<(), ClientError> {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(ClientError::Io)?;
    let mut follower = Follower::new(layout, id, since);
    runtime.block_on(async {
        loop {
            if stopper.stopped() {
                return Ok(());
            }
            let step = tokio::select! {
                step = follower.next() => step?,
                () = stopper.wake.notified() => return Ok(()),
            };
            if on(step) == Flow::Stop {
                return Ok(());
            }
        }
    })
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn chunk(seq: u64, piece: Option<u32>, text: &str) -> Event {
        Event {
            seq,
            ts: String::new(),
            kind: "agent_message_chunk".into(),
            data: serde_json::json!({"content": {"type": "text", "text": text}}),
            piece,
        }
    }

    fn texts(dedup: &mut Dedup, events: Vec<Event>) -> Vec<(u64, Option<u32>, String)> {
        events
            .into_iter()
            .filter_map(|e| dedup.pass(e))
            .map(|e| (e.seq, e.piece, chunk_text(&e).unwrap().to_string()))
            .collect()
    }

    #[test]
    fn streamed_pieces_are_given_once_and_their_row_is_not_repeated() {
        let mut d = Dedup {
            last: 4,
            streaming: None,
        };
        let got = texts(
            &mut d,
            vec![
                chunk(4, None, "old"),
                chunk(5, Some(0), "Hel"),
                chunk(5, Some(1), "lo"),
                chunk(5, None, "Hello"),
                chunk(6, Some(0), "a"),
                chunk(6, None, "ab"),
            ],
        );
        assert_eq!(
            got,
            [
                (5, Some(0), "Hel".to_string()),
                (5, Some(1), "lo".to_string()),
                // The stored row: nothing the pieces did not say.
                (5, None, String::new()),
                (6, Some(0), "a".to_string()),
                // The row had more than the pieces that came: only the rest.
                (6, None, "b".to_string()),
            ]
        );
        // Joined in the middle of a row: its pieces wait for the stored row.
        let mut late = Dedup {
            last: 0,
            streaming: None,
        };
        let got = texts(
            &mut late,
            vec![
                chunk(1, Some(3), "lo"),
                chunk(1, Some(4), "!"),
                chunk(1, None, "Hello!"),
            ],
        );
        assert_eq!(got, [(1, None, "Hello!".to_string())]);
    }
}
