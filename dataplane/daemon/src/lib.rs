//! The dataplane process: it owns the ports, runs one pinned worker thread
//! per configured core and one control thread, and serves the control
//! channel, the admin socket and the metrics endpoint.
//!
//! - [`workers`]: the worker loop (receive bursts, process, transmit,
//!   apply updates, run timers), generic over the I/O backend;
//! - [`control`]: the control thread (commands from pfcp-ctl and
//!   mec-services, compilation, placement, reports, path management);
//! - [`admin`]: the admin socket used by `upfctl`;
//! - `dpdk` (in builds with DPDK): the EAL, ports, queues and mempools of
//!   `backend = "dpdk"` from the configuration; [`metrics`]: the device-level
//!   port samples (link, device and queue counters, xstats);
//! - [`Dataplane::start`] wires them together from a [`upf_config::Config`].
//!
//! What it must not do: parse packets (upf-engine does), speak PFCP or HTTP
//! to the outside, or share mutable state with the workers other than
//! through SPSC rings.
#![cfg_attr(not(test), deny(clippy::unwrap_used))]
#![forbid(unsafe_code)]

pub mod admin;
pub mod control;
#[cfg(have_dpdk)]
pub mod dpdk;
pub mod metrics;
pub mod topo;
pub mod workers;

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Instant, SystemTime, UNIX_EPOCH};

use upf_config::{Backend, Config};
use upf_ctrl::spsc;
use upf_ctrl::{ChannelConfig, DataplaneEnd};
use upf_engine::{Worker, WorkerConfig, WorkerEvent, WorkerUpdate};
use upf_io::af_packet::{AfPacketPorts, AfSocket, RingConfig};
use upf_io::mem::{MemPool, MemPorts};
use upf_io::PortIo;

pub use control::ControlStats;
pub use workers::WorkerSnapshot;

/// Why the dataplane could not start.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    /// The configuration does not describe a usable topology.
    #[error("configuration: {0}")]
    Config(String),
    /// A port could not be opened.
    #[error("port {port}: {source}")]
    Port {
        /// The interface name.
        port: String,
        /// What failed.
        source: upf_io::af_packet::AfPacketError,
    },
    /// The control channel could not be created.
    #[error(transparent)]
    Ctrl(#[from] upf_ctrl::CtrlError),
    /// A thread or socket could not be created.
    #[error("{0}")]
    Io(#[from] std::io::Error),
    /// The backend is not available in this build.
    #[error("{0}")]
    Unsupported(String),
    /// A configuration value the system refused; names the key.
    #[error("{field}: {message}")]
    Field {
        /// The key path in the configuration.
        field: String,
        /// What is wrong.
        message: String,
    },
}

/// A monotonic clock in nanoseconds from process start, and its offset to
/// UNIX time.
#[derive(Clone, Copy, Debug)]
pub struct Clock {
    base: Instant,
    unix_offset_ns: i128,
}

impl Clock {
    /// Starts the clock now.
    pub fn new() -> Clock {
        let base = Instant::now();
        let unix = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| d.as_nanos() as i128)
            .unwrap_or(0);
        Clock {
            base,
            unix_offset_ns: unix,
        }
    }

    /// Nanoseconds since start.
    #[inline]
    pub fn now(&self) -> u64 {
        self.base.elapsed().as_nanos() as u64
    }

    /// UNIX time minus [`Clock::now`], in ns.
    pub fn unix_offset_ns(&self) -> i128 {
        self.unix_offset_ns
    }
}

impl Default for Clock {
    fn default() -> Self {
        Clock::new()
    }
}

/// The CPU of each worker and of the control thread. Configured cores win;
/// with none configured and more allowed CPUs than workers (the process's
/// affinity mask, e.g. the exclusive CPUs a Kubernetes static CPU manager
/// gives a Guaranteed pod), the control thread takes the first allowed CPU
/// and worker `i` the `i+1`-th; otherwise the OS schedules the threads.
pub fn pinning(
    cores: &[usize],
    control_core: Option<usize>,
    allowed: &[usize],
    workers: usize,
) -> (Vec<Option<usize>>, Option<usize>) {
    if !cores.is_empty() {
        let w = (0..workers).map(|i| cores.get(i).copied()).collect();
        return (w, control_core);
    }
    if allowed.len() > workers {
        let w = (0..workers).map(|i| Some(allowed[i + 1])).collect();
        return (w, control_core.or(Some(allowed[0])));
    }
    (vec![None; workers], control_core)
}

