//! The safe layer against a real EAL (`--no-huge`, no PCI) and DPDK's
//! virtual devices: mbuf arithmetic against DPDK's own inline functions,
//! pool exhaustion, a net_ring pair in this process, a hot-plugged
//! net_null, rings between threads, and the error paths. One EAL per
//! process: every test here shares it.
#![cfg(have_dpdk)]

use std::sync::Arc;

use arrayvec::ArrayVec;
use vendor_dpdk::*;
use vendor_dpdk_sys as sys;

fn eal_args() -> Vec<String> {
    [
        "--no-huge",
        "-m",
        "512",
        "--no-pci",
        "--no-telemetry",
        "--no-shconf",
        "-l",
        "0",
        "--log-level=notice",
        "--file-prefix",
    ]
    .iter()
    .map(|s| s.to_string())
    .chain([format!("upf-t{}", std::process::id())])
    .collect()
}

fn eal() -> &'static Eal {
    let e = Eal::init(&eal_args()).expect("EAL initialises with --no-huge");
    // --no-shconf leaves the runtime directory empty: do not leave it behind.
    let _ = std::fs::remove_dir(format!("/var/run/dpdk/upf-t{}", std::process::id()));
    e
}

fn pool(label: &str, n: u32) -> Arc<Mempool> {
    eal();
    Mempool::new(label, n, 0, (MBUF_HEADROOM + 2048) as u16, -1).expect("mempool")
}

fn frame(i: u32, len: usize) -> Vec<u8> {
    (0..len)
        .map(|k| (k as u32 ^ i.wrapping_mul(31)) as u8)
        .collect()
}

fn filled(p: &Mempool, bytes: &[u8]) -> Mbuf {
    let mut m = p.alloc().expect("mbuf");
    m.append(bytes.len()).expect("room").copy_from_slice(bytes);
    m
}

/// Fields that DPDK's inline functions change.
fn fields(m: &Mbuf) -> (u16, u16, u32) {
    // SAFETY: reads fields of an mbuf we own.
    let r = unsafe { &*m.as_ptr() };
    (r.data_off, r.data_len, r.pkt_len)
}

#[test]
fn mbuf_arithmetic_matches_dpdk_inline_functions() {
    let p = pool("arith", 1023);
    let mut ours = p.alloc().unwrap();
    let theirs = p.alloc().unwrap();
    let t = theirs.as_ptr();
    assert_eq!(ours.headroom(), MBUF_HEADROOM);
    let c_headroom = |t| {
        // SAFETY: `theirs` is a valid mbuf we own for the whole test.
        usize::from(unsafe { sys::upf_pktmbuf_headroom(t) })
    };
    let c_tailroom = |t| {
        // SAFETY: as above.
        usize::from(unsafe { sys::upf_pktmbuf_tailroom(t) })
    };
    assert_eq!(c_headroom(t), ours.headroom());
    assert_eq!(c_tailroom(t), ours.tailroom());
    // A fixed pseudo-random walk over the four operations, including ones
    // that must fail (too long), compared step by step.
    let mut x: u32 = 12345;
    for step in 0..2000 {
        x = x.wrapping_mul(1_103_515_245).wrapping_add(12345);
        let n = ((x >> 8) % 300) as usize;
        let (ok_rust, ok_c) = match (x >> 4) % 4 {
            0 => (ours.prepend(n).is_some(), unsafe {
                // SAFETY: DPDK's prepend on our mbuf.
                !sys::upf_pktmbuf_prepend(t, n as u16).is_null()
            }),
            1 => (ours.adj(n), unsafe {
                // SAFETY: DPDK's adj on our mbuf.
                !sys::upf_pktmbuf_adj(t, n as u16).is_null()
            }),
            2 => (ours.append(n).is_some(), unsafe {
                // SAFETY: DPDK's append on our mbuf.
                !sys::upf_pktmbuf_append(t, n as u16).is_null()
            }),
            _ => (ours.trim(n), unsafe {
                // SAFETY: DPDK's trim on our mbuf.
                sys::upf_pktmbuf_trim(t, n as u16) == 0
            }),
        };
        assert_eq!(ok_rust, ok_c, "step {step}: op {} n {n}", (x >> 4) % 4);
        assert_eq!(fields(&ours), fields(&theirs), "step {step}");
        assert_eq!(ours.tailroom(), c_tailroom(t), "step {step}");
        assert_eq!(ours.headroom(), c_headroom(t), "step {step}");
        // SAFETY: mtod of our mbuf; buf_addr read from both mbufs we own.
        let (c_data, c_buf, r_buf) = unsafe {
            (
                sys::upf_pktmbuf_mtod(t),
                (*t).buf_addr,
                (*ours.as_ptr()).buf_addr,
            )
        };
        assert_eq!(c_data as usize - c_buf as usize, ours.headroom());
        assert_eq!(
            ours.data().as_ptr() as usize - r_buf as usize,
            ours.headroom()
        );
    }
    assert_eq!(ours.refcnt(), 1);
    assert!(ours.is_contiguous());
}

