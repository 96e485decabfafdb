//! `smfsim`: SMF load simulator over N4 (see the crate docs and
//! docs/PERF-TOOLS.md).

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::atomic::AtomicBool;
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use clap::{Parser, ValueEnum};
use pfcp_codec::ie::NodeId;
use upf_smfsim::msgs::{ChurnKind, Profile, UeAddr};
use upf_smfsim::run::{self, Options};
use upf_smfsim::sessions::parse_u64;
use upf_smfsim::sim::{self, Churn, Config};

/// Seconds between 1900 (NTP) and 1970 (Unix).
const NTP_UNIX_OFFSET: u64 = 2_208_988_800;

#[derive(Clone, Copy, Debug, ValueEnum)]
enum Kind {
    Far,
    Qer,
    Both,
}

#[derive(Parser, Debug)]
#[command(
    name = "smfsim",
    version,
    about = "SMF load simulator: PFCP association, session establishment at a target rate, \
             churn, deletion; latency histograms, cause checks, a sessions file for pktgen",
    after_help = "Exit status: 0 every request succeeded, 3 some request failed or timed out, \
                  1 the run could not be carried out, 2 bad arguments."
)]
struct Cli {
    /// The UPF's N4 address.
    #[arg(long, default_value = "127.0.0.1:8805")]
    upf: SocketAddr,
    /// Local address to send from (default: the address towards the UPF, any port).
    #[arg(long)]
    bind: Option<SocketAddr>,
    /// Our Node ID (IPv4, IPv6 or FQDN; default: the local address).
    #[arg(long)]
    node_id: Option<String>,
    /// Sessions to establish.
    #[arg(short = 'n', long, default_value_t = 100)]
    sessions: u32,
    /// Establishments per second (0: as fast as the window allows).
    #[arg(long, default_value_t = 1000.0)]
    rate: f64,
    /// Session requests outstanding at most.
    #[arg(long, default_value_t = 256)]
    window: usize,
    /// Network instance of the N6 side and the UE pool.
    #[arg(long, default_value = "internet")]
    network_instance: String,
    /// The gNB's N3 address used in downlink outer header creation.
    #[arg(long, default_value = "198.18.3.1")]
    gnb_ip: IpAddr,
    /// gNB TEID of session 0 (session i uses base + i).
    #[arg(long, default_value = "0x100000", value_parser = parse_num::<u32>)]
    gnb_teid_base: u32,
    /// UE IPv4 address: `choose` (the UPF allocates), `none`, or the base
    /// address of session 0 (session i gets base + i).
    #[arg(long, default_value = "choose")]
    ue_ipv4: String,
    /// UE IPv6 prefix: `choose`, `none`, or the /64 of session 0 (session i
    /// gets the i-th /64 after it).
    #[arg(long, default_value = "none")]
    ue_ipv6: String,
    /// QoS flow ID of the QER (and of pktgen's uplink traffic).
    #[arg(long, default_value_t = 9, value_parser = clap::value_parser!(u8).range(0..64))]
    qfi: u8,
    /// QER maximum bit rate, kbit/s per direction.
    #[arg(long, default_value_t = 10_000_000)]
    mbr_kbps: u64,
    /// Ask for periodic usage reports every SECONDS (PERIO).
    #[arg(long)]
    urr_period: Option<u32>,
    /// Match the QFI in the uplink PDR too.
    #[arg(long)]
    ul_match_qfi: bool,
    /// How long the sessions stay up after establishment (e.g. 10s, 500ms).
    #[arg(long, default_value = "0s", value_parser = parse_duration)]
    hold: Duration,
    /// Sessions to modify during the hold: `none`, `all`, a fraction such
    /// as `0.1` (every tenth session), or indexes and ranges `0-99,200`.
    #[arg(long, default_value = "none")]
    churn: String,
    /// Modifications per second during churn (0: as fast as the window allows).
    #[arg(long, default_value_t = 100.0)]
    churn_rate: f64,
    /// What a churn modification changes.
    #[arg(long, value_enum, default_value = "both")]
    churn_kind: Kind,
    /// Churn starts this long after the hold began.
    #[arg(long, default_value = "0s", value_parser = parse_duration)]
    churn_start: Duration,
    /// Churn lasts this long (default: until the hold ends).
    #[arg(long, value_parser = parse_duration)]
    churn_duration: Option<Duration>,
    /// Keep the sessions at the end (no deletion).
    #[arg(long)]
    no_delete: bool,
    /// Deletions per second (0: as fast as the window allows).
    #[arg(long, default_value_t = 0.0)]
    delete_rate: f64,
    /// Do not release the association at the end.
    #[arg(long)]
    no_release: bool,
    /// Send our own Heartbeat Requests this often.
    #[arg(long, value_parser = parse_duration)]
    heartbeat: Option<Duration>,
    /// Retransmission timer T1.
    #[arg(long, default_value = "1s", value_parser = parse_duration)]
    t1: Duration,
    /// Retransmissions N1 before a request counts as timed out.
    #[arg(long, default_value_t = 3)]
    n1: u32,
    /// CP SEID of session 0.
    #[arg(long, default_value = "1", value_parser = parse_num::<u64>)]
    cp_seid_base: u64,
    /// Write the established sessions here (JSON, for pktgen).
    #[arg(short = 'o', long)]
    sessions_file: Option<PathBuf>,
    /// Write the report as JSON here (`-` for stdout).
    #[arg(long)]
    json: Option<String>,
    /// Include every usage report in the JSON report.
    #[arg(long)]
    usage_json: bool,
    /// No progress line and no table.
    #[arg(short, long)]
    quiet: bool,
    /// Give up after this long in total.
    #[arg(long, value_parser = parse_duration)]
    timeout: Option<Duration>,
}

