//! The control thread: commands in, compiled rules out to the workers,
//! reports back to the clients, and path management towards GTP-U peers.

use std::collections::{BTreeMap, HashMap, HashSet, VecDeque};
use std::net::IpAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tracing::{debug, info, warn};
use upf_config::Config;
use upf_ctrl::msg::{AckBody, Command, CommandError, Event};
use upf_ctrl::spsc::{Consumer, Producer};
use upf_ctrl::DataplaneEnd;
use upf_engine::{
    compile, DnsTable, LookupKey, PfdTable, SteeringTable, Topology, WorkerEvent, WorkerUpdate,
};
use upf_io::PacketBuf;
use upf_rules::placement;
use upf_rules::report::UsageReport;
use upf_rules::steer::{DnsRule, SteeringRule};
use upf_rules::{ApplyAction, OuterHeaderKind, SessionRules};
use upf_wire::gtpu::Message;
use upf_wire::{ipv4, ipv6, udp};

use crate::admin::AdminSocket;
use crate::workers::WorkerSnapshot;
use crate::Clock;

/// State of one GTP-U peer (gNB or peer UPF) for path management.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PeerState {
    /// Its address.
    pub addr: IpAddr,
    /// Sessions whose FARs tunnel to it.
    pub sessions: usize,
    /// Echo requests sent without answer.
    pub outstanding: u32,
    /// Whether the path is considered up.
    pub up: bool,
}

/// Counters and state of the control thread.
#[derive(Clone, Debug, Default)]
pub struct ControlStats {
    /// Sessions installed.
    pub sessions: u64,
    /// Sessions per worker.
    pub sessions_per_worker: Vec<u64>,
    /// Session rules installed, by kind.
    pub rules: RuleCounts,
    /// Active steering rules.
    pub steering_rules: u64,
    /// Active DNS rules.
    pub dns_rules: u64,
    /// Applications with PFDs.
    pub pfd_apps: u64,
    /// Commands handled.
    pub commands: u64,
    /// Commands that failed.
    pub command_errors: u64,
    /// Events sent to clients.
    pub events_sent: u64,
    /// Events dropped because a client did not read them.
    pub events_dropped: u64,
    /// Usage reports raised by triggers.
    pub usage_reports: u64,
    /// Downlink data reports.
    pub downlink_reports: u64,
    /// GTP-U peers.
    pub peers: Vec<PeerState>,
    /// Neighbours learnt.
    pub neighbors: Vec<(IpAddr, [u8; 6])>,
    /// Clients attached per slot (pid).
    pub clients: Vec<Option<u32>>,
    /// The control file epoch.
    pub epoch: u64,
}

struct Sess {
    slot: u32,
    owner: u32,
    redirects: Vec<(u32, LookupKey)>,
    tunnels: Vec<(IpAddr, u32)>,
    rules: RuleCounts,
}

/// Rules installed, by kind.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct RuleCounts {
    /// Packet detection rules.
    pub pdr: u64,
    /// Forwarding action rules.
    pub far: u64,
    /// QoS enforcement rules.
    pub qer: u64,
    /// Usage reporting rules.
    pub urr: u64,
    /// Buffering action rules.
    pub bar: u64,
}

impl RuleCounts {
    fn of(r: &SessionRules) -> Self {
        RuleCounts {
            pdr: r.pdrs.len() as u64,
            far: r.fars.len() as u64,
            qer: r.qers.len() as u64,
            urr: r.urrs.len() as u64,
            bar: u64::from(r.bar.is_some()),
        }
    }

    fn add(&mut self, o: &RuleCounts) {
        self.pdr += o.pdr;
        self.far += o.far;
        self.qer += o.qer;
        self.urr += o.urr;
        self.bar += o.bar;
    }

    fn sub(&mut self, o: &RuleCounts) {
        self.pdr = self.pdr.saturating_sub(o.pdr);
        self.far = self.far.saturating_sub(o.far);
        self.qer = self.qer.saturating_sub(o.qer);
        self.urr = self.urr.saturating_sub(o.urr);
        self.bar = self.bar.saturating_sub(o.bar);
    }
}

struct Pending {
    slot: u32,
    req: u64,
    waiting: u32,
    reports: Vec<UsageReport>,
    error: Option<CommandError>,
    /// Reports go out as usage events instead of an Ack (internal moves).
    silent: bool,
}

struct Peer {
    refs: usize,
    outstanding: u32,
    up: bool,
    port: u16,
}

