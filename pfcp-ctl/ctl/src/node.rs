//! The PFCP node, sans I/O: datagrams, dataplane events and clock ticks
//! in; datagrams, dataplane commands and journal records out. The shell
//! (`server`) owns the sockets, the control channel and the journal file.

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::net::{IpAddr, SocketAddr};

use pfcp_codec::error::{Cause, DecodeError, IeError};
use pfcp_codec::group as g;
use pfcp_codec::ie::{self as i, t};
use pfcp_codec::msg::{self as m, mt, Message, Pdu};
use tracing::{debug, error, info, warn};
use upf_ctrl::msg::{Command, CommandError, EncodedCommand, Event};
use upf_rules::report::UsageReport;
use upf_rules::{ApplyAction, Pfd, RuleError, RuleErrorReason};

use crate::alloc::Allocator;
use crate::convert;
use crate::fxhash::FxHashMap;
use crate::journal::{AssocRecord, Record, Restored};
use crate::session::{Endpoints, SessionState, Txn};

/// What to do with a failed peer's sessions.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FailurePolicy {
    /// Keep them (they keep forwarding) for a grace period in ms.
    Keep(u64),
    /// Delete them at once.
    Purge,
}

/// An SMF allowed to associate.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Allowed {
    /// Address it sends from.
    pub addr: Option<IpAddr>,
    /// Node ID it announces.
    pub node_id: Option<String>,
}

/// Settings of the node.
#[derive(Clone, Debug)]
pub struct NodeConfig {
    /// Our Node ID.
    pub node_id: i::NodeId,
    /// Heartbeat interval, ms.
    pub heartbeat_interval_ms: u64,
    /// Heartbeat attempts before a peer is declared failed.
    pub heartbeat_retries: u32,
    /// Retransmission timer T1, ms.
    pub request_timeout_ms: u64,
    /// Retransmissions N1.
    pub request_retries: u32,
    /// Failed peer policy.
    pub failure_policy: FailurePolicy,
    /// SMFs allowed to associate (empty: any).
    pub allowed: Vec<Allowed>,
    /// Our tunnel addresses.
    pub endpoints: Endpoints,
    /// Session limit.
    pub max_sessions: usize,
    /// Sessions the tables are sized for at the start (capped at
    /// `max_sessions`): no rehash of the big tables while they fill up.
    pub expected_sessions: usize,
    /// UE pools (for the Association Setup Response and allocation).
    pub pools: Vec<upf_config::UePool>,
    /// Our N4 IPv4 address (UP F-SEID).
    pub fseid_v4: Option<std::net::Ipv4Addr>,
    /// Our N4 IPv6 address (UP F-SEID).
    pub fseid_v6: Option<std::net::Ipv6Addr>,
    /// Session requests per second before new establishments are refused
    /// with "PFCP entity in congestion" (0: no limit).
    pub max_request_rate: u32,
}

/// Output of the node.
#[derive(Debug, PartialEq)]
pub enum Out {
    /// A datagram to send.
    Send {
        /// Destination.
        to: SocketAddr,
        /// Bytes.
        data: Vec<u8>,
    },
    /// A command for the dataplane, encoded (a session's rules are encoded
    /// from the node's copy, not cloned into a [`Command`]).
    Dp(EncodedCommand),
    /// A record for the journal (write it before sending the datagrams
    /// produced in the same step).
    Journal(Record),
    /// Session `seid` changed: journal its state as it is when the outputs
    /// are handled (a [`Record::Session`], encoded from the node's copy
    /// without cloning it; nothing if the session is gone by then, in which
    /// case a [`Record::SessionGone`] follows).
    JournalSession(u64),
}

/// Counters.
#[derive(Clone, Debug, Default)]
pub struct NodeStats {
    /// Messages received by type.
    pub rx: BTreeMap<u8, u64>,
    /// Messages sent by type.
    pub tx: BTreeMap<u8, u64>,
    /// Responses sent by cause.
    pub causes: BTreeMap<u8, u64>,
    /// Datagrams that did not decode.
    pub malformed: u64,
    /// Association attempts from peers not in the configuration.
    pub refused_peers: u64,
    /// Retransmitted requests answered from the cache.
    pub duplicates: u64,
    /// Session reports sent.
    pub reports_sent: u64,
    /// Session reports answered.
    pub reports_answered: u64,
    /// Requests that exhausted their retransmissions.
    pub requests_timed_out: u64,
    /// Peers declared failed.
    pub peers_failed: u64,
    /// Establishments refused by `max_request_rate`.
    pub rate_limited: u64,
}

struct Assoc {
    addr: SocketAddr,
    recovery: u32,
    hb_due: u64,
    failed_since: Option<u64>,
}

enum OutKind {
    Heartbeat(String),
    Report,
    NodeReport,
    /// Association Update Request asking the SMF to release us.
    Release,
}

struct Outgoing {
    to: SocketAddr,
    data: Vec<u8>,
    due: u64,
    tries: u32,
    kind: OutKind,
}

enum OpKind {
    Establish {
        state: Box<SessionState>,
        txn: Txn,
    },
    Modify {
        state: Box<SessionState>,
        txn: Txn,
        created: Vec<u16>,
        release_teids: Vec<u32>,
    },
    Delete,
}

/// One command of an operation.
enum Step {
    /// SessionPut of the operation's new state (encoded from it when sent).
    Put,
    /// Any other command.
    Cmd(Command),
}

struct Op {
    seid: u64,
    peer: SocketAddr,
    seq: u32,
    cp_seid: u64,
    kind: OpKind,
    /// The command in flight (re-sent if the dataplane is re-attached).
    cur: Option<Step>,
    /// Further commands to send after this one's Ack.
    next: VecDeque<Step>,
    reports: Vec<UsageReport>,
    /// The response message type.
    rsp: u8,
}

/// A request as (peer, sequence number, message type).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct ReqKey(SocketAddr, u32, u8);

/// Hashed in two words (the peer chooses the sequence numbers: the
/// retransmission cache keeps SipHash, fed once with 16 and once with 8
/// octets rather than field by field).
impl std::hash::Hash for ReqKey {
    fn hash<H: std::hash::Hasher>(&self, h: &mut H) {
        let (ip, family) = match self.0.ip() {
            IpAddr::V4(a) => (u128::from(u32::from(a)), 4u64),
            IpAddr::V6(a) => (u128::from(a), 6u64),
        };
        h.write_u128(ip);
        h.write_u64(
            family << 56
                | u64::from(self.0.port()) << 40
                | u64::from(self.1) << 8
                | u64::from(self.2),
        );
    }
}
/// The cached answer (None while in flight) and when it was stored.
type Cached = (Option<Vec<u8>>, u64);

/// The node.
pub struct Node {
    cfg: NodeConfig,
    recovery: u32,
    alloc: Allocator,
    assocs: HashMap<String, Assoc>,
    /// Sessions, boxed: a hash table keeps its values inline and is up to
    /// half empty, so inline states would double the memory at 1M sessions.
    sessions: FxHashMap<u64, Box<SessionState>>,
    /// Peer Node ID -> CP SEID -> UP SEID.
    cp_index: HashMap<String, FxHashMap<u64, u64>>,
    busy: FxHashMap<u64, VecDeque<(SocketAddr, Pdu)>>,
    dedup: HashMap<ReqKey, Cached>,
    /// Answers in the cache by the time they were stored (expiry order).
    dedup_order: VecDeque<(u64, ReqKey)>,
    ops: FxHashMap<u64, Op>,
    next_req: u64,
    out_reqs: HashMap<u32, Outgoing>,
    next_seq: u32,
    /// PFDs per application (re-pushed after a dataplane restart).
    pfds: BTreeMap<String, Vec<Pfd>>,
    /// Downlink Data Reports held back by a BAR's notification delay.
    ddn: Vec<Delayed>,
    /// Token bucket of `max_request_rate`: tokens, last refill (ms).
    bucket: (f64, u64),
    /// Operations waiting for the dataplane per peer address.
    in_flight: FxHashMap<IpAddr, usize>,
    /// Refused association attempts not logged yet, and when we last logged.
    refused_log: (u64, u64),
    /// The resync under way, if any.
    resyncing: Option<Resync>,
    /// The end of the graceful release period, once a release has begun.
    release_deadline: Option<u64>,
    /// Counters.
    pub stats: NodeStats,
}

/// A resync under way.
struct Resync {
    /// Sessions at the start, in order, and how far the push got.
    keys: Vec<u64>,
    pos: usize,
    /// Operations waiting for the dataplane at the start (their commands
    /// are sent again at the end) and their sessions.
    ops: Vec<u64>,
    op_seids: std::collections::HashSet<u64>,
}

/// A Downlink Data Report waiting for its BAR's notification delay.
struct Delayed {
    due: u64,
    seid: u64,
    msg: Message,
}

/// PFCP Association Release Request (TS 29.244 8.2.77): SARR.
const ASSOC_RELEASE_SARR: u8 = 0x01;
/// PFCPAUReq-Flags (8.2.120): PFCP Association Release Preparation Start.
const AU_PARPS: u8 = 0x01;

/// A duration as a PFCP Timer value (TS 29.244 8.2.78, the GPRS Timer
/// coding): unit in bits 8-6 (2 s, 1 min, 10 min, 1 h, 10 h), value in bits
/// 5-1, rounded up to the next value the coding can express.
pub fn timer_ie(ms: u64) -> u8 {
    let secs = ms.div_ceil(1000);
    for (unit, step) in [(0u8, 2u64), (1, 60), (2, 600), (3, 3600), (4, 36000)] {
        let v = secs.div_ceil(step);
        if v <= 31 {
            return (unit << 5) | v as u8;
        }
    }
    (4 << 5) | 31
}

