//! `n4load`: a small over-the-wire load tool for pfcp-ctl (until
//! perf/smfsim covers it). It acts as one SMF: associates, answers
//! heartbeats, and sends the standard Session Establishment (2 PDRs, 2 FARs,
//! 1 QER, 1 URR, the UPF chooses F-TEID and UE address).
//!
//! - `establish`: closed loop, `--window` requests outstanding, until
//!   `--sessions` are established; prints the rate and the RSS of the
//!   processes named by `--pid`;
//! - `latency`: open loop at `--rate` per second for `--seconds`; prints
//!   request-to-response latency percentiles;
//! - `rules`: attaches to the dataplane's control channel (tools slot) and
//!   times rule changes of one session from command to the Ack, which the
//!   dataplane sends after the owning worker applied the rules.

use std::collections::HashMap;
use std::net::{IpAddr, Ipv4Addr, SocketAddr, UdpSocket};
use std::path::PathBuf;
use std::time::{Duration, Instant};

use clap::{Parser, Subcommand};
use hdrhistogram::Histogram;
use pfcp_codec::ie::{NodeId, RecoveryTimeStamp};
use pfcp_codec::msg::{self as m, Message, Pdu};
use pfcp_ctl::bench::Template;

#[derive(Parser)]
struct Cli {
    /// pfcp-ctl's N4 address.
    #[arg(long, default_value = "127.0.0.1:8805")]
    upf: SocketAddr,
    /// Our address (the SMF).
    #[arg(long, default_value = "127.0.0.2:8805")]
    bind: SocketAddr,
    #[command(subcommand)]
    cmd: Cmd,
}

#[derive(Subcommand)]
enum Cmd {
    /// Establish sessions as fast as pfcp-ctl answers.
    Establish {
        /// Sessions to establish.
        #[arg(long, default_value_t = 100_000)]
        sessions: u64,
        /// Requests outstanding.
        #[arg(long, default_value_t = 1024)]
        window: u64,
        /// Processes whose RSS to print at the end (pfcp-ctl, dataplane).
        #[arg(long)]
        pid: Vec<u32>,
        /// First CP SEID (distinct runs against one pfcp-ctl need distinct ones).
        #[arg(long, default_value_t = 1)]
        first_seid: u64,
    },
    /// Establishments at a fixed rate; latency percentiles.
    Latency {
        /// Requests per second.
        #[arg(long, default_value_t = 10_000)]
        rate: u64,
        /// Duration.
        #[arg(long, default_value_t = 10)]
        seconds: u64,
        /// First CP SEID.
        #[arg(long, default_value_t = 1 << 40)]
        first_seid: u64,
    },
    /// Rule change to worker Ack through the control channel.
    Rules {
        /// The dataplane's run directory.
        #[arg(long)]
        run_dir: PathBuf,
        /// Changes to time.
        #[arg(long, default_value_t = 20_000)]
        count: u64,
        /// Pause between changes, µs.
        #[arg(long, default_value_t = 100)]
        pause_us: u64,
    },
}

fn rss_mb(pid: u32) -> f64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmRSS:"))
                .and_then(|l| l.split_whitespace().nth(1))
                .and_then(|v| v.parse::<f64>().ok())
        })
        .map_or(-1.0, |kb| kb / 1024.0)
}

struct Smf {
    sock: UdpSocket,
    upf: SocketAddr,
    node: NodeId,
    smf_v4: Ipv4Addr,
    buf: Vec<u8>,
}

impl Smf {
    fn new(cli: &Cli) -> Smf {
        let sock = UdpSocket::bind(cli.bind).expect("bind");
        let _ = socket2::SockRef::from(&sock).set_recv_buffer_size(16 << 20);
        let _ = socket2::SockRef::from(&sock).set_send_buffer_size(16 << 20);
        sock.set_nonblocking(true).expect("nonblocking");
        let smf_v4 = match cli.bind.ip() {
            IpAddr::V4(a) => a,
            IpAddr::V6(_) => Ipv4Addr::LOCALHOST,
        };
        Smf {
            sock,
            upf: cli.upf,
            node: NodeId::Ipv4(smf_v4),
            smf_v4,
            buf: vec![0; 65536],
        }
    }

    fn associate(&mut self) {
        let p = Pdu::node(
            1,
            Message::AssociationSetupRequest(m::AssociationSetupRequest {
                node_id: self.node.clone(),
                recovery_time_stamp: RecoveryTimeStamp(3_900_000_000),
                ..Default::default()
            }),
        );
        for _ in 0..50 {
            let _ = self.sock.send_to(&p.to_bytes(), self.upf);
            let end = Instant::now() + Duration::from_millis(200);
            while Instant::now() < end {
                if let Some((1, t, cause)) = self.recv() {
                    if t == 6 {
                        assert_eq!(cause, Some(1), "association refused");
                        return;
                    }
                }
            }
        }
        panic!("no association with {}", self.upf);
    }

