//! The HTTP layer: every path and method of the two ETSI OpenAPI files,
//! bodies decoded strictly (malformed JSON, `null`, wrong types and unknown
//! enum values are 400 ProblemDetails before anything is touched), errors
//! as `application/problem+json`, `Location` on 201, `ETag`/`If-Match` on
//! rules and services.

use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};

use axum::extract::rejection::PathRejection;
use axum::extract::{Path, RawQuery, State};
use axum::http::{header, HeaderMap, HeaderValue, Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Extension, Router};
use bytes::Bytes;
use serde::de::DeserializeOwned;
use serde::Serialize;
use serde_json::Value;

use crate::core::{etag, Caller, Core, IfMatch, ServiceQuery, APP_SUPPORT, SERVICE_MGMT};
use crate::model::*;
use crate::problem::ApiError;

/// Identities from the client certificate (CN, SAN URIs and DNS names),
/// inserted by the TLS acceptor.
#[derive(Clone, Debug, Default)]
pub struct PeerIds(pub Vec<String>);

/// Shared by every handler.
#[derive(Clone)]
pub struct Api {
    /// The logic.
    pub core: Arc<Core>,
    /// Scheme of this listener.
    pub https: bool,
}

/// Longest query string accepted (414 beyond).
pub const MAX_QUERY: usize = 8192;

type Res = Result<Response, ApiError>;

fn json_response<T: Serialize>(status: StatusCode, v: &T) -> Response {
    let body = serde_json::to_vec(v).unwrap_or_default();
    let mut r = (status, body).into_response();
    r.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    r
}

fn with_etag(mut r: Response, rev: u64) -> Response {
    if let Ok(v) = HeaderValue::from_str(&etag(rev)) {
        r.headers_mut().insert(header::ETAG, v);
    }
    r
}

fn created<T: Serialize>(v: &T, location: &str) -> Response {
    let mut r = json_response(StatusCode::CREATED, v);
    if let Ok(l) = HeaderValue::from_str(location) {
        r.headers_mut().insert(header::LOCATION, l);
    }
    r
}

fn no_content() -> Response {
    StatusCode::NO_CONTENT.into_response()
}

fn has_null(v: &Value) -> Option<String> {
    match v {
        Value::Null => Some(String::new()),
        Value::Array(a) => a
            .iter()
            .enumerate()
            .find_map(|(i, x)| has_null(x).map(|p| format!("[{i}]{p}"))),
        Value::Object(m) => m
            .iter()
            .find_map(|(k, x)| has_null(x).map(|p| format!(".{k}{p}"))),
        _ => None,
    }
}

/// Decodes a JSON request body strictly.
pub fn parse_body<T: DeserializeOwned>(headers: &HeaderMap, body: &[u8]) -> Result<T, ApiError> {
    if let Some(ct) = headers.get(header::CONTENT_TYPE) {
        let ct = ct.to_str().unwrap_or("").to_ascii_lowercase();
        let essence = ct.split(';').next().unwrap_or("").trim();
        if !(essence == "application/json" || essence.ends_with("+json")) {
            return Err(ApiError::bad_request(format!(
                "the body must be application/json, not {essence:?}"
            )));
        }
    }
    if body.is_empty() {
        return Err(ApiError::bad_request("a JSON body is required"));
    }
    let v: Value = serde_json::from_slice(body)
        .map_err(|e| ApiError::bad_request(format!("malformed JSON: {e}")))?;
    if !v.is_object() {
        return Err(ApiError::bad_request("the body must be a JSON object"));
    }
    if let Some(p) = has_null(&v) {
        return Err(ApiError::bad_request(format!(
            "{}: null is not a valid value",
            p.trim_start_matches('.')
        )));
    }
    serde_path_to_error::deserialize(v).map_err(|e| {
        let path = e.path().to_string();
        let inner = e.into_inner();
        if path == "." {
            ApiError::bad_request(inner.to_string())
        } else {
            ApiError::bad_request(format!("{path}: {inner}"))
        }
    })
}

fn optional_body<T: DeserializeOwned>(
    headers: &HeaderMap,
    body: &[u8],
) -> Result<Option<T>, ApiError> {
    if body.iter().all(u8::is_ascii_whitespace) {
        return Ok(None);
    }
    parse_body(headers, body).map(Some)
}

fn path<T>(p: Result<Path<T>, PathRejection>) -> Result<T, ApiError> {
    p.map(|Path(t)| t)
        .map_err(|e| ApiError::bad_request(format!("bad path: {e}")))
}

