//! The dataplane's workers over DPDK `net_pcap` devices: captures of GTP-U
//! (uplink) and plain IP (downlink) built by scapy go in, the captures the
//! devices write come out and are decoded by tshark, which must see exactly
//! the decapsulated and encapsulated packets, in order per flow, with good
//! checksums and no malformed packet or expert info.
//!
//! Two workers: each pcap device has one receive queue (worker 0 reads it
//! and dispatches frames to their natural worker) and one transmit queue
//! (file) per worker. Sessions are installed in the workers before they
//! start, as the control thread would (including a redirect), because a
//! pcap device is read as soon as it is polled. One EAL: its own binary.
#![cfg(have_dpdk)]

use std::net::{IpAddr, Ipv4Addr};
use std::path::Path;
use std::process::Command;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use upf_config::Config;
use upf_ctrl::spsc;
use upf_dataplane::workers::{self, Ctx, WorkerSnapshot};
use upf_dataplane::Clock;
use upf_engine::{compile, LookupKey, Output, Worker, WorkerConfig, WorkerEvent, WorkerUpdate};
use upf_io::dpdk::Mbuf;
use upf_io::PortIo;
use upf_rules::*;

const GNB: Ipv4Addr = Ipv4Addr::new(198, 18, 3, 1);
const UPF_N3: Ipv4Addr = Ipv4Addr::new(198, 18, 3, 2);
const DN: Ipv4Addr = Ipv4Addr::new(198, 18, 6, 1);
const GNB_MAC: [u8; 6] = [0x02, 0, 0, 0, 3, 1];
const DN_MAC: [u8; 6] = [0x02, 0, 0, 0, 6, 1];
const PER_SESSION: usize = 5;
/// (UE, uplink TEID, downlink TEID): UE .6 and .8 are owned by worker 0,
/// .5 and .7 by worker 1; TEID 0x301 lands on worker 1 and is redirected.
const SESSIONS: [(Ipv4Addr, u32, u32); 4] = [
    (Ipv4Addr::new(198, 19, 0, 5), 0x101, 0x9001),
    (Ipv4Addr::new(198, 19, 0, 6), 0x200, 0x9002),
    (Ipv4Addr::new(198, 19, 0, 7), 0x103, 0x9003),
    (Ipv4Addr::new(198, 19, 0, 8), 0x301, 0x9004),
];

fn config(dir: &str) -> Config {
    let pid = std::process::id();
    let text = format!(
        r#"
[node]
name = "pcap"
run_dir = "{dir}"
[dataplane]
backend = "dpdk"
workers = 2
[dataplane.dpdk]
eal_args = ["--no-huge", "-m", "512", "--no-pci", "--no-telemetry", "--no-shconf", "-l", "0",
            "--log-level=notice", "--file-prefix", "upf-pc{pid}"]
mempool_size = 4095
mempool_cache = 32
rx_descriptors = 256
tx_descriptors = 256
[[dataplane.interfaces]]
name = "n3"
role = "n3"
mac = "02:00:00:00:03:02"
device = "net_pcap0,rx_pcap={dir}/n3_in.pcap,tx_pcap={dir}/n3_out0.pcap,tx_pcap={dir}/n3_out1.pcap"
addresses = ["198.18.3.2/24"]
[[dataplane.interfaces]]
name = "n6"
role = "n6"
mac = "02:00:00:00:06:02"
device = "net_pcap1,rx_pcap={dir}/n6_in.pcap,tx_pcap={dir}/n6_out0.pcap,tx_pcap={dir}/n6_out1.pcap"
addresses = ["198.18.6.2/24"]
gateway4 = "198.18.6.1"
network_instances = ["internet"]
"#
    );
    Config::from_str_named(&text, "pcap.toml").unwrap()
}

