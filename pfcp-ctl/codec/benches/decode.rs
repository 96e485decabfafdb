//! PFCP decode and encode costs of a typical Session Establishment Request.
//!
//! `cargo bench -p pfcp-codec --bench decode`

use std::hint::black_box;

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use pfcp_codec::{decode, samples, Message, Pdu};

fn benches(c: &mut Criterion) {
    let pdu = Pdu::session(
        7,
        0x1122_3344_5566_7788,
        Message::SessionEstablishmentRequest(samples::session_establishment()),
    );
    let bytes = pdu.to_bytes();
    let mut g = c.benchmark_group("pfcp");
    g.throughput(Throughput::Elements(1));
    g.bench_function("session_establishment_request_decode", |b| {
        b.iter(|| decode(black_box(&bytes)).expect("decode"))
    });
    let mut out = Vec::with_capacity(1024);
    g.bench_function("session_establishment_request_encode", |b| {
        b.iter(|| {
            out.clear();
            black_box(&pdu).encode(&mut out);
            out.len()
        })
    });
    g.finish();
    eprintln!("session establishment request: {} bytes", bytes.len());
}

criterion_group!(pfcp, benches);
criterion_main!(pfcp);
