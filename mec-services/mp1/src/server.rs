//! Wiring: storage, the registry, the dataplane link, configured apps,
//! the listeners (plain or TLS) and the admin endpoint.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;

use axum::{Extension, Router};
use hyper::body::Incoming;
use hyper_util::rt::TokioIo;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{mpsc, watch};
use tower::ServiceExt;
use tracing::{info, warn};
use upf_config::{Config, MecAuth, MecConfig, MecStorage};

use crate::api::{self, Api, PeerIds};
use crate::core::{AuthMode, Core, CoreConfig};
use crate::dataplane::{DataplaneLink, LinkThread};
use crate::model::AppDescriptor;
use crate::notify::{Notifier, NotifyConfig};
use crate::registry::{AppSource, Op, Registry, Touched};
use crate::store::{EtcdStore, RedbStore, Store, StoreError};
use crate::tls::{self, TlsError};

/// Why the sidecar could not start.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    /// No `[mec]` section.
    #[error("the configuration has no [mec] section")]
    NoSection,
    /// Storage.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// TLS files.
    #[error(transparent)]
    Tls(#[from] TlsError),
    /// A socket.
    #[error("listen on {0}: {1}")]
    Bind(SocketAddr, std::io::Error),
    /// An app's descriptor.
    #[error("app {app}: {reason}")]
    App {
        /// The app.
        app: String,
        /// What is wrong.
        reason: String,
    },
    /// Anything else.
    #[error("{0}")]
    Other(String),
}

/// Options beyond the configuration (tests, benchmarks).
#[derive(Clone, Debug)]
pub struct StartOptions {
    /// Attach to the dataplane's control file.
    pub dataplane: bool,
    /// Wait for the dataplane's acknowledgement before answering a rule
    /// update (at most this long).
    pub apply_wait: Duration,
    /// Notification backoff (first retry).
    pub notify_backoff: Duration,
}

impl Default for StartOptions {
    fn default() -> Self {
        StartOptions {
            dataplane: true,
            apply_wait: Duration::from_millis(100),
            notify_backoff: Duration::from_millis(200),
        }
    }
}

/// A running sidecar; stops when dropped or on [`Sidecar::shutdown`].
pub struct Sidecar {
    /// The Mp1 address.
    pub addr: SocketAddr,
    /// The admin address.
    pub admin_addr: Option<SocketAddr>,
    /// The logic (for tests and metrics).
    pub core: Arc<Core>,
    stop: watch::Sender<bool>,
    listeners: Vec<tokio::task::JoinHandle<()>>,
    tasks: Vec<tokio::task::JoinHandle<()>>,
    _link: Option<LinkThread>,
    _metrics: Option<upf_observe::MetricsServer>,
}

impl Drop for Sidecar {
    fn drop(&mut self) {
        let _ = self.stop.send(true);
        for t in self.listeners.iter().chain(&self.tasks) {
            t.abort();
        }
    }
}

impl Sidecar {
    /// Stops the listeners and waits for their tasks.
    pub async fn shutdown(mut self) {
        let _ = self.stop.send(true);
        // Listeners stop by themselves, closing their connections (so no
        // request task holds the store any more when this returns).
        for mut t in self.listeners.drain(..) {
            if tokio::time::timeout(Duration::from_secs(3), &mut t)
                .await
                .is_err()
            {
                t.abort();
                let _ = t.await;
            }
        }
        for t in self.tasks.drain(..) {
            t.abort();
            let _ = t.await;
        }
    }
}

fn read_descriptor(path: &Path) -> Result<AppDescriptor, String> {
    let text = std::fs::read(path).map_err(|e| format!("{}: {e}", path.display()))?;
    let v: serde_json::Value =
        serde_json::from_slice(&text).map_err(|e| format!("{}: {e}", path.display()))?;
    serde_path_to_error::deserialize(v)
        .map_err(|e| format!("{}: {}: {}", path.display(), e.path(), e.inner()))
}

/// The database file of `storage = "file"`.
pub fn db_path(cfg: &Config, m: &MecConfig) -> PathBuf {
    m.db_path
        .clone()
        .unwrap_or_else(|| cfg.node.state_dir.join("mp1.redb"))
}

