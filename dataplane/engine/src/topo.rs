//! The worker's view of its ports: roles, own addresses, network instances,
//! routes and next hops.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use upf_io::PortId;
use upf_rules::prefix::IpPrefix;
use upf_wire::ethernet::Mac;

/// What a port connects to.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Role {
    /// N3: the RAN (gNBs), GTP-U.
    N3,
    /// N6: the data network, plain IP.
    N6,
    /// N9: another UPF, GTP-U.
    N9,
    /// A local MEC network: plain IP towards MEC apps.
    Mec,
}

impl Role {
    /// True for ports that carry GTP-U.
    pub fn is_tunnel(self) -> bool {
        matches!(self, Role::N3 | Role::N9)
    }
}

/// A static route.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Route {
    /// Destination prefix.
    pub prefix: IpPrefix,
    /// Next hop.
    pub via: IpAddr,
}

/// One port as the engine sees it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PortDef {
    /// Index in the I/O backend.
    pub id: PortId,
    /// Name from the configuration (for logs and metrics).
    pub name: String,
    /// Role.
    pub role: Role,
    /// Our MAC on this port.
    pub mac: Mac,
    /// Our IPv4 addresses and their prefix lengths.
    pub ipv4: Vec<(Ipv4Addr, u8)>,
    /// Our IPv6 addresses and their prefix lengths.
    pub ipv6: Vec<(Ipv6Addr, u8)>,
    /// Default IPv4 next hop.
    pub gateway4: Option<Ipv4Addr>,
    /// Default IPv6 next hop.
    pub gateway6: Option<Ipv6Addr>,
    /// Network instances whose traffic leaves here.
    pub network_instances: Vec<String>,
    /// Static routes.
    pub routes: Vec<Route>,
    /// 802.1Q tag to add on egress.
    pub vlan: Option<u16>,
    /// MTU of the port.
    pub mtu: u16,
}

impl PortDef {
    /// True if `ip` is one of our addresses on this port.
    pub fn owns(&self, ip: IpAddr) -> bool {
        match ip {
            IpAddr::V4(a) => self.ipv4.iter().any(|(x, _)| *x == a),
            IpAddr::V6(a) => self.ipv6.iter().any(|(x, _)| *x == a) || a == self.link_local(),
        }
    }

    /// Our IPv6 link-local address (EUI-64 from the MAC), used as the
    /// source of neighbour discovery.
    pub fn link_local(&self) -> Ipv6Addr {
        let m = self.mac;
        Ipv6Addr::new(
            0xfe80,
            0,
            0,
            0,
            u16::from_be_bytes([m[0] ^ 0x02, m[1]]),
            u16::from_be_bytes([m[2], 0xff]),
            u16::from_be_bytes([0xfe, m[3]]),
            u16::from_be_bytes([m[4], m[5]]),
        )
    }

    /// Our first IPv4 address.
    pub fn first_v4(&self) -> Option<Ipv4Addr> {
        self.ipv4.first().map(|(a, _)| *a)
    }

    /// Our first IPv6 address.
    pub fn first_v6(&self) -> Option<Ipv6Addr> {
        self.ipv6.first().map(|(a, _)| *a)
    }

    /// Our source address for a destination of the same family.
    pub fn source_for(&self, dst: IpAddr) -> Option<IpAddr> {
        match dst {
            IpAddr::V4(_) => self.first_v4().map(IpAddr::V4),
            IpAddr::V6(_) => self.first_v6().map(IpAddr::V6),
        }
    }

    /// True if `ip` is on one of our connected subnets.
    pub fn on_link(&self, ip: IpAddr) -> bool {
        match ip {
            IpAddr::V4(a) => self.ipv4.iter().any(|(x, l)| {
                IpPrefix::new(IpAddr::V4(*x), *l).is_some_and(|p| p.contains(IpAddr::V4(a)))
            }),
            IpAddr::V6(a) => {
                (a.segments()[0] & 0xffc0) == 0xfe80
                    || self.ipv6.iter().any(|(x, l)| {
                        IpPrefix::new(IpAddr::V6(*x), *l).is_some_and(|p| p.contains(IpAddr::V6(a)))
                    })
            }
        }
    }

    /// The next hop towards `dst` from this port: the longest matching
    /// static route, the destination itself when on-link, else the gateway.
    pub fn next_hop(&self, dst: IpAddr) -> Option<IpAddr> {
        let best = self
            .routes
            .iter()
            .filter(|r| r.prefix.contains(dst))
            .max_by_key(|r| r.prefix.len);
        if let Some(r) = best {
            return Some(r.via);
        }
        if self.on_link(dst) {
            return Some(dst);
        }
        match dst {
            IpAddr::V4(_) => self.gateway4.map(IpAddr::V4),
            IpAddr::V6(_) => self.gateway6.map(IpAddr::V6),
        }
    }
}

/// What the per-packet path needs of a port, in flat form (built once from
/// its [`PortDef`]).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PortFast {
    /// Our MAC.
    pub mac: Mac,
    /// 802.1Q tag on egress.
    pub vlan: Option<u16>,
    /// The port carries GTP-U (N3/N9).
    pub tunnel: bool,
    own4: [u32; 4],
    n_own4: u8,
    sub4: [(u32, u32); 4],
    n_sub4: u8,
    gw4: Option<u32>,
    /// At most four IPv4 addresses and no static routes: the flat fields
    /// above answer `owns` and `next_hop` for IPv4.
    simple4: bool,
}

