//! End to end through four network namespaces -- gNB, UPF, data network and
//! a MEC app -- with the gNB played by scapy (scripts/tests/e2e_gnb.py), an
//! implementation independent of ours:
//!
//! - IPv4: scapy's G-PDU (GTP-U/UDP/IPv4, PDU Session Container with QFI 9)
//!   enters N3, leaves N6 decapsulated (the DN's socket sees the UE's
//!   address and port), and the DN's reply returns to the gNB as a G-PDU
//!   with the session's downlink TEID and the QER's QFI in a downlink PDU
//!   Session Container (dissected by scapy);
//! - MEC: a flow to the MEC subnet matches a PDR whose FAR forwards to the
//!   local "mec" network instance; it reaches the MEC namespace and the
//!   app's reply returns encapsulated to the gNB;
//! - IPv6: a UE with an IPv6 prefix over an IPv6 N3 (GTP-U/UDP/IPv6), both
//!   ways, with outer header removal 1 (and 6 on the IPv4 session).
//!
//! No static neighbours anywhere: scapy resolves the UPF's N3 addresses by
//! ARP and neighbour discovery, the data network and the MEC app resolve
//! the UPF's N6 and MEC addresses the same way, and the UPF resolves all of
//! them itself. Bounded (each case at most 20 packets, 0.5 s apart), and
//! every namespace is removed at the end, also on failure. Needs root,
//! python3 and scapy (scripts/deps/requirements.txt).

use std::net::{Ipv4Addr, Ipv6Addr, SocketAddr, UdpSocket};
use std::process::Command;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use upf_config::Config;
use upf_ctrl::{ClientEnd, Command as Ctl, SLOT_PFCP};
use upf_dataplane::Dataplane;
use upf_rules::*;
use upf_testkit::Lab;

const UE4: Ipv4Addr = Ipv4Addr::new(198, 19, 0, 5);
const GNB4: Ipv4Addr = Ipv4Addr::new(198, 18, 3, 1);
const UPF_N3_4: Ipv4Addr = Ipv4Addr::new(198, 18, 3, 2);
const DN4: Ipv4Addr = Ipv4Addr::new(198, 18, 6, 1);
const MEC4: Ipv4Addr = Ipv4Addr::new(198, 18, 9, 1);
const UE6: &str = "2001:db8:45:1::5";
const GNB6: &str = "2001:db8:3::1";
const UPF_N3_6: &str = "2001:db8:3::2";
const DN6: &str = "2001:db8:6::1";

fn config(run_dir: &str) -> Config {
    let text = format!(
        r#"
[node]
name = "e2e"
run_dir = "{run_dir}"
state_dir = "{run_dir}/state"
[dataplane]
workers = 2
buffers = 1024
[dataplane.af_packet]
block_size = 65536
block_count = 4
[[dataplane.interfaces]]
name = "n3"
role = "n3"
device = "u3"
addresses = ["198.18.3.2/24", "2001:db8:3::2/64"]
[[dataplane.interfaces]]
name = "n6"
role = "n6"
device = "u6"
addresses = ["198.18.6.2/24", "2001:db8:6::2/64"]
gateway4 = "198.18.6.1"
gateway6 = "2001:db8:6::1"
network_instances = ["internet"]
[[dataplane.interfaces]]
name = "mec"
role = "mec"
device = "um"
addresses = ["198.18.9.2/24"]
network_instances = ["mec"]
"#
    );
    Config::from_str_named(&text, "e2e.toml").expect("config")
}

fn fwd(dest: Interface, ni: Option<&str>, ohc: Option<OuterHeaderCreation>) -> Far {
    Far {
        id: 0,
        apply_action: ApplyAction(ApplyAction::FORW),
        forwarding: Some(ForwardingParameters {
            destination_interface: dest,
            network_instance: ni.map(Into::into),
            outer_header_creation: ohc,
            transport_level_marking: None,
            forwarding_policy: None,
            send_end_marker: false,
        }),
        ..Default::default()
    }
}

fn pdr(id: u16, precedence: u32, pdi: Pdi, ohr: Option<OuterHeaderRemoval>, far: u32) -> Pdr {
    Pdr {
        id,
        precedence,
        pdi,
        outer_header_removal: ohr,
        far_id: Some(far),
        urr_ids: vec![1],
        qer_ids: vec![1],
    }
}

