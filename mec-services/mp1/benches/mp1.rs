//! Benchmarks of the Mp1 sidecar (`cargo bench -p mec-services --bench mp1`):
//!
//! 1. service discovery with 10,000 registered services: queries per second
//!    over HTTP (keep-alive connections, `GET /services?ser_name=...`, one
//!    match each), and of the in-process query alone;
//! 2. rule update latency: `PUT .../traffic_rules/{id}` toggling ACTIVE /
//!    INACTIVE against an in-process dataplane (memory ports, 2 workers);
//!    the sidecar answers after the dataplane acknowledged the change, i.e.
//!    after every worker swapped its steering table, so the round trip is
//!    the time from the Mp1 request to its effect. Histogram with
//!    hdrhistogram; p50/p99/max printed.
//!
//! Environment: MP1_BENCH_SECONDS (discovery run time, default 5),
//! MP1_BENCH_UPDATES (rule updates, default 2000).

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper_util::rt::TokioIo;
use mec_services::model::*;
use mec_services::registry::{put, service_key, ServiceRecord};
use mec_services::store::{RedbStore, Store};

const SERVICES: usize = 10_000;

fn config(dir: &std::path::Path) -> upf_config::Config {
    std::fs::write(
        dir.join("app1.json"),
        r#"{"appTrafficRule": [{"trafficRuleId": "tr1", "filterType": "FLOW", "priority": 1,
   "trafficFilter": [{"dstAddress": ["198.18.9.0/24"], "protocol": ["UDP"], "dstPort": ["7000"]}],
   "action": "FORWARD_DECAPSULATED",
   "dstInterface": {"interfaceType": "IP", "dstIpAddress": "198.18.9.50"}, "state": "INACTIVE"}]}"#,
    )
    .unwrap();
    let d = dir.display();
    let text = format!(
        r#"
[node]
name = "bench"
run_dir = "{d}/run"
state_dir = "{d}/state"
[logging]
level = "warn"
[dataplane]
backend = "memory"
workers = 2
buffers = 1024
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
auth = "bearer"
[[mec.apps]]
instance_id = "app1"
token = "tok1"
descriptor = "{d}/app1.json"
"#
    );
    upf_config::Config::from_str_named(&text, "bench.toml").unwrap()
}

fn service(i: usize) -> ServiceRecord {
    let id = format!("svc-{i:05}");
    ServiceRecord {
        owner: "app1".into(),
        host: "bench".into(),
        rev: 1,
        info: ServiceInfo {
            ser_instance_id: Some(id),
            ser_name: format!("service-{i}"),
            ser_category: Some(CategoryRef {
                href: "/catalogue".into(),
                id: format!("cat-{}", i % 50),
                name: "RNI".into(),
                version: "1".into(),
            }),
            version: "1.0".into(),
            state: ServiceState::Active,
            transport_info: Some(TransportInfo {
                id: "t".into(),
                name: "REST".into(),
                description: None,
                kind: TransportType::RestHttp,
                protocol: "HTTP".into(),
                version: "2.0".into(),
                endpoint: EndPoint::Addresses(vec![EndPointAddress {
                    host: "198.18.9.50".into(),
                    port: 8000 + (i % 1000) as i32,
                }]),
                security: SecurityInfo::default(),
                impl_specific_info: None,
            }),
            transport_id: None,
            serializer: SerializerType::Json,
            scope_of_locality: Some(LocalityType::MecHost),
            consumed_local_only: Some(false),
            is_local: None,
        },
    }
}

type Conn = hyper::client::conn::http1::SendRequest<Full<Bytes>>;

async fn connect(addr: std::net::SocketAddr) -> Conn {
    let tcp = tokio::net::TcpStream::connect(addr).await.unwrap();
    tcp.set_nodelay(true).unwrap();
    let (s, c) = hyper::client::conn::http1::handshake(TokioIo::new(tcp))
        .await
        .unwrap();
    tokio::spawn(c);
    s
}

async fn send(
    c: &mut Conn,
    addr: std::net::SocketAddr,
    method: &str,
    path: &str,
    body: Bytes,
) -> (u16, Bytes) {
    let req = hyper::Request::builder()
        .method(method)
        .uri(path)
        .header("host", addr.to_string())
        .header("authorization", "Bearer tok1")
        .header("content-type", "application/json")
        .body(Full::new(body))
        .unwrap();
    c.ready().await.unwrap();
    let r = c.send_request(req).await.unwrap();
    let st = r.status().as_u16();
    (st, r.into_body().collect().await.unwrap().to_bytes())
}

