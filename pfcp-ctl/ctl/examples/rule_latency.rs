//! `rule_latency`: the time from a rule change to the dataplane worker
//! applying it. Attaches to a running dataplane's control channel (the
//! tools slot), installs one session and changes its rules `--count`
//! times, timing each SessionPut to its Ack; the dataplane sends the Ack
//! after the owning worker swapped the rules in, so the round trip bounds
//! the one-way time from above. (Over-the-wire PFCP load is perf/smfsim's.)

use std::net::Ipv4Addr;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use clap::Parser;
use hdrhistogram::Histogram;

#[derive(Parser)]
struct Cli {
    /// The dataplane's run directory.
    #[arg(long)]
    run_dir: PathBuf,
    /// Changes to time.
    #[arg(long, default_value_t = 20_000)]
    count: u64,
    /// Pause between changes, µs.
    #[arg(long, default_value_t = 100)]
    pause_us: u64,
    /// Print the result as one JSON object (µs) instead of a line of text.
    #[arg(long)]
    json: bool,
}

fn rules(run_dir: &std::path::Path, count: u64, pause_us: u64, json: bool) {
    let mut c = upf_ctrl::ClientEnd::attach(run_dir, upf_ctrl::SLOT_TOOLS).expect("attach");
    let ue = Ipv4Addr::new(10, 255, 255, 1);
    let mk = |teid: u32| {
        upf_testkit::packets::BasicSession {
            seid: 0xfeed_0000_0000_0001,
            ue,
            upf_n3: Ipv4Addr::new(198, 18, 3, 2),
            gnb: Ipv4Addr::new(198, 18, 3, 1),
            ul_teid: 0x0fff_fff1,
            dl_teid: teid,
            qfi: 9,
            network_instance: None,
            counted: true,
        }
        .rules()
    };
    let mut h = Histogram::<u64>::new_with_bounds(1, 10_000_000, 3).expect("histogram");
    for i in 0..count + 100 {
        let cmd = upf_ctrl::Command::SessionPut {
            req: i + 1,
            rules: mk(0x1000 + (i as u32 & 0xff)),
        };
        let t0 = Instant::now();
        let ack = c
            .request(&cmd, Duration::from_secs(5), |_| {})
            .expect("control channel");
        let us = t0.elapsed().as_nanos() as u64 / 1000;
        match ack {
            Some(Ok(_)) => {}
            other => panic!("rule change {i}: {other:?}"),
        }
        if i >= 100 {
            let _ = h.record(us.max(1));
        }
        if pause_us > 0 {
            std::thread::sleep(Duration::from_micros(pause_us));
        }
    }
    let _ = c.request(
        &upf_ctrl::Command::SessionDelete {
            req: u64::MAX - 1,
            seid: 0xfeed_0000_0000_0001,
        },
        Duration::from_secs(5),
        |_| {},
    );
    if json {
        let j = serde_json::json!({
            "count": h.len(),
            "pause_us": pause_us,
            "min_us": h.min(),
            "mean_us": h.mean(),
            "p50_us": h.value_at_quantile(0.5),
            "p90_us": h.value_at_quantile(0.9),
            "p99_us": h.value_at_quantile(0.99),
            "p99_9_us": h.value_at_quantile(0.999),
            "max_us": h.max(),
        });
        println!("{j}");
        return;
    }
    println!(
        "{count} rule changes, command to worker Ack µs: p50 {} p90 {} p99 {} p99.9 {} max {}",
        h.value_at_quantile(0.5),
        h.value_at_quantile(0.9),
        h.value_at_quantile(0.99),
        h.value_at_quantile(0.999),
        h.max()
    );
}

fn main() {
    let c = Cli::parse();
    rules(&c.run_dir, c.count, c.pause_us, c.json);
}
