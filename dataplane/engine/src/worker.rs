//! One worker's packet processing: lookups, PDR matching and actions.

// The packet path threads the worker, the buffer, the output queues and the
// pool through small functions; bundling them would only add indirection.
#![allow(clippy::too_many_arguments)]

use std::cmp::Reverse;
use std::collections::{BinaryHeap, HashMap, VecDeque};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::sync::Arc;

use upf_ctrl::msg::CommandError;
use upf_io::{prefetch, BURST};
use upf_io::{BufPool, Burst, PacketBuf, PortId};
use upf_rules::report::{DownlinkDataReport, UsageReport, UsageReportTrigger};
use upf_rules::steer::SteerAction;
use upf_rules::ApplyAction;
use upf_wire::arp::{self, ArpRepr};
use upf_wire::ethernet::{self, Mac, BROADCAST, ETHERTYPE_ARP, ETHERTYPE_IPV4, ETHERTYPE_IPV6};
use upf_wire::fast::{
    classify, classify_lean, parse_frame, parse_ip, parse_ipv4_lean, EncapSpec, Fast, FastGpdu,
    FrameKind, GtpuInfo, Ip4Lean, IpInfo, IpPair, Lean, TunnelHeader,
};
use upf_wire::gtpu::{self, Message, PduSessionInfo};
use upf_wire::icmp::{self, NdRepr};
use upf_wire::{dns, ipv4, ipv6, udp, WireError};

use crate::compile::{CFar, CPdr, CompiledSession, Dir, Egress, PdrView, NONE};
use crate::filter::CFilter;
use crate::filter::UeAddrs;
use crate::meter::{self, UrrState};
use crate::meter::{Admit, Bucket};
use crate::stats::{DropReason, WorkerStats};
use crate::steer::{DnsTable, PfdTable, SteeringTable};
use crate::table::FastMap;
use crate::topo::{PortFast, Role, Topology};

const NS: u64 = 1_000_000_000;
/// A table value naming a session slot, or (with this bit) another worker.
const REMOTE: u32 = 0x8000_0000;

/// Settings of a worker.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct WorkerConfig {
    /// This worker's index.
    pub id: u32,
    /// Packets a session may buffer.
    pub buffer_per_session: usize,
    /// Packets all sessions of this worker may buffer together.
    pub buffer_global: usize,
    /// Longest a packet stays buffered, ns.
    pub buffer_max_ns: u64,
    /// Error Indications per second this worker may send.
    pub error_indications_per_s: u32,
    /// Packets waiting for a next hop to resolve.
    pub pending_max: usize,
    /// How long a packet waits for resolution, ns.
    pub pending_max_ns: u64,
    /// UNIX time minus the monotonic clock, ns (for report timestamps).
    pub unix_offset_ns: i128,
    /// Capacity hint for session tables.
    pub expected_sessions: usize,
}

impl Default for WorkerConfig {
    fn default() -> Self {
        WorkerConfig {
            id: 0,
            buffer_per_session: 64,
            buffer_global: 65536,
            buffer_max_ns: 30 * NS,
            error_indications_per_s: 100,
            pending_max: 256,
            pending_max_ns: 3 * NS,
            unix_offset_ns: 0,
            expected_sessions: 1024,
        }
    }
}

/// A lookup key that may point at another worker.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LookupKey {
    /// A local TEID.
    Teid(u32),
    /// A UE IPv4 address.
    Ue4(u32),
    /// The upper 64 bits of a UE IPv6 /64.
    Ue6(u64),
}

/// A change for a worker, sent by the control thread.
#[derive(Debug)]
pub enum WorkerUpdate<B> {
    /// Installs or atomically replaces a session (this worker owns it).
    Install {
        /// Request ID to acknowledge.
        req: u64,
        /// The compiled session.
        session: Box<CompiledSession>,
    },
    /// Removes a session, reporting every URR (TERMR).
    Remove {
        /// Request ID.
        req: u64,
        /// The session.
        seid: u64,
    },
    /// Immediate reports (Query URR).
    Query {
        /// Request ID.
        req: u64,
        /// The session.
        seid: u64,
        /// URRs (empty for all).
        urr_ids: Vec<u32>,
        /// Query URR Reference.
        query_reference: Option<u32>,
    },
    /// Points a key of a session owned by another worker at it (or, with
    /// `None`, removes the redirect).
    Redirect {
        /// The key.
        key: LookupKey,
        /// The owner worker.
        worker: Option<u32>,
    },
    /// New MEC steering rules.
    Steering(Arc<SteeringTable>),
    /// New edge DNS answers.
    Dns(Arc<DnsTable>),
    /// New application PFDs.
    Pfds(Arc<PfdTable>),
    /// A neighbour's link-layer address.
    Neighbor {
        /// Its IP address.
        ip: IpAddr,
        /// Its MAC.
        mac: Mac,
    },
    /// Transmit a frame built by the control thread (GTP-U echo requests);
    /// the worker copies it into one of its buffers.
    Transmit {
        /// Egress port.
        port: PortId,
        /// The frame; its Ethernet destination is filled in from `via`.
        frame: Vec<u8>,
        /// IP next hop whose MAC goes into the frame; `None` if complete.
        via: Option<IpAddr>,
    },
    /// Never sent; keeps the buffer type parameter in the enum.
    #[doc(hidden)]
    _Buf(std::marker::PhantomData<B>),
    /// Acknowledge only (barrier).
    Ping {
        /// Request ID.
        req: u64,
    },
}

/// Something a worker tells the control thread.
#[derive(Debug)]
pub enum WorkerEvent {
    /// The outcome of an update.
    Ack {
        /// Request ID.
        req: u64,
        /// Reports produced by it, or the failure.
        result: Result<Vec<UsageReport>, CommandError>,
    },
    /// A usage report raised by a trigger.
    Usage(UsageReport),
    /// The first downlink packet buffered or to notify.
    DownlinkData(DownlinkDataReport),
    /// A GTP-U Error Indication received.
    ErrorIndication {
        /// Sender.
        peer: IpAddr,
        /// The TEID it names.
        teid: u32,
    },
    /// A GTP-U Echo Response received.
    EchoResponse {
        /// Sender.
        peer: IpAddr,
    },
    /// A neighbour seen on a port (to share with the other workers).
    NeighborLearned {
        /// Its IP.
        ip: IpAddr,
        /// Its MAC.
        mac: Mac,
    },
    /// A session object this worker no longer uses (free it off the worker).
    Retired(Box<CompiledSession>),
}

/// Memory a worker holds for its sessions (see [`Worker::memory`]).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct MemoryUse {
    /// Lookup tables and session slots, bytes.
    pub tables: usize,
    /// Compiled sessions, bytes.
    pub sessions: usize,
    /// Sessions installed.
    pub session_count: usize,
}

/// What pass 1 of [`Worker::process_burst`] found out about a packet.
#[derive(Clone, Copy, Debug)]
enum Stage {
    /// The general path.
    Slow,
    /// A G-PDU for one of our addresses on a tunnel port.
    Up {
        l3: u8,
        qfi: u8,
        teid: u32,
        inner: u16,
        len: u16,
    },
    /// A plain IP packet on an N6/MEC port, not for us: towards a UE.
    Down { l3: u8, key: DlKey },
}

/// The downlink lookup key: the destination address.
#[derive(Clone, Copy, Debug)]
enum DlKey {
    V4(u32),
    V6(u64, u64),
}

/// No QFI in the PDU Session Container (QFIs are six bits).
const QFI_NONE: u8 = 0xff;
/// No session found.
const NO_SLOT: u32 = u32::MAX;
/// From this many sessions on, the burst pipeline prefetches sessions and
/// rules (below, they stay in the caches and prefetching only costs).
const PREFETCH_SESSIONS: usize = 2048;
/// Packets between two dependent prefetch steps of the burst pipeline.
const PIPE_DISTANCE: usize = 5;

/// The answer of [`Worker::match_pdr4`].
enum Fast4 {
    /// This PDR (index, decoded) matches.
    Hit(usize, CPdr),
    /// No PDR matches.
    Miss,
    /// The general matcher must decide.
    General,
}

/// A G-PDU located in a frame: what the uplink path needs of it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Tunnelled {
    /// Offset of the outer IP header.
    l3: usize,
    /// TEID.
    teid: u32,
    /// QFI of the PDU Session Container.
    qfi: Option<u8>,
    /// Offset and length of the inner packet.
    inner_offset: usize,
    inner_len: usize,
}

/// Where processed packets go.
#[derive(Debug)]
pub struct Output<B> {
    /// Per port, packets to transmit.
    pub tx: Vec<Vec<B>>,
    /// Per worker, packets to hand over.
    pub handoff: Vec<Vec<B>>,
}

impl<B> Output<B> {
    /// Queues sized for `ports` ports and `workers` workers.
    pub fn new(ports: usize, workers: usize) -> Self {
        Output {
            tx: (0..ports).map(|_| Vec::with_capacity(256)).collect(),
            handoff: (0..workers).map(|_| Vec::with_capacity(256)).collect(),
        }
    }

    /// Packets waiting in all queues.
    pub fn pending(&self) -> usize {
        self.tx.iter().map(Vec::len).sum::<usize>()
            + self.handoff.iter().map(Vec::len).sum::<usize>()
    }
}

struct Pending<B> {
    buf: B,
    port: PortId,
    via: IpAddr,
    since: u64,
}

/// The per-worker engine.
pub struct Worker<B: PacketBuf> {
    cfg: WorkerConfig,
    topo: Topology,
    ports_fast: Vec<PortFast>,
    sessions: Vec<Option<Box<CompiledSession>>>,
    free_slots: Vec<u32>,
    by_seid: HashMap<u64, u32>,
    teid: FastMap<u32, u32>,
    ue4: FastMap<u32, u32>,
    ue6: FastMap<u64, u32>,
    ue6_full: FastMap<u128, u32>,
    framed: Vec<(u8, FastMap<u128, u32>)>,
    buffers: HashMap<u32, VecDeque<(B, u64)>>,
    buffered: usize,
    pending: VecDeque<Pending<B>>,
    solicited: FastMap<u128, u64>,
    /// Neighbours by IPv4 address (8-byte keys: a probe is one load).
    neigh4: FastMap<u32, Mac>,
    /// Neighbours by IPv6 address.
    neigh6: FastMap<u128, Mac>,
    /// The last neighbour looked up by [`Worker::finish_l2`] (key 0, the
    /// unspecified IPv6 address, when empty): most packets of a burst
    /// share their next hop.
    neigh_hit: (u128, Mac),
    steering: Arc<SteeringTable>,
    dns: Arc<DnsTable>,
    pfds: Arc<PfdTable>,
    timers: BinaryHeap<Reverse<(u64, u32, u32)>>,
    ei_bucket: Bucket,
    ident: u16,
    generation: u32,
    /// Counters.
    pub stats: WorkerStats,
    /// Events for the control thread (drain them after each loop).
    pub events: Vec<WorkerEvent>,
}

fn ip_key(ip: IpAddr) -> u128 {
    match ip {
        IpAddr::V4(a) => u128::from(u32::from(a)) | (0xffff_u128 << 32),
        IpAddr::V6(a) => u128::from(a),
    }
}

/// Drops what the fast path does not expect to drop, out of line.
#[cold]
#[inline(never)]
fn drop_cold<T>(v: T) {
    drop(v);
}

/// The IPv4 address of an [`ip_key`], if it is one.
#[inline(always)]
fn v4_of_key(k: u128) -> Option<u32> {
    (k >> 32 == 0xffff).then_some(k as u32)
}

fn v6_hi(ip: u128) -> u64 {
    (ip >> 64) as u64
}

impl<B: PacketBuf> Worker<B> {
    /// A worker for `topo`.
    pub fn new(cfg: WorkerConfig, topo: Topology) -> Self {
        let n = cfg.expected_sessions.max(16);
        let ports = topo.ports.len();
        let ei = u64::from(cfg.error_indications_per_s.max(1));
        Worker {
            ei_bucket: Bucket::with_rate(ei, ei, 0),
            cfg,
            ports_fast: topo.ports.iter().map(PortFast::new).collect(),
            topo,
            sessions: Vec::with_capacity(n),
            free_slots: Vec::new(),
            by_seid: HashMap::with_capacity(n),
            teid: FastMap::with_capacity(n),
            ue4: FastMap::with_capacity(n),
            ue6: FastMap::with_capacity(16),
            ue6_full: FastMap::with_capacity(16),
            framed: Vec::new(),
            buffers: HashMap::new(),
            buffered: 0,
            pending: VecDeque::new(),
            solicited: FastMap::with_capacity(64),
            neigh4: FastMap::with_capacity(256),
            neigh6: FastMap::with_capacity(64),
            neigh_hit: (0, [0; 6]),
            steering: Arc::new(SteeringTable::default()),
            dns: Arc::new(DnsTable::default()),
            pfds: Arc::new(PfdTable::default()),
            timers: BinaryHeap::new(),
            ident: 0,
            generation: 0,
            stats: WorkerStats::new(ports),
            events: Vec::with_capacity(1024),
        }
    }

