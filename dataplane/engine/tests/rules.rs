//! One test per rule kind and action the engine must honour, beyond the
//! basic paths of `engine.rs`: framed routes, IPv6 UEs and IPv6 N3,
//! application detection by PFDs (3-tuple and domain name), ToS / SPI /
//! flow-label filters, End Marker relay and SNDEM, the global buffer bound,
//! URR start/stop/periodic/time-threshold reports, the FAR for quota action,
//! duplication, transport level marking, NDP and ICMPv6, MEC breakout by
//! network instance, per-QoS-flow QFIs, and a property test of PDR
//! selection against the upf-rules reference matcher.

mod common;

use std::net::Ipv6Addr;
use std::sync::Arc;

use common::*;
use proptest::prelude::*;
use upf_engine::{DropReason, PfdTable, Topology, WorkerConfig, WorkerUpdate};
use upf_rules::*;
use upf_wire::ethernet::{self, EthernetRepr, ETHERTYPE_IPV6};
use upf_wire::fast::{parse_frame, parse_ip, EncapSpec, EncapTemplate, FrameKind};
use upf_wire::gtpu::{self, PduSessionInfo};
use upf_wire::{icmp, ipv4, ipv6, udp};

const NS: u64 = 1_000_000_000;

fn ip6(s: &str) -> Ipv6Addr {
    s.parse().unwrap()
}

// ---------------------------------------------------------------------
// IPv6 helpers
// ---------------------------------------------------------------------

const UPF_N3_V6: &str = "2001:db8:3::2";
const GNB_V6: &str = "2001:db8:3::1";
const UPF_N6_V6: &str = "2001:db8:6::2";
const DN_GW_V6: &str = "2001:db8:6::1";
const UE_V6_NET: &str = "2001:db8:45:1::";
const UE_V6: &str = "2001:db8:45:1::5";
const SERVER_V6: &str = "2001:db8:99::10";

/// The common topology with IPv6 addresses on N3 and N6 as well.
fn topology6() -> Topology {
    let mut t = topology(1);
    t.ports[N3 as usize].ipv6 = vec![(ip6(UPF_N3_V6), 64)];
    t.ports[N6 as usize].ipv6 = vec![(ip6(UPF_N6_V6), 64)];
    t.ports[N6 as usize].gateway6 = Some(ip6(DN_GW_V6));
    t
}

fn rig6() -> Rig {
    let mut r = Rig::with_topology(WorkerConfig::default(), topology6());
    for (ip, mac) in [(GNB_V6, GNB_MAC), (DN_GW_V6, DN_GW_MAC)] {
        r.update(WorkerUpdate::Neighbor {
            ip: ip.parse().unwrap(),
            mac,
        });
    }
    r
}

fn inner_udp6(
    src: &str,
    dst: &str,
    sport: u16,
    dport: u16,
    tc: u8,
    fl: u32,
    payload: &[u8],
) -> Vec<u8> {
    let mut p = vec![0u8; 40 + 8 + payload.len()];
    ipv6::Ipv6Repr {
        src: ip6(src),
        dst: ip6(dst),
        next_header: ipv4::PROTO_UDP,
        hop_limit: 64,
        traffic_class: tc,
        flow_label: fl,
        payload_len: 8 + payload.len(),
    }
    .emit(&mut p)
    .unwrap();
    udp::UdpRepr {
        src_port: sport,
        dst_port: dport,
        len: 8 + payload.len(),
        checksum: 0,
    }
    .emit(&mut p[40..])
    .unwrap();
    p[48..].copy_from_slice(payload);
    udp::fill_checksum_v6(&mut p[40..], &ip6(src), &ip6(dst)).unwrap();
    p
}

