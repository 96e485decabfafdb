//! The simulated SMF, sans I/O: association, establishment at a target
//! rate, hold with churn, deletion, release; the answers to the UPF's own
//! requests (heartbeats, session reports, node reports). The caller passes
//! the time and every datagram, and sends what it is given.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use pfcp_codec::ie::{CauseIe, FTeid, NodeId, RecoveryTimeStamp};
use pfcp_codec::msg::{self as m, mt};
use pfcp_codec::{Message, Pdu};

use crate::msgs::{self, ChurnKind, Profile, Refusal};
use crate::report::{Failure, LatencyHist, Phase, Report, Usage, UsageRecord};
use crate::sessions::{Seid, SessionEntry, SessionsFile};
use crate::txn::{Expiry, Kind, Transactions};

const MAX_FAILURES: usize = 50;
const NS: u64 = 1_000_000_000;

/// The churn phase.
#[derive(Clone, Debug, PartialEq)]
pub struct Churn {
    /// Session indexes that are modified (sorted, unique).
    pub sessions: Vec<u32>,
    /// Modifications per second (0: as fast as the window allows).
    pub rate: f64,
    /// What each modification changes.
    pub kind: ChurnKind,
    /// Start, after the hold began (ns).
    pub start_ns: u64,
    /// How long it runs (ns); `None`: until the hold ends.
    pub duration_ns: Option<u64>,
}

/// The settings of a run.
#[derive(Clone, Debug)]
pub struct Config {
    /// Sessions to establish.
    pub sessions: u32,
    /// Establishments per second (0: as fast as the window allows).
    pub rate: f64,
    /// Session requests outstanding at most.
    pub window: usize,
    /// What each session looks like.
    pub profile: Profile,
    /// Our Node ID.
    pub node_id: NodeId,
    /// Our address in the CP F-SEID.
    pub local_ip: IpAddr,
    /// CP SEID of session 0 (session `i` gets `base + i`).
    pub cp_seid_base: u64,
    /// T1 (ns).
    pub t1_ns: u64,
    /// N1.
    pub n1: u32,
    /// How long sessions stay up after the last establishment (ns).
    pub hold_ns: u64,
    /// Churn during the hold.
    pub churn: Option<Churn>,
    /// Delete the sessions at the end.
    pub delete: bool,
    /// Deletions per second (0: window).
    pub delete_rate: f64,
    /// Release the association at the end.
    pub release: bool,
    /// Send our own heartbeats this often (ns).
    pub heartbeat_ns: Option<u64>,
    /// Keep every usage report for the JSON output.
    pub usage_records: bool,
    /// Our Recovery Time Stamp (NTP seconds).
    pub recovery: u32,
}

/// Where the run is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Stage {
    /// Waiting for the Association Setup Response.
    Associating,
    /// Establishing sessions.
    Establishing,
    /// Sessions up (churn runs here).
    Holding,
    /// Deleting sessions.
    Deleting,
    /// Releasing the association.
    Releasing,
    /// Finished.
    Done,
}

/// Something the caller should act on.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Event {
    /// Every establishment finished: the sessions file can be written.
    Established,
    /// The churn phase started.
    ChurnStarted,
    /// The churn phase ended.
    ChurnEnded,
    /// Deletions started.
    Deleting,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum St {
    Idle,
    Pending,
    Up,
    Failed,
    Deleted,
}

#[derive(Clone, Debug)]
struct Sess {
    st: St,
    up_seid: u64,
    fteid: FTeid,
    ue_v4: Option<Ipv4Addr>,
    ue_v6: Option<(Ipv6Addr, u8)>,
    alt: bool,
    busy: bool,
    churn: bool,
}

/// Paces requests at a rate.
#[derive(Clone, Copy, Debug)]
struct Pacer {
    start_ns: u64,
    rate: f64,
    issued: u64,
}

impl Pacer {
    fn new(start_ns: u64, rate: f64) -> Self {
        Pacer {
            start_ns,
            rate,
            issued: 0,
        }
    }

    /// Requests allowed now.
    fn allowed(&self, now_ns: u64) -> u64 {
        if self.rate <= 0.0 {
            return u64::MAX;
        }
        let el = now_ns.saturating_sub(self.start_ns) as f64 / NS as f64;
        let due = (el * self.rate).floor() as u64 + 1;
        due.saturating_sub(self.issued)
    }

    /// When the next request is allowed.
    fn next_ns(&self) -> u64 {
        if self.rate <= 0.0 {
            return self.start_ns;
        }
        self.start_ns + ((self.issued as f64) / self.rate * NS as f64) as u64
    }
}

#[derive(Default)]
struct PhaseAcc {
    p: Phase,
    hist: LatencyHist,
    first_ns: Option<u64>,
    last_ns: u64,
}

impl PhaseAcc {
    fn started(&mut self, now: u64) {
        self.p.requested += 1;
        self.first_ns.get_or_insert(now);
    }

    fn finish(&mut self) -> Phase {
        let mut p = self.p.clone();
        if let Some(f) = self.first_ns {
            p.duration_s = self.last_ns.saturating_sub(f) as f64 / NS as f64;
            if p.duration_s > 0.0 {
                p.achieved_rate = p.accepted as f64 / p.duration_s;
            }
        }
        p.latency = self.hist.summary();
        p
    }
}

