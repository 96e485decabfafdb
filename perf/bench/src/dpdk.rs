//! The DPDK arm of the harness: the same fixture, traffic and measured
//! loop, with the worker on DPDK ports instead of in-memory ones.
//!
//! Each fixture port is a `net_ring` pair (`rte_eth_from_rings`): the
//! worker's side is a real ethdev port opened by `upf_io::dpdk::open` (one
//! worker, its own mempool, burst receive and transmit through the PMD), the
//! other side is the "wire". On receive the wire side takes fresh mbufs from
//! a generator pool, writes the next frames of the sequence into them
//! ([`Traffic::fill`], the stand-in for a NIC's DMA, as in
//! [`crate::ReplayPorts`]) and sends them into the ring; the worker's
//! `rx_burst` then takes them from its queue. What the worker transmits
//! comes out of the wire side's receive queue and is freed in bulk. All of
//! that is inside the measured loop, so the figures are the engine plus two
//! ring hops, the refill and the frees; `--null-engine` measures that I/O
//! share alone.

use std::sync::Arc;
use std::time::Instant;

use arrayvec::ArrayVec;
use upf_engine::Worker;
use upf_io::dpdk::{self as io, DeviceSpec, DpdkPool, DpdkPorts, DpdkSetup, Eal, Mbuf, Mempool};
use upf_io::{Burst, PortId, PortIo, QueueStats, BURST};
use vendor_dpdk::{ring_pair, Port, PortConfig, PortRef, RxQueue, TxQueue, MBUF_HEADROOM};

use crate::bench::{BenchConfig, BenchResult, MemoryReport, RunReport};
use crate::fixtures::{Direction, Fixture};
use crate::run::{self, Limits};
use crate::traffic::Traffic;

/// Why the DPDK arm could not run.
#[derive(Debug)]
pub enum DpdkBenchError {
    /// EAL, ports or pools.
    Dpdk(String),
    /// Installing the fixture.
    Setup(run::SetupError),
}

impl std::fmt::Display for DpdkBenchError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            DpdkBenchError::Dpdk(e) => write!(f, "dpdk: {e}"),
            DpdkBenchError::Setup(e) => write!(f, "{e}"),
        }
    }
}

impl std::error::Error for DpdkBenchError {}

fn err(e: impl std::fmt::Display) -> DpdkBenchError {
    DpdkBenchError::Dpdk(e.to_string())
}

/// The worker's DPDK ports plus the wire side of each ring pair.
pub struct DpdkReplay {
    inner: DpdkPorts,
    wire_rx: Vec<RxQueue>,
    wire_tx: Vec<TxQueue>,
    _wire_ports: Vec<Port>,
    gen: Arc<Mempool>,
    traffic: Arc<Traffic>,
    ingress: PortId,
    next: usize,
    remaining: u64,
    sink: ArrayVec<Mbuf, BURST>,
}

impl std::fmt::Debug for DpdkReplay {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DpdkReplay")
            .field("ingress", &self.ingress)
            .field("remaining", &self.remaining)
            .finish_non_exhaustive()
    }
}

impl DpdkReplay {
    /// Delivers at most `n` more packets.
    pub fn limit(&mut self, n: u64) {
        self.remaining = n;
    }

    fn sink(&mut self, port: usize) {
        if let Some(q) = self.wire_rx.get_mut(port) {
            while q.rx_burst(&mut self.sink) > 0 {
                Mbuf::free_bulk(&mut self.sink);
            }
        }
    }
}

impl PortIo for DpdkReplay {
    type Buf = Mbuf;
    type Pool = DpdkPool;

    fn ports(&self) -> usize {
        self.inner.ports()
    }

