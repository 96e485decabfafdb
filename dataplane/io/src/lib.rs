//! Packet I/O for the dataplane workers: the buffer and port abstractions
//! the engine is generic over, and the backends behind them.
//!
//! - [`PacketBuf`]: one packet in a buffer with headroom, adjusted in place
//!   (strip a tunnel header with [`PacketBuf::adj`], add one with
//!   [`PacketBuf::prepend`]) — never copied by the engine.
//! - [`BufPool`]: where a worker gets buffers for packets it creates
//!   (duplicates, ARP requests, echo requests, end markers).
//! - [`PortIo`]: a worker's own receive and transmit queues on every port,
//!   in bursts of up to [`BURST`].
//!
//! Backends are chosen at start-up and used through generics, so a burst
//! costs no virtual call per packet. [`mem`] is the in-memory backend of the
//! tests and benchmarks, [`af_packet`] runs on ordinary Linux interfaces and
//! `dpdk` (present when the build found DPDK, `cfg(have_dpdk)`) on DPDK
//! ports, with packets processed inside the mbufs.
//!
//! What it must not do: allocate, lock or make a syscall per packet on the
//! receive or transmit path (a syscall per burst is the most a backend may
//! make), or look inside packets beyond the fixed-offset steering function
//! of [`steer`] (the rest is the engine's job).
#![cfg_attr(not(test), deny(clippy::unwrap_used))]

pub mod af_packet;
#[cfg(have_dpdk)]
pub mod dpdk;
pub mod mem;
pub mod prefetch;
pub mod steer;
pub mod sys;

use arrayvec::ArrayVec;

/// The largest burst a worker handles at once.
pub const BURST: usize = 32;

/// A burst of packets.
pub type Burst<B> = ArrayVec<B, BURST>;

/// Index of a port (interface) in the configuration order.
pub type PortId = u16;

/// One packet in a buffer that has room before (headroom) and after
/// (tailroom) the packet bytes.
pub trait PacketBuf: Send + 'static {
    /// The packet bytes.
    fn data(&self) -> &[u8];
    /// The packet bytes, writable.
    fn data_mut(&mut self) -> &mut [u8];
    /// Packet length.
    #[inline]
    fn len(&self) -> usize {
        self.data().len()
    }
    /// True for an empty packet.
    #[inline]
    fn is_empty(&self) -> bool {
        self.len() == 0
    }
    /// Free bytes before the packet.
    fn headroom(&self) -> usize;
    /// Free bytes after the packet.
    fn tailroom(&self) -> usize;
    /// Grows the packet by `n` bytes at the front and returns the new front
    /// bytes (uninitialised content), or `None` without change if the
    /// headroom is too small.
    fn prepend(&mut self, n: usize) -> Option<&mut [u8]>;
    /// Removes `n` bytes from the front; false without change if too short.
    fn adj(&mut self, n: usize) -> bool;
    /// Grows the packet by `n` bytes at the end and returns them, or `None`.
    fn append(&mut self, n: usize) -> Option<&mut [u8]>;
    /// Removes `n` bytes from the end; false without change if too short.
    fn trim(&mut self, n: usize) -> bool;
    /// The port the packet arrived on, or is to leave by.
    fn port(&self) -> PortId;
    /// Sets the port.
    fn set_port(&mut self, port: PortId);
}

/// A source of empty buffers (each with the configured headroom).
pub trait BufPool {
    /// The buffer type.
    type Buf: PacketBuf;
    /// An empty buffer, or `None` if the pool is exhausted.
    fn alloc(&mut self) -> Option<Self::Buf>;
    /// Returns a buffer to the pool.
    fn free(&mut self, buf: Self::Buf);
}

/// Counters of one port queue, as a backend keeps them.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct QueueStats {
    /// Packets received.
    pub rx_packets: u64,
    /// Bytes received.
    pub rx_bytes: u64,
    /// Packets sent.
    pub tx_packets: u64,
    /// Bytes sent.
    pub tx_bytes: u64,
    /// Packets the kernel or NIC dropped before we saw them.
    pub rx_missed: u64,
    /// Packets that could not be sent (queue full).
    pub tx_dropped: u64,
    /// Receive errors (bad frames, buffer exhaustion).
    pub rx_errors: u64,
    /// Packets received here and passed to their natural worker (software
    /// dispatch, see [`steer`]).
    pub rx_dispatched: u64,
    /// Packets dropped because the natural worker's inbox was full.
    pub dispatch_dropped: u64,
}

/// One worker's queues on every port of a backend.
pub trait PortIo {
    /// The buffer type of this backend.
    type Buf: PacketBuf;
    /// The pool type of this backend.
    type Pool: BufPool<Buf = Self::Buf>;
    /// Number of ports.
    fn ports(&self) -> usize;
    /// Receives up to the free capacity of `out` from `port`; returns how
    /// many were added. Each buffer's [`PacketBuf::port`] is set to `port`.
    fn rx_burst(&mut self, port: PortId, out: &mut Burst<Self::Buf>) -> usize;
    /// Sends the packets of `pkts` on `port` and empties it; packets that
    /// could not be sent are freed and counted as `tx_dropped`.
    fn tx_burst(&mut self, port: PortId, pkts: &mut Burst<Self::Buf>);
    /// The worker's buffer pool.
    fn pool(&mut self) -> &mut Self::Pool;
    /// Pushes out anything the backend batches beyond `tx_burst` (for
    /// example a kick of the kernel's transmit ring); called once per loop.
    fn flush(&mut self) {}
    /// Counters of this worker's queue on `port`.
    fn stats(&self, port: PortId) -> QueueStats;
    /// Periodic housekeeping off the packet path (e.g. reading the
    /// kernel's drop counters); called every few tens of milliseconds.
    fn housekeeping(&mut self) {}
    /// Called once on the worker thread before its first burst (a backend
    /// may register the thread with its runtime, e.g. DPDK's EAL).
    fn attach_thread(&mut self) {}
}
