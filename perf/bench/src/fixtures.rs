//! The benchmark's rule set, topology and packets.
//!
//! Every session has the same shape (the one the dataplane issue names):
//!
//! | PDR | dir | precedence | PDI | SDF filters | QER | URR | FAR |
//! |---|---|---|---|---|---|---|---|
//! | 1 | UL | 100 | F-TEID, UE IPv4 | `permit out 17 from 198.51.100.0/24 5000-5999 to assigned`, `permit out 6 from 198.51.100.0/24 443 to assigned` | 2 (QFI 5) | 1 | 1 |
//! | 2 | UL | 200 | F-TEID, UE IPv4, QFI 9 | `permit out 17 from any to assigned`, `permit out 6 from any to assigned` | 1 (QFI 9) | 1 | 1 |
//! | 3 | DL | 100 | UE IPv4 | as PDR 1 | 2 | 1 | 2 |
//! | 4 | DL | 200 | UE IPv4 | as PDR 2 | 1 | 1 | 2 |
//!
//! - FAR 1: forward to Core, network instance `internet` (N6 port, default
//!   gateway), outer header removal 6 (GTP-U/UDP/IP) on PDRs 1 and 2.
//! - FAR 2: forward to Access with GTP-U/UDP/IPv4 outer header creation
//!   towards the session's gNB; the PDU Session Container carries the QFI
//!   of the matched PDR's QER.
//! - QER 1 (QFI 9) and QER 2 (QFI 5): gates open, MBR 100 Gbit/s in each
//!   direction: every packet goes through the token bucket, none is held
//!   back by it.
//! - URR 1: volume and duration measurement, volume threshold (10^15
//!   octets, never reached in a run) and a one-hour period: every packet is
//!   counted and checked against the threshold.
//!
//! Two flows per session exercise the classification: [`Flow::App`]
//! (UDP to 198.51.100.x:5001) matches PDR 1 / 3 by its first filter;
//! [`Flow::Default`] (UDP to 203.0.113.x:8080, QFI 9) fails both filters of
//! PDR 1 / 3 and matches PDR 2 / 4 by its first filter.
//!
//! Identifiers of session `i` (0-based): SEID `i + 1`, UE `10.0.0.0 + i + 1`,
//! uplink TEID [`upf_rules::placement::teid_for_owner`]`(i + 1, owner, workers)`,
//! downlink TEID `0x1000_0000 + i`, gNB `198.18.1.(i % 16 + 1)`.

use std::net::{IpAddr, Ipv4Addr};

use upf_engine::{PortDef, Role, Topology};
use upf_io::PortId;
use upf_rules::placement;
use upf_rules::*;
use upf_wire::ethernet::{EthernetRepr, Mac, ETHERTYPE_IPV4};
use upf_wire::fast::{EncapSpec, EncapTemplate};
use upf_wire::gtpu::PduSessionInfo;
use upf_wire::{ipv4, udp};

/// The N3 port (GTP-U from and to the gNBs).
pub const N3: PortId = 0;
/// The N6 port (plain IP to and from the data network).
pub const N6: PortId = 1;
/// The UPF's MAC on N3.
pub const UPF_N3_MAC: Mac = [0x02, 0, 0, 0, 0x03, 0x02];
/// The UPF's MAC on N6.
pub const UPF_N6_MAC: Mac = [0x02, 0, 0, 0, 0x06, 0x02];
/// The data network gateway's MAC.
pub const GW_MAC: Mac = [0x02, 0, 0, 0, 0x06, 0x01];
/// The UPF's N3 address.
pub const UPF_N3: Ipv4Addr = Ipv4Addr::new(198, 18, 0, 1);
/// The UPF's N6 address.
pub const UPF_N6: Ipv4Addr = Ipv4Addr::new(198, 19, 0, 1);
/// The data network gateway (N6 default route).
pub const GW: Ipv4Addr = Ipv4Addr::new(198, 19, 0, 254);
/// Number of gNBs the sessions are spread over.
pub const GNBS: usize = 16;
/// The first UE address minus one.
pub const UE_BASE: u32 = 0x0a00_0000;
/// Base of the gNB-side (downlink) TEIDs.
pub const DL_TEID_BASE: u32 = 0x1000_0000;
/// The UE's UDP port of [`Flow::App`] (and that port + 1 for [`Flow::Default`]).
pub const UE_PORT: u16 = 40000;
/// Server port of [`Flow::App`].
pub const APP_PORT: u16 = 5001;
/// Server port of [`Flow::Default`].
pub const DEFAULT_PORT: u16 = 8080;
/// QFI of QER 2 (PDRs 1 and 3).
pub const APP_QFI: u8 = 5;
/// QFI of QER 1 (PDRs 2 and 4).
pub const DEFAULT_QFI: u8 = 9;