#[test]
fn prepend_and_adj_work_in_place() {
    let p = pool("inplace", 1023);
    let mut m = filled(&p, b"payload");
    let before = m.data().as_ptr() as usize;
    m.prepend(4).unwrap().copy_from_slice(b"HEAD");
    assert_eq!(m.data(), b"HEADpayload");
    assert_eq!(
        m.data().as_ptr() as usize,
        before - 4,
        "no copy: same buffer"
    );
    assert!(m.adj(4));
    assert_eq!(m.data(), b"payload");
    assert_eq!(m.data().as_ptr() as usize, before);
    assert!(!m.adj(100));
    assert!(m.prepend(MBUF_HEADROOM + 1).is_none());
    assert_eq!(m.data(), b"payload");
    assert!(m.trim(3));
    assert_eq!(m.data(), b"payl");
    assert_eq!(m.pkt_len(), 4);
    m.reset();
    assert!(m.is_empty());
    assert_eq!(m.headroom(), MBUF_HEADROOM);
}

#[test]
fn pool_exhaustion_and_bulk_free() {
    let p = pool("exhaust", 1023);
    let mut held: Vec<Mbuf> = Vec::new();
    while let Some(m) = p.alloc() {
        held.push(m);
        assert!(held.len() <= 1023);
    }
    assert_eq!(held.len(), 1023);
    assert_eq!(p.in_use(), 1023);
    assert!(p.alloc().is_none());
    let mut bulk: ArrayVec<Mbuf, 32> = held.drain(..32).collect();
    Mbuf::free_bulk(&mut bulk);
    assert!(bulk.is_empty());
    assert_eq!(p.available(), 32);
    assert!(p.alloc_bulk(&mut bulk, 32));
    assert_eq!(bulk.len(), 32);
    assert!(!p.alloc_bulk(&mut bulk, 1), "no room left in the vector");
    drop(bulk);
    drop(held);
    assert_eq!(p.in_use(), 0, "dropping Mbufs returns them");
}

#[test]
fn ring_pair_carries_frames_both_ways_per_queue() {
    let p = pool("pair", 4095);
    let (a, b) = ring_pair("rpa", "rpb", 2, 2, 64).expect("ring pair");
    let cfg = PortConfig {
        rx_queues: 2,
        tx_queues: 2,
        rx_descriptors: 256,
        tx_descriptors: 256,
        rx_pools: vec![p.clone()],
        mtu: None,
        promiscuous: true,
    };
    let (pa, mut arx, mut atx) = Port::open(&PortRef::Id(a), &cfg).expect("open a");
    let (pb, mut brx, mut btx) = Port::open(&PortRef::Id(b), &cfg).expect("open b");
    assert_eq!(pa.name(), "net_ring_rpa");
    assert_eq!(pa.info().driver, "net_ring");
    assert!(pa.link().up, "ring ports report link up once started");
    for q in 0..2usize {
        let mut burst: ArrayVec<Mbuf, 32> = (0..20u32)
            .map(|i| filled(&p, &frame(i + 100 * q as u32, 60 + i as usize)))
            .collect();
        assert_eq!(atx[q].tx_burst(&mut burst), 20);
        assert!(burst.is_empty());
        let mut got: ArrayVec<Mbuf, 32> = ArrayVec::new();
        // Nothing arrives on the other queue.
        assert_eq!(brx[1 - q].rx_burst(&mut got), 0);
        assert_eq!(brx[q].rx_burst(&mut got), 20);
        for (i, m) in got.iter().enumerate() {
            assert_eq!(m.data(), &frame(i as u32 + 100 * q as u32, 60 + i)[..]);
        }
        // And back.
        assert_eq!(btx[q].tx_burst(&mut got), 20);
        let mut back: ArrayVec<Mbuf, 32> = ArrayVec::new();
        assert_eq!(arx[q].rx_burst(&mut back), 20);
        assert_eq!(back[7].data(), &frame(7 + 100 * q as u32, 67)[..]);
    }
    let sa = pa.stats().unwrap();
    let sb = pb.stats().unwrap();
    assert_eq!(sa.tx_packets, 40);
    assert_eq!(sb.rx_packets, 40);
    assert_eq!(sb.tx_packets, 40);
    assert_eq!(sa.rx_packets, 40);
    assert_eq!(sa.rx_queues.len(), 2);
    assert_eq!(sa.rx_queues[0].0 + sa.rx_queues[1].0, 40);
    let x = pa.xstats();
    assert!(
        x.iter().any(|(n, v)| n == "tx_good_packets" && *v == 40),
        "xstats: {x:?}"
    );
    // A full ring takes what fits and leaves the rest in order.
    let mut many: ArrayVec<Mbuf, 128> = (0..100u32).map(|i| filled(&p, &frame(i, 64))).collect();
    let sent = atx[0].tx_burst(&mut many);
    assert!((32..100).contains(&sent), "ring of 64 took {sent}");
    assert_eq!(many.len(), 100 - sent);
    assert_eq!(many[0].data(), &frame(sent as u32, 64)[..]);
}

