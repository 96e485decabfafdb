//! GTPv1-U (3GPP TS 29.281) with the PDU Session Container of TS 38.415.
//!
//! Header (TS 29.281 5.1): version 1, PT 1, flags E/S/PN; the four
//! optional octets (sequence number, N-PDU number, next extension header
//! type) are present when any of E, S, PN is set. The Length field counts
//! everything after the first 8 octets.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use crate::{be16, be32, Result, WireError};

/// Mandatory header length.
pub const HEADER_LEN: usize = 8;
/// Header length with the optional fields.
pub const HEADER_LEN_OPT: usize = 12;

/// Echo Request (TS 29.281 7.2.1).
pub const MSG_ECHO_REQUEST: u8 = 1;
/// Echo Response (7.2.2).
pub const MSG_ECHO_RESPONSE: u8 = 2;
/// Error Indication (7.3.1).
pub const MSG_ERROR_INDICATION: u8 = 26;
/// Supported Extension Headers Notification (7.2.3).
pub const MSG_SUPPORTED_EXT_HEADERS: u8 = 31;
/// End Marker (7.3.2).
pub const MSG_END_MARKER: u8 = 254;
/// G-PDU.
pub const MSG_GPDU: u8 = 255;

/// Extension header type: no more extension headers.
pub const EXT_NONE: u8 = 0x00;
/// Extension header type: Service Class Indicator.
pub const EXT_SERVICE_CLASS: u8 = 0x20;
/// Extension header type: UDP Port (TS 29.281 5.2.2.1).
pub const EXT_UDP_PORT: u8 = 0x40;
/// Extension header type: RAN Container.
pub const EXT_RAN_CONTAINER: u8 = 0x81;
/// Extension header type: Long PDCP PDU Number (5.2.2.2A).
pub const EXT_LONG_PDCP: u8 = 0x82;
/// Extension header type: Xw RAN Container.
pub const EXT_XW_RAN_CONTAINER: u8 = 0x83;
/// Extension header type: NR RAN Container.
pub const EXT_NR_RAN_CONTAINER: u8 = 0x84;
/// Extension header type: PDU Session Container (5.2.2.7, TS 38.415).
pub const EXT_PDU_SESSION_CONTAINER: u8 = 0x85;
/// Extension header type: PDCP PDU Number (5.2.2.2).
pub const EXT_PDCP: u8 = 0xc0;

/// IE: Recovery (TV, 1 octet; TS 29.281 8.2).
pub const IE_RECOVERY: u8 = 14;
/// IE: Tunnel Endpoint Identifier Data I (TV, 4 octets; 8.3).
pub const IE_TEID_DATA_I: u8 = 16;
/// IE: GTP-U Peer Address (TLV; 8.4).
pub const IE_PEER_ADDRESS: u8 = 133;
/// IE: Extension Header Type List (TLV with a 1-octet length; 8.5).
pub const IE_EXT_HEADER_TYPE_LIST: u8 = 141;
/// IE: Private Extension (TLV; 8.6).
pub const IE_PRIVATE_EXTENSION: u8 = 255;

/// True if an extension header of this type must be understood by the
/// receiving endpoint (TS 29.281 5.2.1, Table 5.2.1-2: the two most
/// significant bits `10` or `11`).
#[inline]
pub fn ext_comprehension_required(ext_type: u8) -> bool {
    ext_type & 0x80 != 0
}

/// True for the extension header types this implementation understands.
#[inline]
pub fn ext_known(ext_type: u8) -> bool {
    matches!(
        ext_type,
        EXT_SERVICE_CLASS
            | EXT_UDP_PORT
            | EXT_RAN_CONTAINER
            | EXT_LONG_PDCP
            | EXT_XW_RAN_CONTAINER
            | EXT_NR_RAN_CONTAINER
            | EXT_PDU_SESSION_CONTAINER
            | EXT_PDCP
    )
}