/// The simulated SMF.
pub struct Sim {
    cfg: Config,
    txn: Transactions,
    stage: Stage,
    sess: Vec<Sess>,
    next_est: u32,
    est_pacer: Pacer,
    hold_start_ns: u64,
    churn_pacer: Option<Pacer>,
    churn_cursor: usize,
    churn_state: u8,
    del_cursor: u32,
    del_pacer: Pacer,
    next_hb_ns: u64,
    stop: bool,
    upf_node: Option<NodeId>,
    upf_recovery: Option<u32>,
    assoc: PhaseAcc,
    est: PhaseAcc,
    modif: PhaseAcc,
    del: PhaseAcc,
    report: Report,
    events: Vec<Event>,
    started_ns: u64,
    now_ns: u64,
    timed_out: Vec<Expiry>,
}

impl Sim {
    /// A simulator starting at `now_ns`; the first [`Sim::tick`] sends the
    /// Association Setup Request.
    pub fn new(cfg: Config, now_ns: u64) -> Sim {
        let mut churn_set = vec![false; cfg.sessions as usize];
        if let Some(c) = &cfg.churn {
            for &i in &c.sessions {
                if let Some(x) = churn_set.get_mut(i as usize) {
                    *x = true;
                }
            }
        }
        let sess = churn_set
            .into_iter()
            .map(|churn| Sess {
                st: St::Idle,
                up_seid: 0,
                fteid: FTeid::default(),
                ue_v4: None,
                ue_v6: None,
                alt: false,
                busy: false,
                churn,
            })
            .collect();
        let mut report = Report {
            tool: "upf-smfsim",
            version: env!("CARGO_PKG_VERSION"),
            sessions: cfg.sessions,
            ..Default::default()
        };
        report.churn_sessions = cfg.churn.as_ref().map_or(0, |c| {
            c.sessions.iter().filter(|&&i| i < cfg.sessions).count() as u32
        });
        Sim {
            txn: Transactions::new(cfg.t1_ns, cfg.n1),
            stage: Stage::Associating,
            sess,
            next_est: 0,
            est_pacer: Pacer::new(now_ns, cfg.rate),
            hold_start_ns: 0,
            churn_pacer: None,
            churn_cursor: 0,
            churn_state: 0,
            del_cursor: 0,
            del_pacer: Pacer::new(now_ns, cfg.delete_rate),
            next_hb_ns: now_ns + cfg.heartbeat_ns.unwrap_or(u64::MAX / 4),
            stop: false,
            upf_node: None,
            upf_recovery: None,
            assoc: PhaseAcc::default(),
            est: PhaseAcc::default(),
            modif: PhaseAcc::default(),
            del: PhaseAcc::default(),
            report,
            events: Vec::new(),
            started_ns: now_ns,
            now_ns,
            timed_out: Vec::new(),
            cfg,
        }
    }

    /// Where the run is.
    pub fn stage(&self) -> Stage {
        self.stage
    }

    /// True when finished.
    pub fn done(&self) -> bool {
        self.stage == Stage::Done
    }

    /// Events since the last call.
    pub fn take_events(&mut self) -> Vec<Event> {
        std::mem::take(&mut self.events)
    }

    /// Asks the run to wind down: no new establishments or modifications;
    /// established sessions are deleted (if deletion is on).
    pub fn stop(&mut self) {
        self.stop = true;
    }

    /// The CP SEID of session `i`.
    pub fn cp_seid(&self, i: u32) -> u64 {
        self.cfg.cp_seid_base.wrapping_add(u64::from(i))
    }

    fn index_of(&self, cp_seid: u64) -> Option<u32> {
        let i = cp_seid.wrapping_sub(self.cfg.cp_seid_base);
        (i < u64::from(self.cfg.sessions)).then_some(i as u32)
    }

    fn send(
        &mut self,
        now: u64,
        kind: Kind,
        seid: Option<u64>,
        msg: Message,
        out: &mut Vec<Vec<u8>>,
    ) {
        let seq = self.txn.next_seq();
        let t = msg.msg_type();
        let pdu = match seid {
            Some(s) => Pdu::session(seq, s, msg),
            None => Pdu::node(seq, msg),
        };
        let data = pdu.to_bytes();
        out.push(data.clone());
        self.txn.sent(now, seq, kind, t, data);
    }

    fn fail(
        &mut self,
        procedure: &'static str,
        session: Option<u32>,
        cause: Option<u8>,
        detail: String,
    ) {
        if self.report.failures.len() < MAX_FAILURES {
            self.report.failures.push(Failure {
                procedure,
                session,
                cause,
                detail,
            });
        } else {
            self.report.failures_not_listed += 1;
        }
    }

    /// The next time [`Sim::tick`] has something to do.
    pub fn next_wakeup(&self) -> u64 {
        let mut t = self.txn.next_due().unwrap_or(u64::MAX);
        t = t.min(self.next_hb_ns);
        match self.stage {
            Stage::Establishing if self.next_est < self.cfg.sessions => {
                t = t.min(self.est_pacer.next_ns())
            }
            Stage::Holding => {
                t = t.min(self.hold_end_ns());
                if let Some(p) = &self.churn_pacer {
                    t = t.min(p.next_ns());
                } else if let Some(c) = &self.cfg.churn {
                    t = t.min(self.hold_start_ns + c.start_ns);
                }
            }
            Stage::Deleting => t = t.min(self.del_pacer.next_ns()),
            _ => {}
        }
        t
    }

    fn hold_end_ns(&self) -> u64 {
        let churn_end = self
            .cfg
            .churn
            .as_ref()
            .map_or(0, |c| c.start_ns.saturating_add(c.duration_ns.unwrap_or(0)));
        self.hold_start_ns
            .saturating_add(self.cfg.hold_ns.max(churn_end))
    }

