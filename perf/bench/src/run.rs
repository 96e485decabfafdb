//! Setting up a worker with a fixture's sessions, and the measured loop.

use std::time::Instant;

use upf_engine::{compile, DropReason, Output, Worker, WorkerConfig, WorkerEvent, WorkerUpdate};
use upf_io::{BufPool, Burst, PacketBuf, PortIo, BURST};

use crate::fixtures::Fixture;

/// What the measured loop does with received packets.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Engine {
    /// The full engine ([`Worker::process_burst`]).
    Full,
    /// No engine: every received packet goes straight to the egress port.
    /// Measures what receive (refill), transmit and the loop cost alone.
    Null,
}

/// Why installing a fixture failed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SetupError {
    /// A rule set did not compile.
    Compile(usize, String),
    /// The worker refused a session.
    Install(usize, String),
}

impl std::fmt::Display for SetupError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            SetupError::Compile(i, e) => write!(f, "session {i}: compile: {e}"),
            SetupError::Install(i, e) => write!(f, "session {i}: install: {e}"),
        }
    }
}

impl std::error::Error for SetupError {}

/// A worker configuration sized for a fixture.
pub fn worker_config(fx: &Fixture, worker: u32) -> WorkerConfig {
    WorkerConfig {
        id: worker,
        expected_sessions: fx.sessions() / fx.cfg.workers.max(1) as usize + 16,
        ..WorkerConfig::default()
    }
}

/// Installs the neighbours and every session of `fx` that `worker` owns
/// (compiled here, as the control thread would); returns how many.
pub fn install<B: PacketBuf, P: BufPool<Buf = B>>(
    w: &mut Worker<B>,
    pool: &mut P,
    fx: &Fixture,
    now: u64,
) -> Result<usize, SetupError> {
    let topo = w.topology().clone();
    let mut out: Output<B> = Output::new(topo.ports.len(), topo.workers as usize);
    for (ip, mac) in fx.neighbors() {
        w.apply(now, WorkerUpdate::Neighbor { ip, mac }, &mut out, pool);
    }
    let me = w.id();
    let mut n = 0;
    for i in 0..fx.sessions() {
        if fx.owner(i) != me {
            continue;
        }
        let c =
            compile(&fx.rules(i), &topo, now).map_err(|e| SetupError::Compile(i, e.to_string()))?;
        w.apply(
            now,
            WorkerUpdate::Install {
                req: i as u64,
                session: Box::new(c),
            },
            &mut out,
            pool,
        );
        for e in w.events.drain(..) {
            if let WorkerEvent::Ack { result: Err(e), .. } = e {
                return Err(SetupError::Install(i, e.to_string()));
            }
        }
        n += 1;
    }
    for q in out.tx.iter_mut().chain(out.handoff.iter_mut()) {
        for b in q.drain(..) {
            pool.free(b);
        }
    }
    Ok(n)
}

/// What one measured loop did.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct LoopStats {
    /// Packets received.
    pub packets: u64,
    /// Packets transmitted (all ports).
    pub transmitted: u64,
    /// Loop iterations.
    pub loops: u64,
    /// Usage reports raised.
    pub usage_reports: u64,
    /// Wall time of the loop, ns.
    pub elapsed_ns: u64,
}

/// Limits of a measured loop: it stops at whichever comes first.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Limits {
    /// Packets to receive.
    pub packets: u64,
    /// Wall time, ns.
    pub ns: u64,
}

