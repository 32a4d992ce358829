//! Live streams: a session's events (stored, then as its host sends them) and the list;
//! bounded in number, and freed when their page goes away.

use super::*;

#[derive(Deserialize)]
pub struct EventsQuery {
    since: Option<u64>,
    /// Without `since`: start about this many events before the end (at a turn's start); the
    /// first message, `window`, says where.
    tail: Option<usize>,
}

/// How many events the page asks for at a time: the end first, earlier ones on request.
#[derive(Deserialize)]
pub struct EarlierQuery {
    before: u64,
    limit: Option<usize>,
}

/// Most events one window of a session's log may hold.
pub(crate) const MAX_WINDOW: usize = 5000;

/// A window of a session's stored events ending before `before` (at a turn's start, about
/// `limit` of them), for a page that shows the end of a long session first: `{start, events}`,
/// `start` 0 when nothing is earlier.
pub async fn earlier(
    State(state): State<AppState>,
    Path(id): Path<String>,
    Query(q): Query<EarlierQuery>,
) -> Result<Json<Value>, ApiError> {
    let limit = q.limit.unwrap_or(1000).clamp(1, MAX_WINDOW);
    if super::machines::machine_of(&id)?.is_some() {
        // Its stream gave the page the whole session.
        return Ok(Json(json!({"start": 0, "events": []})));
    }
    let out = with_sessions(&state, move |s| {
        let record = s.resolve(&id)?;
        let log = aside_store::EventLog::open(&s.layout, &record.id).map_err(internal)?;
        let start = log.start_before(q.before, limit).map_err(internal)?;
        let count = q.before.saturating_sub(start + 1) as usize;
        let mut events = log.window(start, count).map_err(internal)?;
        let mut enricher = Enricher::default();
        for event in &mut events {
            enricher.enrich(Some(&log), event);
        }
        Ok(json!({"start": start, "events": events}))
    })
    .await?;
    Ok(Json(out))
}

/// What the page shows of tool calls, worked out once, here, for every view: each tool call's
/// event carries the call as its updates left it (`merged`, merged by the one reducer's
/// `ToolCalls`) and what it does in words (`actions`, `describe::action_lines`); a permission
/// request and a policy's approval carry their `actions`. The page renders them and merges or
/// describes nothing itself. A call announced before the events the page reads is looked up
/// in the log (`tool_call_events`) the first time one of its updates comes.
#[derive(Default)]
pub(crate) struct Enricher {
    calls: ToolCalls,
}

impl Enricher {
    /// The tool call an update is about when this enricher has not seen it announced (it was
    /// before the events the page reads): its earlier events are to be [`learn`](Self::learn)t
    /// first.
    pub(crate) fn unknown_call(&self, event: &Event) -> Option<String> {
        use aside_protocol::events::{acp::SessionUpdate, Body};
        if event.kind != "tool_call_update" {
            return None;
        }
        match Body::of(event) {
            Body::Update(update) => match *update {
                SessionUpdate::ToolCallUpdate(u) => {
                    let id = u.tool_call_id.0.to_string();
                    self.calls.get(&id).is_none().then_some(id)
                }
                _ => None,
            },
            _ => None,
        }
    }

    /// Takes a tool call's earlier events (announced before the page's window).
    pub(crate) fn learn(&mut self, earlier: &[Event]) {
        use aside_protocol::events::Body;
        for event in earlier {
            if let Body::Update(update) = Body::of(event) {
                self.calls.take(&update);
            }
        }
    }

    pub(crate) fn enrich(&mut self, log: Option<&aside_store::EventLog>, event: &mut Event) {
        use aside_protocol::conversation::as_update;
        use aside_protocol::describe::action_lines;
        use aside_protocol::events::{acp::SessionUpdate, Body};
        // Only these kinds carry a tool call: nothing else is read again here.
        if event.piece.is_some()
            || !matches!(
                event.kind.as_str(),
                "tool_call" | "tool_call_update" | "permission_request" | "permission"
            )
        {
            return;
        }
        if let (Some(log), Some(call)) = (log, self.unknown_call(event)) {
            self.learn(&log.tool_call_events(&call, event.seq).unwrap_or_default());
        }
        let actions = |call| serde_json::to_value(action_lines(call)).unwrap_or_default();
        match Body::of(event) {
            Body::Update(update) => {
                let id = match update.as_ref() {
                    SessionUpdate::ToolCall(call) => call.tool_call_id.0.to_string(),
                    SessionUpdate::ToolCallUpdate(u) => u.tool_call_id.0.to_string(),
                    _ => return,
                };
                self.calls.take(&update);
                if let Some(call) = self.calls.get(&id) {
                    let whole = as_update(call);
                    event.data["merged"] = serde_json::to_value(call).unwrap_or_default();
                    event.data["actions"] = actions(&whole);
                }
            }
            Body::PermissionRequest(asked) => event.data["actions"] = actions(&asked.tool_call),
            Body::Permission(allowed) => event.data["actions"] = actions(&allowed.tool_call),
            _ => {}
        }
    }
}

