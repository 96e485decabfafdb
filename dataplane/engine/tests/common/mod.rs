//! Shared fixtures of the engine tests: a three-port topology, a standard
//! session, and frame builders (all through upf-wire).
#![allow(dead_code)]

use std::net::{IpAddr, Ipv4Addr};

use upf_engine::worker::Output;
use upf_engine::{compile, PortDef, Role, Route, Topology, Worker, WorkerConfig, WorkerUpdate};
use upf_io::mem::{MemBuf, MemPool};
use upf_io::{BufPool, Burst, PacketBuf};
use upf_rules::*;
use upf_wire::ethernet::{EthernetRepr, ETHERTYPE_IPV4};
use upf_wire::fast::{EncapSpec, EncapTemplate};
use upf_wire::gtpu::PduSessionInfo;
use upf_wire::{ipv4, udp};

pub const N3: u16 = 0;
pub const N6: u16 = 1;
pub const MEC: u16 = 2;
pub const UPF_N3_MAC: [u8; 6] = [2, 0, 0, 0, 3, 2];
pub const UPF_N6_MAC: [u8; 6] = [2, 0, 0, 0, 6, 2];
pub const UPF_MEC_MAC: [u8; 6] = [2, 0, 0, 0, 9, 2];
pub const GNB_MAC: [u8; 6] = [2, 0, 0, 0, 3, 1];
pub const DN_GW_MAC: [u8; 6] = [2, 0, 0, 0, 6, 1];
pub const MEC_APP_MAC: [u8; 6] = [2, 0, 0, 0, 9, 1];
pub const UPF_N3: &str = "198.18.3.2";
pub const GNB: &str = "198.18.3.1";
pub const DN_GW: &str = "198.18.6.1";
pub const MEC_APP: &str = "198.18.9.1";
pub const UE: &str = "10.45.0.5";
pub const SERVER: &str = "203.0.113.10";
pub const UL_TEID: u32 = 0x100;
pub const DL_TEID: u32 = 0x200;
pub const SEID: u64 = 0x5e1d;

pub fn ip4(s: &str) -> Ipv4Addr {
    s.parse().unwrap()
}

pub fn topology(workers: u32) -> Topology {
    let port = |id, name: &str, role, mac, addr: &str, gw: Option<&str>, nis: &[&str]| PortDef {
        id,
        name: name.into(),
        role,
        mac,
        ipv4: vec![(ip4(addr), 24)],
        ipv6: vec![],
        gateway4: gw.map(ip4),
        gateway6: None,
        network_instances: nis.iter().map(|s| s.to_string()).collect(),
        routes: vec![],
        vlan: None,
        mtu: 1500,
    };
    let mut n6 = port(
        N6,
        "n6",
        Role::N6,
        UPF_N6_MAC,
        "198.18.6.2",
        Some(DN_GW),
        &["internet"],
    );
    n6.routes.push(Route {
        prefix: "192.0.2.0/24".parse().unwrap(),
        via: "198.18.6.7".parse().unwrap(),
    });
    Topology {
        ports: vec![
            port(N3, "n3", Role::N3, UPF_N3_MAC, UPF_N3, None, &[]),
            n6,
            port(
                MEC,
                "mec",
                Role::Mec,
                UPF_MEC_MAC,
                "198.18.9.2",
                None,
                &["mec"],
            ),
        ],
        workers,
    }
}

pub fn fwd(
    dest: Interface,
    ni: Option<&str>,
    ohc: Option<OuterHeaderCreation>,
) -> ForwardingParameters {
    ForwardingParameters {
        destination_interface: dest,
        network_instance: ni.map(Into::into),
        outer_header_creation: ohc,
        transport_level_marking: None,
        forwarding_policy: None,
        send_end_marker: false,
    }
}

pub fn gtp_to_gnb(teid: u32) -> OuterHeaderCreation {
    OuterHeaderCreation {
        kind: OuterHeaderKind::GtpuUdpIpv4,
        teid,
        ipv4: Some(ip4(GNB)),
        ipv6: None,
        port: None,
    }
}

