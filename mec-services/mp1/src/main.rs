//! `mec-services`: the edge-upf Mp1 sidecar (ETSI GS MEC 011).

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};
use upf_config::Config;
use upf_observe::LogFormat;

#[derive(Parser)]
#[command(
    name = "mec-services",
    version,
    about = "edge-upf Mp1 sidecar (ETSI GS MEC 011 service management and application support)"
)]
struct Cli {
    #[command(subcommand)]
    cmd: Cmd,
}

#[derive(Subcommand)]
enum Cmd {
    /// Run the sidecar.
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

fn run(path: &std::path::Path) -> ExitCode {
    let cfg = match Config::load(path) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("{e}");
            return ExitCode::from(2);
        }
    };
    if cfg.mec.is_none() {
        eprintln!("{}: no [mec] section", path.display());
        return ExitCode::from(2);
    }
    let fmt = match cfg.logging.format {
        upf_config::LogFormat::Text => LogFormat::Text,
        upf_config::LogFormat::Json => LogFormat::Json,
    };
    upf_observe::init_logging(&cfg.logging.level, fmt, "mec-services");
    for w in cfg.warnings() {
        tracing::warn!("{w}");
    }
    let rt = match tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .thread_name("mp1")
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("mec-services: runtime: {e}");
            return ExitCode::from(1);
        }
    };
    rt.block_on(async {
        let sidecar = match mec_services::start(&cfg, mec_services::StartOptions::default()).await {
            Ok(s) => s,
            Err(e) => {
                tracing::error!(error = %e, "mec-services did not start");
                eprintln!("mec-services: {e}");
                return ExitCode::from(1);
            }
        };
        let mut term =
            match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
                Ok(s) => s,
                Err(e) => {
                    eprintln!("mec-services: signals: {e}");
                    return ExitCode::from(1);
                }
            };
        tokio::select! {
            _ = tokio::signal::ctrl_c() => {}
            _ = term.recv() => {}
        }
        tracing::info!("stopping");
        sidecar.shutdown().await;
        ExitCode::SUCCESS
    })
}
