//! ICMPv4 echo (RFC 792), ICMPv6 echo (RFC 4443) and Neighbor Discovery
//! solicitations and advertisements (RFC 4861).

use std::net::Ipv6Addr;

use crate::checksum;
use crate::ethernet::Mac;
use crate::{be16, Result, WireError};

/// ICMPv4 echo request.
pub const V4_ECHO_REQUEST: u8 = 8;
/// ICMPv4 echo reply.
pub const V4_ECHO_REPLY: u8 = 0;
/// ICMPv6 echo request.
pub const V6_ECHO_REQUEST: u8 = 128;
/// ICMPv6 echo reply.
pub const V6_ECHO_REPLY: u8 = 129;
/// ICMPv6 neighbor solicitation.
pub const V6_NEIGHBOR_SOLICIT: u8 = 135;
/// ICMPv6 neighbor advertisement.
pub const V6_NEIGHBOR_ADVERT: u8 = 136;
/// NDP option: source link-layer address.
pub const OPT_SOURCE_LLA: u8 = 1;
/// NDP option: target link-layer address.
pub const OPT_TARGET_LLA: u8 = 2;
/// Length of an NS or NA with one link-layer address option.
pub const ND_LEN: usize = 32;

/// Turns the ICMPv4 echo request `icmp` (the IP payload) into its reply in
/// place, fixing the checksum incrementally. Verifies the request first.
pub fn v4_echo_to_reply(icmp: &mut [u8]) -> Result<()> {
    if icmp.len() < 8 {
        return Err(WireError::Truncated);
    }
    if icmp[0] != V4_ECHO_REQUEST || icmp[1] != 0 {
        return Err(WireError::WrongProtocol);
    }
    if checksum::checksum(icmp) != 0 {
        return Err(WireError::BadChecksum);
    }
    let old = be16(icmp, 0);
    icmp[0] = V4_ECHO_REPLY;
    let c = checksum::update16(be16(icmp, 2), old, be16(icmp, 0));
    icmp[2..4].copy_from_slice(&c.to_be_bytes());
    Ok(())
}

/// Verifies the checksum of the ICMPv6 message `icmp` between `src` and `dst`.
pub fn v6_verify(icmp: &[u8], src: &Ipv6Addr, dst: &Ipv6Addr) -> bool {
    let acc = checksum::pseudo_v6(src, dst, crate::ipv4::PROTO_ICMPV6, icmp.len() as u32);
    checksum::finish(checksum::sum(icmp, acc)) == 0
}

/// Computes and stores the checksum of the ICMPv6 message `icmp`.
pub fn v6_fill_checksum(icmp: &mut [u8], src: &Ipv6Addr, dst: &Ipv6Addr) -> Result<()> {
    if icmp.len() < 4 {
        return Err(WireError::Truncated);
    }
    icmp[2] = 0;
    icmp[3] = 0;
    let acc = checksum::pseudo_v6(src, dst, crate::ipv4::PROTO_ICMPV6, icmp.len() as u32);
    let c = checksum::finish(checksum::sum(icmp, acc));
    icmp[2..4].copy_from_slice(&c.to_be_bytes());
    Ok(())
}

/// Turns an ICMPv6 echo request into its reply in place (the caller swaps
/// the IPv6 addresses, which leaves the pseudo-header sum unchanged).
pub fn v6_echo_to_reply(icmp: &mut [u8], src: &Ipv6Addr, dst: &Ipv6Addr) -> Result<()> {
    if icmp.len() < 8 {
        return Err(WireError::Truncated);
    }
    if icmp[0] != V6_ECHO_REQUEST || icmp[1] != 0 {
        return Err(WireError::WrongProtocol);
    }
    if !v6_verify(icmp, src, dst) {
        return Err(WireError::BadChecksum);
    }
    let old = be16(icmp, 0);
    icmp[0] = V6_ECHO_REPLY;
    let c = checksum::update16(be16(icmp, 2), old, be16(icmp, 0));
    icmp[2..4].copy_from_slice(&c.to_be_bytes());
    Ok(())
}

/// A neighbor solicitation or advertisement.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct NdRepr {
    /// 135 (NS) or 136 (NA).
    pub kind: u8,
    /// Target address.
    pub target: Ipv6Addr,
    /// Link-layer address option (source for NS, target for NA).
    pub lla: Option<Mac>,
    /// NA flags: router, solicited, override (bits 31, 30, 29).
    pub flags: u32,
}

impl NdRepr {
    /// NA flag: solicited.
    pub const SOLICITED: u32 = 0x4000_0000;
    /// NA flag: override.
    pub const OVERRIDE: u32 = 0x2000_0000;