/// An event for the browser; stored ones carry their seq as the id a reconnecting browser sends
/// back (pieces of streamed text none: their row is sent after them).
pub(crate) fn sse_event(event: &Event) -> SseEvent {
    let sse = SseEvent::default()
        .event("event")
        .data(serde_json::to_string(event).unwrap_or_default());
    match event.piece {
        Some(_) => sse,
        None => sse.id(event.seq.to_string()),
    }
}

/// Live events of a session: the stored ones after `since` (or the Last-Event-ID a reconnecting
/// browser sends), then new ones as the host stores them.
pub async fn events(
    State(state): State<AppState>,
    Path(id): Path<String>,
    Query(q): Query<EventsQuery>,
    headers: HeaderMap,
) -> Result<Sse<impl futures::Stream<Item = Result<SseEvent, Infallible>>>, ApiError> {
    let permit = stream_permit(&state)?;
    let last_event_id = headers
        .get("last-event-id")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse().ok());
    let (tx, rx) = mpsc::channel::<SseEvent>(256);
    if let Some((name, machine, there)) = super::machines::machine_of(&id)? {
        let since = last_event_id.or(q.since);
        let tail = since.is_none() && q.tail.is_some();
        super::machines::follow(name, machine, there, since.unwrap_or(0), tail, tx, permit);
        return Ok(sse_of(rx));
    }
    let lookup = id.clone();
    let found = with_sessions(&state, move |s| Ok(s.locate(&lookup)?)).await?;
    let layout = state.layout.clone();
    let record = match found {
        aside_sessions::Located::Own(record) => *record,
        aside_sessions::Located::External(session) => {
            let since = last_event_id.or(q.since).unwrap_or(0);
            tokio::task::spawn_blocking(move || {
                let _permit = permit;
                follow_external(session, since, tx)
            });
            return Ok(sse_of(rx));
        }
    };
    // The one client's follow: stored events, then the host's stream, across host restarts,
    // awaited (no thread is held per page) until the page goes away.
    tokio::spawn(async move {
        let _permit = permit;
        let id = record.id;
        let since = match (last_event_id.or(q.since), q.tail) {
            (Some(since), _) => since,
            (None, Some(tail)) => {
                let (layout, id) = (layout.clone(), id.clone());
                let start = tokio::task::spawn_blocking(move || {
                    aside_store::EventLog::open(&layout, &id)
                        .and_then(|log| log.tail_start(tail.clamp(1, MAX_WINDOW)))
                        .unwrap_or(0)
                })
                .await
                .unwrap_or(0);
                let window = SseEvent::default()
                    .event("window")
                    .data(json!({"start": start}).to_string());
                if tx.send(window).await.is_err() {
                    return;
                }
                start
            }
            (None, None) => 0,
        };
        let mut shown: Option<String> = None;
        // The session is read again often for a few seconds after its last event (a host that
        // just died may still hold its lock for a moment), then every few seconds.
        let mut read_at: Option<std::time::Instant> = None;
        let mut event_at = std::time::Instant::now();
        let mut enricher = Enricher::default();
        let mut follower = Follower::new(&layout, &id, since);
        loop {
            // The page going away ends the follow at once, even while it waits for the host.
            let step = tokio::select! {
                step = follower.next() => step,
                () = tx.closed() => return,
            };
            let Ok(step) = step else { return };
            let every = if event_at.elapsed() < Duration::from_secs(5) {
                Duration::from_millis(150)
            } else {
                SESSION_RECHECK
            };
            let message = match step {
                Step::Event(mut event) => {
                    read_at = None;
                    event_at = std::time::Instant::now();
                    if let Some(call) = enricher.unknown_call(&event) {
                        let (layout, id, seq) = (layout.clone(), id.clone(), event.seq);
                        let earlier = tokio::task::spawn_blocking(move || {
                            aside_store::EventLog::open(&layout, &id)
                                .and_then(|log| log.tool_call_events(&call, seq))
                                .unwrap_or_default()
                        })
                        .await
                        .unwrap_or_default();
                        enricher.learn(&earlier);
                    }
                    enricher.enrich(None, &mut event);
                    sse_event(&event)
                }
                Step::NoHost if read_at.is_some_and(|t| t.elapsed() < every) => continue,
                // No host now: the page learns the session's status as readers see it (an
                // active session without a host is interrupted), once per change.
                Step::NoHost => {
                    read_at = Some(std::time::Instant::now());
                    let (layout, id) = (layout.clone(), id.clone());
                    let now = tokio::task::spawn_blocking(move || {
                        Sessions::open_at(layout).and_then(|s| Ok(s.json(&s.resolve(id.as_str())?)))
                    })
                    .await;
                    let Ok(Ok(now)) = now else { continue };
                    let text = now.to_string();
                    if shown.as_deref() == Some(text.as_str()) {
                        continue;
                    }
                    shown = Some(text.clone());
                    SseEvent::default().event("session").data(text)
                }
            };
            if tx.send(message).await.is_err() {
                return;
            }
        }
    });
    Ok(sse_of(rx))
}

