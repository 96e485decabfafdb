//! PFCP (3GPP TS 29.244) message and IE codec.
#![forbid(unsafe_code)]
