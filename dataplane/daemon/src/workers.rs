//! The worker loop: run to completion on bursts, poll the control ring.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use upf_ctrl::spsc::{Consumer, Producer};
use upf_engine::{DropReason, Output, Worker, WorkerEvent, WorkerStats, WorkerUpdate};
use upf_io::{Burst, PacketBuf, PortIo, QueueStats, BURST};

use crate::Clock;

/// Counters a worker publishes for metrics and the admin socket.
#[derive(Clone, Debug, Default)]
pub struct WorkerSnapshot {
    /// Engine counters.
    pub stats: WorkerStats,
    /// Backend counters per port.
    pub ports: Vec<QueueStats>,
    /// Time spent processing packets, ns.
    pub busy_ns: u64,
    /// Time since the worker started, ns.
    pub total_ns: u64,
    /// Packets processed (received + handed in).
    pub packets: u64,
    /// Loop iterations.
    pub loops: u64,
}

/// What a worker thread owns.
pub struct Ctx<B: PacketBuf> {
    /// Worker index.
    pub id: usize,
    /// The engine.
    pub worker: Worker<B>,
    /// Updates from the control thread.
    pub updates: Consumer<WorkerUpdate<B>>,
    /// Events to the control thread.
    pub events: Producer<WorkerEvent>,
    /// Packets handed over by other workers.
    pub handoff_in: Vec<Consumer<B>>,
    /// Rings to other workers (None for self).
    pub handoff_out: Vec<Option<Producer<B>>>,
    /// Published counters.
    pub snapshot: Arc<Mutex<WorkerSnapshot>>,
    /// Stop flag.
    pub stop: Arc<AtomicBool>,
    /// Clock.
    pub clock: Clock,
    /// Spin when idle instead of sleeping.
    pub busy_poll: bool,
    /// Signalled by the control thread when it queues updates, so an idle
    /// worker applies rule changes at once instead of after its sleep.
    pub wakeup: Option<Arc<upf_io::sys::Wakeup>>,
}

/// Runs the worker until the stop flag is set. `fds` are the backend's
/// descriptors to sleep on when idle (may be empty).
pub fn run<B: PacketBuf, IO: PortIo<Buf = B>>(mut c: Ctx<B>, mut io: IO, mut fds: Vec<i32>) {
    if let Some(w) = c.wakeup.as_ref() {
        fds.push(w.fd());
    }
    upf_io::sys::set_timer_slack_ns(1000);
    io.attach_thread();
    let ports = io.ports();
    let workers = c.handoff_out.len().max(1);
    let mut out: Output<B> = Output::new(ports, workers);
    let mut burst: Burst<B> = Burst::new();
    let mut overflow: Vec<WorkerEvent> = Vec::new();
    let mut snap = WorkerSnapshot {
        ports: vec![QueueStats::default(); ports],
        ..Default::default()
    };
    let start = c.clock.now();
    let mut last_pub = start;
    let mut last_timers = start;
    let mut idle_since: Option<u64> = None;
    let mut idle_loops = 0u32;
    while !c.stop.load(Ordering::Relaxed) {
        let t0 = c.clock.now();
        let mut n = 0usize;
        // 1. Receive and process a burst from each port.
        for p in 0..ports {
            let got = io.rx_burst(p as u16, &mut burst);
            if got > 0 {
                n += got;
                c.worker.process_burst(t0, &mut burst, &mut out, io.pool());
            }
        }
        // 2. Packets other workers handed to us.
        for q in c.handoff_in.iter_mut() {
            for _ in 0..BURST {
                let Some(b) = q.pop() else { break };
                n += 1;
                c.worker.process_handed(t0, b, &mut out, io.pool());
            }
        }
        // 3. Control updates between bursts (a session's rules change as a whole).
        while let Some(u) = c.updates.pop() {
            c.worker.apply(t0, u, &mut out, io.pool());
        }
        if t0.saturating_sub(last_timers) >= 1_000_000 {
            c.worker.poll_timers(t0, &mut out, io.pool());
            last_timers = t0;
        }
        // 4. Transmit.
        for p in 0..ports {
            let q = &mut out.tx[p];
            while !q.is_empty() {
                let take = q.len().min(BURST);
                burst.extend(q.drain(..take));
                io.tx_burst(p as u16, &mut burst);
            }
        }
        for (w, q) in out.handoff.iter_mut().enumerate() {
            if q.is_empty() {
                continue;
            }
            match c.handoff_out.get_mut(w).and_then(Option::as_mut) {
                Some(ring) => {
                    for b in q.drain(..) {
                        if let Err(b) = ring.push(b) {
                            c.worker.stats.drop(DropReason::HandoffFull);
                            io.pool().free_buf(b);
                        }
                    }
                }
                None => {
                    for b in q.drain(..) {
                        c.worker.stats.drop(DropReason::HandoffFull);
                        io.pool().free_buf(b);
                    }
                }
            }
        }
        io.flush();
        // 5. Events to the control thread.
        if !overflow.is_empty() {
            for e in std::mem::take(&mut overflow) {
                if let Err(e) = c.events.push(e) {
                    overflow.push(e);
                }
            }
        }
        for e in c.worker.events.drain(..) {
            if let Err(e) = c.events.push(e) {
                overflow.push(e);
            }
        }
        let t1 = c.clock.now();
        if n > 0 {
            snap.busy_ns += t1 - t0;
            snap.packets += n as u64;
            idle_since = None;
            idle_loops = 0;
        }
        snap.loops += 1;
        // 6. Publish counters now and then.
        if t1.saturating_sub(last_pub) >= 50_000_000 {
            snap.total_ns = t1 - start;
            for (i, p) in snap.ports.iter_mut().enumerate() {
                *p = io.stats(i as u16);
            }
            snap.stats.clone_from(&c.worker.stats);
            if let Ok(mut s) = c.snapshot.try_lock() {
                s.clone_from(&snap);
            }
            io.housekeeping();
            last_pub = t1;
        }
        // 7. Idle: spin a little, then sleep in short, then longer steps.
        if n == 0 && !c.busy_poll {
            idle_loops += 1;
            if idle_loops > 256 {
                let since = *idle_since.get_or_insert(t1);
                if t1 - since < 100_000_000 {
                    std::thread::sleep(Duration::from_micros(20));
                } else {
                    if let Some(w) = c.wakeup.as_ref() {
                        w.will_sleep();
                    }
                    if !c.updates.is_empty() {
                        // Work arrived meanwhile: no sleep.
                    } else if fds.is_empty() {
                        std::thread::sleep(Duration::from_millis(1));
                    } else {
                        upf_io::sys::wait_readable(&fds, 1);
                    }
                    if let Some(w) = c.wakeup.as_ref() {
                        w.awake();
                    }
                }
            }
        }
    }
}

/// Extra backend hooks the worker loop uses.
pub trait PoolExt<B> {
    /// Frees a buffer.
    fn free_buf(&mut self, b: B);
}

impl<B: PacketBuf, P: upf_io::BufPool<Buf = B>> PoolExt<B> for P {
    fn free_buf(&mut self, b: B) {
        self.free(b);
    }
}
