//! One session as AHP state: its session channel and its one chat, projected from its events
//! (the end of its log first, earlier turns on request) and kept live by following it, as
//! the web view's pages do. One projection per session, shared by every connection: its state
//! is what AHP's own reducers made of the actions sent, so a snapshot and the actions after it
//! always agree.

use super::hub::Hub;
use super::map::{action, Mapper, Out};
use super::root;
use ahp::reducers::{apply_action_to_chat, apply_action_to_session};
use ahp_types::actions::{ActionOrigin, StateAction};
use ahp_types::state::{ChatState, SessionState, Snapshot, SnapshotState};
use aside_core::{Event, SessionId};
use aside_protocol::client::{Follower, Step};
use aside_sessions::Sessions;
use serde_json::{json, Value};
use std::sync::{Arc, Mutex, Weak};

/// About how many of the newest events a projection starts with (from a turn's start); the
/// turns before come a page at a time (`fetchTurns`).
pub const TAIL: usize = 2000;

/// Events read per page of earlier turns.
pub const PAGE: usize = 2000;

/// The state a session's channels hold.
pub struct Projection {
    /// The session channel's.
    pub session: SessionState,
    /// The chat's.
    pub chat: ChatState,
    /// The events taken so far, folded.
    pub mapper: Mapper,
    /// The events up to this seq are not in `chat` yet (0: all are).
    pub since: u64,
}

/// A session, projected.
pub struct Projector {
    /// The aside session.
    pub id: String,
    /// Its session channel.
    pub session_uri: String,
    /// Its chat.
    pub chat_uri: String,
    /// The sequence number it started at: a client that saw less than this saw none of it.
    pub born: u64,
    state: Mutex<Projection>,
    task: Mutex<Option<tokio::task::JoinHandle<()>>>,
}

impl Drop for Projector {
    fn drop(&mut self) {
        if let Some(task) = self.task.get_mut().ok().and_then(Option::take) {
            task.abort();
        }
    }
}

fn lock(p: &Mutex<Projection>) -> std::sync::MutexGuard<'_, Projection> {
    p.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// A blank chat.
pub fn blank_chat(uri: &str, title: &str, modified_at: &str) -> Result<ChatState, String> {
    serde_json::from_value(json!({
        "resource": uri, "title": title, "status": 1, "modifiedAt": modified_at, "turns": [],
    }))
    .map_err(|e| format!("chat state: {e}"))
}

/// The chat that these events (starting at a turn's start) make; a turn left open at their end
/// is closed (the next event, a prompt, would close it so).
pub fn fold(events: &[Event], uri: &str) -> Result<ChatState, String> {
    let mut mapper = Mapper::new();
    let mut chat = blank_chat(uri, "", "1970-01-01T00:00:00Z")?;
    for event in events {
        for out in mapper.take(event) {
            if let Out::Chat(a) = out {
                apply_action_to_chat(&mut chat, &a);
            }
        }
    }
    if let Some(turn) = mapper.turn() {
        let close = action(json!({"type": "chat/turnCancelled", "turnId": turn, "duration": 0}));
        apply_action_to_chat(&mut chat, &close);
    }
    Ok(chat)
}

