//! Shared by pktgen's namespace tests: sessions files, running pktgen and
//! reading its JSON report.
#![allow(dead_code)]

use std::net::Ipv4Addr;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;

use serde_json::Value;
use upf_smfsim::sessions::{Seid, SessionEntry, SessionsFile};
use upf_testkit::Proc;

/// A scratch directory removed on drop (kept when the test fails).
pub struct Scratch(pub PathBuf);

impl Scratch {
    pub fn new(tag: &str) -> Scratch {
        let d = std::env::temp_dir().join(format!("pktgen-{tag}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&d);
        std::fs::create_dir_all(&d).unwrap();
        Scratch(d)
    }

    pub fn path(&self, name: &str) -> PathBuf {
        self.0.join(name)
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        if !std::thread::panicking() {
            let _ = std::fs::remove_dir_all(&self.0);
        }
    }
}

/// `n` sessions as smfsim would list them (for runs without a UPF).
pub fn sessions(n: u32, path: &Path) -> SessionsFile {
    let mut f = SessionsFile::new(
        "127.0.0.1:8805".into(),
        "127.0.0.1".into(),
        "internet".into(),
    );
    f.gnb_ipv4 = Some(Ipv4Addr::new(198, 18, 3, 1));
    f.sessions = (0..n)
        .map(|i| SessionEntry {
            index: i,
            cp_seid: Seid(u64::from(i) + 1),
            up_seid: Seid(0x100 + u64::from(i)),
            ue_ipv4: Some(Ipv4Addr::from(0xc613_0001 + i)),
            ue_ipv6: None,
            ue_ipv6_prefix_len: None,
            upf_teid: 0x1000 + i,
            upf_ipv4: Some(Ipv4Addr::new(198, 18, 3, 2)),
            upf_ipv6: None,
            gnb_teid: 0x10_0000 + i,
            gnb_teid_alt: None,
            qfi: 9,
            churn: false,
        })
        .collect();
    f.save(path).unwrap();
    f
}

/// Runs `bin` with `args` plus `--json`, bounded by `limit`; returns the
/// exit code, the report (if written) and stderr.
pub fn pktgen(
    bin: &Path,
    dir: &Scratch,
    tag: &str,
    args: &[&str],
    limit: Duration,
) -> (i32, Option<Value>, String) {
    let json = dir.path(&format!("{tag}.json"));
    let err = dir.path(&format!("{tag}.err"));
    let mut p = Proc::spawn(
        "pktgen",
        Command::new(bin)
            .args(args)
            .arg("--json")
            .arg(&json)
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(&err).unwrap()),
    );
    let st = p.wait(limit);
    let stderr = std::fs::read_to_string(&err).unwrap_or_default();
    let v = std::fs::read_to_string(&json)
        .ok()
        .and_then(|t| serde_json::from_str(&t).ok());
    (st.code().unwrap_or(-1), v, stderr)
}

pub fn u(v: &Value) -> u64 {
    v.as_u64().unwrap_or_else(|| panic!("not a count: {v}"))
}

pub fn f(v: &Value) -> f64 {
    v.as_f64().unwrap_or_else(|| panic!("not a number: {v}"))
}

/// The report of direction `d` (`ul`, `dl`).
pub fn direction<'a>(r: &'a Value, d: &str) -> &'a Value {
    r["directions"]
        .as_array()
        .unwrap()
        .iter()
        .find(|x| x["dir"] == d)
        .unwrap_or_else(|| panic!("no direction {d} in {r:#}"))
}

/// The report of port `role` (`n3`, `n6`).
pub fn port<'a>(r: &'a Value, role: &str) -> &'a Value {
    r["ports"]
        .as_array()
        .unwrap()
        .iter()
        .find(|x| x["role"] == role)
        .unwrap()
}

/// Runs a command in namespace `ns`, ignoring failures (tuning knobs).
pub fn ns_exec(ns: &str, cmd: &str) {
    let _ = Command::new("ip")
        .args(["netns", "exec", ns, "sh", "-c", cmd])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status();
}
