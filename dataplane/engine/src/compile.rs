//! Turning a [`SessionRules`] set into the worker's representation. Runs on
//! the control thread: every allocation of a rule update happens here.
//!
//! A compiled session is laid out for the per-packet path and for memory:
//! a small header (UE addresses, counts) and one cache-line-aligned array
//! of 32-byte [`Cell`]s (two per line) holding, in this order, the PDRs
//! (uplink ones first, each direction in precedence order), the SDF
//! filters, the QERs (the uplink buckets of all QERs, then the downlink
//! ones), the URRs (six cells each, the two a packet updates first), the
//! FARs and the tunnels. Groups a packet reads together start on a line
//! boundary, so that a packet reads as few lines as it can: six of the
//! eleven of the benchmark's rule set uplink, seven downlink. The burst
//! pipeline prefetches exactly those lines, from a per-direction mask. PDRs, filters and FARs are decoded from their
//! cell into small `Copy` structs ([`CPdr`], [`CFilter`], [`CFar`]); QERs
//! and URRs are updated in place ([`crate::meter`]). Filter lists shared by
//! several PDRs (an uplink and a downlink PDR of one QoS flow carry the same
//! list) are compiled once. Tunnels are compact [`TunnelHeader`]s; the
//! rare parts (framed routes, application IDs, filter extensions,
//! duplication targets, more than two TEIDs) live in one optional box.

use std::net::IpAddr;
use std::ops::Range;

use upf_io::PortId;
use upf_rules::placement;
use upf_rules::{
    ApplyAction, Bar, Interface, IpPrefix, OuterHeaderKind, OuterHeaderRemoval, RuleError,
    RuleErrorReason, RuleKind, SessionRules,
};
use upf_wire::fast::{EncapSpec, TunnelHeader};
use upf_wire::gtpu::PduSessionInfo;

use crate::filter::{CFilter, FilterExt, UeAddrs};
pub use crate::meter::Cell;
use crate::meter::{QerState, UrrState, QER_CELLS, URR_CELLS, URR_HOT_CELLS};
use crate::topo::{Role, Topology};

/// Most QERs (and, separately, URRs) one PDR may name.
pub const MAX_PER_PDR: usize = 4;
/// Marks the end of a PDR's QER or URR list.
pub const NONE: u8 = u8::MAX;

/// Where a FAR sends packets.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Egress {
    /// Egress port.
    pub port: PortId,
    /// The destination interface of the FAR.
    pub dest: Interface,
    /// Transport level marking: TOS/TC for the outer header (or the packet
    /// itself when not encapsulated).
    pub tos: Option<u8>,
    /// The IP next hop for the tunnel (the peer itself or a gateway).
    pub next_hop: Option<IpAddr>,
    /// Index of the GTP-U outer headers in [`CompiledSession::tunnels`],
    /// when encapsulating.
    pub tunnel: Option<u8>,
}

/// A compiled FAR.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct CFar {
    /// FAR ID.
    pub id: u32,
    /// Apply Action flags.
    pub action: ApplyAction,
    /// Send an End Marker on the previous tunnel when this FAR replaces it.
    pub send_end_marker: bool,
    /// Forwarding target (FORW).
    pub fwd: Option<Egress>,
    /// Duplication targets (DUPL): a range of [`CompiledSession::dups`].
    pub dup: (u16, u8),
}

/// Direction of a PDR, from its source interface.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Dir {
    /// From the access side (GTP-U from gNB / N9 peer).
    Uplink,
    /// From the core side (N6, MEC).
    Downlink,
}

/// A compiled PDR.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct CPdr {
    /// Allowed QFIs as a bit mask (bit n = QFI n); 0 for any.
    pub qfi_mask: u64,
    /// Local TEID the PDR is bound to (uplink), `None` for all of the
    /// session's TEIDs.
    pub teid: Option<u32>,
    /// PDR ID.
    pub id: u16,
    /// Direction.
    pub dir: Dir,
    /// Check the UE address (source for uplink, destination for downlink).
    pub ue_check: bool,
    /// Index of the FAR.
    pub far: u8,
    /// The PDR's SDF filters: filters `start..start + len` of the session
    /// (any must match; none matches all).
    pub filt: (u16, u16),
    /// Indices of QERs, [`NONE`]-terminated.
    pub qers: [u8; MAX_PER_PDR],
    /// Indices of URRs, [`NONE`]-terminated.
    pub urrs: [u8; MAX_PER_PDR],
    /// Index of the application ID in [`CompiledSession::apps`], if any.
    pub app: Option<u8>,
    /// Outer header removal.
    pub ohr: Option<OuterHeaderRemoval>,
    /// The PDU Session Container contents of the PDR's QoS flow (QFI, RQI,
    /// PPI of its first QER with a QFI), written into N3 downlink headers.
    pub psc: Option<(u8, bool, Option<u8>)>,
}

const OHRS: [OuterHeaderRemoval; 9] = [
    OuterHeaderRemoval::GtpuUdpIpv4,
    OuterHeaderRemoval::GtpuUdpIpv6,
    OuterHeaderRemoval::UdpIpv4,
    OuterHeaderRemoval::UdpIpv6,
    OuterHeaderRemoval::Ipv4,
    OuterHeaderRemoval::Ipv6,
    OuterHeaderRemoval::GtpuUdpIp,
    OuterHeaderRemoval::VlanStag,
    OuterHeaderRemoval::StagCtag,
];

const P_TEID: u64 = 1 << 32;
const P_UL: u64 = 1 << 33;
const P_UE: u64 = 1 << 34;
const P_APP: u64 = 1 << 35;
const P_OHR: u64 = 1 << 36;

