//! One complete measurement: build the fixture, install it into a worker,
//! warm up, run the measured loop, and report.

use std::sync::Arc;
use std::time::Instant;

use serde::Serialize;
use upf_engine::Worker;
use upf_io::mem::MemBuf;
use upf_io::PortIo;

use crate::fixtures::{Direction, Fixture, FixtureConfig};
use crate::replay::ReplayPorts;
use crate::run::{self, Engine, Limits};
use crate::traffic::{Dist, Traffic, TrafficConfig};

/// What to measure.
#[derive(Clone, Debug, PartialEq)]
pub struct BenchConfig {
    /// Fixture shape.
    pub fixture: FixtureConfig,
    /// Traffic shape.
    pub traffic: TrafficConfig,
    /// Packets of the measured run (it also stops after `seconds`).
    pub packets: u64,
    /// Longest measured run, seconds.
    pub seconds: f64,
    /// Packets before measuring (caches, branch predictors, pool).
    pub warmup_packets: u64,
    /// Engine or null engine.
    pub engine: Engine,
    /// Buffers in the pool.
    pub buffers: usize,
    /// Measured runs (each reported; the summary takes the median).
    pub repeat: usize,
}

impl Default for BenchConfig {
    fn default() -> Self {
        BenchConfig {
            fixture: FixtureConfig::default(),
            traffic: TrafficConfig::default(),
            packets: 20_000_000,
            seconds: 5.0,
            warmup_packets: 1_000_000,
            engine: Engine::Full,
            buffers: 4096,
            repeat: 1,
        }
    }
}

/// Memory used by the installed sessions.
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct MemoryReport {
    /// Bytes of the worker's lookup tables and session slots (engine accounting).
    pub table_bytes: usize,
    /// Bytes of the compiled sessions (engine accounting: sizes of every
    /// allocation a session owns).
    pub session_bytes: usize,
    /// `(table_bytes + session_bytes) / sessions`.
    pub engine_bytes_per_session: f64,
    /// Growth of the resident set while installing, per session: what the
    /// allocator really took (allocator overhead, and any compile
    /// temporaries it kept, included).
    pub rss_bytes_per_session: Option<f64>,
}

/// One measured run.
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct RunReport {
    /// Packets received.
    pub packets: u64,
    /// Packets transmitted.
    pub transmitted: u64,
    /// Seconds.
    pub seconds: f64,
    /// Million packets per second on this one core.
    pub mpps: f64,
    /// Nanoseconds per packet.
    pub ns_per_packet: f64,
    /// Cycles per packet at the nominal clock (`cpu_mhz`), from wall time.
    pub cycles_per_packet: Option<f64>,
    /// CPU seconds the measuring thread used (10 ms resolution).
    pub cpu_seconds: Option<f64>,
    /// Million packets per CPU second: the rate of one core while it runs
    /// the loop, without the time other processes took the core away.
    pub mpps_cpu: Option<f64>,
}

/// Everything a measurement reports (the `--json` output).
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct BenchResult {
    /// Sessions installed.
    pub sessions: usize,
    /// "ul" or "dl".
    pub direction: &'static str,
    /// Distribution name.
    pub dist: String,
    /// Inner IP packet length.
    pub inner_len: usize,
    /// Frame length on the wire at ingress.
    pub frame_len: usize,
    /// "full" or "null".
    pub engine: &'static str,
    /// Seconds to compile and install all sessions.
    pub install_seconds: f64,
    /// Memory.
    pub memory: MemoryReport,
    /// Nominal CPU clock, MHz.
    pub cpu_mhz: Option<f64>,
    /// Each measured run.
    pub runs: Vec<RunReport>,
    /// Median Mpps over the runs.
    pub mpps_median: f64,
    /// Lowest Mpps.
    pub mpps_min: f64,
    /// Highest Mpps.
    pub mpps_max: f64,
    /// Median cycles per packet.
    pub cycles_per_packet_median: Option<f64>,
    /// Median, lowest and highest Mpps per CPU second.
    pub mpps_cpu_median: Option<f64>,
    /// Lowest Mpps per CPU second.
    pub mpps_cpu_min: Option<f64>,
    /// Highest Mpps per CPU second.
    pub mpps_cpu_max: Option<f64>,
    /// Drops by reason over warm-up and runs (expected: none).
    pub drops: Vec<(&'static str, u64)>,
    /// Usage reports raised (expected: none).
    pub usage_reports: u64,
}

/// The name of a distribution in reports.
pub fn dist_name(d: Dist) -> String {
    match d {
        Dist::Uniform => "uniform".into(),
        Dist::RoundRobin => "rr".into(),
        Dist::Zipf(s) => format!("zipf:{s}"),
    }
}

/// A prepared worker and port set, ready for measured loops.
pub struct Prepared {
    /// The worker with the fixture installed.
    pub worker: Worker<MemBuf>,
    /// The ports.
    pub io: ReplayPorts,
    /// The traffic.
    pub traffic: Arc<Traffic>,
    /// Install time, seconds.
    pub install_seconds: f64,
    /// Memory.
    pub memory: MemoryReport,
    /// Clock value the worker was installed at (ns); loops continue from it.
    pub clock: u64,
}

impl std::fmt::Debug for Prepared {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Prepared")
            .field("install_seconds", &self.install_seconds)
            .field("memory", &self.memory)
            .finish_non_exhaustive()
    }
}

