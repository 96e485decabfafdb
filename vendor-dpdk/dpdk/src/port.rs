//! Ethernet ports and their queues.

use std::ffi::{CStr, CString};
use std::os::raw::c_char;
use std::sync::{Arc, Mutex};

use arrayvec::ArrayVec;
use vendor_dpdk_sys as sys;

use crate::eal::rte_errno;
use crate::{DpdkError, Eal, Errno, Mbuf, Mempool};

/// Which device a port is.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum PortRef {
    /// A device string: a PCI address (`0000:3b:00.0`, probed by the EAL or
    /// hot-plugged here) or a vdev with its arguments
    /// (`net_pcap0,rx_pcap=in.pcap,tx_pcap=out.pcap`). An existing port of
    /// that name (the part before the first comma) is used as it is;
    /// otherwise the device is probed (`rte_dev_probe`).
    Device(String),
    /// A port that already exists (for example from [`ring_pair`]).
    Id(u16),
}

/// What a device offers (`rte_eth_dev_info`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DeviceInfo {
    /// Driver name (`net_ice`, `net_af_packet`, ...).
    pub driver: String,
    /// Most receive queues.
    pub max_rx_queues: u16,
    /// Most transmit queues.
    pub max_tx_queues: u16,
    /// RSS hash functions the device supports (0: no RSS).
    pub rss_offloads: u64,
    /// Smallest and largest MTU.
    pub mtu_range: (u16, u16),
    /// Receive descriptors per queue: most, least, multiple of.
    pub rx_desc_lim: (u16, u16, u16),
    /// Transmit descriptors per queue: most, least, multiple of.
    pub tx_desc_lim: (u16, u16, u16),
    /// NUMA node of the device (-1 unknown).
    pub socket: i32,
}

/// How to set a port up.
#[derive(Clone, Debug)]
pub struct PortConfig {
    /// Receive queues.
    pub rx_queues: u16,
    /// Transmit queues.
    pub tx_queues: u16,
    /// Receive descriptors per queue (adjusted to the device's limits).
    pub rx_descriptors: u16,
    /// Transmit descriptors per queue (adjusted likewise).
    pub tx_descriptors: u16,
    /// Mempool of each receive queue (`rx_queues` pools, or one for all).
    pub rx_pools: Vec<Arc<Mempool>>,
    /// MTU to set (`None`: the device's default).
    pub mtu: Option<u16>,
    /// Receive every frame (needed when our MAC is not the device's).
    pub promiscuous: bool,
}

/// Link state (`rte_eth_link`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct LinkStatus {
    /// Link up.
    pub up: bool,
    /// Speed in Mb/s (0 unknown or down).
    pub speed_mbps: u32,
    /// Full duplex.
    pub full_duplex: bool,
    /// Autonegotiated.
    pub autoneg: bool,
}

/// Device counters (`rte_eth_stats`), and per-queue counters where the
/// driver keeps them (first `RTE_ETHDEV_QUEUE_STAT_CNTRS` queues).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct PortStats {
    /// Packets received.
    pub rx_packets: u64,
    /// Packets sent.
    pub tx_packets: u64,
    /// Bytes received.
    pub rx_bytes: u64,
    /// Bytes sent.
    pub tx_bytes: u64,
    /// Packets the device dropped for lack of receive descriptors.
    pub rx_missed: u64,
    /// Erroneous received packets.
    pub rx_errors: u64,
    /// Failed transmissions.
    pub tx_errors: u64,
    /// Receive buffer (mbuf) allocation failures.
    pub rx_nombuf: u64,
    /// Per receive queue: packets, bytes, errors.
    pub rx_queues: Vec<(u64, u64, u64)>,
    /// Per transmit queue: packets, bytes.
    pub tx_queues: Vec<(u64, u64)>,
}

#[derive(Debug)]
struct Inner {
    id: u16,
    name: String,
    // Control-path calls on one port are serialised.
    ctl: Mutex<Vec<String>>,
    rx_queues: u16,
    tx_queues: u16,
    // Keeps receive pools alive as long as the device may fill them.
    _pools: Vec<Arc<Mempool>>,
}

