//! The namespace end-to-end test of the dataplane again, with the DPDK
//! backend: the UPF's two ports are `net_af_packet` virtual devices on the
//! veths of its namespace, opened by the EAL (`--no-huge`, no PCI) from the
//! configuration. Two workers and two queue pairs per port: the kernel
//! spreads frames over the queues by its own flow hash, the backend's
//! software dispatch hands each frame to its natural worker (TEID % 2, UE
//! address % 2), and a session whose TEID lands on the wrong worker is
//! handed to its owner by a redirect entry. Needs root; one EAL, so its own
//! test binary.
#![cfg(have_dpdk)]

use std::net::{Ipv4Addr, SocketAddr, UdpSocket};
use std::time::Duration;

use upf_config::Config;
use upf_ctrl::{ClientEnd, Command, SLOT_PFCP};
use upf_dataplane::Dataplane;
use upf_rules::*;
use upf_testkit::packets::{gpdu as gtp, udp4 as inner, BasicSession};
use upf_testkit::Lab;
use upf_wire::gtpu::{Header, PduSessionInfo};
use upf_wire::ipv4;

/// The tests of this binary run one after the other: starting processes
/// (`ip`) while another thread is inside `rte_eal_init` can fail.
static SERIAL: std::sync::Mutex<()> = std::sync::Mutex::new(());

const GNB: Ipv4Addr = Ipv4Addr::new(198, 18, 3, 1);
const UPF_N3: Ipv4Addr = Ipv4Addr::new(198, 18, 3, 2);
const DN: Ipv4Addr = Ipv4Addr::new(198, 18, 6, 1);

fn config(run_dir: &str, workers: u32) -> Config {
    let pid = std::process::id();
    let text = format!(
        r#"
[node]
name = "t"
run_dir = "{run_dir}"
state_dir = "{run_dir}/state"
[dataplane]
backend = "dpdk"
workers = {workers}
[dataplane.dpdk]
eal_args = ["--no-huge", "-m", "512", "--no-pci", "--no-telemetry", "--no-shconf", "-l", "0",
            "--log-level=notice", "--file-prefix", "upf-ns{pid}"]
mempool_size = 8191
mempool_cache = 64
rx_descriptors = 512
tx_descriptors = 512
[[dataplane.interfaces]]
name = "n3"
role = "n3"
device = "net_af_packet0,iface=u3,qpairs={workers}"
addresses = ["198.18.3.2/24"]
[[dataplane.interfaces]]
name = "n6"
role = "n6"
device = "net_af_packet1,iface=u6,qpairs={workers}"
addresses = ["198.18.6.2/24"]
gateway4 = "198.18.6.1"
network_instances = ["internet"]
"#
    );
    Config::from_str_named(&text, "test.toml").unwrap()
}

fn rules(seid: u64, ue: Ipv4Addr, ul_teid: u32, dl_teid: u32) -> SessionRules {
    BasicSession {
        seid,
        ue,
        upf_n3: UPF_N3,
        gnb: GNB,
        ul_teid,
        dl_teid,
        qfi: 5,
        network_instance: Some("internet"),
        counted: true,
    }
    .rules()
}

