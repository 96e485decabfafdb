//! The dataplane process: it owns the ports, runs one pinned worker thread
//! per configured core and one control thread, and serves the control
//! channel, the admin socket and the metrics endpoint.
//!
//! - [`workers`]: the worker loop (receive bursts, process, transmit,
//!   apply updates, run timers), generic over the I/O backend;
//! - [`control`]: the control thread (commands from pfcp-ctl and
//!   mec-services, compilation, placement, reports, path management);
//! - [`admin`]: the admin socket used by `upfctl`;
//! - [`Dataplane::start`] wires them together from a [`upf_config::Config`].
//!
//! What it must not do: parse packets (upf-engine does), speak PFCP or HTTP
//! to the outside, or share mutable state with the workers other than
//! through SPSC rings.
#![cfg_attr(not(test), deny(clippy::unwrap_used))]
#![forbid(unsafe_code)]

pub mod admin;
pub mod control;
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
use upf_io::mem::{MemBuf, MemPool, MemPorts};

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
}

impl Dataplane {
    /// Starts workers and the control thread for `cfg`.
    pub fn start(cfg: &Config) -> Result<Dataplane, StartError> {
        let topo = topo::build(cfg)?;
        let clock = Clock::new();
        let n = cfg.dataplane.workers.max(1) as usize;
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
            let (a, b) = spsc::channel::<WorkerUpdate<MemBuf>>(65536);
            upd_tx.push(a);
            upd_rx.push(b);
            let (c, d) = spsc::channel::<WorkerEvent>(65536);
            evt_tx.push(c);
            evt_rx.push(d);
        }
        let mut hand_tx: Vec<Vec<Option<spsc::Producer<MemBuf>>>> =
            (0..n).map(|_| (0..n).map(|_| None).collect()).collect();
        let mut hand_rx: Vec<Vec<spsc::Consumer<MemBuf>>> = (0..n).map(|_| Vec::new()).collect();
        for (from, outs) in hand_tx.iter_mut().enumerate() {
            for (to, slot) in outs.iter_mut().enumerate() {
                if from != to {
                    let (p, c) = spsc::channel::<MemBuf>(4096);
                    *slot = Some(p);
                    hand_rx[to].push(c);
                }
            }
        }
        let mut ios: Vec<IoKind> = Vec::new();
        let bufsize = 2048 + cfg.dataplane.buffer_headroom;
        match cfg.dataplane.backend {
            Backend::Memory => {
                for _ in 0..n {
                    let pool = MemPool::new(
                        cfg.dataplane.buffers,
                        bufsize,
                        cfg.dataplane.buffer_headroom,
                    );
                    ios.push(IoKind::Mem(MemPorts::new(topo.ports.len(), pool)));
                }
            }
            Backend::AfPacket => {
                let rc = RingConfig {
                    block_size: cfg.dataplane.af_packet.block_size,
                    block_count: cfg.dataplane.af_packet.block_count,
                    frame_size: cfg.dataplane.af_packet.frame_size,
                };
                let mut per_worker: Vec<Vec<AfSocket>> = (0..n).map(|_| Vec::new()).collect();
                for (pi, itf) in cfg.dataplane.interfaces.iter().enumerate() {
                    let group = ((std::process::id() as u16) ^ ((pi as u16) << 12)) | 1;
                    for (w, socks) in per_worker.iter_mut().enumerate() {
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
                        let _ = w;
                        socks.push(s);
                    }
                }
                for socks in per_worker {
                    let pool = MemPool::new(
                        cfg.dataplane.buffers,
                        bufsize,
                        cfg.dataplane.buffer_headroom,
                    );
                    ios.push(IoKind::Af(AfPacketPorts::new(socks, pool)));
                }
            }
            Backend::Dpdk => return Err(StartError::Unsupported(
                "backend \"dpdk\": DPDK ports are not wired into this build of the dataplane yet; \
                     use backend = \"af_packet\""
                    .into(),
            )),
        }
        let mut threads = Vec::new();
        let mut snapshots = Vec::new();
        let cores = core_affinity::get_core_ids().unwrap_or_default();
        for (w, io) in ios.into_iter().enumerate().rev() {
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
                busy_poll: false,
                wakeup: wakers.get(w).cloned().flatten(),
            };
            let core = cfg
                .dataplane
                .cores
                .get(w)
                .and_then(|c| cores.iter().find(|x| x.id == *c).copied());
            let name = format!("upf-worker-{w}");
            let h = std::thread::Builder::new().name(name).spawn(move || {
                if let Some(c) = core {
                    core_affinity::set_for_current(c);
                }
                match io {
                    IoKind::Mem(io) => workers::run(ctx, io, Vec::new()),
                    IoKind::Af(io) => {
                        let fds = io.fds();
                        workers::run(ctx, io, fds)
                    }
                }
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
        let ccore = cfg
            .dataplane
            .control_core
            .and_then(|c| cores.iter().find(|x| x.id == c).copied());
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
        })
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

enum IoKind {
    Mem(MemPorts),
    Af(AfPacketPorts),
}
