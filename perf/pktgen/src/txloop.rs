//! The send loop of one direction over any [`TxPort`]: flows round-robin,
//! sizes from the pattern, paced or as fast as possible, bounded by count
//! or duration. Per packet it only writes into the backend's buffer; no
//! allocation, no lock, one flush (syscall) per burst.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use crate::backend::{Flushed, TxPort};
use crate::netdev::thread_cpu_ns;
use crate::pace::Pacer;
use crate::packet::FlowTemplate;
use crate::sizes::Sizes;

/// What to send.
#[derive(Clone, Debug)]
pub struct TxJob {
    /// One template per flow.
    pub flows: Vec<FlowTemplate>,
    /// Inner packet sizes.
    pub sizes: Sizes,
    /// Packets per second; `None`: as fast as possible.
    pub rate: Option<f64>,
    /// Stop after this many packets.
    pub count: Option<u64>,
    /// Stop after this long.
    pub duration: Option<Duration>,
    /// Packets per flush at most.
    pub burst: usize,
    /// The run number in the stamps.
    pub run: u32,
    /// Warm-up packets per flow before the measured traffic (stamped
    /// with [`warmup_run`] so receivers leave them out of the accounting).
    pub warmup: u32,
    /// Pause after the warm-up (lets the path resolve neighbours).
    pub warmup_wait: Duration,
}

/// The run number of warm-up packets of run `run`.
pub fn warmup_run(run: u32) -> u32 {
    !run
}

/// What was sent.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct TxResult {
    /// Packets per flow (the next sequence number of each).
    pub sent: Vec<u64>,
    /// Packets in total.
    pub packets: u64,
    /// Inner IP bytes in total.
    pub bytes: u64,
    /// Frame bytes in total (what the wire carries, without FCS).
    pub frame_bytes: u64,
    /// Times the transmit buffer ring was full.
    pub ring_full: u64,
    /// Flushes the kernel or device pushed back on.
    pub backpressure: u64,
    /// Wall time from the first to the last packet (ns).
    pub wall_ns: u64,
    /// CPU time the loop used (ns), if measurable.
    pub cpu_ns: Option<u64>,
    /// Flushes that failed with an error (the first is kept).
    pub error: Option<String>,
    /// Warm-up packets sent.
    pub warmup: u64,
}

/// Nanoseconds since the Unix epoch (CLOCK_REALTIME, the clock of the
/// kernel's receive timestamps).
#[inline]
pub fn realtime_ns() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos() as u64)
}

/// Pause after the kernel pushed back on a flush.
const BACKOFF_US: u64 = 20;

/// A paced sender wakes up about this often (and sends what is due).
const QUANTUM_NS: u64 = 50_000;

fn sleep_until(start: Instant, at_ns: u64) {
    let now = start.elapsed().as_nanos() as u64;
    if at_ns <= now {
        return;
    }
    let wait = at_ns - now;
    if wait > 20_000 {
        std::thread::sleep(Duration::from_nanos(wait - 5_000));
    } else {
        while (start.elapsed().as_nanos() as u64) < at_ns {
            std::hint::spin_loop();
        }
    }
}

