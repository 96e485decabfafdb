//! The rule model the dataplane owns: sessions with PDRs, FARs, QERs, URRs and a BAR,
//! independent of any PFCP encoding.
#![forbid(unsafe_code)]