/// The content of a PDU Session Container (TS 38.415 5.5.2).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PduSessionInfo {
    /// DL PDU SESSION INFORMATION (PDU type 0).
    Downlink {
        /// QoS flow identifier (6 bits).
        qfi: u8,
        /// Reflective QoS indicator.
        rqi: bool,
        /// Paging policy indicator (3 bits), present when PPP is set.
        ppi: Option<u8>,
    },
    /// UL PDU SESSION INFORMATION (PDU type 1).
    Uplink {
        /// QoS flow identifier (6 bits).
        qfi: u8,
    },
}

impl PduSessionInfo {
    /// The QFI.
    pub fn qfi(&self) -> u8 {
        match *self {
            PduSessionInfo::Downlink { qfi, .. } | PduSessionInfo::Uplink { qfi } => qfi,
        }
    }

    /// Length in octets of the whole extension header (a multiple of 4).
    pub fn ext_len(&self) -> usize {
        usize::from(self.ext_bytes().1)
    }

    /// Writes the extension header (length, content, padding, next type)
    /// into `buf`; returns the bytes written.
    pub fn emit_ext(&self, buf: &mut [u8], next: u8) -> Result<usize> {
        let (mut w, total) = self.ext_bytes();
        let total = usize::from(total);
        w[total - 1] = next;
        let b = buf.get_mut(..total).ok_or(WireError::BufferTooSmall)?;
        b.copy_from_slice(&w[..total]);
        Ok(total)
    }

    /// The whole extension header with no next extension (next type 0),
    /// in the first `len` of eight octets: `(octets, len)`, len 4 or 8.
    /// Branch-light, for the per-packet PDU Session Container of N3
    /// downlink.
    #[inline(always)]
    pub fn ext_bytes(&self) -> ([u8; 8], u8) {
        match *self {
            PduSessionInfo::Downlink {
                qfi,
                rqi,
                ppi: None,
            } => (
                [1, 0x00, (u8::from(rqi) << 6) | (qfi & 0x3f), 0, 0, 0, 0, 0],
                4,
            ),
            PduSessionInfo::Downlink {
                qfi,
                rqi,
                ppi: Some(p),
            } => (
                [
                    2,
                    0x00,
                    0x80 | (u8::from(rqi) << 6) | (qfi & 0x3f),
                    (p & 0x07) << 5,
                    0,
                    0,
                    0,
                    0,
                ],
                8,
            ),
            PduSessionInfo::Uplink { qfi } => ([1, 0x10, qfi & 0x3f, 0, 0, 0, 0, 0], 4),
        }
    }

    /// Parses the content octets of a PDU Session Container.
    pub fn parse(content: &[u8]) -> Result<Self> {
        let o1 = *content.first().ok_or(WireError::Truncated)?;
        let o2 = *content.get(1).ok_or(WireError::Truncated)?;
        match o1 >> 4 {
            0 => {
                let ppi = if o2 & 0x80 != 0 {
                    Some(content.get(2).ok_or(WireError::Truncated)? >> 5)
                } else {
                    None
                };
                Ok(PduSessionInfo::Downlink {
                    qfi: o2 & 0x3f,
                    rqi: o2 & 0x40 != 0,
                    ppi,
                })
            }
            1 => Ok(PduSessionInfo::Uplink { qfi: o2 & 0x3f }),
            _ => Err(WireError::Malformed),
        }
    }
}

/// What the extension header chain carried.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Extensions {
    /// PDU Session Container.
    pub pdu_session: Option<PduSessionInfo>,
    /// UDP Port extension (the source port of the triggering message).
    pub udp_port: Option<u16>,
    /// PDCP PDU Number (16 bits).
    pub pdcp_number: Option<u16>,
    /// Long PDCP PDU Number (18 bits).
    pub long_pdcp_number: Option<u32>,
    /// Extension headers skipped (understood but not kept, or not required).
    pub skipped: u8,
}

