//! The per-packet helpers of the dataplane: one pass over a frame to find
//! what classification needs, and encapsulation from a precomputed template.
//!
//! Everything here works on plain slices, returns `Copy` values and never
//! allocates. Offsets are from the start of the slice passed in.

use std::net::IpAddr;

use crate::checksum;
use crate::ethernet::{self, EthernetRepr, Mac};
use crate::gtpu::{self, PduSessionInfo};
use crate::ipv4::{self, PROTO_AH, PROTO_ESP, PROTO_SCTP, PROTO_TCP, PROTO_UDP};
use crate::ipv6;
use crate::udp::{self, GTPU_PORT};
use crate::{be16, be32, Result, WireError};

/// Source and destination addresses in integer form (cheap to hash and compare).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum IpPair {
    /// IPv4.
    V4 {
        /// Source.
        src: u32,
        /// Destination.
        dst: u32,
    },
    /// IPv6.
    V6 {
        /// Source.
        src: u128,
        /// Destination.
        dst: u128,
    },
}

impl IpPair {
    /// Source as a std address.
    pub fn src_addr(&self) -> IpAddr {
        match *self {
            IpPair::V4 { src, .. } => IpAddr::V4(src.into()),
            IpPair::V6 { src, .. } => IpAddr::V6(src.into()),
        }
    }

    /// Destination as a std address.
    pub fn dst_addr(&self) -> IpAddr {
        match *self {
            IpPair::V4 { dst, .. } => IpAddr::V4(dst.into()),
            IpPair::V6 { dst, .. } => IpAddr::V6(dst.into()),
        }
    }

    /// True for IPv4.
    pub fn is_v4(&self) -> bool {
        matches!(self, IpPair::V4 { .. })
    }
}

/// What SDF filters and lookups need from an IP packet.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct IpInfo {
    /// Addresses.
    pub addrs: IpPair,
    /// Upper-layer protocol (after IPv6 extension headers).
    pub protocol: u8,
    /// IPv4 TOS or IPv6 traffic class.
    pub tos: u8,
    /// IPv6 flow label (0 for IPv4).
    pub flow_label: u32,
    /// TTL / hop limit.
    pub ttl: u8,
    /// Offset of the upper-layer header from the start of the IP header.
    pub l4_offset: usize,
    /// Length of the IP packet from its header (may be less than the slice: padding).
    pub total_len: usize,
    /// Source port (TCP/UDP/SCTP), 0 if none.
    pub src_port: u16,
    /// Destination port, 0 if none.
    pub dst_port: u16,
    /// True if the ports above are real (not a non-first fragment, not portless).
    pub has_ports: bool,
    /// ESP/AH security parameter index, 0 if none.
    pub spi: u32,
    /// True for any fragment.
    pub fragment: bool,
}

/// Parses the IP packet at the start of `pkt` (IPv4 or IPv6 by version).
/// Ports are read only when present in this packet. The IPv4 header
/// checksum is not verified here (the caller decides).
#[inline(always)]
pub fn parse_ip(pkt: &[u8]) -> Result<IpInfo> {
    // The common case first: IPv4 without options, not a fragment, at
    // least 24 bytes; everything else takes the general parser.
    let Some(h) = pkt.get(..24) else {
        return parse_ip_general(pkt);
    };
    let total_len = usize::from(be16(h, 2));
    if !(h[0] == 0x45 && be16(h, 6) & 0x3fff == 0 && total_len >= 20 && total_len <= pkt.len()) {
        return parse_ip_general(pkt);
    }
    let protocol = h[9];
    let (mut src_port, mut dst_port, mut has_ports, mut spi) = (0, 0, false, 0);
    if total_len >= 24 {
        match protocol {
            PROTO_TCP | PROTO_UDP | PROTO_SCTP => {
                src_port = be16(h, 20);
                dst_port = be16(h, 22);
                has_ports = true;
            }
            PROTO_ESP => spi = be32(h, 20),
            PROTO_AH => {
                if let Some(p) = pkt.get(24..28).filter(|_| total_len >= 28) {
                    spi = be32(p, 0);
                }
            }
            _ => {}
        }
    }
    Ok(IpInfo {
        addrs: IpPair::V4 {
            src: be32(h, 12),
            dst: be32(h, 16),
        },
        protocol,
        tos: h[1],
        flow_label: 0,
        ttl: h[8],
        l4_offset: 20,
        total_len,
        src_port,
        dst_port,
        has_ports,
        spi,
        fragment: false,
    })
}

/// The fields of an IPv4 packet that the fast SDF check reads, small
/// enough to stay in registers (the dataplane's IPv4 fast path; everything
/// else uses [`IpInfo`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Ip4Lean {
    /// Source address.
    pub src: u32,
    /// Destination address.
    pub dst: u32,
    /// Source port (TCP/UDP/SCTP), 0 if none.
    pub src_port: u16,
    /// Destination port, 0 if none.
    pub dst_port: u16,
    /// Total length from the header.
    pub total_len: u16,
    /// Upper-layer protocol.
    pub protocol: u8,
    /// True if the ports are real.
    pub has_ports: bool,
}

/// The common case of [`parse_ip`] only: an IPv4 header without options,
/// not a fragment, at least 24 bytes long and not longer than `pkt`.
/// `None` for anything else (the caller then takes [`parse_ip`]); when it
/// answers, its fields equal those [`parse_ip`] gives.
#[inline(always)]
pub fn parse_ipv4_lean(pkt: &[u8]) -> Option<Ip4Lean> {
    let h = pkt.get(..24)?;
    let total_len = be16(h, 2);
    if !(h[0] == 0x45
        && be16(h, 6) & 0x3fff == 0
        && total_len >= 24
        && usize::from(total_len) <= pkt.len())
    {
        return None;
    }
    let protocol = h[9];
    let has_ports = matches!(protocol, PROTO_TCP | PROTO_UDP | PROTO_SCTP);
    let (src_port, dst_port) = if has_ports {
        (be16(h, 20), be16(h, 22))
    } else {
        (0, 0)
    };
    Some(Ip4Lean {
        src: be32(h, 12),
        dst: be32(h, 16),
        src_port,
        dst_port,
        total_len,
        protocol,
        has_ports,
    })
}

