//! `upf-dataplane`: the edge-upf dataplane process.

use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use clap::{Parser, Subcommand};
use upf_config::Config;
use upf_dataplane::Dataplane;
use upf_engine::DropReason;
use upf_observe::{LogFormat, Registry};

#[derive(Parser)]
#[command(
    name = "upf-dataplane",
    version,
    about = "edge-upf dataplane: GTP-U workers and the control channel"
)]
struct Cli {
    #[command(subcommand)]
    cmd: Cmd,
}

#[derive(Subcommand)]
enum Cmd {
    /// Run the dataplane.
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
    let cli = Cli::parse();
    match cli.cmd {
        Cmd::Check { config } => ExitCode::from(upf_config::check_command(&config) as u8),
        Cmd::Run { config } => run(&config),
    }
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
    upf_observe::init_logging(&cfg.logging.level, fmt, "upf-dataplane");
    for w in cfg.warnings() {
        tracing::warn!("{w}");
    }
    let stop = Arc::new(AtomicBool::new(false));
    for sig in [signal_hook::consts::SIGTERM, signal_hook::consts::SIGINT] {
        if let Err(e) = signal_hook::flag::register(sig, stop.clone()) {
            tracing::error!(error = %e, "cannot install signal handler");
        }
    }
    let dp = match Dataplane::start(&cfg) {
        Ok(d) => d,
        Err(e) => {
            tracing::error!(error = %e, "dataplane failed to start");
            eprintln!("upf-dataplane: {e}");
            return ExitCode::from(1);
        }
    };
    tracing::info!(workers = dp.snapshots.len(), ports = ?dp.port_names, "dataplane running");
    let _metrics = cfg.metrics.dataplane_listen.and_then(|addr| {
        let reg = Registry::new();
        let snaps = dp.snapshots.clone();
        let ctl = dp.control.clone();
        let names = dp.port_names.clone();
        let ports = dp.port_status.clone();
        let mhz = cpu_mhz();
        reg.register(Box::new(move |e| {
            collect(e, &snaps, &ctl, &names, mhz);
            if let Some(f) = &ports {
                upf_dataplane::metrics::port_status(e, &f());
            }
        }));
        match upf_observe::serve(addr, reg) {
            Ok(s) => Some(s),
            Err(err) => {
                tracing::error!(%addr, error = %err, "metrics endpoint not started");
                None
            }
        }
    });
    while !stop.load(Ordering::Relaxed) {
        std::thread::sleep(Duration::from_millis(100));
    }
    tracing::info!("stopping");
    dp.shutdown();
    ExitCode::SUCCESS
}

/// The CPU clock in MHz as the kernel reports it (`cpu MHz` of the first
/// CPU in /proc/cpuinfo), read once at start: it turns busy time into
/// cycles without reading the time stamp counter on the hot path.
fn cpu_mhz() -> Option<f64> {
    let text = std::fs::read_to_string("/proc/cpuinfo").ok()?;
    parse_cpu_mhz(&text)
}

fn parse_cpu_mhz(cpuinfo: &str) -> Option<f64> {
    cpuinfo
        .lines()
        .find(|l| l.starts_with("cpu MHz"))
        .and_then(|l| l.split(':').nth(1))
        .and_then(|v| v.trim().parse::<f64>().ok())
        .filter(|v| *v > 0.0)
}