/// UL PDR 1 (TEID, remove GTP-U, FAR 1 to the internet), DL PDR 2 (UE
/// address, FAR 2 to the gNB with QFI 9), QER 1 (QFI 9), URR 1 (volume).
pub fn session() -> SessionRules {
    SessionRules {
        seid: SEID,
        pdrs: vec![
            Pdr {
                id: 1,
                precedence: 100,
                pdi: Pdi {
                    source_interface: Some(Interface::Access),
                    local_fteid: Some(LocalFteid {
                        teid: UL_TEID,
                        ipv4: Some(ip4(UPF_N3)),
                        ipv6: None,
                    }),
                    network_instance: Some("internet".into()),
                    ue_ip: Some(UeIp {
                        ipv4: Some(ip4(UE)),
                        ipv6: None,
                        is_destination: false,
                    }),
                    ..Default::default()
                },
                outer_header_removal: Some(OuterHeaderRemoval::GtpuUdpIp),
                far_id: Some(1),
                urr_ids: vec![1],
                qer_ids: vec![1],
            },
            Pdr {
                id: 2,
                precedence: 100,
                pdi: Pdi {
                    source_interface: Some(Interface::Core),
                    network_instance: Some("internet".into()),
                    ue_ip: Some(UeIp {
                        ipv4: Some(ip4(UE)),
                        ipv6: None,
                        is_destination: true,
                    }),
                    ..Default::default()
                },
                outer_header_removal: None,
                far_id: Some(2),
                urr_ids: vec![1],
                qer_ids: vec![1],
            },
        ],
        fars: vec![
            Far {
                id: 1,
                apply_action: ApplyAction(ApplyAction::FORW),
                forwarding: Some(fwd(Interface::Core, Some("internet"), None)),
                duplicating: vec![],
                bar_id: None,
            },
            Far {
                id: 2,
                apply_action: ApplyAction(ApplyAction::FORW),
                forwarding: Some(fwd(Interface::Access, None, Some(gtp_to_gnb(DL_TEID)))),
                duplicating: vec![],
                bar_id: None,
            },
        ],
        qers: vec![Qer {
            id: 1,
            qfi: Some(9),
            ..Default::default()
        }],
        urrs: vec![Urr {
            id: 1,
            method: MeasurementMethod {
                volume: true,
                duration: true,
                event: false,
            },
            ..Default::default()
        }],
        bar: None,
    }
}

/// An inner IPv4/UDP packet.
pub fn inner_udp(src: &str, dst: &str, sport: u16, dport: u16, payload: &[u8]) -> Vec<u8> {
    let total = 20 + 8 + payload.len();
    let mut p = vec![0u8; total];
    ipv4::Ipv4Repr {
        src: ip4(src),
        dst: ip4(dst),
        protocol: ipv4::PROTO_UDP,
        ttl: 64,
        tos: 0,
        ident: 1,
        dont_frag: false,
        more_frags: false,
        frag_offset: 0,
        header_len: 20,
        total_len: total,
    }
    .emit(&mut p)
    .unwrap();
    udp::UdpRepr {
        src_port: sport,
        dst_port: dport,
        len: 8 + payload.len(),
        checksum: 0,
    }
    .emit(&mut p[20..])
    .unwrap();
    p[28..].copy_from_slice(payload);
    udp::fill_checksum_v4(&mut p[20..], ip4(src), ip4(dst)).unwrap();
    p
}

/// The inner packet wrapped as a gNB would send it on N3.
pub fn gtp_frame(teid: u32, qfi: Option<u8>, inner: &[u8]) -> Vec<u8> {
    let t = EncapTemplate::new(&EncapSpec {
        eth: Some(EthernetRepr {
            dst: UPF_N3_MAC,
            src: GNB_MAC,
            vlan: None,
            ethertype: 0,
        }),
        src: GNB.parse().unwrap(),
        dst: UPF_N3.parse().unwrap(),
        tos: 0,
        ttl: 64,
        src_port: 2152,
        dst_port: 2152,
        teid,
        pdu_session: qfi.map(|q| PduSessionInfo::Uplink { qfi: q }),
    })
    .unwrap();
    let mut f = vec![0u8; t.len() + inner.len()];
    f[t.len()..].copy_from_slice(inner);
    t.write(&mut f, 5).unwrap();
    f
}

/// The inner packet as an Ethernet frame arriving on N6.
pub fn n6_frame(inner: &[u8]) -> Vec<u8> {
    let mut f = vec![0u8; 14 + inner.len()];
    EthernetRepr {
        dst: UPF_N6_MAC,
        src: DN_GW_MAC,
        vlan: None,
        ethertype: ETHERTYPE_IPV4,
    }
    .emit(&mut f)
    .unwrap();
    f[14..].copy_from_slice(inner);
    f
}

