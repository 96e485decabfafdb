//! Two sidecars sharing one registry in a real etcd (Debian's etcd-server),
//! started by the test on loopback ports and removed at the end.

mod common;

use std::net::TcpListener;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use common::*;
use hyper::Method;
use serde_json::json;

struct Etcd {
    child: Child,
    url: String,
    _dir: TempDir,
}

impl Drop for Etcd {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

async fn etcd() -> Option<Etcd> {
    if Command::new("etcd").arg("--version").output().is_err() {
        // scripts/test.d/50-mec.sh sets MP1_REQUIRE_ETCD: there it must run.
        assert!(
            std::env::var_os("MP1_REQUIRE_ETCD").is_none(),
            "etcd is not installed (apt-get install etcd-server)"
        );
        eprintln!("skipping: etcd is not installed (apt-get install etcd-server)");
        return None;
    }
    let dir = TempDir::new("etcd");
    let (c, p) = (port(), port());
    let url = format!("http://127.0.0.1:{c}");
    let peer = format!("http://127.0.0.1:{p}");
    let child = Command::new("etcd")
        .args([
            "--name",
            "mp1test",
            "--data-dir",
            &dir.path().join("data").display().to_string(),
            "--listen-client-urls",
            &url,
            "--advertise-client-urls",
            &url,
            "--listen-peer-urls",
            &peer,
            "--initial-advertise-peer-urls",
            &peer,
            "--initial-cluster",
            &format!("mp1test={peer}"),
            "--log-level",
            "error",
        ])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("start etcd");
    let e = Etcd {
        child,
        url: url.clone(),
        _dir: dir,
    };
    for _ in 0..100 {
        if let Ok((st, _)) = mec_services::http::request(
            Method::POST,
            &format!("{url}/v3/kv/range"),
            bytes::Bytes::from_static(b"{\"key\":\"AA==\"}"),
            Duration::from_millis(500),
        )
        .await
        {
            if st.is_success() {
                return Some(e);
            }
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("etcd did not start");
}

fn cfg(
    dir: &std::path::Path,
    node: &str,
    app: &str,
    token: &str,
    etcd: &str,
) -> upf_config::Config {
    std::fs::write(dir.join("app1.json"), DESCRIPTOR).unwrap();
    let d = dir.display();
    let descriptor = if app == "app1" {
        format!("descriptor = \"{d}/app1.json\"")
    } else {
        String::new()
    };
    let text = format!(
        r#"
[node]
name = "{node}"
run_dir = "{d}/run-{node}"
state_dir = "{d}/state-{node}"
[dataplane]
backend = "memory"
[[dataplane.interfaces]]
name = "n3"
role = "n3"
device = "m3"
addresses = ["198.18.3.2/24"]
[[dataplane.interfaces]]
name = "mec"
role = "mec"
device = "mm"
addresses = ["198.18.9.2/24"]
[mec]
listen = "127.0.0.1:0"
auth = "bearer"
storage = "etcd"
etcd_endpoints = ["{etcd}"]
etcd_prefix = "/mp1test/"
notify_timeout_ms = 300
[[mec.apps]]
instance_id = "{app}"
token = "{token}"
{descriptor}
"#
    );
    upf_config::Config::from_str_named(&text, "etcd.toml").unwrap()
}

async fn until<F: std::future::Future<Output = bool>>(mut f: impl FnMut() -> F) -> bool {
    for _ in 0..200 {
        if f().await {
            return true;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    false
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_sidecars_share_one_registry() {
    let Some(e) = etcd().await else { return };
    let dir = TempDir::new("etcd-sidecars");
    let c1 = cfg(dir.path(), "host1", "app1", "tok1", &e.url);
    let c2 = cfg(dir.path(), "host2", "app2", "tok2", &e.url);
    let h1 = mec_services::start(&c1, opts()).await.unwrap();
    let h2 = mec_services::start(&c2, opts()).await.unwrap();
    let (b1, b2) = (format!("http://{}", h1.addr), format!("http://{}", h2.addr));
    const SM: &str = "/mec_service_mgmt/v1";

    // app2 (on host2) subscribes; app1 registers on host1.
    let cb = callback(0, false).await;
    let r = call(
        Method::POST,
        &format!("{b2}{SM}/applications/app2/subscriptions"),
        Some("tok2"),
        Some(
            &json!({"subscriptionType": "SerAvailabilityNotificationSubscription",
            "callbackReference": cb.url}),
        ),
    )
    .await;
    assert_eq!(r.status, 201);
    // Host1 sees app2's subscription (and token) through the watch.
    assert!(until(|| async { !h1.core.read().sersubs.is_empty() }).await);
    let r = call(
        Method::POST,
        &format!("{b1}{SM}/applications/app1/services"),
        Some("tok1"),
        Some(&service_body("rnis")),
    )
    .await;
    assert_eq!(r.status, 201);
    let id = r.body["serInstanceId"].as_str().unwrap().to_string();
    let mut private = service_body("private");
    private["consumedLocalOnly"] = json!(true);
    let r = call(
        Method::POST,
        &format!("{b1}{SM}/applications/app1/services"),
        Some("tok1"),
        Some(&private),
    )
    .await;
    assert_eq!(r.status, 201);

    // Discovered on host2, where it is not local; the local-only one is hidden.
    let url = format!("{b2}{SM}/services/{id}");
    assert!(
        until(|| async { call(Method::GET, &url, Some("tok2"), None).await.status == 200 }).await
    );
    let on2 = call(
        Method::GET,
        &format!("{b2}{SM}/services"),
        Some("tok2"),
        None,
    )
    .await;
    assert_eq!(on2.body.as_array().unwrap().len(), 1, "{}", on2.body);
    assert_eq!(on2.body[0]["isLocal"], false);
    let on1 = call(
        Method::GET,
        &format!("{b1}{SM}/services?is_local=true"),
        Some("tok1"),
        None,
    )
    .await;
    assert_eq!(on1.body.as_array().unwrap().len(), 2);
    // Exactly one notification per change (sent by the host that made it).
    let got = cb.wait(2, Duration::from_secs(5)).await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(cb.got.lock().unwrap().len(), 2, "{got:?}");

    // app1 activates its rule through host2; host1, which serves app1,
    // wants it in its dataplane.
    let rurl = format!("{b2}/mec_app_support/v1/applications/app1/traffic_rules/tr1");
    let mut rule = call(Method::GET, &rurl, Some("tok1"), None).await.body;
    assert_eq!(rule["state"], "INACTIVE");
    rule["state"] = json!("ACTIVE");
    assert_eq!(
        call(Method::PUT, &rurl, Some("tok1"), Some(&rule))
            .await
            .status,
        200
    );
    assert!(until(|| async { h1.core.wanted_steering("app1").0.len() == 1 }).await);
    assert!(
        h2.core.wanted_steering("app1").0.is_empty(),
        "host2 does not steer app1"
    );

    // host1 restarts and loads everything from etcd.
    h1.shutdown().await;
    let h1 = mec_services::start(&c1, opts()).await.unwrap();
    let b1 = format!("http://{}", h1.addr);
    let r = call(
        Method::GET,
        &format!("{b1}{SM}/services/{id}"),
        Some("tok1"),
        None,
    )
    .await;
    assert_eq!(r.status, 200);
    assert_eq!(r.body["serName"], "rnis");
    assert_eq!(h1.core.wanted_steering("app1").0.len(), 1);
    let r = call(
        Method::GET,
        &format!("{b1}/mec_app_support/v1/applications/app1/traffic_rules/tr1"),
        Some("tok1"),
        None,
    )
    .await;
    assert_eq!(r.body["state"], "ACTIVE");

    // Deregistration on host1 disappears on host2.
    let r = call(
        Method::DELETE,
        &format!("{b1}{SM}/applications/app1/services/{id}"),
        Some("tok1"),
        None,
    )
    .await;
    assert_eq!(r.status, 204);
    assert!(
        until(|| async { call(Method::GET, &url, Some("tok2"), None).await.status == 404 }).await
    );
    h1.shutdown().await;
    h2.shutdown().await;
    drop(e);
}
