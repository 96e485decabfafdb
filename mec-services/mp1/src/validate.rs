//! Checks the schemas cannot express, and the mapping of MEC 011 traffic and
//! DNS rules to the dataplane's steering model ([`upf_rules::steer`]).
//!
//! Pure functions: a rule in, a typed error or the dataplane's rule out. A
//! rule is checked completely when it is stored (even INACTIVE), so that
//! activating it later cannot fail.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use upf_rules::flow::PortRange;
use upf_rules::prefix::IpPrefix;
use upf_rules::steer::{self as st, SteerAction, SteerDestination, SteerFilter, SteeringRule};

use crate::model::{
    DnsRule, InterfaceType, IpAddressType, TrafficAction, TrafficFilter, TrafficRule, TunnelType,
};

/// Why a rule or attribute is not acceptable.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum RuleError {
    /// An attribute has a value out of its range or format.
    #[error("{field}: {reason}")]
    Invalid {
        /// JSON path of the attribute.
        field: String,
        /// What is wrong.
        reason: String,
    },
    /// A valid attribute this platform cannot enforce.
    #[error("{field}: not supported by this MEC platform: {reason}")]
    Unsupported {
        /// JSON path of the attribute.
        field: String,
        /// Why.
        reason: String,
    },
}

fn invalid(field: impl Into<String>, reason: impl Into<String>) -> RuleError {
    RuleError::Invalid {
        field: field.into(),
        reason: reason.into(),
    }
}

fn unsupported(field: impl Into<String>, reason: impl Into<String>) -> RuleError {
    RuleError::Unsupported {
        field: field.into(),
        reason: reason.into(),
    }
}

/// Prefixes covering the inclusive range `lo..=hi` (same family).
fn range_to_prefixes(lo: IpAddr, hi: IpAddr) -> Option<Vec<IpPrefix>> {
    let (lo, hi, bits, v4) = match (lo, hi) {
        (IpAddr::V4(a), IpAddr::V4(b)) => {
            (u128::from(u32::from(a)), u128::from(u32::from(b)), 32, true)
        }
        (IpAddr::V6(a), IpAddr::V6(b)) => (u128::from(a), u128::from(b), 128, false),
        _ => return None,
    };
    if lo > hi {
        return None;
    }
    let mut out = Vec::new();
    let mut cur = lo;
    loop {
        // The largest aligned block starting at `cur` that stays within `hi`.
        let mut size_log = if cur == 0 {
            bits
        } else {
            cur.trailing_zeros().min(bits)
        };
        while size_log > 0 {
            let span = if size_log >= 128 {
                u128::MAX
            } else {
                (1u128 << size_log) - 1
            };
            if cur.checked_add(span).is_some_and(|end| end <= hi) {
                break;
            }
            size_log -= 1;
        }
        let addr = if v4 {
            IpAddr::V4(Ipv4Addr::from(cur as u32))
        } else {
            IpAddr::V6(Ipv6Addr::from(cur))
        };
        out.push(IpPrefix {
            addr,
            len: (bits - size_log) as u8,
        });
        if out.len() > 256 {
            return None;
        }
        let span = if size_log >= 128 {
            u128::MAX
        } else {
            (1u128 << size_log) - 1
        };
        let end = cur.saturating_add(span);
        if end >= hi {
            return Some(out);
        }
        cur = end + 1;
    }
}

/// An address, a prefix (`a/len`) or a range (`a-b`).
pub fn parse_addresses(field: &str, s: &str) -> Result<Vec<IpPrefix>, RuleError> {
    let s = s.trim();
    if let Some((a, b)) = s.split_once('-') {
        let lo: IpAddr = a
            .trim()
            .parse()
            .map_err(|_| invalid(field, format!("{s:?} is not an address range")))?;
        let hi: IpAddr = b
            .trim()
            .parse()
            .map_err(|_| invalid(field, format!("{s:?} is not an address range")))?;
        return range_to_prefixes(lo, hi).ok_or_else(|| {
            invalid(
                field,
                format!("{s:?}: the range is reversed, mixes families or is too fragmented"),
            )
        });
    }
    // IPv4 "address mask" forms are written as a/len; a dotted mask after
    // the slash is accepted too.
    if let Some((a, m)) = s.split_once('/') {
        if let (Ok(IpAddr::V4(addr)), Ok(mask)) = (a.parse::<IpAddr>(), m.parse::<Ipv4Addr>()) {
            let bits = u32::from(mask);
            if bits.leading_ones() + bits.trailing_zeros() != 32 {
                return Err(invalid(
                    field,
                    format!("{s:?}: {m} is not a contiguous mask"),
                ));
            }
            return Ok(vec![IpPrefix {
                addr: IpAddr::V4(addr),
                len: bits.leading_ones() as u8,
            }]);
        }
    }
    s.parse::<IpPrefix>()
        .map(|p| vec![p])
        .map_err(|e| invalid(field, format!("{s:?}: {e}")))
}