    /// The worker's topology.
    pub fn topology(&self) -> &Topology {
        &self.topo
    }

    /// The worker's index.
    pub fn id(&self) -> u32 {
        self.cfg.id
    }

    /// Sessions installed.
    pub fn session_count(&self) -> usize {
        self.by_seid.len()
    }

    /// A session by SEID (for tests and admin).
    pub fn session(&self, seid: u64) -> Option<&CompiledSession> {
        let slot = *self.by_seid.get(&seid)?;
        self.sessions.get(slot as usize)?.as_deref()
    }

    /// Memory held by the worker's session state: lookup tables and session
    /// slots, and the compiled sessions (sizes of what they allocate).
    pub fn memory(&self) -> MemoryUse {
        let map_entry = std::mem::size_of::<(u64, u32)>() + 1;
        let tables = self.teid.heap_bytes()
            + self.ue4.heap_bytes()
            + self.ue6.heap_bytes()
            + self.ue6_full.heap_bytes()
            + self
                .framed
                .iter()
                .map(|(_, m)| m.heap_bytes())
                .sum::<usize>()
            + self.sessions.capacity() * std::mem::size_of::<Option<Box<CompiledSession>>>()
            + self.free_slots.capacity() * 4
            + self.by_seid.capacity() * map_entry;
        let sessions = self.sessions.iter().flatten().map(|s| s.heap_bytes()).sum();
        MemoryUse {
            tables,
            sessions,
            session_count: self.by_seid.len(),
        }
    }

    /// Packets waiting in session buffers.
    pub fn buffered(&self) -> usize {
        self.buffered
    }

    /// The MAC known for `ip`.
    pub fn neighbor(&self, ip: IpAddr) -> Option<Mac> {
        self.neigh_get(ip_key(ip))
    }

    // ------------------------------------------------------------------
    // Packet path
    // ------------------------------------------------------------------

    /// Processes a burst: every packet is sent (queued in `out`), handed to
    /// another worker, buffered, or dropped (freed to `pool`, counted).
    ///
    /// The burst goes through a pipeline of passes so that the cache misses
    /// of one packet overlap with the work on the others: (1) classify each
    /// frame and prefetch its lookup-table slot; (2) look the session up and
    /// prefetch its slot entry; (3) prefetch the session; (4) prefetch the
    /// rules of the packet's direction; (5) process the packets in order.
    /// Passes 3 and 4 run only when the tables are too large for the caches
    /// anyway. Frames the fast classifier does not handle take the general
    /// path in pass 5, in their place in the burst.
    pub fn process_burst<P: BufPool<Buf = B>>(
        &mut self,
        now: u64,
        pkts: &mut Burst<B>,
        out: &mut Output<B>,
        pool: &mut P,
    ) {
        let n = pkts.len().min(BURST);
        let mut stage = [Stage::Slow; BURST];
        let mut slots = [NO_SLOT; BURST];
        // Pass 1: classify, prefetch the lookup-table slot.
        for (st, b) in stage.iter_mut().zip(pkts.iter()) {
            *st = self.classify(b);
            match *st {
                Stage::Up { teid, .. } => self.teid.prefetch(&teid),
                Stage::Down {
                    key: DlKey::V4(d), ..
                } => self.ue4.prefetch(&d),
                Stage::Down {
                    key: DlKey::V6(hi, _),
                    ..
                } => self.ue6.prefetch(&hi),
                Stage::Slow => {}
            }
        }
        // Passes 2-5, software-pipelined: in step k, packet k is looked up,
        // packet k - D has its session prefetched, packet k - 2D its rules,
        // and packet k - 3D is processed, so every prefetch has the work
        // of D packets to complete before its data is used.
        let deep = self.by_seid.len() >= PREFETCH_SESSIONS;
        let d = if deep { PIPE_DISTANCE } else { 0 };
        let mut drain = pkts.drain(..);
        for k in 0..n + 3 * d {
            if k < n {
                let s = match stage[k] {
                    Stage::Up { teid, .. } => self.teid.get(&teid),
                    Stage::Down { key, .. } => self.lookup_key(key),
                    Stage::Slow => None,
                };
                if let Some(s) = s {
                    slots[k] = s;
                    if deep {
                        if let Some(e) = self.sessions.get(s as usize) {
                            prefetch::read(e);
                        }
                    }
                }
            }
            if deep {
                if let Some(j) = k.checked_sub(d).filter(|&j| j < n) {
                    if let Some(sess) = self.local(slots[j]) {
                        // What a packet reads of it: two lines at most.
                        prefetch::read_all(sess, 2);
                    }
                }
                if let Some(j) = k.checked_sub(2 * d).filter(|&j| j < n) {
                    if let Some(sess) = self.local(slots[j]) {
                        let dir = match stage[j] {
                            Stage::Down { .. } => Dir::Downlink,
                            _ => Dir::Uplink,
                        };
                        sess.prefetch_lines(dir);
                    }
                }
            }
            let Some(i) = k.checked_sub(3 * d).filter(|&i| i < n) else {
                continue;
            };
            let Some(b) = drain.next() else {
                break;
            };
            self.process_staged(now, b, stage[i], slots[i], out, pool);
        }
        // Nothing is left unless the burst was longer than BURST.
        for b in drain {
            self.process_inner(now, b, out, pool, true);
        }
    }

    /// Pass 5 for one packet (kept out of line: its own registers, not the
    /// pipeline's).
    #[inline(never)]
    fn process_staged<P: BufPool<Buf = B>>(
        &mut self,
        now: u64,
        b: B,
        st: Stage,
        slot: u32,
        out: &mut Output<B>,
        pool: &mut P,
    ) {
        if let Some(c) = self.stats.ports.get_mut(usize::from(b.port())) {
            c.rx_packets += 1;
            c.rx_bytes += b.len() as u64;
        }
        if slot == NO_SLOT {
            return self.process_inner(now, b, out, pool, true);
        }
        if slot & REMOTE != 0 {
            return self.hand_off(slot, b, out, pool, true);
        }
        match st {
            Stage::Up {
                l3,
                qfi,
                teid,
                inner,
                len,
            } => {
                let qfi = (qfi != QFI_NONE).then_some(qfi);
                let t = Tunnelled {
                    l3: usize::from(l3),
                    teid,
                    qfi,
                    inner_offset: usize::from(inner),
                    inner_len: usize::from(len),
                };
                self.uplink(now, slot, b, t, out, pool);
            }
            Stage::Down { l3, .. } => {
                let l3 = usize::from(l3);
                if let Some(p) = b.data().get(l3..).and_then(parse_ipv4_lean) {
                    return self.downlink4(now, slot, b, l3, p, out, pool);
                }
                match b.data().get(l3..).map(parse_ip) {
                    Some(Ok(ip)) => self.downlink(now, slot, b, l3, ip, out, pool),
                    _ => self.process_inner(now, b, out, pool, true),
                }
            }
            Stage::Slow => self.process_inner(now, b, out, pool, true),
        }
    }

    /// Puts a session taken out of its slot for a packet back (the slot is
    /// empty then: nothing to drop on the fast path).
    #[inline(always)]
    fn put_back(&mut self, slot: u32, sess: Box<CompiledSession>) {
        if let Some(e) = self.sessions.get_mut(slot as usize) {
            if let Some(old) = e.replace(sess) {
                drop_cold(old);
            }
        }
    }

    /// The session in a local slot (not a redirect), if any.
    #[inline(always)]
    fn local(&self, slot: u32) -> Option<&CompiledSession> {
        if slot & REMOTE != 0 {
            return None;
        }
        self.sessions.get(slot as usize)?.as_deref()
    }

    #[inline(always)]
    fn lookup_key(&self, key: DlKey) -> Option<u32> {
        match key {
            DlKey::V4(dst) => self.ue4.get(&dst).or_else(|| {
                if self.framed.is_empty() {
                    None
                } else {
                    self.lookup_framed(u128::from(dst) | (0xffff_u128 << 32), true)
                }
            }),
            DlKey::V6(hi, lo) => self.lookup_dl(&IpPair::V6 {
                src: 0,
                dst: (u128::from(hi) << 64) | u128::from(lo),
            }),
        }
    }

    /// Pass 1: what the fast path can do with a frame (the same decisions
    /// [`Worker::process_inner`] takes, for the frames it handles).
    #[inline(always)]
    fn classify(&self, b: &B) -> Stage {
        let port = b.port();
        let Some(pf) = self.ports_fast.get(usize::from(port)) else {
            return Stage::Slow;
        };
        // Untagged IPv4 first, in registers; everything else below.
        if let Some(l) = classify_lean(b.data()) {
            return match l {
                Lean::Gpdu {
                    dst,
                    teid,
                    qfi,
                    inner_offset,
                    inner_len,
                } if pf.tunnel => {
                    let ours = pf
                        .owns4(dst)
                        .unwrap_or_else(|| self.owns(port, IpAddr::V4(dst.into())));
                    if ours {
                        Stage::Up {
                            l3: 14,
                            qfi: qfi.unwrap_or(QFI_NONE),
                            teid,
                            inner: inner_offset,
                            len: inner_len,
                        }
                    } else {
                        Stage::Slow
                    }
                }
                Lean::Ip { dst } if !pf.tunnel => {
                    let ours = pf
                        .owns4(dst)
                        .unwrap_or_else(|| self.owns(port, IpAddr::V4(dst.into())));
                    if ours {
                        Stage::Slow
                    } else {
                        Stage::Down {
                            l3: 14,
                            key: DlKey::V4(dst),
                        }
                    }
                }
                _ => Stage::Slow,
            };
        }
        let f = classify(b.data());
        let l3 = f.l3_offset as u8;
        match f.kind {
            Fast::Gpdu(g) if pf.tunnel => {
                let ours = match g.outer {
                    IpPair::V4 { dst, .. } => pf
                        .owns4(dst)
                        .unwrap_or_else(|| self.owns(port, IpAddr::V4(dst.into()))),
                    IpPair::V6 { dst, .. } => self.owns(port, IpAddr::V6(dst.into())),
                };
                match (
                    ours,
                    u16::try_from(g.inner_offset),
                    u16::try_from(g.inner_len),
                ) {
                    (true, Ok(inner), Ok(len)) => Stage::Up {
                        l3,
                        qfi: g.qfi.unwrap_or(QFI_NONE),
                        teid: g.teid,
                        inner,
                        len,
                    },
                    _ => Stage::Slow,
                }
            }
            Fast::Ip(ip) if !pf.tunnel => match ip.addrs {
                IpPair::V4 { dst, .. } => {
                    let ours = pf
                        .owns4(dst)
                        .unwrap_or_else(|| self.owns(port, IpAddr::V4(dst.into())));
                    if ours {
                        Stage::Slow
                    } else {
                        Stage::Down {
                            l3,
                            key: DlKey::V4(dst),
                        }
                    }
                }
                IpPair::V6 { dst, .. }
                    if ip.protocol != ipv4::PROTO_ICMPV6
                        && !self.owns(port, IpAddr::V6(dst.into())) =>
                {
                    Stage::Down {
                        l3,
                        key: DlKey::V6((dst >> 64) as u64, dst as u64),
                    }
                }
                IpPair::V6 { .. } => Stage::Slow,
            },
            _ => Stage::Slow,
        }
    }

    /// Processes packets handed over by another worker.
    pub fn process_handed<P: BufPool<Buf = B>>(
        &mut self,
        now: u64,
        b: B,
        out: &mut Output<B>,
        pool: &mut P,
    ) {
        self.process_inner(now, b, out, pool, false);
    }

    #[inline(never)]
    fn drop_pkt<P: BufPool<Buf = B>>(&mut self, pool: &mut P, b: B, r: DropReason) {
        self.stats.drop(r);
        pool.free(b);
    }

    fn process_inner<P: BufPool<Buf = B>>(
        &mut self,
        now: u64,
        b: B,
        out: &mut Output<B>,
        pool: &mut P,
        may_hand_off: bool,
    ) {
        let port = b.port();
        let frame = match parse_frame(b.data()) {
            Ok(f) => f,
            Err(WireError::UnsupportedExtension(_)) => {
                return self.unsupported_extension(now, b, out, pool)
            }
            Err(_) => return self.drop_pkt(pool, b, DropReason::Malformed),
        };
        let Some(role) = self.topo.port(port).map(|p| p.role) else {
            return self.drop_pkt(pool, b, DropReason::Malformed);
        };
        match frame.kind {
            FrameKind::Arp => self.handle_arp(now, b, frame.l3_offset, out, pool),
            FrameKind::Gtpu(g) if role.is_tunnel() && self.owns(port, g.outer.addrs.dst_addr()) => {
                self.handle_gtpu(now, b, g, out, pool, may_hand_off)
            }
            FrameKind::Gtpu(g) => self.handle_ip(
                now,
                b,
                frame.l3_offset,
                g.outer,
                role,
                out,
                pool,
                may_hand_off,
            ),
            FrameKind::Ip(ip) => {
                self.handle_ip(now, b, frame.l3_offset, ip, role, out, pool, may_hand_off)
            }
            FrameKind::Other(_) => self.drop_pkt(pool, b, DropReason::NotForUs),
        }
    }

