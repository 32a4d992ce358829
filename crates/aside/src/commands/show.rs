//! `aside show`: a session's conversation, its end by default.

use aside_store::EventLog;
use std::io::Write as _;

/// About how many of the newest events `show` prints without `--all` (from the start of the
/// turn they begin in).
const TAIL: usize = 1000;

/// Show a session: status, the conversation (prompts, agent messages, tool calls with their
/// output, the plan; its last turns unless --all) and the changed files.
#[derive(clap::Args)]
pub struct Args {
    /// Session id (or a unique prefix).
    #[arg(add = clap_complete::engine::ArgValueCompleter::new(super::completions::any_session_ids))]
    id: String,
    /// Print JSON: the session, its events and its changed files.
    #[arg(long)]
    json: bool,
    /// The whole conversation, not only its last turns (printed as it is read).
    #[arg(long)]
    all: bool,
}

pub fn run(args: Args) -> anyhow::Result<()> {
    let ctx = super::common::open()?;
    let record = match ctx.locate(&args.id)? {
        aside_sessions::Located::Own(record) => *record,
        // A session started in an agent's own CLI, read-only.
        aside_sessions::Located::External(session) => {
            return show_external(&ctx, &session, args.json)
        }
    };
    let log = EventLog::open(&ctx.layout, &record.id)?;
    let start = if args.all { 0 } else { log.tail_start(TAIL)? };
    let files = ctx.changed_files(&record);
    let config = aside_core::Config::load_user().ok();
    let defaults = aside_core::Config::default();
    let priced = config.as_ref().unwrap_or(&defaults);
    let usage = ctx.usage(&record, priced);
    let lineage = lineage_usage(&ctx, &record, &usage, priced);
    let mut out = std::io::stdout().lock();
    if args.json {
        let files: Vec<_> = files
            .iter()
            .map(|f| serde_json::json!({"path": f.path, "added": f.added, "removed": f.removed}))
            .collect();
        // The events last, one per line as they are read: a long session is never held whole.
        writeln!(
            out,
            "{{\"session\": {},\n\"changed_files\": {},\n\"usage\": {},\n\"lineage\": {},\n\"earlier_events\": {start},\n\"events\": [",
            serde_json::to_string_pretty(&ctx.json(&record))?,
            serde_json::to_string(&files)?,
            serde_json::to_string(&usage)?,
            serde_json::to_string(&lineage)?
        )?;
        let mut first = true;
        let mut failed = None;
        log.each_since(start, |event| {
            let line = serde_json::to_string(&event).unwrap_or_default();
            let sep = if first { "" } else { ",\n" };
            first = false;
            failed = write!(out, "{sep}{line}").err();
            failed.is_none()
        })?;
        if let Some(e) = failed {
            return Err(e.into());
        }
        writeln!(out, "\n]}}")?;
        return Ok(());
    }
    let status = ctx.status(&record);
    let mut out = super::render::Safe(out);
    writeln!(out, "{}  {}", record.id, record.title)?;
    match &record.reason {
        Some(reason) => writeln!(out, "status:   {status} — {reason}")?,
        None => writeln!(out, "status:   {status}")?,
    }
    writeln!(
        out,
        "agent:    {}    mode: {}    approve: {}",
        record.agent, record.mode, record.approve
    )?;
    writeln!(out, "worktree: {}", record.worktree.display())?;
    if usage.tokens.total() > 0 {
        writeln!(out, "usage:    {}", usage_line(&usage))?;
    }
    if let Some(config) = &config {
        let budget = aside_core::usage::budget_for(&record, config);
        if budget.is_set() {
            writeln!(
                out,
                "budget:   {}{}",
                budget.describe(),
                match budget.reached(&record.usage) {
                    Some(_) => format!(
                        " — reached; `aside resume {} --budget …` gives it more",
                        record.id
                    ),
                    None => String::new(),
                }
            )?;
        }
    }
    if let Some(ids) = lineage["sessions"].as_array().filter(|s| s.len() > 1) {
        let tokens = lineage["tokens"].as_u64().unwrap_or(0);
        writeln!(
            out,
            "lineage:  {} sessions ({}): together {} tokens{}",
            ids.len(),
            ids.iter()
                .filter_map(|v| v.as_str())
                .collect::<Vec<_>>()
                .join(" → "),
            aside_core::usage::grouped(tokens),
            lineage["cost"]
                .as_f64()
                .map(|c| format!(" · {}", aside_core::usage::dollars(c)))
                .unwrap_or_default()
        )?;
    }
    if let Some(config) = &config {
        writeln!(
            out,
            "sandbox:  {}",
            aside_core::sandbox::describe(
                config,
                &record.agent,
                record.settings.sandbox,
                &record.repo
            )
        )?;
    }
    if let Some(agent_session) = &record.acp_session_id {
        writeln!(out, "agent session: {agent_session}")?;
    }
    if let Some(branch) = &record.branch {
        writeln!(
            out,
            "branch:   {branch} (from {})",
            record
                .base
                .as_deref()
                .unwrap_or("?")
                .chars()
                .take(12)
                .collect::<String>()
        )?;
    }
    if start > 0 {
        writeln!(
            out,
            "\n({start} earlier events; `aside show {} --all` prints them)",
            record.id
        )?;
    }
    // Rendered a turn at a time (a tool call's updates stay within its turn).
    let mut turn = Vec::new();
    let mut failed = None;
    log.each_since(start, |event| {
        if event.kind == "prompt" && !turn.is_empty() {
            failed = write!(out, "{}", super::render::conversation(&turn)).err();
            turn.clear();
        }
        turn.push(event);
        failed.is_none()
    })?;
    if let Some(e) = failed {
        return Err(e.into());
    }
    write!(out, "{}", super::render::conversation(&turn))?;
    if !files.is_empty() {
        writeln!(out, "\nchanged files:")?;
        for f in &files {
            writeln!(out, "  {:<50} +{} -{}", f.path, f.added, f.removed)?;
        }
    }
    if usage.turns.iter().filter(|t| t.tokens.total() > 0).count() > 1 {
        writeln!(out, "\nusage by turn:")?;
        for (n, turn) in usage.turns.iter().enumerate() {
            if turn.tokens.total() == 0 {
                continue;
            }
            writeln!(
                out,
                "  {:>3}  {:>12} tokens{}{}",
                n + 1,
                aside_core::usage::grouped(turn.tokens.total()),
                turn.cost
                    .map(|c| format!("  {}", aside_core::usage::dollars(c)))
                    .unwrap_or_default(),
                if turn.estimated { "  (estimated)" } else { "" }
            )?;
        }
    }
    Ok(())
}

