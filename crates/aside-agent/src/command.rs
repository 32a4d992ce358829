//! Runs a shell command locally in its own process group, with a time limit, capped output,
//! and the whole group stopped on cancel or timeout.

use std::os::unix::process::CommandExt as _;
use std::path::Path;
use std::process::Stdio;
use std::time::Duration;
use tokio::io::AsyncReadExt;
use tokio_util::sync::CancellationToken;

/// How a command ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Ending {
    /// It exited with this code (or was killed by a signal: None).
    Exited(Option<i32>),
    /// It ran past its time limit and was killed.
    TimedOut,
    /// The turn was cancelled and it was killed.
    Cancelled,
}

/// What a finished command left.
#[derive(Debug, Clone)]
pub struct Finished {
    /// How it ended.
    pub ending: Ending,
    /// stdout and stderr interleaved, head and tail kept within the cap.
    pub output: String,
}

/// Environment variables never passed to commands the model runs.
const SECRET_VARS: &[&str] = &["ASIDE_API_KEY", aside_core::sandbox::ENV];

/// Runs `sh -c command` in `cwd`.
pub async fn run(
    command: &str,
    cwd: &Path,
    timeout: Duration,
    cap: usize,
    cancel: &CancellationToken,
) -> std::io::Result<Finished> {
    let argv = ["sh".to_string(), "-c".to_string(), command.to_string()];
    run_argv(&argv, cwd, timeout, cap, cancel, &|_| {}).await
}

/// Runs `argv` (its program first) in `cwd`, as [`run`] does.
pub async fn run_argv(
    argv: &[String],
    cwd: &Path,
    timeout: Duration,
    cap: usize,
    cancel: &CancellationToken,
    prepare: &(dyn Fn(&mut std::process::Command) + Sync),
) -> std::io::Result<Finished> {
    let Some((program, args)) = argv.split_first() else {
        return Err(std::io::Error::other("nothing to run"));
    };
    let mut cmd = std::process::Command::new(program);
    cmd.args(args)
        .current_dir(cwd)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .process_group(0);
    for var in SECRET_VARS {
        cmd.env_remove(var);
    }
    prepare(&mut cmd);
    let mut child = tokio::process::Command::from(cmd)
        .kill_on_drop(true)
        .spawn()?;
    let pgid = child.id().map(|id| id as i32);
    let (tx, mut rx) = tokio::sync::mpsc::channel::<Vec<u8>>(64);
    for stream in [
        child
            .stdout
            .take()
            .map(|s| Box::new(s) as Box<dyn tokio::io::AsyncRead + Unpin + Send>),
        child
            .stderr
            .take()
            .map(|s| Box::new(s) as Box<dyn tokio::io::AsyncRead + Unpin + Send>),
    ]
    .into_iter()
    .flatten()
    {
        let tx = tx.clone();
        tokio::spawn(async move {
            let mut stream = stream;
            let mut buf = vec![0u8; 8192];
            while let Ok(n) = stream.read(&mut buf).await {
                if n == 0 || tx.send(buf[..n].to_vec()).await.is_err() {
                    break;
                }
            }
        });
    }
    drop(tx);
    let mut collected = Capped::new(cap);
    let ending = loop {
        tokio::select! {
            chunk = rx.recv() => match chunk {
                Some(bytes) => collected.push(&bytes),
                None => {
                    // Both pipes closed: wait for the exit status.
                    let status = tokio::select! {
                        s = child.wait() => s?,
                        _ = tokio::time::sleep(timeout) => { stop_group(pgid, &mut child).await; break Ending::TimedOut }
                        _ = cancel.cancelled() => { stop_group(pgid, &mut child).await; break Ending::Cancelled }
                    };
                    break Ending::Exited(status.code());
                }
            },
            status = child.wait() => {
                let status = status?;
                // Anything the command left running in its group is stopped, so that no
                // process outlives its tool call and the pipes close.
                kill_group(pgid, libc::SIGKILL);
                while let Ok(Some(bytes)) = tokio::time::timeout(Duration::from_millis(200), rx.recv()).await {
                    collected.push(&bytes);
                }
                break Ending::Exited(status.code());
            }
            _ = tokio::time::sleep(timeout) => { stop_group(pgid, &mut child).await; break Ending::TimedOut }
            _ = cancel.cancelled() => { stop_group(pgid, &mut child).await; break Ending::Cancelled }
        }
    };
    while let Ok(bytes) = rx.try_recv() {
        collected.push(&bytes);
    }
    Ok(Finished {
        ending,
        output: collected.finish(),
    })
}

