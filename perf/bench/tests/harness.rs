//! The harness measures what it claims: every packet of a run is forwarded,
//! correctly, with nothing dropped, and the fixture has the rule shape the
//! issue names.

use std::sync::{Arc, Mutex};

use upf_bench::bench::{prepare, run_once, BenchConfig};
use upf_bench::fixtures::{Direction, Fixture, FixtureConfig, Flow, GW_MAC, N3, N6};
use upf_bench::{Dist, Engine, TrafficConfig};
use upf_wire::fast::{parse_frame, FrameKind};
use upf_wire::gtpu::PduSessionInfo;

/// A frame the worker transmitted, with its port.
type Sent = (u16, Vec<u8>);

fn config(dir: Direction, dist: Dist, sessions: usize) -> BenchConfig {
    BenchConfig {
        fixture: FixtureConfig {
            sessions,
            ..Default::default()
        },
        traffic: TrafficConfig {
            dir,
            dist,
            ..Default::default()
        },
        buffers: 512,
        ..Default::default()
    }
}

#[test]
fn fixture_has_the_benchmark_shape() {
    let fx = Fixture::new(FixtureConfig::default());
    let r = fx.rules(7);
    assert_eq!(r.pdrs.len(), 4);
    assert!(r.pdrs.iter().all(|p| p.pdi.sdf_filters.len() == 2));
    assert!(r.pdrs.iter().all(|p| !p.urr_ids.is_empty()));
    assert!(r.pdrs.iter().all(|p| !p.qer_ids.is_empty()));
    assert!(r
        .qers
        .iter()
        .all(|q| q.mbr_ul_kbps.is_some() && q.mbr_dl_kbps.is_some()));
    assert!(r.urrs[0].method.volume);
    r.validate().unwrap();
    assert_eq!(fx.inner(7, Flow::App, Direction::Uplink).len(), 64);
}

/// Runs `n` packets and checks every transmitted frame against the fixture.
fn run_checked(dir: Direction, dist: Dist) {
    let sessions = 3000;
    let cfg = config(dir, dist, sessions);
    let mut p = prepare(&cfg).unwrap();
    assert_eq!(p.worker.session_count(), sessions);
    let seen: Arc<Mutex<Vec<Sent>>> = Arc::default();
    let s2 = seen.clone();
    p.io.check_tx(Box::new(move |port, f| {
        s2.lock().unwrap().push((port, f.to_vec()))
    }));
    let n = 5000;
    let st = run_once(&mut p, Engine::Full, n, 60.0);
    assert_eq!(st.packets, n);
    assert_eq!(st.transmitted, n, "every packet forwarded");
    assert!(upf_bench::run::drops(&p.worker).is_empty());
    let fx = p.traffic.fixture().clone();
    let seen = seen.lock().unwrap();
    assert_eq!(seen.len(), n as usize);
    for (k, (port, f)) in seen.iter().enumerate() {
        let (i, flow) = p.traffic.slot(k);
        match dir {
            Direction::Uplink => {
                assert_eq!(*port, N6);
                assert_eq!(&f[0..6], &GW_MAC);
                assert_eq!(&f[14..], &fx.inner(i, flow, dir)[..], "packet {k}");
            }
            Direction::Downlink => {
                assert_eq!(*port, N3);
                let FrameKind::Gtpu(g) = parse_frame(f).unwrap().kind else {
                    panic!("packet {k} is not GTP-U")
                };
                assert_eq!(g.header.teid, fx.dl_teid(i));
                assert_eq!(
                    g.header.ext.pdu_session,
                    Some(PduSessionInfo::Downlink {
                        qfi: flow.qfi(),
                        rqi: false,
                        ppi: None
                    }),
                    "QFI of the matched PDR's QER, packet {k}"
                );
                assert_eq!(
                    g.outer.addrs.dst_addr(),
                    std::net::IpAddr::V4(upf_bench::fixtures::gnb_addr(fx.gnb_of(i)))
                );
                assert_eq!(&f[g.inner_offset..], &fx.inner(i, flow, dir)[..]);
            }
        }
    }
}

#[test]
fn uplink_run_forwards_every_packet_correctly() {
    run_checked(Direction::Uplink, Dist::Uniform);
}

#[test]
fn downlink_run_forwards_every_packet_correctly() {
    run_checked(Direction::Downlink, Dist::Zipf(1.0));
}

#[test]
fn usage_of_a_run_is_counted_exactly() {
    let cfg = config(Direction::Uplink, Dist::RoundRobin, 10);
    let mut p = prepare(&cfg).unwrap();
    run_once(&mut p, Engine::Full, 1000, 60.0);
    // Round robin over 10 sessions: 100 packets each, 64 bytes inner.
    let mut out = upf_engine::Output::new(2, 1);
    let mut pool = upf_io::mem::MemPool::new(4, 256, 0);
    p.worker.apply(
        0,
        upf_engine::WorkerUpdate::Remove { req: 1, seid: 1 },
        &mut out,
        &mut pool,
    );
    let ack = p
        .worker
        .events
        .iter()
        .find_map(|e| match e {
            upf_engine::WorkerEvent::Ack { result, .. } => Some(result.clone()),
            _ => None,
        })
        .unwrap()
        .unwrap();
    let v = ack[0].volume.unwrap();
    assert_eq!((v.uplink_packets, v.uplink_octets), (100, 6400));
}