fn rules(seid: u64, ue: Ipv4Addr, ul_teid: u32, dl_teid: u32) -> SessionRules {
    let pdr = |id, src, ul: bool, far| Pdr {
        id,
        precedence: 100,
        pdi: Pdi {
            source_interface: Some(src),
            local_fteid: ul.then_some(LocalFteid {
                teid: ul_teid,
                ipv4: Some(UPF_N3),
                ipv6: None,
            }),
            ue_ip: Some(UeIp {
                ipv4: Some(ue),
                ipv6: None,
                is_destination: !ul,
            }),
            ..Default::default()
        },
        outer_header_removal: ul.then_some(OuterHeaderRemoval::GtpuUdpIp),
        far_id: Some(far),
        urr_ids: vec![1],
        qer_ids: vec![1],
    };
    let far = |id, dst, ohc| Far {
        id,
        apply_action: ApplyAction(ApplyAction::FORW),
        forwarding: Some(ForwardingParameters {
            destination_interface: dst,
            network_instance: (dst == Interface::Core).then(|| "internet".into()),
            outer_header_creation: ohc,
            transport_level_marking: None,
            forwarding_policy: None,
            send_end_marker: false,
        }),
        ..Default::default()
    };
    SessionRules {
        seid,
        pdrs: vec![
            pdr(1, Interface::Access, true, 1),
            pdr(2, Interface::Core, false, 2),
        ],
        fars: vec![
            far(1, Interface::Core, None),
            far(
                2,
                Interface::Access,
                Some(OuterHeaderCreation {
                    kind: OuterHeaderKind::GtpuUdpIpv4,
                    teid: dl_teid,
                    ipv4: Some(GNB),
                    ipv6: None,
                    port: None,
                }),
            ),
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

fn mac_str(m: [u8; 6]) -> String {
    m.iter()
        .map(|b| format!("{b:02x}"))
        .collect::<Vec<_>>()
        .join(":")
}

/// tshark fields of every frame of `files`, one Vec per frame.
fn tshark(files: &[String], fields: &[&str]) -> Vec<Vec<String>> {
    tshark_filtered(files, None, fields)
}

/// tshark fields of the frames of `files` that match `filter`.
fn tshark_filtered(files: &[String], filter: Option<&str>, fields: &[&str]) -> Vec<Vec<String>> {
    let mut rows = Vec::new();
    for f in files {
        let mut args = vec![
            "-r".to_string(),
            f.clone(),
            "-o".into(),
            "ip.check_checksum:TRUE".into(),
            "-o".into(),
            "udp.check_checksum:TRUE".into(),
            "-T".into(),
            "fields".into(),
            "-E".into(),
            "separator=|".into(),
        ];
        if let Some(y) = filter {
            args.push("-Y".into());
            args.push(y.to_string());
        }
        for x in fields {
            args.push("-e".into());
            args.push(x.to_string());
        }
        let out = Command::new("tshark")
            .args(&args)
            .output()
            .expect("run tshark");
        assert!(
            out.status.success(),
            "tshark: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        for line in String::from_utf8_lossy(&out.stdout).lines() {
            rows.push(line.split('|').map(str::to_string).collect());
        }
    }
    rows
}

fn payload(hex: &str) -> String {
    let h: String = hex.chars().filter(|c| *c != ':').collect();
    let bytes: Vec<u8> = (0..h.len() / 2)
        .map(|i| u8::from_str_radix(&h[2 * i..2 * i + 2], 16).unwrap())
        .collect();
    String::from_utf8(bytes).unwrap()
}

#[test]
fn pcap_in_pcap_out_decoded_by_tshark() {
    let dir = format!("/tmp/upf-dpdk-pcap-{}", std::process::id());
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    // 1. Input captures from scapy.
    let scenario = serde_json::json!({
        "per_session": PER_SESSION,
        "sessions": SESSIONS.iter().map(|(ue, ul, dl)| serde_json::json!({
            "ue": ue.to_string(), "ul_teid": ul, "dl_teid": dl})).collect::<Vec<_>>(),
        "gnb": GNB.to_string(), "upf_n3": UPF_N3.to_string(), "dn": DN.to_string(),
        "gnb_mac": mac_str(GNB_MAC), "dn_gw_mac": mac_str(DN_MAC),
        "upf_n3_mac": "02:00:00:00:03:02", "upf_n6_mac": "02:00:00:00:06:02",
        "unknown_teid": 0x7777,
    });
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../scripts/tests/dpdk_pcap_gen.py");
    let mut child = Command::new("python3")
        .arg(&script)
        .arg(&dir)
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .expect("python3 with scapy (scripts/install-deps.sh)");
    use std::io::Write;
    child
        .stdin
        .take()
        .unwrap()
        .write_all(scenario.to_string().as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(out.status.success(), "scapy generator failed");
    let counts: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let n_in = counts["n3"].as_u64().unwrap() + counts["n6"].as_u64().unwrap();
    assert_eq!(n_in, (2 * SESSIONS.len() * PER_SESSION + 2) as u64);

    // 2. DPDK ports and two workers with the sessions installed.
    let cfg = config(&dir);
    let opened = upf_dataplane::dpdk::open(&cfg).expect("open pcap ports");
    let _ = std::fs::remove_dir(format!("/var/run/dpdk/upf-pc{}", std::process::id()));
    let topo = upf_dataplane::topo::build(&cfg, Some(&opened.macs)).unwrap();
    let n = 2usize;
    let stop = Arc::new(AtomicBool::new(false));
    let clock = Clock::new();
    let mut hand_tx: Vec<Vec<Option<spsc::Producer<Mbuf>>>> =
        (0..n).map(|_| (0..n).map(|_| None).collect()).collect();
    let mut hand_rx: Vec<Vec<spsc::Consumer<Mbuf>>> = (0..n).map(|_| Vec::new()).collect();
    for (from, outs) in hand_tx.iter_mut().enumerate() {
        for (to, slot) in outs.iter_mut().enumerate() {
            if from != to {
                let (p, c) = spsc::channel::<Mbuf>(1024);
                *slot = Some(p);
                hand_rx[to].push(c);
            }
        }
    }
    let mut threads = Vec::new();
    let mut snaps = Vec::new();
    let mut event_rx = Vec::new();
    let mut upd_keep = Vec::new();
    for (w, (mut io, (hin, hout))) in opened
        .workers
        .into_iter()
        .zip(hand_rx.into_iter().zip(hand_tx))
        .enumerate()
    {
        let mut worker: Worker<Mbuf> = Worker::new(
            WorkerConfig {
                id: w as u32,
                ..WorkerConfig::default()
            },
            topo.clone(),
        );
        let mut out = Output::new(topo.ports.len(), n);
        for (ip, mac) in [(GNB, GNB_MAC), (Ipv4Addr::new(198, 18, 6, 1), DN_MAC)] {
            let u = WorkerUpdate::Neighbor {
                ip: IpAddr::V4(ip),
                mac,
            };
            worker.apply(0, u, &mut out, io.pool());
        }
        for (i, (ue, ul, dl)) in SESSIONS.iter().enumerate() {
            let c = compile(&rules(i as u64 + 1, *ue, *ul, *dl), &topo, 0).expect("compile");
            let owner = c.owner as usize;
            let natural = (*ul % n as u32) as usize;
            if owner == w {
                let u = WorkerUpdate::Install {
                    req: i as u64,
                    session: Box::new(c),
                };
                worker.apply(0, u, &mut out, io.pool());
            } else if natural == w {
                let u = WorkerUpdate::Redirect {
                    key: LookupKey::Teid(*ul),
                    worker: Some(owner as u32),
                };
                worker.apply(0, u, &mut out, io.pool());
            }
        }
        assert_eq!(out.pending(), 0);
        assert!(worker
            .events
            .drain(..)
            .all(|e| matches!(e, WorkerEvent::Ack { result: Ok(_), .. })));
        let (upd_p, upd_c) = spsc::channel::<WorkerUpdate<Mbuf>>(64);
        let (evt_p, evt_c) = spsc::channel::<WorkerEvent>(4096);
        upd_keep.push(upd_p);
        event_rx.push(evt_c);
        let snap = Arc::new(Mutex::new(WorkerSnapshot::default()));
        snaps.push(snap.clone());
        let ctx = Ctx {
            id: w,
            worker,
            updates: upd_c,
            events: evt_p,
            handoff_in: hin,
            handoff_out: hout,
            snapshot: snap,
            stop: stop.clone(),
            clock,
            busy_poll: false,
            wakeup: None,
        };
        threads.push(std::thread::spawn(move || {
            workers::run(ctx, io, Vec::new())
        }));
    }

    // 3. Run until both devices read their whole capture and the workers
    // have sent everything (bounded).
    let deadline = Instant::now() + Duration::from_secs(20);
    let expect_tx = (2 * SESSIONS.len() * PER_SESSION + 2) as u64;
    loop {
        assert!(Instant::now() < deadline, "pcap devices not drained");
        let st = (opened.status)();
        let rx: u64 = st.iter().map(|p| p.rx_packets).sum();
        let tx: u64 = snaps
            .iter()
            .map(|s| {
                s.lock()
                    .unwrap()
                    .ports
                    .iter()
                    .map(|q| q.tx_packets)
                    .sum::<u64>()
            })
            .sum();
        if rx == n_in && tx >= expect_tx {
            break;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    std::thread::sleep(Duration::from_millis(200));
    stop.store(true, Ordering::Relaxed);
    for t in threads {
        t.join().unwrap();
    }
    let st = (opened.status)();
    assert!(st.iter().all(|p| p.link_up && p.driver == "net_pcap"));
    let dispatched: u64 = snaps
        .iter()
        .map(|s| {
            s.lock()
                .unwrap()
                .ports
                .iter()
                .map(|q| q.rx_dispatched)
                .sum::<u64>()
        })
        .sum();
    assert!(dispatched > 0, "worker 0 passed frames to worker 1");
    // No usage report or error was raised on the way.
    for mut e in event_rx {
        while let Some(ev) = e.pop() {
            assert!(
                !matches!(ev, WorkerEvent::Ack { result: Err(_), .. }),
                "{ev:?}"
            );
        }
    }
    // Closing the ports (last handle) flushes the pcap writers.
    drop(opened.status);

    // 4. tshark's view of what left.
    let n6_out = vec![format!("{dir}/n6_out0.pcap"), format!("{dir}/n6_out1.pcap")];
    let n3_out = vec![format!("{dir}/n3_out0.pcap"), format!("{dir}/n3_out1.pcap")];
    let all: Vec<String> = n6_out.iter().chain(&n3_out).cloned().collect();
    // With checksum validation on, a bad checksum is expert info too.
    let experts = tshark_filtered(
        &all,
        Some("_ws.malformed or _ws.expert"),
        &["frame.number", "_ws.expert.message"],
    );
    assert!(experts.is_empty(), "tshark expert info: {experts:?}");
    let ul = tshark(
        &n6_out,
        &[
            "eth.src",
            "eth.dst",
            "ip.src",
            "ip.dst",
            "udp.srcport",
            "udp.dstport",
            "data.data",
            "gtp.teid",
        ],
    );
    assert_eq!(ul.len(), SESSIONS.len() * PER_SESSION, "{ul:?}");
    let mut next = [0usize; 4];
    for r in &ul {
        assert_eq!(r[0], "02:00:00:00:06:02");
        assert_eq!(r[1], mac_str(DN_MAC));
        assert_eq!(r[3], DN.to_string());
        assert_eq!(r[5], "9000");
        assert_eq!(r[7], "", "no GTP-U left on N6");
        let i: usize = r[4].parse::<usize>().unwrap() - 5000;
        assert_eq!(r[2], SESSIONS[i].0.to_string());
        assert_eq!(
            payload(&r[6]),
            format!("ul-{i}-{}", next[i]),
            "order within a flow"
        );
        next[i] += 1;
    }
    assert_eq!(next, [PER_SESSION; 4]);
    let dl = tshark(
        &n3_out,
        &[
            "eth.src",
            "eth.dst",
            "ip.src",
            "ip.dst",
            "udp.dstport",
            "gtp.message",
            "gtp.teid",
            "gtp.ext_hdr.pdu_ses_con.pdu_type",
            "gtp.ext_hdr.pdu_ses_con.qos_flow_id",
            "data.data",
        ],
    );
    let gpdus: Vec<_> = dl.iter().filter(|r| r[5] == "0xff").collect();
    assert_eq!(gpdus.len(), SESSIONS.len() * PER_SESSION, "{dl:?}");
    let mut next = [0usize; 4];
    for r in gpdus {
        assert_eq!(r[0], "02:00:00:00:03:02");
        assert_eq!(r[1], mac_str(GNB_MAC));
        // Outer then inner IP addresses.
        let src: Vec<&str> = r[2].split(',').collect();
        let dst: Vec<&str> = r[3].split(',').collect();
        assert_eq!(src, [UPF_N3.to_string().as_str(), DN.to_string().as_str()]);
        assert_eq!(dst[0], GNB.to_string());
        let i = SESSIONS
            .iter()
            .position(|s| s.0.to_string() == dst[1])
            .unwrap();
        assert!(r[4].split(',').next() == Some("2152"));
        assert_eq!(
            u32::from_str_radix(r[6].trim_start_matches("0x"), 16).unwrap(),
            SESSIONS[i].2
        );
        assert_eq!(r[7], "0", "downlink PDU Session Container");
        assert_eq!(r[8], "5", "QFI of the QER");
        assert_eq!(payload(&r[9]), format!("dl-{i}-{}", next[i]));
        next[i] += 1;
    }
    assert_eq!(next, [PER_SESSION; 4]);
    let others: Vec<&str> = dl
        .iter()
        .map(|r| r[5].as_str())
        .filter(|m| *m != "0xff")
        .collect();
    let mut others = others;
    others.sort();
    assert_eq!(
        others,
        ["0x02", "0x1a"],
        "an Echo Response and an Error Indication"
    );
    let _ = std::fs::remove_dir_all(&dir);
}
