//! pktgen over a veth pair between two namespaces, without a UPF: every
//! packet is accounted in both directions, and bad interfaces, namespaces
//! and sessions files give clear errors. Needs root.

mod common;

use std::path::Path;
use std::time::Duration;

use common::*;
use upf_testkit::Lab;

fn bin() -> &'static Path {
    Path::new(env!("CARGO_BIN_EXE_pktgen"))
}

#[test]
fn every_packet_of_both_directions_is_accounted() {
    let Some(mut lab) = Lab::new("pgveth") else {
        return;
    };
    lab.add_ns("a");
    lab.add_ns("b");
    lab.veth("a", "va", "b", "vb");
    lab.no_ipv6("a", "va");
    lab.no_ipv6("b", "vb");
    let scratch = Scratch::new("veth");
    let s = scratch.path("s.json");
    sessions(200, &s);
    let (n3, n6) = (format!("va@{}", lab.ns("a")), format!("vb@{}", lab.ns("b")));
    let (rc, r, err) = pktgen(
        bin(),
        &scratch,
        "run",
        &[
            "run",
            "-s",
            s.to_str().unwrap(),
            "--n3",
            &n3,
            "--n6",
            &n6,
            "--no-upf",
            "--rate",
            "20k",
            "--count",
            "20000",
            "--imix",
            "--flows",
            "all",
            "-q",
        ],
        Duration::from_secs(60),
    );
    assert_eq!(rc, 0, "{err}");
    let r = r.unwrap();
    assert_eq!(r["ok"], true, "{r:#}");
    for d in ["ul", "dl"] {
        let x = direction(&r, d);
        assert_eq!(u(&x["tx"]["packets"]), 20000, "{d}");
        assert_eq!(u(&x["rx"]["unique"]), 20000, "{d}: {x:#}");
        assert_eq!(u(&x["rx"]["lost"]), 0);
        assert_eq!(u(&x["rx"]["duplicates"]), 0);
        assert_eq!(u(&x["rx"]["latency_ns"]["count"]), 20000);
        assert!(u(&x["rx"]["latency_ns"]["p50"]) > 0);
        assert!(u(&x["rx"]["latency_ns"]["max"]) >= u(&x["rx"]["latency_ns"]["p99_9"]));
        // Paced at 20k pps: about a second of sending.
        let pps = f(&x["tx"]["pps"]);
        assert!((15_000.0..=21_000.0).contains(&pps), "{d} pps {pps}");
        assert_eq!(u(&x["flows"]), 200);
    }
    // The flow list has every session in both directions, 100 packets each.
    let flows = r["flows"].as_array().unwrap();
    assert_eq!(flows.len(), 400);
    assert!(flows
        .iter()
        .all(|fl| u(&fl["sent"]) == 100 && u(&fl["received"]) == 100));
    // Looped back, the uplink arrives still in GTP-U and the downlink plain;
    // the receivers checked TEIDs and UE addresses and found nothing wrong.
    for p in ["n3", "n6"] {
        let c = &port(&r, p)["received"];
        assert_eq!(u(&c["ours"]), 20000, "{p}: {c:#}");
        assert_eq!(
            u(&c["wrong_teid"]) + u(&c["wrong_ue"]) + u(&c["wrong_encapsulation"]),
            0
        );
        assert_eq!(u(&c["warmup"]), 200, "one warm-up packet per flow");
    }
    // IMIX: the mean inner size of 64:7,576:4,1400:1.
    let mean = (7.0 * 64.0 + 4.0 * 576.0 + 1400.0) / 12.0;
    assert!(
        (f(&r["mean_size"]) - mean).abs() < 1e-6,
        "{}",
        r["mean_size"]
    );
}

#[test]
fn bad_ports_and_sessions_are_clear_errors() {
    let Some(mut lab) = Lab::new("pgerr") else {
        return;
    };
    lab.add_ns("a");
    lab.add_ns("b");
    lab.veth("a", "va", "b", "vb");
    let dir = Scratch::new("err");
    let s = dir.path("s.json");
    sessions(4, &s);
    let (a, b) = (lab.ns("a"), lab.ns("b"));
    let run = |tag: &str, n3: &str, n6: &str, extra: &[&str]| {
        let mut args = vec![
            "run",
            "-s",
            s.to_str().unwrap(),
            "--n3",
            n3,
            "--n6",
            n6,
            "--count",
            "10",
            "-q",
        ];
        args.extend_from_slice(extra);
        pktgen(bin(), &dir, tag, &args, Duration::from_secs(30))
    };
    // An interface that does not exist in that namespace.
    let (rc, _, err) = run(
        "noif",
        &format!("nosuch0@{a}"),
        &format!("vb@{b}"),
        &["--no-upf"],
    );
    assert_eq!(rc, 1, "{err}");
    assert!(
        err.contains("n3 port nosuch0@") && err.contains("nosuch0"),
        "{err}"
    );
    // A namespace that does not exist.
    let (rc, _, err) = run(
        "nons",
        "va@no-such-ns-pktgen",
        &format!("vb@{b}"),
        &["--no-upf"],
    );
    assert_eq!(rc, 1);
    assert!(
        err.contains("network namespace \"no-such-ns-pktgen\""),
        "{err}"
    );
    // Through a UPF that is not there: nobody answers ARP for its N3 address.
    let (rc, _, err) = run(
        "noupf",
        &format!("va@{a}"),
        &format!("vb@{b}"),
        &["--direction", "ul", "--resolve-timeout", "500ms"],
    );
    assert_eq!(rc, 1);
    assert!(err.contains("no ARP reply from 198.18.3.2"), "{err}");
    // A packet size too small for the headers and the stamp.
    let (rc, _, err) = run(
        "small",
        &format!("va@{a}"),
        &format!("vb@{b}"),
        &["--no-upf", "--size", "50"],
    );
    assert_eq!(rc, 1);
    assert!(err.contains("size 50"), "{err}");
    // A sessions file that is not one.
    std::fs::write(
        dir.path("bad.json"),
        "{\"format\": \"other/9\", \"sessions\": []}",
    )
    .unwrap();
    let (rc, _, err) = pktgen(
        bin(),
        &dir,
        "badfile",
        &[
            "run",
            "-s",
            dir.path("bad.json").to_str().unwrap(),
            "--n3",
            "va",
            "--n6",
            "vb",
        ],
        Duration::from_secs(10),
    );
    assert_eq!(rc, 2);
    assert!(err.contains("bad.json"), "{err}");
}
