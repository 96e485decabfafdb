//! The Internet checksum (RFC 1071) and its incremental update (RFC 1624).

use std::net::{Ipv4Addr, Ipv6Addr};

/// One's-complement sum of `data` folded into 32 bits (not complemented);
/// an odd trailing byte is padded with zero.
#[inline]
pub fn sum(data: &[u8], mut acc: u32) -> u32 {
    let mut chunks = data.chunks_exact(2);
    for c in &mut chunks {
        acc = acc.wrapping_add(u32::from(u16::from_be_bytes([c[0], c[1]])));
        // Fold early enough that the accumulator never overflows.
        if acc & 0x8000_0000 != 0 {
            acc = (acc & 0xffff) + (acc >> 16);
        }
    }
    if let [b] = chunks.remainder() {
        acc = acc.wrapping_add(u32::from(*b) << 8);
    }
    acc
}

/// Folds a 32-bit sum to 16 bits and complements it.
#[inline]
pub fn finish(mut acc: u32) -> u16 {
    while acc > 0xffff {
        acc = (acc & 0xffff) + (acc >> 16);
    }
    !(acc as u16)
}

/// The Internet checksum of `data`.
#[inline]
pub fn checksum(data: &[u8]) -> u16 {
    finish(sum(data, 0))
}

/// Pseudo-header sum for UDP/TCP/ICMPv6 over IPv4 (RFC 768).
pub fn pseudo_v4(src: Ipv4Addr, dst: Ipv4Addr, proto: u8, len: u16) -> u32 {
    let mut acc = sum(&src.octets(), 0);
    acc = sum(&dst.octets(), acc);
    acc + u32::from(proto) + u32::from(len)
}

/// Pseudo-header sum for upper layers over IPv6 (RFC 8200 8.1).
pub fn pseudo_v6(src: &Ipv6Addr, dst: &Ipv6Addr, next_header: u8, len: u32) -> u32 {
    let mut acc = sum(&src.octets(), 0);
    acc = sum(&dst.octets(), acc);
    acc = acc.wrapping_add(len >> 16).wrapping_add(len & 0xffff);
    acc + u32::from(next_header)
}

/// Updates checksum `old_sum` (as found in a header) when a 16-bit field
/// changes from `old` to `new` (RFC 1624 eqn. 3: HC' = ~(~HC + ~m + m')).
#[inline]
pub fn update16(old_sum: u16, old: u16, new: u16) -> u16 {
    let acc = u32::from(!old_sum) + u32::from(!old) + u32::from(new);
    finish(acc)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rfc1071_example() {
        // RFC 1071 section 3 example bytes: sum is 0xddf2, checksum 0x220d.
        let data = [0x00, 0x01, 0xf2, 0x03, 0xf4, 0xf5, 0xf6, 0xf7];
        assert_eq!(finish(sum(&data, 0)), !0xddf2);
    }

    #[test]
    fn odd_length_and_incremental() {
        let data = [0x45u8, 0x00, 0x00, 0x54, 0x12, 0x34, 0x40, 0x00, 0x40, 0x11];
        let c = checksum(&data);
        let mut changed = data;
        changed[2] = 0x01;
        changed[3] = 0x00;
        assert_eq!(update16(c, 0x0054, 0x0100), checksum(&changed));
        assert_eq!(checksum(&[0xff]), !0xff00);
    }
}
