//! EAL initialisation (once per process) and thread registration.

use std::ffi::CString;
use std::os::raw::c_char;
use std::sync::Mutex;

use vendor_dpdk_sys as sys;

use crate::{DpdkError, Errno};

/// The initialised EAL of this process.
#[derive(Debug)]
pub struct Eal {
    args: Vec<String>,
    tsc_hz: u64,
}

enum State {
    Uninit,
    Ready(&'static Eal),
    Failed,
}

static STATE: Mutex<State> = Mutex::new(State::Uninit);

/// `rte_errno` of the calling thread.
pub(crate) fn rte_errno() -> Errno {
    // SAFETY: reads a thread-local integer.
    Errno(unsafe { sys::upf_rte_errno() })
}

fn affinity() -> Option<libc::cpu_set_t> {
    // SAFETY: an all-zero cpu_set_t is a valid empty set.
    let mut set: libc::cpu_set_t = unsafe { std::mem::zeroed() };
    // SAFETY: `set` is a valid out-buffer of the size we pass; pid 0 is the
    // calling thread.
    let r = unsafe { libc::sched_getaffinity(0, std::mem::size_of_val(&set), &mut set) };
    (r == 0).then_some(set)
}

fn set_affinity(set: &libc::cpu_set_t) {
    // SAFETY: `set` is a valid cpu_set_t of the size we pass.
    unsafe { libc::sched_setaffinity(0, std::mem::size_of_val(set), set) };
}

impl Eal {
    /// Initialises the EAL with `args` (as on a DPDK command line, without
    /// the program name). A second call with the same arguments returns the
    /// same EAL; with other arguments it fails, since DPDK cannot be
    /// initialised twice in one process.
    ///
    /// `rte_eal_init` pins the calling thread to the main lcore; the
    /// caller's previous CPU affinity is restored afterwards, so threads it
    /// spawns later are placed by the caller, not by the EAL.
    pub fn init<S: AsRef<str>>(args: &[S]) -> Result<&'static Eal, DpdkError> {
        let args: Vec<String> = args.iter().map(|a| a.as_ref().to_string()).collect();
        let mut st = STATE.lock().unwrap_or_else(|p| p.into_inner());
        match &*st {
            State::Ready(e) if e.args == args => return Ok(e),
            State::Ready(e) => return Err(DpdkError::AlreadyInitialised(e.args.clone())),
            State::Failed => return Err(DpdkError::EalFailedBefore),
            State::Uninit => {}
        }
        let mut c_args = Vec::with_capacity(args.len() + 1);
        c_args
            .push(CString::new("edge-upf").map_err(|_| DpdkError::BadArgument("edge-upf".into()))?);
        for a in &args {
            c_args.push(CString::new(a.as_str()).map_err(|_| DpdkError::BadArgument(a.clone()))?);
        }
        // The EAL may keep pointers into argv (and permutes the array), so
        // both live for the rest of the process.
        let c_args: &'static [CString] = Vec::leak(c_args);
        let argv: &'static mut [*mut c_char] = Vec::leak(
            c_args
                .iter()
                .map(|c| c.as_ptr().cast_mut())
                .chain(std::iter::once(std::ptr::null_mut()))
                .collect::<Vec<_>>(),
        );
        let before = affinity();
        // SAFETY: argc/argv describe NUL-terminated strings that outlive the
        // process; the state lock makes this the only call.
        let r = unsafe { sys::rte_eal_init(c_args.len() as i32, argv.as_mut_ptr()) };
        let err = rte_errno();
        if let Some(set) = before {
            set_affinity(&set);
        }
        if r < 0 {
            *st = State::Failed;
            return Err(DpdkError::EalInit(err));
        }
        // SAFETY: plain query after a successful init.
        let tsc_hz = unsafe { sys::rte_get_tsc_hz() };
        let eal: &'static Eal = Box::leak(Box::new(Eal { args, tsc_hz }));
        *st = State::Ready(eal);
        Ok(eal)
    }

    /// The EAL if it is initialised.
    pub fn get() -> Option<&'static Eal> {
        match &*STATE.lock().unwrap_or_else(|p| p.into_inner()) {
            State::Ready(e) => Some(e),
            _ => None,
        }
    }

    /// The arguments it was initialised with.
    pub fn args(&self) -> &[String] {
        &self.args
    }

    /// Time-stamp counter ticks per second.
    pub fn tsc_hz(&self) -> u64 {
        self.tsc_hz
    }

    /// Ethernet ports available.
    pub fn port_count(&self) -> u16 {
        // SAFETY: a query on an initialised EAL.
        unsafe { sys::rte_eth_dev_count_avail() }
    }
}

/// Time-stamp counter ticks per second, once the EAL runs.
pub fn tsc_hz() -> Option<u64> {
    Eal::get().map(Eal::tsc_hz)
}

/// The time-stamp counter (`rte_rdtsc`), for cycle counts in benchmarks.
#[inline]
pub fn rdtsc() -> u64 {
    // SAFETY: reads the CPU's time-stamp counter; no memory is touched.
    unsafe { sys::upf_rdtsc() }
}

/// A registration of the current thread with the EAL (see
/// [`register_thread`]); dropping it on the same thread unregisters it.
#[derive(Debug)]
pub struct LcoreGuard {
    lcore: u32,
    thread: std::thread::ThreadId,
}

impl LcoreGuard {
    /// The lcore id the thread received.
    pub fn lcore(&self) -> u32 {
        self.lcore
    }
}

impl Drop for LcoreGuard {
    fn drop(&mut self) {
        // Only the registered thread may unregister itself; a guard dropped
        // elsewhere leaves the lcore id taken (harmless, bounded by threads).
        if std::thread::current().id() == self.thread {
            // SAFETY: unregisters the calling thread, which registered.
            unsafe { sys::rte_thread_unregister() };
        }
    }
}

/// Registers the calling thread with the EAL so it gets an lcore id (and
/// with it the mempools' per-lcore caches). Needs an initialised EAL and a
/// free lcore id below RTE_MAX_LCORE.
pub fn register_thread() -> Result<LcoreGuard, DpdkError> {
    if Eal::get().is_none() {
        return Err(DpdkError::NotInitialised);
    }
    // SAFETY: affects only the calling thread's EAL state.
    let r = unsafe { sys::rte_thread_register() };
    if r != 0 {
        return Err(DpdkError::ThreadRegister(rte_errno()));
    }
    // SAFETY: reads the calling thread's lcore id.
    let lcore = unsafe { sys::upf_lcore_id() };
    Ok(LcoreGuard {
        lcore,
        thread: std::thread::current().id(),
    })
}