/// Every other case of [`parse_ip`].
#[inline(never)]
fn parse_ip_general(pkt: &[u8]) -> Result<IpInfo> {
    let first = *pkt.first().ok_or(WireError::Truncated)?;
    let (addrs, protocol, tos, flow_label, ttl, l4_offset, total_len, fragment, later) =
        match first >> 4 {
            4 => {
                let h = ipv4::Ipv4Repr::parse(pkt, false)?;
                let frag = h.is_fragment();
                (
                    IpPair::V4 {
                        src: u32::from(h.src),
                        dst: u32::from(h.dst),
                    },
                    h.protocol,
                    h.tos,
                    0,
                    h.ttl,
                    h.header_len,
                    h.total_len,
                    frag,
                    h.frag_offset != 0,
                )
            }
            6 => {
                let h = pkt.get(..ipv6::HEADER_LEN).ok_or(WireError::Truncated)?;
                let payload_len = usize::from(be16(h, 4));
                let total = ipv6::HEADER_LEN + payload_len;
                if total > pkt.len() {
                    return Err(WireError::Truncated);
                }
                let vtf = be32(h, 0);
                let mut s = [0u8; 16];
                let mut d = [0u8; 16];
                s.copy_from_slice(&h[8..24]);
                d.copy_from_slice(&h[24..40]);
                let nh = h[6];
                let ul = if nh == PROTO_UDP || nh == PROTO_TCP || nh == crate::ipv4::PROTO_ICMPV6 {
                    ipv6::UpperLayer {
                        protocol: nh,
                        offset: ipv6::HEADER_LEN,
                        later_fragment: false,
                    }
                } else {
                    ipv6::upper_layer(&pkt[..total], nh)?
                };
                (
                    IpPair::V6 {
                        src: u128::from_be_bytes(s),
                        dst: u128::from_be_bytes(d),
                    },
                    ul.protocol,
                    ((vtf >> 20) & 0xff) as u8,
                    vtf & 0xfffff,
                    h[7],
                    ul.offset,
                    total,
                    ul.later_fragment || nh == ipv6::NH_FRAGMENT,
                    ul.later_fragment,
                )
            }
            _ => return Err(WireError::BadVersion),
        };
    let mut info = IpInfo {
        addrs,
        protocol,
        tos,
        flow_label,
        ttl,
        l4_offset,
        total_len,
        src_port: 0,
        dst_port: 0,
        has_ports: false,
        spi: 0,
        fragment,
    };
    if !later {
        let l4 = &pkt[..total_len];
        match protocol {
            PROTO_TCP | PROTO_UDP | PROTO_SCTP => {
                if let Some(p) = l4.get(l4_offset..l4_offset + 4) {
                    info.src_port = be16(p, 0);
                    info.dst_port = be16(p, 2);
                    info.has_ports = true;
                }
            }
            PROTO_ESP => {
                if let Some(p) = l4.get(l4_offset..l4_offset + 4) {
                    info.spi = be32(p, 0);
                }
            }
            PROTO_AH => {
                if let Some(p) = l4.get(l4_offset + 4..l4_offset + 8) {
                    info.spi = be32(p, 0);
                }
            }
            _ => {}
        }
    }
    Ok(info)
}

/// A GTP-U packet located inside a frame.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct GtpuInfo {
    /// The outer IP packet (its ports are the UDP ports).
    pub outer: IpInfo,
    /// Offset of the GTP-U header in the frame.
    pub gtp_offset: usize,
    /// The GTP-U header; its offsets are relative to `gtp_offset`.
    pub header: gtpu::Header,
    /// Offset of the inner packet (or signalling body) in the frame.
    pub inner_offset: usize,
    /// Length of the inner packet (or signalling body).
    pub inner_len: usize,
}

/// What a received frame is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FrameKind {
    /// ARP (payload at `l3_offset`).
    Arp,
    /// A GTP-U packet (UDP destination port 2152).
    Gtpu(GtpuInfo),
    /// Any other IP packet.
    Ip(IpInfo),
    /// Another EtherType.
    Other(u16),
}

/// A parsed frame.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Frame {
    /// The Ethernet header.
    pub eth: EthernetRepr,
    /// Offset of the L3 header.
    pub l3_offset: usize,
    /// What follows.
    pub kind: FrameKind,
}

/// Parses an Ethernet frame down to the tunnel and the inner packet.
#[inline]
pub fn parse_frame(frame: &[u8]) -> Result<Frame> {
    let eth = EthernetRepr::parse(frame)?;
    let l3 = eth.header_len();
    let kind = match eth.ethertype {
        ethernet::ETHERTYPE_ARP => FrameKind::Arp,
        ethernet::ETHERTYPE_IPV4 | ethernet::ETHERTYPE_IPV6 => parse_l3(&frame[l3..], l3)?,
        other => FrameKind::Other(other),
    };
    Ok(Frame {
        eth,
        l3_offset: l3,
        kind,
    })
}

