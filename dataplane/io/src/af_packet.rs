//! The AF_PACKET backend: ordinary Linux interfaces without DPDK.
//!
//! One socket per (worker, port) with a TPACKET_V3 receive ring (blocks of
//! frames the kernel fills; we walk them in user space with no syscall per
//! packet) and a transmit ring (frames we fill, then one `sendto` kick per
//! flush). Received frames are copied into [`MemBuf`]s from the worker's
//! pool, leaving headroom for encapsulation; sent ones are copied into the
//! transmit ring and their buffers recycled.
//!
//! Receive-side steering: the sockets of all workers on one port form a
//! `PACKET_FANOUT` group whose classic-BPF program returns the natural
//! worker of `upf_rules::placement` — `TEID % N` for GTP-U, the destination
//! IPv4 address (or the low 32 bits of an IPv6 destination's /64) for other
//! IP traffic — so a gNB's traffic spreads over the workers by session and
//! not by its single outer 5-tuple.

use std::ffi::CString;
use std::io;
use std::ptr::NonNull;
use std::sync::atomic::{fence, AtomicU32, Ordering};

use crate::mem::{MemBuf, MemPool};
use crate::{BufPool, Burst, PacketBuf, PortId, PortIo, QueueStats};

const SOL_PACKET: libc::c_int = 263;
const PACKET_RX_RING: libc::c_int = 5;
const PACKET_STATISTICS: libc::c_int = 6;
const PACKET_VERSION: libc::c_int = 10;
const PACKET_TX_RING: libc::c_int = 13;
const PACKET_FANOUT: libc::c_int = 18;
const PACKET_QDISC_BYPASS: libc::c_int = 20;
const PACKET_FANOUT_DATA: libc::c_int = 22;
const PACKET_IGNORE_OUTGOING: libc::c_int = 23;
const PACKET_FANOUT_CBPF: u32 = 6;
const TPACKET_V3: libc::c_int = 2;
const TP_STATUS_KERNEL: u32 = 0;
const TP_STATUS_USER: u32 = 1;
const TP_STATUS_SEND_REQUEST: u32 = 1;
const TP_STATUS_SENDING: u32 = 2;
const TP_STATUS_WRONG_FORMAT: u32 = 4;
const ETH_P_ALL: u16 = 0x0003;
/// Offset of the frame data in a TPACKET_V3 transmit slot:
/// TPACKET_ALIGN(sizeof(tpacket3_hdr)) = 48.
const TX_DATA_OFF: usize = 48;

#[repr(C)]
#[derive(Clone, Copy, Default)]
struct TpacketReq3 {
    tp_block_size: u32,
    tp_block_nr: u32,
    tp_frame_size: u32,
    tp_frame_nr: u32,
    tp_retire_blk_tov: u32,
    tp_sizeof_priv: u32,
    tp_feature_req_word: u32,
}

#[repr(C)]
#[derive(Clone, Copy, Default)]
struct TpacketStatsV3 {
    tp_packets: u32,
    tp_drops: u32,
    tp_freeze_q_cnt: u32,
}

// Field offsets of struct tpacket_block_desc / tpacket_hdr_v1.
const BLK_STATUS: usize = 8;
const BLK_NUM_PKTS: usize = 12;
const BLK_FIRST: usize = 16;
// Field offsets of struct tpacket3_hdr.
const H_NEXT: usize = 0;
const H_SEC: usize = 4;
const H_NSEC: usize = 8;
const H_SNAPLEN: usize = 12;
const H_LEN: usize = 16;
const H_STATUS: usize = 20;
const H_MAC: usize = 24;

/// Ring geometry.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RingConfig {
    /// Bytes per block (a multiple of the page size).
    pub block_size: u32,
    /// Blocks per ring.
    pub block_count: u32,
    /// Bytes per frame slot (transmit ring; receive frames are packed).
    pub frame_size: u32,
}

impl Default for RingConfig {
    fn default() -> Self {
        RingConfig {
            block_size: 1 << 20,
            block_count: 16,
            frame_size: 2048,
        }
    }
}

