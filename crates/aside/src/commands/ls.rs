//! `aside ls`: the sessions.

use aside_core::Status;
use std::path::PathBuf;

/// List sessions, newest activity first.
#[derive(clap::Args)]
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

pub fn run(args: Args) -> anyhow::Result<()> {
    let ctx = super::common::open()?;
    let config = aside_core::Config::load_user()?;
    let mut sessions = ctx.index.list(args.all)?;
    if let Some(dir) = &args.repo {
        let repo = ctx.repo_of(dir)?;
        sessions.retain(|r| r.repo == repo);
    }
    if args.json {
        let list: Vec<_> = sessions.iter().map(|r| ctx.json(r)).collect();
        println!("{}", serde_json::to_string_pretty(&list)?);
        return Ok(());
    }
    if sessions.is_empty() {
        if args.repo.is_some() {
            eprintln!("no sessions in that repository; start one with: aside new \"<task>\"");
        } else {
            eprintln!("no sessions yet; start one with: aside new \"<task>\"");
        }
        return Ok(());
    }
    let limit = config.sessions.max_concurrent();
    let rows: Vec<[String; 7]> = sessions
        .iter()
        .map(|r| {
            let status = ctx.status(r);
            let mut shown = if status == Status::NeedsInput {
                "NEEDS_INPUT".to_string()
            } else {
                status.to_string()
            };
            if r.archived {
                shown.push_str(" (archived)");
            }
            let repo = r
                .repo
                .file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_else(|| r.repo.display().to_string());
            let updated: String = r.updated_at.replace('T', " ").chars().take(16).collect();
            let note = match status {
                Status::Failed | Status::Interrupted => {
                    r.reason.as_deref().map(|reason| cut(reason, 60))
                }
                Status::Queued => ctx.queue_note(r, limit),
                Status::NeedsInput => Some("waiting for your answer: aside approve/deny".into()),
                _ => None,
            };
            let title = match note {
                Some(note) => format!("{}  — {note}", cut(&r.title, 50)),
                None => cut(&r.title, 60),
            };
            [
                r.id.to_string(),
                shown,
                r.agent.clone(),
                repo,
                r.changed_files.to_string(),
                updated,
                title,
            ]
        })
        .collect();
    let header = ["ID", "STATUS", "AGENT", "REPO", "FILES", "UPDATED", "TITLE"];
    let mut widths = header.map(str::len);
    for row in &rows {
        for (w, cell) in widths.iter_mut().zip(row) {
            *w = (*w).max(cell.chars().count());
        }
    }
    let line = |cells: [&str; 7]| {
        let mut out = String::new();
        for (i, cell) in cells.iter().enumerate() {
            let pad = widths[i].saturating_sub(cell.chars().count());
            match i {
                6 => out.push_str(cell),
                // Counts line up on the right.
                4 => out.push_str(&format!("{}{cell}  ", " ".repeat(pad))),
                _ => out.push_str(&format!("{cell}{}  ", " ".repeat(pad))),
            }
        }
        out.trim_end().to_string()
    };
    println!("{}", line(header));
    for row in &rows {
        println!("{}", line(row.each_ref().map(String::as_str)));
    }
    Ok(())
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