impl Projector {
    /// Reads the session's record and the end of its log, then follows it.
    pub async fn start(hub: Arc<Hub>, id: String) -> Result<Arc<Projector>, String> {
        let remote = aside_sessions::remote::split(&id).is_some();
        let (summary, since, events) = if remote {
            remote_start(&hub, &id).await?
        } else {
            local_start(&hub, &id).await?
        };
        let provider = summary.provider.clone();
        let session_uri = hub
            .alias_of(&id)
            .unwrap_or_else(|| root::session_uri(&provider, &id));
        let chat_uri = root::chat_uri(&id);
        let title = summary.title.clone();
        let modified = summary.modified_at.clone();
        let mut chat = blank_chat(&chat_uri, &title, &modified)?;
        // A session on another machine opens at its end, without its earlier turns.
        if since > 0 && !remote {
            chat.turns_next_cursor = Some(format!("before:{since}"));
        }
        let changesets = if remote {
            json!([])
        } else {
            super::changes::offered(&id)
        };
        let session: SessionState = serde_json::from_value(json!({
            "provider": provider, "title": title, "status": summary.status,
            "activity": summary.activity, "lifecycle": "ready", "activeClients": [],
            "chats": [{"resource": chat_uri, "title": title, "status": summary.status, "modifiedAt": modified}],
            "defaultChat": chat_uri, "workingDirectories": summary.working_directories,
            "changesets": changesets,
        }))
        .map_err(|e| format!("session state: {e}"))?;
        let mut projection = Projection {
            session,
            chat,
            mapper: Mapper::new(),
            since: if remote { 0 } else { since },
        };
        let mut last = since;
        for event in &events {
            last = event.seq;
            projection.take(event, &session_uri, &chat_uri, &mut |_, _| {});
        }
        let projector = Arc::new(Projector {
            born: hub.reserve(),
            id: id.clone(),
            session_uri,
            chat_uri,
            state: Mutex::new(projection),
            task: Mutex::new(None),
        });
        let task = if remote {
            tokio::spawn(follow_remote(hub, Arc::downgrade(&projector), last))
        } else {
            tokio::spawn(follow(hub, Arc::downgrade(&projector), last))
        };
        if let Ok(mut slot) = projector.task.lock() {
            *slot = Some(task);
        }
        Ok(projector)
    }

    /// A snapshot of the session or chat channel, as of the newest action sent.
    pub fn snapshot(&self, hub: &Hub, channel: &str) -> Snapshot {
        let state = lock(&self.state);
        let from_seq = hub.last_seq() as i64;
        let state = if channel == self.chat_uri {
            SnapshotState::Chat(Box::new(state.chat.clone()))
        } else {
            SnapshotState::Session(Box::new(state.session.clone()))
        };
        Snapshot {
            resource: channel.to_string(),
            state,
            from_seq,
        }
    }

    /// Reads under the projection's lock.
    pub fn with<T>(&self, read: impl FnOnce(&Projection) -> T) -> T {
        read(&lock(&self.state))
    }

    /// Takes a new event: its actions are applied and sent.
    pub fn take(&self, hub: &Hub, event: &Event) {
        let mut state = lock(&self.state);
        let (session_uri, chat_uri) = (self.session_uri.clone(), self.chat_uri.clone());
        state.take(event, &session_uri, &chat_uri, &mut |channel, action| {
            let origin = origin_of(hub, &self.id, &action);
            hub.send(channel, action, origin);
        });
    }

    /// Applies and sends an action aside made itself (a flag a client changed).
    pub fn apply(&self, hub: &Hub, channel: &str, action: StateAction, origin: ActionOrigin) {
        let mut state = lock(&self.state);
        if channel == self.chat_uri {
            apply_action_to_chat(&mut state.chat, &action);
        } else {
            apply_action_to_session(&mut state.session, &action);
        }
        hub.send(channel, action, Some(origin));
    }

    /// The session's summary changed: its activity, and its chat's status in the session
    /// state, change by actions (what a snapshot holds is what the actions made). The session's
    /// own status stays as it was first given: clients read it from the list.
    pub fn summary_changed(&self, hub: &Hub, status: u32, activity: &str) {
        let mut state = lock(&self.state);
        let mut made = Vec::new();
        if state.session.activity.as_deref() != Some(activity) {
            made.push(action(
                json!({"type": "session/activityChanged", "activity": activity}),
            ));
        }
        if state.session.chats.first().map(|c| c.status) != Some(status) {
            made.push(action(json!({
                "type": "session/chatUpdated", "chat": self.chat_uri, "changes": {"status": status},
            })));
        }
        for a in made {
            apply_action_to_session(&mut state.session, &a);
            hub.send(&self.session_uri, a, None);
        }
    }

