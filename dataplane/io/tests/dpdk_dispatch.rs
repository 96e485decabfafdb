//! The DPDK backend over a net_ring pair in this process: two workers share
//! a port whose device has a single receive queue (like most virtual
//! devices), so worker 0 receives everything and passes each frame to its
//! natural worker (TEID % 2 for GTP-U, destination address % 2 otherwise);
//! each worker sends on its own transmit queue. One EAL per process.
#![cfg(have_dpdk)]

use arrayvec::ArrayVec;
use upf_io::dpdk::{self, DeviceSpec, DpdkSetup};
use upf_io::{steer, BufPool, Burst, PacketBuf, PortIo};
use vendor_dpdk::{ring_pair, Eal, Mbuf, Mempool, Port, PortConfig, PortRef, MBUF_HEADROOM};

fn eal() {
    let prefix = format!("upf-io{}", std::process::id());
    Eal::init(&[
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
        &prefix,
    ])
    .expect("EAL");
    let _ = std::fs::remove_dir(format!("/var/run/dpdk/{prefix}"));
}

fn gtpu(teid: u32, n: u8) -> Vec<u8> {
    let mut f = vec![0u8; 14 + 20 + 8 + 8 + 4];
    f[12..14].copy_from_slice(&0x0800u16.to_be_bytes());
    f[14] = 0x45;
    f[14 + 9] = 17;
    f[14 + 16..14 + 20].copy_from_slice(&[198, 18, 3, 2]);
    f[34 + 2..34 + 4].copy_from_slice(&2152u16.to_be_bytes());
    f[42] = 0x30;
    f[43] = 0xff;
    f[46..50].copy_from_slice(&teid.to_be_bytes());
    f[50] = n;
    f
}

fn plain_v4(dst: [u8; 4]) -> Vec<u8> {
    let mut f = vec![0u8; 14 + 20];
    f[12..14].copy_from_slice(&0x0800u16.to_be_bytes());
    f[14] = 0x45;
    f[14 + 9] = 6;
    f[14 + 16..14 + 20].copy_from_slice(&dst);
    f
}