/// PFCPSMReq-Flags (TS 29.244 8.2.31): drop buffered packets.
const SM_DROBU: u8 = 0x01;
/// PFCPSMReq-Flags: query all URRs.
const SM_QAURR: u8 = 0x04;

fn cause_ie(c: Cause) -> i::CauseIe {
    i::CauseIe(c as u8)
}

/// The cause for a refused rule set.
fn rule_cause(e: &RuleError) -> (Cause, Option<u16>) {
    match &e.reason {
        RuleErrorReason::MissingForwardingParameters => {
            (Cause::ConditionalIeMissing, Some(t::FORWARDING_PARAMETERS))
        }
        RuleErrorReason::MissingSourceInterface => {
            (Cause::MandatoryIeMissing, Some(t::SOURCE_INTERFACE))
        }
        RuleErrorReason::NoResources(s) if s.contains("is exhausted") => {
            (Cause::AllDynamicAddressesAreOccupied, None)
        }
        // CHOOSE for a network instance without a pool: the PDR cannot be
        // created (Failed Rule ID names it).
        RuleErrorReason::NoResources(s) if s.starts_with("no UE address pool") => {
            (Cause::RuleCreationModificationFailure, None)
        }
        RuleErrorReason::NoResources(_) => (Cause::NoResourcesAvailable, None),
        _ => (Cause::RuleCreationModificationFailure, None),
    }
}

impl Node {
    /// A node restored from `restored` (empty for a first start);
    /// `recovery` is used when the journal had none.
    pub fn new(cfg: NodeConfig, restored: Restored, recovery: u32, now: u64) -> Node {
        let mut alloc = Allocator::new(cfg.endpoints.workers, &cfg.pools);
        let expected = cfg.expected_sessions.min(cfg.max_sessions);
        alloc.reserve(expected.max(restored.sessions.len()));
        let mut sessions = FxHashMap::with_capacity_and_hasher(
            expected.max(restored.sessions.len()),
            Default::default(),
        );
        let mut cp_index: HashMap<String, FxHashMap<u64, u64>> = HashMap::new();
        for (seid, s) in restored.sessions {
            alloc.seen_seid(seid);
            for t in &s.teids {
                alloc.mark_teid(*t);
            }
            for u in &s.ues {
                alloc.mark_ue(*u);
            }
            cp_index
                .entry(s.peer_node.clone())
                .or_insert_with(|| {
                    FxHashMap::with_capacity_and_hasher(expected_per_peer(&cfg), Default::default())
                })
                .insert(s.cp.seid, seid);
            sessions.insert(seid, s);
        }
        let hb = cfg.heartbeat_interval_ms;
        let rate = f64::from(cfg.max_request_rate);
        let assocs = restored
            .assocs
            .into_values()
            .map(|a| {
                (
                    a.node.clone(),
                    Assoc {
                        addr: a.addr,
                        recovery: a.recovery,
                        hb_due: now + hb,
                        failed_since: None,
                    },
                )
            })
            .collect();
        Node {
            recovery: restored.recovery.unwrap_or(recovery),
            cfg,
            alloc,
            assocs,
            sessions,
            cp_index,
            busy: FxHashMap::default(),
            // Sized like the session table: an SMF setting up the expected
            // sessions at full speed has about that many answers within the
            // cache's keep time, and growing the table past a million
            // entries stalled the loop for 200 ms (docs/performance.md).
            // The buckets are not touched until used.
            dedup: HashMap::with_capacity(expected),
            dedup_order: VecDeque::with_capacity(expected),
            ops: FxHashMap::default(),
            next_req: 1,
            out_reqs: HashMap::new(),
            next_seq: 1,
            pfds: restored.pfds,
            ddn: Vec::new(),
            bucket: (rate, now),
            in_flight: FxHashMap::default(),
            refused_log: (0, 0),
            resyncing: None,
            release_deadline: None,
            stats: NodeStats::default(),
        }
    }

    /// Starts request IDs towards the dataplane at `base`, so that IDs of a
    /// restarted pfcp-ctl never match Acks the previous run left in the
    /// control channel (the shell passes the wall clock in microseconds).
    pub fn set_request_base(&mut self, base: u64) {
        self.next_req = base;
    }

    /// Our Recovery Time Stamp.
    pub fn recovery(&self) -> u32 {
        self.recovery
    }

    /// Sessions held.
    pub fn session_count(&self) -> usize {
        self.sessions.len()
    }

    /// Associated peers (Node ID, address, failed).
    pub fn peers(&self) -> Vec<(String, SocketAddr, bool)> {
        self.assocs
            .iter()
            .map(|(n, a)| (n.clone(), a.addr, a.failed_since.is_some()))
            .collect()
    }

    /// A session by UP SEID.
    pub fn session(&self, seid: u64) -> Option<&SessionState> {
        self.sessions.get(&seid).map(|b| &**b)
    }

    /// UP SEIDs.
    pub fn seids(&self) -> Vec<u64> {
        let mut v: Vec<u64> = self.sessions.keys().copied().collect();
        v.sort_unstable();
        v
    }

    /// UE addresses in use per pool.
    pub fn pool_usage(&self) -> Vec<(String, usize)> {
        self.alloc
            .pools
            .iter()
            .map(|p| (p.name.clone(), p.used()))
            .collect()
    }

    /// Operations waiting for the dataplane.
    pub fn pending_ops(&self) -> usize {
        self.ops.len()
    }

    /// Records a journal snapshot starts with: every association and PFD set
    /// (sessions follow one by one, see [`Node::session_record`]).
    pub fn snapshot_records(&self) -> Vec<Record> {
        let mut v: Vec<Record> = self
            .assocs
            .iter()
            .map(|(n, a)| {
                Record::Assoc(AssocRecord {
                    node: n.clone(),
                    addr: a.addr,
                    recovery: a.recovery,
                })
            })
            .collect();
        v.extend(self.pfds.iter().map(|(a, p)| Record::Pfds {
            app: a.clone(),
            pfds: p.clone(),
        }));
        v
    }

    /// The journal record of session `seid` as it is now.
    pub fn session_record(&self, seid: u64) -> Option<Record> {
        self.sessions.get(&seid).map(|s| Record::Session {
            seid,
            state: s.clone(),
        })
    }

    /// Live records of the journal (sessions, associations, PFD sets).
    pub fn live_records(&self) -> u64 {
        (self.sessions.len() + self.assocs.len() + self.pfds.len()) as u64
    }

    /// Operations waiting for the dataplane on behalf of `ip`.
    pub fn in_flight_from(&self, ip: IpAddr) -> usize {
        self.in_flight.get(&ip).copied().unwrap_or(0)
    }

    /// True when `ip` is the address of an associated peer.
    pub fn is_associated(&self, ip: IpAddr) -> bool {
        self.assocs.values().any(|a| a.addr.ip() == ip)
    }

    fn seq(&mut self) -> u32 {
        let s = self.next_seq;
        self.next_seq = (self.next_seq + 1) & 0x00ff_ffff;
        if self.next_seq == 0 {
            self.next_seq = 1;
        }
        s
    }

    fn req(&mut self) -> u64 {
        self.next_req += 1;
        self.next_req
    }

    fn send(&mut self, out: &mut Vec<Out>, to: SocketAddr, pdu: &Pdu) -> Vec<u8> {
        let data = pdu.to_bytes();
        *self.stats.tx.entry(pdu.msg.msg_type()).or_default() += 1;
        out.push(Out::Send {
            to,
            data: data.clone(),
        });
        data
    }

    /// Room in the response cache before it must grow (the rehash of a big
    /// table holds the loop up); for tests and diagnostics.
    pub fn response_cache_capacity(&self) -> usize {
        self.dedup.capacity().min(self.dedup_order.capacity())
    }

    /// Sends a response and caches it for retransmitted requests.
    fn respond(&mut self, out: &mut Vec<Out>, now: u64, to: SocketAddr, req_type: u8, pdu: Pdu) {
        let cause = response_cause(&pdu.msg);
        if let Some(c) = cause {
            *self.stats.causes.entry(c).or_default() += 1;
        }
        let seq = pdu.seq;
        let data = self.send(out, to, &pdu);
        // Only associated peers' answers are kept: a stranger's requests are
        // cheap to answer again and must not fill the cache.
        if self.peer_of(to).is_some() || cause == Some(Cause::RequestAccepted as u8) {
            self.dedup
                .insert(ReqKey(to, seq, req_type), (Some(data), now));
            self.dedup_order.push_back((now, ReqKey(to, seq, req_type)));
        }
    }

    /// The whole state for the dataplane at once (see [`Node::resync_start`]).
    pub fn resync(&mut self, out: &mut Vec<Out>) {
        self.resync_start(out);
        while !self.resync_step(usize::MAX, out) {}
    }

    /// Starts pushing the whole state to the dataplane (after a start or a
    /// dataplane restart; the caller drops the commands it had not sent
    /// yet): SyncBegin now, the sessions by [`Node::resync_step`] a slice at
    /// a time (so a million sessions never sit in memory as commands),
    /// then every application's PFDs, the commands of the operations that
    /// were waiting for the dataplane at the start (sent again under new
    /// request IDs, after the sessions' committed state), and SyncEnd.
    /// Sessions whose operation started after this call are skipped: that
    /// operation's own command carries their newest rules.
    pub fn resync_start(&mut self, out: &mut Vec<Out>) {
        let r = self.req();
        push_dp(out, &Command::SyncBegin { req: r });
        let mut keys: Vec<u64> = self.sessions.keys().copied().collect();
        keys.sort_unstable();
        let mut ops: Vec<u64> = self.ops.keys().copied().collect();
        ops.sort_unstable();
        let op_seids = ops
            .iter()
            .filter_map(|r| self.ops.get(r).map(|o| o.seid))
            .collect();
        self.resyncing = Some(Resync {
            keys,
            pos: 0,
            ops,
            op_seids,
        });
    }