fn collect(
    e: &mut upf_observe::Exposition,
    snaps: &[Arc<std::sync::Mutex<upf_dataplane::WorkerSnapshot>>],
    ctl: &Arc<std::sync::Mutex<upf_dataplane::ControlStats>>,
    names: &[String],
    cpu_mhz: Option<f64>,
) {
    for (w, s) in snaps.iter().enumerate() {
        let Ok(s) = s.lock() else { continue };
        let ws = w.to_string();
        for (p, q) in s.ports.iter().enumerate() {
            let pn = names.get(p).map(String::as_str).unwrap_or("?");
            let l = [("worker", ws.as_str()), ("port", pn)];
            e.counter(
                "upf_port_rx_packets_total",
                "Packets received per port and worker",
                &l,
                q.rx_packets,
            );
            e.counter(
                "upf_port_rx_bytes_total",
                "Bytes received per port and worker",
                &l,
                q.rx_bytes,
            );
            e.counter(
                "upf_port_tx_packets_total",
                "Packets sent per port and worker",
                &l,
                q.tx_packets,
            );
            e.counter(
                "upf_port_tx_bytes_total",
                "Bytes sent per port and worker",
                &l,
                q.tx_bytes,
            );
            e.counter(
                "upf_port_rx_missed_total",
                "Packets the kernel or NIC dropped before the worker",
                &l,
                q.rx_missed,
            );
            e.counter(
                "upf_port_tx_dropped_total",
                "Packets not sent (queue full)",
                &l,
                q.tx_dropped,
            );
            e.counter(
                "upf_port_rx_errors_total",
                "Frames received but not usable (chained buffers, bad frames, no buffer)",
                &l,
                q.rx_errors,
            );
            e.counter(
                "upf_port_rx_dispatched_total",
                "Frames received by this worker and passed to their natural worker",
                &l,
                q.rx_dispatched,
            );
            for (reason, v) in [
                ("tx_full", q.tx_dropped),
                ("rx_error", q.rx_errors),
                ("dispatch_full", q.dispatch_dropped),
                ("rx_missed", q.rx_missed),
            ] {
                e.counter(
                    "upf_port_drops_total",
                    "Packets a port queue dropped, by reason",
                    &[("worker", ws.as_str()), ("port", pn), ("reason", reason)],
                    v,
                );
            }
        }
        let l = [("worker", ws.as_str())];
        for r in DropReason::ALL {
            e.counter(
                "upf_drops_total",
                "Packets dropped by reason",
                &[("worker", ws.as_str()), ("reason", r.label())],
                s.stats.drops_of(r),
            );
        }
        e.counter(
            "upf_uplink_packets_total",
            "Uplink packets forwarded",
            &l,
            s.stats.uplink_packets,
        );
        e.counter(
            "upf_downlink_packets_total",
            "Downlink packets forwarded",
            &l,
            s.stats.downlink_packets,
        );
        e.counter(
            "upf_steered_packets_total",
            "Packets broken out by MEC steering",
            &l,
            s.stats.steered_packets,
        );
        e.counter(
            "upf_dns_answers_total",
            "DNS queries answered at the edge",
            &l,
            s.stats.dns_answers,
        );
        e.counter(
            "upf_handed_off_packets_total",
            "Packets handed to the owner worker",
            &l,
            s.stats.handed_off,
        );
        e.gauge(
            "upf_buffered_packets",
            "Packets in downlink buffers",
            &l,
            s.stats.buffered as f64,
        );
        e.gauge(
            "upf_worker_sessions",
            "Sessions owned by the worker",
            &l,
            s.stats.sessions as f64,
        );
        let busy = if s.total_ns > 0 {
            s.busy_ns as f64 / s.total_ns as f64
        } else {
            0.0
        };
        e.gauge(
            "upf_worker_busy_ratio",
            "Share of time spent processing packets",
            &l,
            busy,
        );
        let npp = s.busy_ns.checked_div(s.packets).unwrap_or(0) as f64;
        e.gauge(
            "upf_worker_ns_per_packet",
            "Average busy nanoseconds per packet",
            &l,
            npp,
        );
        if let Some(mhz) = cpu_mhz {
            e.gauge(
                "upf_worker_cycles_per_packet",
                "Average busy CPU cycles per packet (busy nanoseconds times the clock the kernel reported at start)",
                &l,
                (npp * mhz / 1000.0).round(),
            );
        }
    }
    if let Ok(c) = ctl.lock() {
        e.gauge("upf_sessions", "Sessions installed", &[], c.sessions as f64);
        for (kind, n) in [
            ("pdr", c.rules.pdr),
            ("far", c.rules.far),
            ("qer", c.rules.qer),
            ("urr", c.rules.urr),
            ("bar", c.rules.bar),
        ] {
            e.gauge(
                "upf_rules",
                "Session rules installed, by kind",
                &[("kind", kind)],
                n as f64,
            );
        }
        e.gauge(
            "upf_steering_rules",
            "Active MEC steering rules",
            &[],
            c.steering_rules as f64,
        );
        e.gauge(
            "upf_dns_rules",
            "Active MEC DNS rules",
            &[],
            c.dns_rules as f64,
        );
        e.counter(
            "upf_control_commands_total",
            "Control commands handled",
            &[],
            c.commands,
        );
        e.counter(
            "upf_control_command_errors_total",
            "Control commands refused",
            &[],
            c.command_errors,
        );
        e.counter(
            "upf_control_events_sent_total",
            "Events sent to clients",
            &[],
            c.events_sent,
        );
        e.counter(
            "upf_control_events_dropped_total",
            "Events dropped (client not reading)",
            &[],
            c.events_dropped,
        );
        e.counter(
            "upf_usage_reports_total",
            "Usage reports raised",
            &[],
            c.usage_reports,
        );
        e.counter(
            "upf_downlink_data_reports_total",
            "Downlink data reports raised",
            &[],
            c.downlink_reports,
        );
        for p in &c.peers {
            let a = p.addr.to_string();
            e.gauge(
                "upf_gtpu_peer_up",
                "GTP-U path state per peer",
                &[("peer", a.as_str())],
                if p.up { 1.0 } else { 0.0 },
            );
        }
    }
}

#[cfg(test)]
mod tests {
    use super::parse_cpu_mhz;

    #[test]
    fn cpu_clock_from_cpuinfo() {
        let t = "processor\t: 0\nmodel name\t: X\ncpu MHz\t\t: 2994.372\ncache size\t: 512 KB\n";
        assert_eq!(parse_cpu_mhz(t), Some(2994.372));
        assert_eq!(parse_cpu_mhz("processor\t: 0\n"), None);
        assert_eq!(parse_cpu_mhz("cpu MHz\t: zero\n"), None);
        assert_eq!(parse_cpu_mhz("cpu MHz\t: 0\n"), None);
    }
}
