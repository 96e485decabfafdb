//! SDF filters compiled for matching.
//!
//! A flow description names `from` and `to` as seen for downlink ("out");
//! compilation stores every filter in that *downlink orientation* once
//! (`remote` = the `from` of an "out" rule, `ue` = its `to`; an "in" rule
//! is turned round). A downlink packet is matched as it is, an uplink one
//! with its source and destination exchanged, so the uplink and downlink
//! PDRs of a QoS flow can share one compiled filter list.
//!
//! The common case — IPv4 prefixes or `any`/`assigned`, one port range
//! per side — lives inline in 40 bytes; IPv6 prefixes, extra port ranges,
//! SPI and flow label live in a boxed extension only the filters that use
//! them pay for. [`upf_rules::FlowDescription::matches`] is the reference
//! the matcher is tested against (see the tests below).

use upf_rules::flow::{AddrMatch, FlowDirection, PortRange};
use upf_rules::prefix::{mask128, mask32};
use upf_rules::SdfFilter;
use upf_wire::fast::{IpInfo, IpPair};

/// UE addresses for `assigned` and the UE address checks (24 bytes).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct UeAddrs {
    v6_net: [u64; 2],
    v4: u32,
    v6_len: u8,
    has_v4: bool,
    has_v6: bool,
}

impl UeAddrs {
    /// Addresses from an IPv4 address and an IPv6 prefix (network, length).
    pub fn new(v4: Option<u32>, v6: Option<(u128, u8)>) -> UeAddrs {
        let mut u = UeAddrs::default();
        if let Some(a) = v4 {
            u.set_v4(a);
        }
        if let Some((net, len)) = v6 {
            u.set_v6(net, len);
        }
        u
    }

    /// Sets the IPv4 address.
    pub fn set_v4(&mut self, a: u32) {
        self.v4 = a;
        self.has_v4 = true;
    }

    /// Sets the IPv6 prefix.
    pub fn set_v6(&mut self, net: u128, len: u8) {
        let len = len.min(128);
        let net = net & mask128(len);
        self.v6_net = [(net >> 64) as u64, net as u64];
        self.v6_len = len;
        self.has_v6 = true;
    }

    /// The UE IPv4 address.
    #[inline(always)]
    pub fn v4(&self) -> Option<u32> {
        self.has_v4.then_some(self.v4)
    }

    /// The UE IPv6 network and mask.
    #[inline(always)]
    pub fn v6(&self) -> Option<(u128, u128)> {
        self.has_v6.then(|| {
            (
                (u128::from(self.v6_net[0]) << 64) | u128::from(self.v6_net[1]),
                mask128(self.v6_len),
            )
        })
    }

    /// The UE IPv6 prefix length.
    pub fn v6_len(&self) -> Option<u8> {
        self.has_v6.then_some(self.v6_len)
    }

    #[inline(always)]
    fn assigned4(&self, ip: u32) -> bool {
        if self.has_v4 {
            self.v4 == ip
        } else {
            !self.has_v6
        }
    }

    #[inline(always)]
    fn assigned6(&self, ip: u128) -> bool {
        match self.v6() {
            Some((net, mask)) => ip & mask == net,
            None => !self.has_v4,
        }
    }
}

// Flags of a compiled filter.
const PROTO: u16 = 1 << 0;
const TOS: u16 = 1 << 1;
const BIDIR: u16 = 1 << 2;
const EXT: u16 = 1 << 3;
// Per side (shifted by SIDE_SHIFT for the UE side): what the address is.
const ASSIGNED: u16 = 1 << 4;
const V4: u16 = 1 << 5;
const V6: u16 = 1 << 6;
const NEG: u16 = 1 << 7;
const PORTS: u16 = 1 << 8;
const SIDE_SHIFT: u16 = 5;
/// Set when IPv4 packets need the general matcher (negation, IPv6
/// prefixes, `assigned` not resolved at compile time, ToS, SPI, flow
/// label, several port ranges, bidirectional).
const GENERAL4: u16 = 1 << 14;
/// Set when no IPv4 packet can match (an IPv6 prefix, or `assigned` for
/// a UE without IPv4 address).
const NEVER4: u16 = 1 << 15;

