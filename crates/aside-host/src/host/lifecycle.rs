//! The session's lifecycle as a host sees it: the prompt queue, the running turn, the permission
//! requests waiting for the user, cancelling. Pure state, no I/O: the host's loop asks it what
//! to do and carries it out (store events, talk ACP), so every transition is unit-tested here.

use crate::protocol::events::Body;
use aside_core::Event;
use std::collections::{HashSet, VecDeque};

/// A prompt waiting for its turn.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Queued {
    pub(crate) text: String,
    /// aside's own continuation of an interrupted turn, not the user's words.
    pub(crate) resumed: bool,
    /// The client's id for this follow-up: a request sent again (the host died before it
    /// answered) is recognised and taken once.
    pub(crate) request: Option<String>,
}

impl Queued {
    pub(crate) fn new(text: String, resumed: bool) -> Queued {
        Queued {
            text,
            resumed,
            request: None,
        }
    }

    /// The follow-up a `prompt` or `prompt_queued` event holds.
    fn from_event(event: &Event) -> Option<Queued> {
        match Body::of(event) {
            Body::Prompt(p) | Body::PromptQueued(p) => Some(Queued {
                text: p.text,
                resumed: false,
                request: p.request,
            }),
            _ => None,
        }
    }
}

/// Follow-ups accepted behind a turn (`prompt_queued`) that no turn has taken yet (`prompt`),
/// oldest first; a cancel drops what was queued before it. A new host takes them up again, so
/// a follow-up is never lost to a host that died.
pub(crate) fn waiting_follow_ups(events: &[Event]) -> VecDeque<Queued> {
    let mut waiting: VecDeque<Queued> = VecDeque::new();
    for event in events {
        match event.kind.as_str() {
            "prompt_queued" => waiting.extend(Queued::from_event(event)),
            "prompt" => {
                let Some(taken) = Queued::from_event(event) else {
                    continue;
                };
                let same = |q: &Queued| match (&q.request, &taken.request) {
                    (Some(a), Some(b)) => a == b,
                    _ => q.text == taken.text,
                };
                if let Some(at) = waiting.iter().position(same) {
                    waiting.remove(at);
                }
            }
            "cancel_requested" => waiting.clear(),
            _ => {}
        }
    }
    waiting
}

/// The request ids of every follow-up the session already took (see [`Queued::request`]).
pub(crate) fn taken_requests(events: &[Event]) -> HashSet<String> {
    events
        .iter()
        .filter_map(Queued::from_event)
        .filter_map(|q| q.request)
        .collect()
}

/// What became of a follow-up.
#[derive(Debug, PartialEq)]
pub(crate) enum Accepted {
    /// Nothing was running: this turn starts now.
    Start(Queued),
    /// It waits behind the running turn.
    Queued(Queued),
    /// The same request was taken before (sent again after a host died).
    AlreadyTaken,
}

/// What a cancel did.
#[derive(Debug, PartialEq)]
pub(crate) struct Cancelled<P> {
    /// Queued follow-ups dropped with the turn.
    pub(crate) dropped: usize,
    /// Permission requests to answer `cancelled`.
    pub(crate) unanswered: Vec<P>,
}

/// What happens to a permission request the policy did not settle.
#[derive(Debug, PartialEq)]
pub(crate) enum Asked<P> {
    /// It waits for the user; `first` when the session just started waiting.
    Waiting { first: bool },
    /// The turn is being cancelled: answer it `cancelled` at once.
    Refused(P),
}

/// The session's state between the host and its agent. `T` is the running turn's handle
/// (the agent's future answer), `P` a permission request waiting for the user.
pub(crate) struct Lifecycle<T, P> {
    queue: VecDeque<Queued>,
    /// The running turn, if any.
    pub(crate) turn: Option<T>,
    pending: VecDeque<P>,
    cancelling: bool,
    taken: HashSet<String>,
}

impl<T, P> Lifecycle<T, P> {
    /// A session with `queue` to do, having already taken the requests `taken`.
    pub(crate) fn new(queue: VecDeque<Queued>, taken: HashSet<String>) -> Self {
        Lifecycle {
            queue,
            turn: None,
            pending: VecDeque::new(),
            cancelling: false,
            taken,
        }
    }

