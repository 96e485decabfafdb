//! GTP-U parse and encapsulation costs of the wire layer.
//!
//! `cargo bench -p upf-wire --bench gtpu`

use std::hint::black_box;

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use upf_wire::ethernet::EthernetRepr;
use upf_wire::fast::{parse_frame, EncapSpec, EncapTemplate, FrameKind};
use upf_wire::gtpu::{Header, PduSessionInfo};

/// An uplink G-PDU frame (Ethernet, IPv4, UDP, GTP-U with a UL PDU Session
/// Container, QFI 9) around a 64-byte inner IPv4/UDP packet.
fn uplink_frame() -> (Vec<u8>, usize) {
    let t = EncapTemplate::new(&EncapSpec {
        eth: Some(EthernetRepr {
            dst: [2, 0, 0, 0, 0, 2],
            src: [2, 0, 0, 0, 0, 1],
            vlan: None,
            ethertype: 0,
        }),
        src: "198.18.3.1".parse().expect("addr"),
        dst: "198.18.3.2".parse().expect("addr"),
        tos: 0,
        ttl: 64,
        src_port: 2152,
        dst_port: 2152,
        teid: 0x0100_0001,
        pdu_session: Some(PduSessionInfo::Uplink { qfi: 9 }),
    })
    .expect("template");
    let mut inner = vec![0u8; 64];
    inner[0] = 0x45;
    inner[2..4].copy_from_slice(&64u16.to_be_bytes());
    inner[8] = 64;
    inner[9] = 17;
    inner[12..16].copy_from_slice(&[198, 19, 0, 5]);
    inner[16..20].copy_from_slice(&[198, 51, 100, 1]);
    inner[20..22].copy_from_slice(&40000u16.to_be_bytes());
    inner[22..24].copy_from_slice(&53u16.to_be_bytes());
    inner[24..26].copy_from_slice(&44u16.to_be_bytes());
    let mut pkt = vec![0u8; t.len() + inner.len()];
    pkt[t.len()..].copy_from_slice(&inner);
    t.write(&mut pkt, 1).expect("write");
    let gtp_offset = 14 + 20 + 8;
    (pkt, gtp_offset)
}

fn benches(c: &mut Criterion) {
    let (frame, gtp_offset) = uplink_frame();
    let mut g = c.benchmark_group("gtpu");
    g.throughput(Throughput::Elements(1));
    g.bench_function("header_parse_with_pdu_session_container", |b| {
        b.iter(|| Header::parse(black_box(&frame[gtp_offset..])))
    });
    g.bench_function("frame_parse_eth_ipv4_udp_gtpu_inner", |b| {
        b.iter(|| {
            let f = parse_frame(black_box(&frame)).expect("frame");
            matches!(f.kind, FrameKind::Gtpu(_))
        })
    });
    let t = EncapTemplate::new(&EncapSpec {
        eth: None,
        src: "198.18.3.2".parse().expect("addr"),
        dst: "198.18.3.1".parse().expect("addr"),
        tos: 0,
        ttl: 64,
        src_port: 2152,
        dst_port: 2152,
        teid: 0x2002,
        pdu_session: Some(PduSessionInfo::Downlink {
            qfi: 9,
            rqi: false,
            ppi: None,
        }),
    })
    .expect("template");
    let mut buf = vec![0u8; t.len() + 64];
    let mut ident = 0u16;
    g.bench_function("encap_template_write_ipv4_psc", |b| {
        b.iter(|| {
            ident = ident.wrapping_add(1);
            t.write(black_box(&mut buf), ident).expect("write");
        })
    });
    g.finish();
}

criterion_group!(gtpu, benches);
criterion_main!(gtpu);