/// A port (`80`) or a range (`1000-2000`).
pub fn parse_ports(field: &str, s: &str) -> Result<PortRange, RuleError> {
    let s = s.trim();
    let port = |x: &str| {
        x.trim()
            .parse::<u16>()
            .map_err(|_| invalid(field, format!("{s:?} is not a port or port range")))
    };
    match s.split_once('-') {
        Some((a, b)) => {
            let (lo, hi) = (port(a)?, port(b)?);
            if lo > hi {
                return Err(invalid(field, format!("{s:?}: the range is reversed")));
            }
            Ok(PortRange { lo, hi })
        }
        None => {
            let p = port(s)?;
            Ok(PortRange { lo: p, hi: p })
        }
    }
}

/// An IP protocol: a number (0-255) or a well-known name.
pub fn parse_protocol(field: &str, s: &str) -> Result<u8, RuleError> {
    if let Ok(n) = s.trim().parse::<u8>() {
        return Ok(n);
    }
    Ok(match s.trim().to_ascii_uppercase().as_str() {
        "ICMP" => 1,
        "IGMP" => 2,
        "TCP" => 6,
        "UDP" => 17,
        "GRE" => 47,
        "ESP" => 50,
        "AH" => 51,
        "ICMPV6" | "IPV6-ICMP" => 58,
        "SCTP" => 132,
        _ => return Err(invalid(field, format!("{s:?} is not an IP protocol"))),
    })
}

fn list(v: &Option<Vec<String>>) -> &[String] {
    v.as_deref().unwrap_or(&[])
}

/// Converts one traffic filter. `None` when it can never match (a tunnel
/// destination port other than GTP-U's).
fn filter(path: &str, f: &TrafficFilter) -> Result<Option<SteerFilter>, RuleError> {
    let mut out = SteerFilter::default();
    for (i, a) in list(&f.src_address).iter().enumerate() {
        out.src_addresses
            .extend(parse_addresses(&format!("{path}.srcAddress[{i}]"), a)?);
    }
    for (i, a) in list(&f.dst_address).iter().enumerate() {
        out.dst_addresses
            .extend(parse_addresses(&format!("{path}.dstAddress[{i}]"), a)?);
    }
    for (i, p) in list(&f.src_port).iter().enumerate() {
        out.src_ports
            .push(parse_ports(&format!("{path}.srcPort[{i}]"), p)?);
    }
    for (i, p) in list(&f.dst_port).iter().enumerate() {
        out.dst_ports
            .push(parse_ports(&format!("{path}.dstPort[{i}]"), p)?);
    }
    for (i, p) in list(&f.protocol).iter().enumerate() {
        out.protocols
            .push(parse_protocol(&format!("{path}.protocol[{i}]"), p)?);
    }
    for (i, a) in list(&f.src_tunnel_address).iter().enumerate() {
        out.tunnel_src_addresses.extend(parse_addresses(
            &format!("{path}.srcTunnelAddress[{i}]"),
            a,
        )?);
    }
    for (i, a) in list(&f.tgt_tunnel_address).iter().enumerate() {
        out.tunnel_dst_addresses.extend(parse_addresses(
            &format!("{path}.tgtTunnelAddress[{i}]"),
            a,
        )?);
    }
    if !list(&f.token).is_empty() {
        return Err(unsupported(
            format!("{path}.token"),
            "token based traffic rules",
        ));
    }
    if !list(&f.src_tunnel_port).is_empty() {
        return Err(unsupported(
            format!("{path}.srcTunnelPort"),
            "matching on the GTP-U source port",
        ));
    }
    let mut never = false;
    if !list(&f.dst_tunnel_port).is_empty() {
        let mut any_gtpu = false;
        for (i, p) in list(&f.dst_tunnel_port).iter().enumerate() {
            let r = parse_ports(&format!("{path}.dstTunnelPort[{i}]"), p)?;
            any_gtpu |= r.contains(2152);
        }
        // All GTP-U arrives on port 2152: either every packet or none.
        never = !any_gtpu;
    }
    if f.qci.is_some() {
        return Err(unsupported(
            format!("{path}.qCI"),
            "QCI matching (5G uses QFI; use a PDR instead)",
        ));
    }
    if let Some(d) = f.dscp {
        out.dscp = Some(
            u8::try_from(d)
                .ok()
                .filter(|d| *d < 64)
                .ok_or_else(|| invalid(format!("{path}.dSCP"), "must be 0..=63"))?,
        );
    }
    if let Some(t) = f.tc {
        out.traffic_class =
            Some(u8::try_from(t).map_err(|_| invalid(format!("{path}.tC"), "must be 0..=255"))?);
    }
    Ok((!never).then_some(out))
}

