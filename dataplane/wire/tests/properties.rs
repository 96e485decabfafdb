//! Property tests: no parser panics on arbitrary bytes; Reprs round-trip.

use proptest::prelude::*;
use upf_wire::fast::{parse_frame, parse_ip, EncapSpec, EncapTemplate, FrameKind};
use upf_wire::gtpu::{Header, HeaderRepr, Message, PduSessionInfo};
use upf_wire::{dns, ethernet, icmp};

fn arb_psc() -> impl Strategy<Value = Option<PduSessionInfo>> {
    prop_oneof![
        Just(None),
        (0u8..64).prop_map(|qfi| Some(PduSessionInfo::Uplink { qfi })),
        (0u8..64, any::<bool>(), proptest::option::of(0u8..8))
            .prop_map(|(qfi, rqi, ppi)| Some(PduSessionInfo::Downlink { qfi, rqi, ppi })),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2000))]

    #[test]
    fn parsers_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..200)) {
        let _ = parse_frame(&bytes);
        let _ = parse_ip(&bytes);
        let _ = Header::parse(&bytes);
        for t in [1u8, 2, 26, 31, 254] {
            let _ = Message::parse(t, &bytes);
        }
        if let Ok(q) = dns::Query::parse(&bytes) {
            let _ = q.name_is(&bytes, "a.example");
        }
        let s = "2001:db8::1".parse().unwrap();
        let _ = icmp::NdRepr::parse(&bytes, &s, &s);
        let _ = upf_wire::arp::ArpRepr::parse(&bytes);
    }

    /// Frames that look like GTP-U (valid outer headers, random tunnel bytes)
    /// reach the GTP-U parser often, unlike fully random bytes.
    #[test]
    fn gtpu_frames_never_panic(tail in proptest::collection::vec(any::<u8>(), 0..64), ext in any::<u8>()) {
        let mut f = vec![0u8; 14 + 20 + 8];
        f[12] = 0x08;
        f[14] = 0x45;
        let total = (20 + 8 + 8 + tail.len()) as u16;
        f[16..18].copy_from_slice(&total.to_be_bytes());
        f[23] = 17;
        f[36..38].copy_from_slice(&2152u16.to_be_bytes());
        f[38..40].copy_from_slice(&((8 + 8 + tail.len()) as u16).to_be_bytes());
        f.extend_from_slice(&[0x34, 0xff]);
        f.extend_from_slice(&((tail.len()) as u16).to_be_bytes());
        f.extend_from_slice(&[0, 0, 0, 1]);
        f.extend_from_slice(&tail);
        if tail.len() >= 4 { let n = f.len(); f[n - tail.len() + 3] = ext; }
        let _ = parse_frame(&f);
    }

    #[test]
    fn gtpu_header_round_trip(teid in any::<u32>(), seq in proptest::option::of(any::<u16>()),
                              npdu in proptest::option::of(any::<u8>()), psc in arb_psc(),
                              udp_port in proptest::option::of(any::<u16>()),
                              payload in proptest::collection::vec(any::<u8>(), 0..40)) {
        let r = HeaderRepr { msg_type: 255, teid, seq, npdu, pdu_session: psc, udp_port };
        let mut b = vec![0u8; r.header_len() + payload.len()];
        let hl = r.emit(&mut b, payload.len()).unwrap();
        b[hl..].copy_from_slice(&payload);
        let h = Header::parse(&b).unwrap();
        prop_assert_eq!(h.teid, teid);
        prop_assert_eq!(h.seq, seq);
        prop_assert_eq!(h.npdu, npdu);
        prop_assert_eq!(h.ext.pdu_session, psc);
        prop_assert_eq!(h.ext.udp_port, udp_port);
        prop_assert_eq!(&b[h.payload_offset..h.payload_offset + h.payload_len], &payload[..]);
    }

    #[test]
    fn encap_round_trip(teid in any::<u32>(), psc in arb_psc(), v6 in any::<bool>(),
                        inner in proptest::collection::vec(any::<u8>(), 0..300), ident in any::<u16>()) {
        let (s, d) = if v6 { ("2001:db8::a", "2001:db8::b") } else { ("198.18.0.1", "198.18.0.2") };
        let t = EncapTemplate::new(&EncapSpec {
            eth: Some(ethernet::EthernetRepr { dst: [2; 6], src: [4; 6], vlan: None, ethertype: 0 }),
            src: s.parse().unwrap(), dst: d.parse().unwrap(), tos: 0, ttl: 64,
            src_port: 2152, dst_port: 2152, teid, pdu_session: psc,
        }).unwrap();
        let mut pkt = vec![0u8; t.len() + inner.len()];
        pkt[t.len()..].copy_from_slice(&inner);
        t.write(&mut pkt, ident).unwrap();
        let f = parse_frame(&pkt).unwrap();
        let FrameKind::Gtpu(g) = f.kind else { panic!("not gtpu") };
        prop_assert_eq!(g.header.teid, teid);
        prop_assert_eq!(g.header.ext.pdu_session, psc);
        prop_assert_eq!(&pkt[g.inner_offset..g.inner_offset + g.inner_len], &inner[..]);
    }
}

