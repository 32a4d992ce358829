//! What every AHP connection of one `aside ui` shares: the one sequence of actions (numbered,
//! the newest kept for clients that reconnect), the sessions' projections, the session list's
//! notifications, and what the clients asked that is still on its way.

use super::chat::Projector;
use super::root::{self, Channel};
use ahp_types::actions::{ActionEnvelope, ActionOrigin, StateAction};
use serde_json::Value;
use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio::sync::broadcast;

/// Where the channels clients chose for the sessions they created are kept.
const ALIASES: &str = "ahp-channels.json";

/// How many sent actions are kept for clients that reconnect (older ones get snapshots).
pub const REPLAY: usize = 4096;

/// How long a session nobody follows any more stays projected (a client that dropped its
/// connection reconnects within this and is replayed what it missed).
pub const LINGER: Duration = Duration::from_secs(120);

struct Sequence {
    last: u64,
    ring: VecDeque<Arc<ActionEnvelope>>,
}

/// A changeset a client follows.
struct Followed {
    session: String,
    turn: Option<String>,
    /// Its files as last sent.
    sent: Value,
    /// How many subscriptions follow it.
    followers: usize,
}

/// A session's projection, with when its last follower left.
type Projected = (Arc<Projector>, Option<Instant>);

/// Where this server's numbering starts: past any number an earlier `aside ui` gave (a
/// thousand per millisecond since 1970), so a client that reconnects after a restart is never
/// replayed another server's actions under numbers it saw.
fn first_seq() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as u64 * 1000)
        .unwrap_or(0)
}

/// The shared side of the endpoint.
pub struct Hub {
    /// `$ASIDE_HOME`.
    pub(crate) layout: aside_store::Layout,
    /// The sessions' progress as last read (shared with the web view's list).
    pub(crate) progress: crate::Progress,
    /// The channels clients chose for the sessions they created, by aside id.
    aliases: Mutex<HashMap<String, String>>,
    sequence: Mutex<Sequence>,
    /// Every action sent, to every connection (each keeps those of its subscriptions).
    pub(crate) actions: broadcast::Sender<Arc<ActionEnvelope>>,
    /// The root channel's notifications (the session list), as JSON-RPC notifications.
    pub(crate) notes: broadcast::Sender<Arc<Value>>,
    /// Sessions projected now, with when their last follower left.
    projectors: Mutex<HashMap<String, Projected>>,
    /// What clients dispatched that aside carries out and stores later (a follow-up, a
    /// cancel, an answer): the action that results carries the client's origin.
    origins: Mutex<HashMap<String, ActionOrigin>>,
    /// Sessions a client marked read, at the time they were last changed then.
    pub(crate) read: Mutex<HashMap<String, String>>,
    /// The changesets clients follow: the session, which one, and the files last sent.
    changesets: Mutex<HashMap<String, Followed>>,
    /// Sessions a client created to plan first: whether their first turn (the plan) was sent.
    pub(crate) plan_first: Mutex<HashMap<String, bool>>,
    /// Whether the list is being watched.
    pub(crate) watching: Mutex<bool>,
    /// Whether projections are being swept.
    sweeping: Mutex<bool>,
    /// Sessions whose changesets are being read again, and whether they changed meanwhile.
    rereading: Mutex<HashMap<String, bool>>,
    /// The configured machines' sessions (shared with the web view's list).
    pub(crate) machines: Arc<crate::api::MachineLists>,
}

impl Hub {
    pub fn new(
        layout: aside_store::Layout,
        progress: crate::Progress,
        machines: Arc<crate::api::MachineLists>,
    ) -> Arc<Hub> {
        let aliases = std::fs::read(layout.home.join(ALIASES))
            .ok()
            .and_then(|bytes| serde_json::from_slice(&bytes).ok())
            .unwrap_or_default();
        Arc::new(Hub {
            layout,
            progress,
            aliases: Mutex::new(aliases),
            sequence: Mutex::new(Sequence {
                last: first_seq(),
                ring: VecDeque::new(),
            }),
            actions: broadcast::channel(4096).0,
            notes: broadcast::channel(1024).0,
            projectors: Mutex::default(),
            origins: Mutex::default(),
            read: Mutex::default(),
            changesets: Mutex::default(),
            plan_first: Mutex::default(),
            watching: Mutex::new(false),
            sweeping: Mutex::new(false),
            rereading: Mutex::default(),
            machines,
        })
    }