    fn churn_end_ns(&self) -> u64 {
        match &self.cfg.churn {
            Some(c) => match c.duration_ns {
                Some(d) => self.hold_start_ns + c.start_ns + d,
                None => self.hold_end_ns(),
            },
            None => 0,
        }
    }

    /// Advances the run at `now_ns`; datagrams to send go to `out`.
    pub fn tick(&mut self, now_ns: u64, out: &mut Vec<Vec<u8>>) {
        self.now_ns = now_ns;
        let mut exp = std::mem::take(&mut self.timed_out);
        self.txn.expire(now_ns, &mut exp);
        for e in exp.drain(..) {
            match e {
                Expiry::Retransmit(d) => out.push(d),
                Expiry::Failed(k) => self.timed_out_request(k),
            }
        }
        self.timed_out = exp;
        if now_ns >= self.next_hb_ns
            && self.stage != Stage::Associating
            && self.stage != Stage::Done
        {
            self.next_hb_ns = now_ns + self.cfg.heartbeat_ns.unwrap_or(u64::MAX / 4);
            let m = msgs::heartbeat_request(self.cfg.recovery);
            self.report.node.heartbeats_sent += 1;
            self.send(now_ns, Kind::Heartbeat, None, m, out);
        }
        loop {
            let before = self.stage;
            self.step(now_ns, out);
            if self.stage == before {
                break;
            }
        }
    }

    fn session_outstanding(&self) -> usize {
        self.txn.sessions_outstanding()
    }

    fn step(&mut self, now: u64, out: &mut Vec<Vec<u8>>) {
        match self.stage {
            Stage::Associating => {
                if self.assoc.p.requested == 0 {
                    self.assoc.started(now);
                    let m = msgs::association_setup(&self.cfg.node_id, self.cfg.recovery);
                    self.send(now, Kind::Association, None, m, out);
                }
            }
            Stage::Establishing => {
                if !self.stop {
                    let mut allowed = self.est_pacer.allowed(now);
                    while allowed > 0
                        && self.next_est < self.cfg.sessions
                        && self.session_outstanding() < self.cfg.window
                    {
                        let i = self.next_est;
                        self.next_est += 1;
                        self.est_pacer.issued += 1;
                        allowed -= 1;
                        self.est.started(now);
                        let req = msgs::establishment(
                            &self.cfg.profile,
                            i,
                            self.cp_seid(i),
                            self.cfg.local_ip,
                            &self.cfg.node_id,
                        );
                        if let Some(s) = self.sess.get_mut(i as usize) {
                            s.st = St::Pending;
                        }
                        self.send(
                            now,
                            Kind::Establish(i),
                            Some(0),
                            Message::SessionEstablishmentRequest(req),
                            out,
                        );
                    }
                }
                let all_sent = self.stop || self.next_est >= self.cfg.sessions;
                if all_sent && self.session_outstanding() == 0 {
                    self.events.push(Event::Established);
                    self.hold_start_ns = now;
                    self.stage = if self.stop {
                        self.start_deleting(now)
                    } else {
                        Stage::Holding
                    };
                }
            }
            Stage::Holding => self.hold(now, out),
            Stage::Deleting => {
                let mut allowed = self.del_pacer.allowed(now);
                while allowed > 0
                    && self.del_cursor < self.cfg.sessions
                    && self.session_outstanding() < self.cfg.window
                {
                    let i = self.del_cursor;
                    self.del_cursor += 1;
                    let Some(s) = self.sess.get_mut(i as usize) else {
                        continue;
                    };
                    if s.st != St::Up {
                        continue;
                    }
                    s.busy = true;
                    let up = s.up_seid;
                    self.del_pacer.issued += 1;
                    allowed -= 1;
                    self.del.started(now);
                    self.send(now, Kind::Delete(i), Some(up), msgs::deletion(), out);
                }
                if self.del_cursor >= self.cfg.sessions && self.session_outstanding() == 0 {
                    self.stage = self.start_releasing(now, out);
                }
            }
            Stage::Releasing => {
                if self.txn.releases_outstanding() == 0 {
                    self.stage = Stage::Done;
                }
            }
            Stage::Done => {}
        }
    }

    fn start_deleting(&mut self, now: u64) -> Stage {
        self.events.push(Event::Deleting);
        self.del_pacer = Pacer::new(now, self.cfg.delete_rate);
        if !self.cfg.delete {
            // Nothing to delete: the Deleting stage passes straight on.
            self.del_cursor = self.cfg.sessions;
        }
        Stage::Deleting
    }

    fn start_releasing(&mut self, now: u64, out: &mut Vec<Vec<u8>>) -> Stage {
        if self.cfg.release && self.upf_node.is_some() {
            let m = msgs::association_release(&self.cfg.node_id);
            self.send(now, Kind::Release, None, m, out);
            Stage::Releasing
        } else {
            Stage::Done
        }
    }