/// What `parse_frame` says about a frame, in the terms of `classify`.
fn reference(f: &[u8]) -> Option<upf_wire::fast::Fast> {
    use upf_wire::fast::{Fast, FastGpdu};
    let p = parse_frame(f).ok()?;
    match p.kind {
        FrameKind::Gtpu(g) if g.header.msg_type == upf_wire::gtpu::MSG_GPDU => {
            Some(Fast::Gpdu(FastGpdu {
                outer: g.outer.addrs,
                teid: g.header.teid,
                qfi: g.header.ext.pdu_session.map(|p| p.qfi()),
                inner_offset: g.inner_offset,
                inner_len: g.inner_len,
            }))
        }
        FrameKind::Ip(ip) => Some(Fast::Ip(ip)),
        _ => None,
    }
}

/// Whenever the lean classifier answers, `classify` says the same.
fn lean_agrees(f: &[u8]) -> Result<(), TestCaseError> {
    use upf_wire::fast::{classify, classify_lean, Fast, Lean};
    let Some(l) = classify_lean(f) else {
        return Ok(());
    };
    let c = classify(f);
    prop_assert_eq!(c.l3_offset, 14);
    match (l, c.kind) {
        (
            Lean::Gpdu {
                dst,
                teid,
                qfi,
                inner_offset,
                inner_len,
            },
            Fast::Gpdu(g),
        ) => {
            prop_assert_eq!(g.outer.dst_addr(), std::net::IpAddr::V4(dst.into()));
            prop_assert!(g.outer.is_v4());
            prop_assert_eq!(teid, g.teid);
            prop_assert_eq!(qfi, g.qfi);
            prop_assert_eq!(usize::from(inner_offset), g.inner_offset);
            prop_assert_eq!(usize::from(inner_len), g.inner_len);
        }
        (Lean::Ip { dst }, Fast::Ip(ip)) => {
            prop_assert_eq!(ip.addrs.dst_addr(), std::net::IpAddr::V4(dst.into()));
            prop_assert!(ip.addrs.is_v4());
        }
        (l, k) => prop_assert!(false, "lean {:?} but classify {:?}", l, k),
    }
    Ok(())
}

