//! Stop signals: SIGTERM, SIGHUP and SIGINT end a host cleanly (see `Host::interrupt`).

use tokio::sync::watch;

/// The signal that asked the host to stop, once one has.
pub(crate) type Signals = watch::Receiver<Option<&'static str>>;

/// Waits until a stop signal arrives; its name.
pub(crate) async fn stop_signal(signals: &mut Signals) -> &'static str {
    match signals.wait_for(Option::is_some).await {
        Ok(name) => name.unwrap_or("a signal"),
        Err(_) => std::future::pending().await,
    }
}

/// SIGTERM, SIGHUP and SIGINT stop the host cleanly: the turn is cancelled, the agent's group
/// stopped and the session left resumable.
pub(crate) fn listen_for_signals() -> anyhow::Result<Signals> {
    use tokio::signal::unix::{signal, SignalKind};
    let mut term = signal(SignalKind::terminate())?;
    let mut hup = signal(SignalKind::hangup())?;
    let mut int = signal(SignalKind::interrupt())?;
    let (tx, rx) = watch::channel(None);
    tokio::spawn(async move {
        let name = tokio::select! {
            _ = term.recv() => "SIGTERM",
            _ = hup.recv() => "SIGHUP",
            _ = int.recv() => "SIGINT",
        };
        let _ = tx.send(Some(name));
        // Keep the handlers installed: a second signal must not kill the host mid-cleanup.
        std::future::pending::<()>().await
    });
    Ok(rx)
}