impl Drop for Inner {
    fn drop(&mut self) {
        // No queue handle is left: stop the device (drivers flush here,
        // net_pcap closes its files) and release it.
        // SAFETY: a started port we own; nothing polls it any more.
        unsafe {
            sys::rte_eth_dev_stop(self.id);
            sys::rte_eth_dev_close(self.id);
        }
    }
}

/// A configured and started Ethernet port. Clone-free: queue handles keep
/// it alive; it is stopped and closed when the port and all its queues are
/// dropped.
#[derive(Debug)]
pub struct Port {
    inner: Arc<Inner>,
    mac: [u8; 6],
    info: DeviceInfo,
    rx_descriptors: u16,
    tx_descriptors: u16,
}

fn port_err(name: &str, what: &'static str, r: i32) -> DpdkError {
    DpdkError::Port {
        port: name.to_string(),
        what,
        err: Errno::from_ret(r),
    }
}

fn cstr_to_string(p: *const c_char) -> String {
    if p.is_null() {
        return String::new();
    }
    // SAFETY: DPDK returns NUL-terminated strings that outlive the call.
    unsafe { CStr::from_ptr(p) }.to_string_lossy().into_owned()
}

/// Normalises a PCI address without domain (`3b:00.0`) to DPDK's port
/// name form (`0000:3b:00.0`); other names are unchanged.
fn port_name(devargs: &str) -> String {
    let name = devargs.split(',').next().unwrap_or(devargs).trim();
    let is_bdf = |s: &str| {
        let b = s.as_bytes();
        b.len() == 7
            && b[2] == b':'
            && b[5] == b'.'
            && s.chars()
                .enumerate()
                .all(|(i, c)| i == 2 || i == 5 || c.is_ascii_hexdigit())
    };
    let long = name.len() == 12
        && name.as_bytes()[4] == b':'
        && name[..4].chars().all(|c| c.is_ascii_hexdigit())
        && is_bdf(&name[5..]);
    if is_bdf(name) {
        format!("0000:{}", name.to_ascii_lowercase())
    } else if long {
        name.to_ascii_lowercase()
    } else {
        name.to_string()
    }
}

fn lookup(name: &str) -> Option<u16> {
    let c = CString::new(name).ok()?;
    let mut id = 0u16;
    // SAFETY: valid name and out-pointer.
    let r = unsafe { sys::rte_eth_dev_get_port_by_name(c.as_ptr(), &mut id) };
    (r == 0).then_some(id)
}

/// The port of a device string, probing the device if no port has its name.
pub fn resolve(devargs: &str) -> Result<u16, DpdkError> {
    if Eal::get().is_none() {
        return Err(DpdkError::NotInitialised);
    }
    let name = port_name(devargs);
    if let Some(id) = lookup(&name) {
        return Ok(id);
    }
    let c = CString::new(devargs).map_err(|_| DpdkError::BadArgument(devargs.to_string()))?;
    // SAFETY: a valid device string; probing is a control-path call.
    let r = unsafe { sys::rte_dev_probe(c.as_ptr()) };
    if r != 0 {
        return Err(DpdkError::Probe {
            devargs: devargs.to_string(),
            name,
            err: Errno::from_ret(r),
        });
    }
    lookup(&name).ok_or(DpdkError::NoPort {
        devargs: devargs.to_string(),
        name,
    })
}

