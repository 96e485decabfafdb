//! Prints whether this build has DPDK and, if it has, initialises the EAL
//! with the given arguments (default: `--no-huge -m 256 --no-pci
//! --no-shconf --vdev net_null0`) and lists the ports with their drivers.
//! Exits 1 when the build has no DPDK or the EAL does not start (CI uses it
//! to make sure the DPDK tests really ran).

fn main() -> std::process::ExitCode {
    if !vendor_dpdk::AVAILABLE {
        eprintln!("dpdk-info: {}", vendor_dpdk::DpdkError::NotBuilt);
        return std::process::ExitCode::from(1);
    }
    run()
}

#[cfg(have_dpdk)]
fn run() -> std::process::ExitCode {
    use vendor_dpdk::{Eal, Port, PortRef};
    let mut args: Vec<String> = std::env::args().skip(1).collect();
    if args.is_empty() {
        let prefix = format!("upf-info{}", std::process::id());
        args = [
            "--no-huge",
            "-m",
            "256",
            "--no-pci",
            "--no-shconf",
            "--no-telemetry",
            "-l",
            "0",
            "--log-level=warning",
            "--vdev",
            "net_null0",
            "--file-prefix",
            &prefix,
        ]
        .iter()
        .map(|s| s.to_string())
        .collect();
    }
    let (y, m) = vendor_dpdk_sys::BINDINGS_DPDK_VERSION;
    println!("bindings: DPDK {y}.{m}");
    let eal = match Eal::init(&args) {
        Ok(e) => e,
        Err(e) => {
            eprintln!("dpdk-info: {e}");
            return std::process::ExitCode::from(1);
        }
    };
    // --no-shconf leaves the runtime directory empty.
    if let Some(i) = args.iter().position(|a| a == "--file-prefix") {
        if let Some(p) = args.get(i + 1) {
            let _ = std::fs::remove_dir(format!("/var/run/dpdk/{p}"));
        }
    }
    println!("EAL: {} ports, TSC {} Hz", eal.port_count(), eal.tsc_hz());
    for id in 0..eal.port_count() {
        match Port::probe_info(&PortRef::Id(id)) {
            Ok((_, info)) => println!(
                "port {id} {}: driver {}, {} rx / {} tx queues",
                Port::name_of(id),
                info.driver,
                info.max_rx_queues,
                info.max_tx_queues
            ),
            Err(e) => println!("port {id}: {e}"),
        }
    }
    std::process::ExitCode::SUCCESS
}

#[cfg(not(have_dpdk))]
fn run() -> std::process::ExitCode {
    std::process::ExitCode::from(1)
}