fn if_match(h: &HeaderMap) -> Option<IfMatch> {
    h.get(header::IF_MATCH)
        .and_then(|v| v.to_str().ok())
        .map(IfMatch::parse)
}

impl Api {
    fn base(&self, h: &HeaderMap) -> String {
        let host = h
            .get(header::HOST)
            .and_then(|v| v.to_str().ok())
            .filter(|h| !h.is_empty() && h.bytes().all(|c| c.is_ascii_graphic()))
            .unwrap_or("localhost");
        format!("{}://{host}", if self.https { "https" } else { "http" })
    }

    fn caller(&self, h: &HeaderMap, peer: &Option<Extension<PeerIds>>) -> Result<Caller, ApiError> {
        let bearer = h
            .get(header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| {
                let (scheme, tok) = v.split_once(' ')?;
                scheme.eq_ignore_ascii_case("bearer").then(|| tok.trim())
            });
        let ids: &[String] = peer
            .as_ref()
            .map(|Extension(p)| p.0.as_slice())
            .unwrap_or(&[]);
        self.core.authenticate(bearer, ids)
    }

    /// Authenticates and checks access to `app`.
    fn app(
        &self,
        h: &HeaderMap,
        peer: &Option<Extension<PeerIds>>,
        app: &str,
    ) -> Result<(), ApiError> {
        let c = self.caller(h, peer)?;
        self.core.own(&c, app)
    }
}

type Peer = Option<Extension<PeerIds>>;

// ---------------------------------------------------------------- app support

async fn traffic_rules(
    State(a): State<Api>,
    peer: Peer,
    h: HeaderMap,
    p: Result<Path<String>, PathRejection>,
) -> Res {
    let app = path(p)?;
    a.app(&h, &peer, &app)?;
    Ok(json_response(StatusCode::OK, &a.core.traffic_rules(&app)))
}

async fn traffic_rule_get(
    State(a): State<Api>,
    peer: Peer,
    h: HeaderMap,
    p: Result<Path<(String, String)>, PathRejection>,
) -> Res {
    let (app, id) = path(p)?;
    a.app(&h, &peer, &app)?;
    let (r, rev) = a.core.traffic_rule(&app, &id)?;
    Ok(with_etag(json_response(StatusCode::OK, &r), rev))
}

async fn traffic_rule_put(
    State(a): State<Api>,
    peer: Peer,
    h: HeaderMap,
    p: Result<Path<(String, String)>, PathRejection>,
    body: Bytes,
) -> Res {
    let (app, id) = path(p)?;
    a.app(&h, &peer, &app)?;
    let rule: TrafficRule = parse_body(&h, &body)?;
    let (r, rev) = a
        .core
        .put_traffic_rule(&app, &id, rule, if_match(&h))
        .await?;
    Ok(with_etag(json_response(StatusCode::OK, &r), rev))
}

async fn dns_rules(
    State(a): State<Api>,
    peer: Peer,
    h: HeaderMap,
    p: Result<Path<String>, PathRejection>,
) -> Res {
    let app = path(p)?;
    a.app(&h, &peer, &app)?;
    Ok(json_response(StatusCode::OK, &a.core.dns_rules(&app)))
}

async fn dns_rule_get(
    State(a): State<Api>,
    peer: Peer,
    h: HeaderMap,
    p: Result<Path<(String, String)>, PathRejection>,
) -> Res {
    let (app, id) = path(p)?;
    a.app(&h, &peer, &app)?;
    let (r, rev) = a.core.dns_rule(&app, &id)?;
    Ok(with_etag(json_response(StatusCode::OK, &r), rev))
}

async fn dns_rule_put(
    State(a): State<Api>,
    peer: Peer,
    h: HeaderMap,
    p: Result<Path<(String, String)>, PathRejection>,
    body: Bytes,
) -> Res {
    let (app, id) = path(p)?;
    a.app(&h, &peer, &app)?;
    let rule: DnsRule = parse_body(&h, &body)?;
    let (r, rev) = a.core.put_dns_rule(&app, &id, rule, if_match(&h)).await?;
    Ok(with_etag(json_response(StatusCode::OK, &r), rev))
}

async fn term_subs(
    State(a): State<Api>,
    peer: Peer,
    h: HeaderMap,
    p: Result<Path<String>, PathRejection>,
) -> Res {
    let app = path(p)?;
    a.app(&h, &peer, &app)?;
    let l = a.core.subscription_list(&a.base(&h), APP_SUPPORT, &app);
    Ok(json_response(StatusCode::OK, &l))
}

