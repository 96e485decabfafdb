//! edge-upf's safe layer over DPDK 22.11 (through `vendor-dpdk-sys`).
//!
//! - [`Eal`]: initialises the Environment Abstraction Layer once per
//!   process (DPDK cannot be initialised twice) from a list of arguments.
//! - [`Mempool`]: a pool of packet buffers; [`Mbuf`]: one packet buffer
//!   owned uniquely (RAII: dropping it frees it), with in-place `adj`,
//!   `prepend`, `append` and `trim` done on the mbuf fields in Rust so they
//!   inline (no FFI call per packet).
//! - [`Port`]: an Ethernet device (PCI address or vdev string) configured
//!   with its queues and started; [`RxQueue`] and [`TxQueue`] are handles
//!   one thread owns, with burst receive/transmit straight into and out of
//!   an `ArrayVec<Mbuf, N>` (no copy of the pointer array, no allocation).
//!   Link state, basic stats and extended stats are read from any thread.
//! - [`MbufRing`]: multi-producer/single-consumer rings of mbufs between
//!   worker threads.
//! - [`register_thread`]: gives a thread of ours an EAL lcore id so mempool
//!   per-lcore caches work for it.
//!
//! When the build found no DPDK (see `vendor-dpdk-sys`) only [`DpdkError`],
//! [`AVAILABLE`] and [`Eal::init`] (which then returns
//! [`DpdkError::NotBuilt`]) exist.
//!
//! What it must not do: allocate or take a lock on the per-packet or
//! per-burst paths ([`Mbuf`] accessors, burst I/O, ring bursts); know
//! anything about GTP-U or the UPF; hand out aliasing access to a queue.
#![cfg_attr(not(test), deny(clippy::unwrap_used))]

mod error;

pub use error::{DpdkError, Errno};

/// True when this build has DPDK.
pub const AVAILABLE: bool = cfg!(have_dpdk);

#[cfg(have_dpdk)]
mod eal;
#[cfg(have_dpdk)]
mod mbuf;
#[cfg(have_dpdk)]
mod mempool;
#[cfg(have_dpdk)]
mod port;
#[cfg(have_dpdk)]
mod ring;

#[cfg(have_dpdk)]
pub use eal::{rdtsc, register_thread, tsc_hz, Eal, LcoreGuard};
#[cfg(have_dpdk)]
pub use mbuf::Mbuf;
#[cfg(have_dpdk)]
pub use mempool::Mempool;
#[cfg(have_dpdk)]
pub use port::{
    resolve, ring_pair, DeviceInfo, LinkStatus, Port, PortConfig, PortMonitor, PortRef, PortStats,
    RxQueue, TxQueue,
};
#[cfg(have_dpdk)]
pub use ring::{MbufRing, RingConsumer, RingProducer};

/// Default headroom of every mbuf (DPDK's build-time `RTE_PKTMBUF_HEADROOM`).
pub const MBUF_HEADROOM: usize = vendor_dpdk_sys::RTE_PKTMBUF_HEADROOM as usize;

/// Without DPDK in the build: the EAL cannot start.
#[cfg(not(have_dpdk))]
#[derive(Debug)]
pub struct Eal(());

#[cfg(not(have_dpdk))]
impl Eal {
    /// Always [`DpdkError::NotBuilt`] in a build without DPDK.
    pub fn init<S: AsRef<str>>(_args: &[S]) -> Result<&'static Eal, DpdkError> {
        Err(DpdkError::NotBuilt)
    }
}
