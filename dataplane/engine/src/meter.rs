//! QER enforcement (gates and token buckets) and URR measurement state.
//!
//! All state here belongs to one session on one worker; nothing is shared.
//! Times are nanoseconds of the caller's monotonic clock.

use upf_rules::report::{UsageReport, UsageReportTrigger, VolumeMeasurement};
use upf_rules::{Gate, MeasurementMethod, Qer, ReportingTriggers, Urr, Volume};

const NS: u64 = 1_000_000_000;

/// 32 bytes of a compiled session's packed per-packet state (see
/// [`crate::compile`]): QERs and URRs live in consecutive cells.
pub type Cell = [u64; 4];

/// What the dataplane keeps of a URR's configuration.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct UrrConf {
    /// URR ID.
    pub id: u32,
    /// What to measure.
    pub method: MeasurementMethod,
    /// When to report.
    pub triggers: ReportingTriggers,
    /// Period for PERIO, seconds.
    pub measurement_period_s: Option<u32>,
    /// Volume threshold for VOLTH.
    pub volume_threshold: Volume,
    /// Volume quota.
    pub volume_quota: Volume,
    /// Time threshold for TIMTH, seconds.
    pub time_threshold_s: Option<u32>,
    /// Time quota, seconds.
    pub time_quota_s: Option<u32>,
    /// Quota holding time, seconds.
    pub quota_holding_time_s: Option<u32>,
    /// Measurement information flags (TS 29.244 8.2.68).
    pub measurement_info: u8,
    /// FAR applied instead of the PDR's FAR once a quota is exhausted.
    pub far_id_for_quota_action: Option<u32>,
}

impl From<&Urr> for UrrConf {
    fn from(u: &Urr) -> Self {
        UrrConf {
            id: u.id,
            method: u.method,
            triggers: u.triggers,
            measurement_period_s: u.measurement_period_s,
            volume_threshold: u.volume_threshold,
            volume_quota: u.volume_quota,
            time_threshold_s: u.time_threshold_s,
            time_quota_s: u.time_quota_s,
            quota_holding_time_s: u.quota_holding_time_s,
            measurement_info: u.measurement_info,
            far_id_for_quota_action: u.far_id_for_quota_action,
        }
    }
}

/// A token bucket in bytes.
///
/// The credit is kept in byte-nanoseconds (bytes × 10^9), so a refill is
/// one multiplication (`elapsed ns × bytes per second`) with no division
/// and no rounding: the long-run rate is exact whatever the packet spacing.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Bucket {
    /// Refill rate, bytes per second.
    pub rate: u64,
    /// Depth, bytes.
    pub depth: u64,
    credit: u64,
    cap: u64,
    last_ns: u64,
}

impl Bucket {
    /// A full bucket for `kbps` kbit/s. The depth is 10 ms of traffic (at
    /// least two full-size packets), so a second's throughput stays within
    /// about a percent of the rate.
    pub fn new(kbps: u64, now: u64) -> Bucket {
        let rate = kbps.saturating_mul(125); // 1000 / 8
        let depth = (rate / 100).max(2 * 1600);
        Self::with_rate(rate, depth, now)
    }

    /// A full bucket of `rate` units per second and `depth` units.
    pub fn with_rate(rate: u64, depth: u64, now: u64) -> Bucket {
        let cap = depth.saturating_mul(NS);
        Bucket {
            rate,
            depth,
            credit: cap,
            cap,
            last_ns: now,
        }
    }

    /// Units available now (rounded down), for tests and admin.
    pub fn available(&self) -> u64 {
        self.credit / NS
    }

    /// Takes `bytes` if available; refills for the time passed first.
    #[inline]
    pub fn take(&mut self, bytes: u64, now: u64) -> bool {
        if now > self.last_ns {
            let add = (now - self.last_ns).saturating_mul(self.rate);
            self.credit = self.credit.saturating_add(add).min(self.cap);
            self.last_ns = now;
        }
        let need = bytes.saturating_mul(NS);
        if self.credit >= need {
            self.credit -= need;
            true
        } else {
            false
        }
    }
}

/// A QER with its buckets (the decoded form of its cells; see
/// [`QerState::encode`] and the per-packet [`qer_admit`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
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

