//! pfcp-ctl: the N4 control process of edge-upf.
//!
//! - [`node`]: the PFCP node, sans I/O (associations, heartbeats, session
//!   procedures, reports, TS 29.244 7.6 error handling, retransmission
//!   caches), driven by a test or by the shell with an injected clock;
//! - [`session`]: one session's rules and allocations, and the translation
//!   of Establishment/Modification requests (all or nothing);
//! - [`convert`]: PFCP IEs to the dataplane's rule model and back;
//! - [`alloc`]: UP SEIDs, F-TEIDs (CHOOSE/CHOOSE ID) and UE addresses;
//! - [`journal`]: durable state, so a restart is invisible to the SMF (the
//!   file, its replay, and the writer thread that never blocks the loop);
//! - [`server`]: the shell: UDP sockets with `mio` (one connected socket
//!   per associated SMF, bounded queues: the flood protection), the control
//!   channel to the dataplane, the journal writer, the admin socket;
//! - [`bench`]: the standard session of the benchmarks as a request template;
//! - [`fxhash`]: a fast hasher for identifiers pfcp-ctl allocates itself.
//!
//! docs/PFCP.md lists what is supported and which test shows it.
//!
//! What it must not do: touch packets, block on the dataplane (commands and
//! acknowledgements are asynchronous), or lose state on a crash.
#![cfg_attr(not(test), deny(clippy::unwrap_used))]
#![forbid(unsafe_code)]

pub mod alloc;
pub mod bench;
pub mod convert;
pub mod fxhash;
pub mod journal;
pub mod node;
pub mod server;
pub mod session;