/// A parsed GTP-U header with its extension chain.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Header {
    /// Message type.
    pub msg_type: u8,
    /// TEID.
    pub teid: u32,
    /// Sequence number, if S is set.
    pub seq: Option<u16>,
    /// N-PDU number, if PN is set.
    pub npdu: Option<u8>,
    /// The extension chain.
    pub ext: Extensions,
    /// Offset of the payload (after header and extensions) in the buffer.
    pub payload_offset: usize,
    /// Payload length (what the Length field leaves after options and extensions).
    pub payload_len: usize,
}

impl Header {
    /// Parses the GTP-U header at the start of `b` and walks its extension
    /// chain. The Length field must fit `b` (trailing bytes beyond it are
    /// ignored, as an Ethernet pad would be).
    #[inline]
    pub fn parse(b: &[u8]) -> Result<Self> {
        let h: &[u8; 8] = b
            .get(..HEADER_LEN)
            .and_then(|s| s.try_into().ok())
            .ok_or(WireError::Truncated)?;
        let flags = h[0];
        if flags >> 5 != 1 {
            return Err(WireError::BadVersion);
        }
        if flags & 0x10 == 0 {
            // PT = 0 is GTP' (not GTP-U).
            return Err(WireError::WrongProtocol);
        }
        let msg_type = h[1];
        let length = usize::from(be16(h, 2));
        let teid = be32(h, 4);
        let end = HEADER_LEN + length;
        if end > b.len() {
            return Err(WireError::Truncated);
        }
        let b = &b[..end];
        let (e, s, pn) = (flags & 0x04 != 0, flags & 0x02 != 0, flags & 0x01 != 0);
        let mut hdr = Header {
            msg_type,
            teid,
            seq: None,
            npdu: None,
            ext: Extensions::default(),
            payload_offset: HEADER_LEN,
            payload_len: length,
        };
        if !(e || s || pn) {
            return Ok(hdr);
        }
        let opt = b.get(8..12).ok_or(WireError::BadLength)?;
        if s {
            hdr.seq = Some(be16(opt, 0));
        }
        if pn {
            hdr.npdu = Some(opt[2]);
        }
        let mut off = HEADER_LEN_OPT;
        if e {
            let mut next = opt[3];
            let mut count = 0usize;
            while next != EXT_NONE {
                count += 1;
                if count > 16 {
                    return Err(WireError::Malformed);
                }
                let len_units = *b.get(off).ok_or(WireError::BadLength)?;
                if len_units == 0 {
                    return Err(WireError::Malformed);
                }
                let elen = usize::from(len_units) * 4;
                let ext = b.get(off..off + elen).ok_or(WireError::BadLength)?;
                let content = &ext[1..elen - 1];
                let ty = next;
                next = ext[elen - 1];
                match ty {
                    EXT_PDU_SESSION_CONTAINER => {
                        hdr.ext.pdu_session = Some(PduSessionInfo::parse(content)?)
                    }
                    EXT_UDP_PORT => {
                        if len_units != 1 {
                            return Err(WireError::Malformed);
                        }
                        hdr.ext.udp_port = Some(be16(content, 0));
                    }
                    EXT_PDCP => {
                        if len_units != 1 {
                            return Err(WireError::Malformed);
                        }
                        hdr.ext.pdcp_number = Some(be16(content, 0));
                    }
                    EXT_LONG_PDCP => {
                        if len_units != 2 {
                            return Err(WireError::Malformed);
                        }
                        let v = (u32::from(content[0] & 0x03) << 16)
                            | (u32::from(content[1]) << 8)
                            | u32::from(content[2]);
                        hdr.ext.long_pdcp_number = Some(v);
                    }
                    t if ext_known(t) || !ext_comprehension_required(t) => {
                        hdr.ext.skipped = hdr.ext.skipped.saturating_add(1);
                    }
                    t => return Err(WireError::UnsupportedExtension(t)),
                }
                off += elen;
            }
        }
        if off > end {
            return Err(WireError::BadLength);
        }
        hdr.payload_offset = off;
        hdr.payload_len = end - off;
        Ok(hdr)
    }
}