/// A URR with its measurement state (the decoded form of its cells; see
/// [`UrrState::encode`] and the per-packet [`urr_count`]).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct UrrState {
    /// The rule.
    pub rule: UrrConf,
    /// Measurement paused (INAM), cached from the rule.
    pub inactive: bool,
    /// Measure before QoS enforcement (MBQE), cached from the rule.
    pub before_qos: bool,
    /// Octets that may still pass before a volume threshold or quota can
    /// be reached (the per-packet check is one subtraction); refreshed by
    /// the slow path.
    pub budget: i64,
    /// Inactivity detection time, ns (1 s when the rule sets none).
    pub inactivity_ns: u64,
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
    pub fn new(urr: &Urr, now: u64) -> UrrState {
        let rule = UrrConf::from(urr);
        let next_period_ns = if rule.triggers.has(ReportingTriggers::PERIO) {
            rule.measurement_period_s
                .filter(|&p| p > 0)
                .map(|p| now + u64::from(p) * NS)
        } else {
            None
        };
        let inactivity_ns = urr
            .inactivity_detection_time_s
            .map_or(NS, |s| u64::from(s.max(1)) * NS);
        let mut u = UrrState {
            inactive: rule.measurement_info & Urr::INFO_INAM != 0,
            before_qos: rule.measurement_info & Urr::INFO_MBQE != 0,
            budget: 0,
            inactivity_ns,
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
        };
        u.rearm();
        u
    }

    /// Recomputes [`UrrState::budget`]: the smallest distance, in octets,
    /// to any armed volume threshold or quota (a packet moves every
    /// measured total by at most its length).
    pub fn rearm(&mut self) {
        let mut b = u64::MAX;
        let t = self.rule.triggers;
        let v = &self.vol;
        let mut near = |limit: Option<u64>, cur: u64| {
            if let Some(l) = limit {
                b = b.min(l.saturating_sub(cur));
            }
        };
        if t.has(ReportingTriggers::VOLTH) {
            let th = &self.rule.volume_threshold;
            near(th.total, v.total_octets);
            near(th.uplink, v.uplink_octets);
            near(th.downlink, v.downlink_octets);
        }
        if !self.exhausted {
            let q = &self.rule.volume_quota;
            near(q.total, self.used_total);
            near(q.uplink, self.used_ul);
            near(q.downlink, self.used_dl);
        }
        self.budget = i64::try_from(b).unwrap_or(i64::MAX);
    }

    /// Takes over the measurements of `old` (same URR ID, rule updated).
    /// Copies field by field: nothing is allocated (this runs on the worker).
    pub fn carry_from(&mut self, old: &UrrState) {
        let period_changed = self.rule.measurement_period_s != old.rule.measurement_period_s
            || self.rule.triggers.has(ReportingTriggers::PERIO)
                != old.rule.triggers.has(ReportingTriggers::PERIO);
        self.vol = old.vol;
        self.used_total = old.used_total;
        self.used_ul = old.used_ul;
        self.used_dl = old.used_dl;
        self.period_start_ns = old.period_start_ns;
        self.first_pkt_ns = old.first_pkt_ns;
        self.last_pkt_ns = old.last_pkt_ns;
        self.active_ns_period = old.active_ns_period;
        self.active_ns_total = old.active_ns_total;
        self.seqn = old.seqn;
        self.traffic_active = old.traffic_active;
        if !period_changed {
            self.next_period_ns = old.next_period_ns;
        }
        // A new quota re-arms the URR (TS 29.244 5.2.2.3.1).
        self.exhausted = self.quota_exhausted();
        self.rearm();
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

    /// Counts one packet; returns the triggers of reports now due (0 if none).
    #[inline]
    pub fn count(&mut self, uplink: bool, bytes: u64, now: u64) -> u32 {
        if self.inactive {
            return 0;
        }
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
            if gap <= self.inactivity_ns {
                self.active_ns_period += gap;
                self.active_ns_total += gap;
            }
        }
        if self.first_pkt_ns.is_none() {
            self.first_pkt_ns = Some(now);
        }
        self.last_pkt_ns = Some(now);
        let mut due = 0;
        if !self.traffic_active {
            due |= self.start_of_traffic();
        }
        self.budget -= bytes as i64;
        if self.budget <= 0 {
            due |= self.volume_limits();
        }
        due
    }

    #[cold]
    fn start_of_traffic(&mut self) -> u32 {
        self.traffic_active = true;
        if self.rule.triggers.has(ReportingTriggers::START) {
            UsageReportTrigger::START
        } else {
            0
        }
    }

    /// The slow path of [`UrrState::count`]: a volume threshold or quota
    /// may have been reached.
    #[cold]
    fn volume_limits(&mut self) -> u32 {
        let mut due = 0;
        let t = self.rule.triggers;
        if t.has(ReportingTriggers::VOLTH) && reached(&self.rule.volume_threshold, &self.vol) {
            due |= UsageReportTrigger::VOLTH;
        }
        if !self.exhausted
            && (t.has(ReportingTriggers::VOLQU) || !self.rule.volume_quota.is_empty())
            && self.quota_exhausted()
        {
            self.exhausted = true;
            due |= UsageReportTrigger::VOLQU;
        }
        self.rearm();
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
                if now.saturating_sub(last) > self.inactivity_ns {
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
        self.rearm();
        r
    }
}