fn device_info(id: u16, name: &str) -> Result<DeviceInfo, DpdkError> {
    // SAFETY: an all-zero rte_eth_dev_info is a valid out-buffer.
    let mut di: sys::rte_eth_dev_info = unsafe { std::mem::zeroed() };
    // SAFETY: valid port id and out-pointer.
    let r = unsafe { sys::rte_eth_dev_info_get(id, &mut di) };
    if r != 0 {
        return Err(port_err(name, "rte_eth_dev_info_get", r));
    }
    // SAFETY: a query on a valid port.
    let socket = unsafe { sys::rte_eth_dev_socket_id(id) };
    Ok(DeviceInfo {
        driver: cstr_to_string(di.driver_name),
        max_rx_queues: di.max_rx_queues,
        max_tx_queues: di.max_tx_queues,
        rss_offloads: di.flow_type_rss_offloads,
        mtu_range: (di.min_mtu, di.max_mtu),
        rx_desc_lim: (
            di.rx_desc_lim.nb_max,
            di.rx_desc_lim.nb_min,
            di.rx_desc_lim.nb_align,
        ),
        tx_desc_lim: (
            di.tx_desc_lim.nb_max,
            di.tx_desc_lim.nb_min,
            di.tx_desc_lim.nb_align,
        ),
        socket,
    })
}

fn xstat_names(id: u16) -> Vec<String> {
    // SAFETY: a size query (null buffer, size 0).
    let n = unsafe { sys::rte_eth_xstats_get_names(id, std::ptr::null_mut(), 0) };
    if n <= 0 {
        return Vec::new();
    }
    // SAFETY: an all-zero name entry is valid.
    let mut v: Vec<sys::rte_eth_xstat_name> = vec![unsafe { std::mem::zeroed() }; n as usize];
    // SAFETY: v holds n entries.
    let got = unsafe { sys::rte_eth_xstats_get_names(id, v.as_mut_ptr(), n as u32) };
    if got <= 0 {
        return Vec::new();
    }
    v.truncate(got as usize);
    v.iter().map(|e| cstr_to_string(e.name.as_ptr())).collect()
}

