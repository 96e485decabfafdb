//! Logging and Prometheus metrics shared by every edge-upf process.
//!
//! - [`init_logging`]: `tracing` with a level/filter from the config that
//!   the environment variable `EDGE_UPF_LOG` overrides; text or JSON.
//! - [`Registry`] of collectors: closures called at scrape time that write
//!   samples into an [`Exposition`]. The dataplane's workers keep their own
//!   counters and are only read here, so nothing on the packet path touches
//!   the registry.
//! - [`serve`]: a small HTTP/1.1 server on its own thread for `GET /metrics`
//!   (text format 0.0.4) and `GET /healthz`, with timeouts and a request
//!   size limit so slow or malformed clients cannot stall it.
//!
//! What it must not do: run on a packet path, or block the process that
//! uses it.
#![cfg_attr(not(test), deny(clippy::unwrap_used))]
#![forbid(unsafe_code)]

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::io::{self, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::Duration;

use tracing_subscriber::EnvFilter;

/// Log output format.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LogFormat {
    /// Human-readable.
    Text,
    /// JSON lines.
    Json,
}

/// Sets up `tracing` for `process`. `level` is an EnvFilter directive;
/// `EDGE_UPF_LOG` overrides it. Safe to call more than once (later calls
/// are ignored).
pub fn init_logging(level: &str, format: LogFormat, process: &str) {
    let filter = std::env::var("EDGE_UPF_LOG")
        .ok()
        .and_then(|v| EnvFilter::try_new(v).ok())
        .or_else(|| EnvFilter::try_new(level).ok())
        .unwrap_or_else(|| EnvFilter::new("info"));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(io::stderr)
        .with_target(true);
    let _ = match format {
        LogFormat::Text => builder.try_init(),
        LogFormat::Json => builder.json().flatten_event(true).try_init(),
    };
    tracing::info!(process, pid = std::process::id(), "starting");
}

/// Metric kinds.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    /// Monotonic counter.
    Counter,
    /// Gauge.
    Gauge,
}

struct Family {
    help: String,
    kind: Kind,
    samples: Vec<(String, String)>,
}

/// Samples collected for one scrape.
#[derive(Default)]
pub struct Exposition {
    families: BTreeMap<String, Family>,
}

fn escape(v: &str) -> String {
    let mut s = String::with_capacity(v.len());
    for c in v.chars() {
        match c {
            '\\' => s.push_str("\\\\"),
            '"' => s.push_str("\\\""),
            '\n' => s.push_str("\\n"),
            c => s.push(c),
        }
    }
    s
}

impl Exposition {
    /// Adds a sample of a counter.
    pub fn counter(&mut self, name: &str, help: &str, labels: &[(&str, &str)], v: u64) {
        self.sample(name, help, Kind::Counter, labels, v.to_string());
    }

    /// Adds a sample of a gauge.
    pub fn gauge(&mut self, name: &str, help: &str, labels: &[(&str, &str)], v: f64) {
        let s = if v.fract() == 0.0 && v.abs() < 1e15 {
            format!("{}", v as i64)
        } else {
            format!("{v}")
        };
        self.sample(name, help, Kind::Gauge, labels, s);
    }

    fn sample(&mut self, name: &str, help: &str, kind: Kind, labels: &[(&str, &str)], v: String) {
        let fam = self
            .families
            .entry(name.to_string())
            .or_insert_with(|| Family {
                help: help.to_string(),
                kind,
                samples: Vec::new(),
            });
        let mut l = String::new();
        if !labels.is_empty() {
            l.push('{');
            for (i, (k, val)) in labels.iter().enumerate() {
                if i > 0 {
                    l.push(',');
                }
                let _ = write!(l, "{k}=\"{}\"", escape(val));
            }
            l.push('}');
        }
        fam.samples.push((l, v));
    }

