//! `pktgen`: GTP-U / IP traffic for the sessions smfsim set up (see the
//! crate docs and docs/PERF-TOOLS.md).

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::atomic::{AtomicBool, AtomicU64};
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use clap::{Args, Parser, Subcommand, ValueEnum};
use upf_io::af_packet::RingConfig;
use upf_pktgen::backend::PcapTx;
use upf_pktgen::packet::{Dir, Endpoints, Family, FlowTemplate};
use upf_pktgen::run::{self, FlowsOut, PortSpec, RunConfig};
use upf_pktgen::sizes::{Sizes, DEFAULT_IMIX};
use upf_pktgen::txloop::{self, TxJob};
use upf_smfsim::sessions::SessionsFile;
use upf_wire::ethernet::{parse_mac, Mac};

#[derive(Parser)]
#[command(
    name = "pktgen",
    version,
    about = "GTP-U uplink and IP downlink traffic for the sessions of an smfsim sessions file, \
             with per-flow loss, reordering, duplicates and one-way latency",
    after_help = "Exit status: 0 ok, 3 the checks failed (mismatches against the sessions file, \
                  loss above --max-loss, nothing sent), 1 the run could not be carried out, 2 bad arguments."
)]
struct Cli {
    #[command(subcommand)]
    cmd: Cmd,
}

#[derive(Subcommand)]
enum Cmd {
    /// Send and receive over two Linux interfaces (AF_PACKET).
    Run(Box<RunArgs>),
    /// Write the frames a run would send into a pcap file.
    Pcap(PcapArgs),
}

#[derive(Clone, Copy, ValueEnum)]
enum Direction {
    Ul,
    Dl,
    Both,
}

#[derive(Clone, Copy, ValueEnum)]
enum Inner {
    Auto,
    V4,
    V6,
}

#[derive(Clone, Copy, ValueEnum)]
enum Flows {
    None,
    Anomalies,
    All,
}

#[derive(Args, Clone)]
struct Traffic {
    /// The sessions file smfsim wrote.
    #[arg(short, long)]
    sessions: PathBuf,
    /// Use only the first N sessions of the file.
    #[arg(long)]
    max_sessions: Option<usize>,
    /// Directions to send.
    #[arg(short, long, value_enum, default_value = "both")]
    direction: Direction,
    /// Inner IP packet size in bytes (the GTP-U payload on the uplink).
    #[arg(long, default_value_t = 64, conflicts_with = "imix")]
    size: u16,
    /// A size mix instead: SIZE:WEIGHT,... (without a value: the default IMIX).
    #[arg(long, num_args = 0..=1, default_missing_value = DEFAULT_IMIX)]
    imix: Option<String>,
    /// Inner IP family.
    #[arg(long, value_enum, default_value = "auto")]
    inner: Inner,
    /// The gNB's address (uplink outer source; default: the file's gnb_ipv4).
    #[arg(long)]
    gnb_ip: Option<IpAddr>,
    /// The data network host (uplink destination, downlink source).
    #[arg(long, default_value = "198.18.6.1")]
    dn_ip: Ipv4Addr,
    /// The data network host's IPv6 address.
    #[arg(long, default_value = "2001:db8:6::1")]
    dn_ip6: Ipv6Addr,
    /// Data network UDP port.
    #[arg(long, default_value_t = 9000)]
    dn_port: u16,
    /// UE UDP port of session 0 (session i uses base + i mod 50000).
    #[arg(long, default_value_t = 10000)]
    ue_port: u16,
    /// QFI in the uplink PDU Session Container (default: the session's).
    #[arg(long, value_parser = clap::value_parser!(u8).range(0..64))]
    qfi: Option<u8>,
}