/// Like [`parse_frame`] for a packet that starts with its IP header;
/// offsets are relative to `base` added to the IP start.
#[inline]
pub fn parse_l3(pkt: &[u8], base: usize) -> Result<FrameKind> {
    let ip = parse_ip(pkt)?;
    if ip.protocol == PROTO_UDP && ip.has_ports && ip.dst_port == GTPU_PORT && !ip.fragment {
        let udp_off = ip.l4_offset;
        let u = udp::UdpRepr::parse(pkt.get(udp_off..ip.total_len).ok_or(WireError::Truncated)?)?;
        let gtp_off = udp_off + udp::HEADER_LEN;
        let gtp = &pkt[gtp_off..udp_off + u.len];
        let header = gtpu::Header::parse(gtp)?;
        return Ok(FrameKind::Gtpu(GtpuInfo {
            outer: ip,
            gtp_offset: base + gtp_off,
            header,
            inner_offset: base + gtp_off + header.payload_offset,
            inner_len: header.payload_len,
        }));
    }
    Ok(FrameKind::Ip(ip))
}

/// A G-PDU as the fast path sees it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct FastGpdu {
    /// Outer addresses.
    pub outer: IpPair,
    /// TEID.
    pub teid: u32,
    /// QFI of the PDU Session Container, if there is one.
    pub qfi: Option<u8>,
    /// Offset of the inner packet in the frame.
    pub inner_offset: usize,
    /// Length of the inner packet.
    pub inner_len: usize,
}

/// What [`classify`] found.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Fast {
    /// A G-PDU with at most one extension header, a PDU Session Container
    /// of one word.
    Gpdu(FastGpdu),
    /// An IP packet that is not GTP-U.
    Ip(IpInfo),
    /// Anything else (ARP, other EtherTypes, GTP-U signalling, longer
    /// extension chains, malformed frames): the caller uses [`parse_frame`].
    Slow,
}

/// A frame classified for the fast path.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct FastFrame {
    /// Offset of the L3 header.
    pub l3_offset: usize,
    /// What it is.
    pub kind: Fast,
}

/// Classifies a frame with as few loads as possible. Whenever it returns
/// [`Fast::Gpdu`] or [`Fast::Ip`], [`parse_frame`] would have returned the
/// same facts (a property test checks it); everything unusual is
/// [`Fast::Slow`].
#[inline(always)]
pub fn classify(frame: &[u8]) -> FastFrame {
    const SLOW: FastFrame = FastFrame {
        l3_offset: 0,
        kind: Fast::Slow,
    };
    let Some(eth) = frame.get(..14) else {
        return SLOW;
    };
    let (l3, et) = match be16(eth, 12) {
        ethernet::ETHERTYPE_VLAN => match frame.get(16..18) {
            Some(t) => (18, be16(t, 0)),
            None => return SLOW,
        },
        t => (14, t),
    };
    if et != ethernet::ETHERTYPE_IPV4 && et != ethernet::ETHERTYPE_IPV6 {
        return SLOW;
    }
    let pkt = &frame[l3..];
    let Ok(ip) = parse_ip(pkt) else {
        return SLOW;
    };
    if !(ip.protocol == PROTO_UDP && ip.has_ports && ip.dst_port == GTPU_PORT && !ip.fragment) {
        return FastFrame {
            l3_offset: l3,
            kind: Fast::Ip(ip),
        };
    }
    let u = ip.l4_offset;
    let Some(g) = fast_gpdu(pkt, u, ip.total_len) else {
        return SLOW;
    };
    FastFrame {
        l3_offset: l3,
        kind: Fast::Gpdu(FastGpdu {
            outer: ip.addrs,
            teid: g.teid,
            qfi: g.qfi,
            inner_offset: l3 + u + 8 + g.off,
            inner_len: g.end - g.off,
        }),
    }
}

/// The G-PDU header facts [`classify`] takes from the UDP datagram at `u`
/// in `pkt` (IP total length `total_len`).
struct GpduHead {
    teid: u32,
    qfi: Option<u8>,
    /// Offset of the inner packet from the GTP-U header.
    off: usize,
    /// End of the G-PDU from the GTP-U header.
    end: usize,
}

#[inline(always)]
fn fast_gpdu(pkt: &[u8], u: usize, total_len: usize) -> Option<GpduHead> {
    let udp = pkt.get(u..u + 8)?;
    let ulen = usize::from(be16(udp, 4));
    if ulen < 8 || u + ulen > total_len {
        return None;
    }
    let gtp = pkt.get(u + 8..u + ulen)?;
    let h = gtp.get(..8)?;
    let flags = h[0];
    if flags >> 5 != 1 || flags & 0x10 == 0 || h[1] != gtpu::MSG_GPDU {
        return None;
    }
    let end = 8 + usize::from(be16(h, 2));
    if end > gtp.len() {
        return None;
    }
    let teid = be32(h, 4);
    let mut off = 8;
    let mut qfi = None;
    if flags & 0x07 != 0 {
        let opt = gtp.get(8..12).filter(|_| end >= 12)?;
        off = 12;
        if flags & 0x04 != 0 && opt[3] != gtpu::EXT_NONE {
            // Only a one-word PDU Session Container ending the chain.
            let x = gtp.get(12..16).filter(|_| end >= 16)?;
            if opt[3] != gtpu::EXT_PDU_SESSION_CONTAINER
                || x[0] != 1
                || x[3] != gtpu::EXT_NONE
                || !(x[1] >> 4 == 1 || (x[1] >> 4 == 0 && x[2] & 0x80 == 0))
            {
                return None;
            }
            qfi = Some(x[2] & 0x3f);
            off = 16;
        }
    }
    Some(GpduHead {
        teid,
        qfi,
        off,
        end,
    })
}

/// What [`classify_lean`] found: the common IPv4 cases of [`classify`],
/// small enough for registers.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Lean {
    /// A G-PDU over IPv4 (as [`Fast::Gpdu`]).
    Gpdu {
        /// Outer destination address.
        dst: u32,
        /// TEID.
        teid: u32,
        /// QFI of the PDU Session Container, if there is one.
        qfi: Option<u8>,
        /// Offset of the inner packet in the frame.
        inner_offset: u16,
        /// Length of the inner packet.
        inner_len: u16,
    },
    /// An IPv4 packet that is not GTP-U (as [`Fast::Ip`]).
    Ip {
        /// Destination address.
        dst: u32,
    },
}

