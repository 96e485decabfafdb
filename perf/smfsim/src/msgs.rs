//! The N4 messages an SMF sends, built from a session [`Profile`], and the
//! checks of the UPF's answers. Pure: values in, messages out.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use pfcp_codec::group::*;
use pfcp_codec::ie::*;
use pfcp_codec::msg::{self as m, *};
use pfcp_codec::{Cause, Message};

/// Apply Action FORW.
const FORW: u16 = 0x0002;
/// Source/Destination Interface values (TS 29.244 8.2.2 / 8.2.24).
const ACCESS: u8 = 0;
const CORE: u8 = 1;
/// Outer Header Removal: GTP-U/UDP/IP.
const OHR_GTPU_UDP_IP: u8 = 6;
/// Measurement Method: VOLUM and DURAT (8.2.40).
const MEASURE_VOLUME_DURATION: u8 = 0x03;
/// Reporting Triggers: PERIO (8.2.19, octet 5 bit 1).
const TRIGGER_PERIO: u32 = 1;

/// How the UE's address of a family is obtained.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum UeAddr<A> {
    /// No address of this family.
    None,
    /// The UPF allocates it from the network instance's pool (CHOOSE).
    Choose,
    /// The SMF gives it: the base plus the session index.
    From(A),
}

/// What every session of a run looks like.
#[derive(Clone, Debug, PartialEq)]
pub struct Profile {
    /// Network instance of the N6 side (and of the UE pool).
    pub network_instance: String,
    /// The gNB's N3 IPv4 address (downlink outer header creation).
    pub gnb_ipv4: Option<Ipv4Addr>,
    /// The gNB's N3 IPv6 address (used when there is no IPv4 one).
    pub gnb_ipv6: Option<Ipv6Addr>,
    /// The TEID of session 0 on the gNB side; session `i` uses `base + i`.
    pub gnb_teid_base: u32,
    /// Added to a churned session's gNB TEID for its second state.
    pub gnb_teid_alt_offset: u32,
    /// UE IPv4 address.
    pub ue_v4: UeAddr<Ipv4Addr>,
    /// UE IPv6 prefix (a /64 per session when given).
    pub ue_v6: UeAddr<Ipv6Addr>,
    /// QoS flow of the session's QER.
    pub qfi: u8,
    /// MBR of the QER in kbit/s (both directions).
    pub mbr_kbps: u64,
    /// Periodic usage reports (PERIO) every this many seconds.
    pub urr_period_s: Option<u32>,
    /// Also match the QFI in the uplink PDR.
    pub ul_match_qfi: bool,
}

impl Default for Profile {
    fn default() -> Self {
        Profile {
            network_instance: "internet".into(),
            gnb_ipv4: Some(Ipv4Addr::new(198, 18, 3, 1)),
            gnb_ipv6: None,
            gnb_teid_base: 0x0010_0000,
            gnb_teid_alt_offset: 0x4000_0000,
            ue_v4: UeAddr::Choose,
            ue_v6: UeAddr::None,
            qfi: 9,
            mbr_kbps: 10_000_000,
            urr_period_s: None,
            ul_match_qfi: false,
        }
    }
}

impl Profile {
    /// The gNB TEID of session `index`.
    pub fn gnb_teid(&self, index: u32) -> u32 {
        self.gnb_teid_base.wrapping_add(index)
    }

    /// The churn state's TEID of session `index`.
    pub fn gnb_teid_alt(&self, index: u32) -> u32 {
        self.gnb_teid(index).wrapping_add(self.gnb_teid_alt_offset)
    }

    /// The UE IPv4 address the SMF gives session `index`, if it gives one.
    pub fn given_v4(&self, index: u32) -> Option<Ipv4Addr> {
        match self.ue_v4 {
            UeAddr::From(b) => Some(Ipv4Addr::from(u32::from(b).wrapping_add(index))),
            _ => None,
        }
    }

    /// The UE IPv6 /64 the SMF gives session `index`, if it gives one.
    pub fn given_v6(&self, index: u32) -> Option<Ipv6Addr> {
        match self.ue_v6 {
            UeAddr::From(b) => Some(Ipv6Addr::from(
                u128::from(b).wrapping_add(u128::from(index) << 64),
            )),
            _ => None,
        }
    }