/// The control thread's state.
pub struct Control<B: PacketBuf> {
    topo: Topology,
    end: DataplaneEnd,
    upd: Vec<Producer<WorkerUpdate<B>>>,
    evt: Vec<Consumer<WorkerEvent>>,
    clock: Clock,
    stats: Arc<Mutex<ControlStats>>,
    snapshots: Vec<Arc<Mutex<WorkerSnapshot>>>,
    admin: Option<AdminSocket>,
    sessions: HashMap<u64, Sess>,
    pending: HashMap<u64, Pending>,
    next_req: u64,
    pfds: PfdTable,
    steering: BTreeMap<String, (u32, Vec<SteeringRule>, Vec<DnsRule>)>,
    sync: Vec<Option<(HashSet<u64>, HashSet<String>)>>,
    tunnels: HashMap<(IpAddr, u32), Vec<u64>>,
    peers: HashMap<IpAddr, Peer>,
    neighbors: HashMap<IpAddr, [u8; 6]>,
    backlog: Vec<VecDeque<Event>>,
    echo_interval_ns: u64,
    /// Cores are dedicated (`busy_poll`): after work, keep polling for this
    /// many nanoseconds instead of sleeping on the doorbell (0: sleep).
    spin_after_work_ns: u64,
    echo_retries: u32,
    echo_seq: u16,
    local: ControlStats,
    /// Per worker: wakes it when it sleeps and updates were queued.
    wakers: Vec<Option<Arc<upf_io::sys::Wakeup>>>,
}

const BACKLOG_MAX: usize = 1 << 20;

impl<B: PacketBuf> Control<B> {
    /// Creates the control state.
    #[allow(clippy::too_many_arguments)]
    pub fn new(
        cfg: &Config,
        topo: Topology,
        end: DataplaneEnd,
        upd: Vec<Producer<WorkerUpdate<B>>>,
        evt: Vec<Consumer<WorkerEvent>>,
        clock: Clock,
        stats: Arc<Mutex<ControlStats>>,
        snapshots: Vec<Arc<Mutex<WorkerSnapshot>>>,
        admin: Option<AdminSocket>,
    ) -> Control<B> {
        let slots = end.slots() as usize;
        let workers = upd.len();
        // The per-session tables are sized for the expected sessions at the
        // start: a hash table that grows moves every entry at once, and at
        // 917,504 sessions (7/8 of 2^20 buckets) that held up every command
        // and Ack for seconds (the window of requests in flight timed out at
        // the SMF). Reserving only takes address space until used.
        let expected = cfg.dataplane.expected_sessions;
        Control {
            topo,
            local: ControlStats {
                epoch: end.epoch(),
                sessions_per_worker: vec![0; workers],
                ..Default::default()
            },
            end,
            upd,
            evt,
            clock,
            stats,
            snapshots,
            admin,
            sessions: HashMap::with_capacity(expected),
            pending: HashMap::new(),
            next_req: 1,
            pfds: PfdTable::default(),
            steering: BTreeMap::new(),
            sync: (0..slots).map(|_| None).collect(),
            tunnels: HashMap::with_capacity(expected),
            peers: HashMap::new(),
            neighbors: HashMap::new(),
            backlog: (0..slots).map(|_| VecDeque::new()).collect(),
            spin_after_work_ns: if cfg.dataplane.busy_poll || cfg.dataplane.dpdk.busy_poll {
                cfg.dataplane.control_idle_spin.as_nanos_u64()
            } else {
                0
            },
            echo_interval_ns: cfg
                .dataplane
                .gtpu_echo_interval
                .as_nanos_u64()
                .max(1_000_000),
            echo_retries: cfg.dataplane.gtpu_echo_retries.max(1),
            echo_seq: 0,
            wakers: Vec::new(),
        }
    }

    /// Wake-ups of the workers (index = worker).
    pub fn with_wakers(mut self, wakers: Vec<Option<Arc<upf_io::sys::Wakeup>>>) -> Self {
        self.wakers = wakers;
        self
    }

    fn workers(&self) -> u32 {
        self.upd.len() as u32
    }

    fn push_update(&mut self, w: u32, mut u: WorkerUpdate<B>) {
        let Some(p) = self.upd.get_mut(w as usize) else {
            return;
        };
        // The ring is large; if a worker is stuck, wait rather than lose a rule.
        loop {
            match p.push(u) {
                Ok(()) => {
                    if let Some(Some(k)) = self.wakers.get(w as usize) {
                        k.wake();
                    }
                    return;
                }
                Err(back) => {
                    u = back;
                    std::thread::sleep(Duration::from_micros(50));
                }
            }
        }
    }

