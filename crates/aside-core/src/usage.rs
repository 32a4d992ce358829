//! Tokens and prices: what a model call used and what that costs. The session-wide reading
//! from events is `aside_protocol::usage`.

use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// The `_meta` key of a built-in agent's `usage_update` holding one model call's [`CallUsage`].
pub const META_KEY: &str = "aside.usage";

/// Tokens, by kind; the kinds do not overlap (`total` is their sum). `reasoning` is the part of
/// `output` spent thinking.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Tokens {
    /// Input read fresh (cache writes included).
    #[serde(default)]
    pub input: u64,
    /// Input read from the provider's cache.
    #[serde(default)]
    pub cached: u64,
    /// Output, reasoning included.
    #[serde(default)]
    pub output: u64,
    /// Of the output, reasoning.
    #[serde(default)]
    pub reasoning: u64,
}

impl Tokens {
    /// Every token counted once.
    pub fn total(&self) -> u64 {
        self.input
            .saturating_add(self.cached)
            .saturating_add(self.output)
    }

    /// `other` added.
    pub fn add(&mut self, other: &Tokens) {
        self.input = self.input.saturating_add(other.input);
        self.cached = self.cached.saturating_add(other.cached);
        self.output = self.output.saturating_add(other.output);
        self.reasoning = self.reasoning.saturating_add(other.reasoning);
    }

    /// ACP's `Usage` (a turn's, as agents report it, camelCase JSON). Agents read its
    /// `inputTokens` two ways: Claude Code's leave the cache reads out (they are
    /// `cachedReadTokens`), Copilot CLI's count them in (`cached_in_input`).
    pub fn of_acp(usage: &serde_json::Value, cached_in_input: bool) -> Option<Tokens> {
        let n = |k: &str| {
            usage
                .get(k)
                .and_then(serde_json::Value::as_u64)
                .unwrap_or(0)
        };
        usage.get("inputTokens")?;
        let fresh = if cached_in_input {
            n("inputTokens").saturating_sub(n("cachedReadTokens"))
        } else {
            n("inputTokens")
        };
        Some(Tokens {
            input: fresh.saturating_add(n("cachedWriteTokens")),
            cached: n("cachedReadTokens"),
            output: n("outputTokens"),
            reasoning: n("thoughtTokens"),
        })
    }
}

/// One model call of the built-in agent.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct CallUsage {
    /// Its tokens.
    #[serde(flatten)]
    pub tokens: Tokens,
    /// The model that answered.
    #[serde(default)]
    pub model: String,
    /// Counted by aside from the text (the endpoint sent no usage): about four characters a
    /// token.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub estimated: bool,
}

/// A session's usage in brief, kept in its record for lists (`aside ls`, the views).
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize)]
pub struct Summary {
    /// All its tokens.
    #[serde(default)]
    pub tokens: u64,
    /// What it cost in dollars, when known.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cost: Option<f64>,
    /// Some tokens were counted by aside, not the endpoint.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub estimated: bool,
}

/// The model a session's reported tokens are priced as, where its events do not name one: the
/// model asked for (`--model`), else its agent's `[agents.NAME] model`, else the built-in
/// agent's `[model] model`; empty when unknown (its tokens then have no price).
pub fn model_of(record: &crate::SessionRecord, config: &crate::Config) -> String {
    record
        .settings
        .model
        .clone()
        .or_else(|| {
            config
                .agents
                .get(&record.agent)
                .and_then(|a| a.model.clone())
        })
        .or_else(|| {
            crate::agents::uses_builtin(&record.agent, config)
                .then(|| config.model.model.clone())
                .flatten()
        })
        .unwrap_or_default()
}

/// The budget session `record` is held to: its own (`--budget`, `aside resume --budget`), else
/// the user's `[sessions]` narrowed by its repository's `.aside.toml`.
pub fn budget_for(record: &crate::SessionRecord, config: &crate::Config) -> Budget {
    record.settings.budget.unwrap_or_else(|| {
        let mine = config.sessions.budget();
        match crate::config::RepoConfig::load(&record.repo) {
            // What a repository cannot mean (0, NaN) narrows nothing.
            Ok(repo) => mine.narrowed(Budget {
                tokens: repo.sessions.budget_tokens.filter(|t| *t > 0),
                usd: repo
                    .sessions
                    .budget_usd
                    .filter(|u| *u > 0.0 && u.is_finite()),
            }),
            Err(_) => mine,
        }
    })
}

/// A session's limit: tokens, dollars, or both (`--budget 200k`, `--budget '$3'`,
/// `--budget 200k,$3`; `[sessions] budget_tokens` / `budget_usd`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize)]
pub struct Budget {
    /// The most tokens.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tokens: Option<u64>,
    /// The most dollars.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub usd: Option<f64>,
}

// Never NaN: `parse` refuses what is not a positive finite amount.
impl Eq for Budget {}