    fn hold(&mut self, now: u64, out: &mut Vec<Vec<u8>>) {
        let churn_end = self.churn_end_ns();
        if let Some(c) = self.cfg.churn.clone() {
            let start = self.hold_start_ns + c.start_ns;
            if self.churn_state == 0 && now >= start && !self.stop && now < churn_end {
                self.churn_state = 1;
                self.churn_pacer = Some(Pacer::new(now, c.rate));
                self.events.push(Event::ChurnStarted);
            }
            if self.churn_state == 1 && (now >= churn_end || self.stop) {
                self.churn_state = 2;
                self.churn_pacer = None;
                self.events.push(Event::ChurnEnded);
            }
            if self.churn_state == 1 && !c.sessions.is_empty() {
                let mut allowed = self.churn_pacer.map_or(0, |p| p.allowed(now));
                // One lap over the churn set at most per tick, so busy or
                // failed sessions cannot make this loop spin.
                let mut looked = 0;
                while allowed > 0
                    && looked < c.sessions.len()
                    && self.session_outstanding() < self.cfg.window
                {
                    let i = c.sessions[self.churn_cursor % c.sessions.len()];
                    self.churn_cursor += 1;
                    looked += 1;
                    let Some(s) = self.sess.get_mut(i as usize) else {
                        continue;
                    };
                    if s.st != St::Up || s.busy {
                        continue;
                    }
                    s.busy = true;
                    let (up, alt) = (s.up_seid, !s.alt);
                    if let Some(p) = self.churn_pacer.as_mut() {
                        p.issued += 1;
                    }
                    allowed -= 1;
                    self.modif.started(now);
                    let req = msgs::churn_modification(&self.cfg.profile, i, c.kind, alt);
                    self.send(
                        now,
                        Kind::Modify(i),
                        Some(up),
                        Message::SessionModificationRequest(req),
                        out,
                    );
                }
            }
        }
        let churning = self.churn_state == 1;
        if (self.stop || now >= self.hold_end_ns()) && !churning && self.session_outstanding() == 0
        {
            self.stage = self.start_deleting(now);
        } else if self.stop && churning {
            self.churn_state = 2;
            self.churn_pacer = None;
            self.events.push(Event::ChurnEnded);
        }
    }

    fn timed_out_request(&mut self, k: Kind) {
        let name = procedure(k);
        match k {
            Kind::Association => {
                self.assoc.p.timeouts += 1;
                self.fail(name, None, None, "no Association Setup Response".into());
                self.stage = Stage::Done;
            }
            Kind::Release => {
                self.fail(name, None, None, "no Association Release Response".into());
            }
            Kind::Heartbeat => {
                self.fail(name, None, None, "no Heartbeat Response".into());
            }
            Kind::Establish(i) => {
                self.est.p.timeouts += 1;
                if let Some(s) = self.sess.get_mut(i as usize) {
                    s.st = St::Failed;
                }
                self.fail(
                    name,
                    Some(i),
                    None,
                    "no response after all retransmissions".into(),
                );
            }
            Kind::Modify(i) => {
                self.modif.p.timeouts += 1;
                if let Some(s) = self.sess.get_mut(i as usize) {
                    s.busy = false;
                }
                self.fail(
                    name,
                    Some(i),
                    None,
                    "no response after all retransmissions".into(),
                );
            }
            Kind::Delete(i) => {
                self.del.p.timeouts += 1;
                if let Some(s) = self.sess.get_mut(i as usize) {
                    s.busy = false;
                    s.st = St::Failed;
                }
                self.fail(
                    name,
                    Some(i),
                    None,
                    "no response after all retransmissions".into(),
                );
            }
        }
    }

    /// Handles a datagram from the UPF at `now_ns`.
    pub fn datagram(&mut self, now_ns: u64, data: &[u8], out: &mut Vec<Vec<u8>>) {
        self.now_ns = now_ns;
        for r in m::decode_all(data) {
            match r {
                Ok(pdu) if pdu.msg.is_request() => self.request(pdu, out),
                Ok(pdu) => self.response(now_ns, pdu, out),
                Err(_) => self.report.node.malformed += 1,
            }
        }
    }

    fn request(&mut self, pdu: Pdu, out: &mut Vec<Vec<u8>>) {
        let rsp = match pdu.msg {
            Message::HeartbeatRequest(h) => {
                self.report.node.heartbeats_received += 1;
                self.check_upf_recovery(h.recovery_time_stamp.0);
                Pdu::node(
                    pdu.seq,
                    Message::HeartbeatResponse(m::HeartbeatResponse {
                        recovery_time_stamp: RecoveryTimeStamp(self.cfg.recovery),
                    }),
                )
            }
            Message::SessionReportRequest(r) => {
                let seid = pdu.seid.unwrap_or(0);
                match self.index_of(seid) {
                    Some(i) if self.sess.get(i as usize).is_some_and(|s| s.st != St::Idle) => {
                        self.report.node.session_reports += 1;
                        let up = self.sess.get(i as usize).map_or(0, |s| s.up_seid);
                        self.usage(i, "report", &r.usage_report, false);
                        Pdu::session(
                            pdu.seq,
                            up,
                            Message::SessionReportResponse(m::SessionReportResponse {
                                cause: CauseIe(pfcp_codec::Cause::RequestAccepted as u8),
                                ..Default::default()
                            }),
                        )
                    }
                    _ => {
                        self.report.node.unknown_session_reports += 1;
                        Pdu::session(
                            pdu.seq,
                            0,
                            Message::SessionReportResponse(m::SessionReportResponse {
                                cause: CauseIe(pfcp_codec::Cause::SessionContextNotFound as u8),
                                ..Default::default()
                            }),
                        )
                    }
                }
            }
            Message::NodeReportRequest(_) => {
                self.report.node.node_reports += 1;
                Pdu::node(
                    pdu.seq,
                    Message::NodeReportResponse(m::NodeReportResponse {
                        node_id: self.cfg.node_id.clone(),
                        cause: CauseIe(pfcp_codec::Cause::RequestAccepted as u8),
                        offending_ie: None,
                    }),
                )
            }
            _ => {
                self.report.node.malformed += 1;
                return;
            }
        };
        out.push(rsp.to_bytes());
    }

    fn check_upf_recovery(&mut self, rt: u32) {
        match self.upf_recovery {
            Some(old) if old != rt => {
                self.fail(
                    "heartbeat",
                    None,
                    None,
                    format!("the UPF restarted (Recovery Time Stamp {old} -> {rt})"),
                );
                self.upf_recovery = Some(rt);
            }
            None => self.upf_recovery = Some(rt),
            _ => {}
        }
    }

