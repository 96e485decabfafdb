//! `pfcp-ctl`: the edge-upf N4 control process.

use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::atomic::AtomicBool;
use std::sync::{Arc, Mutex};

use clap::{Parser, Subcommand};
use pfcp_ctl::server::{self, Snapshot};
use upf_config::Config;
use upf_observe::{LogFormat, Registry};

#[derive(Parser)]
#[command(
    name = "pfcp-ctl",
    version,
    about = "edge-upf N4 control process (PFCP, TS 29.244)"
)]
struct Cli {
    #[command(subcommand)]
    cmd: Cmd,
}

#[derive(Subcommand)]
enum Cmd {
    /// Run the N4 process.
    Run {
        /// Configuration file.
        #[arg(short, long, default_value = "/etc/edge-upf/upf.toml")]
        config: PathBuf,
    },
    /// Validate a configuration file and exit.
    Check {
        /// Configuration file.
        #[arg(short, long, default_value = "/etc/edge-upf/upf.toml")]
        config: PathBuf,
    },
}

fn main() -> ExitCode {
    match Cli::parse().cmd {
        Cmd::Check { config } => ExitCode::from(upf_config::check_command(&config) as u8),
        Cmd::Run { config } => run(&config),
    }
}

fn msg_name(t: u8) -> String {
    pfcp_codec::msg::mt::name(t).to_string()
}

fn run(path: &std::path::Path) -> ExitCode {
    let cfg = match Config::load(path) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("{e}");
            return ExitCode::from(2);
        }
    };
    let fmt = match cfg.logging.format {
        upf_config::LogFormat::Text => LogFormat::Text,
        upf_config::LogFormat::Json => LogFormat::Json,
    };
    upf_observe::init_logging(&cfg.logging.level, fmt, "pfcp-ctl");
    for w in cfg.warnings() {
        tracing::warn!("{w}");
    }
    let stop = Arc::new(AtomicBool::new(false));
    for sig in [signal_hook::consts::SIGTERM, signal_hook::consts::SIGINT] {
        let _ = signal_hook::flag::register(sig, stop.clone());
    }
    let snap = Arc::new(Mutex::new(Snapshot::default()));
    let _metrics = cfg.metrics.pfcp_listen.and_then(|addr| {
        let reg = Registry::new();
        let s = snap.clone();
        reg.register(Box::new(move |e| {
            let Ok(s) = s.lock() else { return };
            for (t, n) in &s.stats.rx {
                e.counter(
                    "pfcp_messages_received_total",
                    "PFCP messages received by type",
                    &[("type", &msg_name(*t))],
                    *n,
                );
            }
            for (t, n) in &s.stats.tx {
                e.counter(
                    "pfcp_messages_sent_total",
                    "PFCP messages sent by type",
                    &[("type", &msg_name(*t))],
                    *n,
                );
            }
            for (c, n) in &s.stats.causes {
                e.counter(
                    "pfcp_responses_total",
                    "PFCP responses sent by cause",
                    &[("cause", &c.to_string())],
                    *n,
                );
            }
            e.counter(
                "pfcp_malformed_total",
                "Datagrams that did not decode",
                &[],
                s.stats.malformed,
            );
            e.counter(
                "pfcp_refused_peers_total",
                "Association attempts from unconfigured peers",
                &[],
                s.stats.refused_peers,
            );
            e.counter(
                "pfcp_duplicate_requests_total",
                "Retransmitted requests answered from the cache",
                &[],
                s.stats.duplicates,
            );
            e.counter(
                "pfcp_reports_sent_total",
                "Session reports sent",
                &[],
                s.stats.reports_sent,
            );
            e.counter(
                "pfcp_reports_answered_total",
                "Session reports answered",
                &[],
                s.stats.reports_answered,
            );
            e.counter(
                "pfcp_requests_timed_out_total",
                "Requests that exhausted retransmissions",
                &[],
                s.stats.requests_timed_out,
            );
            e.counter(
                "pfcp_peers_failed_total",
                "Peers declared failed (missed heartbeats)",
                &[],
                s.stats.peers_failed,
            );
            e.counter(
                "pfcp_rate_limited_total",
                "Establishments refused by max_request_rate",
                &[],
                s.stats.rate_limited,
            );
            e.gauge(
                "pfcp_slowest_loop_seconds",
                "Longest event loop iteration since the start",
                &[],
                s.slowest_loop_us as f64 / 1e6,
            );
            e.counter(
                "pfcp_overload_drops_total",
                "Session requests dropped by overload protection",
                &[],
                s.overload_drops,
            );
            e.gauge("pfcp_sessions", "Sessions held", &[], s.sessions as f64);
            e.gauge(
                "pfcp_associations",
                "Associated SMFs",
                &[],
                s.peers.len() as f64,
            );
            e.gauge(
                "pfcp_dataplane_attached",
                "1 when attached to the dataplane",
                &[],
                if s.dataplane { 1.0 } else { 0.0 },
            );
            for (p, n) in &s.pools {
                e.gauge(
                    "pfcp_ue_pool_in_use",
                    "UE addresses in use per pool",
                    &[("network_instance", p.as_str())],
                    *n as f64,
                );
            }
        }));
        upf_observe::serve(addr, reg)
            .map_err(|err| tracing::error!(%addr, error = %err, "metrics endpoint not started"))
            .ok()
    });
    match server::run(&cfg, stop, snap) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            tracing::error!(error = %e, "pfcp-ctl stopped");
            eprintln!("pfcp-ctl: {e}");
            ExitCode::from(1)
        }
    }
}