    fn ue_ip(&self, index: u32, destination: bool) -> Vec<UeIpAddress> {
        let v4 = self.ue_v4 != UeAddr::None;
        let v6 = self.ue_v6 != UeAddr::None;
        if !v4 && !v6 {
            return vec![];
        }
        vec![UeIpAddress {
            ipv4: self.given_v4(index),
            ipv6: self.given_v6(index),
            is_destination: destination,
            ipv6_prefix_len: self.given_v6(index).map(|_| 64),
            choose_v4: self.ue_v4 == UeAddr::Choose,
            choose_v6: self.ue_v6 == UeAddr::Choose,
            ..Default::default()
        }]
    }

    fn ohc(&self, teid: u32) -> OuterHeaderCreation {
        match (self.gnb_ipv4, self.gnb_ipv6) {
            (Some(a), _) => OuterHeaderCreation {
                description: OHC_GTPU_V4,
                teid: Some(teid),
                ipv4: Some(a),
                ..Default::default()
            },
            (None, a6) => OuterHeaderCreation {
                description: OHC_GTPU_V6,
                teid: Some(teid),
                ipv6: a6,
                ..Default::default()
            },
        }
    }

    fn mbr(&self, halved: bool) -> BitRate {
        let r = if halved {
            self.mbr_kbps / 2
        } else {
            self.mbr_kbps
        };
        BitRate {
            ul_kbps: r,
            dl_kbps: r,
        }
    }
}

/// Association Setup Request from `node_id` with our Recovery Time Stamp.
pub fn association_setup(node_id: &NodeId, recovery: u32) -> Message {
    Message::AssociationSetupRequest(AssociationSetupRequest {
        node_id: node_id.clone(),
        recovery_time_stamp: RecoveryTimeStamp(recovery),
        cp_function_features: Some(Features(vec![0])),
        ..Default::default()
    })
}

/// Association Release Request.
pub fn association_release(node_id: &NodeId) -> Message {
    Message::AssociationReleaseRequest(m::AssociationReleaseRequest {
        node_id: node_id.clone(),
    })
}

/// Heartbeat Request.
pub fn heartbeat_request(recovery: u32) -> Message {
    Message::HeartbeatRequest(HeartbeatRequest {
        recovery_time_stamp: RecoveryTimeStamp(recovery),
        source_ip_address: None,
    })
}

/// The IDs of the rules every session has.
pub mod ids {
    /// Uplink PDR.
    pub const PDR_UL: u16 = 1;
    /// Downlink PDR.
    pub const PDR_DL: u16 = 2;
    /// Uplink FAR (to the data network).
    pub const FAR_UL: u32 = 1;
    /// Downlink FAR (GTP-U to the gNB).
    pub const FAR_DL: u32 = 2;
    /// The session's QER.
    pub const QER: u32 = 1;
    /// The session's URR.
    pub const URR: u32 = 1;
}

