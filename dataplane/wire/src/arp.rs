//! ARP for IPv4 over Ethernet (RFC 826).

use std::net::Ipv4Addr;

use crate::ethernet::Mac;
use crate::{be16, Result, WireError};

/// ARP packet length for IPv4 over Ethernet.
pub const LEN: usize = 28;
/// Operation: request.
pub const OP_REQUEST: u16 = 1;
/// Operation: reply.
pub const OP_REPLY: u16 = 2;

/// An ARP packet for IPv4 over Ethernet.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ArpRepr {
    /// Operation (request or reply).
    pub op: u16,
    /// Sender hardware address.
    pub sender_mac: Mac,
    /// Sender protocol address.
    pub sender_ip: Ipv4Addr,
    /// Target hardware address.
    pub target_mac: Mac,
    /// Target protocol address.
    pub target_ip: Ipv4Addr,
}

impl ArpRepr {
    /// Parses an ARP packet (the Ethernet payload).
    pub fn parse(b: &[u8]) -> Result<Self> {
        let b: &[u8; LEN] = b
            .get(..LEN)
            .and_then(|s| s.try_into().ok())
            .ok_or(WireError::Truncated)?;
        // Hardware Ethernet (1), protocol IPv4, lengths 6 and 4.
        if be16(b, 0) != 1 || be16(b, 2) != 0x0800 || b[4] != 6 || b[5] != 4 {
            return Err(WireError::WrongProtocol);
        }
        let op = be16(b, 6);
        if op != OP_REQUEST && op != OP_REPLY {
            return Err(WireError::Malformed);
        }
        let mut sender_mac = [0u8; 6];
        let mut target_mac = [0u8; 6];
        sender_mac.copy_from_slice(&b[8..14]);
        target_mac.copy_from_slice(&b[18..24]);
        Ok(ArpRepr {
            op,
            sender_mac,
            sender_ip: Ipv4Addr::new(b[14], b[15], b[16], b[17]),
            target_mac,
            target_ip: Ipv4Addr::new(b[24], b[25], b[26], b[27]),
        })
    }

    /// Writes the packet into the first 28 bytes of `buf`.
    pub fn emit(&self, buf: &mut [u8]) -> Result<()> {
        let b = buf.get_mut(..LEN).ok_or(WireError::BufferTooSmall)?;
        b[0..2].copy_from_slice(&1u16.to_be_bytes());
        b[2..4].copy_from_slice(&0x0800u16.to_be_bytes());
        b[4] = 6;
        b[5] = 4;
        b[6..8].copy_from_slice(&self.op.to_be_bytes());
        b[8..14].copy_from_slice(&self.sender_mac);
        b[14..18].copy_from_slice(&self.sender_ip.octets());
        b[18..24].copy_from_slice(&self.target_mac);
        b[24..28].copy_from_slice(&self.target_ip.octets());
        Ok(())
    }

    /// The reply to this request from `my_mac` (which owns `target_ip`).
    pub fn reply(&self, my_mac: Mac) -> ArpRepr {
        ArpRepr {
            op: OP_REPLY,
            sender_mac: my_mac,
            sender_ip: self.target_ip,
            target_mac: self.sender_mac,
            target_ip: self.sender_ip,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn request_reply() {
        // A request as scapy builds it: ARP(op=1, hwsrc="02:00:00:00:00:01",
        // psrc="198.18.0.1", pdst="198.18.0.2").
        let req = ArpRepr {
            op: OP_REQUEST,
            sender_mac: [2, 0, 0, 0, 0, 1],
            sender_ip: Ipv4Addr::new(198, 18, 0, 1),
            target_mac: [0; 6],
            target_ip: Ipv4Addr::new(198, 18, 0, 2),
        };
        let mut b = [0u8; 28];
        req.emit(&mut b).unwrap();
        assert_eq!(
            b,
            [
                0, 1, 8, 0, 6, 4, 0, 1, 2, 0, 0, 0, 0, 1, 198, 18, 0, 1, 0, 0, 0, 0, 0, 0, 198, 18,
                0, 2
            ]
        );
        assert_eq!(ArpRepr::parse(&b).unwrap(), req);
        let rep = req.reply([2, 0, 0, 0, 0, 2]);
        assert_eq!(rep.sender_ip, req.target_ip);
        assert_eq!(rep.target_mac, req.sender_mac);
        b[5] = 16;
        assert_eq!(ArpRepr::parse(&b), Err(WireError::WrongProtocol));
        assert_eq!(ArpRepr::parse(&b[..27]), Err(WireError::Truncated));
    }
}