async fn term_sub_post(
    State(a): State<Api>,
    peer: Peer,
    h: HeaderMap,
    p: Result<Path<String>, PathRejection>,
    body: Bytes,
) -> Res {
    let app = path(p)?;
    a.app(&h, &peer, &app)?;
    let sub: AppTerminationNotificationSubscription = parse_body(&h, &body)?;
    let s = a.core.create_term_sub(&a.base(&h), &app, sub).await?;
    let loc = s
        .links
        .as_ref()
        .map(|l| l.self_.href.clone())
        .unwrap_or_default();
    Ok(created(&s, &loc))
}

async fn term_sub_get(
    State(a): State<Api>,
    peer: Peer,
    h: HeaderMap,
    p: Result<Path<(String, String)>, PathRejection>,
) -> Res {
    let (app, id) = path(p)?;
    a.app(&h, &peer, &app)?;
    Ok(json_response(
        StatusCode::OK,
        &a.core.term_sub(&a.base(&h), &app, &id)?,
    ))
}

async fn term_sub_delete(
    State(a): State<Api>,
    peer: Peer,
    h: HeaderMap,
    p: Result<Path<(String, String)>, PathRejection>,
) -> Res {
    let (app, id) = path(p)?;
    a.app(&h, &peer, &app)?;
    a.core.delete_sub(APP_SUPPORT, &app, &id).await?;
    Ok(no_content())
}

async fn confirm_termination(
    State(a): State<Api>,
    peer: Peer,
    h: HeaderMap,
    p: Result<Path<String>, PathRejection>,
    body: Bytes,
) -> Res {
    let app = path(p)?;
    a.app(&h, &peer, &app)?;
    let c: Option<AppTerminationConfirmation> = optional_body(&h, &body)?;
    a.core
        .finish_termination(&a.base(&h), &app, c.map(|c| c.operation_action))
        .await?;
    Ok(no_content())
}

async fn confirm_ready(
    State(a): State<Api>,
    peer: Peer,
    h: HeaderMap,
    p: Result<Path<String>, PathRejection>,
    body: Bytes,
) -> Res {
    let app = path(p)?;
    a.app(&h, &peer, &app)?;
    let c: Option<AppReadyConfirmation> = optional_body(&h, &body)?;
    if let Some(c) = c {
        if c.indication != "READY" {
            return Err(ApiError::bad_request("indication shall be READY"));
        }
    }
    a.core.confirm_ready(&app).await?;
    Ok(no_content())
}

fn now() -> (i64, u32) {
    let d = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default();
    (d.as_secs() as i64, d.subsec_nanos())
}

/// True when the system clock is synchronised (systemd-timesyncd marks it).
fn clock_traceable() -> bool {
    std::path::Path::new("/run/systemd/timesync/synchronized").exists()
}

async fn timing_caps(State(a): State<Api>, peer: Peer, h: HeaderMap) -> Res {
    a.caller(&h, &peer)?;
    let (seconds, nano_seconds) = now();
    let caps = TimingCaps {
        time_stamp: TimeStamp {
            seconds,
            nano_seconds,
        },
        ntp_servers: a
            .core
            .config()
            .ntp_servers
            .iter()
            .enumerate()
            .map(|(i, s)| NtpServer {
                ntp_server_addr_type: if s.parse::<std::net::IpAddr>().is_ok() {
                    "IP_ADDRESS".into()
                } else {
                    "DNS_NAME".into()
                },
                ntp_server_addr: s.clone(),
                min_polling_interval: 6,
                max_polling_interval: 10,
                local_priority: i as u32 + 1,
                authentication_option: "NONE".into(),
                authentication_key_num: 0,
            })
            .collect(),
    };
    Ok(json_response(StatusCode::OK, &caps))
}

async fn current_time(State(a): State<Api>, peer: Peer, h: HeaderMap) -> Res {
    a.caller(&h, &peer)?;
    let (seconds, nano_seconds) = now();
    Ok(json_response(
        StatusCode::OK,
        &CurrentTime {
            seconds,
            nano_seconds,
            time_source_status: if clock_traceable() {
                "TRACEABLE".into()
            } else {
                "NONTRACEABLE".into()
            },
        },
    ))
}

// ---------------------------------------------------------------- service management

async fn ser_subs(
    State(a): State<Api>,
    peer: Peer,
    h: HeaderMap,
    p: Result<Path<String>, PathRejection>,
) -> Res {
    let app = path(p)?;
    a.app(&h, &peer, &app)?;
    let l = a.core.subscription_list(&a.base(&h), SERVICE_MGMT, &app);
    Ok(json_response(StatusCode::OK, &l))
}