/// A running dataplane.
pub struct Dataplane {
    stop: Arc<AtomicBool>,
    threads: Vec<JoinHandle<()>>,
    /// Per-worker counters, refreshed by the workers every ~50 ms.
    pub snapshots: Vec<Arc<Mutex<WorkerSnapshot>>>,
    /// Control thread counters.
    pub control: Arc<Mutex<ControlStats>>,
    /// Port names in order.
    pub port_names: Vec<String>,
    /// Device-level port state (link, device counters), where the backend
    /// has it (DPDK).
    pub port_status: Option<PortStatusFn>,
}

impl Dataplane {
    /// Starts workers and the control thread for `cfg`.
    pub fn start(cfg: &Config) -> Result<Dataplane, StartError> {
        let n = cfg.dataplane.workers.max(1) as usize;
        let bufsize = 2048 + cfg.dataplane.buffer_headroom;
        let mem_pool = || {
            MemPool::new(
                cfg.dataplane.buffers,
                bufsize,
                cfg.dataplane.buffer_headroom,
            )
        };
        match cfg.dataplane.backend {
            Backend::Memory => {
                let topo = topo::build(cfg, None)?;
                let ios = (0..n)
                    .map(|_| (MemPorts::new(topo.ports.len(), mem_pool()), Vec::new()))
                    .collect();
                launch(cfg, topo, ios, None, cfg.dataplane.busy_poll)
            }
            Backend::AfPacket => {
                let topo = topo::build(cfg, None)?;
                let rc = RingConfig {
                    block_size: cfg.dataplane.af_packet.block_size,
                    block_count: cfg.dataplane.af_packet.block_count,
                    frame_size: cfg.dataplane.af_packet.frame_size,
                };
                let mut per_worker: Vec<Vec<AfSocket>> = (0..n).map(|_| Vec::new()).collect();
                for (pi, itf) in cfg.dataplane.interfaces.iter().enumerate() {
                    let group = ((std::process::id() as u16) ^ ((pi as u16) << 12)) | 1;
                    for socks in per_worker.iter_mut() {
                        let s =
                            AfSocket::open(&itf.device, rc).map_err(|source| StartError::Port {
                                port: itf.name.clone(),
                                source,
                            })?;
                        if n > 1 {
                            s.join_fanout(group, n as u32)
                                .map_err(|source| StartError::Port {
                                    port: itf.name.clone(),
                                    source,
                                })?;
                        }
                        socks.push(s);
                    }
                }
                let ios = per_worker
                    .into_iter()
                    .map(|socks| {
                        let io = AfPacketPorts::new(socks, mem_pool());
                        let fds = io.fds();
                        (io, fds)
                    })
                    .collect();
                launch(cfg, topo, ios, None, cfg.dataplane.busy_poll)
            }
            #[cfg(have_dpdk)]
            Backend::Dpdk => {
                let opened = dpdk::open(cfg)?;
                let topo = topo::build(cfg, Some(&opened.macs))?;
                let ios = opened
                    .workers
                    .into_iter()
                    .map(|w| (w, Vec::new()))
                    .collect();
                launch(
                    cfg,
                    topo,
                    ios,
                    Some(opened.status),
                    cfg.dataplane.busy_poll || cfg.dataplane.dpdk.busy_poll,
                )
            }
            #[cfg(not(have_dpdk))]
            Backend::Dpdk => Err(StartError::Field {
                field: "dataplane.backend".into(),
                message: format!("\"dpdk\": {}", upf_io_dpdk_missing()),
            }),
        }
    }

