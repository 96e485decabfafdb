//! End-to-end behaviour of one worker on in-memory frames.

mod common;

use common::*;
use upf_engine::{DropReason, WorkerEvent, WorkerUpdate};
use upf_rules::steer::{DnsRule, SteerAction, SteerDestination, SteerFilter, SteeringRule};
use upf_rules::*;
use upf_wire::fast::{parse_frame, FrameKind};
use upf_wire::gtpu::{self, Message, PduSessionInfo};
use upf_wire::{arp, checksum, dns, ethernet, icmp, ipv4};

#[test]
fn uplink_decapsulates_to_n6_gateway() {
    let mut r = Rig::new();
    r.install(&session());
    let inner = inner_udp(UE, SERVER, 40000, 443, b"hello");
    let out = r.run(N3, &[gtp_frame(UL_TEID, Some(9), &inner)]);
    assert_eq!(out[N6 as usize].len(), 1, "one packet out of N6");
    let f = &out[N6 as usize][0];
    assert_eq!(&f[0..6], &DN_GW_MAC, "next hop is the N6 gateway");
    assert_eq!(&f[6..12], &UPF_N6_MAC);
    assert_eq!(&f[14..], &inner[..], "inner packet intact");
    assert_eq!(r.w.stats.uplink_packets, 1);
}

#[test]
fn downlink_encapsulates_with_teid_and_qfi() {
    let mut r = Rig::new();
    r.install(&session());
    let inner = inner_udp(SERVER, UE, 443, 40000, b"world");
    let out = r.run(N6, &[n6_frame(&inner)]);
    assert_eq!(out[N3 as usize].len(), 1);
    let f = &out[N3 as usize][0];
    assert_eq!(&f[0..6], &GNB_MAC);
    let p = parse_frame(f).unwrap();
    let FrameKind::Gtpu(g) = p.kind else {
        panic!("not GTP-U")
    };
    assert_eq!(g.header.teid, DL_TEID);
    assert_eq!(
        g.header.ext.pdu_session,
        Some(PduSessionInfo::Downlink {
            qfi: 9,
            rqi: false,
            ppi: None
        })
    );
    assert_eq!(g.outer.addrs.dst_addr(), addr(GNB));
    assert_eq!(g.outer.addrs.src_addr(), addr(UPF_N3));
    assert_eq!(checksum::checksum(&f[14..34]), 0);
    assert_eq!(&f[g.inner_offset..], &inner[..]);
}

