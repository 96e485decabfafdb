//! Frame templates: one per flow (a session in one direction), built once
//! from the sessions file; per packet only lengths, the stamp, the IPv4
//! identification and the checksums are written.
//!
//! - uplink: Ethernet / IPv4 or IPv6 (gNB -> UPF N3) / UDP 2152 / GTP-U
//!   G-PDU with a PDU Session Container (UL PDU SESSION INFORMATION, QFI) /
//!   inner IPv4 or IPv6 (UE -> DN) / UDP / stamp / zero padding;
//! - downlink: Ethernet / IPv4 or IPv6 (DN -> UE) / UDP / stamp / padding.
//!
//! `size` is always the inner IP packet length (the GTP-U payload on the
//! uplink), so both directions carry the same user packets.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use upf_smfsim::sessions::SessionEntry;
use upf_wire::checksum;
use upf_wire::ethernet::{EthernetRepr, Mac, ETHERTYPE_IPV4, ETHERTYPE_IPV6};
use upf_wire::fast::{EncapSpec, EncapTemplate};
use upf_wire::gtpu::PduSessionInfo;
use upf_wire::ipv4::{Ipv4Repr, PROTO_UDP};
use upf_wire::ipv6::Ipv6Repr;
use upf_wire::udp::GTPU_PORT;

use crate::stamp::{self, Stamp};

/// Direction of a flow.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Dir {
    /// gNB -> UPF (GTP-U) -> data network.
    Ul,
    /// Data network -> UPF -> gNB (GTP-U).
    Dl,
}

impl Dir {
    /// Both directions.
    pub const ALL: [Dir; 2] = [Dir::Ul, Dir::Dl];

    /// `ul` or `dl`.
    pub fn name(self) -> &'static str {
        match self {
            Dir::Ul => "ul",
            Dir::Dl => "dl",
        }
    }
}

/// The flow number carried in the stamp: session position * 2 + direction.
#[inline]
pub fn flow_id(position: u32, dir: Dir) -> u32 {
    position * 2 + u32::from(dir == Dir::Dl)
}

/// Splits a flow number into (session position, direction).
#[inline]
pub fn split_flow(flow: u32) -> (u32, Dir) {
    (flow / 2, if flow & 1 == 0 { Dir::Ul } else { Dir::Dl })
}

/// Which inner IP family a flow uses.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Family {
    /// IPv4 if the session has a UE IPv4 address, else IPv6.
    Auto,
    /// IPv4 only.
    V4,
    /// IPv6 only.
    V6,
}

/// The addressing shared by all flows.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Endpoints {
    /// Our MAC on the gNB side (N3).
    pub n3_mac: Mac,
    /// The next hop's MAC on the gNB side (the UPF's N3 port).
    pub n3_peer_mac: Mac,
    /// Our MAC on the data network side (N6).
    pub n6_mac: Mac,
    /// The next hop's MAC on the N6 side (the UPF's N6 port).
    pub n6_peer_mac: Mac,
    /// The gNB's address (outer source of the uplink).
    pub gnb_ip: IpAddr,
    /// The data network host's IPv4 address (uplink destination).
    pub dn_v4: Ipv4Addr,
    /// The data network host's IPv6 address.
    pub dn_v6: Ipv6Addr,
    /// Data network UDP port.
    pub dn_port: u16,
    /// UE UDP port of session 0 (session i uses base + i % 50000).
    pub ue_port_base: u16,
    /// Inner family.
    pub family: Family,
    /// QFI to put in the uplink PDU Session Container instead of the
    /// session's.
    pub qfi: Option<u8>,
}

impl Default for Endpoints {
    fn default() -> Self {
        Endpoints {
            n3_mac: [2, 0, 0, 0, 3, 1],
            n3_peer_mac: [2, 0, 0, 0, 3, 2],
            n6_mac: [2, 0, 0, 0, 6, 1],
            n6_peer_mac: [2, 0, 0, 0, 6, 2],
            gnb_ip: IpAddr::V4(Ipv4Addr::new(198, 18, 3, 1)),
            dn_v4: Ipv4Addr::new(198, 18, 6, 1),
            dn_v6: "2001:db8:6::1".parse().unwrap_or(Ipv6Addr::LOCALHOST),
            dn_port: 9000,
            ue_port_base: 10000,
            family: Family::Auto,
            qfi: None,
        }
    }
}

