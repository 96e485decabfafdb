//! The shell around [`crate::node::Node`]: UDP sockets on a `mio` event
//! loop, the control channel to the dataplane, the journal file, the
//! metrics endpoint and the admin socket.
//!
//! Overload behaviour (the flood protection of docs/PFCP.md):
//! - every associated SMF gets its own UDP socket, bound to the same local
//!   N4 address and port and *connected* to the SMF's address: the kernel
//!   delivers that SMF's datagrams to it (a connected socket is the better
//!   match), so its heartbeats and responses have their own receive buffer
//!   that nobody else's traffic can fill;
//! - node messages of associated peers (heartbeats, responses) are handled
//!   as soon as they are read; those of other addresses (association
//!   attempts, strangers' heartbeats) wait in a bounded queue served with a
//!   small budget per drain; session requests wait in one bounded queue per
//!   socket, served round robin in small batches, and the sockets are
//!   drained again between batches, so reading never waits behind work;
//! - requests waiting for the dataplane are capped in total and per peer,
//!   so one SMF's burst cannot queue up in front of another's requests;
//! - a full queue drops the newest request (counted; the SMF retransmits).

use std::collections::{HashMap, VecDeque};
use std::io;
use std::net::{IpAddr, SocketAddr};
use std::os::unix::net::UnixListener;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use mio::net::UdpSocket;
use mio::{Events, Interest, Poll, Token, Waker};
use tracing::{debug, error, info, warn};
use upf_config::{Config, Fsync, PeerFailurePolicy, Role, ShutdownPolicy};
use upf_ctrl::{ClientEnd, DataplaneStatus, EncodedCommand, SLOT_PFCP};

use crate::convert::NTP_UNIX_OFFSET;
use crate::journal::{Journal, SyncPolicy, Writer};
use crate::node::{Allowed, FailurePolicy, Node, NodeConfig, NodeStats, Out};
use crate::session::Endpoints;

const WAKER: Token = Token(usize::MAX);
/// Tokens of the per-peer sockets start here.
const PEER_TOKEN: usize = 1 << 20;
/// Session requests waiting per socket.
const SESSION_QUEUE: usize = 16384;
/// Sessions pushed to the dataplane per loop during a resync (only while
/// the command backlog is below this too).
const RESYNC_SLICE: usize = 2048;
/// Session requests handled per loop at most.
const SESSION_BUDGET: usize = 4096;
/// Session requests between two drains of the sockets.
const SESSION_BATCH: usize = 32;
/// Time spent on session requests per loop at most.
const WORK_SLICE: Duration = Duration::from_millis(5);
/// Datagrams read from one socket per drain at most.
const DRAIN_MAX: usize = 2048;
/// Remote addresses remembered for choosing the answering socket.
const ROUTE_MAX: usize = 65536;
/// Requests waiting for the dataplane before session requests wait in
/// their queues (backpressure: the queues are bounded, this keeps the
/// operations and the command backlog bounded too).
const MAX_IN_FLIGHT: usize = 4096;
/// The same for one peer: one SMF's burst cannot fill the dataplane's
/// command queue in front of another SMF's requests.
const MAX_IN_FLIGHT_PER_PEER: usize = 1024;
/// Node messages from addresses without an association (association
/// attempts, heartbeats of strangers) waiting at most.
const STRANGER_QUEUE: usize = 4096;
/// Of those, handled per drain.
const STRANGER_BUDGET: usize = 64;