    /// One datagram: (seq, type, cause of a response); heartbeats answered.
    fn recv(&mut self) -> Option<(u32, u8, Option<u8>)> {
        let (n, from) = self.sock.recv_from(&mut self.buf).ok()?;
        let d = &self.buf[..n];
        let t = *d.get(1)?;
        let s_flag = d.first()? & 0x01 != 0;
        let off = if s_flag { 12 } else { 4 };
        let seq = u32::from_be_bytes([0, *d.get(off)?, *d.get(off + 1)?, *d.get(off + 2)?]);
        if t == 1 {
            let r = Pdu::node(
                seq,
                Message::HeartbeatResponse(m::HeartbeatResponse {
                    recovery_time_stamp: RecoveryTimeStamp(3_900_000_000),
                }),
            );
            let _ = self.sock.send_to(&r.to_bytes(), from);
            return None;
        }
        let cause = match pfcp_codec::decode(d).map(|p| p.msg) {
            Ok(Message::SessionEstablishmentResponse(r)) => Some(r.cause.0),
            Ok(Message::AssociationSetupResponse(r)) => Some(r.cause.0),
            _ => None,
        };
        Some((seq, t, cause))
    }
}

fn establish(cli: &Cli, sessions: u64, window: u64, pids: &[u32], first_seid: u64) {
    let mut smf = Smf::new(cli);
    smf.associate();
    let mut tpl =
        Template::establishment(smf.node.clone(), smf.smf_v4, Ipv4Addr::new(198, 18, 3, 1));
    let start = Instant::now();
    let (mut sent, mut done, mut refused) = (0u64, 0u64, 0u64);
    let mut outstanding: HashMap<u32, Instant> = HashMap::new();
    let mut last_report = Instant::now();
    let mut next_seq = 2u32;
    while done < sessions {
        while sent < sessions && (outstanding.len() as u64) < window {
            let seq = next_seq;
            next_seq = (next_seq % 0x00ff_ffff) + 1;
            tpl.patch(seq, first_seid + sent);
            if smf.sock.send_to(&tpl.bytes, smf.upf).is_err() {
                break;
            }
            outstanding.insert(seq, Instant::now());
            sent += 1;
        }
        let mut got = false;
        while let Some((seq, t, cause)) = smf.recv() {
            if t == 51 && outstanding.remove(&seq).is_some() {
                done += 1;
                got = true;
                if cause != Some(1) {
                    refused += 1;
                }
            }
        }
        // Lost requests (dropped under overload) are sent again.
        if !got {
            let now = Instant::now();
            let late: Vec<u32> = outstanding
                .iter()
                .filter(|(_, t)| now.duration_since(**t) > Duration::from_secs(3))
                .map(|(s, _)| *s)
                .collect();
            for s in late {
                outstanding.remove(&s);
                sent -= 1;
            }
            std::thread::yield_now();
        }
        if last_report.elapsed() >= Duration::from_secs(5) {
            last_report = Instant::now();
            let el = start.elapsed().as_secs_f64();
            eprintln!("{done} sessions in {el:.1}s ({:.0}/s)", done as f64 / el);
        }
    }
    let el = start.elapsed().as_secs_f64();
    println!(
        "established {done} sessions in {el:.2}s: {:.0}/s (refused {refused}, window {window})",
        done as f64 / el
    );
    for p in pids {
        println!("pid {p}: RSS {:.0} MB", rss_mb(*p));
    }
}

fn latency(cli: &Cli, rate: u64, seconds: u64, first_seid: u64) {
    let mut smf = Smf::new(cli);
    smf.associate();
    let mut tpl =
        Template::establishment(smf.node.clone(), smf.smf_v4, Ipv4Addr::new(198, 18, 3, 1));
    let mut h = Histogram::<u64>::new_with_bounds(1, 60_000_000, 3).expect("histogram");
    let total = rate * seconds;
    let period = Duration::from_nanos(1_000_000_000 / rate.max(1));
    let start = Instant::now();
    let mut sent_at: HashMap<u32, Instant> = HashMap::new();
    let (mut sent, mut done, mut refused) = (0u64, 0u64, 0u64);
    let end_by = start + Duration::from_secs(seconds + 5);
    while (done < total) && Instant::now() < end_by {
        let now = Instant::now();
        // Requests due by now (open loop: the schedule does not wait).
        while sent < total && start + period * (sent as u32) <= now {
            let seq = (sent as u32 % 0x00ff_fffe) + 2;
            tpl.patch(seq, first_seid + sent);
            let _ = smf.sock.send_to(&tpl.bytes, smf.upf);
            // Latency from the scheduled time (no coordinated omission).
            sent_at.insert(seq, start + period * (sent as u32));
            sent += 1;
        }
        while let Some((seq, t, cause)) = smf.recv() {
            if t == 51 {
                if let Some(t0) = sent_at.remove(&seq) {
                    let us = Instant::now().duration_since(t0).as_micros() as u64;
                    let _ = h.record(us.max(1));
                    done += 1;
                    if cause != Some(1) {
                        refused += 1;
                    }
                }
            }
        }
        std::hint::spin_loop();
    }
    let el = start.elapsed().as_secs_f64();
    println!(
        "{sent} sent at {rate}/s over {el:.1}s, {done} answered ({refused} refused, {} unanswered)",
        sent - done
    );
    println!(
        "latency µs: p50 {} p90 {} p99 {} p99.9 {} max {}",
        h.value_at_quantile(0.5),
        h.value_at_quantile(0.9),
        h.value_at_quantile(0.99),
        h.value_at_quantile(0.999),
        h.max()
    );
}