// ----------------------------------------------------------------------
// Packed cells
// ----------------------------------------------------------------------

/// Cells of one QER: cell 0 holds the uplink bucket, cell 1 the downlink
/// one, each as `[rate | flags << 48, depth | id half << 48, credit, last]`
/// (rate in bytes/s, depth in bytes, credit in byte-nanoseconds).
pub const QER_CELLS: usize = 2;
const LOW48: u64 = (1 << 48) - 1;
const Q_OPEN: u64 = 1;
const Q_LIMITED: u64 = 2;
const Q_HAS_QFI: u64 = 4;
const Q_RQI: u64 = 8;
const Q_HAS_PPI: u64 = 16;

impl Bucket {
    fn encode(b: Option<&Bucket>, flags: u64, id_half: u64) -> Cell {
        match b {
            Some(b) => [
                b.rate.min(LOW48) | ((flags | Q_LIMITED) << 48),
                b.depth.min(LOW48) | (id_half << 48),
                b.credit,
                b.last_ns,
            ],
            None => [flags << 48, id_half << 48, 0, 0],
        }
    }

    fn decode(c: &Cell) -> Option<Bucket> {
        if (c[0] >> 48) & Q_LIMITED == 0 {
            return None;
        }
        let depth = c[1] & LOW48;
        Some(Bucket {
            rate: c[0] & LOW48,
            depth,
            credit: c[2],
            cap: depth.saturating_mul(NS),
            last_ns: c[3],
        })
    }
}

impl QerState {
    /// The QER's cells.
    pub fn encode(&self) -> [Cell; QER_CELLS] {
        let mut f0 = u64::from(self.ul_open) * Q_OPEN;
        if let Some(q) = self.qfi {
            f0 |= Q_HAS_QFI | (u64::from(q & 0x3f) << 8);
        }
        if self.rqi {
            f0 |= Q_RQI;
        }
        if let Some(p) = self.ppi {
            f0 |= Q_HAS_PPI | (u64::from(p & 7) << 5);
        }
        let f1 = u64::from(self.dl_open) * Q_OPEN;
        [
            Bucket::encode(self.ul.as_ref(), f0, u64::from(self.id & 0xffff)),
            Bucket::encode(self.dl.as_ref(), f1, u64::from(self.id >> 16)),
        ]
    }

    /// The QER from its cells.
    pub fn decode(c: &[Cell; QER_CELLS]) -> QerState {
        let f0 = c[0][0] >> 48;
        let f1 = c[1][0] >> 48;
        QerState {
            id: ((c[0][1] >> 48) | ((c[1][1] >> 48) << 16)) as u32,
            ul_open: f0 & Q_OPEN != 0,
            dl_open: f1 & Q_OPEN != 0,
            qfi: (f0 & Q_HAS_QFI != 0).then_some(((f0 >> 8) & 0x3f) as u8),
            rqi: f0 & Q_RQI != 0,
            ppi: (f0 & Q_HAS_PPI != 0).then_some(((f0 >> 5) & 7) as u8),
            ul: Bucket::decode(&c[0]),
            dl: Bucket::decode(&c[1]),
        }
    }
}