/// GTP-U over IPv6 from the gNB.
fn gtp6_frame(teid: u32, qfi: Option<u8>, inner: &[u8]) -> Vec<u8> {
    let t = EncapTemplate::new(&EncapSpec {
        eth: Some(EthernetRepr {
            dst: UPF_N3_MAC,
            src: GNB_MAC,
            vlan: None,
            ethertype: 0,
        }),
        src: GNB_V6.parse().unwrap(),
        dst: UPF_N3_V6.parse().unwrap(),
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
    t.write(&mut f, 1).unwrap();
    f
}

fn n6_frame6(inner: &[u8]) -> Vec<u8> {
    let mut f = vec![0u8; 14 + inner.len()];
    EthernetRepr {
        dst: UPF_N6_MAC,
        src: DN_GW_MAC,
        vlan: None,
        ethertype: ETHERTYPE_IPV6,
    }
    .emit(&mut f)
    .unwrap();
    f[14..].copy_from_slice(inner);
    f
}

/// A dual-stack session whose tunnels run over IPv6, with outer header
/// removal `ohr`.
fn session6(ohr: OuterHeaderRemoval) -> SessionRules {
    let mut s = session();
    let ue6: IpPrefix = format!("{UE_V6_NET}/64").parse().unwrap();
    for p in s.pdrs.iter_mut() {
        if let Some(u) = p.pdi.ue_ip.as_mut() {
            u.ipv6 = Some(ue6);
        }
    }
    s.pdrs[0].pdi.local_fteid = Some(LocalFteid {
        teid: UL_TEID,
        ipv4: None,
        ipv6: Some(ip6(UPF_N3_V6)),
    });
    s.pdrs[0].outer_header_removal = Some(ohr);
    s.fars[1].forwarding = Some(fwd(
        Interface::Access,
        None,
        Some(OuterHeaderCreation {
            kind: OuterHeaderKind::GtpuUdpIpv6,
            teid: DL_TEID,
            ipv4: None,
            ipv6: Some(ip6(GNB_V6)),
            port: None,
        }),
    ));
    s
}

fn gtpu_of(f: &[u8]) -> upf_wire::fast::GtpuInfo {
    match parse_frame(f).unwrap().kind {
        FrameKind::Gtpu(g) => g,
        k => panic!("not GTP-U: {k:?}"),
    }
}

// ---------------------------------------------------------------------
// Lookups
// ---------------------------------------------------------------------

#[test]
fn framed_routes_reach_the_session() {
    let mut s = session();
    s.pdrs[1].pdi.framed_routes = vec![
        "192.168.50.0/24".parse().unwrap(),
        "2001:db8:77::/48".parse().unwrap(),
    ];
    let mut r = Rig::with_topology(WorkerConfig::default(), topology6());
    r.update(WorkerUpdate::Neighbor {
        ip: GNB.parse().unwrap(),
        mac: GNB_MAC,
    });
    r.install(&s);
    // Downlink to a host behind the UE (IPv4 framed route).
    let inner = inner_udp(SERVER, "192.168.50.9", 1, 2, b"framed");
    let out = r.run(N6, &[n6_frame(&inner)]);
    assert_eq!(out[N3 as usize].len(), 1, "framed IPv4 route");
    assert_eq!(gtpu_of(&out[N3 as usize][0]).header.teid, DL_TEID);
    // IPv6 framed route (the UE has no IPv6 address of its own).
    let inner = inner_udp6(SERVER_V6, "2001:db8:77:1::9", 1, 2, 0, 0, b"framed6");
    let out = r.run(N6, &[n6_frame6(&inner)]);
    assert_eq!(out[N3 as usize].len(), 1, "framed IPv6 route");
    // Outside the routes: no session.
    let inner = inner_udp(SERVER, "192.168.51.9", 1, 2, b"x");
    let out = r.run(N6, &[n6_frame(&inner)]);
    assert!(out[N3 as usize].is_empty());
    assert_eq!(r.w.stats.drops_of(DropReason::NoSession), 1);
}

#[test]
fn ipv6_ue_over_ipv6_n3_both_ways() {
    for ohr in [
        OuterHeaderRemoval::GtpuUdpIpv6,
        OuterHeaderRemoval::GtpuUdpIp,
    ] {
        let mut r = rig6();
        r.install(&session6(ohr));
        // Uplink: GTP-U/UDP/IPv6 in, the inner IPv6 packet out of N6 to the
        // IPv6 gateway.
        let inner = inner_udp6(UE_V6, SERVER_V6, 4000, 443, 0, 0, b"up6");
        let out = r.run(N3, &[gtp6_frame(UL_TEID, Some(9), &inner)]);
        assert_eq!(out[N6 as usize].len(), 1, "{ohr:?}");
        let f = &out[N6 as usize][0];
        assert_eq!(&f[0..6], &DN_GW_MAC);
        assert_eq!(&f[12..14], &ETHERTYPE_IPV6.to_be_bytes());
        assert_eq!(&f[14..], &inner[..]);
        // Downlink: the reply is tunnelled over IPv6 with TEID, QFI and a
        // valid UDP checksum.
        let inner = inner_udp6(SERVER_V6, UE_V6, 443, 4000, 0, 0, b"down6");
        let out = r.run(N6, &[n6_frame6(&inner)]);
        assert_eq!(out[N3 as usize].len(), 1);
        let f = &out[N3 as usize][0];
        let g = gtpu_of(f);
        assert_eq!(g.header.teid, DL_TEID);
        assert_eq!(g.header.ext.pdu_session.map(|p| p.qfi()), Some(9));
        assert_eq!(g.outer.addrs.dst_addr(), addr(GNB_V6));
        assert_eq!(g.outer.addrs.src_addr(), addr(UPF_N3_V6));
        assert!(udp::verify_v6(&f[54..], &ip6(UPF_N3_V6), &ip6(GNB_V6)));
        assert_eq!(&f[g.inner_offset..], &inner[..]);
    }
}

// ---------------------------------------------------------------------
// Classification
// ---------------------------------------------------------------------

/// The standard session plus an uplink PDR of precedence 10 with `pdi`
/// changes that drops what it matches (FAR 3).
fn with_drop_pdr(f: impl FnOnce(&mut Pdi)) -> SessionRules {
    let mut s = session();
    let mut pdi = Pdi {
        source_interface: Some(Interface::Access),
        local_fteid: s.pdrs[0].pdi.local_fteid,
        ..Default::default()
    };
    f(&mut pdi);
    s.pdrs.push(Pdr {
        id: 3,
        precedence: 10,
        pdi,
        outer_header_removal: Some(OuterHeaderRemoval::GtpuUdpIpv4),
        far_id: Some(3),
        urr_ids: vec![],
        qer_ids: vec![],
    });
    s.fars.push(Far {
        id: 3,
        apply_action: ApplyAction(ApplyAction::DROP),
        ..Default::default()
    });
    s
}

#[test]
fn application_id_matches_pfd_flows_and_domains() {
    let mut r = Rig::new();
    r.install(&with_drop_pdr(|p| p.application_id = Some("video".into())));
    let mut pfds = PfdTable::default();
    pfds.set(
        "video",
        &[Pfd {
            flows: vec!["permit out 6 from 203.0.113.20 443 to assigned"
                .parse()
                .unwrap()],
            domain_names: vec!["video.example".into()],
            urls: vec![],
        }],
    );
    r.update(WorkerUpdate::Pfds(Arc::new(pfds)));
    // 3-tuple: TCP to the video server's port 443.
    let mut tcp = inner_udp(UE, "203.0.113.20", 40000, 443, b"tls");
    tcp[9] = ipv4::PROTO_TCP;
    let other_port = {
        let mut p = tcp.clone();
        p[22..24].copy_from_slice(&8443u16.to_be_bytes());
        p
    };
    // Domain: a DNS query for video.example.
    let q = [
        0x12, 0x34, 0x01, 0x00, 0, 1, 0, 0, 0, 0, 0, 0, 5, b'v', b'i', b'd', b'e', b'o', 7, b'e',
        b'x', b'a', b'm', b'p', b'l', b'e', 0, 0, 1, 0, 1,
    ];
    let dns_video = inner_udp(UE, "203.0.113.53", 5353, 53, &q);
    let mut q2 = q;
    q2[13] = b'w';
    let dns_other = inner_udp(UE, "203.0.113.53", 5353, 53, &q2);
    let out = r.run(
        N3,
        &[
            gtp_frame(UL_TEID, None, &tcp),
            gtp_frame(UL_TEID, None, &other_port),
            gtp_frame(UL_TEID, None, &dns_video),
            gtp_frame(UL_TEID, None, &dns_other),
        ],
    );
    assert_eq!(
        r.w.stats.drops_of(DropReason::FarDrop),
        2,
        "flow and domain"
    );
    let passed: Vec<&[u8]> = out[N6 as usize].iter().map(|f| &f[14..]).collect();
    assert_eq!(passed, vec![&other_port[..], &dns_other[..]]);
}

#[test]
fn tos_mask_spi_and_flow_label_filters() {
    // ToS/Traffic Class with mask: DSCP EF, whatever the ECN bits.
    let mut r = Rig::new();
    r.install(&with_drop_pdr(|p| {
        p.sdf_filters = vec![SdfFilter {
            tos_tc: Some((0xb8, 0xfc)),
            ..Default::default()
        }]
    }));
    let mk = |tos: u8| {
        let mut p = inner_udp(UE, SERVER, 1, 2, b"tos");
        p[1] = tos;
        let c = upf_wire::checksum::checksum(&{
            let mut h = p[..20].to_vec();
            h[10] = 0;
            h[11] = 0;
            h
        });
        p[10..12].copy_from_slice(&c.to_be_bytes());
        gtp_frame(UL_TEID, None, &p)
    };
    let out = r.run(N3, &[mk(0xb8), mk(0xb9), mk(0x28)]);
    assert_eq!(r.w.stats.drops_of(DropReason::FarDrop), 2);
    assert_eq!(out[N6 as usize].len(), 1);

    // Security parameter index of ESP.
    let mut r = Rig::new();
    r.install(&with_drop_pdr(|p| {
        p.sdf_filters = vec![SdfFilter {
            flow: Some("permit out 50 from any to assigned".parse().unwrap()),
            spi: Some(0xabcd),
            ..Default::default()
        }]
    }));
    let esp = |spi: u32| {
        let mut p = inner_udp(UE, SERVER, 0, 0, &[0u8; 16]);
        p[9] = ipv4::PROTO_ESP;
        p[20..24].copy_from_slice(&spi.to_be_bytes());
        gtp_frame(UL_TEID, None, &p)
    };
    let out = r.run(N3, &[esp(0xabcd), esp(0xabce)]);
    assert_eq!(r.w.stats.drops_of(DropReason::FarDrop), 1);
    assert_eq!(out[N6 as usize].len(), 1);

    // IPv6 flow label.
    let mut r = rig6();
    let mut s = session6(OuterHeaderRemoval::GtpuUdpIpv6);
    s.pdrs.push(Pdr {
        id: 3,
        precedence: 10,
        pdi: Pdi {
            source_interface: Some(Interface::Access),
            local_fteid: s.pdrs[0].pdi.local_fteid,
            sdf_filters: vec![SdfFilter {
                flow_label: Some(0x12345),
                ..Default::default()
            }],
            ..Default::default()
        },
        outer_header_removal: Some(OuterHeaderRemoval::GtpuUdpIpv6),
        far_id: Some(3),
        urr_ids: vec![],
        qer_ids: vec![],
    });
    s.fars.push(Far {
        id: 3,
        apply_action: ApplyAction(ApplyAction::DROP),
        ..Default::default()
    });
    r.install(&s);
    let a = inner_udp6(UE_V6, SERVER_V6, 1, 2, 0, 0x12345, b"fl");
    let b = inner_udp6(UE_V6, SERVER_V6, 1, 2, 0, 0x12346, b"fl");
    let out = r.run(
        N3,
        &[gtp6_frame(UL_TEID, None, &a), gtp6_frame(UL_TEID, None, &b)],
    );
    assert_eq!(r.w.stats.drops_of(DropReason::FarDrop), 1);
    assert_eq!(out[N6 as usize].len(), 1);
    assert_eq!(&out[N6 as usize][0][14..], &b[..]);
}

#[test]
fn each_qos_flow_keeps_its_qfi_on_a_shared_far() {
    let mut s = session();
    // A second downlink PDR (port 5060, QER 2 with QFI 5) on the same FAR.
    s.qers.push(Qer {
        id: 2,
        qfi: Some(5),
        ..Default::default()
    });
    s.pdrs.push(Pdr {
        id: 4,
        precedence: 50,
        pdi: Pdi {
            source_interface: Some(Interface::Core),
            ue_ip: s.pdrs[1].pdi.ue_ip,
            sdf_filters: vec![SdfFilter {
                flow: Some("permit out 17 from any 5060 to assigned".parse().unwrap()),
                ..Default::default()
            }],
            ..Default::default()
        },
        outer_header_removal: None,
        far_id: Some(2),
        urr_ids: vec![1],
        qer_ids: vec![2],
    });
    let mut r = Rig::new();
    r.install(&s);
    let voice = inner_udp(SERVER, UE, 5060, 1, b"voice");
    let data = inner_udp(SERVER, UE, 80, 1, b"data");
    let out = r.run(N6, &[n6_frame(&voice), n6_frame(&data)]);
    let qfis: Vec<u8> = out[N3 as usize]
        .iter()
        .map(|f| gtpu_of(f).header.ext.pdu_session.unwrap().qfi())
        .collect();
    assert_eq!(qfis, vec![5, 9]);
}

// ---------------------------------------------------------------------
// FAR actions
// ---------------------------------------------------------------------

#[test]
fn end_marker_on_tunnel_change_and_relay() {
    // SNDEM: the SMF moves the downlink tunnel to a new TEID.
    let mut r = Rig::new();
    let mut s = session();
    r.install(&s);
    let mut f = fwd(Interface::Access, None, Some(gtp_to_gnb(0x999)));
    f.send_end_marker = true;
    s.fars[1].forwarding = Some(f);
    r.install(&s);
    let out = r.drain();
    assert_eq!(out[N3 as usize].len(), 1, "one End Marker");
    let g = gtpu_of(&out[N3 as usize][0]);
    assert_eq!(g.header.msg_type, gtpu::MSG_END_MARKER);
    assert_eq!(g.header.teid, DL_TEID, "on the old tunnel");
    assert_eq!(g.inner_len, 0);
    assert_eq!(r.w.stats.end_markers_sent, 1);

    // Relay: an intermediate UPF forwards the gNB's End Marker along the
    // uplink FAR's tunnel (N9 towards the anchor UPF).
    let mut r = Rig::new();
    let psa = "198.18.3.9";
    r.update(WorkerUpdate::Neighbor {
        ip: psa.parse().unwrap(),
        mac: [2, 0, 0, 0, 3, 9],
    });
    let mut s = session();
    s.fars[0].forwarding = Some(fwd(
        Interface::Core,
        None,
        Some(OuterHeaderCreation {
            kind: OuterHeaderKind::GtpuUdpIpv4,
            teid: 0x4242,
            ipv4: Some(ip4(psa)),
            ipv6: None,
            port: None,
        }),
    ));
    r.install(&s);
    let mut em = gtp_frame(UL_TEID, None, &[]);
    em[14 + 20 + 8 + 1] = gtpu::MSG_END_MARKER;
    let out = r.run(N3, &[em]);
    assert_eq!(out[N3 as usize].len(), 1);
    let g = gtpu_of(&out[N3 as usize][0]);
    assert_eq!(g.header.msg_type, gtpu::MSG_END_MARKER);
    assert_eq!(g.header.teid, 0x4242);
    assert_eq!(g.outer.addrs.dst_addr(), addr(psa));
    assert_eq!(&out[N3 as usize][0][0..6], &[2, 0, 0, 0, 3, 9]);
}

#[test]
fn duplicate_far_sends_a_copy() {
    let mut r = Rig::new();
    r.update(WorkerUpdate::Neighbor {
        ip: "198.18.3.77".parse().unwrap(),
        mac: [2, 0, 0, 0, 3, 0x77],
    });
    let mut s = session();
    s.fars[0].apply_action = ApplyAction(ApplyAction::FORW | ApplyAction::DUPL);
    s.fars[0].duplicating = vec![DuplicatingParameters {
        destination_interface: Interface::Access,
        outer_header_creation: Some(OuterHeaderCreation {
            kind: OuterHeaderKind::GtpuUdpIpv4,
            teid: 0x77,
            ipv4: Some(ip4("198.18.3.77")),
            ipv6: None,
            port: None,
        }),
        transport_level_marking: None,
        forwarding_policy: None,
    }];
    r.install(&s);
    let inner = inner_udp(UE, SERVER, 1, 2, b"copy me");
    let out = r.run(N3, &[gtp_frame(UL_TEID, None, &inner)]);
    assert_eq!(out[N6 as usize].len(), 1, "the original");
    assert_eq!(&out[N6 as usize][0][14..], &inner[..]);
    assert_eq!(out[N3 as usize].len(), 1, "the copy");
    let g = gtpu_of(&out[N3 as usize][0]);
    assert_eq!(g.header.teid, 0x77);
    assert_eq!(&out[N3 as usize][0][g.inner_offset..], &inner[..]);
    assert_eq!(r.w.stats.duplicated_packets, 1);
}

#[test]
fn transport_level_marking_sets_the_outer_dscp() {
    let mut r = Rig::new();
    let mut s = session();
    let mut f = fwd(Interface::Access, None, Some(gtp_to_gnb(DL_TEID)));
    f.transport_level_marking = Some(0xb8fc);
    s.fars[1].forwarding = Some(f);
    r.install(&s);
    let out = r.run(N6, &[n6_frame(&inner_udp(SERVER, UE, 1, 2, b"ef"))]);
    let g = gtpu_of(&out[N3 as usize][0]);
    assert_eq!(g.outer.tos, 0xb8);
    assert_eq!(
        upf_wire::checksum::checksum(&out[N3 as usize][0][14..34]),
        0
    );
}

#[test]
fn mec_breakout_by_network_instance() {
    let mut s = session();
    // Traffic to the MEC subnet goes to the local "mec" data network.
    s.pdrs.push(Pdr {
        id: 3,
        precedence: 10,
        pdi: Pdi {
            source_interface: Some(Interface::Access),
            local_fteid: s.pdrs[0].pdi.local_fteid,
            sdf_filters: vec![SdfFilter {
                flow: Some(
                    "permit out ip from 198.18.9.0/24 to assigned"
                        .parse()
                        .unwrap(),
                ),
                ..Default::default()
            }],
            ..Default::default()
        },
        outer_header_removal: Some(OuterHeaderRemoval::GtpuUdpIp),
        far_id: Some(3),
        urr_ids: vec![1],
        qer_ids: vec![1],
    });
    s.fars.push(Far {
        id: 3,
        apply_action: ApplyAction(ApplyAction::FORW),
        forwarding: Some(fwd(Interface::Core, Some("mec"), None)),
        ..Default::default()
    });
    let mut r = Rig::new();
    r.install(&s);
    let to_mec = inner_udp(UE, MEC_APP, 1, 80, b"edge");
    let to_dn = inner_udp(UE, SERVER, 1, 80, b"far");
    let out = r.run(
        N3,
        &[
            gtp_frame(UL_TEID, None, &to_mec),
            gtp_frame(UL_TEID, None, &to_dn),
        ],
    );
    assert_eq!(out[MEC as usize].len(), 1);
    assert_eq!(&out[MEC as usize][0][0..6], &MEC_APP_MAC);
    assert_eq!(&out[MEC as usize][0][14..], &to_mec[..]);
    assert_eq!(out[N6 as usize].len(), 1);
    // The MEC app's reply, arriving on the MEC port, goes down the tunnel.
    let mut reply = n6_frame(&inner_udp(MEC_APP, UE, 80, 1, b"back"));
    reply[0..6].copy_from_slice(&UPF_MEC_MAC);
    let out = r.run(MEC, &[reply]);
    assert_eq!(gtpu_of(&out[N3 as usize][0]).header.teid, DL_TEID);
}

// ---------------------------------------------------------------------
// BAR and URR
// ---------------------------------------------------------------------

#[test]
fn buffering_is_bounded_per_worker_too() {
    let mut r = Rig::with(
        WorkerConfig {
            buffer_per_session: 3,
            buffer_global: 4,
            ..Default::default()
        },
        1,
    );
    for (seid, ue, teid) in [(1u64, "10.45.0.5", 0x100u32), (2, "10.45.0.6", 0x101)] {
        let mut s = session();
        s.seid = seid;
        s.pdrs[0].pdi.local_fteid.as_mut().unwrap().teid = teid;
        for p in s.pdrs.iter_mut() {
            p.pdi.ue_ip.as_mut().unwrap().ipv4 = Some(ip4(ue));
        }
        s.fars[1].apply_action = ApplyAction(ApplyAction::BUFF);
        r.install(&s);
    }
    let frames: Vec<Vec<u8>> = ["10.45.0.5", "10.45.0.6"]
        .iter()
        .flat_map(|ue| (0..3u8).map(move |i| n6_frame(&inner_udp(SERVER, ue, 2, 1, &[i]))))
        .collect();
    r.run(N6, &frames);
    assert_eq!(r.w.buffered(), 4, "3 of the first session, 1 of the second");
    assert_eq!(r.w.stats.drops_of(DropReason::BufferFull), 2);
}

#[test]
fn urr_start_stop_periodic_and_time_threshold() {
    let mut r = Rig::new();
    let mut s = session();
    s.urrs[0].triggers = ReportingTriggers(
        ReportingTriggers::START
            | ReportingTriggers::STOPT
            | ReportingTriggers::PERIO
            | ReportingTriggers::TIMTH,
    );
    s.urrs[0].measurement_period_s = Some(10);
    s.urrs[0].time_threshold_s = Some(2);
    s.urrs[0].inactivity_detection_time_s = Some(1);
    r.install(&s);
    let ul = gtp_frame(UL_TEID, None, &inner_udp(UE, SERVER, 1, 2, b"x"));
    r.run(N3, std::slice::from_ref(&ul));
    let reps = r.usage();
    assert_eq!(reps.len(), 1);
    assert!(reps[0].trigger.has(UsageReportTrigger::START));
    // Active for 2.5 s (a packet every 0.5 s): the time threshold trips.
    for _ in 0..5 {
        r.now += NS / 2;
        r.run(N3, std::slice::from_ref(&ul));
        r.tick(0);
    }
    r.tick(NS / 10);
    let reps = r.usage();
    assert!(
        reps.iter()
            .any(|u| u.trigger.has(UsageReportTrigger::TIMTH) && u.duration_s >= Some(2)),
        "{reps:?}"
    );
    // Silence longer than the inactivity time: stop of traffic.
    r.tick(2 * NS);
    let reps = r.usage();
    assert!(
        reps.iter()
            .any(|u| u.trigger.has(UsageReportTrigger::STOPT)),
        "{reps:?}"
    );
    // The period ends 10 s after installation.
    r.tick(10 * NS);
    let reps = r.usage();
    assert!(
        reps.iter()
            .any(|u| u.trigger.has(UsageReportTrigger::PERIO)),
        "{reps:?}"
    );
}

#[test]
fn exhausted_quota_switches_to_the_far_for_quota_action() {
    let mut r = Rig::new();
    let mut s = session();
    s.urrs[0].triggers = ReportingTriggers(ReportingTriggers::VOLQU);
    s.urrs[0].volume_quota.uplink = Some(100);
    // Once the quota is used, uplink goes to a redirect server on the MEC
    // network (a captive portal).
    s.urrs[0].far_id_for_quota_action = Some(3);
    s.fars.push(Far {
        id: 3,
        apply_action: ApplyAction(ApplyAction::FORW),
        forwarding: Some(fwd(Interface::Core, Some("mec"), None)),
        ..Default::default()
    });
    r.install(&s);
    let p = |d: &str| gtp_frame(UL_TEID, None, &inner_udp(UE, d, 1, 2, &[0u8; 72]));
    let out = r.run(N3, &[p(SERVER), p(MEC_APP)]);
    assert_eq!(out[N6 as usize].len(), 1, "within the quota");
    let reps = r.usage();
    assert!(reps
        .iter()
        .any(|u| u.trigger.has(UsageReportTrigger::VOLQU)));
    let out = r.run(N3, &[p(MEC_APP)]);
    assert_eq!(out[MEC as usize].len(), 1, "after it, the quota FAR");
    assert_eq!(r.w.stats.drops_of(DropReason::QuotaExhausted), 0);
    let _ = out;
}

// ---------------------------------------------------------------------
// Own addresses over IPv6
// ---------------------------------------------------------------------

fn ns_frame(target: &str, from: &str, from_mac: [u8; 6]) -> Vec<u8> {
    let t = ip6(target);
    let src = ip6(from);
    let dst = icmp::solicited_node(&t);
    let mut f = vec![0u8; 14 + 40 + icmp::ND_LEN];
    EthernetRepr {
        dst: ethernet::ipv6_multicast_mac(&dst),
        src: from_mac,
        vlan: None,
        ethertype: ETHERTYPE_IPV6,
    }
    .emit(&mut f)
    .unwrap();
    ipv6::Ipv6Repr {
        src,
        dst,
        next_header: ipv4::PROTO_ICMPV6,
        hop_limit: 255,
        traffic_class: 0,
        flow_label: 0,
        payload_len: icmp::ND_LEN,
    }
    .emit(&mut f[14..])
    .unwrap();
    icmp::NdRepr {
        kind: icmp::V6_NEIGHBOR_SOLICIT,
        target: t,
        lla: Some(from_mac),
        flags: 0,
    }
    .emit(&mut f[54..], &src, &dst)
    .unwrap();
    f
}

#[test]
fn ndp_icmpv6_echo_and_resolution_by_ndp() {
    let mut r = Rig::with_topology(WorkerConfig::default(), topology6());
    // Neighbour solicitation for our N6 address: advertised with our MAC,
    // and the sender learnt.
    let out = r.run(N6, &[ns_frame(UPF_N6_V6, DN_GW_V6, DN_GW_MAC)]);
    let na = &out[N6 as usize][0];
    let ip = parse_ip(&na[14..]).unwrap();
    assert_eq!(ip.protocol, ipv4::PROTO_ICMPV6);
    let nd = icmp::NdRepr::parse(&na[54..], &ip6(UPF_N6_V6), &ip6(DN_GW_V6)).unwrap();
    assert_eq!(nd.kind, icmp::V6_NEIGHBOR_ADVERT);
    assert_eq!(nd.lla, Some(UPF_N6_MAC));
    assert_eq!(r.w.neighbor(addr(DN_GW_V6)), Some(DN_GW_MAC));

    // ICMPv6 echo to our address.
    let mut ping = vec![0u8; 40 + 12];
    ipv6::Ipv6Repr {
        src: ip6(DN_GW_V6),
        dst: ip6(UPF_N6_V6),
        next_header: ipv4::PROTO_ICMPV6,
        hop_limit: 64,
        traffic_class: 0,
        flow_label: 0,
        payload_len: 12,
    }
    .emit(&mut ping)
    .unwrap();
    ping[40] = icmp::V6_ECHO_REQUEST;
    ping[44..52].copy_from_slice(b"\x00\x07\x00\x01ping");
    icmp::v6_fill_checksum(&mut ping[40..], &ip6(DN_GW_V6), &ip6(UPF_N6_V6)).unwrap();
    let out = r.run(N6, &[n6_frame6(&ping)]);
    let rep = &out[N6 as usize][0];
    assert_eq!(rep[54], icmp::V6_ECHO_REPLY);
    assert!(icmp::v6_verify(&rep[54..], &ip6(UPF_N6_V6), &ip6(DN_GW_V6)));

    // Uplink towards an unresolved IPv6 gateway: a solicitation goes out,
    // the advertisement releases the packet.
    let mut r = Rig::with_topology(WorkerConfig::default(), topology6());
    r.install(&session6(OuterHeaderRemoval::GtpuUdpIpv6));
    r.update(WorkerUpdate::Neighbor {
        ip: GNB_V6.parse().unwrap(),
        mac: GNB_MAC,
    });
    let inner = inner_udp6(UE_V6, SERVER_V6, 1, 2, 0, 0, b"resolve");
    let out = r.run(N3, &[gtp6_frame(UL_TEID, None, &inner)]);
    assert_eq!(out[N6 as usize].len(), 1, "a neighbour solicitation");
    let sol = &out[N6 as usize][0];
    let nd = icmp::NdRepr::parse(
        &sol[54..],
        &parse_ip(&sol[14..])
            .unwrap()
            .addrs
            .src_addr()
            .to_string()
            .parse()
            .unwrap(),
        &icmp::solicited_node(&ip6(DN_GW_V6)),
    )
    .unwrap();
    assert_eq!(
        (nd.kind, nd.target),
        (icmp::V6_NEIGHBOR_SOLICIT, ip6(DN_GW_V6))
    );
    let mut na = ns_frame(UPF_N6_V6, DN_GW_V6, DN_GW_MAC);
    // Turn it into an advertisement of the gateway.
    icmp::NdRepr {
        kind: icmp::V6_NEIGHBOR_ADVERT,
        target: ip6(DN_GW_V6),
        lla: Some(DN_GW_MAC),
        flags: icmp::NdRepr::SOLICITED | icmp::NdRepr::OVERRIDE,
    }
    .emit(&mut na[54..], &ip6(DN_GW_V6), &ip6(UPF_N6_V6))
    .unwrap();
    na[14 + 24..14 + 40].copy_from_slice(&ip6(UPF_N6_V6).octets());
    na[0..6].copy_from_slice(&UPF_N6_MAC);
    let out = r.run(N6, &[na]);
    assert_eq!(out[N6 as usize].len(), 1, "the released packet");
    assert_eq!(&out[N6 as usize][0][0..6], &DN_GW_MAC);
    assert_eq!(&out[N6 as usize][0][14..], &inner[..]);
}

// ---------------------------------------------------------------------
// PDR selection against the reference
// ---------------------------------------------------------------------

fn arb_filter() -> impl Strategy<Value = String> {
    let proto = prop_oneof![Just("ip"), Just("17"), Just("6")];
    let remote = prop_oneof![
        Just("any".to_string()),
        Just("203.0.113.0/24".to_string()),
        Just("203.0.113.10".to_string()),
        Just("!198.51.100.0/24".to_string()),
    ];
    let rports = prop_oneof![
        Just(String::new()),
        Just(" 443".to_string()),
        Just(" 400-500".to_string()),
        Just(" 80,443".to_string()),
    ];
    let ue = prop_oneof![Just("assigned"), Just("any"), Just("10.45.0.5")];
    let dir = prop_oneof![Just("out"), Just("in")];
    (dir, proto, remote, rports, ue).prop_map(|(d, p, r, rp, u)| {
        if d == "out" {
            format!("permit out {p} from {r}{rp} to {u}")
        } else {
            format!("permit in {p} from {u} to {r}{rp}")
        }
    })
}

/// One case of the PDR selection properties: PDRs of one direction with
/// the given precedences and filters, each with a FAR marking its packets
/// with its own DSCP; one UDP or TCP packet between the UE and `server`
/// (`port` on the server's side); the engine must forward it by the first
/// PDR in precedence order whose filters match as the upf-rules reference
/// matcher decides, or drop it as matching no PDR.
fn pdr_selection_case(
    uplink: bool,
    pdrs: &[(u32, Vec<String>)],
    port: u16,
    udp: bool,
    server: &str,
) -> Result<(), TestCaseError> {
    let src_if = if uplink {
        Interface::Access
    } else {
        Interface::Core
    };
    let mut s = session();
    s.pdrs.retain(|p| p.pdi.source_interface != Some(src_if));
    s.fars.truncate(2);
    let mut expect: Vec<(u32, u16, Vec<FlowDescription>)> = Vec::new();
    for (i, (prec, filters)) in pdrs.iter().enumerate() {
        let id = 10 + i as u16;
        let fds: Vec<FlowDescription> = filters.iter().map(|f| f.parse().unwrap()).collect();
        let sdf_filters = fds
            .iter()
            .map(|f| SdfFilter {
                flow: Some(f.clone()),
                ..Default::default()
            })
            .collect();
        let pdi = if uplink {
            Pdi {
                source_interface: Some(Interface::Access),
                local_fteid: Some(LocalFteid {
                    teid: UL_TEID,
                    ipv4: Some(ip4(UPF_N3)),
                    ipv6: None,
                }),
                sdf_filters,
                ..Default::default()
            }
        } else {
            Pdi {
                source_interface: Some(Interface::Core),
                network_instance: Some("internet".into()),
                ue_ip: Some(UeIp {
                    ipv4: Some(ip4(UE)),
                    ipv6: None,
                    is_destination: true,
                }),
                sdf_filters,
                ..Default::default()
            }
        };
        s.pdrs.push(Pdr {
            id,
            precedence: *prec,
            pdi,
            outer_header_removal: uplink.then_some(OuterHeaderRemoval::GtpuUdpIp),
            far_id: Some(100 + u32::from(id)),
            urr_ids: vec![],
            qer_ids: vec![],
        });
        // Each PDR's FAR marks its packets (downlink: the outer header)
        // with its own DSCP.
        let mut f = if uplink {
            fwd(Interface::Core, Some("internet"), None)
        } else {
            fwd(Interface::Access, None, Some(gtp_to_gnb(DL_TEID)))
        };
        f.transport_level_marking = Some(u16::from(id as u8) << 10);
        s.fars.push(Far {
            id: 100 + u32::from(id),
            apply_action: ApplyAction(ApplyAction::FORW),
            forwarding: Some(f),
            ..Default::default()
        });
        expect.push((*prec, id, fds));
    }
    let mut r = Rig::new();
    r.install(&s);
    let (src, dst, sport, dport) = if uplink {
        (UE, server, 5000, port)
    } else {
        (server, UE, port, 5000)
    };
    let mut inner = inner_udp(src, dst, sport, dport, b"p");
    if !udp {
        inner[9] = ipv4::PROTO_TCP;
    }
    let t = FlowTuple {
        src: addr(src),
        dst: addr(dst),
        protocol: inner[9],
        src_port: Some(sport),
        dst_port: Some(dport),
    };
    let ue = [IpPrefix::host(addr(UE))];
    expect.sort_by_key(|(p, id, _)| (*p, *id));
    let want = expect
        .iter()
        .find(|(_, _, f)| f.is_empty() || f.iter().any(|fd| fd.matches(&t, uplink, &ue)))
        .map(|(_, id, _)| *id);
    let (in_port, out_port, frame) = if uplink {
        (N3, N6, gtp_frame(UL_TEID, None, &inner))
    } else {
        (N6, N3, n6_frame(&inner))
    };
    let out = r.run(in_port, &[frame]);
    let sent = &out[out_port as usize];
    match want {
        Some(id) => {
            prop_assert_eq!(sent.len(), 1);
            prop_assert_eq!(sent[0][15] >> 2, id as u8);
        }
        None => {
            prop_assert!(sent.is_empty());
            prop_assert_eq!(r.w.stats.drops_of(DropReason::NoPdr), 1);
        }
    }
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(200))]
    /// For random uplink PDR sets and packets, the engine applies the FAR
    /// of the first PDR by precedence whose filters match, as the
    /// reference matcher of upf-rules decides.
    #[test]
    fn pdr_selection_follows_precedence_and_filters(
        pdrs in proptest::collection::vec((0u32..50, proptest::collection::vec(arb_filter(), 0..3)), 1..5),
        dport in prop_oneof![Just(443u16), Just(80), Just(450), Just(9999)],
        udp in any::<bool>(),
        server in prop_oneof![Just("203.0.113.10"), Just("203.0.113.99"), Just("198.51.100.1")],
    ) {
        pdr_selection_case(true, &pdrs, dport, udp, server)?;
    }

    /// The same for downlink PDR sets (packets from the data network to
    /// the UE, matched in the engine's IPv4 fast path or its general
    /// matcher, whichever the filters need).
    #[test]
    fn downlink_pdr_selection_follows_precedence_and_filters(
        pdrs in proptest::collection::vec((0u32..50, proptest::collection::vec(arb_filter(), 0..3)), 1..5),
        sport in prop_oneof![Just(443u16), Just(80), Just(450), Just(9999)],
        udp in any::<bool>(),
        server in prop_oneof![Just("203.0.113.10"), Just("203.0.113.99"), Just("198.51.100.1")],
    ) {
        pdr_selection_case(false, &pdrs, sport, udp, server)?;
    }
}

