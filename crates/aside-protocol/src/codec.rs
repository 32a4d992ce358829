//! Framing on the control socket: one JSON value per line, with a size limit on what is read, so
//! a broken or hostile peer cannot make the other side buffer without end.

use serde::Serialize;
use std::io::BufRead;
use tokio::io::{AsyncBufRead, AsyncBufReadExt as _, AsyncReadExt as _};

/// Largest request line a host reads (1 MiB): a follow-up with a long pasted log fits.
pub const MAX_REQUEST: usize = 1 << 20;

/// Largest reply line a client reads (64 MiB): an event carrying a big tool output fits.
pub const MAX_REPLY: usize = 64 << 20;

/// Why a frame could not be read.
#[derive(Debug)]
pub enum FrameError {
    /// The line is longer than the limit.
    TooLong {
        /// The limit, in bytes.
        limit: usize,
    },
    /// The line is not UTF-8.
    NotText,
    /// The connection failed.
    Io(std::io::Error),
}

impl std::fmt::Display for FrameError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            FrameError::TooLong { limit } => {
                write!(f, "a message longer than {} KiB was refused", limit / 1024)
            }
            FrameError::NotText => f.write_str("a message that is not UTF-8 text was refused"),
            FrameError::Io(e) => write!(f, "{e}"),
        }
    }
}

impl std::error::Error for FrameError {}

fn finish(buf: Vec<u8>, limit: usize) -> Result<Option<String>, FrameError> {
    if buf.is_empty() {
        return Ok(None);
    }
    if buf.len() > limit && buf.last() != Some(&b'\n') {
        return Err(FrameError::TooLong { limit });
    }
    let text = String::from_utf8(buf).map_err(|_| FrameError::NotText)?;
    Ok(Some(text.trim_end_matches(['\n', '\r']).to_string()))
}

/// Reads one line of at most `limit` bytes (its newline not counted); None at the end of the
/// stream.
pub fn read_frame(reader: &mut impl BufRead, limit: usize) -> Result<Option<String>, FrameError> {
    let mut buf = Vec::new();
    std::io::Read::take(&mut *reader, limit as u64 + 1)
        .read_until(b'\n', &mut buf)
        .map_err(FrameError::Io)?;
    finish(buf, limit)
}

/// [`read_frame`] for async readers.
pub async fn read_frame_async(
    reader: &mut (impl AsyncBufRead + Unpin),
    limit: usize,
) -> Result<Option<String>, FrameError> {
    let mut buf = Vec::new();
    (&mut *reader)
        .take(limit as u64 + 1)
        .read_until(b'\n', &mut buf)
        .await
        .map_err(FrameError::Io)?;
    finish(buf, limit)
}

/// One value as a frame: its JSON and a newline.
pub fn encode(value: &impl Serialize) -> Vec<u8> {
    let mut line = serde_json::to_vec(value).unwrap_or_else(|_| b"null".to_vec());
    line.push(b'\n');
    line
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn lines_are_read_one_at_a_time_up_to_the_limit() {
        let mut input = std::io::Cursor::new(b"{\"a\":1}\n{\"b\":2}\nlast".to_vec());
        assert_eq!(
            read_frame(&mut input, 16).unwrap().as_deref(),
            Some("{\"a\":1}")
        );
        assert_eq!(
            read_frame(&mut input, 16).unwrap().as_deref(),
            Some("{\"b\":2}")
        );
        assert_eq!(read_frame(&mut input, 16).unwrap().as_deref(), Some("last"));
        assert_eq!(read_frame(&mut input, 16).unwrap(), None);
        let mut long = std::io::Cursor::new(vec![b'x'; 100]);
        let err = read_frame(&mut long, 16).unwrap_err();
        assert_eq!(err.to_string(), "a message longer than 0 KiB was refused");
        let mut exact = std::io::Cursor::new(b"0123456789abcdef\n".to_vec());
        assert_eq!(read_frame(&mut exact, 16).unwrap().unwrap().len(), 16);
        let mut binary = std::io::Cursor::new(vec![0xff, 0xfe, b'\n']);
        assert!(matches!(
            read_frame(&mut binary, 16),
            Err(FrameError::NotText)
        ));
    }

    #[tokio::test]
    async fn async_frames_have_the_same_limit() {
        let data = [vec![b'y'; 2 << 20], b"\n".to_vec()].concat();
        let mut reader = tokio::io::BufReader::new(&data[..]);
        assert!(matches!(
            read_frame_async(&mut reader, MAX_REQUEST).await,
            Err(FrameError::TooLong { limit: MAX_REQUEST })
        ));
        let mut ok = tokio::io::BufReader::new(&b"{\"op\":\"cancel\",\"v\":1}\n"[..]);
        assert_eq!(
            read_frame_async(&mut ok, MAX_REQUEST)
                .await
                .unwrap()
                .as_deref(),
            Some("{\"op\":\"cancel\",\"v\":1}")
        );
    }
}