/// Why a flow cannot be built.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum BuildError {
    /// The session lacks an address the flow needs.
    #[error("session {index}: {what}")]
    Missing {
        /// Session index.
        index: u32,
        /// What is missing.
        what: &'static str,
    },
    /// The headers could not be built.
    #[error("session {index}: {source}")]
    Wire {
        /// Session index.
        index: u32,
        /// The wire error.
        source: upf_wire::WireError,
    },
}

/// The UE address a flow of `s` uses, by family.
pub fn ue_addr(s: &SessionEntry, family: Family) -> Option<IpAddr> {
    match family {
        Family::V4 => s.ue_ipv4.map(IpAddr::V4),
        Family::V6 => s.ue_ipv6.map(IpAddr::V6),
        Family::Auto => s.ue_ipv4.map(IpAddr::V4).or(s.ue_ipv6.map(IpAddr::V6)),
    }
}

/// UE port of session index `i`.
pub fn ue_port(base: u16, index: u32) -> u16 {
    base.wrapping_add((index % 50_000) as u16)
}

/// One flow's prepared headers.
#[derive(Clone, Debug)]
pub struct FlowTemplate {
    /// Ethernet (downlink) header.
    l2: [u8; 14],
    /// Outer headers (uplink).
    encap: Option<EncapTemplate>,
    /// Inner IP + UDP header with zero lengths and checksums.
    inner: [u8; 48],
    inner_v6: bool,
    /// IPv4 header sum without total length, identification and checksum.
    ip_partial: u32,
    /// UDP pseudo-header sum (addresses, protocol) plus the ports.
    udp_partial: u32,
    /// Flow number.
    pub flow: u32,
}

impl FlowTemplate {
    /// The uplink flow of the session at `position` in the file.
    pub fn uplink(s: &SessionEntry, position: u32, ep: &Endpoints) -> Result<Self, BuildError> {
        let miss = |what| BuildError::Missing {
            index: s.index,
            what,
        };
        let upf = match ep.gnb_ip {
            IpAddr::V4(_) => IpAddr::V4(s.upf_ipv4.ok_or(miss("no UPF N3 IPv4 address"))?),
            IpAddr::V6(_) => IpAddr::V6(s.upf_ipv6.ok_or(miss("no UPF N3 IPv6 address"))?),
        };
        let encap = EncapTemplate::new(&EncapSpec {
            eth: Some(EthernetRepr {
                dst: ep.n3_peer_mac,
                src: ep.n3_mac,
                vlan: None,
                ethertype: 0,
            }),
            src: ep.gnb_ip,
            dst: upf,
            tos: 0,
            ttl: 64,
            src_port: GTPU_PORT,
            dst_port: GTPU_PORT,
            teid: s.upf_teid,
            pdu_session: Some(PduSessionInfo::Uplink {
                qfi: ep.qfi.unwrap_or(s.qfi),
            }),
        })
        .map_err(|source| BuildError::Wire {
            index: s.index,
            source,
        })?;
        let ue = ue_addr(s, ep.family).ok_or(miss("no UE address of the inner family"))?;
        let dn = match ue {
            IpAddr::V4(_) => IpAddr::V4(ep.dn_v4),
            IpAddr::V6(_) => IpAddr::V6(ep.dn_v6),
        };
        let port = ue_port(ep.ue_port_base, s.index);
        let mut t = Self::inner(
            s.index,
            ue,
            dn,
            port,
            ep.dn_port,
            flow_id(position, Dir::Ul),
        )?;
        t.encap = Some(encap);
        Ok(t)
    }

