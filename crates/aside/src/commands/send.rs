//! `aside send`: a follow-up.

/// Send a follow-up: it starts the next turn, or waits behind the current one.
#[derive(clap::Args)]
pub struct Args {
    /// Session id (or a unique prefix).
    #[arg(add = clap_complete::engine::ArgValueCompleter::new(super::completions::session_ids))]
    id: String,
    /// The message.
    text: String,
    /// Print the result as JSON.
    #[arg(long)]
    json: bool,
    /// The follow-up's request id (what an AHP client named its turn, for a session on
    /// another machine).
    #[arg(long, hide = true)]
    request: Option<String>,
}

pub fn run(args: Args) -> anyhow::Result<()> {
    let ctx = super::common::open()?;
    let record = ctx.resolve(&args.id)?;
    let config = aside_core::Config::load_user()?;
    match &args.request {
        Some(request) => ctx.send_as(&record, &args.text, request, &config)?,
        None => ctx.send(&record, &args.text, &config)?,
    }
    if args.json {
        let now = ctx.resolve(record.id.as_str())?;
        println!("{}", serde_json::to_string_pretty(&ctx.json(&now))?);
        return Ok(());
    }
    eprintln!(
        "sent to {}; follow with: aside logs -f {}",
        record.id, record.id
    );
    Ok(())
}