/// Which of a session's two flows a packet belongs to.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Flow {
    /// Matches PDR 1 (uplink) or PDR 3 (downlink): the first PDR tried.
    App,
    /// Matches PDR 2 or 4 after both filters of PDR 1 / 3 failed.
    Default,
}

impl Flow {
    /// Both flows.
    pub const ALL: [Flow; 2] = [Flow::App, Flow::Default];

    /// The QFI the gNB puts in the uplink PDU Session Container and the UPF
    /// in the downlink one.
    pub fn qfi(self) -> u8 {
        match self {
            Flow::App => APP_QFI,
            Flow::Default => DEFAULT_QFI,
        }
    }

    fn index(self) -> usize {
        match self {
            Flow::App => 0,
            Flow::Default => 1,
        }
    }
}

/// Packet direction.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Direction {
    /// gNB → N3 → N6.
    Uplink,
    /// N6 → N3 → gNB.
    Downlink,
}

impl Direction {
    /// The port packets of this direction arrive on.
    pub fn ingress(self) -> PortId {
        match self {
            Direction::Uplink => N3,
            Direction::Downlink => N6,
        }
    }

    /// The port they leave by.
    pub fn egress(self) -> PortId {
        match self {
            Direction::Uplink => N6,
            Direction::Downlink => N3,
        }
    }
}

/// The shape of a fixture.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FixtureConfig {
    /// Number of sessions.
    pub sessions: usize,
    /// Number of workers the sessions are placed on (TEIDs encode the
    /// owner, as the UPF allocates them). A benchmark runs one of them.
    pub workers: u32,
    /// Length of the inner IP packet (the G-PDU payload), at least 28.
    pub inner_len: usize,
}

impl Default for FixtureConfig {
    fn default() -> Self {
        FixtureConfig {
            sessions: 1000,
            workers: 1,
            inner_len: 64,
        }
    }
}

/// Rules, topology and packets of a benchmark. Cheap to build: rules and
/// frames of a session are generated on demand from its index.
#[derive(Clone, Debug)]
pub struct Fixture {
    /// The shape.
    pub cfg: FixtureConfig,
}

fn flow_desc(s: &str) -> FlowDescription {
    // The fixture's texts are constants; a parse failure is a bug here.
    s.parse()
        .unwrap_or_else(|e| panic!("fixture flow description {s:?}: {e}"))
}

fn sdf(s: &str) -> SdfFilter {
    SdfFilter {
        flow: Some(flow_desc(s)),
        ..Default::default()
    }
}

impl Fixture {
    /// A fixture of this shape.
    pub fn new(cfg: FixtureConfig) -> Fixture {
        assert!(
            cfg.inner_len >= 28,
            "inner packets need IPv4 and UDP headers"
        );
        assert!(
            cfg.sessions < (1 << 24),
            "UE addresses come from 10.0.0.0/8"
        );
        Fixture { cfg }
    }

    /// Number of sessions.
    pub fn sessions(&self) -> usize {
        self.cfg.sessions
    }