/// Errors of the backend.
#[derive(Debug, thiserror::Error)]
pub enum AfPacketError {
    /// No interface of that name.
    #[error("interface {0:?} not found")]
    NoSuchInterface(String),
    /// A socket call failed.
    #[error("{what} on {ifname}: {source}")]
    Os {
        /// What was being done.
        what: &'static str,
        /// The interface.
        ifname: String,
        /// The OS error.
        source: io::Error,
    },
    /// The ring configuration is not usable.
    #[error("bad ring configuration: {0}")]
    BadRing(&'static str),
}

/// One AF_PACKET socket with its two rings.
pub struct AfSocket {
    fd: libc::c_int,
    map: NonNull<u8>,
    map_len: usize,
    rx_blocks: usize,
    block_size: usize,
    tx_off: usize,
    tx_frames: usize,
    frame_size: usize,
    // Receive cursor.
    cur_block: usize,
    pkts_left: u32,
    pkt_off: usize,
    pkt_next: usize,
    // Transmit cursor.
    tx_head: usize,
    tx_pending: usize,
    ifname: String,
    stats: QueueStats,
}

// SAFETY: the socket and its mapping are owned by exactly one worker thread;
// moving them to that thread at start-up is fine.
unsafe impl Send for AfSocket {}

impl Drop for AfSocket {
    fn drop(&mut self) {
        // SAFETY: unmapping the region we mapped and closing our own fd.
        unsafe {
            libc::munmap(self.map.as_ptr().cast(), self.map_len);
            libc::close(self.fd);
        }
    }
}

fn os(what: &'static str, ifname: &str) -> AfPacketError {
    AfPacketError::Os {
        what,
        ifname: ifname.to_string(),
        source: io::Error::last_os_error(),
    }
}

fn setopt<T>(fd: libc::c_int, level: libc::c_int, name: libc::c_int, v: &T) -> libc::c_int {
    // SAFETY: `v` points to a live value of the size we pass.
    unsafe {
        libc::setsockopt(
            fd,
            level,
            name,
            (v as *const T).cast(),
            std::mem::size_of::<T>() as libc::socklen_t,
        )
    }
}

/// The index of interface `name`.
pub fn ifindex(name: &str) -> Result<u32, AfPacketError> {
    let c = CString::new(name).map_err(|_| AfPacketError::NoSuchInterface(name.into()))?;
    // SAFETY: c is a valid NUL-terminated string.
    let i = unsafe { libc::if_nametoindex(c.as_ptr()) };
    if i == 0 {
        Err(AfPacketError::NoSuchInterface(name.into()))
    } else {
        Ok(i)
    }
}

/// The MAC address of interface `name` in the calling thread's network
/// namespace (SIOCGIFHWADDR; sysfs would show the mount namespace's view).
pub fn if_mac(name: &str) -> Option<[u8; 6]> {
    let bytes = name.as_bytes();
    if bytes.is_empty() || bytes.len() >= 16 {
        return None;
    }
    // struct ifreq: 16-byte name, then the union (sockaddr ifr_hwaddr).
    let mut req = [0u8; 40];
    req[..bytes.len()].copy_from_slice(bytes);
    // SAFETY: a datagram socket only used for the ioctl below.
    let fd = unsafe { libc::socket(libc::AF_INET, libc::SOCK_DGRAM | libc::SOCK_CLOEXEC, 0) };
    if fd < 0 {
        return None;
    }
    // SAFETY: SIOCGIFHWADDR reads and writes a struct ifreq, which `req`
    // is large enough to hold.
    let r = unsafe { libc::ioctl(fd, libc::SIOCGIFHWADDR as _, req.as_mut_ptr()) };
    // SAFETY: closing the fd we opened.
    unsafe { libc::close(fd) };
    if r != 0 {
        return None;
    }
    let mut m = [0u8; 6];
    m.copy_from_slice(&req[18..24]);
    Some(m)
}

impl AfSocket {
    /// Opens a socket on `ifname` with rings of `cfg`.
    pub fn open(ifname: &str, cfg: RingConfig) -> Result<AfSocket, AfPacketError> {
        Self::open_with_retire(ifname, cfg, 1)
    }

    /// Like [`AfSocket::open`], with the receive blocks handed to user
    /// space after at most `retire_ms` even when not full (the kernel's
    /// `tp_retire_blk_tov`). A receiver that takes packet times from the
    /// kernel timestamps can use a longer timeout: at low rates each block
    /// then holds more frames, so the ring buffers longer stalls.
    pub fn open_with_retire(
        ifname: &str,
        cfg: RingConfig,
        retire_ms: u32,
    ) -> Result<AfSocket, AfPacketError> {
        let page = 4096u32;
        if !cfg.block_size.is_multiple_of(page) || cfg.block_count == 0 || cfg.frame_size < 256 {
            return Err(AfPacketError::BadRing(
                "block size must be a multiple of 4096, frame size >= 256",
            ));
        }
        if !cfg.block_size.is_multiple_of(cfg.frame_size) {
            return Err(AfPacketError::BadRing(
                "block size must be a multiple of frame size",
            ));
        }
        let idx = ifindex(ifname)?;
        // SAFETY: plain socket creation; the result is checked.
        let fd = unsafe {
            libc::socket(
                libc::AF_PACKET,
                libc::SOCK_RAW | libc::SOCK_NONBLOCK | libc::SOCK_CLOEXEC,
                i32::from(ETH_P_ALL.to_be()),
            )
        };
        if fd < 0 {
            return Err(os("socket(AF_PACKET)", ifname));
        }
        let close_err = |what| {
            let e = os(what, ifname);
            // SAFETY: closing the fd we just opened.
            unsafe { libc::close(fd) };
            e
        };
        if setopt(fd, SOL_PACKET, PACKET_VERSION, &TPACKET_V3) != 0 {
            return Err(close_err("PACKET_VERSION"));
        }
        let frames = cfg.block_size / cfg.frame_size * cfg.block_count;
        let rx = TpacketReq3 {
            tp_block_size: cfg.block_size,
            tp_block_nr: cfg.block_count,
            tp_frame_size: cfg.frame_size,
            tp_frame_nr: frames,
            tp_retire_blk_tov: retire_ms.max(1),
            ..Default::default()
        };
        if setopt(fd, SOL_PACKET, PACKET_RX_RING, &rx) != 0 {
            return Err(close_err("PACKET_RX_RING"));
        }
        let tx = TpacketReq3 {
            tp_block_size: cfg.block_size,
            tp_block_nr: cfg.block_count,
            tp_frame_size: cfg.frame_size,
            tp_frame_nr: frames,
            ..Default::default()
        };
        if setopt(fd, SOL_PACKET, PACKET_TX_RING, &tx) != 0 {
            return Err(close_err("PACKET_TX_RING"));
        }
        let one: libc::c_int = 1;
        // Best effort: older kernels lack these.
        setopt(fd, SOL_PACKET, PACKET_QDISC_BYPASS, &one);
        setopt(fd, SOL_PACKET, PACKET_IGNORE_OUTGOING, &one);
        let ring_len = cfg.block_size as usize * cfg.block_count as usize;
        let map_len = 2 * ring_len;
        // SAFETY: mapping the rings of our socket; checked for MAP_FAILED.
        let p = unsafe {
            libc::mmap(
                std::ptr::null_mut(),
                map_len,
                libc::PROT_READ | libc::PROT_WRITE,
                libc::MAP_SHARED | libc::MAP_LOCKED,
                fd,
                0,
            )
        };
        let p = if p == libc::MAP_FAILED {
            // MAP_LOCKED can fail under RLIMIT_MEMLOCK: retry without it.
            // SAFETY: as above.
            let q = unsafe {
                libc::mmap(
                    std::ptr::null_mut(),
                    map_len,
                    libc::PROT_READ | libc::PROT_WRITE,
                    libc::MAP_SHARED,
                    fd,
                    0,
                )
            };
            if q == libc::MAP_FAILED {
                return Err(close_err("mmap rings"));
            }
            q
        } else {
            p
        };
        let Some(map) = NonNull::new(p.cast::<u8>()) else {
            return Err(close_err("mmap rings"));
        };
        let s = AfSocket {
            fd,
            map,
            map_len,
            rx_blocks: cfg.block_count as usize,
            block_size: cfg.block_size as usize,
            tx_off: ring_len,
            tx_frames: frames as usize,
            frame_size: cfg.frame_size as usize,
            cur_block: 0,
            pkts_left: 0,
            pkt_off: 0,
            pkt_next: 0,
            tx_head: 0,
            tx_pending: 0,
            ifname: ifname.to_string(),
            stats: QueueStats::default(),
        };
        // SAFETY: an all-zero sockaddr_ll is valid; we fill the fields we use.
        let mut sll: libc::sockaddr_ll = unsafe { std::mem::zeroed() };
        sll.sll_family = libc::AF_PACKET as u16;
        sll.sll_protocol = ETH_P_ALL.to_be();
        sll.sll_ifindex = idx as i32;
        // SAFETY: sll is a valid sockaddr_ll of the size we pass.
        let r = unsafe {
            libc::bind(
                fd,
                (&sll as *const libc::sockaddr_ll).cast(),
                std::mem::size_of::<libc::sockaddr_ll>() as libc::socklen_t,
            )
        };
        if r != 0 {
            return Err(os("bind", ifname));
        }
        Ok(s)
    }

