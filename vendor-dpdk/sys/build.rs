//! Finds the system DPDK with pkg-config, compiles the C shim against it
//! and links it. Without a usable DPDK the crate still builds (the committed
//! bindings are plain Rust) but links nothing, leaves `cfg(have_dpdk)` off
//! and says how to get DPDK support.
//!
//! `EDGE_UPF_DPDK` chooses: `auto` (default: use DPDK when found), `off`
//! (never), `on` (fail the build when DPDK is missing).

use std::env;
use std::process::Command;

/// The DPDK release series the committed bindings were generated from.
const SERIES: &str = "22.11";

fn main() {
    println!("cargo::rustc-check-cfg=cfg(have_dpdk)");
    println!("cargo::rerun-if-env-changed=EDGE_UPF_DPDK");
    println!("cargo::rerun-if-env-changed=PKG_CONFIG_PATH");
    println!("cargo::rerun-if-changed=csrc/shim.c");
    println!("cargo::rerun-if-changed=csrc/shim.h");
    let mode = env::var("EDGE_UPF_DPDK").unwrap_or_default();
    let required = match mode.as_str() {
        "" | "auto" => false,
        "on" | "1" | "required" => true,
        "off" | "0" | "no" => {
            return without("EDGE_UPF_DPDK=off");
        }
        other => panic!("EDGE_UPF_DPDK={other}: expected auto, on or off"),
    };
    let lib = match pkg_config::Config::new()
        .cargo_metadata(false)
        .env_metadata(false)
        .probe("libdpdk")
    {
        Ok(l) => l,
        Err(e) => {
            let why = format!(
                "pkg-config found no libdpdk ({})",
                first_line(&e.to_string())
            );
            if required {
                panic!("EDGE_UPF_DPDK=on but {why}; apt-get install libdpdk-dev dpdk");
            }
            return without(&why);
        }
    };
    if lib.version != SERIES && !lib.version.starts_with(&format!("{SERIES}.")) {
        let why = format!(
            "libdpdk {} found, but the committed bindings are for DPDK {SERIES}",
            lib.version
        );
        if required {
            panic!("EDGE_UPF_DPDK=on but {why}");
        }
        return without(&why);
    }

    // The shim: compiled with exactly DPDK's own compiler flags (include
    // paths, `-include rte_config.h`, the -march its inline code needs).
    let cflags = Command::new("pkg-config")
        .args(["--cflags", "libdpdk"])
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).into_owned())
        .unwrap_or_default();
    let mut cc = cc::Build::new();
    cc.file("csrc/shim.c")
        .include("csrc")
        .opt_level(3)
        .warnings(false);
    let mut words = cflags.split_whitespace();
    while let Some(w) = words.next() {
        if w == "-include" {
            if let Some(h) = words.next() {
                cc.flag("-include").flag(h);
            }
        } else {
            cc.flag(w);
        }
    }
    cc.compile("upf_dpdk_shim");

    // Shared DPDK libraries. rustc links with --as-needed, so only those the
    // shim and the safe layer use end up as dependencies. The poll-mode
    // drivers (net_*, mempool_ring, bus_vdev, bus_pci) are not linked: the
    // shared librte_eal loads every driver of its plugin directory
    // (Debian: /usr/lib/x86_64-linux-gnu/dpdk/pmds-23.0) at rte_eal_init.
    // librte_net_ring is linked by name for rte_eth_from_rings().
    for p in &lib.link_paths {
        println!("cargo::rustc-link-search=native={}", p.display());
    }
    for l in &lib.libs {
        println!("cargo::rustc-link-lib=dylib={l}");
    }
    println!("cargo::rustc-link-lib=dylib=rte_net_ring");
    println!("cargo::rustc-cfg=have_dpdk");
    println!("cargo::metadata=have_dpdk=1");
    println!("cargo::metadata=version={}", lib.version);
}

fn first_line(s: &str) -> &str {
    s.lines().find(|l| !l.trim().is_empty()).unwrap_or(s).trim()
}

fn without(why: &str) {
    println!(
        "cargo::warning=DPDK support is OFF in this build: {why}. The dataplane \
         builds and runs with the af_packet and memory backends; for \
         backend = \"dpdk\" install DPDK {SERIES} (apt-get install libdpdk-dev dpdk) \
         and rebuild (see docs/DPDK.md)."
    );
    println!("cargo::metadata=have_dpdk=0");
}