    /// The two-port topology (N3, N6) for `workers` workers.
    pub fn topology(&self) -> Topology {
        let port =
            |id: PortId, name: &str, role, mac, a: Ipv4Addr, len, gw, nis: &[&str]| PortDef {
                id,
                name: name.into(),
                role,
                mac,
                ipv4: vec![(a, len)],
                ipv6: vec![],
                gateway4: gw,
                gateway6: None,
                network_instances: nis.iter().map(|s| s.to_string()).collect(),
                routes: vec![],
                vlan: None,
                mtu: 1500,
            };
        Topology {
            ports: vec![
                port(
                    N3,
                    "n3",
                    Role::N3,
                    UPF_N3_MAC,
                    UPF_N3,
                    16,
                    None,
                    &["access"],
                ),
                port(
                    N6,
                    "n6",
                    Role::N6,
                    UPF_N6_MAC,
                    UPF_N6,
                    24,
                    Some(GW),
                    &["internet"],
                ),
            ],
            workers: self.cfg.workers.max(1),
        }
    }

    /// Neighbours the workers know up front (gNBs and the N6 gateway), as
    /// if ARP had already resolved them.
    pub fn neighbors(&self) -> Vec<(IpAddr, Mac)> {
        let mut v: Vec<(IpAddr, Mac)> = (0..GNBS)
            .map(|g| (IpAddr::V4(gnb_addr(g)), gnb_mac(g)))
            .collect();
        v.push((IpAddr::V4(GW), GW_MAC));
        v
    }

    /// UE address of session `i`.
    pub fn ue(&self, i: usize) -> Ipv4Addr {
        Ipv4Addr::from(UE_BASE + 1 + i as u32)
    }

    /// The worker that owns session `i`.
    pub fn owner(&self, i: usize) -> u32 {
        placement::session_owner(Some(u32::from(self.ue(i))), None, 0, self.cfg.workers)
    }

    /// The UPF's (uplink) TEID of session `i`.
    pub fn ul_teid(&self, i: usize) -> u32 {
        placement::teid_for_owner(i as u32 + 1, self.owner(i), self.cfg.workers.max(1))
            .unwrap_or_else(|| panic!("TEID space exhausted at session {i}"))
    }

    /// The gNB's (downlink) TEID of session `i`.
    pub fn dl_teid(&self, i: usize) -> u32 {
        DL_TEID_BASE + i as u32
    }

    /// Index of the gNB of session `i`.
    pub fn gnb_of(&self, i: usize) -> usize {
        i % GNBS
    }

    /// The server address a flow of session `i` talks to (one per gNB, so a
    /// few template frames cover every session).
    pub fn server(&self, i: usize, flow: Flow) -> Ipv4Addr {
        let host = self.gnb_of(i) as u8 + 1;
        match flow {
            Flow::App => Ipv4Addr::new(198, 51, 100, host),
            Flow::Default => Ipv4Addr::new(203, 0, 113, host),
        }
    }

    /// UE and server UDP ports of a flow.
    pub fn ports(&self, flow: Flow) -> (u16, u16) {
        match flow {
            Flow::App => (UE_PORT, APP_PORT),
            Flow::Default => (UE_PORT + 1, DEFAULT_PORT),
        }
    }

