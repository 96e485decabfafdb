//! Instruction counts of the node (for `valgrind --tool=callgrind`): runs
//! `N` standard establishments (argument 1; argument 2 "full" also encodes
//! the command and the journal record) and exits. The difference of two
//! runs divided by the difference of N is the cost of one establishment:
//!
//! ```text
//! valgrind --tool=callgrind --callgrind-out-file=/dev/null target/release/examples/node_instr 2000 full
//! valgrind --tool=callgrind --callgrind-out-file=/dev/null target/release/examples/node_instr 12000 full
//! ```

use std::net::{Ipv4Addr, SocketAddr};
use std::time::{Duration, Instant};

use pfcp_codec::ie::NodeId;
use pfcp_codec::msg::{self as m, Message, Pdu};
use pfcp_ctl::bench::Template;
use pfcp_ctl::journal::{self, Restored};
use pfcp_ctl::node::{Allowed, FailurePolicy, Node, NodeConfig, Out};
use pfcp_ctl::session::Endpoints;
use upf_ctrl::msg::{AckBody, Command, Event};

const SMF: Ipv4Addr = Ipv4Addr::new(198, 18, 4, 1);

fn config() -> NodeConfig {
    NodeConfig {
        node_id: NodeId::Ipv4(Ipv4Addr::new(198, 18, 4, 2)),
        heartbeat_interval_ms: 10_000,
        heartbeat_retries: 3,
        request_timeout_ms: 3000,
        request_retries: 3,
        failure_policy: FailurePolicy::Keep(300_000),
        allowed: vec![Allowed {
            addr: Some(SMF.into()),
            node_id: None,
        }],
        endpoints: Endpoints {
            n3_v4: Some(Ipv4Addr::new(198, 18, 3, 2)),
            workers: 4,
            ..Default::default()
        },
        max_sessions: 100_000_000,
        pools: vec![upf_config::UePool {
            network_instance: Some("internet".into()),
            dnn: None,
            ipv4: Some("10.0.0.0/8".parse().unwrap()),
            ipv6: None,
            ipv6_prefix_len: 64,
        }],
        fseid_v4: Some(Ipv4Addr::new(198, 18, 4, 2)),
        fseid_v6: None,
        max_request_rate: 0,
    }
}

/// A node with the SMF associated.
fn node(from: SocketAddr) -> Node {
    let mut n = Node::new(config(), Restored::default(), 3_900_000_000, 0);
    let mut out = Vec::new();
    let a = Pdu::node(
        1,
        Message::AssociationSetupRequest(m::AssociationSetupRequest {
            node_id: NodeId::Ipv4(SMF),
            recovery_time_stamp: pfcp_codec::ie::RecoveryTimeStamp(1),
            ..Default::default()
        }),
    );
    n.datagram(0, from, &a.to_bytes(), &mut out);
    n
}

/// Runs `iters` establishments on a fresh node; returns the time taken.
fn establishments(iters: u64, full: bool) -> Duration {
    let from: SocketAddr = "198.18.4.1:8805".parse().unwrap();
    let mut n = node(from);
    let mut tpl = Template::establishment(NodeId::Ipv4(SMF), SMF, Ipv4Addr::new(198, 18, 3, 1));
    let mut out: Vec<Out> = Vec::with_capacity(8);
    let mut cmd_buf = Vec::with_capacity(1024);
    let mut journal_buf = Vec::with_capacity(4096);
    let start = Instant::now();
    for i in 0..iters {
        tpl.patch((i % 0x00ff_fffe) as u32 + 2, i + 1);
        n.datagram(0, from, &tpl.bytes, &mut out);
        let mut req = 0;
        for o in out.drain(..) {
            if let Out::Dp(c) = o {
                if full {
                    let _ = upf_ctrl::msg::encode(&c, &mut cmd_buf);
                }
                if let Command::SessionPut { req: r, .. } = c {
                    req = r;
                }
            }
        }
        n.dp_event(
            0,
            Event::Ack {
                req,
                result: Ok(AckBody::default()),
            },
            &mut out,
        );
        for o in out.drain(..) {
            match o {
                Out::JournalSession(seid) if full => {
                    if let Some(st) = n.session(seid) {
                        journal::encode_session(seid, st, &mut journal_buf);
                    }
                    journal_buf.clear();
                }
                Out::Send { data, .. } => {
                    std::hint::black_box(data);
                }
                _ => {}
            }
        }
    }
    let t = start.elapsed();
    assert_eq!(
        n.session_count() as u64,
        iters,
        "every establishment accepted"
    );
    if std::env::var_os("RSS").is_some() {
        let rss = std::fs::read_to_string("/proc/self/status")
            .unwrap_or_default()
            .lines()
            .find(|l| l.starts_with("VmRSS"))
            .map(|l| l.to_string())
            .unwrap_or_default();
        eprintln!("{iters} sessions held: {rss}");
    }
    // Free the node outside the timing.
    // Not freed: the process exits, and the count is of establishments only.
    std::mem::forget(n);
    t
}

fn main() {
    let mut a = std::env::args().skip(1);
    let n: u64 = a.next().and_then(|x| x.parse().ok()).unwrap_or(10_000);
    let full = a.next().as_deref() == Some("full");
    sizes();
    let t = establishments(n, full);
    eprintln!("{n} establishments in {t:?}");
}

#[allow(dead_code)]
fn sizes() {
    use std::mem::size_of;
    eprintln!(
        "SessionState {} SessionRules {} Pdr {} Far {} Urr {} Qer {}",
        size_of::<pfcp_ctl::session::SessionState>(),
        size_of::<upf_rules::SessionRules>(),
        size_of::<upf_rules::Pdr>(),
        size_of::<upf_rules::Far>(),
        size_of::<upf_rules::Urr>(),
        size_of::<upf_rules::Qer>()
    );
}
