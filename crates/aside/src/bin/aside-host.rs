//! `aside-host`: the small binary a session's host (`aside-host host ID`), its agent's guard
//! (`aside-host guard -- PROGRAM ARGS…`) and the pool's refill (`aside-host refill REPO BASE
//! SIZE`) run as. It holds only what they need, so each of the
//! many hosts of a busy machine maps a fraction of the `aside` binary's code. `aside host` and
//! `aside guard` do the same where this binary is missing.

use std::process::ExitCode;

fn main() -> ExitCode {
    aside_core::process::hide_model_key();
    let args: Vec<String> = std::env::args().skip(1).collect();
    // `ASIDE_LOG` as `Targets` (`debug`, `aside_host=debug,warn`: the `aside` binary's
    // target=level directives, not its span and field filters), without the regular-expression
    // engine of a full `EnvFilter` in every host.
    use tracing_subscriber::layer::SubscriberExt as _;
    use tracing_subscriber::util::SubscriberInitExt as _;
    let filter: tracing_subscriber::filter::Targets = std::env::var("ASIDE_LOG")
        .ok()
        .and_then(|directives| directives.parse().ok())
        .unwrap_or_else(|| {
            tracing_subscriber::filter::Targets::new().with_default(tracing::Level::WARN)
        });
    tracing_subscriber::registry()
        .with(
            tracing_subscriber::fmt::layer()
                .with_writer(std::io::stderr)
                .with_ansi(false),
        )
        .with(filter)
        .init();
    match args.first().map(String::as_str) {
        Some("host") if args.len() == 2 => {
            let id = &args[1];
            if !aside_core::SessionId::is_valid(id) {
                eprintln!("aside-host: invalid session id `{id}`");
                return ExitCode::from(2);
            }
            let result = (|| -> anyhow::Result<()> {
                let config = aside_core::Config::load_user()?;
                let layout = aside_store::Layout::new(aside_core::paths::aside_home());
                aside_host::run(layout, aside_core::SessionId(id.clone()), config)
            })();
            match result {
                Ok(()) => ExitCode::SUCCESS,
                Err(e) => {
                    eprintln!("aside-host: {e:#}");
                    ExitCode::FAILURE
                }
            }
        }
        Some("refill") if args.len() == 4 => {
            let size = args[3].parse().unwrap_or(1);
            match aside_git::pool_refill(std::path::Path::new(&args[1]), &args[2], size) {
                Ok(done) if done.gave_way => {
                    eprintln!("aside-host: {}: the repository stayed busy; the pool refills with the next session", args[1]);
                    ExitCode::SUCCESS
                }
                Ok(_) => ExitCode::SUCCESS,
                Err(e) => {
                    eprintln!("aside-host: cannot refill the pool of {}: {e}", args[1]);
                    ExitCode::FAILURE
                }
            }
        }
        Some("guard") if args.get(1).map(String::as_str) == Some("--") && args.len() > 2 => {
            std::process::exit(aside_host::guard::run(&args[2..]))
        }
        Some(aside_core::sandbox::net::SUBCOMMAND) => {
            std::process::exit(aside_core::sandbox::net::bridge_main(&args[1..]))
        }
        _ => {
            eprintln!(
                "aside-host runs a session's host for aside (internal): aside-host host ID, or aside-host guard -- PROGRAM ARGS…"
            );
            ExitCode::from(2)
        }
    }
}