    fn new_req(&mut self) -> u64 {
        self.next_req += 1;
        self.next_req
    }

    fn send(&mut self, slot: u32, ev: Event) {
        let Some(q) = self.backlog.get_mut(slot as usize) else {
            return;
        };
        if q.is_empty() {
            match self.end.send(slot, &ev) {
                Ok(()) => {
                    self.local.events_sent += 1;
                    return;
                }
                Err(upf_ctrl::SendError::Full) => {}
                Err(e) => {
                    warn!(slot, error = %e, "event not sent");
                    self.local.events_dropped += 1;
                    return;
                }
            }
        }
        if q.len() >= BACKLOG_MAX {
            self.local.events_dropped += 1;
        } else {
            q.push_back(ev);
        }
    }

    fn flush_backlog(&mut self) {
        for slot in 0..self.backlog.len() {
            while let Some(ev) = self.backlog[slot].pop_front() {
                match self.end.send(slot as u32, &ev) {
                    Ok(()) => self.local.events_sent += 1,
                    Err(upf_ctrl::SendError::Full) => {
                        self.backlog[slot].push_front(ev);
                        break;
                    }
                    Err(_) => self.local.events_dropped += 1,
                }
            }
        }
    }

    fn ack(&mut self, slot: u32, req: u64, result: Result<AckBody, CommandError>) {
        if result.is_err() {
            self.local.command_errors += 1;
        }
        self.send(slot, Event::Ack { req, result });
    }

    /// Runs until `stop` is set.
    pub fn run(mut self, stop: Arc<AtomicBool>) {
        info!(
            epoch = self.end.epoch(),
            file = %self.end.path().display(),
            workers = self.workers(),
            "control channel ready"
        );
        // Short sleeps while workers owe Acks should be short indeed.
        upf_io::sys::set_timer_slack_ns(1000);
        let mut last_tick = 0u64;
        let mut last_echo = self.clock.now();
        let mut owed_since: Option<u64> = None;
        let mut last_work = 0u64;
        while !stop.load(Ordering::Relaxed) {
            let mut did = false;
            for slot in 0..self.end.slots() {
                for _ in 0..256 {
                    match self.end.recv(slot) {
                        Ok(Some(cmd)) => {
                            did = true;
                            self.local.commands += 1;
                            self.command(slot, cmd);
                        }
                        Ok(None) => break,
                        Err(upf_ctrl::RecvError::Codec(e)) => {
                            warn!(slot, error = %e, "undecodable command skipped");
                            self.local.command_errors += 1;
                        }
                        Err(e) => {
                            warn!(slot, error = %e, "control ring corrupt");
                            break;
                        }
                    }
                }
            }
            for w in 0..self.evt.len() {
                for _ in 0..4096 {
                    let Some(ev) = self.evt[w].pop() else { break };
                    did = true;
                    self.event(w as u32, ev);
                }
            }
            self.flush_backlog();
            let now = self.clock.now();
            if now.saturating_sub(last_tick) >= 10_000_000 {
                last_tick = now;
                self.end.tick_alive();
                self.publish();
                if let Some(a) = self.admin.take() {
                    a.poll(&mut |req| self.admin_request(req));
                    self.admin = Some(a);
                }
            }
            if now.saturating_sub(last_echo) >= self.echo_interval_ns {
                last_echo = now;
                self.path_management();
            }
            if did {
                owed_since = None;
                last_work = now;
            } else if self.pending.is_empty() {
                owed_since = None;
                if now.saturating_sub(last_work) < self.spin_after_work_ns {
                    // Dedicated cores: the next command of a burst of
                    // changes is picked up without a futex wake-up.
                    std::thread::yield_now();
                } else {
                    self.end.wait(Duration::from_micros(200));
                }
            } else {
                // A worker owes an Ack: it comes within microseconds, and
                // the doorbell does not ring for it. Yield the core (to the
                // worker or the client, if they share it) rather than
                // sleep: a timed sleep costs a timer and a wake-up, tens of
                // microseconds on a virtual machine. After 200 µs, nap.
                let since = *owed_since.get_or_insert(now);
                if now.saturating_sub(since) < 200_000 {
                    std::thread::yield_now();
                } else {
                    std::thread::sleep(Duration::from_micros(5));
                }
            }
        }
        info!("control thread stopped");
    }