    #[inline]
    fn rx_burst(&mut self, port: PortId, out: &mut Burst<Mbuf>) -> usize {
        if port == self.ingress && self.remaining > 0 {
            let n = (out.capacity() - out.len()).min(self.remaining as usize);
            let mut gen: ArrayVec<Mbuf, BURST> = ArrayVec::new();
            if n > 0 && self.gen.alloc_bulk(&mut gen, n) {
                let len = self.traffic.frame_len();
                for m in gen.iter_mut() {
                    if let Some(d) = m.append(len) {
                        self.traffic.fill(self.next, d);
                    }
                    self.next = self.next.wrapping_add(1);
                }
                if let Some(q) = self.wire_tx.get_mut(usize::from(port)) {
                    let sent = q.tx_burst(&mut gen);
                    self.remaining -= sent as u64;
                }
                Mbuf::free_bulk(&mut gen);
            }
        }
        self.inner.rx_burst(port, out)
    }

    #[inline]
    fn tx_burst(&mut self, port: PortId, pkts: &mut Burst<Mbuf>) {
        self.inner.tx_burst(port, pkts);
        self.sink(usize::from(port));
    }

    fn pool(&mut self) -> &mut DpdkPool {
        self.inner.pool()
    }

    fn flush(&mut self) {
        self.inner.flush();
    }

    fn stats(&self, port: PortId) -> QueueStats {
        self.inner.stats(port)
    }

    fn attach_thread(&mut self) {
        self.inner.attach_thread();
    }
}

/// Default EAL arguments of the DPDK arm (no hugepages, no PCI).
pub fn default_eal_args() -> Vec<String> {
    let prefix = format!("upf-bench{}", std::process::id());
    [
        "--no-huge",
        "-m",
        "1024",
        "--no-pci",
        "--no-shconf",
        "--no-telemetry",
        "-l",
        "0",
        "--log-level=warning",
        "--file-prefix",
        &prefix,
    ]
    .iter()
    .map(|s| s.to_string())
    .collect()
}