/// Errors that stop the server.
#[derive(Debug, thiserror::Error)]
pub enum ServerError {
    /// A socket could not be bound.
    #[error("cannot listen on {addr}: {source}")]
    Bind {
        /// The address.
        addr: SocketAddr,
        /// The OS error.
        source: io::Error,
    },
    /// The journal could not be opened.
    #[error(transparent)]
    Journal(#[from] crate::journal::JournalError),
    /// Event loop failure.
    #[error("event loop: {0}")]
    Io(#[from] io::Error),
    /// Configuration not usable.
    #[error("configuration: {0}")]
    Config(String),
}

/// What the metrics endpoint and the admin socket read.
#[derive(Clone, Debug, Default)]
pub struct Snapshot {
    /// Node counters.
    pub stats: NodeStats,
    /// Sessions.
    pub sessions: usize,
    /// Associations: node, address, failed.
    pub peers: Vec<(String, SocketAddr, bool)>,
    /// Dataplane attached.
    pub dataplane: bool,
    /// Commands waiting for the control channel.
    pub dp_backlog: usize,
    /// Session requests waiting.
    pub queued: usize,
    /// Requests dropped because the queue was full.
    pub overload_drops: u64,
    /// Associated peers with their own socket.
    pub peer_sockets: usize,
    /// A resync to the dataplane is under way.
    pub resyncing: bool,
    /// Longest event loop iteration since the start, µs (what a heartbeat
    /// answer may wait at worst).
    pub slowest_loop_us: u64,
    /// UE pool usage.
    pub pools: Vec<(String, usize)>,
    /// Our Recovery Time Stamp.
    pub recovery: u32,
}

fn ntp_now() -> u32 {
    let unix = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0);
    (unix + NTP_UNIX_OFFSET) as u32
}

/// The node settings from the configuration.
pub fn node_config(cfg: &Config) -> Result<NodeConfig, ServerError> {
    let p = &cfg.pfcp;
    let node_id = match p.node_id.parse::<IpAddr>() {
        Ok(IpAddr::V4(a)) => pfcp_codec::ie::NodeId::Ipv4(a),
        Ok(IpAddr::V6(a)) => pfcp_codec::ie::NodeId::Ipv6(a),
        Err(_) => pfcp_codec::ie::NodeId::Fqdn(p.node_id.clone()),
    };
    let mut ep = Endpoints {
        workers: cfg.dataplane.workers.max(1),
        ..Default::default()
    };
    for itf in &cfg.dataplane.interfaces {
        for a in &itf.addresses {
            match (itf.role, a.addr) {
                (Role::N3, IpAddr::V4(v)) if ep.n3_v4.is_none() => ep.n3_v4 = Some(v),
                (Role::N3, IpAddr::V6(v)) if ep.n3_v6.is_none() => ep.n3_v6 = Some(v),
                (Role::N9, IpAddr::V4(v)) if ep.n9_v4.is_none() => ep.n9_v4 = Some(v),
                (Role::N9, IpAddr::V6(v)) if ep.n9_v6.is_none() => ep.n9_v6 = Some(v),
                _ => {}
            }
        }
    }
    let mut fseid_v4 = None;
    let mut fseid_v6 = None;
    for l in &p.listen {
        match l.ip() {
            IpAddr::V4(a) if !a.is_unspecified() => fseid_v4 = fseid_v4.or(Some(a)),
            IpAddr::V6(a) if !a.is_unspecified() => fseid_v6 = fseid_v6.or(Some(a)),
            _ => {}
        }
    }
    match &node_id {
        pfcp_codec::ie::NodeId::Ipv4(a) => fseid_v4 = fseid_v4.or(Some(*a)),
        pfcp_codec::ie::NodeId::Ipv6(a) => fseid_v6 = fseid_v6.or(Some(*a)),
        _ => {}
    }
    Ok(NodeConfig {
        node_id,
        heartbeat_interval_ms: p.heartbeat_interval.get().as_millis() as u64,
        heartbeat_retries: p.heartbeat_retries,
        request_timeout_ms: p.request_timeout.get().as_millis() as u64,
        request_retries: p.request_retries,
        failure_policy: match p.peer_failure_policy {
            PeerFailurePolicy::Keep => {
                FailurePolicy::Keep(p.peer_grace_period.get().as_millis() as u64)
            }
            PeerFailurePolicy::Purge => FailurePolicy::Purge,
        },
        allowed: p
            .peers
            .iter()
            .map(|x| Allowed {
                addr: x.address,
                node_id: x.node_id.clone(),
            })
            .collect(),
        endpoints: ep,
        max_sessions: p.max_sessions,
        expected_sessions: cfg.dataplane.expected_sessions,
        pools: cfg.ue_pools.clone(),
        fseid_v4,
        fseid_v6,
        max_request_rate: p.max_request_rate,
    })
}

fn bind(addr: SocketAddr) -> Result<UdpSocket, ServerError> {
    bind_to(addr, None)
}

/// A UDP socket on `addr`, connected to `peer` if given (SO_REUSEADDR, so
/// per-peer sockets share the N4 port with the listening socket).
fn bind_to(addr: SocketAddr, peer: Option<SocketAddr>) -> Result<UdpSocket, ServerError> {
    let err = |source| ServerError::Bind { addr, source };
    let domain = if addr.is_ipv4() {
        socket2::Domain::IPV4
    } else {
        socket2::Domain::IPV6
    };
    let s = socket2::Socket::new(domain, socket2::Type::DGRAM, Some(socket2::Protocol::UDP))
        .map_err(err)?;
    if addr.is_ipv6() {
        let _ = s.set_only_v6(true);
    }
    let _ = s.set_recv_buffer_size(8 << 20);
    let _ = s.set_send_buffer_size(8 << 20);
    s.set_reuse_address(true).map_err(err)?;
    s.set_nonblocking(true).map_err(err)?;
    s.bind(&addr.into()).map_err(err)?;
    if let Some(p) = peer {
        s.connect(&p.into()).map_err(err)?;
    }
    Ok(UdpSocket::from_std(s.into()))
}

/// One socket and its queue of session requests.
struct Sock {
    sock: UdpSocket,
    /// The listening socket it shares the address with (itself for those).
    listen: usize,
    /// The associated peer it is connected to (None: a listening socket).
    peer: Option<SocketAddr>,
    queue: VecDeque<(SocketAddr, Vec<u8>)>,
}

/// The shell's state between loop iterations.
struct Shell {
    node: Node,
    journal: Writer,
    /// Answers waiting until the journal has the records they depend on.
    held: Held,
    /// Answers wait for the fsync, not just the write.
    hold_for_sync: bool,
    /// A snapshot being streamed to the journal: session IDs and position.
    snapshot: Option<(Vec<u64>, usize)>,
    socks: Vec<Sock>,
    listen: Vec<SocketAddr>,
    /// Remote IP -> index of the listening socket that last heard from it.
    route: HashMap<IpAddr, usize>,
    overload_drops: u64,
    out: Vec<Out>,
    dp_backlog: VecDeque<EncodedCommand>,
    buf: Vec<u8>,
    clock: Instant,
    next_rr: usize,
    next_token: usize,
    /// Node messages of addresses without an association.
    strangers: VecDeque<(SocketAddr, Vec<u8>)>,
}

impl Shell {
    fn now(&self) -> u64 {
        self.clock.elapsed().as_millis() as u64
    }

