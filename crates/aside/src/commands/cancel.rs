//! `aside cancel`: stop the current turn.

/// Cancel the session's current turn; the session stays for follow-ups.
#[derive(clap::Args)]
pub struct Args {
    /// Session id (or a unique prefix).
    #[arg(add = clap_complete::engine::ArgValueCompleter::new(super::completions::session_ids))]
    id: String,
}

pub fn run(args: Args) -> anyhow::Result<()> {
    let ctx = super::common::open()?;
    let record = ctx.resolve(&args.id)?;
    let note = ctx.cancel(&record)?;
    match note {
        Some(note) => eprintln!("cancelling {}; {note}", record.id),
        None => eprintln!("cancelling {}", record.id),
    }
    Ok(())
}