#[test]
fn precedence_and_sdf_filters_pick_the_pdr() {
    let mut s = session();
    // A higher-priority uplink PDR for UDP to port 53 that drops.
    s.pdrs.push(Pdr {
        id: 3,
        precedence: 10,
        pdi: Pdi {
            source_interface: Some(Interface::Access),
            local_fteid: s.pdrs[0].pdi.local_fteid,
            sdf_filters: vec![SdfFilter {
                flow: Some("permit out 17 from any 53 to assigned".parse().unwrap()),
                ..Default::default()
            }],
            ..Default::default()
        },
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
    let mut r = Rig::new();
    r.install(&s);
    // Uplink to port 53: the filter (written for downlink) matches swapped.
    let dns_q = inner_udp(UE, SERVER, 5000, 53, b"q");
    let other = inner_udp(UE, SERVER, 5000, 80, b"x");
    let out = r.run(
        N3,
        &[
            gtp_frame(UL_TEID, Some(9), &dns_q),
            gtp_frame(UL_TEID, Some(9), &other),
        ],
    );
    assert_eq!(out[N6 as usize].len(), 1);
    assert_eq!(&out[N6 as usize][0][14..], &other[..]);
    assert_eq!(r.w.stats.drops_of(DropReason::FarDrop), 1);
}

#[test]
fn unknown_teid_gets_rate_limited_error_indication() {
    let mut r = Rig::with(
        upf_engine::WorkerConfig {
            error_indications_per_s: 2,
            ..Default::default()
        },
        1,
    );
    r.install(&session());
    let inner = inner_udp(UE, SERVER, 1, 2, b"z");
    let frames: Vec<Vec<u8>> = (0..5).map(|_| gtp_frame(0xdead, None, &inner)).collect();
    let out = r.run(N3, &frames);
    let n3 = &out[N3 as usize];
    assert_eq!(n3.len(), 2, "rate limit of 2 per second");
    let p = parse_frame(&n3[0]).unwrap();
    let FrameKind::Gtpu(g) = p.kind else { panic!() };
    assert_eq!(g.header.msg_type, gtpu::MSG_ERROR_INDICATION);
    assert_eq!(g.header.ext.udp_port, Some(2152));
    let body = &n3[0][g.inner_offset..g.inner_offset + g.inner_len];
    assert_eq!(
        Message::parse(gtpu::MSG_ERROR_INDICATION, body).unwrap(),
        Message::ErrorIndication {
            teid: 0xdead,
            peer: addr(UPF_N3)
        }
    );
    assert_eq!(g.outer.addrs.dst_addr(), addr(GNB));
    assert_eq!(r.w.stats.drops_of(DropReason::UnknownTeid), 5);
    // A second later the bucket has refilled.
    r.now += 1_000_000_000;
    let out = r.run(N3, &frames[..1]);
    assert_eq!(out[N3 as usize].len(), 1);
}

#[test]
fn echo_request_is_answered_with_same_sequence() {
    let mut r = Rig::new();
    let mut body = [0u8; 32];
    let n = Message::EchoRequest
        .emit(&mut body, 0, Some(4242), None)
        .unwrap();
    // Wrap the message in Ethernet/IPv4/UDP by reusing the G-PDU builder
    // and patching the GTP-U header.
    let mut f = gtp_frame(0, None, &body[8..n]);
    let g = 14 + 20 + 8;
    f[g..g + n].copy_from_slice(&body[..n]);
    let out = r.run(N3, &[f]);
    let reply = &out[N3 as usize][0];
    let p = parse_frame(reply).unwrap();
    let FrameKind::Gtpu(g) = p.kind else { panic!() };
    assert_eq!(g.header.msg_type, gtpu::MSG_ECHO_RESPONSE);
    assert_eq!(g.header.seq, Some(4242));
    assert_eq!(g.outer.addrs.dst_addr(), addr(GNB));
    assert_eq!(&reply[0..6], &GNB_MAC);
    assert_eq!(checksum::checksum(&reply[14..34]), 0);
}

#[test]
fn arp_and_icmp_for_our_addresses() {
    let mut r = Rig::new();
    let mut f = vec![0u8; 42];
    ethernet::EthernetRepr {
        dst: ethernet::BROADCAST,
        src: GNB_MAC,
        vlan: None,
        ethertype: ethernet::ETHERTYPE_ARP,
    }
    .emit(&mut f)
    .unwrap();
    arp::ArpRepr {
        op: arp::OP_REQUEST,
        sender_mac: GNB_MAC,
        sender_ip: ip4(GNB),
        target_mac: [0; 6],
        target_ip: ip4(UPF_N3),
    }
    .emit(&mut f[14..])
    .unwrap();
    let out = r.run(N3, &[f]);
    let rep = arp::ArpRepr::parse(&out[N3 as usize][0][14..]).unwrap();
    assert_eq!(rep.op, arp::OP_REPLY);
    assert_eq!(rep.sender_mac, UPF_N3_MAC);
    assert_eq!(rep.sender_ip, ip4(UPF_N3));
    assert_eq!(&out[N3 as usize][0][0..6], &GNB_MAC);

    // ICMP echo to the N6 address.
    let mut ping = vec![0u8; 20 + 12];
    ipv4::Ipv4Repr {
        src: ip4(DN_GW),
        dst: ip4("198.18.6.2"),
        protocol: ipv4::PROTO_ICMP,
        ttl: 64,
        tos: 0,
        ident: 3,
        dont_frag: false,
        more_frags: false,
        frag_offset: 0,
        header_len: 20,
        total_len: 32,
    }
    .emit(&mut ping)
    .unwrap();
    ping[20] = icmp::V4_ECHO_REQUEST;
    ping[24..32].copy_from_slice(b"\x00\x01\x00\x01ping");
    let c = checksum::checksum(&ping[20..]);
    ping[22..24].copy_from_slice(&c.to_be_bytes());
    let out = r.run(N6, &[n6_frame(&ping)]);
    let rep = &out[N6 as usize][0];
    let h = ipv4::Ipv4Repr::parse(&rep[14..], true).unwrap();
    assert_eq!((h.src, h.dst), (ip4("198.18.6.2"), ip4(DN_GW)));
    assert_eq!(rep[34], icmp::V4_ECHO_REPLY);
    assert_eq!(checksum::checksum(&rep[34..]), 0);
}

#[test]
fn unresolved_next_hop_is_resolved_by_arp() {
    let mut r = Rig::new();
    r.install(&session());
    // A route via 198.18.6.7 that nobody has resolved yet.
    let inner = inner_udp(UE, "192.0.2.55", 1, 2, b"route");
    let out = r.run(N3, &[gtp_frame(UL_TEID, None, &inner)]);
    // Nothing forwarded yet; an ARP request went out of N6 instead.
    assert_eq!(out[N6 as usize].len(), 1);
    let req = arp::ArpRepr::parse(&out[N6 as usize][0][14..]).unwrap();
    assert_eq!(
        (req.op, req.target_ip),
        (arp::OP_REQUEST, ip4("198.18.6.7"))
    );
    // The reply releases the packet with the learnt MAC.
    let mac = [2, 0, 0, 0, 6, 7];
    let mut f = vec![0u8; 42];
    ethernet::EthernetRepr {
        dst: UPF_N6_MAC,
        src: mac,
        vlan: None,
        ethertype: ethernet::ETHERTYPE_ARP,
    }
    .emit(&mut f)
    .unwrap();
    arp::ArpRepr {
        op: arp::OP_REPLY,
        sender_mac: mac,
        sender_ip: ip4("198.18.6.7"),
        target_mac: UPF_N6_MAC,
        target_ip: ip4("198.18.6.2"),
    }
    .emit(&mut f[14..])
    .unwrap();
    let out = r.run(N6, &[f]);
    assert_eq!(out[N6 as usize].len(), 1);
    assert_eq!(&out[N6 as usize][0][0..6], &mac);
    assert_eq!(&out[N6 as usize][0][14..], &inner[..]);
    assert!(r
        .w
        .events
        .iter()
        .any(|e| matches!(e, WorkerEvent::NeighborLearned { mac: m, .. } if *m == mac)));
}

#[test]
fn usage_is_counted_and_reported_on_removal() {
    let mut r = Rig::new();
    let mut s = session();
    s.urrs[0].triggers = ReportingTriggers(ReportingTriggers::VOLTH);
    s.urrs[0].volume_threshold.total = Some(10_000);
    r.install(&s);
    let ul = inner_udp(UE, SERVER, 1, 2, &[0u8; 100]);
    let dl = inner_udp(SERVER, UE, 2, 1, &[0u8; 200]);
    r.run(
        N3,
        &[gtp_frame(UL_TEID, None, &ul), gtp_frame(UL_TEID, None, &ul)],
    );
    r.run(N6, &[n6_frame(&dl)]);
    let req = r.next_req();
    r.update(WorkerUpdate::Remove { req, seid: SEID });
    let reports = r.take_ack(req).unwrap();
    assert_eq!(reports.len(), 1);
    let v = reports[0].volume.unwrap();
    assert_eq!(v.uplink_octets, 2 * ul.len() as u64);
    assert_eq!(v.downlink_octets, dl.len() as u64);
    assert_eq!(
        (v.uplink_packets, v.downlink_packets, v.total_packets),
        (2, 1, 3)
    );
    assert!(reports[0].trigger.has(UsageReportTrigger::TERMR));
    // The session is gone: its TEID now triggers error indications.
    r.run(N3, &[gtp_frame(UL_TEID, None, &ul)]);
    assert_eq!(r.w.stats.drops_of(DropReason::UnknownTeid), 1);
}

#[test]
fn volume_threshold_raises_a_report_and_replacement_keeps_counters() {
    let mut r = Rig::new();
    let mut s = session();
    s.urrs[0].triggers = ReportingTriggers(ReportingTriggers::VOLTH);
    s.urrs[0].volume_threshold.total = Some(300);
    r.install(&s);
    let ul = inner_udp(UE, SERVER, 1, 2, &[0u8; 100]); // 128 bytes
    r.run(N3, &[gtp_frame(UL_TEID, None, &ul)]);
    assert!(r.usage().is_empty());
    // Replace the rules (same URR): the 128 bytes carry over.
    r.install(&s);
    r.run(
        N3,
        &[gtp_frame(UL_TEID, None, &ul), gtp_frame(UL_TEID, None, &ul)],
    );
    let reps = r.usage();
    assert_eq!(reps.len(), 1);
    assert_eq!(reps[0].volume.unwrap().total_octets, 3 * ul.len() as u64);
    assert!(reps[0].trigger.has(UsageReportTrigger::VOLTH));
}

#[test]
fn quota_exhaustion_drops_traffic() {
    let mut r = Rig::new();
    let mut s = session();
    s.urrs[0].triggers = ReportingTriggers(ReportingTriggers::VOLQU);
    s.urrs[0].volume_quota.total = Some(200);
    r.install(&s);
    let ul = inner_udp(UE, SERVER, 1, 2, &[0u8; 100]);
    let out = r.run(
        N3,
        &(0..4)
            .map(|_| gtp_frame(UL_TEID, None, &ul))
            .collect::<Vec<_>>(),
    );
    assert_eq!(out[N6 as usize].len(), 2);
    assert_eq!(r.w.stats.drops_of(DropReason::QuotaExhausted), 2);
    let reps = r.usage();
    assert_eq!(reps.len(), 1);
    assert!(reps[0].trigger.has(UsageReportTrigger::VOLQU));
}

#[test]
fn gate_and_mbr() {
    let mut r = Rig::new();
    let mut s = session();
    s.qers[0].gate_dl = Gate::Closed;
    s.qers[0].mbr_ul_kbps = Some(64); // 8000 bytes/s, depth 3200
    r.install(&s);
    let dl = inner_udp(SERVER, UE, 2, 1, &[0u8; 10]);
    r.run(N6, &[n6_frame(&dl)]);
    assert_eq!(r.w.stats.drops_of(DropReason::GateClosed), 1);
    let ul = inner_udp(UE, SERVER, 1, 2, &[0u8; 972]); // 1000 bytes
    let out = r.run(
        N3,
        &(0..5)
            .map(|_| gtp_frame(UL_TEID, None, &ul))
            .collect::<Vec<_>>(),
    );
    assert_eq!(
        out[N6 as usize].len(),
        3,
        "3200-byte bucket passes 3 of 1000 bytes"
    );
    assert_eq!(r.w.stats.drops_of(DropReason::RateExceeded), 2);
}

#[test]
fn buffering_reports_once_and_flushes_in_order() {
    let mut r = Rig::new();
    let mut s = session();
    s.fars[1].apply_action = ApplyAction(ApplyAction::BUFF | ApplyAction::NOCP);
    s.fars[1].bar_id = Some(1);
    s.bar = Some(Bar {
        id: 1,
        ..Default::default()
    });
    r.install(&s);
    let frames: Vec<Vec<u8>> = (0..5u8)
        .map(|i| n6_frame(&inner_udp(SERVER, UE, 2, 1, &[i])))
        .collect();
    let out = r.run(N6, &frames);
    assert!(out.iter().all(|q| q.is_empty()));
    assert_eq!(r.w.buffered(), 5);
    let reports: Vec<_> =
        r.w.events
            .iter()
            .filter(|e| matches!(e, WorkerEvent::DownlinkData(_)))
            .collect();
    assert_eq!(reports.len(), 1, "one downlink data report");
    // The SMF switches the FAR to forward: the buffer flushes in order.
    s.fars[1].apply_action = ApplyAction(ApplyAction::FORW);
    r.install(&s);
    let out = r.drain();
    let got: Vec<u8> = out[N3 as usize]
        .iter()
        .map(|f| *f.last().unwrap())
        .collect();
    assert_eq!(got, vec![0, 1, 2, 3, 4]);
    assert_eq!(r.w.buffered(), 0);
}

#[test]
fn buffer_is_bounded() {
    let mut r = Rig::with(
        upf_engine::WorkerConfig {
            buffer_per_session: 3,
            ..Default::default()
        },
        1,
    );
    let mut s = session();
    s.fars[1].apply_action = ApplyAction(ApplyAction::BUFF);
    r.install(&s);
    let frames: Vec<Vec<u8>> = (0..5u8)
        .map(|i| n6_frame(&inner_udp(SERVER, UE, 2, 1, &[i])))
        .collect();
    r.run(N6, &frames);
    assert_eq!(r.w.buffered(), 3);
    assert_eq!(r.w.stats.drops_of(DropReason::BufferFull), 2);
}

#[test]
fn mec_steering_breaks_out_locally_and_dns_answers_at_the_edge() {
    let mut r = Rig::new();
    r.install(&session());
    let steering = upf_engine::SteeringTable::compile(
        &[(
            "app1".into(),
            vec![SteeringRule {
                id: "r1".into(),
                priority: 1,
                filters: vec![SteerFilter {
                    dst_addresses: vec!["198.18.9.0/24".parse().unwrap()],
                    ..Default::default()
                }],
                action: SteerAction::ForwardDecapsulated,
                destination: Some(SteerDestination {
                    network_instance: Some("mec".into()),
                    address: Some(addr(MEC_APP)),
                    ..Default::default()
                }),
            }],
        )],
        r.w.topology(),
    );
    r.update(WorkerUpdate::Steering(std::sync::Arc::new(steering)));
    let to_mec = inner_udp(UE, "198.18.9.50", 1000, 80, b"mec");
    let to_net = inner_udp(UE, SERVER, 1000, 80, b"net");
    let out = r.run(
        N3,
        &[
            gtp_frame(UL_TEID, None, &to_mec),
            gtp_frame(UL_TEID, None, &to_net),
        ],
    );
    assert_eq!(out[MEC as usize].len(), 1);
    assert_eq!(&out[MEC as usize][0][0..6], &MEC_APP_MAC);
    assert_eq!(&out[MEC as usize][0][14..], &to_mec[..]);
    assert_eq!(out[N6 as usize].len(), 1);

    // The MEC app's reply goes back down the tunnel.
    let reply = inner_udp("198.18.9.50", UE, 80, 1000, b"hi");
    let mut f = n6_frame(&reply);
    f[0..6].copy_from_slice(&UPF_MEC_MAC);
    let out = r.run(MEC, &[f]);
    assert_eq!(out[N3 as usize].len(), 1);

    // DNS at the edge.
    let dns_table = upf_engine::DnsTable::compile(&[(
        "app1".into(),
        vec![DnsRule {
            id: "d1".into(),
            domain: "cache.edge.example".into(),
            address: addr("198.18.9.50"),
            ttl_s: 30,
        }],
    )]);
    r.update(WorkerUpdate::Dns(std::sync::Arc::new(dns_table)));
    let q = [
        0xab, 0xcd, 0x01, 0x00, 0, 1, 0, 0, 0, 0, 0, 0, 5, b'c', b'a', b'c', b'h', b'e', 4, b'e',
        b'd', b'g', b'e', 7, b'e', b'x', b'a', b'm', b'p', b'l', b'e', 0, 0, 1, 0, 1,
    ];
    let query = inner_udp(UE, "198.18.6.53", 33333, 53, &q);
    let other = inner_udp(UE, "198.18.6.53", 33334, 53, &{
        let mut o = q;
        o[13] = b'x';
        o
    });
    let out = r.run(
        N3,
        &[
            gtp_frame(UL_TEID, None, &query),
            gtp_frame(UL_TEID, None, &other),
        ],
    );
    assert_eq!(out[N6 as usize].len(), 1, "the other query passes through");
    assert_eq!(out[N3 as usize].len(), 1, "the answer goes down the tunnel");
    let p = parse_frame(&out[N3 as usize][0]).unwrap();
    let FrameKind::Gtpu(g) = p.kind else { panic!() };
    assert_eq!(g.header.teid, DL_TEID);
    let inner = &out[N3 as usize][0][g.inner_offset..];
    let ih = ipv4::Ipv4Repr::parse(inner, true).unwrap();
    assert_eq!((ih.src, ih.dst), (ip4("198.18.6.53"), ip4(UE)));
    let msg = &inner[28..];
    assert_eq!(&msg[0..2], &[0xab, 0xcd]);
    assert_eq!(msg[2] & 0x80, 0x80, "a response");
    assert_eq!(&msg[msg.len() - 4..], &[198, 18, 9, 50]);
    assert!(upf_wire::udp::verify_v4(
        &inner[20..],
        ip4("198.18.6.53"),
        ip4(UE)
    ));
    let _ = dns::TYPE_A;
    assert_eq!(r.w.stats.dns_answers, 1);
}

#[test]
fn sessions_owned_elsewhere_are_handed_off() {
    let mut r = Rig::with(
        upf_engine::WorkerConfig {
            id: 0,
            ..Default::default()
        },
        2,
    );
    r.update(WorkerUpdate::Redirect {
        key: upf_engine::LookupKey::Teid(0x777),
        worker: Some(1),
    });
    let inner = inner_udp(UE, SERVER, 1, 2, b"x");
    r.run(N3, &[gtp_frame(0x777, None, &inner)]);
    assert_eq!(r.out.handoff[1].len(), 1);
    assert_eq!(r.w.stats.handed_off, 1);
}

#[test]
fn malformed_frames_are_counted_not_fatal() {
    let mut r = Rig::new();
    r.install(&session());
    let inner = inner_udp(UE, SERVER, 1, 2, b"x");
    let mut bad = gtp_frame(UL_TEID, None, &inner);
    bad.truncate(50);
    let out = r.run(N3, &[bad, vec![0u8; 3], vec![]]);
    assert!(out.iter().all(|q| q.is_empty()));
    assert_eq!(r.w.stats.drops_of(DropReason::Malformed), 3);
    assert_eq!(
        r.pool.outstanding(),
        0,
        "every buffer went back to the pool"
    );
}

/// A G-PDU on `teid` whose extension chain is one header of type `ext`
/// (one word, then the end of the chain), carrying `inner`.
fn gpdu_with_extension(teid: u32, ext: u8, inner: &[u8]) -> Vec<u8> {
    let mut x = vec![0x34, gtpu::MSG_GPDU, 0, 0];
    let len = 4 + 4 + inner.len();
    x[2..4].copy_from_slice(&(len as u16).to_be_bytes());
    x.extend_from_slice(&teid.to_be_bytes());
    x.extend_from_slice(&[0, 0, 0, ext]);
    x.extend_from_slice(&[1, 0xab, 0xcd, gtpu::EXT_NONE]);
    x.extend_from_slice(inner);
    // The G-PDU builder gives the Ethernet/IPv4/UDP framing of the right
    // length; its GTP-U bytes are replaced.
    let mut f = gtp_frame(0, None, &vec![0u8; x.len() - 8]);
    let g = 14 + 20 + 8;
    f[g..g + x.len()].copy_from_slice(&x);
    f
}

#[test]
fn unknown_required_extension_gets_a_supported_extension_headers_notification() {
    let mut r = Rig::new();
    r.install(&session());
    let inner = inner_udp(UE, SERVER, 40000, 443, b"ext");
    // 0xc5: comprehension required (top bits 11), unknown to us.
    let out = r.run(N3, &[gpdu_with_extension(UL_TEID, 0xc5, &inner)]);
    assert!(out[N6 as usize].is_empty(), "not forwarded");
    assert_eq!(r.w.stats.drops_of(DropReason::UnsupportedExtension), 1);
    let n3 = &out[N3 as usize];
    assert_eq!(n3.len(), 1, "one notification back to the sender");
    let p = parse_frame(&n3[0]).unwrap();
    let FrameKind::Gtpu(g) = p.kind else {
        panic!("not GTP-U")
    };
    assert_eq!(g.header.msg_type, gtpu::MSG_SUPPORTED_EXT_HEADERS);
    assert_eq!(g.header.teid, 0);
    assert!(g.header.seq.is_some(), "sent with a sequence number");
    assert_eq!(g.outer.addrs.dst_addr(), addr(GNB));
    assert_eq!(g.outer.addrs.src_addr(), addr(UPF_N3));
    assert_eq!(&n3[0][0..6], &GNB_MAC);
    assert_eq!(checksum::checksum(&n3[0][14..34]), 0);
    let body = &n3[0][g.inner_offset..g.inner_offset + g.inner_len];
    let Message::SupportedExtensionHeaders { types, count } =
        Message::parse(gtpu::MSG_SUPPORTED_EXT_HEADERS, body).unwrap()
    else {
        panic!("not a Supported Extension Headers Notification")
    };
    let listed = &types[..usize::from(count)];
    assert!(listed.contains(&gtpu::EXT_PDU_SESSION_CONTAINER));
    assert!(listed.contains(&gtpu::EXT_UDP_PORT));
    assert!(!listed.contains(&0xc5));
    assert_eq!(r.w.stats.ext_notifications_sent, 1);

    // 0x05: comprehension not required, so skipped and forwarded.
    let out = r.run(N3, &[gpdu_with_extension(UL_TEID, 0x05, &inner)]);
    assert_eq!(out[N6 as usize].len(), 1);
    assert_eq!(&out[N6 as usize][0][14..], &inner[..]);
    assert!(out[N3 as usize].is_empty());
}