#[test]
fn uplink_and_downlink_through_namespaces_over_dpdk_af_packet() {
    let _serial = SERIAL.lock().unwrap_or_else(|p| p.into_inner());
    let Some(mut lab) = Lab::new("dpdk") else {
        return;
    };
    lab.add_ns("gnb");
    lab.add_ns("upf");
    lab.add_ns("dn");
    lab.veth("gnb", "g0", "upf", "u3");
    lab.veth("upf", "u6", "dn", "d0");
    lab.addr("gnb", "g0", "198.18.3.1/24");
    lab.addr("dn", "d0", "198.18.6.1/24");
    lab.route("dn", "198.19.0.0/16", "198.18.6.2");
    lab.no_ipv6("upf", "u3");
    lab.no_ipv6("upf", "u6");
    let run_dir = format!("/tmp/upf-dpdkns-{}", std::process::id());
    let cfg = config(&run_dir, 2);
    let dp = lab.run_in("upf", move || {
        Dataplane::start(&cfg).expect("start dataplane over DPDK")
    });
    let _ = std::fs::remove_dir(format!("/var/run/dpdk/upf-ns{}", std::process::id()));

    // Link state of both af_packet vdevs is read through DPDK.
    let status = dp.port_status.clone().expect("DPDK port status");
    let ports = status();
    assert_eq!(ports.len(), 2);
    assert!(
        ports
            .iter()
            .all(|p| p.link_up && p.driver == "net_af_packet"),
        "{ports:?}"
    );

    let mut client = ClientEnd::attach(std::path::Path::new(&run_dir), SLOT_PFCP).unwrap();
    // Session A: UE .5 (odd, worker 1 owns it), TEID 0x1001 (odd) lands on
    // its owner. Session B: UE .6 (worker 0), TEID 0x3001 lands on worker 1,
    // which holds a redirect to worker 0.
    let ue_a = Ipv4Addr::new(198, 19, 0, 5);
    let ue_b = Ipv4Addr::new(198, 19, 0, 6);
    for (req, seid, ue, ul, dl) in [
        (1, 0xa, ue_a, 0x1001u32, 0x2002u32),
        (2, 0xb, ue_b, 0x3001, 0x4004),
    ] {
        let ack = client
            .request(
                &Command::SessionPut {
                    req,
                    rules: rules(seid, ue, ul, dl),
                },
                Duration::from_secs(5),
                |_| {},
            )
            .unwrap();
        assert!(matches!(ack, Some(Ok(_))), "install: {ack:?}");
    }

    let dn_sock = lab.run_in("dn", || {
        let s = UdpSocket::bind("198.18.6.1:9000").unwrap();
        s.set_read_timeout(Some(Duration::from_secs(3))).unwrap();
        s
    });
    let gnb_sock = lab.run_in("gnb", || {
        let s = UdpSocket::bind("198.18.3.1:2152").unwrap();
        s.set_read_timeout(Some(Duration::from_secs(3))).unwrap();
        s
    });
    let n3: SocketAddr = "198.18.3.2:2152".parse().unwrap();
    let mut buf = [0u8; 2048];
    let mut inner_lens = Vec::new();
    for (ue, teid, dl_teid, tag) in [
        (ue_a, 0x1001u32, 0x2002u32, "a"),
        (ue_b, 0x3001, 0x4004, "b"),
    ] {
        // Uplink: ARP for the UPF's N3 address is answered by the UPF.
        let payload = format!("uplink-{tag}");
        let ul_inner = inner(ue, DN, 5000, 9000, payload.as_bytes());
        let mut got = None;
        for _ in 0..10 {
            gnb_sock.send_to(&gtp(teid, 9, &ul_inner), n3).unwrap();
            if let Ok((n, from)) = dn_sock.recv_from(&mut buf) {
                got = Some((buf[..n].to_vec(), from));
                break;
            }
        }
        let (p, from) = got.unwrap_or_else(|| panic!("uplink {tag} reached the data network"));
        assert_eq!(p, payload.as_bytes());
        assert_eq!(from, SocketAddr::from((ue, 5000)));
        // Downlink: tunnelled to the gNB with the session's TEID and QFI.
        let dl = format!("downlink-{tag}");
        dn_sock
            .send_to(dl.as_bytes(), SocketAddr::from((ue, 5000)))
            .unwrap();
        let (n, from) = gnb_sock
            .recv_from(&mut buf)
            .expect("downlink GTP-U at the gNB");
        assert_eq!(from, n3);
        let h = Header::parse(&buf[..n]).unwrap();
        assert_eq!(h.teid, dl_teid);
        assert_eq!(
            h.ext.pdu_session,
            Some(PduSessionInfo::Downlink {
                qfi: 5,
                rqi: false,
                ppi: None
            })
        );
        let dl_inner = &buf[h.payload_offset..n];
        let ih = ipv4::Ipv4Repr::parse(dl_inner, true).unwrap();
        assert_eq!((ih.src, ih.dst), (DN, ue));
        assert_eq!(&dl_inner[28..], dl.as_bytes());
        inner_lens.push((ul_inner.len() as u64, (28 + dl.len()) as u64));
    }

    // Exact usage on deletion: one packet each way per session, so nothing
    // was duplicated or lost by the dispatch and redirect hops.
    for (i, seid) in [0xa_u64, 0xb].into_iter().enumerate() {
        let ack = client
            .request(
                &Command::SessionDelete {
                    req: 10 + i as u64,
                    seid,
                },
                Duration::from_secs(5),
                |_| {},
            )
            .unwrap();
        let Some(Ok(body)) = ack else {
            panic!("delete: {ack:?}")
        };
        let v = body.usage[0].volume.unwrap();
        assert_eq!(v.uplink_packets, 1, "{seid:#x} {v:?}");
        assert_eq!(v.uplink_octets, inner_lens[i].0);
        assert_eq!(v.downlink_packets, 1);
        assert_eq!(v.downlink_octets, inner_lens[i].1);
    }
    // The devices counted the traffic.
    std::thread::sleep(Duration::from_millis(120));
    let ports = status();
    assert!(
        ports.iter().all(|p| p.rx_packets >= 2 && p.tx_packets >= 2),
        "{ports:?}"
    );
    let snaps: Vec<_> = dp
        .snapshots
        .iter()
        .map(|s| s.lock().unwrap().clone())
        .collect();
    let handed: u64 = snaps.iter().map(|s| s.stats.handed_off).sum();
    assert!(handed >= 1, "session B's uplink went through its redirect");
    drop(client);
    dp.shutdown();
    let _ = std::fs::remove_dir_all(&run_dir);
}