    /// Reads every socket (peer sockets first): node messages are handled
    /// at once, session requests queued.
    fn drain(&mut self) {
        let now = self.now();
        let n = self.socks.len();
        // Peer sockets come after the listening ones in `socks`; read them first.
        let order: Vec<usize> = (0..n)
            .filter(|i| self.socks[*i].peer.is_some())
            .chain((0..n).filter(|i| self.socks[*i].peer.is_none()))
            .collect();
        for i in order {
            for _ in 0..DRAIN_MAX {
                let (len, from) = match self.socks[i].sock.recv_from(&mut self.buf) {
                    Ok(x) => x,
                    Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
                    Err(e) => {
                        warn!(error = %e, "recv_from");
                        break;
                    }
                };
                let listen = self.socks[i].listen;
                if self.route.len() >= ROUTE_MAX && !self.route.contains_key(&from.ip()) {
                    self.route.clear();
                }
                self.route.insert(from.ip(), listen);
                let data = &self.buf[..len];
                let t = data.get(1).copied().unwrap_or(0);
                if t < 50 {
                    if self.socks[i].peer.is_some() || self.node.is_associated(from.ip()) {
                        self.node.datagram(now, from, data, &mut self.out);
                    } else if self.strangers.len() < STRANGER_QUEUE {
                        self.strangers.push_back((from, data.to_vec()));
                    } else {
                        self.overload_drops += 1;
                    }
                } else if self.socks[i].queue.len() < SESSION_QUEUE {
                    let v = data.to_vec();
                    self.socks[i].queue.push_back((from, v));
                } else {
                    self.overload_drops += 1;
                }
            }
        }
    }

    /// Streams a slice of the journal snapshot the writer asked for.
    fn snapshot_step(&mut self) {
        if self.snapshot.is_none() && self.journal.wants_snapshot() {
            self.journal.snapshot_begin();
            for r in self.node.snapshot_records() {
                self.journal.snapshot_record(r);
            }
            self.snapshot = Some((self.node.seids(), 0));
        }
        let Some((keys, pos)) = self.snapshot.as_mut() else {
            return;
        };
        let end = (*pos + 4096).min(keys.len());
        for k in &keys[*pos..end] {
            if let Some(st) = self.node.session(*k) {
                let mut b = Vec::with_capacity(512);
                crate::journal::encode_session(*k, st, &mut b);
                self.journal.snapshot_bytes(b);
            }
        }
        *pos = end;
        if end == keys.len() {
            self.journal.snapshot_end();
            self.snapshot = None;
        }
    }

    fn queued(&self) -> usize {
        self.socks.iter().map(|s| s.queue.len()).sum::<usize>() + self.strangers.len()
    }

    /// Some of the strangers' node messages.
    fn strangers(&mut self) {
        for _ in 0..STRANGER_BUDGET {
            let Some((from, data)) = self.strangers.pop_front() else {
                break;
            };
            let now = self.now();
            self.node.datagram(now, from, &data, &mut self.out);
        }
    }