impl CPdr {
    /// The QER indices.
    #[inline]
    pub fn qer_list(&self) -> impl Iterator<Item = usize> + '_ {
        self.qers
            .iter()
            .take_while(|&&q| q != NONE)
            .map(|&q| usize::from(q))
    }

    /// The URR indices.
    #[inline]
    pub fn urr_list(&self) -> impl Iterator<Item = usize> + '_ {
        self.urrs
            .iter()
            .take_while(|&&u| u != NONE)
            .map(|&u| usize::from(u))
    }

    /// The PDR as a cell.
    pub fn encode(&self) -> Cell {
        let ohr = self
            .ohr
            .and_then(|o| OHRS.iter().position(|x| *x == o))
            .map_or(0, |i| P_OHR | ((i as u64) << 37));
        let w1 = u64::from(self.teid.unwrap_or(0))
            | if self.teid.is_some() { P_TEID } else { 0 }
            | if self.dir == Dir::Uplink { P_UL } else { 0 }
            | if self.ue_check { P_UE } else { 0 }
            | self.app.map_or(0, |a| P_APP | (u64::from(a) << 56))
            | ohr
            | (u64::from(self.far) << 48);
        [
            self.qfi_mask,
            w1,
            u64::from(u32::from_le_bytes(self.qers))
                | (u64::from(u32::from_le_bytes(self.urrs)) << 32),
            u64::from(self.id)
                | (u64::from(self.filt.0) << 16)
                | (u64::from(self.filt.1) << 32)
                | (psc_bits(self.psc) << 48),
        ]
    }

    /// The PDR from its cell.
    #[inline(always)]
    pub fn decode(c: &Cell) -> CPdr {
        let w1 = c[1];
        CPdr {
            qfi_mask: c[0],
            teid: (w1 & P_TEID != 0).then_some(w1 as u32),
            id: c[3] as u16,
            dir: if w1 & P_UL != 0 {
                Dir::Uplink
            } else {
                Dir::Downlink
            },
            ue_check: w1 & P_UE != 0,
            far: (w1 >> 48) as u8,
            filt: ((c[3] >> 16) as u16, (c[3] >> 32) as u16),
            qers: (c[2] as u32).to_le_bytes(),
            urrs: ((c[2] >> 32) as u32).to_le_bytes(),
            app: (w1 & P_APP != 0).then_some((w1 >> 56) as u8),
            ohr: if w1 & P_OHR != 0 {
                OHRS.get(((w1 >> 37) & 0xf) as usize).copied()
            } else {
                None
            },
            psc: psc_from_bits(c[3] >> 48),
        }
    }
}

/// PSC bits: QFI (6), RQI (1), has QFI (1), PPI (3), has PPI (1).
fn psc_bits(p: Psc) -> u64 {
    match p {
        None => 0,
        Some((qfi, rqi, ppi)) => {
            u64::from(qfi & 0x3f)
                | (u64::from(rqi) << 6)
                | (1 << 7)
                | ppi.map_or(0, |v| (u64::from(v & 7) << 8) | (1 << 11))
        }
    }
}

#[inline(always)]
fn psc_from_bits(b: u64) -> Psc {
    (b & (1 << 7) != 0).then(|| {
        (
            (b & 0x3f) as u8,
            b & (1 << 6) != 0,
            (b & (1 << 11) != 0).then_some(((b >> 8) & 7) as u8),
        )
    })
}

/// The fields of a PDR cell that classification reads, without decoding
/// the rest.
#[derive(Clone, Copy, Debug)]
pub struct PdrView<'a>(pub &'a Cell);

impl PdrView<'_> {
    /// The local TEID the PDR is bound to.
    #[inline(always)]
    pub fn teid(&self) -> Option<u32> {
        (self.0[1] & P_TEID != 0).then_some(self.0[1] as u32)
    }

    /// The QFI mask (0 for any).
    #[inline(always)]
    pub fn qfi_mask(&self) -> u64 {
        self.0[0]
    }

    /// The tunnel and QoS flow checks: false if the PDR is bound to
    /// another TEID than `teid` or `qbit` (bit n for QFI n, 0 for none)
    /// is outside its QFI mask.
    #[inline(always)]
    pub fn admits(&self, teid: Option<u32>, qbit: u64) -> bool {
        if let (Some(want), Some(t)) = (self.teid(), teid) {
            if want != t {
                return false;
            }
        }
        let qm = self.qfi_mask();
        qm == 0 || qm & qbit != 0
    }

    /// The UE address is checked.
    #[inline(always)]
    pub fn ue_check(&self) -> bool {
        self.0[1] & P_UE != 0
    }

    /// The filter range (start, length).
    #[inline(always)]
    pub fn filt(&self) -> (usize, usize) {
        (
            usize::from((self.0[3] >> 16) as u16),
            usize::from((self.0[3] >> 32) as u16),
        )
    }

    /// The application ID index.
    #[inline(always)]
    pub fn app(&self) -> Option<u8> {
        (self.0[1] & P_APP != 0).then_some((self.0[1] >> 56) as u8)
    }
}

const F_FWD: u64 = 1;
const F_TOS: u64 = 2;
const F_SNDEM: u64 = 8;
const F_TUNNEL: u64 = 16;
const F_NH4: u64 = 32;
const F_NH6: u64 = 64;

impl CFar {
    /// The FAR as a cell.
    pub fn encode(&self) -> Cell {
        let e = self.fwd;
        let mut flags = 0;
        if self.send_end_marker {
            flags |= F_SNDEM;
        }
        let (mut w2, mut w3) = (0, 0);
        let (mut port, mut dest, mut tos, mut tunnel) = (0u64, 0u64, 0u64, 0u64);
        if let Some(e) = e {
            flags |= F_FWD;
            port = u64::from(e.port);
            dest = u64::from(e.dest.value());
            if let Some(t) = e.tos {
                flags |= F_TOS;
                tos = u64::from(t);
            }
            if let Some(t) = e.tunnel {
                flags |= F_TUNNEL;
                tunnel = u64::from(t);
            }
            match e.next_hop {
                Some(IpAddr::V4(a)) => {
                    flags |= F_NH4;
                    w2 = u64::from(u32::from(a));
                }
                Some(IpAddr::V6(a)) => {
                    flags |= F_NH6;
                    let v = u128::from(a);
                    w2 = (v >> 64) as u64;
                    w3 = v as u64;
                }
                None => {}
            }
        }
        [
            u64::from(self.id) | (u64::from(self.action.0) << 32) | (port << 48),
            flags
                | (dest << 8)
                | (tos << 16)
                | (tunnel << 24)
                | (u64::from(self.dup.0) << 32)
                | (u64::from(self.dup.1) << 48),
            w2,
            w3,
        ]
    }