    /// Joins fanout group `group` with the steering program for `workers`.
    /// Sockets must join in worker order (worker 0 first).
    pub fn join_fanout(&self, group: u16, workers: u32) -> Result<(), AfPacketError> {
        let arg: u32 = u32::from(group) | (PACKET_FANOUT_CBPF << 16);
        if setopt(self.fd, SOL_PACKET, PACKET_FANOUT, &arg) != 0 {
            return Err(os("PACKET_FANOUT", &self.ifname));
        }
        let prog = steering_program(workers);
        let fprog = libc::sock_fprog {
            len: prog.len() as u16,
            filter: prog.as_ptr() as *mut libc::sock_filter,
        };
        if setopt(self.fd, SOL_PACKET, PACKET_FANOUT_DATA, &fprog) != 0 {
            return Err(os("PACKET_FANOUT_DATA", &self.ifname));
        }
        Ok(())
    }

    fn at(&self, off: usize) -> *mut u8 {
        // SAFETY: callers pass offsets inside the mapping (block and frame
        // offsets derived from the geometry, packet offsets checked against
        // the block length).
        unsafe { self.map.as_ptr().add(off) }
    }

    fn status(&self, off: usize) -> &AtomicU32 {
        // SAFETY: a 4-aligned u32 inside the mapping, shared with the kernel,
        // accessed atomically only.
        unsafe { &*(self.at(off) as *const AtomicU32) }
    }

    fn read_u32(&self, off: usize) -> u32 {
        // SAFETY: in-bounds read of a kernel-written header field.
        unsafe { std::ptr::read_volatile(self.at(off).cast::<u32>()) }
    }

    fn read_u16(&self, off: usize) -> u16 {
        // SAFETY: as read_u32.
        unsafe { std::ptr::read_volatile(self.at(off).cast::<u16>()) }
    }

    /// The next received frame in the ring without consuming it:
    /// `Some(Ok((offset, len, kernel_timestamp_ns)))`, `Some(Err(()))` for a
    /// frame whose header does not fit its block, `None` when the ring holds
    /// nothing more. [`AfSocket::rx_advance`] consumes it.
    fn rx_peek(&mut self) -> Option<Result<(usize, usize, u64), ()>> {
        loop {
            if self.pkts_left == 0 {
                let blk = self.cur_block * self.block_size;
                if self.status(blk + BLK_STATUS).load(Ordering::Acquire) & TP_STATUS_USER == 0 {
                    return None;
                }
                self.pkts_left = self.read_u32(blk + BLK_NUM_PKTS);
                self.pkt_off = self.read_u32(blk + BLK_FIRST) as usize;
                if self.pkts_left == 0 {
                    self.release_block();
                    continue;
                }
            }
            let blk = self.cur_block * self.block_size;
            let hdr = blk + self.pkt_off;
            if self.pkt_off + 32 > self.block_size {
                self.pkt_next = 0;
                return Some(Err(()));
            }
            let snap = self.read_u32(hdr + H_SNAPLEN) as usize;
            let mac = usize::from(self.read_u16(hdr + H_MAC));
            self.pkt_next = self.read_u32(hdr + H_NEXT) as usize;
            if self.pkt_off + mac + snap > self.block_size {
                return Some(Err(()));
            }
            let ts = u64::from(self.read_u32(hdr + H_SEC)) * 1_000_000_000
                + u64::from(self.read_u32(hdr + H_NSEC));
            return Some(Ok((hdr + mac, snap, ts)));
        }
    }

    /// Consumes the frame [`AfSocket::rx_peek`] returned; hands the block
    /// back to the kernel after its last frame.
    fn rx_advance(&mut self) {
        self.pkts_left -= 1;
        if self.pkts_left == 0 || self.pkt_next == 0 {
            self.pkts_left = 0;
            self.release_block();
        } else {
            self.pkt_off += self.pkt_next;
        }
    }

