//! The link to the dataplane: one OS thread that owns the control-channel
//! client (slot [`upf_ctrl::SLOT_MEC`]) and keeps the dataplane's steering
//! equal to the wanted state of every local app.
//!
//! The API hands it the complete wanted rules of one owner (app instance);
//! the thread sends `SteeringPut` at once (the channel wakes it, no
//! polling). It attaches when the dataplane appears, and after a
//! dataplane restart (new control file) or its own start it pushes every
//! owner between `SyncBegin` and `SyncEnd`, so owners it no longer has are
//! removed by the dataplane.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::mpsc;
use std::sync::Arc;
use std::time::{Duration, Instant};

use tracing::{info, warn};
use upf_ctrl::{ClientEnd, Command, DataplaneStatus, Event, SendError, SLOT_MEC};
use upf_rules::steer::{DnsRule, SteeringRule};

enum Msg {
    Put {
        req: u64,
        owner: String,
        rules: Vec<SteeringRule>,
        dns: Vec<DnsRule>,
    },
    Events,
    Stop,
}

/// Counters of the link.
#[derive(Debug, Default)]
pub struct LinkStats {
    /// SteeringPut commands sent.
    pub puts_sent: AtomicU64,
    /// Commands the dataplane refused.
    pub refused: AtomicU64,
    /// Full resyncs (attach, dataplane restart).
    pub resyncs: AtomicU64,
}

/// The API's handle on the link thread.
#[derive(Clone)]
pub struct DataplaneLink {
    tx: mpsc::Sender<Msg>,
    next_req: Arc<AtomicU64>,
    attached: Arc<AtomicBool>,
    acked: tokio::sync::watch::Receiver<u64>,
    /// Counters.
    pub stats: Arc<LinkStats>,
}

/// The running thread; stops when dropped.
pub struct LinkThread {
    tx: mpsc::Sender<Msg>,
    handle: Option<std::thread::JoinHandle<()>>,
}

impl Drop for LinkThread {
    fn drop(&mut self) {
        let _ = self.tx.send(Msg::Stop);
        if let Some(h) = self.handle.take() {
            let _ = h.join();
        }
    }
}

impl DataplaneLink {
    /// Starts the thread for the control file in `run_dir`.
    pub fn start(run_dir: PathBuf) -> std::io::Result<(DataplaneLink, LinkThread)> {
        let (tx, rx) = mpsc::channel();
        let attached = Arc::new(AtomicBool::new(false));
        let (ack_tx, ack_rx) = tokio::sync::watch::channel(0u64);
        let stats = Arc::new(LinkStats::default());
        let next_req = Arc::new(AtomicU64::new(1 << 32));
        let mut st = State {
            run_dir,
            rx,
            tx: tx.clone(),
            client: None,
            notifier: None,
            wanted: BTreeMap::new(),
            backlog: Vec::new(),
            attached: attached.clone(),
            acked: ack_tx,
            stats: stats.clone(),
            next_req: next_req.clone(),
            logged_down: false,
        };
        let handle = std::thread::Builder::new()
            .name("mec-dataplane".into())
            .spawn(move || st.run())?;
        Ok((
            DataplaneLink {
                tx: tx.clone(),
                next_req,
                attached,
                acked: ack_rx,
                stats,
            },
            LinkThread {
                tx,
                handle: Some(handle),
            },
        ))
    }

    /// Sets the wanted rules of `owner` (empty lists remove them). Returns
    /// the request ID whose acknowledgement means the dataplane applies them.
    pub fn put(&self, owner: &str, rules: Vec<SteeringRule>, dns: Vec<DnsRule>) -> u64 {
        let req = self.next_req.fetch_add(1, Ordering::Relaxed);
        let _ = self.tx.send(Msg::Put {
            req,
            owner: owner.to_string(),
            rules,
            dns,
        });
        req
    }

    /// True while attached to a live dataplane.
    pub fn attached(&self) -> bool {
        self.attached.load(Ordering::Acquire)
    }

    /// Waits until request `req` (or a later one) is acknowledged, at most
    /// `timeout`. True if it was.
    pub async fn wait_applied(&self, req: u64, timeout: Duration) -> bool {
        let mut rx = self.acked.clone();
        tokio::time::timeout(timeout, rx.wait_for(|a| *a >= req))
            .await
            .is_ok_and(|r| r.is_ok())
    }
}

struct State {
    run_dir: PathBuf,
    rx: mpsc::Receiver<Msg>,
    tx: mpsc::Sender<Msg>,
    client: Option<ClientEnd>,
    notifier: Option<upf_ctrl::Notifier>,
    /// Wanted rules per owner, with the request that last changed them.
    wanted: BTreeMap<String, (u64, Vec<SteeringRule>, Vec<DnsRule>)>,
    /// Commands waiting for room in the ring.
    backlog: Vec<Command>,
    attached: Arc<AtomicBool>,
    acked: tokio::sync::watch::Sender<u64>,
    stats: Arc<LinkStats>,
    next_req: Arc<AtomicU64>,
    logged_down: bool,
}

