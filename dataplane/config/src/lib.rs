//! The one TOML configuration of every edge-upf process: the dataplane,
//! pfcp-ctl, the Mp1 sidecar, the admin CLI and the perf tools all read the
//! same file and take their section.
//!
//! Loading happens in two passes and reports every problem it finds, each
//! with the file, the key path and the reason, before anything starts:
//! 1. syntax and types (serde, unknown keys rejected), e.g.
//!    `upf.toml:12:3: dataplane.workrs: unknown field ...`;
//! 2. meaning ([`Config::validate`]): addresses, prefixes, overlaps,
//!    references between sections, e.g.
//!    `upf.toml: ue_pools[1].ipv4: 10.45.0.0/16 overlaps ue_pools[0].ipv4`.
//!
//! What it must not do: start anything, open sockets, or read other files
//! than the configuration (and, when asked to check them, files it names).
#![cfg_attr(not(test), deny(clippy::unwrap_used))]
#![forbid(unsafe_code)]

mod duration;
mod validate;

pub use validate::parse_mac;

use std::fmt;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::path::{Path, PathBuf};

use serde::Deserialize;

pub use duration::Duration;
pub use upf_rules::prefix::IpPrefix;

/// The whole configuration.
#[derive(Clone, Debug, Default, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct Config {
    /// Identity and directories.
    #[serde(default)]
    pub node: NodeConfig,
    /// Logging.
    #[serde(default)]
    pub logging: LoggingConfig,
    /// Prometheus endpoints.
    #[serde(default)]
    pub metrics: MetricsConfig,
    /// The dataplane.
    #[serde(default)]
    pub dataplane: DataplaneConfig,
    /// The N4 control process.
    #[serde(default)]
    pub pfcp: PfcpConfig,
    /// UE address pools.
    #[serde(default)]
    pub ue_pools: Vec<UePool>,
    /// The Mp1 sidecar.
    #[serde(default)]
    pub mec: Option<MecConfig>,
}

/// `[node]`.
#[derive(Clone, Debug, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields, default)]
pub struct NodeConfig {
    /// Name used in logs and metrics.
    pub name: String,
    /// Directory of the control file and admin sockets.
    pub run_dir: PathBuf,
    /// Directory of durable state (pfcp-ctl journal, Mp1 database).
    pub state_dir: PathBuf,
}

impl Default for NodeConfig {
    fn default() -> Self {
        NodeConfig {
            name: "edge-upf".into(),
            run_dir: PathBuf::from("/run/edge-upf"),
            state_dir: PathBuf::from("/var/lib/edge-upf"),
        }
    }
}

/// Log output format.
#[derive(Clone, Copy, Debug, Default, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    /// Human-readable lines.
    #[default]
    Text,
    /// One JSON object per line.
    Json,
}

/// `[logging]`.
#[derive(Clone, Debug, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields, default)]
pub struct LoggingConfig {
    /// Level or filter (`info`, `debug,pfcp_ctl=trace`); the environment
    /// variable `EDGE_UPF_LOG` overrides it.
    pub level: String,
    /// Output format.
    pub format: LogFormat,
}

impl Default for LoggingConfig {
    fn default() -> Self {
        LoggingConfig {
            level: "info".into(),
            format: LogFormat::Text,
        }
    }
}

/// `[metrics]`: where each process serves `/metrics` (omit to disable).
#[derive(Clone, Debug, Default, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields, default)]
pub struct MetricsConfig {
    /// The dataplane's endpoint.
    pub dataplane_listen: Option<SocketAddr>,
    /// pfcp-ctl's endpoint.
    pub pfcp_listen: Option<SocketAddr>,
    /// The Mp1 sidecar's endpoint.
    pub mec_listen: Option<SocketAddr>,
}

/// Packet I/O backend.
#[derive(Clone, Copy, Debug, Default, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum Backend {
    /// AF_PACKET sockets on Linux interfaces (no DPDK needed).
    #[default]
    AfPacket,
    /// In-memory ports (tests and benchmarks).
    Memory,
    /// DPDK ports (NICs or virtual devices).
    Dpdk,
}