#[derive(Args)]
struct RunArgs {
    #[command(flatten)]
    t: Traffic,
    /// The gNB-side interface, DEV or DEV@NETNS.
    #[arg(long)]
    n3: PortSpec,
    /// The data-network-side interface, DEV or DEV@NETNS.
    #[arg(long)]
    n6: PortSpec,
    /// The ports are the two ends of a link without a UPF (tests pktgen itself).
    #[arg(long)]
    no_upf: bool,
    /// Packets per second per direction: a number (100k, 1.5M) or `max`.
    #[arg(long, default_value = "10k", value_parser = parse_rate)]
    rate: Rate,
    /// Send for this long (default 10s unless --count is given).
    #[arg(long, value_parser = parse_duration)]
    duration: Option<Duration>,
    /// Send this many packets per direction.
    #[arg(long)]
    count: Option<u64>,
    /// Packets per kick of the kernel.
    #[arg(long, default_value_t = 64)]
    burst: usize,
    /// How long the receivers keep counting after the senders finished.
    #[arg(long, default_value = "500ms", value_parser = parse_duration)]
    drain: Duration,
    /// Our IPv4 address on N3 (ARP, GTP-U echo; default: the gNB address).
    #[arg(long)]
    n3_ip: Option<Ipv4Addr>,
    /// Our IPv4 address on N6 (ARP; default: --dn-ip).
    #[arg(long)]
    n6_ip: Option<Ipv4Addr>,
    /// Our IPv6 address on N3 (neighbour discovery; default: the gNB
    /// address if it is IPv6).
    #[arg(long)]
    n3_ip6: Option<Ipv6Addr>,
    /// Our IPv6 address on N6 (neighbour discovery; default: --dn-ip6).
    #[arg(long)]
    n6_ip6: Option<Ipv6Addr>,
    /// The UPF's N3 MAC (default: resolved by ARP for the file's N3 address).
    #[arg(long, value_parser = parse_mac_arg)]
    n3_peer_mac: Option<Mac>,
    /// The UPF's N6 MAC (default: resolved by ARP for --n6-peer-ip).
    #[arg(long, value_parser = parse_mac_arg)]
    n6_peer_mac: Option<Mac>,
    /// The UPF's N6 address, to resolve its MAC.
    #[arg(long)]
    n6_peer_ip: Option<Ipv4Addr>,
    /// Do not check the QFI of downlink GTP-U.
    #[arg(long)]
    no_qfi_check: bool,
    /// CPUs for the senders, uplink then downlink (e.g. 0,1).
    #[arg(long, value_delimiter = ',')]
    tx_cpus: Vec<usize>,
    /// CPUs for the receivers, N3 then N6.
    #[arg(long, value_delimiter = ',')]
    rx_cpus: Vec<usize>,
    /// Transmit ring frames (slots).
    #[arg(long, default_value_t = 4096)]
    tx_ring_frames: u32,
    /// Receive ring size in MiB (per port).
    #[arg(long, default_value_t = 16)]
    rx_ring_mb: u32,
    /// How long to wait for ARP replies.
    #[arg(long, default_value = "3s", value_parser = parse_duration)]
    resolve_timeout: Duration,
    /// Fail the run (exit 3) above this loss ratio per direction (e.g. 0, 0.001).
    #[arg(long)]
    max_loss: Option<f64>,
    /// Flows listed in the JSON.
    #[arg(long, value_enum, default_value = "anomalies")]
    flows: Flows,
    /// Write the report as JSON here (`-` for stdout).
    #[arg(long)]
    json: Option<String>,
    /// Progress line interval (0 for none).
    #[arg(long, default_value = "1s", value_parser = parse_duration)]
    progress: Duration,
    /// No progress line and no table.
    #[arg(short, long)]
    quiet: bool,
    /// Run number in the stamps (default: random).
    #[arg(long)]
    run_id: Option<u32>,
    /// Warm-up packets per flow before the measured traffic (they let the
    /// path resolve neighbours and are not accounted).
    #[arg(long, default_value_t = 1)]
    warmup: u32,
    /// Pause between the warm-up and the measured traffic.
    #[arg(long, default_value = "300ms", value_parser = parse_duration)]
    warmup_wait: Duration,
}