#[test]
fn single_queue_device_dispatches_to_natural_workers() {
    eal();
    // A: the UPF's port, 1 receive queue (B -> A) and 2 transmit queues.
    let (_a, b) = ring_pair("dsp_a", "dsp_b", 2, 1, 1024).expect("ring pair");
    let mut be = dpdk::open(&DpdkSetup {
        devices: vec![DeviceSpec {
            device: "net_ring_dsp_a".into(),
            mtu: 1500,
        }],
        workers: 2,
        rx_queues_per_worker: 1,
        rx_descriptors: 256,
        tx_descriptors: 256,
        mempool_size: 4095,
        mempool_cache: 32,
        dispatch_ring: 512,
    })
    .expect("open");
    assert_eq!(be.ports[0].port.queues(), (1, 2));
    assert_eq!(be.workers[0].rx_queues(0), vec![0]);
    assert!(be.workers[1].rx_queues(0).is_empty());
    for w in &mut be.workers {
        w.attach_thread();
    }
    // The wire side (port B) with its own pool.
    let wire_pool = Mempool::new("wire", 4095, 0, (MBUF_HEADROOM + 2048) as u16, -1).unwrap();
    let (_pb, mut brx, mut btx) = Port::open(
        &PortRef::Id(b),
        &PortConfig {
            rx_queues: 2,
            tx_queues: 1,
            rx_descriptors: 256,
            tx_descriptors: 256,
            rx_pools: vec![wire_pool.clone()],
            mtu: None,
            promiscuous: false,
        },
    )
    .unwrap();
    let mut frames: Vec<Vec<u8>> = (0..24u32).map(|i| gtpu(1000 + i, i as u8)).collect();
    frames.push(plain_v4([10, 45, 0, 7]));
    frames.push(plain_v4([10, 45, 0, 8]));
    let mut burst: ArrayVec<Mbuf, 32> = ArrayVec::new();
    for f in &frames {
        let mut m = wire_pool.alloc().unwrap();
        m.append(f.len()).unwrap().copy_from_slice(f);
        burst.push(m);
    }
    assert_eq!(btx[0].tx_burst(&mut burst), frames.len());

    let (w0, rest) = be.workers.split_at_mut(1);
    let (w0, w1) = (&mut w0[0], &mut rest[0]);
    let mut got0: Burst<Mbuf> = Burst::new();
    let mut got1: Burst<Mbuf> = Burst::new();
    // Worker 1 has no receive queue: nothing until worker 0 dispatched.
    assert_eq!(w1.rx_burst(0, &mut got1), 0);
    let n0 = w0.rx_burst(0, &mut got0);
    let n1 = w1.rx_burst(0, &mut got1);
    assert_eq!(n0 + n1, frames.len());
    assert_eq!((n0, n1), (13, 13));
    for (w, got) in [(0u32, &got0), (1, &got1)] {
        for m in got.iter() {
            assert_eq!(PacketBuf::port(m), 0, "port field is our port index");
            assert_eq!(steer::natural_worker(m.data(), 2), w);
            assert!(frames.iter().any(|f| f[..] == *m.data()));
        }
    }
    let s0 = w0.stats(0);
    assert_eq!(s0.rx_packets, frames.len() as u64);
    assert_eq!(s0.rx_dispatched, 13);
    assert_eq!(w1.stats(0).rx_packets, 0);

    // In-place edit and each worker's own transmit queue.
    for m in got1.iter_mut() {
        assert!(PacketBuf::adj(m, 14));
        PacketBuf::prepend(m, 14)
            .unwrap()
            .copy_from_slice(&[0xee; 14]);
    }
    w0.tx_burst(0, &mut got0);
    w1.tx_burst(0, &mut got1);
    assert!(got0.is_empty() && got1.is_empty());
    w0.flush();
    w1.flush();
    let mut out0: ArrayVec<Mbuf, 32> = ArrayVec::new();
    let mut out1: ArrayVec<Mbuf, 32> = ArrayVec::new();
    assert_eq!(brx[0].rx_burst(&mut out0), 13);
    assert_eq!(brx[1].rx_burst(&mut out1), 13);
    assert!(out1.iter().all(|m| m.data()[..14] == [0xee; 14]));
    assert_eq!(w1.stats(0).tx_packets, 13);
    assert_eq!(
        w1.stats(0).tx_bytes,
        out1.iter().map(|m| m.len() as u64).sum::<u64>()
    );

    // Pool: alloc/free in bulk returns everything.
    let pool = w0.pool();
    let before = pool.mempool().in_use();
    let bufs: Vec<Mbuf> = (0..100).map(|_| pool.alloc().unwrap()).collect();
    assert_eq!(pool.mempool().in_use(), before + 100);
    for b in bufs {
        pool.free(b);
    }
    pool.flush();
    assert_eq!(pool.mempool().in_use(), before);
}

#[test]
fn too_few_transmit_queues_is_an_error() {
    eal();
    let _ = ring_pair("few_a", "few_b", 1, 1, 64).unwrap();
    let e = dpdk::open(&DpdkSetup {
        devices: vec![DeviceSpec {
            device: "net_ring_few_a".into(),
            mtu: 1500,
        }],
        workers: 3,
        rx_queues_per_worker: 1,
        rx_descriptors: 128,
        tx_descriptors: 128,
        mempool_size: 4095,
        mempool_cache: 0,
        dispatch_ring: 64,
    })
    .unwrap_err();
    assert!(
        matches!(
            e,
            dpdk::DpdkIoError::TxQueues {
                have: 1,
                workers: 3,
                ..
            }
        ),
        "{e}"
    );
    let e = dpdk::open(&DpdkSetup {
        devices: vec![DeviceSpec {
            device: "net_ring_few_a".into(),
            mtu: 1500,
        }],
        workers: 1,
        rx_queues_per_worker: 1,
        rx_descriptors: 1024,
        tx_descriptors: 1024,
        mempool_size: 1500,
        mempool_cache: 0,
        dispatch_ring: 64,
    })
    .unwrap_err();
    assert!(
        matches!(e, dpdk::DpdkIoError::MempoolTooSmall { have: 1500, .. }),
        "{e}"
    );
}