    /// The Apply Action of a FAR cell.
    #[inline(always)]
    pub fn action_of(c: &Cell) -> ApplyAction {
        ApplyAction((c[0] >> 32) as u16)
    }

    /// The number of duplication targets of a FAR cell.
    #[inline(always)]
    pub fn dup_count_of(c: &Cell) -> u8 {
        (c[1] >> 48) as u8
    }

    /// The forwarding target of a FAR cell.
    #[inline(always)]
    pub fn egress_of(c: &Cell) -> Option<Egress> {
        let w1 = c[1];
        if w1 & F_FWD == 0 {
            None
        } else {
            Some(Egress {
                port: (c[0] >> 48) as u16,
                dest: Interface::from_value(((w1 >> 8) & 0xff) as u8).unwrap_or(Interface::Core),
                tos: (w1 & F_TOS != 0).then_some((w1 >> 16) as u8),
                next_hop: if w1 & F_NH4 != 0 {
                    Some(IpAddr::V4((c[2] as u32).into()))
                } else if w1 & F_NH6 != 0 {
                    Some(IpAddr::V6(
                        ((u128::from(c[2]) << 64) | u128::from(c[3])).into(),
                    ))
                } else {
                    None
                },
                tunnel: (w1 & F_TUNNEL != 0).then_some((w1 >> 24) as u8),
            })
        }
    }

    /// The FAR from its cell.
    #[inline(always)]
    pub fn decode(c: &Cell) -> CFar {
        let w1 = c[1];
        CFar {
            id: c[0] as u32,
            action: CFar::action_of(c),
            send_end_marker: w1 & F_SNDEM != 0,
            fwd: CFar::egress_of(c),
            dup: ((w1 >> 32) as u16, (w1 >> 48) as u8),
        }
    }
}

/// Where each kind of rule sits in [`CompiledSession`]'s cells.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
struct Layout {
    n_ul: u16,
    n_pdr: u16,
    filt: u16,
    n_filt: u16,
    qer: u16,
    n_qer: u8,
    urr: u16,
    n_urr: u8,
    far: u16,
    n_far: u8,
    tun: u16,
    n_tun: u8,
    /// Halves of the storage before cell 0.
    skip: u8,
}

/// Cells of one tunnel header.
const TUNNEL_CELLS: usize = 2;

/// Half a cell: the unit of the cells' storage. The allocator aligns to
/// 16 bytes; the cells start up to three halves into their allocation, on
/// a cache line boundary (an allocation aligned to 64 bytes would cost
/// ~120 bytes of allocator overhead per session).
type Half = [u64; 2];
/// Halves allocated beyond the cells, to start them on a line boundary.
const SLACK: usize = 3;

/// Pads `cells` with an empty cell to an even length: the next group
/// starts on a line boundary.
fn pad_to_line(cells: &mut Vec<Cell>) {
    if cells.len() % 2 == 1 {
        cells.push([0; 4]);
    }
}

/// The parts of a session most sessions do not have.
#[derive(Debug, Default)]
struct Rare {
    framed: Box<[IpPrefix]>,
    apps: Box<[Box<str>]>,
    exts: Box<[FilterExt]>,
    dups: Box<[Egress]>,
    teids: Box<[u32]>,
}

/// A session ready for a worker. Everything a packet reads of it comes
/// first (the line masks, the layout, the UE addresses and the cells: two
/// cache lines at most, which the burst pipeline prefetches).
#[derive(Debug)]
#[repr(C)]
pub struct CompiledSession {
    /// Per direction (uplink, downlink): bit `i` set if a packet of that
    /// direction reads cache line `i` of the cells: what the burst
    /// pipeline prefetches.
    lines: [u16; 2],
    lay: Layout,
    /// UE addresses (downlink lookup keys and `assigned`).
    pub ue: UeAddrs,
    cells: Box<[Half]>,
    /// A downlink data report was raised for the current buffering episode.
    pub dl_reported: bool,
    n_teids: u8,
    /// Owner worker.
    pub owner: u32,
    teid_inline: [u32; 2],
    /// UP SEID.
    pub seid: u64,
    /// Install generation (bumped by the worker).
    pub generation: u32,
    /// BAR.
    pub bar: Option<Bar>,
    rare: Option<Box<Rare>>,
}

/// The cache lines a packet of each direction reads from `cells` (see
/// [`CompiledSession::prefetch_lines`]): its direction's PDRs, the filters,
/// its direction's bucket of each QER, the two per-packet cells of each
/// URR, the FARs and, downlink, the tunnels. Line 0 is the one holding the
/// first cell (cell 0 starts it once stored); lines past the 16th are not
/// prefetched.
fn read_lines(cells: &[Cell], lay: &Layout) -> [u16; 2] {
    let base = cells.as_ptr() as usize;
    let cell = std::mem::size_of::<Cell>();
    let mut m = [0u16; 2];
    let mut mark = |d: usize, from: usize, to: usize| {
        for k in from..to.min(cells.len()) {
            for byte in [k * cell, k * cell + cell - 1] {
                let l = (base + byte) / 64 - base / 64;
                if l < 16 {
                    m[d] |= 1 << l;
                }
            }
        }
    };
    let (n_ul, n_pdr) = (usize::from(lay.n_ul), usize::from(lay.n_pdr));
    mark(0, 0, n_ul);
    mark(1, n_ul, n_pdr);
    let n_qer = usize::from(lay.n_qer);
    for d in 0..2 {
        let filt = usize::from(lay.filt);
        mark(d, filt, filt + usize::from(lay.n_filt));
        let q = usize::from(lay.qer) + d * n_qer;
        mark(d, q, q + n_qer);
        for u in 0..usize::from(lay.n_urr) {
            let c = usize::from(lay.urr) + u * URR_CELLS;
            mark(d, c, c + URR_HOT_CELLS);
        }
        let far = usize::from(lay.far);
        mark(d, far, far + usize::from(lay.n_far));
    }
    let tun = usize::from(lay.tun);
    mark(1, tun, tun + usize::from(lay.n_tun) * TUNNEL_CELLS);
    m
}

impl CompiledSession {
    /// The cells (and, past the layout's last cell, up to one cell of
    /// slack).
    #[inline(always)]
    pub fn cells(&self) -> &[Cell] {
        let tail = self.cells.get(usize::from(self.lay.skip)..).unwrap_or(&[]);
        bytemuck::try_cast_slice(tail.get(..tail.len() & !1).unwrap_or(&[])).unwrap_or(&[])
    }