/// Builder of a GTP-U header with optional fields and extensions.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct HeaderRepr {
    /// Message type.
    pub msg_type: u8,
    /// TEID.
    pub teid: u32,
    /// Sequence number (sets S).
    pub seq: Option<u16>,
    /// N-PDU number (sets PN).
    pub npdu: Option<u8>,
    /// PDU Session Container (sets E).
    pub pdu_session: Option<PduSessionInfo>,
    /// UDP Port extension (sets E), as Error Indication carries it.
    pub udp_port: Option<u16>,
}

impl HeaderRepr {
    /// A G-PDU header for `teid` without options.
    pub fn gpdu(teid: u32) -> Self {
        HeaderRepr {
            msg_type: MSG_GPDU,
            teid,
            seq: None,
            npdu: None,
            pdu_session: None,
            udp_port: None,
        }
    }

    fn has_opt(&self) -> bool {
        self.seq.is_some()
            || self.npdu.is_some()
            || self.pdu_session.is_some()
            || self.udp_port.is_some()
    }

    /// Header length including optional fields and extension headers.
    pub fn header_len(&self) -> usize {
        let mut n = if self.has_opt() {
            HEADER_LEN_OPT
        } else {
            HEADER_LEN
        };
        if let Some(p) = &self.pdu_session {
            n += p.ext_len();
        }
        if self.udp_port.is_some() {
            n += 4;
        }
        n
    }

    /// Writes the header for a payload of `payload_len` bytes at the start
    /// of `buf`; returns the header length.
    pub fn emit(&self, buf: &mut [u8], payload_len: usize) -> Result<usize> {
        let hl = self.header_len();
        let b = buf.get_mut(..hl).ok_or(WireError::BufferTooSmall)?;
        let length =
            u16::try_from(hl - HEADER_LEN + payload_len).map_err(|_| WireError::BadLength)?;
        let ext = self.pdu_session.is_some() || self.udp_port.is_some();
        b[0] = 0x30
            | (u8::from(ext) << 2)
            | (u8::from(self.seq.is_some()) << 1)
            | u8::from(self.npdu.is_some());
        b[1] = self.msg_type;
        b[2..4].copy_from_slice(&length.to_be_bytes());
        b[4..8].copy_from_slice(&self.teid.to_be_bytes());
        if !self.has_opt() {
            return Ok(hl);
        }
        b[8..10].copy_from_slice(&self.seq.unwrap_or(0).to_be_bytes());
        b[10] = self.npdu.unwrap_or(0);
        let mut off = HEADER_LEN_OPT;
        // Chain: [UDP Port] -> [PDU Session Container] -> none.
        let first = if self.udp_port.is_some() {
            EXT_UDP_PORT
        } else if self.pdu_session.is_some() {
            EXT_PDU_SESSION_CONTAINER
        } else {
            EXT_NONE
        };
        b[11] = first;
        if let Some(p) = self.udp_port {
            let next = if self.pdu_session.is_some() {
                EXT_PDU_SESSION_CONTAINER
            } else {
                EXT_NONE
            };
            b[off] = 1;
            b[off + 1..off + 3].copy_from_slice(&p.to_be_bytes());
            b[off + 3] = next;
            off += 4;
        }
        if let Some(ps) = &self.pdu_session {
            off += ps.emit_ext(&mut b[off..], EXT_NONE)?;
        }
        debug_assert_eq!(off, hl);
        Ok(hl)
    }
}

