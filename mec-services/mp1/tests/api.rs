//! The Mp1 API in process over real HTTP: authorization, strict decoding
//! with nothing half-applied, service discovery with every filter,
//! notifications with retries, termination, and state across restarts.

mod common;

use std::time::{Duration, Instant};

use common::*;
use hyper::{Method, StatusCode};
use serde_json::{json, Value};

const AS: &str = "/mec_app_support/v1";
const SM: &str = "/mec_service_mgmt/v1";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bearer_tokens_limit_each_app_to_its_own_resources() {
    let dir = TempDir::new("auth");
    let s = mec_services::start(&config(dir.path(), "h1", "bearer", ""), opts())
        .await
        .unwrap();
    let b = format!("http://{}", s.addr);
    let url = format!("{b}{AS}/applications/app1/traffic_rules");
    let r = call(Method::GET, &url, None, None).await;
    assert_problem(&r, 401);
    assert!(r.headers.get("www-authenticate").is_some());
    assert_problem(&call(Method::GET, &url, Some("wrong"), None).await, 401);
    assert_problem(&call(Method::GET, &url, Some("tok2"), None).await, 403);
    let r = call(Method::GET, &url, Some("tok1"), None).await;
    assert_eq!(r.status, 200);
    assert_eq!(r.body[0]["trafficRuleId"], "tr1");
    // Another app's rule, subscription list and services are off limits too.
    for p in [
        format!("{AS}/applications/app1/dns_rules/dns1"),
        format!("{AS}/applications/app1/subscriptions"),
        format!("{SM}/applications/app1/services"),
        format!("{SM}/applications/app1/subscriptions"),
    ] {
        assert_problem(
            &call(Method::GET, &format!("{b}{p}"), Some("tok2"), None).await,
            403,
        );
    }
    // Unknown app (as itself with auth none would be 404; here it is not
    // the caller): 403 without revealing whether it exists.
    assert_problem(
        &call(
            Method::GET,
            &format!("{b}{AS}/applications/nope/traffic_rules"),
            Some("tok1"),
            None,
        )
        .await,
        403,
    );
    // Platform-wide resources are open to every authenticated app.
    for p in [
        format!("{SM}/services"),
        format!("{SM}/transports"),
        format!("{AS}/timing/current_time"),
        format!("{AS}/timing/timing_caps"),
    ] {
        assert_eq!(
            call(Method::GET, &format!("{b}{p}"), Some("tok2"), None)
                .await
                .status,
            200,
            "{p}"
        );
        assert_problem(
            &call(Method::GET, &format!("{b}{p}"), None, None).await,
            401,
        );
    }
    let t = call(
        Method::GET,
        &format!("{b}{AS}/timing/current_time"),
        Some("tok1"),
        None,
    )
    .await;
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64;
    assert!((t.body["seconds"].as_i64().unwrap() - now).abs() <= 2);
    assert!(["TRACEABLE", "NONTRACEABLE"].contains(&t.body["timeSourceStatus"].as_str().unwrap()));
    // Unknown paths and methods: ProblemDetails 404 and 405 with Allow.
    assert_problem(
        &call(Method::GET, &format!("{b}/nothing"), Some("tok1"), None).await,
        404,
    );
    let r = call(Method::DELETE, &url, Some("tok1"), None).await;
    assert_problem(&r, 405);
    assert!(r.headers.get("allow").is_some());
    s.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_bodies_are_400_and_change_nothing() {
    let dir = TempDir::new("bad");
    let s = mec_services::start(&config(dir.path(), "h1", "bearer", ""), opts())
        .await
        .unwrap();
    let url = format!("http://{}{AS}/applications/app1/traffic_rules/tr1", s.addr);
    let before = call(Method::GET, &url, Some("tok1"), None).await;
    assert_eq!(before.headers.get("etag").unwrap(), "\"1\"");
    let good = before.body.clone();
    let mut cases: Vec<(String, Vec<u8>)> = vec![
        ("malformed".into(), b"{\"trafficRuleId\": \"tr1\",".to_vec()),
        ("array".into(), b"[]".to_vec()),
        ("empty".into(), Vec::new()),
    ];
    let mut variant = |name: &str, f: &dyn Fn(&mut Value)| {
        let mut v = good.clone();
        f(&mut v);
        cases.push((name.into(), v.to_string().into_bytes()));
    };
    variant("unknown action", &|v| v["action"] = json!("TELEPORT"));
    variant("unknown state", &|v| v["state"] = json!("ON"));
    variant("priority string", &|v| v["priority"] = json!("1"));
    variant("priority range", &|v| v["priority"] = json!(300));
    variant("null", &|v| v["dstInterface"] = Value::Null);
    variant("missing field", &|v| {
        v.as_object_mut().unwrap().remove("filterType");
    });
    variant("id mismatch", &|v| v["trafficRuleId"] = json!("other"));
    variant("bad address", &|v| {
        v["trafficFilter"][0]["dstAddress"] = json!(["198.18.9.0/33"])
    });
    variant("bad port", &|v| {
        v["trafficFilter"][0]["dstPort"] = json!(["70000"])
    });
    variant("tunnel for decap", &|v| {
        v["dstInterface"] = json!({"interfaceType": "TUNNEL"})
    });
    variant("active but malformed", &|v| {
        v["state"] = json!("ACTIVE");
        v["trafficFilter"][0]["protocol"] = json!(["NOTAPROTO"]);
    });
    for (name, body) in &cases {
        let r = raw(
            Method::PUT,
            &url,
            Some("tok1"),
            &[("content-type", "application/json")],
            body,
        )
        .await;
        assert_problem(&r, 400);
        let _ = name;
    }
    // Wrong content type.
    let r = raw(
        Method::PUT,
        &url,
        Some("tok1"),
        &[("content-type", "text/plain")],
        good.to_string().as_bytes(),
    )
    .await;
    assert_problem(&r, 400);
    let after = call(Method::GET, &url, Some("tok1"), None).await;
    assert_eq!(after.body, good);
    assert_eq!(after.headers.get("etag").unwrap(), "\"1\"");

    // A good update: new ETag; a stale If-Match then fails with 412.
    let mut on = good.clone();
    on["state"] = json!("ACTIVE");
    let r = raw(
        Method::PUT,
        &url,
        Some("tok1"),
        &[("content-type", "application/json"), ("if-match", "\"1\"")],
        on.to_string().as_bytes(),
    )
    .await;
    assert_eq!(r.status, 200);
    assert_eq!(r.headers.get("etag").unwrap(), "\"2\"");
    assert_eq!(r.body["state"], "ACTIVE");
    let r = raw(
        Method::PUT,
        &url,
        Some("tok1"),
        &[("content-type", "application/json"), ("if-match", "\"1\"")],
        good.to_string().as_bytes(),
    )
    .await;
    assert_problem(&r, 412);
    assert_eq!(
        call(Method::GET, &url, Some("tok1"), None).await.body["state"],
        "ACTIVE"
    );
    // DNS rules: family must match the type.
    let durl = format!("http://{}{AS}/applications/app1/dns_rules/dns1", s.addr);
    let mut d = call(Method::GET, &durl, Some("tok1"), None).await.body;
    d["ipAddressType"] = json!("IP_V6");
    assert_problem(&call(Method::PUT, &durl, Some("tok1"), Some(&d)).await, 400);
    d["ipAddress"] = json!("2001:db8:9::50");
    d["state"] = json!("ACTIVE");
    let r = call(Method::PUT, &durl, Some("tok1"), Some(&d)).await;
    assert_eq!(r.status, 200);
    assert_eq!(r.body, d);
    s.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn services_are_discovered_by_every_filter_and_changes_are_notified() {
    let dir = TempDir::new("svc");
    let s = mec_services::start(&config(dir.path(), "h1", "bearer", ""), opts())
        .await
        .unwrap();
    let b = format!("http://{}", s.addr);
    // app2 subscribes to services named "rnis".
    let cb = callback(0, false).await;
    let sub = json!({"subscriptionType": "SerAvailabilityNotificationSubscription",
        "callbackReference": cb.url, "filteringCriteria": {"serNames": ["rnis"]}});
    let r = call(
        Method::POST,
        &format!("{b}{SM}/applications/app2/subscriptions"),
        Some("tok2"),
        Some(&sub),
    )
    .await;
    assert_eq!(r.status, 201);
    let loc = r
        .headers
        .get("location")
        .unwrap()
        .to_str()
        .unwrap()
        .to_string();
    assert_eq!(r.body["_links"]["self"]["href"], loc.as_str());
    assert_eq!(
        call(Method::GET, &loc, Some("tok2"), None).await.body,
        r.body
    );
    let list = call(
        Method::GET,
        &format!("{b}{SM}/applications/app2/subscriptions"),
        Some("tok2"),
        None,
    )
    .await;
    assert_eq!(
        list.body["_links"]["subscriptions"][0]["href"],
        loc.as_str()
    );
    assert_eq!(
        list.body["_links"]["subscriptions"][0]["rel"],
        "SerAvailabilityNotificationSubscription"
    );
    // Bad subscriptions.
    for bad in [
        json!({"subscriptionType": "Other", "callbackReference": cb.url}),
        json!({"subscriptionType": "SerAvailabilityNotificationSubscription", "callbackReference": "not a uri"}),
        json!({"subscriptionType": "SerAvailabilityNotificationSubscription", "callbackReference": cb.url,
               "filteringCriteria": {"states": ["MAYBE"]}}),
    ] {
        assert_problem(
            &call(
                Method::POST,
                &format!("{b}{SM}/applications/app2/subscriptions"),
                Some("tok2"),
                Some(&bad),
            )
            .await,
            400,
        );
    }

    // app1 registers two services; only "rnis" is notified.
    let mut rnis = service_body("rnis");
    rnis["scopeOfLocality"] = json!("MEC_HOST");
    let r = call(
        Method::POST,
        &format!("{b}{SM}/applications/app1/services"),
        Some("tok1"),
        Some(&rnis),
    )
    .await;
    assert_eq!(r.status, 201);
    let id = r.body["serInstanceId"].as_str().unwrap().to_string();
    let own = r
        .headers
        .get("location")
        .unwrap()
        .to_str()
        .unwrap()
        .to_string();
    assert!(own.ends_with(&format!("/applications/app1/services/{id}")));
    assert_eq!(r.body["isLocal"], true);
    let mut loc_svc = service_body("location");
    loc_svc["serCategory"]["id"] = json!("loc");
    loc_svc["consumedLocalOnly"] = json!(true);
    loc_svc.as_object_mut().unwrap().remove("transportInfo");
    loc_svc["transportId"] = json!("mp1-rest-http");
    let r2 = call(
        Method::POST,
        &format!("{b}{SM}/applications/app1/services"),
        Some("tok1"),
        Some(&loc_svc),
    )
    .await;
    assert_eq!(r2.status, 201, "{}", r2.body);
    assert_eq!(r2.body["transportInfo"]["id"], "mp1-rest-http");
    let id2 = r2.body["serInstanceId"].as_str().unwrap().to_string();
    let got = cb.wait(1, Duration::from_secs(5)).await;
    assert_eq!(got.len(), 1);
    let n = &got[0];
    assert_eq!(
        n["notificationType"],
        "SerAvailabilityNotificationSubscription"
    );
    assert_eq!(n["serviceReferences"][0]["serInstanceId"], id.as_str());
    assert_eq!(n["serviceReferences"][0]["changeType"], "ADDED");
    assert_eq!(n["serviceReferences"][0]["state"], "ACTIVE");
    assert_eq!(n["_links"]["subscription"]["href"], loc.as_str());

    // Discovery by app2, with every filter.
    let q = |query: &str| {
        let url = format!("{b}{SM}/services{query}");
        async move {
            let r = call(Method::GET, &url, Some("tok2"), None).await;
            (r.status, r.body)
        }
    };
    let ids = |v: &Value| -> Vec<String> {
        let mut x: Vec<String> = v
            .as_array()
            .unwrap()
            .iter()
            .map(|s| s["serInstanceId"].as_str().unwrap().to_string())
            .collect();
        x.sort();
        x
    };
    let mut both = vec![id.clone(), id2.clone()];
    both.sort();
    assert_eq!(ids(&q("").await.1), both);
    assert_eq!(ids(&q("?ser_name=rnis").await.1), vec![id.clone()]);
    assert_eq!(ids(&q("?ser_name=rnis,location").await.1), both);
    assert_eq!(
        ids(&q(&format!("?ser_instance_id={id2}")).await.1),
        vec![id2.clone()]
    );
    assert_eq!(ids(&q("?ser_category_id=loc").await.1), vec![id2.clone()]);
    assert_eq!(
        ids(&q("?consumed_local_only=true").await.1),
        vec![id2.clone()]
    );
    assert_eq!(
        ids(&q("?consumed_local_only=false").await.1),
        vec![id.clone()]
    );
    assert_eq!(ids(&q("?is_local=true").await.1), both);
    assert!(ids(&q("?is_local=false").await.1).is_empty());
    assert_eq!(ids(&q("?scope_of_locality=MEC_HOST").await.1), both);
    assert!(ids(&q("?scope_of_locality=ZONE").await.1).is_empty());
    assert_eq!(q("?ser_name=rnis&ser_category_id=rni").await.0, 400);
    assert_eq!(q("?is_local=maybe").await.0, 400);
    let long = format!("?ser_name={}", "x".repeat(9000));
    assert_eq!(q(&long).await.0, StatusCode::URI_TOO_LONG);
    // The producer's own list.
    let r = call(
        Method::GET,
        &format!("{b}{SM}/applications/app1/services?ser_name=location"),
        Some("tok1"),
        None,
    )
    .await;
    assert_eq!(ids(&r.body), vec![id2.clone()]);
    assert_eq!(
        call(
            Method::GET,
            &format!("{b}{SM}/services/{id}"),
            Some("tok2"),
            None
        )
        .await
        .body["serName"],
        "rnis"
    );

    // Update: state only -> STATE_CHANGED; a version change -> ATTRIBUTES_CHANGED.
    let cur = call(Method::GET, &own, Some("tok1"), None).await;
    let etag = cur
        .headers
        .get("etag")
        .unwrap()
        .to_str()
        .unwrap()
        .to_string();
    let mut upd = cur.body.clone();
    upd["state"] = json!("INACTIVE");
    let r = raw(
        Method::PUT,
        &own,
        Some("tok1"),
        &[("content-type", "application/json"), ("if-match", &etag)],
        upd.to_string().as_bytes(),
    )
    .await;
    assert_eq!(r.status, 200, "{}", r.body);
    let r = raw(
        Method::PUT,
        &own,
        Some("tok1"),
        &[("content-type", "application/json"), ("if-match", &etag)],
        upd.to_string().as_bytes(),
    )
    .await;
    assert_problem(&r, 412);
    upd["version"] = json!("1.1");
    assert_eq!(
        call(Method::PUT, &own, Some("tok1"), Some(&upd))
            .await
            .status,
        200
    );
    upd["serName"] = json!("renamed");
    assert_problem(
        &call(Method::PUT, &own, Some("tok1"), Some(&upd)).await,
        400,
    );
    // Another app may not change or delete it.
    assert_problem(
        &call(
            Method::DELETE,
            &format!("{b}{SM}/applications/app2/services/{id}"),
            Some("tok2"),
            None,
        )
        .await,
        404,
    );
    let r = call(Method::DELETE, &own, Some("tok1"), None).await;
    assert_eq!(r.status, 204);
    assert_problem(&call(Method::GET, &own, Some("tok1"), None).await, 404);
    let got = cb.wait(4, Duration::from_secs(5)).await;
    let kinds: Vec<&str> = got
        .iter()
        .map(|n| n["serviceReferences"][0]["changeType"].as_str().unwrap())
        .collect();
    assert_eq!(
        kinds,
        ["ADDED", "STATE_CHANGED", "ATTRIBUTES_CHANGED", "REMOVED"]
    );
    // Unsubscribe: no more notifications.
    assert_eq!(
        call(Method::DELETE, &loc, Some("tok2"), None).await.status,
        204
    );
    assert_problem(&call(Method::GET, &loc, Some("tok2"), None).await, 404);
    call(
        Method::POST,
        &format!("{b}{SM}/applications/app1/services"),
        Some("tok1"),
        Some(&rnis),
    )
    .await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(cb.got.lock().unwrap().len(), 4);
    s.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_subscriber_that_never_answers_slows_nothing_and_failures_are_retried() {
    let dir = TempDir::new("notify");
    let s = mec_services::start(&config(dir.path(), "h1", "bearer", ""), opts())
        .await
        .unwrap();
    let b = format!("http://{}", s.addr);
    let dead = callback(0, true).await;
    let flaky = callback(2, false).await;
    for (cb, app, tok) in [(&dead, "app1", "tok1"), (&flaky, "app2", "tok2")] {
        let sub = json!({"subscriptionType": "SerAvailabilityNotificationSubscription",
            "callbackReference": cb.url});
        let r = call(
            Method::POST,
            &format!("{b}{SM}/applications/{app}/subscriptions"),
            Some(tok),
            Some(&sub),
        )
        .await;
        assert_eq!(r.status, 201);
    }
    let t0 = Instant::now();
    for i in 0..5 {
        let r = call(
            Method::POST,
            &format!("{b}{SM}/applications/app1/services"),
            Some("tok1"),
            Some(&service_body(&format!("svc{i}"))),
        )
        .await;
        assert_eq!(r.status, 201);
    }
    // Five registrations answered while the dead subscriber holds its
    // first attempt for the whole 300 ms timeout.
    let api_time = t0.elapsed();
    let got = flaky.wait(5, Duration::from_secs(10)).await;
    assert_eq!(got.len(), 5, "the flaky subscriber got every notification");
    let names: Vec<&str> = got
        .iter()
        .map(|n| n["serviceReferences"][0]["serName"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["svc0", "svc1", "svc2", "svc3", "svc4"], "in order");
    assert_eq!(
        *flaky.attempts.lock().unwrap(),
        7,
        "two refused attempts retried"
    );
    assert!(
        api_time < Duration::from_millis(1500),
        "API blocked by a subscriber: {api_time:?}"
    );
    assert!(dead.got.lock().unwrap().is_empty());
    assert!(*dead.attempts.lock().unwrap() >= 1);
    let st = &s.core.notifier().stats;
    assert_eq!(st.delivered.load(std::sync::atomic::Ordering::Relaxed), 5);
    s.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn graceful_termination_notifies_and_removes_everything_of_the_app() {
    let dir = TempDir::new("term");
    let s = mec_services::start(&config(dir.path(), "h1", "bearer", ""), opts())
        .await
        .unwrap();
    let b = format!("http://{}", s.addr);
    let admin = format!("http://{}", s.admin_addr.unwrap());
    let cb = callback(0, false).await;
    let sub = json!({"subscriptionType": "AppTerminationNotificationSubscription",
        "callbackReference": cb.url, "appInstanceId": "app1"});
    let r = call(
        Method::POST,
        &format!("{b}{AS}/applications/app1/subscriptions"),
        Some("tok1"),
        Some(&sub),
    )
    .await;
    assert_eq!(r.status, 201);
    let wrong = json!({"subscriptionType": "AppTerminationNotificationSubscription",
        "callbackReference": cb.url, "appInstanceId": "app2"});
    assert_problem(
        &call(
            Method::POST,
            &format!("{b}{AS}/applications/app1/subscriptions"),
            Some("tok1"),
            Some(&wrong),
        )
        .await,
        400,
    );
    let r = call(
        Method::POST,
        &format!("{b}{AS}/applications/app1/confirm_ready"),
        Some("tok1"),
        Some(&json!({"indication": "READY"})),
    )
    .await;
    assert_eq!(r.status, 204);
    assert_problem(
        &call(
            Method::POST,
            &format!("{b}{AS}/applications/app1/confirm_ready"),
            Some("tok1"),
            Some(&json!({"indication": "SOON"})),
        )
        .await,
        400,
    );
    call(
        Method::POST,
        &format!("{b}{SM}/applications/app1/services"),
        Some("tok1"),
        Some(&service_body("edge-cache")),
    )
    .await;
    // No termination pending: 409.
    assert_problem(
        &call(
            Method::POST,
            &format!("{b}{AS}/applications/app1/confirm_termination"),
            Some("tok1"),
            Some(&json!({"operationAction": "TERMINATING"})),
        )
        .await,
        409,
    );
    let r = call(
        Method::POST,
        &format!("{admin}/admin/apps/app1/terminate"),
        None,
        Some(&json!({"operationAction": "TERMINATING", "timeoutMs": 10000})),
    )
    .await;
    assert_eq!(r.status, 202);
    let got = cb.wait(1, Duration::from_secs(5)).await;
    assert_eq!(got[0]["notificationType"], "AppTerminationNotification");
    assert_eq!(got[0]["operationAction"], "TERMINATING");
    assert_eq!(got[0]["maxGracefulTimeout"], 10);
    let confirm = got[0]["_links"]["confirmTermination"]["href"]
        .as_str()
        .unwrap()
        .to_string();
    assert!(confirm.ends_with("/mec_app_support/v1/applications/app1/confirm_termination"));
    // Confirming the wrong operation is a conflict; the right one finishes.
    assert_problem(
        &call(
            Method::POST,
            &confirm,
            Some("tok1"),
            Some(&json!({"operationAction": "STOPPING"})),
        )
        .await,
        409,
    );
    let r = call(
        Method::POST,
        &confirm,
        Some("tok1"),
        Some(&json!({"operationAction": "TERMINATING"})),
    )
    .await;
    assert_eq!(r.status, 204);
    // Everything of app1 is gone; its token no longer works.
    {
        let reg = s.core.read();
        assert!(!reg.apps.contains_key("app1"));
        assert_eq!(reg.traffic_of("app1").count(), 0);
        assert_eq!(reg.dns_of("app1").count(), 0);
        assert!(reg.services.is_empty());
        assert!(reg.termsubs.is_empty());
    }
    assert_problem(
        &call(
            Method::GET,
            &format!("{b}{SM}/services"),
            Some("tok1"),
            None,
        )
        .await,
        401,
    );

    // app2: a stop that times out keeps its resources but stops them.
    let r = call(
        Method::POST,
        &format!("{admin}/admin/apps/app2/terminate"),
        None,
        Some(&json!({"operationAction": "STOPPING", "timeoutMs": 200})),
    )
    .await;
    assert_eq!(r.status, 202);
    tokio::time::sleep(Duration::from_millis(600)).await;
    assert!(s.core.read().apps["app2"].stopped);
    assert_eq!(
        call(
            Method::POST,
            &format!("{b}{AS}/applications/app2/confirm_ready"),
            Some("tok2"),
            None
        )
        .await
        .status,
        204
    );
    assert!(!s.core.read().apps["app2"].stopped);
    s.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn registrations_rules_and_subscriptions_survive_a_restart() {
    let dir = TempDir::new("restart");
    let cfg = config(dir.path(), "h1", "bearer", "");
    let (svc, sub, rule);
    {
        let s = mec_services::start(&cfg, opts()).await.unwrap();
        let b = format!("http://{}", s.addr);
        svc = call(
            Method::POST,
            &format!("{b}{SM}/applications/app1/services"),
            Some("tok1"),
            Some(&service_body("rnis")),
        )
        .await
        .body;
        sub = call(
            Method::POST,
            &format!("{b}{SM}/applications/app2/subscriptions"),
            Some("tok2"),
            Some(
                &json!({"subscriptionType": "SerAvailabilityNotificationSubscription",
                "callbackReference": "http://127.0.0.1:9/cb"}),
            ),
        )
        .await
        .body;
        let url = format!("{b}{AS}/applications/app1/traffic_rules/tr1");
        let mut r = call(Method::GET, &url, Some("tok1"), None).await.body;
        r["state"] = json!("ACTIVE");
        rule = call(Method::PUT, &url, Some("tok1"), Some(&r)).await.body;
        s.shutdown().await;
    }
    // Same database, new process state: the descriptor does not reset the
    // rule the app activated.
    let s = mec_services::start(&cfg, opts()).await.unwrap();
    let b = format!("http://{}", s.addr);
    let id = svc["serInstanceId"].as_str().unwrap();
    let got = call(
        Method::GET,
        &format!("{b}{SM}/services/{id}"),
        Some("tok2"),
        None,
    )
    .await;
    assert_eq!(got.status, 200);
    assert_eq!(got.body, svc);
    let sid = sub["_links"]["self"]["href"]
        .as_str()
        .unwrap()
        .rsplit('/')
        .next()
        .unwrap();
    let got = call(
        Method::GET,
        &format!("{b}{SM}/applications/app2/subscriptions/{sid}"),
        Some("tok2"),
        None,
    )
    .await;
    assert_eq!(got.status, 200);
    assert_eq!(got.body["callbackReference"], "http://127.0.0.1:9/cb");
    let got = call(
        Method::GET,
        &format!("{b}{AS}/applications/app1/traffic_rules/tr1"),
        Some("tok1"),
        None,
    )
    .await;
    assert_eq!(got.body, rule);
    assert_eq!(got.headers.get("etag").unwrap(), "\"2\"");
    s.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn apps_registered_on_the_admin_endpoint_get_their_own_resources() {
    let dir = TempDir::new("admin");
    let s = mec_services::start(&config(dir.path(), "h1", "bearer", ""), opts())
        .await
        .unwrap();
    let b = format!("http://{}", s.addr);
    let admin = format!("http://{}/admin/apps", s.admin_addr.unwrap());
    let rules: Value = serde_json::from_str(DESCRIPTOR).unwrap();
    // A descriptor with a bad rule registers nothing.
    let mut bad = rules.clone();
    bad["appTrafficRule"][0]["priority"] = json!(-1);
    let r = call(
        Method::PUT,
        &format!("{admin}/app3"),
        None,
        Some(&json!({"token": "tok3", "descriptor": bad})),
    )
    .await;
    assert_problem(&r, 400);
    assert!(!s.core.read().apps.contains_key("app3"));
    let r = call(
        Method::PUT,
        &format!("{admin}/app3"),
        None,
        Some(&json!({"name": "cache", "token": "tok3", "descriptor": rules})),
    )
    .await;
    assert_eq!(r.status, 201);
    let r = call(
        Method::GET,
        &format!("{b}{AS}/applications/app3/dns_rules"),
        Some("tok3"),
        None,
    )
    .await;
    assert_eq!(r.status, 200);
    assert_eq!(r.body[0]["dnsRuleId"], "dns1");
    assert_problem(
        &call(
            Method::GET,
            &format!("{b}{AS}/applications/app3/dns_rules"),
            Some("tok1"),
            None,
        )
        .await,
        403,
    );
    // Re-registering updates the token and keeps the rules.
    let r = call(
        Method::PUT,
        &format!("{admin}/app3"),
        None,
        Some(&json!({"token": "tok3b"})),
    )
    .await;
    assert_eq!(r.status, 200);
    assert_problem(
        &call(
            Method::GET,
            &format!("{b}{AS}/applications/app3/dns_rules"),
            Some("tok3"),
            None,
        )
        .await,
        401,
    );
    let r = call(
        Method::GET,
        &format!("{b}{AS}/applications/app3/dns_rules"),
        Some("tok3b"),
        None,
    )
    .await;
    assert_eq!(r.body.as_array().unwrap().len(), 1);
    let list = call(Method::GET, &admin, None, None).await;
    let app3 = list
        .body
        .as_array()
        .unwrap()
        .iter()
        .find(|a| a["instance_id"] == "app3")
        .unwrap()
        .clone();
    assert_eq!(
        (app3["traffic_rules"].clone(), app3["dns_rules"].clone()),
        (json!(1), json!(1))
    );
    s.shutdown().await;
}
