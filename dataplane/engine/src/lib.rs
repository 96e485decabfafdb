//! The per-worker packet engine: classification and actions.
#![forbid(unsafe_code)]