    fn usage(
        &mut self,
        i: u32,
        source: &'static str,
        reports: &[pfcp_codec::group::UsageReport],
        last: bool,
    ) {
        let acc: &mut Usage = if last {
            &mut self.report.usage_final
        } else {
            &mut self.report.usage_periodic
        };
        for u in reports {
            acc.reports += 1;
            let v = u.volume_measurement.unwrap_or_default();
            acc.ul_bytes += v.ul.unwrap_or(0);
            acc.dl_bytes += v.dl.unwrap_or(0);
            acc.ul_packets += v.ul_packets.unwrap_or(0);
            acc.dl_packets += v.dl_packets.unwrap_or(0);
        }
        if self.cfg.usage_records {
            for u in reports {
                let v = u.volume_measurement.unwrap_or_default();
                self.report.usage_records.push(UsageRecord {
                    session: i,
                    source,
                    urr_id: u.urr_id.0,
                    seqn: u.ur_seqn.0,
                    trigger: u.usage_report_trigger.0,
                    ul_bytes: v.ul.unwrap_or(0),
                    dl_bytes: v.dl.unwrap_or(0),
                    ul_packets: v.ul_packets.unwrap_or(0),
                    dl_packets: v.dl_packets.unwrap_or(0),
                    duration_s: u.duration_measurement.map(|d| d.0),
                });
            }
        }
    }

    fn count_cause(&mut self, msg: &Message) {
        if let Some(c) = msgs::cause_of(msg) {
            *self.report.causes.entry(c.to_string()).or_default() += 1;
        }
    }

    fn response(&mut self, now: u64, pdu: Pdu, out: &mut Vec<Vec<u8>>) {
        let Some(p) = self.txn.answered(pdu.seq, pdu.msg.msg_type()) else {
            self.report.node.unmatched_responses += 1;
            return;
        };
        let lat = now.saturating_sub(p.first_ns);
        self.count_cause(&pdu.msg);
        let retries = u64::from(p.retries);
        // A session response carries our CP SEID (0 when the UPF did not
        // find the session).
        if let Some(i) = p.kind.session() {
            let want = self.cp_seid(i);
            if let Some(s) = pdu.seid.filter(|&s| s != want && s != 0) {
                self.fail(
                    procedure(p.kind),
                    Some(i),
                    None,
                    format!("response carries SEID {s:#x}, expected {want:#x}"),
                );
            }
        }
        match p.kind {
            Kind::Association => {
                self.assoc.p.retransmissions += retries;
                self.assoc.last_ns = now;
                match msgs::check_simple(mt::ASSOCIATION_SETUP_RESPONSE, &pdu.msg) {
                    Ok(()) => {
                        self.assoc.p.accepted += 1;
                        self.assoc.hist.record(lat);
                        if let Message::AssociationSetupResponse(r) = &pdu.msg {
                            self.upf_node = Some(r.node_id.clone());
                            self.report.upf_node_id = r.node_id.to_string();
                            self.check_upf_recovery(r.recovery_time_stamp.0);
                        }
                        self.stage = Stage::Establishing;
                        self.est_pacer = Pacer::new(now, self.cfg.rate);
                        self.step(now, out);
                    }
                    Err(e) => {
                        self.assoc.p.rejected += 1;
                        self.fail("association", None, msgs::cause_of(&pdu.msg), e.to_string());
                        self.stage = Stage::Done;
                    }
                }
            }
            Kind::Release => {
                if let Err(e) = msgs::check_simple(mt::ASSOCIATION_RELEASE_RESPONSE, &pdu.msg) {
                    self.fail("release", None, msgs::cause_of(&pdu.msg), e.to_string());
                }
            }
            Kind::Heartbeat => {
                self.report.node.heartbeats_answered += 1;
                if let Message::HeartbeatResponse(h) = &pdu.msg {
                    self.check_upf_recovery(h.recovery_time_stamp.0);
                }
            }
            Kind::Establish(i) => {
                self.est.p.retransmissions += retries;
                self.est.last_ns = now;
                match msgs::check_establishment(&self.cfg.profile, i, &pdu.msg) {
                    Ok(e) => {
                        self.est.p.accepted += 1;
                        self.est.hist.record(lat);
                        if let Some(s) = self.sess.get_mut(i as usize) {
                            s.st = St::Up;
                            s.up_seid = e.up_seid;
                            s.fteid = e.fteid;
                            s.ue_v4 = e.ue_v4;
                            s.ue_v6 = e.ue_v6;
                        }
                        self.report.established += 1;
                    }
                    Err(e) => {
                        self.est.p.rejected += 1;
                        if let Some(s) = self.sess.get_mut(i as usize) {
                            s.st = St::Failed;
                        }
                        self.refused("establishment", i, &e);
                    }
                }
            }
            Kind::Modify(i) => {
                self.modif.p.retransmissions += retries;
                self.modif.last_ns = now;
                match msgs::check_simple(mt::SESSION_MODIFICATION_RESPONSE, &pdu.msg) {
                    Ok(()) => {
                        self.modif.p.accepted += 1;
                        self.modif.hist.record(lat);
                        if let Some(s) = self.sess.get_mut(i as usize) {
                            s.alt = !s.alt;
                        }
                    }
                    Err(e) => {
                        self.modif.p.rejected += 1;
                        self.refused("modification", i, &e);
                    }
                }
                if let Some(s) = self.sess.get_mut(i as usize) {
                    s.busy = false;
                }
                let reports = msgs::usage_reports(&pdu.msg).to_vec();
                self.usage(i, "modification", &reports, false);
            }
            Kind::Delete(i) => {
                self.del.p.retransmissions += retries;
                self.del.last_ns = now;
                match msgs::check_simple(mt::SESSION_DELETION_RESPONSE, &pdu.msg) {
                    Ok(()) => {
                        self.del.p.accepted += 1;
                        self.del.hist.record(lat);
                        if let Some(s) = self.sess.get_mut(i as usize) {
                            s.st = St::Deleted;
                        }
                    }
                    Err(e) => {
                        self.del.p.rejected += 1;
                        self.refused("deletion", i, &e);
                    }
                }
                if let Some(s) = self.sess.get_mut(i as usize) {
                    s.busy = false;
                }
                let reports = msgs::usage_reports(&pdu.msg).to_vec();
                self.usage(i, "deletion", &reports, true);
            }
        }
    }

