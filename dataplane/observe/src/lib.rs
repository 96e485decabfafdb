//! Logging and Prometheus metrics shared by every edge-upf process.
#![forbid(unsafe_code)]