/// Session Establishment Request of session `index`: 2 PDRs (uplink with
/// F-TEID CHOOSE, downlink by UE address), 2 FARs, 1 QER, 1 URR.
pub fn establishment(
    p: &Profile,
    index: u32,
    cp_seid: u64,
    cp_addr: IpAddr,
    node_id: &NodeId,
) -> SessionEstablishmentRequest {
    let ni = NetworkInstance::encoded(&p.network_instance);
    let (cp4, cp6) = match cp_addr {
        IpAddr::V4(a) => (Some(a), None),
        IpAddr::V6(a) => (None, Some(a)),
    };
    let choose_v6 = p.gnb_ipv4.is_none() && p.gnb_ipv6.is_some();
    SessionEstablishmentRequest {
        node_id: node_id.clone(),
        cp_fseid: FSeid {
            seid: cp_seid,
            ipv4: cp4,
            ipv6: cp6,
        },
        create_pdr: vec![
            CreatePdr {
                pdr_id: PdrId(ids::PDR_UL),
                precedence: Precedence(100),
                pdi: Pdi {
                    source_interface: SourceInterface(ACCESS),
                    local_fteid: Some(FTeid {
                        choose: true,
                        choose_v4: !choose_v6,
                        choose_v6,
                        ..Default::default()
                    }),
                    network_instance: Some(ni.clone()),
                    ue_ip_address: p.ue_ip(index, false),
                    qfi: if p.ul_match_qfi {
                        vec![Qfi(p.qfi)]
                    } else {
                        vec![]
                    },
                    ..Default::default()
                },
                outer_header_removal: Some(OuterHeaderRemoval {
                    description: OHR_GTPU_UDP_IP,
                    ext_deletion: None,
                }),
                far_id: Some(FarId(ids::FAR_UL)),
                urr_id: vec![UrrId(ids::URR)],
                qer_id: vec![QerId(ids::QER)],
                ..Default::default()
            },
            CreatePdr {
                pdr_id: PdrId(ids::PDR_DL),
                precedence: Precedence(100),
                pdi: Pdi {
                    source_interface: SourceInterface(CORE),
                    network_instance: Some(ni.clone()),
                    ue_ip_address: p.ue_ip(index, true),
                    ..Default::default()
                },
                far_id: Some(FarId(ids::FAR_DL)),
                urr_id: vec![UrrId(ids::URR)],
                qer_id: vec![QerId(ids::QER)],
                ..Default::default()
            },
        ],
        create_far: vec![
            CreateFar {
                far_id: FarId(ids::FAR_UL),
                apply_action: ApplyAction(FORW),
                forwarding_parameters: Some(ForwardingParameters {
                    destination_interface: DestinationInterface(CORE),
                    network_instance: Some(ni),
                    ..Default::default()
                }),
                ..Default::default()
            },
            CreateFar {
                far_id: FarId(ids::FAR_DL),
                apply_action: ApplyAction(FORW),
                forwarding_parameters: Some(ForwardingParameters {
                    destination_interface: DestinationInterface(ACCESS),
                    outer_header_creation: Some(p.ohc(p.gnb_teid(index))),
                    ..Default::default()
                }),
                ..Default::default()
            },
        ],
        create_urr: vec![CreateUrr {
            urr_id: UrrId(ids::URR),
            measurement_method: MeasurementMethod(MEASURE_VOLUME_DURATION),
            reporting_triggers: ReportingTriggers(if p.urr_period_s.is_some() {
                TRIGGER_PERIO
            } else {
                0
            }),
            measurement_period: p.urr_period_s.map(MeasurementPeriod),
            ..Default::default()
        }],
        create_qer: vec![CreateQer {
            qer_id: QerId(ids::QER),
            gate_status: GateStatus { ul: 0, dl: 0 },
            mbr: Some(p.mbr(false)),
            qfi: Some(Qfi(p.qfi)),
            ..Default::default()
        }],
        pdn_type: Some(PdnType(
            match (p.ue_v4 != UeAddr::None, p.ue_v6 != UeAddr::None) {
                (true, true) => 3,
                (false, true) => 2,
                _ => 1,
            },
        )),
        ..Default::default()
    }
}

/// What a churn modification changes.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum ChurnKind {
    /// The downlink FAR's outer header creation (gNB TEID A <-> B).
    Far,
    /// The QER's MBR (full <-> half).
    Qer,
    /// Both in one request.
    Both,
}

/// Session Modification Request that moves session `index` to churn state
/// `alt` (false = as established).
pub fn churn_modification(
    p: &Profile,
    index: u32,
    kind: ChurnKind,
    alt: bool,
) -> SessionModificationRequest {
    let mut m = SessionModificationRequest::default();
    if matches!(kind, ChurnKind::Far | ChurnKind::Both) {
        let teid = if alt {
            p.gnb_teid_alt(index)
        } else {
            p.gnb_teid(index)
        };
        m.update_far.push(UpdateFar {
            far_id: FarId(ids::FAR_DL),
            apply_action: Some(ApplyAction(FORW)),
            update_forwarding_parameters: Some(UpdateForwardingParameters {
                destination_interface: Some(DestinationInterface(ACCESS)),
                outer_header_creation: Some(p.ohc(teid)),
                ..Default::default()
            }),
            ..Default::default()
        });
    }
    if matches!(kind, ChurnKind::Qer | ChurnKind::Both) {
        m.update_qer.push(UpdateQer {
            qer_id: QerId(ids::QER),
            mbr: Some(p.mbr(alt)),
            ..Default::default()
        });
    }
    m
}

/// Session Deletion Request.
pub fn deletion() -> Message {
    Message::SessionDeletionRequest(SessionDeletionRequest::default())
}

/// What an accepted establishment gave the session.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Established {
    /// The UPF's SEID.
    pub up_seid: u64,
    /// The uplink F-TEID the UPF chose.
    pub fteid: FTeid,
    /// The UE IPv4 address (chosen or given).
    pub ue_v4: Option<Ipv4Addr>,
    /// The UE IPv6 prefix (chosen or given) and its length.
    pub ue_v6: Option<(Ipv6Addr, u8)>,
}

