//! GTP-U and IP traffic generator for the UPF: uplink GTP-U with a PDU
//! Session Container (QFI) and downlink plain IP for the sessions that
//! smfsim set up, with a receiver that accounts every flow.
//!
//! - [`packet`]: per-flow frame templates (built once from the sessions
//!   file; per packet only lengths, stamp and checksums are written);
//! - [`stamp`]: the payload stamp (run, flow, sequence, send time);
//! - [`sizes`]: fixed sizes or IMIX patterns; [`pace`]: rate pacing;
//! - [`txloop`]: the send loop over any [`backend::TxPort`];
//! - [`rx`] and [`seq`]: the receiver (checks against the sessions file,
//!   loss, reordering, duplicates, one-way latency into an hdrhistogram);
//! - [`backend`]: AF_PACKET rings and a pcap writer behind small traits
//!   (a DPDK port plugs in there);
//! - [`run`]: the threads of a run over two Linux interfaces;
//!   [`report`]: JSON and the table, with who limited the rate.
//!
//! What it must not do: allocate, lock or make a syscall per packet on the
//! send or receive path (a flush per burst is the most), or report a loss
//! as the UPF's when its own rings or devices dropped the packets.
#![cfg_attr(not(test), deny(clippy::unwrap_used))]
#![forbid(unsafe_code)]

pub mod backend;
pub mod netdev;
pub mod pace;
pub mod packet;
pub mod report;
pub mod run;
pub mod rx;
pub mod seq;
pub mod sizes;
pub mod stamp;
pub mod txloop;
