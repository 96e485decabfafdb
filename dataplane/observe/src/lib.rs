//! Logging and Prometheus metrics shared by every edge-upf process.
#![cfg_attr(not(test), deny(clippy::unwrap_used))]
#![forbid(unsafe_code)]
