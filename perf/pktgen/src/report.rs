//! The results of a run, as JSON and as a table, with the findings about
//! who limited the rate or lost packets (pktgen or the path under test).

use hdrhistogram::Histogram;
use serde::Serialize;

use crate::netdev::DevCounters;
use crate::packet::Dir;
use crate::rx::RxCounts;
use crate::seq::SeqTracker;

/// Latency percentiles, in ns.
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct LatencyNs {
    /// Samples.
    pub count: u64,
    /// Smallest.
    pub min: u64,
    /// Mean.
    pub mean: f64,
    /// Median.
    pub p50: u64,
    /// 90th percentile.
    pub p90: u64,
    /// 99th.
    pub p99: u64,
    /// 99.9th.
    pub p99_9: u64,
    /// Largest.
    pub max: u64,
}

impl LatencyNs {
    /// From a histogram in ns.
    pub fn of(h: &Histogram<u64>) -> LatencyNs {
        if h.is_empty() {
            return LatencyNs::default();
        }
        LatencyNs {
            count: h.len(),
            min: h.min(),
            mean: h.mean(),
            p50: h.value_at_quantile(0.5),
            p90: h.value_at_quantile(0.9),
            p99: h.value_at_quantile(0.99),
            p99_9: h.value_at_quantile(0.999),
            max: h.max(),
        }
    }
}

/// The sending side of a direction.
#[derive(Clone, Debug, Default, Serialize)]
pub struct TxReport {
    /// Packets sent (queued to the kernel or device).
    pub packets: u64,
    /// Inner IP bytes.
    pub bytes: u64,
    /// Frame bytes.
    pub frame_bytes: u64,
    /// Target rate, packets/s (`null`: as fast as possible).
    pub target_pps: Option<f64>,
    /// Achieved rate over the sending time.
    pub pps: f64,
    /// Inner bit rate (bits/s).
    pub bps: f64,
    /// Sending time (s).
    pub duration_s: f64,
    /// Packets per second of the sender thread's CPU time (what one core
    /// of this machine can send), if measurable.
    pub pps_per_cpu_s: Option<f64>,
    /// Share of the sending time the sender thread was on a CPU.
    pub cpu_busy: Option<f64>,
    /// Times the transmit ring was full.
    pub ring_full: u64,
    /// Flushes the kernel pushed back on.
    pub backpressure: u64,
    /// Transmit drops of the sending device during the run.
    pub device_tx_dropped: u64,
    /// Warm-up packets sent before the measured traffic.
    pub warmup_packets: u64,
}

/// A group of sessions (churned by smfsim or not).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct Group {
    /// Sessions.
    pub sessions: u64,
    /// Packets sent.
    pub sent: u64,
    /// Distinct packets received.
    pub received: u64,
    /// Packets lost.
    pub lost: u64,
    /// Sessions that lost at least one packet.
    pub sessions_with_loss: u64,
}

/// The receiving side of a direction.
#[derive(Clone, Debug, Default, Serialize)]
pub struct RxReport {
    /// Our packets received (duplicates included).
    pub packets: u64,
    /// Distinct packets.
    pub unique: u64,
    /// Inner IP bytes.
    pub bytes: u64,
    /// Sent but not received.
    pub lost: u64,
    /// `lost / sent`.
    pub loss_ratio: f64,
    /// Duplicates.
    pub duplicates: u64,
    /// Reordered (arrived after a later packet of their flow).
    pub reordered: u64,
    /// Too old to check for duplicates.
    pub beyond_window: u64,
    /// Received packets per second over the sending time.
    pub pps: f64,
    /// One-way latency (kernel send-side stamp to kernel receive time).
    pub latency_ns: LatencyNs,
    /// Sessions that were churned by smfsim.
    pub churned: Group,
    /// Sessions that were not.
    pub steady: Group,
    /// Flows with any loss, duplicate or reordering.
    pub flows_with_anomalies: u64,
}

/// One direction.
#[derive(Clone, Debug, Default, Serialize)]
pub struct DirReport {
    /// `ul` or `dl`.
    pub dir: &'static str,
    /// Flows (sessions).
    pub flows: usize,
    /// Sender.
    pub tx: TxReport,
    /// Receiver.
    pub rx: RxReport,
}

