//! The whole chain in namespaces: pktgen's gNB side <-> upf-dataplane
//! (AF_PACKET) + pfcp-ctl <-> pktgen's data network side, with smfsim
//! setting up the sessions over N4 and modifying some of them while
//! traffic flows. Shows that churn loses no packet of the sessions that
//! are not changed, that the modified FARs take effect on the data path,
//! that the UPF's usage reports match what pktgen sent, and that traffic
//! not matching the sessions file is reported. Needs root and the
//! workspace binaries (upf-dataplane, pfcp-ctl, smfsim).

mod common;

use std::io::{BufRead, BufReader, Write};
use std::os::unix::net::UnixStream;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use common::*;
use serde_json::Value;
use upf_smfsim::sessions::SessionsFile;
use upf_testkit::{workspace_bin, Lab, Proc};

fn in_ns(ns: &str, bin: &Path) -> Command {
    let mut c = Command::new("ip");
    c.args(["netns", "exec", ns]).arg(bin);
    c
}

/// One request on an admin socket (pfcp-ctl's or the dataplane's).
fn admin(sock: &Path, req: &str) -> Option<Value> {
    let mut s = UnixStream::connect(sock).ok()?;
    s.set_read_timeout(Some(Duration::from_secs(2))).ok()?;
    writeln!(s, "{req}").ok()?;
    let text: String = BufReader::new(s).lines().map_while(Result::ok).collect();
    serde_json::from_str(&text).ok()
}

fn attached(sock: &Path) -> bool {
    admin(sock, "status").is_some_and(|v| v["dataplane_attached"] == true)
}

