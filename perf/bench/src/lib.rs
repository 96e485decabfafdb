//! Benchmark fixtures and harness of the dataplane engine.
//!
//! - [`fixtures`]: the rule set of the benchmarks (N sessions, 4 PDRs per
//!   session with 2 SDF filters each, URR counting and QER metering on),
//!   the two-port topology, and the frames of every session and flow;
//! - [`traffic`]: packet sequences over the sessions (uniform, Zipf-like,
//!   round robin) and the refill that writes slot `k` into a buffer;
//! - [`replay`]: an in-memory `PortIo` backend fed from a sequence;
//! - [`run`]: installing a fixture into a worker, and the measured loop
//!   (the daemon's worker loop without its control ring);
//! - [`bench`]: one complete measurement, as the `upf-bench` binary and
//!   other harnesses run it;
//! - `dpdk` (when the build found DPDK): the same measurement with the
//!   worker on DPDK `net_ring` ports (`upf-bench --backend dpdk`).
//!
//! Used by the `upf-bench` binary, the criterion benches of `upf-engine`,
//! `perf/callgrind.sh`, and backends other than the in-memory one (which
//! bring their own `PortIo` and call [`run::install`] and
//! [`run::measured_loop`] with it, filling their buffers with
//! [`traffic::Traffic::fill`]).
//!
//! What it must not do: time anything in a unit test, or be linked into a
//! product binary.
#![cfg_attr(not(test), deny(clippy::unwrap_used))]
#![forbid(unsafe_code)]

pub mod bench;
#[cfg(have_dpdk)]
pub mod dpdk;
pub mod fixtures;
pub mod replay;
pub mod run;
pub mod traffic;

pub use bench::{BenchConfig, BenchResult};
pub use fixtures::{Direction, Fixture, FixtureConfig, Flow};
pub use replay::ReplayPorts;
pub use run::{install, measured_loop, Engine, Limits, LoopStats};
pub use traffic::{Dist, Traffic, TrafficConfig};