impl Port {
    /// Finds (or probes) the device, configures `cfg.rx_queues` and
    /// `cfg.tx_queues` queues, sets them up and starts the port. Returns
    /// the port and one handle per queue, in queue order.
    pub fn open(
        dev: &PortRef,
        cfg: &PortConfig,
    ) -> Result<(Port, Vec<RxQueue>, Vec<TxQueue>), DpdkError> {
        let id = match dev {
            PortRef::Device(d) => resolve(d)?,
            PortRef::Id(i) => *i,
        };
        // SAFETY: a query.
        if unsafe { sys::rte_eth_dev_is_valid_port(id) } == 0 {
            return Err(DpdkError::Invalid(format!("no DPDK port with id {id}")));
        }
        let name = Port::name_of(id);
        let info = device_info(id, &name)?;
        let limit = |msg: String| DpdkError::PortLimit {
            port: name.clone(),
            msg,
        };
        if cfg.rx_queues == 0 || cfg.tx_queues == 0 {
            return Err(limit(
                "at least one receive and one transmit queue needed".into(),
            ));
        }
        if cfg.rx_queues > info.max_rx_queues {
            return Err(limit(format!(
                "{} receive queues asked, driver {} offers {}",
                cfg.rx_queues, info.driver, info.max_rx_queues
            )));
        }
        if cfg.tx_queues > info.max_tx_queues {
            return Err(limit(format!(
                "{} transmit queues asked, driver {} offers {}",
                cfg.tx_queues, info.driver, info.max_tx_queues
            )));
        }
        if cfg.rx_pools.is_empty()
            || (cfg.rx_pools.len() != 1 && cfg.rx_pools.len() != usize::from(cfg.rx_queues))
        {
            return Err(DpdkError::Invalid(format!(
                "port {name}: {} receive pools for {} queues",
                cfg.rx_pools.len(),
                cfg.rx_queues
            )));
        }
        if let Some(mtu) = cfg.mtu {
            let (lo, hi) = info.mtu_range;
            if mtu < lo || (hi > 0 && mtu > hi) {
                return Err(limit(format!("MTU {mtu} outside the device's {lo}..={hi}")));
            }
        }

        // SAFETY: an all-zero rte_eth_conf is DPDK's documented default.
        let mut conf: sys::rte_eth_conf = unsafe { std::mem::zeroed() };
        if cfg.rx_queues > 1 && info.rss_offloads != 0 {
            // Spread by the outer IP/UDP header; GTP-U then still needs the
            // software dispatch by TEID of the dataplane (see docs/DPDK.md).
            conf.rxmode.mq_mode = sys::RTE_ETH_MQ_RX_RSS;
            // SAFETY: returns a constant.
            conf.rx_adv_conf.rss_conf.rss_hf =
                unsafe { sys::upf_rss_hf_ip_udp() } & info.rss_offloads;
        }
        if let Some(mtu) = cfg.mtu {
            conf.rxmode.mtu = u32::from(mtu);
        }
        // SAFETY: valid port, queue counts within limits, conf initialised.
        let r = unsafe { sys::rte_eth_dev_configure(id, cfg.rx_queues, cfg.tx_queues, &conf) };
        if r != 0 {
            return Err(port_err(&name, "rte_eth_dev_configure", r));
        }
        let (mut nrx, mut ntx) = (cfg.rx_descriptors, cfg.tx_descriptors);
        // SAFETY: valid port and out-pointers.
        let r = unsafe { sys::rte_eth_dev_adjust_nb_rx_tx_desc(id, &mut nrx, &mut ntx) };
        if r != 0 {
            return Err(port_err(&name, "rte_eth_dev_adjust_nb_rx_tx_desc", r));
        }
        let socket = if info.socket < 0 {
            sys::SOCKET_ID_ANY
        } else {
            info.socket
        };
        for q in 0..cfg.rx_queues {
            let pool = if cfg.rx_pools.len() == 1 {
                &cfg.rx_pools[0]
            } else {
                &cfg.rx_pools[usize::from(q)]
            };
            // SAFETY: configured port, queue in range, live pool (kept alive
            // by Inner), default rxconf (null).
            let r = unsafe {
                sys::rte_eth_rx_queue_setup(
                    id,
                    q,
                    nrx,
                    socket as u32,
                    std::ptr::null(),
                    pool.as_ptr(),
                )
            };
            if r != 0 {
                return Err(port_err(&name, "rte_eth_rx_queue_setup", r));
            }
        }
        for q in 0..cfg.tx_queues {
            // SAFETY: configured port, queue in range, default txconf.
            let r =
                unsafe { sys::rte_eth_tx_queue_setup(id, q, ntx, socket as u32, std::ptr::null()) };
            if r != 0 {
                return Err(port_err(&name, "rte_eth_tx_queue_setup", r));
            }
        }
        if cfg.promiscuous {
            // Not every driver can (ENOTSUP): then it receives what it can.
            // SAFETY: a configured port.
            let _ = unsafe { sys::rte_eth_promiscuous_enable(id) };
        }
        // SAFETY: a configured port with all queues set up.
        let r = unsafe { sys::rte_eth_dev_start(id) };
        if r != 0 {
            return Err(port_err(&name, "rte_eth_dev_start", r));
        }
        // SAFETY: an all-zero address is a valid out-buffer.
        let mut ea: sys::rte_ether_addr = unsafe { std::mem::zeroed() };
        // SAFETY: valid port and out-pointer.
        let _ = unsafe { sys::rte_eth_macaddr_get(id, &mut ea) };
        let inner = Arc::new(Inner {
            id,
            name,
            ctl: Mutex::new(xstat_names(id)),
            rx_queues: cfg.rx_queues,
            tx_queues: cfg.tx_queues,
            _pools: cfg.rx_pools.clone(),
        });
        let rxq = (0..cfg.rx_queues)
            .map(|q| RxQueue {
                port: inner.clone(),
                id,
                queue: q,
            })
            .collect();
        let txq = (0..cfg.tx_queues)
            .map(|q| TxQueue {
                port: inner.clone(),
                id,
                queue: q,
            })
            .collect();
        Ok((
            Port {
                inner,
                mac: ea.addr_bytes,
                info,
                rx_descriptors: nrx,
                tx_descriptors: ntx,
            },
            rxq,
            txq,
        ))
    }