/// Where steered traffic leaves, for this platform.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct SteerContext {
    /// The dataplane network instance of the local MEC network (`None`: the
    /// first port with role "mec").
    pub network_instance: Option<String>,
}

fn parse_ip(field: &str, s: &Option<String>) -> Result<IpAddr, RuleError> {
    let s = s
        .as_deref()
        .ok_or_else(|| invalid(field, "required for this action and interface type"))?;
    s.trim()
        .parse()
        .map_err(|_| invalid(field, format!("{s:?} is not an IP address")))
}

/// Checks a traffic rule completely and converts it to the dataplane's
/// steering rule; `None` when no packet can ever match it (so there is
/// nothing to steer).
pub fn traffic_rule(
    r: &TrafficRule,
    ctx: &SteerContext,
) -> Result<Option<SteeringRule>, RuleError> {
    let priority = u8::try_from(r.priority)
        .map_err(|_| invalid("priority", "must be 0 (highest) to 255 (lowest)"))?;
    if r.traffic_rule_id.is_empty() {
        return Err(invalid("trafficRuleId", "must not be empty"));
    }
    let mut filters = Vec::new();
    let mut dead = 0;
    for (i, f) in r.traffic_filter.iter().enumerate() {
        match filter(&format!("trafficFilter[{i}]"), f)? {
            Some(f) => filters.push(f),
            None => dead += 1,
        }
    }
    let action = match r.action {
        TrafficAction::Drop => SteerAction::Drop,
        TrafficAction::ForwardDecapsulated => SteerAction::ForwardDecapsulated,
        TrafficAction::ForwardEncapsulated => SteerAction::ForwardEncapsulated,
        TrafficAction::Passthrough => SteerAction::Passthrough,
        TrafficAction::DuplicateDecapsulated => SteerAction::DuplicateDecapsulated,
        TrafficAction::DuplicateEncapsulated => SteerAction::DuplicateEncapsulated,
    };
    let destination = match r.action {
        TrafficAction::Drop => {
            if r.dst_interface.is_some() {
                return Err(invalid(
                    "dstInterface",
                    "DROP takes no destination interface",
                ));
            }
            None
        }
        // The session's own rules decide; a destination would be unused.
        TrafficAction::Passthrough => None,
        TrafficAction::ForwardDecapsulated | TrafficAction::DuplicateDecapsulated => {
            let d = r
                .dst_interface
                .as_ref()
                .ok_or_else(|| invalid("dstInterface", "required for this action"))?;
            match d.interface_type {
                InterfaceType::Ip => Some(SteerDestination {
                    network_instance: ctx.network_instance.clone(),
                    address: Some(parse_ip("dstInterface.dstIpAddress", &d.dst_ip_address)?),
                    tunnel_address: None,
                    tunnel_teid: None,
                }),
                InterfaceType::Mac => {
                    return Err(unsupported(
                        "dstInterface.interfaceType",
                        "MAC destinations (use IP: the UPF resolves the MAC itself)",
                    ))
                }
                InterfaceType::Tunnel => {
                    return Err(invalid(
                        "dstInterface.interfaceType",
                        "a decapsulating action needs an IP (or MAC) interface, not TUNNEL",
                    ))
                }
            }
        }
        TrafficAction::ForwardEncapsulated | TrafficAction::DuplicateEncapsulated => {
            let d = r
                .dst_interface
                .as_ref()
                .ok_or_else(|| invalid("dstInterface", "required for this action"))?;
            if d.interface_type != InterfaceType::Tunnel {
                return Err(invalid(
                    "dstInterface.interfaceType",
                    "an encapsulating action needs a TUNNEL interface",
                ));
            }
            let t = d
                .tunnel_info
                .as_ref()
                .ok_or_else(|| invalid("dstInterface.tunnelInfo", "required for TUNNEL"))?;
            if t.tunnel_type != TunnelType::GtpU {
                return Err(unsupported(
                    "dstInterface.tunnelInfo.tunnelType",
                    "GRE tunnels",
                ));
            }
            Some(SteerDestination {
                network_instance: ctx.network_instance.clone(),
                address: None,
                tunnel_address: Some(parse_ip(
                    "dstInterface.tunnelInfo.tunnelDstAddress",
                    &t.tunnel_dst_address,
                )?),
                tunnel_teid: None,
            })
        }
    };
    // Every filter unmatchable: an empty list would match everything.
    if filters.is_empty() && dead > 0 {
        return Ok(None);
    }
    Ok(Some(SteeringRule {
        id: r.traffic_rule_id.clone(),
        priority,
        filters,
        action,
        destination,
    }))
}

