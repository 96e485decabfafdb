//! The N4 control process.
#![forbid(unsafe_code)]