/// `[dataplane]`.
#[derive(Clone, Debug, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct DataplaneConfig {
    /// I/O backend.
    pub backend: Backend,
    /// Worker threads.
    pub workers: u32,
    /// Core of each worker (pinned); empty to let the OS choose.
    pub cores: Vec<usize>,
    /// Core of the control thread.
    pub control_core: Option<usize>,
    /// Workers spin when idle instead of sleeping (isolated cores; the
    /// lowest latency for rule changes and the first packet after a pause).
    pub busy_poll: bool,
    /// With `busy_poll`: how long the control thread keeps polling for the
    /// next command after its last work before it sleeps on the doorbell.
    pub control_idle_spin: Duration,
    /// Packets per burst (1..=32).
    pub burst_size: usize,
    /// Packet buffers per worker.
    pub buffers: usize,
    /// Bytes of headroom in each buffer (for encapsulation).
    pub buffer_headroom: usize,
    /// Sessions expected (sizes tables up front).
    pub expected_sessions: usize,
    /// Error Indications per second and worker.
    pub error_indication_rate: u32,
    /// Interval of GTP-U echo requests to peers.
    pub gtpu_echo_interval: Duration,
    /// Unanswered echoes before a peer is declared down.
    pub gtpu_echo_retries: u32,
    /// Bytes per control ring (a power of two).
    pub control_ring_bytes: u64,
    /// Downlink buffering.
    pub buffering: BufferingConfig,
    /// AF_PACKET ring geometry.
    pub af_packet: AfPacketConfig,
    /// DPDK settings (backend = "dpdk").
    pub dpdk: DpdkConfig,
    /// Ports.
    pub interfaces: Vec<InterfaceConfig>,
    /// Admin socket (relative to node.run_dir).
    pub admin_socket: PathBuf,
}

impl Default for DataplaneConfig {
    fn default() -> Self {
        DataplaneConfig {
            backend: Backend::AfPacket,
            workers: 1,
            cores: Vec::new(),
            control_core: None,
            busy_poll: false,
            control_idle_spin: Duration::from_millis(1),
            burst_size: 32,
            buffers: 16384,
            buffer_headroom: 256,
            expected_sessions: 1024,
            error_indication_rate: 100,
            gtpu_echo_interval: Duration::from_secs(60),
            gtpu_echo_retries: 3,
            control_ring_bytes: 8 << 20,
            buffering: BufferingConfig::default(),
            af_packet: AfPacketConfig::default(),
            dpdk: DpdkConfig::default(),
            interfaces: Vec::new(),
            admin_socket: PathBuf::from("dataplane.sock"),
        }
    }
}

/// `[dataplane.buffering]`.
#[derive(Clone, Debug, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields, default)]
pub struct BufferingConfig {
    /// Packets one session may buffer.
    pub per_session_packets: usize,
    /// Packets a worker may buffer in all.
    pub global_packets: usize,
    /// Longest time a packet stays buffered.
    pub max_duration: Duration,
}

impl Default for BufferingConfig {
    fn default() -> Self {
        BufferingConfig {
            per_session_packets: 64,
            global_packets: 65536,
            max_duration: Duration::from_secs(30),
        }
    }
}

/// `[dataplane.af_packet]`.
#[derive(Clone, Debug, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields, default)]
pub struct AfPacketConfig {
    /// Bytes per ring block (multiple of 4096).
    pub block_size: u32,
    /// Blocks per ring.
    pub block_count: u32,
    /// Bytes per frame slot.
    pub frame_size: u32,
}

impl Default for AfPacketConfig {
    fn default() -> Self {
        AfPacketConfig {
            block_size: 1 << 20,
            block_count: 16,
            frame_size: 2048,
        }
    }
}

/// `[dataplane.dpdk]`.
#[derive(Clone, Debug, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields, default)]
pub struct DpdkConfig {
    /// EAL arguments.
    pub eal_args: Vec<String>,
    /// Mbufs per pool (one pool per worker).
    pub mempool_size: u32,
    /// Per-core mbuf cache.
    pub mempool_cache: u32,
    /// RX descriptors per queue.
    pub rx_descriptors: u16,
    /// TX descriptors per queue.
    pub tx_descriptors: u16,
    /// Receive queues each worker polls on every port (capped by the device).
    pub rx_queues_per_worker: u16,
    /// Workers spin when idle instead of sleeping (isolated cores).
    pub busy_poll: bool,
}

