//! SMF load simulator over N4: drives a UPF's PFCP node (pfcp-ctl) the way
//! an SMF does, with the project's PFCP codec, and measures it.
//!
//! - [`msgs`]: the requests of a session profile (2 PDRs, 2 FARs, 1 QER,
//!   1 URR; uplink F-TEID CHOOSE, UE address CHOOSE or given) and the
//!   checks of every response;
//! - [`txn`]: outstanding requests, T1/N1 retransmission, response matching;
//! - [`sim`]: the run, sans I/O: association, establishment at a target
//!   rate, churn (modifications of a chosen set of sessions), deletion,
//!   release; answers to heartbeats, session and node reports;
//! - [`run`]: the UDP/`mio` shell;
//! - [`report`]: hdrhistogram latencies, counts, causes, usage; JSON and a
//!   table;
//! - [`sessions`]: the sessions file that pktgen reads to send matching
//!   traffic.
//!
//! What it must not do: accept a response without checking its cause and
//! the IEs it relies on, or hide a failure (every refused or unanswered
//! request is counted and listed).
#![cfg_attr(not(test), deny(clippy::unwrap_used))]
#![forbid(unsafe_code)]

pub mod msgs;
pub mod report;
pub mod run;
pub mod sessions;
pub mod sim;
pub mod txn;