/// How often a list stream asks the index whether it changed (one `data_version` pragma on a
/// connection it keeps open: cheap enough to ask often, so a change shows within a tenth of a
/// second).
pub(crate) const LIST_LOOK: Duration = Duration::from_millis(100);

/// How often the list is read again when the index did not change (a host that died changes
/// what readers see without a commit).
pub(crate) const LIST_RECHECK: Duration = Duration::from_secs(3);

/// How often a page's session without a host is read again for changes no event tells of
/// (archived, applied, removed).
pub(crate) const SESSION_RECHECK: Duration = Duration::from_secs(3);

/// A place for one more live stream, or 429 saying why.
pub(crate) fn stream_permit(
    state: &AppState,
) -> Result<tokio::sync::OwnedSemaphorePermit, ApiError> {
    state
        .streams
        .clone()
        .try_acquire_owned()
        .map_err(|_| ApiError {
            status: StatusCode::TOO_MANY_REQUESTS,
            message: format!(
            "too many live streams open ({}): close some of the view's pages or tabs, then reload",
            crate::MAX_STREAMS
        ),
            trust: None,
        })
}

/// An SSE response of what arrives on `rx`, with keep-alives (often enough that a page gone
/// away is noticed within seconds, and what its stream held is freed).
pub(crate) fn sse_of(
    rx: mpsc::Receiver<SseEvent>,
) -> Sse<impl futures::Stream<Item = Result<SseEvent, Infallible>>> {
    let stream =
        futures::stream::unfold(
            rx,
            |mut rx| async move { rx.recv().await.map(|e| (Ok(e), rx)) },
        );
    Sse::new(stream).keep_alive(KeepAlive::new().interval(Duration::from_secs(2)))
}

/// How often the file of a session started elsewhere is read again for the page.
pub(crate) const EXTERNAL_POLL: Duration = Duration::from_secs(2);

/// The events of a session started elsewhere, read from its agent's file (converted as `show`
/// does), then the new ones whenever the file changes, until the page goes away.
pub(crate) fn follow_external(
    session: aside_sessions::external::External,
    since: u64,
    tx: mpsc::Sender<SseEvent>,
) {
    let mut sent = since;
    let mut seen: Option<(u64, std::time::SystemTime)> = None;
    while !tx.is_closed() {
        let stamp = std::fs::metadata(&session.file)
            .ok()
            .map(|m| (m.len(), m.modified().unwrap_or(std::time::UNIX_EPOCH)));
        if stamp != seen {
            seen = stamp;
            if let Ok((conversation, _)) = session.conversation() {
                let mut enricher = Enricher::default();
                for (n, (kind, data)) in conversation.to_events().into_iter().enumerate() {
                    let seq = n as u64 + 1;
                    let mut event = Event {
                        seq,
                        ts: String::new(),
                        kind: kind.to_string(),
                        data,
                        piece: None,
                    };
                    enricher.enrich(None, &mut event);
                    if seq <= sent {
                        continue;
                    }
                    if tx.blocking_send(sse_event(&event)).is_err() {
                        return;
                    }
                    sent = seq;
                }
            }
        }
        std::thread::sleep(EXTERNAL_POLL);
    }
}