    fn refused(&mut self, procedure: &'static str, i: u32, e: &Refusal) {
        let cause = match e {
            Refusal::Cause { cause, .. } => Some(*cause),
            _ => None,
        };
        self.fail(procedure, Some(i), cause, e.to_string());
    }

    /// The report so far.
    pub fn report(&mut self) -> Report {
        let mut r = self.report.clone();
        r.association = self.assoc.finish();
        // One request has no rate.
        r.association.achieved_rate = 0.0;
        r.establishment = self.est.finish();
        r.establishment.target_rate = self.cfg.rate;
        r.modification = self.modif.finish();
        r.modification.target_rate = self.cfg.churn.as_ref().map_or(0.0, |c| c.rate);
        r.deletion = self.del.finish();
        r.deletion.target_rate = self.cfg.delete_rate;
        r.wall_s = self.now_ns.saturating_sub(self.started_ns) as f64 / NS as f64;
        let phases = [
            &r.association,
            &r.establishment,
            &r.modification,
            &r.deletion,
        ];
        r.ok = r.association.accepted == 1
            && r.established == r.sessions
            && phases.iter().all(|p| p.rejected == 0 && p.timeouts == 0)
            && r.failures.is_empty()
            && r.failures_not_listed == 0;
        r
    }

    /// The established sessions, for pktgen.
    pub fn sessions_file(&self, upf_n4: String) -> SessionsFile {
        let mut f = SessionsFile::new(
            upf_n4,
            self.upf_node
                .as_ref()
                .map(|n| n.to_string())
                .unwrap_or_default(),
            self.cfg.profile.network_instance.clone(),
        );
        let p = &self.cfg.profile;
        f.gnb_ipv4 = p.gnb_ipv4;
        f.gnb_ipv6 = p.gnb_ipv6;
        for (i, s) in self.sess.iter().enumerate() {
            if s.st != St::Up {
                continue;
            }
            let i = i as u32;
            let churn_far = s.churn
                && self
                    .cfg
                    .churn
                    .as_ref()
                    .is_some_and(|c| matches!(c.kind, ChurnKind::Far | ChurnKind::Both));
            f.sessions.push(SessionEntry {
                index: i,
                cp_seid: Seid(self.cp_seid(i)),
                up_seid: Seid(s.up_seid),
                ue_ipv4: s.ue_v4,
                ue_ipv6: s.ue_v6.map(|(a, _)| Ipv6Addr::from(u128::from(a) | 1)),
                ue_ipv6_prefix_len: s.ue_v6.map(|(_, l)| l),
                upf_teid: s.fteid.teid,
                upf_ipv4: s.fteid.ipv4,
                upf_ipv6: s.fteid.ipv6,
                gnb_teid: p.gnb_teid(i),
                gnb_teid_alt: churn_far.then(|| p.gnb_teid_alt(i)),
                qfi: p.qfi,
                churn: s.churn,
            });
        }
        f
    }
}

fn procedure(k: Kind) -> &'static str {
    match k {
        Kind::Association => "association",
        Kind::Release => "release",
        Kind::Heartbeat => "heartbeat",
        Kind::Establish(_) => "establishment",
        Kind::Modify(_) => "modification",
        Kind::Delete(_) => "deletion",
    }
}

/// Parses a session set: `all`, `none`, a fraction `0.1` (every k-th
/// session), or a list of indexes and ranges `0-99,200,300-310`.
pub fn parse_set(spec: &str, sessions: u32) -> Result<Vec<u32>, String> {
    let spec = spec.trim();
    let mut v = Vec::new();
    match spec {
        "all" => v.extend(0..sessions),
        "none" | "" => {}
        s if s.contains('.') => {
            let f: f64 = s.parse().map_err(|_| format!("bad fraction {s:?}"))?;
            if !(0.0..=1.0).contains(&f) {
                return Err(format!("fraction {f} is not between 0 and 1"));
            }
            let want = (f * f64::from(sessions)).round() as u32;
            if want > 0 {
                let step = f64::from(sessions) / f64::from(want);
                for k in 0..want {
                    v.push(((f64::from(k) * step) as u32).min(sessions - 1));
                }
            }
        }
        s => {
            for part in s.split(',') {
                let part = part.trim();
                let (a, b) = match part.split_once('-') {
                    Some((a, b)) => (a, b),
                    None => (part, part),
                };
                let a: u32 = a.trim().parse().map_err(|_| format!("bad index {a:?}"))?;
                let b: u32 = b.trim().parse().map_err(|_| format!("bad index {b:?}"))?;
                if a > b {
                    return Err(format!("empty range {part:?}"));
                }
                if b >= sessions {
                    return Err(format!(
                        "index {b} is not below the session count {sessions}"
                    ));
                }
                v.extend(a..=b);
            }
        }
    }
    v.sort_unstable();
    v.dedup();
    Ok(v)
}