impl PortFast {
    /// The flat view of `p`.
    pub fn new(p: &PortDef) -> PortFast {
        let mut own4 = [0u32; 4];
        let mut sub4 = [(0u32, 0u32); 4];
        for (i, (a, len)) in p.ipv4.iter().take(4).enumerate() {
            own4[i] = u32::from(*a);
            let mask = upf_rules::prefix::mask32(*len);
            sub4[i] = (u32::from(*a) & mask, mask);
        }
        let n = p.ipv4.len().min(4) as u8;
        PortFast {
            mac: p.mac,
            vlan: p.vlan,
            tunnel: p.role.is_tunnel(),
            own4,
            n_own4: n,
            sub4,
            n_sub4: n,
            gw4: p.gateway4.map(u32::from),
            simple4: p.ipv4.len() <= 4 && p.routes.is_empty(),
        }
    }

    /// Length of the Ethernet header we write.
    #[inline(always)]
    pub fn l2_len(&self) -> usize {
        if self.vlan.is_some() {
            18
        } else {
            14
        }
    }

    /// `Some(true)` if `ip` is one of our addresses, `None` if the flat
    /// view cannot tell (ask [`PortDef::owns`]).
    #[inline(always)]
    pub fn owns4(&self, ip: u32) -> Option<bool> {
        if !self.simple4 {
            return None;
        }
        Some(self.own4[..usize::from(self.n_own4)].contains(&ip))
    }

    /// The IPv4 next hop, or `None` if the flat view cannot tell (ask
    /// [`PortDef::next_hop`]).
    #[inline(always)]
    pub fn next_hop4(&self, dst: u32) -> Option<Option<u32>> {
        if !self.simple4 {
            return None;
        }
        if self.sub4[..usize::from(self.n_sub4)]
            .iter()
            .any(|&(net, mask)| dst & mask == net)
        {
            return Some(Some(dst));
        }
        Some(self.gw4)
    }
}

/// All ports and the worker layout.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Topology {
    /// Ports in I/O backend order.
    pub ports: Vec<PortDef>,
    /// Number of workers.
    pub workers: u32,
}

impl Topology {
    /// The port a FAR forwards to: the one serving `network_instance` (if
    /// given and served), else the first port whose role fits the
    /// destination interface.
    pub fn egress(&self, network_instance: Option<&str>, fallback: Role) -> Option<&PortDef> {
        if let Some(ni) = network_instance.filter(|n| !n.is_empty()) {
            if let Some(p) = self
                .ports
                .iter()
                .find(|p| p.network_instances.iter().any(|x| x == ni))
            {
                return Some(p);
            }
        }
        self.ports.iter().find(|p| p.role == fallback)
    }

    /// The port with this id.
    pub fn port(&self, id: PortId) -> Option<&PortDef> {
        self.ports.get(usize::from(id))
    }

    /// The tunnel port (N3 first, then N9) that owns `addr`, or the first
    /// N3 port.
    pub fn tunnel_port_for(&self, local: Option<IpAddr>) -> Option<&PortDef> {
        if let Some(a) = local {
            if let Some(p) = self.ports.iter().find(|p| p.role.is_tunnel() && p.owns(a)) {
                return Some(p);
            }
        }
        self.ports.iter().find(|p| p.role == Role::N3)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn port() -> PortDef {
        PortDef {
            id: 0,
            name: "n6".into(),
            role: Role::N6,
            mac: [2, 0, 0, 0, 6, 1],
            ipv4: vec![("198.18.6.1".parse().unwrap(), 24)],
            ipv6: vec![("2001:db8:6::1".parse().unwrap(), 64)],
            gateway4: Some("198.18.6.254".parse().unwrap()),
            gateway6: None,
            network_instances: vec!["internet".into()],
            routes: vec![Route {
                prefix: "203.0.113.0/24".parse().unwrap(),
                via: "198.18.6.7".parse().unwrap(),
            }],
            vlan: None,
            mtu: 1500,
        }
    }

    #[test]
    fn next_hops() {
        let p = port();
        let ip = |s: &str| s.parse::<IpAddr>().unwrap();
        assert_eq!(p.next_hop(ip("198.18.6.9")), Some(ip("198.18.6.9")));
        assert_eq!(p.next_hop(ip("203.0.113.5")), Some(ip("198.18.6.7")));
        assert_eq!(p.next_hop(ip("8.8.8.8")), Some(ip("198.18.6.254")));
        assert_eq!(p.next_hop(ip("2001:db8:7::1")), None);
        assert!(p.owns(ip("198.18.6.1")));
        assert!(p.owns(IpAddr::V6(p.link_local())));
        assert_eq!(p.link_local().to_string(), "fe80::ff:fe00:601");
    }

    #[test]
    fn flat_view_agrees() {
        let mut p = port();
        p.routes.clear();
        let f = PortFast::new(&p);
        for a in ["198.18.6.1", "198.18.6.9", "8.8.8.8", "198.18.7.1"] {
            let ip: std::net::Ipv4Addr = a.parse().unwrap();
            assert_eq!(f.owns4(ip.into()), Some(p.owns(IpAddr::V4(ip))));
            let want = p.next_hop(IpAddr::V4(ip)).map(|h| match h {
                IpAddr::V4(v) => u32::from(v),
                IpAddr::V6(_) => unreachable!(),
            });
            assert_eq!(f.next_hop4(ip.into()), Some(want));
        }
        // Static routes: the flat view defers to the full one.
        assert_eq!(PortFast::new(&port()).next_hop4(1), None);
    }
}
