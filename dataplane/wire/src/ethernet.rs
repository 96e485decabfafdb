//! Ethernet II frames with an optional single 802.1Q tag.

use crate::{be16, Result, WireError};

/// EtherType IPv4.
pub const ETHERTYPE_IPV4: u16 = 0x0800;
/// EtherType ARP.
pub const ETHERTYPE_ARP: u16 = 0x0806;
/// EtherType IPv6.
pub const ETHERTYPE_IPV6: u16 = 0x86dd;
/// EtherType of an 802.1Q tag.
pub const ETHERTYPE_VLAN: u16 = 0x8100;
/// Length of an untagged Ethernet header.
pub const HEADER_LEN: usize = 14;
/// Length of a tagged Ethernet header.
pub const VLAN_HEADER_LEN: usize = 18;

/// A MAC address.
pub type Mac = [u8; 6];

/// The broadcast address.
pub const BROADCAST: Mac = [0xff; 6];

/// A parsed Ethernet header.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct EthernetRepr {
    /// Destination MAC.
    pub dst: Mac,
    /// Source MAC.
    pub src: Mac,
    /// 802.1Q VLAN ID, if tagged.
    pub vlan: Option<u16>,
    /// EtherType of the payload.
    pub ethertype: u16,
}

impl EthernetRepr {
    /// Parses the header of `frame`.
    #[inline]
    pub fn parse(frame: &[u8]) -> Result<Self> {
        let h: &[u8; 14] = frame
            .get(..14)
            .and_then(|s| s.try_into().ok())
            .ok_or(WireError::Truncated)?;
        let mut dst = [0u8; 6];
        let mut src = [0u8; 6];
        dst.copy_from_slice(&h[0..6]);
        src.copy_from_slice(&h[6..12]);
        let et = be16(h, 12);
        if et == ETHERTYPE_VLAN {
            let t = frame.get(14..18).ok_or(WireError::Truncated)?;
            return Ok(EthernetRepr {
                dst,
                src,
                vlan: Some(be16(t, 0) & 0x0fff),
                ethertype: be16(t, 2),
            });
        }
        Ok(EthernetRepr {
            dst,
            src,
            vlan: None,
            ethertype: et,
        })
    }

    /// Header length of this representation.
    #[inline]
    pub fn header_len(&self) -> usize {
        if self.vlan.is_some() {
            VLAN_HEADER_LEN
        } else {
            HEADER_LEN
        }
    }

    /// Writes the header at the start of `buf`.
    #[inline]
    pub fn emit(&self, buf: &mut [u8]) -> Result<()> {
        let n = self.header_len();
        let b = buf.get_mut(..n).ok_or(WireError::BufferTooSmall)?;
        b[0..6].copy_from_slice(&self.dst);
        b[6..12].copy_from_slice(&self.src);
        match self.vlan {
            Some(v) => {
                b[12..14].copy_from_slice(&ETHERTYPE_VLAN.to_be_bytes());
                b[14..16].copy_from_slice(&(v & 0x0fff).to_be_bytes());
                b[16..18].copy_from_slice(&self.ethertype.to_be_bytes());
            }
            None => b[12..14].copy_from_slice(&self.ethertype.to_be_bytes()),
        }
        Ok(())
    }
}

/// Formats a MAC as `aa:bb:cc:dd:ee:ff`.
pub fn mac_to_string(m: &Mac) -> String {
    format!(
        "{:02x}:{:02x}:{:02x}:{:02x}:{:02x}:{:02x}",
        m[0], m[1], m[2], m[3], m[4], m[5]
    )
}

/// Parses `aa:bb:cc:dd:ee:ff`.
pub fn parse_mac(s: &str) -> Option<Mac> {
    let mut out = [0u8; 6];
    let mut n = 0;
    for part in s.split(':') {
        if n == 6 || part.len() != 2 {
            return None;
        }
        out[n] = u8::from_str_radix(part, 16).ok()?;
        n += 1;
    }
    (n == 6).then_some(out)
}

/// The multicast MAC of an IPv6 address (RFC 2464: 33:33 + low 32 bits).
pub fn ipv6_multicast_mac(ip: &std::net::Ipv6Addr) -> Mac {
    let o = ip.octets();
    [0x33, 0x33, o[12], o[13], o[14], o[15]]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tagged_and_untagged() {
        let r = EthernetRepr {
            dst: [1, 2, 3, 4, 5, 6],
            src: [7, 8, 9, 10, 11, 12],
            vlan: Some(100),
            ethertype: ETHERTYPE_IPV4,
        };
        let mut b = [0u8; 18];
        r.emit(&mut b).unwrap();
        assert_eq!(&b[12..18], &[0x81, 0x00, 0x00, 0x64, 0x08, 0x00]);
        assert_eq!(EthernetRepr::parse(&b).unwrap(), r);
        let u = EthernetRepr { vlan: None, ..r };
        u.emit(&mut b).unwrap();
        assert_eq!(EthernetRepr::parse(&b[..14]).unwrap(), u);
        assert_eq!(EthernetRepr::parse(&b[..13]), Err(WireError::Truncated));
        assert_eq!(
            parse_mac("02:00:00:aa:bb:0c"),
            Some([2, 0, 0, 0xaa, 0xbb, 0x0c])
        );
        assert_eq!(parse_mac("02:00:00:aa:bb"), None);
        assert_eq!(
            mac_to_string(&[2, 0, 0, 0xaa, 0xbb, 0x0c]),
            "02:00:00:aa:bb:0c"
        );
    }
}