#[derive(Args)]
struct PcapArgs {
    #[command(flatten)]
    t: Traffic,
    /// The pcap file to write.
    #[arg(short, long)]
    out: PathBuf,
    /// Packets per direction.
    #[arg(long, default_value_t = 16)]
    count: u64,
    /// Source MAC of uplink frames.
    #[arg(long, default_value = "02:00:00:00:03:01", value_parser = parse_mac_arg)]
    n3_mac: Mac,
    /// Destination MAC of uplink frames.
    #[arg(long, default_value = "02:00:00:00:03:02", value_parser = parse_mac_arg)]
    n3_peer_mac: Mac,
    /// Source MAC of downlink frames.
    #[arg(long, default_value = "02:00:00:00:06:01", value_parser = parse_mac_arg)]
    n6_mac: Mac,
    /// Destination MAC of downlink frames.
    #[arg(long, default_value = "02:00:00:00:06:02", value_parser = parse_mac_arg)]
    n6_peer_mac: Mac,
    /// Run number in the stamps.
    #[arg(long, default_value_t = 1)]
    run_id: u32,
}

#[derive(Clone, Copy, Debug)]
struct Rate(Option<f64>);

fn parse_rate(s: &str) -> Result<Rate, String> {
    if s == "max" {
        return Ok(Rate(None));
    }
    let (num, mult) = match s.chars().last() {
        Some('k' | 'K') => (&s[..s.len() - 1], 1e3),
        Some('m' | 'M') => (&s[..s.len() - 1], 1e6),
        _ => (s, 1.0),
    };
    let v: f64 = num
        .parse()
        .map_err(|_| format!("bad rate {s:?} (e.g. 100k, 1.5M, max)"))?;
    if !v.is_finite() || v <= 0.0 {
        return Err(format!("bad rate {s:?}"));
    }
    Ok(Rate(Some(v * mult)))
}

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
        "us" => v / 1e6,
        "ms" => v / 1e3,
        "s" => v,
        "m" => v * 60.0,
        _ => return Err(format!("unknown unit in {s:?} (us, ms, s, m)")),
    };
    Ok(Duration::from_secs_f64(secs))
}

fn parse_mac_arg(s: &str) -> Result<Mac, String> {
    parse_mac(s).ok_or_else(|| format!("bad MAC {s:?}"))
}

fn dirs(d: Direction) -> Vec<Dir> {
    match d {
        Direction::Ul => vec![Dir::Ul],
        Direction::Dl => vec![Dir::Dl],
        Direction::Both => vec![Dir::Ul, Dir::Dl],
    }
}

struct Loaded {
    file: SessionsFile,
    sizes: Sizes,
    ep: Endpoints,
}

fn load(t: &Traffic) -> Result<Loaded, String> {
    let mut file = SessionsFile::load(&t.sessions).map_err(|e| e.to_string())?;
    if let Some(n) = t.max_sessions {
        file.sessions.truncate(n);
    }
    let sizes = match &t.imix {
        Some(spec) => Sizes::mix(spec).map_err(|e| e.to_string())?,
        None => Sizes::fixed(t.size),
    };
    let gnb_ip = t
        .gnb_ip
        .or(file.gnb_ipv4.map(IpAddr::V4))
        .or(file.gnb_ipv6.map(IpAddr::V6))
        .ok_or("the sessions file names no gNB address: give --gnb-ip")?;
    let ep = Endpoints {
        gnb_ip,
        dn_v4: t.dn_ip,
        dn_v6: t.dn_ip6,
        dn_port: t.dn_port,
        ue_port_base: t.ue_port,
        family: match t.inner {
            Inner::Auto => Family::Auto,
            Inner::V4 => Family::V4,
            Inner::V6 => Family::V6,
        },
        qfi: t.qfi,
        ..Endpoints::default()
    };
    Ok(Loaded { file, sizes, ep })
}