/// A GTP-U signalling message (not a G-PDU), parsed from the payload of
/// its header.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Message {
    /// Echo Request.
    EchoRequest,
    /// Echo Response with the Recovery IE value (0 per TS 29.281).
    EchoResponse {
        /// Restart counter (always 0 in GTPv1-U).
        recovery: u8,
    },
    /// Error Indication.
    ErrorIndication {
        /// The TEID of the G-PDU that could not be delivered.
        teid: u32,
        /// The address of the node that sends the indication.
        peer: IpAddr,
    },
    /// Supported Extension Headers Notification.
    SupportedExtensionHeaders {
        /// The extension header types, `count` of them.
        types: [u8; 16],
        /// Number of valid entries in `types`.
        count: u8,
    },
    /// End Marker.
    EndMarker,
}

/// Walks the IEs of a signalling message (TV for types < 128, TLV with a
/// 2-octet length otherwise, except the 1-octet length of IE 141).
fn for_each_ie(mut p: &[u8], mut f: impl FnMut(u8, &[u8]) -> Result<()>) -> Result<()> {
    while let Some(&t) = p.first() {
        let (val, used) = match t {
            IE_RECOVERY => (p.get(1..2).ok_or(WireError::Truncated)?, 2),
            IE_TEID_DATA_I => (p.get(1..5).ok_or(WireError::Truncated)?, 5),
            IE_EXT_HEADER_TYPE_LIST => {
                let l = usize::from(*p.get(1).ok_or(WireError::Truncated)?);
                (p.get(2..2 + l).ok_or(WireError::Truncated)?, 2 + l)
            }
            t if t >= 128 => {
                let l = usize::from(be16(p.get(..3).ok_or(WireError::Truncated)?, 1));
                (p.get(3..3 + l).ok_or(WireError::Truncated)?, 3 + l)
            }
            // An unknown TV IE: its length cannot be known (TS 29.281 7.7.x
            // treats this as an invalid message).
            _ => return Err(WireError::Malformed),
        };
        f(t, val)?;
        p = &p[used..];
    }
    Ok(())
}

impl Message {
    /// Parses the message body of `hdr.msg_type` from `payload`.
    pub fn parse(msg_type: u8, payload: &[u8]) -> Result<Self> {
        match msg_type {
            MSG_ECHO_REQUEST => {
                for_each_ie(payload, |_, _| Ok(()))?;
                Ok(Message::EchoRequest)
            }
            MSG_ECHO_RESPONSE => {
                let mut rec = None;
                for_each_ie(payload, |t, v| {
                    if t == IE_RECOVERY {
                        rec = Some(v[0]);
                    }
                    Ok(())
                })?;
                Ok(Message::EchoResponse {
                    recovery: rec.ok_or(WireError::Malformed)?,
                })
            }
            MSG_ERROR_INDICATION => {
                let mut teid = None;
                let mut peer = None;
                for_each_ie(payload, |t, v| {
                    match t {
                        IE_TEID_DATA_I => teid = Some(be32(v, 0)),
                        IE_PEER_ADDRESS => {
                            peer = Some(match v.len() {
                                4 => IpAddr::V4(Ipv4Addr::new(v[0], v[1], v[2], v[3])),
                                16 => {
                                    let mut o = [0u8; 16];
                                    o.copy_from_slice(v);
                                    IpAddr::V6(Ipv6Addr::from(o))
                                }
                                _ => return Err(WireError::Malformed),
                            })
                        }
                        _ => {}
                    }
                    Ok(())
                })?;
                Ok(Message::ErrorIndication {
                    teid: teid.ok_or(WireError::Malformed)?,
                    peer: peer.ok_or(WireError::Malformed)?,
                })
            }
            MSG_SUPPORTED_EXT_HEADERS => {
                let mut types = [0u8; 16];
                let mut count = 0u8;
                let mut seen = false;
                for_each_ie(payload, |t, v| {
                    if t == IE_EXT_HEADER_TYPE_LIST {
                        seen = true;
                        for &x in v {
                            if usize::from(count) == types.len() {
                                break;
                            }
                            types[usize::from(count)] = x;
                            count += 1;
                        }
                    }
                    Ok(())
                })?;
                if !seen {
                    return Err(WireError::Malformed);
                }
                Ok(Message::SupportedExtensionHeaders { types, count })
            }
            MSG_END_MARKER => {
                for_each_ie(payload, |_, _| Ok(()))?;
                Ok(Message::EndMarker)
            }
            _ => Err(WireError::WrongProtocol),
        }
    }