    /// The downlink flow of the session at `position`.
    pub fn downlink(s: &SessionEntry, position: u32, ep: &Endpoints) -> Result<Self, BuildError> {
        let ue = ue_addr(s, ep.family).ok_or(BuildError::Missing {
            index: s.index,
            what: "no UE address of the inner family",
        })?;
        let dn = match ue {
            IpAddr::V4(_) => IpAddr::V4(ep.dn_v4),
            IpAddr::V6(_) => IpAddr::V6(ep.dn_v6),
        };
        let port = ue_port(ep.ue_port_base, s.index);
        let mut t = Self::inner(
            s.index,
            dn,
            ue,
            ep.dn_port,
            port,
            flow_id(position, Dir::Dl),
        )?;
        let eth = EthernetRepr {
            dst: ep.n6_peer_mac,
            src: ep.n6_mac,
            vlan: None,
            ethertype: if t.inner_v6 {
                ETHERTYPE_IPV6
            } else {
                ETHERTYPE_IPV4
            },
        };
        eth.emit(&mut t.l2).map_err(|source| BuildError::Wire {
            index: s.index,
            source,
        })?;
        Ok(t)
    }

    fn inner(
        index: u32,
        src: IpAddr,
        dst: IpAddr,
        sport: u16,
        dport: u16,
        flow: u32,
    ) -> Result<Self, BuildError> {
        let wire = |source| BuildError::Wire { index, source };
        let mut inner = [0u8; 48];
        let (v6, ip_partial, pseudo) = match (src, dst) {
            (IpAddr::V4(s), IpAddr::V4(d)) => {
                Ipv4Repr {
                    src: s,
                    dst: d,
                    protocol: PROTO_UDP,
                    ttl: 64,
                    tos: 0,
                    ident: 0,
                    dont_frag: false,
                    more_frags: false,
                    frag_offset: 0,
                    header_len: 20,
                    total_len: 20,
                }
                .emit(&mut inner)
                .map_err(wire)?;
                inner[2..4].fill(0);
                inner[10..12].fill(0);
                (
                    false,
                    checksum::sum(&inner[..20], 0),
                    checksum::pseudo_v4(s, d, PROTO_UDP, 0),
                )
            }
            (IpAddr::V6(s), IpAddr::V6(d)) => {
                Ipv6Repr {
                    src: s,
                    dst: d,
                    next_header: PROTO_UDP,
                    hop_limit: 64,
                    traffic_class: 0,
                    flow_label: 0,
                    payload_len: 0,
                }
                .emit(&mut inner)
                .map_err(wire)?;
                (true, 0, checksum::pseudo_v6(&s, &d, PROTO_UDP, 0))
            }
            _ => return Err(wire(upf_wire::WireError::Malformed)),
        };
        let ihl = if v6 { 40 } else { 20 };
        inner[ihl..ihl + 2].copy_from_slice(&sport.to_be_bytes());
        inner[ihl + 2..ihl + 4].copy_from_slice(&dport.to_be_bytes());
        let udp_partial = pseudo + u32::from(sport) + u32::from(dport);
        Ok(FlowTemplate {
            l2: [0; 14],
            encap: None,
            inner,
            inner_v6: v6,
            ip_partial,
            udp_partial,
            flow,
        })
    }

    fn inner_hdr_len(&self) -> usize {
        if self.inner_v6 {
            48
        } else {
            28
        }
    }

    /// The smallest inner size this flow can carry (headers and stamp).
    pub fn min_size(&self) -> usize {
        self.inner_hdr_len() + stamp::LEN
    }

    /// Bytes before the inner packet (Ethernet, outer IP/UDP/GTP-U).
    pub fn outer_len(&self) -> usize {
        self.encap.as_ref().map_or(14, EncapTemplate::len)
    }

    /// Frame length for an inner packet of `size` bytes.
    pub fn frame_len(&self, size: usize) -> usize {
        self.outer_len() + size
    }

    /// Length of the frame's outermost IP packet (what the MTU limits).
    pub fn l3_len(&self, size: usize) -> usize {
        self.frame_len(size) - 14
    }

    /// True for an IPv6 inner packet.
    pub fn inner_v6(&self) -> bool {
        self.inner_v6
    }

