//! `upfctl`: the admin CLI of edge-upf.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};
use serde_json::{json, Value};
use upfctl::render::{self, field, Column};
use upfctl::{AdminClient, AdminError};

#[derive(Parser)]
#[command(
    name = "upfctl",
    version,
    about = "edge-upf admin CLI: sessions, rules, counters, workers, ports, neighbours and peers of a running UPF"
)]
struct Cli {
    /// Configuration file of the running UPF (finds the admin sockets).
    #[arg(short, long, default_value = "/etc/edge-upf/upf.toml", global = true)]
    config: PathBuf,
    /// The dataplane's admin socket (overrides the configuration).
    #[arg(long, global = true)]
    dataplane_socket: Option<PathBuf>,
    /// pfcp-ctl's admin socket (overrides the configuration).
    #[arg(long, global = true)]
    pfcp_socket: Option<PathBuf>,
    /// Print the raw JSON answers instead of tables.
    #[arg(long, global = true)]
    json: bool,
    #[command(subcommand)]
    cmd: Cmd,
}

#[derive(Subcommand)]
enum Cmd {
    /// Overall state of the dataplane and pfcp-ctl.
    Status,
    /// PFCP sessions (from pfcp-ctl).
    Sessions,
    /// One session: its rules (pfcp-ctl) and its placement in the dataplane.
    Session {
        /// UP SEID, decimal or 0x-hex.
        seid: String,
    },
    /// Dataplane workers: sessions, packets, busy share, drops.
    Workers,
    /// Ports: addresses, network instances and counters.
    Ports,
    /// Next hops the dataplane resolved (ARP/NDP).
    Neighbors,
    /// GTP-U peers (path management) and PFCP peers (associations).
    Peers,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    match run(&cli) {
        Ok(text) => {
            print!("{text}");
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("upfctl: {e}");
            ExitCode::from(1)
        }
    }
}

