//! Reading a model's streamed reply: the body's bytes as SSE events (cut to a bounded size, a
//! byte-order mark dropped), each parsed for its provider into deltas and, at the end, the
//! whole reply.

use super::{anthropic, openai, Attempt, ChatReply, ModelError, OnDelta, RetryError};
use aside_core::ProviderKind;
use eventsource_stream::{EventStreamError, Eventsource};
use futures::Stream;
use futures::StreamExt;
use std::time::Duration;

enum Parser {
    Openai(openai::StreamState),
    Anthropic(anthropic::StreamState),
}

/// Reads one streamed reply from the body of a successful response: SSE events parsed for
/// `provider`. `timeout` bounds the wait for each event. Kept apart from the HTTP call so that
/// any body can be fed to it.
pub(super) async fn read_reply<S, B, E>(
    provider: ProviderKind,
    url: &str,
    body: S,
    timeout: Duration,
    on_delta: &mut OnDelta<'_>,
) -> Result<ChatReply, Attempt>
where
    S: Stream<Item = Result<B, E>>,
    B: AsRef<[u8]>,
    E: std::fmt::Display,
{
    let mut events = std::pin::pin!(sse_body(body).eventsource());
    let mut parser = match provider {
        ProviderKind::Openai => Parser::Openai(openai::StreamState::default()),
        ProviderKind::Anthropic => Parser::Anthropic(anthropic::StreamState::default()),
    };
    let broken = |reason: String| ModelError::Stream {
        url: url.to_string(),
        reason,
    };
    loop {
        let next = match tokio::time::timeout(timeout, events.next()).await {
            Err(_) => {
                return Err(Attempt::Fatal(ModelError::Timeout {
                    url: url.to_string(),
                    secs: timeout.as_secs(),
                }))
            }
            Ok(next) => next,
        };
        let event = match next {
            None => break,
            Some(Ok(event)) => event,
            Some(Err(EventStreamError::Transport(BodyError::Transport(e)))) => {
                return Err(Attempt::Retry {
                    error: RetryError::Transport(format!(
                        "stream interrupted: Transport error: {e}"
                    )),
                    after: None,
                })
            }
            // What the endpoint sent cannot be read: asking again would not help.
            Some(Err(EventStreamError::Transport(BodyError::Utf8 { at }))) => {
                return Err(Attempt::Fatal(broken(format!(
                    "the body is not valid UTF-8 (at byte {at})"
                ))))
            }
            Some(Err(e)) => return Err(Attempt::Fatal(broken(e.to_string()))),
        };
        let done = match &mut parser {
            Parser::Openai(state) => state.feed(&event.data, on_delta),
            Parser::Anthropic(state) => state.feed(&event.event, &event.data, on_delta),
        }
        .map_err(|reason| Attempt::Fatal(broken(reason)))?;
        if done {
            break;
        }
    }
    match parser {
        Parser::Openai(state) => state.finish(),
        Parser::Anthropic(state) => state.finish(),
    }
    .map_err(|reason| Attempt::Retry {
        error: RetryError::Model(broken(reason)),
        after: None,
    })
}

/// Reads a whole streamed reply from `body` as [`ModelClient::chat`] would on its last attempt,
/// without the network: for tests of what endpoints may send.
#[cfg(test)]
pub(crate) async fn read_stream<S, B, E>(
    provider: ProviderKind,
    url: &str,
    body: S,
    on_delta: &mut OnDelta<'_>,
) -> Result<ChatReply, ModelError>
where
    S: Stream<Item = Result<B, E>>,
    B: AsRef<[u8]>,
    E: std::fmt::Display,
{
    match read_reply(provider, url, body, Duration::from_secs(5), on_delta).await {
        Ok(reply) => Ok(reply),
        Err(Attempt::Fatal(e))
        | Err(Attempt::Retry {
            error: RetryError::Model(e),
            ..
        }) => Err(e),
        Err(Attempt::Retry {
            error: RetryError::Transport(reason),
            ..
        }) => Err(ModelError::Unreachable {
            url: url.to_string(),
            attempts: 1,
            reason,
        }),
    }
}

/// Why a response body could not be passed on to the SSE parser.
#[derive(Debug)]
enum BodyError<E> {
    /// The connection failed.
    Transport(E),
    /// The bytes are not UTF-8.
    Utf8 {
        /// Offset of the first bad byte in the body.
        at: usize,
    },
}

impl<E: std::fmt::Display> std::fmt::Display for BodyError<E> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            BodyError::Transport(e) => e.fmt(f),
            BodyError::Utf8 { at } => write!(f, "invalid UTF-8 at byte {at}"),
        }
    }
}

const BOM: &[u8] = b"\xEF\xBB\xBF";

