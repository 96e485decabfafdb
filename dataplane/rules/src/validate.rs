//! Consistency checks of a whole [`SessionRules`] set.

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

/// The IDs of one kind of rule: sorted for lookups, and where the first
/// ID that repeats an earlier one (in message order) is. For the few rules
/// of a session, sorting beats building a hash set (no hasher set-up, no
/// SipHash), and it stays O(n log n) for a message with thousands of rules.
struct IdSet {
    /// `id << 32 | position`, sorted.
    keys: Vec<u64>,
    first_repeat: Option<usize>,
}

impl IdSet {
    fn new(ids: impl Iterator<Item = u32>) -> IdSet {
        let mut keys: Vec<u64> = ids
            .enumerate()
            .map(|(i, id)| (u64::from(id) << 32) | (i as u64 & 0xffff_ffff))
            .collect();
        keys.sort_unstable();
        // Within a run of equal IDs every position but the smallest repeats
        // an earlier rule; the first repeat in message order is the
        // smallest such position.
        let first_repeat = keys
            .windows(2)
            .filter(|w| w[0] >> 32 == w[1] >> 32)
            .map(|w| (w[1] & 0xffff_ffff) as usize)
            .min();
        IdSet { keys, first_repeat }
    }

    /// Whether rule `i` (in message order) repeats an earlier ID.
    fn repeats_at(&self, i: usize) -> bool {
        self.first_repeat == Some(i)
    }

    fn contains(&self, id: u32) -> bool {
        let lo = u64::from(id) << 32;
        let p = self.keys.partition_point(|&k| k < lo);
        self.keys.get(p).is_some_and(|&k| k >> 32 == u64::from(id))
    }
}

pub(crate) fn validate(s: &SessionRules) -> Result<(), RuleError> {
    let fars = IdSet::new(s.fars.iter().map(|f| f.id));
    for (i, f) in s.fars.iter().enumerate() {
        if fars.repeats_at(i) {
            return Err(err(RuleKind::Far, f.id, RuleErrorReason::DuplicateId));
        }
    }
    let qers = IdSet::new(s.qers.iter().map(|q| q.id));
    for (i, q) in s.qers.iter().enumerate() {
        if qers.repeats_at(i) {
            return Err(err(RuleKind::Qer, q.id, RuleErrorReason::DuplicateId));
        }
        if let Some(qfi) = q.qfi.filter(|&v| v > 63) {
            return Err(err(RuleKind::Qer, q.id, RuleErrorReason::BadQfi(qfi)));
        }
    }
    let urrs = IdSet::new(s.urrs.iter().map(|u| u.id));
    for (i, u) in s.urrs.iter().enumerate() {
        if urrs.repeats_at(i) {
            return Err(err(RuleKind::Urr, u.id, RuleErrorReason::DuplicateId));
        }
    }
    for u in &s.urrs {
        if let Some(f) = u.far_id_for_quota_action {
            if !fars.contains(f) {
                return Err(err(RuleKind::Urr, u.id, RuleErrorReason::UnknownFar(f)));
            }
        }
        for l in &u.linked_urr_ids {
            if !urrs.contains(*l) {
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
    let pdrs = IdSet::new(s.pdrs.iter().map(|p| u32::from(p.id)));
    for (i, p) in s.pdrs.iter().enumerate() {
        let id = u32::from(p.id);
        if pdrs.repeats_at(i) {
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
            Some(f) if !fars.contains(f) => {
                return Err(err(RuleKind::Pdr, id, RuleErrorReason::UnknownFar(f)))
            }
            Some(_) => {}
        }
        for q in &p.qer_ids {
            if !qers.contains(*q) {
                return Err(err(RuleKind::Pdr, id, RuleErrorReason::UnknownQer(*q)));
            }
        }
        for u in &p.urr_ids {
            if !urrs.contains(*u) {
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

    proptest::proptest! {
        #[test]
        fn id_set_agrees_with_a_scan_in_message_order(
            ids in proptest::collection::vec(0u32..12, 0..24),
            probe in 0u32..14,
        ) {
            let set = IdSet::new(ids.iter().copied());
            // Reference: the first position whose ID appeared before it.
            let first = (0..ids.len()).find(|&i| ids[..i].contains(&ids[i]));
            for i in 0..ids.len() {
                proptest::prop_assert_eq!(set.repeats_at(i), Some(i) == first);
            }
            proptest::prop_assert_eq!(set.contains(probe), ids.contains(&probe));
        }
    }

    #[test]
    fn the_first_broken_rule_in_message_order_is_named() {
        // QER 1 has a bad QFI and QER 2 appears twice after it: the bad QFI
        // comes first in the message, so it is the error.
        let mut s = base();
        s.qers[0].qfi = Some(70);
        s.qers.push(Qer {
            id: 2,
            ..Default::default()
        });
        s.qers.push(Qer {
            id: 2,
            ..Default::default()
        });
        let e = s.validate().unwrap_err();
        assert_eq!((e.kind, e.id), (RuleKind::Qer, 1));
        assert_eq!(e.reason, RuleErrorReason::BadQfi(70));
        // Two IDs repeated: the repeat that comes first is named.
        let mut s = base();
        for id in [5, 6, 6, 5] {
            s.fars.push(Far {
                id,
                ..s.fars[0].clone()
            });
        }
        let e = s.validate().unwrap_err();
        assert_eq!(
            (e.kind, e.id, e.reason),
            (RuleKind::Far, 6, RuleErrorReason::DuplicateId)
        );
        // A large message: every ID distinct passes the ID checks.
        let mut s = base();
        for id in 2..5000 {
            s.urrs.push(Urr {
                id,
                ..Default::default()
            });
        }
        s.validate().unwrap();
    }
}
