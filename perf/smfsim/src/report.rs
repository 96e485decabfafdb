//! Results of a run: latency histograms per procedure, counts, causes,
//! usage reports; as JSON and as a table for people.

use std::collections::BTreeMap;

use hdrhistogram::Histogram;
use serde::Serialize;

/// Latency percentiles in microseconds.
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct Latency {
    /// Samples.
    pub count: u64,
    /// Smallest.
    pub min_us: f64,
    /// Mean.
    pub mean_us: f64,
    /// Median.
    pub p50_us: f64,
    /// 90th percentile.
    pub p90_us: f64,
    /// 99th percentile.
    pub p99_us: f64,
    /// 99.9th percentile.
    pub p99_9_us: f64,
    /// Largest.
    pub max_us: f64,
}

/// A latency histogram in nanoseconds (1 µs to 100 s, 3 digits).
#[derive(Clone, Debug)]
pub struct LatencyHist(Histogram<u64>);

impl Default for LatencyHist {
    fn default() -> Self {
        Self::new()
    }
}

impl LatencyHist {
    /// An empty histogram.
    pub fn new() -> Self {
        LatencyHist(
            Histogram::new_with_bounds(1_000, 100_000_000_000, 3)
                .expect("constant histogram bounds are valid"),
        )
    }

    /// Records one sample (clamped to the range).
    pub fn record(&mut self, ns: u64) {
        self.0.saturating_record(ns.max(1_000));
    }

    /// The summary.
    pub fn summary(&self) -> Latency {
        let h = &self.0;
        if h.is_empty() {
            return Latency::default();
        }
        let us = |v: u64| v as f64 / 1_000.0;
        Latency {
            count: h.len(),
            min_us: us(h.min()),
            mean_us: h.mean() / 1_000.0,
            p50_us: us(h.value_at_quantile(0.5)),
            p90_us: us(h.value_at_quantile(0.9)),
            p99_us: us(h.value_at_quantile(0.99)),
            p99_9_us: us(h.value_at_quantile(0.999)),
            max_us: us(h.max()),
        }
    }
}

/// One procedure's results.
#[derive(Clone, Debug, Default, Serialize)]
pub struct Phase {
    /// Requests started.
    pub requested: u64,
    /// Accepted responses (and complete, for establishments).
    pub accepted: u64,
    /// Responses with another cause or missing IEs.
    pub rejected: u64,
    /// Requests that got no response after all retransmissions.
    pub timeouts: u64,
    /// Retransmissions sent.
    pub retransmissions: u64,
    /// Target rate (requests per second; 0 = as fast as the window allows).
    pub target_rate: f64,
    /// Accepted responses per second, from the first request to the last
    /// response.
    pub achieved_rate: f64,
    /// Seconds from the first request to the last response.
    pub duration_s: f64,
    /// Request-to-response latency of accepted requests.
    pub latency: Latency,
}

/// A request that did not succeed.
#[derive(Clone, Debug, Serialize)]
pub struct Failure {
    /// The procedure.
    pub procedure: &'static str,
    /// Session index, for session procedures.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub session: Option<u32>,
    /// Cause value, when the UPF gave one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cause: Option<u8>,
    /// What went wrong.
    pub detail: String,
}

/// Usage measured by the UPF, as reported.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct Usage {
    /// Usage Report IEs received.
    pub reports: u64,
    /// Uplink octets.
    pub ul_bytes: u64,
    /// Downlink octets.
    pub dl_bytes: u64,
    /// Uplink packets.
    pub ul_packets: u64,
    /// Downlink packets.
    pub dl_packets: u64,
}

/// One usage report of one session (with `--usage-json`).
#[derive(Clone, Debug, Serialize)]
pub struct UsageRecord {
    /// Session index.
    pub session: u32,
    /// Where it came from: `report`, `modification`, `deletion`.
    pub source: &'static str,
    /// URR ID.
    pub urr_id: u32,
    /// UR-SEQN.
    pub seqn: u32,
    /// Usage Report Trigger bits.
    pub trigger: u32,
    /// Uplink octets.
    pub ul_bytes: u64,
    /// Downlink octets.
    pub dl_bytes: u64,
    /// Uplink packets.
    pub ul_packets: u64,
    /// Downlink packets.
    pub dl_packets: u64,
    /// Duration Measurement (s).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub duration_s: Option<u32>,
}