impl Default for DpdkConfig {
    fn default() -> Self {
        DpdkConfig {
            eal_args: vec![],
            mempool_size: 16383,
            mempool_cache: 256,
            rx_descriptors: 1024,
            tx_descriptors: 1024,
            rx_queues_per_worker: 1,
            busy_poll: false,
        }
    }
}

/// What an interface connects to.
#[derive(Clone, Copy, Debug, Deserialize, PartialEq, Eq, Hash)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    /// The RAN (GTP-U).
    N3,
    /// The data network.
    N6,
    /// Another UPF (GTP-U).
    N9,
    /// A local MEC network.
    Mec,
}

/// A static route.
#[derive(Clone, Debug, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct RouteConfig {
    /// Destination.
    pub prefix: IpPrefix,
    /// Next hop.
    pub via: IpAddr,
}

/// `[[dataplane.interfaces]]`.
#[derive(Clone, Debug, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct InterfaceConfig {
    /// Name (logs, metrics, CLI).
    pub name: String,
    /// Role.
    pub role: Role,
    /// Linux interface (af_packet), PCI address or vdev (dpdk).
    pub device: String,
    /// Our MAC; default: the device's.
    #[serde(default)]
    pub mac: Option<String>,
    /// Our addresses with prefix lengths.
    #[serde(default)]
    pub addresses: Vec<IpPrefix>,
    /// Default IPv4 next hop.
    #[serde(default)]
    pub gateway4: Option<Ipv4Addr>,
    /// Default IPv6 next hop.
    #[serde(default)]
    pub gateway6: Option<Ipv6Addr>,
    /// Network instances (DNNs) whose traffic leaves here.
    #[serde(default)]
    pub network_instances: Vec<String>,
    /// Static routes.
    #[serde(default)]
    pub routes: Vec<RouteConfig>,
    /// MTU.
    #[serde(default = "default_mtu")]
    pub mtu: u16,
    /// 802.1Q tag.
    #[serde(default)]
    pub vlan: Option<u16>,
}

fn default_mtu() -> u16 {
    1500
}

/// What to do with a peer's sessions when it stops answering heartbeats.
#[derive(Clone, Copy, Debug, Default, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum PeerFailurePolicy {
    /// Keep them for the grace period, then delete.
    #[default]
    Keep,
    /// Delete them at once.
    Purge,
}

/// Journal durability.
#[derive(Clone, Copy, Debug, Default, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum Fsync {
    /// fsync before each response.
    Always,
    /// fsync every `journal_fsync_interval` (a process crash loses nothing;
    /// a machine crash loses at most that interval).
    #[default]
    Interval,
    /// Never fsync (tests).
    Never,
}

/// What pfcp-ctl does on SIGTERM.
#[derive(Clone, Copy, Debug, Default, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum ShutdownPolicy {
    /// Flush the journal and exit: a restart resumes every association and
    /// session with the same Recovery Time Stamp (upgrades, restarts).
    #[default]
    Keep,
    /// Graceful release (taking the UPF out of service): ask every SMF to
    /// release this UPF (Association Update Request with PARPS and a PFCP
    /// Association Release Request, TS 29.244 6.2.7.3), refuse new sessions,
    /// let the SMFs delete theirs (final usage reports in each Session
    /// Deletion Response), and exit when they have released or after
    /// `graceful_release_period`.
    Release,
}

/// An SMF allowed to associate.
#[derive(Clone, Debug, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct PeerConfig {
    /// Its address (any port).
    #[serde(default)]
    pub address: Option<IpAddr>,
    /// Its Node ID (IP or FQDN as it sends it).
    #[serde(default)]
    pub node_id: Option<String>,
}

