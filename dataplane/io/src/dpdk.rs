//! The DPDK backend: packets stay in the mbufs the device filled.
//!
//! - [`Mbuf`] is the [`PacketBuf`]: `adj` and `prepend` move the mbuf's
//!   data offset in place (decapsulation and encapsulation copy nothing but
//!   the new header).
//! - [`DpdkPool`] is the [`BufPool`] over the worker's own mempool; freed
//!   buffers are returned in bulk.
//! - [`DpdkPorts`] is one worker's [`PortIo`]: on every port it owns its
//!   transmit queue and zero or more receive queues (queue `q` belongs to
//!   worker `q % workers`), and receives and sends in bursts straight into
//!   and out of the engine's burst vectors.
//!
//! Steering: a NIC's RSS spreads by the outer header (one gNB's GTP-U is one
//! flow) and virtual devices often have a single queue, so with more than
//! one worker every received frame goes through [`crate::steer`]: frames of
//! another worker are handed to it through a per (worker, port)
//! multi-producer ring, and each worker first drains its own ring. A frame
//! therefore reaches its natural worker exactly as with AF_PACKET fanout,
//! and the redirect entries of the control thread hold unchanged.
//!
//! [`open`] brings up every port from a [`DpdkSetup`] and hands back one
//! [`DpdkPorts`] per worker plus the ports (for MACs, link state and
//! counters).

use std::sync::Arc;

use arrayvec::ArrayVec;
use vendor_dpdk::{
    register_thread, LcoreGuard, MbufRing, PortConfig, PortRef, RingConsumer, RingProducer,
    RxQueue, TxQueue,
};
pub use vendor_dpdk::{
    DpdkError, Eal, LinkStatus, Mbuf, Mempool, Port, PortMonitor, PortStats, MBUF_HEADROOM,
};

use crate::{steer, BufPool, Burst, PacketBuf, PortId, PortIo, QueueStats, BURST};

impl PacketBuf for Mbuf {
    #[inline]
    fn data(&self) -> &[u8] {
        Mbuf::data(self)
    }
    #[inline]
    fn data_mut(&mut self) -> &mut [u8] {
        Mbuf::data_mut(self)
    }
    #[inline]
    fn len(&self) -> usize {
        Mbuf::len(self)
    }
    #[inline]
    fn headroom(&self) -> usize {
        Mbuf::headroom(self)
    }
    #[inline]
    fn tailroom(&self) -> usize {
        Mbuf::tailroom(self)
    }
    #[inline]
    fn prepend(&mut self, n: usize) -> Option<&mut [u8]> {
        Mbuf::prepend(self, n)
    }
    #[inline]
    fn adj(&mut self, n: usize) -> bool {
        Mbuf::adj(self, n)
    }
    #[inline]
    fn append(&mut self, n: usize) -> Option<&mut [u8]> {
        Mbuf::append(self, n)
    }
    #[inline]
    fn trim(&mut self, n: usize) -> bool {
        Mbuf::trim(self, n)
    }
    #[inline]
    fn port(&self) -> PortId {
        Mbuf::port(self)
    }
    #[inline]
    fn set_port(&mut self, port: PortId) {
        Mbuf::set_port(self, port)
    }
}

/// A worker's buffer pool: its mempool, with frees batched into
/// `rte_pktmbuf_free_bulk` calls.
#[derive(Debug)]
pub struct DpdkPool {
    pool: Arc<Mempool>,
    pending: ArrayVec<Mbuf, 64>,
}

impl DpdkPool {
    /// A pool over `pool`.
    pub fn new(pool: Arc<Mempool>) -> DpdkPool {
        DpdkPool {
            pool,
            pending: ArrayVec::new(),
        }
    }

    /// Returns the batched frees now.
    #[inline]
    pub fn flush(&mut self) {
        Mbuf::free_bulk(&mut self.pending);
    }

    /// The mempool.
    pub fn mempool(&self) -> &Arc<Mempool> {
        &self.pool
    }
}

impl BufPool for DpdkPool {
    type Buf = Mbuf;

    #[inline]
    fn alloc(&mut self) -> Option<Mbuf> {
        self.pool.alloc()
    }

    #[inline]
    fn free(&mut self, buf: Mbuf) {
        if self.pending.is_full() {
            self.flush();
        }
        self.pending.push(buf);
    }
}

impl Drop for DpdkPool {
    fn drop(&mut self) {
        self.flush();
    }
}

