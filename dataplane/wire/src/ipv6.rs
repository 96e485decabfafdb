//! IPv6 headers (RFC 8200) and the walk over extension headers.

use std::net::Ipv6Addr;

use crate::{be16, be32, Result, WireError};

/// Length of the fixed header.
pub const HEADER_LEN: usize = 40;
/// Next header: hop-by-hop options.
pub const NH_HOP_BY_HOP: u8 = 0;
/// Next header: routing.
pub const NH_ROUTING: u8 = 43;
/// Next header: fragment.
pub const NH_FRAGMENT: u8 = 44;
/// Next header: destination options.
pub const NH_DEST_OPTS: u8 = 60;
/// Next header: no next header.
pub const NH_NONE: u8 = 59;
/// How many extension headers the walk follows before giving up.
pub const MAX_EXT_HEADERS: usize = 8;

/// A parsed IPv6 fixed header.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Ipv6Repr {
    /// Source address.
    pub src: Ipv6Addr,
    /// Destination address.
    pub dst: Ipv6Addr,
    /// Next header of the fixed header.
    pub next_header: u8,
    /// Hop limit.
    pub hop_limit: u8,
    /// Traffic class.
    pub traffic_class: u8,
    /// Flow label (20 bits).
    pub flow_label: u32,
    /// Payload length from the header.
    pub payload_len: usize,
}

fn addr(b: &[u8], off: usize) -> Ipv6Addr {
    let mut o = [0u8; 16];
    o.copy_from_slice(&b[off..off + 16]);
    Ipv6Addr::from(o)
}

impl Ipv6Repr {
    /// Parses and checks the fixed header at the start of `b` (version 6,
    /// payload within the buffer).
    #[inline]
    pub fn parse(b: &[u8]) -> Result<Self> {
        let h = b.get(..HEADER_LEN).ok_or(WireError::Truncated)?;
        if h[0] >> 4 != 6 {
            return Err(WireError::BadVersion);
        }
        let vtf = be32(h, 0);
        let payload_len = usize::from(be16(h, 4));
        if HEADER_LEN + payload_len > b.len() {
            return Err(WireError::Truncated);
        }
        Ok(Ipv6Repr {
            src: addr(h, 8),
            dst: addr(h, 24),
            next_header: h[6],
            hop_limit: h[7],
            traffic_class: ((vtf >> 20) & 0xff) as u8,
            flow_label: vtf & 0x000f_ffff,
            payload_len,
        })
    }

    /// Writes the fixed header into the first 40 bytes of `buf`.
    pub fn emit(&self, buf: &mut [u8]) -> Result<()> {
        let h = buf.get_mut(..HEADER_LEN).ok_or(WireError::BufferTooSmall)?;
        let len = u16::try_from(self.payload_len).map_err(|_| WireError::BadLength)?;
        let vtf =
            (6u32 << 28) | (u32::from(self.traffic_class) << 20) | (self.flow_label & 0xfffff);
        h[0..4].copy_from_slice(&vtf.to_be_bytes());
        h[4..6].copy_from_slice(&len.to_be_bytes());
        h[6] = self.next_header;
        h[7] = self.hop_limit;
        h[8..24].copy_from_slice(&self.src.octets());
        h[24..40].copy_from_slice(&self.dst.octets());
        Ok(())
    }
}

/// Where the upper layer starts after the extension headers.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct UpperLayer {
    /// Upper-layer protocol (e.g. 6, 17, 58, 50), or 59 for none.
    pub protocol: u8,
    /// Offset of its header from the start of the IPv6 header.
    pub offset: usize,
    /// True if a fragment header with a non-zero offset was seen (no
    /// upper-layer header in this packet).
    pub later_fragment: bool,
}

/// Walks the extension headers of the IPv6 packet `b` (fixed header first).
pub fn upper_layer(b: &[u8], first: u8) -> Result<UpperLayer> {
    let mut nh = first;
    let mut off = HEADER_LEN;
    let mut later_fragment = false;
    for _ in 0..MAX_EXT_HEADERS {
        match nh {
            NH_HOP_BY_HOP | NH_ROUTING | NH_DEST_OPTS => {
                let e = b.get(off..off + 2).ok_or(WireError::Truncated)?;
                nh = e[0];
                off += (usize::from(e[1]) + 1) * 8;
            }
            NH_FRAGMENT => {
                let e = b.get(off..off + 8).ok_or(WireError::Truncated)?;
                nh = e[0];
                if be16(e, 2) & 0xfff8 != 0 {
                    later_fragment = true;
                }
                off += 8;
            }
            crate::ipv4::PROTO_AH => {
                // AH: payload length in 4-octet units minus 2 (RFC 4302).
                // Stop here: the SPI is what filters look at.
                return Ok(UpperLayer {
                    protocol: nh,
                    offset: off,
                    later_fragment,
                });
            }
            _ => {
                if off > b.len() {
                    return Err(WireError::Truncated);
                }
                return Ok(UpperLayer {
                    protocol: nh,
                    offset: off,
                    later_fragment,
                });
            }
        }
        if off > b.len() {
            return Err(WireError::Truncated);
        }
    }
    Err(WireError::Malformed)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fixed_header_round_trip() {
        let r = Ipv6Repr {
            src: "2001:db8::1".parse().unwrap(),
            dst: "2001:db8::2".parse().unwrap(),
            next_header: 17,
            hop_limit: 64,
            traffic_class: 0xb8,
            flow_label: 0x12345,
            payload_len: 8,
        };
        let mut b = [0u8; 48];
        r.emit(&mut b).unwrap();
        assert_eq!(&b[0..4], &[0x6b, 0x81, 0x23, 0x45]);
        assert_eq!(Ipv6Repr::parse(&b).unwrap(), r);
        assert_eq!(Ipv6Repr::parse(&b[..47]), Err(WireError::Truncated));
    }

    #[test]
    fn walks_extension_headers() {
        let mut b = vec![0u8; 40 + 8 + 8 + 8];
        // hop-by-hop (len 0) -> fragment (offset 0) -> UDP
        b[40] = NH_FRAGMENT;
        b[41] = 0;
        b[48] = 17;
        let ul = upper_layer(&b, NH_HOP_BY_HOP).unwrap();
        assert_eq!((ul.protocol, ul.offset, ul.later_fragment), (17, 56, false));
        b[50] = 0x01; // fragment offset 32
        assert!(upper_layer(&b, NH_HOP_BY_HOP).unwrap().later_fragment);
        // A loop of hop-by-hop headers is cut off.
        let mut lp = vec![0u8; 40 + 8 * 12];
        for i in 0..12 {
            lp[40 + 8 * i] = NH_HOP_BY_HOP;
        }
        assert_eq!(upper_layer(&lp, NH_HOP_BY_HOP), Err(WireError::Malformed));
        assert_eq!(
            upper_layer(&b[..44], NH_HOP_BY_HOP),
            Err(WireError::Truncated)
        );
    }
}
