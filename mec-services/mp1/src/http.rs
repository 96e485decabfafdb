//! A small HTTP/1.1 client on hyper for notifications and the etcd
//! gateway: one connection per request (http or https through rustls),
//! a deadline on the whole exchange, and a streaming variant for watches.

use std::sync::{Arc, OnceLock};
use std::time::Duration;

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper::{Method, Request, StatusCode, Uri};
use hyper_util::rt::TokioIo;
use tokio::net::TcpStream;

/// Why a request failed.
#[derive(Debug, thiserror::Error)]
pub enum HttpError {
    /// The URI is not absolute http(s).
    #[error("bad URI {0:?}")]
    BadUri(String),
    /// Connecting failed.
    #[error("connect {0}: {1}")]
    Connect(String, std::io::Error),
    /// TLS failed.
    #[error("TLS with {0}: {1}")]
    Tls(String, String),
    /// HTTP failed.
    #[error("HTTP: {0}")]
    Http(String),
    /// The deadline passed.
    #[error("timed out")]
    Timeout,
}

fn roots() -> Result<Arc<rustls::ClientConfig>, HttpError> {
    static CFG: OnceLock<Result<Arc<rustls::ClientConfig>, String>> = OnceLock::new();
    CFG.get_or_init(|| {
        use rustls::pki_types::pem::PemObject;
        let mut store = rustls::RootCertStore::empty();
        for path in [
            "/etc/ssl/certs/ca-certificates.crt",
            "/etc/pki/tls/certs/ca-bundle.crt",
        ] {
            if let Ok(iter) = rustls::pki_types::CertificateDer::pem_file_iter(path) {
                for c in iter.flatten() {
                    let _ = store.add(c);
                }
                break;
            }
        }
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        rustls::ClientConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .map(|b| Arc::new(b.with_root_certificates(store).with_no_client_auth()))
            .map_err(|e| e.to_string())
    })
    .clone()
    .map_err(|e| HttpError::Tls("client configuration".into(), e))
}

type Sender = hyper::client::conn::http1::SendRequest<Full<Bytes>>;

async fn connect(uri: &Uri) -> Result<Sender, HttpError> {
    let https = match uri.scheme_str() {
        Some("http") => false,
        Some("https") => true,
        _ => return Err(HttpError::BadUri(uri.to_string())),
    };
    let host = uri
        .host()
        .ok_or_else(|| HttpError::BadUri(uri.to_string()))?
        .trim_start_matches('[')
        .trim_end_matches(']')
        .to_string();
    let port = uri.port_u16().unwrap_or(if https { 443 } else { 80 });
    let tcp = TcpStream::connect((host.as_str(), port))
        .await
        .map_err(|e| HttpError::Connect(format!("{host}:{port}"), e))?;
    let _ = tcp.set_nodelay(true);
    if https {
        let name = rustls::pki_types::ServerName::try_from(host.clone())
            .map_err(|e| HttpError::Tls(host.clone(), e.to_string()))?;
        let tls = tokio_rustls::TlsConnector::from(roots()?)
            .connect(name, tcp)
            .await
            .map_err(|e| HttpError::Tls(host.clone(), e.to_string()))?;
        let (s, conn) = hyper::client::conn::http1::handshake(TokioIo::new(tls))
            .await
            .map_err(|e| HttpError::Http(e.to_string()))?;
        tokio::spawn(async move {
            let _ = conn.await;
        });
        Ok(s)
    } else {
        let (s, conn) = hyper::client::conn::http1::handshake(TokioIo::new(tcp))
            .await
            .map_err(|e| HttpError::Http(e.to_string()))?;
        tokio::spawn(async move {
            let _ = conn.await;
        });
        Ok(s)
    }
}

fn build(method: Method, uri: &Uri, body: Bytes) -> Result<Request<Full<Bytes>>, HttpError> {
    let authority = uri
        .authority()
        .ok_or_else(|| HttpError::BadUri(uri.to_string()))?
        .to_string();
    let path = uri
        .path_and_query()
        .map(|p| p.as_str().to_string())
        .unwrap_or_else(|| "/".into());
    Request::builder()
        .method(method)
        .uri(path)
        .header(hyper::header::HOST, authority)
        .header(hyper::header::CONTENT_TYPE, "application/json")
        .header(hyper::header::ACCEPT, "application/json")
        .body(Full::new(body))
        .map_err(|e| HttpError::Http(e.to_string()))
}

/// Sends `body` as JSON and reads the whole answer, all within `timeout`.
pub async fn request(
    method: Method,
    uri: &str,
    body: Bytes,
    timeout: Duration,
) -> Result<(StatusCode, Bytes), HttpError> {
    let uri: Uri = uri.parse().map_err(|_| HttpError::BadUri(uri.into()))?;
    let fut = async {
        let mut s = connect(&uri).await?;
        let resp = s
            .send_request(build(method, &uri, body)?)
            .await
            .map_err(|e| HttpError::Http(e.to_string()))?;
        let status = resp.status();
        let bytes = resp
            .into_body()
            .collect()
            .await
            .map_err(|e| HttpError::Http(e.to_string()))?
            .to_bytes();
        Ok((status, bytes))
    };
    tokio::time::timeout(timeout, fut)
        .await
        .map_err(|_| HttpError::Timeout)?
}

/// Sends `body` and returns the status and the streaming body (for watches).
pub async fn stream(
    uri: &str,
    body: Bytes,
    connect_timeout: Duration,
) -> Result<(StatusCode, Incoming), HttpError> {
    let uri: Uri = uri.parse().map_err(|_| HttpError::BadUri(uri.into()))?;
    let fut = async {
        let mut s = connect(&uri).await?;
        let resp = s
            .send_request(build(Method::POST, &uri, body)?)
            .await
            .map_err(|e| HttpError::Http(e.to_string()))?;
        Ok((resp.status(), resp.into_body()))
    };
    tokio::time::timeout(connect_timeout, fut)
        .await
        .map_err(|_| HttpError::Timeout)?
}
