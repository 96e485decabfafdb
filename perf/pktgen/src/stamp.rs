//! The 32-byte stamp at the start of every generated payload: which run,
//! which flow, which packet of the flow, and when it was sent.
//!
//! ```text
//!  0  magic   "UPKG"                 4 octets
//!  4  run     random per run          u32
//!  8  flow    flow number             u32
//! 12  size    inner IP packet length  u32
//! 16  seq     packet of the flow      u64 (from 0)
//! 24  tx_ns   CLOCK_REALTIME at send  u64 (ns since 1970)
//! ```
//! All fields big-endian.

/// Bytes of a stamp.
pub const LEN: usize = 32;
/// The magic that marks a payload as ours.
pub const MAGIC: [u8; 4] = *b"UPKG";

/// A decoded stamp.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Stamp {
    /// The run it belongs to.
    pub run: u32,
    /// Flow number (see [`crate::packet::flow_id`]).
    pub flow: u32,
    /// The inner IP packet length the sender built.
    pub size: u32,
    /// Sequence number within the flow.
    pub seq: u64,
    /// Send time, ns since the Unix epoch (CLOCK_REALTIME).
    pub tx_ns: u64,
}

impl Stamp {
    /// Writes the stamp into `b[..LEN]`; false if `b` is shorter.
    #[inline]
    pub fn write(&self, b: &mut [u8]) -> bool {
        let Some(b) = b.get_mut(..LEN) else {
            return false;
        };
        b[0..4].copy_from_slice(&MAGIC);
        b[4..8].copy_from_slice(&self.run.to_be_bytes());
        b[8..12].copy_from_slice(&self.flow.to_be_bytes());
        b[12..16].copy_from_slice(&self.size.to_be_bytes());
        b[16..24].copy_from_slice(&self.seq.to_be_bytes());
        b[24..32].copy_from_slice(&self.tx_ns.to_be_bytes());
        true
    }

    /// Reads a stamp from the start of `b`, `None` without the magic.
    #[inline]
    pub fn read(b: &[u8]) -> Option<Stamp> {
        let b = b.get(..LEN)?;
        if b[0..4] != MAGIC {
            return None;
        }
        let u32_at = |o: usize| u32::from_be_bytes([b[o], b[o + 1], b[o + 2], b[o + 3]]);
        let u64_at = |o: usize| {
            let mut x = [0u8; 8];
            x.copy_from_slice(&b[o..o + 8]);
            u64::from_be_bytes(x)
        };
        Some(Stamp {
            run: u32_at(4),
            flow: u32_at(8),
            size: u32_at(12),
            seq: u64_at(16),
            tx_ns: u64_at(24),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_and_layout() {
        let s = Stamp {
            run: 0x0102_0304,
            flow: 7,
            size: 64,
            seq: 0x1122_3344_5566_7788,
            tx_ns: 1_700_000_000_000_000_000,
        };
        let mut b = [0u8; 40];
        assert!(s.write(&mut b));
        assert_eq!(&b[..8], b"UPKG\x01\x02\x03\x04");
        assert_eq!(
            &b[16..24],
            &[0x11, 0x22, 0x33, 0x44, 0x55, 0x66, 0x77, 0x88]
        );
        assert_eq!(Stamp::read(&b), Some(s));
        assert!(!s.write(&mut [0u8; 31]));
        assert_eq!(Stamp::read(&b[..31]), None);
        b[0] = b'X';
        assert_eq!(Stamp::read(&b), None);
    }
}
