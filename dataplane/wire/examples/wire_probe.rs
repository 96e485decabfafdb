//! A bridge for the interoperability tests (scripts/test.d/20-wire-interop.sh):
//!
//! - `wire_probe decode`: one hex-encoded Ethernet frame per line on stdin;
//!   prints `OK <frame>` (with the GTP-U header and, for signalling
//!   messages, the parsed message) or `ERR <error>`;
//! - `wire_probe samples FILE.pcap`: writes frames built by our encoders
//!   (encapsulation templates with and without PDU Session Container over
//!   IPv4 and IPv6, Echo Response, Error Indication, End Marker,
//!   Supported Extension Headers Notification) to a pcap file.
#![allow(clippy::unwrap_used)]

use std::io::{BufRead, Write};

use upf_wire::ethernet::{EthernetRepr, ETHERTYPE_IPV4, ETHERTYPE_IPV6};
use upf_wire::fast::{parse_frame, EncapSpec, EncapTemplate, FrameKind};
use upf_wire::gtpu::{Message, PduSessionInfo};
use upf_wire::{ipv4, ipv6, udp};

fn unhex(s: &str) -> Option<Vec<u8>> {
    let s = s.trim();
    (0..s.len())
        .step_by(2)
        .map(|i| s.get(i..i + 2).and_then(|h| u8::from_str_radix(h, 16).ok()))
        .collect()
}

fn inner() -> Vec<u8> {
    let payload = b"edge-upf";
    let mut p = vec![0u8; 28 + payload.len()];
    let (s, d) = ("198.19.0.5".parse().unwrap(), "198.18.6.1".parse().unwrap());
    ipv4::Ipv4Repr {
        src: s,
        dst: d,
        protocol: 17,
        ttl: 64,
        tos: 0,
        ident: 1,
        dont_frag: false,
        more_frags: false,
        frag_offset: 0,
        header_len: 20,
        total_len: p.len(),
    }
    .emit(&mut p)
    .unwrap();
    udp::UdpRepr {
        src_port: 5000,
        dst_port: 9000,
        len: 8 + payload.len(),
        checksum: 0,
    }
    .emit(&mut p[20..])
    .unwrap();
    p[28..].copy_from_slice(payload);
    udp::fill_checksum_v4(&mut p[20..], s, d).unwrap();
    p
}

fn eth() -> EthernetRepr {
    EthernetRepr {
        dst: [2, 0, 0, 0, 3, 1],
        src: [2, 0, 0, 0, 3, 2],
        vlan: None,
        ethertype: 0,
    }
}

fn encap(v6: bool, psc: Option<PduSessionInfo>, teid: u32) -> Vec<u8> {
    let (s, d) = if v6 {
        ("2001:db8:3::2", "2001:db8:3::1")
    } else {
        ("198.18.3.2", "198.18.3.1")
    };
    let t = EncapTemplate::new(&EncapSpec {
        eth: Some(eth()),
        src: s.parse().unwrap(),
        dst: d.parse().unwrap(),
        tos: 0xb8,
        ttl: 64,
        src_port: 2152,
        dst_port: 2152,
        teid,
        pdu_session: psc,
    })
    .unwrap();
    let i = inner();
    let mut f = vec![0u8; t.len() + i.len()];
    f[t.len()..].copy_from_slice(&i);
    t.write(&mut f, 77).unwrap();
    f
}

fn signalling(
    msg: Message,
    teid: u32,
    seq: Option<u16>,
    udp_port: Option<u16>,
    v6: bool,
) -> Vec<u8> {
    let mut body = [0u8; 64];
    let glen = msg.emit(&mut body, teid, seq, udp_port).unwrap();
    let ip_len = if v6 { 40 } else { 20 };
    let ulen = 8 + glen;
    let mut f = vec![0u8; 14 + ip_len + ulen];
    EthernetRepr {
        ethertype: if v6 { ETHERTYPE_IPV6 } else { ETHERTYPE_IPV4 },
        ..eth()
    }
    .emit(&mut f)
    .unwrap();
    if v6 {
        let (s, d) = (
            "2001:db8:3::2".parse().unwrap(),
            "2001:db8:3::1".parse().unwrap(),
        );
        ipv6::Ipv6Repr {
            src: s,
            dst: d,
            next_header: 17,
            hop_limit: 64,
            traffic_class: 0,
            flow_label: 0,
            payload_len: ulen,
        }
        .emit(&mut f[14..])
        .unwrap();
        udp::UdpRepr {
            src_port: 2152,
            dst_port: 2152,
            len: ulen,
            checksum: 0,
        }
        .emit(&mut f[54..])
        .unwrap();
        f[62..].copy_from_slice(&body[..glen]);
        udp::fill_checksum_v6(&mut f[54..], &s, &d).unwrap();
    } else {
        ipv4::Ipv4Repr {
            src: "198.18.3.2".parse().unwrap(),
            dst: "198.18.3.1".parse().unwrap(),
            protocol: 17,
            ttl: 64,
            tos: 0,
            ident: 9,
            dont_frag: false,
            more_frags: false,
            frag_offset: 0,
            header_len: 20,
            total_len: 20 + ulen,
        }
        .emit(&mut f[14..])
        .unwrap();
        udp::UdpRepr {
            src_port: 2152,
            dst_port: 2152,
            len: ulen,
            checksum: 0,
        }
        .emit(&mut f[34..])
        .unwrap();
        f[42..].copy_from_slice(&body[..glen]);
    }
    f
}

