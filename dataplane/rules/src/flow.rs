//! IPFilterRule flow descriptions as TS 29.244 (8.2.5) carries them and
//! TS 29.212 (5.4.2) restricts them: RFC 6733 section 4.3 syntax
//! `action dir proto from src [ports] to dst [ports]`.
//!
//! Direction semantics (TS 29.212 5.4.2, TS 29.244 5.2.1A.2A): a filter is
//! written as seen for downlink — `permit out ... from <remote> to <UE>`.
//! "out" filters therefore match downlink packets as written and uplink
//! packets with source and destination swapped; "in" filters the other way
//! round. [`FlowDescription::matches`] implements that, and is the reference
//! the dataplane's compiled matcher is tested against.

use std::fmt;
use std::net::IpAddr;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

use crate::prefix::IpPrefix;

/// Direction keyword of the rule.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum FlowDirection {
    /// "in": from the UE (uplink form).
    In,
    /// "out": towards the UE (downlink form), the one TS 29.212 uses.
    Out,
}

/// An address selector.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum AddrMatch {
    /// `any`.
    Any,
    /// `assigned`: the UE's own address(es).
    Assigned,
    /// An address or prefix.
    Prefix(IpPrefix),
    /// `!prefix`: anything outside it (same family).
    NotPrefix(IpPrefix),
}

/// An inclusive port range (a single port has `lo == hi`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct PortRange {
    /// Lowest port.
    pub lo: u16,
    /// Highest port.
    pub hi: u16,
}

impl PortRange {
    /// True if `p` lies in the range.
    pub fn contains(&self, p: u16) -> bool {
        self.lo <= p && p <= self.hi
    }
}

/// A parsed flow description.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct FlowDescription {
    /// `permit` (true) or `deny` (false). TS 29.212 allows only permit.
    pub permit: bool,
    /// `in` or `out`.
    pub direction: FlowDirection,
    /// IP protocol number; `None` for `ip` (any).
    pub protocol: Option<u8>,
    /// The `from` address.
    pub src: AddrMatch,
    /// The `from` ports; empty for any.
    pub src_ports: Vec<PortRange>,
    /// The `to` address.
    pub dst: AddrMatch,
    /// The `to` ports; empty for any.
    pub dst_ports: Vec<PortRange>,
}

/// Why a flow description did not parse.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum FlowParseError {
    /// The text ended where a token was needed.
    #[error("flow description ends early: expected {0}")]
    Missing(&'static str),
    /// A token is not what the grammar allows there.
    #[error("flow description: unexpected {found:?}, expected {expected}")]
    Unexpected {
        /// The offending token.
        found: String,
        /// What was allowed.
        expected: &'static str,
    },
    /// A port or port range is invalid.
    #[error("flow description: invalid port {0:?}")]
    BadPort(String),
    /// An address or prefix is invalid.
    #[error("flow description: invalid address {0:?}")]
    BadAddress(String),
}

/// The packet fields a flow description looks at.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct FlowTuple {
    /// Source address.
    pub src: IpAddr,
    /// Destination address.
    pub dst: IpAddr,
    /// IP protocol (after IPv6 extension headers).
    pub protocol: u8,
    /// Source port (TCP/UDP/SCTP), if any.
    pub src_port: Option<u16>,
    /// Destination port, if any.
    pub dst_port: Option<u16>,
}

impl FlowDescription {
    /// Reference matcher. `uplink` says whether the packet travels from the
    /// UE; `ue` tells which addresses `assigned` stands for (empty: any).
    pub fn matches(&self, t: &FlowTuple, uplink: bool, ue: &[IpPrefix]) -> bool {
        if let Some(p) = self.protocol {
            if p != t.protocol {
                return false;
            }
        }
        // Map packet fields onto the rule's from/to.
        let swap = match self.direction {
            FlowDirection::Out => uplink,
            FlowDirection::In => !uplink,
        };
        let (from_ip, from_port, to_ip, to_port) = if swap {
            (t.dst, t.dst_port, t.src, t.src_port)
        } else {
            (t.src, t.src_port, t.dst, t.dst_port)
        };
        addr_ok(&self.src, from_ip, ue)
            && ports_ok(&self.src_ports, from_port)
            && addr_ok(&self.dst, to_ip, ue)
            && ports_ok(&self.dst_ports, to_port)
    }
}

