//! `aside resume`: pick a session up again.

/// Pick up a session whose host is gone: an interrupted or failed session continues its
/// unfinished turn, a finished one gets its agent back for follow-ups. A new host relaunches the
/// agent with the current config and this shell's environment (fixed model settings apply) and
/// continues the same agent session.
#[derive(clap::Args)]
pub struct Args {
    /// Session id (or a unique prefix).
    #[arg(add = clap_complete::engine::ArgValueCompleter::new(super::completions::session_ids))]
    id: String,
    /// Its new budget (a session stopped at its budget goes on with a larger one): tokens
    /// (400k), dollars ('$5') or both.
    #[arg(long, value_name = "LIMIT", value_parser = aside_core::usage::Budget::parse)]
    budget: Option<aside_core::usage::Budget>,
}

pub fn run(args: Args) -> anyhow::Result<()> {
    let config = aside_core::Config::load_user()?;
    let ctx = super::common::open()?;
    let mut record = ctx.resolve(&args.id)?;
    if let Some(budget) = args.budget {
        record.settings.budget = Some(budget);
        ctx.set_settings(&record)?;
    }
    let before = ctx.status(&record);
    ctx.resume(&record, &config)?;
    println!("{}", record.id);
    eprintln!(
        "resumed {} ({before} before); follow with: aside logs -f {}",
        record.id, record.id
    );
    Ok(())
}
