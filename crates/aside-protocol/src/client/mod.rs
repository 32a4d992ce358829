//! Talking to a host over its control socket: [`send`] one request (blocking, for the CLI and
//! the views' actions), or follow a session's events ([`Follower`], async; [`follow`] blocking).

mod follow;

pub use follow::{follow, follow_until, Dedup, Flow, Follower, Step, Stopper};

use crate::codec::{encode, read_frame, MAX_REPLY};
use crate::{Done, Envelope, Reply, Request, VERSION};
use aside_core::SessionId;
use aside_store::Layout;
use std::io::{BufReader, Write as _};
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
    stream
        .write_all(&encode(&Envelope {
            v: VERSION,
            request,
        }))
        .map_err(ClientError::Io)?;
    Ok(stream)
}

async fn connect_async(
    layout: &Layout,
    id: &SessionId,
    request: Request,
) -> Result<tokio::net::UnixStream, ClientError> {
    use tokio::io::AsyncWriteExt as _;
    let mut stream = tokio::net::UnixStream::connect(layout.socket(id))
        .await
        .map_err(|_| ClientError::NoHost)?;
    stream
        .write_all(&encode(&Envelope {
            v: VERSION,
            request,
        }))
        .await
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
        Ok(Reply::Done(Done::Ok { message })) => Ok(message),
        Ok(Reply::Done(Done::Gone)) => Err(ClientError::Gone),
        Ok(Reply::Done(Done::Refused { error })) => Err(ClientError::Refused(error)),
        _ => Err(ClientError::Io(std::io::Error::other(format!(
            "the host answered something this aside does not understand ({}); are the host and the client the same aside version?",
            line.trim().chars().take(200).collect::<String>()
        )))),
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
}
