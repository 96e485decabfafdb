//! The shell around [`crate::node::Node`]: UDP sockets on a `mio` event
//! loop, the control channel to the dataplane, the journal file, the
//! metrics endpoint and the admin socket.
//!
//! Overload behaviour: every loop drains the sockets in batches; node
//! messages (heartbeats, associations) are handled before session requests,
//! and session requests wait in a bounded queue handled with a budget per
//! loop. A flood of session requests therefore delays or drops session
//! requests, never heartbeats.

use std::collections::{HashMap, VecDeque};
use std::io;
use std::net::{IpAddr, SocketAddr};
use std::os::unix::net::UnixListener;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use mio::net::UdpSocket;
use mio::{Events, Interest, Poll, Token, Waker};
use tracing::{error, info, warn};
use upf_config::{Config, Fsync, PeerFailurePolicy, Role};
use upf_ctrl::{ClientEnd, Command, DataplaneStatus, SLOT_PFCP};

use crate::convert::NTP_UNIX_OFFSET;
use crate::journal::Journal;
use crate::node::{Allowed, FailurePolicy, Node, NodeConfig, NodeStats, Out};
use crate::session::Endpoints;

const WAKER: Token = Token(usize::MAX);
const SESSION_QUEUE: usize = 16384;
const SESSION_BUDGET: usize = 2048;

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
        pools: cfg.ue_pools.clone(),
        fseid_v4,
        fseid_v6,
    })
}

fn bind(addr: SocketAddr) -> Result<UdpSocket, ServerError> {
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
    Ok(UdpSocket::from_std(s.into()))
}