    /// Receives into `out` from the ring, copying into buffers of `pool`.
    pub fn rx(&mut self, port: PortId, out: &mut Burst<MemBuf>, pool: &mut MemPool) -> usize {
        let mut n = 0;
        while !out.is_full() {
            match self.rx_peek() {
                None => break,
                Some(Ok((off, snap, _))) => {
                    // SAFETY: rx_peek checked that the frame lies inside its block.
                    let frame = unsafe { std::slice::from_raw_parts(self.at(off), snap) };
                    match pool.alloc() {
                        Some(mut b) => match b.append(snap) {
                            Some(d) => {
                                d.copy_from_slice(frame);
                                b.set_port(port);
                                self.stats.rx_packets += 1;
                                self.stats.rx_bytes += snap as u64;
                                out.push(b);
                                n += 1;
                            }
                            None => {
                                pool.free(b);
                                self.stats.rx_errors += 1;
                            }
                        },
                        None => self.stats.rx_errors += 1,
                    }
                }
                Some(Err(())) => self.stats.rx_errors += 1,
            }
            self.rx_advance();
        }
        n
    }

    /// Visits up to `max` received frames in place (no copy, no buffer):
    /// `f(frame, kernel_rx_timestamp_ns)`, the timestamp being the
    /// kernel's CLOCK_REALTIME reception time. Returns how many were
    /// visited. For receivers that only inspect packets (traffic
    /// generators, monitors).
    pub fn rx_each(&mut self, max: usize, mut f: impl FnMut(&[u8], u64)) -> usize {
        let mut n = 0;
        while n < max {
            match self.rx_peek() {
                None => break,
                Some(Ok((off, snap, ts))) => {
                    // SAFETY: rx_peek checked that the frame lies inside its
                    // block, which stays ours until rx_advance releases it.
                    let frame = unsafe { std::slice::from_raw_parts(self.at(off), snap) };
                    self.stats.rx_packets += 1;
                    self.stats.rx_bytes += snap as u64;
                    f(frame, ts);
                    n += 1;
                }
                Some(Err(())) => self.stats.rx_errors += 1,
            }
            self.rx_advance();
        }
        n
    }

    fn release_block(&mut self) {
        let blk = self.cur_block * self.block_size;
        fence(Ordering::Release);
        self.status(blk + BLK_STATUS)
            .store(TP_STATUS_KERNEL, Ordering::Release);
        self.cur_block = (self.cur_block + 1) % self.rx_blocks;
    }

    /// Copies `frame` into the transmit ring; false if the ring is full or
    /// the frame too large. Call [`AfSocket::kick`] to send.
    pub fn tx(&mut self, frame: &[u8]) -> bool {
        if frame.len() + TX_DATA_OFF > self.frame_size {
            self.stats.tx_dropped += 1;
            return false;
        }
        let slot = self.tx_off + self.tx_head * self.frame_size;
        let st = self.status(slot + H_STATUS).load(Ordering::Acquire);
        if st == TP_STATUS_WRONG_FORMAT {
            // The kernel refused this slot earlier: reclaim it.
            self.status(slot + H_STATUS)
                .store(TP_STATUS_KERNEL, Ordering::Release);
        } else if st & (TP_STATUS_SEND_REQUEST | TP_STATUS_SENDING) != 0 {
            self.stats.tx_dropped += 1;
            return false;
        }
        // SAFETY: the slot's data area is inside the TX ring and owned by us
        // while its status is available.
        unsafe {
            std::ptr::copy_nonoverlapping(frame.as_ptr(), self.at(slot + TX_DATA_OFF), frame.len());
            std::ptr::write_volatile(self.at(slot + H_LEN).cast::<u32>(), frame.len() as u32);
            std::ptr::write_volatile(self.at(slot + H_SNAPLEN).cast::<u32>(), frame.len() as u32);
        }
        fence(Ordering::Release);
        self.status(slot + H_STATUS)
            .store(TP_STATUS_SEND_REQUEST, Ordering::Release);
        self.tx_head = (self.tx_head + 1) % self.tx_frames;
        self.tx_pending += 1;
        self.stats.tx_packets += 1;
        self.stats.tx_bytes += frame.len() as u64;
        true
    }

    /// Builds a frame directly in the next transmit slot: `f` gets the
    /// slot's data area (`frame_size - 48` bytes, holding whatever an
    /// earlier frame left there) and returns the frame length, or 0 to
    /// send nothing. False (counted as `tx_dropped`) when the ring is full
    /// or `f` returned 0 or more than the slot holds. Call
    /// [`AfSocket::kick`] to send. This is the zero-copy form of
    /// [`AfSocket::tx`] for senders that patch prepared frames.
    pub fn tx_with(&mut self, f: impl FnOnce(&mut [u8]) -> usize) -> bool {
        let slot = self.tx_off + self.tx_head * self.frame_size;
        let st = self.status(slot + H_STATUS).load(Ordering::Acquire);
        if st == TP_STATUS_WRONG_FORMAT {
            self.status(slot + H_STATUS)
                .store(TP_STATUS_KERNEL, Ordering::Release);
        } else if st & (TP_STATUS_SEND_REQUEST | TP_STATUS_SENDING) != 0 {
            self.stats.tx_dropped += 1;
            return false;
        }
        let room = self.frame_size - TX_DATA_OFF;
        // SAFETY: the slot's data area is inside the TX ring and owned by us
        // while its status says available; no other reference to it exists
        // while `f` runs (we hold `&mut self`).
        let data = unsafe { std::slice::from_raw_parts_mut(self.at(slot + TX_DATA_OFF), room) };
        let len = f(data);
        if len == 0 || len > room {
            self.stats.tx_dropped += 1;
            return false;
        }
        // SAFETY: header fields of our slot, inside the mapping.
        unsafe {
            std::ptr::write_volatile(self.at(slot + H_LEN).cast::<u32>(), len as u32);
            std::ptr::write_volatile(self.at(slot + H_SNAPLEN).cast::<u32>(), len as u32);
        }
        fence(Ordering::Release);
        self.status(slot + H_STATUS)
            .store(TP_STATUS_SEND_REQUEST, Ordering::Release);
        self.tx_head = (self.tx_head + 1) % self.tx_frames;
        self.tx_pending += 1;
        self.stats.tx_packets += 1;
        self.stats.tx_bytes += len as u64;
        true
    }

