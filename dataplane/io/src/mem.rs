//! The in-memory backend: heap buffers recycled through a free list, and
//! ports that are plain queues. Tests inject frames and read what the
//! worker sent; benchmarks replay a prepared set of frames.
//!
//! A [`MemBuf`] owns its storage, so it can move between threads (a packet
//! handed to the worker that owns its session) and be dropped anywhere
//! safely. Pools only allocate when their free list is empty: in a steady
//! state no packet costs an allocation.

use std::collections::VecDeque;

use crate::{BufPool, Burst, PacketBuf, PortId, PortIo, QueueStats};

/// Default buffer size: headroom plus a 2 KiB frame.
pub const DEFAULT_BUF_SIZE: usize = 2048 + 256;
/// Default headroom.
pub const DEFAULT_HEADROOM: usize = 256;

/// A packet buffer on the heap. The handle is one pointer (like a DPDK
/// `rte_mbuf *`), so moving packets through bursts and queues copies eight
/// bytes; the offsets and the storage live behind it.
#[derive(Debug)]
pub struct MemBuf(Box<Inner>);

/// Invariant, kept by every method of [`MemBuf`] (the fields are private
/// to this module and `storage` never changes length):
/// `start <= end <= storage.len() <= u32::MAX`.
#[derive(Debug)]
struct Inner {
    start: u32,
    end: u32,
    port: PortId,
    storage: Box<[u8]>,
}

impl MemBuf {
    /// An empty buffer of `size` bytes with `headroom` bytes before the packet.
    pub fn new(size: usize, headroom: usize) -> Self {
        let size = size.min(u32::MAX as usize);
        let headroom = headroom.min(size);
        MemBuf(Box::new(Inner {
            start: headroom as u32,
            end: headroom as u32,
            port: 0,
            storage: vec![0u8; size].into_boxed_slice(),
        }))
    }

    /// A buffer holding a copy of `frame` after `headroom` bytes, or `None`
    /// if it does not fit in `size`.
    pub fn from_frame(frame: &[u8], size: usize, headroom: usize) -> Option<Self> {
        let mut b = MemBuf::new(size, headroom);
        b.append(frame.len())?.copy_from_slice(frame);
        Some(b)
    }

    /// Empties the packet and restores `headroom`.
    pub fn reset(&mut self, headroom: usize) {
        let i = &mut *self.0;
        let h = headroom.min(i.storage.len()) as u32;
        i.start = h;
        i.end = h;
        i.port = 0;
    }

    /// Total storage size.
    pub fn capacity(&self) -> usize {
        self.0.storage.len()
    }
}

impl PacketBuf for MemBuf {
    #[inline(always)]
    fn len(&self) -> usize {
        (self.0.end - self.0.start) as usize
    }

    #[inline(always)]
    fn data(&self) -> &[u8] {
        let i = &*self.0;
        // SAFETY: start <= end <= storage.len() (the invariant of `Inner`).
        unsafe { i.storage.get_unchecked(i.start as usize..i.end as usize) }
    }

    #[inline(always)]
    fn data_mut(&mut self) -> &mut [u8] {
        let i = &mut *self.0;
        // SAFETY: start <= end <= storage.len() (the invariant of `Inner`).
        unsafe {
            i.storage
                .get_unchecked_mut(i.start as usize..i.end as usize)
        }
    }

    #[inline(always)]
    fn headroom(&self) -> usize {
        self.0.start as usize
    }

    #[inline(always)]
    fn tailroom(&self) -> usize {
        self.0.storage.len() - self.0.end as usize
    }

    #[inline(always)]
    fn prepend(&mut self, n: usize) -> Option<&mut [u8]> {
        let i = &mut *self.0;
        if n > i.start as usize {
            return None;
        }
        i.start -= n as u32;
        let s = i.start as usize;
        // SAFETY: s + n is the old start, <= end <= storage.len().
        Some(unsafe { i.storage.get_unchecked_mut(s..s + n) })
    }

    #[inline(always)]
    fn adj(&mut self, n: usize) -> bool {
        let i = &mut *self.0;
        if n > (i.end - i.start) as usize {
            return false;
        }
        i.start += n as u32;
        true
    }

    #[inline(always)]
    fn append(&mut self, n: usize) -> Option<&mut [u8]> {
        let i = &mut *self.0;
        if n > i.storage.len() - i.end as usize {
            return None;
        }
        let e = i.end as usize;
        i.end += n as u32;
        // SAFETY: e + n is the new end, checked above to be <= storage.len().
        Some(unsafe { i.storage.get_unchecked_mut(e..e + n) })
    }

    #[inline(always)]
    fn trim(&mut self, n: usize) -> bool {
        let i = &mut *self.0;
        if n > (i.end - i.start) as usize {
            return false;
        }
        i.end -= n as u32;
        true
    }

    #[inline(always)]
    fn port(&self) -> PortId {
        self.0.port
    }

    #[inline(always)]
    fn set_port(&mut self, port: PortId) {
        self.0.port = port;
    }
}

