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

/// The node configuration of the in-process benchmarks: one SMF allowed
/// (`smf`), N3 198.18.3.2 with four workers, a /8 UE pool.
pub fn node_config(smf: Ipv4Addr) -> crate::node::NodeConfig {
    use crate::node::{Allowed, FailurePolicy, NodeConfig};
    NodeConfig {
        node_id: NodeId::Ipv4(Ipv4Addr::new(198, 18, 4, 2)),
        heartbeat_interval_ms: 10_000,
        heartbeat_retries: 3,
        request_timeout_ms: 3000,
        request_retries: 3,
        failure_policy: FailurePolicy::Keep(300_000),
        allowed: vec![Allowed {
            addr: Some(smf.into()),
            node_id: None,
        }],
        endpoints: crate::session::Endpoints {
            n3_v4: Some(Ipv4Addr::new(198, 18, 3, 2)),
            workers: 4,
            ..Default::default()
        },
        max_sessions: 100_000_000,
        expected_sessions: 1024,
        pools: vec![upf_config::UePool {
            network_instance: Some("internet".into()),
            dnn: None,
            ipv4: upf_config::IpPrefix::new(Ipv4Addr::new(10, 0, 0, 0).into(), 8),
            ipv6: None,
            ipv6_prefix_len: 64,
        }],
        fseid_v4: Some(Ipv4Addr::new(198, 18, 4, 2)),
        fseid_v6: None,
        max_request_rate: 0,
    }
}

/// Runs `iters` standard establishments from `smf` (port 8805) on a fresh
/// node with the association set up, each answered by an injected
/// dataplane Ack (the node hands out the control-channel command already
/// encoded); with `full` also encodes the journal record as the journal
/// thread would. Returns
/// the node and the time the establishments took (set-up excluded).
pub fn establishments(
    smf: Ipv4Addr,
    iters: u64,
    full: bool,
) -> (crate::node::Node, std::time::Duration) {
    use crate::node::{Node, Out};
    use pfcp_codec::msg as m;
    use upf_ctrl::msg::{AckBody, Event};
    let from = std::net::SocketAddr::from((smf, 8805));
    let mut n = Node::new(
        node_config(smf),
        crate::journal::Restored::default(),
        3_900_000_000,
        0,
    );
    let mut out: Vec<Out> = Vec::with_capacity(8);
    let assoc = Pdu::node(
        1,
        Message::AssociationSetupRequest(m::AssociationSetupRequest {
            node_id: NodeId::Ipv4(smf),
            recovery_time_stamp: RecoveryTimeStamp(1),
            ..Default::default()
        }),
    );
    n.datagram(0, from, &assoc.to_bytes(), &mut out);
    out.clear();
    let mut tpl = Template::establishment(NodeId::Ipv4(smf), smf, Ipv4Addr::new(198, 18, 3, 1));
    let mut journal_buf = Vec::with_capacity(4096);
    let start = std::time::Instant::now();
    for i in 0..iters {
        tpl.patch((i % 0x00ff_fffe) as u32 + 2, i + 1);
        n.datagram(0, from, &tpl.bytes, &mut out);
        let mut req = 0;
        for o in out.drain(..) {
            if let Out::Dp(c) = o {
                req = c.req();
                std::hint::black_box(c);
            }
        }
        n.dp_event(
            0,
            Event::Ack {
                req,
                result: Ok(AckBody::default()),
            },
            &mut out,
        );
        for o in out.drain(..) {
            match o {
                Out::JournalSession(seid) if full => {
                    if let Some(st) = n.session(seid) {
                        crate::journal::encode_session(seid, st, &mut journal_buf);
                    }
                    journal_buf.clear();
                }
                Out::Send { data, .. } => {
                    std::hint::black_box(data);
                }
                _ => {}
            }
        }
    }
    (n, start.elapsed())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn establishments_are_all_accepted_and_distinct() {
        let smf = Ipv4Addr::new(198, 18, 4, 1);
        let (n, _) = establishments(smf, 300, true);
        assert_eq!(n.session_count(), 300);
        let (n, _) = establishments(smf, 0, false);
        assert_eq!(n.session_count(), 0);
    }
}