/// Why a response does not do what the SMF asked.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Refusal {
    /// A cause other than Request accepted.
    Cause {
        /// The cause value.
        cause: u8,
        /// Offending IE, if given.
        offending_ie: Option<u16>,
        /// Failed Rule ID (rule type, id), if given.
        failed_rule: Option<(u8, u32)>,
    },
    /// Accepted, but an IE the SMF needs is missing.
    Incomplete(&'static str),
    /// Another message than the expected response.
    Unexpected(u8),
}

impl std::fmt::Display for Refusal {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Refusal::Cause {
                cause,
                offending_ie,
                failed_rule,
            } => {
                write!(f, "cause {cause} ({})", cause_name(*cause))?;
                if let Some(o) = offending_ie {
                    write!(f, ", offending IE {o}")?;
                }
                if let Some((t, id)) = failed_rule {
                    write!(f, ", failed rule type {t} id {id}")?;
                }
                Ok(())
            }
            Refusal::Incomplete(what) => write!(f, "accepted without {what}"),
            Refusal::Unexpected(t) => write!(f, "unexpected message type {t}"),
        }
    }
}

/// The name of a cause value.
pub fn cause_name(c: u8) -> &'static str {
    match c {
        1 => "Request accepted",
        2 => "More Usage Report to send",
        3 => "Request partially accepted",
        64 => "Request rejected",
        65 => "Session context not found",
        66 => "Mandatory IE missing",
        67 => "Conditional IE missing",
        68 => "Invalid length",
        69 => "Mandatory IE incorrect",
        70 => "Invalid Forwarding Policy",
        71 => "Invalid F-TEID allocation option",
        72 => "No established PFCP Association",
        73 => "Rule creation/modification Failure",
        74 => "PFCP entity in congestion",
        75 => "No resources available",
        76 => "Service not supported",
        77 => "System failure",
        78 => "Redirection Requested",
        79 => "All dynamic addresses are occupied",
        _ => "unknown",
    }
}

fn accepted(
    cause: u8,
    off: Option<OffendingIe>,
    failed: Option<FailedRuleId>,
) -> Result<(), Refusal> {
    if cause == Cause::RequestAccepted as u8 {
        Ok(())
    } else {
        Err(Refusal::Cause {
            cause,
            offending_ie: off.map(|o| o.0),
            failed_rule: failed.map(|f| (f.rule_type, f.id)),
        })
    }
}

/// Checks an establishment response against what session `index` of `p`
/// asked for.
pub fn check_establishment(p: &Profile, index: u32, msg: &Message) -> Result<Established, Refusal> {
    let Message::SessionEstablishmentResponse(r) = msg else {
        return Err(Refusal::Unexpected(msg.msg_type()));
    };
    accepted(r.cause.0, r.offending_ie, r.failed_rule_id)?;
    let up = r.up_fseid.ok_or(Refusal::Incomplete("UP F-SEID"))?;
    let ul = r
        .created_pdr
        .iter()
        .find(|c| c.pdr_id.0 == ids::PDR_UL)
        .ok_or(Refusal::Incomplete("Created PDR of the uplink PDR"))?;
    let fteid = ul
        .local_fteid
        .ok_or(Refusal::Incomplete("the chosen F-TEID"))?;
    if fteid.ipv4.is_none() && fteid.ipv6.is_none() {
        return Err(Refusal::Incomplete("an address in the chosen F-TEID"));
    }
    let chosen = r
        .created_pdr
        .iter()
        .flat_map(|c| c.ue_ip_address.iter())
        .copied()
        .fold((None, None), |(a4, a6), u| {
            (
                a4.or(u.ipv4),
                a6.or(u.ipv6.map(|a| (a, u.ipv6_prefix_len.unwrap_or(64)))),
            )
        });
    let ue_v4 = match p.ue_v4 {
        UeAddr::None => None,
        UeAddr::From(_) => p.given_v4(index),
        UeAddr::Choose => Some(
            chosen
                .0
                .ok_or(Refusal::Incomplete("the chosen UE IPv4 address"))?,
        ),
    };
    let ue_v6 = match p.ue_v6 {
        UeAddr::None => None,
        UeAddr::From(_) => p.given_v6(index).map(|a| (a, 64)),
        UeAddr::Choose => Some(
            chosen
                .1
                .ok_or(Refusal::Incomplete("the chosen UE IPv6 prefix"))?,
        ),
    };
    Ok(Established {
        up_seid: up.seid,
        fteid,
        ue_v4,
        ue_v6,
    })
}