    /// The message type.
    pub fn msg_type(&self) -> u8 {
        match self {
            Message::EchoRequest => MSG_ECHO_REQUEST,
            Message::EchoResponse { .. } => MSG_ECHO_RESPONSE,
            Message::ErrorIndication { .. } => MSG_ERROR_INDICATION,
            Message::SupportedExtensionHeaders { .. } => MSG_SUPPORTED_EXT_HEADERS,
            Message::EndMarker => MSG_END_MARKER,
        }
    }

    /// Length of the message body.
    pub fn body_len(&self) -> usize {
        match self {
            Message::EchoRequest | Message::EndMarker => 0,
            Message::EchoResponse { .. } => 2,
            Message::ErrorIndication { peer, .. } => 5 + 3 + if peer.is_ipv4() { 4 } else { 16 },
            Message::SupportedExtensionHeaders { count, .. } => 2 + usize::from(*count),
        }
    }

    /// Writes the message body (IEs) at the start of `buf`.
    pub fn emit_body(&self, buf: &mut [u8]) -> Result<usize> {
        let n = self.body_len();
        let b = buf.get_mut(..n).ok_or(WireError::BufferTooSmall)?;
        match self {
            Message::EchoRequest | Message::EndMarker => {}
            Message::EchoResponse { recovery } => {
                b[0] = IE_RECOVERY;
                b[1] = *recovery;
            }
            Message::ErrorIndication { teid, peer } => {
                b[0] = IE_TEID_DATA_I;
                b[1..5].copy_from_slice(&teid.to_be_bytes());
                b[5] = IE_PEER_ADDRESS;
                match peer {
                    IpAddr::V4(a) => {
                        b[6..8].copy_from_slice(&4u16.to_be_bytes());
                        b[8..12].copy_from_slice(&a.octets());
                    }
                    IpAddr::V6(a) => {
                        b[6..8].copy_from_slice(&16u16.to_be_bytes());
                        b[8..24].copy_from_slice(&a.octets());
                    }
                }
            }
            Message::SupportedExtensionHeaders { types, count } => {
                b[0] = IE_EXT_HEADER_TYPE_LIST;
                b[1] = *count;
                let c = usize::from(*count).min(16);
                b[2..2 + c].copy_from_slice(&types[..c]);
            }
        }
        Ok(n)
    }