    /// The complete rule set of session `i`.
    pub fn rules(&self, i: usize) -> SessionRules {
        let ue = self.ue(i);
        let fteid = LocalFteid {
            teid: self.ul_teid(i),
            ipv4: Some(UPF_N3),
            ipv6: None,
        };
        let app_filters = || {
            vec![
                sdf("permit out 17 from 198.51.100.0/24 5000-5999 to assigned"),
                sdf("permit out 6 from 198.51.100.0/24 443 to assigned"),
            ]
        };
        let default_filters = || {
            vec![
                sdf("permit out 17 from any to assigned"),
                sdf("permit out 6 from any to assigned"),
            ]
        };
        let ul = |id, precedence, qfis: Vec<u8>, filters, qer| Pdr {
            id,
            precedence,
            pdi: Pdi {
                source_interface: Some(Interface::Access),
                local_fteid: Some(fteid),
                network_instance: Some("access".into()),
                ue_ip: Some(UeIp {
                    ipv4: Some(ue),
                    ipv6: None,
                    is_destination: false,
                }),
                sdf_filters: filters,
                qfis,
                ..Default::default()
            },
            outer_header_removal: Some(OuterHeaderRemoval::GtpuUdpIp),
            far_id: Some(1),
            urr_ids: vec![1],
            qer_ids: vec![qer],
        };
        let dl = |id, precedence, filters, qer| Pdr {
            id,
            precedence,
            pdi: Pdi {
                source_interface: Some(Interface::Core),
                network_instance: Some("internet".into()),
                ue_ip: Some(UeIp {
                    ipv4: Some(ue),
                    ipv6: None,
                    is_destination: true,
                }),
                sdf_filters: filters,
                ..Default::default()
            },
            outer_header_removal: None,
            far_id: Some(2),
            urr_ids: vec![1],
            qer_ids: vec![qer],
        };
        let qer = |id, qfi| Qer {
            id,
            qfi: Some(qfi),
            mbr_ul_kbps: Some(100_000_000),
            mbr_dl_kbps: Some(100_000_000),
            ..Default::default()
        };
        SessionRules {
            seid: i as u64 + 1,
            pdrs: vec![
                ul(1, 100, vec![], app_filters(), 2),
                ul(2, 200, vec![DEFAULT_QFI], default_filters(), 1),
                dl(3, 100, app_filters(), 2),
                dl(4, 200, default_filters(), 1),
            ],
            fars: vec![
                Far {
                    id: 1,
                    apply_action: ApplyAction(ApplyAction::FORW),
                    forwarding: Some(ForwardingParameters {
                        destination_interface: Interface::Core,
                        network_instance: Some("internet".into()),
                        outer_header_creation: None,
                        transport_level_marking: None,
                        forwarding_policy: None,
                        send_end_marker: false,
                    }),
                    ..Default::default()
                },
                Far {
                    id: 2,
                    apply_action: ApplyAction(ApplyAction::FORW),
                    forwarding: Some(ForwardingParameters {
                        destination_interface: Interface::Access,
                        network_instance: Some("access".into()),
                        outer_header_creation: Some(OuterHeaderCreation {
                            kind: OuterHeaderKind::GtpuUdpIpv4,
                            teid: self.dl_teid(i),
                            ipv4: Some(gnb_addr(self.gnb_of(i))),
                            ipv6: None,
                            port: None,
                        }),
                        transport_level_marking: None,
                        forwarding_policy: None,
                        send_end_marker: false,
                    }),
                    ..Default::default()
                },
            ],
            qers: vec![qer(1, DEFAULT_QFI), qer(2, APP_QFI)],
            urrs: vec![Urr {
                id: 1,
                method: MeasurementMethod {
                    volume: true,
                    duration: true,
                    event: false,
                },
                triggers: ReportingTriggers(ReportingTriggers::VOLTH | ReportingTriggers::PERIO),
                measurement_period_s: Some(3600),
                volume_threshold: Volume {
                    total: Some(1_000_000_000_000_000),
                    uplink: None,
                    downlink: None,
                },
                ..Default::default()
            }],
            bar: None,
        }
    }