/// A connection to the index kept open to ask whether it changed (its `data_version`: cheap
/// enough to ask every [`LIST_LOOK`]); what every live list watches.
pub(crate) struct IndexProbe(Option<std::sync::Arc<std::sync::Mutex<aside_store::Index>>>);

impl IndexProbe {
    pub(crate) async fn open(layout: aside_store::Layout) -> IndexProbe {
        IndexProbe(
            tokio::task::spawn_blocking(move || aside_store::Index::open(&layout).ok())
                .await
                .ok()
                .flatten()
                .map(|index| std::sync::Arc::new(std::sync::Mutex::new(index))),
        )
    }

    /// The index's `data_version` now; None when it cannot be read.
    pub(crate) async fn data_version(&self) -> Option<i64> {
        let probe = self.0.clone()?;
        tokio::task::spawn_blocking(move || probe.lock().ok()?.data_version().ok())
            .await
            .ok()
            .flatten()
    }
}

/// The list, live: every change of a session (status, activity, files) as it is stored.
pub async fn list_stream(
    State(state): State<AppState>,
    Query(q): Query<ListQuery>,
) -> Result<Sse<impl futures::Stream<Item = Result<SseEvent, Infallible>>>, ApiError> {
    let permit = stream_permit(&state)?;
    let (tx, rx) = mpsc::channel::<SseEvent>(16);
    tokio::spawn(async move {
        let _permit = permit;
        let mut known: HashMap<String, String> = HashMap::new();
        let mut first = true;
        // Sessions started elsewhere are read from the tools' files: less often.
        let mut externals: Vec<Value> = Vec::new();
        // Those of other machines as they last answered (asked in the background).
        let mut remote: Vec<Value> = Vec::new();
        let mut externals_read: Option<std::time::Instant> = None;
        // The index is read again only when a commit changed it (its data_version, asked on a
        // connection kept open), or every few seconds for what no commit tells (a host that
        // died).
        let layout = state.layout.clone();
        let probe = IndexProbe::open(layout).await;
        let mut version: Option<i64> = None;
        let mut read_at: Option<std::time::Instant> = None;
        loop {
            let all = q.all;
            let mut changed = read_at.is_none_or(|t| t.elapsed() >= LIST_RECHECK);
            if externals_read.is_none_or(|t| t.elapsed() >= EXTERNAL_POLL) {
                let also = q.repo.clone();
                let read = with_sessions(&state, move |s| externals_json(s, also.as_deref()))
                    .await
                    .unwrap_or_default();
                changed |= read != externals;
                externals = read;
                externals_read = Some(std::time::Instant::now());
            }
            let answered = state.machines.items(all);
            changed |= answered != remote;
            remote = answered;
            let now = probe.data_version().await;
            changed |= now.is_none() || now != version;
            version = now;
            if !changed {
                tokio::select! {
                    _ = tokio::time::sleep(LIST_LOOK) => {}
                    _ = state.machines.changed.notified() => {}
                    _ = tx.closed() => return,
                }
                continue;
            }
            read_at = Some(std::time::Instant::now());
            let cache = state.progress.clone();
            let mut list = with_sessions(&state, move |s| list_with_progress(s, all, &cache))
                .await
                .unwrap_or_default();
            list.extend(externals.iter().cloned());
            list.extend(remote.iter().cloned());
            let mut upsert = Vec::new();
            let mut seen = std::collections::HashSet::new();
            for session in list {
                let id = session["id"].as_str().unwrap_or_default().to_string();
                let text = session.to_string();
                seen.insert(id.clone());
                if known.get(&id) != Some(&text) {
                    known.insert(id, text);
                    upsert.push(session);
                }
            }
            let removed: Vec<String> = known
                .keys()
                .filter(|k| !seen.contains(*k))
                .cloned()
                .collect();
            for id in &removed {
                known.remove(id);
            }
            // The first message goes out even when there is no session, so the page knows.
            if first || !upsert.is_empty() || !removed.is_empty() {
                first = false;
                let data = json!({"upsert": upsert, "remove": removed}).to_string();
                if tx
                    .send(SseEvent::default().event("sessions").data(data))
                    .await
                    .is_err()
                {
                    return;
                }
            }
            tokio::select! {
                _ = tokio::time::sleep(LIST_LOOK) => {}
                _ = tx.closed() => return,
            }
        }
    });
    Ok(sse_of(rx))
}
