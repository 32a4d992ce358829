//! `aside ui`: the web Agents view.

use anyhow::Context as _;

/// Serve the web Agents view on 127.0.0.1 and print its URL (with the access token).
///
/// Every session of every repository, live, with every action the CLI has. The page needs the
/// token in the URL once; it keeps it in the page's own storage (no cookie: those reach every
/// server on 127.0.0.1). Scripts send it as `Authorization: Bearer TOKEN`.
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
        let server = aside_web::bind(args.port, layout.clone())
            .await
            .with_context(|| format!("cannot listen on 127.0.0.1:{}", args.port))?;
        println!("{}", server.url);
        eprintln!(
            "aside ui: serving the Agents view on http://{} (Ctrl-C stops it; sessions go on)",
            server.addr
        );
        if args.open {
            // The token never goes on a command line (any user can read those): the browser
            // opens a page only the user can read, which passes it on in the URL's fragment.
            let page = layout
                .home
                .join("run")
                .join(format!("ui-{}.html", server.addr.port()));
            let target = server.url.replacen("/?token=", "/#token=", 1);
            let opened = aside_core::paths::write_private(
                &page,
                format!(
                    "<!doctype html><meta http-equiv=\"refresh\" content=\"0;url={target}\">\n"
                )
                .as_bytes(),
            )
            .and_then(|()| std::process::Command::new("xdg-open").arg(&page).spawn());
            match opened {
                Ok(_) => {
                    // Long enough for the browser to read it.
                    tokio::spawn(async move {
                        tokio::time::sleep(std::time::Duration::from_secs(60)).await;
                        let _ = std::fs::remove_file(page);
                    });
                }
                Err(e) => eprintln!("aside ui: cannot open a browser ({e}); open the URL above"),
            }
        }
        server.serve().await.context("while serving")
    })
}