/// One port.
#[derive(Clone, Debug, Default, Serialize)]
pub struct PortReport {
    /// `n3` or `n6`.
    pub role: &'static str,
    /// Interface.
    pub device: String,
    /// Network namespace.
    pub netns: Option<String>,
    /// Our MAC.
    pub mac: String,
    /// The next hop's MAC we sent to.
    pub peer_mac: String,
    /// MTU.
    pub mtu: u32,
    /// What the receiver saw.
    pub received: RxCounts,
    /// Frames the kernel dropped because the receive ring was full.
    pub kernel_ring_drops: u64,
    /// Device counters during the run.
    pub counters: DevCounters,
    /// Share of the run the receiver thread was on a CPU.
    pub rx_cpu_busy: Option<f64>,
}

/// A flow's accounting (in `flows`).
#[derive(Clone, Debug, Serialize)]
pub struct FlowReport {
    /// Session index (smfsim's).
    pub session: u32,
    /// Direction.
    pub dir: Dir,
    /// Churned by smfsim.
    pub churn: bool,
    /// Sent.
    pub sent: u64,
    /// Distinct received.
    pub received: u64,
    /// Lost.
    pub lost: u64,
    /// Duplicates.
    pub duplicates: u64,
    /// Reordered.
    pub reordered: u64,
    /// The first sequence number that went missing (a gap, or the lost
    /// tail when nothing was skipped).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub first_missing: Option<u64>,
}

/// The whole report.
#[derive(Clone, Debug, Default, Serialize)]
pub struct Report {
    /// `upf-pktgen`.
    pub tool: &'static str,
    /// Version.
    pub version: &'static str,
    /// Run number in the stamps.
    pub run: u32,
    /// Backend.
    pub backend: &'static str,
    /// Sessions in use.
    pub sessions: usize,
    /// Inner packet sizes (the repeating pattern).
    pub sizes: Vec<u16>,
    /// Mean inner packet size.
    pub mean_size: f64,
    /// Whether a UPF was between the ports.
    pub through_upf: bool,
    /// Directions.
    pub directions: Vec<DirReport>,
    /// Ports.
    pub ports: Vec<PortReport>,
    /// Findings on what limited the rate or lost packets.
    pub bottlenecks: Vec<String>,
    /// Mismatches against the sessions file and other errors.
    pub errors: Vec<String>,
    /// Per-flow accounting (see `--flows`).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub flows: Vec<FlowReport>,
    /// Seconds the run took.
    pub wall_s: f64,
    /// True when nothing failed the run's checks.
    pub ok: bool,
}

/// Sums the per-flow accounting of sessions into the churned and steady groups.
pub fn groups(sent: &[u64], got: &[SeqTracker], churn: &[bool]) -> (Group, Group) {
    let mut c = Group::default();
    let mut s = Group::default();
    for (i, t) in got.iter().enumerate() {
        let n = sent.get(i).copied().unwrap_or(0);
        let g = if churn.get(i).copied().unwrap_or(false) {
            &mut c
        } else {
            &mut s
        };
        g.sessions += 1;
        g.sent += n;
        g.received += t.unique();
        let lost = t.lost(n);
        g.lost += lost;
        g.sessions_with_loss += u64::from(lost > 0);
    }
    (c, s)
}

fn si(v: f64) -> String {
    if v >= 1e9 {
        format!("{:.2}G", v / 1e9)
    } else if v >= 1e6 {
        format!("{:.2}M", v / 1e6)
    } else if v >= 1e3 {
        format!("{:.1}k", v / 1e3)
    } else {
        format!("{v:.0}")
    }
}

fn us(ns: u64) -> String {
    if ns >= 10_000_000 {
        format!("{:.1}ms", ns as f64 / 1e6)
    } else {
        format!("{:.1}", ns as f64 / 1e3)
    }
}