/// Node-level message counts.
#[derive(Clone, Debug, Default, Serialize)]
pub struct NodeCounts {
    /// Heartbeat Requests the UPF sent us (all answered).
    pub heartbeats_received: u64,
    /// Heartbeat Requests we sent.
    pub heartbeats_sent: u64,
    /// Heartbeat Responses we got.
    pub heartbeats_answered: u64,
    /// Session Report Requests (all answered).
    pub session_reports: u64,
    /// Session Report Requests for SEIDs we do not know (answered with
    /// cause 65).
    pub unknown_session_reports: u64,
    /// Node Report Requests (answered).
    pub node_reports: u64,
    /// Datagrams that did not decode.
    pub malformed: u64,
    /// Responses matching no outstanding request (late duplicates).
    pub unmatched_responses: u64,
}

/// The whole report.
#[derive(Clone, Debug, Default, Serialize)]
pub struct Report {
    /// `upf-smfsim`.
    pub tool: &'static str,
    /// Version.
    pub version: &'static str,
    /// UPF N4 address.
    pub upf: String,
    /// Our address.
    pub local: String,
    /// The UPF's Node ID from the association.
    pub upf_node_id: String,
    /// Sessions asked for.
    pub sessions: u32,
    /// Sessions established.
    pub established: u32,
    /// Sessions in the churn set.
    pub churn_sessions: u32,
    /// Association Setup.
    pub association: Phase,
    /// Session Establishment.
    pub establishment: Phase,
    /// Session Modification (churn).
    pub modification: Phase,
    /// Session Deletion.
    pub deletion: Phase,
    /// Responses by cause value (all procedures).
    pub causes: BTreeMap<String, u64>,
    /// The first failures (up to 50).
    pub failures: Vec<Failure>,
    /// Failures not listed.
    pub failures_not_listed: u64,
    /// Node-level counts.
    pub node: NodeCounts,
    /// Usage from Session Report Requests.
    pub usage_periodic: Usage,
    /// Usage from deletion responses (the final counts).
    pub usage_final: Usage,
    /// Per-report records (only with `--usage-json`).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub usage_records: Vec<UsageRecord>,
    /// The sessions file written.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sessions_file: Option<String>,
    /// Seconds the whole run took.
    pub wall_s: f64,
    /// True when every request succeeded.
    pub ok: bool,
}

fn fmt_rate(r: f64) -> String {
    if r > 0.0 {
        format!("{r:.1}")
    } else {
        "-".into()
    }
}

fn fmt_us(v: f64, count: u64) -> String {
    if count == 0 {
        "-".into()
    } else if v >= 10_000.0 {
        format!("{:.1}ms", v / 1_000.0)
    } else {
        format!("{v:.0}")
    }
}

