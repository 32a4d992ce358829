//! `aside guard -- PROGRAM ARGS…`: the first process of an agent's process group (internal).

/// Run an agent under a guard that stops its whole process group when the host dies
/// (internal: started by a session's host).
#[derive(clap::Args)]
pub struct Args {
    /// The agent's program and arguments.
    #[arg(trailing_var_arg = true, allow_hyphen_values = true, required = true)]
    command: Vec<String>,
}

pub fn run(args: Args) -> ! {
    std::process::exit(aside_host::guard::run(&args.command))
}