#[cfg(test)]
mod tests {
    use super::*;
    use pfcp_codec::group::{CreatedPdr, UsageReport};
    use pfcp_codec::ie::*;
    use pfcp_codec::{decode, Pdu};

    fn cfg(n: u32) -> Config {
        Config {
            sessions: n,
            rate: 0.0,
            window: 4,
            profile: Profile::default(),
            node_id: NodeId::Ipv4(Ipv4Addr::new(198, 18, 4, 1)),
            local_ip: "198.18.4.1".parse().unwrap(),
            cp_seid_base: 100,
            t1_ns: 1_000_000,
            n1: 1,
            hold_ns: 0,
            churn: None,
            delete: true,
            delete_rate: 0.0,
            release: true,
            heartbeat_ns: None,
            usage_records: true,
            recovery: 7,
        }
    }

    /// A fake UPF that accepts everything.
    fn answer(req: &[u8], teid: &mut u32) -> Vec<u8> {
        let p = decode(req).unwrap();
        let msg = match p.msg {
            Message::AssociationSetupRequest(_) => {
                Message::AssociationSetupResponse(m::AssociationSetupResponse {
                    node_id: NodeId::Ipv4(Ipv4Addr::LOCALHOST),
                    cause: CauseIe(1),
                    recovery_time_stamp: RecoveryTimeStamp(99),
                    ..Default::default()
                })
            }
            Message::AssociationReleaseRequest(_) => {
                Message::AssociationReleaseResponse(m::AssociationReleaseResponse {
                    node_id: NodeId::Ipv4(Ipv4Addr::LOCALHOST),
                    cause: CauseIe(1),
                })
            }
            Message::SessionEstablishmentRequest(r) => {
                *teid += 1;
                let cp = r.cp_fseid.seid;
                return Pdu::session(
                    p.seq,
                    cp,
                    Message::SessionEstablishmentResponse(m::SessionEstablishmentResponse {
                        node_id: NodeId::Ipv4(Ipv4Addr::LOCALHOST),
                        cause: CauseIe(1),
                        up_fseid: Some(FSeid {
                            seid: cp + 0x1000,
                            ipv4: Some(Ipv4Addr::LOCALHOST),
                            ipv6: None,
                        }),
                        created_pdr: vec![CreatedPdr {
                            pdr_id: PdrId(1),
                            local_fteid: Some(FTeid {
                                teid: *teid,
                                ipv4: Some(Ipv4Addr::new(198, 18, 3, 2)),
                                ..Default::default()
                            }),
                            ue_ip_address: vec![UeIpAddress {
                                ipv4: Some(Ipv4Addr::from(0xc613_0000 + *teid)),
                                ..Default::default()
                            }],
                        }],
                        ..Default::default()
                    }),
                )
                .to_bytes();
            }
            Message::SessionModificationRequest(_) => {
                Message::SessionModificationResponse(m::SessionModificationResponse {
                    cause: CauseIe(1),
                    ..Default::default()
                })
            }
            Message::SessionDeletionRequest(_) => {
                Message::SessionDeletionResponse(m::SessionDeletionResponse {
                    cause: CauseIe(1),
                    usage_report: vec![UsageReport {
                        urr_id: UrrId(1),
                        ur_seqn: UrSeqn(1),
                        usage_report_trigger: UsageReportTrigger(0),
                        volume_measurement: Some(VolumeMeasurement {
                            ul: Some(100),
                            dl: Some(200),
                            ul_packets: Some(1),
                            dl_packets: Some(2),
                            ..Default::default()
                        }),
                        ..Default::default()
                    }],
                    ..Default::default()
                })
            }
            other => panic!("unexpected {other:?}"),
        };
        let seid = p.seid.map(|s| s - 0x1000);
        match seid {
            Some(s) => Pdu::session(p.seq, s, msg).to_bytes(),
            None => Pdu::node(p.seq, msg).to_bytes(),
        }
    }

    /// Runs a simulator against the fake UPF on a fake clock.
    fn drive(sim: &mut Sim, step_ns: u64, limit: usize) -> u64 {
        let mut now = 0;
        let mut teid = 0;
        let mut out = Vec::new();
        for _ in 0..limit {
            sim.tick(now, &mut out);
            while let Some(d) = out.pop() {
                let rsp = answer(&d, &mut teid);
                sim.datagram(now + 1_000, &rsp, &mut out);
            }
            if sim.done() {
                return now;
            }
            now += step_ns;
        }
        panic!("did not finish: {:?}", sim.stage());
    }

    #[test]
    fn full_run_against_a_fake_upf() {
        let mut c = cfg(10);
        c.churn = Some(Churn {
            sessions: vec![1, 3],
            rate: 0.0,
            kind: ChurnKind::Both,
            start_ns: 0,
            duration_ns: Some(5_000_000),
        });
        let mut sim = Sim::new(c, 0);
        drive(&mut sim, 1_000_000, 100);
        let r = sim.report();
        assert!(r.ok, "{}", r.table());
        assert_eq!(r.established, 10);
        assert_eq!(r.establishment.accepted, 10);
        assert_eq!(r.deletion.accepted, 10);
        assert!(r.modification.accepted >= 4, "{:?}", r.modification);
        assert_eq!(r.usage_final.reports, 10);
        assert_eq!(r.usage_final.dl_bytes, 2000);
        assert_eq!(
            r.causes.get("1").copied(),
            Some(1 + 10 + r.modification.accepted + 10 + 1)
        );
        let f = sim.sessions_file("127.0.0.1:8805".into());
        // Deleted sessions are not listed; the file is taken after establishment.
        assert!(f.sessions.is_empty());
    }