/// Runs `job` on `port` until done or `stop`; `progress` gets the packet
/// count after every burst.
pub fn run<T: TxPort>(
    port: &mut T,
    job: &TxJob,
    stop: &AtomicBool,
    progress: &AtomicU64,
) -> TxResult {
    let n = job.flows.len();
    let mut r = TxResult {
        sent: vec![0; n],
        ..Default::default()
    };
    if n == 0 || job.count == Some(0) {
        return r;
    }
    let burst = job.burst.clamp(1, 1024);
    if job.warmup > 0 {
        r.warmup = warm_up(port, job, burst, stop);
        let end = Instant::now() + job.warmup_wait;
        while Instant::now() < end && !stop.load(Ordering::Relaxed) {
            std::thread::sleep(Duration::from_millis(5));
        }
    }
    let cpu0 = thread_cpu_ns();
    let start = Instant::now();
    let mut pacer = Pacer::new(0, job.rate);
    let limit_ns = job.duration.map(|d| d.as_nanos() as u64);
    let mut cursor = 0usize;
    let mut total = 0u64;
    let mut last_ns = 0u64;
    loop {
        if stop.load(Ordering::Relaxed) {
            break;
        }
        let el = start.elapsed().as_nanos() as u64;
        if limit_ns.is_some_and(|l| el >= l) {
            break;
        }
        let mut want = pacer.due(el, burst);
        let mut batch = pacer.batch(QUANTUM_NS, burst);
        if let Some(c) = job.count {
            if total >= c {
                break;
            }
            want = want.min((c - total) as usize);
            batch = batch.min((c - total) as usize);
        }
        if want < batch {
            // Sleep until a batch is due rather than spin per packet.
            let at = pacer.due_at(batch as u64);
            sleep_until(start, at.min(limit_ns.unwrap_or(u64::MAX)));
            continue;
        }
        let ts = realtime_ns();
        let mut k = 0;
        while k < want {
            let f = &job.flows[cursor];
            let size = usize::from(job.sizes.nth(total));
            let seq = r.sent[cursor];
            let mut len = 0;
            if !port.try_send(|b| {
                len = f.write(b, size, seq, ts, job.run);
                len
            }) {
                r.ring_full += 1;
                break;
            }
            r.sent[cursor] = seq + 1;
            r.bytes += size as u64;
            r.frame_bytes += len as u64;
            cursor += 1;
            if cursor == n {
                cursor = 0;
            }
            total += 1;
            k += 1;
        }
        pacer.sent(k);
        match port.flush() {
            Ok(Flushed::All) => {}
            Ok(Flushed::Backpressure) => {
                // The kernel or device is full: give it a moment instead
                // of retrying (each retry costs the kernel a frame copy).
                r.backpressure += 1;
                std::thread::sleep(Duration::from_micros(BACKOFF_US));
            }
            Err(e) => {
                r.error.get_or_insert(e.to_string());
                break;
            }
        }
        if k < want {
            port.wait_room(1);
        }
        last_ns = start.elapsed().as_nanos() as u64;
        progress.store(total, Ordering::Relaxed);
    }
    // Push out what is still queued (bounded).
    let end = Instant::now() + Duration::from_secs(2);
    while Instant::now() < end {
        match port.flush() {
            Ok(Flushed::All) => break,
            Ok(Flushed::Backpressure) => std::thread::sleep(Duration::from_micros(200)),
            Err(e) => {
                r.error.get_or_insert(e.to_string());
                break;
            }
        }
    }
    r.packets = total;
    r.wall_ns = last_ns;
    r.cpu_ns = match (cpu0, thread_cpu_ns()) {
        (Some(a), Some(b)) => Some(b.saturating_sub(a)),
        _ => None,
    };
    progress.store(total, Ordering::Relaxed);
    r
}

