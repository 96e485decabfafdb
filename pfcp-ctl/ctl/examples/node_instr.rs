//! Instruction counts of the node (for `valgrind --tool=callgrind`): runs
//! `N` standard establishments (argument 1; argument 2 "full" also encodes
//! the command and the journal record) and exits. The difference of two
//! runs divided by the difference of N is the cost of one establishment:
//!
//! ```text
//! valgrind --tool=callgrind --callgrind-out-file=/dev/null target/release/examples/node_instr 2000 full
//! valgrind --tool=callgrind --callgrind-out-file=/dev/null target/release/examples/node_instr 12000 full
//! ```

use std::net::Ipv4Addr;
use std::time::Duration;

const SMF: Ipv4Addr = Ipv4Addr::new(198, 18, 4, 1);

/// Runs `iters` establishments on a fresh node; returns the time taken.
fn establishments(iters: u64, full: bool) -> Duration {
    let (n, t) = pfcp_ctl::bench::establishments(SMF, iters, full);
    assert_eq!(
        n.session_count() as u64,
        iters,
        "every establishment accepted"
    );
    if std::env::var_os("RSS").is_some() {
        let rss = std::fs::read_to_string("/proc/self/status")
            .unwrap_or_default()
            .lines()
            .find(|l| l.starts_with("VmRSS"))
            .map(|l| l.to_string())
            .unwrap_or_default();
        eprintln!("{iters} sessions held: {rss}");
    }
    // Free the node outside the timing.
    // Not freed: the process exits, and the count is of establishments only.
    std::mem::forget(n);
    t
}

fn main() {
    let mut a = std::env::args().skip(1);
    let n: u64 = a.next().and_then(|x| x.parse().ok()).unwrap_or(10_000);
    let full = a.next().as_deref() == Some("full");
    sizes();
    let t = establishments(n, full);
    eprintln!("{n} establishments in {t:?}");
}

#[allow(dead_code)]
fn sizes() {
    use std::mem::size_of;
    eprintln!(
        "SessionState {} SessionRules {} Pdr {} Far {} Urr {} Qer {}",
        size_of::<pfcp_ctl::session::SessionState>(),
        size_of::<upf_rules::SessionRules>(),
        size_of::<upf_rules::Pdr>(),
        size_of::<upf_rules::Far>(),
        size_of::<upf_rules::Urr>(),
        size_of::<upf_rules::Qer>()
    );
}