    /// Loads the page of turns before those the chat holds: `chat/turnsLoaded`, sent before
    /// this returns (the protocol's order for `fetchTurns`).
    pub async fn fetch_turns(&self, hub: &Hub) -> Result<(), String> {
        let since = lock(&self.state).since;
        let (start, events) = if since == 0 {
            (0, Vec::new())
        } else {
            let layout = hub.layout.clone();
            let id = SessionId(self.id.clone());
            tokio::task::spawn_blocking(move || {
                let log = aside_store::EventLog::open(&layout, &id).map_err(|e| e.to_string())?;
                let start = log
                    .start_before(since + 1, PAGE)
                    .map_err(|e| e.to_string())?;
                let events = log
                    .window(start, (since - start) as usize)
                    .map_err(|e| e.to_string())?;
                Ok::<_, String>((start, events))
            })
            .await
            .map_err(|e| e.to_string())??
        };
        let older = fold(&events, &self.chat_uri)?;
        let mut state = lock(&self.state);
        let loaded = action(json!({
            "type": "chat/turnsLoaded", "turns": older.turns,
            "turnsNextCursor": (start > 0).then(|| format!("before:{start}")),
        }));
        apply_action_to_chat(&mut state.chat, &loaded);
        state.since = start;
        hub.send_as(&self.chat_uri, loaded, None, false);
        Ok(())
    }
}

impl Projection {
    /// Folds one event; each action made is applied, then handed to `sent` with its channel.
    fn take(
        &mut self,
        event: &Event,
        session_uri: &str,
        chat_uri: &str,
        sent: &mut dyn FnMut(&str, StateAction),
    ) {
        for out in self.mapper.take(event) {
            match out {
                Out::Chat(a) => {
                    apply_action_to_chat(&mut self.chat, &a);
                    sent(chat_uri, a);
                }
                Out::Asking {
                    turn_id,
                    tool_call_id,
                } => {
                    let Some(call) = self.waiting_call(&tool_call_id) else {
                        continue;
                    };
                    let a = action(json!({
                        "type": "session/inputNeededSet",
                        "request": {"kind": "toolConfirmation", "id": tool_call_id,
                            "chat": chat_uri, "turnId": turn_id, "toolCall": call},
                    }));
                    apply_action_to_session(&mut self.session, &a);
                    sent(session_uri, a);
                }
                Out::Answered { tool_call_id } => {
                    let a = action(json!({
                        "type": "session/inputNeededRemoved", "id": tool_call_id,
                    }));
                    apply_action_to_session(&mut self.session, &a);
                    sent(session_uri, a);
                }
            }
        }
    }

    /// The tool call of the open turn that waits for confirmation, as the chat holds it.
    fn waiting_call(&self, id: &str) -> Option<Value> {
        let turn = self.chat.active_turn.as_ref()?;
        serde_json::to_value(&turn.response_parts)
            .ok()?
            .as_array()?
            .iter()
            .find(|p| p["toolCall"]["toolCallId"] == id)
            .map(|p| p["toolCall"].clone())
    }
}

/// What a projection of a session here starts from: its summary, where the events it holds
/// start, and the end of its log.
async fn local_start(hub: &Hub, id: &str) -> Result<(root::Summary, u64, Vec<Event>), String> {
    let layout = hub.layout.clone();
    let cache = hub.progress.clone();
    let lookup = id.to_string();
    tokio::task::spawn_blocking(move || {
        let sessions = Sessions::open_at(layout).map_err(|e| e.to_string())?;
        let record = root::record(&sessions, &lookup)?;
        let summary = root::summaries(&sessions, std::slice::from_ref(&record), &cache)
            .pop()
            .ok_or_else(|| format!("no session {lookup}"))?;
        let log =
            aside_store::EventLog::open(&sessions.layout, &record.id).map_err(|e| e.to_string())?;
        let since = log.tail_start(TAIL).map_err(|e| e.to_string())?;
        let mut events = Vec::new();
        let mut at = since;
        loop {
            let window = log.window(at, 1000).map_err(|e| e.to_string())?;
            let Some(last) = window.last() else { break };
            at = last.seq;
            events.extend(window);
        }
        Ok::<_, String>((summary, since, events))
    })
    .await
    .map_err(|e| e.to_string())?
}

