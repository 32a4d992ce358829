//! `aside ls`: the sessions.

use aside_core::Status;
use std::io::Write as _;
use std::path::PathBuf;

/// List sessions, newest activity first.
#[derive(clap::Args, Default)]
pub struct Args {
    /// Include archived sessions (marked "archived").
    #[arg(long)]
    all: bool,
    /// Only sessions of the repository that holds this directory.
    #[arg(long, value_name = "PATH")]
    repo: Option<PathBuf>,
    /// Print a JSON array instead of a table.
    #[arg(long)]
    json: bool,
    /// Also list sessions started outside aside (Copilot CLI, Codex, Claude Code) in
    /// repositories aside has no session in; those in its repositories are always listed.
    #[arg(long)]
    all_repos: bool,
}

/// Text cut to `max` characters, with an ellipsis when cut.
fn cut(text: &str, max: usize) -> String {
    let line = text.lines().next().unwrap_or_default();
    if line.chars().count() <= max && !text.contains('\n') {
        return line.to_string();
    }
    let kept: String = line.chars().take(max.saturating_sub(1)).collect();
    format!("{kept}…")
}

/// One line of the table.
struct Row {
    cells: [String; 8],
    updated_at: String,
}

pub fn run(args: Args) -> anyhow::Result<()> {
    let ctx = super::common::open()?;
    let config = aside_core::Config::load_user()?;
    let mut sessions = ctx.index.list(args.all)?;
    let only = match &args.repo {
        Some(dir) => Some(ctx.repo_of(dir)?),
        None => None,
    };
    if let Some(repo) = &only {
        sessions.retain(|r| &r.repo == repo);
    }
    // Sessions started in a terminal, in the repositories aside knows (or any, --all-repos).
    let repos = match &only {
        Some(repo) => vec![repo.clone()],
        None => {
            // Those of the repository the user is in count too.
            let mut repos = ctx.repos()?;
            if let Some(here) = std::env::current_dir()
                .ok()
                .and_then(|d| ctx.repo_holding(&d))
            {
                if !repos.contains(&here) {
                    repos.push(here);
                }
            }
            repos
        }
    };
    let all_externals = ctx.externals();
    let found_elsewhere = all_externals.len();
    let externals: Vec<(aside_sessions::external::External, Option<PathBuf>)> = all_externals
        .into_iter()
        .map(|s| {
            let repo = aside_sessions::Sessions::known_repo(&repos, &s.summary.cwd);
            (s, repo)
        })
        .filter(|(_, repo)| repo.is_some() || (args.all_repos && only.is_none()))
        .collect();
    let elsewhere = found_elsewhere - externals.len();
    let remote = if only.is_some() {
        Vec::new()
    } else {
        aside_sessions::remote::sessions(&config.machines, args.all)
    };
    for aside_sessions::remote::MachineSessions { name, answer, .. } in &remote {
        if let Err(why) = answer {
            eprintln!(
                "machine {name} is unreachable ({}); its sessions as last seen are marked (unreachable): aside machine check {name}",
                super::render::terminal_safe(why)
            );
        }
    }
    let remote_items: Vec<serde_json::Value> = remote.iter().flat_map(|m| m.items()).collect();
    if args.json {
        // aside's own sessions come newest first from the index; the others join them in order.
        #[derive(serde::Serialize)]
        #[serde(untagged)]
        #[allow(clippy::large_enum_variant)] // built once per session, written at once
        enum Item<'a> {
            Own(aside_sessions::SessionView<'a>),
            External(serde_json::Value),
        }
        let mut others: Vec<serde_json::Value> = externals
            .iter()
            .map(|(s, repo)| ctx.external_json(s, repo.as_deref()))
            .collect();
        others.sort_by(|a, b| b["updated_at"].as_str().cmp(&a["updated_at"].as_str()));
        let mut others = others.into_iter().peekable();
        let mut list = Vec::with_capacity(sessions.len() + externals.len());
        for view in ctx.views(&sessions) {
            while let Some(other) =
                others.next_if(|o| o["updated_at"].as_str() > Some(view.updated_at))
            {
                list.push(Item::External(other));
            }
            list.push(Item::Own(view));
        }
        list.extend(others.map(Item::External));
        list.extend(remote_items.into_iter().map(Item::External));
        let mut out = std::io::BufWriter::new(std::io::stdout().lock());
        serde_json::to_writer_pretty(&mut out, &list)?;
        writeln!(out)?;
        out.flush()?;
        return Ok(());
    }
    let more = (elsewhere > 0 && !args.all_repos).then(|| {
        format!(
            "{} started in the agents' own CLIs in other repositories: aside ls --all-repos",
            super::render::plural(elsewhere, "more session", "more sessions")
        )
    });
    if sessions.is_empty() && externals.is_empty() && remote_items.is_empty() {
        if args.repo.is_some() {
            eprintln!("no sessions in that repository; start one with: aside new \"<task>\"");
        } else {
            eprintln!("no sessions yet; start one with: aside new \"<task>\"");
        }
        if let Some(more) = more {
            eprintln!("{more}");
        }
        return Ok(());
    }
    let limit = config.sessions.max_concurrent();
    let name_of = |path: &std::path::Path| {
        path.file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_else(|| path.display().to_string())
    };
    let short_time = |t: &str| -> String { t.replace('T', " ").chars().take(16).collect() };
    let views = ctx.views(&sessions);
    let mut rows: Vec<Row> = sessions
        .iter()
        .zip(&views)
        .map(|(r, view)| {
            let status = Status::parse(view.status).unwrap_or(r.status);
            let mut shown = if status == Status::NeedsInput {
                "NEEDS_INPUT".to_string()
            } else {
                status.to_string()
            };
            if r.archived {
                shown.push_str(" (archived)");
            }
            let note = match status {
                Status::Failed | Status::Interrupted => {
                    r.reason.as_deref().map(|reason| cut(reason, 60))
                }
                Status::Queued => ctx.queue_note(r, limit),
                Status::Starting => r.reason.clone(),
                Status::NeedsInput => Some("waiting for your answer: aside approve/deny".into()),
                _ => None,
            };
            let title = match note {
                Some(note) => format!("{}  — {note}", cut(&r.title, 50)),
                None => cut(&r.title, 60),
            };
            Row {
                cells: [
                    r.id.to_string(),
                    shown,
                    r.agent.clone(),
                    name_of(&r.repo),
                    r.changed_files.to_string(),
                    usage_cell(&r.usage),
                    short_time(&r.updated_at),
                    title,
                ],
                updated_at: r.updated_at.clone(),
            }
        })
        .collect();
    // Ids as short as they can be and still tell sessions apart (Codex's start with the time).
    let ids: Vec<&str> = sessions
        .iter()
        .map(|r| r.id.as_str())
        .chain(externals.iter().map(|(s, _)| s.summary.id.as_str()))
        .collect();
    let short = |id: &str| -> String {
        let chars: Vec<char> = id.chars().collect();
        (8..chars.len())
            .map(|n| chars[..n].iter().collect::<String>())
            .find(|p| {
                ids.iter()
                    .filter(|other| other.starts_with(p.as_str()))
                    .count()
                    == 1
            })
            .unwrap_or_else(|| id.to_string())
    };
    rows.extend(externals.iter().map(|(s, repo)| {
        let updated_at = s.updated_at();
        Row {
            cells: [
                short(&s.summary.id),
                format!("{} (external)", s.status()),
                s.tool.agent().to_string(),
                name_of(repo.as_deref().unwrap_or(&s.summary.cwd)),
                "-".to_string(),
                "-".to_string(),
                short_time(&updated_at),
                cut(&s.summary.title, 60),
            ],
            updated_at,
        }
    }));
    rows.extend(remote_items.iter().map(|s| {
        let text = |key: &str| s[key].as_str().unwrap_or_default().to_string();
        let mut status = text("status");
        if status == "needs_input" {
            status = "NEEDS_INPUT".into();
        }
        if s["archived"] == true {
            status.push_str(" (archived)");
        }
        if s["unreachable"] == true {
            status.push_str(" (unreachable)");
        }
        Row {
            cells: [
                text("id"),
                status,
                text("agent"),
                name_of(std::path::Path::new(s["repo"].as_str().unwrap_or_default())),
                s["changed_files"].as_u64().unwrap_or(0).to_string(),
                usage_cell(&serde_json::from_value(s["usage"].clone()).unwrap_or_default()),
                short_time(&text("updated_at")),
                cut(&text("title"), 60),
            ],
            updated_at: text("updated_at"),
        }
    }));
    rows.sort_by(|a, b| b.updated_at.cmp(&a.updated_at));
    let header = [
        "ID", "STATUS", "AGENT", "REPO", "FILES", "USAGE", "UPDATED", "TITLE",
    ];
    let mut widths = header.map(str::len);
    for row in &rows {
        for (w, cell) in widths.iter_mut().zip(&row.cells) {
            *w = (*w).max(cell.chars().count());
        }
    }
    let line = |cells: [&str; 8]| {
        let mut out = String::new();
        for (i, cell) in cells.iter().enumerate() {
            let pad = widths[i].saturating_sub(cell.chars().count());
            match i {
                7 => out.push_str(cell),
                // Counts line up on the right.
                4 | 5 => out.push_str(&format!("{}{cell}  ", " ".repeat(pad))),
                _ => out.push_str(&format!("{cell}{}  ", " ".repeat(pad))),
            }
        }
        out.trim_end().to_string()
    };
    // One write for the whole table, not one per line; titles and agent lines shown as text.
    let mut out = super::render::Safe(std::io::BufWriter::new(std::io::stdout().lock()));
    writeln!(out, "{}", line(header))?;
    for row in &rows {
        writeln!(out, "{}", line(row.cells.each_ref().map(String::as_str)))?;
    }
    out.flush()?;
    if let Some(more) = more {
        eprintln!("{more}");
    }
    Ok(())
}

/// A session's usage for its column: tokens and the cost when known (`12.3k $0.04`), `~` when
/// some were estimated, `-` when none yet.
fn usage_cell(usage: &aside_core::usage::Summary) -> String {
    if usage.tokens == 0 {
        return "-".to_string();
    }
    let tokens = format!(
        "{}{}",
        if usage.estimated { "~" } else { "" },
        aside_core::usage::short(usage.tokens)
    );
    match usage.cost {
        Some(cost) => format!("{tokens} {}", aside_core::usage::dollars(cost)),
        None => tokens,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn long_text_is_cut_with_an_ellipsis() {
        assert_eq!(cut("short", 10), "short");
        assert_eq!(cut("abcdefghijkl", 5), "abcd…");
        assert_eq!(cut("first line\nsecond", 40), "first line…");
    }
}
