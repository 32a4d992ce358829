//! The processes of a session, as tests and benchmarks find them in `/proc`: its host by
//! command line, and whatever works in its worktree.

use std::path::Path;

/// Every process's pid and command line (its arguments), as `/proc` shows them now.
pub fn command_lines() -> Vec<(i32, Vec<String>)> {
    let Ok(dir) = std::fs::read_dir("/proc") else {
        return vec![];
    };
    dir.flatten()
        .filter_map(|entry| {
            let pid = entry.file_name().to_string_lossy().parse::<i32>().ok()?;
            let cmdline = std::fs::read(entry.path().join("cmdline")).ok()?;
            let args = cmdline
                .split(|b| *b == 0)
                .map(|a| String::from_utf8_lossy(a).into_owned())
                .collect();
            Some((pid, args))
        })
        .collect()
}

/// Whether a process runs whose arguments hold `args` one after another.
pub fn running_with(args: &[&str]) -> bool {
    command_lines()
        .iter()
        .any(|(_, have)| have.windows(args.len()).any(|w| w == args))
}

/// Pids of the processes whose command line is `aside host <id>` (more than one only while an
/// earlier host is on its way out).
pub fn host_pids(id: &str) -> Vec<i32> {
    command_lines()
        .into_iter()
        .filter(|(_, args)| args.len() >= 3 && args[1] == "host" && args[2] == id)
        .map(|(pid, _)| pid)
        .collect()
}

/// The pid of a host of session `id`, if one runs.
pub fn host_pid(id: &str) -> Option<i32> {
    host_pids(id).into_iter().next()
}

/// Command lines of the processes whose working directory is inside `dir`.
pub fn processes_in(dir: &Path) -> Vec<String> {
    let Ok(proc) = std::fs::read_dir("/proc") else {
        return vec![];
    };
    proc.flatten()
        .filter(|entry| entry.file_name().to_string_lossy().parse::<i32>().is_ok())
        .filter(|entry| {
            std::fs::read_link(entry.path().join("cwd")).is_ok_and(|cwd| cwd.starts_with(dir))
        })
        .map(|entry| {
            let cmdline = std::fs::read(entry.path().join("cmdline")).unwrap_or_default();
            String::from_utf8_lossy(&cmdline).replace('\0', " ")
        })
        .collect()
}

/// `kill -9 pid`, which must succeed.
pub fn kill_9(pid: i32) {
    let status = std::process::Command::new("kill")
        .arg("-9")
        .arg(pid.to_string())
        .status()
        .unwrap();
    assert!(status.success(), "kill -9 {pid} failed");
}

/// Count, summed RSS and summed PSS (KiB) of the processes whose command line matches `pred`.
/// PSS shares the pages of one binary among the processes that map it.
pub fn memory_of(pred: impl Fn(&[String]) -> bool) -> (usize, u64, u64) {
    let (mut count, mut rss, mut pss) = (0, 0, 0);
    let field = |text: &str, name: &str| -> u64 {
        text.lines()
            .find(|l| l.starts_with(name))
            .and_then(|l| l.split_whitespace().nth(1))
            .and_then(|n| n.parse().ok())
            .unwrap_or(0)
    };
    let Ok(dir) = std::fs::read_dir("/proc") else {
        return (0, 0, 0);
    };
    for entry in dir.flatten() {
        if entry.file_name().to_string_lossy().parse::<u32>().is_err() {
            continue;
        }
        let cmdline = std::fs::read(entry.path().join("cmdline")).unwrap_or_default();
        let args: Vec<String> = cmdline
            .split(|b| *b == 0)
            .map(|a| String::from_utf8_lossy(a).into_owned())
            .collect();
        if !pred(&args) {
            continue;
        }
        let status = std::fs::read_to_string(entry.path().join("status")).unwrap_or_default();
        let rollup = std::fs::read_to_string(entry.path().join("smaps_rollup")).unwrap_or_default();
        count += 1;
        rss += field(&status, "VmRSS:");
        pss += field(&rollup, "Pss:");
    }
    (count, rss, pss)
}

/// Whether the terminal `fd` (either side of a pseudo-terminal) is in raw mode: a line editor
/// in it reads key by key, so what a test types now arrives as keys.
pub fn terminal_is_raw(fd: std::os::fd::BorrowedFd<'_>) -> bool {
    use std::os::fd::AsRawFd as _;
    // SAFETY: a termios is plain data, filled in by tcgetattr on a descriptor the caller holds.
    let mut termios: libc::termios = unsafe { std::mem::zeroed() };
    let got = unsafe { libc::tcgetattr(fd.as_raw_fd(), &mut termios) };
    got == 0 && termios.c_lflag & libc::ICANON == 0
}
