//! The control socket: one request per connection, answered by one reply line, or, for
//! `subscribe`, by the stored events after `since` and then the live ones.

use crate::protocol::codec::{encode, read_frame_async, MAX_REQUEST};
use crate::protocol::{Envelope, Reply, Request, VERSION};
use aside_core::{Event, SessionId};
use aside_store::{EventLog, Layout};
use tokio::io::{AsyncWriteExt, BufReader};
use tokio::sync::{broadcast, mpsc, oneshot};

/// A request from a socket connection, with where to send the answer.
pub(crate) struct Control {
    pub(crate) request: Request,
    pub(crate) reply: oneshot::Sender<Reply>,
}

pub(crate) async fn accept_loop(
    listener: tokio::net::UnixListener,
    ctl: mpsc::Sender<Control>,
    bus: broadcast::Sender<Event>,
    layout: Layout,
    id: SessionId,
) {
    while let Ok((stream, _)) = listener.accept().await {
        let ctl = ctl.clone();
        let bus = bus.clone();
        let layout = layout.clone();
        let id = id.clone();
        tokio::spawn(async move {
            if let Err(e) = serve_connection(stream, ctl, bus, layout, id).await {
                tracing::debug!("control connection ended: {e}");
            }
        });
    }
}

async fn write_reply(
    stream: &mut (impl AsyncWriteExt + Unpin),
    reply: &Reply,
) -> std::io::Result<()> {
    stream.write_all(&encode(reply)).await
}

async fn serve_connection(
    stream: tokio::net::UnixStream,
    ctl: mpsc::Sender<Control>,
    bus: broadcast::Sender<Event>,
    layout: Layout,
    id: SessionId,
) -> anyhow::Result<()> {
    let (read, mut write) = stream.into_split();
    let mut reader = BufReader::new(read);
    let line = match read_frame_async(&mut reader, MAX_REQUEST).await {
        Ok(Some(line)) => line,
        Ok(None) => return Ok(()),
        Err(e) => {
            let reply = Reply::refused(format!("invalid request: {e}"));
            return Ok(write_reply(&mut write, &reply).await?);
        }
    };
    let envelope: Envelope = match serde_json::from_str(&line) {
        Ok(e) => e,
        Err(e) => {
            let reply = Reply::refused(format!("invalid request: {e}"));
            return Ok(write_reply(&mut write, &reply).await?);
        }
    };
    if envelope.v != VERSION {
        let reply = Reply::refused(format!(
            "this host speaks protocol {VERSION}, the client {}: use the same aside version for both",
            envelope.v
        ));
        return Ok(write_reply(&mut write, &reply).await?);
    }
    if let Request::Subscribe { since } = envelope.request {
        // Subscribe before reading the store, so nothing falls between the two.
        let mut live = bus.subscribe();
        let log = EventLog::open(&layout, &id)?;
        let mut last = since;
        for event in log.since(last)? {
            last = event.seq;
            write_reply(&mut write, &Reply::Event { event }).await?;
        }
        // A subscriber sends nothing more: its end closing is noticed at once, and what it
        // held here is freed, not at the session's next event.
        let mut gone = [0u8; 64];
        loop {
            let received = tokio::select! {
                received = live.recv() => received,
                read = tokio::io::AsyncReadExt::read(&mut reader, &mut gone) => match read {
                    Ok(0) | Err(_) => return Ok(()),
                    Ok(_) => continue,
                },
            };
            match received {
                // A piece of streamed text: its row is stored (and sent) later.
                Ok(event) if event.piece.is_some() && event.seq > last => {
                    write_reply(&mut write, &Reply::Event { event }).await?;
                }
                Ok(event) if event.seq > last => {
                    last = event.seq;
                    write_reply(&mut write, &Reply::Event { event }).await?;
                }
                Ok(_) => {}
                Err(broadcast::error::RecvError::Lagged(_)) => {
                    for event in log.since(last)? {
                        last = event.seq;
                        write_reply(&mut write, &Reply::Event { event }).await?;
                    }
                }
                Err(broadcast::error::RecvError::Closed) => return Ok(()),
            }
        }
    }
    let (tx, rx) = oneshot::channel();
    let sent = ctl
        .send(Control {
            request: envelope.request,
            reply: tx,
        })
        .await;
    // A host on its way out answers "gone", so the client starts a new one and asks again.
    let reply = match sent {
        Ok(()) => rx.await.unwrap_or_else(|_| Reply::gone()),
        Err(_) => Reply::gone(),
    };
    write_reply(&mut write, &reply).await?;
    Ok(())
}
