//! UDP headers (RFC 768) and checksums over IPv4 and IPv6.

use std::net::{Ipv4Addr, Ipv6Addr};

use crate::checksum;
use crate::{be16, Result, WireError};

/// UDP header length.
pub const HEADER_LEN: usize = 8;
/// The GTP-U port (TS 29.281 4.4.2.3).
pub const GTPU_PORT: u16 = 2152;
/// The PFCP port (TS 29.244 4.2.2).
pub const PFCP_PORT: u16 = 8805;
/// DNS.
pub const DNS_PORT: u16 = 53;

/// A parsed UDP header.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct UdpRepr {
    /// Source port.
    pub src_port: u16,
    /// Destination port.
    pub dst_port: u16,
    /// Length from the header (header and payload).
    pub len: usize,
    /// Checksum as found.
    pub checksum: u16,
}

impl UdpRepr {
    /// Parses the header at the start of `b`; the length must cover the
    /// header and fit the buffer.
    #[inline]
    pub fn parse(b: &[u8]) -> Result<Self> {
        let h = b.get(..HEADER_LEN).ok_or(WireError::Truncated)?;
        let len = usize::from(be16(h, 4));
        if len < HEADER_LEN {
            return Err(WireError::BadLength);
        }
        if len > b.len() {
            return Err(WireError::Truncated);
        }
        Ok(UdpRepr {
            src_port: be16(h, 0),
            dst_port: be16(h, 2),
            len,
            checksum: be16(h, 6),
        })
    }

    /// Writes the header with a zero checksum.
    pub fn emit(&self, buf: &mut [u8]) -> Result<()> {
        let h = buf.get_mut(..HEADER_LEN).ok_or(WireError::BufferTooSmall)?;
        let len = u16::try_from(self.len).map_err(|_| WireError::BadLength)?;
        h[0..2].copy_from_slice(&self.src_port.to_be_bytes());
        h[2..4].copy_from_slice(&self.dst_port.to_be_bytes());
        h[4..6].copy_from_slice(&len.to_be_bytes());
        h[6..8].copy_from_slice(&[0, 0]);
        Ok(())
    }
}

/// Computes and stores the checksum of the UDP datagram `dgram` (header
/// and payload, length field already set) over IPv4. A result of 0 is sent
/// as 0xffff (RFC 768).
pub fn fill_checksum_v4(dgram: &mut [u8], src: Ipv4Addr, dst: Ipv4Addr) -> Result<()> {
    if dgram.len() < HEADER_LEN || dgram.len() > usize::from(u16::MAX) {
        return Err(WireError::BadLength);
    }
    dgram[6] = 0;
    dgram[7] = 0;
    let acc = checksum::pseudo_v4(src, dst, crate::ipv4::PROTO_UDP, dgram.len() as u16);
    let mut c = checksum::finish(checksum::sum(dgram, acc));
    if c == 0 {
        c = 0xffff;
    }
    dgram[6..8].copy_from_slice(&c.to_be_bytes());
    Ok(())
}

/// Computes and stores the checksum of the UDP datagram `dgram` over IPv6
/// (mandatory there, RFC 8200 8.1).
pub fn fill_checksum_v6(dgram: &mut [u8], src: &Ipv6Addr, dst: &Ipv6Addr) -> Result<()> {
    if dgram.len() < HEADER_LEN {
        return Err(WireError::BadLength);
    }
    dgram[6] = 0;
    dgram[7] = 0;
    let acc = checksum::pseudo_v6(src, dst, crate::ipv4::PROTO_UDP, dgram.len() as u32);
    let mut c = checksum::finish(checksum::sum(dgram, acc));
    if c == 0 {
        c = 0xffff;
    }
    dgram[6..8].copy_from_slice(&c.to_be_bytes());
    Ok(())
}

/// True if the checksum of `dgram` verifies over IPv4 (0 means "none").
pub fn verify_v4(dgram: &[u8], src: Ipv4Addr, dst: Ipv4Addr) -> bool {
    if dgram.len() < HEADER_LEN {
        return false;
    }
    if be16(dgram, 6) == 0 {
        return true;
    }
    let acc = checksum::pseudo_v4(src, dst, crate::ipv4::PROTO_UDP, dgram.len() as u16);
    checksum::finish(checksum::sum(dgram, acc)) == 0
}

/// True if the checksum of `dgram` verifies over IPv6.
pub fn verify_v6(dgram: &[u8], src: &Ipv6Addr, dst: &Ipv6Addr) -> bool {
    if dgram.len() < HEADER_LEN {
        return false;
    }
    let acc = checksum::pseudo_v6(src, dst, crate::ipv4::PROTO_UDP, dgram.len() as u32);
    checksum::finish(checksum::sum(dgram, acc)) == 0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn checksums_verify() {
        let mut d = [0u8; 12];
        UdpRepr {
            src_port: 2152,
            dst_port: 2152,
            len: 12,
            checksum: 0,
        }
        .emit(&mut d)
        .unwrap();
        d[8..12].copy_from_slice(b"abcd");
        let (s4, d4) = (Ipv4Addr::new(198, 18, 0, 1), Ipv4Addr::new(198, 18, 0, 2));
        fill_checksum_v4(&mut d, s4, d4).unwrap();
        assert!(verify_v4(&d, s4, d4));
        assert!(!verify_v4(&d, s4, Ipv4Addr::new(198, 18, 0, 3)));
        let (s6, d6): (Ipv6Addr, Ipv6Addr) = (
            "2001:db8::1".parse().unwrap(),
            "2001:db8::2".parse().unwrap(),
        );
        fill_checksum_v6(&mut d, &s6, &d6).unwrap();
        assert!(verify_v6(&d, &s6, &d6));
        d[9] ^= 0xff;
        assert!(!verify_v6(&d, &s6, &d6));
        assert_eq!(UdpRepr::parse(&d).unwrap().len, 12);
        assert_eq!(UdpRepr::parse(&d[..11]), Err(WireError::Truncated));
    }
}
