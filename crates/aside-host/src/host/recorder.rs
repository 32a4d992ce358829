//! The session's record: every event stored before it is broadcast, streamed text batched
//! into rows, the status in the index, and what happens when nothing can be stored.

use super::*;

/// Streamed text not stored yet: the chunks of one message since the last flush.
pub(crate) struct Pending {
    /// The seq its row will have.
    seq: u64,
    kind: String,
    /// The first chunk's update; its text becomes the joined text.
    data: Value,
    text: String,
    pieces: u32,
    since: std::time::Instant,
}

/// How long streamed text waits to be stored with the chunks after it: a kill -9 loses at
/// most this much of a message. ASIDE_EVENT_FLUSH_MS changes it (0: a row per chunk, as before
/// batching; the long-session benchmark compares the two).
pub(crate) fn flush_every() -> Duration {
    static EVERY: std::sync::OnceLock<Duration> = std::sync::OnceLock::new();
    *EVERY.get_or_init(|| {
        Duration::from_millis(
            std::env::var("ASIDE_EVENT_FLUSH_MS")
                .ok()
                .and_then(|v| v.parse().ok())
                .unwrap_or(250),
        )
    })
}

/// The text of a streamed text chunk (agent message or thought), which is stored in batches.
pub(crate) fn streamed_text(kind: &str, data: &Value) -> Option<String> {
    if !matches!(kind, "agent_message_chunk" | "agent_thought_chunk") {
        return None;
    }
    let content = &data["content"];
    (content["type"] == "text")
        .then(|| content["text"].as_str().map(str::to_string))
        .flatten()
}

/// Streamed text still waiting is stored when the host ends, however it ends short of a kill.
impl Drop for Host {
    fn drop(&mut self) {
        self.flush();
    }
}

impl Host {
    /// Whether the session was removed (its directory, or the whole state, deleted).
    pub(crate) fn session_gone(&self) -> bool {
        !self.layout.index().exists() || !self.layout.session_dir(&self.record.id).exists()
    }

    /// Stores an event, then broadcasts it.
    pub(crate) fn emit(&mut self, body: Body) {
        let (kind, data) = (body.kind(), body.data());
        if let Some(text) = streamed_text(&kind, &data) {
            self.stream(kind, data, text);
        } else {
            self.flush();
            self.store(&kind, &data);
        }
        // Last activity, at most once a second.
        if self.last_touch.elapsed() > Duration::from_secs(1) {
            self.last_touch = std::time::Instant::now();
            let _ = self.index.update(&self.record.id, Change::Touch);
        }
        self.count_usage(&body);
    }

    pub(crate) fn store(&mut self, kind: &str, data: &Value) {
        match self.events.append(kind, data) {
            Ok(event) => {
                let _ = self.bus.send(event);
            }
            Err(e) => {
                tracing::error!("cannot store event: {e}");
                if self.unrecorded.is_none() {
                    self.unrecorded = Some(format!(
                        "cannot record the session's events ({e}); free space on the disk of {}, then `aside resume {}`",
                        self.layout.home.display(),
                        self.record.id
                    ));
                }
            }
        }
    }

    /// Records that the session failed because its events could not be stored, in the room
    /// kept in reserve for it; before the client that sent what was lost hears of it, so
    /// whoever asks next sees the session failed.
    pub(crate) fn fail_unrecorded(&mut self) {
        if let Some(why) = self.unrecorded.clone() {
            let _ = std::fs::remove_file(self.layout.reserve(&self.record.id));
            if self.record.status != Status::Failed {
                self.set_status(Status::Failed, Some(&why));
            }
        }
    }

    /// Ends the session as failed when what it did could not be stored.
    pub(crate) fn check_recorded(&self) -> anyhow::Result<()> {
        match &self.unrecorded {
            Some(why) => Err(anyhow!("{why}")),
            None => Ok(()),
        }
    }

    /// A chunk of streamed text: sent to live readers now, as the next piece of the row it will
    /// be stored in; stored with the chunks around it when the row is a quarter second old (or
    /// another event comes, or the host ends).
    pub(crate) fn stream(&mut self, kind: String, data: Value, text: String) {
        let joins = self
            .pending
            .as_ref()
            .is_some_and(|p| p.kind == kind && p.data["messageId"] == data["messageId"]);
        if !joins {
            self.flush();
        }
        let seq = match &self.pending {
            Some(p) => p.seq,
            None => self.events.last_seq().unwrap_or(0) + 1,
        };
        let pending = self.pending.get_or_insert_with(|| Pending {
            seq,
            kind: kind.clone(),
            data: data.clone(),
            text: String::new(),
            pieces: 0,
            since: std::time::Instant::now(),
        });
        pending.text.push_str(&text);
        let piece = pending.pieces;
        pending.pieces += 1;
        let _ = self.bus.send(Event {
            seq,
            ts: aside_core::now(),
            kind,
            data,
            piece: Some(piece),
        });
        if pending.since.elapsed() >= flush_every() {
            self.flush();
        }
    }

    /// Stores the streamed text not stored yet, as one row.
    pub(crate) fn flush(&mut self) {
        if let Some(pending) = self.pending.take() {
            let mut data = pending.data;
            data["content"]["text"] = Value::String(pending.text);
            self.store(&pending.kind, &data);
        }
    }

    /// When the streamed text waiting to be stored must be.
    pub(crate) fn flush_due(&self) -> Option<tokio::time::Instant> {
        self.pending
            .as_ref()
            .map(|p| tokio::time::Instant::from_std(p.since + flush_every()))
    }

    pub(crate) fn set_status(&mut self, status: Status, reason: Option<&str>) {
        let changed = self.record.status != status;
        self.record.status = status;
        if changed
            && matches!(
                status,
                Status::NeedsInput | Status::Completed | Status::Failed
            )
        {
            notify::tell(&self.notify, &self.record, reason);
        }
        if let Err(e) = self.index.set_status(&self.record.id, status, reason) {
            tracing::error!("cannot store status: {e}");
        }
        self.emit(Body::Status(StatusChange {
            status,
            reason: reason.map(str::to_string),
        }));
    }
}