    /// Runs `aside ARGS` on the machine a `NAME:ID` session is on (the id there put in for
    /// the first `{id}`: a message after it stays as it is), off the async threads; what it
    /// said, or why it failed.
    pub async fn on_machine(&self, id: &str, args: &[&str]) -> Result<String, String> {
        let (name, there) = aside_sessions::remote::split(id)
            .ok_or_else(|| format!("{id} is not a session on another machine"))?;
        let machine = aside_core::Config::load_user()
            .map_err(|e| e.to_string())?
            .machines
            .get(name)
            .cloned()
            .ok_or_else(|| format!("no machine `{name}` is configured: aside machine ls"))?;
        let mut args: Vec<String> = args.iter().map(|a| a.to_string()).collect();
        if let Some(slot) = args.iter_mut().find(|a| *a == "{id}") {
            *slot = there.to_string();
        }
        let name = name.to_string();
        tokio::task::spawn_blocking(move || {
            let args: Vec<&str> = args.iter().map(String::as_str).collect();
            aside_sessions::remote::act(&machine, &args, None)
        })
        .await
        .map_err(|e| e.to_string())?
        .map_err(|why| format!("on machine {name}: {why}"))
    }

    /// A client created session `id` as `uri`: its channel is that from now on (kept in
    /// `$ASIDE_HOME/ahp-channels.json`, so it stays after a restart).
    pub fn alias(&self, id: &str, uri: &str) {
        if let Ok(mut aliases) = self.aliases.lock() {
            aliases.insert(id.to_string(), uri.to_string());
            let kept = serde_json::to_vec(&*aliases).unwrap_or_default();
            if let Err(e) = aside_core::paths::write_private(&self.layout.home.join(ALIASES), &kept)
            {
                tracing::warn!("ahp: cannot keep the channel of session {id}: {e}");
            }
        }
    }

    /// The channel a client chose for session `id`, if it created it.
    pub fn alias_of(&self, id: &str) -> Option<String> {
        self.aliases.lock().ok()?.get(id).cloned()
    }

    /// Reads a channel URI (one a client chose for its session among them).
    pub fn channel(&self, uri: &str) -> Option<Channel> {
        // The channels aside names itself are never a client's alias.
        if let Some(c @ (Channel::Root | Channel::Chat(_) | Channel::Changes(..))) =
            Channel::parse(uri)
        {
            return Some(c);
        }
        let aliased = self.aliases.lock().ok().and_then(|a| {
            a.iter()
                .find(|(_, u)| u.as_str() == uri)
                .map(|(id, _)| id.clone())
        });
        match aliased {
            Some(id) => Some(Channel::Session(id)),
            None => Channel::parse(uri),
        }
    }

