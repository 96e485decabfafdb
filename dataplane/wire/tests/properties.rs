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
