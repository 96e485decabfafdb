//! QER enforcement (gates and token buckets) and URR measurement state.
//!
//! All state here belongs to one session on one worker; nothing is shared.
//! Times are nanoseconds of the caller's monotonic clock.

use upf_rules::report::{UsageReport, UsageReportTrigger, VolumeMeasurement};
use upf_rules::{Gate, Qer, ReportingTriggers, Urr, Volume};

const NS: u64 = 1_000_000_000;

/// A token bucket in bytes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Bucket {
    /// Refill rate, bytes per second.
    pub rate: u64,
    /// Depth, bytes.
    pub depth: u64,
    tokens: u64,
    last_ns: u64,
}

impl Bucket {
    /// A full bucket for `kbps` kbit/s. The depth is 10 ms of traffic (at
    /// least two full-size packets), so a second's throughput stays within
    /// a percent of the rate.
    pub fn new(kbps: u64, now: u64) -> Bucket {
        let rate = kbps.saturating_mul(125); // 1000 / 8
        let depth = (rate / 100).max(2 * 1600);
        Bucket {
            rate,
            depth,
            tokens: depth,
            last_ns: now,
        }
    }

    /// A full bucket of `rate` units per second and `depth` units.
    pub fn with_rate(rate: u64, depth: u64, now: u64) -> Bucket {
        Bucket {
            rate,
            depth,
            tokens: depth,
            last_ns: now,
        }
    }

    /// Takes `bytes` if available; refills for the time passed first.
    #[inline]
    pub fn take(&mut self, bytes: u64, now: u64) -> bool {
        if now > self.last_ns {
            let dt = (now - self.last_ns).min(NS);
            let add = (u128::from(dt) * u128::from(self.rate) / u128::from(NS)) as u64;
            if add > 0 {
                self.tokens = (self.tokens + add).min(self.depth);
                self.last_ns = now;
            }
        }
        if self.tokens >= bytes {
            self.tokens -= bytes;
            true
        } else {
            false
        }
    }
}

/// A QER with its buckets.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct QerState {
    /// QER ID.
    pub id: u32,
    /// Uplink gate open.
    pub ul_open: bool,
    /// Downlink gate open.
    pub dl_open: bool,
    /// QFI to mark.
    pub qfi: Option<u8>,
    /// RQI to send.
    pub rqi: bool,
    /// PPI to send.
    pub ppi: Option<u8>,
    /// Uplink MBR bucket.
    pub ul: Option<Bucket>,
    /// Downlink MBR bucket.
    pub dl: Option<Bucket>,
}

impl QerState {
    /// State for a QER installed at `now`.
    pub fn new(q: &Qer, now: u64) -> QerState {
        QerState {
            id: q.id,
            ul_open: q.gate_ul == Gate::Open,
            dl_open: q.gate_dl == Gate::Open,
            qfi: q.qfi,
            rqi: q.rqi,
            ppi: q.ppi,
            ul: q
                .mbr_ul_kbps
                .filter(|&r| r > 0)
                .map(|r| Bucket::new(r, now)),
            dl: q
                .mbr_dl_kbps
                .filter(|&r| r > 0)
                .map(|r| Bucket::new(r, now)),
        }
    }

    /// Keeps the bucket levels of `old` where the rate did not change.
    pub fn carry_from(&mut self, old: &QerState) {
        if let (Some(n), Some(o)) = (self.ul.as_mut(), old.ul.as_ref()) {
            if n.rate == o.rate {
                *n = *o;
            }
        }
        if let (Some(n), Some(o)) = (self.dl.as_mut(), old.dl.as_ref()) {
            if n.rate == o.rate {
                *n = *o;
            }
        }
    }

    /// Gate and rate check for one packet.
    #[inline]
    pub fn admit(&mut self, uplink: bool, bytes: u64, now: u64) -> Admit {
        let (open, bucket) = if uplink {
            (self.ul_open, &mut self.ul)
        } else {
            (self.dl_open, &mut self.dl)
        };
        if !open {
            return Admit::GateClosed;
        }
        match bucket {
            Some(b) => {
                if b.take(bytes, now) {
                    Admit::Pass
                } else {
                    Admit::RateExceeded
                }
            }
            None => Admit::Pass,
        }
    }
}

/// The verdict of a QER on one packet.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Admit {
    /// Forward.
    Pass,
    /// The gate of that direction is closed.
    GateClosed,
    /// The MBR bucket is empty.
    RateExceeded,
}