    /// True when the next transmit slot is free (a frame can be queued).
    pub fn tx_ready(&self) -> bool {
        let slot = self.tx_off + self.tx_head * self.frame_size;
        let st = self.status(slot + H_STATUS).load(Ordering::Acquire);
        st & (TP_STATUS_SEND_REQUEST | TP_STATUS_SENDING) == 0
    }

    /// Frames queued in the transmit ring and not yet kicked.
    pub fn tx_pending(&self) -> usize {
        self.tx_pending
    }

    /// Asks the kernel to send what the ring holds (one syscall).
    pub fn kick(&mut self) {
        if self.tx_pending == 0 {
            return;
        }
        // SAFETY: sendto with no buffer on a packet socket with a TX ring
        // sends the ring's pending frames.
        let r = unsafe {
            libc::sendto(
                self.fd,
                std::ptr::null(),
                0,
                libc::MSG_DONTWAIT,
                std::ptr::null(),
                0,
            )
        };
        if r >= 0 || io::Error::last_os_error().raw_os_error() != Some(libc::EAGAIN) {
            self.tx_pending = 0;
        }
    }

    /// Reads (and resets) the kernel's drop counter into the stats.
    pub fn poll_kernel_stats(&mut self) {
        let mut st = TpacketStatsV3::default();
        let mut len = std::mem::size_of::<TpacketStatsV3>() as libc::socklen_t;
        // SAFETY: st is a valid out-buffer of `len` bytes.
        let r = unsafe {
            libc::getsockopt(
                self.fd,
                SOL_PACKET,
                PACKET_STATISTICS,
                (&mut st as *mut TpacketStatsV3).cast(),
                &mut len,
            )
        };
        if r == 0 {
            self.stats.rx_missed += u64::from(st.tp_drops);
        }
    }

    /// Counters of this socket.
    pub fn stats(&self) -> QueueStats {
        self.stats
    }

    /// The raw descriptor (for `poll` when idle).
    pub fn fd(&self) -> libc::c_int {
        self.fd
    }
}

/// Instruction codes of classic BPF used below.
mod op {
    pub const LD_W_ABS: u16 = 0x20;
    pub const LD_H_ABS: u16 = 0x28;
    pub const LD_B_ABS: u16 = 0x30;
    pub const LD_W_IND: u16 = 0x40;
    pub const LD_H_IND: u16 = 0x48;
    pub const LDX_B_MSH: u16 = 0xb1;
    pub const JEQ_K: u16 = 0x15;
    pub const JA: u16 = 0x05;
    pub const MOD_K: u16 = 0x94;
    pub const RET_A: u16 = 0x16;
    pub const RET_K: u16 = 0x06;
}

fn ins(code: u16, jt: u8, jf: u8, k: u32) -> libc::sock_filter {
    libc::sock_filter { code, jt, jf, k }
}

/// Ancillary load of `skb->protocol` (SKF_AD_OFF + SKF_AD_PROTOCOL).
const AD_PROTOCOL: u32 = 0xffff_f000;

/// The fanout program: returns the natural worker of a frame (see the
/// module docs); ARP and everything else go to worker 0.
///
/// The kernel runs fanout programs on the packet as it arrives from the
/// driver, with the data pointer at the network header (the Ethernet header
/// is already pulled), so offsets are from the IP header and the EtherType
/// comes from the ancillary `protocol` load.
pub fn steering_program(workers: u32) -> Vec<libc::sock_filter> {
    use op::*;
    let n = workers.max(1);
    // IPv4: protocol 9, destination 16; with X = IHL*4 the UDP destination
    // port is at X+2 and the GTP-U TEID at X+12. IPv6: next header 6, UDP
    // destination port 42, TEID 52, destination octets 4..8 at 28.
    vec![
        /* 0 */ ins(LD_H_ABS, 0, 0, AD_PROTOCOL),
        /* 1 */ ins(JEQ_K, 1, 0, 0x0800), // -> 3 : 2
        /* 2 */ ins(JEQ_K, 9, 18, 0x86dd), // -> 12 : 21
        /* 3 */ ins(LD_B_ABS, 0, 0, 9),
        /* 4 */ ins(JEQ_K, 0, 5, 17), // -> 5 : 10
        /* 5 */ ins(LDX_B_MSH, 0, 0, 0),
        /* 6 */ ins(LD_H_IND, 0, 0, 2),
        /* 7 */ ins(JEQ_K, 0, 2, 2152), // -> 8 : 10
        /* 8 */ ins(LD_W_IND, 0, 0, 12),
        /* 9 */ ins(JA, 0, 0, 9), // -> 19
        /* 10 */ ins(LD_W_ABS, 0, 0, 16),
        /* 11 */ ins(JA, 0, 0, 7), // -> 19
        /* 12 */ ins(LD_B_ABS, 0, 0, 6),
        /* 13 */ ins(JEQ_K, 0, 4, 17), // -> 14 : 18
        /* 14 */ ins(LD_H_ABS, 0, 0, 42),
        /* 15 */ ins(JEQ_K, 0, 2, 2152), // -> 16 : 18
        /* 16 */ ins(LD_W_ABS, 0, 0, 52),
        /* 17 */ ins(JA, 0, 0, 1), // -> 19
        /* 18 */ ins(LD_W_ABS, 0, 0, 28),
        /* 19 */ ins(MOD_K, 0, 0, n),
        /* 20 */ ins(RET_A, 0, 0, 0),
        /* 21 */ ins(RET_K, 0, 0, 0),
    ]
}

const PACKET_VNET_HDR: libc::c_int = 15;
/// Size of `struct virtio_net_hdr`.
const VNET_HDR_LEN: usize = 10;

/// What a transmit kick achieved.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kick {
    /// Nothing was pending, or the kernel took every pending frame.
    Done,
    /// The kernel stopped early (socket send buffer or device queue full):
    /// the frames it did not take stay queued for the next kick.
    Backpressure,
}