    /// The prompt the next turn takes, when no turn runs and one waits.
    pub(crate) fn next_turn(&mut self) -> Option<Queued> {
        if self.turn.is_some() {
            return None;
        }
        self.queue.pop_front()
    }

    /// Records the running turn.
    pub(crate) fn started(&mut self, turn: T) {
        self.turn = Some(turn);
        self.cancelling = false;
    }

    /// A follow-up from a client.
    pub(crate) fn prompt(&mut self, text: String, request: Option<String>) -> Accepted {
        if let Some(id) = &request {
            if !self.taken.insert(id.clone()) {
                return Accepted::AlreadyTaken;
            }
        }
        let next = Queued {
            text,
            resumed: false,
            request,
        };
        if self.turn.is_some() || !self.queue.is_empty() {
            self.queue.push_back(next.clone());
            Accepted::Queued(next)
        } else {
            Accepted::Start(next)
        }
    }

    /// Cancels the running turn: queued follow-ups are dropped, waiting permission requests
    /// handed back to be answered `cancelled`. None when no turn runs.
    pub(crate) fn cancel(&mut self) -> Option<Cancelled<P>> {
        self.turn.as_ref()?;
        self.cancelling = true;
        let dropped = self.queue.len();
        self.queue.clear();
        Some(Cancelled {
            dropped,
            unanswered: self.pending.drain(..).collect(),
        })
    }

    /// A permission request the policy did not settle.
    pub(crate) fn ask(&mut self, request: P) -> Asked<P> {
        if self.cancelling {
            return Asked::Refused(request);
        }
        self.pending.push_back(request);
        Asked::Waiting {
            first: self.pending.len() == 1,
        }
    }

    /// The oldest permission request waiting for the user, taken for an answer.
    pub(crate) fn take_pending(&mut self) -> Option<P> {
        self.pending.pop_front()
    }

    /// Puts back a request the answer did not fit.
    pub(crate) fn put_back(&mut self, request: P) {
        self.pending.push_front(request);
    }

    /// Whether the user still has a request to answer.
    pub(crate) fn waiting_for_user(&self) -> bool {
        !self.pending.is_empty()
    }

    /// The turn ended: its unanswered requests are handed back; true when another prompt waits.
    pub(crate) fn turn_ended(&mut self) -> (Vec<P>, bool) {
        self.turn = None;
        let unanswered = self.pending.drain(..).collect();
        (unanswered, !self.queue.is_empty())
    }

    /// The host stops now: the running turn (if any) and the unanswered requests are handed
    /// back; queued follow-ups stay (they are in the history for the next host).
    pub(crate) fn stop(&mut self) -> (Option<T>, Vec<P>, usize) {
        let unanswered = self.pending.drain(..).collect();
        (self.turn.take(), unanswered, self.queue.len())
    }

    /// Nothing runs, waits or is queued: the host may go idle.
    pub(crate) fn is_idle(&self) -> bool {
        self.turn.is_none() && self.queue.is_empty() && self.pending.is_empty()
    }

    /// A turn runs or one is queued.
    pub(crate) fn is_working(&self) -> bool {
        self.turn.is_some() || !self.queue.is_empty()
    }

    /// Nothing is queued.
    pub(crate) fn queue_is_empty(&self) -> bool {
        self.queue.is_empty()
    }

    /// The first queued prompt, to be seeded with the transcript of a conversation the agent
    /// could not load.
    pub(crate) fn first_queued(&mut self) -> Option<&mut Queued> {
        self.queue.front_mut()
    }
}