impl Report {
    /// The table for people.
    pub fn table(&self) -> String {
        let mut s = String::new();
        s.push_str(&format!(
            "smfsim: {} of {} sessions established with {} (node {}) from {}, {:.1} s\n",
            self.established, self.sessions, self.upf, self.upf_node_id, self.local, self.wall_s
        ));
        s.push_str(&format!(
            "{:<14} {:>8} {:>8} {:>7} {:>7} {:>7} {:>9} {:>9} {:>8} {:>8} {:>8} {:>8}\n",
            "procedure",
            "requests",
            "accepted",
            "refused",
            "timeout",
            "retrans",
            "target/s",
            "rate/s",
            "p50 µs",
            "p99 µs",
            "p99.9 µs",
            "max µs"
        ));
        for (name, p) in [
            ("association", &self.association),
            ("establishment", &self.establishment),
            ("modification", &self.modification),
            ("deletion", &self.deletion),
        ] {
            if p.requested == 0 {
                continue;
            }
            let l = &p.latency;
            s.push_str(&format!(
                "{:<14} {:>8} {:>8} {:>7} {:>7} {:>7} {:>9} {:>9} {:>8} {:>8} {:>8} {:>8}\n",
                name,
                p.requested,
                p.accepted,
                p.rejected,
                p.timeouts,
                p.retransmissions,
                fmt_rate(p.target_rate),
                fmt_rate(p.achieved_rate),
                fmt_us(l.p50_us, l.count),
                fmt_us(l.p99_us, l.count),
                fmt_us(l.p99_9_us, l.count),
                fmt_us(l.max_us, l.count),
            ));
        }
        let n = &self.node;
        s.push_str(&format!(
            "heartbeats: {} from the UPF (answered), {} sent / {} answered; session reports: {}, node reports: {}\n",
            n.heartbeats_received, n.heartbeats_sent, n.heartbeats_answered, n.session_reports, n.node_reports
        ));
        for (label, u) in [
            ("periodic usage", &self.usage_periodic),
            ("final usage", &self.usage_final),
        ] {
            if u.reports > 0 {
                s.push_str(&format!(
                    "{label}: {} reports, uplink {} B / {} pkts, downlink {} B / {} pkts\n",
                    u.reports, u.ul_bytes, u.ul_packets, u.dl_bytes, u.dl_packets
                ));
            }
        }
        let other: Vec<String> = self
            .causes
            .iter()
            .filter(|(c, _)| c.as_str() != "1")
            .map(|(c, n)| {
                let v = c.parse::<u8>().unwrap_or(0);
                format!("{c} {} x{n}", crate::msgs::cause_name(v))
            })
            .collect();
        if other.is_empty() {
            s.push_str("causes: all Request accepted\n");
        } else {
            s.push_str(&format!(
                "causes other than accepted: {}\n",
                other.join(", ")
            ));
        }
        for f in self.failures.iter().take(10) {
            s.push_str(&format!(
                "  failed {}{}: {}\n",
                f.procedure,
                f.session.map(|i| format!(" #{i}")).unwrap_or_default(),
                f.detail
            ));
        }
        if self.failures.len() > 10 || self.failures_not_listed > 0 {
            s.push_str(&format!(
                "  ... {} more failures\n",
                self.failures.len().saturating_sub(10) as u64 + self.failures_not_listed
            ));
        }
        if n.malformed + n.unmatched_responses + n.unknown_session_reports > 0 {
            s.push_str(&format!(
                "anomalies: {} malformed datagrams, {} unmatched responses, {} reports for unknown sessions\n",
                n.malformed, n.unmatched_responses, n.unknown_session_reports
            ));
        }
        if let Some(f) = &self.sessions_file {
            s.push_str(&format!("sessions file: {f}\n"));
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
    fn percentiles_in_microseconds() {
        let mut h = LatencyHist::new();
        for i in 1..=1000u64 {
            h.record(i * 1_000);
        }
        let s = h.summary();
        assert_eq!(s.count, 1000);
        assert!((s.p50_us - 500.0).abs() < 1.0, "{s:?}");
        assert!((s.p99_us - 990.0).abs() < 1.5, "{s:?}");
        assert!((s.max_us - 1000.0).abs() < 1.0, "{s:?}");
        assert_eq!(LatencyHist::new().summary(), Latency::default());
    }

    #[test]
    fn table_lists_refusals() {
        let mut r = Report {
            sessions: 2,
            ..Default::default()
        };
        r.establishment.requested = 2;
        r.establishment.accepted = 1;
        r.establishment.rejected = 1;
        r.causes.insert("1".into(), 1);
        r.causes.insert("75".into(), 1);
        r.failures.push(Failure {
            procedure: "establishment",
            session: Some(1),
            cause: Some(75),
            detail: "cause 75 (No resources available)".into(),
        });
        let t = r.table();
        assert!(t.contains("75 No resources available x1"), "{t}");
        assert!(t.contains("failed establishment #1"), "{t}");
        assert!(t.contains("result: FAILED"), "{t}");
    }
}