    /// Runs aside work on session `id` (named exactly) off the async threads.
    pub async fn on_session<T: Send + 'static>(
        &self,
        id: &str,
        work: impl FnOnce(&aside_sessions::Sessions, &aside_core::SessionRecord) -> Result<T, String>
            + Send
            + 'static,
    ) -> Result<T, String> {
        let layout = self.layout.clone();
        let id = id.to_string();
        tokio::task::spawn_blocking(move || {
            let sessions = aside_sessions::Sessions::open_at(layout).map_err(|e| e.to_string())?;
            let record = root::record(&sessions, &id)?;
            work(&sessions, &record)
        })
        .await
        .map_err(|e| e.to_string())?
    }

    /// A number of its own (nothing is sent under it): a projection's birth, a rejection sent
    /// to one client.
    pub fn reserve(&self) -> u64 {
        match self.sequence.lock() {
            Ok(mut sequence) => {
                sequence.last += 1;
                sequence.last
            }
            Err(_) => 0,
        }
    }

    /// The newest sequence number sent.
    pub fn last_seq(&self) -> u64 {
        self.sequence.lock().map(|s| s.last).unwrap_or(0)
    }

    /// Numbers and sends an action (with the origin of the client whose dispatch it answers).
    pub fn send(&self, channel: &str, action: StateAction, origin: Option<ActionOrigin>) -> u64 {
        self.send_as(channel, action, origin, true)
    }

    /// [`Hub::send`], kept for replay or not (a page of earlier turns is large, and a client
    /// that missed it asks again).
    pub fn send_as(
        &self,
        channel: &str,
        action: StateAction,
        origin: Option<ActionOrigin>,
        kept: bool,
    ) -> u64 {
        let Ok(mut sequence) = self.sequence.lock() else {
            return 0;
        };
        sequence.last += 1;
        let envelope = Arc::new(ActionEnvelope {
            channel: channel.to_string(),
            action,
            server_seq: sequence.last,
            origin,
            rejection_reason: None,
        });
        if kept {
            if sequence.ring.len() == REPLAY {
                sequence.ring.pop_front();
            }
            sequence.ring.push_back(envelope.clone());
        } else {
            // A replay across it would miss it: none is offered.
            sequence.ring.clear();
        }
        // Sent under the lock, so every connection receives them in order.
        let _ = self.actions.send(envelope);
        sequence.last
    }

    /// The actions after `seq` on these channels, or None when some are no longer kept.
    pub fn replay(&self, seq: u64, channels: &[String]) -> Option<Vec<Arc<ActionEnvelope>>> {
        let sequence = self.sequence.lock().ok()?;
        if seq > sequence.last {
            return None;
        }
        let oldest = sequence
            .ring
            .front()
            .map_or(sequence.last + 1, |e| e.server_seq);
        if seq + 1 < oldest && seq < sequence.last {
            return None;
        }
        Some(
            sequence
                .ring
                .iter()
                .filter(|e| e.server_seq > seq && channels.contains(&e.channel))
                .cloned()
                .collect(),
        )
    }

    /// Remembers whose dispatch `key` answers.
    pub fn expect(&self, key: String, origin: ActionOrigin) {
        if let Ok(mut origins) = self.origins.lock() {
            // Bounded: one per session (a follow-up, a cancel) or waiting call at a time in
            // practice; past this many, the oldest keys are not told apart.
            if origins.len() >= 4096 {
                if let Some(any) = origins.keys().next().cloned() {
                    origins.remove(&any);
                }
            }
            origins.insert(key, origin);
        }
    }

    /// A dispatch that failed: nothing will carry its origin.
    pub fn forget(&self, key: &str) {
        if let Ok(mut origins) = self.origins.lock() {
            origins.remove(key);
        }
    }

    /// The origin `key` was expected with, once.
    pub fn origin(&self, key: &str) -> Option<ActionOrigin> {
        self.origins.lock().ok()?.remove(key)
    }

    /// The session's projection, made (from its stored events) if nobody follows it now.
    pub async fn projector(self: &Arc<Hub>, id: &str) -> Result<Arc<Projector>, String> {
        self.sweep();
        self.keep_sweeping();
        if let Some(p) = self.projectors.lock().ok().and_then(|mut all| {
            let entry = all.get_mut(id)?;
            entry.1 = None;
            Some(entry.0.clone())
        }) {
            return Ok(p);
        }
        let made = Projector::start(self.clone(), id.to_string()).await?;
        let mut all = self.projectors.lock().map_err(|_| "poisoned".to_string())?;
        // Another connection made it meanwhile: theirs is kept.
        let entry = all.entry(id.to_string()).or_insert((made, None));
        entry.1 = None;
        Ok(entry.0.clone())
    }

    /// The session's projection if it is made.
    pub fn projected(&self, id: &str) -> Option<Arc<Projector>> {
        self.projectors.lock().ok()?.get(id).map(|e| e.0.clone())
    }

    /// A connection stopped following the session (its reference is dropped by now).
    pub fn left(&self, _id: &str) {
        self.sweep();
    }

    /// The session's projection stopped following it (its log could not be read): the next
    /// subscriber makes a new one.
    pub fn forget_projection(&self, id: &str) {
        if let Ok(mut all) = self.projectors.lock() {
            all.remove(id);
        }
    }

    /// Notes when each projection lost its last follower, and stops projecting those nobody
    /// followed for [`LINGER`].
    pub fn sweep(&self) {
        if let Ok(mut all) = self.projectors.lock() {
            all.retain(|_, (p, since)| {
                if Arc::strong_count(p) > 1 {
                    *since = None;
                    return true;
                }
                since.get_or_insert_with(Instant::now).elapsed() < LINGER
            });
        }
    }

    /// Sweeps every few seconds while any session is projected.
    fn keep_sweeping(self: &Arc<Hub>) {
        let Ok(mut sweeping) = self.sweeping.lock() else {
            return;
        };
        if *sweeping {
            return;
        }
        *sweeping = true;
        let hub = Arc::downgrade(self);
        tokio::spawn(async move {
            loop {
                tokio::time::sleep(Duration::from_secs(5)).await;
                let Some(hub) = hub.upgrade() else { return };
                hub.sweep();
                let empty = hub.projectors.lock().map(|p| p.is_empty()).unwrap_or(true);
                if empty {
                    if let Ok(mut sweeping) = hub.sweeping.lock() {
                        *sweeping = false;
                    }
                    return;
                }
            }
        });
    }

    /// A client follows this changeset, sent as `state` (what was sent before stays what later
    /// states are compared with).
    pub fn follow_changes(&self, uri: &str, id: &str, turn: Option<String>, state: Value) {
        if let Ok(mut all) = self.changesets.lock() {
            let entry = all.entry(uri.to_string()).or_insert(Followed {
                session: id.to_string(),
                turn,
                sent: state,
                followers: 0,
            });
            entry.followers += 1;
        }
    }

    /// A client no longer follows this changeset.
    pub fn unfollow_changes(&self, uri: &str) {
        if let Ok(mut all) = self.changesets.lock() {
            if let Some(entry) = all.get_mut(uri) {
                entry.followers = entry.followers.saturating_sub(1);
                if entry.followers == 0 {
                    all.remove(uri);
                }
            }
        }
    }

    /// The session's work changed (a checkpoint): its followed changesets are read again and
    /// what changed is sent. One reading per session at a time; a change meanwhile reads again
    /// once it is done.
    pub async fn changes_changed(self: &Arc<Hub>, id: &str) {
        {
            let Ok(mut rereading) = self.rereading.lock() else {
                return;
            };
            if let Some(again) = rereading.get_mut(id) {
                *again = true;
                return;
            }
            rereading.insert(id.to_string(), false);
        }
        loop {
            self.reread_changes(id).await;
            let Ok(mut rereading) = self.rereading.lock() else {
                return;
            };
            if rereading.get(id) == Some(&true) {
                rereading.insert(id.to_string(), false);
                continue;
            }
            rereading.remove(id);
            return;
        }
    }

    /// [`Hub::changes_changed`], on a task of its own.
    pub fn reread_changes_soon(self: &Arc<Hub>, id: &str) {
        let (hub, id) = (self.clone(), id.to_string());
        tokio::spawn(async move { hub.changes_changed(&id).await });
    }

    async fn reread_changes(self: &Arc<Hub>, id: &str) {
        let followed: Vec<(String, Option<String>)> = match self.changesets.lock() {
            Ok(all) => all
                .iter()
                .filter(|(_, f)| f.session == id)
                .map(|(uri, f)| (uri.clone(), f.turn.clone()))
                .collect(),
            Err(_) => return,
        };
        for (uri, turn) in followed {
            let Ok(state) = super::conn::changeset_state(self, id, turn.as_deref()).await else {
                continue;
            };
            let changed = self.changesets.lock().ok().and_then(|mut all| {
                let entry = all.get_mut(&uri)?;
                (entry.sent != state).then(|| {
                    entry.sent = state.clone();
                })
            });
            if changed.is_some() {
                let action = super::map::action(serde_json::json!({
                    "type": "changeset/contentChanged", "files": state["files"],
                }));
                self.send(&uri, action, None);
            }
        }
    }

    /// Watches the session list for the root channel's notifications, while any connection
    /// listens.
    pub fn watch_list(self: &Arc<Hub>) {
        let Ok(mut watching) = self.watching.lock() else {
            return;
        };
        if *watching {
            return;
        }
        *watching = true;
        let hub = self.clone();
        tokio::spawn(async move { root::watch(&hub).await });
    }
}