fn addr_ok(m: &AddrMatch, ip: IpAddr, ue: &[IpPrefix]) -> bool {
    match m {
        AddrMatch::Any => true,
        AddrMatch::Assigned => ue.is_empty() || ue.iter().any(|p| p.contains(ip)),
        AddrMatch::Prefix(p) => p.contains(ip),
        AddrMatch::NotPrefix(p) => p.addr.is_ipv4() == ip.is_ipv4() && !p.contains(ip),
    }
}

fn ports_ok(ranges: &[PortRange], port: Option<u16>) -> bool {
    if ranges.is_empty() {
        return true;
    }
    match port {
        Some(p) => ranges.iter().any(|r| r.contains(p)),
        None => false,
    }
}

fn protocol_number(tok: &str) -> Option<Option<u8>> {
    let t = tok.to_ascii_lowercase();
    Some(match t.as_str() {
        "ip" => None,
        "icmp" => Some(1),
        "tcp" => Some(6),
        "udp" => Some(17),
        "esp" => Some(50),
        "ah" => Some(51),
        "icmpv6" | "ipv6-icmp" => Some(58),
        "sctp" => Some(132),
        _ => Some(t.parse::<u8>().ok()?),
    })
}

fn parse_addr(tok: &str) -> Result<AddrMatch, FlowParseError> {
    match tok.to_ascii_lowercase().as_str() {
        "any" => return Ok(AddrMatch::Any),
        "assigned" => return Ok(AddrMatch::Assigned),
        _ => {}
    }
    let (neg, body) = match tok.strip_prefix('!') {
        Some(b) => (true, b),
        None => (false, tok),
    };
    let p: IpPrefix = body
        .parse()
        .map_err(|_| FlowParseError::BadAddress(tok.to_string()))?;
    Ok(if neg {
        AddrMatch::NotPrefix(p)
    } else {
        AddrMatch::Prefix(p)
    })
}

fn looks_like_ports(tok: &str) -> bool {
    tok.chars()
        .next()
        .is_some_and(|c| c.is_ascii_digit() && !tok.contains('.') && !tok.contains(':'))
}

fn parse_ports(tok: &str) -> Result<Vec<PortRange>, FlowParseError> {
    let mut out = Vec::new();
    for part in tok.split(',') {
        let bad = || FlowParseError::BadPort(part.to_string());
        let (lo, hi) = match part.split_once('-') {
            Some((a, b)) => (
                a.parse::<u16>().map_err(|_| bad())?,
                b.parse::<u16>().map_err(|_| bad())?,
            ),
            None => {
                let p = part.parse::<u16>().map_err(|_| bad())?;
                (p, p)
            }
        };
        if lo > hi {
            return Err(bad());
        }
        out.push(PortRange { lo, hi });
    }
    Ok(out)
}

const OPTIONS: &[&str] = &[
    "frag",
    "ipoptions",
    "tcpoptions",
    "established",
    "setup",
    "tcpflags",
    "icmptypes",
];
const OPTIONS_WITH_ARG: &[&str] = &["ipoptions", "tcpoptions", "tcpflags", "icmptypes"];