/// A session's usage in a line: its tokens by kind, its cost (when its models' prices are
/// known) and its context's fill.
fn usage_line(usage: &aside_protocol::usage::Usage) -> String {
    use aside_core::usage::{dollars, grouped};
    let t = &usage.tokens;
    let mut line = format!(
        "{}{} tokens ({} in · {} cached · {} out{})",
        if usage.estimated { "~" } else { "" },
        grouped(t.total()),
        grouped(t.input),
        grouped(t.cached),
        grouped(t.output),
        if t.reasoning > 0 {
            format!(", {} reasoning", grouped(t.reasoning))
        } else {
            String::new()
        }
    );
    match usage.cost {
        Some(cost) => line.push_str(&format!(" · {}", dollars(cost))),
        None => line.push_str(" · cost unknown (no price for its model)"),
    }
    if let Some((used, size)) = usage.context {
        line.push_str(&format!(
            " · context {} of {}",
            grouped(used),
            grouped(size)
        ));
    }
    if usage.estimated {
        line.push_str(" · estimated: the endpoint reported none");
    }
    line
}

/// A session started outside aside, read-only, rendered like aside's own.
fn show_external(
    ctx: &aside_sessions::Sessions,
    session: &aside_sessions::external::External,
    json: bool,
) -> anyhow::Result<()> {
    let (conversation, skipped) = session
        .conversation()
        .map_err(|e| anyhow::anyhow!("cannot read {}: {e}", session.file.display()))?;
    let events: Vec<aside_core::Event> = conversation
        .to_events()
        .into_iter()
        .enumerate()
        .map(|(n, (kind, data))| aside_core::Event {
            seq: n as u64 + 1,
            ts: String::new(),
            kind: kind.to_string(),
            data,
            piece: None,
        })
        .collect();
    let repo = aside_sessions::Sessions::known_repo(&ctx.repos()?, &session.summary.cwd);
    if json {
        let out = serde_json::json!({
            "session": ctx.external_json(session, repo.as_deref()),
            "events": events,
            "skipped_lines": skipped,
        });
        println!("{}", serde_json::to_string_pretty(&out)?);
        return Ok(());
    }
    let summary = &session.summary;
    let mut out = super::render::Safe(std::io::stdout().lock());
    let agent = session.tool.agent();
    writeln!(out, "{}  {}", summary.id, summary.title)?;
    writeln!(
        out,
        "status:   {} (started outside aside, in {agent}'s own CLI)",
        session.status()
    )?;
    writeln!(out, "agent:    {agent}    agent session: {}", summary.id)?;
    writeln!(out, "directory: {}", summary.cwd.display())?;
    if let Some(branch) = &summary.branch {
        writeln!(out, "branch:   {branch}")?;
    }
    writeln!(out, "file:     {}", session.file.display())?;
    write!(out, "{}", super::render::conversation(&events))?;
    if skipped > 0 {
        writeln!(
            out,
            "\n({} of {} {} not JSON and {} skipped: a line being written, or a damaged file)",
            super::render::plural(skipped, "line", "lines"),
            session.file.display(),
            if skipped == 1 { "is" } else { "are" },
            if skipped == 1 { "was" } else { "were" }
        )?;
    }
    writeln!(
        out,
        "\ncontinue it here: aside adopt {}    in {agent}: {}",
        summary.id,
        session.tool.resume_command(&summary.id, summary).join(" ")
    )?;
    Ok(())
}

/// What `record`'s lineage used together (it, the sessions it goes on from and those that go
/// on from them): their ids, oldest first, their tokens, and their cost when every part of it
/// is known.
fn lineage_usage(
    ctx: &aside_sessions::Sessions,
    record: &aside_core::SessionRecord,
    own: &aside_protocol::usage::Usage,
    config: &aside_core::Config,
) -> serde_json::Value {
    let family = ctx.lineage(record);
    let (mut tokens, mut cost) = (0u64, Some(0.0));
    for member in &family {
        // Its own usage is read once, by the caller.
        let theirs;
        let used = if member.id == record.id {
            own
        } else {
            theirs = ctx.usage(member, config);
            &theirs
        };
        tokens += used.tokens.total();
        cost = match (cost, used.cost) {
            (Some(sum), Some(c)) => Some(sum + c),
            (sum, None) if used.tokens.total() == 0 => sum,
            _ => None,
        };
    }
    serde_json::json!({
        "sessions": family.iter().map(|m| m.id.as_str()).collect::<Vec<_>>(),
        "tokens": tokens,
        "cost": cost.filter(|_| tokens > 0),
    })
}