    /// Writes header and body for this message: Echo and Supported
    /// Extension Headers carry `seq` (S flag, TS 29.281 7.2), Error
    /// Indication may carry a UDP Port extension, End Marker goes on `teid`.
    pub fn emit(
        &self,
        buf: &mut [u8],
        teid: u32,
        seq: Option<u16>,
        udp_port: Option<u16>,
    ) -> Result<usize> {
        let hdr = HeaderRepr {
            msg_type: self.msg_type(),
            teid,
            seq,
            npdu: None,
            pdu_session: None,
            udp_port,
        };
        let body = self.body_len();
        let hl = hdr.emit(buf, body)?;
        let rest = buf.get_mut(hl..).ok_or(WireError::BufferTooSmall)?;
        self.emit_body(rest)?;
        Ok(hl + body)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pdu_session_container_octets() {
        // TS 38.415 5.5.2: octet 1 PDU type in the high nibble; octet 2
        // PPP, RQI, QFI; octet 3 (DL with PPP) PPI in the top 3 bits.
        let dl = PduSessionInfo::Downlink {
            qfi: 9,
            rqi: true,
            ppi: None,
        };
        let mut b = [0xee; 8];
        assert_eq!(dl.emit_ext(&mut b, EXT_NONE).unwrap(), 4);
        assert_eq!(&b[..4], &[0x01, 0x00, 0x49, 0x00]);
        let ppi = PduSessionInfo::Downlink {
            qfi: 9,
            rqi: true,
            ppi: Some(5),
        };
        assert_eq!(ppi.emit_ext(&mut b, 0x40).unwrap(), 8);
        assert_eq!(b, [0x02, 0x00, 0xc9, 0xa0, 0, 0, 0, 0x40]);
        let ul = PduSessionInfo::Uplink { qfi: 5 };
        assert_eq!(ul.emit_ext(&mut b, EXT_NONE).unwrap(), 4);
        assert_eq!(&b[..4], &[0x01, 0x10, 0x05, 0x00]);
        assert_eq!((dl.ext_len(), ppi.ext_len(), ul.ext_len()), (4, 8, 4));
        assert!(dl.emit_ext(&mut [0u8; 3], EXT_NONE).is_err());
        // Each parses back to itself.
        for p in [dl, ppi, ul] {
            let (w, n) = p.ext_bytes();
            assert_eq!(PduSessionInfo::parse(&w[1..usize::from(n) - 1]).unwrap(), p);
        }
    }

    #[test]
    fn gpdu_with_psc_ul() {
        // GTP_U_Header(teid=0x1234, next_ex=0x85)/GTPPDUSessionContainer(
        // type=1, QFI=9) from scapy 2.6.1, payload "ab".
        let frame = [
            0x34, 0xff, 0x00, 0x0a, 0x00, 0x00, 0x12, 0x34, 0x00, 0x00, 0x00, 0x85, 0x01, 0x10,
            0x09, 0x00, b'a', b'b',
        ];
        let h = Header::parse(&frame).unwrap();
        assert_eq!(h.msg_type, MSG_GPDU);
        assert_eq!(h.teid, 0x1234);
        assert_eq!(h.seq, None);
        assert_eq!(h.ext.pdu_session, Some(PduSessionInfo::Uplink { qfi: 9 }));
        assert_eq!(h.payload_offset, 16);
        assert_eq!(
            &frame[h.payload_offset..h.payload_offset + h.payload_len],
            b"ab"
        );
    }

    #[test]
    fn header_round_trips() {
        let reprs = [
            HeaderRepr::gpdu(7),
            HeaderRepr {
                seq: Some(5),
                pdu_session: Some(PduSessionInfo::Downlink {
                    qfi: 5,
                    rqi: true,
                    ppi: None,
                }),
                ..HeaderRepr::gpdu(9)
            },
            HeaderRepr {
                pdu_session: Some(PduSessionInfo::Downlink {
                    qfi: 63,
                    rqi: false,
                    ppi: Some(5),
                }),
                udp_port: Some(2152),
                npdu: Some(3),
                ..HeaderRepr::gpdu(u32::MAX)
            },
        ];
        for r in reprs {
            let mut b = [0u8; 64];
            let hl = r.emit(&mut b, 4).unwrap();
            assert_eq!(hl, r.header_len());
            let h = Header::parse(&b[..hl + 4]).unwrap();
            assert_eq!(h.teid, r.teid);
            assert_eq!(h.seq, r.seq);
            assert_eq!(h.npdu, r.npdu);
            assert_eq!(h.ext.pdu_session, r.pdu_session);
            assert_eq!(h.ext.udp_port, r.udp_port);
            assert_eq!((h.payload_offset, h.payload_len), (hl, 4));
        }
    }

    #[test]
    fn bad_headers_are_errors() {
        let mut b = [0u8; 16];
        HeaderRepr::gpdu(1).emit(&mut b, 8).unwrap();
        assert!(Header::parse(&b).is_ok());
        assert_eq!(Header::parse(&b[..15]), Err(WireError::Truncated));
        let mut v2 = b;
        v2[0] = 0x50;
        assert_eq!(Header::parse(&v2), Err(WireError::BadVersion));
        let mut gtpp = b;
        gtpp[0] = 0x20;
        assert_eq!(Header::parse(&gtpp), Err(WireError::WrongProtocol));
        // E set, extension length 0.
        let z = [0x34, 0xff, 0, 8, 0, 0, 0, 1, 0, 0, 0, 0x85, 0, 0, 0, 0];
        assert_eq!(Header::parse(&z), Err(WireError::Malformed));
        // E set, extension runs past the length field.
        let o = [0x34, 0xff, 0, 8, 0, 0, 0, 1, 0, 0, 0, 0x85, 2, 0, 0, 0];
        assert_eq!(Header::parse(&o), Err(WireError::BadLength));
        // Unknown comprehension-required type 0xc5, and a skippable 0x05.
        let r = [0x34, 0xff, 0, 8, 0, 0, 0, 1, 0, 0, 0, 0xc5, 1, 0, 0, 0];
        assert_eq!(
            Header::parse(&r),
            Err(WireError::UnsupportedExtension(0xc5))
        );
        let s = [0x34, 0xff, 0, 8, 0, 0, 0, 1, 0, 0, 0, 0x05, 1, 0, 0, 0];
        assert_eq!(Header::parse(&s).unwrap().ext.skipped, 1);
        // Length field shorter than the optional octets.
        let t = [0x32, 0xff, 0, 2, 0, 0, 0, 1, 0, 0, 0, 0];
        assert_eq!(Header::parse(&t), Err(WireError::BadLength));
    }

    #[test]
    fn signalling_messages_round_trip() {
        let msgs = [
            Message::EchoRequest,
            Message::EchoResponse { recovery: 0 },
            Message::ErrorIndication {
                teid: 0xdead,
                peer: "198.18.0.2".parse().unwrap(),
            },
            Message::ErrorIndication {
                teid: 1,
                peer: "2001:db8::2".parse().unwrap(),
            },
            Message::SupportedExtensionHeaders {
                types: {
                    let mut t = [0u8; 16];
                    t[0] = 0x40;
                    t[1] = 0x85;
                    t
                },
                count: 2,
            },
            Message::EndMarker,
        ];
        for m in msgs {
            let mut b = [0u8; 64];
            let n = m.emit(&mut b, 0, Some(77), None).unwrap();
            let h = Header::parse(&b[..n]).unwrap();
            assert_eq!(h.msg_type, m.msg_type());
            assert_eq!(h.seq, Some(77));
            let body = &b[h.payload_offset..h.payload_offset + h.payload_len];
            assert_eq!(Message::parse(h.msg_type, body).unwrap(), m);
        }
        // Echo Response without Recovery is malformed.
        assert_eq!(
            Message::parse(MSG_ECHO_RESPONSE, &[]),
            Err(WireError::Malformed)
        );
        // Regression (cargo fuzz, gtpu_frame): several Extension Header Type
        // List IEs overflowed the 16-entry list.
        let crash = [
            0x8d, 0x01, 0x07, 0x8d, 0x12, 0x12, 0x12, 0x12, 0x12, 0x12, 0x12, 0x12, 0x07, 0x07,
            0x07, 0xff, 0xff, 0xff, 0x00, 0x00, 0x02, 0x02, 0x00, 0x00,
        ];
        let _ = Message::parse(MSG_SUPPORTED_EXT_HEADERS, &crash);
        let many = [
            141u8, 10, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 141, 10, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10,
        ];
        match Message::parse(MSG_SUPPORTED_EXT_HEADERS, &many) {
            Ok(Message::SupportedExtensionHeaders { count, .. }) => assert_eq!(count, 16),
            other => panic!("{other:?}"),
        }
        // Truncated TLV.
        assert_eq!(
            Message::parse(MSG_ERROR_INDICATION, &[16, 0, 0, 0, 1, 133, 0, 4, 1]),
            Err(WireError::Truncated)
        );
    }
}
