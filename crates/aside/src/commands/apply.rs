//! `aside apply`: bring a session's changes into the main workspace, uncommitted.

/// Apply the session's changes to your workspace as uncommitted changes. All or nothing: on a
/// conflict, or when you have uncommitted changes in the same files, nothing is touched and the
/// files are named.
#[derive(clap::Args)]
pub struct Args {
    /// Session id (or a unique prefix).
    id: String,
}

pub fn run(args: Args) -> anyhow::Result<()> {
    let ctx = super::common::open()?;
    let record = ctx.resolve(&args.id)?;
    let files = ctx.apply(&record)?;
    if files.is_empty() {
        eprintln!("nothing to apply: the session changed no files");
        return Ok(());
    }
    for f in &files {
        println!("{f}");
    }
    eprintln!(
        "applied {} file(s) to {} as uncommitted changes",
        files.len(),
        record.repo.display()
    );
    Ok(())
}