impl FromStr for FlowDescription {
    type Err = FlowParseError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let mut toks = s.split_ascii_whitespace().peekable();
        let mut next = |what: &'static str| toks.next().ok_or(FlowParseError::Missing(what));
        let action = next("permit|deny")?;
        let permit = match action.to_ascii_lowercase().as_str() {
            "permit" => true,
            "deny" => false,
            _ => {
                return Err(FlowParseError::Unexpected {
                    found: action.into(),
                    expected: "permit|deny",
                })
            }
        };
        let dir = next("in|out")?;
        let direction = match dir.to_ascii_lowercase().as_str() {
            "in" => FlowDirection::In,
            "out" => FlowDirection::Out,
            _ => {
                return Err(FlowParseError::Unexpected {
                    found: dir.into(),
                    expected: "in|out",
                })
            }
        };
        let proto = next("protocol")?;
        let protocol = protocol_number(proto).ok_or_else(|| FlowParseError::Unexpected {
            found: proto.into(),
            expected: "protocol number or ip",
        })?;
        let from = next("from")?;
        if !from.eq_ignore_ascii_case("from") {
            return Err(FlowParseError::Unexpected {
                found: from.into(),
                expected: "from",
            });
        }
        let src = parse_addr(next("source address")?)?;
        let mut tok = next("to")?;
        let mut src_ports = Vec::new();
        if looks_like_ports(tok) {
            src_ports = parse_ports(tok)?;
            tok = next("to")?;
        }
        if !tok.eq_ignore_ascii_case("to") {
            return Err(FlowParseError::Unexpected {
                found: tok.into(),
                expected: "to",
            });
        }
        let dst = parse_addr(next("destination address")?)?;
        let mut dst_ports = Vec::new();
        if let Some(t) = toks.peek() {
            if looks_like_ports(t) {
                dst_ports = parse_ports(t)?;
                toks.next();
            }
        }
        // Options (RFC 6733 4.3) carry no meaning for TS 29.212 filters and
        // are accepted and ignored; some take one argument ("tcpflags syn,!ack").
        let mut want_arg = false;
        for t in toks {
            let low = t.to_ascii_lowercase();
            if want_arg {
                want_arg = false;
                continue;
            }
            match OPTIONS.iter().find(|o| low == **o) {
                Some(o) => want_arg = OPTIONS_WITH_ARG.contains(o),
                None => {
                    return Err(FlowParseError::Unexpected {
                        found: t.into(),
                        expected: "end of rule",
                    })
                }
            }
        }
        Ok(FlowDescription {
            permit,
            direction,
            protocol,
            src,
            src_ports,
            dst,
            dst_ports,
        })
    }
}

fn fmt_addr(f: &mut fmt::Formatter<'_>, a: &AddrMatch) -> fmt::Result {
    match a {
        AddrMatch::Any => f.write_str("any"),
        AddrMatch::Assigned => f.write_str("assigned"),
        AddrMatch::Prefix(p) => write!(f, "{p}"),
        AddrMatch::NotPrefix(p) => write!(f, "!{p}"),
    }
}

fn fmt_ports(f: &mut fmt::Formatter<'_>, ports: &[PortRange]) -> fmt::Result {
    for (i, r) in ports.iter().enumerate() {
        if i == 0 {
            f.write_str(" ")?;
        } else {
            f.write_str(",")?;
        }
        if r.lo == r.hi {
            write!(f, "{}", r.lo)?;
        } else {
            write!(f, "{}-{}", r.lo, r.hi)?;
        }
    }
    Ok(())
}

impl fmt::Display for FlowDescription {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(if self.permit { "permit " } else { "deny " })?;
        f.write_str(match self.direction {
            FlowDirection::In => "in ",
            FlowDirection::Out => "out ",
        })?;
        match self.protocol {
            None => f.write_str("ip")?,
            Some(p) => write!(f, "{p}")?,
        }
        f.write_str(" from ")?;
        fmt_addr(f, &self.src)?;
        fmt_ports(f, &self.src_ports)?;
        f.write_str(" to ")?;
        fmt_addr(f, &self.dst)?;
        fmt_ports(f, &self.dst_ports)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn fd(s: &str) -> FlowDescription {
        s.parse().unwrap()
    }

    #[test]
    fn parses_ts29212_examples() {
        let f = fd("permit out 17 from 198.51.100.0/24 5000-5010 to assigned 40000");
        assert!(f.permit);
        assert_eq!(f.direction, FlowDirection::Out);
        assert_eq!(f.protocol, Some(17));
        assert_eq!(f.src, AddrMatch::Prefix("198.51.100.0/24".parse().unwrap()));
        assert_eq!(f.src_ports, vec![PortRange { lo: 5000, hi: 5010 }]);
        assert_eq!(f.dst, AddrMatch::Assigned);
        assert_eq!(
            f.dst_ports,
            vec![PortRange {
                lo: 40000,
                hi: 40000
            }]
        );

        let any = fd("permit out ip from any to assigned");
        assert_eq!(any.protocol, None);
        assert_eq!(any.src, AddrMatch::Any);

        let v6 = fd("permit out 6 from 2001:db8::/32 80,443 to 2001:db8:45::1/128");
        assert_eq!(v6.src_ports.len(), 2);
        assert_eq!(
            v6.dst,
            AddrMatch::Prefix("2001:db8:45::1/128".parse().unwrap())
        );

        let neg = fd("permit out ip from !10.0.0.0/8 to any");
        assert!(matches!(neg.src, AddrMatch::NotPrefix(_)));
        let opt = fd("permit out 6 from any to any 80 tcpflags syn,!ack frag");
        assert_eq!(opt.dst_ports, vec![PortRange { lo: 80, hi: 80 }]);
        let named = fd("permit in udp from any to any 53");
        assert_eq!(named.protocol, Some(17));
        assert_eq!(named.direction, FlowDirection::In);
    }

