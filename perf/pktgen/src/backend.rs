//! Packet I/O behind two small traits, so the send and receive loops do
//! not depend on how frames reach the wire:
//!
//! - [`TxPort`]: build a frame in place in the backend's next buffer,
//!   then push a burst out;
//! - [`RxPort`]: visit received frames in place, with a receive time.
//!
//! Backends here: AF_PACKET ([`AfTx`]: a transmit-only TPACKET_V3 ring
//! with linear copies and qdisc bypass; [`AfRx`]: a TPACKET_V3 receive
//! ring whose kernel timestamps give the receive time) and [`PcapTx`]
//! (frames into a pcap file, for inspection and interoperability tests).
//! A DPDK backend implements the same traits over `rte_pktmbuf_alloc_bulk`
//! / `rte_eth_tx_burst` and `rte_eth_rx_burst` (receive time from the TSC
//! or `rte_eth_read_clock`), without changing the loops.

use std::io::{self, Write};

use upf_io::af_packet::{AfPacketError, AfSocket, AfTxRing, Kick, RingConfig};

/// What a flush achieved.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Flushed {
    /// Everything queued went to the kernel or device.
    All,
    /// The kernel or device pushed back; the rest goes with the next flush.
    Backpressure,
}

/// Transmit side of a port.
pub trait TxPort {
    /// The largest frame a buffer holds.
    fn max_frame(&self) -> usize;
    /// Builds one frame with `fill` (returns its length) in the next
    /// buffer; false when no buffer is free (ring full).
    fn try_send(&mut self, fill: impl FnOnce(&mut [u8]) -> usize) -> bool;
    /// Hands queued frames to the kernel or device.
    fn flush(&mut self) -> io::Result<Flushed>;
    /// Waits until a buffer is free or `ms` passed.
    fn wait_room(&mut self, ms: i32);
}

/// Receive side of a port.
pub trait RxPort {
    /// Visits up to `max` frames: `f(frame, rx_time_ns_realtime)`.
    fn recv(&mut self, max: usize, f: impl FnMut(&[u8], u64)) -> usize;
    /// Sends a control frame (ARP reply, Echo Response).
    fn send_control(&mut self, frame: &[u8]) -> bool;
    /// Waits until frames arrive or `ms` passed.
    fn wait(&mut self, ms: i32);
    /// Frames the kernel or device dropped before we saw them (since open).
    fn drops(&mut self) -> u64;
}

fn af_err(e: AfPacketError) -> io::Error {
    io::Error::other(e.to_string())
}

/// AF_PACKET transmit ring.
pub struct AfTx(pub AfTxRing);

impl AfTx {
    /// Opens `dev` in the calling thread's network namespace.
    pub fn open(dev: &str, cfg: RingConfig) -> Result<AfTx, AfPacketError> {
        AfTxRing::open(dev, cfg, 32 << 20).map(AfTx)
    }
}

impl TxPort for AfTx {
    fn max_frame(&self) -> usize {
        self.0.max_frame()
    }

    #[inline]
    fn try_send(&mut self, fill: impl FnOnce(&mut [u8]) -> usize) -> bool {
        self.0.tx_with(fill)
    }

    fn flush(&mut self) -> io::Result<Flushed> {
        match self.0.kick().map_err(af_err)? {
            Kick::Done => Ok(Flushed::All),
            Kick::Backpressure => Ok(Flushed::Backpressure),
        }
    }

    fn wait_room(&mut self, ms: i32) {
        self.0.wait_room(ms);
    }
}

/// AF_PACKET receive ring (with a small transmit ring for control frames).
pub struct AfRx {
    sock: AfSocket,
    fd: [i32; 1],
}

impl AfRx {
    /// Opens `dev` in the calling thread's network namespace. Blocks are
    /// retired after 10 ms: packet times come from the kernel timestamps,
    /// so the block delay costs no accuracy, and at low rates the ring
    /// then rides out longer stalls of the receiver thread.
    pub fn open(dev: &str, cfg: RingConfig) -> Result<AfRx, AfPacketError> {
        let sock = AfSocket::open_with_retire(dev, cfg, 10)?;
        let fd = [sock.fd()];
        Ok(AfRx { sock, fd })
    }
}