    /// True while a resync is under way.
    pub fn resyncing(&self) -> bool {
        self.resyncing.is_some()
    }

    /// Pushes up to `max` sessions of the resync; true when it is complete.
    pub fn resync_step(&mut self, max: usize, out: &mut Vec<Out>) -> bool {
        let Some(mut rs) = self.resyncing.take() else {
            return true;
        };
        let end = rs.pos.saturating_add(max).min(rs.keys.len());
        for i in rs.pos..end {
            let s = rs.keys[i];
            if self.busy.contains_key(&s) && !rs.op_seids.contains(&s) {
                continue;
            }
            if !self.sessions.contains_key(&s) {
                continue;
            }
            let r = self.req();
            if let Some(st) = self.sessions.get(&s) {
                match EncodedCommand::session_put(r, &st.rules) {
                    Ok(c) => out.push(Out::Dp(c)),
                    Err(e) => error!(seid = s, error = %e, "session not encoded for the resync"),
                }
            }
        }
        rs.pos = end;
        if rs.pos < rs.keys.len() {
            self.resyncing = Some(rs);
            return false;
        }
        let apps: Vec<(String, Vec<Pfd>)> = self
            .pfds
            .iter()
            .map(|(a, p)| (a.clone(), p.clone()))
            .collect();
        for (application_id, pfds) in apps {
            let req = self.req();
            push_dp(
                out,
                &Command::PfdPut {
                    req,
                    application_id,
                    pfds,
                },
            );
        }
        for old in rs.ops {
            let Some(mut op) = self.ops.remove(&old) else {
                continue;
            };
            let Some(step) = op.cur.take() else {
                continue;
            };
            let req = self.req();
            let cmd = match materialize(&op, &step, req) {
                Ok(c) => c,
                Err(e) => {
                    error!(seid = op.seid, error = %e, "command not encoded for the resync");
                    continue;
                }
            };
            op.cur = Some(step);
            out.push(Out::Dp(cmd));
            self.ops.insert(req, op);
        }
        let r = self.req();
        push_dp(out, &Command::SyncEnd { req: r });
        true
    }

    // ------------------------------------------------------------------
    // Datagrams
    // ------------------------------------------------------------------

    /// Handles one datagram from `from`.
    pub fn datagram(&mut self, now: u64, from: SocketAddr, data: &[u8], out: &mut Vec<Out>) {
        for r in m::decode_all(data) {
            match r {
                Ok(pdu) => {
                    *self.stats.rx.entry(pdu.msg.msg_type()).or_default() += 1;
                    if pdu.msg.is_request() {
                        self.request(now, from, pdu, out);
                    } else {
                        self.response(now, from, pdu, out);
                    }
                }
                Err(DecodeError::Version { version, seq }) => {
                    debug!(%from, version, "PFCP version not supported");
                    let pdu = Pdu::node(seq, Message::VersionNotSupportedResponse);
                    self.send(out, from, &pdu);
                }
                Err(DecodeError::Body {
                    msg_type,
                    seq,
                    seid,
                    error,
                }) => {
                    self.stats.malformed += 1;
                    *self.stats.rx.entry(msg_type).or_default() += 1;
                    if m::is_request_type(msg_type) {
                        self.reject_malformed(now, from, msg_type, seq, seid, error, out);
                    }
                }
                Err(e) => {
                    self.stats.malformed += 1;
                    debug!(%from, error = %e, "PFCP datagram dropped");
                }
            }
        }
    }

    #[allow(clippy::too_many_arguments)]
    fn reject_malformed(
        &mut self,
        now: u64,
        from: SocketAddr,
        msg_type: u8,
        seq: u32,
        seid: Option<u64>,
        error: IeError,
        out: &mut Vec<Out>,
    ) {
        let (cause, offending) = error.cause();
        debug!(%from, msg_type, %error, "rejecting malformed request");
        // The CP SEID only of the sender's own session.
        let peer = self.peer_of(from);
        let cp_seid = seid
            .and_then(|s| self.sessions.get(&s))
            .filter(|s| peer.as_deref() == Some(s.peer_node.as_str()))
            .map_or(0, |s| s.cp.seid);
        let msg = self.error_response(msg_type, cause, offending);
        if let Some(msg) = msg {
            let pdu = if msg.is_session() {
                Pdu::session(seq, cp_seid, msg)
            } else {
                Pdu::node(seq, msg)
            };
            self.respond(out, now, from, msg_type, pdu);
        }
    }

    /// The response to a request type carrying a rejection cause.
    fn error_response(
        &self,
        req_type: u8,
        cause: Cause,
        offending: Option<u16>,
    ) -> Option<Message> {
        let c = cause_ie(cause);
        let o = offending.map(i::OffendingIe);
        let node_id = self.cfg.node_id.clone();
        Some(match req_type {
            mt::PFD_MANAGEMENT_REQUEST => {
                Message::PfdManagementResponse(m::PfdManagementResponse {
                    cause: c,
                    offending_ie: o,
                    node_id: None,
                })
            }
            mt::ASSOCIATION_SETUP_REQUEST => {
                Message::AssociationSetupResponse(m::AssociationSetupResponse {
                    node_id,
                    cause: c,
                    recovery_time_stamp: i::RecoveryTimeStamp(self.recovery),
                    ..Default::default()
                })
            }
            mt::ASSOCIATION_UPDATE_REQUEST => {
                Message::AssociationUpdateResponse(m::AssociationUpdateResponse {
                    node_id,
                    cause: c,
                    ..Default::default()
                })
            }
            mt::ASSOCIATION_RELEASE_REQUEST => {
                Message::AssociationReleaseResponse(m::AssociationReleaseResponse {
                    node_id,
                    cause: c,
                })
            }
            mt::NODE_REPORT_REQUEST => Message::NodeReportResponse(m::NodeReportResponse {
                node_id,
                cause: c,
                offending_ie: o,
            }),
            mt::SESSION_SET_DELETION_REQUEST => {
                Message::SessionSetDeletionResponse(m::SessionSetDeletionResponse {
                    node_id,
                    cause: c,
                    offending_ie: o,
                })
            }
            mt::SESSION_ESTABLISHMENT_REQUEST => {
                Message::SessionEstablishmentResponse(m::SessionEstablishmentResponse {
                    node_id,
                    cause: c,
                    offending_ie: o,
                    ..Default::default()
                })
            }
            mt::SESSION_MODIFICATION_REQUEST => {
                Message::SessionModificationResponse(m::SessionModificationResponse {
                    cause: c,
                    offending_ie: o,
                    ..Default::default()
                })
            }
            mt::SESSION_DELETION_REQUEST => {
                Message::SessionDeletionResponse(m::SessionDeletionResponse {
                    cause: c,
                    offending_ie: o,
                    ..Default::default()
                })
            }
            mt::SESSION_REPORT_REQUEST => {
                Message::SessionReportResponse(m::SessionReportResponse {
                    cause: c,
                    offending_ie: o,
                    ..Default::default()
                })
            }
            _ => return None,
        })
    }

    fn peer_of(&self, from: SocketAddr) -> Option<String> {
        self.assocs
            .iter()
            .find(|(_, a)| a.addr.ip() == from.ip())
            .map(|(n, _)| n.clone())
    }

    /// Whether `from` announcing `node` may associate: an entry matches
    /// when every field it gives matches (address and/or Node ID).
    fn allowed(&self, from: SocketAddr, node: &str) -> bool {
        self.cfg.allowed.is_empty()
            || self.cfg.allowed.iter().any(|a| {
                (a.addr.is_some() || a.node_id.is_some())
                    && a.addr.is_none_or(|x| x == from.ip())
                    && a.node_id.as_deref().is_none_or(|n| n == node)
            })
    }

    /// The association that `node` names, if `from` is its address: node
    /// procedures that change an association must come from it.
    fn own_assoc(&self, from: SocketAddr, node: &str) -> bool {
        self.assocs
            .get(node)
            .is_some_and(|a| a.addr.ip() == from.ip())
    }

