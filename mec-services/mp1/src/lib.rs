//! The ETSI MEC 011 Mp1 sidecar.
#![forbid(unsafe_code)]
