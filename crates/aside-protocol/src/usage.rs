//! What a session used: tokens per model call and per turn, the context window's fill, and the
//! cost when prices are known — read from its events, so it survives restarts and shows in
//! history. One reading for every view, `aside usage` and the host's budget.
//!
//! Sources: the built-in agent puts each model call's tokens in its `usage_update`'s
//! `_meta["aside.usage"]` ([`CallUsage`]); other agents report a turn's tokens with its end
//! (ACP's `PromptResponse.usage`, kept in [`TurnEnd::usage`](crate::events::TurnEnd)) and their
//! context and cumulative cost in `usage_update`.

use crate::events::Body;
pub use aside_core::usage::*;
use aside_core::Event;
use serde::Serialize;
use std::collections::BTreeMap;

/// One turn's usage.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct TurnUsage {
    /// Its tokens.
    pub tokens: Tokens,
    /// By model.
    pub models: BTreeMap<String, Tokens>,
    /// Some were counted by aside, not the endpoint.
    pub estimated: bool,
    /// What it cost in dollars, when known (the agent's own figure, or its models' prices).
    pub cost: Option<f64>,
}

/// A session's usage.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct Usage {
    /// All its tokens.
    pub tokens: Tokens,
    /// Each turn's, in order.
    pub turns: Vec<TurnUsage>,
    /// By model.
    pub models: BTreeMap<String, Tokens>,
    /// Some were counted by aside, not the endpoint.
    pub estimated: bool,
    /// The context window's fill at the last report: tokens in it and its size.
    pub context: Option<(u64, u64)>,
    /// What it cost in dollars, when known.
    pub cost: Option<f64>,
    /// Tokens by day (`YYYY-MM-DD`, as the events were stored) and model.
    #[serde(skip)]
    pub days: BTreeMap<String, BTreeMap<String, Tokens>>,
    /// The cost the agent itself reported (cumulative, in dollars).
    #[serde(skip)]
    reported: Option<f64>,
    /// The day of the event being read.
    #[serde(skip)]
    day: Option<String>,
    /// The agent's last cumulative figure.
    #[serde(skip)]
    reported_last: f64,
}

impl Usage {
    /// Read from a session's events; `model` names what answered where an event does not (the
    /// session's model, for agents that report a turn's tokens without it), `prices` prices it.
    pub fn of(events: &[Event], model: &str, prices: &Prices) -> Usage {
        let mut usage = Usage::default();
        for event in events {
            usage.day = event.ts.get(..10).map(str::to_string);
            usage.take(&Body::of(event), model);
        }
        usage.day = None;
        usage.price(prices);
        usage
    }

    /// One event's part.
    pub fn take(&mut self, body: &Body, model: &str) {
        match body {
            Body::Prompt(_) => self.turns.push(TurnUsage::default()),
            Body::Update(update) => {
                if let agent_client_protocol::v1::schema::SessionUpdate::UsageUpdate(u) =
                    update.as_ref()
                {
                    if u.size > 0 {
                        self.context = Some((u.used, u.size));
                    }
                    if let Some(cost) = u.cost.as_ref().filter(|c| c.currency == "USD") {
                        // Cumulative for the agent's process: one that starts again (a
                        // resumed session) counts from zero, and what it says adds on.
                        let more = if cost.amount >= self.reported_last {
                            cost.amount - self.reported_last
                        } else {
                            cost.amount
                        };
                        self.reported_last = cost.amount;
                        self.reported = Some(self.reported.unwrap_or(0.0) + more);
                        let turn = self.turn();
                        turn.cost = Some(turn.cost.unwrap_or(0.0) + more);
                    }
                    let call = u
                        .meta
                        .as_ref()
                        .and_then(|m| m.get(META_KEY))
                        .and_then(|v| serde_json::from_value::<CallUsage>(v.clone()).ok());
                    if let Some(call) = call {
                        let name = if call.model.is_empty() {
                            model
                        } else {
                            &call.model
                        };
                        self.count(&call.tokens, name, call.estimated);
                    }
                }
            }
            Body::TurnEnd(end) => {
                if let Some(tokens) = &end.usage {
                    self.count(tokens, model, false);
                }
            }
            _ => {}
        }
    }

    fn turn(&mut self) -> &mut TurnUsage {
        if self.turns.is_empty() {
            self.turns.push(TurnUsage::default());
        }
        let last = self.turns.len() - 1;
        &mut self.turns[last]
    }

    fn count(&mut self, tokens: &Tokens, model: &str, estimated: bool) {
        self.tokens.add(tokens);
        self.models
            .entry(model.to_string())
            .or_default()
            .add(tokens);
        self.estimated |= estimated;
        if let Some(day) = &self.day {
            self.days
                .entry(day.clone())
                .or_default()
                .entry(model.to_string())
                .or_default()
                .add(tokens);
        }
        let turn = self.turn();
        turn.tokens.add(tokens);
        turn.models
            .entry(model.to_string())
            .or_default()
            .add(tokens);
        turn.estimated |= estimated;
    }

