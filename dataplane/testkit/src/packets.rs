//! The session and the packets most end-to-end tests start from: one UE
//! with an uplink PDR on a local F-TEID and a downlink PDR on its address,
//! forwarded to the core and back to the gNB in GTP-U, with one volume URR
//! and one QER marking the QFI; inner IPv4/UDP packets and their G-PDUs.

use std::net::Ipv4Addr;

use upf_rules::*;
use upf_wire::gtpu::{HeaderRepr, PduSessionInfo};
use upf_wire::{ipv4, udp};

/// What varies between the tests' standard session.
#[derive(Clone, Debug)]
pub struct BasicSession {
    /// The session's SEID.
    pub seid: u64,
    /// The UE's address.
    pub ue: Ipv4Addr,
    /// The UPF's N3 address (the local F-TEID's).
    pub upf_n3: Ipv4Addr,
    /// The gNB's address (the downlink tunnel's far end).
    pub gnb: Ipv4Addr,
    /// Uplink (local) TEID.
    pub ul_teid: u32,
    /// Downlink (gNB) TEID.
    pub dl_teid: u32,
    /// The QFI the QER marks on the downlink.
    pub qfi: u8,
    /// The network instance of the uplink FAR.
    pub network_instance: Option<&'static str>,
    /// With the volume URR (id 1) and the QER (id 1) on both PDRs.
    pub counted: bool,
}

impl BasicSession {
    /// The rule set: PDR 1 uplink, PDR 2 downlink, FAR 1 to the core,
    /// FAR 2 to the access side with GTP-U/UDP/IPv4 outer header creation.
    pub fn rules(&self) -> SessionRules {
        let ids = |on: bool| if on { vec![1] } else { vec![] };
        let pdr = |id, source, local_fteid, is_destination, removal, far| Pdr {
            id,
            precedence: 100,
            pdi: Pdi {
                source_interface: Some(source),
                local_fteid,
                ue_ip: Some(UeIp {
                    ipv4: Some(self.ue),
                    ipv6: None,
                    is_destination,
                }),
                ..Default::default()
            },
            outer_header_removal: removal,
            far_id: Some(far),
            urr_ids: ids(self.counted),
            qer_ids: ids(self.counted),
        };
        let far = |id, destination_interface, network_instance, outer_header_creation| Far {
            id,
            apply_action: ApplyAction(ApplyAction::FORW),
            forwarding: Some(ForwardingParameters {
                destination_interface,
                network_instance,
                outer_header_creation,
                transport_level_marking: None,
                forwarding_policy: None,
                send_end_marker: false,
            }),
            ..Default::default()
        };
        let fteid = LocalFteid {
            teid: self.ul_teid,
            ipv4: Some(self.upf_n3),
            ipv6: None,
        };
        let ohc = OuterHeaderCreation {
            kind: OuterHeaderKind::GtpuUdpIpv4,
            teid: self.dl_teid,
            ipv4: Some(self.gnb),
            ipv6: None,
            port: None,
        };
        SessionRules {
            seid: self.seid,
            pdrs: vec![
                pdr(
                    1,
                    Interface::Access,
                    Some(fteid),
                    false,
                    Some(OuterHeaderRemoval::GtpuUdpIp),
                    1,
                ),
                pdr(2, Interface::Core, None, true, None, 2),
            ],
            fars: vec![
                far(
                    1,
                    Interface::Core,
                    self.network_instance.map(String::from),
                    None,
                ),
                far(2, Interface::Access, None, Some(ohc)),
            ],
            qers: if self.counted {
                vec![Qer {
                    id: 1,
                    qfi: Some(self.qfi),
                    ..Default::default()
                }]
            } else {
                vec![]
            },
            urrs: if self.counted {
                vec![Urr {
                    id: 1,
                    method: MeasurementMethod {
                        volume: true,
                        duration: false,
                        event: false,
                    },
                    ..Default::default()
                }]
            } else {
                vec![]
            },
            bar: None,
        }
    }
}

/// An IPv4/UDP packet with valid checksums.
pub fn udp4(src: Ipv4Addr, dst: Ipv4Addr, sport: u16, dport: u16, payload: &[u8]) -> Vec<u8> {
    let total = 28 + payload.len();
    let mut p = vec![0u8; total];
    let ip = ipv4::Ipv4Repr {
        src,
        dst,
        protocol: ipv4::PROTO_UDP,
        ttl: 64,
        tos: 0,
        ident: 7,
        dont_frag: false,
        more_frags: false,
        frag_offset: 0,
        header_len: 20,
        total_len: total,
    };
    let u = udp::UdpRepr {
        src_port: sport,
        dst_port: dport,
        len: 8 + payload.len(),
        checksum: 0,
    };
    let ok = ip.emit(&mut p).is_ok() && u.emit(&mut p[20..]).is_ok();
    assert!(ok, "IPv4/UDP headers fit");
    p[28..].copy_from_slice(payload);
    assert!(udp::fill_checksum_v4(&mut p[20..], src, dst).is_ok());
    p
}

/// A G-PDU on `teid` carrying `inner`, with an uplink PDU Session
/// Container naming `qfi`.
pub fn gpdu(teid: u32, qfi: u8, inner: &[u8]) -> Vec<u8> {
    let h = HeaderRepr {
        pdu_session: Some(PduSessionInfo::Uplink { qfi }),
        ..HeaderRepr::gpdu(teid)
    };
    let mut b = vec![0u8; h.header_len() + inner.len()];
    let hl = h.emit(&mut b, inner.len());
    assert!(hl.is_ok(), "GTP-U header fits");
    let hl = hl.unwrap_or(0);
    b[hl..].copy_from_slice(inner);
    b
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_basic_session_and_its_packets() {
        let s = BasicSession {
            seid: 7,
            ue: Ipv4Addr::new(198, 19, 0, 5),
            upf_n3: Ipv4Addr::new(198, 18, 3, 2),
            gnb: Ipv4Addr::new(198, 18, 3, 1),
            ul_teid: 0x100,
            dl_teid: 0x200,
            qfi: 5,
            network_instance: Some("internet"),
            counted: true,
        };
        let r = s.rules();
        assert_eq!(r.pdrs.len(), 2);
        assert_eq!(
            r.pdrs[0].pdi.local_fteid.as_ref().map(|f| f.teid),
            Some(0x100)
        );
        assert!(r.pdrs[1]
            .pdi
            .ue_ip
            .as_ref()
            .is_some_and(|u| u.is_destination));
        assert_eq!(r.qers[0].qfi, Some(5));
        let bare = BasicSession {
            counted: false,
            ..s
        }
        .rules();
        assert!(bare.urrs.is_empty() && bare.pdrs.iter().all(|p| p.urr_ids.is_empty()));

        let inner = udp4(
            Ipv4Addr::new(198, 19, 0, 5),
            Ipv4Addr::new(198, 18, 6, 1),
            1,
            2,
            b"hi",
        );
        assert_eq!(inner.len(), 30);
        let ip = ipv4::Ipv4Repr::parse(&inner, true);
        assert!(ip.is_ok_and(|h| h.total_len == 30 && h.protocol == ipv4::PROTO_UDP));
        let g = gpdu(0x100, 9, &inner);
        let h = upf_wire::gtpu::Header::parse(&g);
        assert!(h.is_ok());
        let h = h.unwrap_or_else(|_| unreachable!());
        assert_eq!(h.teid, 0x100);
        assert_eq!(h.ext.pdu_session.map(|p| p.qfi()), Some(9));
        assert_eq!(&g[g.len() - inner.len()..], &inner[..]);
    }
}
