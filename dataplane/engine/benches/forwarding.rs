//! Criterion benches of one worker forwarding uplink and downlink packets
//! with 1k, 100k and 1M sessions (4 PDRs per session with 2 SDF filters
//! each, URR counting and QER metering on, 64-byte inner packets), on the
//! in-memory path of `upf-bench` (refill and transmit included).
//!
//! One "element" is one packet: criterion's throughput is packets per
//! second. `cargo bench -p upf-engine --bench forwarding`; set
//! `UPF_BENCH_SESSIONS=1000,100000` to run a subset.

use std::time::Duration;

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use upf_bench::bench::{prepare, run_once, BenchConfig};
use upf_bench::{Direction, Dist, Engine, FixtureConfig, TrafficConfig};

fn sessions() -> Vec<usize> {
    std::env::var("UPF_BENCH_SESSIONS")
        .ok()
        .map(|v| v.split(',').filter_map(|x| x.trim().parse().ok()).collect())
        .unwrap_or_else(|| vec![1_000, 100_000, 1_000_000])
}

fn forwarding(c: &mut Criterion) {
    let mut g = c.benchmark_group("forwarding");
    g.throughput(Throughput::Elements(1));
    g.sample_size(10);
    g.warm_up_time(Duration::from_secs(1));
    g.measurement_time(Duration::from_secs(3));
    for n in sessions() {
        for (dir, name) in [
            (Direction::Uplink, "uplink"),
            (Direction::Downlink, "downlink"),
        ] {
            let cfg = BenchConfig {
                fixture: FixtureConfig {
                    sessions: n,
                    ..Default::default()
                },
                traffic: TrafficConfig {
                    dir,
                    dist: Dist::Uniform,
                    ..Default::default()
                },
                ..Default::default()
            };
            let mut p = prepare(&cfg).expect("fixture installs");
            // Warm the caches and the pool once per configuration.
            run_once(&mut p, Engine::Full, 1_000_000, 30.0);
            g.bench_with_input(BenchmarkId::new(name, n), &n, |b, _| {
                b.iter_custom(|iters| {
                    let st = run_once(&mut p, Engine::Full, iters, 600.0);
                    assert_eq!(st.packets, iters, "every packet received");
                    Duration::from_nanos(st.elapsed_ns)
                })
            });
            assert!(
                upf_bench::run::drops(&p.worker).is_empty(),
                "no packet dropped"
            );
        }
    }
    g.finish();
}

criterion_group!(benches, forwarding);
criterion_main!(benches);