    /// Renders the text exposition format (version 0.0.4).
    pub fn render(&self) -> String {
        let mut out = String::new();
        for (name, f) in &self.families {
            let _ = writeln!(out, "# HELP {name} {}", f.help.replace('\n', " "));
            let t = match f.kind {
                Kind::Counter => "counter",
                Kind::Gauge => "gauge",
            };
            let _ = writeln!(out, "# TYPE {name} {t}");
            for (l, v) in &f.samples {
                let _ = writeln!(out, "{name}{l} {v}");
            }
        }
        out
    }
}

/// A scrape-time collector.
pub type Collector = Box<dyn Fn(&mut Exposition) + Send + Sync>;

/// The collectors of one process.
#[derive(Default)]
pub struct Registry {
    collectors: Mutex<Vec<Collector>>,
}

impl Registry {
    /// An empty registry.
    pub fn new() -> Arc<Registry> {
        Arc::new(Registry::default())
    }

    /// Adds a collector.
    pub fn register(&self, c: Collector) {
        if let Ok(mut v) = self.collectors.lock() {
            v.push(c);
        }
    }

    /// Collects every collector's samples and renders them.
    pub fn render(&self) -> String {
        let mut e = Exposition::default();
        if let Ok(v) = self.collectors.lock() {
            for c in v.iter() {
                c(&mut e);
            }
        }
        e.render()
    }
}

/// A running metrics server; stops when dropped.
pub struct MetricsServer {
    addr: SocketAddr,
    stop: Arc<AtomicBool>,
    handle: Option<JoinHandle<()>>,
}

impl MetricsServer {
    /// The bound address.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }
}

impl Drop for MetricsServer {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        // Wake the accept loop.
        let _ = TcpStream::connect_timeout(&self.addr, Duration::from_millis(200));
        if let Some(h) = self.handle.take() {
            let _ = h.join();
        }
    }
}

const MAX_REQUEST: usize = 8192;

fn handle(mut s: TcpStream, reg: &Registry) -> io::Result<()> {
    s.set_read_timeout(Some(Duration::from_secs(2)))?;
    s.set_write_timeout(Some(Duration::from_secs(2)))?;
    let mut buf = Vec::with_capacity(1024);
    let mut chunk = [0u8; 1024];
    while !buf.windows(4).any(|w| w == b"\r\n\r\n") {
        let n = s.read(&mut chunk)?;
        if n == 0 {
            break;
        }
        buf.extend_from_slice(&chunk[..n]);
        if buf.len() > MAX_REQUEST {
            respond(
                &mut s,
                "413 Payload Too Large",
                "text/plain",
                "request too large\n",
            )?;
            // Let the client read the answer: stop writing, then discard
            // what it still sends (bounded) instead of resetting.
            s.shutdown(std::net::Shutdown::Write)?;
            s.set_read_timeout(Some(Duration::from_millis(200)))?;
            let mut left = 1 << 20;
            while left > 0 {
                match s.read(&mut chunk) {
                    Ok(0) | Err(_) => break,
                    Ok(n) => left -= n.min(left),
                }
            }
            return Ok(());
        }
    }
    let text = String::from_utf8_lossy(&buf);
    let line = text.lines().next().unwrap_or("");
    let mut parts = line.split_whitespace();
    let (method, path, version) = (parts.next(), parts.next(), parts.next());
    match (method, path, version) {
        (Some("GET"), Some(p), Some(v)) if v.starts_with("HTTP/1.") => {
            let path = p.split('?').next().unwrap_or(p);
            match path {
                "/metrics" => respond(
                    &mut s,
                    "200 OK",
                    "text/plain; version=0.0.4; charset=utf-8",
                    &reg.render(),
                ),
                "/healthz" => respond(&mut s, "200 OK", "text/plain", "ok\n"),
                _ => respond(&mut s, "404 Not Found", "text/plain", "not found\n"),
            }
        }
        (Some(m), Some(_), Some(_)) if m != "GET" => {
            respond(&mut s, "405 Method Not Allowed", "text/plain", "only GET\n")
        }
        _ => respond(&mut s, "400 Bad Request", "text/plain", "bad request\n"),
    }
}