    fn publish(&mut self) {
        self.local.sessions = self.sessions.len() as u64;
        self.local.steering_rules = self.steering.values().map(|(_, r, _)| r.len() as u64).sum();
        self.local.dns_rules = self.steering.values().map(|(_, _, d)| d.len() as u64).sum();
        self.local.pfd_apps = self.pfds.len() as u64;
        self.local.peers = self
            .peers
            .iter()
            .map(|(a, p)| PeerState {
                addr: *a,
                sessions: p.refs,
                outstanding: p.outstanding,
                up: p.up,
            })
            .collect();
        self.local.neighbors = self.neighbors.iter().map(|(a, m)| (*a, *m)).collect();
        self.local.clients = (0..self.end.slots())
            .map(|s| self.end.client_pid(s))
            .collect();
        if let Ok(mut s) = self.stats.lock() {
            s.clone_from(&self.local);
        }
    }

    fn command(&mut self, slot: u32, cmd: Command) {
        match cmd {
            Command::SessionPut { req, rules } => self.session_put(slot, req, rules),
            Command::SessionDelete { req, seid } => self.session_delete(slot, req, seid, false),
            Command::SessionQuery {
                req,
                seid,
                urr_ids,
                query_reference,
            } => match self.sessions.get(&seid).map(|s| s.owner) {
                Some(owner) => {
                    let r = self.new_req();
                    self.pending.insert(
                        r,
                        Pending {
                            slot,
                            req,
                            waiting: 1,
                            reports: Vec::new(),
                            error: None,
                            silent: false,
                        },
                    );
                    self.push_update(
                        owner,
                        WorkerUpdate::Query {
                            req: r,
                            seid,
                            urr_ids,
                            query_reference,
                        },
                    );
                }
                None => self.ack(slot, req, Err(CommandError::UnknownSession(seid))),
            },
            Command::PfdPut {
                req,
                application_id,
                pfds,
            } => {
                self.pfds.set(&application_id, &pfds);
                let t = Arc::new(self.pfds.clone());
                self.broadcast(slot, req, |_| WorkerUpdate::Pfds(t.clone()));
            }
            Command::SteeringPut {
                req,
                owner,
                rules,
                dns,
            } => {
                if let Some(Some((_, owners))) = self.sync.get_mut(slot as usize) {
                    owners.insert(owner.clone());
                }
                if rules.is_empty() && dns.is_empty() {
                    self.steering.remove(&owner);
                } else {
                    self.steering.insert(owner, (slot, rules, dns));
                }
                self.push_steering(slot, req);
            }
            Command::SyncBegin { req } => {
                // The client is about to push every session it has (as
                // many as are here, usually): no rehash while they come.
                let expect = self.sessions.len();
                if let Some(s) = self.sync.get_mut(slot as usize) {
                    *s = Some((HashSet::with_capacity(expect), HashSet::new()));
                }
                self.ack(slot, req, Ok(AckBody::default()));
            }
            Command::SyncEnd { req } => {
                let Some(Some((seen, owners))) = self.sync.get_mut(slot as usize).map(Option::take)
                else {
                    return self.ack(slot, req, Ok(AckBody::default()));
                };
                let stale: Vec<u64> = self
                    .sessions
                    .iter()
                    .filter(|(k, s)| s.slot == slot && !seen.contains(k))
                    .map(|(k, _)| *k)
                    .collect();
                if !stale.is_empty() {
                    info!(
                        slot,
                        count = stale.len(),
                        "removing sessions the client no longer has"
                    );
                }
                for seid in stale {
                    self.session_delete(slot, 0, seid, true);
                }
                let stale_owners: Vec<String> = self
                    .steering
                    .iter()
                    .filter(|(o, (s, _, _))| *s == slot && !owners.contains(*o))
                    .map(|(o, _)| o.clone())
                    .collect();
                let changed = !stale_owners.is_empty();
                for o in stale_owners {
                    self.steering.remove(&o);
                }
                if changed {
                    self.push_steering(slot, req);
                } else {
                    self.ack(slot, req, Ok(AckBody::default()));
                }
            }
            Command::Ping { req } => {
                self.broadcast(slot, req, |r| WorkerUpdate::Ping { req: r });
            }
        }
    }

    /// Sends `make(internal_req)` plus a barrier to every worker and acks
    /// the client when all have applied it.
    fn broadcast(&mut self, slot: u32, req: u64, make: impl Fn(u64) -> WorkerUpdate<B>) {
        let r = self.new_req();
        let n = self.workers();
        self.pending.insert(
            r,
            Pending {
                slot,
                req,
                waiting: n,
                reports: Vec::new(),
                error: None,
                silent: false,
            },
        );
        for w in 0..n {
            match make(r) {
                WorkerUpdate::Ping { req } => self.push_update(w, WorkerUpdate::Ping { req }),
                u => {
                    self.push_update(w, u);
                    self.push_update(w, WorkerUpdate::Ping { req: r });
                }
            }
        }
    }