    #[inline(always)]
    fn cells_mut(&mut self) -> &mut [Cell] {
        let tail = self
            .cells
            .get_mut(usize::from(self.lay.skip)..)
            .unwrap_or(&mut []);
        let even = tail.len() & !1;
        bytemuck::try_cast_slice_mut(tail.get_mut(..even).unwrap_or(&mut [])).unwrap_or(&mut [])
    }

    /// How many cache lines of the cells a packet of `dir` reads (what
    /// [`CompiledSession::prefetch_lines`] prefetches).
    pub fn lines_read(&self, dir: Dir) -> u32 {
        self.lines[usize::from(dir == Dir::Downlink)].count_ones()
    }

    /// Prefetches the cache lines of the cells that a packet of `dir`
    /// reads (not those only the other direction or the control path
    /// reads).
    #[inline(always)]
    pub fn prefetch_lines(&self, dir: Dir) {
        let mut m = self.lines[usize::from(dir == Dir::Downlink)];
        let p = self.cells().as_ptr().cast::<u8>();
        // The start of the line holding the first cell.
        let base = p.wrapping_sub(p as usize & 63);
        while m != 0 {
            let i = m.trailing_zeros() as usize;
            upf_io::prefetch::ptr(base.wrapping_add(i * 64));
            m &= m - 1;
        }
    }

    /// Indices (into [`CompiledSession::pdr`]) of the PDRs of one
    /// direction, in precedence order.
    #[inline(always)]
    pub fn pdr_range(&self, dir: Dir) -> Range<usize> {
        match dir {
            Dir::Uplink => 0..usize::from(self.lay.n_ul),
            Dir::Downlink => usize::from(self.lay.n_ul)..usize::from(self.lay.n_pdr),
        }
    }

    /// Number of PDRs.
    pub fn n_pdrs(&self) -> usize {
        usize::from(self.lay.n_pdr)
    }

    /// PDR `i`.
    #[inline(always)]
    pub fn pdr(&self, i: usize) -> Option<CPdr> {
        if i >= usize::from(self.lay.n_pdr) {
            return None;
        }
        self.cells().get(i).map(CPdr::decode)
    }

    /// All PDRs.
    pub fn pdrs(&self) -> impl Iterator<Item = CPdr> + '_ {
        (0..self.n_pdrs()).filter_map(|i| self.pdr(i))
    }

    /// Filter `i` of the session.
    #[inline(always)]
    pub fn filter(&self, i: usize) -> Option<CFilter> {
        if i >= usize::from(self.lay.n_filt) {
            return None;
        }
        self.cells()
            .get(usize::from(self.lay.filt) + i)
            .map(CFilter::decode)
    }

    /// The cells of the session's filters.
    #[inline(always)]
    pub fn filter_cells(&self) -> &[Cell] {
        let s = usize::from(self.lay.filt);
        self.cells()
            .get(s..s + usize::from(self.lay.n_filt))
            .unwrap_or(&[])
    }

    /// The extensions of the session's filters.
    #[inline]
    pub fn filter_exts(&self) -> &[FilterExt] {
        self.rare.as_deref().map_or(&[], |r| &r.exts)
    }

    /// Number of QERs.
    pub fn n_qers(&self) -> usize {
        usize::from(self.lay.n_qer)
    }

    /// The cell of QER `i` that a packet of `dir` updates (its bucket
    /// and gate for that direction).
    #[inline(always)]
    pub fn qer_cell(&mut self, i: usize, dir: Dir) -> Option<&mut Cell> {
        let n = usize::from(self.lay.n_qer);
        if i >= n {
            return None;
        }
        let s = usize::from(self.lay.qer) + i + if dir == Dir::Downlink { n } else { 0 };
        self.cells_mut().get_mut(s)
    }

    /// QER `i`, decoded.
    pub fn qer(&self, i: usize) -> Option<QerState> {
        let n = usize::from(self.lay.n_qer);
        if i >= n {
            return None;
        }
        let s = usize::from(self.lay.qer) + i;
        let c = self.cells();
        Some(QerState::decode(&[*c.get(s)?, *c.get(s + n)?]))
    }

    /// Replaces QER `i`'s state.
    pub fn set_qer(&mut self, i: usize, q: &QerState) {
        let [ul, dl] = q.encode();
        if let Some(c) = self.qer_cell(i, Dir::Uplink) {
            *c = ul;
        }
        if let Some(c) = self.qer_cell(i, Dir::Downlink) {
            *c = dl;
        }
    }

    /// Number of URRs.
    pub fn n_urrs(&self) -> usize {
        usize::from(self.lay.n_urr)
    }

    /// The cells of URR `i`.
    #[inline(always)]
    pub fn urr_cells(&mut self, i: usize) -> Option<&mut [Cell; URR_CELLS]> {
        if i >= usize::from(self.lay.n_urr) {
            return None;
        }
        let s = usize::from(self.lay.urr) + i * URR_CELLS;
        self.cells_mut()
            .get_mut(s..s + URR_CELLS)
            .and_then(|c| c.try_into().ok())
    }

    /// The cells of URR `i`, read-only.
    #[inline(always)]
    pub fn urr_cells_ref(&self, i: usize) -> Option<&[Cell; URR_CELLS]> {
        if i >= usize::from(self.lay.n_urr) {
            return None;
        }
        let s = usize::from(self.lay.urr) + i * URR_CELLS;
        self.cells()
            .get(s..s + URR_CELLS)
            .and_then(|c| c.try_into().ok())
    }

    /// URR `i`, decoded.
    pub fn urr(&self, i: usize) -> Option<UrrState> {
        self.urr_cells_ref(i).map(UrrState::decode)
    }

    /// Replaces URR `i`'s state.
    pub fn set_urr(&mut self, i: usize, u: &UrrState) {
        if let Some(c) = self.urr_cells(i) {
            *c = u.encode();
        }
    }

    /// Every URR, decoded.
    pub fn urrs(&self) -> impl Iterator<Item = UrrState> + '_ {
        (0..self.n_urrs()).filter_map(|i| self.urr(i))
    }

    /// Number of FARs.
    pub fn n_fars(&self) -> usize {
        usize::from(self.lay.n_far)
    }

    /// FAR `i`.
    #[inline(always)]
    pub fn far(&self, i: usize) -> Option<CFar> {
        self.far_cell(i).as_ref().map(CFar::decode)
    }

    /// The cell of FAR `i` (decode only what is needed: [`CFar::action_of`],
    /// [`CFar::egress_of`]).
    #[inline(always)]
    pub fn far_cell(&self, i: usize) -> Option<Cell> {
        if i >= usize::from(self.lay.n_far) {
            return None;
        }
        self.cells().get(usize::from(self.lay.far) + i).copied()
    }

    /// All FARs.
    pub fn fars(&self) -> impl Iterator<Item = CFar> + '_ {
        (0..self.n_fars()).filter_map(|i| self.far(i))
    }

    /// Index of the FAR with this ID.
    pub fn far_index(&self, id: u32) -> Option<usize> {
        (0..self.n_fars()).find(|&i| self.far(i).is_some_and(|f| f.id == id))
    }

    /// The duplication targets of a FAR.
    pub fn dups(&self, f: &CFar) -> &[Egress] {
        let (s, n) = (usize::from(f.dup.0), usize::from(f.dup.1));
        self.rare
            .as_deref()
            .and_then(|r| r.dups.get(s..s + n))
            .unwrap_or(&[])
    }

    /// The outer headers an egress builds.
    #[inline(always)]
    pub fn tunnel(&self, e: &Egress) -> Option<TunnelHeader> {
        let i = usize::from(e.tunnel?);
        if i >= usize::from(self.lay.n_tun) {
            return None;
        }
        let s = usize::from(self.lay.tun) + i * TUNNEL_CELLS;
        let c = self.cells().get(s..s + TUNNEL_CELLS)?;
        let w = [
            c[0][0], c[0][1], c[0][2], c[0][3], c[1][0], c[1][1], c[1][2], c[1][3],
        ];
        Some(TunnelHeader::from_words(&w))
    }

    /// The remote end of an egress's tunnel (peer address, TEID).
    pub fn tunnel_id(&self, e: &Egress) -> Option<(IpAddr, u32)> {
        self.tunnel(e).map(|t| (t.dst(), t.teid()))
    }

    /// Local TEIDs of the session (uplink lookup keys).
    pub fn teids(&self) -> &[u32] {
        match self.rare.as_deref() {
            Some(r) if !r.teids.is_empty() => &r.teids,
            _ => &self.teid_inline[..usize::from(self.n_teids).min(2)],
        }
    }

    /// Framed routes (downlink longest-prefix keys).
    pub fn framed(&self) -> &[IpPrefix] {
        self.rare.as_deref().map_or(&[], |r| &r.framed)
    }

    /// Application IDs the PDRs name.
    #[inline]
    pub fn apps(&self) -> &[Box<str>] {
        self.rare.as_deref().map_or(&[], |r| &r.apps)
    }

    /// Bytes this session occupies: the session itself and every allocation
    /// it owns (memory accounting; allocator overhead not included).
    pub fn heap_bytes(&self) -> usize {
        use std::mem::size_of;
        size_of::<CompiledSession>()
            + self.cells.len() * size_of::<Half>()
            + self.rare.as_deref().map_or(0, |r| {
                size_of::<Rare>()
                    + r.framed.len() * size_of::<IpPrefix>()
                    + r.apps
                        .iter()
                        .map(|a| a.len() + size_of::<Box<str>>())
                        .sum::<usize>()
                    + r.exts.iter().map(FilterExt::heap_bytes).sum::<usize>()
                    + r.dups.len() * size_of::<Egress>()
                    + r.teids.len() * 4
            })
    }
}