/// The IPv4 session: default uplink to the internet, uplink to the MEC
/// subnet to the "mec" network instance, downlink to the gNB with QFI 5.
fn session_v4() -> SessionRules {
    let ue = UeIp {
        ipv4: Some(UE4),
        ipv6: None,
        is_destination: false,
    };
    let fteid = LocalFteid {
        teid: 0x1001,
        ipv4: Some(UPF_N3_4),
        ipv6: None,
    };
    let ul = |filters| Pdi {
        source_interface: Some(Interface::Access),
        local_fteid: Some(fteid),
        ue_ip: Some(ue),
        sdf_filters: filters,
        ..Default::default()
    };
    let mec_filter = SdfFilter {
        flow: Some(
            "permit out ip from 198.18.9.0/24 to assigned"
                .parse()
                .unwrap(),
        ),
        ..Default::default()
    };
    SessionRules {
        seid: 0xa,
        pdrs: vec![
            pdr(1, 200, ul(vec![]), Some(OuterHeaderRemoval::GtpuUdpIp), 1),
            pdr(
                3,
                10,
                ul(vec![mec_filter]),
                Some(OuterHeaderRemoval::GtpuUdpIp),
                3,
            ),
            pdr(
                2,
                200,
                Pdi {
                    source_interface: Some(Interface::Core),
                    ue_ip: Some(UeIp {
                        is_destination: true,
                        ..ue
                    }),
                    ..Default::default()
                },
                None,
                2,
            ),
        ],
        fars: vec![
            Far {
                id: 1,
                ..fwd(Interface::Core, Some("internet"), None)
            },
            Far {
                id: 2,
                ..fwd(
                    Interface::Access,
                    None,
                    Some(OuterHeaderCreation {
                        kind: OuterHeaderKind::GtpuUdpIpv4,
                        teid: 0x2002,
                        ipv4: Some(GNB4),
                        ipv6: None,
                        port: None,
                    }),
                )
            },
            Far {
                id: 3,
                ..fwd(Interface::Core, Some("mec"), None)
            },
        ],
        qers: vec![Qer {
            id: 1,
            qfi: Some(5),
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
    }
}

/// The IPv6 session: a /64 for the UE, tunnels over IPv6, QFI 7.
fn session_v6() -> SessionRules {
    let ue = UeIp {
        ipv4: None,
        ipv6: Some("2001:db8:45:1::/64".parse().unwrap()),
        is_destination: false,
    };
    let mut s = session_v4();
    s.seid = 0xb;
    s.pdrs = vec![
        pdr(
            1,
            200,
            Pdi {
                source_interface: Some(Interface::Access),
                local_fteid: Some(LocalFteid {
                    teid: 0x3001,
                    ipv4: None,
                    ipv6: Some(UPF_N3_6.parse().unwrap()),
                }),
                ue_ip: Some(ue),
                ..Default::default()
            },
            Some(OuterHeaderRemoval::GtpuUdpIpv6),
            1,
        ),
        pdr(
            2,
            200,
            Pdi {
                source_interface: Some(Interface::Core),
                ue_ip: Some(UeIp {
                    is_destination: true,
                    ..ue
                }),
                ..Default::default()
            },
            None,
            2,
        ),
    ];
    s.fars.truncate(2);
    s.fars[1] = Far {
        id: 2,
        ..fwd(
            Interface::Access,
            None,
            Some(OuterHeaderCreation {
                kind: OuterHeaderKind::GtpuUdpIpv6,
                teid: 0x4004,
                ipv4: None,
                ipv6: Some(GNB6.parse().unwrap()),
                port: None,
            }),
        )
    };
    s.qers[0].qfi = Some(7);
    s
}

/// Datagrams a responder received, with their senders.
type Seen = Arc<Mutex<Vec<(SocketAddr, Vec<u8>)>>>;

/// A UDP responder: answers every datagram with `prefix` + payload and
/// records who sent what.
struct Responder {
    seen: Seen,
    stop: Arc<AtomicBool>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Responder {
    fn start(lab: &Lab, ns: &str, at: SocketAddr, prefix: &'static str) -> Responder {
        let seen: Seen = Arc::default();
        let stop = Arc::new(AtomicBool::new(false));
        let (seen2, stop2) = (seen.clone(), stop.clone());
        let thread = lab.spawn_in(ns, move || {
            let s = UdpSocket::bind(at).expect("bind responder");
            s.set_read_timeout(Some(Duration::from_millis(100)))
                .unwrap();
            let mut buf = [0u8; 2048];
            while !stop2.load(Ordering::Relaxed) {
                if let Ok((n, from)) = s.recv_from(&mut buf) {
                    seen2.lock().unwrap().push((from, buf[..n].to_vec()));
                    let mut reply = prefix.as_bytes().to_vec();
                    reply.extend_from_slice(&buf[..n]);
                    let _ = s.send_to(&reply, from);
                }
            }
        });
        Responder {
            seen,
            stop,
            thread: Some(thread),
        }
    }

    fn seen(&self) -> Vec<(SocketAddr, Vec<u8>)> {
        self.seen.lock().unwrap().clone()
    }
}

impl Drop for Responder {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

fn case(
    name: &str,
    outer: (&str, String, String, u32),
    inner: (&str, String, u16, String, u16),
    payload: &str,
    expect: serde_json::Value,
) -> serde_json::Value {
    serde_json::json!({
        "name": name,
        "outer": outer.0, "gnb": outer.1, "upf": outer.2, "teid": outer.3, "qfi": 9,
        "inner": inner.0, "ue": inner.1, "ue_port": inner.2, "peer": inner.3, "peer_port": inner.4,
        "payload": payload,
        "expect": expect,
    })
}

#[test]
fn scapy_gnb_dn_and_mec_through_namespaces_v4_and_v6() {
    let Some(mut lab) = Lab::new("dpe2e") else {
        return;
    };
    for ns in ["gnb", "upf", "dn", "mec"] {
        lab.add_ns(ns);
    }
    lab.veth("gnb", "g0", "upf", "u3");
    lab.veth("upf", "u6", "dn", "d0");
    lab.veth("upf", "um", "mec", "m0");
    lab.addr("gnb", "g0", "198.18.3.1/24");
    lab.addr("gnb", "g0", "2001:db8:3::1/64");
    lab.addr("dn", "d0", "198.18.6.1/24");
    lab.addr("dn", "d0", "2001:db8:6::1/64");
    lab.addr("mec", "m0", "198.18.9.1/24");
    lab.route("dn", "198.19.0.0/16", "198.18.6.2");
    lab.route("dn", "2001:db8:45::/48", "2001:db8:6::2");
    lab.route("mec", "198.19.0.0/16", "198.18.9.2");
    for dev in ["u3", "u6", "um"] {
        lab.no_ipv6("upf", dev);
    }
    let run_dir = format!("/tmp/upf-dpe2e-{}", std::process::id());
    let cfg = config(&run_dir);
    let dp = lab.run_in("upf", move || {
        Dataplane::start(&cfg).expect("start dataplane")
    });

    let mut client = ClientEnd::attach(std::path::Path::new(&run_dir), SLOT_PFCP).unwrap();
    for (req, rules) in [(1, session_v4()), (2, session_v6())] {
        let ack = client
            .request(
                &Ctl::SessionPut { req, rules },
                Duration::from_secs(5),
                |_| {},
            )
            .unwrap();
        assert!(matches!(ack, Some(Ok(_))), "install {req}: {ack:?}");
    }

    let dn4 = Responder::start(&lab, "dn", SocketAddr::from((DN4, 9000)), "re:");
    let dn6 = Responder::start(
        &lab,
        "dn",
        SocketAddr::new(DN6.parse::<Ipv6Addr>().unwrap().into(), 9001),
        "re:",
    );
    let mec = Responder::start(&lab, "mec", SocketAddr::from((MEC4, 7000)), "mec:");

    let v4 = |s: Ipv4Addr| s.to_string();
    let plan = serde_json::json!({
        "iface": "g0",
        "tries": 20,
        "interval": 0.5,
        "cases": [
            case("ipv4 uplink and reply",
                ("v4", v4(GNB4), v4(UPF_N3_4), 0x1001),
                ("v4", v4(UE4), 5000, v4(DN4), 9000), "ul-v4",
                serde_json::json!({
                    "outer_src": v4(UPF_N3_4), "outer_dst": v4(GNB4), "teid": 0x2002,
                    "psc_type": 0, "qfi": 5, "inner_src": v4(DN4), "inner_dst": v4(UE4),
                    "inner_sport": 9000, "inner_dport": 5000, "payload": "re:ul-v4"})),
            case("mec breakout and reply",
                ("v4", v4(GNB4), v4(UPF_N3_4), 0x1001),
                ("v4", v4(UE4), 5001, v4(MEC4), 7000), "to-mec",
                serde_json::json!({
                    "teid": 0x2002, "psc_type": 0, "qfi": 5, "inner_src": v4(MEC4),
                    "inner_dst": v4(UE4), "inner_sport": 7000, "inner_dport": 5001,
                    "payload": "mec:to-mec"})),
            case("ipv6 ue over ipv6 n3",
                ("v6", GNB6.into(), UPF_N3_6.into(), 0x3001),
                ("v6", UE6.into(), 5002, DN6.into(), 9001), "ul-v6",
                serde_json::json!({
                    "outer_src": UPF_N3_6, "outer_dst": GNB6, "teid": 0x4004, "psc_type": 0,
                    "qfi": 7, "inner_src": DN6, "inner_dst": UE6, "inner_sport": 9001,
                    "inner_dport": 5002, "payload": "re:ul-v6"})),
        ],
    });
    let plan_path = format!("{run_dir}/plan.json");
    std::fs::write(&plan_path, plan.to_string()).unwrap();
    let script = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../scripts/tests/e2e_gnb.py"
    );
    let out = Command::new("timeout")
        .args([
            "120",
            "ip",
            "netns",
            "exec",
            &lab.ns("gnb"),
            "python3",
            script,
            &plan_path,
        ])
        .output()
        .expect("run python3 (scapy)");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    let result: serde_json::Value = serde_json::from_str(stdout.trim())
        .unwrap_or_else(|e| panic!("gNB script output is not JSON ({e}): {stdout}\n{stderr}"));

    // What the far ends saw: decapsulated packets from the UE's addresses.
    let seen4 = dn4.seen();
    let seen6 = dn6.seen();
    let seen_mec = mec.seen();
    drop((dn4, dn6, mec));

    // Usage: the sessions' URRs counted what crossed (reported on deletion).
    let mut volumes = Vec::new();
    for (req, seid) in [(3, 0xa), (4, 0xb)] {
        let ack = client
            .request(
                &Ctl::SessionDelete { req, seid },
                Duration::from_secs(5),
                |_| {},
            )
            .unwrap();
        let Some(Ok(body)) = ack else {
            panic!("delete {seid:#x}: {ack:?}")
        };
        volumes.push(body.usage[0].volume.unwrap());
    }
    drop(client);
    dp.shutdown();
    let _ = std::fs::remove_dir_all(&run_dir);
    drop(lab);

    assert_eq!(result["ok"], true, "gNB cases: {result:#}\n{stderr}");
    assert!(
        seen4
            .iter()
            .any(|(from, p)| *from == SocketAddr::from((UE4, 5000)) && p == b"ul-v4"),
        "DN (IPv4) got {seen4:?}"
    );
    assert!(
        seen6.iter().any(|(from, p)| {
            *from == SocketAddr::new(UE6.parse::<Ipv6Addr>().unwrap().into(), 5002) && p == b"ul-v6"
        }),
        "DN (IPv6) got {seen6:?}"
    );
    assert!(
        seen_mec
            .iter()
            .any(|(from, p)| *from == SocketAddr::from((UE4, 5001)) && p == b"to-mec"),
        "MEC app got {seen_mec:?}"
    );
    // At least one packet each way per flow, and only what the cases sent.
    let (a, b) = (volumes[0], volumes[1]);
    assert!(a.uplink_packets >= 2 && a.downlink_packets >= 2, "{a:?}");
    assert!(b.uplink_packets >= 1 && b.downlink_packets >= 1, "{b:?}");
}
