//! Talking to a host over its control socket (blocking, for the CLI).

use crate::protocol::{Envelope, Reply, Request, VERSION};
use aside_core::{Event, SessionId};
use aside_store::Layout;
use std::io::{BufRead as _, BufReader, Write as _};
use std::os::unix::net::UnixStream;

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
    let line = serde_json::to_string(&Envelope {
        v: VERSION,
        request,
    })
    .map_err(|e| ClientError::Io(e.into()))?;
    stream
        .write_all(format!("{line}\n").as_bytes())
        .map_err(ClientError::Io)?;
    Ok(stream)
}

/// Sends one request and waits for the host's answer: Ok with what the host wants the user to
/// know, if anything.
pub fn send(
    layout: &Layout,
    id: &SessionId,
    request: Request,
) -> Result<Option<String>, ClientError> {
    let stream = connect(layout, id, request)?;
    let mut line = String::new();
    BufReader::new(stream)
        .read_line(&mut line)
        .map_err(ClientError::Io)?;
    if line.trim().is_empty() {
        // The host closed the connection without an answer: it was on its way out.
        return Err(ClientError::Gone);
    }
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

/// Streams events after `since` to `on_event` until the host closes the stream or `on_event`
/// returns false.
pub fn subscribe(
    layout: &Layout,
    id: &SessionId,
    since: u64,
    mut on_event: impl FnMut(Event) -> bool,
) -> Result<(), ClientError> {
    let stream = connect(layout, id, Request::Subscribe { since })?;
    for line in BufReader::new(stream).lines() {
        let line = line.map_err(ClientError::Io)?;
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
