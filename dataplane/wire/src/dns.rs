//! Just enough DNS (RFC 1035) to answer A/AAAA queries at the edge: parse
//! a one-question query and turn it into a response in place.

use std::net::IpAddr;

use crate::{be16, Result, WireError};

/// DNS header length.
pub const HEADER_LEN: usize = 12;
/// QTYPE A.
pub const TYPE_A: u16 = 1;
/// QTYPE AAAA.
pub const TYPE_AAAA: u16 = 28;
/// QCLASS IN.
pub const CLASS_IN: u16 = 1;
/// Longest name (RFC 1035 2.3.4).
pub const MAX_NAME: usize = 255;

/// A parsed standard query with one question.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Query {
    /// Transaction ID.
    pub id: u16,
    /// Recursion desired.
    pub rd: bool,
    /// Offset of QNAME in the message.
    pub qname_offset: usize,
    /// Offset just after QTYPE/QCLASS (end of the question).
    pub question_end: usize,
    /// QTYPE.
    pub qtype: u16,
    /// QCLASS.
    pub qclass: u16,
}

impl Query {
    /// Parses `msg` (the UDP payload) as a standard query with exactly one
    /// question. Compression pointers are not allowed in a question name.
    pub fn parse(msg: &[u8]) -> Result<Self> {
        let h = msg.get(..HEADER_LEN).ok_or(WireError::Truncated)?;
        let flags = be16(h, 2);
        let qr = flags & 0x8000 != 0;
        let opcode = (flags >> 11) & 0x0f;
        if qr || opcode != 0 {
            return Err(WireError::WrongProtocol);
        }
        if be16(h, 4) != 1 || be16(h, 6) != 0 || be16(h, 8) != 0 {
            return Err(WireError::Malformed);
        }
        let mut off = HEADER_LEN;
        let mut name_len = 0usize;
        loop {
            let l = usize::from(*msg.get(off).ok_or(WireError::Truncated)?);
            if l == 0 {
                off += 1;
                break;
            }
            if l & 0xc0 != 0 {
                return Err(WireError::Malformed);
            }
            name_len += l + 1;
            if name_len > MAX_NAME {
                return Err(WireError::Malformed);
            }
            off += 1 + l;
        }
        let q = msg.get(off..off + 4).ok_or(WireError::Truncated)?;
        Ok(Query {
            id: be16(h, 0),
            rd: flags & 0x0100 != 0,
            qname_offset: HEADER_LEN,
            question_end: off + 4,
            qtype: be16(q, 0),
            qclass: be16(q, 2),
        })
    }

    /// True if the query name equals `domain` (dotted, optional trailing
    /// dot), ASCII case-insensitively.
    pub fn name_is(&self, msg: &[u8], domain: &str) -> bool {
        let domain = domain.strip_suffix('.').unwrap_or(domain);
        let mut off = self.qname_offset;
        let mut labels = domain.split('.');
        loop {
            let Some(&l) = msg.get(off) else { return false };
            let l = usize::from(l);
            if l == 0 {
                return labels.next().is_none() || domain.is_empty();
            }
            let Some(want) = labels.next() else {
                return false;
            };
            let Some(got) = msg.get(off + 1..off + 1 + l) else {
                return false;
            };
            if !got.eq_ignore_ascii_case(want.as_bytes()) {
                return false;
            }
            off += 1 + l;
        }
    }

    /// Length of the response [`Query::answer_in_place`] builds.
    pub fn answer_len(&self, addr: &IpAddr) -> usize {
        self.question_end + 12 + if addr.is_ipv4() { 4 } else { 16 }
    }

    /// Rewrites the query in `msg` into an authoritative answer with one
    /// A/AAAA record for `addr` (type must match the question), dropping
    /// any additional records. `msg` must be at least
    /// [`Query::answer_len`] long; returns the response length.
    pub fn answer_in_place(&self, msg: &mut [u8], addr: &IpAddr, ttl: u32) -> Result<usize> {
        let n = self.answer_len(addr);
        let m = msg.get_mut(..n).ok_or(WireError::BufferTooSmall)?;
        let rd = if self.rd { 0x0100 } else { 0 };
        // QR, AA, RD as asked, RA, NOERROR.
        let flags: u16 = 0x8000 | 0x0400 | rd | 0x0080;
        m[2..4].copy_from_slice(&flags.to_be_bytes());
        m[4..6].copy_from_slice(&1u16.to_be_bytes());
        m[6..8].copy_from_slice(&1u16.to_be_bytes());
        m[8..12].fill(0);
        let a = self.question_end;
        m[a..a + 2].copy_from_slice(&(0xc000u16 | self.qname_offset as u16).to_be_bytes());
        let (ty, rdata): (u16, &[u8]) = match addr {
            IpAddr::V4(v) => (TYPE_A, &v.octets()[..]),
            IpAddr::V6(v) => (TYPE_AAAA, &v.octets()[..]),
        };
        let mut tmp = [0u8; 16];
        tmp[..rdata.len()].copy_from_slice(rdata);
        m[a + 2..a + 4].copy_from_slice(&ty.to_be_bytes());
        m[a + 4..a + 6].copy_from_slice(&CLASS_IN.to_be_bytes());
        m[a + 6..a + 10].copy_from_slice(&ttl.to_be_bytes());
        m[a + 10..a + 12].copy_from_slice(&(rdata.len() as u16).to_be_bytes());
        m[a + 12..a + 12 + rdata.len()].copy_from_slice(&tmp[..rdata.len()]);
        Ok(n)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    // DNS(id=0x1234, rd=1, qd=DNSQR(qname="Edge.Example.", qtype="A"))
    // as scapy 2.6.1 encodes it.
    const Q: &[u8] = &[
        0x12, 0x34, 0x01, 0x00, 0x00, 0x01, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 4, b'E', b'd',
        b'g', b'e', 7, b'E', b'x', b'a', b'm', b'p', b'l', b'e', 0, 0x00, 0x01, 0x00, 0x01,
    ];

    #[test]
    fn parse_match_answer() {
        let q = Query::parse(Q).unwrap();
        assert_eq!(
            (q.id, q.qtype, q.qclass, q.rd),
            (0x1234, TYPE_A, CLASS_IN, true)
        );
        assert!(q.name_is(Q, "edge.example"));
        assert!(q.name_is(Q, "EDGE.example."));
        assert!(!q.name_is(Q, "edge.example.com"));
        assert!(!q.name_is(Q, "example"));
        let addr: IpAddr = "198.18.5.5".parse().unwrap();
        let mut m = vec![0u8; q.answer_len(&addr)];
        m[..Q.len()].copy_from_slice(Q);
        let n = q.answer_in_place(&mut m, &addr, 60).unwrap();
        assert_eq!(n, Q.len() + 16);
        assert_eq!(&m[2..12], &[0x85, 0x80, 0, 1, 0, 1, 0, 0, 0, 0]);
        assert_eq!(
            &m[30..46],
            &[0xc0, 0x0c, 0, 1, 0, 1, 0, 0, 0, 60, 0, 4, 198, 18, 5, 5]
        );
    }

    #[test]
    fn rejects_non_queries_and_pointers() {
        let mut r = Q.to_vec();
        r[2] |= 0x80;
        assert_eq!(Query::parse(&r), Err(WireError::WrongProtocol));
        let mut p = Q.to_vec();
        p[12] = 0xc0;
        assert_eq!(Query::parse(&p), Err(WireError::Malformed));
        assert_eq!(Query::parse(&Q[..20]), Err(WireError::Truncated));
    }
}