/// One port as [`open`] brought it up.
#[derive(Debug)]
pub struct OpenedPort {
    /// The device string it was opened from.
    pub device: String,
    /// The port (stopped and closed when it and every queue are dropped).
    pub port: Port,
}

/// One worker's queues on one port.
#[derive(Debug)]
struct WorkerPort {
    rx: Vec<RxQueue>,
    next_rx: usize,
    tx: TxQueue,
    inbox: Option<RingConsumer>,
    outbox: Vec<Option<RingProducer>>,
}

/// One worker's queues on every DPDK port.
#[derive(Debug)]
pub struct DpdkPorts {
    me: u32,
    workers: u32,
    ports: Vec<WorkerPort>,
    stats: Vec<QueueStats>,
    stage: Vec<Burst<Mbuf>>,
    pool: DpdkPool,
    lcore: Option<LcoreGuard>,
}

impl DpdkPorts {
    /// This worker's index.
    pub fn worker(&self) -> u32 {
        self.me
    }

    /// Receive queues this worker polls on `port`.
    pub fn rx_queues(&self, port: PortId) -> Vec<u16> {
        self.ports
            .get(usize::from(port))
            .map(|p| p.rx.iter().map(RxQueue::queue).collect())
            .unwrap_or_default()
    }

    /// The EAL lcore id this worker's thread got, once attached.
    pub fn lcore(&self) -> Option<u32> {
        self.lcore.as_ref().map(LcoreGuard::lcore)
    }
}

impl PortIo for DpdkPorts {
    type Buf = Mbuf;
    type Pool = DpdkPool;

    fn ports(&self) -> usize {
        self.ports.len()
    }

    #[inline]
    fn rx_burst(&mut self, port: PortId, out: &mut Burst<Mbuf>) -> usize {
        let i = usize::from(port);
        let (Some(wp), Some(st)) = (self.ports.get_mut(i), self.stats.get_mut(i)) else {
            return 0;
        };
        let start = out.len();
        // 1. Frames other workers received for us (their port field is set).
        if let Some(inbox) = wp.inbox.as_mut() {
            inbox.dequeue_burst(out);
        }
        // 2. Our own receive queues, one per call, round robin.
        let room = out.capacity() - out.len();
        if room > 0 && !wp.rx.is_empty() {
            let q = wp.next_rx % wp.rx.len();
            wp.next_rx = wp.next_rx.wrapping_add(1);
            let mut got: Burst<Mbuf> = ArrayVec::new();
            if wp.rx[q].rx_burst_max(&mut got, room) > 0 {
                st.rx_packets += got.len() as u64;
                for mut m in got.drain(..) {
                    st.rx_bytes += m.pkt_len() as u64;
                    if !m.is_contiguous() {
                        // Chained mbufs (no scatter is configured, so only a
                        // driver's oversized frame): not handled in place.
                        st.rx_errors += 1;
                        continue;
                    }
                    m.set_port(port);
                    let w = if self.workers > 1 {
                        steer::natural_worker(m.data(), self.workers)
                    } else {
                        self.me
                    };
                    if w == self.me {
                        out.push(m);
                    } else if let Some(s) = self.stage.get_mut(w as usize) {
                        s.push(m);
                    }
                }
                for (w, s) in self.stage.iter_mut().enumerate() {
                    if s.is_empty() {
                        continue;
                    }
                    let sent = match wp.outbox.get(w).and_then(Option::as_ref) {
                        Some(ring) => ring.enqueue_burst(s),
                        None => 0,
                    };
                    st.rx_dispatched += sent as u64;
                    st.dispatch_dropped += s.len() as u64;
                    Mbuf::free_bulk(s);
                }
            }
        }
        out.len() - start
    }

    #[inline]
    fn tx_burst(&mut self, port: PortId, pkts: &mut Burst<Mbuf>) {
        let i = usize::from(port);
        let (Some(wp), Some(st)) = (self.ports.get_mut(i), self.stats.get_mut(i)) else {
            Mbuf::free_bulk(pkts);
            return;
        };
        if pkts.is_empty() {
            return;
        }
        let bytes: u64 = pkts.iter().map(|m| m.pkt_len() as u64).sum();
        let n = pkts.len();
        let sent = wp.tx.tx_burst(pkts);
        st.tx_packets += sent as u64;
        if sent == n {
            st.tx_bytes += bytes;
        } else {
            let left: u64 = pkts.iter().map(|m| m.pkt_len() as u64).sum();
            st.tx_bytes += bytes - left;
            st.tx_dropped += pkts.len() as u64;
            Mbuf::free_bulk(pkts);
        }
    }