/// A URR with its measurement state.
#[derive(Clone, Debug, PartialEq)]
pub struct UrrState {
    /// The rule.
    pub rule: Urr,
    /// Volume since the last report.
    pub vol: VolumeMeasurement,
    /// Volume since installation (for quotas).
    pub used_total: u64,
    /// Uplink volume since installation.
    pub used_ul: u64,
    /// Downlink volume since installation.
    pub used_dl: u64,
    /// Start of the current measurement period.
    pub period_start_ns: u64,
    /// First packet of the period.
    pub first_pkt_ns: Option<u64>,
    /// Last packet seen (any period).
    pub last_pkt_ns: Option<u64>,
    /// Active time accumulated in this period (with inactivity detection).
    pub active_ns_period: u64,
    /// Active time since installation (for time quota).
    pub active_ns_total: u64,
    /// UR-SEQN of the next report.
    pub seqn: u32,
    /// Quota exhausted: traffic of this URR's PDRs is dropped.
    pub exhausted: bool,
    /// Traffic seen since the last START/STOPT transition.
    pub traffic_active: bool,
    /// Next periodic report.
    pub next_period_ns: Option<u64>,
}

/// A report the caller must emit, with the trigger.
pub type Due = UrrReportKind;

/// Why a report is due.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct UrrReportKind(pub u32);

impl UrrState {
    /// State for `rule` installed at `now`.
    pub fn new(rule: Urr, now: u64) -> UrrState {
        let next_period_ns = if rule.triggers.has(ReportingTriggers::PERIO) {
            rule.measurement_period_s
                .filter(|&p| p > 0)
                .map(|p| now + u64::from(p) * NS)
        } else {
            None
        };
        UrrState {
            rule,
            vol: VolumeMeasurement::default(),
            used_total: 0,
            used_ul: 0,
            used_dl: 0,
            period_start_ns: now,
            first_pkt_ns: None,
            last_pkt_ns: None,
            active_ns_period: 0,
            active_ns_total: 0,
            seqn: 0,
            exhausted: false,
            traffic_active: false,
            next_period_ns,
        }
    }

    /// Takes over the measurements of `old` (same URR ID, rule updated).
    pub fn carry_from(&mut self, old: &UrrState) {
        let rule = std::mem::take(&mut self.rule);
        let next = self.next_period_ns;
        *self = old.clone();
        let period_changed = rule.measurement_period_s != self.rule.measurement_period_s
            || rule.triggers.has(ReportingTriggers::PERIO)
                != self.rule.triggers.has(ReportingTriggers::PERIO);
        self.rule = rule;
        if period_changed {
            self.next_period_ns = next;
        }
        // A new quota re-arms the URR (TS 29.244 5.2.2.3.1).
        self.exhausted = self.quota_exhausted();
    }

    fn quota_exhausted(&self) -> bool {
        let q = &self.rule.volume_quota;
        let vol = q.total.is_some_and(|t| self.used_total >= t)
            || q.uplink.is_some_and(|t| self.used_ul >= t)
            || q.downlink.is_some_and(|t| self.used_dl >= t);
        let time = self
            .rule
            .time_quota_s
            .is_some_and(|t| self.active_ns_total >= u64::from(t) * NS);
        vol || time
    }

    fn inactivity_ns(&self) -> u64 {
        self.rule
            .inactivity_detection_time_s
            .map_or(NS, |s| u64::from(s.max(1)) * NS)
    }

    /// Counts one packet; returns the triggers of reports now due (0 if none).
    #[inline]
    pub fn count(&mut self, uplink: bool, bytes: u64, now: u64) -> u32 {
        if self.rule.measurement_info & Urr::INFO_INAM != 0 {
            return 0;
        }
        let mut due = 0;
        let v = &mut self.vol;
        v.total_octets += bytes;
        v.total_packets += 1;
        self.used_total += bytes;
        if uplink {
            v.uplink_octets += bytes;
            v.uplink_packets += 1;
            self.used_ul += bytes;
        } else {
            v.downlink_octets += bytes;
            v.downlink_packets += 1;
            self.used_dl += bytes;
        }
        // Duration: time between packets counts while closer than the
        // inactivity detection time.
        if let Some(last) = self.last_pkt_ns {
            let gap = now.saturating_sub(last);
            if gap <= self.inactivity_ns() {
                self.active_ns_period += gap;
                self.active_ns_total += gap;
            }
        }
        if self.first_pkt_ns.is_none() {
            self.first_pkt_ns = Some(now);
        }
        self.last_pkt_ns = Some(now);
        if !self.traffic_active {
            self.traffic_active = true;
            if self.rule.triggers.has(ReportingTriggers::START) {
                due |= UsageReportTrigger::START;
            }
        }
        let t = self.rule.triggers;
        let th = &self.rule.volume_threshold;
        if t.has(ReportingTriggers::VOLTH) && reached(th, &self.vol) {
            due |= UsageReportTrigger::VOLTH;
        }
        if !self.exhausted
            && (t.has(ReportingTriggers::VOLQU) || !self.rule.volume_quota.is_empty())
            && self.quota_exhausted()
        {
            self.exhausted = true;
            due |= UsageReportTrigger::VOLQU;
        }
        due
    }

