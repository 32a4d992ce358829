//! Running a command the model asked for: here, or in the client's terminal.

use super::*;

pub(crate) enum RunResult {
    Done(Result<String, String>),
    Cancelled(String),
}

pub(crate) fn describe(
    ending: &Ending,
    output: &str,
    timeout: std::time::Duration,
) -> Result<String, String> {
    let output = output.trim_end_matches('\n');
    let sep = if output.is_empty() { "" } else { "\n" };
    match ending {
        Ending::Exited(Some(0)) => Ok(format!("{output}{sep}[exit code 0]")),
        Ending::Exited(Some(code)) => Err(format!("{output}{sep}[exit code {code}]")),
        Ending::Exited(None) => Err(format!("{output}{sep}[killed by a signal]")),
        Ending::TimedOut => Err(format!(
            "{output}{sep}[timed out after {} s and was killed]",
            timeout.as_secs()
        )),
        Ending::Cancelled => Err(format!("{output}{sep}[cancelled]")),
    }
}

/// Why a command would run without its sandbox, when the user is to be asked first (the
/// sandbox cannot work here and `[sandbox] unavailable` is `ask`).
pub(crate) fn unsandboxed_ask() -> Option<&'static str> {
    match sandbox()? {
        (policy, Err(why)) if policy.unavailable == "ask" => Some(why.as_str()),
        _ => None,
    }
}

/// The sandbox the host gave this agent's commands (`ASIDE_SANDBOX`), and whether it works
/// here (Err: why not, with the fix); read once.
fn sandbox() -> Option<&'static (aside_core::sandbox::Policy, Result<(), String>)> {
    static SANDBOX: std::sync::OnceLock<Option<(aside_core::sandbox::Policy, Result<(), String>)>> =
        std::sync::OnceLock::new();
    SANDBOX
        .get_or_init(|| {
            let policy: aside_core::sandbox::Policy =
                serde_json::from_str(&std::env::var(aside_core::sandbox::ENV).ok()?).ok()?;
            Some((policy, aside_core::sandbox::probe()))
        })
        .as_ref()
}

pub(crate) async fn run_locally(
    session: &Session,
    command: &str,
    timeout: std::time::Duration,
    cancel: &CancellationToken,
) -> RunResult {
    let cwd = session.roots.cwd();
    let plain = vec!["sh".to_string(), "-c".to_string(), command.to_string()];
    // In the sandbox when the host asked for one; where it cannot work, refused (or run
    // unsandboxed, said, when the user's config allows it): never silently.
    let (argv, sandboxed, note) = match sandbox() {
        None => (plain, None, None),
        Some((policy, Ok(()))) => (
            policy.wrap(&aside_core::sandbox::bwrap_program(), cwd, &plain),
            Some(policy),
            None,
        ),
        // Run anyway by the user's config, or by the user's yes just given (`ask`).
        Some((policy, Err(why))) if policy.unavailable != "refuse" => (
            plain,
            None,
            Some(format!("[aside: ran without a sandbox: {why}]")),
        ),
        Some((_, Err(why))) => {
            return RunResult::Done(Err(format!(
                "[aside: not run: commands run in a sandbox and {why}]"
            )))
        }
    };
    // Its process and memory limits hold whether or not the sandbox could be made.
    let limits = |cmd: &mut std::process::Command| {
        if let Some((policy, _)) = sandbox() {
            policy.limit(cmd);
        }
    };
    match command::run_argv(&argv, cwd, timeout, tools::OUTPUT_CAP, cancel, &limits).await {
        Ok(done) if done.ending == Ending::Cancelled => RunResult::Cancelled(done.output),
        Ok(done) => {
            let said = describe(&done.ending, &done.output, timeout);
            let said = match (said, sandboxed) {
                // What failed inside the sandbox says what the sandbox allows, so the model
                // (and the user) can tell a blocked write or host from a bug.
                (Err(text), Some(policy)) => Err(format!("{text}\n{}", policy.explain())),
                (said, _) => said,
            };
            RunResult::Done(match note {
                Some(note) => said
                    .map(|t| format!("{t}\n{note}"))
                    .map_err(|t| format!("{t}\n{note}")),
                None => said,
            })
        }
        Err(e) => RunResult::Done(Err(format!("cannot start the command: {e}"))),
    }
}

/// Runs the command in a terminal the client owns, so the user sees it live.
pub(crate) async fn run_in_client_terminal(
    cx: &ConnectionTo<Client>,
    session: &Session,
    call_id: &str,
    out: &mut Emitter,
    command: &str,
    timeout: std::time::Duration,
    cancel: &CancellationToken,
) -> RunResult {
    let create = CreateTerminalRequest::new(session.id.clone(), "sh")
        .args(vec!["-c".to_string(), command.to_string()])
        .cwd(session.roots.cwd())
        .output_byte_limit(tools::OUTPUT_CAP as u64);
    let terminal_id = match cx.send_request(create).block_task().await {
        Ok(r) => r.terminal_id,
        Err(e) => {
            return RunResult::Done(Err(format!("the client could not start a terminal: {e}")))
        }
    };
    out.emit(call_update(
        call_id,
        ToolCallUpdateFields::new().content(vec![ToolCallContent::Terminal(Terminal::new(
            terminal_id.clone(),
        ))]),
    ));
    let sid = session.id.clone();
    let wait = WaitForTerminalExitRequest::new(sid.clone(), terminal_id.clone());
    let mut ending = Ending::Exited(None);
    tokio::select! {
        r = cx.send_request(wait).block_task() => {
            if let Ok(r) = r { ending = Ending::Exited(r.exit_status.exit_code.map(|c| c as i32)); }
        }
        _ = tokio::time::sleep(timeout) => ending = Ending::TimedOut,
        _ = cancel.cancelled() => ending = Ending::Cancelled,
    }
    if matches!(ending, Ending::TimedOut | Ending::Cancelled) {
        let kill = KillTerminalRequest::new(sid.clone(), terminal_id.clone());
        let _ = cx.send_request(kill).block_task().await;
    }
    let output = cx
        .send_request(TerminalOutputRequest::new(sid.clone(), terminal_id.clone()))
        .block_task()
        .await
        .map(|o| o.output)
        .unwrap_or_default();
    let release = ReleaseTerminalRequest::new(sid, terminal_id);
    let _ = cx.send_request(release).block_task().await;
    if ending == Ending::Cancelled {
        return RunResult::Cancelled(output);
    }
    RunResult::Done(describe(
        &ending,
        &tools::cap_middle(&output, tools::OUTPUT_CAP),
        timeout,
    ))
}