    /// Session requests, round robin over the sockets' queues, in batches
    /// with a drain of the sockets between batches.
    fn work(&mut self, ctrl: &mut Option<ClientEnd>, sends: &mut Vec<(SocketAddr, Vec<u8>)>) {
        let start = Instant::now();
        let mut done = 0;
        while done < SESSION_BUDGET
            && start.elapsed() < WORK_SLICE
            && self.node.pending_ops() < MAX_IN_FLIGHT
        {
            let mut batch = 0;
            while batch < SESSION_BATCH {
                let n = self.socks.len();
                let mut took = false;
                for k in 0..n {
                    let i = (self.next_rr + k) % n;
                    let full = self.socks[i].queue.front().is_some_and(|(from, _)| {
                        self.node.in_flight_from(from.ip()) >= MAX_IN_FLIGHT_PER_PEER
                    });
                    if full {
                        continue;
                    }
                    if let Some((from, data)) = self.socks[i].queue.pop_front() {
                        self.next_rr = (i + 1) % n;
                        let now = self.now();
                        self.node.datagram(now, from, &data, &mut self.out);
                        took = true;
                        break;
                    }
                }
                if !took {
                    break;
                }
                batch += 1;
            }
            done += batch;
            self.flush(ctrl, sends);
            self.drain();
            self.strangers();
            if batch == 0 {
                break;
            }
        }
    }

    /// Outputs: records to the journal thread, commands to the dataplane,
    /// datagrams out — those after a journal record only once the journal
    /// has it (so an answer never gets ahead of the state it announces).
    fn flush(&mut self, ctrl: &mut Option<ClientEnd>, sends: &mut Vec<(SocketAddr, Vec<u8>)>) {
        let mut journalled = false;
        let mut later: Vec<(SocketAddr, Vec<u8>)> = Vec::new();
        let mut outs = std::mem::take(&mut self.out);
        for o in outs.drain(..) {
            match o {
                Out::Journal(r) => {
                    self.journal.append(r);
                    journalled = true;
                }
                Out::JournalSession(seid) => {
                    if let Some(st) = self.node.session(seid) {
                        self.journal.append_session(seid, st);
                        journalled = true;
                    }
                }
                Out::Dp(cmd) => self.dp_backlog.push_back(cmd),
                Out::Send { to, data } => {
                    if self.held.must_wait(journalled, &data) {
                        later.push((to, data));
                    } else {
                        sends.push((to, data));
                    }
                }
            }
        }
        self.out = outs;
        let gen = self.journal.commit(self.node.live_records());
        for (to, data) in later {
            self.held.hold(gen, to, data);
        }
        let done = if self.hold_for_sync {
            self.journal.synced()
        } else {
            self.journal.written()
        };
        self.held.release(done, sends);
        if let Some(c) = ctrl.as_mut() {
            while let Some(cmd) = self.dp_backlog.pop_front() {
                match c.send_encoded(&cmd) {
                    Ok(()) => {}
                    Err(upf_ctrl::SendError::Full) => {
                        self.dp_backlog.push_front(cmd);
                        break;
                    }
                    Err(e) => error!(error = %e, "command not sent"),
                }
            }
        }
        for (to, data) in sends.drain(..) {
            let s = self
                .socks
                .iter()
                .find(|s| s.peer == Some(to))
                .or_else(|| {
                    self.route
                        .get(&to.ip())
                        .and_then(|i| self.socks.get(*i))
                        .filter(|s| {
                            s.sock
                                .local_addr()
                                .is_ok_and(|a| a.is_ipv4() == to.is_ipv4())
                        })
                })
                .or_else(|| {
                    self.socks.iter().find(|s| {
                        s.peer.is_none() && self.listen[s.listen].is_ipv4() == to.is_ipv4()
                    })
                });
            if let Some(s) = s {
                if let Err(e) = s.sock.send_to(&data, to) {
                    debug!(%to, error = %e, "send_to");
                }
            }
        }
    }

