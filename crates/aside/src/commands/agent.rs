//! `aside agent`: the built-in coding agent, speaking ACP on stdin/stdout.

use anyhow::Context as _;

/// Run the built-in coding agent as an ACP agent on stdin/stdout.
///
/// Any ACP client can drive it (aside's own hosts, editors, `acpx --agent "aside agent"`).
/// The model endpoint comes from `[model]` in the config file and from ASIDE_PROVIDER
/// (openai|anthropic), ASIDE_BASE_URL, ASIDE_MODEL and ASIDE_API_KEY; with nothing set, a local
/// Ollama on 127.0.0.1:11434 is used when it answers.
#[derive(clap::Args)]
pub struct Args {}

pub fn run(_args: Args) -> anyhow::Result<()> {
    let config = aside_core::Config::load_user()?;
    let store = aside_agent::Store::open_default().context("while opening the session store")?;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .context("while starting the runtime")?;
    runtime
        .block_on(aside_agent::serve(config.model, store))
        .map_err(|e| anyhow::anyhow!("ACP connection failed: {e}"))
}