    /// The name of port `id` (`net_ring0`, `0000:3b:00.0`).
    pub fn name_of(id: u16) -> String {
        let mut buf = [0 as c_char; sys::RTE_ETH_NAME_MAX_LEN as usize];
        // SAFETY: buf has RTE_ETH_NAME_MAX_LEN bytes, as DPDK requires.
        let r = unsafe { sys::rte_eth_dev_get_name_by_port(id, buf.as_mut_ptr()) };
        if r != 0 {
            return format!("port{id}");
        }
        cstr_to_string(buf.as_ptr())
    }

    /// What the device offers, without opening it.
    pub fn probe_info(dev: &PortRef) -> Result<(u16, DeviceInfo), DpdkError> {
        let id = match dev {
            PortRef::Device(d) => resolve(d)?,
            PortRef::Id(i) => *i,
        };
        let name = Port::name_of(id);
        Ok((id, device_info(id, &name)?))
    }

    /// DPDK's port id.
    pub fn id(&self) -> u16 {
        self.inner.id
    }

    /// DPDK's port name.
    pub fn name(&self) -> &str {
        &self.inner.name
    }

    /// The device's MAC address.
    pub fn mac(&self) -> [u8; 6] {
        self.mac
    }

    /// What the device offers.
    pub fn info(&self) -> &DeviceInfo {
        &self.info
    }

    /// Queue counts.
    pub fn queues(&self) -> (u16, u16) {
        (self.inner.rx_queues, self.inner.tx_queues)
    }

    /// Descriptors per receive and transmit queue after adjustment.
    pub fn descriptors(&self) -> (u16, u16) {
        (self.rx_descriptors, self.tx_descriptors)
    }

    /// A monitoring handle usable from other threads.
    pub fn monitor(&self) -> PortMonitor {
        PortMonitor {
            inner: self.inner.clone(),
        }
    }

    /// Current link state (without waiting).
    pub fn link(&self) -> LinkStatus {
        self.monitor().link()
    }

    /// Device counters.
    pub fn stats(&self) -> Result<PortStats, DpdkError> {
        self.monitor().stats()
    }

    /// Extended counters by name.
    pub fn xstats(&self) -> Vec<(String, u64)> {
        self.monitor().xstats()
    }
}

/// A read-only handle on a port for the control thread and metrics
/// (link, stats, xstats); it keeps the port open.
#[derive(Clone, Debug)]
pub struct PortMonitor {
    inner: Arc<Inner>,
}

impl PortMonitor {
    /// DPDK's port name.
    pub fn name(&self) -> &str {
        &self.inner.name
    }

    /// Current link state (without waiting).
    pub fn link(&self) -> LinkStatus {
        let _g = self.inner.ctl.lock().unwrap_or_else(|p| p.into_inner());
        // SAFETY: an all-zero rte_eth_link is a valid out-buffer.
        let mut l: sys::rte_eth_link = unsafe { std::mem::zeroed() };
        // SAFETY: valid port and out-pointer.
        let r = unsafe { sys::rte_eth_link_get_nowait(self.inner.id, &mut l) };
        if r != 0 {
            return LinkStatus::default();
        }
        LinkStatus {
            up: u32::from(l.link_status()) == sys::RTE_ETH_LINK_UP,
            speed_mbps: if l.link_speed == sys::RTE_ETH_SPEED_NUM_UNKNOWN {
                0
            } else {
                l.link_speed
            },
            full_duplex: u32::from(l.link_duplex()) == sys::RTE_ETH_LINK_FULL_DUPLEX,
            autoneg: l.link_autoneg() != 0,
        }
    }