    /// One connected socket per associated peer.
    fn sync_peers(&mut self, poll: &Poll) {
        let want: Vec<SocketAddr> = self.node.peers().into_iter().map(|(_, a, _)| a).collect();
        let mut k = 0;
        while k < self.socks.len() {
            match self.socks[k].peer {
                Some(p) if !want.contains(&p) => {
                    let mut s = self.socks.remove(k);
                    let _ = poll.registry().deregister(&mut s.sock);
                    // Requests it had queued are still served.
                    let q: Vec<_> = s.queue.drain(..).collect();
                    if let Some(l) = self.socks.get_mut(s.listen) {
                        l.queue.extend(q);
                    }
                    info!(peer = %p, "peer socket closed");
                }
                _ => k += 1,
            }
        }
        for p in want {
            if self.socks.iter().any(|s| s.peer == Some(p)) {
                continue;
            }
            let li = self
                .route
                .get(&p.ip())
                .copied()
                .filter(|i| {
                    self.listen
                        .get(*i)
                        .is_some_and(|a| a.is_ipv4() == p.is_ipv4())
                })
                .or_else(|| self.listen.iter().position(|a| a.is_ipv4() == p.is_ipv4()));
            let Some(li) = li else { continue };
            match bind_to(self.listen[li], Some(p)) {
                Ok(mut sock) => {
                    let tok = Token(PEER_TOKEN + self.next_token);
                    self.next_token += 1;
                    if poll
                        .registry()
                        .register(&mut sock, tok, Interest::READABLE)
                        .is_ok()
                    {
                        info!(peer = %p, "peer socket open");
                        self.socks.push(Sock {
                            sock,
                            listen: li,
                            peer: Some(p),
                            queue: VecDeque::new(),
                        });
                    }
                }
                Err(e) => warn!(peer = %p, error = %e, "no dedicated socket for the peer"),
            }
        }
    }
}

/// Answers that wait for the journal, in the order they were made.
///
/// An answer that announces a change of state waits for the journal
/// generation that holds the change. A retransmitted request's answer comes
/// from the cache with no journal record of its own, but while the original
/// answer still waits, the cached copy must wait behind it: sent at once it
/// would tell the SMF about state a crash could still lose.
#[derive(Debug, Default)]
struct Held {
    /// (generation, destination, bytes), generations non-decreasing.
    q: VecDeque<(u64, SocketAddr, Vec<u8>)>,
}

impl Held {
    /// Whether an answer made in this flush must wait for the journal:
    /// `journalled` is true once this flush appended a record.
    fn must_wait(&self, journalled: bool, data: &[u8]) -> bool {
        changes_state(data) && (journalled || !self.q.is_empty())
    }

    /// Queues an answer until generation `gen` is in the journal.
    fn hold(&mut self, gen: u64, to: SocketAddr, data: Vec<u8>) {
        let gen = self.q.back().map_or(gen, |(g, _, _)| gen.max(*g));
        self.q.push_back((gen, to, data));
    }

    /// Moves the answers whose generation is done to `sends`, in order.
    fn release(&mut self, done: u64, sends: &mut Vec<(SocketAddr, Vec<u8>)>) {
        while self.q.front().is_some_and(|(g, _, _)| *g <= done) {
            if let Some((_, to, data)) = self.q.pop_front() {
                sends.push((to, data));
            }
        }
    }

    fn is_empty(&self) -> bool {
        self.q.is_empty()
    }
}

/// Answers that announce a change of state (and so wait for the journal):
/// PFD management, association setup/update/release, session set deletion,
/// session establishment/modification/deletion responses.
fn changes_state(datagram: &[u8]) -> bool {
    matches!(datagram.get(1), Some(4 | 6 | 8 | 10 | 15 | 51 | 53 | 55))
}

fn unix_micros() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_micros() as u64)
        .unwrap_or(1)
}

