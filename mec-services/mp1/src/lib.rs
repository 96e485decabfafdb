//! mec-services: the ETSI GS MEC 011 (v2.1.1) Mp1 sidecar of edge-upf.
//!
//! MEC applications register and discover services, subscribe to service
//! availability and to their own termination, and activate the traffic and
//! DNS rules the platform holds for them. Active rules of the apps this
//! host serves become steering in the dataplane: one `SteeringPut` per app
//! on the control channel pfcp-ctl also uses (slot `SLOT_MEC`).
//!
//! Layers, each doing one thing:
//! - [`model`]: the ETSI types; [`validate`]: checks beyond the schemas and
//!   the mapping of rules to [`upf_rules::steer`] (pure);
//! - [`registry`]: records and the in-memory view; [`store`]: redb file or
//!   etcd, atomic batches;
//! - [`core`]: who may do what, what a request changes, its effects;
//! - [`api`] / [`admin`]: HTTP; [`tls`]: rustls and client identities;
//! - [`dataplane`]: the control-channel thread; [`notify`]: callbacks with
//!   retries; [`http`]: the small client both of those and etcd use;
//! - [`server`]: the wiring.
//!
//! What it must not do: touch packets or the dataplane's tables other than
//! through `SteeringPut`/`SyncBegin`/`SyncEnd`, block the API on a slow
//! subscriber, or apply half of a request.
#![cfg_attr(not(test), deny(clippy::unwrap_used))]
#![forbid(unsafe_code)]

pub mod admin;
pub mod api;
pub mod core;
pub mod dataplane;
pub mod http;
pub mod model;
pub mod notify;
pub mod problem;
pub mod registry;
pub mod server;
pub mod store;
pub mod tls;
pub mod validate;

pub use server::{start, Sidecar, StartError, StartOptions};