    fn request(&mut self, now: u64, from: SocketAddr, pdu: Pdu, out: &mut Vec<Out>) {
        let t = pdu.msg.msg_type();
        // An Association Setup Request that is no retransmission (no
        // association, or a new Recovery Time Stamp: the SMF restarted)
        // starts the peer's transactions afresh; answers cached for its old
        // sequence numbers must not be replayed to the new ones.
        if let Message::AssociationSetupRequest(r) = &pdu.msg {
            let fresh = self
                .assocs
                .get(&r.node_id.to_string())
                .is_none_or(|a| a.recovery != r.recovery_time_stamp.0);
            if fresh {
                let ip = from.ip();
                self.dedup.retain(|k, _| k.0.ip() != ip);
            }
        }
        // A retransmission: answer from the cache, never execute twice.
        if let Some((cached, _)) = self.dedup.get(&ReqKey(from, pdu.seq, t)) {
            self.stats.duplicates += 1;
            if let Some(data) = cached.clone() {
                out.push(Out::Send { to: from, data });
            }
            return;
        }
        match pdu.msg {
            Message::HeartbeatRequest(_) => {
                let rsp = Pdu::node(
                    pdu.seq,
                    Message::HeartbeatResponse(m::HeartbeatResponse {
                        recovery_time_stamp: i::RecoveryTimeStamp(self.recovery),
                    }),
                );
                // Heartbeats are cheap and idempotent: no cache entry.
                self.send(out, from, &rsp);
                if let Some(n) = self.peer_of(from) {
                    if let Some(a) = self.assocs.get_mut(&n) {
                        a.failed_since = None;
                    }
                }
            }
            Message::AssociationSetupRequest(r) => {
                self.association_setup(now, from, pdu.seq, r, out)
            }
            Message::AssociationUpdateRequest(r) => {
                let node = r.node_id.to_string();
                let cause = if self.own_assoc(from, &node) {
                    Cause::RequestAccepted
                } else {
                    Cause::NoEstablishedPfcpAssociation
                };
                let rsp = Message::AssociationUpdateResponse(m::AssociationUpdateResponse {
                    node_id: self.cfg.node_id.clone(),
                    cause: cause_ie(cause),
                    up_function_features: Some(up_features()),
                    cp_function_features: None,
                });
                self.respond(out, now, from, t, Pdu::node(pdu.seq, rsp));
            }
            Message::AssociationReleaseRequest(r) => {
                let node = r.node_id.to_string();
                let cause = if self.own_assoc(from, &node) {
                    self.assocs.remove(&node);
                    info!(%node, "association released by the SMF");
                    out.push(Out::Journal(Record::AssocGone { node: node.clone() }));
                    self.purge_peer(&node, out);
                    Cause::RequestAccepted
                } else {
                    Cause::NoEstablishedPfcpAssociation
                };
                let rsp = Message::AssociationReleaseResponse(m::AssociationReleaseResponse {
                    node_id: self.cfg.node_id.clone(),
                    cause: cause_ie(cause),
                });
                self.respond(out, now, from, t, Pdu::node(pdu.seq, rsp));
            }
            Message::PfdManagementRequest(r) => self.pfd_management(now, from, pdu.seq, r, out),
            Message::SessionSetDeletionRequest(r) => {
                self.session_set_deletion(now, from, pdu.seq, r, out)
            }
            Message::NodeReportRequest(_) => {
                let msg = self.error_response(t, Cause::ServiceNotSupported, None);
                if let Some(msg) = msg {
                    self.respond(out, now, from, t, Pdu::node(pdu.seq, msg));
                }
            }
            Message::SessionEstablishmentRequest(_)
            | Message::SessionModificationRequest(_)
            | Message::SessionDeletionRequest(_) => self.session_request(now, from, pdu, out),
            _ => {
                let msg = self.error_response(t, Cause::ServiceNotSupported, None);
                if let Some(msg) = msg {
                    self.respond(out, now, from, t, Pdu::node(pdu.seq, msg));
                }
            }
        }
    }

    /// PFD Management: the PFDs of each listed application replace its
    /// previous ones (none: the application's PFDs are removed; no
    /// application at all: every PFD is removed).
    fn pfd_management(
        &mut self,
        now: u64,
        from: SocketAddr,
        seq: u32,
        r: m::PfdManagementRequest,
        out: &mut Vec<Out>,
    ) {
        let t = mt::PFD_MANAGEMENT_REQUEST;
        if self.peer_of(from).is_none() {
            if let Some(msg) = self.error_response(t, Cause::NoEstablishedPfcpAssociation, None) {
                self.send(out, from, &Pdu::node(seq, msg));
            }
            return;
        }
        let mut apps: Vec<(String, Vec<Pfd>)> = Vec::new();
        for a in &r.application_ids_pfds {
            let mut pfds = Vec::new();
            for c in &a.pfd_context {
                let mut p = Pfd::default();
                for x in &c.pfd_contents {
                    if let Some(f) = x.flow_description.as_deref() {
                        match f.parse() {
                            Ok(fd) => p.flows.push(fd),
                            Err(_) => {
                                debug!(%from, flow = f, "PFD with an unusable flow description");
                                if let Some(msg) = self.error_response(
                                    t,
                                    Cause::MandatoryIeIncorrect,
                                    Some(t::PFD_CONTENTS),
                                ) {
                                    self.respond(out, now, from, t, Pdu::node(seq, msg));
                                }
                                return;
                            }
                        }
                    }
                    if let Some(d) = &x.domain_name {
                        p.domain_names.push(d.clone());
                    }
                    if let Some(u) = &x.url {
                        p.urls.push(u.clone());
                    }
                }
                pfds.push(p);
            }
            apps.push((a.application_id.text(), pfds));
        }
        if apps.is_empty() {
            apps = self.pfds.keys().map(|a| (a.clone(), Vec::new())).collect();
        }
        for (app, pfds) in apps {
            if pfds.is_empty() {
                self.pfds.remove(&app);
            } else {
                self.pfds.insert(app.clone(), pfds.clone());
            }
            out.push(Out::Journal(Record::Pfds {
                app: app.clone(),
                pfds: pfds.clone(),
            }));
            let req = self.req();
            push_dp(
                out,
                &Command::PfdPut {
                    req,
                    application_id: app,
                    pfds,
                },
            );
        }
        let rsp = Message::PfdManagementResponse(m::PfdManagementResponse {
            cause: cause_ie(Cause::RequestAccepted),
            offending_ie: None,
            node_id: Some(self.cfg.node_id.clone()),
        });
        self.respond(out, now, from, t, Pdu::node(seq, rsp));
    }

    /// Session Set Deletion: the sender's sessions whose FQ-CSIDs match one
    /// in the request (all of the sender's sessions when the request names
    /// none). Only the association's own address may ask, and only for
    /// its own Node ID.
    fn session_set_deletion(
        &mut self,
        now: u64,
        from: SocketAddr,
        seq: u32,
        r: m::SessionSetDeletionRequest,
        out: &mut Vec<Out>,
    ) {
        let t = mt::SESSION_SET_DELETION_REQUEST;
        let node = r.node_id.to_string();
        let cause = if self.peer_of(from).is_none() {
            Cause::NoEstablishedPfcpAssociation
        } else if !self.own_assoc(from, &node) {
            warn!(%from, %node, "session set deletion for another peer's Node ID refused");
            Cause::RequestRejected
        } else {
            let wanted: Vec<FqCsid> = r
                .fq_csid
                .iter()
                .filter_map(|b| FqCsid::parse(&b.0))
                .collect();
            let seids: Vec<u64> = self
                .sessions
                .iter()
                .filter(|(_, s)| s.peer_node == node)
                .filter(|(_, s)| {
                    wanted.is_empty()
                        || s.csids
                            .iter()
                            .filter_map(|b| FqCsid::parse(b))
                            .any(|c| wanted.iter().any(|w| w.overlaps(&c)))
                })
                .map(|(k, _)| *k)
                .collect();
            info!(%node, count = seids.len(), "session set deletion");
            for s in seids {
                self.drop_session(s, out);
            }
            Cause::RequestAccepted
        };
        let rsp = Message::SessionSetDeletionResponse(m::SessionSetDeletionResponse {
            node_id: self.cfg.node_id.clone(),
            cause: cause_ie(cause),
            offending_ie: None,
        });
        self.respond(out, now, from, t, Pdu::node(seq, rsp));
    }

    fn association_setup(
        &mut self,
        now: u64,
        from: SocketAddr,
        seq: u32,
        r: m::AssociationSetupRequest,
        out: &mut Vec<Out>,
    ) {
        let node = r.node_id.to_string();
        let t = mt::ASSOCIATION_SETUP_REQUEST;
        if !self.allowed(from, &node) {
            self.stats.refused_peers += 1;
            // At most one line per second, however many attempts.
            let (n, last) = self.refused_log;
            if last == 0 || now.saturating_sub(last) >= 1000 {
                warn!(%from, %node, suppressed = n, "association refused: peer not in pfcp.peers");
                self.refused_log = (0, now.max(1));
            } else {
                self.refused_log = (n + 1, last);
            }
            if let Some(msg) = self.error_response(t, Cause::RequestRejected, None) {
                self.respond(out, now, from, t, Pdu::node(seq, msg));
            }
            return;
        }
        if self.release_deadline.is_some() {
            info!(%from, %node, "association refused: this UPF is being released");
            if let Some(msg) = self.error_response(t, Cause::RequestRejected, None) {
                self.respond(out, now, from, t, Pdu::node(seq, msg));
            }
            return;
        }
        // Another address already holds this Node ID: only a configuration
        // entry naming the Node ID lets the SMF move; otherwise one peer could
        // take over (and purge) another's association.
        let moved = self
            .assocs
            .get(&node)
            .is_some_and(|a| a.addr.ip() != from.ip());
        let named = self.cfg.allowed.iter().any(|a| {
            a.node_id.as_deref() == Some(node.as_str()) && a.addr.is_none_or(|x| x == from.ip())
        });
        if moved && !named {
            self.stats.refused_peers += 1;
            warn!(%from, %node, "association refused: the Node ID is associated from another address");
            if let Some(msg) = self.error_response(t, Cause::RequestRejected, None) {
                self.respond(out, now, from, t, Pdu::node(seq, msg));
            }
            return;
        }
        // This address associated before under another Node ID: that
        // association ends (one association per peer address).
        let old: Vec<String> = self
            .assocs
            .iter()
            .filter(|(n, a)| **n != node && a.addr.ip() == from.ip())
            .map(|(n, _)| n.clone())
            .collect();
        for o in old {
            info!(node = %o, new = %node, "the peer associates under a new Node ID: old association removed");
            self.assocs.remove(&o);
            out.push(Out::Journal(Record::AssocGone { node: o.clone() }));
            self.purge_peer(&o, out);
        }
        let rt = r.recovery_time_stamp.0;
        match self.assocs.get(&node) {
            Some(a) if a.recovery != rt => {
                // The SMF restarted: its old sessions are gone on its side.
                info!(%node, "SMF restarted (new recovery time stamp): removing its sessions");
                self.purge_peer(&node, out);
            }
            _ => {}
        }
        self.assocs.insert(
            node.clone(),
            Assoc {
                addr: from,
                recovery: rt,
                hb_due: now + self.cfg.heartbeat_interval_ms,
                failed_since: None,
            },
        );
        // Sessions of this SMF follow its new address.
        for s in self.sessions.values_mut().filter(|s| s.peer_node == node) {
            s.peer_addr = Some(from);
        }
        out.push(Out::Journal(Record::Assoc(AssocRecord {
            node: node.clone(),
            addr: from,
            recovery: rt,
        })));
        info!(%node, %from, "association set up");
        let pools = self
            .cfg
            .pools
            .iter()
            .map(|p| {
                let name = p
                    .network_instance
                    .clone()
                    .or_else(|| p.dnn.clone())
                    .unwrap_or_else(|| "default".into());
                g::UeIpAddressPoolInformation {
                    pool_identity: i::PoolIdentity(name.clone()),
                    network_instance: Some(i::NetworkInstance::encoded(&name)),
                    s_nssai: vec![],
                    ip_version: Some(i::IpVersion(
                        u8::from(p.ipv4.is_some()) | (u8::from(p.ipv6.is_some()) << 1),
                    )),
                }
            })
            .collect();
        let rsp = Message::AssociationSetupResponse(m::AssociationSetupResponse {
            node_id: self.cfg.node_id.clone(),
            cause: cause_ie(Cause::RequestAccepted),
            recovery_time_stamp: i::RecoveryTimeStamp(self.recovery),
            up_function_features: Some(up_features()),
            ue_ip_address_pool_information: pools,
            ..Default::default()
        });
        self.respond(out, now, from, t, Pdu::node(seq, rsp));
    }

