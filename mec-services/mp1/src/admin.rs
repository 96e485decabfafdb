//! The admin endpoint (`mec.admin_listen`, meant for loopback): the MEC
//! platform manager's side of app lifecycle, which Mp1 itself does not
//! cover.
//!
//! - `GET /admin/apps`: every app with its counts;
//! - `PUT /admin/apps/{id}`: registers (or updates) an app:
//!   `{"name", "token", "certIdentity", "descriptor": {"appTrafficRule": [..], "appDNSRule": [..]}}`;
//! - `POST /admin/apps/{id}/terminate`: starts a graceful termination or
//!   stop: `{"operationAction": "TERMINATING"|"STOPPING", "timeoutMs": n}`;
//! - `GET /admin/status`: dataplane link and notification counters.

use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;

use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post, put};
use axum::Router;
use bytes::Bytes;
use serde::Deserialize;

use crate::api::parse_body;
use crate::core::Core;
use crate::model::{AppDescriptor, OperationAction};
use crate::problem::ApiError;
use crate::registry::AppSource;

#[derive(Clone)]
struct Admin {
    core: Arc<Core>,
    base: String,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct Register {
    #[serde(default)]
    name: Option<String>,
    #[serde(default)]
    token: Option<String>,
    #[serde(default)]
    cert_identity: Option<String>,
    #[serde(default)]
    descriptor: AppDescriptor,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct Terminate {
    #[serde(default = "default_action")]
    operation_action: OperationAction,
    #[serde(default)]
    timeout_ms: Option<u64>,
}

fn default_action() -> OperationAction {
    OperationAction::Terminating
}

async fn apps(State(a): State<Admin>) -> Response {
    axum::Json(a.core.apps_summary()).into_response()
}

async fn register(
    State(a): State<Admin>,
    Path(id): Path<String>,
    h: HeaderMap,
    body: Bytes,
) -> Result<Response, ApiError> {
    let r: Register = parse_body(&h, &body)?;
    if id.is_empty() {
        return Err(ApiError::bad_request("empty app instance ID"));
    }
    let created = a
        .core
        .upsert_app(
            &id,
            r.name,
            r.token.as_deref(),
            r.cert_identity,
            AppSource::Admin,
            &r.descriptor,
        )
        .await?;
    let st = if created {
        StatusCode::CREATED
    } else {
        StatusCode::OK
    };
    Ok((st, axum::Json(serde_json::json!({"instanceId": id}))).into_response())
}

async fn terminate(
    State(a): State<Admin>,
    Path(id): Path<String>,
    h: HeaderMap,
    body: Bytes,
) -> Result<Response, ApiError> {
    let t: Terminate = if body.is_empty() {
        Terminate {
            operation_action: default_action(),
            timeout_ms: None,
        }
    } else {
        parse_body(&h, &body)?
    };
    a.core
        .terminate(
            &a.base,
            &id,
            t.operation_action,
            t.timeout_ms.map(Duration::from_millis),
        )
        .await?;
    Ok(StatusCode::ACCEPTED.into_response())
}

async fn status(State(a): State<Admin>) -> Response {
    let n = &a.core.notifier().stats;
    let dp = a.core.dataplane().map(|d| {
        serde_json::json!({
            "attached": d.attached(),
            "steering_puts": d.stats.puts_sent.load(Ordering::Relaxed),
            "refused": d.stats.refused.load(Ordering::Relaxed),
            "resyncs": d.stats.resyncs.load(Ordering::Relaxed),
        })
    });
    axum::Json(serde_json::json!({
        "dataplane": dp,
        "notifications": {
            "delivered": n.delivered.load(Ordering::Relaxed),
            "failed_attempts": n.failed_attempts.load(Ordering::Relaxed),
            "abandoned": n.abandoned.load(Ordering::Relaxed),
            "dropped": n.dropped.load(Ordering::Relaxed),
        },
    }))
    .into_response()
}

/// The admin router; `base` is the Mp1 URL used in notifications.
pub fn router(core: Arc<Core>, base: String) -> Router {
    Router::new()
        .route("/admin/apps", get(apps))
        .route("/admin/apps/{id}", put(register))
        .route("/admin/apps/{id}/terminate", post(terminate))
        .route("/admin/status", get(status))
        .with_state(Admin { core, base })
}
