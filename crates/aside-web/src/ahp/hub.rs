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
}

impl Hub {
    pub fn new(layout: aside_store::Layout, progress: crate::Progress) -> Arc<Hub> {
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
        })
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

    /// The newest sequence number sent.
    pub fn last_seq(&self) -> u64 {
        self.sequence.lock().map(|s| s.last).unwrap_or(0)
    }

    /// Numbers and sends an action (with the origin of the client whose dispatch it answers).
    pub fn send(
        &self,
        channel: &str,
        action: StateAction,
        origin: Option<ActionOrigin>,
        rejection: Option<String>,
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
            rejection_reason: rejection,
        });
        if sequence.ring.len() == REPLAY {
            sequence.ring.pop_front();
        }
        sequence.ring.push_back(envelope.clone());
        // Sent under the lock, so every connection receives them in order.
        let _ = self.actions.send(envelope);
        sequence.last
    }

    /// The actions after `seq` on these channels, or None when some are no longer kept.
    pub fn replay(&self, seq: u64, channels: &[String]) -> Option<Vec<ActionEnvelope>> {
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
                .map(|e| (**e).clone())
                .collect(),
        )
    }

    /// Remembers whose dispatch `key` answers.
    pub fn expect(&self, key: String, origin: ActionOrigin) {
        if let Ok(mut origins) = self.origins.lock() {
            // Bounded: a client whose dispatches never come back cannot grow it.
            if origins.len() > 4096 {
                origins.clear();
            }
            origins.insert(key, origin);
        }
    }

    /// The origin `key` was expected with, once.
    pub fn origin(&self, key: &str) -> Option<ActionOrigin> {
        self.origins.lock().ok()?.remove(key)
    }

    /// The session's projection, made (from its stored events) if nobody follows it now.
    pub async fn projector(self: &Arc<Hub>, id: &str) -> Result<Arc<Projector>, String> {
        self.sweep();
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

    /// A connection stopped following the session.
    pub fn left(&self, id: &str) {
        if let Ok(mut all) = self.projectors.lock() {
            if let Some(entry) = all.get_mut(id) {
                // The hub's own reference, and this one being dropped.
                if Arc::strong_count(&entry.0) <= 2 {
                    entry.1 = Some(Instant::now());
                }
            }
        }
    }

    /// Stops projecting sessions nobody followed for [`LINGER`].
    pub fn sweep(&self) {
        if let Ok(mut all) = self.projectors.lock() {
            all.retain(|_, (p, since)| {
                Arc::strong_count(p) > 1 || since.is_none_or(|t| t.elapsed() < LINGER)
            });
        }
    }

    /// A client follows this changeset, sent as `state`.
    pub fn follow_changes(&self, uri: &str, id: &str, turn: Option<String>, state: Value) {
        if let Ok(mut all) = self.changesets.lock() {
            // Bounded: the oldest are no longer kept up to date past this many.
            if all.len() >= 1024 && !all.contains_key(uri) {
                all.clear();
            }
            all.insert(
                uri.to_string(),
                Followed {
                    session: id.to_string(),
                    turn,
                    sent: state,
                },
            );
        }
    }

    /// The session's work changed (a checkpoint): its followed changesets are read again and
    /// what changed is sent.
    pub async fn changes_changed(self: &Arc<Hub>, id: &str) {
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
                self.send(&uri, action, None, None);
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
