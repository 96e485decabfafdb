//! The codec and the sans-I/O node on one core. Codec: decoding the
//! standard Establishment Request, encoding its response. Node: Session Establishments (2 PDRs, 2 FARs,
//! 1 QER, 1 URR, F-TEID and UE address chosen by the UPF) from datagram to
//! response, with the dataplane's Ack injected; "full" also encodes the
//! control-channel command and the journal record, which the shell and the
//! journal thread do for each establishment.

use std::net::{Ipv4Addr, SocketAddr};
use std::time::Duration;

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use pfcp_codec::group::CreatedPdr;
use pfcp_codec::ie::{CauseIe, FSeid, FTeid, NodeId, PdrId, UeIpAddress};
use pfcp_codec::msg::{self as m, Message, Pdu};
use pfcp_ctl::bench::Template;
use pfcp_ctl::journal;
use pfcp_ctl::node::Out;
use upf_ctrl::msg::{AckBody, Event};

const SMF: Ipv4Addr = Ipv4Addr::new(198, 18, 4, 1);

/// Runs `iters` establishments on a fresh node; returns the time taken.
fn establishments(iters: u64, full: bool) -> Duration {
    let (n, t) = pfcp_ctl::bench::establishments(SMF, iters, full);
    assert_eq!(
        n.session_count() as u64,
        iters,
        "every establishment accepted"
    );
    // Free the node outside the timing.
    drop(n);
    t
}

fn codec(c: &mut Criterion) {
    let mut tpl = Template::establishment(NodeId::Ipv4(SMF), SMF, Ipv4Addr::new(198, 18, 3, 1));
    tpl.patch(7, 7);
    let req = tpl.bytes.clone();
    let rsp = Pdu::session(
        7,
        0x1234,
        Message::SessionEstablishmentResponse(m::SessionEstablishmentResponse {
            node_id: NodeId::Ipv4(Ipv4Addr::new(198, 18, 4, 2)),
            cause: CauseIe(1),
            up_fseid: Some(FSeid {
                seid: 99,
                ipv4: Some(Ipv4Addr::new(198, 18, 4, 2)),
                ipv6: None,
            }),
            created_pdr: vec![CreatedPdr {
                pdr_id: PdrId(1),
                local_fteid: Some(FTeid {
                    teid: 0x1001,
                    ipv4: Some(Ipv4Addr::new(198, 18, 3, 2)),
                    ..Default::default()
                }),
                ue_ip_address: vec![UeIpAddress {
                    ipv4: Some(Ipv4Addr::new(10, 0, 0, 1)),
                    ..Default::default()
                }],
            }],
            ..Default::default()
        }),
    );
    let mut g = c.benchmark_group("codec");
    g.throughput(Throughput::Elements(1));
    g.bench_function("decode_establishment_request", |b| {
        b.iter(|| pfcp_codec::decode(std::hint::black_box(&req)).map(|p| p.seq))
    });
    g.bench_function("encode_establishment_response", |b| {
        b.iter(|| std::hint::black_box(&rsp).to_bytes())
    });
    g.finish();
}

fn bench(c: &mut Criterion) {
    let mut g = c.benchmark_group("node");
    g.throughput(Throughput::Elements(1));
    g.bench_function("establishment", |b| {
        b.iter_custom(|iters| establishments(iters, false))
    });
    g.bench_function("establishment_full", |b| {
        b.iter_custom(|iters| establishments(iters, true))
    });
    g.finish();
    // The record size the journal writes per session.
    let from: SocketAddr = "198.18.4.1:8805".parse().unwrap();
    let (mut n, _) = pfcp_ctl::bench::establishments(SMF, 0, false);
    let mut tpl = Template::establishment(NodeId::Ipv4(SMF), SMF, Ipv4Addr::new(198, 18, 3, 1));
    tpl.patch(5, 5);
    let mut out = Vec::new();
    n.datagram(0, from, &tpl.bytes, &mut out);
    let req = out
        .iter()
        .find_map(|o| match o {
            Out::Dp(c) => Some(c.req()),
            _ => None,
        })
        .unwrap_or(0);
    out.clear();
    n.dp_event(
        0,
        Event::Ack {
            req,
            result: Ok(AckBody::default()),
        },
        &mut out,
    );
    for o in &out {
        if let Out::JournalSession(seid) = o {
            let mut b = Vec::new();
            journal::encode_session(*seid, n.session(*seid).unwrap(), &mut b);
            eprintln!(
                "journal record of the standard session: {} bytes; request {} bytes",
                b.len(),
                tpl.bytes.len()
            );
        }
    }
}

criterion_group! {
    name = benches;
    config = Criterion::default().sample_size(20).measurement_time(Duration::from_secs(5));
    targets = codec, bench
}
criterion_main!(benches);