    /// Parses an NS or NA (the ICMPv6 message), checksum verified with the
    /// addresses of the enclosing IPv6 header.
    pub fn parse(icmp: &[u8], src: &Ipv6Addr, dst: &Ipv6Addr) -> Result<Self> {
        if icmp.len() < 24 {
            return Err(WireError::Truncated);
        }
        let kind = icmp[0];
        if (kind != V6_NEIGHBOR_SOLICIT && kind != V6_NEIGHBOR_ADVERT) || icmp[1] != 0 {
            return Err(WireError::WrongProtocol);
        }
        if !v6_verify(icmp, src, dst) {
            return Err(WireError::BadChecksum);
        }
        let mut t = [0u8; 16];
        t.copy_from_slice(&icmp[8..24]);
        let flags = crate::be32(icmp, 4);
        let mut lla = None;
        let mut opts = &icmp[24..];
        while opts.len() >= 2 {
            let olen = usize::from(opts[1]) * 8;
            if olen == 0 || olen > opts.len() {
                return Err(WireError::Malformed);
            }
            if (opts[0] == OPT_SOURCE_LLA || opts[0] == OPT_TARGET_LLA) && olen >= 8 {
                let mut m = [0u8; 6];
                m.copy_from_slice(&opts[2..8]);
                lla = Some(m);
            }
            opts = &opts[olen..];
        }
        Ok(NdRepr {
            kind,
            target: Ipv6Addr::from(t),
            lla,
            flags,
        })
    }

    /// Writes the message (with one link-layer option if `lla` is set) and
    /// its checksum for the given IPv6 addresses; returns its length.
    pub fn emit(&self, buf: &mut [u8], src: &Ipv6Addr, dst: &Ipv6Addr) -> Result<usize> {
        let n = if self.lla.is_some() { ND_LEN } else { 24 };
        let b = buf.get_mut(..n).ok_or(WireError::BufferTooSmall)?;
        b.fill(0);
        b[0] = self.kind;
        let flags = if self.kind == V6_NEIGHBOR_ADVERT {
            self.flags
        } else {
            0
        };
        b[4..8].copy_from_slice(&flags.to_be_bytes());
        b[8..24].copy_from_slice(&self.target.octets());
        if let Some(m) = self.lla {
            b[24] = if self.kind == V6_NEIGHBOR_SOLICIT {
                OPT_SOURCE_LLA
            } else {
                OPT_TARGET_LLA
            };
            b[25] = 1;
            b[26..32].copy_from_slice(&m);
        }
        v6_fill_checksum(b, src, dst)?;
        Ok(n)
    }
}

/// The solicited-node multicast address of `ip` (RFC 4291 2.7.1).
pub fn solicited_node(ip: &Ipv6Addr) -> Ipv6Addr {
    let o = ip.octets();
    Ipv6Addr::new(
        0xff02,
        0,
        0,
        0,
        0,
        1,
        0xff00 | u16::from(o[13]),
        u16::from_be_bytes([o[14], o[15]]),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn v4_echo_reply() {
        let mut m = [8u8, 0, 0, 0, 0x12, 0x34, 0, 1, b'p', b'i', b'n', b'g'];
        let c = checksum::checksum(&m);
        m[2..4].copy_from_slice(&c.to_be_bytes());
        v4_echo_to_reply(&mut m).unwrap();
        assert_eq!(m[0], 0);
        assert_eq!(checksum::checksum(&m), 0);
        assert_eq!(v4_echo_to_reply(&mut m), Err(WireError::WrongProtocol));
    }

    #[test]
    fn nd_round_trip_and_echo6() {
        let src: Ipv6Addr = "fe80::1".parse().unwrap();
        let tgt: Ipv6Addr = "2001:db8::2".parse().unwrap();
        let dst = solicited_node(&tgt);
        assert_eq!(dst, "ff02::1:ff00:2".parse::<Ipv6Addr>().unwrap());
        let ns = NdRepr {
            kind: V6_NEIGHBOR_SOLICIT,
            target: tgt,
            lla: Some([2, 0, 0, 0, 0, 1]),
            flags: 0,
        };
        let mut b = [0u8; 32];
        let n = ns.emit(&mut b, &src, &dst).unwrap();
        assert_eq!(NdRepr::parse(&b[..n], &src, &dst).unwrap(), ns);
        b[10] ^= 1;
        assert_eq!(
            NdRepr::parse(&b[..n], &src, &dst),
            Err(WireError::BadChecksum)
        );

        let mut e = [128u8, 0, 0, 0, 0, 1, 0, 1, 1, 2, 3];
        v6_fill_checksum(&mut e, &src, &tgt).unwrap();
        v6_echo_to_reply(&mut e, &src, &tgt).unwrap();
        assert_eq!(e[0], 129);
        assert!(v6_verify(&e, &tgt, &src));
    }
}