fn parse_num<T: TryFrom<u64>>(s: &str) -> Result<T, String> {
    let v = parse_u64(s).ok_or_else(|| format!("not a number: {s:?}"))?;
    T::try_from(v).map_err(|_| format!("out of range: {s:?}"))
}

/// `1.5s`, `200ms`, `10us`, `2m`, or plain seconds.
fn parse_duration(s: &str) -> Result<Duration, String> {
    let s = s.trim();
    let (num, unit) = match s.find(|c: char| c.is_ascii_alphabetic()) {
        Some(i) => s.split_at(i),
        None => (s, "s"),
    };
    let v: f64 = num
        .trim()
        .parse()
        .map_err(|_| format!("bad duration {s:?}"))?;
    if !v.is_finite() || v < 0.0 {
        return Err(format!("bad duration {s:?}"));
    }
    let secs = match unit {
        "ns" => v / 1e9,
        "us" | "µs" => v / 1e6,
        "ms" => v / 1e3,
        "s" => v,
        "m" | "min" => v * 60.0,
        "h" => v * 3600.0,
        _ => return Err(format!("unknown unit in {s:?} (ns, us, ms, s, m, h)")),
    };
    Ok(Duration::from_secs_f64(secs))
}

fn ue_v4(s: &str) -> Result<UeAddr<Ipv4Addr>, String> {
    match s {
        "choose" => Ok(UeAddr::Choose),
        "none" => Ok(UeAddr::None),
        a => a
            .parse()
            .map(UeAddr::From)
            .map_err(|_| format!("--ue-ipv4: not choose, none or an address: {a:?}")),
    }
}

fn ue_v6(s: &str) -> Result<UeAddr<Ipv6Addr>, String> {
    match s {
        "choose" => Ok(UeAddr::Choose),
        "none" => Ok(UeAddr::None),
        a => a
            .trim_end_matches("/64")
            .parse()
            .map(UeAddr::From)
            .map_err(|_| format!("--ue-ipv6: not choose, none or a /64: {a:?}")),
    }
}

