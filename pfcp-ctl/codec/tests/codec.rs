//! Codec tests: byte vectors, round trips, error paths, arbitrary input.

use std::net::Ipv4Addr;

use pfcp_codec::group::*;
use pfcp_codec::ie::*;
use pfcp_codec::msg::*;
use pfcp_codec::{decode, decode_all, Cause, DecodeError, IeError, Message, Pdu};
use proptest::prelude::*;

fn node() -> NodeId {
    NodeId::Ipv4(Ipv4Addr::new(198, 18, 4, 1))
}

fn establishment() -> SessionEstablishmentRequest {
    pfcp_codec::samples::session_establishment()
}

#[test]
fn heartbeat_bytes() {
    // Heartbeat Request, seq 1, Recovery Time Stamp 0xe3f4a1b2 (the layout
    // of TS 29.244 7.2.2.1 and 8.2.65).
    let pdu = Pdu::node(
        1,
        Message::HeartbeatRequest(HeartbeatRequest {
            recovery_time_stamp: RecoveryTimeStamp(0xe3f4a1b2),
            source_ip_address: None,
        }),
    );
    let b = pdu.to_bytes();
    assert_eq!(
        b,
        vec![
            0x20, 0x01, 0x00, 0x0c, 0x00, 0x00, 0x01, 0x00, 0x00, 0x60, 0x00, 0x04, 0xe3, 0xf4,
            0xa1, 0xb2
        ]
    );
    assert_eq!(decode(&b).unwrap(), pdu);
}

#[test]
fn establishment_round_trip() {
    let pdu = Pdu::session(
        0x00abcd,
        0,
        Message::SessionEstablishmentRequest(establishment()),
    );
    let b = pdu.to_bytes();
    assert_eq!(b[0], 0x21, "version 1, S");
    assert_eq!(decode(&b).unwrap(), pdu);
}

#[test]
fn wrong_version_asks_for_version_not_supported() {
    let mut b = Pdu::node(7, Message::HeartbeatRequest(HeartbeatRequest::default())).to_bytes();
    b[0] = 0x40 | (b[0] & 0x1f);
    assert_eq!(decode(&b), Err(DecodeError::Version { version: 2, seq: 7 }));
}

#[test]
fn truncated_and_unknown() {
    let b = Pdu::node(1, Message::HeartbeatRequest(HeartbeatRequest::default())).to_bytes();
    assert_eq!(decode(&b[..b.len() - 1]), Err(DecodeError::Truncated));
    assert_eq!(decode(&b[..5]), Err(DecodeError::Truncated));
    let mut u = b.clone();
    u[1] = 99;
    assert_eq!(decode(&u), Err(DecodeError::UnknownMessage(99)));
}

