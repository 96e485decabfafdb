//! The DPDK arm of the harness forwards what it claims: every packet of a
//! run goes through the worker's net_ring ports and the engine and leaves
//! on the egress port, nothing is dropped, in both directions. (No timing
//! is checked.) One EAL: its own test binary.
#![cfg(have_dpdk)]

use upf_bench::bench::BenchConfig;
use upf_bench::fixtures::{Direction, FixtureConfig};
use upf_bench::{Dist, Engine, TrafficConfig};

#[test]
fn dpdk_arm_forwards_every_packet_both_ways() {
    let args = upf_bench::dpdk::default_eal_args();
    for dir in [Direction::Uplink, Direction::Downlink] {
        for engine in [Engine::Full, Engine::Null] {
            let cfg = BenchConfig {
                fixture: FixtureConfig {
                    sessions: 300,
                    ..Default::default()
                },
                traffic: TrafficConfig {
                    dir,
                    dist: Dist::Uniform,
                    ..Default::default()
                },
                packets: 20_000,
                seconds: 60.0,
                warmup_packets: 1000,
                engine,
                buffers: 8191,
                repeat: 2,
            };
            let r = upf_bench::dpdk::bench(&cfg, &args).expect("DPDK bench");
            assert_eq!(r.sessions, 300);
            assert_eq!(r.runs.len(), 2);
            for run in &r.runs {
                assert_eq!(run.packets, 20_000, "{dir:?} {engine:?}");
                assert_eq!(run.transmitted, 20_000, "{dir:?} {engine:?}");
                assert!(run.cycles_per_packet.is_some_and(|c| c > 0.0));
            }
            assert!(r.drops.is_empty(), "{dir:?}: {:?}", r.drops);
            assert_eq!(r.usage_reports, 0);
        }
    }
}