impl Budget {
    /// `200k`, `1.5M`, `120000`, `$3`, `$0.50`, or two of them joined by a comma.
    pub fn parse(text: &str) -> Result<Budget, String> {
        let wrong = || {
            format!("budget `{text}`: give tokens (200k, 1.5M, 120000), dollars ($3, $0.50), or both (200k,$3)")
        };
        let mut budget = Budget::default();
        for part in text.split(',').map(str::trim) {
            if let Some(amount) = part.strip_prefix('$') {
                let usd: f64 = amount.parse().map_err(|_| wrong())?;
                if !(usd > 0.0 && usd.is_finite()) || budget.usd.is_some() {
                    return Err(wrong());
                }
                budget.usd = Some(usd);
            } else {
                let lower = part.to_ascii_lowercase();
                let (number, scale) = match lower.as_bytes().last() {
                    Some(b'k') => (&lower[..lower.len() - 1], 1e3),
                    Some(b'm') => (&lower[..lower.len() - 1], 1e6),
                    _ => (lower.as_str(), 1.0),
                };
                let n: f64 = number.replace('_', "").parse().map_err(|_| wrong())?;
                let tokens = (n * scale).round();
                if !(tokens >= 1.0 && tokens.is_finite()) || budget.tokens.is_some() {
                    return Err(wrong());
                }
                budget.tokens = Some(tokens as u64);
            }
        }
        Ok(budget)
    }

    /// As `parse` takes it back (`200000`, `$3`, `200000,$3`).
    pub fn as_arg(&self) -> String {
        let mut parts = Vec::new();
        if let Some(t) = self.tokens {
            parts.push(t.to_string());
        }
        if let Some(u) = self.usd {
            parts.push(format!("${u}"));
        }
        parts.join(",")
    }

    /// Whether it limits anything.
    pub fn is_set(&self) -> bool {
        self.tokens.is_some() || self.usd.is_some()
    }

    /// The stricter of this and `other`, limit by limit.
    pub fn narrowed(self, other: Budget) -> Budget {
        Budget {
            tokens: match (self.tokens, other.tokens) {
                (Some(a), Some(b)) => Some(a.min(b)),
                (a, b) => a.or(b),
            },
            usd: match (self.usd, other.usd) {
                (Some(a), Some(b)) => Some(a.min(b)),
                (a, b) => a.or(b),
            },
        }
    }

    /// Why a session that used `used` is over this budget (`budget reached: 201,344 tokens of
    /// 200,000`), if it is.
    pub fn reached(&self, used: &Summary) -> Option<String> {
        self.past(used, 1.0, "budget reached")
    }

    /// What to say when it has used 80 % of this budget, if it has.
    pub fn nearly(&self, used: &Summary) -> Option<String> {
        self.past(used, 0.8, "80% of the budget used")
    }

    fn past(&self, used: &Summary, share: f64, what: &str) -> Option<String> {
        if let Some(limit) = self.tokens {
            if used.tokens as f64 >= limit as f64 * share {
                return Some(format!(
                    "{what}: {} tokens of {}",
                    grouped(used.tokens),
                    grouped(limit)
                ));
            }
        }
        if let (Some(limit), Some(cost)) = (self.usd, used.cost) {
            if cost >= limit * share {
                return Some(format!("{what}: {} of {}", dollars(cost), dollars(limit)));
            }
        }
        None
    }

    /// In words: `200,000 tokens`, `$3.00`, `200,000 tokens or $3.00`.
    pub fn describe(&self) -> String {
        match (self.tokens, self.usd) {
            (Some(t), Some(u)) => format!("{} tokens or {}", grouped(t), dollars(u)),
            (Some(t), None) => format!("{} tokens", grouped(t)),
            (None, Some(u)) => dollars(u),
            (None, None) => "none".to_string(),
        }
    }
}

/// Prices of a model, in dollars per million tokens (`[prices."MODEL"]`).
#[derive(Debug, Clone, Copy, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Price {
    /// Fresh input.
    pub input: f64,
    /// Output.
    pub output: f64,
    /// Input read from the cache (the input price when not given).
    #[serde(default)]
    pub cached: Option<f64>,
}

impl Price {
    /// What `tokens` cost, in dollars.
    pub fn of(&self, tokens: &Tokens) -> f64 {
        (tokens.input as f64 * self.input
            + tokens.cached as f64 * self.cached.unwrap_or(self.input)
            + tokens.output as f64 * self.output)
            / 1_000_000.0
    }
}

/// Well-known models' list prices (dollars per million tokens: input, cached input, output), as
/// their vendors published them in 2025; `[prices."MODEL"]` in the config adds to and overrides
/// them. A model named with a date or other suffix (`claude-sonnet-4-20250514`) takes the
/// longest name here it starts with.
pub const KNOWN_PRICES: &[(&str, f64, f64, f64)] = &[
    ("gpt-4.1", 2.0, 0.5, 8.0),
    ("gpt-4.1-mini", 0.4, 0.1, 1.6),
    ("gpt-4.1-nano", 0.1, 0.025, 0.4),
    ("gpt-4o", 2.5, 1.25, 10.0),
    ("gpt-4o-mini", 0.15, 0.075, 0.6),
    ("gpt-5", 1.25, 0.125, 10.0),
    ("gpt-5-mini", 0.25, 0.025, 2.0),
    ("gpt-5-nano", 0.05, 0.005, 0.4),
    ("o3", 2.0, 0.5, 8.0),
    ("o4-mini", 1.1, 0.275, 4.4),
    ("claude-opus-4", 15.0, 1.5, 75.0),
    ("claude-sonnet-4", 3.0, 0.3, 15.0),
    ("claude-sonnet-4-5", 3.0, 0.3, 15.0),
    ("claude-opus-4-1", 15.0, 1.5, 75.0),
    ("claude-haiku-4-5", 1.0, 0.1, 5.0),
    ("claude-3-5-haiku", 0.8, 0.08, 4.0),
    ("gemini-2.5-pro", 1.25, 0.31, 10.0),
    ("gemini-2.5-flash", 0.3, 0.075, 2.5),
];