fn kill_group(pgid: Option<i32>, signal: i32) {
    if let Some(pgid) = pgid.filter(|p| *p > 1) {
        // SAFETY: kill(2) with a negative pid signals a process group; no memory is involved.
        unsafe {
            libc::kill(-pgid, signal);
        }
    }
}

/// SIGTERM to the group, then SIGKILL if it has not exited within half a second.
async fn stop_group(pgid: Option<i32>, child: &mut tokio::process::Child) {
    kill_group(pgid, libc::SIGTERM);
    if tokio::time::timeout(Duration::from_millis(500), child.wait())
        .await
        .is_err()
    {
        kill_group(pgid, libc::SIGKILL);
        let _ = child.wait().await;
    }
    // Children of the shell may survive their parent's SIGTERM.
    kill_group(pgid, libc::SIGKILL);
}

/// Keeps the first and last `cap / 2` bytes of a stream.
struct Capped {
    cap: usize,
    head: Vec<u8>,
    tail: std::collections::VecDeque<u8>,
    dropped: usize,
}

impl Capped {
    fn new(cap: usize) -> Capped {
        Capped {
            cap,
            head: Vec::new(),
            tail: std::collections::VecDeque::new(),
            dropped: 0,
        }
    }

    fn push(&mut self, bytes: &[u8]) {
        let half = self.cap / 2;
        let room = half.saturating_sub(self.head.len());
        let (to_head, rest) = bytes.split_at(room.min(bytes.len()));
        self.head.extend_from_slice(to_head);
        self.tail.extend(rest);
        while self.tail.len() > half {
            self.tail.pop_front();
            self.dropped += 1;
        }
    }

    fn finish(self) -> String {
        let head = String::from_utf8_lossy(&self.head).into_owned();
        let tail: Vec<u8> = self.tail.into_iter().collect();
        let tail = String::from_utf8_lossy(&tail);
        if self.dropped == 0 {
            format!("{head}{tail}")
        } else {
            format!("{head}\n[... {} bytes cut ...]\n{tail}", self.dropped)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn output_and_exit_code() {
        let dir = tempfile::tempdir().unwrap();
        let done = run(
            "echo out; echo err >&2; exit 3",
            dir.path(),
            Duration::from_secs(10),
            1000,
            &CancellationToken::new(),
        )
        .await
        .unwrap();
        assert_eq!(done.ending, Ending::Exited(Some(3)));
        assert!(done.output.contains("out") && done.output.contains("err"));
    }

    #[tokio::test]
    async fn timeout_kills_the_group() {
        let dir = tempfile::tempdir().unwrap();
        let marker = dir.path().join("pid");
        let cmd = format!("sleep 30 & echo $! > {}; wait", marker.display());
        let done = run(
            &cmd,
            dir.path(),
            Duration::from_millis(300),
            1000,
            &CancellationToken::new(),
        )
        .await
        .unwrap();
        assert_eq!(done.ending, Ending::TimedOut);
        let pid: i32 = std::fs::read_to_string(&marker)
            .unwrap()
            .trim()
            .parse()
            .unwrap();
        // A killed process takes a moment to die, and may linger as a zombie until reaped.
        let running = || {
            let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
            stat.split_whitespace()
                .nth(2)
                .is_some_and(|state| state != "Z")
        };
        let deadline = std::time::Instant::now() + Duration::from_secs(2);
        while running() && std::time::Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(10));
        }
        assert!(!running(), "the background sleep survived");
    }

    #[test]
    fn capped_keeps_head_and_tail() {
        let mut c = Capped::new(10);
        c.push(b"0123456789abcdefghij");
        assert_eq!(c.finish(), "01234\n[... 10 bytes cut ...]\nfghij");
    }
}