    fn pool(&mut self) -> &mut DpdkPool {
        &mut self.pool
    }

    #[inline]
    fn flush(&mut self) {
        self.pool.flush();
    }

    fn stats(&self, port: PortId) -> QueueStats {
        self.stats
            .get(usize::from(port))
            .copied()
            .unwrap_or_default()
    }

    fn attach_thread(&mut self) {
        if self.lcore.is_none() {
            // Without an lcore id the thread still works, only without the
            // mempools' per-lcore caches.
            self.lcore = register_thread().ok();
        }
    }
}

/// One port to open.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DeviceSpec {
    /// PCI address or vdev string.
    pub device: String,
    /// MTU of the port's IP traffic (sizes the buffers; not set on the device).
    pub mtu: u16,
}

/// Everything [`open`] needs.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DpdkSetup {
    /// Ports in configuration order.
    pub devices: Vec<DeviceSpec>,
    /// Worker threads (one transmit queue each on every port).
    pub workers: u32,
    /// Receive queues per worker and port (fewer if the device has fewer).
    pub rx_queues_per_worker: u16,
    /// Receive descriptors per queue.
    pub rx_descriptors: u16,
    /// Transmit descriptors per queue.
    pub tx_descriptors: u16,
    /// Mbufs in each worker's mempool.
    pub mempool_size: u32,
    /// Per-lcore cache of each mempool.
    pub mempool_cache: u32,
    /// Capacity of each software-dispatch ring.
    pub dispatch_ring: u32,
}

/// Why [`open`] failed; each names what to change.
#[derive(Debug, thiserror::Error)]
pub enum DpdkIoError {
    /// The EAL does not run.
    #[error("the EAL is not initialised")]
    NoEal,
    /// A device could not be found, probed or configured.
    #[error("port {index} ({device}): {source}")]
    Port {
        /// Index in the configuration.
        index: usize,
        /// The device string.
        device: String,
        /// What DPDK said.
        source: DpdkError,
    },
    /// The device has fewer transmit queues than workers.
    #[error(
        "port {index} ({device}): driver {driver} offers {have} transmit queue(s), but each of \
         the {workers} workers needs its own (fewer workers, or a device with more queues, \
         e.g. qpairs= for net_af_packet, several tx_pcap= for net_pcap)"
    )]
    TxQueues {
        /// Index in the configuration.
        index: usize,
        /// The device string.
        device: String,
        /// Its driver.
        driver: String,
        /// Transmit queues it offers.
        have: u16,
        /// Workers.
        workers: u32,
    },
    /// The mempools are too small for the descriptors they must fill.
    #[error(
        "{have} mbufs per worker cannot fill {need} receive/transmit descriptors and bursts \
         of its queues"
    )]
    MempoolTooSmall {
        /// Configured size.
        have: u32,
        /// What the queues hold at most.
        need: u64,
    },
    /// A worker's mempool could not be created.
    #[error("mempool of worker {worker}: {source}")]
    Mempool {
        /// The worker.
        worker: u32,
        /// What DPDK said.
        source: DpdkError,
    },
    /// A dispatch ring could not be created.
    #[error("dispatch ring: {0}")]
    Ring(DpdkError),
}

/// What [`open`] brings up.
#[derive(Debug)]
pub struct DpdkBackend {
    /// One per worker, in worker order.
    pub workers: Vec<DpdkPorts>,
    /// The ports, in configuration order.
    pub ports: Vec<OpenedPort>,
}

