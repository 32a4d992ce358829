//! `aside usage`: what sessions used — tokens and, where prices are known, dollars — in all and
//! by session, agent, model, repository and day.

use aside_core::usage::{dollars, grouped, Prices, Tokens};
use std::collections::BTreeMap;
use std::io::Write as _;

/// What sessions used: tokens (input, cached, output) and the cost where their models' prices
/// are known (`[prices."MODEL"]` adds to the known ones), in all and by session, agent, model,
/// repository and day.
#[derive(clap::Args)]
pub struct Args {
    /// Only what was used in this last stretch (`7d`, `24h`, `2w`) or since a date
    /// (`2026-12-01`).
    #[arg(long, value_name = "WHEN")]
    since: Option<String>,
    /// Only this repository's sessions (the current directory's when no DIR is given).
    #[arg(long, value_name = "DIR", num_args = 0..=1, default_missing_value = ".")]
    repo: Option<std::path::PathBuf>,
    /// As JSON.
    #[arg(long)]
    json: bool,
}

/// What one group used.
#[derive(Default, serde::Serialize)]
struct Group {
    tokens: Tokens,
    total: u64,
    /// None when some of it has no known price.
    cost: Option<f64>,
    #[serde(skip)]
    unpriced: bool,
}

impl Group {
    fn add(&mut self, tokens: &Tokens, cost: Option<f64>) {
        self.tokens.add(tokens);
        self.total = self.tokens.total();
        match cost {
            Some(c) if !self.unpriced => self.cost = Some(self.cost.unwrap_or(0.0) + c),
            _ => {
                self.unpriced = true;
                self.cost = None;
            }
        }
    }
}

