//! The meaning checks of a parsed configuration. Each check names the key
//! path of the value it refuses.

use std::collections::HashSet;
use std::net::IpAddr;

use crate::{Backend, Config, MecAuth, MecStorage, Problem, Role};

struct Out(Vec<Problem>);

impl Out {
    fn err(&mut self, path: impl Into<String>, msg: impl Into<String>) {
        self.0.push(Problem {
            location: None,
            path: path.into(),
            message: msg.into(),
        });
    }
}

fn valid_fqdn(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 253
        && s.trim_end_matches('.').split('.').all(|l| {
            !l.is_empty()
                && l.len() <= 63
                && l.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
                && !l.starts_with('-')
                && !l.ends_with('-')
        })
}

pub(crate) fn validate(c: &Config) -> Vec<Problem> {
    let mut o = Out(Vec::new());
    if c.node.name.trim().is_empty() {
        o.err("node.name", "must not be empty");
    }
    if c.logging.level.trim().is_empty() {
        o.err("logging.level", "must not be empty");
    }
    let d = &c.dataplane;
    if d.workers == 0 || d.workers > 128 {
        o.err(
            "dataplane.workers",
            format!("must be between 1 and 128, got {}", d.workers),
        );
    }
    if !d.cores.is_empty() && d.cores.len() != d.workers as usize {
        o.err(
            "dataplane.cores",
            format!("lists {} cores for {} workers", d.cores.len(), d.workers),
        );
    }
    let mut seen = HashSet::new();
    for (i, core) in d.cores.iter().enumerate() {
        if !seen.insert(core) {
            o.err(
                format!("dataplane.cores[{i}]"),
                format!("core {core} is used twice"),
            );
        }
    }
    if d.burst_size == 0 || d.burst_size > 32 {
        o.err(
            "dataplane.burst_size",
            format!("must be between 1 and 32, got {}", d.burst_size),
        );
    }
    if d.buffers < 256 {
        o.err(
            "dataplane.buffers",
            format!("must be at least 256, got {}", d.buffers),
        );
    }
    if d.buffer_headroom < 128 || d.buffer_headroom > 1024 {
        o.err(
            "dataplane.buffer_headroom",
            format!(
                "must be between 128 and 1024 bytes, got {}",
                d.buffer_headroom
            ),
        );
    }
    if !d.control_ring_bytes.is_power_of_two() || d.control_ring_bytes < 65536 {
        o.err(
            "dataplane.control_ring_bytes",
            format!(
                "must be a power of two >= 65536, got {}",
                d.control_ring_bytes
            ),
        );
    }
    if d.gtpu_echo_interval.get().is_zero() {
        o.err("dataplane.gtpu_echo_interval", "must be greater than 0");
    }
    if d.buffering.per_session_packets == 0 {
        o.err(
            "dataplane.buffering.per_session_packets",
            "must be at least 1",
        );
    }
    if d.buffering.global_packets < d.buffering.per_session_packets {
        o.err(
            "dataplane.buffering.global_packets",
            "must be at least dataplane.buffering.per_session_packets",
        );
    }
    let a = &d.af_packet;
    if d.backend == Backend::AfPacket {
        if a.block_size == 0 || !a.block_size.is_multiple_of(4096) {
            o.err(
                "dataplane.af_packet.block_size",
                format!("must be a multiple of 4096, got {}", a.block_size),
            );
        }
        if a.frame_size < 2048 || !a.block_size.is_multiple_of(a.frame_size.max(1)) {
            o.err(
                "dataplane.af_packet.frame_size",
                format!(
                    "must be >= 2048 and divide block_size, got {}",
                    a.frame_size
                ),
            );
        }
        if a.block_count == 0 {
            o.err("dataplane.af_packet.block_count", "must be at least 1");
        }
    }
    if d.backend == Backend::Dpdk {
        if d.dpdk.eal_args.is_empty() {
            o.err(
                "dataplane.dpdk.eal_args",
                "must not be empty with backend = \"dpdk\"",
            );
        }
        if d.dpdk.mempool_size < 1024 {
            o.err("dataplane.dpdk.mempool_size", "must be at least 1024");
        }
        // DPDK: cache <= RTE_MEMPOOL_CACHE_MAX_SIZE and 1.5 x cache <= size.
        if d.dpdk.mempool_cache > 512
            || u64::from(d.dpdk.mempool_cache) * 3 / 2 > u64::from(d.dpdk.mempool_size)
        {
            o.err(
                "dataplane.dpdk.mempool_cache",
                format!(
                    "must be at most 512 and at most mempool_size / 1.5, got {}",
                    d.dpdk.mempool_cache
                ),
            );
        }
        if !(1..=16).contains(&d.dpdk.rx_queues_per_worker) {
            o.err(
                "dataplane.dpdk.rx_queues_per_worker",
                format!("must be 1..=16, got {}", d.dpdk.rx_queues_per_worker),
            );
        }
        for (f, v) in [
            ("rx_descriptors", d.dpdk.rx_descriptors),
            ("tx_descriptors", d.dpdk.tx_descriptors),
        ] {
            if !v.is_power_of_two() || v < 64 {
                o.err(
                    format!("dataplane.dpdk.{f}"),
                    format!("must be a power of two >= 64, got {v}"),
                );
            }
        }
    }
    // Interfaces.
    if d.interfaces.is_empty() {
        o.err("dataplane.interfaces", "at least one interface is needed");
    } else {
        if !d
            .interfaces
            .iter()
            .any(|i| matches!(i.role, Role::N3 | Role::N9))
        {
            o.err(
                "dataplane.interfaces",
                "needs an interface with role \"n3\" or \"n9\"",
            );
        }
        if !d
            .interfaces
            .iter()
            .any(|i| matches!(i.role, Role::N6 | Role::Mec))
        {
            o.err(
                "dataplane.interfaces",
                "needs an interface with role \"n6\" or \"mec\"",
            );
        }
    }
    let mut names = HashSet::new();
    let mut devices = HashSet::new();
    let mut nis: Vec<(String, String)> = Vec::new();
    for (i, itf) in d.interfaces.iter().enumerate() {
        let p = format!("dataplane.interfaces[{i}]");
        if itf.name.is_empty() {
            o.err(format!("{p}.name"), "must not be empty");
        } else if !names.insert(itf.name.clone()) {
            o.err(
                format!("{p}.name"),
                format!("interface name {:?} is used twice", itf.name),
            );
        }
        if itf.device.is_empty() {
            o.err(format!("{p}.device"), "must not be empty");
        } else if d.backend != Backend::Memory && !devices.insert(itf.device.clone()) {
            o.err(
                format!("{p}.device"),
                format!("device {:?} is used twice", itf.device),
            );
        }
        if let Some(m) = &itf.mac {
            if upf_wire_mac(m).is_none() {
                o.err(format!("{p}.mac"), format!("invalid MAC address {m:?}"));
            }
        }
        if itf.addresses.is_empty() {
            o.err(
                format!("{p}.addresses"),
                "needs at least one address (the UPF answers ARP/NDP for it)",
            );
        }
        for (j, a) in itf.addresses.iter().enumerate() {
            let bad = match a.addr {
                IpAddr::V4(v) => v.is_unspecified() || v.is_multicast() || v.is_broadcast(),
                IpAddr::V6(v) => v.is_unspecified() || v.is_multicast(),
            };
            if bad {
                o.err(
                    format!("{p}.addresses[{j}]"),
                    format!("{a} is not a unicast address"),
                );
            }
        }
        let on_link = |ip: IpAddr| itf.addresses.iter().any(|a| a.contains(ip));
        if let Some(g) = itf.gateway4 {
            if !on_link(IpAddr::V4(g)) {
                o.err(
                    format!("{p}.gateway4"),
                    format!("{g} is not on a subnet of this interface"),
                );
            }
        }
        if let Some(g) = itf.gateway6 {
            let ll = g.segments()[0] & 0xffc0 == 0xfe80;
            if !ll && !on_link(IpAddr::V6(g)) {
                o.err(
                    format!("{p}.gateway6"),
                    format!("{g} is not on a subnet of this interface"),
                );
            }
        }
        for (j, r) in itf.routes.iter().enumerate() {
            if r.prefix.addr.is_ipv4() != r.via.is_ipv4() {
                o.err(
                    format!("{p}.routes[{j}].via"),
                    "must be of the prefix's address family",
                );
            } else if !on_link(r.via) {
                o.err(
                    format!("{p}.routes[{j}].via"),
                    format!("{} is not on a subnet of this interface", r.via),
                );
            }
        }
        if itf.mtu < 576 || itf.mtu > 9216 {
            o.err(
                format!("{p}.mtu"),
                format!("must be between 576 and 9216, got {}", itf.mtu),
            );
        }
        if let Some(v) = itf.vlan {
            if v == 0 || v > 4094 {
                o.err(
                    format!("{p}.vlan"),
                    format!("must be between 1 and 4094, got {v}"),
                );
            }
        }
        for (j, ni) in itf.network_instances.iter().enumerate() {
            if let Some((_, other)) = nis.iter().find(|(n, _)| n == ni) {
                o.err(
                    format!("{p}.network_instances[{j}]"),
                    format!("network instance {ni:?} is already served by interface {other:?}"),
                );
            } else {
                nis.push((ni.clone(), itf.name.clone()));
            }
        }
    }
    // PFCP.
    let pf = &c.pfcp;
    if pf.listen.is_empty() {
        o.err("pfcp.listen", "needs at least one socket address");
    }
    let nid_ok = pf.node_id.parse::<IpAddr>().is_ok() || valid_fqdn(&pf.node_id);
    if !nid_ok {
        o.err(
            "pfcp.node_id",
            format!("{:?} is neither an IP address nor an FQDN", pf.node_id),
        );
    }
    if pf.heartbeat_retries == 0 || pf.heartbeat_retries > 100 {
        o.err(
            "pfcp.heartbeat_retries",
            format!("must be between 1 and 100, got {}", pf.heartbeat_retries),
        );
    }
    if pf.heartbeat_interval.get().is_zero() {
        o.err("pfcp.heartbeat_interval", "must be greater than 0");
    }
    if pf.request_timeout.get().is_zero() {
        o.err("pfcp.request_timeout", "must be greater than 0");
    }
    if pf.request_retries > 20 {
        o.err(
            "pfcp.request_retries",
            format!("must be at most 20, got {}", pf.request_retries),
        );
    }
    if pf.max_sessions == 0 {
        o.err("pfcp.max_sessions", "must be at least 1");
    }
    for (i, p) in pf.peers.iter().enumerate() {
        if p.address.is_none() && p.node_id.is_none() {
            o.err(format!("pfcp.peers[{i}]"), "needs an address or a node_id");
        }
    }
    // UE pools.
    for (i, p) in c.ue_pools.iter().enumerate() {
        let path = format!("ue_pools[{i}]");
        if p.ipv4.is_none() && p.ipv6.is_none() {
            o.err(&path, "needs ipv4 or ipv6");
        }
        if let Some(v4) = &p.ipv4 {
            if !v4.addr.is_ipv4() {
                o.err(
                    format!("{path}.ipv4"),
                    format!("{v4} is not an IPv4 prefix"),
                );
            } else if v4.len > 30 {
                o.err(
                    format!("{path}.ipv4"),
                    format!("{v4} is too small for a pool (at most /30)"),
                );
            }
        }
        if let Some(v6) = &p.ipv6 {
            if v6.addr.is_ipv4() {
                o.err(
                    format!("{path}.ipv6"),
                    format!("{v6} is not an IPv6 prefix"),
                );
            } else if p.ipv6_prefix_len < v6.len || p.ipv6_prefix_len > 128 {
                o.err(
                    format!("{path}.ipv6_prefix_len"),
                    format!(
                        "must be between {} and 128, got {}",
                        v6.len, p.ipv6_prefix_len
                    ),
                );
            }
        }
        if let (Some(a), Some(b)) = (&p.network_instance, &p.dnn) {
            if a != b {
                o.err(
                    format!("{path}.dnn"),
                    "differs from network_instance; set one of them",
                );
            }
        }
        if let Some(ni) = p.network_instance.as_ref().or(p.dnn.as_ref()) {
            if !d.interfaces.is_empty() && !nis.iter().any(|(n, _)| n == ni) {
                o.err(
                    format!("{path}.network_instance"),
                    format!("no interface serves network instance {ni:?}"),
                );
            }
        }
        for (j, q) in c.ue_pools.iter().enumerate().take(i) {
            for (fa, fb, name) in [(&p.ipv4, &q.ipv4, "ipv4"), (&p.ipv6, &q.ipv6, "ipv6")] {
                if let (Some(a), Some(b)) = (fa, fb) {
                    if a.overlaps(b) {
                        o.err(
                            format!("{path}.{name}"),
                            format!("{a} overlaps ue_pools[{j}].{name} {b}"),
                        );
                    }
                }
            }
        }
    }
    // MEC.
    if let Some(m) = &c.mec {
        if m.tls_cert.is_some() != m.tls_key.is_some() {
            o.err("mec.tls_key", "tls_cert and tls_key go together");
        }
        if m.auth == MecAuth::Mtls && (m.client_ca.is_none() || m.tls_cert.is_none()) {
            o.err(
                "mec.client_ca",
                "auth = \"mtls\" needs tls_cert, tls_key and client_ca",
            );
        }
        if m.storage == MecStorage::Etcd && m.etcd_endpoints.is_empty() {
            o.err(
                "mec.etcd_endpoints",
                "storage = \"etcd\" needs at least one endpoint",
            );
        }
        let mut ids = HashSet::new();
        for (i, a) in m.apps.iter().enumerate() {
            if a.instance_id.is_empty() {
                o.err(format!("mec.apps[{i}].instance_id"), "must not be empty");
            } else if !ids.insert(a.instance_id.clone()) {
                o.err(
                    format!("mec.apps[{i}].instance_id"),
                    format!("{:?} is used twice", a.instance_id),
                );
            }
            if m.auth == MecAuth::Bearer && a.token.as_deref().is_none_or(str::is_empty) {
                o.err(
                    format!("mec.apps[{i}].token"),
                    "auth = \"bearer\" needs a token for every app",
                );
            }
        }
    }
    o.0
}

