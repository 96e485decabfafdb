//! Admin CLI for a running edge-upf: asks the dataplane's and pfcp-ctl's
//! local admin sockets (one request line in, one JSON document out) and
//! prints what they answer as tables, or as JSON with `--json`.
//!
//! - [`AdminClient`]: the socket client;
//! - [`render`]: JSON answers to human tables.
//!
//! What it must not do: change any state of the UPF (every admin request is
//! read-only), or need more than the configuration file to find the sockets.
#![cfg_attr(not(test), deny(clippy::unwrap_used))]
#![forbid(unsafe_code)]

pub mod render;

use std::io::{Read, Write};
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde_json::Value;

/// Why a request failed.
#[derive(Debug, thiserror::Error)]
pub enum AdminError {
    /// The socket could not be reached (process not running, wrong run_dir).
    #[error(
        "{process} admin socket {path}: {source} (is {process} running with this configuration?)"
    )]
    Connect {
        /// Which process.
        process: &'static str,
        /// The socket path.
        path: PathBuf,
        /// What failed.
        source: std::io::Error,
    },
    /// The exchange failed after connecting.
    #[error("{process} admin socket {path}: {source}")]
    Io {
        /// Which process.
        process: &'static str,
        /// The socket path.
        path: PathBuf,
        /// What failed.
        source: std::io::Error,
    },
    /// The answer was not JSON.
    #[error("{process} answered something that is not JSON: {detail}")]
    BadAnswer {
        /// Which process.
        process: &'static str,
        /// The parser's message.
        detail: String,
    },
    /// The process answered with an error object.
    #[error("{process}: {message}")]
    Refused {
        /// Which process.
        process: &'static str,
        /// Its message.
        message: String,
    },
}

/// One admin socket.
#[derive(Clone, Debug)]
pub struct AdminClient {
    /// Process name for messages ("upf-dataplane", "pfcp-ctl").
    pub process: &'static str,
    /// Socket path.
    pub path: PathBuf,
    /// Read timeout.
    pub timeout: Duration,
}

impl AdminClient {
    /// A client of the socket at `path`.
    pub fn new(process: &'static str, path: &Path) -> AdminClient {
        AdminClient {
            process,
            path: path.to_path_buf(),
            timeout: Duration::from_secs(5),
        }
    }

    /// Sends `req` and parses the JSON answer; an answer `{"error": ...}`
    /// becomes [`AdminError::Refused`].
    pub fn request(&self, req: &str) -> Result<Value, AdminError> {
        let io = |source| AdminError::Io {
            process: self.process,
            path: self.path.clone(),
            source,
        };
        let mut s = UnixStream::connect(&self.path).map_err(|source| AdminError::Connect {
            process: self.process,
            path: self.path.clone(),
            source,
        })?;
        s.set_read_timeout(Some(self.timeout)).map_err(io)?;
        s.set_write_timeout(Some(self.timeout)).map_err(io)?;
        s.write_all(req.as_bytes()).map_err(io)?;
        s.write_all(b"\n").map_err(io)?;
        let mut out = String::new();
        s.read_to_string(&mut out).map_err(io)?;
        let v: Value = serde_json::from_str(&out).map_err(|e| AdminError::BadAnswer {
            process: self.process,
            detail: e.to_string(),
        })?;
        if let Some(msg) = v.get("error").and_then(Value::as_str) {
            return Err(AdminError::Refused {
                process: self.process,
                message: msg.to_string(),
            });
        }
        Ok(v)
    }
}

/// The two admin sockets of a configuration.
pub fn sockets(cfg: &upf_config::Config) -> (AdminClient, AdminClient) {
    (
        AdminClient::new(
            "upf-dataplane",
            &cfg.socket_path(&cfg.dataplane.admin_socket),
        ),
        AdminClient::new("pfcp-ctl", &cfg.socket_path(&cfg.pfcp.admin_socket)),
    )
}