/// Starts the sidecar (inside a tokio runtime).
pub async fn start(cfg: &Config, opts: StartOptions) -> Result<Sidecar, StartError> {
    let m = cfg.mec.as_ref().ok_or(StartError::NoSection)?;
    let store = match m.storage {
        MecStorage::File => {
            let p = db_path(cfg, m);
            let s = tokio::task::spawn_blocking(move || RedbStore::open(&p))
                .await
                .map_err(|e| StartError::Other(e.to_string()))??;
            Store::Redb(Arc::new(s))
        }
        MecStorage::Etcd => Store::Etcd(Arc::new(EtcdStore::new(
            m.etcd_endpoints.clone(),
            m.etcd_prefix.clone(),
            Duration::from_secs(5),
        ))),
    };
    let (records, rev) = store.load().await?;
    let mut reg = Registry::default();
    let mut t = Touched::default();
    for (key, value, r) in records {
        reg.apply(&Op::Put { key, value }, r, &mut t);
    }
    for (k, e) in &reg.bad_records {
        warn!(key = %k, error = %e, "stored record ignored");
    }
    info!(
        apps = reg.apps.len(),
        services = reg.services.len(),
        traffic_rules = reg.traffic.len(),
        dns_rules = reg.dns.len(),
        subscriptions = reg.sersubs.len() + reg.termsubs.len(),
        "registry loaded"
    );
    let (link, link_thread) = if opts.dataplane {
        let (l, t) = DataplaneLink::start(cfg.run_dir().to_path_buf())
            .map_err(|e| StartError::Other(format!("dataplane link thread: {e}")))?;
        (Some(l), Some(t))
    } else {
        (None, None)
    };
    let notifier = Notifier::new(NotifyConfig {
        attempts: m.notify_max_retries.max(1),
        timeout: Duration::from_millis(m.notify_timeout_ms.max(1)),
        backoff: opts.notify_backoff,
        max_backoff: Duration::from_secs(10),
    });
    let core = Core::new(
        CoreConfig {
            host: cfg.node.name.clone(),
            auth: match m.auth {
                MecAuth::None => AuthMode::None,
                MecAuth::Bearer => AuthMode::Bearer,
                MecAuth::Mtls => AuthMode::Mtls,
            },
            steer: crate::validate::SteerContext {
                network_instance: m.network_instance.clone(),
            },
            termination_timeout: Duration::from_millis(m.termination_timeout_ms),
            ntp_servers: m.ntp_servers.clone(),
            apply_wait: opts.apply_wait,
        },
        reg,
        store.clone(),
        link,
        notifier,
    );
    for a in &m.apps {
        let d = match &a.descriptor {
            Some(p) => read_descriptor(p).map_err(|reason| StartError::App {
                app: a.instance_id.clone(),
                reason,
            })?,
            None => AppDescriptor::default(),
        };
        core.upsert_app(
            &a.instance_id,
            a.name.clone(),
            a.token.as_deref(),
            a.cert_identity.clone(),
            AppSource::Config,
            &d,
        )
        .await
        .map_err(|e| StartError::App {
            app: a.instance_id.clone(),
            reason: e.detail,
        })?;
    }
    core.steer_all();

    let https = m.tls_cert.is_some();
    let listener = TcpListener::bind(m.listen)
        .await
        .map_err(|e| StartError::Bind(m.listen, e))?;
    let addr = listener
        .local_addr()
        .map_err(|e| StartError::Bind(m.listen, e))?;
    let base = format!("{}://{addr}", if https { "https" } else { "http" });
    core.resume_terminations(&base);
    let tls = match (&m.tls_cert, &m.tls_key) {
        (Some(c), Some(k)) => {
            let ca = if m.auth == MecAuth::Mtls {
                m.client_ca.as_deref()
            } else {
                None
            };
            Some(tokio_rustls::TlsAcceptor::from(tls::server_config(
                c, k, ca,
            )?))
        }
        _ => None,
    };
    let (stop, stop_rx) = watch::channel(false);
    let mut tasks = Vec::new();
    let mut listeners = Vec::new();
    let router = api::router(Api {
        core: core.clone(),
        https,
    });
    listeners.push(tokio::spawn(accept_loop(
        listener,
        router,
        tls,
        stop_rx.clone(),
    )));
    info!(%addr, https, auth = ?m.auth, "Mp1 listening");

    let mut admin_addr = None;
    if let Some(a) = m.admin_listen {
        let l = TcpListener::bind(a)
            .await
            .map_err(|e| StartError::Bind(a, e))?;
        admin_addr = Some(l.local_addr().map_err(|e| StartError::Bind(a, e))?);
        let r = crate::admin::router(core.clone(), base.clone());
        listeners.push(tokio::spawn(accept_loop(l, r, None, stop_rx.clone())));
        info!(addr = ?admin_addr, "admin endpoint listening");
    }
    if let Store::Etcd(e) = &store {
        let (tx, mut rx) = mpsc::channel(64);
        tasks.push(tokio::spawn(e.clone().watch(rev, tx)));
        let c = core.clone();
        tasks.push(tokio::spawn(async move {
            while let Some(batch) = rx.recv().await {
                c.apply_remote(batch);
            }
        }));
    }
    let metrics = cfg.metrics.mec_listen.and_then(|addr| {
        let reg = upf_observe::Registry::new();
        let c = core.clone();
        reg.register(Box::new(move |e| metrics(&c, e)));
        upf_observe::serve(addr, reg)
            .map_err(|err| warn!(%addr, error = %err, "metrics endpoint not started"))
            .ok()
    });
    Ok(Sidecar {
        addr,
        admin_addr,
        core,
        stop,
        listeners,
        tasks,
        _link: link_thread,
        _metrics: metrics,
    })
}