    /// Asks every thread to stop and waits for them.
    pub fn shutdown(mut self) {
        self.stop.store(true, Ordering::Relaxed);
        for t in self.threads.drain(..) {
            let _ = t.join();
        }
    }

    /// True once a stop was requested.
    pub fn stopping(&self) -> bool {
        self.stop.load(Ordering::Relaxed)
    }
}

#[cfg(not(have_dpdk))]
fn upf_io_dpdk_missing() -> String {
    vendor_dpdk::DpdkError::NotBuilt.to_string()
}

/// Device-level state of one port, read at scrape time (DPDK ports).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct PortStatus {
    /// The interface name of the configuration.
    pub name: String,
    /// The driver.
    pub driver: String,
    /// Link up.
    pub link_up: bool,
    /// Link speed, Mb/s (0 unknown).
    pub speed_mbps: u32,
    /// Full duplex.
    pub full_duplex: bool,
    /// Packets received by the device.
    pub rx_packets: u64,
    /// Packets sent by the device.
    pub tx_packets: u64,
    /// Bytes received by the device.
    pub rx_bytes: u64,
    /// Bytes sent by the device.
    pub tx_bytes: u64,
    /// Packets the device dropped (no free receive descriptor).
    pub rx_missed: u64,
    /// Erroneous packets received.
    pub rx_errors: u64,
    /// Failed transmissions.
    pub tx_errors: u64,
    /// Receive mbuf allocation failures.
    pub rx_nombuf: u64,
    /// Per receive queue (as the driver counts): packets, bytes, errors.
    pub rx_queues: Vec<(u64, u64, u64)>,
    /// Per transmit queue: packets, bytes.
    pub tx_queues: Vec<(u64, u64)>,
    /// The driver's extended counters.
    pub xstats: Vec<(String, u64)>,
}

/// Reads the state of every port (for metrics and the admin socket).
pub type PortStatusFn = Arc<dyn Fn() -> Vec<PortStatus> + Send + Sync>;

