//! API errors and their ProblemDetails bodies.

use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};

use crate::model::ProblemDetails;
use crate::store::StoreError;
use crate::validate::RuleError;

/// An error answered with `application/problem+json`.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{status}: {detail}")]
pub struct ApiError {
    /// HTTP status.
    pub status: StatusCode,
    /// What went wrong.
    pub detail: String,
    /// The request path, when known.
    pub instance: Option<String>,
}

impl ApiError {
    /// An error with `status`.
    pub fn new(status: StatusCode, detail: impl Into<String>) -> ApiError {
        ApiError {
            status,
            detail: detail.into(),
            instance: None,
        }
    }
    /// 400.
    pub fn bad_request(detail: impl Into<String>) -> ApiError {
        ApiError::new(StatusCode::BAD_REQUEST, detail)
    }
    /// 401.
    pub fn unauthorized(detail: impl Into<String>) -> ApiError {
        ApiError::new(StatusCode::UNAUTHORIZED, detail)
    }
    /// 403.
    pub fn forbidden(detail: impl Into<String>) -> ApiError {
        ApiError::new(StatusCode::FORBIDDEN, detail)
    }
    /// 404.
    pub fn not_found(detail: impl Into<String>) -> ApiError {
        ApiError::new(StatusCode::NOT_FOUND, detail)
    }
    /// 409.
    pub fn conflict(detail: impl Into<String>) -> ApiError {
        ApiError::new(StatusCode::CONFLICT, detail)
    }
    /// 412.
    pub fn precondition(detail: impl Into<String>) -> ApiError {
        ApiError::new(StatusCode::PRECONDITION_FAILED, detail)
    }
    /// Sets the request path.
    pub fn at(mut self, path: &str) -> ApiError {
        self.instance = Some(path.to_string());
        self
    }
}

impl From<RuleError> for ApiError {
    fn from(e: RuleError) -> Self {
        ApiError::bad_request(e.to_string())
    }
}

impl From<StoreError> for ApiError {
    fn from(e: StoreError) -> Self {
        match e {
            StoreError::Conflict(k) => ApiError::precondition(format!(
                "{k} was changed by another MEC platform instance; read it again"
            )),
            e => {
                tracing::error!(error = %e, "storage failed; the change was not applied");
                ApiError::new(
                    StatusCode::SERVICE_UNAVAILABLE,
                    format!("storage unavailable, nothing was changed: {e}"),
                )
            }
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let body = ProblemDetails {
            kind: Some("about:blank".into()),
            title: self.status.canonical_reason().map(str::to_string),
            status: Some(self.status.as_u16()),
            detail: Some(self.detail),
            instance: self.instance,
        };
        let bytes = serde_json::to_vec(&body).unwrap_or_default();
        let mut r = (self.status, bytes).into_response();
        r.headers_mut().insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/problem+json"),
        );
        if self.status == StatusCode::UNAUTHORIZED {
            r.headers_mut().insert(
                header::WWW_AUTHENTICATE,
                HeaderValue::from_static("Bearer realm=\"mp1\""),
            );
        }
        r
    }
}