    /// The inner IP packet of a flow of session `i` in `dir`: IPv4 + UDP
    /// with valid checksums, `inner_len` bytes in all.
    pub fn inner(&self, i: usize, flow: Flow, dir: Direction) -> Vec<u8> {
        let (ue_port, srv_port) = self.ports(flow);
        let (src, dst, sp, dp) = match dir {
            Direction::Uplink => (self.ue(i), self.server(i, flow), ue_port, srv_port),
            Direction::Downlink => (self.server(i, flow), self.ue(i), srv_port, ue_port),
        };
        let total = self.cfg.inner_len;
        let mut p = vec![0u8; total];
        let payload = total - 28;
        for (k, b) in p[28..].iter_mut().enumerate() {
            *b = k as u8;
        }
        emit(
            ipv4::Ipv4Repr {
                src,
                dst,
                protocol: ipv4::PROTO_UDP,
                ttl: 64,
                tos: 0,
                ident: 1,
                dont_frag: true,
                more_frags: false,
                frag_offset: 0,
                header_len: 20,
                total_len: total,
            }
            .emit(&mut p),
        );
        emit(
            udp::UdpRepr {
                src_port: sp,
                dst_port: dp,
                len: 8 + payload,
                checksum: 0,
            }
            .emit(&mut p[20..]),
        );
        emit(udp::fill_checksum_v4(&mut p[20..], src, dst));
        p
    }

    /// The frame a gNB sends for a flow of session `i` (Ethernet, IPv4,
    /// UDP 2152, GTP-U G-PDU with a PDU Session Container of the flow's QFI).
    pub fn uplink_frame(&self, i: usize, flow: Flow) -> Vec<u8> {
        let g = self.gnb_of(i);
        let t = EncapTemplate::new(&EncapSpec {
            eth: Some(EthernetRepr {
                dst: UPF_N3_MAC,
                src: gnb_mac(g),
                vlan: None,
                ethertype: 0,
            }),
            src: IpAddr::V4(gnb_addr(g)),
            dst: IpAddr::V4(UPF_N3),
            tos: 0,
            ttl: 64,
            src_port: 2152,
            dst_port: 2152,
            teid: self.ul_teid(i),
            pdu_session: Some(PduSessionInfo::Uplink { qfi: flow.qfi() }),
        })
        .unwrap_or_else(|e| panic!("uplink template: {e}"));
        let inner = self.inner(i, flow, Direction::Uplink);
        let mut f = vec![0u8; t.len() + inner.len()];
        f[t.len()..].copy_from_slice(&inner);
        emit(t.write(&mut f, 1));
        f
    }

    /// The frame the N6 gateway sends for a flow of session `i`.
    pub fn downlink_frame(&self, i: usize, flow: Flow) -> Vec<u8> {
        let inner = self.inner(i, flow, Direction::Downlink);
        let mut f = vec![0u8; 14 + inner.len()];
        emit(
            EthernetRepr {
                dst: UPF_N6_MAC,
                src: GW_MAC,
                vlan: None,
                ethertype: ETHERTYPE_IPV4,
            }
            .emit(&mut f),
        );
        f[14..].copy_from_slice(&inner);
        f
    }

    /// The frame of a flow of session `i` arriving in direction `dir`.
    pub fn frame(&self, i: usize, flow: Flow, dir: Direction) -> Vec<u8> {
        match dir {
            Direction::Uplink => self.uplink_frame(i, flow),
            Direction::Downlink => self.downlink_frame(i, flow),
        }
    }
}

/// Address of gNB `g`.
pub fn gnb_addr(g: usize) -> Ipv4Addr {
    Ipv4Addr::new(198, 18, 1, (g % GNBS) as u8 + 1)
}

/// MAC of gNB `g`.
pub fn gnb_mac(g: usize) -> Mac {
    [0x02, 0, 0, 0, 0x01, (g % GNBS) as u8 + 1]
}

pub(crate) fn flow_index(f: Flow) -> usize {
    f.index()
}

/// Fixture construction writes into buffers it sized itself: a failure is
/// a bug in this file.
fn emit<T, E: std::fmt::Display>(r: Result<T, E>) -> T {
    r.unwrap_or_else(|e| panic!("fixture frame: {e}"))
}