    /// Sets the costs: the agent's own figures where it reported them, else each model's price;
    /// none where a model has no price (tokens only, never a made-up cost).
    pub fn price(&mut self, prices: &Prices) {
        let priced = |models: &BTreeMap<String, Tokens>| -> Option<f64> {
            models
                .iter()
                .map(|(m, t)| prices.of(m).map(|p| p.of(t)))
                .sum::<Option<f64>>()
        };
        if self.reported.is_some() {
            self.cost = self.reported;
            return;
        }
        for turn in &mut self.turns {
            turn.cost = if turn.models.is_empty() {
                None
            } else {
                priced(&turn.models)
            };
        }
        self.cost = if self.models.is_empty() {
            None
        } else {
            priced(&self.models)
        };
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn event(seq: u64, kind: &str, data: serde_json::Value) -> Event {
        Event {
            seq,
            ts: String::new(),
            kind: kind.to_string(),
            data,
            piece: None,
        }
    }

    #[test]
    fn calls_and_turns_add_up_and_are_priced_only_when_known() {
        let call = |input: u64, output: u64, model: &str| {
            json!({"sessionUpdate": "usage_update", "used": input + output, "size": 1000,
                   "_meta": {META_KEY: {"input": input, "cached": 10, "output": output, "model": model}}})
        };
        let events = vec![
            event(1, "prompt", json!({"text": "one"})),
            event(2, "usage_update", call(100, 20, "gpt-4.1-2025-04-14")),
            event(3, "usage_update", call(200, 30, "gpt-4.1-2025-04-14")),
            event(4, "turn_end", json!({"stopReason": "end_turn"})),
            event(5, "prompt", json!({"text": "two"})),
            event(6, "usage_update", call(50, 5, "local-llama")),
        ];
        let prices = Prices::with(&BTreeMap::new());
        let usage = Usage::of(&events, "", &prices);
        assert_eq!(
            usage.tokens,
            Tokens {
                input: 350,
                cached: 30,
                output: 55,
                reasoning: 0
            }
        );
        assert_eq!(usage.turns.len(), 2);
        assert_eq!(usage.turns[0].tokens.total(), 100 + 20 + 200 + 30 + 20);
        // gpt-4.1 is priced; the local model is not, so the session's cost is unknown.
        let first = usage.turns[0].cost.unwrap();
        assert!((first - (300.0 * 2.0 + 20.0 * 0.5 + 50.0 * 8.0) / 1e6).abs() < 1e-12);
        assert_eq!(usage.turns[1].cost, None);
        assert_eq!(usage.cost, None);
        assert_eq!(usage.context, Some((55, 1000)));
        // The user's price makes it known.
        let mine: BTreeMap<String, Price> = [(
            "local-llama".to_string(),
            Price {
                input: 0.0,
                output: 0.0,
                cached: None,
            },
        )]
        .into();
        assert!(Usage::of(&events, "", &Prices::with(&mine)).cost.is_some());
    }

    #[test]
    fn a_turns_reported_tokens_and_an_agents_own_cost_count() {
        let events = vec![
            event(1, "prompt", json!({"text": "one"})),
            event(
                2,
                "usage_update",
                json!({"sessionUpdate": "usage_update", "used": 5000, "size": 200000, "cost": {"amount": 0.25, "currency": "USD"}}),
            ),
            event(
                3,
                "turn_end",
                json!({"stopReason": "end_turn", "usage": {"input": 10, "cached": 4000, "output": 300}}),
            ),
            event(4, "prompt", json!({"text": "two"})),
            event(
                5,
                "usage_update",
                json!({"sessionUpdate": "usage_update", "used": 6000, "size": 200000, "cost": {"amount": 0.40, "currency": "USD"}}),
            ),
            event(
                6,
                "turn_end",
                json!({"stopReason": "end_turn", "usage": {"input": 20, "cached": 5000, "output": 100}}),
            ),
        ];
        let usage = Usage::of(&events, "claude-sonnet-4-5", &Prices::default());
        assert_eq!(usage.tokens.total(), 10 + 4000 + 300 + 20 + 5000 + 100);
        assert_eq!(usage.cost, Some(0.40));
        assert!((usage.turns[1].cost.unwrap() - 0.15).abs() < 1e-9);
        assert_eq!(
            Tokens::of_acp(
                &json!({"inputTokens": 10, "outputTokens": 3, "cachedReadTokens": 7, "cachedWriteTokens": 2, "totalTokens": 22}),
                false
            ),
            Some(Tokens {
                input: 12,
                cached: 7,
                output: 3,
                reasoning: 0
            })
        );
        assert_eq!(grouped(201344), "201,344");
        assert_eq!(short(201344), "201.3k");
        let prices = Prices::with(&BTreeMap::new());
        assert!(prices.of("claude-sonnet-4-20250514").is_some());
        assert!(prices.of("openai/gpt-4.1-mini").unwrap().input < 1.0);
        assert!(prices.of("gpt-4.1x").is_none());
        // Another model of the family is not priced as it.
        assert!(prices.of("gpt-5-pro").is_none());
        assert!(prices.of("gpt-4.1-2025-04-14").is_some());
    }
}