    fn push_steering(&mut self, slot: u32, req: u64) {
        let owners: Vec<(String, Vec<SteeringRule>)> = self
            .steering
            .iter()
            .map(|(o, (_, r, _))| (o.clone(), r.clone()))
            .collect();
        let dns: Vec<(String, Vec<DnsRule>)> = self
            .steering
            .iter()
            .map(|(o, (_, _, d))| (o.clone(), d.clone()))
            .collect();
        let st = Arc::new(SteeringTable::compile(&owners, &self.topo));
        let dt = Arc::new(DnsTable::compile(&dns));
        let n = self.workers();
        for w in 0..n {
            self.push_update(w, WorkerUpdate::Steering(st.clone()));
            self.push_update(w, WorkerUpdate::Dns(dt.clone()));
        }
        self.broadcast(slot, req, |r| WorkerUpdate::Ping { req: r });
    }

    fn session_put(&mut self, slot: u32, req: u64, rules: SessionRules) {
        let seid = rules.seid;
        let compiled = match compile(&rules, &self.topo, self.clock.now()) {
            Ok(c) => c,
            Err(e) => {
                debug!(seid, error = %e, "rule set refused");
                return self.ack(slot, req, Err(CommandError::Rule(e)));
            }
        };
        if let Some(Some((seen, _))) = self.sync.get_mut(slot as usize) {
            seen.insert(seid);
        }
        let owner = compiled.owner;
        let workers = self.workers();
        // Redirect entries for keys that land on another worker.
        let mut redirects = Vec::new();
        for &t in compiled.teids() {
            let nat = placement::natural_worker_teid(t, workers);
            if nat != owner {
                redirects.push((nat, LookupKey::Teid(t)));
            }
        }
        if let Some((net, _)) = compiled.ue.v6() {
            let nat = placement::natural_worker_v6(&std::net::Ipv6Addr::from(net), workers);
            if nat != owner && compiled.ue.v6_len().unwrap_or(0) <= 64 {
                redirects.push((nat, LookupKey::Ue6((net >> 64) as u64)));
            }
        }
        let tunnels = tunnels_of(&rules);
        let counts = RuleCounts::of(&rules);
        self.local.rules.add(&counts);
        // Replace the old placement.
        if let Some(old) = self.sessions.remove(&seid) {
            self.local.rules.sub(&old.rules);
            for (w, k) in &old.redirects {
                if !redirects.contains(&(*w, *k)) {
                    self.push_update(
                        *w,
                        WorkerUpdate::Redirect {
                            key: *k,
                            worker: None,
                        },
                    );
                }
            }
            self.unref_tunnels(seid, &old.tunnels);
            if old.owner != owner {
                // Rare: the UE address moved the session to another worker.
                let r = self.new_req();
                self.pending.insert(
                    r,
                    Pending {
                        slot: old.slot,
                        req: 0,
                        waiting: 1,
                        reports: Vec::new(),
                        error: None,
                        silent: true,
                    },
                );
                self.push_update(old.owner, WorkerUpdate::Remove { req: r, seid });
                self.local.sessions_per_worker[old.owner as usize] -= 1;
                self.local.sessions_per_worker[owner as usize] += 1;
            }
        } else if let Some(c) = self.local.sessions_per_worker.get_mut(owner as usize) {
            *c += 1;
        }
        for (w, k) in &redirects {
            self.push_update(
                *w,
                WorkerUpdate::Redirect {
                    key: *k,
                    worker: Some(owner),
                },
            );
        }
        self.ref_tunnels(seid, &tunnels);
        self.sessions.insert(
            seid,
            Sess {
                slot,
                owner,
                redirects,
                tunnels,
                rules: counts,
            },
        );
        let r = self.new_req();
        self.pending.insert(
            r,
            Pending {
                slot,
                req,
                waiting: 1,
                reports: Vec::new(),
                error: None,
                silent: false,
            },
        );
        self.push_update(
            owner,
            WorkerUpdate::Install {
                req: r,
                session: Box::new(compiled),
            },
        );
    }