/// Gate and rate check for one packet, on the QER's cell of the packet's
/// direction (cell 0 of [`QerState::encode`] uplink, cell 1 downlink): the
/// per-packet form of [`QerState::admit`].
#[inline(always)]
pub fn qer_admit(w: &mut Cell, bytes: u64, now: u64) -> Admit {
    let flags = w[0] >> 48;
    if flags & Q_OPEN == 0 {
        return Admit::GateClosed;
    }
    if flags & Q_LIMITED == 0 {
        return Admit::Pass;
    }
    if now > w[3] {
        let cap = (w[1] & LOW48).saturating_mul(NS);
        let add = (now - w[3]).saturating_mul(w[0] & LOW48);
        w[2] = w[2].saturating_add(add).min(cap);
        w[3] = now;
    }
    let need = bytes.saturating_mul(NS);
    if w[2] >= need {
        w[2] -= need;
        Admit::Pass
    } else {
        Admit::RateExceeded
    }
}

/// Cells of one URR. Cells 0 and 1 are all a packet touches (one cache
/// line when cell 0 starts one):
/// `[ul octets, dl octets, ul packets, dl packets]` (since the last report),
/// `[budget, last packet, active ns this period, flags | inactivity ns << 9]`;
/// cell 2 holds what the per-packet counters imply,
/// `[used ul - ul octets, used dl - dl octets, active ns in all - this period, first packet]`
/// (wrapping differences: the volume and active time since installation
/// follow the per-period counters without a write of their own), and
/// cells 3-5 the configuration and the reporting state.
pub const URR_CELLS: usize = 6;
/// The leading cells of a URR that a packet reads and writes.
pub const URR_HOT_CELLS: usize = 2;
/// Bits of the flags word below the inactivity detection time.
const U_FLAG_BITS: u32 = 9;
const NONE64: u64 = u64::MAX;
const NONE32: u32 = u32::MAX;
const U_INACTIVE: u64 = 1;
const U_BEFORE_QOS: u64 = 2;
const U_ACTIVE: u64 = 4;
const U_EXHAUSTED: u64 = 8;
const U_QUOTA_FAR: u64 = 16;
const U_DURATION: u64 = 32;
const U_VOLUME: u64 = 64;
const U_EVENT: u64 = 128;
/// The first packet of the period has been seen (`first packet` is set).
const U_FIRST: u64 = 256;

fn opt64(v: Option<u64>) -> u64 {
    v.unwrap_or(NONE64)
}

fn get64(v: u64) -> Option<u64> {
    (v != NONE64).then_some(v)
}

fn opt32(v: Option<u32>) -> u64 {
    u64::from(v.unwrap_or(NONE32))
}

fn get32(v: u64) -> Option<u32> {
    let v = v as u32;
    (v != NONE32).then_some(v)
}

impl UrrState {
    /// The URR's cells.
    pub fn encode(&self) -> [Cell; URR_CELLS] {
        let r = &self.rule;
        let v = &self.vol;
        let bit = |on: bool, b: u64| if on { b } else { 0 };
        let flags = bit(self.inactive, U_INACTIVE)
            | bit(self.before_qos, U_BEFORE_QOS)
            | bit(self.traffic_active, U_ACTIVE)
            | bit(self.exhausted, U_EXHAUSTED)
            | bit(r.far_id_for_quota_action.is_some(), U_QUOTA_FAR)
            | bit(self.first_pkt_ns.is_some(), U_FIRST);
        let method = bit(r.method.duration, U_DURATION)
            | bit(r.method.volume, U_VOLUME)
            | bit(r.method.event, U_EVENT);
        [
            [
                v.uplink_octets,
                v.downlink_octets,
                v.uplink_packets,
                v.downlink_packets,
            ],
            [
                self.budget as u64,
                opt64(self.last_pkt_ns),
                self.active_ns_period,
                flags | method | (self.inactivity_ns.min(u64::MAX >> U_FLAG_BITS) << U_FLAG_BITS),
            ],
            [
                self.used_ul.wrapping_sub(v.uplink_octets),
                self.used_dl.wrapping_sub(v.downlink_octets),
                self.active_ns_total.wrapping_sub(self.active_ns_period),
                opt64(self.first_pkt_ns),
            ],
            [
                u64::from(r.id)
                    | (u64::from(r.triggers.0 & 0xff_ffff) << 32)
                    | (u64::from(r.measurement_info) << 56),
                opt32(r.measurement_period_s) | (opt32(r.time_threshold_s) << 32),
                opt32(r.time_quota_s) | (opt32(r.quota_holding_time_s) << 32),
                opt32(r.far_id_for_quota_action) | (u64::from(self.seqn) << 32),
            ],
            [
                opt64(r.volume_threshold.total),
                opt64(r.volume_threshold.uplink),
                opt64(r.volume_threshold.downlink),
                opt64(r.volume_quota.total),
            ],
            [
                opt64(r.volume_quota.uplink),
                opt64(r.volume_quota.downlink),
                self.period_start_ns,
                opt64(self.next_period_ns),
            ],
        ]
    }

