//! Safe layer over DPDK.
#![cfg_attr(not(test), deny(clippy::unwrap_used))]
