//! PFCP (3GPP TS 29.244) message and IE codec.
#![cfg_attr(not(test), deny(clippy::unwrap_used))]
#![forbid(unsafe_code)]