/// The parts of a filter the inline form has no room for (kept in a list
/// beside the filters; the filter names its entry).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FilterExt {
    /// IPv6 prefixes (network, mask) of the remote and UE sides.
    remote6: (u128, u128),
    ue6: (u128, u128),
    /// Port ranges beyond the first, per side.
    remote_ports: Box<[PortRange]>,
    ue_ports: Box<[PortRange]>,
    spi: Option<u32>,
    flow_label: Option<u32>,
}

/// No extension.
const NO_EXT: u8 = u8::MAX;

/// One compiled SDF filter (downlink orientation), 32 bytes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct CFilter {
    remote4: (u32, u32),
    ue4: (u32, u32),
    remote_port: PortRange,
    ue_port: PortRange,
    flags: u16,
    proto: u8,
    tos: u8,
    tos_mask: u8,
    ext: u8,
}

/// A filter needs an extension and its list is full (255 entries).
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
#[error("more than 254 SDF filters with IPv6 prefixes, port lists, SPI or flow label")]
pub struct TooManyExtensions;

/// What [`CFilter::compile`] records about one side's address.
struct Side {
    flags: u16,
    v4: (u32, u32),
    v6: (u128, u128),
}

fn side<'a>(a: &AddrMatch, ports: &'a [PortRange]) -> (Side, Option<PortRange>, &'a [PortRange]) {
    let mut s = Side {
        flags: 0,
        v4: (0, 0),
        v6: (0, 0),
    };
    let prefix = match a {
        AddrMatch::Any => None,
        AddrMatch::Assigned => {
            s.flags |= ASSIGNED;
            None
        }
        AddrMatch::Prefix(p) => Some(p),
        AddrMatch::NotPrefix(p) => {
            s.flags |= NEG;
            Some(p)
        }
    };
    if let Some(p) = prefix {
        if let Some((net, _)) = p.v4_net() {
            s.flags |= V4;
            s.v4 = (net, mask32(p.len));
        } else if let Some((net, _)) = p.v6_net() {
            s.flags |= V6;
            s.v6 = (net, mask128(p.len));
        }
    }
    let first = ports.first().copied();
    if first.is_some() {
        s.flags |= PORTS;
    }
    (s, first, ports.get(1..).unwrap_or(&[]))
}

impl CFilter {
    /// Compiles `f` into downlink orientation. With the session's UE
    /// addresses known, `assigned` is resolved for IPv4 at compile time.
    pub fn compile_for(
        f: &SdfFilter,
        ue: &UeAddrs,
        exts: &mut Vec<FilterExt>,
    ) -> Result<CFilter, TooManyExtensions> {
        let mut c = Self::compile(f, exts)?;
        let resolve = |flags: u16, shift: u16, net: &mut (u32, u32)| -> u16 {
            if (flags >> shift) & ASSIGNED == 0 {
                return 0;
            }
            match (ue.v4(), ue.v6()) {
                (Some(a), _) => {
                    *net = (a, u32::MAX);
                    0
                }
                (None, Some(_)) => NEVER4,
                (None, None) => {
                    *net = (0, 0);
                    0
                }
            }
        };
        let never = resolve(c.flags, 0, &mut c.remote4) | resolve(c.flags, SIDE_SHIFT, &mut c.ue4);
        c.flags |= never;
        c.flags &= !GENERAL4;
        c.flags |= general4(
            c.flags & !(ASSIGNED | (ASSIGNED << SIDE_SHIFT)),
            c.ext != NO_EXT,
        );
        Ok(c)
    }

