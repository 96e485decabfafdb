//! A traffic run over two Linux interfaces: the gNB side (N3) and the data
//! network side (N6), each possibly in its own network namespace.
//!
//! Threads: one receiver per port (answers ARP and GTP-U echo, accounts
//! what arrives) and one sender per direction (uplink leaves on N3,
//! downlink on N6). The receivers start first and resolve the next hops'
//! MACs; then the senders start together; after they finish the receivers
//! keep draining for a while, then everything is joined and reported.

use std::net::{IpAddr, Ipv4Addr};
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::mpsc;
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use upf_io::af_packet::{if_mac, RingConfig};
use upf_smfsim::sessions::SessionsFile;
use upf_wire::ethernet::Mac;

use crate::backend::{AfRx, AfTx, RxPort, TxPort};
use crate::netdev::{self, thread_cpu_ns, DevCounters};
use crate::packet::{ue_addr, Dir, Endpoints, FlowTemplate};
use crate::report::{
    groups, DirReport, FlowReport, LatencyNs, PortReport, Report, RxReport, TxReport,
};
use crate::rx::{arp_request, mac_str, Arrival, Expect, Receiver, RxSetup};
use crate::sizes::Sizes;
use crate::txloop::{self, TxJob, TxResult};

/// An interface, optionally in a named network namespace (`dev@netns`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PortSpec {
    /// Interface name.
    pub dev: String,
    /// Network namespace name (under /var/run/netns).
    pub netns: Option<String>,
}

impl std::str::FromStr for PortSpec {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        let (dev, ns) = match s.split_once('@') {
            Some((d, n)) => (d, Some(n.to_string())),
            None => (s, None),
        };
        if dev.is_empty() || dev.len() >= 16 || ns.as_deref() == Some("") {
            return Err(format!("bad interface {s:?} (DEV or DEV@NETNS)"));
        }
        Ok(PortSpec {
            dev: dev.to_string(),
            netns: ns,
        })
    }
}

impl std::fmt::Display for PortSpec {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match &self.netns {
            Some(n) => write!(f, "{}@{n}", self.dev),
            None => f.write_str(&self.dev),
        }
    }
}

/// Which flows the JSON lists.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FlowsOut {
    /// None.
    None,
    /// Flows with loss, duplicates or reordering.
    Anomalies,
    /// Every flow.
    All,
}

/// Everything a run needs.
#[derive(Clone, Debug)]
pub struct RunConfig {
    /// The sessions (already cut to the ones in use).
    pub file: SessionsFile,
    /// gNB side.
    pub n3: PortSpec,
    /// Data network side.
    pub n6: PortSpec,
    /// Directions to send.
    pub dirs: Vec<Dir>,
    /// A UPF sits between the ports (else they are looped back).
    pub through_upf: bool,
    /// Inner packet sizes.
    pub sizes: Sizes,
    /// Packets per second per direction (`None`: as fast as possible).
    pub rate: Option<f64>,
    /// Packets per direction.
    pub count: Option<u64>,
    /// Sending time.
    pub duration: Option<Duration>,
    /// Packets per flush.
    pub burst: usize,
    /// How long receivers wait after the senders finished.
    pub drain: Duration,
    /// Addresses (MACs are filled in by the run).
    pub endpoints: Endpoints,
    /// The UPF's N3 MAC, instead of resolving it.
    pub n3_peer_mac: Option<Mac>,
    /// The UPF's N6 MAC, instead of resolving it.
    pub n6_peer_mac: Option<Mac>,
    /// The UPF's N6 address, to resolve its MAC (downlink through a UPF).
    pub n6_peer_ip: Option<Ipv4Addr>,
    /// Our address on N3 (ARP, GTP-U echo).
    pub n3_ip: Option<Ipv4Addr>,
    /// Our address on N6 (ARP).
    pub n6_ip: Option<Ipv4Addr>,
    /// Our IPv6 address on N3 (neighbour discovery).
    pub n3_ip6: Option<std::net::Ipv6Addr>,
    /// Our IPv6 address on N6 (neighbour discovery).
    pub n6_ip6: Option<std::net::Ipv6Addr>,
    /// CPUs for the senders (uplink, downlink).
    pub tx_cpus: Vec<usize>,
    /// CPUs for the receivers (N3, N6).
    pub rx_cpus: Vec<usize>,
    /// Transmit ring geometry.
    pub tx_ring: RingConfig,
    /// Receive ring geometry.
    pub rx_ring: RingConfig,
    /// Progress line interval.
    pub progress: Option<Duration>,
    /// Check the QFI of GTP-U arrivals.
    pub check_qfi: bool,
    /// How long to wait for ARP answers.
    pub resolve_timeout: Duration,
    /// Flows in the JSON.
    pub flows_out: FlowsOut,
    /// Fail the run above this loss ratio (per direction).
    pub max_loss: Option<f64>,
    /// The run number (random by default).
    pub run: u32,
    /// Warm-up packets per flow.
    pub warmup: u32,
    /// Pause after the warm-up.
    pub warmup_wait: Duration,
}

