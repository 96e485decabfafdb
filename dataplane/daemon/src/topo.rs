//! The engine topology from the configuration.

use std::net::IpAddr;

use upf_config::{Backend, Config, Role as CRole};
use upf_engine::{PortDef, Role, Route, Topology};

use crate::StartError;

fn role(r: CRole) -> Role {
    match r {
        CRole::N3 => Role::N3,
        CRole::N6 => Role::N6,
        CRole::N9 => Role::N9,
        CRole::Mec => Role::Mec,
    }
}

/// A stable locally administered MAC for ports without one (memory backend).
fn synthetic_mac(i: usize) -> [u8; 6] {
    [0x02, 0x00, 0x5e, 0x00, 0x00, i as u8]
}

/// Builds the topology; MACs come from the config, else from `device_macs`
/// (the opened DPDK ports, in interface order), else from the device.
pub fn build(cfg: &Config, device_macs: Option<&[[u8; 6]]>) -> Result<Topology, StartError> {
    let mut ports = Vec::new();
    for (i, itf) in cfg.dataplane.interfaces.iter().enumerate() {
        let mac = match itf.mac.as_deref() {
            Some(m) => upf_config::parse_mac(m).ok_or_else(|| {
                StartError::Config(format!("interface {}: bad MAC {m}", itf.name))
            })?,
            None => match (device_macs.and_then(|m| m.get(i)), cfg.dataplane.backend) {
                (Some(m), _) => *m,
                (None, Backend::AfPacket) => {
                    upf_io::af_packet::if_mac(&itf.device).ok_or_else(|| {
                        StartError::Config(format!(
                            "interface {}: cannot read the MAC of device {:?} (does it exist?)",
                            itf.name, itf.device
                        ))
                    })?
                }
                (None, _) => synthetic_mac(i),
            },
        };
        let mut ipv4 = Vec::new();
        let mut ipv6 = Vec::new();
        for a in &itf.addresses {
            match a.addr {
                IpAddr::V4(v) => ipv4.push((v, a.len)),
                IpAddr::V6(v) => ipv6.push((v, a.len)),
            }
        }
        ports.push(PortDef {
            id: i as u16,
            name: itf.name.clone(),
            role: role(itf.role),
            mac,
            ipv4,
            ipv6,
            gateway4: itf.gateway4,
            gateway6: itf.gateway6,
            network_instances: itf.network_instances.clone(),
            routes: itf
                .routes
                .iter()
                .map(|r| Route {
                    prefix: r.prefix,
                    via: r.via,
                })
                .collect(),
            vlan: itf.vlan,
            mtu: itf.mtu,
        });
    }
    Ok(Topology {
        ports,
        workers: cfg.dataplane.workers.max(1),
    })
}