    /// Compiles `f` into downlink orientation; its extension, if it needs
    /// one, is appended to `exts`.
    pub fn compile(f: &SdfFilter, exts: &mut Vec<FilterExt>) -> Result<CFilter, TooManyExtensions> {
        let any = AddrMatch::Any;
        let (remote, rports, ue, uports, proto) = match &f.flow {
            Some(fd) => match fd.direction {
                FlowDirection::Out => (
                    &fd.src,
                    &fd.src_ports[..],
                    &fd.dst,
                    &fd.dst_ports[..],
                    fd.protocol,
                ),
                FlowDirection::In => (
                    &fd.dst,
                    &fd.dst_ports[..],
                    &fd.src,
                    &fd.src_ports[..],
                    fd.protocol,
                ),
            },
            None => (&any, &[][..], &any, &[][..], None),
        };
        let (r, r_first, r_more) = side(remote, rports);
        let (u, u_first, u_more) = side(ue, uports);
        let mut flags = r.flags | (u.flags << SIDE_SHIFT);
        if proto.is_some() {
            flags |= PROTO;
        }
        if f.tos_tc.is_some() {
            flags |= TOS;
        }
        if f.bidirectional {
            flags |= BIDIR;
        }
        let needs_ext = (r.flags | u.flags) & V6 != 0
            || !r_more.is_empty()
            || !u_more.is_empty()
            || f.spi.is_some()
            || f.flow_label.is_some();
        let mut ext = NO_EXT;
        if needs_ext {
            if exts.len() >= usize::from(NO_EXT) {
                return Err(TooManyExtensions);
            }
            flags |= EXT;
            ext = exts.len() as u8;
            exts.push(FilterExt {
                remote6: r.v6,
                ue6: u.v6,
                remote_ports: r_more.into(),
                ue_ports: u_more.into(),
                spi: f.spi,
                flow_label: f.flow_label,
            });
        }
        let (tos, tos_mask) = f.tos_tc.unwrap_or((0, 0));
        let full = PortRange { lo: 0, hi: 65535 };
        flags |= general4(flags, needs_ext);
        if (r.flags | u.flags) & V6 != 0 {
            flags |= NEVER4;
        }
        Ok(CFilter {
            remote4: r.v4,
            ue4: u.v4,
            remote_port: r_first.unwrap_or(full),
            ue_port: u_first.unwrap_or(full),
            flags,
            proto: proto.unwrap_or(0),
            tos,
            tos_mask,
            ext,
        })
    }

    /// The filter as one cell of a compiled session.
    pub fn encode(&self) -> [u64; 4] {
        let p = |a: u16, b: u16| u64::from(a) | (u64::from(b) << 16);
        [
            u64::from(self.remote4.0) | (u64::from(self.remote4.1) << 32),
            u64::from(self.ue4.0) | (u64::from(self.ue4.1) << 32),
            p(self.remote_port.lo, self.remote_port.hi)
                | (p(self.ue_port.lo, self.ue_port.hi) << 32),
            u64::from(self.flags)
                | (u64::from(self.proto) << 16)
                | (u64::from(self.tos) << 24)
                | (u64::from(self.tos_mask) << 32)
                | (u64::from(self.ext) << 40),
        ]
    }

    /// The filter from its cell.
    #[inline(always)]
    pub fn decode(c: &[u64; 4]) -> CFilter {
        let range = |w: u64| PortRange {
            lo: w as u16,
            hi: (w >> 16) as u16,
        };
        CFilter {
            remote4: (c[0] as u32, (c[0] >> 32) as u32),
            ue4: (c[1] as u32, (c[1] >> 32) as u32),
            remote_port: range(c[2]),
            ue_port: range(c[2] >> 32),
            flags: c[3] as u16,
            proto: (c[3] >> 16) as u8,
            tos: (c[3] >> 24) as u8,
            tos_mask: (c[3] >> 32) as u8,
            ext: (c[3] >> 40) as u8,
        }
    }