/// Why a run could not be carried out.
#[derive(Debug, thiserror::Error)]
pub enum RunError {
    /// An interface or namespace problem.
    #[error("{role} port {port}: {msg}")]
    Port {
        /// `n3` or `n6`.
        role: &'static str,
        /// The port.
        port: String,
        /// What went wrong.
        msg: String,
    },
    /// The sessions or options cannot make traffic.
    #[error("{0}")]
    Setup(String),
}

struct PortUp {
    mac: Mac,
    peer: Option<Mac>,
    mtu: u32,
}

struct RxOut {
    rx: Receiver,
    drops: u64,
    dev: DevCounters,
    busy: Option<f64>,
}

const N3: usize = 0;
const N6: usize = 1;
const ROLES: [&str; 2] = ["n3", "n6"];

fn enter(spec: &PortSpec) -> Result<(), String> {
    if let Some(ns) = &spec.netns {
        let p = PathBuf::from("/var/run/netns").join(ns);
        upf_io::sys::enter_netns(&p).map_err(|e| format!("network namespace {ns:?}: {e}"))?;
    }
    Ok(())
}

fn pin(cpu: Option<usize>) {
    if let Some(c) = cpu {
        core_affinity::set_for_current(core_affinity::CoreId { id: c });
    }
}

#[allow(clippy::too_many_arguments)]
fn rx_thread(
    role: &'static str,
    spec: PortSpec,
    ring: RingConfig,
    mut setup: RxSetup,
    resolve: Option<Ipv4Addr>,
    resolve_timeout: Duration,
    cpu: Option<usize>,
    ready: mpsc::Sender<Result<PortUp, String>>,
    stop: Arc<AtomicBool>,
    progress: Arc<AtomicU64>,
) -> Option<RxOut> {
    let fail = |m: String| {
        let _ = ready.send(Err(m));
        None
    };
    if let Err(e) = enter(&spec) {
        return fail(e);
    }
    pin(cpu);
    let dev = match netdev::info(&spec.dev) {
        Ok(d) => d,
        Err(e) => return fail(format!("{e} (interface missing?)")),
    };
    if !dev.up {
        return fail(format!("interface {} is not up", spec.dev));
    }
    let Some(mac) = if_mac(&spec.dev) else {
        return fail(format!("interface {} has no MAC address", spec.dev));
    };
    let mut port = match AfRx::open(&spec.dev, ring) {
        Ok(p) => p,
        Err(e) => return fail(e.to_string()),
    };
    let drops0 = port.drops();
    setup.mac = mac;
    let own = setup.ipv4;
    let mut rx = Receiver::new(setup);
    // A gratuitous ARP: the UPF learns where our address is.
    if let Some(ip) = own {
        port.send_control(&arp_request(mac, ip, ip));
    }
    let mut peer = None;
    if let Some(target) = resolve {
        let Some(me) = own else {
            return fail("an own IPv4 address is needed to resolve the next hop".into());
        };
        let end = Instant::now() + resolve_timeout;
        let mut next_req = Instant::now();
        while Instant::now() < end {
            if Instant::now() >= next_req {
                port.send_control(&arp_request(mac, me, target));
                next_req = Instant::now() + Duration::from_millis(250);
            }
            port.recv(64, |f, ts| rx.on_frame(f, ts));
            for r in rx.take_replies() {
                port.send_control(&r);
            }
            if let Some(m) = rx.neighbour(target) {
                peer = Some(m);
                break;
            }
            port.wait(10);
        }
        if peer.is_none() {
            return fail(format!(
                "no ARP reply from {target} on {} within {resolve_timeout:?}: is the UPF up and \
                 are these its sessions? (or give the MAC with --{role}-peer-mac)",
                spec.dev,
            ));
        }
    }
    let _ = ready.send(Ok(PortUp {
        mac,
        peer,
        mtu: dev.mtu,
    }));
    let cpu0 = thread_cpu_ns();
    let t0 = Instant::now();
    let mut last = Instant::now();
    loop {
        let n = port.recv(256, |f, ts| rx.on_frame(f, ts));
        for r in rx.take_replies() {
            port.send_control(&r);
        }
        if n == 0 {
            if stop.load(Ordering::Relaxed) {
                break;
            }
            port.wait(2);
        }
        if last.elapsed() >= Duration::from_millis(50) {
            last = Instant::now();
            progress.store(rx.counts.ours, Ordering::Relaxed);
        }
    }
    progress.store(rx.counts.ours, Ordering::Relaxed);
    let drops = port.drops().saturating_sub(drops0);
    let dev1 = netdev::info(&spec.dev)
        .map(|d| d.counters)
        .unwrap_or(dev.counters);
    let wall = t0.elapsed().as_nanos() as f64;
    let busy = match (cpu0, thread_cpu_ns()) {
        (Some(a), Some(b)) if wall > 0.0 => Some(b.saturating_sub(a) as f64 / wall),
        _ => None,
    };
    Some(RxOut {
        rx,
        drops,
        dev: dev1.since(&dev.counters),
        busy,
    })
}