fn rule_err(kind: RuleKind, id: u32, reason: RuleErrorReason) -> RuleError {
    RuleError { kind, id, reason }
}

fn too_many(kind: RuleKind, id: u32, what: &str) -> RuleError {
    rule_err(
        kind,
        id,
        RuleErrorReason::Invalid(format!("too many {what}")),
    )
}

fn role_for(dest: Interface) -> Role {
    match dest {
        Interface::Access => Role::N3,
        Interface::Core | Interface::SgiLan | Interface::VnInternal | Interface::CpFunction => {
            Role::N6
        }
    }
}

/// An egress and, when it encapsulates, its outer headers.
fn egress(
    topo: &Topology,
    far_id: u32,
    dest: Interface,
    ni: Option<&str>,
    ohc: Option<&upf_rules::OuterHeaderCreation>,
    tlm: Option<u16>,
    qfi: Psc,
) -> Result<(Egress, Option<TunnelHeader>), RuleError> {
    let no_route = || {
        rule_err(
            RuleKind::Far,
            far_id,
            RuleErrorReason::MissingForwardingParameters,
        )
    };
    let tos = tlm.map(|v| (v >> 8) as u8);
    let Some(ohc) = ohc else {
        let port = topo.egress(ni, role_for(dest)).ok_or_else(no_route)?;
        return Ok((
            Egress {
                port: port.id,
                dest,
                tos,
                next_hop: None,
                tunnel: None,
            },
            None,
        ));
    };
    let peer: IpAddr = match ohc.kind {
        OuterHeaderKind::GtpuUdpIpv4 | OuterHeaderKind::UdpIpv4 | OuterHeaderKind::Ipv4 => {
            ohc.ipv4.map(IpAddr::V4).ok_or_else(|| {
                rule_err(
                    RuleKind::Far,
                    far_id,
                    RuleErrorReason::OuterHeaderAddressMissing(4),
                )
            })?
        }
        _ => ohc.ipv6.map(IpAddr::V6).ok_or_else(|| {
            rule_err(
                RuleKind::Far,
                far_id,
                RuleErrorReason::OuterHeaderAddressMissing(6),
            )
        })?,
    };
    // Tunnels leave on an N3/N9 port (by network instance when it names one).
    let fallback = if dest == Interface::Access {
        Role::N3
    } else {
        Role::N9
    };
    let port = topo
        .egress(ni, fallback)
        .filter(|p| p.role.is_tunnel())
        .or_else(|| topo.ports.iter().find(|p| p.role == fallback))
        .or_else(|| topo.ports.iter().find(|p| p.role.is_tunnel()))
        .ok_or_else(no_route)?;
    let src = port.source_for(peer).ok_or_else(no_route)?;
    let next_hop = port.next_hop(peer);
    // N3 downlink carries the PDU Session Container with the QFI.
    let pdu_session = match (dest, qfi) {
        (Interface::Access, Some((qfi, rqi, ppi))) => {
            Some(PduSessionInfo::Downlink { qfi, rqi, ppi })
        }
        _ => None,
    };
    let gtp = matches!(
        ohc.kind,
        OuterHeaderKind::GtpuUdpIpv4 | OuterHeaderKind::GtpuUdpIpv6
    );
    if !gtp {
        // UDP/IP and IP outer headers are not supported by this dataplane.
        return Err(rule_err(
            RuleKind::Far,
            far_id,
            RuleErrorReason::MissingForwardingParameters,
        ));
    }
    let spec = EncapSpec {
        eth: None,
        src,
        dst: peer,
        tos: tos.unwrap_or(0),
        ttl: 64,
        src_port: 2152,
        dst_port: ohc.port.unwrap_or(2152),
        teid: ohc.teid,
        pdu_session,
    };
    let tunnel = TunnelHeader::new(&spec).map_err(|_| no_route())?;
    Ok((
        Egress {
            port: port.id,
            dest,
            tos,
            next_hop,
            tunnel: None,
        },
        Some(tunnel),
    ))
}