    /// The URR from its cells.
    pub fn decode(c: &[Cell; URR_CELLS]) -> UrrState {
        let flags = c[1][3] & ((1 << U_FLAG_BITS) - 1);
        let rule = UrrConf {
            id: c[3][0] as u32,
            method: MeasurementMethod {
                duration: flags & U_DURATION != 0,
                volume: flags & U_VOLUME != 0,
                event: flags & U_EVENT != 0,
            },
            triggers: ReportingTriggers(((c[3][0] >> 32) & 0xff_ffff) as u32),
            measurement_period_s: get32(c[3][1]),
            volume_threshold: Volume {
                total: get64(c[4][0]),
                uplink: get64(c[4][1]),
                downlink: get64(c[4][2]),
            },
            volume_quota: Volume {
                total: get64(c[4][3]),
                uplink: get64(c[5][0]),
                downlink: get64(c[5][1]),
            },
            time_threshold_s: get32(c[3][1] >> 32),
            time_quota_s: get32(c[3][2]),
            quota_holding_time_s: get32(c[3][2] >> 32),
            measurement_info: (c[3][0] >> 56) as u8,
            far_id_for_quota_action: get32(c[3][3]),
        };
        let (ul, dl, ulp, dlp) = (c[0][0], c[0][1], c[0][2], c[0][3]);
        let (used_ul, used_dl) = (ul.wrapping_add(c[2][0]), dl.wrapping_add(c[2][1]));
        UrrState {
            rule,
            inactive: flags & U_INACTIVE != 0,
            before_qos: flags & U_BEFORE_QOS != 0,
            budget: c[1][0] as i64,
            inactivity_ns: c[1][3] >> U_FLAG_BITS,
            vol: VolumeMeasurement {
                total_octets: ul + dl,
                uplink_octets: ul,
                downlink_octets: dl,
                total_packets: ulp + dlp,
                uplink_packets: ulp,
                downlink_packets: dlp,
            },
            used_total: used_ul.wrapping_add(used_dl),
            used_ul,
            used_dl,
            period_start_ns: c[5][2],
            first_pkt_ns: get64(c[2][3]),
            last_pkt_ns: get64(c[1][1]),
            active_ns_period: c[1][2],
            active_ns_total: c[1][2].wrapping_add(c[2][2]),
            seqn: (c[3][3] >> 32) as u32,
            exhausted: flags & U_EXHAUSTED != 0,
            traffic_active: flags & U_ACTIVE != 0,
            next_period_ns: get64(c[5][3]),
        }
    }
}

/// The URR's ID, from its cells.
#[inline]
pub fn urr_id(c: &[Cell; URR_CELLS]) -> u32 {
    c[3][0] as u32
}

/// Measure before QoS enforcement (MBQE), from the cells.
#[inline(always)]
pub fn urr_before_qos(c: &[Cell; URR_CELLS]) -> bool {
    c[1][3] & U_BEFORE_QOS != 0
}

/// A quota is exhausted and no FAR for quota action replaces the PDR's:
/// the packet must be dropped.
#[inline(always)]
pub fn urr_blocks(c: &[Cell; URR_CELLS]) -> bool {
    c[1][3] & (U_EXHAUSTED | U_QUOTA_FAR) == U_EXHAUSTED
}