/// The same for a session on another machine (`NAME:ID`): read there with `aside show --json`
/// (its record and about its last 1,000 events, from a turn's start).
async fn remote_start(hub: &Hub, id: &str) -> Result<(root::Summary, u64, Vec<Event>), String> {
    let out = hub.on_machine(id, &["show", "--json", "{id}"]).await?;
    let mut shown: Value = serde_json::from_str(&out)
        .map_err(|e| format!("its aside answered something unexpected ({e})"))?;
    let mut record = shown["session"].take();
    record["id"] = json!(id);
    let summary = root::remote_summaries(&[record])
        .pop()
        .ok_or_else(|| format!("session {id} could not be read"))?;
    let since = shown["earlier_events"].as_u64().unwrap_or(0);
    let events: Vec<Event> = serde_json::from_value(shown["events"].take())
        .map_err(|e| format!("its aside answered something unexpected ({e})"))?;
    Ok((summary, since, events))
}

/// The client whose dispatch an action carries out, if any.
fn origin_of(hub: &Hub, session: &str, action: &StateAction) -> Option<ActionOrigin> {
    match action {
        StateAction::ChatTurnStarted(a) => hub.origin(&format!("turn:{}", a.turn_id)),
        StateAction::ChatPendingMessageSet(a) => hub.origin(&format!("turn:{}", a.id)),
        StateAction::ChatTurnCancelled(_)
        | StateAction::ChatTurnComplete(_)
        | StateAction::ChatError(_) => hub.origin(&format!("cancel:{session}")),
        StateAction::ChatToolCallConfirmed(a) => hub.origin(&format!("confirm:{}", a.tool_call_id)),
        _ => None,
    }
}

/// Follows a session on another machine for its projection, from after `last`, while the
/// projection lasts: across dropped SSH connections (see `aside_sessions::remote`); its record,
/// when it changes without an event, changes the summary.
async fn follow_remote(hub: Arc<Hub>, projector: Weak<Projector>, last: u64) {
    use aside_sessions::remote;
    let Some(id) = projector.upgrade().map(|p| p.id.clone()) else {
        return;
    };
    let machine = remote::split(&id).and_then(|(name, there)| {
        let config = aside_core::Config::load_user().ok()?;
        Some((config.machines.get(name)?.clone(), there.to_string()))
    });
    let Some((machine, there)) = machine else {
        hub.forget_projection(&id);
        return;
    };
    let mut follower = remote::Follower::new(&machine, &there, last);
    loop {
        let step = follower.next().await;
        let Some(projector) = projector.upgrade() else {
            return;
        };
        match step {
            remote::Step::Event(event) => projector.take(&hub, &event),
            remote::Step::Session(mut record) => {
                record["id"] = json!(id);
                if let Some(summary) = root::remote_summaries(&[record]).pop() {
                    projector.summary_changed(&hub, summary.status, &summary.activity);
                }
            }
            remote::Step::Lost(why) => {
                tracing::info!("ahp: the connection for session {id} broke ({why}); reconnecting");
            }
        }
    }
}

/// Follows the session for its projection, from after `last`, while the projection lasts.
async fn follow(hub: Arc<Hub>, projector: Weak<Projector>, last: u64) {
    let Some(id) = projector.upgrade().map(|p| p.id.clone()) else {
        return;
    };
    let mut follower = Follower::new(&hub.layout, &SessionId(id.clone()), last);
    loop {
        let step = match follower.next().await {
            Ok(step) => step,
            Err(e) => {
                tracing::warn!("ahp: following session {id} stopped: {e}");
                hub.forget_projection(&id);
                return;
            }
        };
        let Some(projector) = projector.upgrade() else {
            return;
        };
        if let Step::Event(event) = step {
            projector.take(&hub, &event);
            // A checkpoint is new work (and names its turn's): the changesets followed are
            // read again.
            if event.kind == "checkpoint" {
                hub.reread_changes_soon(&id);
            }
        }
    }
}
