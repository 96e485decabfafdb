//! Whole-frame parse: Ethernet, IP, UDP, GTP-U header, extension chain,
//! signalling messages; and re-encapsulation of whatever inner packet it finds.
//! The fast classifiers must agree with each other wherever they decide.
#![no_main]
use libfuzzer_sys::fuzz_target;
use upf_wire::fast::{
    classify, classify_lean, parse_frame, parse_ip, parse_ipv4_lean, Fast, FrameKind, Lean,
};
use upf_wire::gtpu::{Header, Message};

fuzz_target!(|data: &[u8]| {
    if let Ok(f) = parse_frame(data) {
        if let FrameKind::Gtpu(g) = f.kind {
            let body = &data[g.inner_offset..g.inner_offset + g.inner_len];
            if g.header.msg_type != 255 {
                let _ = Message::parse(g.header.msg_type, body);
            } else {
                let _ = upf_wire::fast::parse_ip(body);
            }
        }
    }
    if let Some(l) = classify_lean(data) {
        let c = classify(data);
        match (l, c.kind) {
            (
                Lean::Gpdu {
                    teid,
                    inner_offset,
                    inner_len,
                    ..
                },
                Fast::Gpdu(g),
            ) => {
                assert_eq!(
                    (teid, usize::from(inner_offset), usize::from(inner_len)),
                    (g.teid, g.inner_offset, g.inner_len)
                );
            }
            (Lean::Ip { dst }, Fast::Ip(ip)) => {
                assert_eq!(ip.addrs.dst_addr(), std::net::IpAddr::V4(dst.into()))
            }
            (l, k) => panic!("lean {l:?} but classify {k:?}"),
        }
    }
    if let Some(l) = parse_ipv4_lean(data) {
        let ip = parse_ip(data).expect("the lean parser accepted what parse_ip rejects");
        assert_eq!(
            (ip.protocol, ip.total_len, ip.src_port, ip.dst_port),
            (l.protocol, usize::from(l.total_len), l.src_port, l.dst_port)
        );
    }
    let _ = Header::parse(data);
    for t in [1u8, 2, 26, 31, 254] {
        let _ = Message::parse(t, data);
    }
});