    /// The IPv4 fast check: remote and UE side addresses and ports already
    /// oriented. `None` when this filter needs [`CFilter::matches`].
    #[inline(always)]
    pub fn matches4(
        &self,
        remote: u32,
        ue: u32,
        rp: u16,
        up: u16,
        proto: u8,
        has_ports: bool,
    ) -> Option<bool> {
        if self.flags & (GENERAL4 | NEVER4) != 0 {
            return if self.flags & GENERAL4 == 0 {
                Some(false)
            } else {
                None
            };
        }
        let proto_ok = self.flags & PROTO == 0 || self.proto == proto;
        let ports_ok = (self.flags & (PORTS | (PORTS << SIDE_SHIFT)) == 0 || has_ports)
            & (self.remote_port.lo <= rp)
            & (rp <= self.remote_port.hi)
            & (self.ue_port.lo <= up)
            & (up <= self.ue_port.hi);
        Some(
            proto_ok
                & (remote & self.remote4.1 == self.remote4.0)
                & (ue & self.ue4.1 == self.ue4.0)
                & ports_ok,
        )
    }

    /// True if the packet matches. `uplink` says the packet travels from
    /// the UE (its source is the UE side).
    /// `exts` is the extension list the filter was compiled with.
    #[inline]
    pub fn matches(&self, p: &IpInfo, ue: &UeAddrs, uplink: bool, exts: &[FilterExt]) -> bool {
        let f = self.flags;
        let ext = exts.get(usize::from(self.ext));
        if f & PROTO != 0 && self.proto != p.protocol {
            return false;
        }
        if f & TOS != 0 && p.tos & self.tos_mask != self.tos & self.tos_mask {
            return false;
        }
        if f & EXT != 0 && !Self::ext_fields(ext, p) {
            return false;
        }
        self.oriented(p, ue, uplink, ext) || (f & BIDIR != 0 && self.oriented(p, ue, !uplink, ext))
    }

    #[cold]
    fn ext_fields(ext: Option<&FilterExt>, p: &IpInfo) -> bool {
        let Some(x) = ext else {
            return true;
        };
        if x.spi.is_some_and(|s| s != p.spi) {
            return false;
        }
        if let Some(fl) = x.flow_label {
            if p.addrs.is_v4() || p.flow_label != fl & 0xfffff {
                return false;
            }
        }
        true
    }

    #[inline(always)]
    fn oriented(&self, p: &IpInfo, ue: &UeAddrs, uplink: bool, ext: Option<&FilterExt>) -> bool {
        let (rp, up) = if uplink {
            (p.dst_port, p.src_port)
        } else {
            (p.src_port, p.dst_port)
        };
        let f = self.flags;
        let addrs = match p.addrs {
            IpPair::V4 { src, dst } => {
                let (r, u) = if uplink { (dst, src) } else { (src, dst) };
                addr4(f, self.remote4, r, ue) && addr4(f >> SIDE_SHIFT, self.ue4, u, ue)
            }
            IpPair::V6 { src, dst } => {
                let (r, u) = if uplink { (dst, src) } else { (src, dst) };
                let (r6, u6) = ext.map_or(((0, 0), (0, 0)), |x| (x.remote6, x.ue6));
                addr6(f, r6, r, ue) && addr6(f >> SIDE_SHIFT, u6, u, ue)
            }
        };
        addrs
            && Self::port_ok(
                f,
                self.remote_port,
                rp,
                p.has_ports,
                ext.map(|x| &x.remote_ports[..]),
            )
            && Self::port_ok(
                f >> SIDE_SHIFT,
                self.ue_port,
                up,
                p.has_ports,
                ext.map(|x| &x.ue_ports[..]),
            )
    }

    #[inline(always)]
    fn port_ok(
        side: u16,
        first: PortRange,
        port: u16,
        present: bool,
        more: Option<&[PortRange]>,
    ) -> bool {
        if side & PORTS == 0 {
            return true;
        }
        if !present {
            return false;
        }
        if first.lo <= port && port <= first.hi {
            return true;
        }
        more.is_some_and(|m| m.iter().any(|r| r.contains(port)))
    }
}

impl FilterExt {
    /// Heap bytes used (memory accounting).
    pub fn heap_bytes(&self) -> usize {
        std::mem::size_of::<FilterExt>()
            + (self.remote_ports.len() + self.ue_ports.len()) * std::mem::size_of::<PortRange>()
    }
}

