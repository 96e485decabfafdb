//! Turns on `cfg(have_dpdk)` when vendor-dpdk-sys linked DPDK.
fn main() {
    println!("cargo::rustc-check-cfg=cfg(have_dpdk)");
    println!("cargo::rerun-if-env-changed=DEP_DPDK_HAVE_DPDK");
    if std::env::var("DEP_DPDK_HAVE_DPDK").as_deref() == Ok("1") {
        println!("cargo::rustc-cfg=have_dpdk");
    }
}