fn config(cli: &Cli) -> Result<(Config, Options), String> {
    let local_ip = match cli.bind {
        Some(b) if !b.ip().is_unspecified() => b.ip(),
        _ => run::local_ip_towards(cli.upf).map_err(|e| e.to_string())?,
    };
    let node_id = match cli.node_id.as_deref() {
        None => match local_ip {
            IpAddr::V4(a) => NodeId::Ipv4(a),
            IpAddr::V6(a) => NodeId::Ipv6(a),
        },
        Some(s) => match s.parse::<IpAddr>() {
            Ok(IpAddr::V4(a)) => NodeId::Ipv4(a),
            Ok(IpAddr::V6(a)) => NodeId::Ipv6(a),
            Err(_) => NodeId::Fqdn(s.to_string()),
        },
    };
    let (g4, g6) = match cli.gnb_ip {
        IpAddr::V4(a) => (Some(a), None),
        IpAddr::V6(a) => (None, Some(a)),
    };
    let profile = Profile {
        network_instance: cli.network_instance.clone(),
        gnb_ipv4: g4,
        gnb_ipv6: g6,
        gnb_teid_base: cli.gnb_teid_base,
        ue_v4: ue_v4(&cli.ue_ipv4)?,
        ue_v6: ue_v6(&cli.ue_ipv6)?,
        qfi: cli.qfi,
        mbr_kbps: cli.mbr_kbps,
        urr_period_s: cli.urr_period,
        ul_match_qfi: cli.ul_match_qfi,
        ..Profile::default()
    };
    if profile.ue_v4 == UeAddr::None && profile.ue_v6 == UeAddr::None {
        return Err("--ue-ipv4 and --ue-ipv6 cannot both be none".into());
    }
    if cli.window == 0 {
        return Err("--window must be at least 1".into());
    }
    let set = sim::parse_set(&cli.churn, cli.sessions).map_err(|e| format!("--churn: {e}"))?;
    let churn = (!set.is_empty()).then(|| Churn {
        sessions: set,
        rate: cli.churn_rate,
        kind: match cli.churn_kind {
            Kind::Far => ChurnKind::Far,
            Kind::Qer => ChurnKind::Qer,
            Kind::Both => ChurnKind::Both,
        },
        start_ns: cli.churn_start.as_nanos() as u64,
        duration_ns: cli.churn_duration.map(|d| d.as_nanos() as u64),
    });
    if churn.is_some() && cli.hold.is_zero() && cli.churn_duration.is_none() {
        return Err("--churn needs --hold or --churn-duration".into());
    }
    let unix = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0);
    let cfg = Config {
        sessions: cli.sessions,
        rate: cli.rate,
        window: cli.window,
        profile,
        node_id,
        local_ip,
        cp_seid_base: cli.cp_seid_base,
        t1_ns: cli.t1.as_nanos() as u64,
        n1: cli.n1,
        hold_ns: cli.hold.as_nanos() as u64,
        churn,
        delete: !cli.no_delete,
        delete_rate: cli.delete_rate,
        release: !cli.no_release,
        heartbeat_ns: cli.heartbeat.map(|d| d.as_nanos() as u64),
        usage_records: cli.usage_json,
        recovery: (unix + NTP_UNIX_OFFSET) as u32,
    };
    let bind = cli.bind.unwrap_or(SocketAddr::new(local_ip, 0));
    let opts = Options {
        upf: cli.upf,
        bind,
        sessions_file: cli.sessions_file.clone(),
        progress: !cli.quiet,
        deadline: cli.timeout,
    };
    Ok((cfg, opts))
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let (cfg, opts) = match config(&cli) {
        Ok(x) => x,
        Err(e) => {
            eprintln!("smfsim: {e}");
            return ExitCode::from(2);
        }
    };
    let stop = Arc::new(AtomicBool::new(false));
    for sig in [signal_hook::consts::SIGTERM, signal_hook::consts::SIGINT] {
        let _ = signal_hook::flag::register(sig, stop.clone());
    }
    let report = match run::run(cfg, &opts, stop) {
        Ok(r) => r,
        Err(e) => {
            eprintln!("smfsim: {e}");
            return ExitCode::from(1);
        }
    };
    if !cli.quiet {
        eprint!("{}", report.table());
    }
    if let Some(path) = &cli.json {
        let text = match serde_json::to_string_pretty(&report) {
            Ok(t) => t,
            Err(e) => {
                eprintln!("smfsim: JSON: {e}");
                return ExitCode::from(1);
            }
        };
        if path == "-" {
            println!("{text}");
        } else if let Err(e) =
            upf_smfsim::sessions::write_atomic(std::path::Path::new(path), text.as_bytes())
        {
            eprintln!("smfsim: {path}: {e}");
            return ExitCode::from(1);
        }
    }
    if report.ok {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(3)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations() {
        assert_eq!(parse_duration("1.5s").unwrap(), Duration::from_millis(1500));
        assert_eq!(parse_duration("200ms").unwrap(), Duration::from_millis(200));
        assert_eq!(parse_duration("2").unwrap(), Duration::from_secs(2));
        assert_eq!(parse_duration("1m").unwrap(), Duration::from_secs(60));
        assert!(parse_duration("-1s").is_err());
        assert!(parse_duration("3 parsecs").is_err());
    }

    #[test]
    fn cli_parses() {
        let cli = Cli::try_parse_from([
            "smfsim",
            "--upf",
            "127.0.0.1:8805",
            "-n",
            "10",
            "--churn",
            "0-4",
            "--hold",
            "1s",
            "--ue-ipv4",
            "198.19.1.0",
            "--ue-ipv6",
            "2001:db8:1::/64",
        ])
        .unwrap();
        let (cfg, opts) = config(&cli).unwrap();
        assert_eq!(cfg.sessions, 10);
        assert_eq!(cfg.churn.unwrap().sessions, vec![0, 1, 2, 3, 4]);
        assert_eq!(cfg.profile.given_v4(2), Some(Ipv4Addr::new(198, 19, 1, 2)));
        assert_eq!(cfg.local_ip, IpAddr::V4(Ipv4Addr::LOCALHOST));
        assert_eq!(opts.bind.port(), 0);
        let bad = Cli::try_parse_from(["smfsim", "--churn", "all"]).unwrap();
        assert!(config(&bad).unwrap_err().contains("--hold"));
    }
}