    fn owns(&self, port: PortId, ip: IpAddr) -> bool {
        self.topo.port(port).is_some_and(|p| p.owns(ip))
    }

    #[allow(clippy::too_many_arguments)]
    fn handle_ip<P: BufPool<Buf = B>>(
        &mut self,
        now: u64,
        b: B,
        l3: usize,
        ip: IpInfo,
        role: Role,
        out: &mut Output<B>,
        pool: &mut P,
        may_hand_off: bool,
    ) {
        let port = b.port();
        // Neighbour discovery travels to multicast addresses.
        if ip.protocol == ipv4::PROTO_ICMPV6 && !ip.addrs.is_v4() {
            let t = b.data().get(l3 + ip.l4_offset).copied();
            if matches!(
                t,
                Some(icmp::V6_NEIGHBOR_SOLICIT | icmp::V6_NEIGHBOR_ADVERT)
            ) {
                return self.handle_nd(now, b, l3, ip, out, pool);
            }
        }
        if self.owns(port, ip.addrs.dst_addr()) {
            return self.handle_local(b, l3, ip, out, pool);
        }
        if role.is_tunnel() {
            // Plain IP on N3/N9 that is not for us.
            return self.drop_pkt(pool, b, DropReason::NotForUs);
        }
        // Downlink: by UE address.
        let slot = match self.lookup_dl(&ip.addrs) {
            Some(s) => s,
            None => return self.drop_pkt(pool, b, DropReason::NoSession),
        };
        if slot & REMOTE != 0 {
            return self.hand_off(slot, b, out, pool, may_hand_off);
        }
        self.downlink(now, slot, b, l3, ip, out, pool);
    }

    fn hand_off<P: BufPool<Buf = B>>(
        &mut self,
        slot: u32,
        b: B,
        out: &mut Output<B>,
        pool: &mut P,
        may_hand_off: bool,
    ) {
        let w = (slot & !REMOTE) as usize;
        if !may_hand_off || w == self.cfg.id as usize {
            return self.drop_pkt(pool, b, DropReason::NoSession);
        }
        match out.handoff.get_mut(w) {
            Some(q) => {
                self.stats.handed_off += 1;
                q.push(b);
            }
            None => self.drop_pkt(pool, b, DropReason::HandoffFull),
        }
    }

    #[inline]
    fn lookup_dl(&self, addrs: &IpPair) -> Option<u32> {
        match *addrs {
            IpPair::V4 { dst, .. } => {
                if let Some(s) = self.ue4.get(&dst) {
                    return Some(s);
                }
                self.lookup_framed(u128::from(dst) | (0xffff_u128 << 32), true)
            }
            IpPair::V6 { dst, .. } => {
                if let Some(s) = self.ue6.get(&v6_hi(dst)) {
                    return Some(s);
                }
                if let Some(s) = self.ue6_full.get(&dst) {
                    return Some(s);
                }
                self.lookup_framed(dst, false)
            }
        }
    }

    fn lookup_framed(&self, key: u128, v4: bool) -> Option<u32> {
        for (len, map) in &self.framed {
            // Lengths are stored in the v6-mapped space for IPv4 (len + 96).
            let l = u32::from(*len);
            if v4 != (l >= 96 && key >> 32 == 0xffff) {
                continue;
            }
            let mask = if l == 0 { 0 } else { u128::MAX << (128 - l) };
            if let Some(s) = map.get(&(key & mask)) {
                return Some(s);
            }
        }
        None
    }

    fn handle_gtpu<P: BufPool<Buf = B>>(
        &mut self,
        now: u64,
        b: B,
        g: GtpuInfo,
        out: &mut Output<B>,
        pool: &mut P,
        may_hand_off: bool,
    ) {
        match g.header.msg_type {
            gtpu::MSG_GPDU => {
                let slot = match self.teid.get(&g.header.teid) {
                    Some(s) => s,
                    None => return self.error_indication(now, b, g, out, pool),
                };
                if slot & REMOTE != 0 {
                    return self.hand_off(slot, b, out, pool, may_hand_off);
                }
                let t = Tunnelled {
                    l3: g.gtp_offset - g.outer.l4_offset - udp::HEADER_LEN,
                    teid: g.header.teid,
                    qfi: g.header.ext.pdu_session.map(|p| p.qfi()),
                    inner_offset: g.inner_offset,
                    inner_len: g.inner_len,
                };
                self.uplink(now, slot, b, t, out, pool);
            }
            gtpu::MSG_ECHO_REQUEST => self.echo_reply(b, g, out, pool),
            gtpu::MSG_ECHO_RESPONSE => {
                self.events.push(WorkerEvent::EchoResponse {
                    peer: g.outer.addrs.src_addr(),
                });
                self.drop_pkt(pool, b, DropReason::Control);
            }
            gtpu::MSG_ERROR_INDICATION => {
                let body = &b.data()[g.inner_offset..g.inner_offset + g.inner_len];
                if let Ok(Message::ErrorIndication { teid, peer }) =
                    Message::parse(gtpu::MSG_ERROR_INDICATION, body)
                {
                    self.events
                        .push(WorkerEvent::ErrorIndication { peer, teid });
                }
                self.drop_pkt(pool, b, DropReason::Control);
            }
            gtpu::MSG_END_MARKER => self.end_marker(now, b, g, out, pool),
            _ => self.drop_pkt(pool, b, DropReason::UnsupportedGtp),
        }
    }

    /// Finds the first PDR of `dir` in precedence order that matches;
    /// returns its index.
    #[inline(always)]
    fn match_pdr(
        pfds: &PfdTable,
        sess: &CompiledSession,
        dir: Dir,
        teid: Option<u32>,
        qfi: Option<u8>,
        ip: &IpInfo,
        dns_q: Option<(&dns::Query, &[u8])>,
    ) -> Option<(usize, CPdr)> {
        let ue = &sess.ue;
        let uplink = dir == Dir::Uplink;
        // The packet in filter orientation (remote side, UE side), for the
        // IPv4 fast check.
        let v4 = match ip.addrs {
            IpPair::V4 { src, dst } if uplink => Some((dst, src, ip.dst_port, ip.src_port)),
            IpPair::V4 { src, dst } => Some((src, dst, ip.src_port, ip.dst_port)),
            IpPair::V6 { .. } => None,
        };
        let qbit = qfi.map_or(0, |q| 1u64 << (q & 63));
        let range = sess.pdr_range(dir);
        let base = range.start;
        let cells = sess.cells().get(range).unwrap_or(&[]);
        let filters = sess.filter_cells();
        for (k, c) in cells.iter().enumerate() {
            let p = PdrView(c);
            if !p.admits(teid, qbit) {
                continue;
            }
            if p.ue_check() && !ue_matches(ue, &ip.addrs, dir) && !in_framed(sess, &ip.addrs, dir) {
                continue;
            }
            let (start, len) = p.filt();
            if len != 0 {
                let mut hit = false;
                for fc in filters.get(start..start + len).unwrap_or(&[]) {
                    let f = CFilter::decode(fc);
                    let m = match v4 {
                        Some((r, u, rp, up)) => f.matches4(r, u, rp, up, ip.protocol, ip.has_ports),
                        None => None,
                    };
                    if m.unwrap_or_else(|| f.matches(ip, ue, uplink, sess.filter_exts())) {
                        hit = true;
                        break;
                    }
                }
                if !hit {
                    continue;
                }
            }
            if let Some(app) = p.app() {
                let Some(name) = sess.apps().get(usize::from(app)) else {
                    continue;
                };
                if !pfds.matches(name, uplink, ip, ue, dns_q) {
                    continue;
                }
            }
            return Some((base + k, CPdr::decode(c)));
        }
        None
    }

    /// [`Worker::match_pdr`] for an IPv4 packet whose filters all take the
    /// IPv4 fast check, on the cells and in registers. Answers
    /// [`Fast4::General`] whenever the general matcher is needed (a filter
    /// without the fast check, an application ID, framed routes).
    #[inline(always)]
    fn match_pdr4(
        sess: &CompiledSession,
        dir: Dir,
        teid: Option<u32>,
        qbit: u64,
        p: &Ip4Lean,
    ) -> Fast4 {
        let uplink = dir == Dir::Uplink;
        // Filter orientation: (remote side, UE side).
        let (remote, ue, rp, up) = if uplink {
            (p.dst, p.src, p.dst_port, p.src_port)
        } else {
            (p.src, p.dst, p.src_port, p.dst_port)
        };
        let ue_ok = sess.ue.v4() == Some(ue);
        let range = sess.pdr_range(dir);
        let base = range.start;
        let cells = sess.cells().get(range).unwrap_or(&[]);
        let filters = sess.filter_cells();
        for (k, c) in cells.iter().enumerate() {
            let v = PdrView(c);
            if !v.admits(teid, qbit) {
                continue;
            }
            if v.ue_check() && !ue_ok {
                if sess.framed().is_empty() {
                    continue;
                }
                return Fast4::General;
            }
            if v.app().is_some() {
                return Fast4::General;
            }
            let (start, len) = v.filt();
            if len != 0 {
                let mut hit = false;
                for fc in filters.get(start..start + len).unwrap_or(&[]) {
                    match CFilter::decode(fc).matches4(remote, ue, rp, up, p.protocol, p.has_ports)
                    {
                        Some(true) => {
                            hit = true;
                            break;
                        }
                        Some(false) => {}
                        None => return Fast4::General,
                    }
                }
                if !hit {
                    continue;
                }
            }
            return Fast4::Hit(base + k, CPdr::decode(c));
        }
        Fast4::Miss
    }

    /// An uplink G-PDU of the local session in `slot`: the IPv4 fast path
    /// when it applies, else [`Worker::uplink_general`].
    #[inline(always)]
    fn uplink<P: BufPool<Buf = B>>(
        &mut self,
        now: u64,
        slot: u32,
        b: B,
        g: Tunnelled,
        out: &mut Output<B>,
        pool: &mut P,
    ) {
        let lean = b
            .data()
            .get(g.inner_offset..g.inner_offset + g.inner_len)
            .and_then(parse_ipv4_lean);
        let Some(p) = lean else {
            return self.uplink_general(now, slot, b, g, out, pool);
        };
        if self.needs_full(p.protocol, p.has_ports, p.dst_port) {
            return self.uplink_general(now, slot, b, g, out, pool);
        }
        let Some(mut sess) = self.sessions.get_mut(slot as usize).and_then(Option::take) else {
            return self.drop_pkt(pool, b, DropReason::NoSession);
        };
        let qbit = g.qfi.map_or(0, |q| 1u64 << (q & 63));
        match Self::match_pdr4(&sess, Dir::Uplink, Some(g.teid), qbit, &p) {
            Fast4::Hit(pi, pdr) => self.act(
                now,
                slot,
                &mut sess,
                (pi, pdr),
                Dir::Uplink,
                b,
                g.inner_offset,
                g.inner_len as u64,
                out,
                pool,
            ),
            Fast4::Miss => self.drop_pkt(pool, b, DropReason::NoPdr),
            Fast4::General => {
                self.put_back(slot, sess);
                return self.uplink_general(now, slot, b, g, out, pool);
            }
        }
        self.put_back(slot, sess);
    }

    /// An uplink packet needs [`Worker::uplink_full`]: MEC steering rules
    /// exist, or it is a DNS query and edge DNS rules or PFDs exist.
    #[inline(always)]
    fn needs_full(&self, protocol: u8, has_ports: bool, dst_port: u16) -> bool {
        let is_dns = protocol == ipv4::PROTO_UDP && has_ports && dst_port == udp::DNS_PORT;
        !self.steering.is_empty() || (is_dns && (!self.dns.is_empty() || !self.pfds.is_empty()))
    }

    /// An uplink G-PDU of the local session in `slot`, any IP version.
    #[inline(never)]
    fn uplink_general<P: BufPool<Buf = B>>(
        &mut self,
        now: u64,
        slot: u32,
        b: B,
        g: Tunnelled,
        out: &mut Output<B>,
        pool: &mut P,
    ) {
        let Some(Ok(ip)) = b
            .data()
            .get(g.inner_offset..g.inner_offset + g.inner_len)
            .map(parse_ip)
        else {
            return self.drop_pkt(pool, b, DropReason::Malformed);
        };
        if self.needs_full(ip.protocol, ip.has_ports, ip.dst_port) {
            return self.uplink_full(now, slot, b, g, ip, out, pool);
        }
        let Some(mut sess) = self.sessions.get_mut(slot as usize).and_then(Option::take) else {
            return self.drop_pkt(pool, b, DropReason::NoSession);
        };
        match Self::match_pdr(
            &self.pfds,
            &sess,
            Dir::Uplink,
            Some(g.teid),
            g.qfi,
            &ip,
            None,
        ) {
            Some(pi) => self.act(
                now,
                slot,
                &mut sess,
                pi,
                Dir::Uplink,
                b,
                g.inner_offset,
                g.inner_len as u64,
                out,
                pool,
            ),
            None => self.drop_pkt(pool, b, DropReason::NoPdr),
        }
        self.put_back(slot, sess);
    }