fn write_json<T: serde::Serialize>(path: &str, v: &T) -> Result<(), String> {
    let text = serde_json::to_string_pretty(v).map_err(|e| e.to_string())?;
    if path == "-" {
        println!("{text}");
        Ok(())
    } else {
        upf_smfsim::sessions::write_atomic(std::path::Path::new(path), text.as_bytes())
            .map_err(|e| format!("{path}: {e}"))
    }
}

fn cmd_run(a: RunArgs) -> ExitCode {
    let l = match load(&a.t) {
        Ok(l) => l,
        Err(e) => {
            eprintln!("pktgen: {e}");
            return ExitCode::from(2);
        }
    };
    let run_id = a.run_id.unwrap_or_else(|| {
        let t = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.subsec_nanos() ^ d.as_secs() as u32);
        t ^ std::process::id().rotate_left(16)
    });
    let frame = 2048u32;
    let tx_frames = a.tx_ring_frames.max(64);
    let per_block = (1u32 << 20) / frame;
    let cfg = RunConfig {
        n3_ip: a.n3_ip.or(match l.ep.gnb_ip {
            IpAddr::V4(v) => Some(v),
            IpAddr::V6(_) => None,
        }),
        n6_ip: a.n6_ip.or(Some(a.t.dn_ip)),
        n3_ip6: a.n3_ip6.or(match l.ep.gnb_ip {
            IpAddr::V6(v) => Some(v),
            IpAddr::V4(_) => None,
        }),
        n6_ip6: a.n6_ip6.or(Some(a.t.dn_ip6)),
        file: l.file,
        n3: a.n3,
        n6: a.n6,
        dirs: dirs(a.t.direction),
        through_upf: !a.no_upf,
        sizes: l.sizes,
        rate: a.rate.0,
        count: a.count,
        duration: a.duration.or(if a.count.is_some() {
            None
        } else {
            Some(Duration::from_secs(10))
        }),
        burst: a.burst,
        drain: a.drain,
        endpoints: l.ep,
        n3_peer_mac: a.n3_peer_mac,
        n6_peer_mac: a.n6_peer_mac,
        n6_peer_ip: a.n6_peer_ip,
        tx_cpus: a.tx_cpus,
        rx_cpus: a.rx_cpus,
        tx_ring: RingConfig {
            block_size: 1 << 20,
            block_count: tx_frames.div_ceil(per_block).max(1),
            frame_size: frame,
        },
        // Many small blocks: at low rates a block is retired (10 ms) long
        // before it fills, so the block count sets how long the ring
        // buffers; at high rates the total size does.
        rx_ring: RingConfig {
            block_size: 1 << 16,
            block_count: (a.rx_ring_mb.max(1) * 16).min(4096),
            frame_size: frame,
        },
        progress: (!a.quiet && !a.progress.is_zero()).then_some(a.progress),
        check_qfi: !a.no_qfi_check,
        resolve_timeout: a.resolve_timeout,
        flows_out: match a.flows {
            Flows::None => FlowsOut::None,
            Flows::Anomalies => FlowsOut::Anomalies,
            Flows::All => FlowsOut::All,
        },
        max_loss: a.max_loss,
        run: run_id,
        warmup: a.warmup,
        warmup_wait: a.warmup_wait,
    };
    let stop = Arc::new(AtomicBool::new(false));
    for sig in [signal_hook::consts::SIGTERM, signal_hook::consts::SIGINT] {
        let _ = signal_hook::flag::register(sig, stop.clone());
    }
    let report = match run::run(cfg, stop) {
        Ok(r) => r,
        Err(e) => {
            eprintln!("pktgen: {e}");
            return ExitCode::from(1);
        }
    };
    if !a.quiet {
        eprint!("{}", report.table());
    }
    if let Some(p) = &a.json {
        if let Err(e) = write_json(p, &report) {
            eprintln!("pktgen: {e}");
            return ExitCode::from(1);
        }
    }
    if report.ok {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(3)
    }
}