fn metrics(c: &Core, e: &mut upf_observe::Exposition) {
    {
        let r = c.read();
        e.gauge(
            "mp1_apps",
            "MEC application instances",
            &[],
            r.apps.len() as f64,
        );
        e.gauge(
            "mp1_services",
            "Registered services",
            &[],
            r.services.len() as f64,
        );
        e.gauge(
            "mp1_traffic_rules",
            "Traffic rules",
            &[],
            r.traffic.len() as f64,
        );
        e.gauge("mp1_dns_rules", "DNS rules", &[], r.dns.len() as f64);
        e.gauge(
            "mp1_subscriptions",
            "Subscriptions",
            &[],
            (r.sersubs.len() + r.termsubs.len()) as f64,
        );
    }
    let n = &c.notifier().stats;
    for (name, help, v) in [
        (
            "mp1_notifications_delivered_total",
            "Notifications accepted by subscribers",
            &n.delivered,
        ),
        (
            "mp1_notification_failed_attempts_total",
            "Notification attempts that failed",
            &n.failed_attempts,
        ),
        (
            "mp1_notifications_abandoned_total",
            "Notifications given up after retries",
            &n.abandoned,
        ),
        (
            "mp1_notifications_dropped_total",
            "Notifications dropped (subscriber queue full)",
            &n.dropped,
        ),
    ] {
        e.counter(name, help, &[], v.load(Ordering::Relaxed));
    }
    if let Some(d) = c.dataplane() {
        e.gauge(
            "mp1_dataplane_attached",
            "1 when attached to the dataplane",
            &[],
            if d.attached() { 1.0 } else { 0.0 },
        );
        e.counter(
            "mp1_steering_puts_total",
            "SteeringPut commands sent",
            &[],
            d.stats.puts_sent.load(Ordering::Relaxed),
        );
        e.counter(
            "mp1_steering_refused_total",
            "Steering commands the dataplane refused",
            &[],
            d.stats.refused.load(Ordering::Relaxed),
        );
    }
}

async fn accept_loop(
    listener: TcpListener,
    router: Router,
    tls: Option<tokio_rustls::TlsAcceptor>,
    mut stop: watch::Receiver<bool>,
) {
    // Connections live in this set, so that stopping ends them all and
    // waits until they have let go of the router (and with it the store).
    let mut conns = tokio::task::JoinSet::new();
    loop {
        tokio::select! {
            r = listener.accept() => match r {
                Ok((tcp, _)) => {
                    conns.spawn(connection(tcp, router.clone(), tls.clone(), stop.clone()));
                }
                Err(e) => {
                    warn!(error = %e, "accept");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                }
            },
            Some(_) = conns.join_next(), if !conns.is_empty() => {}
            _ = stop.changed() => break,
        }
    }
    // Open connections finish their request in flight (they watch `stop`
    // too); whatever is still open after a moment is cut.
    let _ = tokio::time::timeout(Duration::from_secs(2), async {
        while conns.join_next().await.is_some() {}
    })
    .await;
    conns.shutdown().await;
}

async fn connection(
    tcp: TcpStream,
    router: Router,
    tls: Option<tokio_rustls::TlsAcceptor>,
    stop: watch::Receiver<bool>,
) {
    let _ = tcp.set_nodelay(true);
    match tls {
        None => serve_http1(TokioIo::new(tcp), router, stop).await,
        Some(acc) => {
            let s = match tokio::time::timeout(Duration::from_secs(10), acc.accept(tcp)).await {
                Ok(Ok(s)) => s,
                Ok(Err(e)) => {
                    info!(error = %e, "TLS handshake failed");
                    return;
                }
                Err(_) => return,
            };
            let ids = s
                .get_ref()
                .1
                .peer_certificates()
                .and_then(|c| c.first())
                .map(tls::identities)
                .unwrap_or_default();
            let router = router.layer(Extension(PeerIds(ids)));
            serve_http1(TokioIo::new(s), router, stop).await
        }
    }
}

async fn serve_http1<I>(io: TokioIo<I>, router: Router, mut stop: watch::Receiver<bool>)
where
    I: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send + 'static,
{
    let svc = hyper::service::service_fn(move |req: hyper::Request<Incoming>| {
        router.clone().oneshot(req.map(axum::body::Body::new))
    });
    let conn = hyper::server::conn::http1::Builder::new()
        .timer(hyper_util::rt::TokioTimer::new())
        .header_read_timeout(Duration::from_secs(30))
        .serve_connection(io, svc);
    tokio::pin!(conn);
    tokio::select! {
        _ = conn.as_mut() => {}
        _ = stop.changed() => {
            conn.as_mut().graceful_shutdown();
            let _ = tokio::time::timeout(Duration::from_secs(2), conn).await;
        }
    }
}