async fn ser_sub_post(
    State(a): State<Api>,
    peer: Peer,
    h: HeaderMap,
    p: Result<Path<String>, PathRejection>,
    body: Bytes,
) -> Res {
    let app = path(p)?;
    a.app(&h, &peer, &app)?;
    let sub: SerAvailabilityNotificationSubscription = parse_body(&h, &body)?;
    let s = a.core.create_ser_sub(&a.base(&h), &app, sub).await?;
    let loc = s
        .links
        .as_ref()
        .map(|l| l.self_.href.clone())
        .unwrap_or_default();
    Ok(created(&s, &loc))
}

async fn ser_sub_get(
    State(a): State<Api>,
    peer: Peer,
    h: HeaderMap,
    p: Result<Path<(String, String)>, PathRejection>,
) -> Res {
    let (app, id) = path(p)?;
    a.app(&h, &peer, &app)?;
    Ok(json_response(
        StatusCode::OK,
        &a.core.ser_sub(&a.base(&h), &app, &id)?,
    ))
}

async fn ser_sub_delete(
    State(a): State<Api>,
    peer: Peer,
    h: HeaderMap,
    p: Result<Path<(String, String)>, PathRejection>,
) -> Res {
    let (app, id) = path(p)?;
    a.app(&h, &peer, &app)?;
    a.core.delete_sub(SERVICE_MGMT, &app, &id).await?;
    Ok(no_content())
}

fn query(uri: &Uri, raw: Option<String>) -> Result<ServiceQuery, ApiError> {
    if uri.query().is_some_and(|q| q.len() > MAX_QUERY) {
        return Err(ApiError::new(
            StatusCode::URI_TOO_LONG,
            format!("the query is longer than {MAX_QUERY} bytes"),
        ));
    }
    ServiceQuery::parse(raw.as_deref())
}

async fn app_services(
    State(a): State<Api>,
    peer: Peer,
    h: HeaderMap,
    uri: Uri,
    p: Result<Path<String>, PathRejection>,
    RawQuery(raw): RawQuery,
) -> Res {
    let app = path(p)?;
    a.app(&h, &peer, &app)?;
    let q = query(&uri, raw)?;
    Ok(json_response(
        StatusCode::OK,
        &a.core.query_services(&q, Some(&app)),
    ))
}

async fn app_service_post(
    State(a): State<Api>,
    peer: Peer,
    h: HeaderMap,
    p: Result<Path<String>, PathRejection>,
    body: Bytes,
) -> Res {
    let app = path(p)?;
    a.app(&h, &peer, &app)?;
    let info: ServiceInfo = parse_body(&h, &body)?;
    let base = a.base(&h);
    let s = a.core.create_service(&base, &app, info).await?;
    let loc = format!(
        "{base}{SERVICE_MGMT}/applications/{}/services/{}",
        crate::core::seg(&app),
        crate::core::seg(s.ser_instance_id.as_deref().unwrap_or(""))
    );
    Ok(with_etag(created(&s, &loc), 1))
}

async fn app_service_get(
    State(a): State<Api>,
    peer: Peer,
    h: HeaderMap,
    p: Result<Path<(String, String)>, PathRejection>,
) -> Res {
    let (app, id) = path(p)?;
    a.app(&h, &peer, &app)?;
    let (s, rev) = a.core.own_service(&app, &id)?;
    Ok(with_etag(json_response(StatusCode::OK, &s), rev))
}

async fn app_service_put(
    State(a): State<Api>,
    peer: Peer,
    h: HeaderMap,
    p: Result<Path<(String, String)>, PathRejection>,
    body: Bytes,
) -> Res {
    let (app, id) = path(p)?;
    a.app(&h, &peer, &app)?;
    let info: ServiceInfo = parse_body(&h, &body)?;
    let (s, rev) = a
        .core
        .put_service(&a.base(&h), &app, &id, info, if_match(&h))
        .await?;
    Ok(with_etag(json_response(StatusCode::OK, &s), rev))
}

async fn app_service_delete(
    State(a): State<Api>,
    peer: Peer,
    h: HeaderMap,
    p: Result<Path<(String, String)>, PathRejection>,
) -> Res {
    let (app, id) = path(p)?;
    a.app(&h, &peer, &app)?;
    a.core.delete_service(&a.base(&h), &app, &id).await?;
    Ok(no_content())
}

