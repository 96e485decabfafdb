//! Whole-frame parse: Ethernet, IP, UDP, GTP-U header, extension chain,
//! signalling messages; and re-encapsulation of whatever inner packet it finds.
#![no_main]
use libfuzzer_sys::fuzz_target;
use upf_wire::fast::{parse_frame, FrameKind};
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
    let _ = Header::parse(data);
    for t in [1u8, 2, 26, 31, 254] {
        let _ = Message::parse(t, data);
    }
});