    /// Device counters.
    pub fn stats(&self) -> Result<PortStats, DpdkError> {
        let _g = self.inner.ctl.lock().unwrap_or_else(|p| p.into_inner());
        // SAFETY: an all-zero rte_eth_stats is a valid out-buffer.
        let mut s: sys::rte_eth_stats = unsafe { std::mem::zeroed() };
        // SAFETY: valid port and out-pointer.
        let r = unsafe { sys::rte_eth_stats_get(self.inner.id, &mut s) };
        if r != 0 {
            return Err(port_err(&self.inner.name, "rte_eth_stats_get", r));
        }
        let nq = sys::RTE_ETHDEV_QUEUE_STAT_CNTRS as usize;
        let rxq = usize::from(self.inner.rx_queues).min(nq);
        let txq = usize::from(self.inner.tx_queues).min(nq);
        Ok(PortStats {
            rx_packets: s.ipackets,
            tx_packets: s.opackets,
            rx_bytes: s.ibytes,
            tx_bytes: s.obytes,
            rx_missed: s.imissed,
            rx_errors: s.ierrors,
            tx_errors: s.oerrors,
            rx_nombuf: s.rx_nombuf,
            rx_queues: (0..rxq)
                .map(|q| (s.q_ipackets[q], s.q_ibytes[q], s.q_errors[q]))
                .collect(),
            tx_queues: (0..txq).map(|q| (s.q_opackets[q], s.q_obytes[q])).collect(),
        })
    }

    /// Extended counters by name (empty if the driver has none).
    pub fn xstats(&self) -> Vec<(String, u64)> {
        let names = self.inner.ctl.lock().unwrap_or_else(|p| p.into_inner());
        if names.is_empty() {
            return Vec::new();
        }
        let mut v = vec![sys::rte_eth_xstat { id: 0, value: 0 }; names.len()];
        // SAFETY: v has names.len() entries.
        let n = unsafe { sys::rte_eth_xstats_get(self.inner.id, v.as_mut_ptr(), v.len() as u32) };
        if n <= 0 || n as usize > v.len() {
            return Vec::new();
        }
        v.truncate(n as usize);
        v.iter()
            .filter_map(|x| names.get(x.id as usize).map(|nm| (nm.clone(), x.value)))
            .collect()
    }
}

/// A receive queue; exactly one thread owns (and polls) it.
#[derive(Debug)]
pub struct RxQueue {
    port: Arc<Inner>,
    id: u16,
    queue: u16,
}

/// A transmit queue; exactly one thread owns it.
#[derive(Debug)]
pub struct TxQueue {
    port: Arc<Inner>,
    id: u16,
    queue: u16,
}

impl RxQueue {
    /// Receives up to the free capacity of `out` (one `rte_eth_rx_burst`,
    /// written straight into the vector); returns how many arrived.
    #[inline]
    pub fn rx_burst<const N: usize>(&mut self, out: &mut ArrayVec<Mbuf, N>) -> usize {
        self.rx_burst_max(out, N)
    }

    /// As [`RxQueue::rx_burst`], receiving at most `max` mbufs.
    #[inline]
    pub fn rx_burst_max<const N: usize>(
        &mut self,
        out: &mut ArrayVec<Mbuf, N>,
        max: usize,
    ) -> usize {
        let len = out.len();
        let room = (N - len).min(max).min(usize::from(u16::MAX)) as u16;
        if room == 0 {
            return 0;
        }
        // SAFETY: the queue is set up and only this handle (&mut, not Sync)
        // polls it; the driver writes `n <= room` owned, valid mbuf pointers
        // into the spare slots, which Mbuf (a transparent pointer) adopts.
        unsafe {
            let dst = out.as_mut_ptr().add(len).cast::<*mut sys::rte_mbuf>();
            let n = usize::from(sys::upf_eth_rx_burst(self.id, self.queue, dst, room));
            out.set_len(len + n);
            n
        }
    }

    /// The queue index.
    pub fn queue(&self) -> u16 {
        self.queue
    }

    /// DPDK's port id.
    pub fn port_id(&self) -> u16 {
        self.port.id
    }
}