impl State {
    fn run(&mut self) {
        let mut last_check = Instant::now() - Duration::from_secs(10);
        loop {
            let wait = if self.backlog.is_empty() {
                Duration::from_millis(200)
            } else {
                Duration::from_millis(1)
            };
            match self.rx.recv_timeout(wait) {
                Ok(Msg::Stop) => break,
                Ok(Msg::Put {
                    req,
                    owner,
                    rules,
                    dns,
                }) => {
                    let cmd = Command::SteeringPut {
                        req,
                        owner: owner.clone(),
                        rules: rules.clone(),
                        dns: dns.clone(),
                    };
                    if rules.is_empty() && dns.is_empty() {
                        self.wanted.remove(&owner);
                    } else {
                        self.wanted.insert(owner, (req, rules, dns));
                    }
                    if self.client.is_some() {
                        self.backlog.push(cmd);
                    }
                }
                Ok(Msg::Events) | Err(mpsc::RecvTimeoutError::Timeout) => {}
                Err(mpsc::RecvTimeoutError::Disconnected) => break,
            }
            if last_check.elapsed() >= Duration::from_millis(250) {
                last_check = Instant::now();
                self.check();
            }
            self.flush();
            self.drain_events();
        }
        self.attached.store(false, Ordering::Release);
    }

    fn req(&self) -> u64 {
        self.next_req.fetch_add(1, Ordering::Relaxed)
    }

    /// Queues the full state between SyncBegin and SyncEnd.
    fn resync(&mut self) {
        self.stats.resyncs.fetch_add(1, Ordering::Relaxed);
        self.backlog.clear();
        self.backlog.push(Command::SyncBegin { req: self.req() });
        let owners: Vec<_> = self
            .wanted
            .iter()
            .map(|(o, (r, rules, dns))| Command::SteeringPut {
                req: *r,
                owner: o.clone(),
                rules: rules.clone(),
                dns: dns.clone(),
            })
            .collect();
        self.backlog.extend(owners);
        self.backlog.push(Command::SyncEnd { req: self.req() });
    }

    fn check(&mut self) {
        if let Some(c) = self.client.as_mut() {
            match c.check(Duration::from_secs(3)) {
                Ok(DataplaneStatus::Restarted) => {
                    warn!("dataplane restarted: pushing every app's steering again");
                    self.attached.store(true, Ordering::Release);
                    self.logged_down = false;
                    let tx = self.tx.clone();
                    self.notifier = Some(c.notifier(move || {
                        let _ = tx.send(Msg::Events);
                    }));
                    self.resync();
                }
                Ok(DataplaneStatus::Down) => {
                    self.attached.store(false, Ordering::Release);
                    if !self.logged_down {
                        warn!("dataplane is not answering");
                        self.logged_down = true;
                    }
                }
                Ok(DataplaneStatus::Alive) => {
                    self.attached.store(true, Ordering::Release);
                    self.logged_down = false;
                }
                Err(e) => warn!(error = %e, "dataplane check failed"),
            }
            return;
        }
        match ClientEnd::attach(&self.run_dir, SLOT_MEC) {
            Ok(c) => {
                info!(epoch = c.dataplane_epoch(), "attached to the dataplane");
                let tx = self.tx.clone();
                self.notifier = Some(c.notifier(move || {
                    let _ = tx.send(Msg::Events);
                }));
                self.client = Some(c);
                self.attached.store(true, Ordering::Release);
                self.logged_down = false;
                self.resync();
            }
            Err(e) => {
                if !self.logged_down {
                    warn!(error = %e, "dataplane not reachable yet; retrying");
                    self.logged_down = true;
                }
            }
        }
    }

    fn flush(&mut self) {
        let Some(c) = self.client.as_mut() else {
            return;
        };
        let mut sent = 0;
        for cmd in &self.backlog {
            match c.send(cmd) {
                Ok(()) => {
                    sent += 1;
                    if matches!(cmd, Command::SteeringPut { .. }) {
                        self.stats.puts_sent.fetch_add(1, Ordering::Relaxed);
                    }
                }
                Err(SendError::Full) => break,
                Err(e) => {
                    // Too large or not encodable: it can never be sent.
                    warn!(error = %e, "steering command dropped");
                    self.stats.refused.fetch_add(1, Ordering::Relaxed);
                    sent += 1;
                }
            }
        }
        self.backlog.drain(..sent);
    }

    fn drain_events(&mut self) {
        let Some(c) = self.client.as_mut() else {
            return;
        };
        if let Some(n) = self.notifier.as_ref() {
            n.rearm();
        }
        for _ in 0..4096 {
            match c.recv() {
                Ok(Some(Event::Ack { req, result })) => {
                    if let Err(e) = result {
                        warn!(req, error = %e, "the dataplane refused a steering command");
                        self.stats.refused.fetch_add(1, Ordering::Relaxed);
                    }
                    self.acked.send_if_modified(|a| {
                        if req > *a {
                            *a = req;
                            true
                        } else {
                            false
                        }
                    });
                }
                Ok(Some(_)) => {}
                Ok(None) => break,
                Err(e) => {
                    warn!(error = %e, "control channel event dropped");
                    break;
                }
            }
        }
    }
}
