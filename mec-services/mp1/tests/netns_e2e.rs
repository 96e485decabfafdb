//! Mp1 end to end through a real dataplane: a gNB, the UPF, a data network
//! and a MEC app host in their own network namespaces (veth pairs,
//! AF_PACKET ports), the session pushed on pfcp-ctl's control slot, the
//! sidecar in process on the MEC slot. Needs root.
//!
//! 1. app1 registers a service; app2, subscribed to service availability,
//!    discovers it and gets the ADDED notification;
//! 2. a UE flow to the service address 203.0.113.10:7000 reaches the data
//!    network (nothing local matches it);
//! 3. app1 activates its traffic rule: the same flow now reaches the MEC
//!    host namespace through the UPF (decapsulated), while a flow to port
//!    7001 still goes to the data network; the MEC app's reply reaches the
//!    UE down its tunnel;
//! 4. app1 deactivates the rule: the flow goes to the data network again;
//! 5. app1 activates its DNS rule: a UE query for cache.edge.example gets
//!    the edge answer from the UPF (decoded independently by scapy), while
//!    a query for another name passes through to the data network;
//! 6. app1 is terminated: its DNS rule leaves the dataplane and the query
//!    reaches the resolver.

mod common;

use std::net::{Ipv4Addr, SocketAddr, UdpSocket};
use std::time::Duration;

use common::*;
use hyper::Method;
use serde_json::json;
use upf_ctrl::{ClientEnd, Command, SLOT_PFCP};
use upf_dataplane::Dataplane;
use upf_rules::*;
use upf_testkit::packets::{gpdu, udp4, BasicSession};
use upf_testkit::Lab;
use upf_wire::gtpu::Header;
use upf_wire::ipv4;

const UE: Ipv4Addr = Ipv4Addr::new(198, 19, 0, 5);
const GNB: Ipv4Addr = Ipv4Addr::new(198, 18, 3, 1);
const UPF_N3: Ipv4Addr = Ipv4Addr::new(198, 18, 3, 2);
const SERVICE: Ipv4Addr = Ipv4Addr::new(203, 0, 113, 10);
const RESOLVER: Ipv4Addr = Ipv4Addr::new(198, 18, 6, 1);

fn lab_config(dir: &std::path::Path, run_dir: &str) -> upf_config::Config {
    std::fs::write(dir.join("app1.json"), DESCRIPTOR_E2E).unwrap();
    let d = dir.display();
    let text = format!(
        r#"
[node]
name = "e2e"
run_dir = "{run_dir}"
state_dir = "{d}/state"
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
addresses = ["198.18.3.2/24"]
[[dataplane.interfaces]]
name = "n6"
role = "n6"
device = "u6"
addresses = ["198.18.6.2/24"]
gateway4 = "198.18.6.1"
network_instances = ["internet"]
[[dataplane.interfaces]]
name = "mec"
role = "mec"
device = "um"
addresses = ["198.18.9.2/24"]
network_instances = ["mec"]
[mec]
listen = "127.0.0.1:0"
admin_listen = "127.0.0.1:0"
auth = "bearer"
network_instance = "mec"
notify_timeout_ms = 500
[[mec.apps]]
instance_id = "app1"
token = "tok1"
descriptor = "{d}/app1.json"
[[mec.apps]]
instance_id = "app2"
token = "tok2"
"#
    );
    upf_config::Config::from_str_named(&text, "e2e.toml").unwrap()
}

const DESCRIPTOR_E2E: &str = r#"{
 "appTrafficRule": [{"trafficRuleId": "to-edge", "filterType": "FLOW", "priority": 1,
   "trafficFilter": [{"srcAddress": ["198.19.0.0/16"], "dstAddress": ["203.0.113.10"],
                      "dstPort": ["7000"], "protocol": ["UDP"]}],
   "action": "FORWARD_DECAPSULATED",
   "dstInterface": {"interfaceType": "IP", "dstIpAddress": "198.18.9.50"}, "state": "INACTIVE"}],
 "appDNSRule": [{"dnsRuleId": "cache", "domainName": "cache.edge.example", "ipAddressType": "IP_V4",
   "ipAddress": "198.18.9.50", "ttl": 30, "state": "INACTIVE"}]}"#;

fn session() -> SessionRules {
    BasicSession {
        seid: 0xe2e,
        ue: UE,
        upf_n3: UPF_N3,
        gnb: GNB,
        ul_teid: 0x1001,
        dl_teid: 0x2002,
        qfi: 9,
        network_instance: Some("internet"),
        counted: false,
    }
    .rules()
}

