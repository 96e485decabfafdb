//! smfsim against real pfcp-ctl and upf-dataplane processes (in-memory
//! ports) on a loopback address of its own: establishment, churn,
//! deletion, cause checks and timeouts, as the JSON report and the
//! sessions file show them. Needs the workspace binaries (built by
//! `cargo test --workspace` and scripts/test.d/60-perf.sh).

use std::io::{BufRead, BufReader, Write};
use std::net::Ipv4Addr;
use std::os::unix::net::UnixStream;
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;
use upf_smfsim::sessions::SessionsFile;
use upf_testkit::{workspace_bin, Proc};

struct Upf {
    dir: PathBuf,
    addr: String,
    _dp: Proc,
    _ctl: Proc,
}

/// A loopback address unique to this test process and `slot`.
fn loopback(slot: u8) -> Ipv4Addr {
    let pid = std::process::id();
    Ipv4Addr::new(127, (pid >> 8) as u8 | 1, pid as u8, slot)
}

impl Upf {
    fn start(tag: &str, slot: u8, pool: &str, max_sessions: u32) -> Upf {
        let dir = std::env::temp_dir().join(format!("smfsim-{tag}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        let ip = loopback(slot);
        let addr = format!("{ip}:8805");
        let ifaces = upf_testkit::MEMORY_INTERFACES_TOML;
        let cfg = format!(
            r#"
[node]
name = "smfsim-test"
run_dir = "{d}/run"
state_dir = "{d}/state"
[logging]
level = "warn"
[dataplane]
backend = "memory"
workers = 2
buffers = 2048
expected_sessions = 10000
{ifaces}
[pfcp]
listen = ["{addr}"]
node_id = "{ip}"
journal_fsync = "never"
max_sessions = {max_sessions}
heartbeat_interval = "1s"
[[ue_pools]]
network_instance = "internet"
ipv4 = "{pool}"
ipv6 = "2001:db8:1900::/48"
"#,
            d = dir.display()
        );
        let path = dir.join("upf.toml");
        std::fs::write(&path, cfg).unwrap();
        let log = |n: &str| std::fs::File::create(dir.join(n)).unwrap();
        let dp = Proc::spawn(
            "upf-dataplane",
            Command::new(workspace_bin("upf-dataplane"))
                .args(["run", "-c"])
                .arg(&path)
                .stdout(log("dp.out"))
                .stderr(log("dp.err")),
        );
        // pfcp-ctl attaches to the dataplane's control file when it appears.
        let ctl = Proc::spawn(
            "pfcp-ctl",
            Command::new(workspace_bin("pfcp-ctl"))
                .args(["run", "-c"])
                .arg(&path)
                .stdout(log("ctl.out"))
                .stderr(log("ctl.err")),
        );
        let upf = Upf {
            dir,
            addr,
            _dp: dp,
            _ctl: ctl,
        };
        upf.wait_attached();
        upf
    }

    fn admin(&self, req: &str) -> Option<Value> {
        let mut s = UnixStream::connect(self.dir.join("run/pfcp.sock")).ok()?;
        s.set_read_timeout(Some(Duration::from_secs(2))).ok()?;
        writeln!(s, "{req}").ok()?;
        let mut text = String::new();
        for line in BufReader::new(s).lines() {
            text.push_str(&line.ok()?);
        }
        serde_json::from_str(&text).ok()
    }

    fn wait_attached(&self) {
        let end = Instant::now() + Duration::from_secs(20);
        while Instant::now() < end {
            if let Some(v) = self.admin("status") {
                if v["dataplane_attached"] == Value::Bool(true) {
                    return;
                }
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        panic!(
            "pfcp-ctl did not attach to the dataplane; logs in {}",
            self.dir.display()
        );
    }
}

impl Drop for Upf {
    fn drop(&mut self) {
        if !std::thread::panicking() {
            let _ = std::fs::remove_dir_all(&self.dir);
        }
    }
}

fn smfsim(upf: &Upf, slot: u8, args: &[&str]) -> (i32, Value) {
    let json = upf.dir.join(format!("report-{slot}.json"));
    let mut p = Proc::spawn(
        "smfsim",
        Command::new(env!("CARGO_BIN_EXE_smfsim"))
            .args([
                "--upf",
                &upf.addr,
                "--bind",
                &format!("{}:0", loopback(slot)),
            ])
            .args(["--json"])
            .arg(&json)
            .args(["--timeout", "60s"])
            .args(args)
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(upf.dir.join(format!("smfsim-{slot}.err"))).unwrap()),
    );
    let status = p.wait(Duration::from_secs(90));
    let text = std::fs::read_to_string(&json).unwrap_or_else(|e| {
        panic!(
            "no report ({e}); smfsim stderr: {}",
            std::fs::read_to_string(upf.dir.join(format!("smfsim-{slot}.err"))).unwrap_or_default()
        )
    });
    (
        status.code().unwrap_or(-1),
        serde_json::from_str(&text).unwrap(),
    )
}

fn u(v: &Value) -> u64 {
    v.as_u64().unwrap_or_else(|| panic!("not a count: {v}"))
}

#[test]
fn establish_churn_delete() {
    let upf = Upf::start("full", 2, "198.19.0.0/16", 100_000);
    let sessions = upf.dir.join("sessions.json");
    let (rc, r) = smfsim(
        &upf,
        10,
        &[
            "-n",
            "300",
            "--rate",
            "3000",
            "--hold",
            "1500ms",
            "--churn",
            "0-29",
            "--churn-rate",
            "200",
            "-o",
            sessions.to_str().unwrap(),
        ],
    );
    assert_eq!(rc, 0, "{r:#}");
    assert_eq!(r["ok"], Value::Bool(true));
    assert_eq!(u(&r["established"]), 300);
    assert_eq!(u(&r["establishment"]["accepted"]), 300);
    assert_eq!(u(&r["establishment"]["latency"]["count"]), 300);
    assert!(r["establishment"]["latency"]["p99_us"].as_f64().unwrap() > 0.0);
    // 200/s for 1.5 s over 30 sessions, one request per session at a time.
    let modified = u(&r["modification"]["accepted"]);
    assert!((150..=320).contains(&modified), "modifications: {modified}");
    assert_eq!(u(&r["modification"]["rejected"]), 0);
    assert_eq!(u(&r["deletion"]["accepted"]), 300);
    // Every deletion response carries the final usage report of URR 1.
    assert_eq!(u(&r["usage_final"]["reports"]), 300);
    // Every response had cause 1: association, 300 + modifications + 300, release.
    assert_eq!(u(&r["causes"]["1"]), 1 + 300 + modified + 300 + 1);
    assert_eq!(r["causes"].as_object().unwrap().len(), 1);
    // pfcp-ctl heartbeats every second and smfsim answers: no peer failure.
    assert!(u(&r["node"]["heartbeats_received"]) >= 1, "{r:#}");

    let f = SessionsFile::load(&sessions).unwrap();
    assert_eq!(f.sessions.len(), 300);
    assert_eq!(f.upf_n4, upf.addr);
    let pool: u32 = u32::from(Ipv4Addr::new(198, 19, 0, 0));
    for s in &f.sessions {
        let ue = u32::from(s.ue_ipv4.unwrap());
        assert_eq!(ue >> 16, pool >> 16, "UE address from the pool: {s:?}");
        assert_eq!(s.upf_ipv4, Some(Ipv4Addr::new(198, 18, 3, 2)));
        // pfcp-ctl steers the chosen TEID to the worker of the UE address.
        assert_eq!(s.upf_teid % 2, ue % 2, "{s:?}");
        assert_eq!(s.churn, s.index < 30);
        assert_eq!(s.gnb_teid_alt.is_some(), s.churn);
    }
    // After the run pfcp-ctl holds no session of ours.
    assert_eq!(u(&upf.admin("status").unwrap()["sessions"]), 0);
}

#[test]
fn sessions_stay_when_asked_and_refusals_are_counted() {
    // A pool of 16 addresses: 14 usable after network and broadcast, or
    // 16 if the pool hands out all; either way 20 cannot all succeed.
    let upf = Upf::start("pool", 3, "198.19.7.0/28", 100_000);
    let (rc, r) = smfsim(
        &upf,
        20,
        &["-n", "20", "--rate", "0", "--no-delete", "--no-release"],
    );
    assert_eq!(rc, 3, "a refused establishment fails the run: {r:#}");
    assert_eq!(r["ok"], Value::Bool(false));
    let ok = u(&r["establishment"]["accepted"]);
    let refused = u(&r["establishment"]["rejected"]);
    assert!((10..20).contains(&ok), "{r:#}");
    assert_eq!(ok + refused, 20);
    // The refusals are listed with their cause and counted by cause.
    let failures = r["failures"].as_array().unwrap();
    assert_eq!(failures.len() as u64, refused);
    let cause = failures[0]["cause"].as_u64().unwrap();
    assert!(cause == 75 || cause == 79, "{failures:?}");
    assert_eq!(u(&r["causes"][cause.to_string()]), refused);
    // The accepted sessions are still in pfcp-ctl.
    let st = upf.admin("status").unwrap();
    assert_eq!(u(&st["sessions"]), ok, "{st}");
}

#[test]
fn given_ipv4_and_chosen_ipv6_addresses() {
    let upf = Upf::start("dual", 4, "198.19.0.0/16", 100_000);
    let sessions = upf.dir.join("sessions.json");
    let (rc, r) = smfsim(
        &upf,
        40,
        &[
            "-n",
            "10",
            "--ue-ipv4",
            "198.19.5.0",
            "--ue-ipv6",
            "choose",
            "-o",
            sessions.to_str().unwrap(),
        ],
    );
    assert_eq!(rc, 0, "{r:#}");
    let f = SessionsFile::load(&sessions).unwrap();
    assert_eq!(f.sessions.len(), 10);
    let mut prefixes = std::collections::HashSet::new();
    for s in &f.sessions {
        assert_eq!(
            s.ue_ipv4,
            Some(Ipv4Addr::new(198, 19, 5, s.index as u8)),
            "{s:?}"
        );
        let v6 = s.ue_ipv6.unwrap_or_else(|| panic!("no IPv6 prefix: {s:?}"));
        assert_eq!(
            v6.segments()[..3],
            [0x2001, 0x0db8, 0x1900],
            "from the pool: {v6}"
        );
        assert_eq!(
            u128::from(v6) & 0xffff_ffff_ffff_ffff,
            1,
            "interface ID 1: {v6}"
        );
        assert!(
            prefixes.insert(u128::from(v6) >> 64),
            "one prefix per session"
        );
        assert_eq!(s.ue_ipv6_prefix_len, Some(64));
    }
}

#[test]
fn no_answer_is_a_timeout_after_retransmissions() {
    let dir = std::env::temp_dir();
    let json = dir.join(format!("smfsim-timeout-{}.json", std::process::id()));
    // Nothing listens on this address and port.
    let target = format!("{}:8805", loopback(30));
    let start = Instant::now();
    let mut p = Proc::spawn(
        "smfsim",
        Command::new(env!("CARGO_BIN_EXE_smfsim"))
            .args([
                "--upf", &target, "--t1", "100ms", "--n1", "2", "-q", "--json",
            ])
            .arg(&json)
            .stderr(Stdio::null()),
    );
    let status = p.wait(Duration::from_secs(10));
    let took = start.elapsed();
    assert_eq!(status.code(), Some(3));
    let r: Value = serde_json::from_str(&std::fs::read_to_string(&json).unwrap()).unwrap();
    let _ = std::fs::remove_file(&json);
    assert_eq!(u(&r["association"]["timeouts"]), 1);
    assert_eq!(u(&r["established"]), 0);
    assert_eq!(
        r["failures"][0]["detail"].as_str(),
        Some("no Association Setup Response")
    );
    // T1 x (N1 + 1) = 300 ms, not much more.
    assert!(took < Duration::from_secs(5), "{took:?}");
}

#[test]
fn bad_arguments_exit_2() {
    let out = Command::new(env!("CARGO_BIN_EXE_smfsim"))
        .args(["--ue-ipv4", "none", "--ue-ipv6", "none"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("cannot both be none"));
    let help = Command::new(env!("CARGO_BIN_EXE_smfsim"))
        .arg("--help")
        .output()
        .unwrap();
    assert!(help.status.success());
    assert!(String::from_utf8_lossy(&help.stdout).contains("--churn"));
}