/// TTL of an answer when the rule has none.
pub const DEFAULT_DNS_TTL: u32 = 30;

fn valid_domain(s: &str) -> bool {
    let s = s.strip_suffix('.').unwrap_or(s);
    !s.is_empty()
        && s.len() <= 253
        && s.split('.').all(|l| {
            !l.is_empty()
                && l.len() <= 63
                && l.bytes()
                    .all(|c| c.is_ascii_alphanumeric() || c == b'-' || c == b'_')
        })
}

/// Checks a DNS rule completely and converts it to the dataplane's DNS rule.
pub fn dns_rule(r: &DnsRule) -> Result<st::DnsRule, RuleError> {
    if r.dns_rule_id.is_empty() {
        return Err(invalid("dnsRuleId", "must not be empty"));
    }
    if !valid_domain(&r.domain_name) {
        return Err(invalid(
            "domainName",
            format!("{:?} is not a domain name", r.domain_name),
        ));
    }
    let address: IpAddr = r.ip_address.trim().parse().map_err(|_| {
        invalid(
            "ipAddress",
            format!("{:?} is not an IP address", r.ip_address),
        )
    })?;
    match (r.ip_address_type, address) {
        (IpAddressType::IpV4, IpAddr::V4(_)) | (IpAddressType::IpV6, IpAddr::V6(_)) => {}
        _ => {
            return Err(invalid(
                "ipAddress",
                "the address family does not match ipAddressType",
            ))
        }
    }
    let ttl_s = match r.ttl {
        None => DEFAULT_DNS_TTL,
        Some(t) => u32::try_from(t).map_err(|_| invalid("ttl", "must not be negative"))?,
    };
    Ok(st::DnsRule {
        id: r.dns_rule_id.clone(),
        domain: r.domain_name.trim_end_matches('.').to_ascii_lowercase(),
        address,
        ttl_s,
    })
}

