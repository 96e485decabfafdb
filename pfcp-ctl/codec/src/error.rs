//! Errors of the codec and the PFCP Cause values (TS 29.244 8.2.1).

/// Cause values (TS 29.244 Table 8.2.1-1, Release 17).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[repr(u8)]
pub enum Cause {
    /// 1: Request accepted (success).
    RequestAccepted = 1,
    /// 2: More Usage Report to send.
    MoreUsageReportToSend = 2,
    /// 3: Request partially accepted.
    RequestPartiallyAccepted = 3,
    /// 64: Request rejected (reason not specified).
    RequestRejected = 64,
    /// 65: Session context not found.
    SessionContextNotFound = 65,
    /// 66: Mandatory IE missing.
    MandatoryIeMissing = 66,
    /// 67: Conditional IE missing.
    ConditionalIeMissing = 67,
    /// 68: Invalid length.
    InvalidLength = 68,
    /// 69: Mandatory IE incorrect.
    MandatoryIeIncorrect = 69,
    /// 70: Invalid Forwarding Policy.
    InvalidForwardingPolicy = 70,
    /// 71: Invalid F-TEID allocation option.
    InvalidFteidAllocationOption = 71,
    /// 72: No established PFCP Association.
    NoEstablishedPfcpAssociation = 72,
    /// 73: Rule creation/modification Failure.
    RuleCreationModificationFailure = 73,
    /// 74: PFCP entity in congestion.
    PfcpEntityInCongestion = 74,
    /// 75: No resources available.
    NoResourcesAvailable = 75,
    /// 76: Service not supported.
    ServiceNotSupported = 76,
    /// 77: System failure.
    SystemFailure = 77,
    /// 78: Redirection Requested.
    RedirectionRequested = 78,
    /// 79: All dynamic addresses are occupied.
    AllDynamicAddressesAreOccupied = 79,
    /// 80: Unknown Pre-defined Rule.
    UnknownPredefinedRule = 80,
    /// 81: Unknown Application ID.
    UnknownApplicationId = 81,
    /// 82: L2TP tunnel Establishment failure.
    L2tpTunnelEstablishmentFailure = 82,
    /// 83: L2TP session Establishment failure.
    L2tpSessionEstablishmentFailure = 83,
    /// 84: L2TP tunnel release.
    L2tpTunnelRelease = 84,
    /// 85: L2TP session release.
    L2tpSessionRelease = 85,
    /// 86: PFCP session restoration failure due to requested SEID already in use.
    PfcpSessionRestorationFailure = 86,
}

impl Cause {
    /// The cause of a value, if known.
    pub fn from_u8(v: u8) -> Option<Cause> {
        use Cause::*;
        Some(match v {
            1 => RequestAccepted,
            2 => MoreUsageReportToSend,
            3 => RequestPartiallyAccepted,
            64 => RequestRejected,
            65 => SessionContextNotFound,
            66 => MandatoryIeMissing,
            67 => ConditionalIeMissing,
            68 => InvalidLength,
            69 => MandatoryIeIncorrect,
            70 => InvalidForwardingPolicy,
            71 => InvalidFteidAllocationOption,
            72 => NoEstablishedPfcpAssociation,
            73 => RuleCreationModificationFailure,
            74 => PfcpEntityInCongestion,
            75 => NoResourcesAvailable,
            76 => ServiceNotSupported,
            77 => SystemFailure,
            78 => RedirectionRequested,
            79 => AllDynamicAddressesAreOccupied,
            80 => UnknownPredefinedRule,
            81 => UnknownApplicationId,
            82 => L2tpTunnelEstablishmentFailure,
            83 => L2tpSessionEstablishmentFailure,
            84 => L2tpTunnelRelease,
            85 => L2tpSessionRelease,
            86 => PfcpSessionRestorationFailure,
            _ => return None,
        })
    }

    /// True for the acceptance values (1..=63).
    pub fn is_accepted(self) -> bool {
        (self as u8) < 64
    }
}

/// Why an IE (or a group of IEs) did not decode.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
pub enum IeError {
    /// The IE list ends inside an IE header or value.
    #[error("IE list truncated")]
    Truncated,
    /// An IE's value is shorter than its format needs, or longer where the
    /// format forbids it (the IE's type).
    #[error("IE {0} has an invalid length")]
    BadLength(u16),
    /// An IE's value is not allowed (the IE's type).
    #[error("IE {0} has an invalid value")]
    Invalid(u16),
    /// A mandatory IE is missing (its type).
    #[error("mandatory IE {0} missing")]
    Missing(u16),
    /// Grouped IEs nest deeper than the specification allows.
    #[error("grouped IEs nested too deep")]
    TooDeep,
}

impl IeError {
    /// The cause to answer with, and the offending IE type.
    pub fn cause(&self) -> (Cause, Option<u16>) {
        match *self {
            IeError::Missing(t) => (Cause::MandatoryIeMissing, Some(t)),
            IeError::BadLength(t) | IeError::Invalid(t) => (Cause::MandatoryIeIncorrect, Some(t)),
            IeError::Truncated => (Cause::InvalidLength, None),
            IeError::TooDeep => (Cause::MandatoryIeIncorrect, None),
        }
    }
}

/// Why a datagram did not decode.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
pub enum DecodeError {
    /// Shorter than a PFCP header, or the header's length runs past the
    /// datagram: silently discarded (TS 29.244 7.6.3).
    #[error("datagram shorter than its PFCP header says")]
    Truncated,
    /// Another PFCP version: answer with Version Not Supported (7.6.2).
    #[error("PFCP version {version} not supported")]
    Version {
        /// The version received.
        version: u8,
        /// The sequence number, for the answer.
        seq: u32,
    },
    /// A message type we do not know: silently discarded (7.6.4).
    #[error("unknown PFCP message type {0}")]
    UnknownMessage(u8),
    /// The header is valid but the body is not: answer with the cause of
    /// `error` (7.6.6).
    #[error("message {msg_type} (seq {seq}): {error}")]
    Body {
        /// The message type.
        msg_type: u8,
        /// The sequence number.
        seq: u32,
        /// The SEID of a session message.
        seid: Option<u64>,
        /// What is wrong.
        error: IeError,
    },
}