pub fn run(args: Args) -> anyhow::Result<()> {
    let config = aside_core::Config::load_user()?;
    let prices = Prices::with(&config.prices);
    let since = args.since.as_deref().map(since_day).transpose()?;
    let repo = match &args.repo {
        Some(dir) => Some(aside_git::repo_root(dir).map_err(|_| {
            anyhow::anyhow!(
                "{} is not in a git repository: give --repo DIR, or leave --repo out for every repository",
                dir.display()
            )
        })?),
        None => None,
    };
    let ctx = super::common::open()?;
    let mut sessions = Vec::new();
    let (mut agents, mut models, mut repos, mut days) = (
        BTreeMap::<String, Group>::new(),
        BTreeMap::<String, Group>::new(),
        BTreeMap::<String, Group>::new(),
        BTreeMap::<String, Group>::new(),
    );
    let mut total = Group::default();
    let all = ctx.index.list(true)?;
    // Each session's lineage, by its first session (a plan and the task carrying it out, forks,
    // chats handed on): followed through `settings.from`.
    let from: std::collections::HashMap<String, String> = all
        .iter()
        .filter_map(|r| Some((r.id.0.clone(), r.settings.from.as_ref()?.0.clone())))
        .collect();
    let root_of = |id: &str| -> String {
        let mut at = id.to_string();
        for _ in 0..all.len() {
            match from.get(&at) {
                Some(up) if up != id => at = up.clone(),
                _ => break,
            }
        }
        at
    };
    let created: std::collections::HashMap<String, String> = all
        .iter()
        .map(|r| (r.id.0.clone(), r.created_at.clone()))
        .collect();
    let mut lineages: BTreeMap<String, (Vec<String>, Group)> = BTreeMap::new();
    for record in all.iter().cloned() {
        if repo.as_ref().is_some_and(|r| *r != record.repo) {
            continue;
        }
        if since
            .as_deref()
            .is_some_and(|d| record.updated_at.as_str() < d)
        {
            continue;
        }
        let usage = ctx.usage(&record, &config);
        let mut session = Group::default();
        let whole = since
            .as_deref()
            .is_none_or(|d| usage.days.keys().all(|day| day.as_str() >= d));
        for (day, by_model) in &usage.days {
            if since.as_deref().is_some_and(|d| day.as_str() < d) {
                continue;
            }
            for (model, tokens) in by_model {
                let cost = prices.of(model).map(|p| p.of(tokens));
                let name = if model.is_empty() {
                    "(unknown)"
                } else {
                    model.as_str()
                };
                models
                    .entry(name.to_string())
                    .or_default()
                    .add(tokens, cost);
                days.entry(day.clone()).or_default().add(tokens, cost);
                session.add(tokens, cost);
            }
        }
        if session.total == 0 {
            continue;
        }
        // The agent's own figure, when it reported one and the whole session is in range.
        if whole && usage.cost.is_some() {
            session.cost = usage.cost;
            session.unpriced = false;
        }
        agents
            .entry(record.agent.clone())
            .or_default()
            .add(&session.tokens, session.cost);
        repos
            .entry(record.repo.display().to_string())
            .or_default()
            .add(&session.tokens, session.cost);
        total.add(&session.tokens, session.cost);
        let lineage = lineages.entry(root_of(record.id.as_str())).or_default();
        lineage.0.push(record.id.0.clone());
        lineage.1.add(&session.tokens, session.cost);
        sessions.push((record, session));
    }
    // Each lineage reads oldest first.
    for (ids, _) in lineages.values_mut() {
        ids.sort_by(|a, b| created.get(a).cmp(&created.get(b)));
    }
    if args.json {
        let list = |groups: &BTreeMap<String, Group>, key: &str| -> Vec<serde_json::Value> {
            groups
                .iter()
                .map(|(name, g)| {
                    let mut v = serde_json::to_value(g).unwrap_or_default();
                    v[key] = serde_json::Value::String(name.clone());
                    v
                })
                .collect()
        };
        let out = serde_json::json!({
            "since": since,
            "total": total,
            "sessions": sessions.iter().map(|(r, g)| {
                let mut v = serde_json::to_value(g).unwrap_or_default();
                v["id"] = r.id.as_str().into();
                v["title"] = r.title.clone().into();
                v["agent"] = r.agent.clone().into();
                v["repo"] = r.repo.display().to_string().into();
                v
            }).collect::<Vec<_>>(),
            "agents": list(&agents, "agent"),
            "models": list(&models, "model"),
            "repos": list(&repos, "repo"),
            "days": list(&days, "day"),
            "lineages": lineages.iter().filter(|(_, (ids, _))| ids.len() > 1).map(|(root, (ids, g))| {
                let mut v = serde_json::to_value(g).unwrap_or_default();
                v["root"] = root.clone().into();
                v["sessions"] = ids.clone().into();
                v
            }).collect::<Vec<_>>(),
        });
        println!("{}", serde_json::to_string_pretty(&out)?);
        return Ok(());
    }
    let mut out = super::render::Safe(std::io::BufWriter::new(std::io::stdout().lock()));
    let cost = |g: &Group| g.cost.map(dollars).unwrap_or_else(|| "-".to_string());
    let since_text = since
        .as_deref()
        .map(|d| format!(" since {d}"))
        .unwrap_or_default();
    if sessions.is_empty() {
        writeln!(
            out,
            "nothing used{since_text}{}",
            if repo.is_some() {
                " in this repository"
            } else {
                ""
            }
        )?;
        out.flush()?;
        return Ok(());
    }
    writeln!(
        out,
        "used{since_text}: {} tokens ({} in · {} cached · {} out) · {}",
        grouped(total.total),
        grouped(total.tokens.input),
        grouped(total.tokens.cached),
        grouped(total.tokens.output),
        cost(&total)
    )?;
    writeln!(out, "\nby session:")?;
    for (r, g) in &sessions {
        writeln!(
            out,
            "  {}  {:<10} {:>14} tokens  {:>9}  {}",
            r.id,
            r.agent,
            grouped(g.total),
            cost(g),
            r.title.lines().next().unwrap_or_default()
        )?;
    }
    for (title, groups) in [
        ("by agent", &agents),
        ("by model", &models),
        ("by repository", &repos),
        ("by day", &days),
    ] {
        writeln!(out, "\n{title}:")?;
        for (name, g) in groups {
            writeln!(
                out,
                "  {:<30} {:>14} tokens  {:>9}",
                name,
                grouped(g.total),
                cost(g)
            )?;
        }
    }
    let joined: Vec<_> = lineages
        .iter()
        .filter(|(_, (ids, _))| ids.len() > 1)
        .collect();
    if !joined.is_empty() {
        writeln!(
            out,
            "\nby lineage (a session and those that go on from it):"
        )?;
        for (_, (ids, g)) in joined {
            writeln!(
                out,
                "  {:<30} {:>14} tokens  {:>9}",
                ids.join(" → "),
                grouped(g.total),
                cost(g)
            )?;
        }
    }
    if total.cost.is_none() {
        writeln!(
            out,
            "\n(-: no price is known for some of its models; [prices.\"MODEL\"] input = …, output = … in the config sets one)"
        )?;
    }
    out.flush()?;
    Ok(())
}

/// The first day `--since` covers (`YYYY-MM-DD`).
fn since_day(when: &str) -> anyhow::Result<String> {
    let w = when.trim();
    if w.len() == 10 && aside_core::time::parse_rfc3339(&format!("{w}T00:00:00Z")).is_some() {
        return Ok(w.to_string());
    }
    let hours = [("h", 1u64), ("d", 24), ("w", 24 * 7)]
        .iter()
        .find_map(|(unit, scale)| {
            w.strip_suffix(unit)?
                .parse::<u64>()
                .ok()?
                .checked_mul(*scale)?
                .checked_mul(3600)
        });
    let at = hours.and_then(|secs| {
        std::time::SystemTime::now().checked_sub(std::time::Duration::from_secs(secs))
    });
    let Some(at) = at else {
        anyhow::bail!("--since {when}: give a stretch (24h, 7d, 2w) or a date (2026-12-01)");
    };
    Ok(aside_core::time::rfc3339(at)[..10].to_string())
}