/// True if `s` is an absolute http or https URI with a host.
pub fn is_http_uri(s: &str) -> bool {
    match s.parse::<hyper::Uri>() {
        Ok(u) => {
            matches!(u.scheme_str(), Some("http") | Some("https"))
                && u.host().is_some_and(|h| !h.is_empty())
        }
        Err(_) => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::*;

    fn rule(action: TrafficAction, dst: Option<DestinationInterface>) -> TrafficRule {
        TrafficRule {
            traffic_rule_id: "r1".into(),
            ser_name: None,
            filter_type: FilterType::Flow,
            priority: 3,
            traffic_filter: vec![TrafficFilter {
                src_address: Some(vec!["198.19.0.0/16".into()]),
                dst_address: Some(vec!["198.18.9.0-198.18.9.255".into()]),
                dst_port: Some(vec!["80".into(), "8000-8080".into()]),
                protocol: Some(vec!["TCP".into(), "17".into()]),
                dscp: Some(46),
                ..Default::default()
            }],
            action,
            dst_interface: dst,
            state: RuleState::Active,
        }
    }

    fn ip_dst(a: &str) -> DestinationInterface {
        DestinationInterface {
            interface_type: InterfaceType::Ip,
            tunnel_info: None,
            src_mac_address: None,
            dst_mac_address: None,
            dst_ip_address: Some(a.into()),
        }
    }

    #[test]
    fn forward_decapsulated_maps_every_filter_field() {
        let ctx = SteerContext {
            network_instance: Some("mec".into()),
        };
        let s = traffic_rule(
            &rule(
                TrafficAction::ForwardDecapsulated,
                Some(ip_dst("198.18.9.50")),
            ),
            &ctx,
        )
        .unwrap()
        .unwrap();
        assert_eq!(s.priority, 3);
        assert_eq!(s.action, SteerAction::ForwardDecapsulated);
        let f = &s.filters[0];
        assert_eq!(f.src_addresses, vec!["198.19.0.0/16".parse().unwrap()]);
        assert_eq!(f.dst_addresses, vec!["198.18.9.0/24".parse().unwrap()]);
        assert_eq!(
            f.dst_ports,
            vec![
                PortRange { lo: 80, hi: 80 },
                PortRange { lo: 8000, hi: 8080 }
            ]
        );
        assert_eq!(f.protocols, vec![6, 17]);
        assert_eq!(f.dscp, Some(46));
        let d = s.destination.unwrap();
        assert_eq!(d.network_instance.as_deref(), Some("mec"));
        assert_eq!(d.address, Some("198.18.9.50".parse().unwrap()));
    }

    #[test]
    fn bad_rules_get_field_errors() {
        let ctx = SteerContext::default();
        let mut r = rule(TrafficAction::Drop, None);
        r.priority = 256;
        assert!(
            matches!(traffic_rule(&r, &ctx), Err(RuleError::Invalid { field, .. }) if field == "priority")
        );
        let r = rule(TrafficAction::Drop, Some(ip_dst("1.2.3.4")));
        assert!(traffic_rule(&r, &ctx).is_err());
        let r = rule(TrafficAction::ForwardDecapsulated, None);
        assert!(traffic_rule(&r, &ctx).is_err());
        let r = rule(TrafficAction::ForwardDecapsulated, Some(ip_dst("nope")));
        assert!(
            matches!(traffic_rule(&r, &ctx), Err(RuleError::Invalid { field, .. }) if field == "dstInterface.dstIpAddress")
        );
        let mut r = rule(TrafficAction::Drop, None);
        r.traffic_filter[0].token = Some(vec!["x".into()]);
        assert!(matches!(
            traffic_rule(&r, &ctx),
            Err(RuleError::Unsupported { .. })
        ));
        let mut r = rule(TrafficAction::Drop, None);
        r.traffic_filter[0].dst_port = Some(vec!["90-80".into()]);
        assert!(traffic_rule(&r, &ctx).is_err());
        let mut r = rule(TrafficAction::Drop, None);
        r.traffic_filter[0].dscp = Some(64);
        assert!(traffic_rule(&r, &ctx).is_err());
    }

    #[test]
    fn a_rule_whose_filters_cannot_match_steers_nothing() {
        let mut r = rule(TrafficAction::Drop, None);
        r.traffic_filter[0].dst_tunnel_port = Some(vec!["4000".into()]);
        assert_eq!(traffic_rule(&r, &SteerContext::default()), Ok(None));
        r.traffic_filter[0].dst_tunnel_port = Some(vec!["2000-3000".into()]);
        assert!(traffic_rule(&r, &SteerContext::default())
            .unwrap()
            .is_some());
    }

    #[test]
    fn ranges_become_minimal_prefix_sets() {
        let p = parse_addresses("x", "10.0.0.1-10.0.0.6").unwrap();
        let s: Vec<String> = p.iter().map(|p| p.to_string()).collect();
        assert_eq!(
            s,
            ["10.0.0.1/32", "10.0.0.2/31", "10.0.0.4/31", "10.0.0.6/32"]
        );
        let p = parse_addresses("x", "0.0.0.0-255.255.255.255").unwrap();
        assert_eq!(p, vec!["0.0.0.0/0".parse().unwrap()]);
        let p = parse_addresses("x", "2001:db8::-2001:db8::ffff").unwrap();
        assert_eq!(p, vec!["2001:db8::/112".parse().unwrap()]);
        let p = parse_addresses("x", "10.1.0.0/255.255.0.0").unwrap();
        assert_eq!(p, vec!["10.1.0.0/16".parse().unwrap()]);
        assert!(parse_addresses("x", "10.0.0.9-10.0.0.1").is_err());
        assert!(parse_addresses("x", "10.0.0.1-::1").is_err());
        assert!(parse_addresses("x", "10.1.0.0/255.0.255.0").is_err());
    }

    #[test]
    fn dns_rules_check_family_and_domain() {
        let mut r = DnsRule {
            dns_rule_id: "d".into(),
            domain_name: "Cache.Edge.Example.".into(),
            ip_address_type: IpAddressType::IpV4,
            ip_address: "198.18.9.50".into(),
            ttl: None,
            state: RuleState::Active,
        };
        let d = dns_rule(&r).unwrap();
        assert_eq!(d.domain, "cache.edge.example");
        assert_eq!(d.ttl_s, DEFAULT_DNS_TTL);
        r.ip_address_type = IpAddressType::IpV6;
        assert!(dns_rule(&r).is_err());
        r.ip_address = "2001:db8::5".into();
        assert!(dns_rule(&r).is_ok());
        r.domain_name = "bad domain".into();
        assert!(dns_rule(&r).is_err());
    }

    #[test]
    fn callback_uris() {
        assert!(is_http_uri("http://127.0.0.1:9/cb"));
        assert!(is_http_uri("https://app.example/cb?x=1"));
        assert!(!is_http_uri("ftp://x/"));
        assert!(!is_http_uri("/relative"));
        assert!(!is_http_uri(""));
    }
}