/// A bounded pool of [`MemBuf`]s.
#[derive(Debug)]
pub struct MemPool {
    free: Vec<MemBuf>,
    size: usize,
    headroom: usize,
    limit: usize,
    outstanding: usize,
}

impl MemPool {
    /// A pool of at most `limit` buffers of `size` bytes with `headroom`,
    /// all allocated up front.
    pub fn new(limit: usize, size: usize, headroom: usize) -> Self {
        let free = (0..limit).map(|_| MemBuf::new(size, headroom)).collect();
        MemPool {
            free,
            size,
            headroom,
            limit,
            outstanding: 0,
        }
    }

    /// Buffers currently handed out (allocated and not yet freed).
    pub fn outstanding(&self) -> usize {
        self.outstanding
    }

    /// Buffers available right now.
    pub fn available(&self) -> usize {
        self.free.len()
    }

    /// Headroom of fresh buffers.
    pub fn headroom(&self) -> usize {
        self.headroom
    }

    /// Buffer size.
    pub fn buf_size(&self) -> usize {
        self.size
    }
}

impl BufPool for MemPool {
    type Buf = MemBuf;

    #[inline(always)]
    fn alloc(&mut self) -> Option<MemBuf> {
        let b = self.free.pop()?;
        self.outstanding += 1;
        Some(b)
    }

    #[inline(always)]
    fn free(&mut self, mut buf: MemBuf) {
        self.outstanding = self.outstanding.saturating_sub(1);
        // Buffers from another pool (handed over by another worker) are
        // adopted while there is room and released otherwise.
        if self.free.len() < self.limit && buf.capacity() == self.size {
            buf.reset(self.headroom);
            self.free.push(buf);
        }
    }
}

/// In-memory ports: per port an RX queue the test fills and a TX queue the
/// worker fills.
#[derive(Debug)]
pub struct MemPorts {
    rx: Vec<VecDeque<MemBuf>>,
    tx: Vec<Vec<MemBuf>>,
    stats: Vec<QueueStats>,
    pool: MemPool,
    /// Keep sent packets in `tx` (tests) or free them at once (benchmarks).
    pub keep_tx: bool,
}

impl MemPorts {
    /// `ports` ports sharing `pool`.
    pub fn new(ports: usize, pool: MemPool) -> Self {
        MemPorts {
            rx: (0..ports).map(|_| VecDeque::new()).collect(),
            tx: (0..ports).map(|_| Vec::new()).collect(),
            stats: vec![QueueStats::default(); ports],
            pool,
            keep_tx: true,
        }
    }

    /// Queues a frame for reception on `port` (copied into a pool buffer).
    /// False if the pool is empty or the frame too large.
    pub fn inject(&mut self, port: PortId, frame: &[u8]) -> bool {
        let Some(q) = self.rx.get_mut(port as usize) else {
            return false;
        };
        let Some(mut b) = self.pool.alloc() else {
            return false;
        };
        match b.append(frame.len()) {
            Some(dst) => dst.copy_from_slice(frame),
            None => {
                self.pool.free(b);
                return false;
            }
        }
        b.set_port(port);
        q.push_back(b);
        true
    }

    /// Queues an already built buffer for reception on `port`.
    pub fn inject_buf(&mut self, port: PortId, mut b: MemBuf) {
        b.set_port(port);
        if let Some(q) = self.rx.get_mut(port as usize) {
            q.push_back(b);
        }
    }

    /// Takes the frames sent on `port` so far (copies of the bytes); the
    /// buffers go back to the pool.
    pub fn take_sent(&mut self, port: PortId) -> Vec<Vec<u8>> {
        let Some(q) = self.tx.get_mut(port as usize) else {
            return Vec::new();
        };
        let sent: Vec<MemBuf> = std::mem::take(q);
        sent.into_iter()
            .map(|b| {
                let v = b.data().to_vec();
                self.pool.free(b);
                v
            })
            .collect()
    }

    /// Frames waiting for reception on `port`.
    pub fn rx_pending(&self, port: PortId) -> usize {
        self.rx.get(port as usize).map_or(0, |q| q.len())
    }
}

impl PortIo for MemPorts {
    type Buf = MemBuf;
    type Pool = MemPool;

    fn ports(&self) -> usize {
        self.rx.len()
    }

    fn rx_burst(&mut self, port: PortId, out: &mut Burst<MemBuf>) -> usize {
        let (Some(q), Some(st)) = (
            self.rx.get_mut(port as usize),
            self.stats.get_mut(port as usize),
        ) else {
            return 0;
        };
        let mut n = 0;
        while !out.is_full() {
            let Some(b) = q.pop_front() else { break };
            st.rx_packets += 1;
            st.rx_bytes += b.len() as u64;
            out.push(b);
            n += 1;
        }
        n
    }