/// A transmit-only packet socket with a TPACKET_V3 transmit ring, for
/// traffic generators: it receives nothing (bound to protocol 0), so it
/// costs the kernel no copy of incoming traffic.
///
/// When the kernel supports `PACKET_VNET_HDR` on transmit rings, each
/// frame is preceded by a virtio-net header whose `hdr_len` covers the
/// whole frame, which makes the kernel copy the frame into the socket
/// buffer's linear area instead of attaching ring pages to it; on veth
/// and other software devices that avoids a page allocation and copy per
/// packet (`skb_copy_ubufs`) when the frame crosses into another device.
pub struct AfTxRing {
    fd: libc::c_int,
    map: NonNull<u8>,
    map_len: usize,
    frames: usize,
    frame_size: usize,
    head: usize,
    pending: usize,
    vnet: bool,
    ifname: String,
    stats: QueueStats,
    backpressure: u64,
    wrong_format: u64,
}

// SAFETY: the socket and its mapping are owned by one thread at a time.
unsafe impl Send for AfTxRing {}

impl Drop for AfTxRing {
    fn drop(&mut self) {
        // SAFETY: unmapping the region we mapped and closing our own fd.
        unsafe {
            libc::munmap(self.map.as_ptr().cast(), self.map_len);
            libc::close(self.fd);
        }
    }
}

impl AfTxRing {
    /// Opens a transmit ring of `cfg` on `ifname` (in the calling thread's
    /// network namespace) with a socket send buffer of `sndbuf` bytes
    /// (frames in flight inside the kernel count against it).
    pub fn open(ifname: &str, cfg: RingConfig, sndbuf: usize) -> Result<AfTxRing, AfPacketError> {
        if !cfg.block_size.is_multiple_of(4096)
            || cfg.block_count == 0
            || cfg.frame_size < 256
            || !cfg.block_size.is_multiple_of(cfg.frame_size)
        {
            return Err(AfPacketError::BadRing(
                "block size must be a multiple of 4096 and of the frame size, frame size >= 256",
            ));
        }
        let idx = ifindex(ifname)?;
        // SAFETY: plain socket creation; the result is checked.
        let fd = unsafe {
            libc::socket(
                libc::AF_PACKET,
                libc::SOCK_RAW | libc::SOCK_NONBLOCK | libc::SOCK_CLOEXEC,
                0,
            )
        };
        if fd < 0 {
            return Err(os("socket(AF_PACKET)", ifname));
        }
        let close_err = |what| {
            let e = os(what, ifname);
            // SAFETY: closing the fd we just opened.
            unsafe { libc::close(fd) };
            e
        };
        if setopt(fd, SOL_PACKET, PACKET_VERSION, &TPACKET_V3) != 0 {
            return Err(close_err("PACKET_VERSION"));
        }
        let one: libc::c_int = 1;
        // Both best effort: without them frames still go out, only slower.
        let vnet = setopt(fd, SOL_PACKET, PACKET_VNET_HDR, &one) == 0;
        setopt(fd, SOL_PACKET, PACKET_QDISC_BYPASS, &one);
        let buf = libc::c_int::try_from(sndbuf).unwrap_or(libc::c_int::MAX);
        if setopt(fd, libc::SOL_SOCKET, libc::SO_SNDBUFFORCE, &buf) != 0 {
            setopt(fd, libc::SOL_SOCKET, libc::SO_SNDBUF, &buf);
        }
        let frames = cfg.block_size / cfg.frame_size * cfg.block_count;
        let tx = TpacketReq3 {
            tp_block_size: cfg.block_size,
            tp_block_nr: cfg.block_count,
            tp_frame_size: cfg.frame_size,
            tp_frame_nr: frames,
            ..Default::default()
        };
        if setopt(fd, SOL_PACKET, PACKET_TX_RING, &tx) != 0 {
            return Err(close_err("PACKET_TX_RING"));
        }
        let map_len = cfg.block_size as usize * cfg.block_count as usize;
        // SAFETY: mapping the ring of our socket; checked for MAP_FAILED.
        let p = unsafe {
            libc::mmap(
                std::ptr::null_mut(),
                map_len,
                libc::PROT_READ | libc::PROT_WRITE,
                libc::MAP_SHARED,
                fd,
                0,
            )
        };
        if p == libc::MAP_FAILED {
            return Err(close_err("mmap tx ring"));
        }
        let Some(map) = NonNull::new(p.cast::<u8>()) else {
            return Err(close_err("mmap tx ring"));
        };
        let ring = AfTxRing {
            fd,
            map,
            map_len,
            frames: frames as usize,
            frame_size: cfg.frame_size as usize,
            head: 0,
            pending: 0,
            vnet,
            ifname: ifname.to_string(),
            stats: QueueStats::default(),
            backpressure: 0,
            wrong_format: 0,
        };
        // SAFETY: an all-zero sockaddr_ll is valid; we fill the fields we use.
        let mut sll: libc::sockaddr_ll = unsafe { std::mem::zeroed() };
        sll.sll_family = libc::AF_PACKET as u16;
        sll.sll_protocol = 0;
        sll.sll_ifindex = idx as i32;
        // SAFETY: sll is a valid sockaddr_ll of the size we pass.
        let r = unsafe {
            libc::bind(
                fd,
                (&sll as *const libc::sockaddr_ll).cast(),
                std::mem::size_of::<libc::sockaddr_ll>() as libc::socklen_t,
            )
        };
        if r != 0 {
            // `ring` closes the fd and unmaps on drop.
            return Err(os("bind", &ring.ifname));
        }
        Ok(ring)
    }