    #[test]
    fn rejects_bad_rules() {
        for bad in [
            "",
            "permit",
            "allow out ip from any to any",
            "permit sideways ip from any to any",
            "permit out 999 from any to any",
            "permit out ip to any",
            "permit out ip from 10.0.0.300 to any",
            "permit out ip from any 70000 to any",
            "permit out ip from any 20-10 to any",
            "permit out ip from any to any 80 {junk}",
            "permit out ip from any to any junk",
        ] {
            assert!(bad.parse::<FlowDescription>().is_err(), "accepted {bad:?}");
        }
    }

    #[test]
    fn direction_semantics() {
        // Downlink-form filter: server 198.51.100.7:443 towards the UE.
        let f = fd("permit out 6 from 198.51.100.7 443 to assigned");
        let ue: IpPrefix = "10.45.0.2/32".parse().unwrap();
        let dl = FlowTuple {
            src: "198.51.100.7".parse().unwrap(),
            dst: "10.45.0.2".parse().unwrap(),
            protocol: 6,
            src_port: Some(443),
            dst_port: Some(50000),
        };
        assert!(f.matches(&dl, false, &[ue]));
        // The same flow's uplink packet matches with the swap...
        let ul = FlowTuple {
            src: dl.dst,
            dst: dl.src,
            protocol: 6,
            src_port: dl.dst_port,
            dst_port: dl.src_port,
        };
        assert!(f.matches(&ul, true, &[ue]));
        // ...but not unswapped, nor for another UE or another protocol.
        assert!(!f.matches(&dl, true, &[ue]));
        let other = "10.45.0.3/32".parse().unwrap();
        assert!(!f.matches(&dl, false, &[other]));
        assert!(!f.matches(&FlowTuple { protocol: 17, ..dl }, false, &[ue]));
        // A port filter never matches a packet without ports (a fragment).
        assert!(!f.matches(
            &FlowTuple {
                src_port: None,
                ..dl
            },
            false,
            &[ue]
        ));
    }

    fn arb_prefix() -> impl Strategy<Value = IpPrefix> {
        prop_oneof![
            (any::<u32>(), 0u8..=32)
                .prop_map(|(a, l)| IpPrefix::new(IpAddr::V4(a.into()), l).unwrap()),
            (any::<u128>(), 0u8..=128)
                .prop_map(|(a, l)| IpPrefix::new(IpAddr::V6(a.into()), l).unwrap()),
        ]
    }

    fn arb_addr() -> impl Strategy<Value = AddrMatch> {
        prop_oneof![
            Just(AddrMatch::Any),
            Just(AddrMatch::Assigned),
            arb_prefix().prop_map(AddrMatch::Prefix),
            arb_prefix().prop_map(AddrMatch::NotPrefix),
        ]
    }

    fn arb_ports() -> impl Strategy<Value = Vec<PortRange>> {
        proptest::collection::vec(
            (any::<u16>(), any::<u16>()).prop_map(|(a, b)| PortRange {
                lo: a.min(b),
                hi: a.max(b),
            }),
            0..3,
        )
    }

    proptest! {
        #[test]
        fn display_then_parse_roundtrips(
            permit in any::<bool>(),
            out in any::<bool>(),
            protocol in proptest::option::of(any::<u8>()),
            src in arb_addr(), src_ports in arb_ports(),
            dst in arb_addr(), dst_ports in arb_ports(),
        ) {
            let f = FlowDescription {
                permit,
                direction: if out { FlowDirection::Out } else { FlowDirection::In },
                protocol, src, src_ports, dst, dst_ports,
            };
            let text = f.to_string();
            let back: FlowDescription = text.parse().unwrap();
            prop_assert_eq!(back, f);
        }

        #[test]
        fn parse_never_panics(s in "\\PC{0,80}") {
            let _ = s.parse::<FlowDescription>();
        }
    }
}