    fn tx_burst(&mut self, port: PortId, pkts: &mut Burst<MemBuf>) {
        let idx = port as usize;
        if idx >= self.tx.len() {
            for b in pkts.drain(..) {
                self.pool.free(b);
            }
            return;
        }
        for mut b in pkts.drain(..) {
            let st = &mut self.stats[idx];
            st.tx_packets += 1;
            st.tx_bytes += b.len() as u64;
            if self.keep_tx {
                b.set_port(port);
                self.tx[idx].push(b);
            } else {
                self.pool.free(b);
            }
        }
    }

    fn pool(&mut self) -> &mut MemPool {
        &mut self.pool
    }

    fn stats(&self, port: PortId) -> QueueStats {
        self.stats.get(port as usize).copied().unwrap_or_default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    proptest::proptest! {
        /// Any sequence of operations keeps the buffer equal to a plain
        /// model (a byte vector between a headroom and a tailroom), so the
        /// unchecked slicing in `data`, `prepend` and `append` stays in
        /// bounds.
        #[test]
        fn buffer_ops_match_a_model(
            size in 0usize..300,
            headroom in 0usize..400,
            ops in proptest::collection::vec((0u8..5, 0usize..320, proptest::prelude::any::<u8>()), 0..40),
        ) {
            let mut b = MemBuf::new(size, headroom);
            let head = headroom.min(size);
            // The model: packet bytes and the free room on each side.
            let (mut pkt, mut front, mut back) = (Vec::new(), head, size - head);
            for (op, n, v) in ops {
                match op {
                    0 => {
                        let r = b.prepend(n).map(|d| d.fill(v));
                        proptest::prop_assert_eq!(r.is_some(), n <= front);
                        if n <= front {
                            front -= n;
                            pkt.splice(0..0, std::iter::repeat_n(v, n));
                        }
                    }
                    1 => {
                        let r = b.append(n).map(|d| d.fill(v));
                        proptest::prop_assert_eq!(r.is_some(), n <= back);
                        if n <= back {
                            back -= n;
                            pkt.extend(std::iter::repeat_n(v, n));
                        }
                    }
                    2 => {
                        proptest::prop_assert_eq!(b.adj(n), n <= pkt.len());
                        if n <= pkt.len() {
                            front += n;
                            pkt.drain(..n);
                        }
                    }
                    3 => {
                        proptest::prop_assert_eq!(b.trim(n), n <= pkt.len());
                        if n <= pkt.len() {
                            back += n;
                            pkt.truncate(pkt.len() - n);
                        }
                    }
                    _ => {
                        if let Some(x) = b.data_mut().first_mut() {
                            *x = v;
                            pkt[0] = v;
                        }
                    }
                }
                proptest::prop_assert_eq!(b.data(), &pkt[..]);
                proptest::prop_assert_eq!((b.headroom(), b.tailroom(), b.len()), (front, back, pkt.len()));
            }
            b.reset(headroom);
            proptest::prop_assert_eq!((b.len(), b.headroom()), (0, head));
        }
    }

    #[test]
    fn adjust_in_place() {
        let mut b = MemBuf::from_frame(&[1, 2, 3, 4], 64, 16).unwrap();
        assert_eq!(b.headroom(), 16);
        assert!(b.adj(2));
        assert_eq!(b.data(), &[3, 4]);
        b.prepend(3).unwrap().copy_from_slice(&[7, 8, 9]);
        assert_eq!(b.data(), &[7, 8, 9, 3, 4]);
        assert!(b.prepend(100).is_none());
        assert!(!b.adj(6));
        assert!(b.trim(1));
        assert_eq!(b.data(), &[7, 8, 9, 3]);
        assert_eq!(b.tailroom(), 64 - (16 + 4 - 1));
        assert!(MemBuf::from_frame(&[0; 100], 64, 16).is_none());
    }

    #[test]
    fn pool_recycles_without_growth() {
        let mut p = MemPool::new(2, 256, 32);
        let a = p.alloc().unwrap();
        let b = p.alloc().unwrap();
        assert!(p.alloc().is_none());
        assert_eq!(p.outstanding(), 2);
        p.free(a);
        p.free(b);
        assert_eq!(p.available(), 2);
        // A foreign buffer of another size is not adopted.
        p.free(MemBuf::new(100, 0));
        assert_eq!(p.available(), 2);
    }

    #[test]
    fn ports_round_trip() {
        let mut io = MemPorts::new(2, MemPool::new(8, 256, 32));
        assert!(io.inject(1, b"hello"));
        let mut burst = Burst::new();
        assert_eq!(io.rx_burst(0, &mut burst), 0);
        assert_eq!(io.rx_burst(1, &mut burst), 1);
        assert_eq!(burst[0].port(), 1);
        io.tx_burst(0, &mut burst);
        assert!(burst.is_empty());
        assert_eq!(io.take_sent(0), vec![b"hello".to_vec()]);
        assert_eq!(io.stats(1).rx_packets, 1);
        assert_eq!(io.stats(0).tx_bytes, 5);
        assert_eq!(io.pool().available(), 8);
    }
}
