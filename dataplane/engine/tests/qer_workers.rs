//! QER MBR exactness when a session's packets arrive on several workers.
//!
//! The design: a session has one owner worker (placement by UE address);
//! every other worker holds redirect entries for its keys and hands the
//! session's packets to the owner, so the owner's token bucket sees every
//! packet. Three in-process workers on a virtual clock; the packets of one
//! session arrive spread over all three (worst case: round robin, and a
//! skewed spread), offered at twice the MBR for one second, in both
//! directions. The forwarded volume must be within 5% of the MBR.

mod common;

use common::*;
use upf_engine::worker::Output;
use upf_engine::{compile, LookupKey, Worker, WorkerConfig, WorkerUpdate};
use upf_io::mem::{MemBuf, MemPool};
use upf_io::{BufPool, Burst, PacketBuf};
use upf_rules::placement;

const WORKERS: u32 = 3;
const NS: u64 = 1_000_000_000;

struct Cluster {
    w: Vec<Worker<MemBuf>>,
    out: Vec<Output<MemBuf>>,
    pool: MemPool,
}

impl Cluster {
    fn new(rules: &upf_rules::SessionRules) -> (Cluster, u32) {
        let topo = topology(WORKERS);
        let mut pool = MemPool::new(4096, 2048, 256);
        let mut w = Vec::new();
        let mut out = Vec::new();
        for id in 0..WORKERS {
            let mut wk = Worker::new(
                WorkerConfig {
                    id,
                    ..Default::default()
                },
                topo.clone(),
            );
            let mut o = Output::new(3, WORKERS as usize);
            for (ip, mac) in [(GNB, GNB_MAC), (DN_GW, DN_GW_MAC)] {
                wk.apply(
                    0,
                    WorkerUpdate::Neighbor {
                        ip: ip.parse().unwrap(),
                        mac,
                    },
                    &mut o,
                    &mut pool,
                );
            }
            w.push(wk);
            out.push(o);
        }
        // What the control thread does: compile, install on the owner, and
        // point the other workers' keys at it.
        let c = compile(rules, &topo, 0).unwrap();
        let owner = c.owner;
        let teids: Vec<u32> = c.teids().to_vec();
        let ue = c.ue.v4().unwrap();
        w[owner as usize].apply(
            0,
            WorkerUpdate::Install {
                req: 1,
                session: Box::new(c),
            },
            &mut out[owner as usize],
            &mut pool,
        );
        for other in (0..WORKERS).filter(|&x| x != owner) {
            for key in teids
                .iter()
                .map(|&t| LookupKey::Teid(t))
                .chain([LookupKey::Ue4(ue)])
            {
                w[other as usize].apply(
                    0,
                    WorkerUpdate::Redirect {
                        key,
                        worker: Some(owner),
                    },
                    &mut out[other as usize],
                    &mut pool,
                );
            }
        }
        for wk in w.iter_mut() {
            wk.events.clear();
        }
        (Cluster { w, out, pool }, owner)
    }

    /// One frame arriving at worker `at` on `port` at `now`; handed-off
    /// packets are delivered to their owner at once. Returns the bytes of
    /// inner packets that left on `egress`.
    fn send(&mut self, at: usize, port: u16, frame: &[u8], now: u64, egress: u16) -> u64 {
        let mut b = self.pool.alloc().unwrap();
        b.append(frame.len()).unwrap().copy_from_slice(frame);
        b.set_port(port);
        let mut burst = Burst::new();
        burst.push(b);
        self.w[at].process_burst(now, &mut burst, &mut self.out[at], &mut self.pool);
        // Deliver hand-offs (the per-pair SPSC rings of the daemon).
        for from in 0..WORKERS as usize {
            for to in 0..WORKERS as usize {
                let moved: Vec<MemBuf> = self.out[from].handoff[to].drain(..).collect();
                for hb in moved {
                    self.w[to].process_handed(now, hb, &mut self.out[to], &mut self.pool);
                }
            }
        }
        let mut bytes = 0;
        for o in self.out.iter_mut() {
            for q in 0..3u16 {
                for b in o.tx[usize::from(q)].drain(..) {
                    if q == egress {
                        bytes += inner_len(&b, q) as u64;
                    }
                    self.pool.free(b);
                }
            }
        }
        bytes
    }
}

