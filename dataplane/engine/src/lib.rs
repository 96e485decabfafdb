//! The per-worker packet engine of the UPF: classification of uplink and
//! downlink packets against PDRs, and the FAR/QER/URR/BAR actions, plus the
//! UPF's own protocol duties on its ports (ARP, NDP, ICMP echo, GTP-U echo
//! and error indications) and MEC local breakout.
//!
//! How it is used (see docs/ARCHITECTURE.md):
//! - the control thread calls [`compile`] (all allocation of a rule update
//!   happens there) and sends the result to the owning worker as a
//!   [`WorkerUpdate`];
//! - each worker thread owns one [`Worker`] and calls
//!   [`Worker::process_burst`] per received burst, [`Worker::apply`] for
//!   updates between bursts, and [`Worker::poll_timers`] once per loop;
//!   it drains [`Worker::events`] and the [`Output`] queues.
//!
//! What it must not do: threads, sockets, clocks (the caller passes `now`),
//! locks, or allocation per packet. It never sees another worker's state.
#![cfg_attr(not(test), deny(clippy::unwrap_used))]
#![forbid(unsafe_code)]

pub mod compile;
pub mod filter;
pub mod meter;
pub mod stats;
pub mod steer;
pub mod table;
pub mod topo;
pub mod worker;

pub use compile::{compile, CompiledSession};
pub use stats::{DropReason, WorkerStats};
pub use steer::{DnsTable, PfdTable, SteeringTable};
pub use topo::{PortDef, Role, Route, Topology};
pub use worker::{LookupKey, MemoryUse, Output, Worker, WorkerConfig, WorkerEvent, WorkerUpdate};