/// `[pfcp]`.
#[derive(Clone, Debug, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct PfcpConfig {
    /// Sockets to listen on.
    pub listen: Vec<SocketAddr>,
    /// Our Node ID: an IPv4/IPv6 address or an FQDN.
    pub node_id: String,
    /// Heartbeat interval.
    pub heartbeat_interval: Duration,
    /// Missed heartbeats before a peer is declared failed.
    pub heartbeat_retries: u32,
    /// Retransmission timeout of our requests (T1).
    pub request_timeout: Duration,
    /// Retransmissions of our requests (N1).
    pub request_retries: u32,
    /// Policy for a failed peer's sessions.
    pub peer_failure_policy: PeerFailurePolicy,
    /// How long `keep` keeps them.
    pub peer_grace_period: Duration,
    /// Journal durability.
    pub journal_fsync: Fsync,
    /// fsync interval for `interval`.
    pub journal_fsync_interval: Duration,
    /// Session limit.
    pub max_sessions: usize,
    /// Requests handled per second before new sessions are refused (0: no limit).
    pub max_request_rate: u32,
    /// Admin socket (relative to node.run_dir).
    pub admin_socket: PathBuf,
    /// SMFs allowed to associate; empty allows any (lab use only).
    pub peers: Vec<PeerConfig>,
    /// What SIGTERM does.
    pub shutdown: ShutdownPolicy,
    /// How long a `release` shutdown waits for the SMFs.
    pub graceful_release_period: Duration,
}

impl Default for PfcpConfig {
    fn default() -> Self {
        PfcpConfig {
            listen: vec![SocketAddr::from(([0, 0, 0, 0], 8805))],
            node_id: "127.0.0.1".into(),
            heartbeat_interval: Duration::from_secs(10),
            heartbeat_retries: 3,
            request_timeout: Duration::from_secs(3),
            request_retries: 3,
            peer_failure_policy: PeerFailurePolicy::Keep,
            peer_grace_period: Duration::from_secs(300),
            journal_fsync: Fsync::Interval,
            journal_fsync_interval: Duration::from_millis(100),
            max_sessions: 1_000_000,
            max_request_rate: 0,
            admin_socket: PathBuf::from("pfcp.sock"),
            peers: Vec::new(),
            shutdown: ShutdownPolicy::Keep,
            graceful_release_period: Duration::from_secs(60),
        }
    }
}

/// `[[ue_pools]]`.
#[derive(Clone, Debug, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct UePool {
    /// Network instance the pool serves (matched against PDI Network Instance).
    #[serde(default)]
    pub network_instance: Option<String>,
    /// DNN the pool serves (an alias of the network instance).
    #[serde(default)]
    pub dnn: Option<String>,
    /// IPv4 pool.
    #[serde(default)]
    pub ipv4: Option<IpPrefix>,
    /// IPv6 pool; one prefix of `ipv6_prefix_len` per UE.
    #[serde(default)]
    pub ipv6: Option<IpPrefix>,
    /// Length of each UE's IPv6 prefix.
    #[serde(default = "default_v6_len")]
    pub ipv6_prefix_len: u8,
}

fn default_v6_len() -> u8 {
    64
}

/// Mp1 authentication.
#[derive(Clone, Copy, Debug, Default, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum MecAuth {
    /// No authentication (lab only).
    None,
    /// OAuth2 bearer tokens.
    #[default]
    Bearer,
    /// TLS client certificates.
    Mtls,
}

/// Mp1 storage.
#[derive(Clone, Copy, Debug, Default, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum MecStorage {
    /// A local database file.
    #[default]
    File,
    /// etcd shared by several sidecars.
    Etcd,
}

/// `[[mec.apps]]`.
#[derive(Clone, Debug, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct MecApp {
    /// appInstanceId.
    pub instance_id: String,
    /// Name.
    #[serde(default)]
    pub name: Option<String>,
    /// Bearer token.
    #[serde(default)]
    pub token: Option<String>,
    /// mTLS identity (certificate CN or URI SAN); defaults to the instance ID.
    #[serde(default)]
    pub cert_identity: Option<String>,
    /// AppD-like JSON with traffic and DNS rules.
    #[serde(default)]
    pub descriptor: Option<PathBuf>,
}