fn main() {
    // `cargo bench` passes --bench; `cargo test --benches` passes nothing
    // special: run a tiny smoke version then.
    let quick = !std::env::args().any(|a| a == "--bench");
    let seconds: u64 = std::env::var("MP1_BENCH_SECONDS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(if quick { 1 } else { 5 });
    let updates: usize = std::env::var("MP1_BENCH_UPDATES")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(if quick { 50 } else { 2000 });
    let dir = std::env::temp_dir().join(format!("mp1-bench-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let cfg = config(&dir);

    // Seed 10,000 services in one batch.
    {
        let store = Store::Redb(Arc::new(
            RedbStore::open(&dir.join("state/mp1.redb")).unwrap(),
        ));
        let ops = (0..SERVICES)
            .map(|i| {
                let s = service(i);
                put(service_key(s.info.ser_instance_id.as_deref().unwrap()), &s)
            })
            .collect();
        let rt = tokio::runtime::Builder::new_current_thread()
            .build()
            .unwrap();
        rt.block_on(store.commit(ops, vec![])).unwrap();
    }
    let dp = upf_dataplane::Dataplane::start(&cfg).unwrap();
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let s = rt
        .block_on(mec_services::start(
            &cfg,
            mec_services::StartOptions {
                dataplane: true,
                apply_wait: Duration::from_millis(500),
                notify_backoff: Duration::from_millis(200),
            },
        ))
        .unwrap();
    assert_eq!(s.core.read().services.len(), SERVICES);
    let addr = s.addr;

    // 1a. Discovery in process.
    let q = mec_services::core::ServiceQuery {
        ser_name: vec!["service-4242".into()],
        ..Default::default()
    };
    let t = Instant::now();
    let mut n = 0u64;
    while t.elapsed() < Duration::from_secs(1) {
        for _ in 0..1000 {
            assert_eq!(s.core.query_services(&q, None).len(), 1);
            n += 1;
        }
    }
    let in_proc = n as f64 / t.elapsed().as_secs_f64();
    let t = Instant::now();
    let mut m = 0u64;
    while t.elapsed() < Duration::from_secs(1) {
        let all = s.core.query_services(&Default::default(), None);
        assert_eq!(all.len(), SERVICES);
        m += 1;
    }
    let all_per_s = m as f64 / t.elapsed().as_secs_f64();

    // 1b. Discovery over HTTP, 4 keep-alive connections.
    let done = Arc::new(AtomicU64::new(0));
    let t = Instant::now();
    rt.block_on(async {
        let mut tasks = Vec::new();
        for c in 0..4u64 {
            let done = done.clone();
            tasks.push(tokio::spawn(async move {
                let mut conn = connect(addr).await;
                let end = Instant::now() + Duration::from_secs(seconds);
                let mut i = c;
                while Instant::now() < end {
                    let path = format!(
                        "/mec_service_mgmt/v1/services?ser_name=service-{}",
                        (i * 7919) % SERVICES as u64
                    );
                    let (st, body) = send(&mut conn, addr, "GET", &path, Bytes::new()).await;
                    assert_eq!(st, 200);
                    assert!(body.len() > 100);
                    done.fetch_add(1, Ordering::Relaxed);
                    i += 1;
                }
            }));
        }
        for t in tasks {
            t.await.unwrap();
        }
    });
    let http_qps = done.load(Ordering::Relaxed) as f64 / t.elapsed().as_secs_f64();
    println!(
        "discovery, {SERVICES} services: HTTP GET /services?ser_name=... {http_qps:.0} queries/s \
         (4 connections, {seconds} s); in process {in_proc:.0} queries/s; \
         unfiltered (all {SERVICES}) in process {all_per_s:.1} queries/s"
    );

    // 2. Rule update latency to the dataplane's acknowledgement.
    let link = s.core.dataplane().unwrap().clone();
    let t = Instant::now();
    while !link.attached() && t.elapsed() < Duration::from_secs(5) {
        std::thread::sleep(Duration::from_millis(10));
    }
    assert!(link.attached());
    let mut h = hdrhistogram::Histogram::<u64>::new_with_bounds(1, 10_000_000, 3).unwrap();
    let url = "/mec_app_support/v1/applications/app1/traffic_rules/tr1";
    rt.block_on(async {
        let mut conn = connect(addr).await;
        let (_, body) = send(&mut conn, addr, "GET", url, Bytes::new()).await;
        let mut rule: serde_json::Value = serde_json::from_slice(&body).unwrap();
        for i in 0..updates {
            rule["state"] = serde_json::json!(if i % 2 == 0 { "ACTIVE" } else { "INACTIVE" });
            let b = Bytes::from(rule.to_string());
            let t = Instant::now();
            let (st, _) = send(&mut conn, addr, "PUT", url, b).await;
            let us = t.elapsed().as_micros() as u64;
            assert_eq!(st, 200);
            h.record(us.max(1)).unwrap();
        }
    });
    let puts = link.stats.puts_sent.load(Ordering::Relaxed);
    assert!(puts >= updates as u64, "every update reached the dataplane");
    println!(
        "rule update -> dataplane ack ({updates} PUTs, 2 workers): p50 {} us, p90 {} us, p99 {} us, max {} us",
        h.value_at_quantile(0.5),
        h.value_at_quantile(0.9),
        h.value_at_quantile(0.99),
        h.max()
    );
    drop(s);
    drop(rt);
    dp.shutdown();
    let _ = std::fs::remove_dir_all(&dir);
}