fn inner(dst: Ipv4Addr, sport: u16, dport: u16, payload: &[u8]) -> Vec<u8> {
    udp4(UE, dst, sport, dport, payload)
}

fn gtp(inner: &[u8]) -> Vec<u8> {
    gpdu(0x1001, 9, inner)
}

fn bound(lab: &Lab, ns: &str, addr: &str) -> UdpSocket {
    let addr = addr.to_string();
    lab.run_in(ns, move || {
        let s = UdpSocket::bind(&addr).unwrap();
        s.set_read_timeout(Some(Duration::from_millis(300)))
            .unwrap();
        s
    })
}

fn drain(s: &UdpSocket) {
    let mut b = [0u8; 2048];
    s.set_nonblocking(true).unwrap();
    while s.recv_from(&mut b).is_ok() {}
    s.set_nonblocking(false).unwrap();
}

/// Sends `pkt` from the gNB until `rx` receives `want` (bounded); true if
/// it did. Packets arriving at `other` in the meantime are returned.
fn deliver(gnb: &UdpSocket, pkt: &[u8], rx: &UdpSocket, want: &[u8]) -> bool {
    let n3: SocketAddr = "198.18.3.2:2152".parse().unwrap();
    let mut b = [0u8; 2048];
    for _ in 0..10 {
        gnb.send_to(&gtp(pkt), n3).unwrap();
        while let Ok((n, _)) = rx.recv_from(&mut b) {
            if &b[..n] == want {
                return true;
            }
        }
    }
    false
}

/// Nothing with payload `want` arrives at `s` within ~300 ms.
fn silent(s: &UdpSocket, want: &[u8]) -> bool {
    let mut b = [0u8; 2048];
    while let Ok((n, _)) = s.recv_from(&mut b) {
        if &b[..n] == want {
            return false;
        }
    }
    true
}

