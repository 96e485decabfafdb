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

/// Wakes an idle worker when the control thread gives it work (an eventfd
/// it sleeps on with its ports). `wake` costs a syscall only while the
/// worker is asleep, so a busy worker is never slowed down.
#[derive(Debug)]
pub struct Wakeup {
    fd: std::os::fd::OwnedFd,
    sleeping: std::sync::atomic::AtomicBool,
}

impl Wakeup {
    /// A new, non-signalled wake-up.
    pub fn new() -> std::io::Result<Wakeup> {
        use std::os::fd::FromRawFd;
        // SAFETY: eventfd with valid flags; the result is checked below.
        let fd = unsafe { libc::eventfd(0, libc::EFD_NONBLOCK | libc::EFD_CLOEXEC) };
        if fd < 0 {
            return Err(std::io::Error::last_os_error());
        }
        Ok(Wakeup {
            // SAFETY: `fd` is a fresh descriptor that nothing else owns.
            fd: unsafe { std::os::fd::OwnedFd::from_raw_fd(fd) },
            sleeping: std::sync::atomic::AtomicBool::new(false),
        })
    }

    /// The descriptor to poll.
    pub fn fd(&self) -> libc::c_int {
        use std::os::fd::AsRawFd;
        self.fd.as_raw_fd()
    }

    /// The worker is about to sleep: after this it must check for work
    /// once more before it waits (then no wake-up is lost).
    pub fn will_sleep(&self) {
        self.sleeping
            .store(true, std::sync::atomic::Ordering::SeqCst);
        // The flag's store before the worker's next look at its rings (the
        // other half of the pairing in `wake`).
        std::sync::atomic::fence(std::sync::atomic::Ordering::SeqCst);
    }

    /// The worker is awake again; clears the signal.
    pub fn awake(&self) {
        self.sleeping
            .store(false, std::sync::atomic::Ordering::SeqCst);
        let mut v = 0u64;
        // SAFETY: reading 8 bytes into a u64 from our non-blocking eventfd.
        unsafe {
            libc::read(self.fd(), (&mut v as *mut u64).cast(), 8);
        }
    }

    /// Wakes the worker if it sleeps (after work was queued for it).
    pub fn wake(&self) {
        // The work was published by a Release store (the ring's tail), and
        // a load after a store may take effect first (x86 store buffering;
        // the memory model allows it too): a worker going to sleep at that
        // instant would be seen awake, miss the work and sleep its whole
        // timeout (1 ms). The fence orders the store before the load.
        std::sync::atomic::fence(std::sync::atomic::Ordering::SeqCst);
        if self.sleeping.load(std::sync::atomic::Ordering::SeqCst) {
            let v = 1u64;
            // SAFETY: writing 8 bytes from a u64 to our eventfd.
            unsafe {
                libc::write(self.fd(), (&v as *const u64).cast(), 8);
            }
        }
    }
}