/// A PDR's PDU Session Container contents: the QFI of its first QER that
/// names one, with that QER's RQI and PPI.
type Psc = Option<(u8, bool, Option<u8>)>;

/// Gathers tunnels and duplication targets while FARs compile.
struct FarBuilder<'a> {
    topo: &'a Topology,
    tunnels: Vec<TunnelHeader>,
    dups: Vec<Egress>,
}

impl FarBuilder<'_> {
    fn tunnel(&mut self, far: u32, t: Option<TunnelHeader>) -> Result<Option<u8>, RuleError> {
        let Some(t) = t else { return Ok(None) };
        if let Some(i) = self.tunnels.iter().position(|x| *x == t) {
            return Ok(Some(i as u8));
        }
        if self.tunnels.len() >= usize::from(u8::MAX) {
            return Err(too_many(RuleKind::Far, far, "tunnels"));
        }
        self.tunnels.push(t);
        Ok(Some((self.tunnels.len() - 1) as u8))
    }

    fn far(&mut self, f: &upf_rules::Far, psc: Psc) -> Result<CFar, RuleError> {
        let fwd = match (&f.forwarding, f.apply_action.has(ApplyAction::FORW)) {
            (Some(fp), true) => {
                let (mut e, t) = egress(
                    self.topo,
                    f.id,
                    fp.destination_interface,
                    fp.network_instance.as_deref(),
                    fp.outer_header_creation.as_ref(),
                    fp.transport_level_marking,
                    psc,
                )?;
                e.tunnel = self.tunnel(f.id, t)?;
                Some(e)
            }
            _ => None,
        };
        let dup_start = self.dups.len();
        if f.apply_action.has(ApplyAction::DUPL) {
            for d in &f.duplicating {
                let (mut e, t) = egress(
                    self.topo,
                    f.id,
                    d.destination_interface,
                    None,
                    d.outer_header_creation.as_ref(),
                    d.transport_level_marking,
                    None,
                )?;
                e.tunnel = self.tunnel(f.id, t)?;
                self.dups.push(e);
            }
        }
        let n = self.dups.len() - dup_start;
        if self.dups.len() > usize::from(u16::MAX) || n > usize::from(u8::MAX) {
            return Err(too_many(RuleKind::Far, f.id, "duplicating parameters"));
        }
        Ok(CFar {
            id: f.id,
            action: f.apply_action,
            send_end_marker: f.forwarding.as_ref().is_some_and(|p| p.send_end_marker),
            fwd,
            dup: (dup_start as u16, n as u8),
        })
    }
}