/// Opens every device of `setup` (the EAL must run), one mempool per
/// worker, the dispatch rings, and distributes the queues.
pub fn open(setup: &DpdkSetup) -> Result<DpdkBackend, DpdkIoError> {
    if Eal::get().is_none() {
        return Err(DpdkIoError::NoEal);
    }
    let n = setup.workers.max(1);
    let per = setup.rx_queues_per_worker.max(1);
    // Probe all devices first: limits are checked before anything starts.
    let mut plan = Vec::new();
    for (index, d) in setup.devices.iter().enumerate() {
        let (id, info) =
            Port::probe_info(&PortRef::Device(d.device.clone())).map_err(|source| {
                DpdkIoError::Port {
                    index,
                    device: d.device.clone(),
                    source,
                }
            })?;
        if u32::from(info.max_tx_queues) < n {
            return Err(DpdkIoError::TxQueues {
                index,
                device: d.device.clone(),
                driver: info.driver,
                have: info.max_tx_queues,
                workers: n,
            });
        }
        let want = u32::from(per) * n;
        let rxq = want.min(u32::from(info.max_rx_queues)).max(1) as u16;
        plan.push((id, rxq, info.socket));
    }
    // Worst case held by one worker's pool: its receive descriptors on every
    // port, transmit descriptors, a burst in flight per port, the caches.
    let ports = setup.devices.len() as u64;
    let need = ports
        * (u64::from(per) * u64::from(setup.rx_descriptors)
            + u64::from(setup.tx_descriptors)
            + 2 * BURST as u64)
        + u64::from(setup.mempool_cache) * 3 / 2;
    if u64::from(setup.mempool_size) < need {
        return Err(DpdkIoError::MempoolTooSmall {
            have: setup.mempool_size,
            need,
        });
    }
    let mtu = setup.devices.iter().map(|d| d.mtu).max().unwrap_or(1500);
    // Ethernet header, two VLAN tags and the FCS room some drivers want.
    let frame = (usize::from(mtu) + 14 + 8 + 4).max(2048);
    let data_room = (MBUF_HEADROOM + frame).min(usize::from(u16::MAX)) as u16;
    let socket = plan.iter().map(|p| p.2).find(|s| *s >= 0).unwrap_or(-1);
    let mut pools = Vec::new();
    for w in 0..n {
        let p = Mempool::new(
            &format!("upf_w{w}"),
            setup.mempool_size,
            setup.mempool_cache,
            data_room,
            socket,
        )
        .map_err(|source| DpdkIoError::Mempool { worker: w, source })?;
        pools.push(p);
    }
    let mut opened = Vec::new();
    let mut per_worker: Vec<Vec<WorkerPort>> = (0..n).map(|_| Vec::new()).collect();
    for (index, (d, (id, rxq, _))) in setup.devices.iter().zip(plan).enumerate() {
        let cfg = PortConfig {
            rx_queues: rxq,
            tx_queues: n as u16,
            rx_descriptors: setup.rx_descriptors,
            tx_descriptors: setup.tx_descriptors,
            rx_pools: (0..rxq)
                .map(|q| pools[usize::from(q) % pools.len()].clone())
                .collect(),
            mtu: None,
            promiscuous: true,
        };
        let (port, rx, tx) =
            Port::open(&PortRef::Id(id), &cfg).map_err(|source| DpdkIoError::Port {
                index,
                device: d.device.clone(),
                source,
            })?;
        let mut rx_by: Vec<Vec<RxQueue>> = (0..n).map(|_| Vec::new()).collect();
        for q in rx {
            rx_by[usize::from(q.queue()) % n as usize].push(q);
        }
        // Dispatch rings of this port: one inbox per worker.
        let mut inbox = Vec::new();
        let mut prods = Vec::new();
        if n > 1 {
            for w in 0..n {
                let (p, c) = MbufRing::mpsc(&format!("upf_d{index}w{w}"), setup.dispatch_ring)
                    .map_err(DpdkIoError::Ring)?;
                prods.push(p);
                inbox.push(Some(c));
            }
        } else {
            inbox.push(None);
        }
        for ((w, (rxw, txq)), ib) in rx_by.into_iter().zip(tx).enumerate().zip(inbox) {
            let outbox = prods
                .iter()
                .enumerate()
                .map(|(to, p)| (to != w).then(|| p.clone()))
                .collect();
            per_worker[w].push(WorkerPort {
                rx: rxw,
                next_rx: 0,
                tx: txq,
                inbox: ib,
                outbox,
            });
        }
        opened.push(OpenedPort {
            device: d.device.clone(),
            port,
        });
    }
    let workers = per_worker
        .into_iter()
        .zip(pools)
        .enumerate()
        .map(|(w, (ports, pool))| DpdkPorts {
            me: w as u32,
            workers: n,
            stats: vec![QueueStats::default(); ports.len()],
            stage: (0..n).map(|_| ArrayVec::new()).collect(),
            ports,
            pool: DpdkPool::new(pool),
            lcore: None,
        })
        .collect();
    Ok(DpdkBackend {
        workers,
        ports: opened,
    })
}
