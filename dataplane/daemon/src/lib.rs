//! The dataplane process: workers, control thread, admin and metrics.
#![forbid(unsafe_code)]