/// `[mec]`.
#[derive(Clone, Debug, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct MecConfig {
    /// Mp1 API socket.
    #[serde(default = "default_mec_listen")]
    pub listen: SocketAddr,
    /// Admin socket (termination).
    #[serde(default)]
    pub admin_listen: Option<SocketAddr>,
    /// TLS certificate.
    #[serde(default)]
    pub tls_cert: Option<PathBuf>,
    /// TLS key.
    #[serde(default)]
    pub tls_key: Option<PathBuf>,
    /// CA for client certificates.
    #[serde(default)]
    pub client_ca: Option<PathBuf>,
    /// Authentication.
    #[serde(default)]
    pub auth: MecAuth,
    /// Storage backend.
    #[serde(default)]
    pub storage: MecStorage,
    /// Database file.
    #[serde(default)]
    pub db_path: Option<PathBuf>,
    /// etcd endpoints.
    #[serde(default)]
    pub etcd_endpoints: Vec<String>,
    /// etcd key prefix.
    #[serde(default = "default_etcd_prefix")]
    pub etcd_prefix: String,
    /// Notification retries.
    #[serde(default = "default_retries")]
    pub notify_max_retries: u32,
    /// Notification timeout, ms.
    #[serde(default = "default_notify_timeout")]
    pub notify_timeout_ms: u64,
    /// Graceful termination timeout, ms.
    #[serde(default = "default_term_timeout")]
    pub termination_timeout_ms: u64,
    /// Dataplane network instance that steered traffic leaves on (default:
    /// the first interface with role "mec").
    #[serde(default)]
    pub network_instance: Option<String>,
    /// NTP servers announced in timing_caps.
    #[serde(default)]
    pub ntp_servers: Vec<String>,
    /// Apps.
    #[serde(default)]
    pub apps: Vec<MecApp>,
}

fn default_mec_listen() -> SocketAddr {
    SocketAddr::from(([127, 0, 0, 1], 8081))
}
fn default_etcd_prefix() -> String {
    "/edge-upf/mp1/".into()
}
fn default_retries() -> u32 {
    5
}
fn default_notify_timeout() -> u64 {
    2000
}
fn default_term_timeout() -> u64 {
    5000
}

/// Every problem found in a configuration.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ConfigError {
    /// The file (or name) the text came from.
    pub file: String,
    /// One entry per problem.
    pub problems: Vec<Problem>,
}

/// One problem.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Problem {
    /// `line:column` when known.
    pub location: Option<(usize, usize)>,
    /// The key path, e.g. `dataplane.interfaces[1].addresses[0]`.
    pub path: String,
    /// What is wrong.
    pub message: String,
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, p) in self.problems.iter().enumerate() {
            if i > 0 {
                writeln!(f)?;
            }
            match p.location {
                Some((l, c)) => write!(f, "{}:{l}:{c}: ", self.file)?,
                None => write!(f, "{}: ", self.file)?,
            }
            if p.path.is_empty() {
                write!(f, "{}", p.message)?;
            } else {
                write!(f, "{}: {}", p.path, p.message)?;
            }
        }
        Ok(())
    }
}

impl std::error::Error for ConfigError {}

fn line_col(text: &str, offset: usize) -> (usize, usize) {
    let before = &text[..offset.min(text.len())];
    let line = before.matches('\n').count() + 1;
    let col = before
        .rfind('\n')
        .map_or(before.len(), |p| before.len() - p - 1)
        + 1;
    (line, col)
}

impl Config {
    /// Reads, parses and validates `path`.
    pub fn load(path: &Path) -> Result<Config, ConfigError> {
        let name = path.display().to_string();
        let text = std::fs::read_to_string(path).map_err(|e| ConfigError {
            file: name.clone(),
            problems: vec![Problem {
                location: None,
                path: String::new(),
                message: format!("cannot read: {e}"),
            }],
        })?;
        let base = path.parent().map(Path::to_path_buf).unwrap_or_default();
        let mut c = Config::from_str_named(&text, &name)?;
        c.resolve_paths(&base);
        Ok(c)
    }

    /// Parses and validates `text`; `name` prefixes error messages.
    pub fn from_str_named(text: &str, name: &str) -> Result<Config, ConfigError> {
        let de = match toml::Deserializer::parse(text) {
            Ok(d) => d,
            Err(e) => return Err(toml_err(text, name, String::new(), &e)),
        };
        let c: Config = serde_path_to_error::deserialize(de).map_err(|e| {
            let path = e.path().to_string();
            toml_err(text, name, path, e.inner())
        })?;
        let mut c = c;
        let mut problems = expand_env(&mut c, &|k| std::env::var(k).ok());
        problems.extend(validate::validate(&c));
        if problems.is_empty() {
            Ok(c)
        } else {
            Err(ConfigError {
                file: name.to_string(),
                problems,
            })
        }
    }