/// [`classify`] for untagged IPv4 frames whose header [`parse_ipv4_lean`]
/// takes. `None` for every other frame (the caller then uses
/// [`classify`]); when it answers, [`classify`] says the same (a property
/// test checks it). The L3 offset is 14.
#[inline(always)]
pub fn classify_lean(frame: &[u8]) -> Option<Lean> {
    let eth = frame.get(..14)?;
    if be16(eth, 12) != ethernet::ETHERTYPE_IPV4 {
        return None;
    }
    let pkt = &frame[14..];
    let ip = parse_ipv4_lean(pkt)?;
    if !(ip.protocol == PROTO_UDP && ip.dst_port == GTPU_PORT) {
        return Some(Lean::Ip { dst: ip.dst });
    }
    let g = fast_gpdu(pkt, 20, usize::from(ip.total_len))?;
    Some(Lean::Gpdu {
        dst: ip.dst,
        teid: g.teid,
        qfi: g.qfi,
        inner_offset: u16::try_from(14 + 28 + g.off).ok()?,
        inner_len: u16::try_from(g.end - g.off).ok()?,
    })
}

/// The outer IP, UDP and GTP-U headers of one tunnel, compact (56 bytes):
/// what a FAR keeps per tunnel, written per packet by
/// [`TunnelHeader::write`]. Byte for byte the same headers as an
/// [`EncapTemplate`] of the same [`EncapSpec`] without its Ethernet part.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TunnelHeader {
    src: [u8; 16],
    dst: [u8; 16],
    teid: u32,
    /// IPv4: sum of the header words except total length, identification
    /// and checksum. IPv6: pseudo-header sum of addresses and next header.
    partial: u32,
    psc: [u8; 8],
    src_port: u16,
    dst_port: u16,
    psc_len: u8,
    tos: u8,
    ttl: u8,
    v6: bool,
}

impl TunnelHeader {
    /// The headers for `spec` (its Ethernet part is ignored).
    pub fn new(spec: &EncapSpec) -> Result<Self> {
        let mut src = [0u8; 16];
        let mut dst = [0u8; 16];
        let v6 = match (spec.src, spec.dst) {
            (IpAddr::V4(s), IpAddr::V4(d)) => {
                src[..4].copy_from_slice(&s.octets());
                dst[..4].copy_from_slice(&d.octets());
                false
            }
            (IpAddr::V6(s), IpAddr::V6(d)) => {
                src = s.octets();
                dst = d.octets();
                true
            }
            _ => return Err(WireError::Malformed),
        };
        let mut psc = [0u8; 8];
        let psc_len = match &spec.pdu_session {
            Some(p) => p.emit_ext(&mut psc, gtpu::EXT_NONE)? as u8,
            None => 0,
        };
        let partial = if v6 {
            checksum::pseudo_v6(&src.into(), &dst.into(), PROTO_UDP, 0)
        } else {
            let words = [
                0x4500 | u32::from(spec.tos),
                u32::from(spec.ttl) << 8 | u32::from(PROTO_UDP),
            ];
            checksum::sum(&src[..4], checksum::sum(&dst[..4], words[0] + words[1]))
        };
        Ok(TunnelHeader {
            src,
            dst,
            teid: spec.teid,
            partial,
            psc,
            src_port: spec.src_port,
            dst_port: spec.dst_port,
            psc_len,
            tos: spec.tos,
            ttl: spec.ttl,
            v6,
        })
    }

    /// Bytes [`TunnelHeader::write`] puts before the inner packet.
    #[inline]
    pub fn len(&self) -> usize {
        self.ip_len() + 8 + self.gtp_len()
    }

    /// Never empty.
    pub fn is_empty(&self) -> bool {
        false
    }

    #[inline]
    fn ip_len(&self) -> usize {
        if self.v6 {
            40
        } else {
            20
        }
    }

    #[inline]
    fn gtp_len(&self) -> usize {
        if self.psc_len == 0 {
            gtpu::HEADER_LEN
        } else {
            gtpu::HEADER_LEN_OPT + usize::from(self.psc_len)
        }
    }

    /// True for an IPv6 outer header.
    pub fn is_v6(&self) -> bool {
        self.v6
    }

    /// The tunnel's remote address.
    pub fn dst(&self) -> IpAddr {
        if self.v6 {
            IpAddr::V6(self.dst.into())
        } else {
            IpAddr::V4([self.dst[0], self.dst[1], self.dst[2], self.dst[3]].into())
        }
    }

    /// The local address.
    pub fn src(&self) -> IpAddr {
        if self.v6 {
            IpAddr::V6(self.src.into())
        } else {
            IpAddr::V4([self.src[0], self.src[1], self.src[2], self.src[3]].into())
        }
    }

    /// The remote TEID.
    pub fn teid(&self) -> u32 {
        self.teid
    }

    /// True if the header carries a PDU Session Container.
    pub fn has_pdu_session(&self) -> bool {
        self.psc_len != 0
    }

    /// Replaces the PDU Session Container (when the header has one): the
    /// QFI of the QoS flow a packet belongs to.
    #[inline(always)]
    pub fn set_pdu_session(&mut self, p: &PduSessionInfo) {
        if self.psc_len == 0 {
            return;
        }
        (self.psc, self.psc_len) = p.ext_bytes();
    }