#[test]
fn missing_mandatory_ie_names_it() {
    // Establishment without CP F-SEID.
    let mut m = establishment();
    let mut body = Vec::new();
    m.cp_fseid = FSeid::default();
    m.to_ies(&mut body);
    // Drop the F-SEID IE (type 57) from the top level.
    let ies = parse_ies(&body).unwrap();
    let mut without = Vec::new();
    for ie in ies.iter().filter(|i| i.ie_type != t::F_SEID) {
        without.extend_from_slice(&ie.ie_type.to_be_bytes());
        without.extend_from_slice(&(ie.value.len() as u16).to_be_bytes());
        without.extend_from_slice(ie.value);
    }
    let mut msg = vec![0x21, 50, 0, 0];
    msg.extend_from_slice(&[0; 8]);
    msg.extend_from_slice(&[0, 0, 9, 0]);
    msg.extend_from_slice(&without);
    let len = (msg.len() - 4) as u16;
    msg[2..4].copy_from_slice(&len.to_be_bytes());
    match decode(&msg) {
        Err(DecodeError::Body {
            msg_type: 50,
            seq: 9,
            seid: Some(0),
            error,
        }) => {
            assert_eq!(error, IeError::Missing(t::F_SEID));
            assert_eq!(error.cause(), (Cause::MandatoryIeMissing, Some(t::F_SEID)));
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn nested_missing_and_incorrect_ies() {
    // A Create FAR without Apply Action.
    let mut m = establishment();
    m.create_far.truncate(1);
    let mut body = Vec::new();
    m.to_ies(&mut body);
    // Re-encode the FAR without IE 44.
    let far = {
        let mut v = Vec::new();
        put_ie(&mut v, t::FAR_ID, &FarId(9));
        v
    };
    let mut msg_body = Vec::new();
    for ie in parse_ies(&body).unwrap() {
        if ie.ie_type == t::CREATE_FAR {
            msg_body.extend_from_slice(&t::CREATE_FAR.to_be_bytes());
            msg_body.extend_from_slice(&(far.len() as u16).to_be_bytes());
            msg_body.extend_from_slice(&far);
        } else {
            msg_body.extend_from_slice(&ie.ie_type.to_be_bytes());
            msg_body.extend_from_slice(&(ie.value.len() as u16).to_be_bytes());
            msg_body.extend_from_slice(ie.value);
        }
    }
    let mut msg = vec![0x21, 50, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1, 0, 0, 3, 0];
    msg.extend_from_slice(&msg_body);
    let len = (msg.len() - 4) as u16;
    msg[2..4].copy_from_slice(&len.to_be_bytes());
    match decode(&msg) {
        Err(DecodeError::Body { error, .. }) => {
            assert_eq!(error, IeError::Missing(t::APPLY_ACTION))
        }
        other => panic!("{other:?}"),
    }
    // A mandatory F-SEID that is too short is "incorrect".
    let mut hb = vec![0x21, 50, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1, 0, 0, 3, 0];
    put_ie(&mut hb, t::NODE_ID, &node());
    hb.extend_from_slice(&[0, 57, 0, 3, 2, 0, 0]);
    let len = (hb.len() - 4) as u16;
    hb[2..4].copy_from_slice(&len.to_be_bytes());
    match decode(&hb) {
        Err(DecodeError::Body { error, .. }) => {
            assert_eq!(error, IeError::BadLength(t::F_SEID));
            assert_eq!(
                error.cause(),
                (Cause::MandatoryIeIncorrect, Some(t::F_SEID))
            );
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn unknown_and_vendor_ies_are_skipped() {
    let pdu = Pdu::node(
        3,
        Message::HeartbeatRequest(HeartbeatRequest {
            recovery_time_stamp: RecoveryTimeStamp(5),
            source_ip_address: None,
        }),
    );
    let mut b = pdu.to_bytes();
    b.extend_from_slice(&[0x7f, 0x00, 0x00, 0x02, 1, 2]); // unknown type 32512
    b.extend_from_slice(&[0x80, 0x05, 0x00, 0x04, 0x00, 0x01, 9, 9]); // vendor IE
    let len = (b.len() - 4) as u16;
    b[2..4].copy_from_slice(&len.to_be_bytes());
    assert_eq!(decode(&b).unwrap(), pdu);
}

#[test]
fn incorrect_optional_ie_is_discarded() {
    let mut b = Pdu::node(
        3,
        Message::HeartbeatRequest(HeartbeatRequest {
            recovery_time_stamp: RecoveryTimeStamp(5),
            source_ip_address: None,
        }),
    )
    .to_bytes();
    // An Association Setup Request with a UP Function Features of length 0.
    let mut a = vec![0x20, 5, 0, 0, 0, 0, 4, 0];
    put_ie(&mut a, t::NODE_ID, &node());
    put_ie(&mut a, t::RECOVERY_TIME_STAMP, &RecoveryTimeStamp(1));
    a.extend_from_slice(&[0, 43, 0, 0]);
    let len = (a.len() - 4) as u16;
    a[2..4].copy_from_slice(&len.to_be_bytes());
    match decode(&a).unwrap().msg {
        Message::AssociationSetupRequest(r) => assert_eq!(r.up_function_features, None),
        other => panic!("{other:?}"),
    }
    b.truncate(0);
}

#[test]
fn nesting_is_bounded() {
    // PDI inside PDI inside ... (type 2 nested 20 deep) in a Create PDR.
    let mut inner: Vec<u8> = Vec::new();
    put_ie(&mut inner, t::SOURCE_INTERFACE, &SourceInterface(0));
    for _ in 0..20 {
        let mut v = Vec::new();
        v.extend_from_slice(&t::PDI.to_be_bytes());
        v.extend_from_slice(&(inner.len() as u16).to_be_bytes());
        v.extend_from_slice(&inner);
        inner = v;
    }
    // A PDI never contains a PDI: the nested ones are unexpected IEs and
    // are skipped, so the outer one is simply missing its Source Interface.
    assert_eq!(
        Pdi::decode(&inner[4..], t::PDI, 0),
        Err(IeError::Missing(t::SOURCE_INTERFACE))
    );
    // And no grouped IE is decoded beyond the depth limit.
    let mut ok = Vec::new();
    put_ie(&mut ok, t::SOURCE_INTERFACE, &SourceInterface(0));
    assert!(Pdi::decode(&ok, t::PDI, MAX_DEPTH).is_ok());
    assert_eq!(
        Pdi::decode(&ok, t::PDI, MAX_DEPTH + 1),
        Err(IeError::TooDeep)
    );
}

#[test]
fn follow_on_messages() {
    let mut a = Pdu::node(1, Message::HeartbeatRequest(HeartbeatRequest::default())).to_bytes();
    a[0] |= 0x04;
    let b = Pdu::node(2, Message::HeartbeatResponse(HeartbeatResponse::default())).to_bytes();
    a.extend_from_slice(&b);
    let all = decode_all(&a);
    assert_eq!(all.len(), 2);
    assert_eq!(all[1].as_ref().unwrap().seq, 2);
}

#[test]
fn fuzz_regression_fqdn_node_id_must_be_labels() {
    // cargo fuzz (roundtrip): an FQDN Node ID whose label held a NUL byte
    // decoded to a name that re-encoded differently. Now it is refused.
    let crash = [
        0x20, 0x05, 0x00, 0x22, 0x00, 0x00, 0x05, 0x00, 0x00, 0x3c, 0x00, 0x12, 0x02, 0x03, 0x75,
        0x70, 0x66, 0x04, 0x65, 0x64, 0x67, 0x65, 0x07, 0x65, 0x78, 0x61, 0x00, 0x26, 0x6c, 0x65,
        0x00, 0x60, 0x00, 0x04, 0x00, 0x00, 0x00, 0x07,
    ];
    match decode(&crash) {
        Err(DecodeError::Body { error, .. }) => assert_eq!(error, IeError::Invalid(t::NODE_ID)),
        other => panic!("{other:?}"),
    }
}

#[test]
fn fuzz_regression_mp_flag_on_node_message() {
    // cargo fuzz (roundtrip): MP set on a node message; the priority field
    // exists only for session messages, so it is ignored.
    let crash = [
        0x22, 0x0c, 0x00, 0x1f, 0x00, 0x00, 0x06, 0x00, 0x00, 0x3c, 0x00, 0x05, 0x00, 0xc6, 0x12,
        0x04, 0x02, 0x00, 0x65, 0x00, 0x01, 0x01, 0x00, 0x66, 0x00, 0x09, 0x00, 0x67, 0x00, 0x05,
        0x2c, 0x02, 0xc6, 0x12, 0x03, 0x01,
    ];
    let p = decode(&crash).unwrap();
    assert_eq!(p.priority, None);
    assert_eq!(decode(&p.to_bytes()).unwrap(), p);
}

fn arb_fteid() -> impl Strategy<Value = FTeid> {
    prop_oneof![
        (any::<u32>(), any::<[u8; 4]>()).prop_map(|(teid, a)| FTeid {
            teid,
            ipv4: Some(a.into()),
            ..Default::default()
        }),
        (any::<bool>(), proptest::option::of(any::<u8>())).prop_map(|(v6, id)| FTeid {
            choose: true,
            choose_v4: !v6,
            choose_v6: v6,
            choose_id: id,
            ..Default::default()
        }),
    ]
}

fn arb_pdr() -> impl Strategy<Value = CreatePdr> {
    (
        any::<u16>(),
        any::<u32>(),
        0u8..4,
        proptest::option::of(arb_fteid()),
        proptest::option::of("[a-z]{1,10}"),
        proptest::collection::vec(
            "permit out (ip|17|6) from any to assigned( [0-9]{1,4})?",
            0..3,
        ),
        proptest::option::of(any::<u32>()),
        proptest::collection::vec(any::<u32>(), 0..3),
    )
        .prop_map(|(id, prec, si, fteid, ni, fds, far, urrs)| CreatePdr {
            pdr_id: PdrId(id),
            precedence: Precedence(prec),
            pdi: Pdi {
                source_interface: SourceInterface(si),
                local_fteid: fteid,
                network_instance: ni.map(|n| NetworkInstance::encoded(&n)),
                sdf_filters: fds
                    .into_iter()
                    .map(|f| SdfFilter {
                        flow_description: Some(f),
                        ..Default::default()
                    })
                    .collect(),
                ..Default::default()
            },
            far_id: far.map(FarId),
            urr_id: urrs.into_iter().map(UrrId).collect(),
            ..Default::default()
        })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(300))]

    #[test]
    fn session_messages_round_trip(seq in 0u32..0xffffff, seid in any::<u64>(),
                                   pdrs in proptest::collection::vec(arb_pdr(), 0..4),
                                   cause in 1u8..100, prio in proptest::option::of(0u8..16)) {
        let mut req = establishment();
        req.create_pdr = pdrs;
        let msgs = vec![
            Message::SessionEstablishmentRequest(req),
            Message::SessionModificationResponse(SessionModificationResponse {
                cause: CauseIe(cause),
                usage_report: vec![UsageReport {
                    urr_id: UrrId(1), ur_seqn: UrSeqn(seq), usage_report_trigger: UsageReportTrigger(0x80),
                    volume_measurement: Some(VolumeMeasurement { total: Some(seid), ul: Some(1), dl: Some(2),
                        total_packets: Some(3), ul_packets: Some(4), dl_packets: Some(5) }),
                    ..Default::default()
                }],
                ..Default::default()
            }),
            Message::SessionReportRequest(SessionReportRequest {
                report_type: ReportType(1),
                downlink_data_report: Some(DownlinkDataReport { pdr_id: vec![PdrId(2)], ..Default::default() }),
                ..Default::default()
            }),
        ];
        for m in msgs {
            let pdu = Pdu { seq, seid: Some(seid), priority: prio, msg: m };
            let b = pdu.to_bytes();
            prop_assert_eq!(decode(&b).unwrap(), pdu);
        }
    }

    #[test]
    fn node_messages_round_trip(seq in 0u32..0xffffff, ts in any::<u32>(), feats in proptest::collection::vec(any::<u8>(), 1..6),
                                fqdn in "[a-z]{1,8}(\\.[a-z]{1,8}){0,3}") {
        let msgs = vec![
            Message::AssociationSetupRequest(AssociationSetupRequest {
                node_id: NodeId::Fqdn(fqdn.clone()),
                recovery_time_stamp: RecoveryTimeStamp(ts),
                cp_function_features: Some(Features(feats.clone())),
                ..Default::default()
            }),
            Message::AssociationSetupResponse(AssociationSetupResponse {
                node_id: NodeId::Ipv6("2001:db8::1".parse().unwrap()),
                cause: CauseIe(1),
                recovery_time_stamp: RecoveryTimeStamp(ts),
                up_function_features: Some(Features(feats)),
                ue_ip_address_pool_information: vec![UeIpAddressPoolInformation {
                    pool_identity: PoolIdentity(fqdn),
                    ..Default::default()
                }],
                ..Default::default()
            }),
            Message::NodeReportRequest(NodeReportRequest {
                node_id: node(),
                node_report_type: NodeReportType(1),
                user_plane_path_failure_report: Some(UserPlanePathFailureReport {
                    remote_gtpu_peer: vec![RemoteGtpuPeer { ipv4: Some(Ipv4Addr::new(198, 18, 3, 1)), ..Default::default() }],
                }),
                ..Default::default()
            }),
            Message::VersionNotSupportedResponse,
        ];
        for m in msgs {
            let pdu = Pdu::node(seq, m);
            let b = pdu.to_bytes();
            prop_assert_eq!(decode(&b).unwrap(), pdu);
        }
    }

    #[test]
    fn arbitrary_bytes_never_panic(b in proptest::collection::vec(any::<u8>(), 0..300)) {
        let _ = decode_all(&b);
    }

    #[test]
    fn mutated_messages_never_panic(idx in any::<prop::sample::Index>(), val in any::<u8>(), cut in any::<prop::sample::Index>()) {
        let mut b = Pdu::session(1, 2, Message::SessionEstablishmentRequest(establishment())).to_bytes();
        let i = idx.index(b.len());
        b[i] = val;
        let c = cut.index(b.len() + 1);
        let _ = decode_all(&b[..c]);
    }
}

#[test]
fn every_message_type_has_a_distinct_name() {
    let known: Vec<u8> = (0..=255u8)
        .filter(|t| pfcp_codec::msg::mt::name(*t) != "unknown")
        .collect();
    assert_eq!(known.len(), 23, "{known:?}");
    let mut names: Vec<&str> = known
        .iter()
        .map(|t| pfcp_codec::msg::mt::name(*t))
        .collect();
    names.sort();
    names.dedup();
    assert_eq!(names.len(), 23);
    assert_eq!(
        pfcp_codec::msg::mt::name(50),
        "session_establishment_request"
    );
    assert_eq!(pfcp_codec::msg::mt::name(99), "unknown");
}