type TxOut = Option<(TxResult, DevCounters)>;

#[allow(clippy::too_many_arguments)]
fn tx_thread(
    spec: PortSpec,
    ring: RingConfig,
    job: TxJob,
    cpu: Option<usize>,
    ready: mpsc::Sender<Result<(), String>>,
    go: Arc<AtomicBool>,
    stop: Arc<AtomicBool>,
    progress: Arc<AtomicU64>,
) -> TxOut {
    let fail = |m: String| {
        let _ = ready.send(Err(m));
        None
    };
    if let Err(e) = enter(&spec) {
        return fail(e);
    }
    pin(cpu);
    upf_io::sys::set_timer_slack_ns(1_000);
    let mut port = match AfTx::open(&spec.dev, ring) {
        Ok(p) => p,
        Err(e) => return fail(e.to_string()),
    };
    let largest = job
        .flows
        .iter()
        .map(|f| f.frame_len(job.sizes.max()))
        .max()
        .unwrap_or(0);
    if largest > port.max_frame() {
        return fail(format!(
            "frames of {largest} bytes do not fit the transmit ring's {} (raise --ring-frame)",
            port.max_frame()
        ));
    }
    let dev0 = netdev::info(&spec.dev)
        .map(|d| d.counters)
        .unwrap_or_default();
    let _ = ready.send(Ok(()));
    while !go.load(Ordering::Acquire) {
        if stop.load(Ordering::Relaxed) {
            return None;
        }
        std::thread::sleep(Duration::from_micros(100));
    }
    let r = txloop::run(&mut port, &job, &stop, &progress);
    let dev1 = netdev::info(&spec.dev).map(|d| d.counters).unwrap_or(dev0);
    Some((r, dev1.since(&dev0)))
}

fn expectations(cfg: &RunConfig, dir: Dir) -> Vec<Expect> {
    let ep = &cfg.endpoints;
    cfg.file
        .sessions
        .iter()
        .map(|s| {
            let ue = ue_addr(s, ep.family).unwrap_or(IpAddr::V4(Ipv4Addr::UNSPECIFIED));
            match dir {
                Dir::Ul => Expect {
                    ue,
                    teid: s.upf_teid,
                    teid_alt: s.upf_teid,
                    qfi: ep.qfi.unwrap_or(s.qfi),
                },
                Dir::Dl => Expect {
                    ue,
                    teid: s.gnb_teid,
                    teid_alt: s.gnb_teid_alt.unwrap_or(s.gnb_teid),
                    qfi: s.qfi,
                },
            }
        })
        .collect()
}