/// Runs pfcp-ctl until `stop` is set.
pub fn run(
    cfg: &Config,
    stop: Arc<AtomicBool>,
    snapshot: Arc<Mutex<Snapshot>>,
) -> Result<(), ServerError> {
    let ncfg = node_config(cfg)?;
    let (journal, restored) = Journal::open(&cfg.node.state_dir, ntp_now())?;
    let policy = match cfg.pfcp.journal_fsync {
        Fsync::Always => SyncPolicy::Always,
        Fsync::Interval => SyncPolicy::Interval(cfg.pfcp.journal_fsync_interval.get()),
        Fsync::Never => SyncPolicy::Never,
    };
    info!(
        sessions = restored.sessions.len(),
        associations = restored.assocs.len(),
        torn_bytes = restored.torn_bytes,
        "journal replayed"
    );
    let clock = Instant::now();
    let mut node = Node::new(ncfg, restored, ntp_now(), 0);
    node.set_request_base(unix_micros());
    info!(recovery = node.recovery(), "PFCP node ready");

    let mut poll = Poll::new()?;
    let waker = Arc::new(Waker::new(poll.registry(), WAKER)?);
    let mut socks = Vec::new();
    for (i, addr) in cfg.pfcp.listen.iter().enumerate() {
        let mut s = bind(*addr)?;
        poll.registry()
            .register(&mut s, Token(i), Interest::READABLE)?;
        info!(%addr, "listening for N4");
        socks.push(Sock {
            sock: s,
            listen: i,
            peer: None,
            queue: VecDeque::new(),
        });
    }
    if socks.is_empty() {
        return Err(ServerError::Config("pfcp.listen is empty".into()));
    }
    let jw = waker.clone();
    let journal = Writer::start(journal, policy, move || {
        let _ = jw.wake();
    })?;
    let mut sh = Shell {
        node,
        journal,
        held: Held::default(),
        hold_for_sync: policy == SyncPolicy::Always,
        snapshot: None,
        socks,
        listen: cfg.pfcp.listen.clone(),
        route: HashMap::new(),
        overload_drops: 0,
        out: Vec::new(),
        dp_backlog: VecDeque::new(),
        buf: vec![0u8; 65536],
        clock,
        next_rr: 0,
        next_token: 0,
        strangers: VecDeque::new(),
    };
    let run_dir = cfg.run_dir().to_path_buf();
    let admin = match bind_admin(&cfg.socket_path(&cfg.pfcp.admin_socket)) {
        Ok(l) => Some(l),
        Err(e) => {
            warn!(error = %e, "admin socket not available");
            None
        }
    };

    let mut ctrl: Option<ClientEnd> = None;
    let mut notifier = None;
    let mut last_dp_check = Instant::now() - Duration::from_secs(10);
    let mut dp_down_logged = false;
    let mut events = Events::with_capacity(256);
    let mut sends: Vec<(SocketAddr, Vec<u8>)> = Vec::new();
    let mut last_tick = Instant::now();
    let mut last_snap = Instant::now() - Duration::from_secs(1);
    let mut last_peer_sync = Instant::now() - Duration::from_secs(1);
    let mut peers_seen = usize::MAX;

    let mut slowest = 0u64;
    let mut held_waits = 0u32;
    loop {
        if stop.load(Ordering::Relaxed) {
            match cfg.pfcp.shutdown {
                ShutdownPolicy::Keep => break,
                ShutdownPolicy::Release => {
                    let now = sh.now();
                    if !sh.node.releasing() {
                        let period = cfg.pfcp.graceful_release_period.as_nanos_u64() / 1_000_000;
                        sh.node.begin_release(now, period, &mut sh.out);
                    } else if sh.node.release_done(now)
                        && (sh.held.is_empty() || held_waits >= HELD_WAIT_MAX)
                    {
                        // Answers waiting for the journal (the Association
                        // Release Response among them) go out first.
                        info!(
                            sessions = sh.node.session_count(),
                            "graceful release finished"
                        );
                        break;
                    } else if sh.node.release_done(now) {
                        held_waits += 1;
                    }
                }
            }
        }
        let timeout = if sh.queued() == 0 && sh.node.pending_ops() == 0 && sh.held.is_empty() {
            Duration::from_millis(10)
        } else {
            Duration::from_micros(200)
        };
        if let Err(e) = poll.poll(&mut events, Some(timeout)) {
            if e.kind() != io::ErrorKind::Interrupted {
                return Err(e.into());
            }
        }
        let t_loop = Instant::now();
        // 1. Datagrams, then session requests in slices.
        sh.drain();
        sh.strangers();
        sh.work(&mut ctrl, &mut sends);
        // 2. The dataplane: attach, events, restarts.
        if ctrl.is_none() && last_dp_check.elapsed() >= Duration::from_millis(500) {
            last_dp_check = Instant::now();
            match ClientEnd::attach(&run_dir, SLOT_PFCP) {
                Ok(c) => {
                    info!(epoch = c.dataplane_epoch(), "attached to the dataplane");
                    let w = waker.clone();
                    notifier = Some(c.notifier(move || {
                        let _ = w.wake();
                    }));
                    ctrl = Some(c);
                    dp_down_logged = false;
                    // Everything not sent yet is covered by the resync.
                    sh.dp_backlog.clear();
                    sh.node.resync_start(&mut sh.out);
                }
                Err(e) => {
                    if !dp_down_logged {
                        warn!(error = %e, "dataplane not reachable yet; retrying");
                        dp_down_logged = true;
                    }
                }
            }
        }
        if let Some(c) = ctrl.as_mut() {
            if let Some(n) = notifier.as_ref() {
                n.rearm();
            }
            let now = sh.now();
            for _ in 0..4096 {
                match c.recv() {
                    Ok(Some(ev)) => sh.node.dp_event(now, ev, &mut sh.out),
                    Ok(None) => break,
                    Err(e) => {
                        warn!(error = %e, "control channel event dropped");
                        break;
                    }
                }
            }
            if last_dp_check.elapsed() >= Duration::from_millis(500) {
                last_dp_check = Instant::now();
                match c.check(Duration::from_secs(3)) {
                    Ok(DataplaneStatus::Restarted) => {
                        warn!("dataplane restarted: pushing every session again");
                        sh.dp_backlog.clear();
                        sh.node.resync_start(&mut sh.out);
                        dp_down_logged = false;
                    }
                    Ok(DataplaneStatus::Down) => {
                        if !dp_down_logged {
                            warn!("dataplane is not answering");
                            dp_down_logged = true;
                        }
                    }
                    Ok(DataplaneStatus::Alive) => dp_down_logged = false,
                    Err(e) => warn!(error = %e, "dataplane check failed"),
                }
            }
        }
        // 3. Timers.
        if last_tick.elapsed() >= Duration::from_millis(10) {
            last_tick = Instant::now();
            let now = sh.now();
            sh.node.tick(now, &mut sh.out);
        }
        // 4. Outputs; a slice of a resync and of a journal snapshot if under way.
        if sh.node.resyncing() && sh.dp_backlog.len() < RESYNC_SLICE {
            sh.node.resync_step(RESYNC_SLICE, &mut sh.out);
        }
        sh.snapshot_step();
        sh.flush(&mut ctrl, &mut sends);
        // 5. Peer sockets follow the associations.
        let np = sh.node.peers().len();
        if np != peers_seen || last_peer_sync.elapsed() >= Duration::from_secs(1) {
            peers_seen = np;
            last_peer_sync = Instant::now();
            sh.sync_peers(&poll);
        }
        let took = t_loop.elapsed().as_micros() as u64;
        if took > slowest {
            slowest = took;
            if took > 100_000 {
                warn!(ms = took / 1000, "slow event loop iteration");
            }
        }
        // 6. Admin and metrics.
        if last_snap.elapsed() >= Duration::from_millis(100) {
            last_snap = Instant::now();
            if let Ok(mut s) = snapshot.lock() {
                s.stats = sh.node.stats.clone();
                s.sessions = sh.node.session_count();
                s.peers = sh.node.peers();
                s.dataplane = ctrl.is_some();
                s.dp_backlog = sh.dp_backlog.len();
                s.queued = sh.queued();
                s.overload_drops = sh.overload_drops;
                s.peer_sockets = sh.socks.iter().filter(|x| x.peer.is_some()).count();
                s.pools = sh.node.pool_usage();
                s.recovery = sh.node.recovery();
                s.slowest_loop_us = slowest;
                s.resyncing = sh.node.resyncing();
            }
            if let Some(l) = admin.as_ref() {
                crate_admin::poll(l, &sh.node, &snapshot);
            }
        }
    }
    info!("stopping: flushing the journal");
    let live = sh.node.live_records();
    sh.journal.stop(live);
    drop(notifier);
    Ok(())
}