fn scapy_dns(inner_ip: &[u8]) -> String {
    let script = r#"
import sys
from scapy.all import IP, UDP, DNS
p = IP(bytes.fromhex(sys.argv[1]))
raw_cksum = p[UDP].chksum
del p[UDP].chksum
ok = IP(bytes(p))[UDP].chksum == raw_cksum
d = p[DNS]
an = d.an[0]
print(f"{p.src} {p.dst} {p[UDP].sport} {p[UDP].dport} qr={d.qr} id={d.id} ancount={d.ancount} "
      f"qname={d.qd[0].qname.decode()} rrname={an.rrname.decode()} type={an.type} ttl={an.ttl} "
      f"rdata={an.rdata} udp_checksum_ok={ok}")
"#;
    let hex: String = inner_ip.iter().map(|b| format!("{b:02x}")).collect();
    let out = std::process::Command::new("python3")
        .args(["-c", script, &hex])
        .output()
        .expect("python3 with scapy");
    assert!(
        out.status.success(),
        "scapy: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).trim().to_string()
}

/// Waits (bounded) until the dataplane's published counters satisfy `f`
/// (they are published every 10 ms).
fn stat(dp: &Dataplane, f: impl Fn(&upf_dataplane::ControlStats) -> bool) -> bool {
    for _ in 0..100 {
        if f(&dp.control.lock().unwrap()) {
            return true;
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    false
}

fn dns_query(id: u16, name: &str) -> Vec<u8> {
    let mut q = vec![
        (id >> 8) as u8,
        id as u8,
        0x01,
        0x00,
        0,
        1,
        0,
        0,
        0,
        0,
        0,
        0,
    ];
    for l in name.split('.') {
        q.push(l.len() as u8);
        q.extend_from_slice(l.as_bytes());
    }
    q.extend_from_slice(&[0, 0, 1, 0, 1]);
    q
}

#[test]
fn mp1_rules_steer_live_traffic_through_the_upf() {
    let Some(mut lab) = Lab::new("mp1e") else {
        return;
    };
    for ns in ["gnb", "upf", "dn", "mec"] {
        lab.add_ns(ns);
    }
    lab.veth("gnb", "g0", "upf", "u3");
    lab.veth("upf", "u6", "dn", "d0");
    lab.veth("upf", "um", "mec", "m0");
    lab.addr("gnb", "g0", "198.18.3.1/24");
    lab.addr("dn", "d0", "198.18.6.1/24");
    lab.addr("mec", "m0", "198.18.9.50/24");
    // The service address exists in the data network and at the edge.
    lab.addr("dn", "lo", "203.0.113.10/32");
    lab.addr("mec", "lo", "203.0.113.10/32");
    lab.route("dn", "198.19.0.0/16", "198.18.6.2");
    lab.route("mec", "198.19.0.0/16", "198.18.9.2");
    for d in ["u3", "u6", "um"] {
        lab.no_ipv6("upf", d);
    }
    let dir = TempDir::new("e2e");
    let run_dir = format!("{}/run", dir.path().display());
    let cfg = lab_config(dir.path(), &run_dir);
    let dcfg = cfg.clone();
    let dp = lab.run_in("upf", move || Dataplane::start(&dcfg).expect("dataplane"));

    let mut pfcp = ClientEnd::attach(std::path::Path::new(&run_dir), SLOT_PFCP).unwrap();
    let ack = pfcp
        .request(
            &Command::SessionPut {
                req: 1,
                rules: session(),
            },
            Duration::from_secs(5),
            |_| {},
        )
        .unwrap();
    assert!(matches!(ack, Some(Ok(_))), "session: {ack:?}");

    let gnb = bound(&lab, "gnb", "198.18.3.1:2152");
    let dn7000 = bound(&lab, "dn", "203.0.113.10:7000");
    let dn7001 = bound(&lab, "dn", "203.0.113.10:7001");
    let dns_dn = bound(&lab, "dn", "198.18.6.1:53");
    let mec7000 = bound(&lab, "mec", "203.0.113.10:7000");

    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let sidecar = rt.block_on(async {
        mec_services::start(
            &cfg,
            mec_services::StartOptions {
                dataplane: true,
                apply_wait: Duration::from_millis(500),
                notify_backoff: Duration::from_millis(50),
            },
        )
        .await
        .unwrap()
    });
    let b = format!("http://{}", sidecar.addr);
    let link = sidecar.core.dataplane().unwrap().clone();
    for _ in 0..100 {
        if link.attached() {
            break;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    assert!(link.attached(), "the sidecar attached to the dataplane");

    // 1. Registration, discovery, notification.
    rt.block_on(async {
        let cb = callback(0, false).await;
        let r = call(
            Method::POST,
            &format!("{b}/mec_service_mgmt/v1/applications/app2/subscriptions"),
            Some("tok2"),
            Some(
                &json!({"subscriptionType": "SerAvailabilityNotificationSubscription",
                "callbackReference": cb.url, "filteringCriteria": {"serNames": ["edge-echo"]}}),
            ),
        )
        .await;
        assert_eq!(r.status, 201);
        let mut svc = service_body("edge-echo");
        svc["transportInfo"]["endpoint"] =
            json!({"addresses": [{"host": "203.0.113.10", "port": 7000}]});
        let r = call(
            Method::POST,
            &format!("{b}/mec_service_mgmt/v1/applications/app1/services"),
            Some("tok1"),
            Some(&svc),
        )
        .await;
        assert_eq!(r.status, 201);
        let id = r.body["serInstanceId"].as_str().unwrap().to_string();
        let found = call(
            Method::GET,
            &format!("{b}/mec_service_mgmt/v1/services?ser_name=edge-echo"),
            Some("tok2"),
            None,
        )
        .await;
        assert_eq!(found.body[0]["serInstanceId"], id.as_str());
        assert_eq!(
            found.body[0]["transportInfo"]["endpoint"]["addresses"][0]["host"],
            "203.0.113.10"
        );
        let n = cb.wait(1, Duration::from_secs(5)).await;
        assert_eq!(n.len(), 1, "app2 was notified");
        assert_eq!(n[0]["serviceReferences"][0]["serInstanceId"], id.as_str());
        assert_eq!(n[0]["serviceReferences"][0]["changeType"], "ADDED");
    });

    // 2. Before the rule: the flow goes to the data network.
    let to_7000 = inner(SERVICE, 5000, 7000, b"flow-a");
    assert!(deliver(&gnb, &to_7000, &dn7000, b"flow-a"), "DN before");
    assert!(silent(&mec7000, b"flow-a"));

    // 3. Activate the traffic rule.
    let put_rule = |state: &str| {
        let url = format!("{b}/mec_app_support/v1/applications/app1/traffic_rules/to-edge");
        rt.block_on(async {
            let mut r = call(Method::GET, &url, Some("tok1"), None).await.body;
            r["state"] = json!(state);
            let r = call(Method::PUT, &url, Some("tok1"), Some(&r)).await;
            assert_eq!(r.status, 200, "{}", r.body);
        })
    };
    put_rule("ACTIVE");
    assert!(
        stat(&dp, |c| c.steering_rules == 1),
        "one steering rule in the dataplane"
    );
    drain(&dn7000);
    let to_7000 = inner(SERVICE, 5000, 7000, b"flow-b");
    assert!(
        deliver(&gnb, &to_7000, &mec7000, b"flow-b"),
        "MEC app after activation"
    );
    assert!(silent(&dn7000, b"flow-b"), "not in the data network");
    let to_7001 = inner(SERVICE, 5000, 7001, b"flow-c");
    assert!(
        deliver(&gnb, &to_7001, &dn7001, b"flow-c"),
        "other flows stay on N6"
    );
    // The MEC app answers; the reply goes down the UE's tunnel.
    mec7000
        .send_to(b"edge-reply", SocketAddr::from((UE, 5000)))
        .unwrap();
    let mut buf = [0u8; 2048];
    let mut reply = None;
    while let Ok((n, from)) = gnb.recv_from(&mut buf) {
        let h = Header::parse(&buf[..n]).unwrap();
        if buf[h.payload_offset + 28..n] == *b"edge-reply" {
            reply = Some((h.teid, from, buf[h.payload_offset..n].to_vec()));
            break;
        }
    }
    let (teid, from, ip) = reply.expect("the MEC app's reply reached the gNB");
    assert_eq!(teid, 0x2002);
    assert_eq!(from, "198.18.3.2:2152".parse::<SocketAddr>().unwrap());
    let ih = ipv4::Ipv4Repr::parse(&ip, true).unwrap();
    assert_eq!((ih.src, ih.dst), (SERVICE, UE));

    // 4. Deactivate: back to the data network.
    put_rule("INACTIVE");
    assert!(
        stat(&dp, |c| c.steering_rules == 0),
        "no steering rule left"
    );
    drain(&mec7000);
    let to_7000 = inner(SERVICE, 5000, 7000, b"flow-d");
    assert!(
        deliver(&gnb, &to_7000, &dn7000, b"flow-d"),
        "DN after deactivation"
    );
    assert!(silent(&mec7000, b"flow-d"));

    // 5. Edge DNS.
    rt.block_on(async {
        let url = format!("{b}/mec_app_support/v1/applications/app1/dns_rules/cache");
        let mut r = call(Method::GET, &url, Some("tok1"), None).await.body;
        r["state"] = json!("ACTIVE");
        assert_eq!(
            call(Method::PUT, &url, Some("tok1"), Some(&r)).await.status,
            200
        );
    });
    assert!(
        stat(&dp, |c| c.dns_rules == 1),
        "one DNS rule in the dataplane"
    );
    drain(&gnb);
    let q = inner(
        RESOLVER,
        33333,
        53,
        &dns_query(0xbeef, "cache.edge.example"),
    );
    let n3: SocketAddr = "198.18.3.2:2152".parse().unwrap();
    let mut answer = None;
    for _ in 0..10 {
        gnb.send_to(&gtp(&q), n3).unwrap();
        if let Ok((n, _)) = gnb.recv_from(&mut buf) {
            let h = Header::parse(&buf[..n]).unwrap();
            answer = Some((h.teid, buf[h.payload_offset..n].to_vec()));
            break;
        }
    }
    let (teid, ip) = answer.expect("an edge DNS answer down the tunnel");
    assert_eq!(teid, 0x2002);
    let decoded = scapy_dns(&ip);
    assert_eq!(
        decoded,
        "198.18.6.1 198.19.0.5 53 33333 qr=1 id=48879 ancount=1 qname=cache.edge.example. \
         rrname=cache.edge.example. type=1 ttl=30 rdata=198.18.9.50 udp_checksum_ok=True"
    );
    assert!(silent(&dns_dn, &dns_query(0xbeef, "cache.edge.example")));
    // Another name passes through untouched to the resolver.
    let other = dns_query(0x1234, "www.example.org");
    let q2 = inner(RESOLVER, 33334, 53, &other);
    assert!(
        deliver(&gnb, &q2, &dns_dn, &other),
        "other queries pass through"
    );

    rt.block_on(sidecar.shutdown());
    drop(rt);
    drop(pfcp);
    dp.shutdown();
}