/// Errors that stop the command.
#[derive(Debug, thiserror::Error)]
enum CliError {
    #[error("{0}")]
    Config(#[from] upf_config::ConfigError),
    #[error("{0}")]
    Admin(#[from] AdminError),
}

fn clients(cli: &Cli) -> Result<(AdminClient, AdminClient), CliError> {
    let (mut dp, mut pf) = match (&cli.dataplane_socket, &cli.pfcp_socket) {
        (Some(d), Some(p)) => (
            AdminClient::new("upf-dataplane", d),
            AdminClient::new("pfcp-ctl", p),
        ),
        _ => upfctl::sockets(&upf_config::Config::load(&cli.config)?),
    };
    if let Some(d) = &cli.dataplane_socket {
        dp.path = d.clone();
    }
    if let Some(p) = &cli.pfcp_socket {
        pf.path = p.clone();
    }
    Ok((dp, pf))
}

/// A request whose failure is shown in place of the answer (for commands
/// that combine both processes).
fn soft(c: &AdminClient, req: &str) -> Value {
    c.request(req)
        .unwrap_or_else(|e| json!({ "unavailable": e.to_string() }))
}

fn run(cli: &Cli) -> Result<String, CliError> {
    let (dp, pf) = clients(cli)?;
    let out = match &cli.cmd {
        Cmd::Status => {
            let v = json!({ "dataplane": soft(&dp, "status"), "pfcp_ctl": soft(&pf, "status") });
            if cli.json {
                return Ok(format!("{v:#}\n"));
            }
            render::tree(&v)
        }
        Cmd::Sessions => {
            let v = pf.request("sessions")?;
            if cli.json {
                return Ok(format!("{v:#}\n"));
            }
            render::table(
                &v,
                &[
                    col("UP-SEID", |r| field(r, "up_seid")),
                    col("CP-SEID", |r| field(r, "cp_seid")),
                    col("SMF", |r| field(r, "smf")),
                    col("UE", |r| field(r, "ue")),
                    col("PDRS", |r| field(r, "pdrs")),
                    col("FARS", |r| field(r, "fars")),
                ],
            )
        }
        Cmd::Session { seid } => {
            let rules = pf.request(&format!("session {seid}"))?;
            let placement = soft(&dp, &format!("session {seid}"));
            let v = json!({ "pfcp": rules, "dataplane": placement });
            if cli.json {
                return Ok(format!("{v:#}\n"));
            }
            render::tree(&v)
        }
        Cmd::Workers => {
            let v = dp.request("workers")?;
            if cli.json {
                return Ok(format!("{v:#}\n"));
            }
            render::table(
                &v,
                &[
                    col("WORKER", |r| field(r, "worker")),
                    col("SESSIONS", |r| field(r, "sessions")),
                    col("UL-PKTS", |r| field(r, "uplink_packets")),
                    col("DL-PKTS", |r| field(r, "downlink_packets")),
                    col("STEERED", |r| field(r, "steered_packets")),
                    col("BUFFERED", |r| field(r, "buffered")),
                    col("BUSY", |r| {
                        r.get("busy_share")
                            .and_then(Value::as_f64)
                            .map_or("-".into(), |b| format!("{:.1}%", b * 100.0))
                    }),
                    col("NS/PKT", |r| field(r, "ns_per_packet")),
                    col("DROPS", |r| field(r, "drops")),
                ],
            )
        }
        Cmd::Ports => {
            let ports = dp.request("ports")?;
            let workers = dp.request("workers")?;
            let v = render::port_totals(&ports, &workers);
            if cli.json {
                return Ok(format!("{v:#}\n"));
            }
            render::table(
                &v,
                &[
                    col("PORT", |r| field(r, "name")),
                    col("ROLE", |r| field(r, "role")),
                    col("MAC", |r| field(r, "mac")),
                    col("IPV4", |r| field(r, "ipv4")),
                    col("IPV6", |r| field(r, "ipv6")),
                    col("NETWORKS", |r| field(r, "network_instances")),
                    col("RX-PKTS", |r| field(r, "rx_packets")),
                    col("TX-PKTS", |r| field(r, "tx_packets")),
                    col("RX-MISSED", |r| field(r, "rx_missed")),
                    col("TX-DROPPED", |r| field(r, "tx_dropped")),
                ],
            )
        }
        Cmd::Neighbors => {
            let v = dp.request("neighbors")?;
            if cli.json {
                return Ok(format!("{v:#}\n"));
            }
            render::table(
                &v,
                &[
                    col("IP", |r| field(r, "ip")),
                    col("MAC", |r| field(r, "mac")),
                ],
            )
        }
        Cmd::Peers => {
            let gtp = soft(&dp, "peers");
            let pfcp = soft(&pf, "peers");
            if cli.json {
                return Ok(format!("{:#}\n", json!({"gtpu": gtp, "pfcp": pfcp})));
            }
            let mut s = String::from("GTP-U peers (path management)\n");
            s += &peer_table(
                &gtp,
                &[
                    col("PEER", |r| field(r, "peer")),
                    col("UP", |r| field(r, "up")),
                    col("SESSIONS", |r| field(r, "sessions")),
                    col("UNANSWERED", |r| field(r, "unanswered_echoes")),
                ],
            );
            s += "\nPFCP peers (associations)\n";
            s += &peer_table(
                &pfcp,
                &[
                    col("NODE-ID", |r| field(r, "node_id")),
                    col("ADDRESS", |r| field(r, "address")),
                    col("FAILED", |r| field(r, "failed")),
                ],
            );
            s
        }
    };
    Ok(out)
}

fn peer_table(v: &Value, cols: &[Column]) -> String {
    match v.get("unavailable") {
        Some(msg) => format!("  unavailable: {}\n", render::scalar(msg)),
        None => render::table(v, cols),
    }
}

fn col(title: &'static str, cell: fn(&Value) -> String) -> Column {
    Column { title, cell }
}
