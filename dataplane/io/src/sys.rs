//! Small OS helpers for worker threads (off the packet path).

/// Lowers the calling thread's timer slack so short sleeps of an idle
/// worker wake on time (the default slack is 50 µs).
pub fn set_timer_slack_ns(ns: u64) {
    // SAFETY: PR_SET_TIMERSLACK takes an unsigned long by value and affects
    // only the calling thread.
    unsafe {
        libc::prctl(libc::PR_SET_TIMERSLACK, ns as libc::c_ulong, 0, 0, 0);
    }
}

/// Sleeps until one of `fds` is readable or `timeout_ms` passes (an idle
/// worker's wait; never called while traffic flows).
pub fn wait_readable(fds: &[libc::c_int], timeout_ms: i32) {
    let mut p: Vec<libc::pollfd> = fds
        .iter()
        .map(|&fd| libc::pollfd {
            fd,
            events: libc::POLLIN,
            revents: 0,
        })
        .collect();
    // SAFETY: `p` is a valid array of pollfd of the length we pass.
    unsafe {
        libc::poll(p.as_mut_ptr(), p.len() as libc::nfds_t, timeout_ms);
    }
}

/// Moves the calling thread into the network namespace at `path` (for
/// example `/var/run/netns/NAME`); other threads are unaffected. Sockets
/// the thread opens afterwards belong to that namespace.
pub fn enter_netns(path: &std::path::Path) -> std::io::Result<()> {
    use std::os::fd::AsRawFd;
    let f = std::fs::File::open(path)?;
    // SAFETY: setns on a namespace fd we hold open; it affects only the
    // calling thread.
    let r = unsafe { libc::setns(f.as_raw_fd(), libc::CLONE_NEWNET) };
    if r != 0 {
        return Err(std::io::Error::last_os_error());
    }
    Ok(())
}