impl Report {
    /// The table for people.
    pub fn table(&self) -> String {
        let mut s = format!(
            "pktgen: {} sessions, sizes {} (mean {:.0} B), {}, {:.1} s\n",
            self.sessions,
            if self.sizes.len() == 1 {
                format!("{} B", self.sizes[0])
            } else {
                "IMIX".into()
            },
            self.mean_size,
            if self.through_upf {
                "through the UPF"
            } else {
                "looped back without a UPF"
            },
            self.wall_s
        );
        s.push_str(&format!(
            "{:<4} {:>10} {:>9} {:>9} {:>10} {:>9} {:>8} {:>5} {:>5} {:>8} {:>8} {:>8} {:>8}\n",
            "dir",
            "sent",
            "tx pps",
            "target",
            "received",
            "rx pps",
            "lost",
            "dup",
            "reord",
            "p50 µs",
            "p99 µs",
            "p99.9 µs",
            "max µs"
        ));
        for d in &self.directions {
            let l = &d.rx.latency_ns;
            s.push_str(&format!(
                "{:<4} {:>10} {:>9} {:>9} {:>10} {:>9} {:>8} {:>5} {:>5} {:>8} {:>8} {:>8} {:>8}\n",
                d.dir,
                d.tx.packets,
                si(d.tx.pps),
                d.tx.target_pps.map_or("max".into(), si),
                d.rx.unique,
                si(d.rx.pps),
                d.rx.lost,
                d.rx.duplicates,
                d.rx.reordered,
                us(l.p50),
                us(l.p99),
                us(l.p99_9),
                us(l.max),
            ));
        }
        for d in &self.directions {
            if d.rx.churned.sessions > 0 {
                s.push_str(&format!(
                    "{}: churned sessions {} lost {} packets ({} sessions), steady sessions {} lost {} ({} sessions)\n",
                    d.dir,
                    d.rx.churned.sessions,
                    d.rx.churned.lost,
                    d.rx.churned.sessions_with_loss,
                    d.rx.steady.sessions,
                    d.rx.steady.lost,
                    d.rx.steady.sessions_with_loss,
                ));
            }
            if let Some(p) = d.tx.pps_per_cpu_s {
                s.push_str(&format!(
                    "{}: sender {} pps per CPU-second (busy {:.0}%), ring full {}, back-pressure {}\n",
                    d.dir,
                    si(p),
                    d.tx.cpu_busy.unwrap_or(0.0) * 100.0,
                    d.tx.ring_full,
                    d.tx.backpressure
                ));
            }
        }
        for p in &self.ports {
            let c = &p.received;
            let foreign = c.arp + c.gtpu_signalling + c.other + c.unstamped;
            s.push_str(&format!(
                "{} {}: {} frames, {} ours, {} others (ARP {}, GTP-U signalling {}), kernel ring drops {}, device rx drops {}\n",
                p.role,
                p.device,
                c.frames,
                c.ours,
                foreign,
                c.arp,
                c.gtpu_signalling,
                p.kernel_ring_drops,
                p.counters.rx_dropped
            ));
        }
        for b in &self.bottlenecks {
            s.push_str(&format!("note: {b}\n"));
        }
        for e in &self.errors {
            s.push_str(&format!("error: {e}\n"));
        }
        s.push_str(if self.ok {
            "result: OK\n"
        } else {
            "result: FAILED\n"
        });
        s
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn groups_split_by_churn() {
        let mut a = SeqTracker::default();
        let mut b = SeqTracker::default();
        for s in 0..10 {
            a.record(s);
        }
        for s in [0, 1, 2, 5] {
            b.record(s);
        }
        let (c, st) = groups(&[10, 6], &[a, b], &[false, true]);
        assert_eq!(
            st,
            Group {
                sessions: 1,
                sent: 10,
                received: 10,
                lost: 0,
                sessions_with_loss: 0
            }
        );
        assert_eq!(
            c,
            Group {
                sessions: 1,
                sent: 6,
                received: 4,
                lost: 2,
                sessions_with_loss: 1
            }
        );
    }

    #[test]
    fn latency_summary() {
        let mut h = crate::rx::latency_histogram();
        for v in 1..=100u64 {
            h.record(v * 1000).unwrap();
        }
        let l = LatencyNs::of(&h);
        assert_eq!(l.count, 100);
        assert!((l.p50 as i64 - 50_000).abs() < 100);
        assert!((l.p99 as i64 - 99_000).abs() < 100);
        assert_eq!(
            LatencyNs::of(&crate::rx::latency_histogram()),
            LatencyNs::default()
        );
    }
}
