//! An in-memory [`PortIo`] backend that delivers a [`Traffic`] sequence on
//! one port, and frees (or hands to a checker) what the worker transmits.
//!
//! Receive takes a buffer from the pool and refills it with
//! [`Traffic::fill`] — the stand-in for a NIC writing a fresh frame by DMA:
//! the engine decapsulates and encapsulates in place, so a buffer cannot be
//! replayed unchanged. Transmit returns buffers to the pool. Both are
//! counted in every figure the harness reports (see `docs/performance.md`
//! for their share, measured with [`crate::run::Engine::Null`]).

use std::sync::Arc;

use upf_io::mem::{MemBuf, MemPool};
use upf_io::{BufPool, Burst, PacketBuf, PortId, PortIo, QueueStats};

use crate::traffic::Traffic;

/// What transmitted frames are handed to, in checking mode.
pub type TxCheck = Box<dyn FnMut(PortId, &[u8]) + Send>;

/// Ports fed from a [`Traffic`] sequence.
pub struct ReplayPorts {
    traffic: Arc<Traffic>,
    ingress: PortId,
    next: usize,
    remaining: u64,
    pool: MemPool,
    stats: Vec<QueueStats>,
    check: Option<TxCheck>,
}

impl std::fmt::Debug for ReplayPorts {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ReplayPorts")
            .field("ingress", &self.ingress)
            .field("next", &self.next)
            .field("remaining", &self.remaining)
            .finish_non_exhaustive()
    }
}

impl ReplayPorts {
    /// `ports` ports; frames of `traffic` arrive on `ingress`. The pool
    /// holds `buffers` buffers of 2 KiB plus 256 bytes of headroom.
    pub fn new(traffic: Arc<Traffic>, ports: usize, ingress: PortId, buffers: usize) -> Self {
        ReplayPorts {
            traffic,
            ingress,
            next: 0,
            remaining: u64::MAX,
            pool: MemPool::new(buffers, 2048 + 256, 256),
            stats: vec![QueueStats::default(); ports],
            check: None,
        }
    }

    /// Delivers at most `n` more packets (then receive returns nothing).
    pub fn limit(&mut self, n: u64) {
        self.remaining = n;
    }

    /// Packets still to deliver.
    pub fn remaining(&self) -> u64 {
        self.remaining
    }

    /// Hands every transmitted frame to `f` before freeing it.
    pub fn check_tx(&mut self, f: TxCheck) {
        self.check = Some(f);
    }

    /// Next slot of the sequence to deliver.
    pub fn position(&self) -> usize {
        self.next
    }
}

impl PortIo for ReplayPorts {
    type Buf = MemBuf;
    type Pool = MemPool;

    fn ports(&self) -> usize {
        self.stats.len()
    }

    #[inline]
    fn rx_burst(&mut self, port: PortId, out: &mut Burst<MemBuf>) -> usize {
        if port != self.ingress {
            return 0;
        }
        let len = self.traffic.frame_len();
        let mut n = 0;
        while !out.is_full() && self.remaining > 0 {
            let Some(mut b) = self.pool.alloc() else {
                break;
            };
            match b.append(len) {
                Some(d) => self.traffic.fill(self.next, d),
                None => {
                    self.pool.free(b);
                    break;
                }
            }
            b.set_port(port);
            out.push(b);
            self.next = self.next.wrapping_add(1);
            self.remaining -= 1;
            n += 1;
        }
        if let Some(s) = self.stats.get_mut(usize::from(port)) {
            s.rx_packets += n as u64;
            s.rx_bytes += (n * len) as u64;
        }
        n
    }

    #[inline]
    fn tx_burst(&mut self, port: PortId, pkts: &mut Burst<MemBuf>) {
        let st = self.stats.get_mut(usize::from(port));
        let mut bytes = 0u64;
        let n = pkts.len() as u64;
        for b in pkts.drain(..) {
            bytes += b.len() as u64;
            if let Some(c) = self.check.as_mut() {
                c(port, b.data());
            }
            self.pool.free(b);
        }
        if let Some(s) = st {
            s.tx_packets += n;
            s.tx_bytes += bytes;
        }
    }

    fn pool(&mut self) -> &mut MemPool {
        &mut self.pool
    }

    fn stats(&self, port: PortId) -> QueueStats {
        self.stats
            .get(usize::from(port))
            .copied()
            .unwrap_or_default()
    }
}