/// Loop turns a finished release waits for held answers (each turn at
/// most a poll timeout; the journal thread needs a few milliseconds).
const HELD_WAIT_MAX: u32 = 500;

fn bind_admin(path: &std::path::Path) -> io::Result<UnixListener> {
    if let Some(d) = path.parent() {
        std::fs::create_dir_all(d)?;
    }
    let _ = std::fs::remove_file(path);
    let l = UnixListener::bind(path)?;
    l.set_nonblocking(true)?;
    Ok(l)
}

/// The admin socket: one request line in, one JSON document out.
mod crate_admin {
    use std::io::{BufRead, BufReader, Read, Write};
    use std::os::unix::net::UnixListener;
    use std::sync::{Arc, Mutex};
    use std::time::Duration;

    use serde_json::json;

    use super::Snapshot;
    use crate::node::Node;

    pub(super) fn poll(l: &UnixListener, node: &Node, snap: &Arc<Mutex<Snapshot>>) {
        for _ in 0..8 {
            let Ok((s, _)) = l.accept() else { return };
            let _ = s.set_nonblocking(false);
            let _ = s.set_read_timeout(Some(Duration::from_millis(300)));
            let mut line = String::new();
            let Ok(clone) = s.try_clone() else { continue };
            let _ = BufReader::new(clone.take(4096)).read_line(&mut line);
            let v = answer(line.trim(), node, snap);
            let mut w = s;
            let _ = w.write_all(v.as_bytes());
            let _ = w.write_all(b"\n");
        }
    }

