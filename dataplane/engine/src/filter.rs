//! SDF filters compiled for matching in packet orientation.
//!
//! A flow description names `from` and `to` as seen for downlink ("out");
//! compilation maps them onto the packet's source and destination for the
//! PDR's direction once, so matching is a handful of integer compares.

use upf_rules::flow::{AddrMatch, FlowDirection, PortRange};
use upf_rules::prefix::{mask128, mask32};
use upf_rules::SdfFilter;
use upf_wire::fast::{IpInfo, IpPair};

/// A compiled address selector.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Addr {
    /// Any address.
    Any,
    /// The session's UE address(es).
    Assigned,
    /// IPv4 network (address, mask), negated or not.
    V4 {
        /// Masked address.
        net: u32,
        /// Mask.
        mask: u32,
        /// Match outside the prefix.
        neg: bool,
    },
    /// IPv6 network.
    V6 {
        /// Masked address.
        net: u128,
        /// Mask.
        mask: u128,
        /// Match outside the prefix.
        neg: bool,
    },
}

impl Addr {
    fn from_rule(a: &AddrMatch) -> Addr {
        let (p, neg) = match a {
            AddrMatch::Any => return Addr::Any,
            AddrMatch::Assigned => return Addr::Assigned,
            AddrMatch::Prefix(p) => (p, false),
            AddrMatch::NotPrefix(p) => (p, true),
        };
        if let Some((net, _)) = p.v4_net() {
            Addr::V4 {
                net,
                mask: mask32(p.len),
                neg,
            }
        } else if let Some((net, _)) = p.v6_net() {
            Addr::V6 {
                net,
                mask: mask128(p.len),
                neg,
            }
        } else {
            Addr::Any
        }
    }
}

/// UE addresses for `assigned`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct UeAddrs {
    /// UE IPv4.
    pub v4: Option<u32>,
    /// UE IPv6 network and mask.
    pub v6: Option<(u128, u128)>,
}

#[inline(always)]
fn addr_match4(a: &Addr, ip: u32, ue: &UeAddrs) -> bool {
    match *a {
        Addr::Any => true,
        Addr::Assigned => ue.v4.is_none_or(|u| u == ip) && (ue.v4.is_some() || ue.v6.is_none()),
        Addr::V4 { net, mask, neg } => (ip & mask == net) != neg,
        Addr::V6 { .. } => false,
    }
}

#[inline(always)]
fn addr_match6(a: &Addr, ip: u128, ue: &UeAddrs) -> bool {
    match *a {
        Addr::Any => true,
        Addr::Assigned => match ue.v6 {
            Some((net, mask)) => ip & mask == net,
            None => ue.v4.is_none(),
        },
        Addr::V6 { net, mask, neg } => (ip & mask == net) != neg,
        Addr::V4 { .. } => false,
    }
}

#[inline(always)]
fn ports_match(r: &[PortRange], present: bool, p: u16) -> bool {
    r.is_empty() || (present && r.iter().any(|x| x.lo <= p && p <= x.hi))
}

/// One compiled SDF filter.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CFilter {
    proto: Option<u8>,
    src: Addr,
    dst: Addr,
    src_ports: Box<[PortRange]>,
    dst_ports: Box<[PortRange]>,
    tos: Option<(u8, u8)>,
    spi: Option<u32>,
    flow_label: Option<u32>,
    bidirectional: bool,
}

impl CFilter {
    /// Compiles `f` for a PDR whose packets travel uplink (`uplink`) or downlink.
    pub fn compile(f: &SdfFilter, uplink: bool) -> CFilter {
        let (proto, src, dst, sp, dp) = match &f.flow {
            Some(fd) => {
                // "out" is written for downlink: swap for uplink; "in" the other way.
                let swap = match fd.direction {
                    FlowDirection::Out => uplink,
                    FlowDirection::In => !uplink,
                };
                let (from, fp, to, tp) = (&fd.src, &fd.src_ports, &fd.dst, &fd.dst_ports);
                if swap {
                    (
                        fd.protocol,
                        Addr::from_rule(to),
                        Addr::from_rule(from),
                        tp.clone(),
                        fp.clone(),
                    )
                } else {
                    (
                        fd.protocol,
                        Addr::from_rule(from),
                        Addr::from_rule(to),
                        fp.clone(),
                        tp.clone(),
                    )
                }
            }
            None => (None, Addr::Any, Addr::Any, Vec::new(), Vec::new()),
        };
        CFilter {
            proto,
            src,
            dst,
            src_ports: sp.into_boxed_slice(),
            dst_ports: dp.into_boxed_slice(),
            tos: f.tos_tc,
            spi: f.spi,
            flow_label: f.flow_label,
            bidirectional: f.bidirectional,
        }
    }

    #[inline]
    fn match_oriented(&self, p: &IpInfo, ue: &UeAddrs, swapped: bool) -> bool {
        let (sp, dp) = if swapped {
            (p.dst_port, p.src_port)
        } else {
            (p.src_port, p.dst_port)
        };
        let addrs_ok = match p.addrs {
            IpPair::V4 { src, dst } => {
                let (s, d) = if swapped { (dst, src) } else { (src, dst) };
                addr_match4(&self.src, s, ue) && addr_match4(&self.dst, d, ue)
            }
            IpPair::V6 { src, dst } => {
                let (s, d) = if swapped { (dst, src) } else { (src, dst) };
                addr_match6(&self.src, s, ue) && addr_match6(&self.dst, d, ue)
            }
        };
        addrs_ok
            && ports_match(&self.src_ports, p.has_ports, sp)
            && ports_match(&self.dst_ports, p.has_ports, dp)
    }

    /// True if the packet matches.
    #[inline]
    pub fn matches(&self, p: &IpInfo, ue: &UeAddrs) -> bool {
        if let Some(pr) = self.proto {
            if pr != p.protocol {
                return false;
            }
        }
        if let Some((v, m)) = self.tos {
            if p.tos & m != v & m {
                return false;
            }
        }
        if let Some(s) = self.spi {
            if p.spi != s {
                return false;
            }
        }
        if let Some(fl) = self.flow_label {
            if p.addrs.is_v4() || p.flow_label != fl & 0xfffff {
                return false;
            }
        }
        self.match_oriented(p, ue, false)
            || (self.bidirectional && self.match_oriented(p, ue, true))
    }

    /// Heap bytes used (memory accounting).
    pub fn heap_bytes(&self) -> usize {
        (self.src_ports.len() + self.dst_ports.len()) * std::mem::size_of::<PortRange>()
    }
}
