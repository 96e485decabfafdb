//! Helpers of the sidecar's integration tests: configurations, an HTTP
//! client, and callback servers that record notifications.
#![allow(dead_code)]

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper::{Method, Request, Response, StatusCode};
use hyper_util::rt::TokioIo;
use serde_json::Value;
use tokio::net::TcpListener;
use upf_config::Config;

/// A temporary directory removed on drop.
pub struct TempDir(pub PathBuf);

impl TempDir {
    pub fn new(tag: &str) -> TempDir {
        let p = std::env::temp_dir().join(format!(
            "mp1-{tag}-{}-{}",
            std::process::id(),
            mec_services::core::new_id()
        ));
        std::fs::create_dir_all(&p).unwrap();
        TempDir(p)
    }
    pub fn path(&self) -> &Path {
        &self.0
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

pub const DESCRIPTOR: &str = r#"{
 "appTrafficRule": [{"trafficRuleId": "tr1", "filterType": "FLOW", "priority": 1,
   "trafficFilter": [{"dstAddress": ["198.18.9.0/24"], "protocol": ["17"]}],
   "action": "FORWARD_DECAPSULATED",
   "dstInterface": {"interfaceType": "IP", "dstIpAddress": "198.18.9.50"}, "state": "INACTIVE"}],
 "appDNSRule": [{"dnsRuleId": "dns1", "domainName": "cache.edge.example", "ipAddressType": "IP_V4",
   "ipAddress": "198.18.9.50", "ttl": 30, "state": "INACTIVE"}]}"#;

/// A configuration with apps app1 (descriptor with tr1/dns1) and app2.
/// `mec_extra` goes into `[mec]`.
pub fn config(dir: &Path, node: &str, auth: &str, mec_extra: &str) -> Config {
    std::fs::write(dir.join("app1.json"), DESCRIPTOR).unwrap();
    let d = dir.display();
    let text = format!(
        r#"
[node]
name = "{node}"
run_dir = "{d}/run"
state_dir = "{d}/state"
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
network_instances = ["mec"]
[mec]
listen = "127.0.0.1:0"
admin_listen = "127.0.0.1:0"
auth = "{auth}"
notify_max_retries = 4
notify_timeout_ms = 300
termination_timeout_ms = 3000
{mec_extra}
[[mec.apps]]
instance_id = "app1"
token = "tok1"
cert_identity = "app1.mec.example"
descriptor = "{d}/app1.json"
[[mec.apps]]
instance_id = "app2"
token = "tok2"
cert_identity = "app2.mec.example"
"#
    );
    Config::from_str_named(&text, "test.toml").unwrap()
}

pub fn opts() -> mec_services::StartOptions {
    mec_services::StartOptions {
        dataplane: false,
        apply_wait: Duration::from_millis(100),
        notify_backoff: Duration::from_millis(50),
    }
}

pub struct Resp {
    pub status: StatusCode,
    pub headers: hyper::HeaderMap,
    pub body: Value,
    pub raw: Bytes,
}

/// One request with an optional bearer token and raw body.
pub async fn raw(
    method: Method,
    url: &str,
    token: Option<&str>,
    headers: &[(&str, &str)],
    body: &[u8],
) -> Resp {
    let uri: hyper::Uri = url.parse().unwrap();
    let host = uri.authority().unwrap().to_string();
    let tcp = tokio::net::TcpStream::connect(&host).await.unwrap();
    let (mut s, conn) = hyper::client::conn::http1::handshake(TokioIo::new(tcp))
        .await
        .unwrap();
    tokio::spawn(conn);
    let mut b = Request::builder()
        .method(method)
        .uri(uri.path_and_query().unwrap().as_str())
        .header("host", host);
    if let Some(t) = token {
        b = b.header("authorization", format!("Bearer {t}"));
    }
    for (k, v) in headers {
        b = b.header(*k, *v);
    }
    let resp = s
        .send_request(b.body(Full::new(Bytes::copy_from_slice(body))).unwrap())
        .await
        .unwrap();
    let status = resp.status();
    let headers = resp.headers().clone();
    let raw = resp.into_body().collect().await.unwrap().to_bytes();
    let body = serde_json::from_slice(&raw).unwrap_or(Value::Null);
    Resp {
        status,
        headers,
        body,
        raw,
    }
}

/// A JSON request.
pub async fn call(method: Method, url: &str, token: Option<&str>, body: Option<&Value>) -> Resp {
    match body {
        Some(v) => {
            raw(
                method,
                url,
                token,
                &[("content-type", "application/json")],
                v.to_string().as_bytes(),
            )
            .await
        }
        None => raw(method, url, token, &[], b"").await,
    }
}

/// Asserts a ProblemDetails answer with `status`.
pub fn assert_problem(r: &Resp, status: u16) {
    assert_eq!(
        r.status.as_u16(),
        status,
        "{}",
        String::from_utf8_lossy(&r.raw)
    );
    assert_eq!(
        r.headers.get("content-type").unwrap(),
        "application/problem+json"
    );
    assert_eq!(r.body["status"], status);
    assert!(r.body["detail"].as_str().is_some_and(|d| !d.is_empty()));
}

/// A callback server: records the JSON bodies POSTed to it. `fail_first`
/// requests get 503 first; with `hang`, it never answers.
#[derive(Clone)]
pub struct Callback {
    pub url: String,
    pub got: Arc<Mutex<Vec<Value>>>,
    pub attempts: Arc<Mutex<u32>>,
}

pub async fn callback(fail_first: u32, hang: bool) -> Callback {
    let l = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr: SocketAddr = l.local_addr().unwrap();
    let got = Arc::new(Mutex::new(Vec::new()));
    let attempts = Arc::new(Mutex::new(0u32));
    let (g, a) = (got.clone(), attempts.clone());
    tokio::spawn(async move {
        loop {
            let Ok((tcp, _)) = l.accept().await else {
                return;
            };
            let (g, a) = (g.clone(), a.clone());
            tokio::spawn(async move {
                let svc = hyper::service::service_fn(move |req: Request<Incoming>| {
                    let (g, a) = (g.clone(), a.clone());
                    async move {
                        let n = {
                            let mut a = a.lock().unwrap();
                            *a += 1;
                            *a
                        };
                        if hang {
                            tokio::time::sleep(Duration::from_secs(3600)).await;
                        }
                        let body = req.into_body().collect().await.unwrap().to_bytes();
                        let status = if n <= fail_first {
                            StatusCode::SERVICE_UNAVAILABLE
                        } else {
                            g.lock()
                                .unwrap()
                                .push(serde_json::from_slice(&body).unwrap_or(Value::Null));
                            StatusCode::NO_CONTENT
                        };
                        Ok::<_, std::convert::Infallible>(
                            Response::builder()
                                .status(status)
                                .body(Full::new(Bytes::new()))
                                .unwrap(),
                        )
                    }
                });
                let _ = hyper::server::conn::http1::Builder::new()
                    .serve_connection(TokioIo::new(tcp), svc)
                    .await;
            });
        }
    });
    Callback {
        url: format!("http://{addr}/notify"),
        got,
        attempts,
    }
}

impl Callback {
    /// Waits until `n` notifications arrived (at most `within`).
    pub async fn wait(&self, n: usize, within: Duration) -> Vec<Value> {
        let end = tokio::time::Instant::now() + within;
        loop {
            let v = self.got.lock().unwrap().clone();
            if v.len() >= n || tokio::time::Instant::now() >= end {
                return v;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }
}

pub fn service_body(name: &str) -> Value {
    serde_json::json!({
        "serName": name, "version": "1.0", "state": "ACTIVE", "serializer": "JSON",
        "serCategory": {"href": "/catalogue/rni", "id": "rni", "name": "RNI", "version": "2"},
        "transportInfo": {"id": "t1", "name": "REST", "type": "REST_HTTP", "protocol": "HTTP",
            "version": "2.0", "endpoint": {"addresses": [{"host": "198.18.9.50", "port": 8080}]},
            "security": {"oAuth2Info": {"grantTypes": ["OAUTH2_CLIENT_CREDENTIALS"],
                "tokenEndpoint": "http://198.18.9.50/token"}}}
    })
}
