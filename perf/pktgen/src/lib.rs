//! GTP-U and IP traffic generator.
#![forbid(unsafe_code)]
