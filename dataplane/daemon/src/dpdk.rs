//! Bringing up the DPDK backend from the configuration (present when the
//! build found DPDK): the EAL from `dataplane.dpdk.eal_args`, one port per
//! interface from its `device` (PCI address or vdev string), one transmit
//! queue and `rx_queues_per_worker` receive queues per worker and port,
//! one mempool of `mempool_size` mbufs per worker. Every error names the
//! configuration key to change.

use upf_config::Config;
use upf_io::dpdk::{self as io, DeviceSpec, DpdkIoError, DpdkPorts, DpdkSetup, Eal};

use crate::{PortStatus, PortStatusFn, StartError};

/// Capacity of each software-dispatch ring (frames a worker may have
/// waiting from the other workers, per port).
pub const DISPATCH_RING: u32 = 4096;

/// What [`open`] brought up.
pub struct Opened {
    /// One backend per worker.
    pub workers: Vec<DpdkPorts>,
    /// Each port's MAC, in interface order.
    pub macs: Vec<[u8; 6]>,
    /// Reads link state and device counters.
    pub status: PortStatusFn,
}

fn field(f: impl Into<String>, m: impl std::fmt::Display) -> StartError {
    StartError::Field {
        field: f.into(),
        message: m.to_string(),
    }
}

/// Initialises the EAL and opens every interface.
pub fn open(cfg: &Config) -> Result<Opened, StartError> {
    let d = &cfg.dataplane.dpdk;
    let eal = Eal::init(&d.eal_args).map_err(|e| field("dataplane.dpdk.eal_args", e))?;
    tracing::info!(args = ?eal.args(), ports = eal.port_count(), "EAL initialised");
    let workers = cfg.dataplane.workers.max(1);
    let setup = DpdkSetup {
        devices: cfg
            .dataplane
            .interfaces
            .iter()
            .map(|i| DeviceSpec {
                device: i.device.clone(),
                mtu: i.mtu,
            })
            .collect(),
        workers,
        rx_queues_per_worker: d.rx_queues_per_worker,
        rx_descriptors: d.rx_descriptors,
        tx_descriptors: d.tx_descriptors,
        mempool_size: d.mempool_size,
        mempool_cache: d.mempool_cache,
        dispatch_ring: DISPATCH_RING,
    };
    let be = io::open(&setup).map_err(|e| match &e {
        DpdkIoError::Port { index, .. } => {
            field(format!("dataplane.interfaces[{index}].device"), &e)
        }
        DpdkIoError::TxQueues { index, .. } => field(
            format!("dataplane.interfaces[{index}].device"),
            format!("{e} (dataplane.workers = {workers})"),
        ),
        DpdkIoError::MempoolTooSmall { .. } => field("dataplane.dpdk.mempool_size", &e),
        DpdkIoError::Mempool { .. } => field(
            "dataplane.dpdk.mempool_size",
            format!("{e} (is the EAL's memory, -m or hugepages, large enough?)"),
        ),
        DpdkIoError::Ring(_) | DpdkIoError::NoEal => field("dataplane.dpdk", &e),
    })?;
    let mut macs = Vec::new();
    let mut monitors = Vec::new();
    for (p, itf) in be.ports.iter().zip(&cfg.dataplane.interfaces) {
        let port = &p.port;
        let (rxq, txq) = port.queues();
        let (rxd, txd) = port.descriptors();
        tracing::info!(
            interface = %itf.name,
            device = %p.device,
            port = port.name(),
            driver = %port.info().driver,
            mac = ?port.mac(),
            rx_queues = rxq,
            tx_queues = txq,
            rx_descriptors = rxd,
            tx_descriptors = txd,
            link_up = port.link().up,
            "DPDK port started"
        );
        if usize::from(rxq) < workers as usize {
            tracing::info!(
                interface = %itf.name,
                "fewer receive queues than workers: frames reach their worker by software dispatch"
            );
        }
        macs.push(port.mac());
        monitors.push((itf.name.clone(), port.info().driver.clone(), port.monitor()));
    }
    let status: PortStatusFn = std::sync::Arc::new(move || {
        monitors
            .iter()
            .map(|(name, driver, m)| {
                let l = m.link();
                let s = m.stats().unwrap_or_default();
                PortStatus {
                    name: name.clone(),
                    driver: driver.clone(),
                    link_up: l.up,
                    speed_mbps: l.speed_mbps,
                    full_duplex: l.full_duplex,
                    rx_packets: s.rx_packets,
                    tx_packets: s.tx_packets,
                    rx_bytes: s.rx_bytes,
                    tx_bytes: s.tx_bytes,
                    rx_missed: s.rx_missed,
                    rx_errors: s.rx_errors,
                    tx_errors: s.tx_errors,
                    rx_nombuf: s.rx_nombuf,
                    rx_queues: s.rx_queues,
                    tx_queues: s.tx_queues,
                    xstats: m.xstats(),
                }
            })
            .collect()
    });
    Ok(Opened {
        workers: be.workers,
        macs,
        status,
    })
}