    fn answer(req: &str, node: &Node, snap: &Arc<Mutex<Snapshot>>) -> String {
        let mut it = req.split_whitespace();
        let v = match (it.next(), it.next()) {
            (Some("status") | None, _) => {
                let s = snap.lock().map(|s| s.clone()).unwrap_or_default();
                json!({
                    "recovery_time_stamp": s.recovery,
                    "sessions": s.sessions,
                    "dataplane_attached": s.dataplane,
                    "dataplane_backlog": s.dp_backlog,
                    "queued_requests": s.queued,
                    "overload_drops": s.overload_drops,
                    "malformed": s.stats.malformed,
                    "peers_failed": s.stats.peers_failed,
                    "rate_limited": s.stats.rate_limited,
                    "peer_sockets": s.peer_sockets,
                    "slowest_loop_us": s.slowest_loop_us,
                    "resyncing": s.resyncing,
                    "requests_timed_out": s.stats.requests_timed_out,
                    "refused_peers": s.stats.refused_peers,
                    "duplicates": s.stats.duplicates,
                    "reports_sent": s.stats.reports_sent,
                    "reports_answered": s.stats.reports_answered,
                    "pools": s.pools.iter().map(|(n, u)| json!({"network_instance": n, "in_use": u})).collect::<Vec<_>>(),
                })
            }
            (Some("peers"), _) => json!(node
                .peers()
                .iter()
                .map(|(n, a, f)| json!({"node_id": n, "address": a.to_string(), "failed": f}))
                .collect::<Vec<_>>()),
            (Some("sessions"), _) => json!(node
                .seids()
                .iter()
                .take(10000)
                .filter_map(|s| node.session(*s).map(|x| (s, x)))
                .map(|(s, x)| json!({
                    "up_seid": format!("{s:#x}"),
                    "cp_seid": format!("{:#x}", x.cp.seid),
                    "smf": x.peer_node,
                    "pdrs": x.rules.pdrs.len(),
                    "fars": x.rules.fars.len(),
                    "ue": x.ue_addrs().0.map(|a| a.to_string()),
                }))
                .collect::<Vec<_>>()),
            (Some("session"), Some(id)) => {
                let seid = id
                    .strip_prefix("0x")
                    .and_then(|h| u64::from_str_radix(h, 16).ok())
                    .or_else(|| id.parse().ok());
                match seid.and_then(|s| node.session(s)) {
                    Some(s) => serde_json::to_value(s).unwrap_or_default(),
                    None => json!({"error": format!("no session {id}")}),
                }
            }
            (Some(o), _) => {
                json!({"error": format!("unknown request {o:?}; try status, peers, sessions, session <seid>")})
            }
        };
        serde_json::to_string_pretty(&v).unwrap_or_default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn answer(msg_type: u8, seq: u8) -> Vec<u8> {
        // A PFCP header with S=1: version 1, type, length, SEID, sequence.
        let mut d = vec![0x21, msg_type, 0, 12];
        d.extend_from_slice(&[0; 8]);
        d.extend_from_slice(&[0, 0, seq, 0]);
        d
    }

    fn smf() -> SocketAddr {
        "192.0.2.1:8805".parse().unwrap()
    }

    #[test]
    fn a_cached_answer_waits_behind_the_original_it_repeats() {
        let mut held = Held::default();
        let mut sends = Vec::new();
        // The establishment's answer waits for journal generation 7.
        let original = answer(51, 1);
        assert!(held.must_wait(true, &original));
        held.hold(7, smf(), original.clone());
        held.release(6, &mut sends);
        assert!(sends.is_empty());
        // Its retransmission, answered from the cache in a later flush with
        // no record of its own, must not overtake it.
        let cached = original.clone();
        assert!(held.must_wait(false, &cached));
        held.hold(6, smf(), cached);
        held.release(6, &mut sends);
        assert!(
            sends.is_empty(),
            "the cached copy went out before the journal had the state"
        );
        held.release(7, &mut sends);
        assert_eq!(sends, vec![(smf(), original.clone()), (smf(), original)]);
        assert!(held.is_empty());
    }

    #[test]
    fn answers_without_state_or_with_nothing_held_go_at_once() {
        let mut held = Held::default();
        // Nothing held and nothing journalled: a cached answer goes now.
        assert!(!held.must_wait(false, &answer(51, 1)));
        held.hold(3, smf(), answer(53, 2));
        // A heartbeat response (type 2) never waits.
        assert!(!held.must_wait(false, &answer(2, 3)));
        assert!(!held.must_wait(true, &answer(2, 3)));
        // Held answers leave in the order they were made.
        held.hold(5, smf(), answer(51, 4));
        held.hold(4, smf(), answer(55, 5));
        let mut sends = Vec::new();
        held.release(4, &mut sends);
        let seqs: Vec<u8> = sends.iter().map(|(_, d)| d[14]).collect();
        assert_eq!(seqs, vec![2]);
        held.release(5, &mut sends);
        let seqs: Vec<u8> = sends.iter().map(|(_, d)| d[14]).collect();
        assert_eq!(seqs, vec![2, 4, 5]);
    }
}