    /// Warnings that do not stop a start (cores beyond this machine, ...).
    pub fn warnings(&self) -> Vec<String> {
        validate::warnings(self)
    }

    fn resolve_paths(&mut self, base: &Path) {
        if let Some(m) = self.mec.as_mut() {
            for a in &mut m.apps {
                if let Some(d) = a.descriptor.as_mut() {
                    if d.is_relative() {
                        *d = base.join(&*d);
                    }
                }
            }
        }
    }

    /// The control file directory.
    pub fn run_dir(&self) -> &Path {
        &self.node.run_dir
    }

    /// An admin socket path (relative names live in `node.run_dir`).
    pub fn socket_path(&self, p: &Path) -> PathBuf {
        if p.is_absolute() {
            p.to_path_buf()
        } else {
            self.node.run_dir.join(p)
        }
    }
}

/// Replaces `${NAME}` in the values that name devices (interface devices,
/// EAL arguments) with the environment variable `NAME`: a Kubernetes SR-IOV
/// device plugin, for one, hands its PCI addresses over in variables such as
/// `PCIDEVICE_INTEL_COM_SRIOV_N3`. `$$` stands for a literal `$`.
fn expand_env(c: &mut Config, var: &dyn Fn(&str) -> Option<String>) -> Vec<Problem> {
    let mut problems = Vec::new();
    let mut one = |path: String, v: &mut String| match expand(v, var) {
        Ok(x) => *v = x,
        Err(message) => problems.push(Problem {
            location: None,
            path,
            message,
        }),
    };
    for (i, itf) in c.dataplane.interfaces.iter_mut().enumerate() {
        one(format!("dataplane.interfaces[{i}].device"), &mut itf.device);
    }
    for (i, a) in c.dataplane.dpdk.eal_args.iter_mut().enumerate() {
        one(format!("dataplane.dpdk.eal_args[{i}]"), a);
    }
    problems
}

fn expand(v: &str, var: &dyn Fn(&str) -> Option<String>) -> Result<String, String> {
    let mut out = String::with_capacity(v.len());
    let mut rest = v;
    while let Some(i) = rest.find('$') {
        out.push_str(&rest[..i]);
        let after = &rest[i + 1..];
        if let Some(r) = after.strip_prefix('$') {
            out.push('$');
            rest = r;
        } else if let Some(r) = after.strip_prefix('{') {
            let end = r
                .find('}')
                .ok_or_else(|| format!("unterminated ${{...}} in {v:?}"))?;
            let name = &r[..end];
            if name.is_empty()
                || !name
                    .chars()
                    .all(|ch| ch.is_ascii_alphanumeric() || ch == '_')
            {
                return Err(format!("bad variable name {name:?} in {v:?}"));
            }
            let val = var(name)
                .ok_or_else(|| format!("environment variable {name} is not set (used in {v:?})"))?;
            out.push_str(&val);
            rest = &r[end + 1..];
        } else {
            return Err(format!(
                "a '$' must start ${{NAME}} (or be written $$) in {v:?}"
            ));
        }
    }
    out.push_str(rest);
    Ok(out)
}

fn toml_err(text: &str, name: &str, path: String, e: &toml::de::Error) -> ConfigError {
    let location = e.span().map(|s| line_col(text, s.start));
    let message = e.message().trim().to_string();
    ConfigError {
        file: name.to_string(),
        problems: vec![Problem {
            location,
            path: if path == "." { String::new() } else { path },
            message,
        }],
    }
}

/// Checks a configuration file and prints the result; for the `check`
/// subcommand of every binary. Returns the process exit code.
pub fn check_command(path: &Path) -> i32 {
    match Config::load(path) {
        Ok(c) => {
            for w in c.warnings() {
                eprintln!("{}: warning: {w}", path.display());
            }
            println!("{}: OK", path.display());
            0
        }
        Err(e) => {
            eprintln!("{e}");
            1
        }
    }
}

#[cfg(test)]
mod tests;