/// Length of the inner packet of a frame that left on `port`.
fn inner_len(b: &MemBuf, port: u16) -> usize {
    match port {
        N6 => b.len() - 14,
        _ => {
            let f = upf_wire::fast::parse_frame(b.data()).unwrap();
            match f.kind {
                upf_wire::fast::FrameKind::Gtpu(g) => g.inner_len,
                k => panic!("not GTP-U: {k:?}"),
            }
        }
    }
}

/// Offers 2 × MBR for one virtual second with packets spread over workers
/// by `spread`; returns (forwarded bytes, MBR in bytes per second).
fn run(uplink: bool, spread: impl Fn(u64) -> usize) -> (u64, u64) {
    let mbr_kbps = 20_000; // 20 Mbit/s = 2.5 MB/s
    let mut s = session();
    s.qers[0].mbr_ul_kbps = Some(mbr_kbps);
    s.qers[0].mbr_dl_kbps = Some(mbr_kbps);
    let (mut c, owner) = Cluster::new(&s);
    // The UE address decides the owner; the SMF-chosen TEID lands elsewhere.
    let ue: std::net::Ipv4Addr = UE.parse().unwrap();
    assert_eq!(owner, placement::natural_worker_v4(u32::from(ue), WORKERS));
    let rate = mbr_kbps * 125;
    let payload = vec![0u8; 1172]; // 1200-byte inner packets
    let (frame, port, egress) = if uplink {
        let inner = inner_udp(UE, SERVER, 1000, 2000, &payload);
        (gtp_frame(UL_TEID, Some(9), &inner), N3, N6)
    } else {
        let inner = inner_udp(SERVER, UE, 2000, 1000, &payload);
        (n6_frame(&inner), N6, N3)
    };
    let pkt = 1200u64;
    // Twice the rate: one packet every pkt / (2 rate) seconds.
    let gap = pkt * NS / (2 * rate);
    let mut now = NS; // the session was installed at 0: its bucket is full
    let end = now + NS;
    let mut passed = 0;
    let mut k = 0u64;
    let mut seen = [0u64; WORKERS as usize];
    while now < end {
        let at = spread(k);
        seen[at] += 1;
        passed += c.send(at, port, &frame, now, egress);
        now += gap;
        k += 1;
    }
    // Every worker received traffic of the session, and only the owner's
    // bucket limited it.
    assert!(seen.iter().all(|&n| n > 100), "spread {seen:?}");
    let handed: u64 = c.w.iter().map(|w| w.stats.handed_off).sum();
    let not_owner: u64 = seen
        .iter()
        .enumerate()
        .filter(|(i, _)| *i as u32 != owner)
        .map(|(_, n)| n)
        .sum();
    assert_eq!(
        handed, not_owner,
        "every packet off its owner was handed over"
    );
    (passed, rate)
}

fn assert_within_5_percent(passed: u64, rate: u64, what: &str) {
    // One second of traffic plus at most the bucket depth (10 ms).
    let err = (passed as f64 - rate as f64).abs() / rate as f64;
    assert!(
        err < 0.05,
        "{what}: {passed} bytes in 1 s vs MBR {rate} B/s ({:.2}% off)",
        err * 100.0
    );
}

#[test]
fn uplink_mbr_holds_across_workers() {
    let (p, r) = run(true, |k| (k % u64::from(WORKERS)) as usize);
    assert_within_5_percent(p, r, "uplink, round robin");
    // Skewed: 70% on one worker, the rest on the others.
    let (p, r) = run(true, |k| match k % 10 {
        0..=6 => 2,
        7 | 8 => 0,
        _ => 1,
    });
    assert_within_5_percent(p, r, "uplink, skewed");
}

#[test]
fn downlink_mbr_holds_across_workers() {
    let (p, r) = run(false, |k| (k % u64::from(WORKERS)) as usize);
    assert_within_5_percent(p, r, "downlink, round robin");
    let (p, r) = run(false, |k| match k % 10 {
        0..=6 => 0,
        7 | 8 => 1,
        _ => 2,
    });
    assert_within_5_percent(p, r, "downlink, skewed");
}