#[test]
fn churn_under_traffic_loses_no_packet_of_steady_sessions() {
    let Some(mut lab) = Lab::new("pge2e") else {
        return;
    };
    for n in ["gnb", "upf", "dn"] {
        lab.add_ns(n);
    }
    lab.veth("gnb", "g0", "upf", "u3");
    lab.veth("upf", "u6", "dn", "d0");
    for (n, d) in [("gnb", "g0"), ("upf", "u3"), ("upf", "u6"), ("dn", "d0")] {
        lab.no_ipv6(n, d);
    }
    let dir = Scratch::new("e2e");
    let run = dir.path("run");
    let cfg = dir.path("upf.toml");
    std::fs::write(
        &cfg,
        format!(
            r#"
[node]
name = "pktgen-e2e"
run_dir = "{run}"
state_dir = "{state}"
[logging]
level = "info"
[dataplane]
backend = "af_packet"
workers = 2
buffers = 8192
# Many small blocks: a block goes to the worker after 1 ms even when
# nearly empty, so at low rates the block count is how many ms of a
# descheduled worker (debug build, busy machine) the ring rides out.
[dataplane.af_packet]
block_size = 65536
block_count = 128
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
[pfcp]
listen = ["127.0.0.1:8805"]
node_id = "127.0.0.1"
journal_fsync = "never"
heartbeat_interval = "2s"
[[ue_pools]]
network_instance = "internet"
ipv4 = "198.19.0.0/16"
"#,
            run = run.display(),
            state = dir.path("state").display()
        ),
    )
    .unwrap();
    let upf = lab.ns("upf");
    let log = |n: &str| std::fs::File::create(dir.path(n)).unwrap();
    let _dp = Proc::spawn(
        "upf-dataplane",
        in_ns(&upf, &workspace_bin("upf-dataplane"))
            .args(["run", "-c"])
            .arg(&cfg)
            .stdout(log("dp.out"))
            .stderr(log("dp.err")),
    );
    let _ctl = Proc::spawn(
        "pfcp-ctl",
        in_ns(&upf, &workspace_bin("pfcp-ctl"))
            .args(["run", "-c"])
            .arg(&cfg)
            .stdout(log("ctl.out"))
            .stderr(log("ctl.err")),
    );
    let end = Instant::now() + Duration::from_secs(20);
    while !attached(&run.join("pfcp.sock")) {
        assert!(
            Instant::now() < end,
            "pfcp-ctl did not attach; logs in {}",
            dir.0.display()
        );
        std::thread::sleep(Duration::from_millis(100));
    }

    // smfsim: 64 sessions; sessions 0-7 churn (downlink FAR TEID and QER
    // MBR) from 2 s to 6 s after establishment while pktgen runs.
    let sessions = dir.path("sessions.json");
    let smf_json = dir.path("smfsim.json");
    let mut smf = Proc::spawn(
        "smfsim",
        in_ns(&upf, &workspace_bin("smfsim"))
            .args([
                "--upf",
                "127.0.0.1:8805",
                "-n",
                "64",
                "--rate",
                "2000",
                "--hold",
                "14s",
                "--urr-period",
                "3",
            ])
            .args([
                "--churn",
                "0-7",
                "--churn-rate",
                "40",
                "--churn-start",
                "2s",
                "--churn-duration",
                "4s",
            ])
            .args(["-q", "--timeout", "60s", "-o"])
            .arg(&sessions)
            .arg("--json")
            .arg(&smf_json)
            .stdout(Stdio::null())
            .stderr(log("smfsim.err")),
    );
    let end = Instant::now() + Duration::from_secs(15);
    while !sessions.exists() {
        assert!(Instant::now() < end, "no sessions file from smfsim");
        std::thread::sleep(Duration::from_millis(50));
    }
    let file = SessionsFile::load(&sessions).unwrap();
    assert_eq!(file.sessions.len(), 64);
    let (n3, n6) = (
        format!("g0@{}", lab.ns("gnb")),
        format!("d0@{}", lab.ns("dn")),
    );
    let pk = Path::new(env!("CARGO_BIN_EXE_pktgen"));
    let s = sessions.to_str().unwrap();
    let (rc, r, err) = pktgen(
        pk,
        &dir,
        "main",
        &[
            "run",
            "-s",
            s,
            "--n3",
            &n3,
            "--n6",
            &n6,
            "--n6-peer-ip",
            "198.18.6.2",
            "--rate",
            "4k",
            "--duration",
            "6s",
            "-q",
        ],
        Duration::from_secs(40),
    );
    let r = r.unwrap_or_else(|| panic!("no pktgen report: {err}"));
    // The UPF's own counters, to tell its drops from the path's.
    let workers = admin(&run.join("dataplane.sock"), "workers").unwrap_or(Value::Null);
    let upf_drops = workers.to_string();
    eprintln!(
        "pktgen: {}\nflows with loss: {}\nupf workers: {upf_drops}",
        serde_json::to_string(&r["directions"]).unwrap_or_default(),
        r["flows"]
    );
    assert_eq!(rc, 0, "{err}\n{r:#}");
    // Frames the kernel dropped because a UPF worker did not read its ring
    // in time (CPU starvation of the debug build on a busy machine): loss
    // the UPF itself reports, whatever the sessions do.
    let upf_missed: u64 = workers
        .as_array()
        .map(|w| {
            w.iter()
                .flat_map(|x| x["ports"].as_array().cloned().unwrap_or_default())
                .map(|p| p["rx_missed"].as_u64().unwrap_or(0))
                .sum()
        })
        .unwrap_or(0);
    if upf_missed > 0 {
        eprintln!("warning: the UPF's receive rings overflowed ({upf_missed} frames): loss up to that is the UPF's starvation");
    }
    let mut steady_lost = 0;
    for d in ["ul", "dl"] {
        let x = direction(&r, d);
        let sent = u(&x["tx"]["packets"]);
        assert!(sent >= 20_000, "{d}: {sent} sent");
        // The claim: churn of sessions 0-7 costs the others nothing.
        let steady = &x["rx"]["steady"];
        assert_eq!(u(&steady["sessions"]), 56);
        steady_lost += u(&steady["lost"]);
        assert_eq!(u(&x["rx"]["churned"]["sessions"]), 8);
        eprintln!("{d}: churned sessions lost {}", x["rx"]["churned"]["lost"]);
        assert_eq!(u(&x["rx"]["duplicates"]), 0);
        assert_eq!(u(&x["rx"]["latency_ns"]["count"]), u(&x["rx"]["packets"]));
    }
    assert!(
        steady_lost <= upf_missed,
        "steady sessions lost {steady_lost} packets, the UPF's rings only {upf_missed}\nflows: {}\nUPF workers: {upf_drops}",
        r["flows"]
    );
    // The churned downlink FARs switched TEIDs while traffic flowed.
    let n3c = &port(&r, "n3")["received"];
    assert!(
        u(&n3c["alt_teid"]) > 0,
        "no downlink packet carried a churned TEID: {n3c:#}"
    );
    assert_eq!(u(&n3c["wrong_teid"]) + u(&n3c["wrong_qfi"]), 0);
    // The UPF's N3 address answered our ARP; our gNB answered the UPF's.
    assert!(u(&port(&r, "n3")["received"]["arp"]) >= 1);

    // The same traffic with a sessions file whose downlink TEIDs are not
    // the ones the SMF set up: every downlink packet is a mismatch.
    let mut wrong = file.clone();
    for e in &mut wrong.sessions {
        e.gnb_teid += 0x1000;
        e.gnb_teid_alt = None;
    }
    let wrong_path = dir.path("wrong.json");
    wrong.save(&wrong_path).unwrap();
    let (rc, r2, err2) = pktgen(
        pk,
        &dir,
        "wrong",
        &[
            "run",
            "-s",
            wrong_path.to_str().unwrap(),
            "--n3",
            &n3,
            "--n6",
            &n6,
            "--n6-peer-ip",
            "198.18.6.2",
            "--direction",
            "dl",
            "--rate",
            "4k",
            "--count",
            "2000",
            "-q",
        ],
        Duration::from_secs(30),
    );
    assert_eq!(rc, 3, "{err2}");
    let r2 = r2.unwrap();
    assert_eq!(r2["ok"], false);
    let c = &port(&r2, "n3")["received"];
    assert!(u(&c["wrong_teid"]) >= 1900, "{c:#}");
    let errors = r2["errors"].to_string();
    assert!(
        errors.contains("did not match the sessions file"),
        "{errors}"
    );
    assert!(errors.contains("expected 0x101"), "{errors}");

    // smfsim finished cleanly; the UPF's periodic usage reports (Session
    // Report Requests, every 3 s) and the final ones of the deletions count
    // exactly the uplink packets pktgen sent (plus one warm-up each).
    let st = smf.wait(Duration::from_secs(40));
    let j: Value = serde_json::from_str(&std::fs::read_to_string(&smf_json).unwrap()).unwrap();
    assert_eq!(st.code(), Some(0), "{j:#}");
    assert_eq!(j["ok"], true);
    let modified = u(&j["modification"]["accepted"]);
    assert!(modified >= 80, "modifications: {modified}");
    assert_eq!(u(&j["deletion"]["accepted"]), 64);
    let ul = direction(&r, "ul");
    let ul_sent = u(&ul["tx"]["packets"]);
    let ul_warm = u(&ul["tx"]["warmup_packets"]);
    let reports = u(&j["node"]["session_reports"]);
    assert!(reports >= 64 * 3, "session reports: {reports}");
    assert_eq!(u(&j["node"]["unknown_session_reports"]), 0);
    assert!(
        u(&j["usage_periodic"]["ul_packets"]) > 0,
        "{:#}",
        j["usage_periodic"]
    );
    let counted = u(&j["usage_periodic"]["ul_packets"]) + u(&j["usage_final"]["ul_packets"]);
    assert!(
        (ul_sent..=ul_sent + ul_warm).contains(&counted),
        "UPF counted {counted} uplink packets, pktgen sent {ul_sent} (+{ul_warm} warm-up)"
    );
    assert!(u(&j["node"]["heartbeats_received"]) >= 3);
}
