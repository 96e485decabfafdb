//! `upf-bench`: packets per second, cycles per packet and memory per
//! session of one dataplane worker on the in-memory path.
//!
//! ```text
//! upf-bench --sessions 100000 --direction ul --packets 20000000 --repeat 5 --json
//! ```
#![forbid(unsafe_code)]

use std::process::ExitCode;

use clap::Parser;
use upf_bench::bench::{bench, BenchConfig};
use upf_bench::{Direction, Dist, Engine, FixtureConfig, TrafficConfig};

#[derive(Parser, Debug)]
#[command(
    version,
    about = "Benchmark one upf-engine worker on the in-memory path or DPDK net_ring ports"
)]
struct Args {
    /// Sessions to install (4 PDRs with 2 SDF filters each, URR and QER on).
    #[arg(long, default_value_t = 100_000)]
    sessions: usize,
    /// Direction of the traffic: ul (N3 → N6) or dl (N6 → N3).
    #[arg(long, default_value = "ul")]
    direction: String,
    /// Packets per measured run.
    #[arg(long, default_value_t = 20_000_000)]
    packets: u64,
    /// Longest measured run, seconds (whichever limit comes first).
    #[arg(long, default_value_t = 10.0)]
    seconds: f64,
    /// Packets before the first measured run.
    #[arg(long, default_value_t = 2_000_000)]
    warmup: u64,
    /// Measured runs (median, min and max are reported).
    #[arg(long, default_value_t = 1)]
    repeat: usize,
    /// Session distribution: uniform, zipf, zipf:<s>, rr.
    #[arg(long, default_value = "uniform")]
    dist: String,
    /// Share of packets of the App flow (matched by the first PDR).
    #[arg(long, default_value_t = 0.5)]
    app_share: f64,
    /// Inner IP packet length (G-PDU payload), bytes.
    #[arg(long, default_value_t = 64)]
    inner_len: usize,
    /// Slots in the traffic sequence (0: 4 x sessions, at least 65536).
    #[arg(long, default_value_t = 0)]
    seq_len: usize,
    /// Seed of the traffic sequence.
    #[arg(long, default_value_t = 0x5eed)]
    seed: u64,
    /// Skip the engine: measure receive (refill), transmit and the loop only.
    #[arg(long)]
    null_engine: bool,
    /// Buffers in the pool.
    #[arg(long, default_value_t = 4096)]
    buffers: usize,
    /// Print the result as one JSON object.
    #[arg(long)]
    json: bool,
    /// Backend of the worker's ports: mem (in-memory replay) or dpdk
    /// (net_ring pairs; needs a build with DPDK and root).
    #[arg(long, default_value = "mem")]
    backend: String,
    /// EAL arguments for --backend dpdk (one string, split at spaces;
    /// default: --no-huge -m 1024 --no-pci --no-shconf -l 0 ...).
    #[arg(long)]
    eal_args: Option<String>,
    /// Do not restart with transparent huge pages for malloc (by default the
    /// harness re-executes itself with GLIBC_TUNABLES=glibc.malloc.hugetlb=1,
    /// as a dataplane host would run: 1M sessions span ~1 GB, and 4 KiB
    /// pages make every packet a TLB miss).
    #[arg(long)]
    no_hugepages: bool,
}

/// Re-executes this binary with malloc backed by transparent huge pages,
/// unless that is already the case; returns its exit code if it did.
fn with_hugepages() -> Option<ExitCode> {
    const TUNABLE: &str = "glibc.malloc.hugetlb=1";
    let cur = std::env::var("GLIBC_TUNABLES").unwrap_or_default();
    if cur.contains("glibc.malloc.hugetlb") || std::env::var_os("UPF_BENCH_CHILD").is_some() {
        return None;
    }
    let exe = std::env::current_exe().ok()?;
    let tunables = if cur.is_empty() {
        TUNABLE.to_string()
    } else {
        format!("{cur}:{TUNABLE}")
    };
    let status = std::process::Command::new(exe)
        .args(std::env::args_os().skip(1))
        .env("GLIBC_TUNABLES", tunables)
        .env("UPF_BENCH_CHILD", "1")
        .status()
        .ok()?;
    Some(ExitCode::from(
        status.code().unwrap_or(1).clamp(0, 255) as u8
    ))
}

#[cfg(have_dpdk)]
fn bench_dpdk(cfg: &BenchConfig, eal: Option<&str>) -> Result<upf_bench::BenchResult, String> {
    let args = match eal {
        Some(s) => s.split_whitespace().map(String::from).collect(),
        None => upf_bench::dpdk::default_eal_args(),
    };
    upf_bench::dpdk::bench(cfg, &args).map_err(|e| e.to_string())
}