/// Compiles a validated rule set for the topology. `now` seeds meters.
pub fn compile(
    rules: &SessionRules,
    topo: &Topology,
    now: u64,
) -> Result<CompiledSession, RuleError> {
    rules.validate()?;
    if rules.qers.len() >= usize::from(NONE) || rules.urrs.len() >= usize::from(NONE) {
        return Err(too_many(RuleKind::Pdr, 0, "QERs or URRs (254 at most)"));
    }
    // The PDU Session Container of an N3 downlink packet carries the QFI of
    // the QER of the PDR that matched it: the tunnel header of a FAR is
    // built with the QFI of the first PDR that uses it, and each PDR keeps
    // its own QFI to write per packet (a FAR may serve several QoS flows).
    let psc_of_pdr = |p: &upf_rules::Pdr| -> Psc {
        p.qer_ids
            .iter()
            .filter_map(|q| rules.qers.iter().find(|x| x.id == *q))
            .find_map(|q| q.qfi.map(|f| (f, q.rqi, q.ppi)))
    };
    let mut fb = FarBuilder {
        topo,
        tunnels: Vec::new(),
        dups: Vec::new(),
    };
    let mut fars = Vec::with_capacity(rules.fars.len());
    for f in &rules.fars {
        let psc = rules
            .pdrs
            .iter()
            .filter(|p| p.far_id == Some(f.id))
            .find_map(psc_of_pdr);
        fars.push(fb.far(f, psc)?);
    }
    let mut pdr_far = Vec::with_capacity(rules.pdrs.len());
    for p in &rules.pdrs {
        let far = p
            .far_id
            .and_then(|fid| rules.fars.iter().position(|f| f.id == fid))
            .ok_or_else(|| rule_err(RuleKind::Pdr, u32::from(p.id), RuleErrorReason::MissingFar))?;
        pdr_far.push(far);
    }
    if fars.len() > usize::from(u8::MAX) {
        return Err(too_many(RuleKind::Far, 0, "FARs (255 at most)"));
    }
    // Keys and UE addresses first: filters resolve `assigned` with them.
    let mut teids: Vec<u32> = Vec::new();
    let mut ue = UeAddrs::default();
    let mut framed = Vec::new();
    for p in &rules.pdrs {
        if let Some(f) = p.pdi.local_fteid {
            if !teids.contains(&f.teid) {
                teids.push(f.teid);
            }
        }
        if let Some(u) = p.pdi.ue_ip {
            if let Some(v4) = u.ipv4 {
                ue.set_v4(u32::from(v4));
            }
            if let Some(v6) = u.ipv6 {
                if let Some((net, _)) = v6.v6_net() {
                    ue.set_v6(net, v6.len);
                }
            }
        }
        for r in &p.pdi.framed_routes {
            if !framed.contains(r) {
                framed.push(*r);
            }
        }
    }
    let mut apps: Vec<Box<str>> = Vec::new();
    let mut filters: Vec<CFilter> = Vec::new();
    let mut exts: Vec<FilterExt> = Vec::new();
    // Filter lists already compiled: (source list, start) for sharing.
    let mut lists: Vec<(&[upf_rules::SdfFilter], u16)> = Vec::new();
    let qer_ids: Vec<u32> = rules.qers.iter().map(|q| q.id).collect();
    let urr_ids: Vec<u32> = rules.urrs.iter().map(|u| u.id).collect();
    let mut pdrs: Vec<(u32, CPdr)> = Vec::with_capacity(rules.pdrs.len());
    for (pi, p) in rules.pdrs.iter().enumerate() {
        let id = u32::from(p.id);
        let dir = match p.pdi.source_interface {
            Some(Interface::Access) => Dir::Uplink,
            _ => Dir::Downlink,
        };
        let list = &p.pdi.sdf_filters[..];
        let start = match lists.iter().find(|(l, _)| *l == list) {
            Some((_, s)) => *s,
            None => {
                let s = u16::try_from(filters.len())
                    .map_err(|_| too_many(RuleKind::Pdr, id, "SDF filters"))?;
                for f in list {
                    let c = CFilter::compile_for(f, &ue, &mut exts).map_err(|e| {
                        rule_err(RuleKind::Pdr, id, RuleErrorReason::Invalid(e.to_string()))
                    })?;
                    filters.push(c);
                }
                lists.push((list, s));
                s
            }
        };
        let idx = |ids: &[u32], all: &[u32], what: &str| -> Result<[u8; MAX_PER_PDR], RuleError> {
            let mut out = [NONE; MAX_PER_PDR];
            let found: Vec<u8> = ids
                .iter()
                .filter_map(|x| all.iter().position(|a| a == x).map(|i| i as u8))
                .collect();
            if found.len() > MAX_PER_PDR {
                return Err(too_many(
                    RuleKind::Pdr,
                    id,
                    &format!("{what} on one PDR ({MAX_PER_PDR} at most)"),
                ));
            }
            out[..found.len()].copy_from_slice(&found);
            Ok(out)
        };
        let app = match p.pdi.application_id.as_deref() {
            None => None,
            Some(a) => Some(match apps.iter().position(|x| &**x == a) {
                Some(i) => i as u8,
                None => {
                    if apps.len() >= usize::from(u8::MAX) {
                        return Err(too_many(RuleKind::Pdr, id, "application IDs"));
                    }
                    apps.push(a.into());
                    (apps.len() - 1) as u8
                }
            }),
        };
        let qfi_mask = p.pdi.qfis.iter().fold(0u64, |m, q| m | (1u64 << (q & 63)));
        pdrs.push((
            p.precedence,
            CPdr {
                qfi_mask,
                teid: p.pdi.local_fteid.map(|f| f.teid),
                id: p.id,
                dir,
                ue_check: p.pdi.ue_ip.is_some(),
                far: pdr_far[pi] as u8,
                filt: (start, list.len() as u16),
                qers: idx(&p.qer_ids, &qer_ids, "QERs")?,
                urrs: idx(&p.urr_ids, &urr_ids, "URRs")?,
                app,
                ohr: p.outer_header_removal,
                psc: psc_of_pdr(p),
            },
        ));
    }
    pdrs.sort_by_key(|(prec, p)| (p.dir != Dir::Uplink, *prec, p.id));
    let n_ul = pdrs.iter().filter(|(_, p)| p.dir == Dir::Uplink).count();
    // The cells: PDRs, filters, QERs, URRs, FARs, tunnels; the QERs, URRs
    // and tunnels start on a line boundary (up to three padding cells).
    let n_cells = pdrs.len()
        + filters.len()
        + rules.qers.len() * QER_CELLS
        + rules.urrs.len() * URR_CELLS
        + fars.len()
        + fb.tunnels.len() * TUNNEL_CELLS
        + 4;
    if n_cells > usize::from(u16::MAX) {
        return Err(too_many(RuleKind::Pdr, 0, "rules in one session"));
    }
    let mut cells: Vec<Cell> = Vec::with_capacity(n_cells);
    cells.extend(pdrs.iter().map(|(_, p)| p.encode()));
    let filt = cells.len();
    cells.extend(filters.iter().map(CFilter::encode));
    pad_to_line(&mut cells);
    let qer = cells.len();
    let qers: Vec<[Cell; QER_CELLS]> = rules
        .qers
        .iter()
        .map(|q| QerState::new(q, now).encode())
        .collect();
    for d in 0..QER_CELLS {
        cells.extend(qers.iter().map(|q| q[d]));
    }
    pad_to_line(&mut cells);
    let urr = cells.len();
    for u in &rules.urrs {
        cells.extend(UrrState::new(u, now).encode());
    }
    let far = cells.len();
    cells.extend(fars.iter().map(CFar::encode));
    pad_to_line(&mut cells);
    let tun = cells.len();
    for t in &fb.tunnels {
        let w = t.to_words();
        cells.push([w[0], w[1], w[2], w[3]]);
        cells.push([w[4], w[5], w[6], w[7]]);
    }
    let lay = Layout {
        n_ul: n_ul as u16,
        n_pdr: pdrs.len() as u16,
        filt: filt as u16,
        n_filt: filters.len() as u16,
        qer: qer as u16,
        // These four counts are checked above (254 QERs and URRs, 255
        // FARs, 254 tunnels at most).
        n_qer: rules.qers.len() as u8,
        urr: urr as u16,
        n_urr: rules.urrs.len() as u8,
        far: far as u16,
        n_far: fars.len() as u8,
        tun: tun as u16,
        n_tun: fb.tunnels.len() as u8,
        skip: 0,
    };
    let owner = placement::session_owner(
        ue.v4(),
        ue.v6().map(|(n, _)| std::net::Ipv6Addr::from(n)).as_ref(),
        rules.seid,
        topo.workers,
    );
    let mut teid_inline = [0u32; 2];
    for (d, t) in teid_inline.iter_mut().zip(teids.iter()) {
        *d = *t;
    }
    let n_teids = teids.len().min(usize::from(u8::MAX)) as u8;
    let needs_rare = !framed.is_empty()
        || !apps.is_empty()
        || !exts.is_empty()
        || !fb.dups.is_empty()
        || teids.len() > 2;
    let rare = needs_rare.then(|| {
        Box::new(Rare {
            framed: framed.into_boxed_slice(),
            apps: apps.into_boxed_slice(),
            exts: exts.into_boxed_slice(),
            dups: std::mem::take(&mut fb.dups).into_boxed_slice(),
            teids: if teids.len() > 2 {
                teids.into_boxed_slice()
            } else {
                Box::default()
            },
        })
    });
    // Two halves per cell, stored from the first line boundary of the
    // allocation (malloc aligns to 16 bytes: at most three halves before).
    let n_halves = cells.len() * 2;
    let mut stored: Box<[Half]> = vec![[0; 2]; n_halves + SLACK].into_boxed_slice();
    let skip = (stored.as_ptr() as usize).wrapping_neg() % 64 / std::mem::size_of::<Half>();
    let lay = Layout {
        skip: skip.min(SLACK) as u8,
        ..lay
    };
    let s = usize::from(lay.skip);
    if let Some(dst) = stored.get_mut(s..s + n_halves) {
        if let Ok(dst) = bytemuck::try_cast_slice_mut::<Half, Cell>(dst) {
            dst.copy_from_slice(&cells);
        }
    }
    let mut sess = CompiledSession {
        ue,
        cells: stored,
        lines: [0; 2],
        lay,
        dl_reported: false,
        n_teids,
        owner,
        teid_inline,
        seid: rules.seid,
        generation: 0,
        bar: rules.bar,
        rare,
    };
    sess.lines = read_lines(sess.cells(), &sess.lay);
    Ok(sess)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn what_a_packet_reads_of_the_header_spans_two_lines_at_most() {
        // The pipeline prefetches the two lines from the session's start;
        // the allocator aligns it to 16 bytes.
        use std::mem::{offset_of, size_of};
        let hot = [
            offset_of!(CompiledSession, lines) + 4,
            offset_of!(CompiledSession, lay) + size_of::<Layout>(),
            offset_of!(CompiledSession, ue) + size_of::<UeAddrs>(),
            offset_of!(CompiledSession, cells) + size_of::<Box<[Half]>>(),
        ];
        assert!(hot.iter().all(|&end| end + 48 <= 128), "{hot:?}");
        eprintln!("CompiledSession: {} bytes", size_of::<CompiledSession>());
    }

    #[test]
    fn prefetch_lines_follow_the_direction() {
        // 22 cells from a line boundary: PDRs 0-3 (two uplink), filters
        // 4-7, QERs 8-11 (uplink buckets 8-9, downlink 10-11), one URR
        // 12-17 (cells 12-13 per packet), FARs 18-19, one tunnel 20-21.
        #[repr(align(64))]
        struct Aligned([Cell; 22]);
        let a = Aligned([[0; 4]; 22]);
        let lay = Layout {
            n_ul: 2,
            n_pdr: 4,
            filt: 4,
            n_filt: 4,
            qer: 8,
            n_qer: 2,
            urr: 12,
            n_urr: 1,
            far: 18,
            n_far: 2,
            tun: 20,
            n_tun: 1,
            skip: 0,
        };
        let [ul, dl] = read_lines(&a.0, &lay);
        // Two cells per line: uplink reads lines 0, 2-4, 6 and 9; downlink
        // 1-3, 5, 6, 9 and 10. Neither reads line 7 or 8 (URR state only
        // the control path reads).
        assert_eq!(ul, 0b10_0101_1101, "{ul:b}");
        assert_eq!(dl, 0b110_0110_1110, "{dl:b}");
        // Shifted by one cell, a section straddles lines.
        let one = Layout {
            n_ul: 1,
            n_pdr: 1,
            ..Layout::default()
        };
        assert_eq!(read_lines(&a.0[1..], &one), [0b1, 0]);
    }

    #[test]
    fn cells_round_trip() {
        let p = CPdr {
            qfi_mask: 1 << 9 | 1 << 63,
            teid: Some(0xdead_beef),
            id: 0xfffe,
            dir: Dir::Uplink,
            ue_check: true,
            far: 200,
            filt: (300, 7),
            qers: [1, 2, NONE, NONE],
            urrs: [3, NONE, NONE, NONE],
            app: Some(4),
            ohr: Some(OuterHeaderRemoval::GtpuUdpIp),
            psc: Some((9, true, Some(5))),
        };
        assert_eq!(CPdr::decode(&p.encode()), p);
        let q = CPdr {
            teid: None,
            dir: Dir::Downlink,
            ue_check: false,
            app: None,
            ohr: None,
            psc: Some((63, false, None)),
            ..p
        };
        assert_eq!(CPdr::decode(&q.encode()), q);
        for nh in [
            None,
            Some("198.18.6.1".parse().unwrap()),
            Some("2001:db8::9".parse().unwrap()),
        ] {
            let f = CFar {
                id: 0x8000_0001,
                action: ApplyAction(ApplyAction::FORW | ApplyAction::DUPL),
                send_end_marker: true,
                fwd: Some(Egress {
                    port: 3,
                    dest: Interface::SgiLan,
                    tos: Some(0xb8),
                    next_hop: nh,
                    tunnel: Some(2),
                }),
                dup: (9, 2),
            };
            assert_eq!(CFar::decode(&f.encode()), f);
        }
        let f = CFar {
            id: 1,
            action: ApplyAction(ApplyAction::DROP),
            send_end_marker: false,
            fwd: None,
            dup: (0, 0),
        };
        assert_eq!(CFar::decode(&f.encode()), f);
    }
}