impl TxQueue {
    /// Hands as many mbufs from the front of `pkts` to the device as it
    /// takes (one `rte_eth_tx_burst`); what it did not take stays in `pkts`
    /// in order. Returns how many went.
    #[inline]
    pub fn tx_burst<const N: usize>(&mut self, pkts: &mut ArrayVec<Mbuf, N>) -> usize {
        let len = pkts.len();
        if len == 0 {
            return 0;
        }
        // SAFETY: the queue is set up and owned by this handle alone; the
        // first `len` slots are owned mbufs; the driver takes ownership of
        // the first `sent`, which we forget by moving the rest down.
        unsafe {
            let p = pkts.as_mut_ptr();
            let sent = usize::from(sys::upf_eth_tx_burst(
                self.id,
                self.queue,
                p.cast::<*mut sys::rte_mbuf>(),
                len.min(usize::from(u16::MAX)) as u16,
            ));
            std::ptr::copy(p.add(sent), p, len - sent);
            pkts.set_len(len - sent);
            sent
        }
    }

    /// The queue index.
    pub fn queue(&self) -> u16 {
        self.queue
    }

    /// DPDK's port id.
    pub fn port_id(&self) -> u16 {
        self.port.id
    }
}

/// Two ports joined back to back by rings in this process (the `net_ring`
/// driver's `rte_eth_from_rings`, ports named `net_ring_<name>`): what A
/// sends on its queue `q`, B receives on its queue `q`, and back. A has
/// `a_to_b` transmit queues (B as many receive queues) and `b_to_a`
/// receive queues (B as many transmit queues); each ring holds
/// `ring_size` mbufs. The rings live as long as the process.
pub fn ring_pair(
    name_a: &str,
    name_b: &str,
    a_to_b: u16,
    b_to_a: u16,
    ring_size: u32,
) -> Result<(u16, u16), DpdkError> {
    if Eal::get().is_none() {
        return Err(DpdkError::NotInitialised);
    }
    let mut ab = Vec::new();
    let mut ba = Vec::new();
    for (dir, count, v) in [("ab", a_to_b, &mut ab), ("ba", b_to_a, &mut ba)] {
        for q in 0..count {
            let rn = format!("{name_a}{dir}{q}");
            let c = CString::new(rn.as_str()).map_err(|_| DpdkError::BadArgument(rn.clone()))?;
            // SAFETY: valid name; single producer (one TX queue owner) and
            // single consumer (one RX queue owner).
            let r = unsafe {
                sys::rte_ring_create(
                    c.as_ptr(),
                    ring_size,
                    sys::SOCKET_ID_ANY,
                    sys::RING_F_SP_ENQ | sys::RING_F_SC_DEQ,
                )
            };
            if r.is_null() {
                return Err(DpdkError::Ring {
                    name: rn,
                    err: rte_errno(),
                });
            }
            v.push(r);
        }
    }
    let mk = |name: &str, rx: &[*mut sys::rte_ring], tx: &[*mut sys::rte_ring]| {
        let c = CString::new(name).map_err(|_| DpdkError::BadArgument(name.to_string()))?;
        // SAFETY: valid rings (alive for the process) and counts.
        let r = unsafe {
            sys::rte_eth_from_rings(
                c.as_ptr(),
                rx.as_ptr(),
                rx.len() as u32,
                tx.as_ptr(),
                tx.len() as u32,
                0,
            )
        };
        if r < 0 {
            Err(DpdkError::Port {
                port: name.to_string(),
                what: "rte_eth_from_rings",
                err: rte_errno(),
            })
        } else {
            Ok(r as u16)
        }
    };
    let a = mk(name_a, &ba, &ab)?;
    let b = mk(name_b, &ab, &ba)?;
    Ok((a, b))
}

#[cfg(test)]
mod tests {
    use super::port_name;

    #[test]
    fn pci_names_get_their_domain() {
        assert_eq!(port_name("3b:00.0"), "0000:3b:00.0");
        assert_eq!(port_name("0000:3B:00.1"), "0000:3b:00.1");
        assert_eq!(port_name("net_pcap0,rx_pcap=a.pcap"), "net_pcap0");
        assert_eq!(port_name("net_ring0"), "net_ring0");
        assert_eq!(port_name("zz:00.0"), "zz:00.0");
    }
}
