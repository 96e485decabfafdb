//! The I/O shell around [`crate::sim::Sim`]: one UDP socket, a `mio` poll
//! loop, the progress line, the sessions file.

use std::collections::VecDeque;
use std::io::{self, Write};
use std::net::{IpAddr, SocketAddr, UdpSocket};
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use mio::{Events, Interest, Poll, Token};

use crate::report::Report;
use crate::sim::{Config, Event, Sim, Stage};

/// Errors that stop a run before it produces a report.
#[derive(Debug, thiserror::Error)]
pub enum RunError {
    /// The socket could not be set up.
    #[error("cannot use local address {addr}: {source}")]
    Bind {
        /// The address.
        addr: SocketAddr,
        /// The OS error.
        source: io::Error,
    },
    /// No route to the UPF.
    #[error("no local address towards {upf}: {source}")]
    Route {
        /// The UPF.
        upf: SocketAddr,
        /// The OS error.
        source: io::Error,
    },
    /// The event loop failed.
    #[error("event loop: {0}")]
    Io(#[from] io::Error),
    /// The sessions file could not be written.
    #[error(transparent)]
    Sessions(#[from] crate::sessions::SessionsError),
}

/// Where and how to run.
#[derive(Clone, Debug)]
pub struct Options {
    /// The UPF's N4 address.
    pub upf: SocketAddr,
    /// Local address to bind (port 0: any).
    pub bind: SocketAddr,
    /// Where to write the sessions file once establishment finished.
    pub sessions_file: Option<PathBuf>,
    /// Progress line on stderr every second.
    pub progress: bool,
    /// Give up after this long in total.
    pub deadline: Option<Duration>,
}

/// The local address the kernel uses towards `upf`.
pub fn local_ip_towards(upf: SocketAddr) -> Result<IpAddr, RunError> {
    let any: SocketAddr = if upf.is_ipv4() {
        "0.0.0.0:0".parse().map_err(|_| RunError::Route {
            upf,
            source: io::ErrorKind::InvalidInput.into(),
        })?
    } else {
        "[::]:0".parse().map_err(|_| RunError::Route {
            upf,
            source: io::ErrorKind::InvalidInput.into(),
        })?
    };
    let s = UdpSocket::bind(any).map_err(|source| RunError::Route { upf, source })?;
    s.connect(upf)
        .map_err(|source| RunError::Route { upf, source })?;
    Ok(s.local_addr()
        .map_err(|source| RunError::Route { upf, source })?
        .ip())
}

fn bind(addr: SocketAddr) -> Result<mio::net::UdpSocket, RunError> {
    let err = |source| RunError::Bind { addr, source };
    let domain = if addr.is_ipv4() {
        socket2::Domain::IPV4
    } else {
        socket2::Domain::IPV6
    };
    let s = socket2::Socket::new(domain, socket2::Type::DGRAM, Some(socket2::Protocol::UDP))
        .map_err(err)?;
    let _ = s.set_recv_buffer_size(8 << 20);
    let _ = s.set_send_buffer_size(8 << 20);
    s.set_nonblocking(true).map_err(err)?;
    s.bind(&addr.into()).map_err(err)?;
    Ok(mio::net::UdpSocket::from_std(s.into()))
}

/// Runs `cfg` against the UPF until done, `stop` is set twice, or the
/// deadline passes. The first `stop` winds down (deletes what was set up).
pub fn run(cfg: Config, opts: &Options, stop: Arc<AtomicBool>) -> Result<Report, RunError> {
    let mut sock = bind(opts.bind)?;
    let local = sock.local_addr()?;
    let mut poll = Poll::new()?;
    poll.registry()
        .register(&mut sock, Token(0), Interest::READABLE)?;
    let mut events = Events::with_capacity(64);
    let clock = Instant::now();
    let now = || clock.elapsed().as_nanos() as u64;
    let mut sim = Sim::new(cfg, now());
    let mut out: Vec<Vec<u8>> = Vec::new();
    let mut queue: VecDeque<Vec<u8>> = VecDeque::new();
    let mut buf = vec![0u8; 65536];
    let mut stopping = false;
    let mut last_progress = Instant::now();
    let mut send_errors = 0u64;
    let mut foreign = 0u64;
    loop {
        if stop.load(Ordering::Relaxed) && !stopping {
            stopping = true;
            stop.store(false, Ordering::Relaxed);
            eprintln!("smfsim: stopping: deleting what was set up (signal again to abort)");
            sim.stop();
        } else if stopping && stop.load(Ordering::Relaxed) {
            eprintln!("smfsim: aborted");
            break;
        }
        if opts.deadline.is_some_and(|d| clock.elapsed() >= d) {
            eprintln!("smfsim: deadline reached in stage {:?}", sim.stage());
            break;
        }
        sim.tick(now(), &mut out);
        queue.extend(out.drain(..));
        flush(&sock, opts.upf, &mut queue, &mut send_errors);
        for ev in sim.take_events() {
            match ev {
                Event::Established => {
                    if let Some(p) = &opts.sessions_file {
                        let f = sim.sessions_file(opts.upf.to_string());
                        f.save(p)?;
                        if opts.progress {
                            eprintln!(
                                "smfsim: {} sessions written to {}",
                                f.sessions.len(),
                                p.display()
                            );
                        }
                    }
                }
                Event::ChurnStarted if opts.progress => eprintln!("smfsim: churn started"),
                Event::ChurnEnded if opts.progress => eprintln!("smfsim: churn ended"),
                Event::Deleting if opts.progress => eprintln!("smfsim: deleting"),
                _ => {}
            }
        }
        if sim.done() {
            break;
        }
        let t = now();
        let wait = sim.next_wakeup().saturating_sub(t).min(10_000_000);
        let wait = if queue.is_empty() {
            wait
        } else {
            wait.min(1_000_000)
        };
        if let Err(e) = poll.poll(&mut events, Some(Duration::from_nanos(wait))) {
            if e.kind() != io::ErrorKind::Interrupted {
                return Err(e.into());
            }
        }
        for _ in 0..4096 {
            match sock.recv_from(&mut buf) {
                Ok((n, from)) => {
                    if from.ip() != opts.upf.ip() {
                        foreign += 1;
                        continue;
                    }
                    sim.datagram(now(), &buf[..n], &mut out);
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) if e.kind() == io::ErrorKind::ConnectionRefused => {
                    // ICMP port unreachable from an earlier send: the UPF
                    // is not listening (yet); retransmissions carry on.
                    continue;
                }
                Err(e) => return Err(e.into()),
            }
        }
        queue.extend(out.drain(..));
        flush(&sock, opts.upf, &mut queue, &mut send_errors);
        if opts.progress && last_progress.elapsed() >= Duration::from_secs(1) {
            last_progress = Instant::now();
            let r = sim.report();
            let mut e = io::stderr().lock();
            let _ = writeln!(
                e,
                "smfsim: {:?}: established {}/{} ({} refused, {} timed out), modified {}, deleted {}",
                sim.stage(),
                r.established,
                r.sessions,
                r.establishment.rejected,
                r.establishment.timeouts,
                r.modification.accepted,
                r.deletion.accepted,
            );
        }
    }
    let mut r = sim.report();
    r.upf = opts.upf.to_string();
    r.local = local.to_string();
    r.sessions_file = opts.sessions_file.as_ref().map(|p| p.display().to_string());
    r.node.malformed += foreign;
    if sim.stage() != Stage::Done {
        r.ok = false;
    }
    if send_errors > 0 {
        r.ok = false;
        r.failures.push(crate::report::Failure {
            procedure: "socket",
            session: None,
            cause: None,
            detail: format!("{send_errors} datagrams could not be sent"),
        });
    }
    Ok(r)
}

fn flush(sock: &mio::net::UdpSocket, to: SocketAddr, q: &mut VecDeque<Vec<u8>>, errors: &mut u64) {
    while let Some(d) = q.front() {
        match sock.send_to(d, to) {
            Ok(_) => {
                q.pop_front();
            }
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => return,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(_) => {
                *errors += 1;
                q.pop_front();
            }
        }
    }
}
