//! Talking to a host over its control socket (blocking: the CLI calls it directly, the web view
//! from a blocking task).

use crate::codec::{encode, read_frame, MAX_REPLY};
use crate::{Envelope, Reply, Request, VERSION};
use aside_core::{Event, SessionId};
use aside_store::{EventLog, Layout};
use std::io::{BufReader, Write as _};
use std::os::unix::net::UnixStream;
use std::time::Duration;

/// Why a request to a host failed.
#[derive(Debug)]
pub enum ClientError {
    /// No host runs for the session.
    NoHost,
    /// The host refused the request, with its reason.
    Refused(String),
    /// The host was stopping (idle, or told to) and did not take the request: start a new host
    /// and send it again.
    Gone,
    /// The socket broke.
    Io(std::io::Error),
}

impl std::fmt::Display for ClientError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ClientError::NoHost => f.write_str("no host is running for this session"),
            ClientError::Refused(reason) => f.write_str(reason),
            ClientError::Gone => {
                f.write_str("the session's host stopped before it took the request; send it again")
            }
            ClientError::Io(e) => write!(f, "lost the connection to the session's host: {e}"),
        }
    }
}

impl std::error::Error for ClientError {}

fn connect(layout: &Layout, id: &SessionId, request: Request) -> Result<UnixStream, ClientError> {
    let mut stream = UnixStream::connect(layout.socket(id)).map_err(|_| ClientError::NoHost)?;
    stream
        .write_all(&encode(&Envelope {
            v: VERSION,
            request,
        }))
        .map_err(ClientError::Io)?;
    Ok(stream)
}

fn frame_error(e: crate::codec::FrameError) -> ClientError {
    match e {
        crate::codec::FrameError::Io(e) => ClientError::Io(e),
        other => ClientError::Io(std::io::Error::other(other.to_string())),
    }
}

/// Sends one request and waits for the host's answer: Ok with what the host wants the user to
/// know, if anything.
pub fn send(
    layout: &Layout,
    id: &SessionId,
    request: Request,
) -> Result<Option<String>, ClientError> {
    let stream = connect(layout, id, request)?;
    let Some(line) = read_frame(&mut BufReader::new(stream), MAX_REPLY).map_err(frame_error)?
    else {
        // The host closed the connection without an answer: it was on its way out.
        return Err(ClientError::Gone);
    };
    match serde_json::from_str::<Reply>(&line) {
        Ok(Reply::Done {
            ok: true, message, ..
        }) => Ok(message),
        Ok(Reply::Done { gone: true, .. }) => Err(ClientError::Gone),
        Ok(Reply::Done { error, .. }) => Err(ClientError::Refused(
            error.unwrap_or_else(|| "the host refused the request without a reason".into()),
        )),
        _ => Err(ClientError::Io(std::io::Error::other(format!(
            "the host answered something this aside does not understand ({}); are the host and the client the same aside version?",
            line.trim().chars().take(200).collect::<String>()
        )))),
    }
}

/// Streams events after `since` from the session's host (stored ones first, then live ones) to
/// `on_event` until the host closes the stream or `on_event` returns false.
pub fn subscribe(
    layout: &Layout,
    id: &SessionId,
    since: u64,
    on_event: impl FnMut(Event) -> bool,
) -> Result<(), ClientError> {
    subscribe_until(layout, id, since, &Stopper::default(), on_event)
}

/// Ends a [`follow_until`] from another thread at once, even while it waits for the host's next
/// event: its connection to the host is shut down (no thread or connection is held until the
/// session's next event).
#[derive(Default)]
pub struct Stopper {
    stopped: std::sync::atomic::AtomicBool,
    current: std::sync::Mutex<Option<UnixStream>>,
}

impl Stopper {
    /// Stops the follow.
    pub fn stop(&self) {
        self.stopped
            .store(true, std::sync::atomic::Ordering::SeqCst);
        if let Ok(current) = self.current.lock() {
            if let Some(stream) = current.as_ref() {
                let _ = stream.shutdown(std::net::Shutdown::Both);
            }
        }
    }

    /// Whether it was stopped.
    pub fn stopped(&self) -> bool {
        self.stopped.load(std::sync::atomic::Ordering::SeqCst)
    }

    /// Remembers the connection a stop shuts down; false when already stopped.
    fn hold(&self, stream: &UnixStream) -> bool {
        if let (Ok(mut current), Ok(clone)) = (self.current.lock(), stream.try_clone()) {
            *current = Some(clone);
        }
        !self.stopped()
    }
}

fn subscribe_until(
    layout: &Layout,
    id: &SessionId,
    since: u64,
    stopper: &Stopper,
    mut on_event: impl FnMut(Event) -> bool,
) -> Result<(), ClientError> {
    let stream = connect(layout, id, Request::Subscribe { since })?;
    if !stopper.hold(&stream) {
        return Ok(());
    }
    let mut reader = BufReader::new(stream);
    while let Some(line) = read_frame(&mut reader, MAX_REPLY).map_err(frame_error)? {
        let keep_going = match serde_json::from_str::<Reply>(&line) {
            Ok(Reply::Event { event }) => on_event(event),
            Ok(Reply::Done {
                ok: false, error, ..
            }) => return Err(ClientError::Refused(error.unwrap_or_default())),
            _ => true,
        };
        if !keep_going {
            return Ok(());
        }
    }
    Ok(())
}

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
/// still learns that row's seq.
struct Dedup {
    last: u64,
    streaming: Option<Streaming>,
}