    fn session_delete(&mut self, slot: u32, req: u64, seid: u64, silent: bool) {
        let Some(s) = self.sessions.remove(&seid) else {
            if !silent {
                self.ack(slot, req, Err(CommandError::UnknownSession(seid)));
            }
            return;
        };
        for (w, k) in &s.redirects {
            self.push_update(
                *w,
                WorkerUpdate::Redirect {
                    key: *k,
                    worker: None,
                },
            );
        }
        self.unref_tunnels(seid, &s.tunnels);
        self.local.rules.sub(&s.rules);
        if let Some(c) = self.local.sessions_per_worker.get_mut(s.owner as usize) {
            *c = c.saturating_sub(1);
        }
        let r = self.new_req();
        self.pending.insert(
            r,
            Pending {
                slot: s.slot,
                req,
                waiting: 1,
                reports: Vec::new(),
                error: None,
                silent,
            },
        );
        self.push_update(s.owner, WorkerUpdate::Remove { req: r, seid });
    }

    fn ref_tunnels(&mut self, seid: u64, t: &[(IpAddr, u32)]) {
        for (peer, teid) in t {
            self.tunnels.entry((*peer, *teid)).or_default().push(seid);
            let port = self
                .topo
                .ports
                .iter()
                .find(|p| p.role.is_tunnel() && p.on_link(*peer))
                .or_else(|| self.topo.ports.iter().find(|p| p.role.is_tunnel()))
                .map_or(0, |p| p.id);
            let e = self.peers.entry(*peer).or_insert(Peer {
                refs: 0,
                outstanding: 0,
                up: true,
                port,
            });
            e.refs += 1;
        }
    }

    fn unref_tunnels(&mut self, seid: u64, t: &[(IpAddr, u32)]) {
        for (peer, teid) in t {
            if let Some(v) = self.tunnels.get_mut(&(*peer, *teid)) {
                v.retain(|s| *s != seid);
                if v.is_empty() {
                    self.tunnels.remove(&(*peer, *teid));
                }
            }
            if let Some(p) = self.peers.get_mut(peer) {
                p.refs = p.refs.saturating_sub(1);
                if p.refs == 0 {
                    self.peers.remove(peer);
                }
            }
        }
    }

    fn event(&mut self, _worker: u32, ev: WorkerEvent) {
        match ev {
            WorkerEvent::Ack { req, result } => {
                let Some(p) = self.pending.get_mut(&req) else {
                    return;
                };
                match result {
                    Ok(mut r) => p.reports.append(&mut r),
                    Err(e) => p.error = Some(e),
                }
                p.waiting = p.waiting.saturating_sub(1);
                if p.waiting > 0 {
                    return;
                }
                let Some(p) = self.pending.remove(&req) else {
                    return;
                };
                if p.silent {
                    for r in p.reports {
                        self.send(p.slot, Event::Usage(r));
                    }
                } else {
                    let res = match p.error {
                        Some(e) => Err(e),
                        None => Ok(AckBody { usage: p.reports }),
                    };
                    self.ack(p.slot, p.req, res);
                }
            }
            WorkerEvent::Usage(u) => {
                self.local.usage_reports += 1;
                let slot = self
                    .sessions
                    .get(&u.seid)
                    .map_or(upf_ctrl::SLOT_PFCP, |s| s.slot);
                self.send(slot, Event::Usage(u));
            }
            WorkerEvent::DownlinkData(d) => {
                self.local.downlink_reports += 1;
                let slot = self
                    .sessions
                    .get(&d.seid)
                    .map_or(upf_ctrl::SLOT_PFCP, |s| s.slot);
                self.send(slot, Event::DownlinkData(d));
            }
            WorkerEvent::ErrorIndication { peer, teid } => {
                let seids = self.tunnels.get(&(peer, teid)).cloned().unwrap_or_default();
                info!(%peer, teid, sessions = seids.len(), "GTP-U error indication");
                self.send(
                    upf_ctrl::SLOT_PFCP,
                    Event::ErrorIndication { peer, teid, seids },
                );
            }
            WorkerEvent::EchoResponse { peer } => {
                if let Some(p) = self.peers.get_mut(&peer) {
                    p.outstanding = 0;
                    if !p.up {
                        p.up = true;
                        info!(%peer, "GTP-U path up");
                        self.send(upf_ctrl::SLOT_PFCP, Event::PeerPath { peer, up: true });
                    }
                }
            }
            WorkerEvent::NeighborLearned { ip, mac } => {
                if self.neighbors.insert(ip, mac) != Some(mac) {
                    debug!(%ip, "neighbour learnt");
                    for w in 0..self.workers() {
                        self.push_update(w, WorkerUpdate::Neighbor { ip, mac });
                    }
                }
            }
            WorkerEvent::Retired(b) => drop(b),
        }
    }