    /// The header as eight 64-bit words (for packed storage).
    pub fn to_words(&self) -> [u64; 8] {
        let w = |b: &[u8]| {
            let mut a = [0u8; 8];
            a.copy_from_slice(b);
            u64::from_le_bytes(a)
        };
        [
            w(&self.src[..8]),
            w(&self.src[8..]),
            w(&self.dst[..8]),
            w(&self.dst[8..]),
            u64::from(self.teid) | (u64::from(self.partial) << 32),
            w(&self.psc),
            u64::from(self.src_port)
                | (u64::from(self.dst_port) << 16)
                | (u64::from(self.psc_len) << 32)
                | (u64::from(self.tos) << 40)
                | (u64::from(self.ttl) << 48)
                | (u64::from(self.v6) << 56),
            0,
        ]
    }

    /// The header from [`TunnelHeader::to_words`].
    #[inline(always)]
    pub fn from_words(w: &[u64; 8]) -> TunnelHeader {
        let mut src = [0u8; 16];
        let mut dst = [0u8; 16];
        src[..8].copy_from_slice(&w[0].to_le_bytes());
        src[8..].copy_from_slice(&w[1].to_le_bytes());
        dst[..8].copy_from_slice(&w[2].to_le_bytes());
        dst[8..].copy_from_slice(&w[3].to_le_bytes());
        TunnelHeader {
            src,
            dst,
            teid: w[4] as u32,
            partial: (w[4] >> 32) as u32,
            psc: w[5].to_le_bytes(),
            src_port: w[6] as u16,
            dst_port: (w[6] >> 16) as u16,
            psc_len: ((w[6] >> 32) as u8).min(8),
            tos: (w[6] >> 40) as u8,
            ttl: (w[6] >> 48) as u8,
            v6: (w[6] >> 56) & 1 != 0,
        }
    }

    /// The same tunnel without the PDU Session Container (for signalling
    /// such as End Marker).
    pub fn without_pdu_session(&self) -> TunnelHeader {
        TunnelHeader {
            psc_len: 0,
            psc: [0; 8],
            ..*self
        }
    }

    /// Writes the headers of a G-PDU into `pkt[..self.len()]`; the inner
    /// packet follows at `pkt[self.len()..]`. `ident` is the IPv4
    /// identification.
    #[inline]
    pub fn write(&self, pkt: &mut [u8], ident: u16) -> Result<()> {
        self.write_msg(pkt, gtpu::MSG_GPDU, ident)
    }

    /// Like [`TunnelHeader::write`] for any GTP-U message type.
    #[inline]
    pub fn write_msg(&self, pkt: &mut [u8], msg_type: u8, ident: u16) -> Result<()> {
        if !self.v6 {
            return self.write_v4(pkt, msg_type, ident);
        }
        // IPv6.
        let hl = self.len();
        if pkt.len() < hl {
            return Err(WireError::BufferTooSmall);
        }
        let inner_len = pkt.len() - hl;
        let ip_len = self.ip_len();
        let gtp_len = hl - ip_len - 8;
        let udp_len = u16::try_from(8 + gtp_len + inner_len).map_err(|_| WireError::BadLength)?;
        let gtp_payload = (gtp_len - gtpu::HEADER_LEN + inner_len) as u16;
        let (ip, rest) = pkt.split_at_mut(ip_len);
        let vtf = (6u32 << 28) | (u32::from(self.tos) << 20);
        ip[0..4].copy_from_slice(&vtf.to_be_bytes());
        ip[4..6].copy_from_slice(&udp_len.to_be_bytes());
        ip[6] = PROTO_UDP;
        ip[7] = self.ttl;
        ip[8..24].copy_from_slice(&self.src);
        ip[24..40].copy_from_slice(&self.dst);
        let (udp, gtp) = rest.split_at_mut(8);
        udp[0..2].copy_from_slice(&self.src_port.to_be_bytes());
        udp[2..4].copy_from_slice(&self.dst_port.to_be_bytes());
        udp[4..6].copy_from_slice(&udp_len.to_be_bytes());
        udp[6..8].copy_from_slice(&[0, 0]);
        gtp[0] = if self.psc_len == 0 { 0x30 } else { 0x34 };
        gtp[1] = msg_type;
        gtp[2..4].copy_from_slice(&gtp_payload.to_be_bytes());
        gtp[4..8].copy_from_slice(&self.teid.to_be_bytes());
        if self.psc_len != 0 {
            let n = usize::from(self.psc_len);
            gtp[8..12].copy_from_slice(&[0, 0, 0, gtpu::EXT_PDU_SESSION_CONTAINER]);
            gtp[12..12 + n].copy_from_slice(&self.psc[..n]);
        }
        let acc = self.partial + u32::from(udp_len);
        let mut c = checksum::finish(checksum::sum(&pkt[40..], acc));
        if c == 0 {
            c = 0xffff;
        }
        pkt[46..48].copy_from_slice(&c.to_be_bytes());
        Ok(())
    }
}