    fn at(&self, off: usize) -> *mut u8 {
        // SAFETY: callers pass offsets of slots and their fields, inside the
        // mapping by construction of the geometry.
        unsafe { self.map.as_ptr().add(off) }
    }

    fn status(&self, off: usize) -> &AtomicU32 {
        // SAFETY: a 4-aligned u32 of a slot header inside the mapping,
        // shared with the kernel and only accessed atomically.
        unsafe { &*(self.at(off) as *const AtomicU32) }
    }

    /// The largest frame a slot holds.
    pub fn max_frame(&self) -> usize {
        self.frame_size - TX_DATA_OFF - if self.vnet { VNET_HDR_LEN } else { 0 }
    }

    /// True when frames are copied linearly (`PACKET_VNET_HDR` available).
    pub fn linear(&self) -> bool {
        self.vnet
    }

    /// Frames the ring holds.
    pub fn capacity(&self) -> usize {
        self.frames
    }

    /// True when the next slot is free.
    pub fn ready(&self) -> bool {
        let slot = self.head * self.frame_size;
        self.status(slot + H_STATUS).load(Ordering::Acquire)
            & (TP_STATUS_SEND_REQUEST | TP_STATUS_SENDING)
            == 0
    }

    /// Builds a frame in the next slot: `f` gets the slot's frame area
    /// ([`AfTxRing::max_frame`] bytes holding what an earlier frame left)
    /// and returns the frame length. False, with nothing queued, when the
    /// ring is full (the kernel has not sent the frame that used the slot
    /// last) or `f` returned 0 or too much.
    #[inline]
    pub fn tx_with(&mut self, f: impl FnOnce(&mut [u8]) -> usize) -> bool {
        let slot = self.head * self.frame_size;
        let st = self.status(slot + H_STATUS).load(Ordering::Acquire);
        if st == TP_STATUS_WRONG_FORMAT {
            // The kernel refused the frame that used this slot.
            self.wrong_format += 1;
            self.status(slot + H_STATUS)
                .store(TP_STATUS_KERNEL, Ordering::Release);
        } else if st & (TP_STATUS_SEND_REQUEST | TP_STATUS_SENDING) != 0 {
            return false;
        }
        let off = if self.vnet { VNET_HDR_LEN } else { 0 };
        let room = self.max_frame();
        // SAFETY: the slot's data area is inside the ring and ours while its
        // status says available; `&mut self` excludes other references.
        let data =
            unsafe { std::slice::from_raw_parts_mut(self.at(slot + TX_DATA_OFF + off), room) };
        let len = f(data);
        if len == 0 || len > room {
            return false;
        }
        if self.vnet {
            // virtio_net_hdr in the CPU's byte order (vio_le on little
            // endian hosts): no offloads, hdr_len = the whole frame.
            let mut h = [0u8; VNET_HDR_LEN];
            h[2..4].copy_from_slice(&(len as u16).to_ne_bytes());
            // SAFETY: the first 10 bytes of our slot's data area.
            unsafe {
                std::ptr::copy_nonoverlapping(h.as_ptr(), self.at(slot + TX_DATA_OFF), VNET_HDR_LEN)
            };
        }
        let total = (len + off) as u32;
        // SAFETY: header fields of our slot, inside the mapping.
        unsafe {
            std::ptr::write_volatile(self.at(slot + H_LEN).cast::<u32>(), total);
            std::ptr::write_volatile(self.at(slot + H_SNAPLEN).cast::<u32>(), total);
        }
        fence(Ordering::Release);
        self.status(slot + H_STATUS)
            .store(TP_STATUS_SEND_REQUEST, Ordering::Release);
        self.head = (self.head + 1) % self.frames;
        self.pending += 1;
        self.stats.tx_packets += 1;
        self.stats.tx_bytes += len as u64;
        true
    }

    /// Asks the kernel to send the queued frames (one syscall).
    pub fn kick(&mut self) -> Result<Kick, AfPacketError> {
        if self.pending == 0 {
            return Ok(Kick::Done);
        }
        // SAFETY: sendto with no buffer on a packet socket with a TX ring
        // sends the ring's pending frames.
        let r = unsafe {
            libc::sendto(
                self.fd,
                std::ptr::null(),
                0,
                libc::MSG_DONTWAIT,
                std::ptr::null(),
                0,
            )
        };
        if r >= 0 {
            self.pending = 0;
            return Ok(Kick::Done);
        }
        let e = io::Error::last_os_error();
        match e.raw_os_error() {
            Some(libc::EAGAIN) | Some(libc::ENOBUFS) => {
                self.backpressure += 1;
                Ok(Kick::Backpressure)
            }
            _ => Err(AfPacketError::Os {
                what: "sendto (tx ring)",
                ifname: self.ifname.clone(),
                source: e,
            }),
        }
    }

    /// Sleeps until a slot is free or `timeout_ms` passes.
    pub fn wait_room(&self, timeout_ms: i32) {
        let mut p = libc::pollfd {
            fd: self.fd,
            events: libc::POLLOUT,
            revents: 0,
        };
        // SAFETY: one valid pollfd.
        unsafe {
            libc::poll(&mut p, 1, timeout_ms);
        }
    }

    /// Frames queued and bytes (counted when queued in the ring).
    pub fn stats(&self) -> QueueStats {
        self.stats
    }

    /// Kicks the kernel stopped early (send buffer or device queue full).
    pub fn backpressure(&self) -> u64 {
        self.backpressure
    }

    /// Frames the kernel refused as malformed (seen when their slot came
    /// round again).
    pub fn wrong_format(&self) -> u64 {
        self.wrong_format
    }
}

/// One worker's AF_PACKET sockets on every port.
pub struct AfPacketPorts {
    socks: Vec<AfSocket>,
    pool: MemPool,
}

impl AfPacketPorts {
    /// Wraps opened sockets (index = port id) and the worker's pool.
    pub fn new(socks: Vec<AfSocket>, pool: MemPool) -> Self {
        AfPacketPorts { socks, pool }
    }