pub struct Rig {
    pub w: Worker<MemBuf>,
    pub out: Output<MemBuf>,
    pub pool: MemPool,
    pub now: u64,
    req: u64,
}

impl Rig {
    pub fn new() -> Rig {
        Self::with(WorkerConfig::default(), 1)
    }

    pub fn with(cfg: WorkerConfig, workers: u32) -> Rig {
        Self::with_topology(cfg, topology(workers))
    }

    pub fn with_topology(cfg: WorkerConfig, topo: Topology) -> Rig {
        let workers = topo.workers;
        let mut w = Worker::new(cfg, topo);
        let mut out = Output::new(3, workers as usize);
        let mut pool = MemPool::new(512, 2048, 256);
        // Neighbours known up front unless a test wants resolution.
        for (ip, mac) in [(GNB, GNB_MAC), (DN_GW, DN_GW_MAC), (MEC_APP, MEC_APP_MAC)] {
            w.apply(
                0,
                WorkerUpdate::Neighbor {
                    ip: ip.parse().unwrap(),
                    mac,
                },
                &mut out,
                &mut pool,
            );
        }
        Rig {
            w,
            out,
            pool,
            now: 1_000_000_000,
            req: 0,
        }
    }

    pub fn install(&mut self, rules: &SessionRules) -> Vec<upf_rules::UsageReport> {
        let c = compile(rules, self.w.topology(), self.now).expect("compile");
        self.req += 1;
        let req = self.req;
        self.w.apply(
            self.now,
            WorkerUpdate::Install {
                req,
                session: Box::new(c),
            },
            &mut self.out,
            &mut self.pool,
        );
        self.take_ack(req).expect("install ok")
    }

    pub fn update(&mut self, u: WorkerUpdate<MemBuf>) {
        self.w.apply(self.now, u, &mut self.out, &mut self.pool);
    }

    pub fn next_req(&mut self) -> u64 {
        self.req += 1;
        self.req
    }

    pub fn take_ack(
        &mut self,
        req: u64,
    ) -> Result<Vec<upf_rules::UsageReport>, upf_ctrl::CommandError> {
        let pos = self
            .w
            .events
            .iter()
            .position(|e| matches!(e, upf_engine::WorkerEvent::Ack { req: r, .. } if *r == req))
            .expect("ack");
        match self.w.events.remove(pos) {
            upf_engine::WorkerEvent::Ack { result, .. } => result,
            _ => unreachable!(),
        }
    }

    /// Sends frames in on `port`; returns what left on each port.
    pub fn run(&mut self, port: u16, frames: &[Vec<u8>]) -> Vec<Vec<Vec<u8>>> {
        let mut burst = Burst::new();
        for f in frames {
            let mut b = self.pool.alloc().expect("pool");
            b.append(f.len()).unwrap().copy_from_slice(f);
            b.set_port(port);
            if burst.is_full() {
                self.w
                    .process_burst(self.now, &mut burst, &mut self.out, &mut self.pool);
            }
            burst.push(b);
        }
        self.w
            .process_burst(self.now, &mut burst, &mut self.out, &mut self.pool);
        self.drain()
    }

    pub fn drain(&mut self) -> Vec<Vec<Vec<u8>>> {
        let mut res = Vec::new();
        for q in self.out.tx.iter_mut() {
            let frames: Vec<Vec<u8>> = q.iter().map(|b| b.data().to_vec()).collect();
            for b in q.drain(..) {
                self.pool.free(b);
            }
            res.push(frames);
        }
        res
    }

    pub fn tick(&mut self, dt_ns: u64) {
        self.now += dt_ns;
        self.w.poll_timers(self.now, &mut self.out, &mut self.pool);
    }

    pub fn usage(&mut self) -> Vec<upf_rules::UsageReport> {
        let mut r = Vec::new();
        self.w.events.retain(|e| match e {
            upf_engine::WorkerEvent::Usage(u) => {
                r.push(*u);
                false
            }
            _ => true,
        });
        r
    }
}

pub fn addr(s: &str) -> IpAddr {
    s.parse().unwrap()
}
