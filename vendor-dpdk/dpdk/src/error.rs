//! Errors of the safe layer.

use std::fmt;

/// An errno-style code returned by DPDK (negative returns are negated).
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct Errno(pub i32);

impl Errno {
    /// From a DPDK return value (`-EINVAL`) or `rte_errno` (`EINVAL`).
    pub fn from_ret(r: i32) -> Errno {
        Errno(r.saturating_abs())
    }
}

impl fmt::Display for Errno {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.0 {
            // DPDK's own codes (rte_errno.h: __ELASTERROR = 1000).
            1001 => write!(f, "operation not allowed in secondary processes"),
            1002 => write!(f, "missing rte_config"),
            n => write!(f, "{}", std::io::Error::from_raw_os_error(n)),
        }
    }
}

impl fmt::Debug for Errno {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Errno({}: {self})", self.0)
    }
}

/// Why a DPDK operation failed.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum DpdkError {
    /// This binary was built without DPDK.
    #[error(
        "this build has no DPDK support (pkg-config found no libdpdk 22.11 when it was \
         built); install DPDK with `apt-get install libdpdk-dev dpdk` and rebuild"
    )]
    NotBuilt,
    /// An argument cannot be passed to C (it contains a NUL byte).
    #[error("argument {0:?} contains a NUL byte")]
    BadArgument(String),
    /// `rte_eal_init` failed.
    #[error("rte_eal_init failed: {0}")]
    EalInit(Errno),
    /// The EAL already runs in this process with other arguments.
    #[error(
        "the EAL was already initialised in this process with {0:?}; DPDK can be \
         initialised only once per process"
    )]
    AlreadyInitialised(Vec<String>),
    /// An earlier `rte_eal_init` of this process failed.
    #[error("rte_eal_init failed earlier in this process; DPDK cannot be initialised again")]
    EalFailedBefore,
    /// The EAL is not initialised yet.
    #[error("the EAL is not initialised")]
    NotInitialised,
    /// No port of that name exists and probing the device failed.
    #[error("no DPDK port {name:?}, and probing {devargs:?} failed: {err}")]
    Probe {
        /// The device string.
        devargs: String,
        /// The port name looked for.
        name: String,
        /// The error.
        err: Errno,
    },
    /// Probing succeeded but created no port of the expected name.
    #[error("probing {devargs:?} created no port named {name:?}")]
    NoPort {
        /// The device string.
        devargs: String,
        /// The port name looked for.
        name: String,
    },
    /// A port operation failed.
    #[error("port {port}: {what}: {err}")]
    Port {
        /// The port name.
        port: String,
        /// What was being done.
        what: &'static str,
        /// The error.
        err: Errno,
    },
    /// The device cannot do what was asked (queues, descriptors, MTU).
    #[error("port {port}: {msg}")]
    PortLimit {
        /// The port name.
        port: String,
        /// What exceeds the device's limits.
        msg: String,
    },
    /// A mempool could not be created.
    #[error("mempool {name}: {err}")]
    Mempool {
        /// The pool name.
        name: String,
        /// The error.
        err: Errno,
    },
    /// A ring could not be created.
    #[error("ring {name}: {err}")]
    Ring {
        /// The ring name.
        name: String,
        /// The error.
        err: Errno,
    },
    /// `rte_thread_register` failed (too many threads for RTE_MAX_LCORE?).
    #[error("rte_thread_register: {0}")]
    ThreadRegister(Errno),
    /// A value outside what DPDK accepts.
    #[error("{0}")]
    Invalid(String),
}