/// Runs pfcp-ctl until `stop` is set.
pub fn run(
    cfg: &Config,
    stop: Arc<AtomicBool>,
    snapshot: Arc<Mutex<Snapshot>>,
) -> Result<(), ServerError> {
    let ncfg = node_config(cfg)?;
    let (mut journal, restored) = Journal::open(&cfg.node.state_dir, ntp_now())?;
    info!(
        sessions = restored.sessions.len(),
        associations = restored.assocs.len(),
        torn_bytes = restored.torn_bytes,
        "journal replayed"
    );
    let clock = Instant::now();
    let now_ms = || clock.elapsed().as_millis() as u64;
    let mut node = Node::new(ncfg, restored, ntp_now(), now_ms());
    info!(recovery = node.recovery(), "PFCP node ready");

    let mut poll = Poll::new()?;
    let waker = Arc::new(Waker::new(poll.registry(), WAKER)?);
    let mut sockets = Vec::new();
    for (i, addr) in cfg.pfcp.listen.iter().enumerate() {
        let mut s = bind(*addr)?;
        poll.registry()
            .register(&mut s, Token(i), Interest::READABLE)?;
        info!(%addr, "listening for N4");
        sockets.push(s);
    }
    if sockets.is_empty() {
        return Err(ServerError::Config("pfcp.listen is empty".into()));
    }
    let run_dir = cfg.run_dir().to_path_buf();
    let admin = match bind_admin(&cfg.socket_path(&cfg.pfcp.admin_socket)) {
        Ok(l) => Some(l),
        Err(e) => {
            warn!(error = %e, "admin socket not available");
            None
        }
    };
    let fsync = cfg.pfcp.journal_fsync;
    let fsync_every = cfg.pfcp.journal_fsync_interval.get();
    let mut last_fsync = Instant::now();

    let mut ctrl: Option<ClientEnd> = None;
    let mut notifier = None;
    let mut dp_backlog: VecDeque<Command> = VecDeque::new();
    let mut last_dp_check = Instant::now() - Duration::from_secs(10);
    let mut dp_down_logged = false;
    let mut peer_socket: HashMap<SocketAddr, usize> = HashMap::new();
    let mut queue: VecDeque<(usize, SocketAddr, Vec<u8>)> = VecDeque::new();
    let mut overload_drops = 0u64;
    let mut events = Events::with_capacity(256);
    let mut buf = vec![0u8; 65536];
    let mut out: Vec<Out> = Vec::new();
    let mut sends: Vec<(SocketAddr, Vec<u8>)> = Vec::new();
    let mut last_tick = Instant::now();
    let mut last_snap = Instant::now() - Duration::from_secs(1);

    while !stop.load(Ordering::Relaxed) {
        let timeout = if queue.is_empty() && node.pending_ops() == 0 {
            Duration::from_millis(10)
        } else {
            Duration::from_micros(200)
        };
        if let Err(e) = poll.poll(&mut events, Some(timeout)) {
            if e.kind() != io::ErrorKind::Interrupted {
                return Err(e.into());
            }
        }
        let now = now_ms();
        // 1. Datagrams: node messages at once, session requests queued.
        for (i, s) in sockets.iter().enumerate() {
            for _ in 0..1024 {
                match s.recv_from(&mut buf) {
                    Ok((n, from)) => {
                        peer_socket.insert(from, i);
                        let data = &buf[..n];
                        let t = data.get(1).copied().unwrap_or(0);
                        if t < 50 {
                            node.datagram(now, from, data, &mut out);
                        } else if queue.len() < SESSION_QUEUE {
                            queue.push_back((i, from, data.to_vec()));
                        } else {
                            overload_drops += 1;
                        }
                    }
                    Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
                    Err(e) => {
                        warn!(error = %e, "recv_from");
                        break;
                    }
                }
            }
        }
        for _ in 0..SESSION_BUDGET {
            let Some((_, from, data)) = queue.pop_front() else {
                break;
            };
            node.datagram(now, from, &data, &mut out);
        }
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
                    dp_backlog.clear();
                    node.resync(&mut out);
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
            for _ in 0..4096 {
                match c.recv() {
                    Ok(Some(ev)) => node.dp_event(now, ev, &mut out),
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
                        dp_backlog.clear();
                        node.resync(&mut out);
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
            node.tick(now, &mut out);
        }
        // 4. Outputs: journal first, then commands and datagrams.
        for o in out.drain(..) {
            match o {
                Out::Journal(r) => journal.append(r),
                Out::Dp(cmd) => dp_backlog.push_back(cmd),
                Out::Send { to, data } => sends.push((to, data)),
            }
        }
        let sync = match fsync {
            Fsync::Always => true,
            Fsync::Interval => last_fsync.elapsed() >= fsync_every,
            Fsync::Never => false,
        };
        if sync {
            last_fsync = Instant::now();
        }
        if journal.has_pending() || sync {
            if let Err(e) = journal.flush(sync) {
                error!(error = %e, "journal write failed");
            }
        }
        if let Some(c) = ctrl.as_mut() {
            while let Some(cmd) = dp_backlog.pop_front() {
                match c.send(&cmd) {
                    Ok(()) => {}
                    Err(upf_ctrl::SendError::Full) => {
                        dp_backlog.push_front(cmd);
                        break;
                    }
                    Err(e) => error!(error = %e, "command not sent"),
                }
            }
        }
        for (to, data) in sends.drain(..) {
            let i = peer_socket
                .get(&to)
                .copied()
                .or_else(|| {
                    cfg.pfcp
                        .listen
                        .iter()
                        .position(|l| l.is_ipv4() == to.is_ipv4())
                })
                .unwrap_or(0);
            if let Some(s) = sockets.get(i) {
                if let Err(e) = s.send_to(&data, to) {
                    warn!(%to, error = %e, "send_to");
                }
            }
        }
        // 5. Admin and metrics.
        if last_snap.elapsed() >= Duration::from_millis(100) {
            last_snap = Instant::now();
            if let Ok(mut s) = snapshot.lock() {
                s.stats = node.stats.clone();
                s.sessions = node.session_count();
                s.peers = node.peers();
                s.dataplane = ctrl.is_some();
                s.dp_backlog = dp_backlog.len();
                s.queued = queue.len();
                s.overload_drops = overload_drops;
                s.pools = node.pool_usage();
                s.recovery = node.recovery();
            }
            if let Some(l) = admin.as_ref() {
                crate_admin::poll(l, &node, &snapshot);
            }
        }
    }
    info!("stopping: flushing the journal");
    journal.flush(true)?;
    drop(notifier);
    Ok(())
}

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