impl TunnelHeader {
    /// [`TunnelHeader::write_msg`] for an IPv4 outer header: fixed
    /// offsets, and a fixed-size copy for the usual one-word PDU Session
    /// Container.
    #[inline(always)]
    fn write_v4(&self, pkt: &mut [u8], msg_type: u8, ident: u16) -> Result<()> {
        let n = usize::from(self.psc_len);
        let with_psc = n != 0;
        // IPv4 20, UDP 8, GTP-U 8 (+ 4 optional octets + the container).
        let hl = if with_psc { 40 + n } else { 36 };
        let inner_len = pkt.len().checked_sub(hl).ok_or(WireError::BufferTooSmall)?;
        let udp_len = u16::try_from(hl - 20 + inner_len).map_err(|_| WireError::BadLength)?;
        let total = udp_len.checked_add(20).ok_or(WireError::BadLength)?;
        let gtp_payload = udp_len - 16;
        let csum = checksum::finish(self.partial + u32::from(total) + u32::from(ident));
        let h = pkt
            .first_chunk_mut::<36>()
            .ok_or(WireError::BufferTooSmall)?;
        h[0] = 0x45;
        h[1] = self.tos;
        h[2..4].copy_from_slice(&total.to_be_bytes());
        h[4..6].copy_from_slice(&ident.to_be_bytes());
        h[6..8].copy_from_slice(&[0, 0]);
        h[8] = self.ttl;
        h[9] = PROTO_UDP;
        h[10..12].copy_from_slice(&csum.to_be_bytes());
        h[12..16].copy_from_slice(&self.src[..4]);
        h[16..20].copy_from_slice(&self.dst[..4]);
        h[20..22].copy_from_slice(&self.src_port.to_be_bytes());
        h[22..24].copy_from_slice(&self.dst_port.to_be_bytes());
        h[24..26].copy_from_slice(&udp_len.to_be_bytes());
        h[26..28].copy_from_slice(&[0, 0]);
        h[28] = if with_psc { 0x34 } else { 0x30 };
        h[29] = msg_type;
        h[30..32].copy_from_slice(&gtp_payload.to_be_bytes());
        h[32..36].copy_from_slice(&self.teid.to_be_bytes());
        if with_psc {
            let x = pkt.get_mut(36..hl).ok_or(WireError::BufferTooSmall)?;
            x[..4].copy_from_slice(&[0, 0, 0, gtpu::EXT_PDU_SESSION_CONTAINER]);
            if n == 4 {
                x[4..8].copy_from_slice(&self.psc[..4]);
            } else {
                x[4..].copy_from_slice(&self.psc[..n]);
            }
        }
        Ok(())
    }
}

/// Which IP version an encapsulation template builds.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Outer {
    V4,
    V6,
}

/// The largest template: VLAN Ethernet + IPv6 + UDP + GTP-U with options
/// and an 8-octet PDU Session Container.
pub const MAX_TEMPLATE: usize = 18 + 40 + 8 + 12 + 8 + 4;

/// A precomputed outer header set (optional Ethernet, IPv4 or IPv6, UDP,
/// GTP-U, optional PDU Session Container). Built once per tunnel when a
/// rule is installed; [`EncapTemplate::write`] then costs one copy and a
/// few stores per packet.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct EncapTemplate {
    bytes: [u8; MAX_TEMPLATE],
    len: u8,
    l2_len: u8,
    gtp_len: u8,
    outer: Outer,
    /// Sum of the IPv4 header words except total length, identification
    /// and checksum; or the IPv6 UDP pseudo-header sum of the addresses and
    /// next header.
    partial: u32,
    src: IpAddr,
    dst: IpAddr,
}

/// What an [`EncapTemplate`] is built from.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct EncapSpec {
    /// Ethernet header (destination = next hop MAC), or `None` for an L3 port.
    pub eth: Option<EthernetRepr>,
    /// Outer source (the UPF's address).
    pub src: IpAddr,
    /// Outer destination (the peer's address).
    pub dst: IpAddr,
    /// TOS / traffic class (transport level marking).
    pub tos: u8,
    /// TTL / hop limit.
    pub ttl: u8,
    /// UDP source port.
    pub src_port: u16,
    /// UDP destination port (2152).
    pub dst_port: u16,
    /// TEID of the peer.
    pub teid: u32,
    /// PDU Session Container to carry.
    pub pdu_session: Option<PduSessionInfo>,
}

impl EncapTemplate {
    /// Builds a template. Source and destination must be of one family.
    pub fn new(spec: &EncapSpec) -> Result<Self> {
        let outer = match (spec.src, spec.dst) {
            (IpAddr::V4(_), IpAddr::V4(_)) => Outer::V4,
            (IpAddr::V6(_), IpAddr::V6(_)) => Outer::V6,
            _ => return Err(WireError::Malformed),
        };
        let mut bytes = [0u8; MAX_TEMPLATE];
        let mut off = 0usize;
        if let Some(mut e) = spec.eth {
            e.ethertype = if outer == Outer::V4 {
                ethernet::ETHERTYPE_IPV4
            } else {
                ethernet::ETHERTYPE_IPV6
            };
            e.emit(&mut bytes)?;
            off = e.header_len();
        }
        let l2_len = off;
        let ip_len = if outer == Outer::V4 { 20 } else { 40 };
        let gtp = gtpu::HeaderRepr {
            pdu_session: spec.pdu_session,
            ..gtpu::HeaderRepr::gpdu(spec.teid)
        };
        let gtp_len = gtp.header_len();
        gtp.emit(&mut bytes[off + ip_len + 8..], 0)?;
        udp::UdpRepr {
            src_port: spec.src_port,
            dst_port: spec.dst_port,
            len: 8 + gtp_len,
            checksum: 0,
        }
        .emit(&mut bytes[off + ip_len..])?;
        let partial = match (spec.src, spec.dst) {
            (IpAddr::V4(s), IpAddr::V4(d)) => {
                ipv4::Ipv4Repr {
                    src: s,
                    dst: d,
                    protocol: PROTO_UDP,
                    ttl: spec.ttl,
                    tos: spec.tos,
                    ident: 0,
                    dont_frag: false,
                    more_frags: false,
                    frag_offset: 0,
                    header_len: 20,
                    total_len: 20,
                }
                .emit(&mut bytes[off..])?;
                // Remove total length (20) and the checksum from the sum.
                let h = &mut bytes[off..off + 20];
                h[2..4].fill(0);
                h[10..12].fill(0);
                checksum::sum(h, 0)
            }
            (IpAddr::V6(s), IpAddr::V6(d)) => {
                ipv6::Ipv6Repr {
                    src: s,
                    dst: d,
                    next_header: PROTO_UDP,
                    hop_limit: spec.ttl,
                    traffic_class: spec.tos,
                    flow_label: 0,
                    payload_len: 0,
                }
                .emit(&mut bytes[off..])?;
                checksum::pseudo_v6(&s, &d, PROTO_UDP, 0)
            }
            _ => return Err(WireError::Malformed),
        };
        Ok(EncapTemplate {
            bytes,
            len: (off + ip_len + 8 + gtp_len) as u8,
            l2_len: l2_len as u8,
            gtp_len: gtp_len as u8,
            outer,
            partial,
            src: spec.src,
            dst: spec.dst,
        })
    }