    /// The uplink path with MEC steering and DNS (edge answers, domain
    /// application detection).
    #[inline(never)]
    fn uplink_full<P: BufPool<Buf = B>>(
        &mut self,
        now: u64,
        slot: u32,
        b: B,
        t: Tunnelled,
        ip: IpInfo,
        out: &mut Output<B>,
        pool: &mut P,
    ) {
        let Some(Ok(outer)) = b.data().get(t.l3..).map(parse_ip) else {
            return self.drop_pkt(pool, b, DropReason::Malformed);
        };
        let g = FastGpdu {
            outer: outer.addrs,
            teid: t.teid,
            qfi: t.qfi,
            inner_offset: t.inner_offset,
            inner_len: t.inner_len,
        };
        let Some(mut sess) = self.sessions.get_mut(slot as usize).and_then(Option::take) else {
            return self.drop_pkt(pool, b, DropReason::NoSession);
        };
        let qfi = g.qfi;
        // DNS: edge answers and domain-based application detection.
        let is_dns = ip.protocol == ipv4::PROTO_UDP && ip.has_ports && ip.dst_port == udp::DNS_PORT;
        let dns_off = g.inner_offset + ip.l4_offset + udp::HEADER_LEN;
        let dq = if is_dns && (!self.dns.is_empty() || !self.pfds.is_empty()) {
            b.data()
                .get(dns_off..g.inner_offset + ip.total_len)
                .and_then(|m| dns::Query::parse(m).ok())
        } else {
            None
        };
        let pdr = {
            let msg = b
                .data()
                .get(dns_off..g.inner_offset + ip.total_len)
                .unwrap_or(&[]);
            Self::match_pdr(
                &self.pfds,
                &sess,
                Dir::Uplink,
                Some(g.teid),
                qfi,
                &ip,
                dq.as_ref().map(|q| (q, msg)),
            )
        };
        let Some(pi) = pdr else {
            self.put_back(slot, sess);
            return self.drop_pkt(pool, b, DropReason::NoPdr);
        };
        // Edge DNS answer.
        if let Some(q) = dq.filter(|_| !self.dns.is_empty()) {
            let msg = b
                .data()
                .get(dns_off..g.inner_offset + ip.total_len)
                .unwrap_or(&[]);
            if let Some((addr, ttl)) = self.dns.answer(&q, msg) {
                self.answer_dns(now, &mut sess, pi.0, b, &g, &ip, q, addr, ttl, out, pool);
                self.put_back(slot, sess);
                return;
            }
        }
        // MEC steering.
        if !self.steering.is_empty() {
            // One reference count per steered packet, not per packet.
            let steering = match self.steering.lookup(&ip, Some(&g.outer)) {
                Some(r) if r.action != SteerAction::Passthrough => Some(self.steering.clone()),
                _ => None,
            };
            if let Some(rule) = steering
                .as_deref()
                .and_then(|t| t.lookup(&ip, Some(&g.outer)))
            {
                match rule.action {
                    SteerAction::Passthrough => {}
                    SteerAction::Drop => {
                        self.put_back(slot, sess);
                        return self.drop_pkt(pool, b, DropReason::SteerDrop);
                    }
                    SteerAction::ForwardDecapsulated | SteerAction::ForwardEncapsulated => {
                        let len = g.inner_len as u64;
                        if let Some(r) = self.meter(now, &mut sess, &pi.1, Dir::Uplink, len) {
                            self.put_back(slot, sess);
                            return self.drop_pkt(pool, b, r);
                        }
                        self.stats.steered_packets += 1;
                        self.put_back(slot, sess);
                        return self.steer_out(
                            now,
                            b,
                            &g,
                            rule.target.clone(),
                            rule.action,
                            out,
                            pool,
                        );
                    }
                    SteerAction::DuplicateDecapsulated | SteerAction::DuplicateEncapsulated => {
                        if let Some(mut copy) = pool.alloc() {
                            let src = b.data();
                            if let Some(d) = copy.append(src.len()) {
                                d.copy_from_slice(src);
                                copy.set_port(b.port());
                                self.stats.steered_packets += 1;
                                let act = if rule.action == SteerAction::DuplicateDecapsulated {
                                    SteerAction::ForwardDecapsulated
                                } else {
                                    SteerAction::ForwardEncapsulated
                                };
                                self.steer_out(now, copy, &g, rule.target.clone(), act, out, pool);
                            } else {
                                pool.free(copy);
                            }
                        }
                    }
                }
            }
        }
        let len = g.inner_len as u64;
        self.act(
            now,
            slot,
            &mut sess,
            pi,
            Dir::Uplink,
            b,
            g.inner_offset,
            len,
            out,
            pool,
        );
        self.put_back(slot, sess);
    }

    /// A downlink IPv4 packet for the session in `slot`: the fast match,
    /// else [`Worker::downlink`].
    #[inline(always)]
    fn downlink4<P: BufPool<Buf = B>>(
        &mut self,
        now: u64,
        slot: u32,
        b: B,
        l3: usize,
        p: Ip4Lean,
        out: &mut Output<B>,
        pool: &mut P,
    ) {
        let Some(mut sess) = self.sessions.get_mut(slot as usize).and_then(Option::take) else {
            return self.drop_pkt(pool, b, DropReason::NoSession);
        };
        match Self::match_pdr4(&sess, Dir::Downlink, None, 0, &p) {
            Fast4::Hit(pi, pdr) => self.act(
                now,
                slot,
                &mut sess,
                (pi, pdr),
                Dir::Downlink,
                b,
                l3,
                u64::from(p.total_len),
                out,
                pool,
            ),
            Fast4::Miss => self.drop_pkt(pool, b, DropReason::NoPdr),
            Fast4::General => {
                self.put_back(slot, sess);
                return match b.data().get(l3..).map(parse_ip) {
                    Some(Ok(ip)) => self.downlink(now, slot, b, l3, ip, out, pool),
                    _ => self.process_inner(now, b, out, pool, true),
                };
            }
        }
        self.put_back(slot, sess);
    }

    #[inline(never)]
    fn downlink<P: BufPool<Buf = B>>(
        &mut self,
        now: u64,
        slot: u32,
        b: B,
        l3: usize,
        ip: IpInfo,
        out: &mut Output<B>,
        pool: &mut P,
    ) {
        let Some(mut sess) = self.sessions.get_mut(slot as usize).and_then(Option::take) else {
            return self.drop_pkt(pool, b, DropReason::NoSession);
        };
        let pdr = Self::match_pdr(&self.pfds, &sess, Dir::Downlink, None, None, &ip, None);
        match pdr {
            Some(pi) => {
                let len = ip.total_len as u64;
                self.act(
                    now,
                    slot,
                    &mut sess,
                    pi,
                    Dir::Downlink,
                    b,
                    l3,
                    len,
                    out,
                    pool,
                );
            }
            None => self.drop_pkt(pool, b, DropReason::NoPdr),
        }
        self.put_back(slot, sess);
    }

    /// QER and URR for one packet: `Some(reason)` if it must be dropped.
    #[inline(always)]
    fn meter(
        &mut self,
        now: u64,
        sess: &mut CompiledSession,
        pdr: &CPdr,
        dir: Dir,
        bytes: u64,
    ) -> Option<DropReason> {
        let (urrs, qers) = (pdr.urrs, pdr.qers);
        let uplink = dir == Dir::Uplink;
        // Quota first: an exhausted URR stops traffic (TS 29.244 5.2.2.3.1);
        // URRs measuring before QoS enforcement count even dropped packets.
        let mut before_qos = false;
        for &u in urrs.iter().take_while(|&&u| u != NONE) {
            let Some(c) = sess.urr_cells_ref(usize::from(u)) else {
                continue;
            };
            if meter::urr_blocks(c) {
                return Some(DropReason::QuotaExhausted);
            }
            before_qos |= meter::urr_before_qos(c);
        }
        if before_qos {
            self.count(now, sess, &urrs, uplink, bytes, true);
        }
        for &q in qers.iter().take_while(|&&q| q != NONE) {
            let Some(c) = sess.qer_cell(usize::from(q), dir) else {
                continue;
            };
            match meter::qer_admit(c, bytes, now) {
                Admit::Pass => {}
                Admit::GateClosed => return Some(DropReason::GateClosed),
                Admit::RateExceeded => return Some(DropReason::RateExceeded),
            }
        }
        self.count(now, sess, &urrs, uplink, bytes, false);
        None
    }

    /// Counts a packet in the URRs `urrs` whose MBQE flag is `before_qos`.
    #[inline(always)]
    fn count(
        &mut self,
        now: u64,
        sess: &mut CompiledSession,
        urrs: &[u8],
        uplink: bool,
        bytes: u64,
        before_qos: bool,
    ) {
        for &u in urrs.iter().take_while(|&&u| u != NONE) {
            let Some(c) = sess.urr_cells(usize::from(u)) else {
                continue;
            };
            if meter::urr_before_qos(c) != before_qos {
                continue;
            }
            let due = meter::urr_count(c, uplink, bytes, now);
            if due != 0 {
                // The SEID is outside the session's first cache line: read
                // only when reporting.
                let seid = sess.seid;
                if let Some(c) = sess.urr_cells(usize::from(u)) {
                    let mut st = UrrState::decode(c);
                    let r = st.report(seid, due, now, self.cfg.unix_offset_ns);
                    *c = st.encode();
                    self.events.push(WorkerEvent::Usage(r));
                }
            }
        }
    }

    /// Meters and applies the FAR of PDR `pi` to a packet whose payload
    /// (inner packet) starts at `payload_off`.
    #[inline(always)]
    fn act<P: BufPool<Buf = B>>(
        &mut self,
        now: u64,
        slot: u32,
        sess: &mut CompiledSession,
        (pi, pdr): (usize, CPdr),
        dir: Dir,
        b: B,
        payload_off: usize,
        bytes: u64,
        out: &mut Output<B>,
        pool: &mut P,
    ) {
        let mut fi = usize::from(pdr.far);
        // Quota exhausted with a FAR for quota action: use it instead.
        for u in pdr.urr_list() {
            if let Some(id) = sess.urr_cells_ref(u).and_then(meter::urr_quota_far) {
                if let Some(f) = sess.far_index(id) {
                    fi = f;
                }
            }
        }
        let Some(fc) = sess.far_cell(fi) else {
            return self.drop_pkt(pool, b, DropReason::NoRoute);
        };
        let action = CFar::action_of(&fc);
        if action.has(ApplyAction::BUFF) && dir == Dir::Downlink {
            return self.buffer(now, slot, sess, pi, b, out, pool);
        }
        if action.has(ApplyAction::NOCP) && !sess_dl_reported(sess) && dir == Dir::Downlink {
            self.report_dl(sess, pi);
        }
        if action.has(ApplyAction::DROP)
            || !(action.has(ApplyAction::FORW) || action.has(ApplyAction::DUPL))
        {
            return self.drop_pkt(pool, b, DropReason::FarDrop);
        }
        if let Some(r) = self.meter(now, sess, &pdr, dir, bytes) {
            return self.drop_pkt(pool, b, r);
        }
        // Duplicates first (copies of the inner packet).
        if action.has(ApplyAction::DUPL) && CFar::dup_count_of(&fc) != 0 {
            self.duplicate(now, sess, &CFar::decode(&fc), &b, payload_off, out, pool);
        }
        if !action.has(ApplyAction::FORW) {
            return self.drop_pkt(pool, b, DropReason::FarDrop);
        }
        let Some(eg) = CFar::egress_of(&fc) else {
            return self.drop_pkt(pool, b, DropReason::NoRoute);
        };
        match dir {
            Dir::Uplink => self.stats.uplink_packets += 1,
            Dir::Downlink => self.stats.downlink_packets += 1,
        }
        let mut t = sess.tunnel(&eg);
        if let (Some(t), Some((qfi, rqi, ppi))) = (t.as_mut(), pdr.psc) {
            if eg.dest == upf_rules::Interface::Access && t.has_pdu_session() {
                t.set_pdu_session(&PduSessionInfo::Downlink { qfi, rqi, ppi });
            }
        }
        self.send(now, b, payload_off, &eg, t.as_ref(), out, pool);
    }

    /// Sends a copy of the inner packet to each duplication target of `far`.
    #[cold]
    #[inline(never)]
    fn duplicate<P: BufPool<Buf = B>>(
        &mut self,
        now: u64,
        sess: &CompiledSession,
        far: &CFar,
        b: &B,
        payload_off: usize,
        out: &mut Output<B>,
        pool: &mut P,
    ) {
        for d in sess.dups(far) {
            let Some(mut copy) = pool.alloc() else {
                self.stats.drop(DropReason::NoBuffer);
                continue;
            };
            let src = b.data().get(payload_off..).unwrap_or(&[]);
            match copy.append(src.len()) {
                Some(dst) => dst.copy_from_slice(src),
                None => {
                    self.drop_pkt(pool, copy, DropReason::NoBuffer);
                    continue;
                }
            }
            copy.set_port(b.port());
            self.stats.duplicated_packets += 1;
            let t = sess.tunnel(d);
            self.send(now, copy, 0, d, t.as_ref(), out, pool);
        }
    }