fn join<T>(h: JoinHandle<T>) -> Result<T, RunError> {
    h.join()
        .map_err(|_| RunError::Setup("a worker thread panicked".into()))
}

/// Runs traffic as `cfg` says until done or `stop`.
pub fn run(cfg: RunConfig, stop: Arc<AtomicBool>) -> Result<Report, RunError> {
    let started = Instant::now();
    if cfg.file.sessions.is_empty() {
        return Err(RunError::Setup("the sessions file lists no session".into()));
    }
    for s in &cfg.file.sessions {
        if ue_addr(s, cfg.endpoints.family).is_none() {
            return Err(RunError::Setup(format!(
                "session {} has no UE address of the chosen inner family (--inner)",
                s.index
            )));
        }
    }
    let specs = [cfg.n3.clone(), cfg.n6.clone()];
    let upf_n3 = cfg.file.sessions.iter().find_map(|s| s.upf_ipv4);
    // Receivers: N3 gets the downlink, N6 the uplink.
    let rx_stop = Arc::new(AtomicBool::new(false));
    let rx_progress = [Arc::new(AtomicU64::new(0)), Arc::new(AtomicU64::new(0))];
    let mut rx_handles = Vec::new();
    let mut rx_ready = Vec::new();
    for (i, dir) in [(N3, Dir::Dl), (N6, Dir::Ul)] {
        let arrival = match (dir, cfg.through_upf) {
            (Dir::Dl, true) | (Dir::Ul, false) => Arrival::Gtpu,
            _ => Arrival::Plain,
        };
        let own = if i == N3 { cfg.n3_ip } else { cfg.n6_ip };
        let setup = RxSetup {
            dir,
            arrival,
            run: cfg.run,
            mac: [0; 6],
            ipv4: own,
            ipv6: if i == N3 { cfg.n3_ip6 } else { cfg.n6_ip6 },
            check_qfi: cfg.check_qfi,
            expect: expectations(&cfg, dir),
        };
        // Resolve a next hop only where we send through a UPF without a MAC.
        let sends = cfg.dirs.contains(&if i == N3 { Dir::Ul } else { Dir::Dl });
        let resolve = match (cfg.through_upf && sends, i) {
            (true, N3) if cfg.n3_peer_mac.is_none() => Some(upf_n3.ok_or_else(|| {
                RunError::Setup("no session has a UPF N3 IPv4 address to resolve".into())
            })?),
            (true, N6) if cfg.n6_peer_mac.is_none() => Some(cfg.n6_peer_ip.ok_or_else(|| {
                RunError::Setup(
                    "downlink through a UPF needs --n6-peer-ip (the UPF's N6 address) or --n6-peer-mac"
                        .into(),
                )
            })?),
            _ => None,
        };
        let (tx, rxc) = mpsc::channel();
        rx_ready.push(rxc);
        let spec = specs[i].clone();
        let ring = cfg.rx_ring;
        let timeout = cfg.resolve_timeout;
        let cpu = cfg.rx_cpus.get(i).copied();
        let stop = rx_stop.clone();
        let prog = rx_progress[i].clone();
        rx_handles.push(
            std::thread::Builder::new()
                .name(format!("pktgen-rx-{}", ROLES[i]))
                .spawn(move || {
                    rx_thread(
                        ROLES[i], spec, ring, setup, resolve, timeout, cpu, tx, stop, prog,
                    )
                })
                .map_err(|e| RunError::Setup(format!("cannot start a thread: {e}")))?,
        );
    }
    let abort_rx = |handles: Vec<JoinHandle<Option<RxOut>>>| {
        rx_stop.store(true, Ordering::Relaxed);
        for h in handles {
            let _ = h.join();
        }
    };
    let mut ups = Vec::new();
    for (i, r) in rx_ready.iter().enumerate() {
        match r.recv_timeout(cfg.resolve_timeout + Duration::from_secs(10)) {
            Ok(Ok(u)) => ups.push(u),
            Ok(Err(msg)) => {
                abort_rx(rx_handles);
                return Err(RunError::Port {
                    role: ROLES[i],
                    port: specs[i].to_string(),
                    msg,
                });
            }
            Err(_) => {
                abort_rx(rx_handles);
                return Err(RunError::Port {
                    role: ROLES[i],
                    port: specs[i].to_string(),
                    msg: "the receiver did not start".into(),
                });
            }
        }
    }
    let mut ep = cfg.endpoints.clone();
    ep.n3_mac = ups[N3].mac;
    ep.n6_mac = ups[N6].mac;
    if cfg.through_upf {
        ep.n3_peer_mac = cfg.n3_peer_mac.or(ups[N3].peer).unwrap_or([0xff; 6]);
        ep.n6_peer_mac = cfg.n6_peer_mac.or(ups[N6].peer).unwrap_or([0xff; 6]);
    } else {
        ep.n3_peer_mac = cfg.n3_peer_mac.unwrap_or(ups[N6].mac);
        ep.n6_peer_mac = cfg.n6_peer_mac.unwrap_or(ups[N3].mac);
    }
    // Flows and size checks.
    let mut jobs = Vec::new();
    for &dir in &cfg.dirs {
        let (port, mtu) = match dir {
            Dir::Ul => (N3, ups[N3].mtu),
            Dir::Dl => (N6, ups[N6].mtu),
        };
        let mut flows = Vec::with_capacity(cfg.file.sessions.len());
        for (pos, s) in cfg.file.sessions.iter().enumerate() {
            let f = match dir {
                Dir::Ul => FlowTemplate::uplink(s, pos as u32, &ep),
                Dir::Dl => FlowTemplate::downlink(s, pos as u32, &ep),
            };
            match f {
                Ok(f) => flows.push(f),
                Err(e) => {
                    abort_rx(rx_handles);
                    return Err(RunError::Setup(e.to_string()));
                }
            }
        }
        let min = flows.iter().map(FlowTemplate::min_size).max().unwrap_or(0);
        let l3 = flows
            .iter()
            .map(|f| f.l3_len(cfg.sizes.max()))
            .max()
            .unwrap_or(0);
        if let Err(e) = cfg.sizes.check(min, 0xffff) {
            abort_rx(rx_handles);
            return Err(RunError::Setup(format!(
                "{}: {e} (the inner packet must hold its headers and the {}-byte stamp)",
                dir.name(),
                crate::stamp::LEN
            )));
        }
        if mtu > 0 && l3 > mtu as usize {
            abort_rx(rx_handles);
            return Err(RunError::Setup(format!(
                "{}: packets of {} bytes exceed the MTU {mtu} of {} (inner size {} plus encapsulation)",
                dir.name(),
                l3,
                specs[port],
                cfg.sizes.max()
            )));
        }
        jobs.push((
            dir,
            port,
            TxJob {
                flows,
                sizes: cfg.sizes.clone(),
                rate: cfg.rate,
                count: cfg.count,
                duration: cfg.duration,
                burst: cfg.burst,
                run: cfg.run,
                warmup: cfg.warmup,
                warmup_wait: cfg.warmup_wait,
            },
        ));
    }
    // Senders.
    let go = Arc::new(AtomicBool::new(false));
    let mut tx_handles = Vec::new();
    let mut tx_progress = Vec::new();
    let mut tx_ready = Vec::new();
    for (k, (dir, port, job)) in jobs.into_iter().enumerate() {
        let (tx, rxc) = mpsc::channel();
        tx_ready.push(rxc);
        let p = Arc::new(AtomicU64::new(0));
        tx_progress.push((dir, p.clone()));
        let spec = specs[port].clone();
        let ring = cfg.tx_ring;
        let cpu = cfg.tx_cpus.get(k).copied();
        let (go, stop) = (go.clone(), stop.clone());
        tx_handles.push((
            dir,
            port,
            std::thread::Builder::new()
                .name(format!("pktgen-tx-{}", dir.name()))
                .spawn(move || tx_thread(spec, ring, job, cpu, tx, go, stop, p))
                .map_err(|e| RunError::Setup(format!("cannot start a thread: {e}")))?,
        ));
    }
    for (k, r) in tx_ready.iter().enumerate() {
        let port = tx_handles[k].1;
        let msg = match r.recv_timeout(Duration::from_secs(10)) {
            Ok(Ok(())) => continue,
            Ok(Err(m)) => m,
            Err(_) => "the sender did not start".into(),
        };
        stop.store(true, Ordering::Relaxed);
        for (_, _, h) in tx_handles {
            let _ = h.join();
        }
        abort_rx(rx_handles);
        return Err(RunError::Port {
            role: ROLES[port],
            port: specs[port].to_string(),
            msg,
        });
    }
    go.store(true, Ordering::Release);
    let t0 = Instant::now();
    // Progress until the senders finish.
    let mut last = Instant::now();
    let mut last_tx: Vec<u64> = vec![0; tx_progress.len()];
    let mut last_rx = [0u64; 2];
    while tx_handles.iter().any(|(_, _, h)| !h.is_finished()) {
        std::thread::sleep(Duration::from_millis(50));
        if let Some(iv) = cfg.progress {
            if last.elapsed() >= iv {
                let dt = last.elapsed().as_secs_f64();
                last = Instant::now();
                let mut line = format!("pktgen {:6.1}s", t0.elapsed().as_secs_f64());
                for (k, (dir, p)) in tx_progress.iter().enumerate() {
                    let v = p.load(Ordering::Relaxed);
                    let rxi = if *dir == Dir::Ul { N6 } else { N3 };
                    let r = rx_progress[rxi].load(Ordering::Relaxed);
                    line.push_str(&format!(
                        "  {}: tx {:>8} pps rx {:>8} pps ({} sent, {} received)",
                        dir.name(),
                        ((v - last_tx[k]) as f64 / dt) as u64,
                        ((r - last_rx[rxi]) as f64 / dt) as u64,
                        v,
                        r
                    ));
                    last_tx[k] = v;
                    last_rx[rxi] = r;
                }
                eprintln!("{line}");
            }
        }
    }
    let mut txs = Vec::new();
    for (dir, port, h) in tx_handles {
        let out =
            join(h)?.ok_or_else(|| RunError::Setup("a sender stopped before it started".into()))?;
        txs.push((dir, port, out));
    }
    // Drain, then stop the receivers.
    let drain_end = Instant::now() + cfg.drain;
    while Instant::now() < drain_end && !stop.load(Ordering::Relaxed) {
        std::thread::sleep(Duration::from_millis(10));
    }
    rx_stop.store(true, Ordering::Relaxed);
    let mut rxs = Vec::new();
    for h in rx_handles {
        rxs.push(join(h)?.ok_or_else(|| RunError::Setup("a receiver failed".into()))?);
    }
    Ok(build_report(
        &cfg,
        &ep,
        &specs,
        &ups,
        &txs,
        &rxs,
        started.elapsed(),
    ))
}