fn upf_wire_mac(s: &str) -> Option<[u8; 6]> {
    let mut out = [0u8; 6];
    let mut n = 0;
    for part in s.split(':') {
        if n == 6 || part.len() != 2 {
            return None;
        }
        out[n] = u8::from_str_radix(part, 16).ok()?;
        n += 1;
    }
    (n == 6).then_some(out)
}

/// Parses a MAC address `aa:bb:cc:dd:ee:ff`.
pub fn parse_mac(s: &str) -> Option<[u8; 6]> {
    upf_wire_mac(s)
}

pub(crate) fn warnings(c: &Config) -> Vec<String> {
    let mut w = Vec::new();
    let n = std::thread::available_parallelism().map_or(1, |n| n.get());
    for (i, core) in c.dataplane.cores.iter().enumerate() {
        if *core >= n {
            w.push(format!(
                "dataplane.cores[{i}]: core {core} does not exist on this machine ({n} cores)"
            ));
        }
    }
    if c.pfcp.peers.is_empty() {
        w.push("pfcp.peers: empty, any SMF may associate (lab use only)".into());
    }
    if let Some(m) = &c.mec {
        if m.auth == MecAuth::None {
            w.push("mec.auth: \"none\" accepts unauthenticated requests (lab use only)".into());
        }
    }
    w
}