    fn path_management(&mut self) {
        let peers: Vec<IpAddr> = self.peers.keys().copied().collect();
        for peer in peers {
            let Some(p) = self.peers.get_mut(&peer) else {
                continue;
            };
            if p.outstanding >= self.echo_retries && p.up {
                p.up = false;
                warn!(%peer, "GTP-U path down (echo unanswered)");
                self.send(upf_ctrl::SLOT_PFCP, Event::PeerPath { peer, up: false });
            }
            let Some(p) = self.peers.get_mut(&peer) else {
                continue;
            };
            p.outstanding = p.outstanding.saturating_add(1);
            let port = p.port;
            self.echo_seq = self.echo_seq.wrapping_add(1);
            let Some(pd) = self.topo.port(port) else {
                continue;
            };
            let Some(src) = pd.source_for(peer) else {
                continue;
            };
            let via = pd.next_hop(peer).unwrap_or(peer);
            if let Some(frame) = echo_request(pd.mac, src, peer, self.echo_seq) {
                self.push_update(
                    0,
                    WorkerUpdate::Transmit {
                        port,
                        frame,
                        via: Some(via),
                    },
                );
            }
        }
    }

    fn admin_request(&mut self, req: &str) -> String {
        crate::admin::answer(req, &self.local, &self.snapshots, &self.topo, |seid| {
            self.sessions.get(&seid).map(|s| {
                serde_json::json!({
                    "seid": seid,
                    "owner_worker": s.owner,
                    "client_slot": s.slot,
                    "redirects": s.redirects.iter().map(|(w, k)| format!("worker {w}: {k:?}")).collect::<Vec<_>>(),
                    "tunnels": s.tunnels.iter().map(|(a, t)| format!("{a} teid {t:#x}")).collect::<Vec<_>>(),
                })
            })
        })
    }
}

/// Remote tunnels a rule set forwards to (for error indications and path
/// management).
fn tunnels_of(r: &SessionRules) -> Vec<(IpAddr, u32)> {
    let mut v = Vec::new();
    for f in &r.fars {
        if !f.apply_action.has(ApplyAction::FORW) && !f.apply_action.has(ApplyAction::BUFF) {
            continue;
        }
        let ohcs = f
            .forwarding
            .iter()
            .filter_map(|p| p.outer_header_creation.as_ref())
            .chain(
                f.duplicating
                    .iter()
                    .filter_map(|d| d.outer_header_creation.as_ref()),
            );
        for o in ohcs {
            let addr = match o.kind {
                OuterHeaderKind::GtpuUdpIpv4 => o.ipv4.map(IpAddr::V4),
                OuterHeaderKind::GtpuUdpIpv6 => o.ipv6.map(IpAddr::V6),
                _ => None,
            };
            if let Some(a) = addr {
                if !v.contains(&(a, o.teid)) {
                    v.push((a, o.teid));
                }
            }
        }
    }
    v
}