    /// Strips everything before `payload_off` and sends the inner packet
    /// out of `eg` (encapsulated if it says so).
    #[inline(always)]
    fn send<P: BufPool<Buf = B>>(
        &mut self,
        now: u64,
        mut b: B,
        payload_off: usize,
        eg: &Egress,
        tunnel: Option<&TunnelHeader>,
        out: &mut Output<B>,
        pool: &mut P,
    ) {
        if !b.adj(payload_off) {
            return self.drop_pkt(pool, b, DropReason::Malformed);
        }
        let Some((mac, vlan)) = self
            .ports_fast
            .get(usize::from(eg.port))
            .map(|p| (p.mac, p.vlan))
        else {
            return self.drop_pkt(pool, b, DropReason::NoRoute);
        };
        let l2 = if vlan.is_some() { 18 } else { 14 };
        match tunnel {
            Some(t) => {
                let Some(via) = eg.next_hop else {
                    return self.drop_pkt(pool, b, DropReason::NoRoute);
                };
                let ident = self.next_ident();
                if b.prepend(l2 + t.len()).is_none() {
                    return self.drop_pkt(pool, b, DropReason::NoBuffer);
                }
                let d = b.data_mut();
                write_l2(d, &mac, vlan, !t.is_v6());
                if t.write(&mut d[l2..], ident).is_err() {
                    return self.drop_pkt(pool, b, DropReason::Malformed);
                }
                self.finish_l2(now, b, eg.port, via, out, pool);
            }
            None => {
                let (v4, dst) = match b.data().first().map(|v| v >> 4) {
                    Some(4) if b.len() >= 20 => {
                        let d = &b.data()[16..20];
                        (true, IpAddr::V4(Ipv4Addr::new(d[0], d[1], d[2], d[3])))
                    }
                    Some(6) if b.len() >= 40 => {
                        let mut o = [0u8; 16];
                        o.copy_from_slice(&b.data()[24..40]);
                        (false, IpAddr::V6(Ipv6Addr::from(o)))
                    }
                    _ => return self.drop_pkt(pool, b, DropReason::Malformed),
                };
                if let Some(tos) = eg.tos {
                    let d = b.data_mut();
                    if v4 {
                        let _ = ipv4::set_tos(d, tos);
                    } else {
                        // Traffic Class: bits 4..12 of the first word.
                        d[0] = (d[0] & 0xf0) | (tos >> 4);
                        d[1] = (d[1] & 0x0f) | (tos << 4);
                    }
                }
                let flat = match dst {
                    IpAddr::V4(d) => self
                        .ports_fast
                        .get(usize::from(eg.port))
                        .and_then(|p| p.next_hop4(u32::from(d))),
                    IpAddr::V6(_) => None,
                };
                let via = match flat {
                    Some(v) => v.map(|a| IpAddr::V4(a.into())),
                    None => self.topo.port(eg.port).and_then(|p| p.next_hop(dst)),
                };
                let Some(via) = via else {
                    return self.drop_pkt(pool, b, DropReason::NoRoute);
                };
                let Some(d) = b.prepend(l2) else {
                    return self.drop_pkt(pool, b, DropReason::NoBuffer);
                };
                write_l2(d, &mac, vlan, v4);
                self.finish_l2(now, b, eg.port, via, out, pool);
            }
        }
    }

    fn next_ident(&mut self) -> u16 {
        self.ident = self.ident.wrapping_add(1);
        self.ident
    }

    /// Writes the next hop's MAC into the frame and queues it, or parks it
    /// until the neighbour resolves.
    #[inline(always)]
    fn finish_l2<P: BufPool<Buf = B>>(
        &mut self,
        now: u64,
        mut b: B,
        port: PortId,
        via: IpAddr,
        out: &mut Output<B>,
        pool: &mut P,
    ) {
        let k = ip_key(via);
        let hit = if self.neigh_hit.0 == k {
            Some(self.neigh_hit.1)
        } else {
            let m = self.neigh_get(k);
            if let Some(mac) = m {
                self.neigh_hit = (k, mac);
            }
            m
        };
        match hit {
            Some(mac) => {
                if let Some(d) = b.data_mut().get_mut(0..6) {
                    d.copy_from_slice(&mac);
                }
                self.queue_tx(port, b, out);
            }
            None => self.park(now, b, port, via, out, pool),
        }
    }

    /// Holds a packet until its next hop resolves (and asks for it).
    #[cold]
    #[inline(never)]
    fn park<P: BufPool<Buf = B>>(
        &mut self,
        now: u64,
        b: B,
        port: PortId,
        via: IpAddr,
        out: &mut Output<B>,
        pool: &mut P,
    ) {
        if self.pending.len() >= self.cfg.pending_max {
            return self.drop_pkt(pool, b, DropReason::Unresolved);
        }
        self.solicit(now, port, via, out, pool);
        self.pending.push_back(Pending {
            buf: b,
            port,
            via,
            since: now,
        });
    }

    #[inline(always)]
    fn queue_tx(&mut self, port: PortId, b: B, out: &mut Output<B>) {
        if let Some(c) = self.stats.ports.get_mut(usize::from(port)) {
            c.tx_packets += 1;
            c.tx_bytes += b.len() as u64;
        }
        if let Some(q) = out.tx.get_mut(usize::from(port)) {
            q.push(b);
        }
    }

    /// Sends an ARP request or a neighbour solicitation for `ip` (at most
    /// one per second per address).
    #[cold]
    fn solicit<P: BufPool<Buf = B>>(
        &mut self,
        now: u64,
        port: PortId,
        ip: IpAddr,
        out: &mut Output<B>,
        pool: &mut P,
    ) {
        let k = ip_key(ip);
        if let Some(last) = self.solicited.get(&k) {
            if now.saturating_sub(last) < NS {
                return;
            }
        }
        self.solicited.insert(k, now);
        let Some(p) = self.topo.port(port).cloned() else {
            return;
        };
        let Some(mut b) = pool.alloc() else { return };
        let ok = match ip {
            IpAddr::V4(t) => {
                let Some(src) = p.first_v4() else {
                    pool.free(b);
                    return;
                };
                match b.append(14 + arp::LEN) {
                    Some(f) => {
                        let _ = ethernet::EthernetRepr {
                            dst: BROADCAST,
                            src: p.mac,
                            vlan: None,
                            ethertype: ETHERTYPE_ARP,
                        }
                        .emit(f);
                        ArpRepr {
                            op: arp::OP_REQUEST,
                            sender_mac: p.mac,
                            sender_ip: src,
                            target_mac: [0; 6],
                            target_ip: t,
                        }
                        .emit(&mut f[14..])
                        .is_ok()
                    }
                    None => false,
                }
            }
            IpAddr::V6(t) => {
                let src = p.first_v6().unwrap_or_else(|| p.link_local());
                let dst = icmp::solicited_node(&t);
                match b.append(14 + 40 + icmp::ND_LEN) {
                    Some(f) => {
                        let _ = ethernet::EthernetRepr {
                            dst: ethernet::ipv6_multicast_mac(&dst),
                            src: p.mac,
                            vlan: None,
                            ethertype: ETHERTYPE_IPV6,
                        }
                        .emit(f);
                        let _ = ipv6::Ipv6Repr {
                            src,
                            dst,
                            next_header: ipv4::PROTO_ICMPV6,
                            hop_limit: 255,
                            traffic_class: 0,
                            flow_label: 0,
                            payload_len: icmp::ND_LEN,
                        }
                        .emit(&mut f[14..]);
                        NdRepr {
                            kind: icmp::V6_NEIGHBOR_SOLICIT,
                            target: t,
                            lla: Some(p.mac),
                            flags: 0,
                        }
                        .emit(&mut f[54..], &src, &dst)
                        .is_ok()
                    }
                    None => false,
                }
            }
        };
        if ok {
            b.set_port(port);
            self.queue_tx(port, b, out);
        } else {
            pool.free(b);
        }
    }

    fn learn(&mut self, ip: IpAddr, mac: Mac, out: &mut Output<B>) {
        let k = ip_key(ip);
        if self.neigh_get(k) != Some(mac) {
            self.set_neighbor(k, mac);
            self.events.push(WorkerEvent::NeighborLearned { ip, mac });
        }
        self.release_pending(ip, mac, out);
    }

    /// The neighbour with key `k` ([`ip_key`]).
    #[inline(always)]
    fn neigh_get(&self, k: u128) -> Option<Mac> {
        match v4_of_key(k) {
            Some(a) => self.neigh4.get(&a),
            None => self.neigh6.get(&k),
        }
    }

    /// Records a neighbour (and forgets the last-hit entry if it was this one).
    fn set_neighbor(&mut self, k: u128, mac: Mac) {
        match v4_of_key(k) {
            Some(a) => self.neigh4.insert(a, mac),
            None => self.neigh6.insert(k, mac),
        };
        if self.neigh_hit.0 == k {
            self.neigh_hit.0 = 0;
        }
    }

    fn release_pending(&mut self, ip: IpAddr, mac: Mac, out: &mut Output<B>) {
        if self.pending.is_empty() {
            return;
        }
        let mut keep = VecDeque::with_capacity(self.pending.len());
        while let Some(mut p) = self.pending.pop_front() {
            if p.via == ip {
                p.buf.data_mut()[0..6].copy_from_slice(&mac);
                self.queue_tx(p.port, p.buf, out);
            } else {
                keep.push_back(p);
            }
        }
        self.pending = keep;
    }

    fn handle_arp<P: BufPool<Buf = B>>(
        &mut self,
        _now: u64,
        mut b: B,
        l3: usize,
        out: &mut Output<B>,
        pool: &mut P,
    ) {
        let port = b.port();
        let Ok(a) = ArpRepr::parse(&b.data()[l3..]) else {
            return self.drop_pkt(pool, b, DropReason::Malformed);
        };
        let Some(p) = self.topo.port(port).cloned() else {
            return self.drop_pkt(pool, b, DropReason::Malformed);
        };
        // Learn the sender if it is on one of our subnets.
        if !a.sender_ip.is_unspecified() && p.on_link(IpAddr::V4(a.sender_ip)) {
            self.learn(IpAddr::V4(a.sender_ip), a.sender_mac, out);
        }
        if a.op == arp::OP_REQUEST && p.owns(IpAddr::V4(a.target_ip)) {
            let rep = a.reply(p.mac);
            let d = b.data_mut();
            let (dst_mac, l3s) = (a.sender_mac, l3);
            d[0..6].copy_from_slice(&dst_mac);
            d[6..12].copy_from_slice(&p.mac);
            if rep.emit(&mut d[l3s..]).is_err() {
                return self.drop_pkt(pool, b, DropReason::Malformed);
            }
            // Trim any padding beyond the ARP body.
            let extra = b.len().saturating_sub(l3 + arp::LEN);
            b.trim(extra);
            self.stats.control_replies += 1;
            return self.queue_tx(port, b, out);
        }
        self.drop_pkt(pool, b, DropReason::Control)
    }

    fn handle_nd<P: BufPool<Buf = B>>(
        &mut self,
        _now: u64,
        mut b: B,
        l3: usize,
        ip: IpInfo,
        out: &mut Output<B>,
        pool: &mut P,
    ) {
        let port = b.port();
        let (src, dst) = match ip.addrs {
            IpPair::V6 { src, dst } => (Ipv6Addr::from(src), Ipv6Addr::from(dst)),
            IpPair::V4 { .. } => return self.drop_pkt(pool, b, DropReason::Malformed),
        };
        let off = l3 + ip.l4_offset;
        let Ok(nd) = NdRepr::parse(&b.data()[off..l3 + ip.total_len], &src, &dst) else {
            return self.drop_pkt(pool, b, DropReason::Malformed);
        };
        let Some(p) = self.topo.port(port).cloned() else {
            return self.drop_pkt(pool, b, DropReason::Malformed);
        };
        let eth_src = {
            let mut m = [0u8; 6];
            m.copy_from_slice(&b.data()[6..12]);
            m
        };
        if nd.kind == icmp::V6_NEIGHBOR_ADVERT {
            if let Some(mac) = nd.lla {
                self.learn(IpAddr::V6(nd.target), mac, out);
            }
            return self.drop_pkt(pool, b, DropReason::Control);
        }
        // A solicitation: learn the sender, answer for our addresses.
        if !src.is_unspecified() {
            if let Some(mac) = nd.lla {
                self.learn(IpAddr::V6(src), mac, out);
            }
        }
        if !p.owns(IpAddr::V6(nd.target)) {
            return self.drop_pkt(pool, b, DropReason::Control);
        }
        let reply_dst = if src.is_unspecified() {
            "ff02::1".parse().unwrap_or(Ipv6Addr::UNSPECIFIED)
        } else {
            src
        };
        let na = NdRepr {
            kind: icmp::V6_NEIGHBOR_ADVERT,
            target: nd.target,
            lla: Some(p.mac),
            flags: NdRepr::OVERRIDE
                | if src.is_unspecified() {
                    0
                } else {
                    NdRepr::SOLICITED
                },
        };
        let want = l3 + 40 + icmp::ND_LEN;
        if b.len() < want {
            if b.append(want - b.len()).is_none() {
                return self.drop_pkt(pool, b, DropReason::NoBuffer);
            }
        } else {
            b.trim(b.len() - want);
        }
        let d = b.data_mut();
        let dst_mac = if src.is_unspecified() {
            ethernet::ipv6_multicast_mac(&reply_dst)
        } else {
            eth_src
        };
        d[0..6].copy_from_slice(&dst_mac);
        d[6..12].copy_from_slice(&p.mac);
        let hdr = ipv6::Ipv6Repr {
            src: nd.target,
            dst: reply_dst,
            next_header: ipv4::PROTO_ICMPV6,
            hop_limit: 255,
            traffic_class: 0,
            flow_label: 0,
            payload_len: icmp::ND_LEN,
        };
        if hdr.emit(&mut d[l3..]).is_err()
            || na.emit(&mut d[l3 + 40..], &nd.target, &reply_dst).is_err()
        {
            return self.drop_pkt(pool, b, DropReason::Malformed);
        }
        self.stats.control_replies += 1;
        self.queue_tx(port, b, out);
    }