fn rules(run_dir: &std::path::Path, count: u64, pause_us: u64) {
    use upf_rules::*;
    let mut c = upf_ctrl::ClientEnd::attach(run_dir, upf_ctrl::SLOT_TOOLS).expect("attach");
    let ue = Ipv4Addr::new(10, 255, 255, 1);
    let mk = |teid: u32| SessionRules {
        seid: 0xfeed_0000_0000_0001,
        pdrs: vec![
            Pdr {
                id: 1,
                precedence: 100,
                pdi: Pdi {
                    source_interface: Some(Interface::Access),
                    local_fteid: Some(LocalFteid {
                        teid: 0x0fff_fff1,
                        ipv4: Some(Ipv4Addr::new(198, 18, 3, 2)),
                        ipv6: None,
                    }),
                    ue_ip: Some(UeIp {
                        ipv4: Some(ue),
                        ipv6: None,
                        is_destination: false,
                    }),
                    ..Default::default()
                },
                outer_header_removal: Some(OuterHeaderRemoval::GtpuUdpIp),
                far_id: Some(1),
                urr_ids: vec![1],
                qer_ids: vec![1],
            },
            Pdr {
                id: 2,
                precedence: 100,
                pdi: Pdi {
                    source_interface: Some(Interface::Core),
                    ue_ip: Some(UeIp {
                        ipv4: Some(ue),
                        ipv6: None,
                        is_destination: true,
                    }),
                    ..Default::default()
                },
                outer_header_removal: None,
                far_id: Some(2),
                urr_ids: vec![1],
                qer_ids: vec![1],
            },
        ],
        fars: vec![
            Far {
                id: 1,
                apply_action: ApplyAction(ApplyAction::FORW),
                forwarding: Some(ForwardingParameters {
                    destination_interface: Interface::Core,
                    network_instance: None,
                    outer_header_creation: None,
                    transport_level_marking: None,
                    forwarding_policy: None,
                    send_end_marker: false,
                }),
                ..Default::default()
            },
            Far {
                id: 2,
                apply_action: ApplyAction(ApplyAction::FORW),
                forwarding: Some(ForwardingParameters {
                    destination_interface: Interface::Access,
                    network_instance: None,
                    outer_header_creation: Some(OuterHeaderCreation {
                        kind: OuterHeaderKind::GtpuUdpIpv4,
                        teid,
                        ipv4: Some(Ipv4Addr::new(198, 18, 3, 1)),
                        ipv6: None,
                        port: None,
                    }),
                    transport_level_marking: None,
                    forwarding_policy: None,
                    send_end_marker: false,
                }),
                ..Default::default()
            },
        ],
        qers: vec![Qer {
            id: 1,
            qfi: Some(9),
            ..Default::default()
        }],
        urrs: vec![Urr {
            id: 1,
            method: MeasurementMethod {
                volume: true,
                duration: false,
                event: false,
            },
            ..Default::default()
        }],
        bar: None,
    };
    let mut h = Histogram::<u64>::new_with_bounds(1, 10_000_000, 3).expect("histogram");
    for i in 0..count + 100 {
        let cmd = upf_ctrl::Command::SessionPut {
            req: i + 1,
            rules: mk(0x1000 + (i as u32 & 0xff)),
        };
        let t0 = Instant::now();
        let ack = c
            .request(&cmd, Duration::from_secs(5), |_| {})
            .expect("control channel");
        let us = t0.elapsed().as_nanos() as u64 / 1000;
        match ack {
            Some(Ok(_)) => {}
            other => panic!("rule change {i}: {other:?}"),
        }
        if i >= 100 {
            let _ = h.record(us.max(1));
        }
        if pause_us > 0 {
            std::thread::sleep(Duration::from_micros(pause_us));
        }
    }
    let _ = c.request(
        &upf_ctrl::Command::SessionDelete {
            req: u64::MAX - 1,
            seid: 0xfeed_0000_0000_0001,
        },
        Duration::from_secs(5),
        |_| {},
    );
    println!(
        "{count} rule changes, command to worker Ack µs: p50 {} p90 {} p99 {} p99.9 {} max {}",
        h.value_at_quantile(0.5),
        h.value_at_quantile(0.9),
        h.value_at_quantile(0.99),
        h.value_at_quantile(0.999),
        h.max()
    );
}

fn main() {
    let cli = Cli::parse();
    match &cli.cmd {
        Cmd::Establish {
            sessions,
            window,
            pid,
            first_seid,
        } => establish(&cli, *sessions, *window, pid, *first_seid),
        Cmd::Latency {
            rate,
            seconds,
            first_seid,
        } => latency(&cli, *rate, *seconds, *first_seid),
        Cmd::Rules {
            run_dir,
            count,
            pause_us,
        } => rules(run_dir, *count, *pause_us),
    }
}