fn cmd_pcap(a: PcapArgs) -> ExitCode {
    let l = match load(&a.t) {
        Ok(l) => l,
        Err(e) => {
            eprintln!("pktgen: {e}");
            return ExitCode::from(2);
        }
    };
    let ep = Endpoints {
        n3_mac: a.n3_mac,
        n3_peer_mac: a.n3_peer_mac,
        n6_mac: a.n6_mac,
        n6_peer_mac: a.n6_peer_mac,
        ..l.ep
    };
    let file = match std::fs::File::create(&a.out) {
        Ok(f) => std::io::BufWriter::new(f),
        Err(e) => {
            eprintln!("pktgen: {}: {e}", a.out.display());
            return ExitCode::from(1);
        }
    };
    let mut port = match PcapTx::new(file) {
        Ok(p) => p,
        Err(e) => {
            eprintln!("pktgen: {}: {e}", a.out.display());
            return ExitCode::from(1);
        }
    };
    port.set_time(txloop::realtime_ns());
    let mut total = 0;
    for dir in dirs(a.t.direction) {
        let mut flows = Vec::new();
        for (pos, s) in l.file.sessions.iter().enumerate() {
            let f = match dir {
                Dir::Ul => FlowTemplate::uplink(s, pos as u32, &ep),
                Dir::Dl => FlowTemplate::downlink(s, pos as u32, &ep),
            };
            match f {
                Ok(f) => flows.push(f),
                Err(e) => {
                    eprintln!("pktgen: {e}");
                    return ExitCode::from(1);
                }
            }
        }
        let min = flows.iter().map(FlowTemplate::min_size).max().unwrap_or(0);
        if let Err(e) = l.sizes.check(min, 0xffff) {
            eprintln!("pktgen: {e}");
            return ExitCode::from(2);
        }
        let job = TxJob {
            flows,
            sizes: l.sizes.clone(),
            rate: None,
            count: Some(a.count),
            duration: None,
            burst: 64,
            run: a.run_id,
            warmup: 0,
            warmup_wait: Duration::ZERO,
        };
        let r = txloop::run(&mut port, &job, &AtomicBool::new(false), &AtomicU64::new(0));
        if let Some(e) = r.error {
            eprintln!("pktgen: {e}");
            return ExitCode::from(1);
        }
        total += r.packets;
    }
    eprintln!("pktgen: {total} frames written to {}", a.out.display());
    ExitCode::SUCCESS
}

fn main() -> ExitCode {
    match Cli::parse().cmd {
        Cmd::Run(a) => cmd_run(*a),
        Cmd::Pcap(a) => cmd_pcap(a),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rates_and_durations() {
        assert_eq!(parse_rate("100k").unwrap().0, Some(100_000.0));
        assert_eq!(parse_rate("1.5M").unwrap().0, Some(1_500_000.0));
        assert_eq!(parse_rate("250").unwrap().0, Some(250.0));
        assert_eq!(parse_rate("max").unwrap().0, None);
        assert!(parse_rate("0").is_err());
        assert!(parse_rate("fast").is_err());
        assert_eq!(parse_duration("250ms").unwrap(), Duration::from_millis(250));
        assert!(parse_duration("1h").is_err());
    }

    #[test]
    fn cli_shapes() {
        let c = Cli::try_parse_from([
            "pktgen", "run", "-s", "x.json", "--n3", "g0@ns", "--n6", "d0", "--imix", "--rate",
            "max",
        ])
        .unwrap();
        let Cmd::Run(r) = c.cmd else { panic!() };
        assert_eq!(r.t.imix.as_deref(), Some(DEFAULT_IMIX));
        assert_eq!(r.n3.netns.as_deref(), Some("ns"));
        assert!(r.rate.0.is_none());
        assert!(Cli::try_parse_from([
            "pktgen", "run", "-s", "x", "--n3", "a", "--n6", "b", "--size", "100", "--imix"
        ])
        .is_err());
    }
}
