//! Starting hosts and pool refills as detached processes of their own.

use super::*;

/// The binary a host runs as: `aside-host` beside `exe` (the `aside` binary) when it is there
/// and from the same build (the small one: a host maps a third of the code), else `exe` itself
/// (`aside host`). Both binaries of one build are linked minutes apart at most; an `aside-host`
/// much older than `aside` (only `aside` rebuilt, as `cargo run --bin aside` does) is not used.
pub fn host_binary(exe: &std::path::Path) -> std::path::PathBuf {
    const SAME_BUILD: Duration = Duration::from_secs(600);
    let small = exe.with_file_name("aside-host");
    let modified = |p: &std::path::Path| std::fs::metadata(p).and_then(|m| m.modified()).ok();
    match (modified(&small), modified(exe)) {
        (Some(small_at), Some(exe_at)) if small_at + SAME_BUILD >= exe_at => small,
        _ => exe.to_path_buf(),
    }
}

/// Starts `<host binary> refill REPO BASE SIZE` detached, at idle CPU and I/O priority, its
/// output to the refill log under the state directory.
pub(crate) fn spawn_refill(
    layout: &Layout,
    repo: &std::path::Path,
    base: &str,
    size: usize,
) -> std::io::Result<()> {
    let mut cmd = std::process::Command::new(std::env::current_exe()?);
    cmd.arg("refill").arg(repo).arg(base).arg(size.to_string());
    detached_to(&mut cmd, &layout.home.join("refill.log"))?;
    aside_core::process::background_priority(&mut cmd);
    // Reaped by a thread of its own: the refill may outlive nothing here, but must not stay a
    // zombie while the host runs.
    let mut child = cmd.spawn()?;
    std::thread::spawn(move || child.wait());
    Ok(())
}

/// Starts `aside-host host <id>` (or `aside host <id>`) detached: its own process session,
/// stdio to the host log.
pub fn spawn(
    layout: &Layout,
    id: &SessionId,
    exe: &std::path::Path,
) -> std::io::Result<std::process::Child> {
    std::fs::create_dir_all(layout.session_dir(id))?;
    let mut cmd = std::process::Command::new(host_binary(exe));
    cmd.arg("host")
        .arg(id.as_str())
        .env("ASIDE_HOME", &layout.home);
    aside_core::process::pass_model_key(&mut cmd);
    detached_to(&mut cmd, &layout.host_log(id))?;
    cmd.spawn()
}

/// Makes `cmd` start in a process session of its own, without input, its output appended to
/// `log`.
pub(crate) fn detached_to(
    cmd: &mut std::process::Command,
    log: &std::path::Path,
) -> std::io::Result<()> {
    let log = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(log)?;
    cmd.stdin(std::process::Stdio::null())
        .stdout(log.try_clone()?)
        .stderr(log);
    aside_core::process::detach(cmd);
    Ok(())
}