/// Starts the worker and control threads over one I/O backend per worker
/// (with the descriptors it sleeps on when idle).
fn launch<IO>(
    cfg: &Config,
    topo: upf_engine::Topology,
    ios: Vec<(IO, Vec<i32>)>,
    port_status: Option<PortStatusFn>,
    busy_poll: bool,
) -> Result<Dataplane, StartError>
where
    IO: PortIo + Send + 'static,
{
    let clock = Clock::new();
    let n = ios.len().max(1);
    let stop = Arc::new(AtomicBool::new(false));
    let end = DataplaneEnd::create(
        cfg.run_dir(),
        ChannelConfig {
            slots: 4,
            ring_bytes: cfg.dataplane.control_ring_bytes,
        },
    )?;
    // Rings: control -> worker updates, worker -> control events, and
    // a handoff ring for every ordered pair of workers.
    let mut upd_tx = Vec::new();
    let mut upd_rx = Vec::new();
    // One wake-up per worker: the control thread signals it after
    // queueing rules for an idle worker.
    let wakers: Vec<Option<Arc<upf_io::sys::Wakeup>>> = (0..n)
        .map(|_| upf_io::sys::Wakeup::new().ok().map(Arc::new))
        .collect();
    let mut evt_tx = Vec::new();
    let mut evt_rx = Vec::new();
    for _ in 0..n {
        let (a, b) = spsc::channel::<WorkerUpdate<IO::Buf>>(65536);
        upd_tx.push(a);
        upd_rx.push(b);
        let (c, d) = spsc::channel::<WorkerEvent>(65536);
        evt_tx.push(c);
        evt_rx.push(d);
    }
    let mut hand_tx: Vec<Vec<Option<spsc::Producer<IO::Buf>>>> =
        (0..n).map(|_| (0..n).map(|_| None).collect()).collect();
    let mut hand_rx: Vec<Vec<spsc::Consumer<IO::Buf>>> = (0..n).map(|_| Vec::new()).collect();
    for (from, outs) in hand_tx.iter_mut().enumerate() {
        for (to, slot) in outs.iter_mut().enumerate() {
            if from != to {
                let (p, c) = spsc::channel::<IO::Buf>(4096);
                *slot = Some(p);
                hand_rx[to].push(c);
            }
        }
    }
    let mut threads = Vec::new();
    let mut snapshots = Vec::new();
    let cores = core_affinity::get_core_ids().unwrap_or_default();
    let allowed: Vec<usize> = cores.iter().map(|c| c.id).collect();
    let (worker_cores, control_core) = pinning(
        &cfg.dataplane.cores,
        cfg.dataplane.control_core,
        &allowed,
        n,
    );
    for (w, (io, fds)) in ios.into_iter().enumerate().rev() {
        let wcfg = WorkerConfig {
            id: w as u32,
            buffer_per_session: cfg.dataplane.buffering.per_session_packets,
            buffer_global: cfg.dataplane.buffering.global_packets,
            buffer_max_ns: cfg.dataplane.buffering.max_duration.as_nanos_u64(),
            error_indications_per_s: cfg.dataplane.error_indication_rate,
            unix_offset_ns: clock.unix_offset_ns(),
            expected_sessions: cfg.dataplane.expected_sessions / n + 16,
            ..WorkerConfig::default()
        };
        let snap = Arc::new(Mutex::new(WorkerSnapshot::default()));
        snapshots.push(snap.clone());
        let ctx = workers::Ctx {
            id: w,
            worker: Worker::new(wcfg, topo.clone()),
            updates: upd_rx
                .pop()
                .ok_or_else(|| StartError::Config("rings".into()))?,
            events: evt_tx
                .pop()
                .ok_or_else(|| StartError::Config("rings".into()))?,
            handoff_in: hand_rx.pop().unwrap_or_default(),
            handoff_out: hand_tx.pop().unwrap_or_default(),
            snapshot: snap,
            stop: stop.clone(),
            clock,
            busy_poll,
            wakeup: wakers.get(w).cloned().flatten(),
        };
        let core = worker_cores[w].and_then(|c| cores.iter().find(|x| x.id == c).copied());
        let name = format!("upf-worker-{w}");
        let h = std::thread::Builder::new().name(name).spawn(move || {
            if let Some(c) = core {
                core_affinity::set_for_current(c);
            }
            workers::run(ctx, io, fds)
        })?;
        threads.push(h);
    }
    snapshots.reverse();
    let control_stats = Arc::new(Mutex::new(ControlStats::default()));
    let admin = admin::AdminSocket::bind(&cfg.socket_path(&cfg.dataplane.admin_socket)).ok();
    let ctl = control::Control::new(
        cfg,
        topo.clone(),
        end,
        upd_tx,
        evt_rx,
        clock,
        control_stats.clone(),
        snapshots.clone(),
        admin,
    )
    .with_wakers(wakers);
    let st = stop.clone();
    let ccore = control_core.and_then(|c| cores.iter().find(|x| x.id == c).copied());
    threads.push(
        std::thread::Builder::new()
            .name("upf-control".into())
            .spawn(move || {
                if let Some(c) = ccore {
                    core_affinity::set_for_current(c);
                }
                ctl.run(st)
            })?,
    );
    Ok(Dataplane {
        stop,
        threads,
        snapshots,
        control: control_stats,
        port_names: topo.ports.iter().map(|p| p.name.clone()).collect(),
        port_status,
    })
}

#[cfg(test)]
mod pinning_tests {
    use super::pinning;

    #[test]
    fn configured_cores_win_then_the_affinity_mask() {
        assert_eq!(
            pinning(&[4, 5], Some(1), &[0, 1, 2, 3, 4, 5], 2),
            (vec![Some(4), Some(5)], Some(1))
        );
        // A static CPU manager gave the pod CPUs 6-9: control 6, workers 7-9.
        assert_eq!(
            pinning(&[], None, &[6, 7, 8, 9], 3),
            (vec![Some(7), Some(8), Some(9)], Some(6))
        );
        // Not more CPUs than workers (the 2-core lab): the OS schedules.
        assert_eq!(pinning(&[], None, &[0, 1], 2), (vec![None, None], None));
    }
}