    #[test]
    fn sessions_file_after_establishment() {
        let mut c = cfg(3);
        c.churn = Some(Churn {
            sessions: vec![2],
            rate: 0.0,
            kind: ChurnKind::Far,
            start_ns: 0,
            duration_ns: Some(0),
        });
        c.hold_ns = 1_000_000_000;
        let mut sim = Sim::new(c, 0);
        let mut out = Vec::new();
        let mut teid = 0;
        let mut now = 0;
        let mut seen = false;
        for _ in 0..20 {
            sim.tick(now, &mut out);
            while let Some(d) = out.pop() {
                let rsp = answer(&d, &mut teid);
                sim.datagram(now, &rsp, &mut out);
            }
            if sim.take_events().contains(&Event::Established) {
                seen = true;
                break;
            }
            now += 1_000;
        }
        assert!(seen);
        let f = sim.sessions_file("x".into());
        f.check("t").unwrap();
        assert_eq!(f.sessions.len(), 3);
        assert_eq!(f.sessions[0].cp_seid, Seid(100));
        assert_eq!(f.sessions[0].up_seid, Seid(100 + 0x1000));
        assert_eq!(
            f.sessions[2].gnb_teid_alt,
            Some(Profile::default().gnb_teid_alt(2))
        );
        assert!(f.sessions[2].churn && !f.sessions[1].churn);
        assert!(f
            .sessions
            .iter()
            .all(|s| s.upf_ipv4.is_some() && s.ue_ipv4.is_some()));
    }

    #[test]
    fn rate_limits_establishments() {
        let mut c = cfg(20);
        c.rate = 1000.0; // one per ms
        c.window = 100;
        c.t1_ns = 1_000_000_000;
        let mut sim = Sim::new(c, 0);
        let mut out = Vec::new();
        sim.tick(0, &mut out);
        let assoc = out.pop().unwrap();
        let mut teid = 0;
        sim.datagram(0, &answer(&assoc, &mut teid), &mut out);
        // The association response lets the first request out at once.
        assert_eq!(out.len(), 1);
        out.clear();
        sim.tick(4_500_000, &mut out);
        assert_eq!(out.len(), 4, "4.5 ms at 1000/s: requests 2..5");
    }

    #[test]
    fn lost_responses_are_retransmitted_then_counted() {
        let mut c = cfg(1);
        c.t1_ns = 1_000;
        c.n1 = 2;
        let mut sim = Sim::new(c, 0);
        let mut out = Vec::new();
        sim.tick(0, &mut out);
        let mut teid = 0;
        let a = out.pop().unwrap();
        sim.datagram(0, &answer(&a, &mut teid), &mut out);
        let est = out.pop().unwrap();
        // Drop the establishment and its two retransmissions.
        for t in [1_000, 2_000] {
            sim.tick(t, &mut out);
            assert_eq!(
                out.pop().as_deref(),
                Some(&est[..]),
                "retransmission at {t}"
            );
        }
        sim.tick(3_000, &mut out);
        let r = sim.report();
        assert_eq!(r.establishment.timeouts, 1);
        assert_eq!(
            r.establishment.retransmissions, 0,
            "counted on answers only"
        );
        assert!(!r.ok);
        assert_eq!(
            r.failures[0].detail,
            "no response after all retransmissions"
        );
    }

    #[test]
    fn answers_the_upfs_requests() {
        let mut sim = Sim::new(cfg(1), 0);
        let mut out = Vec::new();
        let hb = Pdu::node(
            77,
            Message::HeartbeatRequest(m::HeartbeatRequest {
                recovery_time_stamp: RecoveryTimeStamp(5),
                source_ip_address: None,
            }),
        );
        sim.datagram(0, &hb.to_bytes(), &mut out);
        let r = decode(&out.pop().unwrap()).unwrap();
        assert_eq!(r.seq, 77);
        assert!(matches!(r.msg, Message::HeartbeatResponse(h) if h.recovery_time_stamp.0 == 7));
        // A report for a SEID we never used.
        let rep = Pdu::session(
            78,
            5,
            Message::SessionReportRequest(m::SessionReportRequest {
                report_type: ReportType(2),
                ..Default::default()
            }),
        );
        sim.datagram(0, &rep.to_bytes(), &mut out);
        let r = decode(&out.pop().unwrap()).unwrap();
        let Message::SessionReportResponse(rr) = r.msg else {
            panic!()
        };
        assert_eq!(rr.cause.0, 65);
        sim.datagram(0, &[1, 2, 3], &mut out);
        let rep = sim.report();
        assert_eq!(rep.node.heartbeats_received, 1);
        assert_eq!(rep.node.unknown_session_reports, 1);
        assert_eq!(rep.node.malformed, 1);
    }

    #[test]
    fn session_sets() {
        assert_eq!(parse_set("0-2,5", 10).unwrap(), vec![0, 1, 2, 5]);
        assert_eq!(parse_set("all", 3).unwrap(), vec![0, 1, 2]);
        assert_eq!(parse_set("0.5", 4).unwrap(), vec![0, 2]);
        assert_eq!(parse_set("0.1", 100).unwrap().len(), 10);
        assert!(parse_set("5-1", 10).is_err());
        assert!(parse_set("9-10", 10).is_err());
        assert!(parse_set("1.5", 10).is_err());
        assert!(parse_set("x", 10).is_err());
    }
}