fn respond(s: &mut TcpStream, status: &str, ctype: &str, body: &str) -> io::Result<()> {
    let head = format!(
        "HTTP/1.1 {status}\r\nContent-Type: {ctype}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
        body.len()
    );
    s.write_all(head.as_bytes())?;
    s.write_all(body.as_bytes())?;
    s.flush()
}

/// Serves `registry` on `addr` from a background thread.
pub fn serve(addr: SocketAddr, registry: Arc<Registry>) -> io::Result<MetricsServer> {
    let l = TcpListener::bind(addr)?;
    let addr = l.local_addr()?;
    let stop = Arc::new(AtomicBool::new(false));
    let st = stop.clone();
    let handle = std::thread::Builder::new()
        .name("metrics".into())
        .spawn(move || {
            for conn in l.incoming() {
                if st.load(Ordering::Relaxed) {
                    break;
                }
                if let Ok(s) = conn {
                    let _ = handle(s, &registry);
                }
            }
        })?;
    Ok(MetricsServer {
        addr,
        stop,
        handle: Some(handle),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn get(addr: SocketAddr, req: &[u8]) -> String {
        let mut s = TcpStream::connect(addr).unwrap();
        s.write_all(req).unwrap();
        let mut out = String::new();
        s.read_to_string(&mut out).unwrap();
        out
    }

    #[test]
    fn exposition_groups_families_and_escapes() {
        let mut e = Exposition::default();
        e.counter(
            "upf_rx_packets_total",
            "Packets received",
            &[("port", "n3")],
            5,
        );
        e.gauge("upf_sessions", "Sessions", &[], 3.0);
        e.counter(
            "upf_rx_packets_total",
            "Packets received",
            &[("port", "a\"b")],
            7,
        );
        let t = e.render();
        let lines: Vec<&str> = t.lines().collect();
        assert_eq!(
            lines,
            vec![
                "# HELP upf_rx_packets_total Packets received",
                "# TYPE upf_rx_packets_total counter",
                "upf_rx_packets_total{port=\"n3\"} 5",
                "upf_rx_packets_total{port=\"a\\\"b\"} 7",
                "# HELP upf_sessions Sessions",
                "# TYPE upf_sessions gauge",
                "upf_sessions 3",
            ]
        );
    }

    #[test]
    fn server_answers_and_survives_bad_requests() {
        let reg = Registry::new();
        reg.register(Box::new(|e| e.counter("x_total", "x", &[], 42)));
        let srv = serve("127.0.0.1:0".parse().unwrap(), reg).unwrap();
        let r = get(srv.addr(), b"GET /metrics HTTP/1.1\r\nHost: a\r\n\r\n");
        assert!(r.starts_with("HTTP/1.1 200 OK"), "{r}");
        assert!(r.contains("text/plain; version=0.0.4"));
        assert!(r.ends_with("x_total 42\n"), "{r}");
        assert!(get(srv.addr(), b"garbage\r\n\r\n").starts_with("HTTP/1.1 400"));
        assert!(get(srv.addr(), b"POST /metrics HTTP/1.1\r\n\r\n").starts_with("HTTP/1.1 405"));
        assert!(get(srv.addr(), b"GET /nope HTTP/1.1\r\n\r\n").starts_with("HTTP/1.1 404"));
        let big = vec![b'a'; 20000];
        let mut req = b"GET /metrics HTTP/1.1\r\nX: ".to_vec();
        req.extend_from_slice(&big);
        assert!(get(srv.addr(), &req).starts_with("HTTP/1.1 413"));
        assert!(get(srv.addr(), b"GET /healthz HTTP/1.0\r\n\r\n").contains("ok"));
    }
}