fn samples() -> Vec<Vec<u8>> {
    let dl = |qfi, rqi, ppi| Some(PduSessionInfo::Downlink { qfi, rqi, ppi });
    let mut types = [0u8; 16];
    types[0] = 0x40;
    types[1] = 0x85;
    vec![
        encap(false, None, 0x1001),
        encap(false, dl(9, false, None), 0x2002),
        encap(false, dl(5, true, Some(3)), 0x2003),
        encap(true, dl(1, false, None), 0x3003),
        encap(false, Some(PduSessionInfo::Uplink { qfi: 7 }), 0x4004),
        signalling(
            Message::EchoResponse { recovery: 0 },
            0,
            Some(4242),
            None,
            false,
        ),
        signalling(Message::EchoRequest, 0, Some(17), None, true),
        signalling(
            Message::ErrorIndication {
                teid: 0xdead,
                peer: "198.18.3.2".parse().unwrap(),
            },
            0,
            Some(0),
            Some(2152),
            false,
        ),
        signalling(
            Message::ErrorIndication {
                teid: 0xbeef,
                peer: "2001:db8:3::2".parse().unwrap(),
            },
            0,
            Some(0),
            Some(2152),
            true,
        ),
        signalling(Message::EndMarker, 0x5005, None, None, false),
        signalling(
            Message::SupportedExtensionHeaders { types, count: 2 },
            0,
            Some(3),
            None,
            false,
        ),
    ]
}

fn pcap(path: &str, frames: &[Vec<u8>]) {
    let mut f = std::fs::File::create(path).unwrap();
    f.write_all(&0xa1b2c3d4u32.to_le_bytes()).unwrap();
    f.write_all(&2u16.to_le_bytes()).unwrap();
    f.write_all(&4u16.to_le_bytes()).unwrap();
    f.write_all(&[0; 8]).unwrap();
    f.write_all(&65535u32.to_le_bytes()).unwrap();
    f.write_all(&1u32.to_le_bytes()).unwrap();
    for (i, p) in frames.iter().enumerate() {
        f.write_all(&(i as u32).to_le_bytes()).unwrap();
        f.write_all(&0u32.to_le_bytes()).unwrap();
        f.write_all(&(p.len() as u32).to_le_bytes()).unwrap();
        f.write_all(&(p.len() as u32).to_le_bytes()).unwrap();
        f.write_all(p).unwrap();
    }
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    match args.get(1).map(String::as_str) {
        Some("decode") => {
            let mut out = std::io::stdout().lock();
            for line in std::io::stdin().lock().lines() {
                let Some(b) = unhex(&line.unwrap()) else {
                    writeln!(out, "ERR bad hex").unwrap();
                    continue;
                };
                match parse_frame(&b) {
                    Ok(f) => {
                        let extra = match f.kind {
                            FrameKind::Gtpu(g) if g.header.msg_type != 255 => {
                                format!(
                                    " msg={:?}",
                                    Message::parse(
                                        g.header.msg_type,
                                        &b[g.inner_offset..g.inner_offset + g.inner_len]
                                    )
                                )
                            }
                            FrameKind::Gtpu(g) => format!(" inner_len={}", g.inner_len),
                            _ => String::new(),
                        };
                        writeln!(out, "OK {:?}{extra}", f.kind).unwrap()
                    }
                    Err(e) => writeln!(out, "ERR {e:?}").unwrap(),
                }
            }
        }
        Some("samples") => {
            let path = args
                .get(2)
                .map(String::as_str)
                .unwrap_or("gtpu-samples.pcap");
            let s = samples();
            pcap(path, &s);
            println!("{} frames written to {path}", s.len());
        }
        _ => {
            eprintln!("usage: wire_probe decode < hex-lines | wire_probe samples FILE.pcap");
            std::process::exit(2);
        }
    }
}