/// Builds the fixture and traffic and installs the sessions into worker 0.
pub fn prepare(cfg: &BenchConfig) -> Result<Prepared, run::SetupError> {
    let fx = Fixture::new(cfg.fixture.clone());
    let traffic = Arc::new(Traffic::new(&fx, cfg.traffic));
    let mut io = ReplayPorts::new(
        traffic.clone(),
        fx.topology().ports.len(),
        cfg.traffic.dir.ingress(),
        cfg.buffers,
    );
    let mut worker: Worker<MemBuf> = Worker::new(run::worker_config(&fx, 0), fx.topology());
    let rss0 = run::rss_bytes();
    let t0 = Instant::now();
    let clock = 1_000_000_000;
    let n = run::install(&mut worker, io.pool(), &fx, clock)?;
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
    Ok(Prepared {
        worker,
        io,
        traffic,
        install_seconds,
        memory,
        clock,
    })
}

/// Runs one measured loop of `packets` (or `seconds`) on a prepared set.
pub fn run_once(p: &mut Prepared, engine: Engine, packets: u64, seconds: f64) -> run::LoopStats {
    p.io.limit(packets);
    let egress = p.traffic.cfg.dir.egress();
    let st = run::measured_loop(
        &mut p.worker,
        &mut p.io,
        engine,
        egress,
        p.clock,
        Limits {
            packets,
            ns: (seconds * 1e9) as u64,
        },
    );
    p.clock += st.elapsed_ns;
    st
}

/// The complete measurement.
pub fn bench(cfg: &BenchConfig) -> Result<BenchResult, run::SetupError> {
    let mut p = prepare(cfg)?;
    let mhz = run::cpu_mhz();
    let mut usage = 0;
    if cfg.warmup_packets > 0 {
        usage += run_once(&mut p, cfg.engine, cfg.warmup_packets, 60.0).usage_reports;
    }
    let mut runs = Vec::new();
    for _ in 0..cfg.repeat.max(1) {
        let (st, cpu) =
            run::with_cpu_time(|| run_once(&mut p, cfg.engine, cfg.packets, cfg.seconds));
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
    let median = mpps[mpps.len() / 2];
    let mut cyc: Vec<f64> = runs.iter().filter_map(|r| r.cycles_per_packet).collect();
    cyc.sort_by(f64::total_cmp);
    Ok(BenchResult {
        sessions: p.worker.session_count(),
        direction: match cfg.traffic.dir {
            Direction::Uplink => "ul",
            Direction::Downlink => "dl",
        },
        dist: dist_name(cfg.traffic.dist),
        inner_len: cfg.fixture.inner_len,
        frame_len: p.traffic.frame_len(),
        engine: match cfg.engine {
            Engine::Full => "full",
            Engine::Null => "null",
        },
        install_seconds: p.install_seconds,
        memory: p.memory.clone(),
        cpu_mhz: mhz,
        mpps_median: median,
        mpps_min: mpps[0],
        mpps_max: mpps[mpps.len() - 1],
        cycles_per_packet_median: cyc.get(cyc.len() / 2).copied(),
        mpps_cpu_median: cpu.get(cpu.len() / 2).copied(),
        mpps_cpu_min: cpu.first().copied(),
        mpps_cpu_max: cpu.last().copied(),
        runs,
        drops: run::drops(&p.worker),
        usage_reports: usage,
    })
}
