//! Consistency checks of a whole [`SessionRules`] set.

use std::collections::HashSet;

use serde::{Deserialize, Serialize};

use crate::{ApplyAction, OuterHeaderKind, SessionRules};

/// The kind of rule a [`RuleError`] is about (TS 29.244 8.2.80 Failed Rule ID types).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum RuleKind {
    /// A PDR.
    Pdr,
    /// A FAR.
    Far,
    /// A QER.
    Qer,
    /// A URR.
    Urr,
    /// A BAR.
    Bar,
}

/// Why a rule set was refused.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error, Serialize, Deserialize)]
#[error("{kind:?} {id}: {reason}")]
pub struct RuleError {
    /// The kind of the failed rule.
    pub kind: RuleKind,
    /// Its ID (the Failed Rule ID).
    pub id: u32,
    /// What is wrong.
    pub reason: RuleErrorReason,
}

/// What is wrong with a rule.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error, Serialize, Deserialize)]
pub enum RuleErrorReason {
    /// Two rules of one kind share an ID.
    #[error("duplicate rule ID")]
    DuplicateId,
    /// A reference to a FAR that is not in the set.
    #[error("refers to FAR {0}, which does not exist")]
    UnknownFar(u32),
    /// A reference to a QER that is not in the set.
    #[error("refers to QER {0}, which does not exist")]
    UnknownQer(u32),
    /// A reference to a URR that is not in the set.
    #[error("refers to URR {0}, which does not exist")]
    UnknownUrr(u32),
    /// A reference to a BAR that is not in the set.
    #[error("refers to BAR {0}, which does not exist")]
    UnknownBar(u8),
    /// A PDR without source interface.
    #[error("PDI has no source interface")]
    MissingSourceInterface,
    /// A PDR without FAR.
    #[error("PDR names no FAR")]
    MissingFar,
    /// Apply Action sets none or a contradictory set of DROP/FORW/BUFF.
    #[error("apply action {0:#06x} is not one of DROP, FORW, BUFF (optionally with NOCP/DUPL)")]
    BadApplyAction(u16),
    /// FORW without forwarding parameters.
    #[error("FORW needs forwarding parameters")]
    MissingForwardingParameters,
    /// Outer header creation that lacks the address its kind needs.
    #[error("outer header creation lacks the IPv{0} address")]
    OuterHeaderAddressMissing(u8),
    /// A QFI outside 0..=63.
    #[error("QFI {0} is out of range")]
    BadQfi(u8),
    /// A `deny` flow description: TS 29.212 allows only permit.
    #[error("flow descriptions must use permit")]
    DenyFlow,
    /// An SDF filter, framed route or other rule element did not parse.
    #[error("invalid {0}")]
    Invalid(String),
    /// The UP function could not allocate what the rule asks for (F-TEID,
    /// UE address).
    #[error("cannot allocate: {0}")]
    NoResources(String),
}

fn err(kind: RuleKind, id: u32, reason: RuleErrorReason) -> RuleError {
    RuleError { kind, id, reason }
}

