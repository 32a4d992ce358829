//! Is a session's host alive? The host holds an exclusive lock on `run/<id>.lock` for its whole
//! life; the kernel drops it when the host dies, however it dies, so a free lock means no host.

use aside_core::process::try_flock;
use aside_core::SessionId;
use aside_store::Layout;
use std::fs::File;

/// The lock a running host holds.
pub struct HostLock {
    _file: File,
}

fn open(layout: &Layout, id: &SessionId) -> std::io::Result<File> {
    std::fs::OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(layout.host_lock(id))
}

/// Takes the host lock, or None when another host holds it. Readers probing liveness hold a
/// shared lock for an instant, and a host that is going idle still holds it while its agent
/// stops, so a busy lock is tried again for a while (10 s) before giving up.
pub fn acquire(layout: &Layout, id: &SessionId) -> std::io::Result<Option<HostLock>> {
    let file = open(layout, id)?;
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    loop {
        if try_flock(&file, true) {
            return Ok(Some(HostLock { _file: file }));
        }
        if std::time::Instant::now() > deadline {
            return Ok(None);
        }
        std::thread::sleep(std::time::Duration::from_millis(5));
    }
}

/// Whether a host runs for `id`. Probing creates nothing: a session that never had a host here
/// has no lock file, and so no host.
pub fn host_alive(layout: &Layout, id: &SessionId) -> bool {
    match File::open(layout.host_lock(id)) {
        // A shared lock is refused only while a host holds its exclusive one; closing the file
        // releases ours again.
        Ok(file) => !try_flock(&file, false),
        Err(_) => false,
    }
}