    /// Checks time-based triggers at `now`; returns the triggers due.
    pub fn tick(&mut self, now: u64) -> u32 {
        let mut due = 0;
        let t = self.rule.triggers;
        if let Some(p) = self.next_period_ns {
            if now >= p {
                due |= UsageReportTrigger::PERIO;
                let period = u64::from(self.rule.measurement_period_s.unwrap_or(1).max(1)) * NS;
                let mut n = p;
                while n <= now {
                    n += period;
                }
                self.next_period_ns = Some(n);
            }
        }
        if t.has(ReportingTriggers::TIMTH) {
            if let Some(th) = self.rule.time_threshold_s {
                if self.active_ns_period >= u64::from(th) * NS {
                    due |= UsageReportTrigger::TIMTH;
                }
            }
        }
        if !self.exhausted && self.rule.time_quota_s.is_some() && self.quota_exhausted() {
            self.exhausted = true;
            due |= UsageReportTrigger::TIMQU;
        }
        if self.traffic_active {
            if let Some(last) = self.last_pkt_ns {
                if now.saturating_sub(last) > self.inactivity_ns() {
                    self.traffic_active = false;
                    if t.has(ReportingTriggers::STOPT) {
                        due |= UsageReportTrigger::STOPT;
                    }
                }
            }
        }
        due
    }

    /// The next time [`UrrState::tick`] may report something.
    pub fn next_deadline(&self, now: u64) -> Option<u64> {
        let mut d = self.next_period_ns;
        let t = self.rule.triggers;
        let timed = t.has(ReportingTriggers::TIMTH)
            || self.rule.time_quota_s.is_some()
            || t.has(ReportingTriggers::STOPT);
        if timed {
            // Re-check once a second while time-based triggers are armed.
            let n = now + NS;
            d = Some(d.map_or(n, |x| x.min(n)));
        }
        d
    }

    /// Builds the report for `trigger` and starts a new measurement period.
    pub fn report(
        &mut self,
        seid: u64,
        trigger: u32,
        now: u64,
        unix_offset_ns: i128,
    ) -> UsageReport {
        let to_unix =
            |ns: u64| -> u64 { ((i128::from(ns) + unix_offset_ns).max(0) / NS as i128) as u64 };
        let m = self.rule.method;
        let r = UsageReport {
            seid,
            urr_id: self.rule.id,
            seqn: self.seqn,
            trigger: UsageReportTrigger(trigger),
            start_time: to_unix(self.period_start_ns),
            end_time: to_unix(now),
            volume: m.volume.then_some(self.vol),
            duration_s: m.duration.then_some((self.active_ns_period / NS) as u32),
            first_packet_time: self.first_pkt_ns.map(to_unix),
            last_packet_time: self.last_pkt_ns.map(to_unix),
            usage_information: 0,
            query_reference: None,
        };
        self.seqn = self.seqn.wrapping_add(1);
        self.vol = VolumeMeasurement::default();
        self.period_start_ns = now;
        self.first_pkt_ns = None;
        self.active_ns_period = 0;
        r
    }
}

fn reached(th: &Volume, v: &VolumeMeasurement) -> bool {
    th.total.is_some_and(|t| v.total_octets >= t)
        || th.uplink.is_some_and(|t| v.uplink_octets >= t)
        || th.downlink.is_some_and(|t| v.downlink_octets >= t)
}

#[cfg(test)]
mod tests {
    use super::*;
    use upf_rules::MeasurementMethod;