/// An Echo Request frame from `src` to `peer` (Ethernet destination left
/// zero for the worker to fill in).
fn echo_request(mac: [u8; 6], src: IpAddr, peer: IpAddr, seq: u16) -> Option<Vec<u8>> {
    let mut body = [0u8; 16];
    let glen = Message::EchoRequest
        .emit(&mut body, 0, Some(seq), None)
        .ok()?;
    let ip_len = if src.is_ipv4() { 20 } else { 40 };
    let udp_len = 8 + glen;
    let mut f = vec![0u8; 14 + ip_len + udp_len];
    f[6..12].copy_from_slice(&mac);
    let et: u16 = if src.is_ipv4() { 0x0800 } else { 0x86dd };
    f[12..14].copy_from_slice(&et.to_be_bytes());
    match (src, peer) {
        (IpAddr::V4(s), IpAddr::V4(d)) => ipv4::Ipv4Repr {
            src: s,
            dst: d,
            protocol: ipv4::PROTO_UDP,
            ttl: 64,
            tos: 0,
            ident: seq,
            dont_frag: false,
            more_frags: false,
            frag_offset: 0,
            header_len: 20,
            total_len: 20 + udp_len,
        }
        .emit(&mut f[14..])
        .ok()?,
        (IpAddr::V6(s), IpAddr::V6(d)) => ipv6::Ipv6Repr {
            src: s,
            dst: d,
            next_header: ipv4::PROTO_UDP,
            hop_limit: 64,
            traffic_class: 0,
            flow_label: 0,
            payload_len: udp_len,
        }
        .emit(&mut f[14..])
        .ok()?,
        _ => return None,
    }
    let u = 14 + ip_len;
    udp::UdpRepr {
        src_port: udp::GTPU_PORT,
        dst_port: udp::GTPU_PORT,
        len: udp_len,
        checksum: 0,
    }
    .emit(&mut f[u..])
    .ok()?;
    f[u + 8..].copy_from_slice(&body[..glen]);
    if let (IpAddr::V6(s), IpAddr::V6(d)) = (src, peer) {
        udp::fill_checksum_v6(&mut f[u..], &s, &d).ok()?;
    }
    Some(f)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::Ipv4Addr;
    use upf_ctrl::spsc;
    use upf_io::mem::MemBuf;
    use upf_testkit::packets::BasicSession;

    fn config(run_dir: &std::path::Path, expected: usize) -> Config {
        let ifaces = upf_testkit::MEMORY_INTERFACES_TOML;
        let text = format!(
            r#"
[node]
run_dir = "{}"
[dataplane]
backend = "memory"
workers = 1
expected_sessions = {expected}
{ifaces}
"#,
            run_dir.display()
        );
        Config::from_str_named(&text, "test").unwrap()
    }

    fn session(i: u32) -> SessionRules {
        BasicSession {
            seid: u64::from(i) + 1,
            ue: Ipv4Addr::from(0x0a00_0000 + i),
            upf_n3: Ipv4Addr::new(198, 18, 3, 2),
            gnb: Ipv4Addr::new(198, 18, 3, 1),
            ul_teid: 0x1000 + i,
            dl_teid: 0x10_0000 + i,
            qfi: 9,
            network_instance: Some("internet"),
            counted: true,
        }
        .rules()
    }

    /// The stall of the 1M-session run (scripts/bench-pfcp.sh million): the
    /// control thread's per-session tables started empty and rehashed as
    /// they filled, the last time at 917,504 sessions, with every command
    /// and Ack waiting meanwhile. Sized from `expected_sessions`, filling
    /// them to that number (and a resync of all of them) grows nothing.
    #[test]
    fn per_session_tables_never_grow_up_to_the_expected_sessions() {
        const N: u32 = 20_000;
        let dir = std::env::temp_dir().join(format!("upf-control-sized-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        let cfg = config(&dir, N as usize);
        let topo = crate::topo::build(&cfg, None).unwrap();
        let end = DataplaneEnd::create(
            &dir,
            upf_ctrl::ChannelConfig {
                slots: 4,
                ring_bytes: 1 << 20,
            },
        )
        .unwrap();
        let (upd_tx, mut upd_rx) = spsc::channel::<WorkerUpdate<MemBuf>>(4096);
        let (_evt_tx, evt_rx) = spsc::channel::<WorkerEvent>(16);
        let mut c = Control::new(
            &cfg,
            topo,
            end,
            vec![upd_tx],
            vec![evt_rx],
            crate::Clock::new(),
            Arc::new(Mutex::new(ControlStats::default())),
            Vec::new(),
            None,
        );
        let caps = (c.sessions.capacity(), c.tunnels.capacity());
        assert!(
            caps.0 >= N as usize && caps.1 >= N as usize,
            "tables sized for the expected sessions: {caps:?}"
        );
        let slot = upf_ctrl::SLOT_PFCP;
        for i in 0..N {
            c.command(
                slot,
                Command::SessionPut {
                    req: u64::from(i) + 1,
                    rules: session(i),
                },
            );
            // The worker's side: take the compiled sessions.
            while upd_rx.pop().is_some() {}
        }
        assert_eq!(c.sessions.len(), N as usize, "every rule set compiled");
        assert_eq!(c.tunnels.len(), N as usize);
        assert_eq!(
            (c.sessions.capacity(), c.tunnels.capacity()),
            caps,
            "no table grew (a rehash holds up every command)"
        );
        // A resync after a client restart: the set of sessions it pushed.
        c.command(slot, Command::SyncBegin { req: 1_000_000 });
        let seen_cap = |c: &Control<MemBuf>| {
            c.sync[slot as usize]
                .as_ref()
                .map(|(s, _)| s.capacity())
                .unwrap_or(0)
        };
        let cap = seen_cap(&c);
        assert!(cap >= N as usize, "resync set sized: {cap}");
        for i in 0..N {
            c.command(
                slot,
                Command::SessionPut {
                    req: 2_000_000 + u64::from(i),
                    rules: session(i),
                },
            );
            while upd_rx.pop().is_some() {}
        }
        assert_eq!(seen_cap(&c), cap, "the resync set did not grow");
        c.command(slot, Command::SyncEnd { req: 1_000_001 });
        assert_eq!(c.sessions.len(), N as usize, "nothing stale removed");
        drop(c);
        let _ = std::fs::remove_dir_all(&dir);
    }
}
