//! Admin CLI for a running edge-upf.
#![forbid(unsafe_code)]