/// Usage reports carried by a response or report.
pub fn usage_reports(msg: &Message) -> &[UsageReport] {
    match msg {
        Message::SessionModificationResponse(r) => &r.usage_report,
        Message::SessionDeletionResponse(r) => &r.usage_report,
        Message::SessionReportRequest(r) => &r.usage_report,
        _ => &[],
    }
}

/// Checks a modification, deletion or association response.
pub fn check_simple(expected_type: u8, msg: &Message) -> Result<(), Refusal> {
    if msg.msg_type() != expected_type {
        return Err(Refusal::Unexpected(msg.msg_type()));
    }
    match msg {
        Message::SessionModificationResponse(r) => {
            accepted(r.cause.0, r.offending_ie, r.failed_rule_id)
        }
        Message::SessionDeletionResponse(r) => accepted(r.cause.0, r.offending_ie, None),
        Message::AssociationSetupResponse(r) => accepted(r.cause.0, None, None),
        Message::AssociationReleaseResponse(r) => accepted(r.cause.0, None, None),
        Message::HeartbeatResponse(_) => Ok(()),
        m => Err(Refusal::Unexpected(m.msg_type())),
    }
}

/// The response type of a request type.
pub fn response_type(request: u8) -> u8 {
    request + 1
}

/// The cause of a response, if it has one.
pub fn cause_of(msg: &Message) -> Option<u8> {
    match msg {
        Message::SessionEstablishmentResponse(r) => Some(r.cause.0),
        Message::SessionModificationResponse(r) => Some(r.cause.0),
        Message::SessionDeletionResponse(r) => Some(r.cause.0),
        Message::AssociationSetupResponse(r) => Some(r.cause.0),
        Message::AssociationReleaseResponse(r) => Some(r.cause.0),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use pfcp_codec::{decode, Pdu};

    fn node() -> NodeId {
        NodeId::Ipv4(Ipv4Addr::new(198, 18, 4, 1))
    }

    fn wire(m: Message, seid: Option<u64>) -> Message {
        let pdu = match seid {
            Some(s) => Pdu::session(7, s, m),
            None => Pdu::node(7, m),
        };
        decode(&pdu.to_bytes()).unwrap().msg
    }

    #[test]
    fn establishment_has_the_default_rule_set() {
        let p = Profile::default();
        let r = establishment(&p, 5, 42, "198.18.4.1".parse().unwrap(), &node());
        let Message::SessionEstablishmentRequest(r) =
            wire(Message::SessionEstablishmentRequest(r), Some(0))
        else {
            panic!()
        };
        assert_eq!((r.create_pdr.len(), r.create_far.len()), (2, 2));
        assert_eq!((r.create_qer.len(), r.create_urr.len()), (1, 1));
        assert_eq!(r.cp_fseid.seid, 42);
        let ul = &r.create_pdr[0];
        assert!(ul.pdi.local_fteid.unwrap().choose);
        assert!(ul.pdi.ue_ip_address[0].choose_v4);
        assert!(!ul.pdi.ue_ip_address[0].is_destination);
        let dl = &r.create_pdr[1];
        assert!(dl.pdi.ue_ip_address[0].is_destination);
        let ohc = r.create_far[1]
            .forwarding_parameters
            .as_ref()
            .unwrap()
            .outer_header_creation
            .unwrap();
        assert_eq!(ohc.teid, Some(0x0010_0005));
        assert_eq!(ohc.ipv4, Some(Ipv4Addr::new(198, 18, 3, 1)));
        assert_eq!(r.create_qer[0].qfi, Some(Qfi(9)));
        assert_eq!(r.create_urr[0].reporting_triggers.0, 0);
    }

    #[test]
    fn given_addresses_and_periodic_reports() {
        let p = Profile {
            ue_v4: UeAddr::From(Ipv4Addr::new(198, 19, 1, 0)),
            ue_v6: UeAddr::From("2001:db8:1900::".parse().unwrap()),
            urr_period_s: Some(2),
            ..Profile::default()
        };
        let r = establishment(&p, 3, 1, "198.18.4.1".parse().unwrap(), &node());
        let u = r.create_pdr[1].pdi.ue_ip_address[0];
        assert_eq!(u.ipv4, Some(Ipv4Addr::new(198, 19, 1, 3)));
        assert_eq!(u.ipv6, Some("2001:db8:1900:3::".parse().unwrap()));
        assert!(!u.choose_v4 && !u.choose_v6);
        assert_eq!(
            r.create_urr[0].measurement_period,
            Some(MeasurementPeriod(2))
        );
        assert_eq!(r.create_urr[0].reporting_triggers.0, TRIGGER_PERIO);
        assert_eq!(r.pdn_type, Some(PdnType(3)));
    }

    #[test]
    fn churn_toggles_teid_and_mbr() {
        let p = Profile::default();
        for (kind, far, qer) in [
            (ChurnKind::Far, 1, 0),
            (ChurnKind::Qer, 0, 1),
            (ChurnKind::Both, 1, 1),
        ] {
            let m = churn_modification(&p, 2, kind, true);
            let Message::SessionModificationRequest(m) =
                wire(Message::SessionModificationRequest(m), Some(9))
            else {
                panic!()
            };
            assert_eq!((m.update_far.len(), m.update_qer.len()), (far, qer));
            if far == 1 {
                let t = m.update_far[0]
                    .update_forwarding_parameters
                    .as_ref()
                    .unwrap()
                    .outer_header_creation
                    .unwrap()
                    .teid;
                assert_eq!(t, Some(p.gnb_teid_alt(2)));
            }
            if qer == 1 {
                assert_eq!(m.update_qer[0].mbr.unwrap().dl_kbps, p.mbr_kbps / 2);
            }
        }
        let back = churn_modification(&p, 2, ChurnKind::Far, false);
        assert_eq!(
            back.update_far[0]
                .update_forwarding_parameters
                .as_ref()
                .unwrap()
                .outer_header_creation
                .unwrap()
                .teid,
            Some(p.gnb_teid(2))
        );
    }

    fn response(cause: u8, fteid: bool, ue: bool) -> Message {
        Message::SessionEstablishmentResponse(SessionEstablishmentResponse {
            node_id: node(),
            cause: CauseIe(cause),
            up_fseid: Some(FSeid {
                seid: 0xabc,
                ipv4: Some(Ipv4Addr::LOCALHOST),
                ipv6: None,
            }),
            created_pdr: vec![
                CreatedPdr {
                    pdr_id: PdrId(1),
                    local_fteid: fteid.then_some(FTeid {
                        teid: 0x77,
                        ipv4: Some(Ipv4Addr::new(198, 18, 3, 2)),
                        ..Default::default()
                    }),
                    ue_ip_address: if ue {
                        vec![UeIpAddress {
                            ipv4: Some(Ipv4Addr::new(198, 19, 0, 9)),
                            ..Default::default()
                        }]
                    } else {
                        vec![]
                    },
                },
                CreatedPdr {
                    pdr_id: PdrId(2),
                    local_fteid: None,
                    ue_ip_address: vec![],
                },
            ],
            ..Default::default()
        })
    }

    #[test]
    fn establishment_responses_are_verified() {
        let p = Profile::default();
        let ok = check_establishment(&p, 0, &wire(response(1, true, true), Some(1))).unwrap();
        assert_eq!(ok.up_seid, 0xabc);
        assert_eq!(ok.fteid.teid, 0x77);
        assert_eq!(ok.ue_v4, Some(Ipv4Addr::new(198, 19, 0, 9)));
        assert_eq!(
            check_establishment(&p, 0, &response(1, false, true)),
            Err(Refusal::Incomplete("the chosen F-TEID"))
        );
        assert_eq!(
            check_establishment(&p, 0, &response(1, true, false)),
            Err(Refusal::Incomplete("the chosen UE IPv4 address"))
        );
        let e = check_establishment(&p, 0, &response(75, true, true)).unwrap_err();
        assert_eq!(e.to_string(), "cause 75 (No resources available)");
        let e = check_establishment(&p, 0, &heartbeat_request(1)).unwrap_err();
        assert_eq!(e, Refusal::Unexpected(mt::HEARTBEAT_REQUEST));
    }

    #[test]
    fn simple_responses() {
        let ok = Message::SessionDeletionResponse(SessionDeletionResponse {
            cause: CauseIe(1),
            ..Default::default()
        });
        assert!(check_simple(mt::SESSION_DELETION_RESPONSE, &ok).is_ok());
        assert!(check_simple(mt::SESSION_MODIFICATION_RESPONSE, &ok).is_err());
        let bad = Message::SessionModificationResponse(SessionModificationResponse {
            cause: CauseIe(69),
            offending_ie: Some(OffendingIe(10)),
            ..Default::default()
        });
        assert_eq!(
            check_simple(mt::SESSION_MODIFICATION_RESPONSE, &bad)
                .unwrap_err()
                .to_string(),
            "cause 69 (Mandatory IE incorrect), offending IE 10"
        );
    }
}