    /// ICMP echo to one of our addresses.
    fn handle_local<P: BufPool<Buf = B>>(
        &mut self,
        mut b: B,
        l3: usize,
        ip: IpInfo,
        out: &mut Output<B>,
        pool: &mut P,
    ) {
        let port = b.port();
        let end = l3 + ip.total_len;
        let off = l3 + ip.l4_offset;
        let ok = match ip.addrs {
            IpPair::V4 { src, dst } if ip.protocol == ipv4::PROTO_ICMP => {
                let d = b.data_mut();
                if icmp::v4_echo_to_reply(&mut d[off..end]).is_ok() {
                    d[l3 + 12..l3 + 16].copy_from_slice(&dst.to_be_bytes());
                    d[l3 + 16..l3 + 20].copy_from_slice(&src.to_be_bytes());
                    // Swapping addresses keeps the header checksum valid.
                    true
                } else {
                    false
                }
            }
            IpPair::V6 { src, dst } if ip.protocol == ipv4::PROTO_ICMPV6 => {
                let (s, d6) = (Ipv6Addr::from(src), Ipv6Addr::from(dst));
                let d = b.data_mut();
                if icmp::v6_echo_to_reply(&mut d[off..end], &s, &d6).is_ok() {
                    d[l3 + 8..l3 + 24].copy_from_slice(&d6.octets());
                    d[l3 + 24..l3 + 40].copy_from_slice(&s.octets());
                    true
                } else {
                    false
                }
            }
            _ => false,
        };
        if !ok {
            return self.drop_pkt(pool, b, DropReason::Control);
        }
        let d = b.data_mut();
        let mut m = [0u8; 12];
        m[0..6].copy_from_slice(&d[6..12]);
        m[6..12].copy_from_slice(&d[0..6]);
        d[0..12].copy_from_slice(&m);
        let extra = b.len().saturating_sub(end);
        b.trim(extra);
        self.stats.control_replies += 1;
        self.queue_tx(port, b, out);
    }

    /// Rewrites the frame in `b` (a GTP-U packet from a peer) into a GTP-U
    /// message back to that peer, in place.
    fn gtp_reply_in_place<P: BufPool<Buf = B>>(
        &mut self,
        mut b: B,
        outer: &IpInfo,
        msg: Message,
        teid: u32,
        seq: Option<u16>,
        udp_port_ext: Option<u16>,
        out: &mut Output<B>,
        pool: &mut P,
    ) -> bool {
        let port = b.port();
        let l3 = {
            let e = b.data();
            if e.len() >= 14 && u16::from_be_bytes([e[12], e[13]]) == ethernet::ETHERTYPE_VLAN {
                18
            } else {
                14
            }
        };
        let (src, dst) = (outer.addrs.dst_addr(), outer.addrs.src_addr());
        let sport = outer.dst_port;
        let dport = outer.src_port;
        let ip_len = if src.is_ipv4() { 20 } else { 40 };
        let mut body = [0u8; 64];
        let Ok(glen) = msg.emit(&mut body, teid, seq, udp_port_ext) else {
            pool.free(b);
            return false;
        };
        let want = l3 + ip_len + 8 + glen;
        if b.len() < want {
            if b.append(want - b.len()).is_none() {
                pool.free(b);
                return false;
            }
        } else {
            b.trim(b.len() - want);
        }
        let ident = self.next_ident();
        let d = b.data_mut();
        let mut m = [0u8; 12];
        m[0..6].copy_from_slice(&d[6..12]);
        m[6..12].copy_from_slice(&d[0..6]);
        d[0..12].copy_from_slice(&m);
        let udp_len = 8 + glen;
        match (src, dst) {
            (IpAddr::V4(s), IpAddr::V4(t)) => {
                let _ = ipv4::Ipv4Repr {
                    src: s,
                    dst: t,
                    protocol: ipv4::PROTO_UDP,
                    ttl: 64,
                    tos: 0,
                    ident,
                    dont_frag: false,
                    more_frags: false,
                    frag_offset: 0,
                    header_len: 20,
                    total_len: 20 + udp_len,
                }
                .emit(&mut d[l3..]);
            }
            (IpAddr::V6(s), IpAddr::V6(t)) => {
                let _ = ipv6::Ipv6Repr {
                    src: s,
                    dst: t,
                    next_header: ipv4::PROTO_UDP,
                    hop_limit: 64,
                    traffic_class: 0,
                    flow_label: 0,
                    payload_len: udp_len,
                }
                .emit(&mut d[l3..]);
            }
            _ => {
                pool.free(b);
                return false;
            }
        }
        let u = l3 + ip_len;
        let _ = udp::UdpRepr {
            src_port: sport,
            dst_port: dport,
            len: udp_len,
            checksum: 0,
        }
        .emit(&mut d[u..]);
        d[u + 8..u + 8 + glen].copy_from_slice(&body[..glen]);
        if let (IpAddr::V6(s), IpAddr::V6(t)) = (src, dst) {
            let _ = udp::fill_checksum_v6(&mut d[u..u + udp_len], &s, &t);
        }
        self.queue_tx(port, b, out);
        true
    }

    fn echo_reply<P: BufPool<Buf = B>>(
        &mut self,
        b: B,
        g: GtpuInfo,
        out: &mut Output<B>,
        pool: &mut P,
    ) {
        let seq = g.header.seq;
        if self.gtp_reply_in_place(
            b,
            &g.outer,
            Message::EchoResponse { recovery: 0 },
            0,
            seq,
            None,
            out,
            pool,
        ) {
            self.stats.echo_replies += 1;
        }
    }

    /// TS 29.281 5.2.1 and 7.3.2: a GTP-U packet whose extension chain
    /// holds a comprehension-required type we do not know is dropped and
    /// answered with a Supported Extension Headers Notification (TEID 0,
    /// with a sequence number) listing the types we handle, rate limited
    /// like Error Indications. Only for packets addressed to one of our
    /// tunnel endpoints.
    fn unsupported_extension<P: BufPool<Buf = B>>(
        &mut self,
        now: u64,
        b: B,
        out: &mut Output<B>,
        pool: &mut P,
    ) {
        self.stats.drop(DropReason::UnsupportedExtension);
        let port = b.port();
        let outer = {
            let d = b.data();
            let l3 = match ethernet::EthernetRepr::parse(d) {
                Ok(e) => e.header_len(),
                Err(_) => return pool.free(b),
            };
            match parse_ip(&d[l3..]) {
                Ok(ip) => ip,
                Err(_) => return pool.free(b),
            }
        };
        let tunnel = self.topo.port(port).is_some_and(|p| p.role.is_tunnel());
        if !tunnel || !self.owns(port, outer.addrs.dst_addr()) || !self.ei_bucket.take(1, now) {
            return pool.free(b);
        }
        let mut types = [0u8; 16];
        let known = [
            gtpu::EXT_SERVICE_CLASS,
            gtpu::EXT_UDP_PORT,
            gtpu::EXT_RAN_CONTAINER,
            gtpu::EXT_LONG_PDCP,
            gtpu::EXT_XW_RAN_CONTAINER,
            gtpu::EXT_NR_RAN_CONTAINER,
            gtpu::EXT_PDU_SESSION_CONTAINER,
            gtpu::EXT_PDCP,
        ];
        types[..known.len()].copy_from_slice(&known);
        let msg = Message::SupportedExtensionHeaders {
            types,
            count: known.len() as u8,
        };
        if self.gtp_reply_in_place(b, &outer, msg, 0, Some(0), None, out, pool) {
            self.stats.ext_notifications_sent += 1;
        }
    }

    fn error_indication<P: BufPool<Buf = B>>(
        &mut self,
        now: u64,
        b: B,
        g: GtpuInfo,
        out: &mut Output<B>,
        pool: &mut P,
    ) {
        self.stats.drop(DropReason::UnknownTeid);
        if !self.ei_bucket.take(1, now) {
            pool.free(b);
            return;
        }
        let msg = Message::ErrorIndication {
            teid: g.header.teid,
            peer: g.outer.addrs.dst_addr(),
        };
        // TS 29.281 7.3.1: sent with a sequence number and the UDP Port
        // extension header naming the G-PDU's source port.
        let sport = g.outer.src_port;
        if self.gtp_reply_in_place(b, &g.outer, msg, 0, Some(0), Some(sport), out, pool) {
            self.stats.error_indications_sent += 1;
        }
    }

    fn end_marker<P: BufPool<Buf = B>>(
        &mut self,
        now: u64,
        b: B,
        g: GtpuInfo,
        out: &mut Output<B>,
        pool: &mut P,
    ) {
        // Relay an End Marker along the uplink FAR's tunnel (N9), else consume it.
        let Some(slot) = self.teid.get(&g.header.teid).filter(|s| s & REMOTE == 0) else {
            return self.drop_pkt(pool, b, DropReason::Control);
        };
        let target = self
            .sessions
            .get(slot as usize)
            .and_then(|s| s.as_deref())
            .and_then(|s| {
                s.pdr_range(Dir::Uplink)
                    .filter_map(|i| s.pdr(i))
                    .find(|p| p.teid.is_none_or(|t| t == g.header.teid))
                    .and_then(|p| s.far(usize::from(p.far)))
                    .filter(|f| f.action.has(ApplyAction::FORW))
                    .and_then(|f| f.fwd)
                    .and_then(|e| s.tunnel(&e).map(|t| (e, t)))
            });
        match target {
            Some((eg, t)) => {
                let mut b = b;
                let total = b.len();
                if !b.trim(total) {
                    return self.drop_pkt(pool, b, DropReason::Malformed);
                }
                self.stats.end_markers_sent += 1;
                self.write_end_marker(now, b, &eg, &t, out, pool);
            }
            None => self.drop_pkt(pool, b, DropReason::Control),
        }
    }

    /// Sends an End Marker (TS 29.281 7.3.2: the GTP-U header alone) on
    /// `eg`'s tunnel, in the empty buffer `b`.
    fn write_end_marker<P: BufPool<Buf = B>>(
        &mut self,
        now: u64,
        mut b: B,
        eg: &Egress,
        tunnel: &TunnelHeader,
        out: &mut Output<B>,
        pool: &mut P,
    ) {
        let t = tunnel.without_pdu_session();
        let Some(via) = eg.next_hop else {
            return self.drop_pkt(pool, b, DropReason::NoRoute);
        };
        let Some((mac, vlan)) = self.topo.port(eg.port).map(|p| (p.mac, p.vlan)) else {
            return self.drop_pkt(pool, b, DropReason::NoRoute);
        };
        let l2 = if vlan.is_some() { 18 } else { 14 };
        let ident = self.next_ident();
        let Some(d) = b.prepend(l2 + t.len()) else {
            return self.drop_pkt(pool, b, DropReason::NoBuffer);
        };
        write_l2(d, &mac, vlan, !t.is_v6());
        if t.write_msg(&mut d[l2..], gtpu::MSG_END_MARKER, ident)
            .is_err()
        {
            return self.drop_pkt(pool, b, DropReason::Malformed);
        }
        b.set_port(eg.port);
        self.finish_l2(now, b, eg.port, via, out, pool);
    }

