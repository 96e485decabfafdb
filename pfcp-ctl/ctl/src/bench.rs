//! Shared pieces of the benchmarks and the load tool: the standard
//! session of the performance targets (2 PDRs, 2 FARs, 1 QER, 1 URR, with
//! the UPF choosing the F-TEID and the UE address) as a request template
//! whose sequence number and CP SEID can be patched in place.

use std::net::Ipv4Addr;

use pfcp_codec::group::*;
use pfcp_codec::ie::*;
use pfcp_codec::msg::SessionEstablishmentRequest;
use pfcp_codec::{Message, Pdu};

/// Marker CP SEID that [`Template`] looks for in the encoded bytes.
const MARK: u64 = 0x5eed_5eed_5eed_5eed;

/// An encoded Session Establishment Request with known patch offsets.
#[derive(Clone, Debug)]
pub struct Template {
    /// The datagram.
    pub bytes: Vec<u8>,
    seid_at: usize,
}

impl Template {
    /// The standard session from an SMF at `smf` with Node ID `node`.
    pub fn establishment(node: NodeId, smf: Ipv4Addr, gnb: Ipv4Addr) -> Template {
        let req = SessionEstablishmentRequest {
            node_id: node,
            cp_fseid: FSeid {
                seid: MARK,
                ipv4: Some(smf),
                ipv6: None,
            },
            create_pdr: vec![
                CreatePdr {
                    pdr_id: PdrId(1),
                    precedence: Precedence(200),
                    pdi: Pdi {
                        source_interface: SourceInterface(0),
                        local_fteid: Some(FTeid {
                            choose: true,
                            choose_v4: true,
                            ..Default::default()
                        }),
                        network_instance: Some(NetworkInstance::encoded("internet")),
                        ue_ip_address: vec![UeIpAddress {
                            choose_v4: true,
                            ..Default::default()
                        }],
                        qfi: vec![Qfi(9)],
                        ..Default::default()
                    },
                    outer_header_removal: Some(OuterHeaderRemoval {
                        description: 0,
                        ext_deletion: None,
                    }),
                    far_id: Some(FarId(1)),
                    urr_id: vec![UrrId(1)],
                    qer_id: vec![QerId(1)],
                    ..Default::default()
                },
                CreatePdr {
                    pdr_id: PdrId(2),
                    precedence: Precedence(200),
                    pdi: Pdi {
                        source_interface: SourceInterface(1),
                        network_instance: Some(NetworkInstance::encoded("internet")),
                        ue_ip_address: vec![UeIpAddress {
                            choose_v4: true,
                            is_destination: true,
                            ..Default::default()
                        }],
                        ..Default::default()
                    },
                    far_id: Some(FarId(2)),
                    urr_id: vec![UrrId(1)],
                    qer_id: vec![QerId(1)],
                    ..Default::default()
                },
            ],
            create_far: vec![
                CreateFar {
                    far_id: FarId(1),
                    apply_action: ApplyAction(2),
                    forwarding_parameters: Some(ForwardingParameters {
                        destination_interface: DestinationInterface(1),
                        network_instance: Some(NetworkInstance::encoded("internet")),
                        ..Default::default()
                    }),
                    ..Default::default()
                },
                CreateFar {
                    far_id: FarId(2),
                    apply_action: ApplyAction(2),
                    forwarding_parameters: Some(ForwardingParameters {
                        destination_interface: DestinationInterface(0),
                        outer_header_creation: Some(OuterHeaderCreation {
                            description: OHC_GTPU_V4,
                            teid: Some(0x1000),
                            ipv4: Some(gnb),
                            ..Default::default()
                        }),
                        ..Default::default()
                    }),
                    ..Default::default()
                },
            ],
            create_urr: vec![CreateUrr {
                urr_id: UrrId(1),
                measurement_method: MeasurementMethod(2),
                reporting_triggers: ReportingTriggers(0x0100),
                volume_threshold: Some(Volume {
                    total: Some(1 << 30),
                    ..Default::default()
                }),
                ..Default::default()
            }],
            create_qer: vec![CreateQer {
                qer_id: QerId(1),
                gate_status: GateStatus { ul: 0, dl: 0 },
                mbr: Some(BitRate {
                    ul_kbps: 100_000,
                    dl_kbps: 200_000,
                }),
                qfi: Some(Qfi(9)),
                ..Default::default()
            }],
            ..Default::default()
        };
        let bytes = Pdu::session(1, 0, Message::SessionEstablishmentRequest(req)).to_bytes();
        let seid_at = bytes
            .windows(8)
            .position(|w| w == MARK.to_be_bytes())
            .unwrap_or(0);
        Template { bytes, seid_at }
    }

    /// Sets the header's sequence number and the CP SEID.
    pub fn patch(&mut self, seq: u32, cp_seid: u64) {
        let s = seq.to_be_bytes();
        // Header with SEID: sequence number at octets 13..15.
        self.bytes[12..15].copy_from_slice(&s[1..]);
        self.bytes[self.seid_at..self.seid_at + 8].copy_from_slice(&cp_seid.to_be_bytes());
    }
}