#[test]
fn start_errors_name_the_configuration_key() {
    let _serial = SERIAL.lock().unwrap_or_else(|p| p.into_inner());
    if !upf_testkit::is_root() {
        eprintln!("skipping: the EAL needs root here");
        return;
    }
    let run_dir = format!("/tmp/upf-dpdkerr-{}", std::process::id());
    // Same EAL arguments as the other test of this process (one EAL).
    // Only vdevs of this test (the other test owns net_af_packet0/1).
    let mut cfg = config(&run_dir, 2);
    cfg.dataplane.interfaces[0].device = "net_null3".into();
    cfg.dataplane.interfaces[1].device = "net_nosuchdriver9".into();
    let e = Dataplane::start(&cfg)
        .err()
        .expect("unknown driver refused");
    let s = e.to_string();
    assert!(s.starts_with("dataplane.interfaces[1].device: "), "{s}");
    assert!(s.contains("net_nosuchdriver9"), "{s}");

    let mut cfg = config(&run_dir, 2);
    cfg.dataplane.interfaces[1].device = "net_null5".into();
    cfg.dataplane.dpdk.mempool_size = 1024;
    cfg.dataplane.interfaces[0].device = "net_null4".into();
    let e = Dataplane::start(&cfg)
        .err()
        .expect("too small a pool refused");
    assert!(
        e.to_string()
            .starts_with("dataplane.dpdk.mempool_size: 1024 mbufs per worker"),
        "{e}"
    );

    let mut cfg = config(&run_dir, 2);
    cfg.dataplane.interfaces[0].device = "net_null6".into();
    cfg.dataplane.interfaces[1].device = "net_null7".into();
    cfg.dataplane.dpdk.eal_args = vec!["--no-huge".into()];
    let e = Dataplane::start(&cfg).err().expect("second EAL refused");
    assert!(
        e.to_string()
            .starts_with("dataplane.dpdk.eal_args: the EAL was already initialised"),
        "{e}"
    );
    let _ = std::fs::remove_dir(format!("/var/run/dpdk/upf-ns{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&run_dir);
}