    fn session_request(&mut self, now: u64, from: SocketAddr, pdu: Pdu, out: &mut Vec<Out>) {
        let t = pdu.msg.msg_type();
        let Some(peer) = self.peer_of(from) else {
            if let Some(msg) = self.error_response(t, Cause::NoEstablishedPfcpAssociation, None) {
                self.respond(out, now, from, t, Pdu::session(pdu.seq, 0, msg));
            }
            return;
        };
        let seid = pdu.seid.unwrap_or(0);
        if t != mt::SESSION_ESTABLISHMENT_REQUEST {
            let Some(s) = self.sessions.get(&seid) else {
                if let Some(msg) = self.error_response(t, Cause::SessionContextNotFound, None) {
                    self.respond(out, now, from, t, Pdu::session(pdu.seq, 0, msg));
                }
                return;
            };
            if s.peer_node != peer {
                if let Some(msg) = self.error_response(t, Cause::SessionContextNotFound, None) {
                    self.respond(out, now, from, t, Pdu::session(pdu.seq, 0, msg));
                }
                return;
            }
            if self.busy.contains_key(&seid) {
                // An earlier request of this session waits for the dataplane.
                if let Some(q) = self.busy.get_mut(&seid) {
                    if !q.iter().any(|(f, p)| *f == from && p.seq == pdu.seq) {
                        q.push_back((from, pdu));
                    }
                }
                return;
            }
        }
        if t != mt::SESSION_ESTABLISHMENT_REQUEST {
            self.take_token(now, false);
        }
        // Mark in flight so a retransmission is not executed again.
        self.dedup.insert(ReqKey(from, pdu.seq, t), (None, now));
        match pdu.msg {
            Message::SessionEstablishmentRequest(r) => {
                self.establish(now, from, &peer, pdu.seq, r, out)
            }
            Message::SessionModificationRequest(r) => self.modify(now, from, seid, pdu.seq, r, out),
            Message::SessionDeletionRequest(_) => self.delete(now, from, seid, pdu.seq, out),
            _ => {}
        }
    }

    fn establish(
        &mut self,
        now: u64,
        from: SocketAddr,
        peer: &str,
        seq: u32,
        r: m::SessionEstablishmentRequest,
        out: &mut Vec<Out>,
    ) {
        let t = mt::SESSION_ESTABLISHMENT_REQUEST;
        let cp_seid = r.cp_fseid.seid;
        let reject = |node: &mut Node,
                      out: &mut Vec<Out>,
                      cause: Cause,
                      off: Option<u16>,
                      failed: Option<i::FailedRuleId>| {
            let msg = Message::SessionEstablishmentResponse(m::SessionEstablishmentResponse {
                node_id: node.cfg.node_id.clone(),
                cause: cause_ie(cause),
                offending_ie: off.map(i::OffendingIe),
                failed_rule_id: failed,
                ..Default::default()
            });
            node.respond(out, now, from, t, Pdu::session(seq, cp_seid, msg));
        };
        if r.create_pdr.is_empty() {
            return reject(
                self,
                out,
                Cause::MandatoryIeMissing,
                Some(t::CREATE_PDR),
                None,
            );
        }
        if r.create_far.is_empty() {
            return reject(
                self,
                out,
                Cause::MandatoryIeMissing,
                Some(t::CREATE_FAR),
                None,
            );
        }
        if self.release_deadline.is_some() {
            // Release under way (PARPS sent): no new sessions here.
            return reject(self, out, Cause::RequestRejected, None, None);
        }
        if let Some(up) = self.cp_get(peer, cp_seid) {
            // The request that created this session, retransmitted after our
            // restart emptied the response cache: the same answer again.
            if let Some(st) = self.sessions.get(&up).filter(|s| s.est_seq == Some(seq)) {
                self.stats.duplicates += 1;
                let msg = self.establishment_accepted(up, st);
                return self.respond(out, now, from, t, Pdu::session(seq, cp_seid, msg));
            }
            // The same CP session again with a new sequence number: refuse
            // rather than duplicate.
            return reject(self, out, Cause::RequestRejected, None, None);
        }
        if self.sessions.len() >= self.cfg.max_sessions {
            return reject(self, out, Cause::NoResourcesAvailable, None, None);
        }
        if !self.take_token(now, true) {
            self.stats.rate_limited += 1;
            return reject(self, out, Cause::PfcpEntityInCongestion, None, None);
        }
        let up_seid = self.alloc.seid();
        let mut txn = Txn::default();
        let ep = &self.cfg.endpoints;
        match SessionState::establish(peer, up_seid, &r, ep, &mut self.alloc, &mut txn) {
            Ok(mut st) => {
                st.peer_addr = Some(from);
                st.est_seq = Some(seq);
                self.cp_insert(peer, cp_seid, up_seid);
                self.busy.insert(up_seid, VecDeque::new());
                let op = Op {
                    seid: up_seid,
                    peer: from,
                    seq,
                    cp_seid,
                    kind: OpKind::Establish {
                        state: Box::new(st),
                        txn,
                    },
                    cur: None,
                    next: VecDeque::from([Step::Put]),
                    reports: Vec::new(),
                    rsp: mt::SESSION_ESTABLISHMENT_RESPONSE,
                };
                self.begin_op(now, op, out);
            }
            Err(e) => {
                txn.rollback(&mut self.alloc);
                debug!(error = %e, "establishment refused");
                let (cause, off) = rule_cause(&e);
                let failed = (cause == Cause::RuleCreationModificationFailure)
                    .then(|| convert::failed_rule(&e));
                reject(self, out, cause, off, failed);
            }
        }
    }

    fn modify(
        &mut self,
        now: u64,
        from: SocketAddr,
        seid: u64,
        seq: u32,
        r: m::SessionModificationRequest,
        out: &mut Vec<Out>,
    ) {
        let t = mt::SESSION_MODIFICATION_REQUEST;
        let Some(cur) = self.sessions.get(&seid) else {
            return;
        };
        let cp_seid = cur.cp.seid;
        let mut txn = Txn::default();
        let new = match cur.modify(&r, &self.cfg.endpoints, &mut self.alloc, &mut txn) {
            Ok(s) => s,
            Err(e) => {
                txn.rollback(&mut self.alloc);
                let (cause, off) = rule_cause(&e);
                let failed = (cause == Cause::RuleCreationModificationFailure)
                    .then(|| convert::failed_rule(&e));
                let msg = Message::SessionModificationResponse(m::SessionModificationResponse {
                    cause: cause_ie(cause),
                    offending_ie: off.map(i::OffendingIe),
                    failed_rule_id: failed,
                    ..Default::default()
                });
                return self.respond(out, now, from, t, Pdu::session(seq, cp_seid, msg));
            }
        };
        let mut new = new;
        if let Some(f) = r.cp_fseid {
            new.cp.seid = f.seid;
            new.cp.ipv4 = f.ipv4;
            new.cp.ipv6 = f.ipv6;
        }
        let created: Vec<u16> = r.create_pdr.iter().map(|p| p.pdr_id.0).collect();
        let release_teids = new.unused_teids();
        let mut changed = new.rules != cur.rules;
        let mut cmds: VecDeque<Step> = VecDeque::new();
        let flags = r.pfcpsm_req_flags.map_or(0, |f| f.0);
        if flags & SM_DROBU != 0 {
            // Drop what is buffered: the buffering FARs drop for one step
            // (buffered packets are replayed through them and dropped), then
            // the new rules are installed.
            let mut drop = cur.rules.clone();
            let mut any = false;
            for f in drop.fars.iter_mut() {
                if f.apply_action.has(ApplyAction::BUFF) {
                    f.apply_action = ApplyAction(ApplyAction::DROP);
                    any = true;
                }
            }
            if any {
                cmds.push_back(Step::Cmd(Command::SessionPut {
                    req: 0,
                    rules: drop,
                }));
                changed = true;
            }
        }
        if changed {
            cmds.push_back(Step::Put);
        }
        if flags & SM_QAURR != 0 {
            cmds.push_back(Step::Cmd(Command::SessionQuery {
                req: 0,
                seid,
                urr_ids: Vec::new(),
                query_reference: r.query_urr_reference.map(|q| q.0),
            }));
        } else if !r.query_urr.is_empty() {
            cmds.push_back(Step::Cmd(Command::SessionQuery {
                req: 0,
                seid,
                urr_ids: r.query_urr.iter().map(|q| q.urr_id.0).collect(),
                query_reference: r.query_urr_reference.map(|q| q.0),
            }));
        }
        if cmds.is_empty() {
            cmds.push_back(Step::Cmd(Command::Ping { req: 0 }));
        }
        self.busy.entry(seid).or_default();
        let op = Op {
            seid,
            peer: from,
            seq,
            cp_seid: new.cp.seid,
            cur: None,
            kind: OpKind::Modify {
                state: Box::new(new),
                txn,
                created,
                release_teids,
            },
            next: cmds,
            reports: Vec::new(),
            rsp: mt::SESSION_MODIFICATION_RESPONSE,
        };
        self.begin_op(now, op, out);
    }

