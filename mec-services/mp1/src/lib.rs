//! The ETSI MEC 011 Mp1 sidecar.
#![cfg_attr(not(test), deny(clippy::unwrap_used))]
#![forbid(unsafe_code)]
