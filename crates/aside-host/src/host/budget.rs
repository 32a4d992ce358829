//! What the session used, counted as its events are stored (`aside_protocol::usage`): kept in
//! its record for lists, and held to its budget — a warning at 80 %, and at 100 % its turn
//! stopped cleanly (the agent cancelled, the worktree checkpointed, the session interrupted
//! with the reason, the user notified) until `aside resume ID --budget …` gives it more.

use super::*;
use aside_core::usage::Summary;

impl Host {
    /// What the stored events say was used so far (the kinds that count, through the kind
    /// index: a long log is not read whole).
    pub(crate) fn count_stored_usage(&mut self) -> anyhow::Result<()> {
        let counted = self
            .events
            .of_kinds(&["prompt", "usage_update", "turn_end"])?;
        for event in &counted {
            self.usage.take(&Body::of(event), &self.usage_model);
        }
        self.usage.price(&self.prices);
        Ok(())
    }

    /// A turn's tokens as its agent reported them with its end (ACP's `PromptResponse.usage`).
    pub(crate) fn turn_tokens(
        &self,
        response: &agent_client_protocol::v1::schema::PromptResponse,
    ) -> Option<aside_core::usage::Tokens> {
        let usage = serde_json::to_value(response.usage.as_ref()?).ok()?;
        aside_core::usage::Tokens::of_acp(&usage, self.cached_in_input)
    }

    /// A turn stopped by the host (cancelled for a stop or its budget) that still ended in
    /// time: what it used is counted, not lost with it.
    pub(crate) fn ended_stopped<T, E>(
        &mut self,
        ended: Result<
            Result<Result<agent_client_protocol::v1::schema::PromptResponse, E>, T>,
            tokio::time::error::Elapsed,
        >,
    ) {
        if let Ok(Ok(Ok(response))) = ended {
            if let Some(usage) = self.turn_tokens(&response) {
                self.emit(Body::TurnEnd(TurnEnd {
                    stop_reason: Some(response.stop_reason),
                    usage: Some(usage),
                }));
                // Counted: the stop under way is what follows from it.
                self.over_budget = None;
            }
        }
    }

    /// The session's usage in brief.
    pub(crate) fn usage_summary(&self) -> Summary {
        Summary {
            tokens: self.usage.tokens.total(),
            cost: self.usage.cost,
            estimated: self.usage.estimated,
        }
    }

    /// Counts what a stored event says was used: the record's summary follows, the budget is
    /// checked (a warning at 80 %, once; `over_budget` set at 100 %).
    pub(crate) fn count_usage(&mut self, body: &Body) {
        let counts = match body {
            Body::Prompt(_) | Body::TurnEnd(_) => true,
            Body::Update(update) => matches!(update.as_ref(), SessionUpdate::UsageUpdate(_)),
            _ => false,
        };
        if !counts {
            return;
        }
        self.usage.take(body, &self.usage_model);
        if matches!(body, Body::Prompt(_)) {
            return;
        }
        self.usage.price(&self.prices);
        let summary = self.usage_summary();
        if summary != self.record.usage {
            self.record.usage = summary;
            let _ = self.index.update(&self.record.id, Change::Usage(summary));
        }
        if let Some(reason) = self.budget.reached(&summary) {
            self.over_budget.get_or_insert(reason);
            return;
        }
        let mut say = Vec::new();
        if !self.budget_warned {
            if let Some(nearly) = self.budget.nearly(&summary) {
                self.budget_warned = true;
                say.push(nearly);
            }
        }
        // A turn that called its model (its context was reported) yet gave no token counts.
        let uncounted = matches!(body, Body::TurnEnd(_))
            && summary.tokens == 0
            && self.usage.context.is_some()
            && (self.budget.tokens.is_some()
                || (self.budget.usd.is_some() && summary.cost.is_none()));
        if uncounted {
            if !self.uncounted_said {
                self.uncounted_said = true;
                say.push(format!(
                    "the budget cannot be kept: {} reports no token counts (only its context's fill), so nothing stops this session at its budget",
                    self.record.agent
                ));
            }
        } else if self.budget.usd.is_some()
            && summary.tokens > 0
            && summary.cost.is_none()
            && !self.unpriced_said
        {
            self.unpriced_said = true;
            let models: Vec<String> = self
                .usage
                .models
                .keys()
                .map(|m| {
                    if m.is_empty() {
                        "its model".to_string()
                    } else {
                        m.clone()
                    }
                })
                .collect();
            say.push(format!(
                "the budget in dollars cannot be kept: no price is known for {} ([prices.\"MODEL\"] in the config sets one, or --model names it)",
                models.join(", ")
            ));
        }
        for message in say {
            self.emit(Body::Warning(Warning {
                message,
                submodule: None,
            }));
        }
    }

    /// Stops the session at its budget: the turn cancelled (if one runs), the worktree
    /// checkpointed, the session interrupted with `reason`, the user notified.
    pub(crate) async fn stop_at_budget(
        &mut self,
        cx: Option<(&ConnectionTo<Agent>, &str)>,
        life: &mut Life,
        reason: &str,
    ) {
        self.stop_turn(cx, life, reason, true).await;
        let why = format!(
            "{reason}; `aside resume {} --budget …` goes on with a larger one",
            self.record.id
        );
        self.set_status(Status::Interrupted, Some(&why));
        notify::tell(&self.notify, &self.record, Some(&why));
    }
}
