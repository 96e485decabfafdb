//! Global tables every worker reads: MEC steering rules, edge DNS answers
//! and application PFDs. Built on the control thread, shared read-only
//! (`Arc`) with the workers, replaced as a whole.

use std::collections::HashMap;
use std::net::IpAddr;

use upf_io::PortId;
use upf_rules::flow::PortRange;
use upf_rules::prefix::IpPrefix;
use upf_rules::steer::{DnsRule, SteerAction, SteeringRule};
use upf_rules::{Pfd, SdfFilter};
use upf_wire::fast::{IpInfo, IpPair};

use crate::filter::{CFilter, FilterExt, UeAddrs};
use crate::topo::{Role, Topology};

/// A compiled steering filter.
#[derive(Clone, Debug, PartialEq, Eq)]
struct SFilter {
    src: Vec<IpPrefix>,
    dst: Vec<IpPrefix>,
    src_ports: Vec<PortRange>,
    dst_ports: Vec<PortRange>,
    protocols: Vec<u8>,
    tunnel_src: Vec<IpPrefix>,
    tunnel_dst: Vec<IpPrefix>,
    dscp: Option<u8>,
    tc: Option<u8>,
}

fn any_prefix(list: &[IpPrefix], ip: IpAddr) -> bool {
    list.is_empty() || list.iter().any(|p| p.contains(ip))
}

fn any_port(list: &[PortRange], has: bool, p: u16) -> bool {
    list.is_empty() || (has && list.iter().any(|r| r.contains(p)))
}

impl SFilter {
    fn matches(&self, inner: &IpInfo, outer: Option<&IpPair>) -> bool {
        let (s, d) = (inner.addrs.src_addr(), inner.addrs.dst_addr());
        if !(any_prefix(&self.src, s) && any_prefix(&self.dst, d)) {
            return false;
        }
        if !(any_port(&self.src_ports, inner.has_ports, inner.src_port)
            && any_port(&self.dst_ports, inner.has_ports, inner.dst_port))
        {
            return false;
        }
        if !self.protocols.is_empty() && !self.protocols.contains(&inner.protocol) {
            return false;
        }
        if !self.tunnel_src.is_empty() || !self.tunnel_dst.is_empty() {
            let Some(o) = outer else { return false };
            if !(any_prefix(&self.tunnel_src, o.src_addr())
                && any_prefix(&self.tunnel_dst, o.dst_addr()))
            {
                return false;
            }
        }
        if let Some(d) = self.dscp {
            if inner.addrs.is_v4() && inner.tos >> 2 != d {
                return false;
            }
        }
        if let Some(tc) = self.tc {
            if !inner.addrs.is_v4() && inner.tos != tc {
                return false;
            }
        }
        true
    }
}

/// Where a steered packet goes.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SteerTarget {
    /// Egress port.
    pub port: PortId,
    /// Next hop address override (the MEC app), or route by destination.
    pub next_hop: Option<IpAddr>,
    /// Re-encapsulation towards a tunnel endpoint (encapsulated actions).
    pub tunnel: Option<(IpAddr, u32)>,
}

/// A compiled steering rule.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CSteer {
    /// Owner (MEC app instance).
    pub owner: String,
    /// Rule ID.
    pub id: String,
    /// Priority (0 highest).
    pub priority: u8,
    filters: Vec<SFilter>,
    /// Action.
    pub action: SteerAction,
    /// Target, for forwarding and duplicating actions.
    pub target: Option<SteerTarget>,
}

/// All active steering rules, in priority order.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct SteeringTable {
    rules: Vec<CSteer>,
}

impl SteeringTable {
    /// Compiles the rules of every owner. Rules whose destination names a
    /// network instance no port serves go out of the first MEC port.
    pub fn compile(owners: &[(String, Vec<SteeringRule>)], topo: &Topology) -> SteeringTable {
        let mut rules = Vec::new();
        for (owner, list) in owners {
            for r in list {
                let target = r.destination.as_ref().and_then(|d| {
                    let port = topo.egress(d.network_instance.as_deref(), Role::Mec)?;
                    Some(SteerTarget {
                        port: port.id,
                        next_hop: d.address,
                        tunnel: d.tunnel_address.map(|a| (a, d.tunnel_teid.unwrap_or(0))),
                    })
                });
                let target = target.or_else(|| {
                    topo.ports
                        .iter()
                        .find(|p| p.role == Role::Mec)
                        .map(|p| SteerTarget {
                            port: p.id,
                            next_hop: None,
                            tunnel: None,
                        })
                });
                rules.push(CSteer {
                    owner: owner.clone(),
                    id: r.id.clone(),
                    priority: r.priority,
                    filters: r
                        .filters
                        .iter()
                        .map(|f| SFilter {
                            src: f.src_addresses.clone(),
                            dst: f.dst_addresses.clone(),
                            src_ports: f.src_ports.clone(),
                            dst_ports: f.dst_ports.clone(),
                            protocols: f.protocols.clone(),
                            tunnel_src: f.tunnel_src_addresses.clone(),
                            tunnel_dst: f.tunnel_dst_addresses.clone(),
                            dscp: f.dscp,
                            tc: f.traffic_class,
                        })
                        .collect(),
                    action: r.action,
                    target,
                });
            }
        }
        rules.sort_by(|a, b| {
            a.priority
                .cmp(&b.priority)
                .then_with(|| a.owner.cmp(&b.owner))
        });
        SteeringTable { rules }
    }