fn gtpu_frame(
    v6: bool,
    vlan: bool,
    teid: u32,
    psc: Option<PduSessionInfo>,
    seq: Option<u16>,
    inner: &[u8],
) -> Vec<u8> {
    let (src, dst) = if v6 {
        (
            "2001:db8::1".parse().unwrap(),
            "2001:db8::2".parse().unwrap(),
        )
    } else {
        ("198.18.0.1".parse().unwrap(), "198.18.0.2".parse().unwrap())
    };
    let t = EncapTemplate::new(&EncapSpec {
        eth: Some(ethernet::EthernetRepr {
            dst: [2, 0, 0, 0, 0, 1],
            src: [2, 0, 0, 0, 0, 2],
            vlan: vlan.then_some(7),
            ethertype: 0,
        }),
        src,
        dst,
        tos: 0,
        ttl: 64,
        src_port: 2152,
        dst_port: 2152,
        teid,
        pdu_session: None,
    })
    .unwrap();
    let h = HeaderRepr {
        pdu_session: psc,
        seq,
        ..HeaderRepr::gpdu(teid)
    };
    let gl = h.header_len();
    let mut f = vec![0u8; t.len() - 8 + gl + inner.len()];
    // Template (with an 8-byte GTP-U header) for the outer headers, then
    // the real GTP-U header and the inner packet.
    let mut tmp = vec![0u8; t.len() + gl - 8 + inner.len()];
    t.write(&mut tmp, 1).unwrap();
    f[..t.len() - 8].copy_from_slice(&tmp[..t.len() - 8]);
    let off = t.len() - 8;
    h.emit(&mut f[off..], inner.len()).unwrap();
    f[off + gl..].copy_from_slice(inner);
    f
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(3000))]

    /// Whenever the fast classifier decides, it agrees with the full parser;
    /// it decides for every plain G-PDU with zero or one PDU Session
    /// Container.
    #[test]
    fn classify_agrees_with_parse_frame(
        v6 in any::<bool>(), vlan in any::<bool>(), teid in any::<u32>(), psc in arb_psc(),
        seq in proptest::option::of(any::<u16>()),
        inner in proptest::collection::vec(any::<u8>(), 0..80),
        flips in proptest::collection::vec((0usize..200, any::<u8>()), 0..3),
    ) {
        use upf_wire::fast::{classify, Fast};
        let mut f = gtpu_frame(v6, vlan, teid, psc, seq, &inner);
        let clean = classify(&f);
        let simple = match psc {
            None => true,
            Some(PduSessionInfo::Uplink { .. }) => true,
            Some(PduSessionInfo::Downlink { ppi, .. }) => ppi.is_none(),
        };
        if simple {
            prop_assert!(matches!(clean.kind, Fast::Gpdu(_)), "plain G-PDU went slow: {:?}", clean);
        }
        for (at, v) in flips {
            if at < f.len() {
                f[at] = v;
            }
        }
        let c = classify(&f);
        if c.kind != Fast::Slow {
            prop_assert_eq!(Some(c.kind), reference(&f));
            prop_assert_eq!(c.l3_offset, if vlan { 18 } else { 14 });
        }
        lean_agrees(&f)?;
        if !v6 && !vlan && simple {
            // An untouched plain IPv4 G-PDU takes the lean classifier.
            let clean = gtpu_frame(v6, vlan, teid, psc, seq, &inner);
            prop_assert!(
                upf_wire::fast::classify_lean(&clean).is_some(),
                "plain IPv4 G-PDU not lean"
            );
        }
    }

    /// Random bytes after a valid Ethernet + IPv4 start.
    #[test]
    fn classify_agrees_on_ip(tail in proptest::collection::vec(any::<u8>(), 0..80), ihl in 5u8..7, proto in any::<u8>(), frag in any::<u16>()) {
        use upf_wire::fast::{classify, Fast};
        let mut f = vec![0u8; 14 + 20];
        f[12] = 0x08;
        f[14] = 0x40 | ihl;
        let total = (20 + tail.len()) as u16;
        f[16..18].copy_from_slice(&total.to_be_bytes());
        f[20..22].copy_from_slice(&(frag & 0x3fff).to_be_bytes());
        f[23] = proto;
        f.extend_from_slice(&tail);
        let c = classify(&f);
        if c.kind != Fast::Slow {
            prop_assert_eq!(Some(c.kind), reference(&f));
        }
        lean_agrees(&f)?;
        let _ = parse_ip(&f[14..]);
    }

    /// The compact tunnel header writes exactly what the template writes.
    #[test]
    fn tunnel_header_equals_template(v6 in any::<bool>(), teid in any::<u32>(), psc in arb_psc(), tos in any::<u8>(),
                                     dport in any::<u16>(), ident in any::<u16>(),
                                     inner in proptest::collection::vec(any::<u8>(), 0..100)) {
        use upf_wire::fast::TunnelHeader;
        let (src, dst) = if v6 {
            ("2001:db8::1".parse().unwrap(), "2001:db8:9::2".parse().unwrap())
        } else {
            ("198.18.0.1".parse().unwrap(), "203.0.113.9".parse().unwrap())
        };
        let spec = EncapSpec {
            eth: Some(ethernet::EthernetRepr { dst: [0; 6], src: [2, 0, 0, 0, 0, 2], vlan: None, ethertype: 0 }),
            src, dst, tos, ttl: 64, src_port: 2152, dst_port: dport, teid, pdu_session: psc,
        };
        let t = EncapTemplate::new(&spec).unwrap();
        let h = TunnelHeader::new(&spec).unwrap();
        prop_assert_eq!(h.len() + 14, t.len());
        let mut a = vec![0u8; t.len() + inner.len()];
        a[t.len()..].copy_from_slice(&inner);
        t.write(&mut a, ident).unwrap();
        let mut b = vec![0u8; h.len() + inner.len()];
        b[h.len()..].copy_from_slice(&inner);
        h.write(&mut b, ident).unwrap();
        prop_assert_eq!(&a[14..], &b[..]);
        prop_assert_eq!(h.dst(), dst);
        prop_assert_eq!(h.src(), src);
        prop_assert_eq!(TunnelHeader::from_words(&h.to_words()), h);
    }
}
