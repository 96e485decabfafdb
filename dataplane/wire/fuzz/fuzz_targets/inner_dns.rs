//! Inner IP (5-tuple, extension headers, SPI), DNS queries, ARP and NDP.
#![no_main]
use libfuzzer_sys::fuzz_target;
use upf_wire::{arp, dns, fast, icmp};

fuzz_target!(|data: &[u8]| {
    let _ = fast::parse_ip(data);
    let _ = arp::ArpRepr::parse(data);
    let a = "2001:db8::1".parse().unwrap();
    let _ = icmp::NdRepr::parse(data, &a, &a);
    if let Ok(q) = dns::Query::parse(data) {
        let _ = q.name_is(data, "cache.edge.example");
        let addr = "198.18.9.9".parse().unwrap();
        let mut m = data.to_vec();
        m.resize(q.answer_len(&addr).max(data.len()), 0);
        let _ = q.answer_in_place(&mut m, &addr, 30);
    }
});
