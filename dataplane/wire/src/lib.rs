//! Packet wire formats of the UPF: zero-copy views over byte slices and
//! typed representations for Ethernet (with 802.1Q), ARP, IPv4, IPv6 (with
//! extension headers), UDP, ICMPv4, ICMPv6/NDP, GTPv1-U (TS 29.281, with the
//! PDU Session Container of TS 38.415) and DNS queries.
//!
//! Two layers:
//! - views and `Repr`s per format (`gtpu::Header`, `ipv4::Ipv4`, ...): a
//!   view is checked once by its constructor, after which no accessor can
//!   panic; a `Repr` has `parse`, `emit` and `buffer_len`;
//! - [`fast`]: the per-packet helpers of the dataplane: locate the tunnel
//!   and the inner packet of a frame in one pass, extract the fields that
//!   SDF filters look at, and build an outer header set in place from a
//!   precomputed template.
//!
//! What it must not do: I/O, allocation on any parse or emit path, or
//! panic on any input. Every length field is checked against the buffer; a
//! truncated or inconsistent packet is a [`WireError`].
#![cfg_attr(not(test), deny(clippy::unwrap_used))]
#![forbid(unsafe_code)]
#![deny(missing_docs)]

pub mod arp;
pub mod checksum;
pub mod dns;
pub mod ethernet;
pub mod fast;
pub mod gtpu;
pub mod icmp;
pub mod ipv4;
pub mod ipv6;
pub mod udp;

/// Why a packet could not be parsed or built.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
pub enum WireError {
    /// The buffer ends before the header or the length it announces.
    #[error("truncated packet")]
    Truncated,
    /// A version field is not the one this parser handles.
    #[error("unsupported version")]
    BadVersion,
    /// A length field is inconsistent with the header or the buffer.
    #[error("inconsistent length field")]
    BadLength,
    /// A checksum does not verify.
    #[error("bad checksum")]
    BadChecksum,
    /// A GTP-U extension header that must be understood is unknown
    /// (TS 29.281 5.2.1: the two high bits of its type are `10` or `11`).
    #[error("unsupported comprehension-required extension header {0:#04x}")]
    UnsupportedExtension(u8),
    /// A field holds a value the format forbids.
    #[error("malformed field")]
    Malformed,
    /// The packet is of another protocol than the one asked for.
    #[error("not the expected protocol")]
    WrongProtocol,
    /// The output buffer is too small.
    #[error("buffer too small")]
    BufferTooSmall,
}

/// Result alias of this crate.
pub type Result<T> = core::result::Result<T, WireError>;

/// Reads a big-endian u16 at `off` (caller checked bounds).
#[inline(always)]
pub(crate) fn be16(b: &[u8], off: usize) -> u16 {
    u16::from_be_bytes([b[off], b[off + 1]])
}

/// Reads a big-endian u32 at `off` (caller checked bounds).
#[inline(always)]
pub(crate) fn be32(b: &[u8], off: usize) -> u32 {
    u32::from_be_bytes([b[off], b[off + 1], b[off + 2], b[off + 3]])
}