    /// Reads the kernel drop counters (call about once a second).
    pub fn poll_kernel_stats(&mut self) {
        for s in &mut self.socks {
            s.poll_kernel_stats();
        }
    }

    /// File descriptors (to sleep in `poll` when idle).
    pub fn fds(&self) -> Vec<libc::c_int> {
        self.socks.iter().map(|s| s.fd()).collect()
    }
}

impl PortIo for AfPacketPorts {
    type Buf = MemBuf;
    type Pool = MemPool;

    fn ports(&self) -> usize {
        self.socks.len()
    }

    fn rx_burst(&mut self, port: PortId, out: &mut Burst<MemBuf>) -> usize {
        match self.socks.get_mut(usize::from(port)) {
            Some(s) => s.rx(port, out, &mut self.pool),
            None => 0,
        }
    }

    fn tx_burst(&mut self, port: PortId, pkts: &mut Burst<MemBuf>) {
        match self.socks.get_mut(usize::from(port)) {
            Some(s) => {
                for b in pkts.drain(..) {
                    s.tx(b.data());
                    self.pool.free(b);
                }
            }
            None => {
                for b in pkts.drain(..) {
                    self.pool.free(b);
                }
            }
        }
    }

    fn pool(&mut self) -> &mut MemPool {
        &mut self.pool
    }

    fn flush(&mut self) {
        for s in &mut self.socks {
            s.kick();
        }
    }

    fn housekeeping(&mut self) {
        self.poll_kernel_stats();
    }

    fn stats(&self, port: PortId) -> QueueStats {
        self.socks
            .get(usize::from(port))
            .map(AfSocket::stats)
            .unwrap_or_default()
    }
}

/// Interprets a classic BPF program over the network-layer packet `pkt`
/// of EtherType `protocol` (the subset used above), as the kernel runs a
/// fanout program: for tests of the steering program without a kernel.
pub fn run_cbpf(prog: &[libc::sock_filter], protocol: u16, pkt: &[u8]) -> Option<u32> {
    let (mut a, mut x, mut pc) = (0u32, 0u32, 0usize);
    let ld = |off: usize, n: usize| -> Option<u32> {
        let b = pkt.get(off..off + n)?;
        Some(b.iter().fold(0u32, |acc, v| (acc << 8) | u32::from(*v)))
    };
    for _ in 0..1000 {
        let i = prog.get(pc)?;
        let k = i.k as usize;
        pc += 1;
        match i.code {
            op::LD_W_ABS => a = ld(k, 4)?,
            op::LD_H_ABS if i.k == AD_PROTOCOL => a = u32::from(protocol),
            op::LD_H_ABS => a = ld(k, 2)?,
            op::LD_B_ABS => a = ld(k, 1)?,
            op::LD_W_IND => a = ld(x as usize + k, 4)?,
            op::LD_H_IND => a = ld(x as usize + k, 2)?,
            op::LDX_B_MSH => x = (ld(k, 1)? & 0xf) * 4,
            op::JEQ_K => pc += usize::from(if a == i.k { i.jt } else { i.jf }),
            op::JA => pc += k,
            op::MOD_K => a = a.checked_rem(i.k)?,
            op::RET_A => return Some(a),
            op::RET_K => return Some(i.k),
            _ => return None,
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    fn v4_gtp(ihl_words: u8, teid: u32) -> Vec<u8> {
        let ihl = usize::from(ihl_words) * 4;
        let mut p = vec![0u8; ihl + 8 + 8];
        p[0] = 0x40 | ihl_words;
        p[9] = 17;
        p[16..20].copy_from_slice(&[198, 18, 0, 9]);
        p[ihl + 2..ihl + 4].copy_from_slice(&2152u16.to_be_bytes());
        p[ihl + 8] = 0x30;
        p[ihl + 9] = 0xff;
        p[ihl + 12..ihl + 16].copy_from_slice(&teid.to_be_bytes());
        p
    }

    #[test]
    fn steering_follows_placement() {
        use upf_rules::placement;
        for n in [1u32, 2, 3, 4] {
            let prog = steering_program(n);
            for teid in [0u32, 1, 2, 7, 0xdead_beef] {
                for ihl in [5u8, 6, 15] {
                    let f = v4_gtp(ihl, teid);
                    assert_eq!(
                        run_cbpf(&prog, 0x0800, &f),
                        Some(placement::natural_worker_teid(teid, n)),
                        "teid {teid} ihl {ihl} n {n}"
                    );
                }
            }
            // Plain IPv4 by destination.
            let mut p = vec![0u8; 20];
            p[0] = 0x45;
            p[9] = 6;
            p[16..20].copy_from_slice(&[10, 45, 0, 7]);
            let ip = u32::from_be_bytes([10, 45, 0, 7]);
            assert_eq!(
                run_cbpf(&prog, 0x0800, &p),
                Some(placement::natural_worker_v4(ip, n))
            );
            // IPv6 by the /64 of the destination, and GTP-U over IPv6 by TEID.
            let mut v6 = vec![0u8; 40 + 16];
            v6[0] = 0x60;
            v6[6] = 58;
            let dst: std::net::Ipv6Addr = "2001:db8:45:9::1".parse().unwrap();
            v6[24..40].copy_from_slice(&dst.octets());
            assert_eq!(
                run_cbpf(&prog, 0x86dd, &v6),
                Some(placement::natural_worker_v6(&dst, n))
            );
            v6[6] = 17;
            v6[42..44].copy_from_slice(&2152u16.to_be_bytes());
            v6[52..56].copy_from_slice(&77u32.to_be_bytes());
            assert_eq!(run_cbpf(&prog, 0x86dd, &v6), Some(77 % n));
            // ARP to worker 0.
            assert_eq!(run_cbpf(&prog, 0x0806, &[0u8; 28]), Some(0));
        }
    }
}