async fn services(
    State(a): State<Api>,
    peer: Peer,
    h: HeaderMap,
    uri: Uri,
    RawQuery(raw): RawQuery,
) -> Res {
    a.caller(&h, &peer)?;
    let q = query(&uri, raw)?;
    Ok(json_response(
        StatusCode::OK,
        &a.core.query_services(&q, None),
    ))
}

async fn service_get(
    State(a): State<Api>,
    peer: Peer,
    h: HeaderMap,
    p: Result<Path<String>, PathRejection>,
) -> Res {
    let id = path(p)?;
    a.caller(&h, &peer)?;
    Ok(json_response(StatusCode::OK, &a.core.service(&id)?))
}

async fn transports(State(a): State<Api>, peer: Peer, h: HeaderMap) -> Res {
    a.caller(&h, &peer)?;
    Ok(json_response(
        StatusCode::OK,
        &a.core.transports(&a.base(&h)),
    ))
}

async fn not_found(uri: Uri) -> Response {
    ApiError::not_found(format!("no resource {}", uri.path()))
        .at(uri.path())
        .into_response()
}

/// The 405 answer, keeping axum's `Allow` header.
async fn method_not_allowed(method: Method, uri: Uri) -> Response {
    ApiError::new(
        StatusCode::METHOD_NOT_ALLOWED,
        format!("{method} is not allowed on {}", uri.path()),
    )
    .at(uri.path())
    .into_response()
}

/// Stamps the request path into ProblemDetails answers.
async fn problem_instance(req: axum::extract::Request, next: axum::middleware::Next) -> Response {
    let path = req.uri().path().to_string();
    let mut r = next.run(req).await;
    let is_problem = r
        .headers()
        .get(header::CONTENT_TYPE)
        .is_some_and(|v| v.as_bytes() == b"application/problem+json");
    if is_problem && r.status() != StatusCode::METHOD_NOT_ALLOWED {
        let (parts, body) = r.into_parts();
        let bytes = axum::body::to_bytes(body, 1 << 20)
            .await
            .unwrap_or_default();
        let mut p: ProblemDetails = serde_json::from_slice(&bytes).unwrap_or_default();
        p.instance.get_or_insert(path);
        r = Response::from_parts(
            parts,
            axum::body::Body::from(serde_json::to_vec(&p).unwrap_or_default()),
        );
    }
    r
}

/// The Mp1 router (both APIs).
pub fn router(api: Api) -> Router {
    let app_support = Router::new()
        .route(
            "/applications/{appInstanceId}/traffic_rules",
            get(traffic_rules),
        )
        .route(
            "/applications/{appInstanceId}/traffic_rules/{trafficRuleId}",
            get(traffic_rule_get).put(traffic_rule_put),
        )
        .route("/applications/{appInstanceId}/dns_rules", get(dns_rules))
        .route(
            "/applications/{appInstanceId}/dns_rules/{dnsRuleId}",
            get(dns_rule_get).put(dns_rule_put),
        )
        .route(
            "/applications/{appInstanceId}/subscriptions",
            get(term_subs).post(term_sub_post),
        )
        .route(
            "/applications/{appInstanceId}/subscriptions/{subscriptionId}",
            get(term_sub_get).delete(term_sub_delete),
        )
        .route(
            "/applications/{appInstanceId}/confirm_termination",
            post(confirm_termination),
        )
        .route(
            "/applications/{appInstanceId}/confirm_ready",
            post(confirm_ready),
        )
        .route("/timing/timing_caps", get(timing_caps))
        .route("/timing/current_time", get(current_time));
    let service_mgmt = Router::new()
        .route(
            "/applications/{appInstanceId}/subscriptions",
            get(ser_subs).post(ser_sub_post),
        )
        .route(
            "/applications/{appInstanceId}/subscriptions/{subscriptionId}",
            get(ser_sub_get).delete(ser_sub_delete),
        )
        .route(
            "/applications/{appInstanceId}/services",
            get(app_services).post(app_service_post),
        )
        .route(
            "/applications/{appInstanceId}/services/{serviceId}",
            get(app_service_get)
                .put(app_service_put)
                .delete(app_service_delete),
        )
        .route("/services", get(services))
        .route("/services/{serviceId}", get(service_get))
        .route("/transports", get(transports));
    Router::new()
        .nest(APP_SUPPORT, app_support)
        .nest(SERVICE_MGMT, service_mgmt)
        .fallback(not_found)
        .method_not_allowed_fallback(method_not_allowed)
        .layer(axum::middleware::from_fn(problem_instance))
        .with_state(api)
}