    /// Total header length this template writes.
    #[inline]
    pub fn len(&self) -> usize {
        usize::from(self.len)
    }

    /// Never empty (kept for clippy's len/is_empty pairing).
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Length of the Ethernet part (0 for an L3 port).
    pub fn l2_len(&self) -> usize {
        usize::from(self.l2_len)
    }

    /// Outer destination.
    pub fn dst(&self) -> IpAddr {
        self.dst
    }

    /// Outer source.
    pub fn src(&self) -> IpAddr {
        self.src
    }

    /// Sets the Ethernet addresses (when the next hop's MAC is learnt).
    pub fn set_macs(&mut self, dst: Mac, src: Mac) {
        if self.l2_len >= 14 {
            self.bytes[0..6].copy_from_slice(&dst);
            self.bytes[6..12].copy_from_slice(&src);
        }
    }

    /// The Ethernet destination currently in the template.
    pub fn dst_mac(&self) -> Mac {
        let mut m = [0u8; 6];
        if self.l2_len >= 14 {
            m.copy_from_slice(&self.bytes[0..6]);
        }
        m
    }

    /// Writes the headers into `pkt[..self.len()]`, where the inner packet
    /// follows at `pkt[self.len()..]` (so `pkt.len() - self.len()` is the
    /// inner length). `ident` is the IPv4 identification to use.
    #[inline]
    pub fn write(&self, pkt: &mut [u8], ident: u16) -> Result<()> {
        let hl = self.len();
        if pkt.len() < hl {
            return Err(WireError::BufferTooSmall);
        }
        let inner_len = pkt.len() - hl;
        pkt[..hl].copy_from_slice(&self.bytes[..hl]);
        let l2 = usize::from(self.l2_len);
        let gtp_len = usize::from(self.gtp_len);
        let gtp_payload = gtp_len - gtpu::HEADER_LEN + inner_len;
        let udp_len = 8 + gtp_len + inner_len;
        match self.outer {
            Outer::V4 => {
                let total = 20 + udp_len;
                let (total16, udp16, gtp16) = (
                    u16::try_from(total).map_err(|_| WireError::BadLength)?,
                    udp_len as u16,
                    gtp_payload as u16,
                );
                let ip = l2;
                pkt[ip + 2..ip + 4].copy_from_slice(&total16.to_be_bytes());
                pkt[ip + 4..ip + 6].copy_from_slice(&ident.to_be_bytes());
                let acc = self.partial + u32::from(total16) + u32::from(ident);
                pkt[ip + 10..ip + 12].copy_from_slice(&checksum::finish(acc).to_be_bytes());
                pkt[ip + 24..ip + 26].copy_from_slice(&udp16.to_be_bytes());
                pkt[ip + 30..ip + 32].copy_from_slice(&gtp16.to_be_bytes());
            }
            Outer::V6 => {
                let udp16 = u16::try_from(udp_len).map_err(|_| WireError::BadLength)?;
                let ip = l2;
                pkt[ip + 4..ip + 6].copy_from_slice(&udp16.to_be_bytes());
                pkt[ip + 44..ip + 46].copy_from_slice(&udp16.to_be_bytes());
                pkt[ip + 50..ip + 52].copy_from_slice(&(gtp_payload as u16).to_be_bytes());
                // UDP checksum over the pseudo-header and the whole datagram.
                let acc = self.partial + u32::from(udp16);
                let mut c = checksum::finish(checksum::sum(&pkt[ip + 40..], acc));
                if c == 0 {
                    c = 0xffff;
                }
                pkt[ip + 46..ip + 48].copy_from_slice(&c.to_be_bytes());
            }
        }
        Ok(())
    }
}