/// The complete measurement with the worker on net_ring ports.
pub fn bench(cfg: &BenchConfig, eal_args: &[String]) -> Result<BenchResult, DpdkBenchError> {
    let eal = Eal::init(eal_args).map_err(err)?;
    if let Some(i) = eal_args.iter().position(|a| a == "--file-prefix") {
        if let Some(p) = eal_args.get(i + 1) {
            // --no-shconf leaves the runtime directory empty.
            let _ = std::fs::remove_dir(format!("/var/run/dpdk/{p}"));
        }
    }
    let fx = Fixture::new(cfg.fixture.clone());
    let traffic = Arc::new(Traffic::new(&fx, cfg.traffic));
    let nports = fx.topology().ports.len();
    let data_room = (MBUF_HEADROOM + 2048) as u16;
    let gen = Mempool::new("bench_gen", 16383, 256, data_room, -1).map_err(err)?;
    let mut devices = Vec::new();
    let mut wire_rx = Vec::new();
    let mut wire_tx = Vec::new();
    let mut wire_ports = Vec::new();
    static RUN: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);
    let seq = RUN.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    for p in 0..nports {
        let (a, b) =
            ring_pair(&format!("bu{seq}p{p}"), &format!("bw{seq}p{p}"), 1, 1, 2048).map_err(err)?;
        devices.push(DeviceSpec {
            device: Port::name_of(a),
            mtu: 1500,
        });
        let (port, mut rx, mut tx) = Port::open(
            &PortRef::Id(b),
            &PortConfig {
                rx_queues: 1,
                tx_queues: 1,
                rx_descriptors: 1024,
                tx_descriptors: 1024,
                rx_pools: vec![gen.clone()],
                mtu: None,
                promiscuous: false,
            },
        )
        .map_err(err)?;
        wire_rx.push(rx.remove(0));
        wire_tx.push(tx.remove(0));
        wire_ports.push(port);
    }
    let mut be = io::open(&DpdkSetup {
        devices,
        workers: 1,
        rx_queues_per_worker: 1,
        rx_descriptors: 1024,
        tx_descriptors: 1024,
        mempool_size: cfg.buffers.max(8191) as u32,
        mempool_cache: 256,
        dispatch_ring: 1024,
    })
    .map_err(err)?;
    let inner = be.workers.remove(0);
    let mut dio = DpdkReplay {
        inner,
        wire_rx,
        wire_tx,
        _wire_ports: wire_ports,
        gen,
        traffic: traffic.clone(),
        ingress: cfg.traffic.dir.ingress(),
        next: 0,
        remaining: 0,
        sink: ArrayVec::new(),
    };
    dio.attach_thread();
    let mut worker: Worker<Mbuf> = Worker::new(run::worker_config(&fx, 0), fx.topology());
    let rss0 = run::rss_bytes();
    let t0 = Instant::now();
    let mut clock = 1_000_000_000;
    let n = run::install(&mut worker, dio.pool(), &fx, clock).map_err(DpdkBenchError::Setup)?;
    let install_seconds = t0.elapsed().as_secs_f64();
    let rss1 = run::rss_bytes();
    let m = worker.memory();
    let per = |b: f64| if n == 0 { 0.0 } else { b / n as f64 };
    let memory = MemoryReport {
        table_bytes: m.tables,
        session_bytes: m.sessions,
        engine_bytes_per_session: per((m.tables + m.sessions) as f64),
        rss_bytes_per_session: match (rss0, rss1) {
            (Some(a), Some(b)) => Some(per(b.saturating_sub(a) as f64)),
            _ => None,
        },
    };
    // Cycles from the TSC rate DPDK measured (the nominal clock).
    let mhz = Some(eal.tsc_hz() as f64 / 1e6);
    let egress = cfg.traffic.dir.egress();
    let mut once = |packets: u64, seconds: f64, clock: &mut u64| {
        dio.limit(packets);
        let st = run::measured_loop(
            &mut worker,
            &mut dio,
            cfg.engine,
            egress,
            *clock,
            Limits {
                packets,
                ns: (seconds * 1e9) as u64,
            },
        );
        *clock += st.elapsed_ns;
        st
    };
    let mut usage = 0;
    if cfg.warmup_packets > 0 {
        usage += once(cfg.warmup_packets, 60.0, &mut clock).usage_reports;
    }
    let mut runs = Vec::new();
    for _ in 0..cfg.repeat.max(1) {
        let (st, cpu) = run::with_cpu_time(|| once(cfg.packets, cfg.seconds, &mut clock));
        usage += st.usage_reports;
        let secs = st.elapsed_ns as f64 / 1e9;
        let ns_pp = st.elapsed_ns as f64 / st.packets.max(1) as f64;
        runs.push(RunReport {
            packets: st.packets,
            transmitted: st.transmitted,
            seconds: secs,
            mpps: st.packets as f64 / secs.max(1e-9) / 1e6,
            ns_per_packet: ns_pp,
            cycles_per_packet: mhz.map(|m| ns_pp * m / 1000.0),
            cpu_seconds: cpu,
            mpps_cpu: cpu.map(|c| st.packets as f64 / c / 1e6),
        });
    }
    let mut cpu: Vec<f64> = runs.iter().filter_map(|r| r.mpps_cpu).collect();
    cpu.sort_by(f64::total_cmp);
    let mut mpps: Vec<f64> = runs.iter().map(|r| r.mpps).collect();
    mpps.sort_by(f64::total_cmp);
    let mut cyc: Vec<f64> = runs.iter().filter_map(|r| r.cycles_per_packet).collect();
    cyc.sort_by(f64::total_cmp);
    Ok(BenchResult {
        sessions: worker.session_count(),
        direction: match cfg.traffic.dir {
            Direction::Uplink => "ul",
            Direction::Downlink => "dl",
        },
        dist: crate::bench::dist_name(cfg.traffic.dist),
        inner_len: cfg.fixture.inner_len,
        frame_len: traffic.frame_len(),
        engine: match cfg.engine {
            run::Engine::Full => "full",
            run::Engine::Null => "null",
        },
        install_seconds,
        memory,
        cpu_mhz: mhz,
        mpps_median: mpps[mpps.len() / 2],
        mpps_min: mpps[0],
        mpps_max: mpps[mpps.len() - 1],
        mpps_cpu_median: cpu.get(cpu.len() / 2).copied(),
        mpps_cpu_min: cpu.first().copied(),
        mpps_cpu_max: cpu.last().copied(),
        cycles_per_packet_median: cyc.get(cyc.len() / 2).copied(),
        runs,
        drops: run::drops(&worker),
        usage_reports: usage,
    })
}
