//! `aside ui`: the web Agents view.

use anyhow::Context as _;

/// Serve the web Agents view on 127.0.0.1 and print its URL (with the access token), then the
/// Agent Host Protocol endpoint's (`ws://127.0.0.1:PORT/ahp?tkn=TOKEN`) for VS Code's Agents
/// window and other AHP clients.
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
    /// The address to listen on (default 127.0.0.1). Anything else is refused unless
    /// --unencrypted-network says you mean it: reach aside through an SSH port forward instead.
    #[arg(long, default_value = "127.0.0.1", value_name = "IP")]
    listen: std::net::IpAddr,
    /// Listen on a non-loopback --listen address: tokens, code and what agents do cross that
    /// network unencrypted.
    #[arg(long)]
    unencrypted_network: bool,
}

/// How to reach `aside ui` on another machine without exposing it.
fn forward_advice(port: u16) -> String {
    let port = if port == 0 { 8765 } else { port };
    format!(
        "reach it over SSH instead: run `aside ui --port {port}` there and, on your computer, `ssh -N -L {port}:127.0.0.1:{port} HOST`; then open the printed URLs on your computer as they are"
    )
}

pub fn run(args: Args) -> anyhow::Result<()> {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .context("while starting the runtime")?;
    runtime.block_on(async {
        let layout = aside_store::Layout::new(aside_core::paths::aside_home());
        if !args.listen.is_loopback() {
            if !args.unencrypted_network {
                anyhow::bail!(
                    "not listening on {}: aside's tokens, your code and what agents do would cross the network unencrypted; {} (or add --unencrypted-network on a network you trust)",
                    args.listen,
                    forward_advice(args.port)
                );
            }
            eprintln!(
                "aside ui: WARNING: listening on {} without encryption: anyone on that network who sees a token can drive your agents; {}",
                args.listen,
                forward_advice(args.port)
            );
        }
        let server = aside_web::bind_on(args.listen, args.port, layout.clone())
            .await
            .with_context(|| format!("cannot listen on {}:{}", args.listen, args.port))?;
        // First the page's URL, then the Agent Host Protocol endpoint's (what VS Code's
        // Agents window is given): one line each, for scripts and the VS Code extension.
        // One write (println! would write line by line), and a reader that took the first line
        // and closed the pipe is no error: the server goes on.
        {
            use std::io::Write as _;
            let lines = format!("{}\n{}\n", server.url, server.ahp_url);
            let mut out = std::io::stdout().lock();
            let _ = out.write_all(lines.as_bytes()).and_then(|()| out.flush());
        }
        eprintln!(
            "aside ui: serving the Agents view on http://{} (Ctrl-C stops it; sessions go on)",
            server.addr
        );
        eprintln!(
            "aside ui: VS Code's Agents window: run \"Agents: Add Remote Agent Host...\" and paste the ws:// line above"
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