/// Most bytes of whole lines passed to the SSE parser at once (a longer line goes whole).
const SSE_PIECE: usize = 8 * 1024;

/// A response body made safe for eventsource-stream (0.2.3), passed on as whole lines of UTF-8.
/// Its parser must not see:
/// - a byte order mark at the start: it drops the first *byte* of that three-byte character and
///   panics. The mark is removed here, as the SSE spec says, and a line feed goes first (an
///   empty line at the start of a stream is a no-op) so that it never sees one there;
/// - bytes that are not UTF-8: it would buffer the rest of the body without a word and fail only
///   at its end. They are an error here, once the lines before them are passed on;
/// - a line in many pieces, or many lines at once: it rescans its whole buffer for each piece
///   and copies the rest of it for each line, which is quadratic. Whole lines, a few KiB at a
///   time, keep it linear;
/// - a body ending in a lone CR: it waits for a LF that never comes and loses the last event.
fn sse_body<S, B, E>(body: S) -> impl Stream<Item = Result<Vec<u8>, BodyError<E>>>
where
    S: Stream<Item = Result<B, E>>,
    B: AsRef<[u8]>,
{
    struct State<S> {
        body: std::pin::Pin<Box<futures::stream::Fuse<S>>>,
        /// Received, not passed on yet.
        pending: Vec<u8>,
        /// How much of `pending` is known to hold no line end.
        scanned: usize,
        /// Whether a leading BOM was dealt with.
        bom_checked: bool,
        /// Whether anything was passed on yet.
        started: bool,
        /// The last byte passed on.
        last: u8,
        /// Bytes of the body dealt with so far.
        offset: usize,
        /// The body has ended.
        ended: bool,
        /// Where the body stopped being UTF-8: reported once what came before is passed on.
        bad_byte: Option<usize>,
        /// Nothing more to pass on.
        finished: bool,
    }
    impl<S> State<S> {
        /// The next piece to pass on, if one is ready.
        fn piece(&mut self) -> Option<Vec<u8>> {
            if !self.bom_checked {
                let maybe_bom = self.pending.len() < BOM.len() && BOM.starts_with(&self.pending);
                if maybe_bom && !self.ended {
                    return None;
                }
                if self.pending.starts_with(BOM) {
                    self.pending.drain(..BOM.len());
                    self.offset += BOM.len();
                }
                self.bom_checked = true;
            }
            // Whole lines, up to SSE_PIECE bytes of them (or one longer line).
            let mut cut = None;
            let mut from = self.scanned;
            while let Some(p) = self.pending[from..]
                .iter()
                .position(|b| *b == b'\n' || *b == b'\r')
            {
                from += p + 1;
                cut = Some(from);
                if from >= SSE_PIECE {
                    break;
                }
            }
            let cut = match cut {
                // What is left after the cut is scanned again, once.
                Some(cut) => {
                    self.scanned = 0;
                    cut
                }
                None if self.ended => {
                    self.scanned = 0;
                    self.pending.len()
                }
                None => {
                    self.scanned = self.pending.len();
                    return None;
                }
            };
            let valid = match std::str::from_utf8(&self.pending[..cut]) {
                Ok(_) => cut,
                Err(e) => {
                    self.bad_byte = Some(self.offset + e.valid_up_to());
                    e.valid_up_to()
                }
            };
            let mut out = Vec::with_capacity(valid + 1);
            if !self.started {
                self.started = true;
                out.push(b'\n');
            }
            out.extend(self.pending.drain(..valid));
            self.offset += valid;
            // Nothing more comes after a CR at the very end, or before a bad byte: it is a whole
            // line end, which the parser only knows when a LF follows.
            let nothing_follows = self.bad_byte.is_some() || self.ended && self.pending.is_empty();
            if nothing_follows && out.last().copied().unwrap_or(self.last) == b'\r' {
                out.push(b'\n');
            }
            let last = *out.last()?;
            self.last = last;
            Some(out)
        }
    }
    let state = State {
        body: Box::pin(body.fuse()),
        pending: Vec::new(),
        scanned: 0,
        bom_checked: false,
        started: false,
        last: b'\n',
        offset: 0,
        ended: false,
        bad_byte: None,
        finished: false,
    };
    futures::stream::unfold(state, |mut state| async move {
        loop {
            if state.finished {
                return None;
            }
            if let Some(at) = state.bad_byte {
                state.finished = true;
                return Some((Err(BodyError::Utf8 { at }), state));
            }
            if let Some(piece) = state.piece() {
                return Some((Ok(piece), state));
            }
            if state.ended {
                return None;
            }
            match state.body.next().await {
                Some(Ok(bytes)) => state.pending.extend_from_slice(bytes.as_ref()),
                Some(Err(e)) => return Some((Err(BodyError::Transport(e)), state)),
                None => state.ended = true,
            }
        }
    })
}
