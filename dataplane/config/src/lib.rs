//! The one TOML configuration of every edge-upf process.
#![forbid(unsafe_code)]