/// A quota is exhausted and a FAR for quota action applies.
#[inline(always)]
pub fn urr_quota_far(c: &[Cell; URR_CELLS]) -> Option<u32> {
    (c[1][3] & (U_EXHAUSTED | U_QUOTA_FAR) == U_EXHAUSTED | U_QUOTA_FAR)
        .then(|| get32(c[3][3]))
        .flatten()
}

/// Counts one packet on the URR's cells (the per-packet form of
/// [`UrrState::count`], with the same result); returns the triggers of
/// reports now due.
#[inline(always)]
pub fn urr_count(c: &mut [Cell; URR_CELLS], uplink: bool, bytes: u64, now: u64) -> u32 {
    let flags = c[1][3];
    if flags & U_INACTIVE != 0 {
        return 0;
    }
    // Cells 0 and 1 only: the totals since installation follow (cell 2).
    let d = usize::from(!uplink);
    c[0][d] += bytes;
    c[0][2 + d] += 1;
    let last = c[1][1];
    if last != NONE64 {
        let gap = now.saturating_sub(last);
        if gap <= flags >> U_FLAG_BITS {
            c[1][2] += gap;
        }
    }
    c[1][1] = now;
    let budget = (c[1][0] as i64).wrapping_sub(bytes as i64);
    c[1][0] = budget as u64;
    if flags & (U_ACTIVE | U_FIRST) != U_ACTIVE | U_FIRST || budget <= 0 {
        return urr_count_slow(c, flags, now);
    }
    0
}