#[allow(clippy::too_many_arguments)]
fn build_report(
    cfg: &RunConfig,
    ep: &Endpoints,
    specs: &[PortSpec; 2],
    ups: &[PortUp],
    txs: &[(Dir, usize, (TxResult, DevCounters))],
    rxs: &[RxOut],
    wall: Duration,
) -> Report {
    let mut rep = Report {
        tool: "upf-pktgen",
        version: env!("CARGO_PKG_VERSION"),
        run: cfg.run,
        backend: "af_packet",
        sessions: cfg.file.sessions.len(),
        sizes: cfg.sizes.pattern().to_vec(),
        mean_size: cfg.sizes.mean(),
        through_upf: cfg.through_upf,
        wall_s: wall.as_secs_f64(),
        ..Default::default()
    };
    let churn: Vec<bool> = cfg.file.sessions.iter().map(|s| s.churn).collect();
    for (i, r) in rxs.iter().enumerate() {
        rep.ports.push(PortReport {
            role: ROLES[i],
            device: specs[i].dev.clone(),
            netns: specs[i].netns.clone(),
            mac: mac_str(&ups[i].mac),
            peer_mac: mac_str(if i == N3 {
                &ep.n3_peer_mac
            } else {
                &ep.n6_peer_mac
            }),
            mtu: ups[i].mtu,
            received: r.rx.counts.clone(),
            kernel_ring_drops: r.drops,
            counters: r.dev,
            rx_cpu_busy: r.busy,
        });
    }
    for (dir, port, (t, dev)) in txs {
        let rxi = if *dir == Dir::Ul { N6 } else { N3 };
        let rx = &rxs[rxi].rx;
        let secs = t.wall_ns as f64 / 1e9;
        let per_s = |v: u64| if secs > 0.0 { v as f64 / secs } else { 0.0 };
        let flows = rx.flows();
        let unique: u64 = flows.iter().map(|f| f.unique()).sum();
        let lost: u64 = flows
            .iter()
            .enumerate()
            .map(|(i, f)| f.lost(t.sent.get(i).copied().unwrap_or(0)))
            .sum();
        let (churned, steady) = groups(&t.sent, flows, &churn);
        let mut anomalies = 0;
        for (i, f) in flows.iter().enumerate() {
            let sent = t.sent.get(i).copied().unwrap_or(0);
            let bad = f.lost(sent) > 0 || f.duplicates > 0 || f.reordered > 0;
            anomalies += u64::from(bad);
            let list = match cfg.flows_out {
                FlowsOut::All => true,
                FlowsOut::Anomalies => bad,
                FlowsOut::None => false,
            };
            if list {
                rep.flows.push(FlowReport {
                    session: cfg.file.sessions[i].index,
                    dir: *dir,
                    churn: churn[i],
                    sent,
                    received: f.unique(),
                    lost: f.lost(sent),
                    duplicates: f.duplicates,
                    reordered: f.reordered,
                    first_missing: f
                        .first_gap
                        .or((f.lost(sent) > 0).then_some(f.highest_plus_one())),
                });
            }
        }
        let cpu_s = t.cpu_ns.map(|c| c as f64 / 1e9);
        let txr = TxReport {
            packets: t.packets,
            bytes: t.bytes,
            frame_bytes: t.frame_bytes,
            target_pps: cfg.rate,
            pps: per_s(t.packets),
            bps: per_s(t.bytes) * 8.0,
            duration_s: secs,
            pps_per_cpu_s: cpu_s.filter(|c| *c > 0.0).map(|c| t.packets as f64 / c),
            cpu_busy: cpu_s.filter(|_| secs > 0.0).map(|c| (c / secs).min(1.0)),
            ring_full: t.ring_full,
            backpressure: t.backpressure,
            device_tx_dropped: dev.tx_dropped,
            warmup_packets: t.warmup,
        };
        let rxr = RxReport {
            packets: flows.iter().map(|f| f.received).sum(),
            unique,
            bytes: rx.counts.bytes,
            lost,
            loss_ratio: if t.packets > 0 {
                lost as f64 / t.packets as f64
            } else {
                0.0
            },
            duplicates: flows.iter().map(|f| f.duplicates).sum(),
            reordered: flows.iter().map(|f| f.reordered).sum(),
            beyond_window: flows.iter().map(|f| f.beyond_window).sum(),
            pps: per_s(unique),
            latency_ns: LatencyNs::of(rx.latency()),
            churned,
            steady,
            flows_with_anomalies: anomalies,
        };
        findings(
            &mut rep,
            *dir,
            &specs[*port],
            &txr,
            &rxr,
            &rxs[rxi],
            &specs[rxi],
        );
        if let Some(e) = &t.error {
            rep.errors
                .push(format!("{}: sending stopped: {e}", dir.name()));
        }
        if t.packets == 0 {
            rep.errors.push(format!("{}: nothing was sent", dir.name()));
        }
        if let Some(m) = cfg.max_loss {
            if rxr.loss_ratio > m {
                rep.errors.push(format!(
                    "{}: loss {:.6} above --max-loss {m}",
                    dir.name(),
                    rxr.loss_ratio
                ));
            }
        }
        rep.directions.push(DirReport {
            dir: dir.name(),
            flows: flows.len(),
            tx: txr,
            rx: rxr,
        });
    }
    for (i, r) in rxs.iter().enumerate() {
        let c = &r.rx.counts;
        if c.mismatches() > 0 {
            rep.errors.push(format!(
                "{} {}: {} of our packets did not match the sessions file (TEID {}, UE {}, QFI {}, encapsulation {}, direction {}, flow {})",
                ROLES[i], specs[i], c.mismatches(), c.wrong_teid, c.wrong_ue, c.wrong_qfi,
                c.wrong_encapsulation, c.wrong_direction, c.unknown_flow
            ));
        }
        if c.unknown_teid + c.unknown_ue > 0 {
            rep.errors.push(format!(
                "{} {}: {} packets with TEIDs and {} with UE addresses that are not in the sessions file: \
                 is the UPF running other sessions, or is the file from another run?",
                ROLES[i], specs[i], c.unknown_teid, c.unknown_ue
            ));
        }
        for s in &r.rx.samples {
            rep.errors
                .push(format!("{} {}: e.g. {s}", ROLES[i], specs[i]));
        }
    }
    rep.ok = rep.errors.is_empty();
    rep
}

