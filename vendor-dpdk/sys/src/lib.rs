//! Raw bindings to the system DPDK.
#![cfg_attr(not(test), deny(clippy::unwrap_used))]