#[cfg(not(have_dpdk))]
fn bench_dpdk(_cfg: &BenchConfig, _eal: Option<&str>) -> Result<upf_bench::BenchResult, String> {
    Err("--backend dpdk: this build has no DPDK (apt-get install libdpdk-dev dpdk, rebuild)".into())
}

fn main() -> ExitCode {
    let a = Args::parse();
    if !a.no_hugepages {
        if let Some(code) = with_hugepages() {
            return code;
        }
    }
    let dir = match a.direction.as_str() {
        "ul" | "uplink" => Direction::Uplink,
        "dl" | "downlink" => Direction::Downlink,
        d => {
            eprintln!("upf-bench: --direction must be ul or dl, not {d:?}");
            return ExitCode::from(2);
        }
    };
    let dist: Dist = match a.dist.parse() {
        Ok(d) => d,
        Err(e) => {
            eprintln!("upf-bench: --dist: {e}");
            return ExitCode::from(2);
        }
    };
    if a.inner_len < 28 || a.inner_len > 1400 {
        eprintln!("upf-bench: --inner-len must be within 28..=1400");
        return ExitCode::from(2);
    }
    if a.sessions == 0 || a.sessions >= 1 << 24 {
        eprintln!("upf-bench: --sessions must be within 1..16777216");
        return ExitCode::from(2);
    }
    let cfg = BenchConfig {
        fixture: FixtureConfig {
            sessions: a.sessions,
            workers: 1,
            inner_len: a.inner_len,
        },
        traffic: TrafficConfig {
            dir,
            dist,
            app_share: a.app_share,
            len: a.seq_len,
            seed: a.seed,
        },
        packets: a.packets,
        seconds: a.seconds,
        warmup_packets: a.warmup,
        engine: if a.null_engine {
            Engine::Null
        } else {
            Engine::Full
        },
        buffers: a.buffers,
        repeat: a.repeat,
    };
    let r = match a.backend.as_str() {
        "mem" => bench(&cfg).map_err(|e| e.to_string()),
        "dpdk" => bench_dpdk(&cfg, a.eal_args.as_deref()),
        b => {
            eprintln!("upf-bench: --backend must be mem or dpdk, not {b:?}");
            return ExitCode::from(2);
        }
    };
    let r = match r {
        Ok(r) => r,
        Err(e) => {
            eprintln!("upf-bench: {e}");
            return ExitCode::FAILURE;
        }
    };
    if a.json {
        match serde_json::to_string(&r) {
            Ok(s) => println!("{s}"),
            Err(e) => {
                eprintln!("upf-bench: {e}");
                return ExitCode::FAILURE;
            }
        }
    } else {
        println!(
            "sessions {} {} {} inner {} B (frame {} B), engine {}",
            r.sessions, r.direction, r.dist, r.inner_len, r.frame_len, r.engine
        );
        println!(
            "install {:.2} s; memory/session: engine {:.0} B, RSS {} B (tables {} B, sessions {} B)",
            r.install_seconds,
            r.memory.engine_bytes_per_session,
            r.memory
                .rss_bytes_per_session
                .map_or("?".into(), |v| format!("{v:.0}")),
            r.memory.table_bytes,
            r.memory.session_bytes
        );
        for (i, run) in r.runs.iter().enumerate() {
            println!(
                "run {i}: {} pkts in {:.3} s: {:.2} Mpps, {:.1} ns/pkt, {} cycles/pkt; {} Mpps per CPU second",
                run.packets,
                run.seconds,
                run.mpps,
                run.ns_per_packet,
                run.cycles_per_packet
                    .map_or("?".into(), |c| format!("{c:.0}")),
                run.mpps_cpu.map_or("?".into(), |c| format!("{c:.2}"))
            );
        }
        println!(
            "Mpps median {:.2} (min {:.2}, max {:.2}); per CPU second {} (min {}, max {}); drops {:?}; usage reports {}",
            r.mpps_median,
            r.mpps_min,
            r.mpps_max,
            r.mpps_cpu_median.map_or("?".into(), |v| format!("{v:.2}")),
            r.mpps_cpu_min.map_or("?".into(), |v| format!("{v:.2}")),
            r.mpps_cpu_max.map_or("?".into(), |v| format!("{v:.2}")),
            r.drops,
            r.usage_reports
        );
    }
    ExitCode::SUCCESS
}