    /// True if no rule is active.
    #[inline]
    pub fn is_empty(&self) -> bool {
        self.rules.is_empty()
    }

    /// Number of rules.
    pub fn len(&self) -> usize {
        self.rules.len()
    }

    /// The first rule (by priority) matching an uplink packet.
    pub fn lookup(&self, inner: &IpInfo, outer: Option<&IpPair>) -> Option<&CSteer> {
        self.rules
            .iter()
            .find(|r| r.filters.is_empty() || r.filters.iter().any(|f| f.matches(inner, outer)))
    }
}

/// Edge DNS answers, by lower-case domain.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct DnsTable {
    entries: Vec<(String, IpAddr, u32)>,
}

impl DnsTable {
    /// Builds the table from every owner's rules (first rule wins per
    /// domain and family).
    pub fn compile(owners: &[(String, Vec<DnsRule>)]) -> DnsTable {
        let mut entries: Vec<(String, IpAddr, u32)> = Vec::new();
        for (_, list) in owners {
            for r in list {
                let d = r.domain.trim_end_matches('.').to_ascii_lowercase();
                if !entries
                    .iter()
                    .any(|(x, a, _)| *x == d && a.is_ipv4() == r.address.is_ipv4())
                {
                    entries.push((d, r.address, r.ttl_s));
                }
            }
        }
        DnsTable { entries }
    }

    /// True if there are no rules.
    #[inline]
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// The answer for a query (message `msg`) asking for `qtype`.
    pub fn answer(&self, q: &upf_wire::dns::Query, msg: &[u8]) -> Option<(IpAddr, u32)> {
        let want_v4 = match q.qtype {
            upf_wire::dns::TYPE_A => true,
            upf_wire::dns::TYPE_AAAA => false,
            _ => return None,
        };
        self.entries
            .iter()
            .find(|(d, a, _)| a.is_ipv4() == want_v4 && q.name_is(msg, d))
            .map(|(_, a, t)| (*a, *t))
    }
}

/// Application detection information: per application ID, filters for
/// each direction and domain names.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct PfdTable {
    apps: HashMap<String, AppPfd>,
}

#[derive(Clone, Debug, Default, PartialEq, Eq)]
struct AppPfd {
    flows: Vec<CFilter>,
    exts: Vec<FilterExt>,
    domains: Vec<String>,
}

impl PfdTable {
    /// Sets (or with an empty list removes) the PFDs of an application.
    pub fn set(&mut self, app_id: &str, pfds: &[Pfd]) {
        if pfds.is_empty() {
            self.apps.remove(app_id);
            return;
        }
        let mut a = AppPfd::default();
        for p in pfds {
            for fd in &p.flows {
                let f = SdfFilter {
                    flow: Some(fd.clone()),
                    ..Default::default()
                };
                // An application with more than 254 IPv6 or multi-port
                // flows keeps the first ones.
                if let Ok(c) = CFilter::compile(&f, &mut a.exts) {
                    a.flows.push(c);
                }
            }
            a.domains
                .extend(p.domain_names.iter().map(|d| d.to_ascii_lowercase()));
        }
        self.apps.insert(app_id.to_string(), a);
    }

    /// Number of applications.
    pub fn len(&self) -> usize {
        self.apps.len()
    }

    /// True if empty.
    pub fn is_empty(&self) -> bool {
        self.apps.is_empty()
    }

    /// True if the packet belongs to the application: a flow PFD matches,
    /// or it is a DNS query for one of its domains (`dns` holds the parsed
    /// query and message when the packet is one).
    pub fn matches(
        &self,
        app: &str,
        uplink: bool,
        p: &IpInfo,
        ue: &UeAddrs,
        dns: Option<(&upf_wire::dns::Query, &[u8])>,
    ) -> bool {
        let Some(a) = self.apps.get(app) else {
            return false;
        };
        if a.flows.iter().any(|f| f.matches(p, ue, uplink, &a.exts)) {
            return true;
        }
        if let Some((q, msg)) = dns {
            return a.domains.iter().any(|d| q.name_is(msg, d));
        }
        false
    }
}
