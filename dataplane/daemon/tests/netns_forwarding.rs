//! The dataplane process logic end to end over real interfaces: a gNB, the
//! UPF and a data network in their own network namespaces, rules pushed
//! through the control channel, GTP-U built by the kernel's UDP stack on
//! the gNB side, ARP resolved by the UPF itself. Needs root.

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

const UE: Ipv4Addr = Ipv4Addr::new(198, 19, 0, 5);
const GNB: Ipv4Addr = Ipv4Addr::new(198, 18, 3, 1);
const UPF_N3: Ipv4Addr = Ipv4Addr::new(198, 18, 3, 2);
const DN: Ipv4Addr = Ipv4Addr::new(198, 18, 6, 1);

fn config(run_dir: &str, workers: u32) -> Config {
    let text = format!(
        r#"
[node]
name = "t"
run_dir = "{run_dir}"
state_dir = "{run_dir}/state"
[dataplane]
workers = {workers}
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
"#
    );
    Config::from_str_named(&text, "test.toml").unwrap()
}

fn rules(seid: u64, ul_teid: u32, dl_teid: u32) -> SessionRules {
    BasicSession {
        seid,
        ue: UE,
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
fn uplink_and_downlink_through_namespaces() {
    let Some(mut lab) = Lab::new("dpfw") else {
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
    let run_dir = format!("/tmp/upf-dpfw-{}", std::process::id());
    let cfg = config(&run_dir, 2);
    let dp = lab.run_in("upf", move || {
        Dataplane::start(&cfg).expect("start dataplane")
    });

    // Install the session over the control channel.
    let mut client = ClientEnd::attach(std::path::Path::new(&run_dir), SLOT_PFCP).unwrap();
    // TEID 0x1001 is odd: with 2 workers and the UE on worker 1 (198.19.0.5
    // is odd) it lands on its owner; 0x2000 would need a redirect.
    let ack = client
        .request(
            &Command::SessionPut {
                req: 1,
                rules: rules(0xabc, 0x1001, 0x2002),
            },
            Duration::from_secs(5),
            |_| {},
        )
        .unwrap();
    assert!(matches!(ack, Some(Ok(_))), "install: {ack:?}");

    // Data network and gNB sockets.
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

    // Uplink: the gNB's kernel resolves the UPF's N3 address by ARP (the
    // UPF answers), the UPF decapsulates and resolves the DN gateway.
    let ul_inner = inner(UE, DN, 5000, 9000, b"uplink-1");
    let n3: SocketAddr = "198.18.3.2:2152".parse().unwrap();
    let mut got = None;
    let mut buf = [0u8; 2048];
    for _ in 0..10 {
        gnb_sock.send_to(&gtp(0x1001, 9, &ul_inner), n3).unwrap();
        if let Ok((n, from)) = dn_sock.recv_from(&mut buf) {
            got = Some((buf[..n].to_vec(), from));
            break;
        }
    }
    let (payload, from) = got.expect("uplink packet reached the data network");
    assert_eq!(payload, b"uplink-1");
    assert_eq!(from, "198.19.0.5:5000".parse::<SocketAddr>().unwrap());

    // Downlink: the DN answers the UE; the UPF tunnels it to the gNB.
    dn_sock.send_to(b"downlink-1", "198.19.0.5:5000").unwrap();
    let (n, from) = gnb_sock
        .recv_from(&mut buf)
        .expect("downlink GTP-U at the gNB");
    assert_eq!(from, n3);
    let h = Header::parse(&buf[..n]).unwrap();
    assert_eq!(h.teid, 0x2002);
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
    assert_eq!((ih.src, ih.dst), (DN, UE));
    assert_eq!(&dl_inner[28..], b"downlink-1");

    // Usage: exactly the inner bytes that crossed, reported on deletion.
    let ack = client
        .request(
            &Command::SessionDelete {
                req: 2,
                seid: 0xabc,
            },
            Duration::from_secs(5),
            |_| {},
        )
        .unwrap();
    let Some(Ok(body)) = ack else {
        panic!("delete: {ack:?}")
    };
    let v = body.usage[0].volume.unwrap();
    assert_eq!(v.uplink_packets, 1, "{v:?}");
    assert_eq!(v.uplink_octets, ul_inner.len() as u64);
    assert_eq!(v.downlink_packets, 1);
    assert_eq!(v.downlink_octets, (28 + b"downlink-1".len()) as u64);

    drop(client);
    dp.shutdown();
    let _ = std::fs::remove_dir_all(&run_dir);
}