/// "1 queued follow-up", "2 queued follow-ups".
pub(crate) fn plural(n: usize, noun: &str) -> String {
    if n == 1 {
        format!("1 {noun}")
    } else {
        format!("{n} {noun}s")
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use serde_json::json;

    fn event(seq: u64, kind: &str, data: serde_json::Value) -> Event {
        Event {
            seq,
            ts: String::new(),
            kind: kind.into(),
            data,
            piece: None,
        }
    }

    type Life = Lifecycle<&'static str, u32>;

    fn idle() -> Life {
        Lifecycle::new(VecDeque::new(), HashSet::new())
    }

    #[test]
    fn a_follow_up_starts_a_turn_or_waits_behind_one() {
        let mut life = idle();
        assert!(life.is_idle());
        let Accepted::Start(first) = life.prompt("one".into(), None) else {
            panic!("an idle session starts the turn at once");
        };
        assert_eq!(first.text, "one");
        life.started("turn 1");
        assert!(matches!(life.prompt("two".into(), None), Accepted::Queued(q) if q.text == "two"));
        assert_eq!(life.next_turn(), None, "one turn at a time");
        assert_eq!(life.turn_ended(), (vec![], true));
        assert_eq!(life.next_turn().unwrap().text, "two");
        life.started("turn 2");
        assert_eq!(life.turn_ended(), (vec![], false));
        assert!(life.is_idle());
    }

    #[test]
    fn a_request_sent_again_is_taken_once() {
        let mut life = idle();
        assert!(matches!(
            life.prompt("x".into(), Some("r1".into())),
            Accepted::Start(_)
        ));
        assert_eq!(
            life.prompt("x".into(), Some("r1".into())),
            Accepted::AlreadyTaken
        );
        let restarted: Life = Lifecycle::new(VecDeque::new(), HashSet::from(["r1".to_string()]));
        let mut restarted = restarted;
        assert_eq!(
            restarted.prompt("x".into(), Some("r1".into())),
            Accepted::AlreadyTaken
        );
    }

    #[test]
    fn cancel_drops_the_queue_and_refuses_what_the_user_has_not_answered() {
        let mut life = idle();
        assert_eq!(life.cancel(), None, "nothing to cancel");
        life.started("turn");
        life.prompt("a".into(), None);
        life.prompt("b".into(), None);
        assert_eq!(life.ask(7), Asked::Waiting { first: true });
        assert_eq!(life.ask(8), Asked::Waiting { first: false });
        assert_eq!(
            life.cancel(),
            Some(Cancelled {
                dropped: 2,
                unanswered: vec![7, 8]
            })
        );
        assert_eq!(
            life.ask(9),
            Asked::Refused(9),
            "no new question while cancelling"
        );
        assert_eq!(life.turn_ended(), (vec![], false));
        life.started("next");
        assert_eq!(
            life.ask(10),
            Asked::Waiting { first: true },
            "a new turn asks again"
        );
    }

    #[test]
    fn answers_take_requests_in_order_and_a_turn_end_hands_back_the_rest() {
        let mut life = idle();
        life.started("turn");
        life.ask(1);
        life.ask(2);
        assert_eq!(life.take_pending(), Some(1));
        life.put_back(1);
        assert_eq!(life.take_pending(), Some(1));
        assert!(life.waiting_for_user());
        assert_eq!(life.turn_ended(), (vec![2], false));
        assert!(!life.waiting_for_user());
    }

    #[test]
    fn stopping_keeps_the_queue_for_the_next_host() {
        let mut life = idle();
        life.started("turn");
        life.prompt("later".into(), None);
        life.ask(3);
        assert_eq!(life.stop(), (Some("turn"), vec![3], 1));
        assert!(life.is_working(), "the queued follow-up is still there");
    }

    #[test]
    fn queued_follow_ups_no_turn_took_are_taken_up_again() {
        let texts = |q: VecDeque<Queued>| q.into_iter().map(|q| q.text).collect::<Vec<_>>();
        let events = [
            event(1, "prompt", json!({"text": "task"})),
            event(2, "prompt_queued", json!({"text": "a"})),
            event(3, "prompt_queued", json!({"text": "b"})),
            event(4, "prompt", json!({"text": "a"})),
        ];
        assert_eq!(texts(waiting_follow_ups(&events)), ["b"]);
        let cancelled = [
            event(1, "prompt_queued", json!({"text": "a"})),
            event(2, "cancel_requested", json!({"dropped": 1})),
            event(3, "prompt_queued", json!({"text": "c"})),
        ];
        assert_eq!(texts(waiting_follow_ups(&cancelled)), ["c"]);
        // Follow-ups with the same text are told apart by their request ids.
        let twice = [
            event(
                1,
                "prompt_queued",
                json!({"text": "again", "request": "r1"}),
            ),
            event(
                2,
                "prompt_queued",
                json!({"text": "again", "request": "r2"}),
            ),
            event(3, "prompt", json!({"text": "again", "request": "r2"})),
        ];
        let left = waiting_follow_ups(&twice);
        assert_eq!(left.len(), 1);
        assert_eq!(left[0].request.as_deref(), Some("r1"));
        assert_eq!(taken_requests(&twice).len(), 2);
    }
}