/// Prices by model: the user's over the known ones.
#[derive(Debug, Clone, Default)]
pub struct Prices(BTreeMap<String, Price>);

impl Prices {
    /// The known prices with `user`'s over them.
    pub fn with(user: &BTreeMap<String, Price>) -> Prices {
        let mut all: BTreeMap<String, Price> = KNOWN_PRICES
            .iter()
            .map(|(name, input, cached, output)| {
                (
                    name.to_string(),
                    Price {
                        input: *input,
                        output: *output,
                        cached: Some(*cached),
                    },
                )
            })
            .collect();
        all.extend(user.iter().map(|(k, v)| (k.clone(), *v)));
        Prices(all)
    }

    /// The price of `model`: its own, else the known name it is a dated release of (after any
    /// `provider/` prefix: `claude-sonnet-4-20250514`, `gpt-4.1-2025-04-14`, `…-latest`). Another
    /// suffix names another model (`gpt-5-pro` is not `gpt-5`): no price.
    pub fn of(&self, model: &str) -> Option<Price> {
        if let Some(p) = self.0.get(model) {
            return Some(*p);
        }
        let bare = model.rsplit('/').next().unwrap_or(model);
        self.0
            .iter()
            .filter(|(name, _)| {
                bare == name.as_str() || bare.strip_prefix(name.as_str()).is_some_and(dated)
            })
            .max_by_key(|(name, _)| name.len())
            .map(|(_, p)| *p)
    }
}

/// Whether `suffix` only dates a release: `-20250514`, `-2025-04-14`, `@20250514`, `-latest`.
fn dated(suffix: &str) -> bool {
    let Some(rest) = suffix
        .strip_prefix('-')
        .or_else(|| suffix.strip_prefix('@'))
    else {
        return false;
    };
    rest == "latest"
        || (rest.chars().all(|c| c.is_ascii_digit() || c == '-')
            && rest.chars().filter(char::is_ascii_digit).count() >= 6)
}

/// `tokens` as people read them: `201,344`.
pub fn grouped(n: u64) -> String {
    let digits = n.to_string();
    let mut out = String::new();
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

/// `201.3k`, `1.2M`: short, for a column.
pub fn short(n: u64) -> String {
    match n {
        0..=999 => n.to_string(),
        1_000..=999_999 => format!("{:.1}k", n as f64 / 1_000.0),
        _ => format!("{:.1}M", n as f64 / 1_000_000.0),
    }
}

/// Dollars as people read them: `$0.0123`, `$1.24`.
pub fn dollars(amount: f64) -> String {
    if amount < 0.01 {
        format!("${amount:.4}")
    } else {
        format!("${amount:.2}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn budgets_read_as_people_write_them_and_say_when_they_are_reached() {
        assert_eq!(
            Budget::parse("200k").unwrap(),
            Budget {
                tokens: Some(200_000),
                usd: None
            }
        );
        assert_eq!(
            Budget::parse("1.5M, $3").unwrap(),
            Budget {
                tokens: Some(1_500_000),
                usd: Some(3.0)
            }
        );
        assert!(Budget::parse("lots")
            .unwrap_err()
            .contains("give tokens (200k"));
        assert!(Budget::parse("$-1").is_err());
        let budget = Budget::parse("200000").unwrap();
        let used = Summary {
            tokens: 201_344,
            cost: None,
            estimated: false,
        };
        assert_eq!(
            budget.reached(&used).unwrap(),
            "budget reached: 201,344 tokens of 200,000"
        );
        let some = Summary {
            tokens: 170_000,
            ..used
        };
        assert_eq!(budget.reached(&some), None);
        assert!(budget
            .nearly(&some)
            .unwrap()
            .starts_with("80% of the budget used"));
        let dollars_only = Budget::parse("$3").unwrap();
        // No known cost: a dollar budget cannot be reached (and is said elsewhere).
        assert_eq!(dollars_only.reached(&used), None);
        assert_eq!(
            dollars_only
                .reached(&Summary {
                    cost: Some(3.02),
                    ..used
                })
                .unwrap(),
            "budget reached: $3.02 of $3.00"
        );
        assert_eq!(
            Budget::parse("300k")
                .unwrap()
                .narrowed(Budget::parse("200k,$5").unwrap()),
            Budget {
                tokens: Some(200_000),
                usd: Some(5.0)
            }
        );
    }
}
