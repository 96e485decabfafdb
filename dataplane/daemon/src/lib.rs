//! The dataplane process: workers, control thread, admin and metrics.
#![cfg_attr(not(test), deny(clippy::unwrap_used))]
#![forbid(unsafe_code)]