/// The [`GENERAL4`] bit for a filter with these flags.
fn general4(flags: u16, ext: bool) -> u16 {
    let slow = TOS | BIDIR | EXT | ASSIGNED | NEG | V6 | ((ASSIGNED | NEG | V6) << SIDE_SHIFT);
    if flags & slow != 0 || ext {
        GENERAL4
    } else {
        0
    }
}

/// One side's IPv4 address check; `side` holds that side's flags in the
/// low bits.
#[inline(always)]
fn addr4(side: u16, (net, mask): (u32, u32), ip: u32, ue: &UeAddrs) -> bool {
    if side & ASSIGNED != 0 {
        return ue.assigned4(ip);
    }
    if side & V6 != 0 {
        return false;
    }
    if side & V4 == 0 {
        return true;
    }
    (ip & mask == net) != (side & NEG != 0)
}

#[inline(always)]
fn addr6(side: u16, (net, mask): (u128, u128), ip: u128, ue: &UeAddrs) -> bool {
    if side & ASSIGNED != 0 {
        return ue.assigned6(ip);
    }
    if side & V4 != 0 {
        return false;
    }
    if side & V6 == 0 {
        return true;
    }
    (ip & mask == net) != (side & NEG != 0)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use std::net::IpAddr;
    use upf_rules::flow::{FlowDescription, FlowTuple};
    use upf_rules::IpPrefix;

    fn info(t: &FlowTuple, tos: u8, spi: u32, flow_label: u32) -> IpInfo {
        let addrs = match (t.src, t.dst) {
            (IpAddr::V4(s), IpAddr::V4(d)) => IpPair::V4 {
                src: s.into(),
                dst: d.into(),
            },
            (IpAddr::V6(s), IpAddr::V6(d)) => IpPair::V6 {
                src: s.into(),
                dst: d.into(),
            },
            _ => unreachable!("one family per packet"),
        };
        IpInfo {
            addrs,
            protocol: t.protocol,
            tos,
            flow_label,
            ttl: 64,
            l4_offset: 20,
            total_len: 100,
            src_port: t.src_port.unwrap_or(0),
            dst_port: t.dst_port.unwrap_or(0),
            has_ports: t.src_port.is_some(),
            spi,
            fragment: false,
        }
    }

    fn ue_addrs(ue: &[IpPrefix]) -> UeAddrs {
        let mut u = UeAddrs::default();
        for p in ue {
            if let Some((n, m)) = p.v4_net() {
                u.set_v4(n & m);
            }
            if let Some((n, _)) = p.v6_net() {
                u.set_v6(n, p.len);
            }
        }
        u
    }

    /// Compiles and checks the cell round trip on the way.
    fn comp(f: &SdfFilter, exts: &mut Vec<FilterExt>) -> CFilter {
        let c = CFilter::compile(f, exts).unwrap();
        assert_eq!(CFilter::decode(&c.encode()), c);
        c
    }

    fn filter(fd: FlowDescription) -> SdfFilter {
        SdfFilter {
            flow: Some(fd),
            ..Default::default()
        }
    }

    // A small address space so that prefixes, the UE and packets collide often.
    fn arb_v4() -> impl Strategy<Value = IpAddr> {
        (0u32..4, 0u32..4).prop_map(|(a, b)| IpAddr::V4(((10 << 24) | (a << 8) | b).into()))
    }

    fn arb_v6() -> impl Strategy<Value = IpAddr> {
        (0u128..4, 0u128..4)
            .prop_map(|(a, b)| IpAddr::V6(((0x2001_0db8u128 << 96) | (a << 64) | b).into()))
    }

    fn arb_prefix(v6: bool) -> BoxedStrategy<IpPrefix> {
        if v6 {
            (
                arb_v6(),
                prop_oneof![Just(128u8), Just(64), Just(126), Just(0)],
            )
                .prop_map(|(a, l)| IpPrefix::new(a, l).unwrap())
                .boxed()
        } else {
            (
                arb_v4(),
                prop_oneof![Just(32u8), Just(24), Just(30), Just(0)],
            )
                .prop_map(|(a, l)| IpPrefix::new(a, l).unwrap())
                .boxed()
        }
    }

    fn arb_addr(v6: bool) -> BoxedStrategy<AddrMatch> {
        prop_oneof![
            Just(AddrMatch::Any),
            Just(AddrMatch::Assigned),
            arb_prefix(v6).prop_map(AddrMatch::Prefix),
            arb_prefix(v6).prop_map(AddrMatch::NotPrefix),
        ]
        .boxed()
    }

    fn arb_ports() -> impl Strategy<Value = Vec<PortRange>> {
        proptest::collection::vec(
            (0u16..8, 0u16..8).prop_map(|(a, b)| PortRange {
                lo: a.min(b),
                hi: a.max(b),
            }),
            0..3,
        )
    }

    fn arb_flow() -> impl Strategy<Value = FlowDescription> {
        (
            any::<bool>(),
            proptest::option::of(prop_oneof![Just(6u8), Just(17)]),
            any::<bool>(),
            any::<bool>(),
        )
            .prop_flat_map(|(out, protocol, v6a, v6b)| {
                (arb_addr(v6a), arb_ports(), arb_addr(v6b), arb_ports()).prop_map(
                    move |(src, src_ports, dst, dst_ports)| FlowDescription {
                        permit: true,
                        direction: if out {
                            FlowDirection::Out
                        } else {
                            FlowDirection::In
                        },
                        protocol,
                        src,
                        src_ports,
                        dst,
                        dst_ports,
                    },
                )
            })
    }

    fn arb_tuple() -> impl Strategy<Value = FlowTuple> {
        (
            any::<bool>(),
            prop_oneof![Just(6u8), Just(17), Just(1)],
            proptest::option::of((0u16..8, 0u16..8)),
        )
            .prop_flat_map(|(v6, protocol, ports)| {
                let a = if v6 {
                    arb_v6().boxed()
                } else {
                    arb_v4().boxed()
                };
                (a.clone(), a).prop_map(move |(src, dst)| FlowTuple {
                    src,
                    dst,
                    protocol,
                    src_port: ports.map(|p| p.0),
                    dst_port: ports.map(|p| p.1),
                })
            })
    }

    fn arb_ue() -> impl Strategy<Value = Vec<IpPrefix>> {
        (
            proptest::option::of(arb_v4()),
            proptest::option::of(arb_v6()),
        )
            .prop_map(|(a, b)| {
                let mut v = Vec::new();
                if let Some(a) = a {
                    v.push(IpPrefix::host(a));
                }
                if let Some(b) = b {
                    v.push(IpPrefix::new(b, 64).unwrap());
                }
                v
            })
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(4000))]
        /// The compiled matcher agrees with the reference matcher of
        /// upf-rules for every rule, packet, direction and UE.
        #[test]
        fn agrees_with_the_reference(fd in arb_flow(), t in arb_tuple(), ue in arb_ue(), uplink in any::<bool>()) {
            let want = fd.matches(&t, uplink, &ue);
            let mut x = Vec::new();
            let c = comp(&filter(fd), &mut x);
            prop_assert_eq!(c.matches(&info(&t, 0, 0, 0), &ue_addrs(&ue), uplink, &x), want);
        }

        /// The IPv4 fast check, where it answers, agrees with the reference.
        #[test]
        fn fast_ipv4_check_agrees(fd in arb_flow(), t in arb_tuple(), ue in arb_ue(), uplink in any::<bool>()) {
            let want = fd.matches(&t, uplink, &ue);
            let ua = ue_addrs(&ue);
            let mut x = Vec::new();
            let c = CFilter::compile_for(&filter(fd), &ua, &mut x).unwrap();
            let p = info(&t, 0, 0, 0);
            if let IpPair::V4 { src, dst } = p.addrs {
                let (r, u, rp, up) = if uplink {
                    (dst, src, p.dst_port, p.src_port)
                } else {
                    (src, dst, p.src_port, p.dst_port)
                };
                if let Some(got) = c.matches4(r, u, rp, up, p.protocol, p.has_ports) {
                    prop_assert_eq!(got, want);
                }
            }
            prop_assert_eq!(c.matches(&p, &ua, uplink, &x), want);
        }

        /// A bidirectional filter matches a packet or its reverse.
        #[test]
        fn bidirectional_matches_either_way(fd in arb_flow(), t in arb_tuple(), ue in arb_ue(), uplink in any::<bool>()) {
            let rev = FlowTuple { src: t.dst, dst: t.src, src_port: t.dst_port, dst_port: t.src_port, ..t };
            let want = fd.matches(&t, uplink, &ue) || fd.matches(&rev, uplink, &ue);
            let mut x = Vec::new();
            let c = comp(&SdfFilter { bidirectional: true, ..filter(fd) }, &mut x);
            prop_assert_eq!(c.matches(&info(&t, 0, 0, 0), &ue_addrs(&ue), uplink, &x), want);
        }
    }

    fn tuple(v6: bool, protocol: u8) -> FlowTuple {
        let (src, dst): (IpAddr, IpAddr) = if v6 {
            (
                "2001:db8::1".parse().unwrap(),
                "2001:db8::2".parse().unwrap(),
            )
        } else {
            ("10.0.0.1".parse().unwrap(), "10.0.0.2".parse().unwrap())
        };
        FlowTuple {
            src,
            dst,
            protocol,
            src_port: Some(1),
            dst_port: Some(2),
        }
    }

    #[test]
    fn tos_with_mask() {
        // DSCP 46 (EF) in the upper six bits; the ECN bits are masked off.
        let mut x = Vec::new();
        let c = comp(
            &SdfFilter {
                tos_tc: Some((0xb8, 0xfc)),
                ..Default::default()
            },
            &mut x,
        );
        let ue = UeAddrs::default();
        for v6 in [false, true] {
            let t = tuple(v6, 17);
            assert!(c.matches(&info(&t, 0xb8, 0, 0), &ue, true, &x));
            assert!(
                c.matches(&info(&t, 0xbb, 0, 0), &ue, false, &x),
                "ECN ignored"
            );
            assert!(!c.matches(&info(&t, 0x28, 0, 0), &ue, true, &x));
        }
    }

    #[test]
    fn security_parameter_index() {
        let mut x = Vec::new();
        let c = comp(
            &SdfFilter {
                flow: Some("permit out 50 from any to assigned".parse().unwrap()),
                spi: Some(0x1234),
                ..Default::default()
            },
            &mut x,
        );
        let ue = UeAddrs::default();
        let t = tuple(false, 50);
        assert!(c.matches(&info(&t, 0, 0x1234, 0), &ue, false, &x));
        assert!(!c.matches(&info(&t, 0, 0x1235, 0), &ue, false, &x));
        assert!(!c.matches(&info(&tuple(false, 17), 0, 0x1234, 0), &ue, false, &x));
    }

    #[test]
    fn flow_label_only_on_ipv6() {
        let mut x = Vec::new();
        let c = comp(
            &SdfFilter {
                flow_label: Some(0xabcde),
                ..Default::default()
            },
            &mut x,
        );
        let ue = UeAddrs::default();
        assert!(c.matches(&info(&tuple(true, 6), 0, 0, 0xabcde), &ue, true, &x));
        assert!(!c.matches(&info(&tuple(true, 6), 0, 0, 0xabcdf), &ue, true, &x));
        assert!(!c.matches(&info(&tuple(false, 6), 0, 0, 0xabcde), &ue, true, &x));
    }

    #[test]
    fn inline_form_is_small() {
        assert_eq!(std::mem::size_of::<CFilter>(), 32);
        let mut x = Vec::new();
        comp(
            &filter(
                "permit out 17 from 198.51.100.0/24 5000-5999 to assigned"
                    .parse()
                    .unwrap(),
            ),
            &mut x,
        );
        assert!(x.is_empty(), "an IPv4 filter needs no extension");
    }
}
