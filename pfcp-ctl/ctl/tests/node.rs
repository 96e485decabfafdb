//! The PFCP node driven with a fake clock: procedures, causes, caches,
//! reports, peer failure and restart.

use std::net::{Ipv4Addr, SocketAddr};

use pfcp_codec::group::*;
use pfcp_codec::ie::*;
use pfcp_codec::msg::*;
use pfcp_codec::{Cause, Message, Pdu};
use pfcp_ctl::journal::{Record, Restored};
use pfcp_ctl::node::{Allowed, FailurePolicy, Node, NodeConfig, Out};
use pfcp_ctl::session::Endpoints;
use upf_ctrl::msg::{AckBody, Command, CommandError, Event};
use upf_rules::placement;
use upf_rules::report::{UsageReport as DpUsage, UsageReportTrigger as DpTrig, VolumeMeasurement};

const SMF: &str = "198.18.4.1:8805";

fn cfg() -> NodeConfig {
    NodeConfig {
        node_id: NodeId::Ipv4(Ipv4Addr::new(198, 18, 4, 2)),
        heartbeat_interval_ms: 1000,
        heartbeat_retries: 3,
        request_timeout_ms: 500,
        request_retries: 2,
        failure_policy: FailurePolicy::Purge,
        allowed: vec![Allowed {
            addr: Some("198.18.4.1".parse().unwrap()),
            node_id: None,
        }],
        endpoints: Endpoints {
            n3_v4: Some(Ipv4Addr::new(198, 18, 3, 2)),
            workers: 2,
            ..Default::default()
        },
        max_sessions: 100,
        expected_sessions: 16,
        pools: vec![upf_config::UePool {
            network_instance: Some("internet".into()),
            dnn: None,
            ipv4: Some("198.19.0.0/24".parse().unwrap()),
            ipv6: None,
            ipv6_prefix_len: 64,
        }],
        fseid_v4: Some(Ipv4Addr::new(198, 18, 4, 2)),
        fseid_v6: None,
        max_request_rate: 0,
    }
}

struct T {
    n: Node,
    now: u64,
    smf: SocketAddr,
    seq: u32,
}

fn sends(out: &[Out]) -> Vec<Pdu> {
    out.iter()
        .filter_map(|o| match o {
            Out::Send { data, .. } => Some(pfcp_codec::decode(data).unwrap()),
            _ => None,
        })
        .collect()
}

fn dp(out: &[Out]) -> Vec<Command> {
    out.iter()
        .filter_map(|o| match o {
            Out::Dp(c) => Some(c.decode().expect("the node's commands decode")),
            _ => None,
        })
        .collect()
}

impl T {
    fn new() -> T {
        T {
            n: Node::new(cfg(), Restored::default(), 3_900_000_000, 0),
            now: 0,
            smf: SMF.parse().unwrap(),
            seq: 1,
        }
    }

    fn send(&mut self, p: Pdu) -> Vec<Out> {
        let mut out = Vec::new();
        self.n.datagram(self.now, self.smf, &p.to_bytes(), &mut out);
        out
    }

    fn next(&mut self) -> u32 {
        self.seq += 1;
        self.seq
    }

    fn associate(&mut self) {
        self.associate_with(1);
    }

    /// Association Setup with the SMF's Recovery Time Stamp `recovery`.
    fn associate_with(&mut self, recovery: u32) {
        let s = self.next();
        let out = self.send(Pdu::node(
            s,
            Message::AssociationSetupRequest(AssociationSetupRequest {
                node_id: NodeId::Fqdn("smf.example".into()),
                recovery_time_stamp: RecoveryTimeStamp(recovery),
                ..Default::default()
            }),
        ));
        match &sends(&out)[0].msg {
            Message::AssociationSetupResponse(r) => {
                assert_eq!(r.cause.0, Cause::RequestAccepted as u8);
                assert!(r
                    .up_function_features
                    .as_ref()
                    .unwrap()
                    .has(upf::FTUP.0, upf::FTUP.1));
                assert_eq!(
                    r.ue_ip_address_pool_information.len(),
                    self.n.pool_usage().len()
                );
            }
            m => panic!("{m:?}"),
        }
    }

    /// Acks every command in `out` (Ok with `reports` for queries/deletes).
    fn ack_all(&mut self, out: &[Out], reports: Vec<DpUsage>) -> Vec<Out> {
        let mut res = Vec::new();
        let mut pending: Vec<Command> = dp(out);
        while let Some(c) = pending.pop() {
            let mut o = Vec::new();
            let usage = match c {
                Command::SessionQuery { .. } | Command::SessionDelete { .. } => reports.clone(),
                _ => vec![],
            };
            self.n.dp_event(
                self.now,
                Event::Ack {
                    req: c.req(),
                    result: Ok(AckBody { usage }),
                },
                &mut o,
            );
            pending.extend(dp(&o));
            res.extend(o);
        }
        res
    }
}