/// Sends `job.warmup` packets per flow, paced like the job (at most
/// 100k pps), outside the accounting.
fn warm_up<T: TxPort>(port: &mut T, job: &TxJob, burst: usize, stop: &AtomicBool) -> u64 {
    let run = warmup_run(job.run);
    let rate = job.rate.unwrap_or(f64::MAX).min(100_000.0);
    let start = Instant::now();
    let mut pacer = Pacer::new(0, Some(rate));
    let n = job.flows.len() as u64 * u64::from(job.warmup);
    let end = Instant::now() + Duration::from_secs(10);
    let mut sent = 0u64;
    while sent < n && !stop.load(Ordering::Relaxed) && Instant::now() < end {
        let el = start.elapsed().as_nanos() as u64;
        let want = pacer.due(el, burst).min((n - sent) as usize);
        if want == 0 {
            sleep_until(start, pacer.next_ns());
            continue;
        }
        let ts = realtime_ns();
        let mut k = 0;
        while k < want {
            let i = (sent % job.flows.len() as u64) as usize;
            let f = &job.flows[i];
            let size = usize::from(job.sizes.nth(sent));
            let seq = sent / job.flows.len() as u64;
            if !port.try_send(|b| f.write(b, size, seq, ts, run)) {
                break;
            }
            sent += 1;
            k += 1;
        }
        pacer.sent(k);
        let _ = port.flush();
        if k < want {
            port.wait_room(1);
        }
    }
    let _ = port.flush();
    sent
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::backend::PcapTx;
    use crate::packet::{tests::session, Endpoints};
    use crate::stamp::Stamp;

    /// A port that refuses every third frame (a full ring) and records sizes.
    struct Flaky {
        calls: u64,
        frames: Vec<Vec<u8>>,
        flushes: u64,
    }

    impl TxPort for Flaky {
        fn max_frame(&self) -> usize {
            2000
        }
        fn try_send(&mut self, fill: impl FnOnce(&mut [u8]) -> usize) -> bool {
            self.calls += 1;
            if self.calls.is_multiple_of(3) {
                return false;
            }
            let mut b = vec![0u8; 2000];
            let n = fill(&mut b);
            b.truncate(n);
            self.frames.push(b);
            true
        }
        fn flush(&mut self) -> std::io::Result<Flushed> {
            self.flushes += 1;
            Ok(Flushed::All)
        }
        fn wait_room(&mut self, _ms: i32) {}
    }

    fn job(n: u32, count: u64) -> TxJob {
        let ep = Endpoints::default();
        TxJob {
            flows: (0..n)
                .map(|i| FlowTemplate::downlink(&session(i), i, &ep).unwrap())
                .collect(),
            sizes: Sizes::mix("64:1,128:1").unwrap(),
            rate: None,
            count: Some(count),
            duration: Some(Duration::from_secs(10)),
            burst: 8,
            run: 5,
            warmup: 0,
            warmup_wait: Duration::ZERO,
        }
    }

    #[test]
    fn round_robin_sequences_and_exact_count() {
        let mut p = Flaky {
            calls: 0,
            frames: vec![],
            flushes: 0,
        };
        let j = job(3, 100);
        let r = run(&mut p, &j, &AtomicBool::new(false), &AtomicU64::new(0));
        assert_eq!(r.packets, 100);
        assert_eq!(p.frames.len(), 100);
        assert_eq!(r.sent, vec![34, 33, 33]);
        assert!(r.ring_full > 0, "refusals are counted");
        // Per flow, sequence numbers 0, 1, 2, ... with no gap despite refusals.
        let mut next = [0u64; 3];
        for (i, f) in p.frames.iter().enumerate() {
            let st = Stamp::read(&f[14 + 28..]).unwrap();
            let flow = (st.flow / 2) as usize;
            assert_eq!(flow, i % 3, "round robin");
            assert_eq!(st.seq, next[flow]);
            next[flow] += 1;
            assert_eq!(st.size, if i % 2 == 0 { 64 } else { 128 });
            assert_eq!(st.run, 5);
        }
        assert_eq!(r.bytes, 50 * 64 + 50 * 128);
    }

    #[test]
    fn paced_run_takes_its_time() {
        let mut p = PcapTx::new(Vec::new()).unwrap();
        let mut j = job(2, 200);
        j.rate = Some(2000.0);
        let t = Instant::now();
        let r = run(&mut p, &j, &AtomicBool::new(false), &AtomicU64::new(0));
        assert_eq!(r.packets, 200);
        // 200 packets at 2000/s: about 100 ms (the first one goes at once).
        assert!(
            t.elapsed() >= Duration::from_millis(95),
            "{:?}",
            t.elapsed()
        );
    }

    #[test]
    fn warm_up_goes_first_and_is_marked() {
        let mut p = Flaky {
            calls: 1, // refuse the 2nd, 5th, ... call
            frames: vec![],
            flushes: 0,
        };
        let mut j = job(2, 10);
        j.warmup = 2;
        let r = run(&mut p, &j, &AtomicBool::new(false), &AtomicU64::new(0));
        assert_eq!((r.warmup, r.packets), (4, 10));
        let runs: Vec<u32> = p
            .frames
            .iter()
            .map(|f| Stamp::read(&f[14 + 28..]).unwrap().run)
            .collect();
        assert!(runs[..4].iter().all(|&x| x == warmup_run(5)), "{runs:?}");
        assert!(runs[4..].iter().all(|&x| x == 5));
        assert_eq!(
            r.sent,
            vec![5, 5],
            "warm-up does not use up sequence numbers"
        );
    }

    #[test]
    fn stops_on_request() {
        let mut p = PcapTx::new(std::io::sink()).unwrap();
        let mut j = job(1, u64::MAX);
        j.count = None;
        j.duration = None;
        let stop = AtomicBool::new(true);
        let r = run(&mut p, &j, &stop, &AtomicU64::new(0));
        assert_eq!(r.packets, 0);
    }
}