#[test]
fn too_many_queues_is_a_typed_error() {
    let p = pool("limits", 1023);
    let (a, _b) = ring_pair("lim_a", "lim_b", 1, 1, 64).unwrap();
    let cfg = PortConfig {
        rx_queues: 1,
        tx_queues: 1,
        rx_descriptors: 128,
        tx_descriptors: 128,
        rx_pools: vec![p],
        mtu: None,
        promiscuous: false,
    };
    let mut c2 = cfg.clone();
    c2.rx_queues = 64;
    match Port::open(&PortRef::Id(a), &c2) {
        Err(DpdkError::PortLimit { port, msg }) => {
            assert_eq!(port, "net_ring_lim_a");
            assert!(msg.contains("64 receive queues"), "{msg}");
        }
        other => panic!("expected PortLimit, got {other:?}"),
    }
    let mut c3 = cfg.clone();
    c3.rx_pools.clear();
    assert!(matches!(
        Port::open(&PortRef::Id(a), &c3),
        Err(DpdkError::Invalid(_))
    ));
    assert!(Port::open(&PortRef::Id(a), &cfg).is_ok());
}

#[test]
fn vdevs_are_hot_plugged_by_name() {
    let p = pool("null", 2047);
    // The PMD is a plugin the shared EAL loaded from its driver directory.
    let cfg = PortConfig {
        rx_queues: 1,
        tx_queues: 1,
        rx_descriptors: 128,
        tx_descriptors: 128,
        rx_pools: vec![p.clone()],
        mtu: None,
        promiscuous: false,
    };
    let (port, mut rx, mut tx) =
        Port::open(&PortRef::Device("net_null7,size=80".into()), &cfg).expect("net_null");
    assert_eq!(port.name(), "net_null7");
    assert_eq!(port.info().driver, "net_null");
    // The same name again finds the existing port instead of probing twice.
    assert_eq!(resolve("net_null7").unwrap(), port.id());
    let mut got: ArrayVec<Mbuf, 32> = ArrayVec::new();
    assert_eq!(rx[0].rx_burst(&mut got), 32);
    assert!(got.iter().all(|m| m.len() == 80));
    assert_eq!(tx[0].tx_burst(&mut got), 32);
    // net_null frees what it "sends".
    drop((rx, tx, port));
    let e = resolve("net_nosuchdriver0").unwrap_err();
    assert!(matches!(e, DpdkError::Probe { .. }), "{e:?}");
    assert!(e.to_string().contains("net_nosuchdriver0"));
}

#[test]
fn mpsc_ring_between_threads_keeps_per_producer_order() {
    let p = pool("mpsc", 8191);
    let (prod, mut cons) = MbufRing::mpsc("t_mpsc", 1024).unwrap();
    let mut joins = Vec::new();
    for t in 0..2u8 {
        let prod = prod.clone();
        let p = p.clone();
        joins.push(std::thread::spawn(move || {
            let _lc = register_thread().expect("lcore");
            let mut i = 0u32;
            while i < 3000 {
                let mut b: ArrayVec<Mbuf, 32> = ArrayVec::new();
                for k in 0..16 {
                    let mut v = vec![t];
                    v.extend_from_slice(&(i + k).to_be_bytes());
                    b.push(filled(&p, &v));
                }
                let mut tries = 0;
                while !b.is_empty() {
                    prod.enqueue_burst(&mut b);
                    tries += 1;
                    assert!(tries < 10_000_000, "consumer stalled");
                    std::thread::yield_now();
                }
                i += 16;
            }
        }));
    }
    let mut next = [0u32; 2];
    let mut out: ArrayVec<Mbuf, 32> = ArrayVec::new();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    while next != [3008, 3008] {
        assert!(std::time::Instant::now() < deadline, "got {next:?}");
        cons.dequeue_burst(&mut out);
        for m in out.drain(..) {
            let d = m.data();
            let t = usize::from(d[0]);
            let i = u32::from_be_bytes([d[1], d[2], d[3], d[4]]);
            assert_eq!(i, next[t], "producer {t} out of order");
            next[t] += 1;
        }
    }
    for j in joins {
        j.join().unwrap();
    }
    assert!(cons.is_empty());
}

#[test]
fn eal_initialises_once_per_process() {
    let e = eal();
    assert!(std::ptr::eq(e, Eal::init(&eal_args()).unwrap()));
    assert!(e.tsc_hz() > 0);
    match Eal::init(&["--no-huge"]) {
        Err(DpdkError::AlreadyInitialised(a)) => assert_eq!(a, eal_args()),
        other => panic!("expected AlreadyInitialised, got {other:?}"),
    }
    let g = register_thread().unwrap();
    assert!(g.lcore() < sys::RTE_MAX_LCORE);
}