    fn delete(&mut self, now: u64, from: SocketAddr, seid: u64, seq: u32, out: &mut Vec<Out>) {
        let Some(cur) = self.sessions.get(&seid) else {
            return;
        };
        self.busy.entry(seid).or_default();
        let op = Op {
            seid,
            peer: from,
            seq,
            cp_seid: cur.cp.seid,
            cur: None,
            kind: OpKind::Delete,
            next: VecDeque::from([Step::Cmd(Command::SessionDelete { req: 0, seid })]),
            reports: Vec::new(),
            rsp: mt::SESSION_DELETION_RESPONSE,
        };
        self.begin_op(now, op, out);
    }

    /// Starts a new operation (counted against its peer until finished).
    fn begin_op(&mut self, now: u64, op: Op, out: &mut Vec<Out>) {
        *self.in_flight.entry(op.peer.ip()).or_default() += 1;
        self.start_op(now, op, out);
    }

    /// Sends the next command of `op` and parks it under its request ID.
    fn start_op(&mut self, now: u64, mut op: Op, out: &mut Vec<Out>) {
        let Some(step) = op.next.pop_front() else {
            return;
        };
        let req = self.req();
        let cmd = match materialize(&op, &step, req) {
            Ok(c) => c,
            Err(e) => {
                error!(seid = op.seid, error = %e, "command not encoded");
                return self.finish(now, op, Some(e), out);
            }
        };
        op.cur = Some(step);
        out.push(Out::Dp(cmd));
        self.ops.insert(req, op);
    }

    fn response(&mut self, _now: u64, from: SocketAddr, pdu: Pdu, out: &mut Vec<Out>) {
        let Some(o) = self.out_reqs.remove(&pdu.seq) else {
            return;
        };
        if o.to.ip() != from.ip() {
            self.out_reqs.insert(pdu.seq, o);
            return;
        }
        match (&o.kind, &pdu.msg) {
            (OutKind::Heartbeat(node), Message::HeartbeatResponse(h)) => {
                let node = node.clone();
                let restarted = self
                    .assocs
                    .get(&node)
                    .is_some_and(|a| a.recovery != h.recovery_time_stamp.0);
                if let Some(a) = self.assocs.get_mut(&node) {
                    a.failed_since = None;
                }
                if restarted {
                    info!(%node, "SMF restarted (heartbeat recovery time stamp changed): removing its sessions");
                    self.purge_peer(&node, out);
                    if let Some(a) = self.assocs.get_mut(&node) {
                        a.recovery = h.recovery_time_stamp.0;
                    }
                }
            }
            (OutKind::Report, Message::SessionReportResponse(r)) => {
                self.stats.reports_answered += 1;
                if r.cause.0 != Cause::RequestAccepted as u8 {
                    debug!(cause = r.cause.0, "session report refused by the SMF");
                }
            }
            (OutKind::NodeReport, _) => {}
            (OutKind::Release, Message::AssociationUpdateResponse(r)) => {
                info!(%from, cause = r.cause.0, "SMF answered the release request");
            }
            _ => {}
        }
    }

    // ------------------------------------------------------------------
    // Dataplane events
    // ------------------------------------------------------------------

    // ------------------------------------------------------------------
    // Graceful release (TS 29.244 6.2.7.3 / 5.18): the UPF is going away
    // ------------------------------------------------------------------

    /// Starts a graceful release: every associated SMF gets an Association
    /// Update Request with PARPS (stop establishing sessions here) and a
    /// PFCP Association Release Request (SARR) with a Graceful Release
    /// Period of `period_ms`; the SMF then deletes its sessions (each
    /// Session Deletion Response carries the final usage reports) and
    /// releases the association. Meanwhile new associations and
    /// establishments are refused with "Request rejected"; everything else
    /// (modifications, deletions, reports, heartbeats) goes on.
    pub fn begin_release(&mut self, now: u64, period_ms: u64, out: &mut Vec<Out>) {
        if self.release_deadline.is_some() {
            return;
        }
        self.release_deadline = Some(now + period_ms);
        let targets: Vec<SocketAddr> = self.assocs.values().map(|a| a.addr).collect();
        info!(
            smfs = targets.len(),
            sessions = self.sessions.len(),
            period_ms,
            "graceful release: asking every SMF to release this UPF"
        );
        for to in targets {
            let msg = Message::AssociationUpdateRequest(m::AssociationUpdateRequest {
                node_id: self.cfg.node_id.clone(),
                association_release_request: Some(i::AssociationReleaseRequest(ASSOC_RELEASE_SARR)),
                graceful_release_period: Some(i::GracefulReleasePeriod(timer_ie(period_ms))),
                pfcpau_req_flags: Some(i::PfcpauReqFlags(AU_PARPS)),
                ..Default::default()
            });
            let seq = self.seq();
            let pdu = Pdu::node(seq, msg);
            let data = self.send(out, to, &pdu);
            self.out_reqs.insert(
                seq,
                Outgoing {
                    to,
                    data,
                    due: now + self.cfg.request_timeout_ms,
                    tries: 0,
                    kind: OutKind::Release,
                },
            );
        }
    }

    /// True once [`Node::begin_release`] was called.
    pub fn releasing(&self) -> bool {
        self.release_deadline.is_some()
    }

    /// True when a release has begun and is over: every SMF has released
    /// its association (sessions are deleted with it), or the graceful
    /// release period has passed (what is left stays in the journal for
    /// the next start).
    pub fn release_done(&self, now: u64) -> bool {
        match self.release_deadline {
            Some(d) => (self.assocs.is_empty() && self.ops.is_empty()) || now >= d,
            None => false,
        }
    }

    /// Handles an event from the dataplane.
    pub fn dp_event(&mut self, now: u64, ev: Event, out: &mut Vec<Out>) {
        match ev {
            Event::Ack { req, result } => self.ack(now, req, result, out),
            Event::Usage(u) => {
                let Some(s) = self.sessions.get(&u.seid) else {
                    return;
                };
                let msg = Message::SessionReportRequest(m::SessionReportRequest {
                    report_type: i::ReportType(0x02),
                    usage_report: vec![convert::usage_report(&u)],
                    ..Default::default()
                });
                self.report(now, s.peer_addr, s.cp.seid, msg, out);
            }
            Event::DownlinkData(d) => {
                let Some(s) = self.sessions.get(&d.seid) else {
                    return;
                };
                let msg = Message::SessionReportRequest(m::SessionReportRequest {
                    report_type: i::ReportType(0x01),
                    downlink_data_report: Some(g::DownlinkDataReport {
                        pdr_id: vec![i::PdrId(d.pdr_id)],
                        downlink_data_service_information: vec![
                            i::DownlinkDataServiceInformation {
                                ppi: d.ppi,
                                qfi: d.qfi,
                            },
                        ],
                    }),
                    ..Default::default()
                });
                // A BAR's Downlink Data Notification Delay holds the report
                // back (TS 29.244 5.2.4.2); it is dropped if buffering ends
                // meanwhile.
                let delay = s
                    .rules
                    .bar
                    .and_then(|b| b.dl_data_notification_delay_ms)
                    .unwrap_or(0);
                if delay > 0 {
                    self.ddn.push(Delayed {
                        due: now + u64::from(delay),
                        seid: d.seid,
                        msg,
                    });
                    return;
                }
                self.report(now, s.peer_addr, s.cp.seid, msg, out);
            }
            Event::ErrorIndication { peer, teid, seids } => {
                for seid in seids {
                    let Some(s) = self.sessions.get(&seid) else {
                        continue;
                    };
                    let (ipv4, ipv6) = match peer {
                        IpAddr::V4(a) => (Some(a), None),
                        IpAddr::V6(a) => (None, Some(a)),
                    };
                    let msg = Message::SessionReportRequest(m::SessionReportRequest {
                        report_type: i::ReportType(0x04),
                        error_indication_report: Some(g::ErrorIndicationReport {
                            remote_fteid: vec![i::FTeid {
                                teid,
                                ipv4,
                                ipv6,
                                ..Default::default()
                            }],
                        }),
                        ..Default::default()
                    });
                    let (a, c) = (s.peer_addr, s.cp.seid);
                    self.report(now, a, c, msg, out);
                }
            }
            Event::PeerPath { peer, up } => {
                let (ipv4, ipv6) = match peer {
                    IpAddr::V4(a) => (Some(a), None),
                    IpAddr::V6(a) => (None, Some(a)),
                };
                let rp = i::RemoteGtpuPeer {
                    ipv4,
                    ipv6,
                    ..Default::default()
                };
                let targets: Vec<SocketAddr> = self.assocs.values().map(|a| a.addr).collect();
                for to in targets {
                    let msg = Message::NodeReportRequest(m::NodeReportRequest {
                        node_id: self.cfg.node_id.clone(),
                        node_report_type: i::NodeReportType(if up { 0x02 } else { 0x01 }),
                        user_plane_path_failure_report: (!up).then(|| {
                            g::UserPlanePathFailureReport {
                                remote_gtpu_peer: vec![rp.clone()],
                            }
                        }),
                        user_plane_path_recovery_report: up.then(|| {
                            g::UserPlanePathRecoveryReport {
                                remote_gtpu_peer: vec![rp.clone()],
                            }
                        }),
                    });
                    let seq = self.seq();
                    let pdu = Pdu::node(seq, msg);
                    let data = self.send(out, to, &pdu);
                    self.out_reqs.insert(
                        seq,
                        Outgoing {
                            to,
                            data,
                            due: now + self.cfg.request_timeout_ms,
                            tries: 0,
                            kind: OutKind::NodeReport,
                        },
                    );
                }
            }
        }
    }