impl RxPort for AfRx {
    #[inline]
    fn recv(&mut self, max: usize, f: impl FnMut(&[u8], u64)) -> usize {
        self.sock.rx_each(max, f)
    }

    fn send_control(&mut self, frame: &[u8]) -> bool {
        let ok = self.sock.tx(frame);
        self.sock.kick();
        ok
    }

    fn wait(&mut self, ms: i32) {
        upf_io::sys::wait_readable(&self.fd, ms);
    }

    fn drops(&mut self) -> u64 {
        self.sock.poll_kernel_stats();
        self.sock.stats().rx_missed
    }
}

/// Frames into a pcap file (link type Ethernet), timestamps from the
/// stamp clock. For inspection with tshark/scapy, not for speed.
pub struct PcapTx<W: Write> {
    out: W,
    buf: Vec<u8>,
    /// Frames written.
    pub frames: u64,
    clock_ns: u64,
}

impl<W: Write> PcapTx<W> {
    /// Writes the pcap header to `out`.
    pub fn new(mut out: W) -> io::Result<PcapTx<W>> {
        out.write_all(&0xa1b2_3c4du32.to_le_bytes())?; // ns resolution
        out.write_all(&2u16.to_le_bytes())?;
        out.write_all(&4u16.to_le_bytes())?;
        out.write_all(&[0; 8])?;
        out.write_all(&65535u32.to_le_bytes())?;
        out.write_all(&1u32.to_le_bytes())?; // LINKTYPE_ETHERNET
        Ok(PcapTx {
            out,
            buf: vec![0u8; 9000],
            frames: 0,
            clock_ns: 0,
        })
    }

    /// Sets the timestamp of the next frames.
    pub fn set_time(&mut self, ns: u64) {
        self.clock_ns = ns;
    }

    /// The writer back.
    pub fn into_inner(self) -> W {
        self.out
    }
}

impl<W: Write> TxPort for PcapTx<W> {
    fn max_frame(&self) -> usize {
        self.buf.len()
    }

    fn try_send(&mut self, fill: impl FnOnce(&mut [u8]) -> usize) -> bool {
        let n = fill(&mut self.buf);
        if n == 0 || n > self.buf.len() {
            return false;
        }
        let s = (self.clock_ns / 1_000_000_000) as u32;
        let ns = (self.clock_ns % 1_000_000_000) as u32;
        let mut h = [0u8; 16];
        h[0..4].copy_from_slice(&s.to_le_bytes());
        h[4..8].copy_from_slice(&ns.to_le_bytes());
        h[8..12].copy_from_slice(&(n as u32).to_le_bytes());
        h[12..16].copy_from_slice(&(n as u32).to_le_bytes());
        if self.out.write_all(&h).is_err() || self.out.write_all(&self.buf[..n]).is_err() {
            return false;
        }
        self.frames += 1;
        true
    }

    fn flush(&mut self) -> io::Result<Flushed> {
        self.out.flush()?;
        Ok(Flushed::All)
    }

    fn wait_room(&mut self, _ms: i32) {}
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pcap_layout() {
        let mut p = PcapTx::new(Vec::new()).unwrap();
        p.set_time(1_500_000_000_123);
        assert!(p.try_send(|b| {
            b[..3].copy_from_slice(&[1, 2, 3]);
            3
        }));
        assert!(!p.try_send(|_| 0));
        assert_eq!(p.flush().unwrap(), Flushed::All);
        let v = p.into_inner();
        assert_eq!(v.len(), 24 + 16 + 3);
        assert_eq!(&v[0..4], &0xa1b2_3c4du32.to_le_bytes());
        assert_eq!(&v[20..24], &1u32.to_le_bytes());
        assert_eq!(&v[24..28], &1500u32.to_le_bytes());
        assert_eq!(&v[28..32], &123u32.to_le_bytes());
        assert_eq!(&v[40..43], &[1, 2, 3]);
    }
}