fn findings(
    rep: &mut Report,
    dir: Dir,
    txp: &PortSpec,
    t: &TxReport,
    r: &RxReport,
    rx: &RxOut,
    rxp: &PortSpec,
) {
    let d = dir.name();
    let below = t.target_pps.is_some_and(|target| t.pps < 0.98 * target);
    if below {
        rep.bottlenecks.push(format!(
            "{d}: the sender reached {:.0} of the {:.0} pps asked: pktgen, not the UPF, limited the rate",
            t.pps,
            t.target_pps.unwrap_or(0.0)
        ));
    }
    if let Some(b) = t.cpu_busy {
        if b > 0.9 && (below || t.target_pps.is_none()) {
            rep.bottlenecks.push(format!(
                "{d}: the sender thread was on a CPU {:.0}% of the time: its core is the limit ({:.0} pps per CPU-second)",
                b * 100.0,
                t.pps_per_cpu_s.unwrap_or(0.0)
            ));
        }
    }
    if t.ring_full > 0 {
        rep.bottlenecks.push(format!(
            "{d}: the transmit ring of {txp} was full {} times: the kernel took packets slower than pktgen made them",
            t.ring_full
        ));
    }
    if t.backpressure > 0 {
        rep.bottlenecks.push(format!(
            "{d}: the kernel pushed back on {} flushes (socket buffer or device queue of {txp} full)",
            t.backpressure
        ));
    }
    if t.device_tx_dropped > 0 {
        rep.bottlenecks.push(format!(
            "{d}: {txp} refused {} transmissions (device queue full); the kernel re-sends refused \
             frames from the transmit ring, so this is back-pressure on pktgen, not loss",
            t.device_tx_dropped
        ));
    }
    if rx.drops > 0 {
        rep.bottlenecks.push(format!(
            "{d}: the receive ring on {rxp} overflowed: the kernel dropped {} frames before pktgen read them \
             (pktgen's receiver, not the UPF, lost them)",
            rx.drops
        ));
    }
    if rx.dev.rx_dropped > 0 {
        rep.bottlenecks.push(format!(
            "{d}: {rxp} counted {} receive drops (kernel backlog)",
            rx.dev.rx_dropped
        ));
    }
    if rx.busy.is_some_and(|b| b > 0.9) {
        rep.bottlenecks.push(format!(
            "{d}: the receiver thread on {rxp} was on a CPU {:.0}% of the time and may have fallen behind",
            rx.busy.unwrap_or(0.0) * 100.0
        ));
    }
    let tool = rx.drops + rx.dev.rx_dropped;
    if r.lost > 0 && tool > 0 {
        rep.bottlenecks.push(format!(
            "{d}: of {} packets lost, up to {} were dropped by pktgen's own side (see above)",
            r.lost,
            tool.min(r.lost)
        ));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn port_specs() {
        let p: PortSpec = "veth0@ns1".parse().unwrap();
        assert_eq!(
            p,
            PortSpec {
                dev: "veth0".into(),
                netns: Some("ns1".into())
            }
        );
        assert_eq!(p.to_string(), "veth0@ns1");
        let q: PortSpec = "eth1".parse().unwrap();
        assert_eq!(q.netns, None);
        assert!("".parse::<PortSpec>().is_err());
        assert!("x@".parse::<PortSpec>().is_err());
        assert!("a-very-long-interface-name".parse::<PortSpec>().is_err());
    }
}