fn establishment(cp_seid: u64) -> SessionEstablishmentRequest {
    SessionEstablishmentRequest {
        node_id: NodeId::Fqdn("smf.example".into()),
        cp_fseid: FSeid {
            seid: cp_seid,
            ipv4: Some(Ipv4Addr::new(198, 18, 4, 1)),
            ipv6: None,
        },
        create_pdr: vec![
            CreatePdr {
                pdr_id: PdrId(1),
                precedence: Precedence(100),
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
                    ..Default::default()
                },
                outer_header_removal: Some(OuterHeaderRemoval {
                    description: 6,
                    ext_deletion: None,
                }),
                far_id: Some(FarId(1)),
                urr_id: vec![UrrId(1)],
                ..Default::default()
            },
            // Same CHOOSE ID: same F-TEID; and it names FAR 2, created later.
            CreatePdr {
                pdr_id: PdrId(3),
                precedence: Precedence(10),
                pdi: Pdi {
                    source_interface: SourceInterface(0),
                    local_fteid: Some(FTeid {
                        choose: true,
                        choose_v4: true,
                        choose_id: Some(1),
                        ..Default::default()
                    }),
                    sdf_filters: vec![
                        SdfFilter {
                            flow_description: Some("permit out 17 from any to assigned 53".into()),
                            ..Default::default()
                        },
                        SdfFilter {
                            flow_description: Some("permit out 6 from any to assigned 53".into()),
                            ..Default::default()
                        },
                    ],
                    ..Default::default()
                },
                far_id: Some(FarId(1)),
                ..Default::default()
            },
            CreatePdr {
                pdr_id: PdrId(2),
                precedence: Precedence(100),
                pdi: Pdi {
                    source_interface: SourceInterface(1),
                    network_instance: Some(NetworkInstance(vec![])),
                    ue_ip_address: vec![UeIpAddress {
                        choose_v4: true,
                        is_destination: true,
                        ..Default::default()
                    }],
                    ..Default::default()
                },
                far_id: Some(FarId(2)),
                urr_id: vec![UrrId(1)],
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
                apply_action: ApplyAction(0x0002),
                forwarding_parameters: Some(ForwardingParameters {
                    destination_interface: DestinationInterface(0),
                    outer_header_creation: Some(OuterHeaderCreation {
                        description: OHC_GTPU_V4,
                        teid: Some(0x77),
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
            measurement_method: MeasurementMethod(2),
            reporting_triggers: ReportingTriggers(0),
            ..Default::default()
        }],
        ..Default::default()
    }
}

/// Establishes a session; returns (UP SEID, TEID, UE address).
fn establish(t: &mut T, cp_seid: u64) -> (u64, u32, Ipv4Addr) {
    let s = t.next();
    let out = t.send(Pdu::session(
        s,
        0,
        Message::SessionEstablishmentRequest(establishment(cp_seid)),
    ));
    let cmds = dp(&out);
    assert_eq!(cmds.len(), 1, "{out:?}");
    let Command::SessionPut { rules, .. } = &cmds[0] else {
        panic!()
    };
    assert_eq!(rules.pdrs.len(), 3);
    let out = t.ack_all(&out, vec![]);
    let rsp = sends(&out);
    let Message::SessionEstablishmentResponse(r) = &rsp[0].msg else {
        panic!("{rsp:?}")
    };
    assert_eq!(rsp[0].seid, Some(cp_seid), "response goes to the CP SEID");
    assert_eq!(r.cause.0, 1);
    let up = r.up_fseid.unwrap();
    assert_eq!(up.ipv4, Some(Ipv4Addr::new(198, 18, 4, 2)));
    let c1 = r.created_pdr.iter().find(|c| c.pdr_id.0 == 1).unwrap();
    let c3 = r.created_pdr.iter().find(|c| c.pdr_id.0 == 3).unwrap();
    let teid = c1.local_fteid.unwrap().teid;
    assert_eq!(
        c3.local_fteid.unwrap().teid,
        teid,
        "CHOOSE ID shares the F-TEID"
    );
    assert_eq!(
        c1.local_fteid.unwrap().ipv4,
        Some(Ipv4Addr::new(198, 18, 3, 2))
    );
    let ue = c1.ue_ip_address[0].ipv4.unwrap();
    let c2 = r.created_pdr.iter().find(|c| c.pdr_id.0 == 2).unwrap();
    assert_eq!(
        c2.ue_ip_address[0].ipv4,
        Some(ue),
        "one UE address per session"
    );
    // The TEID steers to the worker that owns the UE address.
    assert_eq!(
        placement::natural_worker_teid(teid, 2),
        placement::natural_worker_v4(u32::from(ue), 2)
    );
    assert!(out
        .iter()
        .any(|o| matches!(o, Out::JournalSession(s) if *s == up.seid)));
    (up.seid, teid, ue)
}

#[test]
fn association_rules() {
    let mut t = T::new();
    // A session request before any association.
    let out = t.send(Pdu::session(
        5,
        0,
        Message::SessionEstablishmentRequest(establishment(1)),
    ));
    let Message::SessionEstablishmentResponse(r) = &sends(&out)[0].msg else {
        panic!()
    };
    assert_eq!(r.cause.0, Cause::NoEstablishedPfcpAssociation as u8);
    // A peer not in the configuration.
    let mut out = Vec::new();
    t.n.datagram(
        0,
        "198.18.99.9:8805".parse().unwrap(),
        &Pdu::node(
            6,
            Message::AssociationSetupRequest(AssociationSetupRequest {
                node_id: NodeId::Fqdn("rogue".into()),
                recovery_time_stamp: RecoveryTimeStamp(1),
                ..Default::default()
            }),
        )
        .to_bytes(),
        &mut out,
    );
    let Message::AssociationSetupResponse(r) = &sends(&out)[0].msg else {
        panic!()
    };
    assert_eq!(r.cause.0, Cause::RequestRejected as u8);
    assert_eq!(t.n.stats.refused_peers, 1);
    t.associate();
    assert_eq!(t.n.peers().len(), 1);
}

#[test]
fn the_response_cache_does_not_grow_up_to_the_expected_sessions() {
    let mut c = cfg();
    c.expected_sessions = 200;
    c.max_sessions = 1000;
    let mut t = T {
        n: Node::new(c, Restored::default(), 3_900_000_000, 0),
        now: 0,
        smf: SMF.parse().unwrap(),
        seq: 1,
    };
    let cap = t.n.response_cache_capacity();
    assert!(cap >= 200, "cache sized for the expected sessions: {cap}");
    t.associate();
    for i in 0..190 {
        establish(&mut t, 0x1000 + i);
    }
    assert_eq!(
        t.n.response_cache_capacity(),
        cap,
        "the response cache grew"
    );
    // Past the expected count it still works (and may grow).
    let mut small = T::new();
    small.associate();
    for i in 0..40 {
        establish(&mut small, 0x2000 + i);
    }
    assert!(small.n.response_cache_capacity() >= 41);
}

#[test]
fn full_lifecycle_with_retransmissions() {
    let mut t = T::new();
    t.associate();
    let (seid, _teid, _ue) = establish(&mut t, 0xc0);
    // A retransmitted establishment is answered from the cache.
    let cached_seq = t.seq;
    let out = t.send(Pdu::session(
        cached_seq,
        0,
        Message::SessionEstablishmentRequest(establishment(0xc0)),
    ));
    assert!(dp(&out).is_empty(), "not executed twice");
    let Message::SessionEstablishmentResponse(r) = &sends(&out)[0].msg else {
        panic!()
    };
    assert_eq!(r.up_fseid.unwrap().seid, seid);
    assert_eq!(t.n.stats.duplicates, 1);

    // Modification: update FAR 2 to a new gNB tunnel, remove PDR 3, query URR 1.
    let s = t.next();
    let out = t.send(Pdu::session(
        s,
        seid,
        Message::SessionModificationRequest(SessionModificationRequest {
            remove_pdr: vec![RemovePdr { pdr_id: PdrId(3) }],
            update_far: vec![UpdateFar {
                far_id: FarId(2),
                update_forwarding_parameters: Some(UpdateForwardingParameters {
                    outer_header_creation: Some(OuterHeaderCreation {
                        description: OHC_GTPU_V4,
                        teid: Some(0x88),
                        ipv4: Some(Ipv4Addr::new(198, 18, 3, 9)),
                        ..Default::default()
                    }),
                    pfcpsm_req_flags: Some(PfcpsmReqFlags(0x02)),
                    ..Default::default()
                }),
                ..Default::default()
            }],
            query_urr: vec![QueryUrr { urr_id: UrrId(1) }],
            ..Default::default()
        }),
    ));
    let cmds = dp(&out);
    let Command::SessionPut { rules, .. } = &cmds[0] else {
        panic!("{cmds:?}")
    };
    assert_eq!(rules.pdrs.len(), 2);
    let f2 = rules.far(2).unwrap().forwarding.clone().unwrap();
    assert_eq!(f2.outer_header_creation.unwrap().teid, 0x88);
    assert!(f2.send_end_marker);
    let usage = DpUsage {
        seid,
        urr_id: 1,
        seqn: 4,
        trigger: DpTrig(DpTrig::IMMER),
        volume: Some(VolumeMeasurement {
            total_octets: 300,
            uplink_octets: 100,
            downlink_octets: 200,
            total_packets: 3,
            uplink_packets: 1,
            downlink_packets: 2,
        }),
        ..Default::default()
    };
    let out = t.ack_all(&out, vec![usage]);
    let rsp = sends(&out);
    let Message::SessionModificationResponse(r) = &rsp[0].msg else {
        panic!("{rsp:?}")
    };
    assert_eq!(r.cause.0, 1);
    assert_eq!(r.usage_report.len(), 1);
    assert_eq!(r.usage_report[0].volume_measurement.unwrap().dl, Some(200));
    assert!(r.usage_report[0].usage_report_trigger.0 & DpTrig::IMMER != 0);

    // Deletion with final usage.
    let s = t.next();
    let out = t.send(Pdu::session(
        s,
        seid,
        Message::SessionDeletionRequest(SessionDeletionRequest::default()),
    ));
    assert!(matches!(dp(&out)[0], Command::SessionDelete { seid: x, .. } if x == seid));
    let out = t.ack_all(&out, vec![usage]);
    let Message::SessionDeletionResponse(r) = &sends(&out)[0].msg else {
        panic!()
    };
    assert_eq!((r.cause.0, r.usage_report.len()), (1, 1));
    assert_eq!(t.n.session_count(), 0);
    // Now unknown.
    let s = t.next();
    let out = t.send(Pdu::session(
        s,
        seid,
        Message::SessionDeletionRequest(SessionDeletionRequest::default()),
    ));
    let p = &sends(&out)[0];
    let Message::SessionDeletionResponse(r) = &p.msg else {
        panic!()
    };
    assert_eq!(r.cause.0, Cause::SessionContextNotFound as u8);
    assert_eq!(p.seid, Some(0));
}

#[test]
fn causes_for_bad_requests() {
    let mut t = T::new();
    t.associate();
    // Rule creation failure: a PDR naming a FAR that does not exist.
    let mut e = establishment(1);
    e.create_pdr[0].far_id = Some(FarId(99));
    let out = t.send(Pdu::session(20, 0, Message::SessionEstablishmentRequest(e)));
    let Message::SessionEstablishmentResponse(r) = &sends(&out)[0].msg else {
        panic!()
    };
    assert_eq!(r.cause.0, Cause::RuleCreationModificationFailure as u8);
    assert_eq!(
        r.failed_rule_id,
        Some(FailedRuleId {
            rule_type: 0,
            id: 1
        })
    );
    assert!(dp(&out).is_empty());
    // Conditional IE missing: FORW without Forwarding Parameters.
    let mut e = establishment(2);
    e.create_far[0].forwarding_parameters = None;
    let out = t.send(Pdu::session(21, 0, Message::SessionEstablishmentRequest(e)));
    let Message::SessionEstablishmentResponse(r) = &sends(&out)[0].msg else {
        panic!()
    };
    assert_eq!(r.cause.0, Cause::ConditionalIeMissing as u8);
    assert_eq!(r.offending_ie, Some(OffendingIe(4)));
    // Mandatory IE missing: no Create FAR.
    let mut e = establishment(3);
    e.create_far.clear();
    let out = t.send(Pdu::session(22, 0, Message::SessionEstablishmentRequest(e)));
    let Message::SessionEstablishmentResponse(r) = &sends(&out)[0].msg else {
        panic!()
    };
    assert_eq!(r.cause.0, Cause::MandatoryIeMissing as u8);
    assert_eq!(r.offending_ie, Some(OffendingIe(3)));
    // Mandatory IE incorrect: a 3-byte F-SEID, answered with the offending IE.
    let mut b = vec![0x21, 50, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 23, 0];
    put_ie(&mut b, t::NODE_ID, &NodeId::Fqdn("smf.example".into()));
    b.extend_from_slice(&[0, 57, 0, 3, 2, 0, 0]);
    let l = (b.len() - 4) as u16;
    b[2..4].copy_from_slice(&l.to_be_bytes());
    let mut out = Vec::new();
    t.n.datagram(0, t.smf, &b, &mut out);
    let Message::SessionEstablishmentResponse(r) = &sends(&out)[0].msg else {
        panic!()
    };
    assert_eq!(
        (r.cause.0, r.offending_ie),
        (Cause::MandatoryIeIncorrect as u8, Some(OffendingIe(57)))
    );
    // Another version.
    let mut v2 = Pdu::node(24, Message::HeartbeatRequest(HeartbeatRequest::default())).to_bytes();
    v2[0] = 0x40;
    let mut out = Vec::new();
    t.n.datagram(0, t.smf, &v2, &mut out);
    assert_eq!(sends(&out)[0].msg, Message::VersionNotSupportedResponse);
    assert_eq!(sends(&out)[0].seq, 24);
    // Garbage is counted and dropped.
    let mut out = Vec::new();
    t.n.datagram(0, t.smf, &[1, 2, 3], &mut out);
    assert!(out.is_empty());
    assert!(t.n.stats.malformed >= 2);
    // A rule refused by the dataplane becomes cause 73 too, and the
    // allocations are given back.
    let out = t.send(Pdu::session(
        25,
        0,
        Message::SessionEstablishmentRequest(establishment(9)),
    ));
    let Command::SessionPut { req, .. } = dp(&out)[0].clone() else {
        panic!()
    };
    let mut o = Vec::new();
    t.n.dp_event(
        0,
        Event::Ack {
            req,
            result: Err(CommandError::Rule(upf_rules::RuleError {
                kind: upf_rules::RuleKind::Far,
                id: 2,
                reason: upf_rules::RuleErrorReason::MissingForwardingParameters,
            })),
        },
        &mut o,
    );
    let Message::SessionEstablishmentResponse(r) = &sends(&o)[0].msg else {
        panic!()
    };
    assert_eq!(
        r.failed_rule_id,
        Some(FailedRuleId {
            rule_type: 1,
            id: 2
        })
    );
    assert_eq!(t.n.session_count(), 0);
    assert_eq!(t.n.pool_usage()[0].1, 0);
}

#[test]
fn reports_are_sent_and_retransmitted_until_answered() {
    let mut t = T::new();
    t.associate();
    let (seid, _, _) = establish(&mut t, 0xcafe);
    let mut out = Vec::new();
    t.n.dp_event(
        t.now,
        Event::Usage(DpUsage {
            seid,
            urr_id: 1,
            trigger: DpTrig(DpTrig::VOLTH),
            ..Default::default()
        }),
        &mut out,
    );
    t.n.dp_event(
        t.now,
        Event::DownlinkData(upf_rules::report::DownlinkDataReport {
            seid,
            pdr_id: 2,
            qfi: Some(5),
            ppi: None,
        }),
        &mut out,
    );
    let s = sends(&out);
    assert_eq!(s.len(), 2);
    assert_eq!(s[0].seid, Some(0xcafe));
    let Message::SessionReportRequest(r) = &s[0].msg else {
        panic!()
    };
    assert_eq!(r.report_type.0, 0x02);
    let Message::SessionReportRequest(r) = &s[1].msg else {
        panic!()
    };
    assert_eq!(r.report_type.0, 0x01);
    assert_eq!(r.downlink_data_report.as_ref().unwrap().pdr_id[0].0, 2);
    // No answer: retransmitted after T1, at most N1 times.
    let mut out = Vec::new();
    t.n.tick(600, &mut out);
    assert_eq!(
        sends(&out)
            .iter()
            .filter(|p| matches!(p.msg, Message::SessionReportRequest(_)))
            .count(),
        2
    );
    // The SMF answers the first one.
    let ans = Pdu::session(
        s[0].seq,
        seid,
        Message::SessionReportResponse(SessionReportResponse {
            cause: CauseIe(1),
            ..Default::default()
        }),
    );
    let mut out = Vec::new();
    t.n.datagram(700, t.smf, &ans.to_bytes(), &mut out);
    let mut out = Vec::new();
    t.n.tick(1200, &mut out);
    let again: Vec<Pdu> = sends(&out)
        .into_iter()
        .filter(|p| matches!(p.msg, Message::SessionReportRequest(_)))
        .collect();
    assert_eq!(again.len(), 1, "only the unanswered one");
    assert_eq!(again[0].seq, s[1].seq);
    assert_eq!(t.n.stats.reports_answered, 1);
}

#[test]
fn silent_peer_is_declared_failed_and_purged() {
    let mut t = T::new();
    t.associate();
    let (seid, _, _) = establish(&mut t, 7);
    let mut all = Vec::new();
    let mut now = 0;
    for _ in 0..100 {
        now += 100;
        let mut out = Vec::new();
        t.n.tick(now, &mut out);
        all.extend(out);
        if t.n.peers().is_empty() {
            break;
        }
    }
    let hbs = sends(&all)
        .into_iter()
        .filter(|p| matches!(p.msg, Message::HeartbeatRequest(_)))
        .count();
    assert_eq!(hbs, 3, "heartbeat_retries attempts");
    assert!(t.n.peers().is_empty());
    assert!(dp(&all)
        .iter()
        .any(|c| matches!(c, Command::SessionDelete { seid: s, .. } if *s == seid)));
    assert_eq!(t.n.session_count(), 0);
}

#[test]
fn restart_restores_sessions_and_recovery() {
    let mut t = T::new();
    t.associate();
    let (seid, teid, ue) = establish(&mut t, 0x55);
    // Collect the journal records the node produced.
    let mut restored = Restored {
        recovery: Some(t.n.recovery()),
        ..Default::default()
    };
    restored
        .sessions
        .insert(seid, Box::new(t.n.session(seid).unwrap().clone()));
    restored.assocs.insert(
        "smf.example".into(),
        pfcp_ctl::journal::AssocRecord {
            node: "smf.example".into(),
            addr: t.smf,
            recovery: 1,
        },
    );
    let recovery = t.n.recovery();
    let mut n2 = Node::new(cfg(), restored, 4_000_000_000, 0);
    assert_eq!(
        n2.recovery(),
        recovery,
        "same Recovery Time Stamp after restart"
    );
    assert_eq!(n2.session_count(), 1);
    let mut out = Vec::new();
    n2.resync(&mut out);
    let cmds = dp(&out);
    assert!(matches!(cmds.first(), Some(Command::SyncBegin { .. })));
    assert!(matches!(cmds.last(), Some(Command::SyncEnd { .. })));
    assert!(cmds
        .iter()
        .any(|c| matches!(c, Command::SessionPut { rules, .. } if rules.seid == seid)));
    // A new session after the restart gets neither the same TEID nor UE.
    let mut t2 = T {
        n: n2,
        now: 0,
        smf: t.smf,
        seq: 500,
    };
    let (s2, teid2, ue2) = establish(&mut t2, 0x56);
    assert_ne!(s2, seid);
    assert_ne!(teid2, teid);
    assert_ne!(ue2, ue);
    // And the old one can still be modified.
    let out = t2.send(Pdu::session(
        600,
        seid,
        Message::SessionModificationRequest(SessionModificationRequest {
            query_urr: vec![QueryUrr { urr_id: UrrId(1) }],
            ..Default::default()
        }),
    ));
    assert!(matches!(dp(&out)[0], Command::SessionQuery { .. }));
}

fn pdu_from(t: &mut T, from: &str, p: Pdu) -> Vec<Out> {
    let mut out = Vec::new();
    t.n.datagram(t.now, from.parse().unwrap(), &p.to_bytes(), &mut out);
    out
}

fn cause_of(p: &Pdu) -> u8 {
    match &p.msg {
        Message::AssociationSetupResponse(r) => r.cause.0,
        Message::AssociationUpdateResponse(r) => r.cause.0,
        Message::AssociationReleaseResponse(r) => r.cause.0,
        Message::SessionSetDeletionResponse(r) => r.cause.0,
        Message::SessionEstablishmentResponse(r) => r.cause.0,
        Message::SessionModificationResponse(r) => r.cause.0,
        Message::SessionDeletionResponse(r) => r.cause.0,
        Message::PfdManagementResponse(r) => r.cause.0,
        m => panic!("no cause in {m:?}"),
    }
}

#[test]
fn in_flight_duplicate_is_not_answered_nor_executed() {
    let mut t = T::new();
    t.associate();
    let p = Pdu::session(
        77,
        0,
        Message::SessionEstablishmentRequest(establishment(0x77)),
    );
    let first = t.send(p.clone());
    assert_eq!(dp(&first).len(), 1);
    // Retransmitted before the dataplane answered: nothing at all.
    let dup = t.send(p.clone());
    assert!(dup.is_empty(), "{dup:?}");
    assert_eq!(t.n.stats.duplicates, 1);
    let done = t.ack_all(&first, vec![]);
    assert_eq!(sends(&done).len(), 1);
    assert_eq!(t.n.session_count(), 1);
}

#[test]
fn strangers_cannot_touch_an_association() {
    let mut t = T::new();
    t.associate();
    let smf = NodeId::Fqdn("smf.example".into());
    // The allowed list names 198.18.4.1 only; 198.18.4.7 is a stranger.
    let rel = Pdu::node(
        9,
        Message::AssociationReleaseRequest(pfcp_codec::msg::AssociationReleaseRequest {
            node_id: smf.clone(),
        }),
    );
    let out = pdu_from(&mut t, "198.18.4.7:8805", rel);
    assert_eq!(
        cause_of(&sends(&out)[0]),
        Cause::NoEstablishedPfcpAssociation as u8
    );
    assert_eq!(t.n.peers().len(), 1);
    let upd = Pdu::node(
        10,
        Message::AssociationUpdateRequest(AssociationUpdateRequest {
            node_id: smf.clone(),
            ..Default::default()
        }),
    );
    let out = pdu_from(&mut t, "198.18.4.7:8805", upd);
    assert_eq!(
        cause_of(&sends(&out)[0]),
        Cause::NoEstablishedPfcpAssociation as u8
    );
    let ssd = Pdu::node(
        11,
        Message::SessionSetDeletionRequest(SessionSetDeletionRequest {
            node_id: smf,
            fq_csid: vec![],
        }),
    );
    let out = pdu_from(&mut t, "198.18.4.7:8805", ssd);
    assert_eq!(
        cause_of(&sends(&out)[0]),
        Cause::NoEstablishedPfcpAssociation as u8
    );
}

fn two_smf_config() -> NodeConfig {
    let mut c = cfg();
    c.allowed.push(Allowed {
        addr: Some("198.18.4.3".parse().unwrap()),
        node_id: None,
    });
    c
}

#[test]
fn an_allowed_peer_cannot_take_over_another_node_id() {
    let mut t = T::new();
    t.n = Node::new(two_smf_config(), Restored::default(), 3_900_000_000, 0);
    t.associate();
    let (_seid, _, _) = establish(&mut t, 5);
    // 198.18.4.3 is allowed, but announces the first SMF's Node ID with a
    // new recovery time stamp (which would purge its sessions).
    let out = pdu_from(
        &mut t,
        "198.18.4.3:8805",
        Pdu::node(
            12,
            Message::AssociationSetupRequest(AssociationSetupRequest {
                node_id: NodeId::Fqdn("smf.example".into()),
                recovery_time_stamp: RecoveryTimeStamp(999),
                ..Default::default()
            }),
        ),
    );
    assert_eq!(cause_of(&sends(&out)[0]), Cause::RequestRejected as u8);
    assert_eq!(t.n.session_count(), 1);
    assert_eq!(t.n.peers()[0].1, t.smf);
}

#[test]
fn peers_entry_with_address_and_node_id_needs_both() {
    let mut c = cfg();
    c.allowed = vec![Allowed {
        addr: Some("198.18.4.1".parse().unwrap()),
        node_id: Some("smf.example".into()),
    }];
    let mut t = T::new();
    t.n = Node::new(c, Restored::default(), 3_900_000_000, 0);
    let out = t.send(Pdu::node(
        3,
        Message::AssociationSetupRequest(AssociationSetupRequest {
            node_id: NodeId::Fqdn("other".into()),
            recovery_time_stamp: RecoveryTimeStamp(1),
            ..Default::default()
        }),
    ));
    assert_eq!(cause_of(&sends(&out)[0]), Cause::RequestRejected as u8);
    t.associate();
}

/// An FQ-CSID value: IPv4 node 198.18.4.1 with the given CSIDs.
fn fq_csid(csids: &[u16]) -> Bytes {
    let mut b = vec![csids.len() as u8, 198, 18, 4, 1];
    for c in csids {
        b.extend_from_slice(&c.to_be_bytes());
    }
    Bytes(b)
}

#[test]
fn session_set_deletion_by_fq_csid() {
    let mut t = T::new();
    t.associate();
    let mut seids = Vec::new();
    for (cp, csid) in [(1u64, 10u16), (2, 20), (3, 10)] {
        let s = t.next();
        let mut e = establishment(cp);
        e.fq_csid = vec![fq_csid(&[csid])];
        let out = t.send(Pdu::session(s, 0, Message::SessionEstablishmentRequest(e)));
        let out = t.ack_all(&out, vec![]);
        let Message::SessionEstablishmentResponse(r) = &sends(&out)[0].msg else {
            panic!()
        };
        seids.push(r.up_fseid.unwrap().seid);
    }
    let s = t.next();
    let out = t.send(Pdu::node(
        s,
        Message::SessionSetDeletionRequest(SessionSetDeletionRequest {
            node_id: NodeId::Fqdn("smf.example".into()),
            fq_csid: vec![fq_csid(&[10, 99])],
        }),
    ));
    assert_eq!(cause_of(&sends(&out)[0]), 1);
    let gone: Vec<u64> = dp(&out)
        .iter()
        .filter_map(|c| match c {
            Command::SessionDelete { seid, .. } => Some(*seid),
            _ => None,
        })
        .collect();
    let mut gone = gone;
    gone.sort_unstable();
    let mut want = vec![seids[0], seids[2]];
    want.sort_unstable();
    assert_eq!(gone, want, "only the sessions with CSID 10");
    assert_eq!(t.n.seids(), vec![seids[1]]);
    // Without FQ-CSIDs: the rest of the sender's sessions.
    let s = t.next();
    t.send(Pdu::node(
        s,
        Message::SessionSetDeletionRequest(SessionSetDeletionRequest {
            node_id: NodeId::Fqdn("smf.example".into()),
            fq_csid: vec![],
        }),
    ));
    assert_eq!(t.n.session_count(), 0);
}

fn buffering_session(t: &mut T) -> u64 {
    let s = t.next();
    let mut e = establishment(0x66);
    e.create_far[1].apply_action = ApplyAction(0x0c); // BUFF|NOCP
    e.create_far[1].bar_id = Some(BarId(1));
    e.create_bar = Some(CreateBar {
        bar_id: BarId(1),
        downlink_data_notification_delay: Some(DownlinkDataNotificationDelay(4)),
        ..Default::default()
    });
    let out = t.send(Pdu::session(s, 0, Message::SessionEstablishmentRequest(e)));
    let out = t.ack_all(&out, vec![]);
    let Message::SessionEstablishmentResponse(r) = &sends(&out)[0].msg else {
        panic!("{out:?}")
    };
    assert_eq!(r.cause.0, 1, "{r:?}");
    r.up_fseid.unwrap().seid
}

#[test]
fn drobu_drops_buffered_packets_and_qaurr_queries_all() {
    let mut t = T::new();
    t.associate();
    let seid = buffering_session(&mut t);
    let s = t.next();
    let out = t.send(Pdu::session(
        s,
        seid,
        Message::SessionModificationRequest(SessionModificationRequest {
            pfcpsm_req_flags: Some(PfcpsmReqFlags(0x01 | 0x04)),
            ..Default::default()
        }),
    ));
    // First the buffering FAR drops for one step.
    let Command::SessionPut { req, rules } = dp(&out)[0].clone() else {
        panic!("{out:?}")
    };
    assert_eq!(
        rules.far(2).unwrap().apply_action.0,
        0x01,
        "BUFF became DROP"
    );
    let mut o = Vec::new();
    t.n.dp_event(
        0,
        Event::Ack {
            req,
            result: Ok(AckBody::default()),
        },
        &mut o,
    );
    // Then the real rules again.
    let Command::SessionPut { req, rules } = dp(&o)[0].clone() else {
        panic!("{o:?}")
    };
    assert_eq!(rules.far(2).unwrap().apply_action.0, 0x0c);
    let mut o = Vec::new();
    t.n.dp_event(
        0,
        Event::Ack {
            req,
            result: Ok(AckBody::default()),
        },
        &mut o,
    );
    // QAURR: every URR.
    assert!(
        matches!(&dp(&o)[0], Command::SessionQuery { urr_ids, .. } if urr_ids.is_empty()),
        "{o:?}"
    );
}

#[test]
fn downlink_data_report_waits_for_the_bar_delay() {
    let mut t = T::new();
    t.associate();
    let seid = buffering_session(&mut t);
    let mut out = Vec::new();
    t.n.dp_event(
        1000,
        Event::DownlinkData(upf_rules::report::DownlinkDataReport {
            seid,
            pdr_id: 2,
            qfi: None,
            ppi: None,
        }),
        &mut out,
    );
    assert!(sends(&out).is_empty(), "held for 4 x 50 ms");
    let mut out = Vec::new();
    t.n.tick(1150, &mut out);
    assert!(!sends(&out)
        .iter()
        .any(|p| matches!(p.msg, Message::SessionReportRequest(_))));
    let mut out = Vec::new();
    t.n.tick(1200, &mut out);
    let r: Vec<Pdu> = sends(&out)
        .into_iter()
        .filter(|p| matches!(p.msg, Message::SessionReportRequest(_)))
        .collect();
    assert_eq!(r.len(), 1);
}

#[test]
fn request_rate_limit_refuses_establishments_with_congestion() {
    let mut c = cfg();
    c.max_request_rate = 2;
    let mut t = T::new();
    t.n = Node::new(c, Restored::default(), 3_900_000_000, 0);
    t.associate();
    let mut causes = Vec::new();
    for cp in 0..3u64 {
        let s = t.next();
        let out = t.send(Pdu::session(
            s,
            0,
            Message::SessionEstablishmentRequest(establishment(100 + cp)),
        ));
        let out = if dp(&out).is_empty() {
            out
        } else {
            t.ack_all(&out, vec![])
        };
        causes.push(cause_of(&sends(&out)[0]));
    }
    assert_eq!(causes, vec![1, 1, Cause::PfcpEntityInCongestion as u8]);
    assert_eq!(t.n.stats.rate_limited, 1);
    // A second later the bucket has refilled.
    t.now = 1000;
    let s = t.next();
    let out = t.send(Pdu::session(
        s,
        0,
        Message::SessionEstablishmentRequest(establishment(200)),
    ));
    assert_eq!(dp(&out).len(), 1);
}

#[test]
fn pfds_are_journalled_and_resync_resends_pfds_and_in_flight_commands() {
    let mut t = T::new();
    t.associate();
    let out = t.send(Pdu::node(
        40,
        Message::PfdManagementRequest(PfdManagementRequest {
            application_ids_pfds: vec![ApplicationIdsPfds {
                application_id: Bytes::from("video"),
                pfd_context: vec![PfdContext {
                    pfd_contents: vec![PfdContents {
                        flow_description: Some(
                            "permit out 17 from 198.18.6.1 8000 to assigned".into(),
                        ),
                        ..Default::default()
                    }],
                }],
            }],
            node_id: None,
        }),
    ));
    assert_eq!(cause_of(&sends(&out)[0]), 1);
    assert!(out
        .iter()
        .any(|o| matches!(o, Out::Journal(Record::Pfds { app, .. }) if app == "video")));
    // A bad flow description is Mandatory IE incorrect (PFD Contents).
    let out = t.send(Pdu::node(
        41,
        Message::PfdManagementRequest(PfdManagementRequest {
            application_ids_pfds: vec![ApplicationIdsPfds {
                application_id: Bytes::from("x"),
                pfd_context: vec![PfdContext {
                    pfd_contents: vec![PfdContents {
                        flow_description: Some("permit sideways".into()),
                        ..Default::default()
                    }],
                }],
            }],
            node_id: None,
        }),
    ));
    let Message::PfdManagementResponse(r) = &sends(&out)[0].msg else {
        panic!()
    };
    assert_eq!(
        (r.cause.0, r.offending_ie),
        (Cause::MandatoryIeIncorrect as u8, Some(OffendingIe(61)))
    );
    // An establishment waits for the dataplane when it restarts.
    let s = t.next();
    let pending = t.send(Pdu::session(
        s,
        0,
        Message::SessionEstablishmentRequest(establishment(0x99)),
    ));
    let Command::SessionPut { req: old_req, .. } = dp(&pending)[0].clone() else {
        panic!()
    };
    let mut out = Vec::new();
    t.n.resync(&mut out);
    let cmds = dp(&out);
    assert!(matches!(cmds[0], Command::SyncBegin { .. }));
    assert!(cmds
        .iter()
        .any(|c| matches!(c, Command::PfdPut { application_id, .. } if application_id == "video")));
    let sync_end = cmds
        .iter()
        .position(|c| matches!(c, Command::SyncEnd { .. }))
        .unwrap();
    assert_eq!(sync_end, cmds.len() - 1, "SyncEnd last");
    // Re-sent after the sessions' committed state, before SyncEnd.
    let Command::SessionPut {
        req: new_req,
        rules,
    } = cmds[sync_end - 1].clone()
    else {
        panic!("{cmds:?}")
    };
    assert_ne!(new_req, old_req, "re-sent under a new request ID");
    // The old ID is forgotten, the new one completes the establishment.
    let mut o = Vec::new();
    t.n.dp_event(
        0,
        Event::Ack {
            req: old_req,
            result: Ok(AckBody::default()),
        },
        &mut o,
    );
    assert!(o.is_empty());
    t.n.dp_event(
        0,
        Event::Ack {
            req: new_req,
            result: Ok(AckBody::default()),
        },
        &mut o,
    );
    let Message::SessionEstablishmentResponse(r) = &sends(&o)[0].msg else {
        panic!("{o:?}")
    };
    assert_eq!((r.cause.0, r.up_fseid.unwrap().seid), (1, rules.seid));
}

#[test]
fn establishment_retransmitted_after_a_restart_gets_the_same_answer() {
    let mut t = T::new();
    t.associate();
    let s = t.next();
    let req = Pdu::session(
        s,
        0,
        Message::SessionEstablishmentRequest(establishment(0x31)),
    );
    let out = t.send(req.clone());
    let out = t.ack_all(&out, vec![]);
    let first = sends(&out)[0].clone();
    let Message::SessionEstablishmentResponse(r) = &first.msg else {
        panic!()
    };
    let seid = r.up_fseid.unwrap().seid;
    let mut restored = Restored {
        recovery: Some(t.n.recovery()),
        ..Default::default()
    };
    restored
        .sessions
        .insert(seid, Box::new(t.n.session(seid).unwrap().clone()));
    restored.assocs.insert(
        "smf.example".into(),
        pfcp_ctl::journal::AssocRecord {
            node: "smf.example".into(),
            addr: t.smf,
            recovery: 1,
        },
    );
    t.n = Node::new(cfg(), restored, 1, 0);
    let out = t.send(req);
    assert!(dp(&out).is_empty(), "not executed again");
    assert_eq!(sends(&out)[0], first, "the same answer");
    // A new sequence number for the same CP SEID is still refused.
    let out = t.send(Pdu::session(
        s + 1,
        0,
        Message::SessionEstablishmentRequest(establishment(0x31)),
    ));
    assert_eq!(cause_of(&sends(&out)[0]), Cause::RequestRejected as u8);
}

#[test]
fn keep_policy_keeps_sessions_for_the_grace_period_and_a_restarted_smf_loses_them() {
    let mut c = cfg();
    c.failure_policy = FailurePolicy::Keep(5000);
    let mut t = T::new();
    t.n = Node::new(c, Restored::default(), 3_900_000_000, 0);
    t.associate();
    establish(&mut t, 7);
    // Silent for three heartbeat attempts: failed, sessions kept.
    let mut now = 0;
    while !t.n.peers()[0].2 && now < 10_000 {
        now += 100;
        t.n.tick(now, &mut Vec::new());
    }
    assert!(t.n.peers()[0].2, "declared failed");
    assert_eq!(t.n.session_count(), 1, "kept during the grace period");
    assert_eq!(t.n.stats.peers_failed, 1);
    // It answers again: no longer failed.
    let mut out = Vec::new();
    t.n.datagram(
        now,
        t.smf,
        &Pdu::node(
            900,
            Message::HeartbeatRequest(HeartbeatRequest {
                recovery_time_stamp: RecoveryTimeStamp(1),
                source_ip_address: None,
            }),
        )
        .to_bytes(),
        &mut out,
    );
    assert!(!t.n.peers()[0].2);
    // Our next heartbeat is answered with a new recovery time stamp: the
    // SMF restarted, its sessions are gone.
    let mut out = Vec::new();
    now += 1000;
    t.n.tick(now, &mut out);
    let hb = sends(&out)
        .into_iter()
        .find(|p| matches!(p.msg, Message::HeartbeatRequest(_)))
        .expect("heartbeat");
    let mut out = Vec::new();
    t.n.datagram(
        now,
        t.smf,
        &Pdu::node(
            hb.seq,
            Message::HeartbeatResponse(HeartbeatResponse {
                recovery_time_stamp: RecoveryTimeStamp(2),
            }),
        )
        .to_bytes(),
        &mut out,
    );
    assert_eq!(t.n.session_count(), 0);
    assert!(dp(&out)
        .iter()
        .any(|c| matches!(c, Command::SessionDelete { .. })));
    assert_eq!(t.n.peers().len(), 1, "the association stays");
}

#[test]
fn ue_pool_causes() {
    // A pool of two addresses for "internet", none for "ims".
    let mut c = cfg();
    c.pools[0].ipv4 = Some("198.19.0.0/30".parse().unwrap());
    let mut t = T::new();
    t.n = Node::new(c, Restored::default(), 3_900_000_000, 0);
    t.associate();
    let mut causes = Vec::new();
    for cp in 0..3u64 {
        let s = t.next();
        let out = t.send(Pdu::session(
            s,
            0,
            Message::SessionEstablishmentRequest(establishment(300 + cp)),
        ));
        let out = if dp(&out).is_empty() {
            out
        } else {
            t.ack_all(&out, vec![])
        };
        causes.push(cause_of(&sends(&out)[0]));
    }
    assert_eq!(
        causes,
        vec![1, 1, Cause::AllDynamicAddressesAreOccupied as u8]
    );
    let mut e = establishment(400);
    e.create_pdr[0].pdi.network_instance = Some(NetworkInstance::encoded("ims"));
    e.create_pdr[2].pdi.network_instance = Some(NetworkInstance::encoded("ims"));
    let s = t.next();
    let out = t.send(Pdu::session(s, 0, Message::SessionEstablishmentRequest(e)));
    let Message::SessionEstablishmentResponse(r) = &sends(&out)[0].msg else {
        panic!()
    };
    assert_eq!(r.cause.0, Cause::RuleCreationModificationFailure as u8);
    assert_eq!(r.failed_rule_id.map(|f| f.rule_type), Some(0), "a PDR");
}

#[test]
fn the_dnn_chooses_the_pool_when_the_pdi_names_no_network_instance() {
    let mut c = cfg();
    c.pools.push(upf_config::UePool {
        network_instance: None,
        dnn: Some("ims".into()),
        ipv4: Some("198.20.0.0/24".parse().unwrap()),
        ipv6: None,
        ipv6_prefix_len: 64,
    });
    let mut t = T::new();
    t.n = Node::new(c, Restored::default(), 3_900_000_000, 0);
    t.associate();
    let mut e = establishment(500);
    e.create_pdr[0].pdi.network_instance = None;
    e.create_pdr[2].pdi.network_instance = None;
    e.apn_dnn = Some(NetworkInstance::encoded("ims"));
    let s = t.next();
    let out = t.send(Pdu::session(s, 0, Message::SessionEstablishmentRequest(e)));
    let out = t.ack_all(&out, vec![]);
    let Message::SessionEstablishmentResponse(r) = &sends(&out)[0].msg else {
        panic!()
    };
    let ue = r
        .created_pdr
        .iter()
        .find_map(|c| c.ue_ip_address.first().and_then(|u| u.ipv4))
        .unwrap();
    assert!(ue.octets()[..3] == [198, 20, 0], "{ue} from the DNN's pool");
}

#[test]
fn streamed_resync_never_overrides_a_modification_sent_meanwhile() {
    let mut t = T::new();
    t.associate();
    let (a, _, _) = establish(&mut t, 0x71);
    let (b, _, _) = establish(&mut t, 0x72);
    let mut out = Vec::new();
    t.n.resync_start(&mut out);
    // A modification of session b goes to the dataplane during the resync.
    let s = t.next();
    let m = t.send(Pdu::session(
        s,
        b,
        Message::SessionModificationRequest(SessionModificationRequest {
            update_far: vec![UpdateFar {
                far_id: FarId(2),
                apply_action: Some(ApplyAction(0x01)),
                ..Default::default()
            }],
            ..Default::default()
        }),
    ));
    assert!(matches!(dp(&m)[0], Command::SessionPut { ref rules, .. } if rules.seid == b));
    let mut rest = Vec::new();
    assert!(t.n.resync_step(1000, &mut rest));
    let puts: Vec<u64> = dp(&rest)
        .iter()
        .filter_map(|c| match c {
            Command::SessionPut { rules, .. } => Some(rules.seid),
            _ => None,
        })
        .collect();
    assert_eq!(
        puts,
        vec![a],
        "b's old rules are not pushed over its modification"
    );
    assert!(matches!(dp(&rest).last(), Some(Command::SyncEnd { .. })));
}

#[test]
fn graceful_release_asks_the_smf_and_ends_when_it_has_released() {
    let mut t = T::new();
    t.associate();
    let (seid, _teid, _ue) = establish(&mut t, 0xd0);
    assert!(!t.n.releasing() && !t.n.release_done(t.now));

    let mut out = Vec::new();
    t.n.begin_release(t.now, 60_000, &mut out);
    let p = sends(&out);
    assert_eq!(p.len(), 1);
    let Message::AssociationUpdateRequest(r) = &p[0].msg else {
        panic!("{p:?}")
    };
    assert_eq!(
        r.association_release_request.map(|f| f.0),
        Some(0x01),
        "SARR"
    );
    assert_eq!(r.pfcpau_req_flags.map(|f| f.0), Some(0x01), "PARPS");
    // 60 s as 30 x 2 s (TS 29.244 8.2.78: unit bits 8-6 = 000, value 30).
    assert_eq!(r.graceful_release_period.map(|g| g.0), Some(30));
    let rel_seq = p[0].seq;
    // Unanswered, it is retransmitted.
    t.now += 600;
    let mut out = Vec::new();
    t.n.tick(t.now, &mut out);
    assert!(sends(&out)
        .iter()
        .any(|p| p.seq == rel_seq && matches!(p.msg, Message::AssociationUpdateRequest(_))));
    let _ = t.send(Pdu::node(
        rel_seq,
        Message::AssociationUpdateResponse(AssociationUpdateResponse {
            node_id: NodeId::Fqdn("smf.example".into()),
            cause: CauseIe(1),
            ..Default::default()
        }),
    ));

    // No new sessions, no new associations; the existing session still works.
    let s = t.next();
    let out = t.send(Pdu::session(
        s,
        0,
        Message::SessionEstablishmentRequest(establishment(0xd1)),
    ));
    assert!(dp(&out).is_empty());
    assert_eq!(cause_of(&sends(&out)[0]), Cause::RequestRejected as u8);
    let s = t.next();
    let out = t.send(Pdu::session(
        s,
        seid,
        Message::SessionModificationRequest(SessionModificationRequest {
            query_urr: vec![QueryUrr { urr_id: UrrId(1) }],
            ..Default::default()
        }),
    ));
    assert_eq!(dp(&out).len(), 1, "modifications go on during the release");
    let _ = t.ack_all(&out, vec![]);

    // The SMF deletes its session (final usage) and releases.
    let usage = DpUsage {
        seid,
        urr_id: 1,
        seqn: 2,
        trigger: DpTrig(DpTrig::TERMR),
        volume: Some(VolumeMeasurement {
            total_octets: 1000,
            uplink_octets: 600,
            downlink_octets: 400,
            total_packets: 10,
            uplink_packets: 6,
            downlink_packets: 4,
        }),
        ..Default::default()
    };
    let s = t.next();
    let out = t.send(Pdu::session(
        s,
        seid,
        Message::SessionDeletionRequest(SessionDeletionRequest::default()),
    ));
    let out = t.ack_all(&out, vec![usage]);
    let Message::SessionDeletionResponse(r) = &sends(&out)[0].msg else {
        panic!()
    };
    assert_eq!(
        r.usage_report[0].volume_measurement.unwrap().total,
        Some(1000)
    );
    assert!(!t.n.release_done(t.now), "still associated");
    let s = t.next();
    let out = t.send(Pdu::node(
        s,
        Message::AssociationReleaseRequest(pfcp_codec::msg::AssociationReleaseRequest {
            node_id: NodeId::Fqdn("smf.example".into()),
        }),
    ));
    assert_eq!(cause_of(&sends(&out)[0]), 1);
    assert!(t.n.release_done(t.now));
}

#[test]
fn graceful_release_ends_with_the_period_when_the_smf_does_nothing() {
    let mut t = T::new();
    t.associate();
    let _ = establish(&mut t, 0xe0);
    let mut out = Vec::new();
    t.n.begin_release(t.now, 10_000, &mut out);
    // A second call changes nothing.
    let mut again = Vec::new();
    t.n.begin_release(t.now, 10_000, &mut again);
    assert!(again.is_empty());
    t.now += 9_999;
    assert!(!t.n.release_done(t.now));
    t.now += 1;
    assert!(t.n.release_done(t.now));
    assert_eq!(t.n.session_count(), 1, "kept for the next start");
}

#[test]
fn timer_values_round_up_to_what_the_coding_expresses() {
    use pfcp_ctl::node::timer_ie;
    assert_eq!(timer_ie(0), 0);
    assert_eq!(timer_ie(3_000), 2, "3 s -> 2 x 2 s");
    assert_eq!(timer_ie(62_000), 31);
    assert_eq!(timer_ie(63_000), (1 << 5) | 2, "-> 2 min");
    assert_eq!(timer_ie(3_600_000), (2 << 5) | 6, "1 h -> 6 x 10 min");
    assert_eq!(timer_ie(u64::MAX / 2), (4 << 5) | 31);
}

#[test]
fn a_restarted_smf_reusing_sequence_numbers_is_not_answered_from_the_cache() {
    let mut t = T::new();
    t.associate();
    let _ = establish(&mut t, 0xc0);
    // The SMF restarts on the same address and port: a new Recovery Time
    // Stamp and sequence numbers from the start again.
    t.seq = 1;
    t.associate_with(2);
    // Its first establishment has the sequence number of the old one:
    // executed (a command to the dataplane, the answer to the new CP SEID),
    // not replayed from the cache.
    let _ = establish(&mut t, 0xc1);
    assert_eq!(t.n.stats.duplicates, 0);
}