/// The worker loop of the dataplane daemon (receive a burst per port →
/// process → transmit in bursts → timers every 1024 loops → drain events),
/// without the control ring, run until `limits`. Everything it does per
/// packet counts in the result. Not inlined, so `callgrind
/// --toggle-collect` can name it.
#[inline(never)]
pub fn measured_loop<IO: PortIo>(
    w: &mut Worker<IO::Buf>,
    io: &mut IO,
    engine: Engine,
    egress: u16,
    clock_base: u64,
    limits: Limits,
) -> LoopStats {
    let ports = io.ports();
    let workers = w.topology().workers as usize;
    let mut out: Output<IO::Buf> = Output::new(ports, workers);
    let mut burst: Burst<IO::Buf> = Burst::new();
    let mut txb: Burst<IO::Buf> = Burst::new();
    let mut st = LoopStats::default();
    let start = Instant::now();
    loop {
        let now = clock_base + start.elapsed().as_nanos() as u64;
        let mut got = 0u64;
        for p in 0..ports as u16 {
            let n = io.rx_burst(p, &mut burst);
            if n == 0 {
                continue;
            }
            got += n as u64;
            match engine {
                Engine::Full => w.process_burst(now, &mut burst, &mut out, io.pool()),
                Engine::Null => {
                    if let Some(q) = out.tx.get_mut(usize::from(egress)) {
                        q.extend(burst.drain(..));
                    }
                }
            }
        }
        for p in 0..ports {
            let q = &mut out.tx[p];
            while !q.is_empty() {
                let take = q.len().min(BURST);
                st.transmitted += take as u64;
                txb.extend(q.drain(..take));
                io.tx_burst(p as u16, &mut txb);
            }
        }
        for q in out.handoff.iter_mut() {
            for b in q.drain(..) {
                io.pool().free(b);
            }
        }
        if st.loops & 1023 == 0 {
            w.poll_timers(now, &mut out, io.pool());
        }
        for e in w.events.drain(..) {
            if matches!(e, WorkerEvent::Usage(_)) {
                st.usage_reports += 1;
            }
        }
        st.packets += got;
        st.loops += 1;
        if got == 0
            || st.packets >= limits.packets
            || (st.loops & 63 == 0 && now - clock_base >= limits.ns)
        {
            break;
        }
    }
    st.elapsed_ns = start.elapsed().as_nanos() as u64;
    st
}

/// Drops counted by a worker, by reason (non-zero only).
pub fn drops(w: &Worker<impl PacketBuf>) -> Vec<(&'static str, u64)> {
    DropReason::ALL
        .iter()
        .map(|r| (r.label(), w.stats.drops_of(*r)))
        .filter(|(_, n)| *n > 0)
        .collect()
}

/// CPU time this thread has used, ns (user + system, from
/// `/proc/thread-self/stat`; 10 ms resolution). Unlike wall time it does not
/// grow while the thread waits for a core another process holds.
pub fn thread_cpu_ns() -> Option<u64> {
    let s = std::fs::read_to_string("/proc/thread-self/stat").ok()?;
    // Fields after the parenthesised command name; utime and stime are the
    // 14th and 15th fields of the whole line.
    let rest = s.rsplit_once(')')?.1;
    let f: Vec<&str> = rest.split_whitespace().collect();
    let utime: u64 = f.get(11)?.parse().ok()?;
    let stime: u64 = f.get(12)?.parse().ok()?;
    // USER_HZ is 100 on Linux.
    Some((utime + stime) * 10_000_000)
}

/// Runs `f` and returns its result with the CPU seconds this thread spent
/// in it (`None` when /proc does not tell).
pub fn with_cpu_time<T>(f: impl FnOnce() -> T) -> (T, Option<f64>) {
    let c0 = thread_cpu_ns();
    let r = f();
    let cpu = match (c0, thread_cpu_ns()) {
        (Some(a), Some(b)) if b > a => Some((b - a) as f64 / 1e9),
        _ => None,
    };
    (r, cpu)
}

/// Resident set size of this process, bytes (from `/proc/self/statm`).
pub fn rss_bytes() -> Option<u64> {
    let s = std::fs::read_to_string("/proc/self/statm").ok()?;
    let pages: u64 = s.split_whitespace().nth(1)?.parse().ok()?;
    Some(pages * 4096)
}

/// The CPU clock in MHz as `/proc/cpuinfo` reports it (the nominal
/// frequency in a VM), for converting time into cycles.
pub fn cpu_mhz() -> Option<f64> {
    let s = std::fs::read_to_string("/proc/cpuinfo").ok()?;
    s.lines()
        .find(|l| l.starts_with("cpu MHz"))
        .and_then(|l| l.split(':').nth(1))
        .and_then(|v| v.trim().parse().ok())
}
