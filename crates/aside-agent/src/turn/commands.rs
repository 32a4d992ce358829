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

pub(crate) async fn run_locally(
    session: &Session,
    command: &str,
    timeout: std::time::Duration,
    cancel: &CancellationToken,
) -> RunResult {
    match command::run(
        command,
        session.roots.cwd(),
        timeout,
        tools::OUTPUT_CAP,
        cancel,
    )
    .await
    {
        Ok(done) if done.ending == Ending::Cancelled => RunResult::Cancelled(done.output),
        Ok(done) => RunResult::Done(describe(&done.ending, &done.output, timeout)),
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