    fn report(
        &mut self,
        now: u64,
        to: Option<SocketAddr>,
        cp_seid: u64,
        msg: Message,
        out: &mut Vec<Out>,
    ) {
        let Some(to) = to else { return };
        let seq = self.seq();
        let pdu = Pdu::session(seq, cp_seid, msg);
        let data = self.send(out, to, &pdu);
        self.stats.reports_sent += 1;
        self.out_reqs.insert(
            seq,
            Outgoing {
                to,
                data,
                due: now + self.cfg.request_timeout_ms,
                tries: 0,
                kind: OutKind::Report,
            },
        );
    }

    fn ack(
        &mut self,
        now: u64,
        req: u64,
        result: Result<upf_ctrl::AckBody, CommandError>,
        out: &mut Vec<Out>,
    ) {
        let Some(mut op) = self.ops.remove(&req) else {
            if let Err(e) = result {
                warn!(req, error = %e, "dataplane refused a command");
            }
            return;
        };
        match result {
            Ok(mut b) => {
                op.reports.append(&mut b.usage);
                if !op.next.is_empty() {
                    return self.start_op(now, op, out);
                }
                self.finish(now, op, None, out);
            }
            Err(e) => {
                warn!(seid = op.seid, error = %e, "dataplane refused the session's rules");
                self.finish(now, op, Some(e), out);
            }
        }
    }

    fn finish(&mut self, now: u64, op: Op, err: Option<CommandError>, out: &mut Vec<Out>) {
        let seid = op.seid;
        let ip = op.peer.ip();
        if let Some(n) = self.in_flight.get_mut(&ip) {
            *n = n.saturating_sub(1);
            if *n == 0 {
                self.in_flight.remove(&ip);
            }
        }
        let (cause, failed) = match &err {
            None => (Cause::RequestAccepted, None),
            Some(CommandError::Rule(e)) => (
                Cause::RuleCreationModificationFailure,
                Some(convert::failed_rule(e)),
            ),
            Some(CommandError::UnknownSession(_)) => (Cause::SessionContextNotFound, None),
            Some(CommandError::NoResources(_)) => (Cause::NoResourcesAvailable, None),
            Some(CommandError::Rejected(_)) => (Cause::SystemFailure, None),
        };
        let reports: Vec<g::UsageReport> = op.reports.iter().map(convert::usage_report).collect();
        let msg = match op.kind {
            OpKind::Establish { state, txn } => {
                if err.is_none() {
                    out.push(Out::JournalSession(seid));
                    let msg = self.establishment_accepted(seid, &state);
                    self.sessions.insert(seid, state);
                    msg
                } else {
                    self.cp_remove(&state.peer_node, state.cp.seid);
                    txn.rollback(&mut self.alloc);
                    Message::SessionEstablishmentResponse(m::SessionEstablishmentResponse {
                        node_id: self.cfg.node_id.clone(),
                        cause: cause_ie(cause),
                        failed_rule_id: failed,
                        ..Default::default()
                    })
                }
            }
            OpKind::Modify {
                state,
                txn,
                created,
                release_teids,
            } => {
                if err.is_none() {
                    let mut state = state;
                    for t in &release_teids {
                        self.alloc.release_teid(*t);
                    }
                    state.teids.retain(|t| !release_teids.contains(t));
                    let cpdr = state.created_pdrs(created.into_iter());
                    out.push(Out::JournalSession(seid));
                    self.sessions.insert(seid, state);
                    Message::SessionModificationResponse(m::SessionModificationResponse {
                        cause: cause_ie(cause),
                        created_pdr: cpdr,
                        usage_report: reports,
                        ..Default::default()
                    })
                } else {
                    txn.rollback(&mut self.alloc);
                    Message::SessionModificationResponse(m::SessionModificationResponse {
                        cause: cause_ie(cause),
                        failed_rule_id: failed,
                        ..Default::default()
                    })
                }
            }
            OpKind::Delete => {
                if let Some(s) = self.sessions.remove(&seid) {
                    self.release(&s);
                    self.cp_remove(&s.peer_node, s.cp.seid);
                }
                out.push(Out::Journal(Record::SessionGone { seid }));
                Message::SessionDeletionResponse(m::SessionDeletionResponse {
                    cause: cause_ie(if matches!(err, Some(CommandError::UnknownSession(_))) {
                        Cause::RequestAccepted
                    } else {
                        cause
                    }),
                    usage_report: reports,
                    ..Default::default()
                })
            }
        };
        let req_type = op.rsp - 1;
        self.respond(
            out,
            now,
            op.peer,
            req_type,
            Pdu::session(op.seq, op.cp_seid, msg),
        );
        // Requests that waited behind this one, in order.
        if let Some(mut q) = self.busy.remove(&seid) {
            while let Some((from, pdu)) = q.pop_front() {
                self.request(now, from, pdu, out);
                if let Some(b) = self.busy.get_mut(&seid) {
                    // That request went to the dataplane: the rest wait again.
                    b.extend(q.drain(..));
                    break;
                }
            }
        }
    }

    fn cp_get(&self, peer: &str, cp: u64) -> Option<u64> {
        self.cp_index.get(peer).and_then(|m| m.get(&cp)).copied()
    }

    fn cp_insert(&mut self, peer: &str, cp: u64, up: u64) {
        match self.cp_index.get_mut(peer) {
            Some(m) => {
                m.insert(cp, up);
            }
            None => {
                let mut m = FxHashMap::with_capacity_and_hasher(
                    expected_per_peer(&self.cfg),
                    Default::default(),
                );
                m.insert(cp, up);
                self.cp_index.insert(peer.to_string(), m);
            }
        }
    }

    fn cp_remove(&mut self, peer: &str, cp: u64) {
        if let Some(m) = self.cp_index.get_mut(peer) {
            m.remove(&cp);
            if m.is_empty() {
                self.cp_index.remove(peer);
            }
        }
    }

    /// The accepting Establishment Response for session `seid`.
    fn establishment_accepted(&self, seid: u64, state: &SessionState) -> Message {
        // Our F-SEID carries the address family the SMF used.
        let (v4, v6) = (self.cfg.fseid_v4, self.cfg.fseid_v6);
        let fseid = i::FSeid {
            seid,
            ipv4: if state.cp.ipv4.is_some() || v6.is_none() {
                v4
            } else {
                None
            },
            ipv6: if state.cp.ipv4.is_none() || v4.is_none() {
                v6
            } else {
                None
            },
        };
        Message::SessionEstablishmentResponse(m::SessionEstablishmentResponse {
            node_id: self.cfg.node_id.clone(),
            cause: cause_ie(Cause::RequestAccepted),
            up_fseid: Some(fseid),
            created_pdr: state.created_pdrs(state.rules.pdrs.iter().map(|p| p.id)),
            ..Default::default()
        })
    }

    /// Takes one token of `max_request_rate`; `refuse` says whether an empty
    /// bucket refuses the request (establishments) or just stays empty.
    fn take_token(&mut self, now: u64, refuse: bool) -> bool {
        let rate = f64::from(self.cfg.max_request_rate);
        if rate <= 0.0 {
            return true;
        }
        let (tokens, last) = self.bucket;
        let dt = now.saturating_sub(last) as f64 / 1000.0;
        let tokens = (tokens + dt * rate).min(rate);
        if tokens >= 1.0 {
            self.bucket = (tokens - 1.0, now);
            true
        } else {
            self.bucket = (if refuse { tokens } else { 0.0 }, now);
            !refuse
        }
    }

    fn release(&mut self, s: &SessionState) {
        for t in &s.teids {
            self.alloc.release_teid(*t);
        }
        for u in &s.ues {
            self.alloc.release_ue(*u);
        }
    }

