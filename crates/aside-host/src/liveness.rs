//! Is a session's host alive? The host holds an exclusive lock on `run/<id>.lock` for its whole
//! life; the kernel drops it when the host dies, however it dies, so a free lock means no host.

use aside_core::SessionId;
use aside_store::Layout;
use std::fs::File;
use std::os::fd::AsRawFd as _;

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

fn try_lock(file: &File) -> bool {
    // SAFETY: flock(2) on a descriptor we own; no memory is involved.
    unsafe { libc::flock(file.as_raw_fd(), libc::LOCK_EX | libc::LOCK_NB) == 0 }
}

/// Takes the host lock, or None when another host holds it.
pub fn acquire(layout: &Layout, id: &SessionId) -> std::io::Result<Option<HostLock>> {
    let file = open(layout, id)?;
    Ok(try_lock(&file).then_some(HostLock { _file: file }))
}

/// Whether a host runs for `id`.
pub fn host_alive(layout: &Layout, id: &SessionId) -> bool {
    match open(layout, id) {
        // Taking the lock proves nobody holds it; closing the file releases it again.
        Ok(file) => !try_lock(&file),
        Err(_) => false,
    }
}