#[test]
fn port_lists_are_honoured_end_to_end() {
    let mut r = Rig::new();
    r.install(&with_drop_pdr(|p| {
        p.sdf_filters = vec![SdfFilter {
            flow: Some(
                "permit out 17 from any 53,5353,6000-6010 to assigned"
                    .parse()
                    .unwrap(),
            ),
            ..Default::default()
        }]
    }));
    let f = |port| gtp_frame(UL_TEID, None, &inner_udp(UE, SERVER, 1, port, b"p"));
    let out = r.run(N3, &[f(53), f(5353), f(6005), f(6011), f(54)]);
    assert_eq!(r.w.stats.drops_of(DropReason::FarDrop), 3);
    assert_eq!(out[N6 as usize].len(), 2);
}

// ---------------------------------------------------------------------
// Memory layout of the benchmark rule set
// ---------------------------------------------------------------------

/// The benchmark's session (4 PDRs with 2 SDF filters each, 2 QERs, 1 URR,
/// 2 FARs, 1 tunnel: 22 cells, 11 lines) is laid out so that a packet
/// reads 6 cache lines of its cells uplink and 7 downlink, from a
/// line-aligned start (the pipeline prefetches exactly these).
#[test]
fn the_benchmark_session_reads_six_lines_uplink_and_seven_downlink() {
    use upf_engine::compile::{compile, Dir};
    let fx = upf_bench::fixtures::Fixture::new(Default::default());
    let s = compile(&fx.rules(0), &fx.topology(), 0).expect("compiles");
    assert_eq!(s.cells().as_ptr() as usize % 64, 0, "cells start a line");
    assert_eq!(s.lines_read(Dir::Uplink), 6);
    assert_eq!(s.lines_read(Dir::Downlink), 7);
    // Padding loses no rule.
    assert_eq!(s.n_qers(), 2);
    assert!((0..2).all(|i| s.qer(i).is_some()));
    assert_eq!(s.urrs().count(), 1);
    assert_eq!(s.n_fars(), 2);
}