/// Writes an Ethernet header for an egress packet at the start of `pkt`.
#[inline]
pub fn write_eth(pkt: &mut [u8], dst: &Mac, src: &Mac, ethertype: u16) -> Result<()> {
    let h = pkt.get_mut(..14).ok_or(WireError::BufferTooSmall)?;
    h[0..6].copy_from_slice(dst);
    h[6..12].copy_from_slice(src);
    h[12..14].copy_from_slice(&ethertype.to_be_bytes());
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::checksum::checksum;

    fn inner_udp_v4() -> Vec<u8> {
        let mut p = vec![0u8; 20 + 8 + 4];
        ipv4::Ipv4Repr {
            src: "10.45.0.2".parse().unwrap(),
            dst: "198.18.9.9".parse().unwrap(),
            protocol: PROTO_UDP,
            ttl: 64,
            tos: 0x28,
            ident: 9,
            dont_frag: false,
            more_frags: false,
            frag_offset: 0,
            header_len: 20,
            total_len: 32,
        }
        .emit(&mut p)
        .unwrap();
        udp::UdpRepr {
            src_port: 40000,
            dst_port: 53,
            len: 12,
            checksum: 0,
        }
        .emit(&mut p[20..])
        .unwrap();
        p[28..32].copy_from_slice(b"data");
        p
    }

    #[test]
    fn inner_fields() {
        let p = inner_udp_v4();
        let i = parse_ip(&p).unwrap();
        assert_eq!(i.protocol, PROTO_UDP);
        assert_eq!((i.src_port, i.dst_port, i.has_ports), (40000, 53, true));
        assert_eq!(i.tos, 0x28);
        assert_eq!(i.addrs.src_addr(), "10.45.0.2".parse::<IpAddr>().unwrap());
    }

    fn spec(src: &str, dst: &str, psc: Option<PduSessionInfo>) -> EncapSpec {
        EncapSpec {
            eth: Some(EthernetRepr {
                dst: [2, 0, 0, 0, 0, 0xaa],
                src: [2, 0, 0, 0, 0, 0xbb],
                vlan: None,
                ethertype: 0,
            }),
            src: src.parse().unwrap(),
            dst: dst.parse().unwrap(),
            tos: 0xb8,
            ttl: 64,
            src_port: 2152,
            dst_port: 2152,
            teid: 0x0102_0304,
            pdu_session: psc,
        }
    }

    #[test]
    fn encap_then_parse_v4_and_v6() {
        let inner = inner_udp_v4();
        let psc = Some(PduSessionInfo::Downlink {
            qfi: 9,
            rqi: false,
            ppi: None,
        });
        for (s, d) in [("198.18.0.1", "198.18.0.2"), ("2001:db8::1", "2001:db8::2")] {
            let t = EncapTemplate::new(&spec(s, d, psc)).unwrap();
            let mut pkt = vec![0u8; t.len() + inner.len()];
            pkt[t.len()..].copy_from_slice(&inner);
            t.write(&mut pkt, 77).unwrap();
            let f = parse_frame(&pkt).unwrap();
            let FrameKind::Gtpu(g) = f.kind else {
                panic!("not gtpu: {:?}", f.kind)
            };
            assert_eq!(g.header.teid, 0x0102_0304);
            assert_eq!(g.header.ext.pdu_session, psc);
            assert_eq!(
                &pkt[g.inner_offset..g.inner_offset + g.inner_len],
                &inner[..]
            );
            assert_eq!(g.outer.tos, 0xb8);
            if s.contains('.') {
                assert_eq!(checksum(&pkt[14..34]), 0, "IPv4 header checksum");
                let h = ipv4::Ipv4Repr::parse(&pkt[14..], true).unwrap();
                assert_eq!(h.ident, 77);
            } else {
                let dg = &pkt[14 + 40..];
                assert!(udp::verify_v6(dg, &s.parse().unwrap(), &d.parse().unwrap()));
            }
        }
    }

    #[test]
    fn tunnel_header_length_errors() {
        let psc = PduSessionInfo::Downlink {
            qfi: 9,
            rqi: false,
            ppi: None,
        };
        for p in [None, Some(psc)] {
            let h = TunnelHeader::new(&spec("198.18.0.1", "198.18.0.2", p)).unwrap();
            let mut short = vec![0u8; h.len() - 1];
            assert_eq!(h.write(&mut short, 1), Err(WireError::BufferTooSmall));
            let mut huge = vec![0u8; 70_000];
            assert_eq!(h.write(&mut huge, 1), Err(WireError::BadLength));
            let mut exact = vec![0u8; h.len()];
            h.write(&mut exact, 1).unwrap();
            let f = parse_l3(&exact, 0).unwrap();
            assert!(
                matches!(f, FrameKind::Gtpu(g) if g.inner_len == 0 && g.header.teid == h.teid())
            );
        }
    }

    #[test]
    fn mixed_families_rejected() {
        assert!(EncapTemplate::new(&spec("198.18.0.1", "2001:db8::2", None)).is_err());
    }

    #[test]
    fn lean_ipv4_parse_takes_the_common_case() {
        let p = inner_udp_v4();
        let l = parse_ipv4_lean(&p).unwrap();
        assert_eq!(l.src, u32::from(std::net::Ipv4Addr::new(10, 45, 0, 2)));
        assert_eq!(l.dst, u32::from(std::net::Ipv4Addr::new(198, 18, 9, 9)));
        assert_eq!(
            (l.protocol, l.has_ports, l.total_len),
            (PROTO_UDP, true, 32)
        );
        // A fragment, options, or a length beyond the slice: not lean.
        let mut f = p.clone();
        f[6] = 0x20;
        assert_eq!(parse_ipv4_lean(&f), None);
        let mut o = p.clone();
        o[0] = 0x46;
        assert_eq!(parse_ipv4_lean(&o), None);
        assert_eq!(parse_ipv4_lean(&p[..31]), None);
    }

    proptest::proptest! {
        /// Whenever the lean parser answers, it agrees with `parse_ip`.
        #[test]
        fn lean_ipv4_agrees_with_parse_ip(
            mut bytes in proptest::collection::vec(proptest::prelude::any::<u8>(), 0..80),
            proto in proptest::prop_oneof![
                proptest::prelude::Just(PROTO_TCP),
                proptest::prelude::Just(PROTO_UDP),
                proptest::prelude::Just(PROTO_ESP),
                proptest::prelude::any::<u8>()
            ],
            common in proptest::prelude::any::<bool>(),
        ) {
            if common && bytes.len() >= 24 {
                // Steer most cases into the lean shape.
                let n = bytes.len() as u16;
                bytes[0] = 0x45;
                bytes[2..4].copy_from_slice(&n.to_be_bytes());
                bytes[6] &= 0x40;
                bytes[7] = 0;
                bytes[9] = proto;
            }
            if let Some(l) = parse_ipv4_lean(&bytes) {
                let ip = parse_ip(&bytes).expect("lean accepted what parse_ip rejects");
                proptest::prop_assert_eq!(ip.addrs, IpPair::V4 { src: l.src, dst: l.dst });
                proptest::prop_assert_eq!(ip.protocol, l.protocol);
                proptest::prop_assert_eq!(ip.total_len, usize::from(l.total_len));
                proptest::prop_assert_eq!(ip.has_ports, l.has_ports);
                proptest::prop_assert_eq!((ip.src_port, ip.dst_port), (l.src_port, l.dst_port));
                proptest::prop_assert!(!ip.fragment);
            }
        }
    }
}