    /// Writes the frame of packet `seq` with an inner packet of `size`
    /// bytes into `buf`; returns the frame length, or 0 when `buf` is too
    /// small or `size` below [`FlowTemplate::min_size`]. Whatever `buf`
    /// held before is overwritten (padding is zeroed).
    #[inline]
    pub fn write(&self, buf: &mut [u8], size: usize, seq: u64, tx_ns: u64, run: u32) -> usize {
        let off = self.outer_len();
        let hl = self.inner_hdr_len();
        if size < hl + stamp::LEN || buf.len() < off + size || size > 0xffff {
            return 0;
        }
        let ihl = hl - 8;
        let ident = seq as u16;
        {
            let b = &mut buf[off..off + size];
            b[..hl].copy_from_slice(&self.inner[..hl]);
            if self.inner_v6 {
                b[4..6].copy_from_slice(&((size - 40) as u16).to_be_bytes());
            } else {
                b[2..4].copy_from_slice(&(size as u16).to_be_bytes());
                b[4..6].copy_from_slice(&ident.to_be_bytes());
                let c = checksum::finish(self.ip_partial + size as u32 + u32::from(ident));
                b[10..12].copy_from_slice(&c.to_be_bytes());
            }
            let udp_len = (size - ihl) as u16;
            b[ihl + 4..ihl + 6].copy_from_slice(&udp_len.to_be_bytes());
            Stamp {
                run,
                flow: self.flow,
                size: size as u32,
                seq,
                tx_ns,
            }
            .write(&mut b[hl..]);
            b[hl + stamp::LEN..].fill(0);
            // Pseudo-header length + UDP length field + stamp; the padding
            // is zero and adds nothing.
            let acc = checksum::sum(
                &b[hl..hl + stamp::LEN],
                self.udp_partial + 2 * u32::from(udp_len),
            );
            let mut c = checksum::finish(acc);
            if c == 0 {
                c = 0xffff;
            }
            b[ihl + 6..ihl + 8].copy_from_slice(&c.to_be_bytes());
        }
        match &self.encap {
            Some(e) => {
                if e.write(&mut buf[..off + size], ident).is_err() {
                    return 0;
                }
            }
            None => buf[..14].copy_from_slice(&self.l2),
        }
        off + size
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use upf_smfsim::sessions::Seid;
    use upf_wire::fast::{parse_frame, parse_ip, FrameKind};
    use upf_wire::{ipv4, udp};

    pub(crate) fn session(i: u32) -> SessionEntry {
        SessionEntry {
            index: i,
            cp_seid: Seid(1),
            up_seid: Seid(2),
            ue_ipv4: Some(Ipv4Addr::new(198, 19, 0, 5)),
            ue_ipv6: Some("2001:db8:1900:5::1".parse().unwrap()),
            ue_ipv6_prefix_len: Some(64),
            upf_teid: 0x1001,
            upf_ipv4: Some(Ipv4Addr::new(198, 18, 3, 2)),
            upf_ipv6: Some("2001:db8:3::2".parse().unwrap()),
            gnb_teid: 0x2002,
            gnb_teid_alt: None,
            qfi: 9,
            churn: false,
        }
    }

    fn check_inner(inner: &[u8], size: usize, seq: u64, v6: bool) {
        assert_eq!(inner.len(), size);
        let ip = parse_ip(inner).unwrap();
        assert_eq!(ip.total_len, size);
        let l4 = &inner[ip.l4_offset..];
        match (ip.addrs.src_addr(), ip.addrs.dst_addr()) {
            (IpAddr::V4(s), IpAddr::V4(d)) => {
                assert!(!v6);
                assert_eq!(checksum::checksum(&inner[..20]), 0, "IPv4 header checksum");
                assert!(ipv4::Ipv4Repr::parse(inner, true).is_ok());
                assert!(udp::verify_v4(l4, s, d), "UDP checksum");
            }
            (IpAddr::V6(s), IpAddr::V6(d)) => {
                assert!(v6);
                assert!(udp::verify_v6(l4, &s, &d), "UDP checksum");
            }
            _ => panic!(),
        }
        let st = Stamp::read(&l4[8..]).unwrap();
        assert_eq!((st.seq, st.size as usize, st.run), (seq, size, 77));
        assert!(l4[8 + stamp::LEN..].iter().all(|&b| b == 0), "zero padding");
    }

    #[test]
    fn uplink_frames_parse_back_with_qfi_and_checksums() {
        for (family, gnb) in [
            (Family::V4, "198.18.3.1"),
            (Family::V6, "198.18.3.1"),
            (Family::V4, "2001:db8:3::1"),
        ] {
            let ep = Endpoints {
                family,
                gnb_ip: gnb.parse().unwrap(),
                ..Endpoints::default()
            };
            let t = FlowTemplate::uplink(&session(3), 3, &ep).unwrap();
            assert_eq!(t.flow, 6);
            // A dirty buffer: the template must not depend on its content.
            let mut buf = vec![0xa5u8; 2048];
            let small = t.min_size().max(64);
            for (seq, size) in [(0u64, small), (1, 576), (70_000, 1400), (3, t.min_size())] {
                let n = t.write(&mut buf, size, seq, 1, 77);
                assert_eq!(n, t.frame_len(size));
                let f = parse_frame(&buf[..n]).unwrap();
                assert_eq!(f.eth.dst, ep.n3_peer_mac);
                let FrameKind::Gtpu(g) = f.kind else {
                    panic!("{:?}", f.kind)
                };
                assert_eq!(g.header.teid, 0x1001);
                assert_eq!(g.header.msg_type, 255);
                assert_eq!(
                    g.header.ext.pdu_session,
                    Some(PduSessionInfo::Uplink { qfi: 9 })
                );
                assert_eq!(
                    g.outer.addrs.dst_addr(),
                    if gnb.contains(':') {
                        "2001:db8:3::2".parse::<IpAddr>().unwrap()
                    } else {
                        "198.18.3.2".parse::<IpAddr>().unwrap()
                    }
                );
                if !gnb.contains(':') {
                    assert_eq!(checksum::checksum(&buf[14..34]), 0, "outer IPv4 checksum");
                }
                let inner = &buf[g.inner_offset..g.inner_offset + g.inner_len];
                check_inner(inner, size, seq, family == Family::V6);
                let ip = parse_ip(inner).unwrap();
                assert_eq!(ip.addrs.src_addr(), ue_addr(&session(3), family).unwrap());
                assert_eq!((ip.src_port, ip.dst_port), (10003, 9000));
            }
            assert_eq!(t.write(&mut buf, t.min_size() - 1, 0, 0, 0), 0);
            assert_eq!(t.write(&mut buf[..100], 576, 0, 0, 0), 0);
        }
    }

    #[test]
    fn downlink_frames_parse_back() {
        for family in [Family::V4, Family::V6] {
            let ep = Endpoints {
                family,
                ..Endpoints::default()
            };
            let t = FlowTemplate::downlink(&session(8), 1, &ep).unwrap();
            assert_eq!(t.flow, 3);
            let mut buf = vec![0xffu8; 1600];
            let n = t.write(&mut buf, 100, 5, 9, 77);
            assert_eq!(n, 114);
            let f = parse_frame(&buf[..n]).unwrap();
            assert_eq!((f.eth.src, f.eth.dst), (ep.n6_mac, ep.n6_peer_mac));
            let FrameKind::Ip(ip) = f.kind else { panic!() };
            assert_eq!(ip.addrs.dst_addr(), ue_addr(&session(8), family).unwrap());
            assert_eq!((ip.src_port, ip.dst_port), (9000, 10008));
            check_inner(&buf[14..n], 100, 5, family == Family::V6);
        }
    }

    #[test]
    fn missing_addresses_are_errors() {
        let mut s = session(1);
        s.upf_ipv4 = None;
        let e = FlowTemplate::uplink(&s, 0, &Endpoints::default()).unwrap_err();
        assert_eq!(e.to_string(), "session 1: no UPF N3 IPv4 address");
        let mut s = session(1);
        s.ue_ipv6 = None;
        let ep = Endpoints {
            family: Family::V6,
            ..Endpoints::default()
        };
        assert!(FlowTemplate::downlink(&s, 0, &ep).is_err());
        assert_eq!(split_flow(flow_id(12, Dir::Dl)), (12, Dir::Dl));
        assert_eq!(split_flow(flow_id(12, Dir::Ul)), (12, Dir::Ul));
    }
}
