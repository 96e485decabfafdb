//! The admin socket: one request line in, one JSON document out, for the
//! `upfctl` CLI. Served by the control thread between its other duties
//! (non-blocking accept, short timeouts), never by a worker.

use std::io::{BufRead, BufReader, Write};
use std::os::unix::net::{UnixListener, UnixStream};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde_json::{json, Value};
use upf_engine::{DropReason, Topology};

use crate::control::ControlStats;
use crate::workers::WorkerSnapshot;

/// The listening admin socket.
pub struct AdminSocket {
    listener: UnixListener,
    path: PathBuf,
}

impl AdminSocket {
    /// Binds `path` (replacing a stale socket file).
    pub fn bind(path: &Path) -> std::io::Result<AdminSocket> {
        if let Some(d) = path.parent() {
            std::fs::create_dir_all(d)?;
        }
        let _ = std::fs::remove_file(path);
        let listener = UnixListener::bind(path)?;
        listener.set_nonblocking(true)?;
        Ok(AdminSocket {
            listener,
            path: path.to_path_buf(),
        })
    }

    /// Answers every waiting connection with `handle(request line)`.
    pub fn poll(&self, handle: &mut dyn FnMut(&str) -> String) {
        for _ in 0..16 {
            match self.listener.accept() {
                Ok((s, _)) => {
                    let _ = serve_one(s, handle);
                }
                Err(_) => break,
            }
        }
    }
}

impl Drop for AdminSocket {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.path);
    }
}

fn serve_one(s: UnixStream, handle: &mut dyn FnMut(&str) -> String) -> std::io::Result<()> {
    s.set_nonblocking(false)?;
    s.set_read_timeout(Some(Duration::from_millis(500)))?;
    s.set_write_timeout(Some(Duration::from_millis(500)))?;
    let mut line = String::new();
    let mut r = BufReader::new(std::io::Read::take(s.try_clone()?, 4096));
    r.read_line(&mut line)?;
    let out = handle(line.trim());
    let mut w = s;
    w.write_all(out.as_bytes())?;
    w.write_all(b"\n")
}

/// Sends one request to an admin socket and returns the answer.
pub fn request(path: &Path, req: &str) -> std::io::Result<String> {
    let mut s = UnixStream::connect(path)?;
    s.set_read_timeout(Some(Duration::from_secs(5)))?;
    s.write_all(req.as_bytes())?;
    s.write_all(b"\n")?;
    let mut out = String::new();
    std::io::Read::read_to_string(&mut s, &mut out)?;
    Ok(out)
}

fn worker_json(i: usize, s: &WorkerSnapshot, topo: &Topology) -> Value {
    let drops: serde_json::Map<String, Value> = DropReason::ALL
        .iter()
        .filter(|r| s.stats.drops_of(**r) > 0)
        .map(|r| (r.label().to_string(), json!(s.stats.drops_of(*r))))
        .collect();
    let busy = if s.total_ns > 0 {
        s.busy_ns as f64 / s.total_ns as f64
    } else {
        0.0
    };
    json!({
        "worker": i,
        "sessions": s.stats.sessions,
        "uplink_packets": s.stats.uplink_packets,
        "downlink_packets": s.stats.downlink_packets,
        "steered_packets": s.stats.steered_packets,
        "dns_answers": s.stats.dns_answers,
        "handed_off": s.stats.handed_off,
        "buffered": s.stats.buffered,
        "busy_share": busy,
        "ns_per_packet": s.busy_ns.checked_div(s.packets).unwrap_or(0),
        "drops": drops,
        "ports": s.ports.iter().enumerate().map(|(p, q)| json!({
            "port": topo.ports.get(p).map(|d| d.name.clone()).unwrap_or_default(),
            "rx_packets": q.rx_packets, "rx_bytes": q.rx_bytes,
            "tx_packets": q.tx_packets, "tx_bytes": q.tx_bytes,
            "rx_missed": q.rx_missed, "tx_dropped": q.tx_dropped, "rx_errors": q.rx_errors,
        })).collect::<Vec<_>>(),
    })
}

/// Answers one admin request.
pub fn answer(
    req: &str,
    c: &ControlStats,
    snaps: &[Arc<Mutex<WorkerSnapshot>>],
    topo: &Topology,
    session: impl Fn(u64) -> Option<Value>,
) -> String {
    let mut words = req.split_whitespace();
    let v = match (words.next(), words.next()) {
        (Some("status"), _) | (None, _) => json!({
            "epoch": c.epoch,
            "sessions": c.sessions,
            "sessions_per_worker": c.sessions_per_worker,
            "workers": snaps.len(),
            "steering_rules": c.steering_rules,
            "dns_rules": c.dns_rules,
            "pfd_apps": c.pfd_apps,
            "commands": c.commands,
            "command_errors": c.command_errors,
            "events_sent": c.events_sent,
            "events_dropped": c.events_dropped,
            "clients": c.clients,
        }),
        (Some("workers"), _) => Value::Array(
            snaps
                .iter()
                .enumerate()
                .filter_map(|(i, s)| s.lock().ok().map(|s| worker_json(i, &s, topo)))
                .collect(),
        ),
        (Some("ports"), _) => Value::Array(
            topo.ports
                .iter()
                .map(|p| {
                    json!({
                        "name": p.name,
                        "role": format!("{:?}", p.role),
                        "mac": upf_wire::ethernet::mac_to_string(&p.mac),
                        "ipv4": p.ipv4.iter().map(|(a, l)| format!("{a}/{l}")).collect::<Vec<_>>(),
                        "ipv6": p.ipv6.iter().map(|(a, l)| format!("{a}/{l}")).collect::<Vec<_>>(),
                        "network_instances": p.network_instances,
                    })
                })
                .collect(),
        ),
        (Some("neighbors"), _) => Value::Array(
            c.neighbors
                .iter()
                .map(|(ip, m)| json!({"ip": ip.to_string(), "mac": upf_wire::ethernet::mac_to_string(m)}))
                .collect(),
        ),
        (Some("peers"), _) => Value::Array(
            c.peers
                .iter()
                .map(|p| json!({"peer": p.addr.to_string(), "sessions": p.sessions, "up": p.up, "unanswered_echoes": p.outstanding}))
                .collect(),
        ),
        (Some("session"), Some(id)) => {
            let seid = if let Some(h) = id.strip_prefix("0x") {
                u64::from_str_radix(h, 16).ok()
            } else {
                id.parse().ok()
            };
            match seid.and_then(&session) {
                Some(v) => v,
                None => json!({"error": format!("no session {id}")}),
            }
        }
        (Some(other), _) => json!({"error": format!("unknown request {other:?}; try status, workers, ports, neighbors, peers, session <seid>")}),
    };
    serde_json::to_string_pretty(&v).unwrap_or_else(|_| "{}".into())
}
