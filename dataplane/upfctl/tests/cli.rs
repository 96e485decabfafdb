//! upfctl against a running dataplane (in-memory backend, in this process)
//! and a stand-in pfcp-ctl admin socket.

use std::io::{BufRead, BufReader, Write};
use std::os::unix::net::UnixListener;
use std::path::Path;
use std::process::Command;
use std::time::Duration;

use upf_ctrl::{ClientEnd, Command as Cmd, SLOT_TOOLS};
use upf_dataplane::Dataplane;
use upf_rules::*;

fn upfctl(cfg: &Path, pfcp: &Path, args: &[&str]) -> (bool, String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_upfctl"))
        .arg("--config")
        .arg(cfg)
        .arg("--pfcp-socket")
        .arg(pfcp)
        .args(args)
        .output()
        .expect("run upfctl");
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// Answers each request line with a fixed JSON document per request word.
fn fake_pfcp(path: &Path) {
    let l = UnixListener::bind(path).expect("bind");
    std::thread::spawn(move || {
        for s in l.incoming().flatten() {
            let mut line = String::new();
            let _ = BufReader::new(s.try_clone().expect("clone")).read_line(&mut line);
            let answer = match line.split_whitespace().next() {
                Some("sessions") => {
                    r#"[{"up_seid":"0x100","cp_seid":"0x9","smf":"198.18.4.1","pdrs":1,"fars":1,"ue":"198.19.0.5"}]"#
                }
                Some("session") => r#"{"seid":256,"rules":{"pdrs":[{"id":1,"precedence":10}]}}"#,
                Some("peers") => {
                    r#"[{"node_id":"smf1","address":"198.18.4.1:8805","failed":false}]"#
                }
                _ => r#"{"error":"unknown request"}"#,
            };
            let mut s = s;
            let _ = s.write_all(answer.as_bytes());
        }
    });
}

#[test]
fn tables_from_a_running_dataplane() {
    let dir = std::env::temp_dir().join(format!("upfctl-test-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("dir");
    let cfg_path = dir.join("upf.toml");
    std::fs::write(
        &cfg_path,
        format!(
            r#"
[node]
run_dir = "{d}"
state_dir = "{d}/state"
[dataplane]
backend = "memory"
workers = 2
buffers = 256
[[dataplane.interfaces]]
name = "n3"
role = "n3"
device = "mem0"
mac = "02:00:00:00:00:03"
addresses = ["198.18.3.2/24"]
[[dataplane.interfaces]]
name = "n6"
role = "n6"
device = "mem1"
mac = "02:00:00:00:00:06"
addresses = ["198.18.6.2/24"]
network_instances = ["internet"]
"#,
            d = dir.display()
        ),
    )
    .expect("write config");
    let cfg = upf_config::Config::load(&cfg_path).expect("config");
    let dp = Dataplane::start(&cfg).expect("start dataplane");

    let mut client = ClientEnd::attach(&dir, SLOT_TOOLS).expect("attach");
    let rules = SessionRules {
        seid: 0x100,
        pdrs: vec![Pdr {
            id: 1,
            precedence: 10,
            pdi: Pdi {
                source_interface: Some(Interface::Core),
                ue_ip: Some(UeIp {
                    ipv4: Some("198.19.0.5".parse().expect("ip")),
                    ipv6: None,
                    is_destination: true,
                }),
                ..Default::default()
            },
            outer_header_removal: None,
            far_id: Some(1),
            urr_ids: vec![],
            qer_ids: vec![],
        }],
        fars: vec![Far {
            id: 1,
            apply_action: ApplyAction(ApplyAction::DROP),
            ..Default::default()
        }],
        ..Default::default()
    };
    let ack = client
        .request(
            &Cmd::SessionPut { req: 1, rules },
            Duration::from_secs(5),
            |_| {},
        )
        .expect("send");
    assert!(matches!(ack, Some(Ok(_))), "session put: {ack:?}");

    let pfcp_sock = dir.join("fake-pfcp.sock");
    fake_pfcp(&pfcp_sock);

    let (ok, out, err) = upfctl(&cfg_path, &pfcp_sock, &["ports"]);
    assert!(ok, "{err}");
    let lines: Vec<&str> = out.lines().collect();
    assert!(lines[0].starts_with("PORT"), "{out}");
    assert!(
        lines[1].starts_with("n3") && lines[1].contains("198.18.3.2/24"),
        "{out}"
    );
    assert!(
        lines[2].starts_with("n6") && lines[2].contains("internet"),
        "{out}"
    );

    // 198.19.0.5 is placed on worker 5 % 2 = 1 (docs/ARCHITECTURE.md);
    // workers publish their counters every ~50 ms.
    let mut last = String::new();
    let placed = (0..40).any(|_| {
        let (ok, out, err) = upfctl(&cfg_path, &pfcp_sock, &["workers"]);
        assert!(ok, "{err}");
        assert_eq!(out.lines().count(), 3, "header and two workers: {out}");
        let row = |i: usize| -> Vec<String> {
            let l = out.lines().nth(i).unwrap_or_default();
            l.split_whitespace().take(2).map(String::from).collect()
        };
        last = out.clone();
        if row(2) == ["1", "1"] && row(1) == ["0", "0"] {
            return true;
        }
        std::thread::sleep(Duration::from_millis(50));
        false
    });
    assert!(placed, "session on worker 1: {last}");

    let (ok, out, err) = upfctl(&cfg_path, &pfcp_sock, &["session", "0x100"]);
    assert!(ok, "{err}");
    assert!(out.contains("owner_worker: 1"), "{out}");
    assert!(out.contains("precedence: 10"), "{out}");

    let (ok, out, _) = upfctl(&cfg_path, &pfcp_sock, &["sessions"]);
    assert!(
        ok && out.contains("0x100") && out.contains("198.19.0.5"),
        "{out}"
    );

    let (ok, out, _) = upfctl(&cfg_path, &pfcp_sock, &["--json", "status"]);
    assert!(ok);
    let v: serde_json::Value = serde_json::from_str(&out).expect("json");
    assert_eq!(v["dataplane"]["sessions"], 1, "{out}");
    assert!(v["pfcp_ctl"]["unavailable"].is_string(), "{out}");

    // A missing socket is a clear error, not a panic.
    let (ok, _, err) = upfctl(&cfg_path, &dir.join("absent.sock"), &["sessions"]);
    assert!(!ok);
    assert!(
        err.contains("pfcp-ctl admin socket") && err.contains("running"),
        "{err}"
    );

    dp.shutdown();
    let _ = std::fs::remove_dir_all(&dir);
}