fn chunk_text(event: &Event) -> Option<&str> {
    event.data["content"]["text"].as_str()
}

impl Dedup {
    fn pass(&mut self, mut event: Event) -> Option<Event> {
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

/// Follows the events of session `id` after `since`: what is stored first, then what its host
/// streams, across host restarts (a follow-up starts a new host). When no host runs, `on` gets
/// [`Step::NoHost`] and, unless it says stop, following goes on shortly. Every event is given
/// once, in order: the way every reader (logs, attach, the web view) follows a session. Streamed
/// text comes as it streams, as pieces (`Event::piece`) of the row it is stored in later; that
/// row then comes with only the text the pieces did not give (a reader that keys events by seq
/// takes pieces beside it).
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
    let mut dedup = Dedup {
        last: since,
        streaming: None,
    };
    // While no host runs, the log and the socket are only looked at (two stats): they are read
    // again when one of them changed.
    let mut looked: Option<Signs> = None;
    loop {
        if stopper.stopped() {
            return Ok(());
        }
        let now = signs(layout, id);
        if looked.as_ref() == Some(&now) {
            if on(Step::NoHost) == Flow::Stop {
                return Ok(());
            }
            std::thread::sleep(LOOK_AGAIN);
            continue;
        }
        looked = Some(now);
        let mut stopped = false;
        EventLog::open(layout, id)
            .and_then(|log| {
                log.each_since(dedup.last, |event| {
                    if let Some(event) = dedup.pass(event) {
                        stopped = on(Step::Event(event)) == Flow::Stop;
                    }
                    !stopped
                })
            })
            .map_err(|e| ClientError::Io(std::io::Error::other(e.to_string())))?;
        if stopped {
            return Ok(());
        }
        // Pieces from an earlier host do not continue under this one (a killed host's row may
        // be streamed again, from piece 0, with the same seq).
        dedup.streaming = None;
        let streamed = subscribe_until(layout, id, dedup.last, stopper, |event| {
            if let Some(event) = dedup.pass(event) {
                stopped = on(Step::Event(event)) == Flow::Stop;
            }
            !stopped
        });
        if stopped {
            return Ok(());
        }
        if let Err(ClientError::Refused(reason)) = streamed {
            return Err(ClientError::Refused(reason));
        }
        if on(Step::NoHost) == Flow::Stop {
            return Ok(());
        }
        std::thread::sleep(LOOK_AGAIN);
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use std::io::BufRead as _;
    use std::os::unix::net::UnixListener;

    /// A host stand-in that reads one request and answers `answer` (nothing: closes).
    fn host_answering(answer: &'static [u8]) -> (Layout, SessionId, std::path::PathBuf) {
        let home = std::env::temp_dir().join(format!(
            "aside-client-{}-{}",
            std::process::id(),
            SessionId::random()
        ));
        let layout = Layout::new(&home);
        layout.create_dirs().unwrap();
        let id = SessionId::random();
        let listener = UnixListener::bind(layout.socket(&id)).unwrap();
        std::thread::spawn(move || {
            let (stream, _) = listener.accept().unwrap();
            let mut line = String::new();
            BufReader::new(&stream).read_line(&mut line).unwrap();
            (&stream).write_all(answer).unwrap();
        });
        (layout, id, home)
    }

    #[test]
    fn every_failure_says_what_happened() {
        let (layout, id, home) = host_answering(b"");
        let err = send(&layout, &id, Request::Cancel).unwrap_err();
        assert!(matches!(err, ClientError::Gone));
        assert_eq!(
            err.to_string(),
            "the session's host stopped before it took the request; send it again"
        );
        std::fs::remove_dir_all(home).unwrap();

        let (layout, id, home) = host_answering(b"{\"ok\":false}\n");
        let err = send(&layout, &id, Request::Cancel).unwrap_err();
        assert_eq!(
            err.to_string(),
            "the host refused the request without a reason"
        );
        std::fs::remove_dir_all(home).unwrap();

        let (layout, id, home) = host_answering(b"<html>\n");
        let err = send(&layout, &id, Request::Cancel).unwrap_err();
        assert_eq!(
            err.to_string(),
            "lost the connection to the session's host: the host answered something this aside does not understand (<html>); are the host and the client the same aside version?"
        );
        std::fs::remove_dir_all(home).unwrap();

        let (layout, id, home) =
            host_answering(b"{\"ok\":true,\"message\":\"dropped 1 queued follow-up\"}\n");
        assert_eq!(
            send(&layout, &id, Request::Cancel).unwrap().as_deref(),
            Some("dropped 1 queued follow-up")
        );
        std::fs::remove_dir_all(&home).unwrap();
        let layout = Layout::new(&home);
        let err = send(&layout, &id, Request::Cancel).unwrap_err();
        assert_eq!(err.to_string(), "no host is running for this session");
    }

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