/// First packet of the period, start of traffic, or a volume threshold or
/// quota possibly reached.
#[cold]
#[inline(never)]
fn urr_count_slow(c: &mut [Cell; URR_CELLS], flags: u64, now: u64) -> u32 {
    let mut s = UrrState::decode(c);
    if s.first_pkt_ns.is_none() {
        s.first_pkt_ns = Some(now);
    }
    let mut due = 0;
    if flags & U_ACTIVE == 0 {
        due |= s.start_of_traffic();
    }
    if s.budget <= 0 {
        due |= s.volume_limits();
    }
    *c = s.encode();
    due
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
    fn cells_round_trip_and_agree() {
        let q = Qer {
            id: 0x1234_5678,
            gate_dl: Gate::Closed,
            mbr_ul_kbps: Some(64),
            qfi: Some(9),
            rqi: true,
            ppi: Some(5),
            ..Default::default()
        };
        let mut st = QerState::new(&q, 3);
        let mut c = st.encode();
        assert_eq!(QerState::decode(&c), st);
        for (i, t) in [(0u64, 10u64), (1, 10_000), (2, 5_000_000), (3, 5_000_000)] {
            let len = 900 + i * 200;
            assert_eq!(qer_admit(&mut c[0], len, t), st.admit(true, len, t));
            assert_eq!(qer_admit(&mut c[1], len, t), st.admit(false, len, t));
            assert_eq!(QerState::decode(&c), st);
        }
        let mut u = urr(ReportingTriggers::VOLTH | ReportingTriggers::START);
        u.volume_threshold.total = Some(5000);
        u.volume_quota.uplink = Some(7000);
        u.far_id_for_quota_action = Some(9);
        u.inactivity_detection_time_s = Some(3);
        let mut s = UrrState::new(&u, 0);
        let mut c = s.encode();
        assert_eq!(UrrState::decode(&c), s);
        for k in 0..40u64 {
            let up = k % 3 != 0;
            let now = k * 700_000_000;
            let a = urr_count(&mut c, up, 400, now);
            let b = s.count(up, 400, now);
            assert_eq!(a, b, "packet {k}");
            if a != 0 {
                let ra = UrrState::decode(&c).report(1, a, now, 0);
                let rb = s.report(1, b, now, 0);
                assert_eq!(ra, rb);
                // The report reset the period in `s`; do the same to the cells.
                let mut d = UrrState::decode(&c);
                d.report(1, a, now, 0);
                c = d.encode();
            }
            assert_eq!(UrrState::decode(&c), s, "packet {k}");
        }
        assert!(s.exhausted);
        assert_eq!(urr_quota_far(&c), Some(9));
        assert!(!urr_blocks(&c));
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
        let mut s = UrrState::new(&u, 0);
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
        let mut s = UrrState::new(&u, 0);
        assert_eq!(s.count(true, 1000, 1), 0);
        assert_eq!(s.count(true, 1000, 2), UsageReportTrigger::VOLQU);
        assert!(s.exhausted);
        // Reported once only.
        assert_eq!(s.count(true, 1000, 3), 0);
        // A larger quota re-arms it.
        u.volume_quota.uplink = Some(10_000);
        let mut n = UrrState::new(&u, 4);
        n.carry_from(&s);
        assert!(!n.exhausted);
    }

    #[test]
    fn periodic_start_stop_and_duration() {
        let mut u =
            urr(ReportingTriggers::PERIO | ReportingTriggers::START | ReportingTriggers::STOPT);
        u.measurement_period_s = Some(10);
        u.inactivity_detection_time_s = Some(2);
        let mut s = UrrState::new(&u, 0);
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

    #[derive(Clone, Debug)]
    enum Step {
        Packet { up: bool, bytes: u64, dt: u64 },
        Tick { dt: u64 },
        Report,
        NewQuota { ul: Option<u64> },
    }

    fn step() -> impl proptest::strategy::Strategy<Value = Step> {
        use proptest::prelude::*;
        prop_oneof![
            8 => (any::<bool>(), 1u64..3000, 0u64..3 * NS)
                .prop_map(|(up, bytes, dt)| Step::Packet { up, bytes, dt }),
            1 => (0u64..5 * NS).prop_map(|dt| Step::Tick { dt }),
            1 => Just(Step::Report),
            1 => proptest::option::of(1u64..50_000).prop_map(|ul| Step::NewQuota { ul }),
        ]
    }

    proptest::proptest! {
        /// The per-packet form on the cells (two of them written per
        /// packet, the totals since installation implied) keeps exactly the
        /// state of [`UrrState::count`], through reports, ticks and rule
        /// updates that carry the measurements over.
        #[test]
        fn urr_cells_follow_the_state(
            triggers in 0u32..(1 << 16),
            th_total in proptest::option::of(1u64..40_000),
            th_dl in proptest::option::of(1u64..40_000),
            q_total in proptest::option::of(1u64..80_000),
            q_ul in proptest::option::of(1u64..80_000),
            time_quota in proptest::option::of(1u32..20),
            inact in proptest::option::of(1u32..4),
            info in 0u8..8,
            steps in proptest::collection::vec(step(), 1..120),
        ) {
            let mut u = urr(triggers);
            u.volume_threshold.total = th_total;
            u.volume_threshold.downlink = th_dl;
            u.volume_quota.total = q_total;
            u.volume_quota.uplink = q_ul;
            u.time_quota_s = time_quota;
            u.inactivity_detection_time_s = inact;
            u.measurement_info = info;
            let mut s = UrrState::new(&u, 0);
            let mut c = s.encode();
            let mut now = 0u64;
            for (k, st) in steps.into_iter().enumerate() {
                match st {
                    Step::Packet { up, bytes, dt } => {
                        now += dt;
                        let a = urr_count(&mut c, up, bytes, now);
                        let b = s.count(up, bytes, now);
                        proptest::prop_assert_eq!(a, b, "step {}", k);
                    }
                    Step::Tick { dt } => {
                        now += dt;
                        let mut d = UrrState::decode(&c);
                        let a = d.tick(now);
                        c = d.encode();
                        proptest::prop_assert_eq!(a, s.tick(now), "step {}", k);
                    }
                    Step::Report => {
                        let mut d = UrrState::decode(&c);
                        let ra = d.report(1, 1, now, 0);
                        c = d.encode();
                        proptest::prop_assert_eq!(ra, s.report(1, 1, now, 0), "step {}", k);
                    }
                    Step::NewQuota { ul } => {
                        u.volume_quota.uplink = ul;
                        let mut n = UrrState::new(&u, now);
                        n.carry_from(&UrrState::decode(&c));
                        c = n.encode();
                        let mut m = UrrState::new(&u, now);
                        m.carry_from(&s);
                        s = m;
                    }
                }
                proptest::prop_assert_eq!(UrrState::decode(&c), s, "step {}", k);
                proptest::prop_assert_eq!(urr_blocks(&c), s.exhausted && s.rule.far_id_for_quota_action.is_none());
            }
        }
    }
}