pub(crate) fn validate(s: &SessionRules) -> Result<(), RuleError> {
    let mut fars = HashSet::new();
    for f in &s.fars {
        if !fars.insert(f.id) {
            return Err(err(RuleKind::Far, f.id, RuleErrorReason::DuplicateId));
        }
    }
    let mut qers = HashSet::new();
    for q in &s.qers {
        if !qers.insert(q.id) {
            return Err(err(RuleKind::Qer, q.id, RuleErrorReason::DuplicateId));
        }
        if let Some(qfi) = q.qfi.filter(|&v| v > 63) {
            return Err(err(RuleKind::Qer, q.id, RuleErrorReason::BadQfi(qfi)));
        }
    }
    let mut urrs = HashSet::new();
    for u in &s.urrs {
        if !urrs.insert(u.id) {
            return Err(err(RuleKind::Urr, u.id, RuleErrorReason::DuplicateId));
        }
    }
    for u in &s.urrs {
        if let Some(f) = u.far_id_for_quota_action {
            if !fars.contains(&f) {
                return Err(err(RuleKind::Urr, u.id, RuleErrorReason::UnknownFar(f)));
            }
        }
        for l in &u.linked_urr_ids {
            if !urrs.contains(l) {
                return Err(err(RuleKind::Urr, u.id, RuleErrorReason::UnknownUrr(*l)));
            }
        }
    }
    for f in &s.fars {
        let a = f.apply_action;
        let main = a.0 & (ApplyAction::DROP | ApplyAction::FORW | ApplyAction::BUFF);
        // Exactly one of DROP, FORW, BUFF, except that NOCP or DUPL alone is
        // also a valid instruction (TS 29.244 8.2.26).
        let ok = main.count_ones() == 1
            || (main == 0 && a.0 & (ApplyAction::NOCP | ApplyAction::DUPL) != 0);
        if !ok {
            return Err(err(
                RuleKind::Far,
                f.id,
                RuleErrorReason::BadApplyAction(a.0),
            ));
        }
        if a.has(ApplyAction::FORW) && f.forwarding.is_none() {
            return Err(err(
                RuleKind::Far,
                f.id,
                RuleErrorReason::MissingForwardingParameters,
            ));
        }
        if let Some(b) = f.bar_id {
            if s.bar.is_none_or(|bar| bar.id != b) {
                return Err(err(RuleKind::Far, f.id, RuleErrorReason::UnknownBar(b)));
            }
        }
        let ohcs = f
            .forwarding
            .iter()
            .filter_map(|p| p.outer_header_creation.as_ref())
            .chain(
                f.duplicating
                    .iter()
                    .filter_map(|d| d.outer_header_creation.as_ref()),
            );
        for ohc in ohcs {
            let v4 = matches!(
                ohc.kind,
                OuterHeaderKind::GtpuUdpIpv4 | OuterHeaderKind::UdpIpv4 | OuterHeaderKind::Ipv4
            );
            if v4 && ohc.ipv4.is_none() {
                return Err(err(
                    RuleKind::Far,
                    f.id,
                    RuleErrorReason::OuterHeaderAddressMissing(4),
                ));
            }
            if !v4 && ohc.ipv6.is_none() {
                return Err(err(
                    RuleKind::Far,
                    f.id,
                    RuleErrorReason::OuterHeaderAddressMissing(6),
                ));
            }
        }
    }
    let mut pdrs = HashSet::new();
    for p in &s.pdrs {
        let id = u32::from(p.id);
        if !pdrs.insert(p.id) {
            return Err(err(RuleKind::Pdr, id, RuleErrorReason::DuplicateId));
        }
        if p.pdi.source_interface.is_none() {
            return Err(err(
                RuleKind::Pdr,
                id,
                RuleErrorReason::MissingSourceInterface,
            ));
        }
        match p.far_id {
            None => return Err(err(RuleKind::Pdr, id, RuleErrorReason::MissingFar)),
            Some(f) if !fars.contains(&f) => {
                return Err(err(RuleKind::Pdr, id, RuleErrorReason::UnknownFar(f)))
            }
            Some(_) => {}
        }
        for q in &p.qer_ids {
            if !qers.contains(q) {
                return Err(err(RuleKind::Pdr, id, RuleErrorReason::UnknownQer(*q)));
            }
        }
        for u in &p.urr_ids {
            if !urrs.contains(u) {
                return Err(err(RuleKind::Pdr, id, RuleErrorReason::UnknownUrr(*u)));
            }
        }
        if let Some(q) = p.pdi.qfis.iter().find(|&&q| q > 63) {
            return Err(err(RuleKind::Pdr, id, RuleErrorReason::BadQfi(*q)));
        }
        if p.pdi
            .sdf_filters
            .iter()
            .any(|f| f.flow.as_ref().is_some_and(|fl| !fl.permit))
        {
            return Err(err(RuleKind::Pdr, id, RuleErrorReason::DenyFlow));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::*;

    fn base() -> SessionRules {
        SessionRules {
            seid: 1,
            pdrs: vec![Pdr {
                id: 1,
                precedence: 100,
                pdi: Pdi {
                    source_interface: Some(Interface::Access),
                    local_fteid: Some(LocalFteid {
                        teid: 7,
                        ipv4: Some("192.0.2.2".parse().unwrap()),
                        ipv6: None,
                    }),
                    ..Default::default()
                },
                outer_header_removal: Some(OuterHeaderRemoval::GtpuUdpIp),
                far_id: Some(1),
                urr_ids: vec![1],
                qer_ids: vec![1],
            }],
            fars: vec![Far {
                id: 1,
                apply_action: ApplyAction(ApplyAction::FORW),
                forwarding: Some(ForwardingParameters {
                    destination_interface: Interface::Core,
                    network_instance: Some("internet".into()),
                    outer_header_creation: None,
                    transport_level_marking: None,
                    forwarding_policy: None,
                    send_end_marker: false,
                }),
                duplicating: vec![],
                bar_id: None,
            }],
            qers: vec![Qer {
                id: 1,
                qfi: Some(9),
                ..Default::default()
            }],
            urrs: vec![Urr {
                id: 1,
                ..Default::default()
            }],
            bar: None,
        }
    }

    #[test]
    fn valid_set_passes() {
        base().validate().unwrap();
    }

    #[test]
    fn each_broken_reference_names_the_rule() {
        let mut s = base();
        s.pdrs[0].far_id = Some(9);
        let e = s.validate().unwrap_err();
        assert_eq!((e.kind, e.id), (RuleKind::Pdr, 1));
        assert_eq!(e.reason, RuleErrorReason::UnknownFar(9));

        let mut s = base();
        s.pdrs[0].qer_ids = vec![4];
        assert_eq!(
            s.validate().unwrap_err().reason,
            RuleErrorReason::UnknownQer(4)
        );

        let mut s = base();
        s.pdrs[0].urr_ids = vec![5];
        assert_eq!(
            s.validate().unwrap_err().reason,
            RuleErrorReason::UnknownUrr(5)
        );

        let mut s = base();
        s.fars[0].apply_action = ApplyAction(ApplyAction::FORW | ApplyAction::DROP);
        let e = s.validate().unwrap_err();
        assert_eq!((e.kind, e.id), (RuleKind::Far, 1));

        let mut s = base();
        s.fars[0].forwarding = None;
        assert_eq!(
            s.validate().unwrap_err().reason,
            RuleErrorReason::MissingForwardingParameters
        );

        let mut s = base();
        s.fars.push(s.fars[0].clone());
        assert_eq!(
            s.validate().unwrap_err().reason,
            RuleErrorReason::DuplicateId
        );

        let mut s = base();
        s.fars[0].bar_id = Some(3);
        assert_eq!(
            s.validate().unwrap_err().reason,
            RuleErrorReason::UnknownBar(3)
        );

        let mut s = base();
        s.qers[0].qfi = Some(64);
        assert_eq!((s.validate().unwrap_err().kind), RuleKind::Qer);
    }

    #[test]
    fn outer_header_creation_needs_its_address() {
        let mut s = base();
        if let Some(fp) = s.fars[0].forwarding.as_mut() {
            fp.outer_header_creation = Some(OuterHeaderCreation {
                kind: OuterHeaderKind::GtpuUdpIpv6,
                teid: 1,
                ipv4: Some("192.0.2.9".parse().unwrap()),
                ipv6: None,
                port: None,
            });
        }
        assert_eq!(
            s.validate().unwrap_err().reason,
            RuleErrorReason::OuterHeaderAddressMissing(6)
        );
    }

    #[test]
    fn nocp_alone_and_buffering_are_valid() {
        let mut s = base();
        s.fars[0].apply_action = ApplyAction(ApplyAction::BUFF | ApplyAction::NOCP);
        s.fars[0].bar_id = Some(1);
        s.bar = Some(Bar {
            id: 1,
            ..Default::default()
        });
        s.validate().unwrap();
        s.fars[0].apply_action = ApplyAction(ApplyAction::NOCP);
        s.validate().unwrap();
    }
}
