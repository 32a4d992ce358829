//! `aside ui`: the web Agents view.

use anyhow::Context as _;

/// Serve the web Agents view on 127.0.0.1 and print its URL (with the access token).
///
/// Every session of every repository, live, with every action the CLI has. The page needs the
/// token in the URL once; it then lives in an HttpOnly cookie.
#[derive(clap::Args)]
pub struct Args {
    /// Port to listen on (default: any free port).
    #[arg(long, default_value_t = 0)]
    port: u16,
    /// Open the page in the default browser.
    #[arg(long)]
    open: bool,
}

pub fn run(args: Args) -> anyhow::Result<()> {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .context("while starting the runtime")?;
    runtime.block_on(async {
        let layout = aside_store::Layout::new(aside_core::paths::aside_home());
        let server = aside_web::bind(args.port, layout)
            .await
            .with_context(|| format!("cannot listen on 127.0.0.1:{}", args.port))?;
        println!("{}", server.url);
        eprintln!(
            "aside ui: serving the Agents view on http://{} (Ctrl-C stops it; sessions go on)",
            server.addr
        );
        if args.open {
            if let Err(e) = std::process::Command::new("xdg-open")
                .arg(&server.url)
                .spawn()
            {
                eprintln!("aside ui: cannot open a browser ({e}); open the URL above");
            }
        }
        server.serve().await.context("while serving")
    })
}