    /// Deletes a session on our side (the SMF is gone or asked for it).
    fn drop_session(&mut self, seid: u64, out: &mut Vec<Out>) {
        if let Some(s) = self.sessions.remove(&seid) {
            self.release(&s);
            self.cp_remove(&s.peer_node, s.cp.seid);
            let req = self.req();
            push_dp(out, &Command::SessionDelete { req, seid });
            out.push(Out::Journal(Record::SessionGone { seid }));
        }
    }

    fn purge_peer(&mut self, node: &str, out: &mut Vec<Out>) {
        let seids: Vec<u64> = self
            .sessions
            .iter()
            .filter(|(_, s)| s.peer_node == node)
            .map(|(k, _)| *k)
            .collect();
        for s in seids {
            self.drop_session(s, out);
        }
    }

    // ------------------------------------------------------------------
    // Time
    // ------------------------------------------------------------------

    /// Runs timers: heartbeats, retransmissions, failed peers, cache expiry,
    /// delayed Downlink Data Reports.
    pub fn tick(&mut self, now: u64, out: &mut Vec<Out>) {
        if self.ddn.iter().any(|d| d.due <= now) {
            let (due, wait): (Vec<Delayed>, Vec<Delayed>) = std::mem::take(&mut self.ddn)
                .into_iter()
                .partition(|d| d.due <= now);
            self.ddn = wait;
            for d in due {
                let Some(s) = self.sessions.get(&d.seid) else {
                    continue;
                };
                let still = s.rules.fars.iter().any(|f| {
                    f.apply_action.has(ApplyAction::BUFF) && f.apply_action.has(ApplyAction::NOCP)
                });
                if still {
                    let (a, c) = (s.peer_addr, s.cp.seid);
                    self.report(now, a, c, d.msg, out);
                }
            }
        }
        // Heartbeats towards every associated SMF.
        let due: Vec<String> = self
            .assocs
            .iter()
            .filter(|(_, a)| a.hb_due <= now)
            .map(|(n, _)| n.clone())
            .collect();
        for node in due {
            let busy = self
                .out_reqs
                .values()
                .any(|o| matches!(&o.kind, OutKind::Heartbeat(n) if *n == node));
            let Some(a) = self.assocs.get_mut(&node) else {
                continue;
            };
            a.hb_due = now + self.cfg.heartbeat_interval_ms;
            if busy {
                continue;
            }
            let to = a.addr;
            let seq = self.seq();
            let pdu = Pdu::node(
                seq,
                Message::HeartbeatRequest(m::HeartbeatRequest {
                    recovery_time_stamp: i::RecoveryTimeStamp(self.recovery),
                    source_ip_address: None,
                }),
            );
            let data = self.send(out, to, &pdu);
            self.out_reqs.insert(
                seq,
                Outgoing {
                    to,
                    data,
                    due: now + self.cfg.request_timeout_ms,
                    tries: 0,
                    kind: OutKind::Heartbeat(node),
                },
            );
        }
        // Retransmissions.
        let due: Vec<u32> = self
            .out_reqs
            .iter()
            .filter(|(_, o)| o.due <= now)
            .map(|(s, _)| *s)
            .collect();
        for seq in due {
            let Some(mut o) = self.out_reqs.remove(&seq) else {
                continue;
            };
            let limit = match o.kind {
                OutKind::Heartbeat(_) => self.cfg.heartbeat_retries.saturating_sub(1),
                _ => self.cfg.request_retries,
            };
            if o.tries < limit {
                o.tries += 1;
                o.due = now + self.cfg.request_timeout_ms;
                out.push(Out::Send {
                    to: o.to,
                    data: o.data.clone(),
                });
                self.out_reqs.insert(seq, o);
                continue;
            }
            self.stats.requests_timed_out += 1;
            if let OutKind::Heartbeat(node) = o.kind {
                self.peer_failed(now, &node, out);
            }
        }
        // Failed peers past their grace period.
        if let FailurePolicy::Keep(grace) = self.cfg.failure_policy {
            let expired: Vec<String> = self
                .assocs
                .iter()
                .filter(|(_, a)| {
                    a.failed_since
                        .is_some_and(|t| now.saturating_sub(t) >= grace)
                })
                .map(|(n, _)| n.clone())
                .collect();
            for node in expired {
                warn!(%node, "grace period over: removing the failed SMF's association and sessions");
                self.assocs.remove(&node);
                out.push(Out::Journal(Record::AssocGone { node: node.clone() }));
                self.purge_peer(&node, out);
            }
        }
        // Response cache: keep answers long enough for every retransmission
        // an SMF may send (N1 x T1, with margin).
        let keep = self.cfg.request_timeout_ms * u64::from(self.cfg.request_retries + 2) + 5000;
        while let Some((at, key)) = self.dedup_order.front().copied() {
            if now.saturating_sub(at) < keep {
                break;
            }
            self.dedup_order.pop_front();
            // Only if it was not stored again since.
            if self
                .dedup
                .get(&key)
                .is_some_and(|(d, t)| d.is_some() && *t == at)
            {
                self.dedup.remove(&key);
            }
        }
    }

    fn peer_failed(&mut self, now: u64, node: &str, out: &mut Vec<Out>) {
        let Some(a) = self.assocs.get_mut(node) else {
            return;
        };
        if a.failed_since.is_some() {
            return;
        }
        self.stats.peers_failed += 1;
        match self.cfg.failure_policy {
            FailurePolicy::Keep(g) => {
                warn!(%node, grace_ms = g, "SMF does not answer heartbeats: keeping its sessions for the grace period");
                a.failed_since = Some(now);
            }
            FailurePolicy::Purge => {
                warn!(%node, "SMF does not answer heartbeats: removing its association and sessions");
                self.assocs.remove(node);
                out.push(Out::Journal(Record::AssocGone {
                    node: node.to_string(),
                }));
                self.purge_peer(node, out);
            }
        }
    }
}

/// The CP SEID index of one peer is sized for its share of the expected
/// sessions (all of them when any SMF may associate).
fn expected_per_peer(cfg: &NodeConfig) -> usize {
    cfg.expected_sessions.min(cfg.max_sessions) / cfg.allowed.len().max(1)
}

/// The command of `step` under request ID `req`, encoded.
fn materialize(op: &Op, step: &Step, req: u64) -> Result<EncodedCommand, CommandError> {
    let encoded = match step {
        Step::Put => match &op.kind {
            OpKind::Establish { state, .. } | OpKind::Modify { state, .. } => {
                EncodedCommand::session_put(req, &state.rules)
            }
            OpKind::Delete => {
                return Err(CommandError::Rejected(
                    "a deletion has no rules to put".into(),
                ))
            }
        },
        Step::Cmd(c) => {
            let mut c = c.clone();
            set_req(&mut c, req);
            EncodedCommand::new(&c)
        }
    };
    encoded.map_err(|e| CommandError::Rejected(e.to_string()))
}

/// Encodes `cmd` into `out` (encoding our own commands does not fail; if it
/// did, the command is logged and left out).
fn push_dp(out: &mut Vec<Out>, cmd: &Command) {
    match EncodedCommand::new(cmd) {
        Ok(c) => out.push(Out::Dp(c)),
        Err(e) => error!(req = cmd.req(), error = %e, "command not encoded"),
    }
}

fn set_req(c: &mut Command, r: u64) {
    match c {
        Command::SessionPut { req, .. }
        | Command::SessionDelete { req, .. }
        | Command::SessionQuery { req, .. }
        | Command::PfdPut { req, .. }
        | Command::SteeringPut { req, .. }
        | Command::SyncBegin { req }
        | Command::SyncEnd { req }
        | Command::Ping { req } => *req = r,
    }
}

fn response_cause(m: &Message) -> Option<u8> {
    Some(match m {
        Message::PfdManagementResponse(r) => r.cause.0,
        Message::AssociationSetupResponse(r) => r.cause.0,
        Message::AssociationUpdateResponse(r) => r.cause.0,
        Message::AssociationReleaseResponse(r) => r.cause.0,
        Message::NodeReportResponse(r) => r.cause.0,
        Message::SessionSetDeletionResponse(r) => r.cause.0,
        Message::SessionEstablishmentResponse(r) => r.cause.0,
        Message::SessionModificationResponse(r) => r.cause.0,
        Message::SessionDeletionResponse(r) => r.cause.0,
        Message::SessionReportResponse(r) => r.cause.0,
        _ => return None,
    })
}

/// The UP Function Features that are true of this UPF.
pub fn up_features() -> i::Features {
    use i::upf::*;
    let mut f = i::Features::default();
    for (o, b) in [BUCP, DDND, FTUP, PFDM, EMPU, UEIP, MNOP, FRRT, QUOAC] {
        f.set(o, b);
    }
    f
}

/// An FQ-CSID (TS 29.244 8.2.46): the node address and its CSIDs.
#[derive(Debug, PartialEq, Eq)]
struct FqCsid {
    node: Vec<u8>,
    csids: Vec<u16>,
}

impl FqCsid {
    fn parse(b: &[u8]) -> Option<FqCsid> {
        let first = *b.first()?;
        let alen = match first >> 4 {
            0 | 2 => 4,
            1 => 16,
            _ => return None,
        };
        let n = usize::from(first & 0x0f);
        let node = b.get(1..1 + alen)?.to_vec();
        let body = b.get(1 + alen..1 + alen + 2 * n)?;
        let csids = body
            .chunks_exact(2)
            .map(|c| u16::from_be_bytes([c[0], c[1]]))
            .collect();
        Some(FqCsid { node, csids })
    }

    fn overlaps(&self, o: &FqCsid) -> bool {
        self.node == o.node && self.csids.iter().any(|c| o.csids.contains(c))
    }
}