    fn steer_out<P: BufPool<Buf = B>>(
        &mut self,
        now: u64,
        b: B,
        g: &FastGpdu,
        target: Option<crate::steer::SteerTarget>,
        action: SteerAction,
        out: &mut Output<B>,
        pool: &mut P,
    ) {
        let Some(t) = target else {
            return self.drop_pkt(pool, b, DropReason::NoRoute);
        };
        let Some(port) = self.topo.port(t.port) else {
            return self.drop_pkt(pool, b, DropReason::NoRoute);
        };
        let (pid, mac, vlan) = (port.id, port.mac, port.vlan);
        let eg = if action == SteerAction::ForwardEncapsulated {
            let Some((peer, teid)) = t.tunnel else {
                return self.drop_pkt(pool, b, DropReason::NoRoute);
            };
            let Some(src) = port.source_for(peer) else {
                return self.drop_pkt(pool, b, DropReason::NoRoute);
            };
            let next_hop = port.next_hop(peer);
            let spec = EncapSpec {
                eth: None,
                src,
                dst: peer,
                tos: 0,
                ttl: 64,
                src_port: 2152,
                dst_port: 2152,
                teid,
                pdu_session: None,
            };
            match TunnelHeader::new(&spec) {
                Ok(th) => (
                    Egress {
                        port: pid,
                        dest: upf_rules::Interface::Core,
                        tos: None,
                        next_hop,
                        tunnel: None,
                    },
                    Some(th),
                ),
                Err(_) => return self.drop_pkt(pool, b, DropReason::NoRoute),
            }
        } else {
            (
                Egress {
                    port: pid,
                    dest: upf_rules::Interface::Core,
                    tos: None,
                    next_hop: t.next_hop,
                    tunnel: None,
                },
                None,
            )
        };
        let (eg, th) = eg;
        if th.is_none() {
            if let Some(nh) = t.next_hop {
                // Forward to the MEC app's address regardless of routes.
                let mut b = b;
                if !b.adj(g.inner_offset) {
                    return self.drop_pkt(pool, b, DropReason::Malformed);
                }
                let v4 = b.data().first().is_some_and(|v| v >> 4 == 4);
                let l2 = if vlan.is_some() { 18 } else { 14 };
                let Some(d) = b.prepend(l2) else {
                    return self.drop_pkt(pool, b, DropReason::NoBuffer);
                };
                write_l2(d, &mac, vlan, v4);
                let via = self
                    .topo
                    .port(pid)
                    .and_then(|p| p.next_hop(nh))
                    .unwrap_or(nh);
                return self.finish_l2(now, b, pid, via, out, pool);
            }
        }
        self.send(now, b, g.inner_offset, &eg, th.as_ref(), out, pool);
    }

    #[allow(clippy::too_many_arguments)]
    fn answer_dns<P: BufPool<Buf = B>>(
        &mut self,
        now: u64,
        sess: &mut CompiledSession,
        ul_pdr: usize,
        mut b: B,
        g: &FastGpdu,
        ip: &IpInfo,
        q: dns::Query,
        addr: IpAddr,
        ttl: u32,
        out: &mut Output<B>,
        pool: &mut P,
    ) {
        // Count the query as uplink traffic of its PDR.
        let Some(ul) = sess.pdr(ul_pdr) else {
            return self.drop_pkt(pool, b, DropReason::NoPdr);
        };
        if let Some(r) = self.meter(now, sess, &ul, Dir::Uplink, g.inner_len as u64) {
            return self.drop_pkt(pool, b, r);
        }
        // The answer goes down the UE's tunnel: the downlink PDR whose FAR
        // encapsulates towards the access side.
        let Some(dl) = sess.pdr_range(Dir::Downlink).find(|&i| {
            sess.pdr(i)
                .and_then(|p| sess.far(usize::from(p.far)))
                .and_then(|f| f.fwd)
                .is_some_and(|e| e.tunnel.is_some())
        }) else {
            return self.drop_pkt(pool, b, DropReason::NoPdr);
        };
        // Rebuild the inner packet in place: strip outer headers, keep the
        // question, swap addresses and ports, append the answer.
        if !b.adj(g.inner_offset) {
            return self.drop_pkt(pool, b, DropReason::Malformed);
        }
        let ihl = ip.l4_offset;
        let dns_start = ihl + udp::HEADER_LEN;
        let new_dns_len = q.answer_len(&addr);
        let new_total = dns_start + new_dns_len;
        let cur = b.len();
        if new_total > cur {
            if b.append(new_total - cur).is_none() {
                return self.drop_pkt(pool, b, DropReason::NoBuffer);
            }
        } else {
            b.trim(cur - new_total);
        }
        let d = b.data_mut();
        if q.answer_in_place(&mut d[dns_start..], &addr, ttl).is_err() {
            return self.drop_pkt(pool, b, DropReason::Malformed);
        }
        let (sp, dp) = (ip.src_port, ip.dst_port);
        let udp_len = udp::HEADER_LEN + new_dns_len;
        let _ = udp::UdpRepr {
            src_port: dp,
            dst_port: sp,
            len: udp_len,
            checksum: 0,
        }
        .emit(&mut d[ihl..]);
        match ip.addrs {
            IpPair::V4 { src, dst } => {
                let _ = ipv4::Ipv4Repr {
                    src: Ipv4Addr::from(dst),
                    dst: Ipv4Addr::from(src),
                    protocol: ipv4::PROTO_UDP,
                    ttl: 64,
                    tos: 0,
                    ident: 0,
                    dont_frag: false,
                    more_frags: false,
                    frag_offset: 0,
                    header_len: 20,
                    total_len: 20 + udp_len,
                }
                .emit(d);
                let _ = udp::fill_checksum_v4(
                    &mut d[20..20 + udp_len],
                    Ipv4Addr::from(dst),
                    Ipv4Addr::from(src),
                );
                if ihl != 20 {
                    // Options were dropped; the UDP header moved.
                    return self.drop_pkt(pool, b, DropReason::Malformed);
                }
            }
            IpPair::V6 { src, dst } => {
                let (s, t) = (Ipv6Addr::from(dst), Ipv6Addr::from(src));
                if ihl != 40 {
                    return self.drop_pkt(pool, b, DropReason::Malformed);
                }
                let _ = ipv6::Ipv6Repr {
                    src: s,
                    dst: t,
                    next_header: ipv4::PROTO_UDP,
                    hop_limit: 64,
                    traffic_class: 0,
                    flow_label: 0,
                    payload_len: udp_len,
                }
                .emit(d);
                let _ = udp::fill_checksum_v6(&mut d[40..40 + udp_len], &s, &t);
            }
        }
        self.stats.dns_answers += 1;
        let eg = sess
            .pdr(dl)
            .and_then(|p| sess.far(usize::from(p.far)))
            .and_then(|f| f.fwd);
        match eg {
            Some(eg) => {
                let Some(dp) = sess.pdr(dl) else {
                    return self.drop_pkt(pool, b, DropReason::NoPdr);
                };
                if let Some(r) = self.meter(now, sess, &dp, Dir::Downlink, b.len() as u64) {
                    return self.drop_pkt(pool, b, r);
                }
                let t = sess.tunnel(&eg);
                self.send(now, b, 0, &eg, t.as_ref(), out, pool)
            }
            None => self.drop_pkt(pool, b, DropReason::NoRoute),
        }
    }

    #[allow(clippy::too_many_arguments)]
    #[cold]
    fn buffer<P: BufPool<Buf = B>>(
        &mut self,
        now: u64,
        slot: u32,
        sess: &mut CompiledSession,
        pi: usize,
        b: B,
        _out: &mut Output<B>,
        pool: &mut P,
    ) {
        let notify = sess
            .pdr(pi)
            .and_then(|p| sess.far(usize::from(p.far)))
            .is_some_and(|f| f.action.has(ApplyAction::NOCP));
        let limit = sess
            .bar
            .and_then(|bar| bar.suggested_buffering_packets)
            .map_or(self.cfg.buffer_per_session, |n| {
                usize::from(n).min(self.cfg.buffer_per_session)
            });
        let q = self.buffers.entry(slot).or_default();
        if q.len() >= limit || self.buffered >= self.cfg.buffer_global {
            self.stats.drop(DropReason::BufferFull);
            pool.free(b);
            return;
        }
        let first = q.is_empty();
        q.push_back((b, now));
        self.buffered += 1;
        self.stats.buffered = self.buffered as u64;
        if first && notify && !sess_dl_reported(sess) {
            self.report_dl(sess, pi);
        }
        self.arm(now + self.cfg.buffer_max_ns, slot, sess.generation);
    }

    #[cold]
    fn report_dl(&mut self, sess: &mut CompiledSession, pi: usize) {
        set_dl_reported(sess);
        let Some(p) = sess.pdr(pi) else { return };
        let qfi = p.qer_list().find_map(|q| sess.qer(q).and_then(|x| x.qfi));
        let ppi = p.qer_list().find_map(|q| sess.qer(q).and_then(|x| x.ppi));
        self.events
            .push(WorkerEvent::DownlinkData(DownlinkDataReport {
                seid: sess.seid,
                pdr_id: p.id,
                qfi,
                ppi,
            }));
    }

    // ------------------------------------------------------------------
    // Control path
    // ------------------------------------------------------------------

    fn arm(&mut self, at: u64, slot: u32, generation: u32) {
        self.timers.push(Reverse((at, slot, generation)));
    }

    fn arm_session(&mut self, now: u64, slot: u32) {
        let Some(s) = self.sessions.get(slot as usize).and_then(|s| s.as_ref()) else {
            return;
        };
        let next = s.urrs().filter_map(|u| u.next_deadline(now)).min();
        let generation = s.generation;
        if let Some(at) = next {
            self.arm(at, slot, generation);
        }
    }

    /// Runs due timers: URR time triggers, buffer expiry, pending next hops.
    pub fn poll_timers<P: BufPool<Buf = B>>(
        &mut self,
        now: u64,
        out: &mut Output<B>,
        pool: &mut P,
    ) {
        while let Some(Reverse((at, slot, generation))) = self.timers.peek().copied() {
            if at > now {
                break;
            }
            self.timers.pop();
            let Some(mut sess) = self.sessions.get_mut(slot as usize).and_then(Option::take) else {
                continue;
            };
            if sess.generation == generation {
                for i in 0..sess.n_urrs() {
                    let Some(mut u) = sess.urr(i) else { continue };
                    let due = u.tick(now);
                    if due != 0 {
                        let r = u.report(sess.seid, due, now, self.cfg.unix_offset_ns);
                        self.events.push(WorkerEvent::Usage(r));
                    }
                    sess.set_urr(i, &u);
                }
                // Expire old buffered packets.
                if let Some(q) = self.buffers.get_mut(&slot) {
                    while q
                        .front()
                        .is_some_and(|(_, t)| now.saturating_sub(*t) >= self.cfg.buffer_max_ns)
                    {
                        if let Some((b, _)) = q.pop_front() {
                            self.buffered -= 1;
                            self.stats.drop(DropReason::BufferExpired);
                            pool.free(b);
                        }
                    }
                }
            }
            self.put_back(slot, sess);
            if let Some(s) = self.sessions[slot as usize].as_ref() {
                if s.generation == generation {
                    self.arm_session(now, slot);
                }
            }
        }
        self.stats.buffered = self.buffered as u64;
        // Packets waiting for ARP/ND too long.
        while self
            .pending
            .front()
            .is_some_and(|p| now.saturating_sub(p.since) >= self.cfg.pending_max_ns)
        {
            if let Some(p) = self.pending.pop_front() {
                self.drop_pkt(pool, p.buf, DropReason::Unresolved);
            }
        }
        // Re-solicit for whatever is still pending.
        if let Some(p) = self.pending.front() {
            let (port, via) = (p.port, p.via);
            self.solicit(now, port, via, out, pool);
        }
    }

    /// Applies an update from the control thread.
    pub fn apply<P: BufPool<Buf = B>>(
        &mut self,
        now: u64,
        u: WorkerUpdate<B>,
        out: &mut Output<B>,
        pool: &mut P,
    ) {
        match u {
            WorkerUpdate::Install { req, session } => {
                let r = self.install(now, session, out, pool);
                self.events.push(WorkerEvent::Ack { req, result: r });
            }
            WorkerUpdate::Remove { req, seid } => {
                let r = self.remove(now, seid, pool);
                self.events.push(WorkerEvent::Ack { req, result: r });
            }
            WorkerUpdate::Query {
                req,
                seid,
                urr_ids,
                query_reference,
            } => {
                let r = self.query(now, seid, &urr_ids, query_reference);
                self.events.push(WorkerEvent::Ack { req, result: r });
            }
            WorkerUpdate::Redirect { key, worker } => {
                let v = worker.map(|w| w | REMOTE);
                match (key, v) {
                    (LookupKey::Teid(t), Some(v)) => {
                        if self.teid.get(&t).is_none_or(|x| x & REMOTE != 0) {
                            self.teid.insert(t, v);
                        }
                    }
                    (LookupKey::Teid(t), None) => {
                        if self.teid.get(&t).is_some_and(|x| x & REMOTE != 0) {
                            self.teid.remove(&t);
                        }
                    }
                    (LookupKey::Ue4(a), Some(v)) => {
                        if self.ue4.get(&a).is_none_or(|x| x & REMOTE != 0) {
                            self.ue4.insert(a, v);
                        }
                    }
                    (LookupKey::Ue4(a), None) => {
                        if self.ue4.get(&a).is_some_and(|x| x & REMOTE != 0) {
                            self.ue4.remove(&a);
                        }
                    }
                    (LookupKey::Ue6(a), Some(v)) => {
                        if self.ue6.get(&a).is_none_or(|x| x & REMOTE != 0) {
                            self.ue6.insert(a, v);
                        }
                    }
                    (LookupKey::Ue6(a), None) => {
                        if self.ue6.get(&a).is_some_and(|x| x & REMOTE != 0) {
                            self.ue6.remove(&a);
                        }
                    }
                }
            }
            WorkerUpdate::Steering(t) => self.steering = t,
            WorkerUpdate::Dns(t) => self.dns = t,
            WorkerUpdate::Pfds(t) => self.pfds = t,
            WorkerUpdate::Neighbor { ip, mac } => {
                self.set_neighbor(ip_key(ip), mac);
                self.release_pending(ip, mac, out);
            }
            WorkerUpdate::Transmit { port, frame, via } => {
                let Some(mut buf) = pool.alloc() else {
                    self.stats.drop(DropReason::NoBuffer);
                    return;
                };
                match buf.append(frame.len()) {
                    Some(d) => d.copy_from_slice(&frame),
                    None => {
                        pool.free(buf);
                        self.stats.drop(DropReason::NoBuffer);
                        return;
                    }
                }
                buf.set_port(port);
                match via {
                    None => self.queue_tx(port, buf, out),
                    Some(v) => self.finish_l2(now, buf, port, v, out, pool),
                }
            }
            WorkerUpdate::_Buf(_) => {}
            WorkerUpdate::Ping { req } => self.events.push(WorkerEvent::Ack {
                req,
                result: Ok(Vec::new()),
            }),
        }
    }

