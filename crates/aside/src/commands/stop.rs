//! `aside stop`: release sessions' processes now.

/// Stop sessions' hosts and agents now, losing nothing: each session keeps its status (a turn
/// that was running becomes `interrupted`; `aside resume` or a follow-up continues it).
#[derive(clap::Args)]
pub struct Args {
    /// Session ids (or unique prefixes).
    #[arg(required_unless_present = "all", add = clap_complete::engine::ArgValueCompleter::new(super::completions::session_ids))]
    ids: Vec<String>,
    /// Every session that has a running host.
    #[arg(long, conflicts_with = "ids")]
    all: bool,
}

pub fn run(args: Args) -> anyhow::Result<()> {
    let ctx = super::common::open()?;
    let records = if args.all {
        ctx.index
            .list(true)?
            .into_iter()
            .filter(|r| ctx.host_alive(r))
            .collect()
    } else {
        args.ids
            .iter()
            .map(|id| ctx.resolve(id))
            .collect::<Result<Vec<_>, _>>()?
    };
    if args.all && records.is_empty() {
        eprintln!("no session has a running host");
    }
    for record in &records {
        if ctx.stop(record)? {
            let now = ctx.resolve(record.id.as_str())?;
            eprintln!("stopped {} ({})", record.id, ctx.status(&now));
        } else {
            eprintln!("{} has no running host ({})", record.id, ctx.status(record));
        }
    }
    Ok(())
}