    #[test]
    fn bucket_holds_rate_within_five_percent() {
        // 10 Mbit/s, offered 2x the rate in 1000-byte packets over 1 s of
        // simulated time, spread unevenly.
        let kbps = 10_000;
        let mut b = Bucket::new(kbps, 0);
        let mut passed = 0u64;
        let mut t = 0u64;
        let mut i = 0u64;
        while t < NS {
            if b.take(1000, t) {
                passed += 1000;
            }
            // Alternate short and long gaps: 200 us and 600 us (mean 400 us
            // = 2500 pkt/s = 20 Mbit/s offered).
            t += if i.is_multiple_of(2) {
                200_000
            } else {
                600_000
            };
            i += 1;
        }
        let rate_bytes = kbps * 125;
        let err = (passed as f64 - rate_bytes as f64).abs() / rate_bytes as f64;
        assert!(err < 0.05, "passed {passed} bytes vs {rate_bytes}: {err}");
    }

    #[test]
    fn gates_and_rates() {
        let q = Qer {
            id: 1,
            gate_ul: Gate::Closed,
            mbr_dl_kbps: Some(8), // 1000 bytes/s, depth 3200
            ..Default::default()
        };
        let mut s = QerState::new(&q, 0);
        assert_eq!(s.admit(true, 100, 0), Admit::GateClosed);
        assert_eq!(s.admit(false, 3200, 0), Admit::Pass);
        assert_eq!(s.admit(false, 10, 0), Admit::RateExceeded);
        assert_eq!(s.admit(false, 1000, NS), Admit::Pass);
    }

    fn urr(triggers: u32) -> Urr {
        Urr {
            id: 7,
            method: MeasurementMethod {
                volume: true,
                duration: true,
                event: false,
            },
            triggers: ReportingTriggers(triggers),
            ..Default::default()
        }
    }

    #[test]
    fn volume_threshold_and_reset() {
        let mut u = urr(ReportingTriggers::VOLTH);
        u.volume_threshold.total = Some(1000);
        let mut s = UrrState::new(u, 0);
        assert_eq!(s.count(true, 600, 1), 0);
        assert_eq!(s.count(false, 400, 2), UsageReportTrigger::VOLTH);
        let r = s.report(9, UsageReportTrigger::VOLTH, 3, 0);
        let v = r.volume.unwrap();
        assert_eq!(
            (v.total_octets, v.uplink_octets, v.downlink_octets),
            (1000, 600, 400)
        );
        assert_eq!((v.total_packets, r.seqn), (2, 0));
        assert_eq!(s.count(true, 10, 4), 0);
        assert_eq!(s.report(9, 0, 5, 0).seqn, 1);
    }

    #[test]
    fn quota_exhaustion_and_rearm() {
        let mut u = urr(ReportingTriggers::VOLQU);
        u.volume_quota.uplink = Some(1500);
        let mut s = UrrState::new(u.clone(), 0);
        assert_eq!(s.count(true, 1000, 1), 0);
        assert_eq!(s.count(true, 1000, 2), UsageReportTrigger::VOLQU);
        assert!(s.exhausted);
        // Reported once only.
        assert_eq!(s.count(true, 1000, 3), 0);
        // A larger quota re-arms it.
        u.volume_quota.uplink = Some(10_000);
        let mut n = UrrState::new(u, 4);
        n.carry_from(&s);
        assert!(!n.exhausted);
    }

    #[test]
    fn periodic_start_stop_and_duration() {
        let mut u =
            urr(ReportingTriggers::PERIO | ReportingTriggers::START | ReportingTriggers::STOPT);
        u.measurement_period_s = Some(10);
        u.inactivity_detection_time_s = Some(2);
        let mut s = UrrState::new(u, 0);
        assert_eq!(s.count(true, 1, NS), UsageReportTrigger::START);
        assert_eq!(s.count(true, 1, 2 * NS), 0);
        assert_eq!(s.count(true, 1, 3 * NS), 0);
        assert_eq!(s.tick(4 * NS), 0);
        assert_eq!(s.tick(6 * NS), UsageReportTrigger::STOPT);
        assert_eq!(s.tick(10 * NS), UsageReportTrigger::PERIO);
        let r = s.report(1, UsageReportTrigger::PERIO, 10 * NS, 0);
        assert_eq!(r.duration_s, Some(2));
        assert_eq!(s.tick(15 * NS), 0);
        assert_eq!(s.tick(20 * NS), UsageReportTrigger::PERIO);
    }
}