    fn keys_insert(&mut self, s: &CompiledSession, slot: u32) {
        for &t in s.teids() {
            self.teid.insert(t, slot);
        }
        if let Some(v4) = s.ue.v4() {
            self.ue4.insert(v4, slot);
        }
        if let Some((net, _)) = s.ue.v6() {
            if s.ue.v6_len().unwrap_or(0) <= 64 {
                self.ue6.insert(v6_hi(net), slot);
            } else {
                self.ue6_full.insert(net, slot);
            }
        }
        for r in s.framed() {
            let (key, len) = match r.addr {
                IpAddr::V4(a) => (u128::from(u32::from(a)) | (0xffff_u128 << 32), r.len + 96),
                IpAddr::V6(a) => (u128::from(a), r.len),
            };
            let mask = if len == 0 {
                0
            } else {
                u128::MAX << (128 - u32::from(len))
            };
            let pos = match self.framed.iter().position(|(l, _)| *l == len) {
                Some(p) => p,
                None => {
                    self.framed.push((len, FastMap::with_capacity(16)));
                    self.framed.sort_by_key(|e| std::cmp::Reverse(e.0));
                    self.framed.iter().position(|(l, _)| *l == len).unwrap_or(0)
                }
            };
            self.framed[pos].1.insert(key & mask, slot);
        }
    }

    fn keys_remove(&mut self, s: &CompiledSession, slot: u32, keep: Option<&CompiledSession>) {
        for &t in s.teids() {
            if keep.is_some_and(|k| k.teids().contains(&t)) {
                continue;
            }
            if self.teid.get(&t) == Some(slot) {
                self.teid.remove(&t);
            }
        }
        if let Some(v4) = s.ue.v4() {
            if keep.is_none_or(|k| k.ue.v4() != Some(v4)) && self.ue4.get(&v4) == Some(slot) {
                self.ue4.remove(&v4);
            }
        }
        if let Some((net, _)) = s.ue.v6() {
            if keep.is_none_or(|k| k.ue.v6().map(|x| x.0) != Some(net)) {
                if s.ue.v6_len().unwrap_or(0) <= 64 {
                    if self.ue6.get(&v6_hi(net)) == Some(slot) {
                        self.ue6.remove(&v6_hi(net));
                    }
                } else if self.ue6_full.get(&net) == Some(slot) {
                    self.ue6_full.remove(&net);
                }
            }
        }
        for r in s.framed() {
            if keep.is_some_and(|k| k.framed().contains(r)) {
                continue;
            }
            let (key, len) = match r.addr {
                IpAddr::V4(a) => (u128::from(u32::from(a)) | (0xffff_u128 << 32), r.len + 96),
                IpAddr::V6(a) => (u128::from(a), r.len),
            };
            let mask = if len == 0 {
                0
            } else {
                u128::MAX << (128 - u32::from(len))
            };
            if let Some((_, m)) = self.framed.iter_mut().find(|(l, _)| *l == len) {
                if m.get(&(key & mask)) == Some(slot) {
                    m.remove(&(key & mask));
                }
            }
        }
    }

    fn install<P: BufPool<Buf = B>>(
        &mut self,
        now: u64,
        mut s: Box<CompiledSession>,
        out: &mut Output<B>,
        pool: &mut P,
    ) -> Result<Vec<UsageReport>, CommandError> {
        self.generation = self.generation.wrapping_add(1);
        s.generation = self.generation;
        let mut reports = Vec::new();
        let slot = match self.by_seid.get(&s.seid).copied() {
            Some(slot) => {
                let old = self.sessions[slot as usize].take();
                if let Some(old) = old {
                    carry_over(&old, &mut s);
                    // URRs that disappear report one last time.
                    for mut u in old.urrs() {
                        if !s.urrs().any(|n| n.rule.id == u.rule.id) {
                            reports.push(u.report(
                                old.seid,
                                UsageReportTrigger::TERMR,
                                now,
                                self.cfg.unix_offset_ns,
                            ));
                        }
                    }
                    self.end_markers(now, &old, &s, out, pool);
                    self.keys_remove(&old, slot, Some(&s));
                    self.events.push(WorkerEvent::Retired(old));
                }
                slot
            }
            None => {
                let slot = match self.free_slots.pop() {
                    Some(s) => s,
                    None => {
                        self.sessions.push(None);
                        (self.sessions.len() - 1) as u32
                    }
                };
                self.by_seid.insert(s.seid, slot);
                slot
            }
        };
        self.keys_insert(&s, slot);
        self.sessions[slot as usize] = Some(s);
        self.stats.sessions = self.by_seid.len() as u64;
        self.arm_session(now, slot);
        // Buffered packets go through the new rules in order, before any
        // newer packet of the session.
        if let Some(q) = self.buffers.remove(&slot) {
            self.buffered -= q.len();
            for (b, _) in q {
                self.replay_buffered(now, slot, b, out, pool);
            }
            self.stats.buffered = self.buffered as u64;
        }
        Ok(reports)
    }

    fn replay_buffered<P: BufPool<Buf = B>>(
        &mut self,
        now: u64,
        slot: u32,
        b: B,
        out: &mut Output<B>,
        pool: &mut P,
    ) {
        let Ok(frame) = parse_frame(b.data()) else {
            return self.drop_pkt(pool, b, DropReason::Malformed);
        };
        match frame.kind {
            FrameKind::Ip(ip) => self.downlink(now, slot, b, frame.l3_offset, ip, out, pool),
            _ => self.drop_pkt(pool, b, DropReason::Malformed),
        }
    }

    /// Sends End Markers on tunnels that a FAR update replaced when the
    /// SMF asked for them (SNDEM).
    fn end_markers<P: BufPool<Buf = B>>(
        &mut self,
        now: u64,
        old: &CompiledSession,
        new: &CompiledSession,
        out: &mut Output<B>,
        pool: &mut P,
    ) {
        for nf in new.fars().filter(|f| f.send_end_marker) {
            let Some(of) = old.fars().find(|f| f.id == nf.id) else {
                continue;
            };
            let (Some(oe), Some(ne)) = (of.fwd, nf.fwd) else {
                continue;
            };
            let Some(ot) = old.tunnel(&oe) else {
                continue;
            };
            if old.tunnel_id(&oe) == new.tunnel_id(&ne) {
                continue;
            }
            let Some(b) = pool.alloc() else { continue };
            self.stats.end_markers_sent += 1;
            self.write_end_marker(now, b, &oe, &ot, out, pool);
        }
    }

    fn remove<P: BufPool<Buf = B>>(
        &mut self,
        now: u64,
        seid: u64,
        pool: &mut P,
    ) -> Result<Vec<UsageReport>, CommandError> {
        let Some(slot) = self.by_seid.remove(&seid) else {
            return Err(CommandError::UnknownSession(seid));
        };
        let Some(old) = self.sessions[slot as usize].take() else {
            return Err(CommandError::UnknownSession(seid));
        };
        self.keys_remove(&old, slot, None);
        self.free_slots.push(slot);
        if let Some(q) = self.buffers.remove(&slot) {
            self.buffered -= q.len();
            for (b, _) in q {
                self.stats.drop(DropReason::FarDrop);
                pool.free(b);
            }
        }
        let off = self.cfg.unix_offset_ns;
        let reports = old
            .urrs()
            .map(|mut u| u.report(seid, UsageReportTrigger::TERMR, now, off))
            .collect();
        self.stats.sessions = self.by_seid.len() as u64;
        self.events.push(WorkerEvent::Retired(old));
        Ok(reports)
    }

    fn query(
        &mut self,
        now: u64,
        seid: u64,
        urr_ids: &[u32],
        qref: Option<u32>,
    ) -> Result<Vec<UsageReport>, CommandError> {
        let slot = *self
            .by_seid
            .get(&seid)
            .ok_or(CommandError::UnknownSession(seid))?;
        let off = self.cfg.unix_offset_ns;
        let s = self.sessions[slot as usize]
            .as_mut()
            .ok_or(CommandError::UnknownSession(seid))?;
        let mut out = Vec::new();
        for i in 0..s.n_urrs() {
            let Some(mut u) = s.urr(i) else { continue };
            if urr_ids.is_empty() || urr_ids.contains(&u.rule.id) {
                let mut r = u.report(seid, UsageReportTrigger::IMMER, now, off);
                r.query_reference = qref;
                out.push(r);
                s.set_urr(i, &u);
            }
        }
        Ok(out)
    }
}

/// Writes an Ethernet header (destination left for [`Worker::finish_l2`])
/// at the start of `d`, which holds at least 14 (18 with a VLAN) bytes.
#[inline(always)]
fn write_l2(d: &mut [u8], src: &Mac, vlan: Option<u16>, v4: bool) {
    let et = if v4 { ETHERTYPE_IPV4 } else { ETHERTYPE_IPV6 };
    d[0..6].fill(0);
    d[6..12].copy_from_slice(src);
    match vlan {
        Some(id) => {
            d[12..14].copy_from_slice(&ethernet::ETHERTYPE_VLAN.to_be_bytes());
            d[14..16].copy_from_slice(&(id & 0x0fff).to_be_bytes());
            d[16..18].copy_from_slice(&et.to_be_bytes());
        }
        None => d[12..14].copy_from_slice(&et.to_be_bytes()),
    }
}

/// Whether the session already raised its downlink data report (kept in
/// the first URR-independent place we have: the BAR's ID high bit would be
/// a hack, so a dedicated flag in the session).
fn sess_dl_reported(s: &CompiledSession) -> bool {
    s.dl_reported
}

fn set_dl_reported(s: &mut CompiledSession) {
    s.dl_reported = true;
}

/// Moves measurement state from the old rules to the new ones by rule ID.
fn carry_over(old: &CompiledSession, new: &mut CompiledSession) {
    for i in 0..new.n_urrs() {
        let Some(mut n) = new.urr(i) else { continue };
        if let Some(o) = old.urrs().find(|o| o.rule.id == n.rule.id) {
            n.carry_from(&o);
            new.set_urr(i, &n);
        }
    }
    for i in 0..new.n_qers() {
        let Some(mut n) = new.qer(i) else { continue };
        if let Some(o) = (0..old.n_qers())
            .filter_map(|j| old.qer(j))
            .find(|o| o.id == n.id)
        {
            n.carry_from(&o);
            new.set_qer(i, &n);
        }
    }
    // Still buffering: one report is enough.
    let still_buffering = new.fars().any(|f| f.action.has(ApplyAction::BUFF));
    new.dl_reported = old.dl_reported && still_buffering;
}

/// The packet's UE-side address lies in one of the session's framed routes
/// (the networks behind the UE count as the UE's addresses).
#[cold]
fn in_framed(sess: &CompiledSession, addrs: &IpPair, dir: Dir) -> bool {
    let framed = sess.framed();
    if framed.is_empty() {
        return false;
    }
    let a = match dir {
        Dir::Uplink => addrs.src_addr(),
        Dir::Downlink => addrs.dst_addr(),
    };
    framed.iter().any(|r| r.contains(a))
}

#[inline]
fn ue_matches(ue: &UeAddrs, addrs: &IpPair, dir: Dir) -> bool {
    match *addrs {
        IpPair::V4 { src, dst } => {
            let a = if dir == Dir::Uplink { src } else { dst };
            ue.v4() == Some(a)
        }
        IpPair::V6 { src, dst } => {
            let a = if dir == Dir::Uplink { src } else { dst };
            ue.v6().is_some_and(|(net, mask)| a & mask == net)
        }
    }
}
