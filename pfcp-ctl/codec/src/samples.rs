//! Typical messages, shared by tests, benchmarks and tools so that each of
//! them measures or checks the same thing.

use std::net::Ipv4Addr;

use crate::group::*;
use crate::ie::*;
use crate::msg::*;

/// A Session Establishment Request as an SMF sends it for one PDU session:
/// an uplink PDR (CHOOSE F-TEID with CHOOSE ID, CHOOSE UE IPv4, one SDF
/// filter, QFI 9, outer header removal) and a downlink PDR by UE address,
/// two FARs (forward to core; forward to access with GTP-U outer header
/// creation), one URR (volume and duration, volume threshold), one QER
/// (gates open, MBR, QFI) and a BAR.
pub fn session_establishment() -> SessionEstablishmentRequest {
    SessionEstablishmentRequest {
        node_id: NodeId::Ipv4(Ipv4Addr::new(198, 18, 4, 1)),
        cp_fseid: FSeid {
            seid: 0x1122334455667788,
            ipv4: Some(Ipv4Addr::new(198, 18, 4, 1)),
            ipv6: None,
        },
        create_pdr: vec![
            CreatePdr {
                pdr_id: PdrId(1),
                precedence: Precedence(255),
                pdi: Pdi {
                    source_interface: SourceInterface(0),
                    local_fteid: Some(FTeid {
                        choose: true,
                        choose_v4: true,
                        choose_id: Some(1),
                        ..Default::default()
                    }),
                    network_instance: Some(NetworkInstance::encoded("internet")),
                    ue_ip_address: vec![UeIpAddress {
                        choose_v4: true,
                        ..Default::default()
                    }],
                    sdf_filters: vec![SdfFilter {
                        flow_description: Some("permit out ip from any to assigned".into()),
                        ..Default::default()
                    }],
                    qfi: vec![Qfi(9)],
                    ..Default::default()
                },
                outer_header_removal: Some(OuterHeaderRemoval {
                    description: 0,
                    ext_deletion: Some(1),
                }),
                far_id: Some(FarId(1)),
                urr_id: vec![UrrId(1)],
                qer_id: vec![QerId(1)],
                ..Default::default()
            },
            CreatePdr {
                pdr_id: PdrId(2),
                precedence: Precedence(255),
                pdi: Pdi {
                    source_interface: SourceInterface(1),
                    network_instance: Some(NetworkInstance::encoded("internet")),
                    ue_ip_address: vec![UeIpAddress {
                        is_destination: true,
                        ipv4: Some(Ipv4Addr::new(198, 19, 0, 5)),
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
                        teid: Some(0x2002),
                        ipv4: Some(Ipv4Addr::new(198, 18, 3, 1)),
                        ..Default::default()
                    }),
                    ..Default::default()
                }),
                ..Default::default()
            },
        ],
        create_urr: vec![CreateUrr {
            urr_id: UrrId(1),
            measurement_method: MeasurementMethod(0x03),
            reporting_triggers: ReportingTriggers(0x0102),
            volume_threshold: Some(Volume {
                total: Some(1_000_000),
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
        create_bar: Some(CreateBar {
            bar_id: BarId(1),
            ..Default::default()
        }),
        ..Default::default()
    }
}
