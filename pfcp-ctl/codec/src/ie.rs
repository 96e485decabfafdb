//! The IE layer: TLV framing (TS 29.244 8.1.1) and the single-valued IEs
//! (8.2). Grouped IEs are in [`crate::group`].

use std::net::{Ipv4Addr, Ipv6Addr};

use crate::error::IeError;

/// IE type numbers (TS 29.244 Table 8.1.2-1).
#[allow(missing_docs)]
pub mod t {
    pub const CREATE_PDR: u16 = 1;
    pub const PDI: u16 = 2;
    pub const CREATE_FAR: u16 = 3;
    pub const FORWARDING_PARAMETERS: u16 = 4;
    pub const DUPLICATING_PARAMETERS: u16 = 5;
    pub const CREATE_URR: u16 = 6;
    pub const CREATE_QER: u16 = 7;
    pub const CREATED_PDR: u16 = 8;
    pub const UPDATE_PDR: u16 = 9;
    pub const UPDATE_FAR: u16 = 10;
    pub const UPDATE_FORWARDING_PARAMETERS: u16 = 11;
    pub const UPDATE_BAR_REPORT_RSP: u16 = 12;
    pub const UPDATE_URR: u16 = 13;
    pub const UPDATE_QER: u16 = 14;
    pub const REMOVE_PDR: u16 = 15;
    pub const REMOVE_FAR: u16 = 16;
    pub const REMOVE_URR: u16 = 17;
    pub const REMOVE_QER: u16 = 18;
    pub const CAUSE: u16 = 19;
    pub const SOURCE_INTERFACE: u16 = 20;
    pub const F_TEID: u16 = 21;
    pub const NETWORK_INSTANCE: u16 = 22;
    pub const SDF_FILTER: u16 = 23;
    pub const APPLICATION_ID: u16 = 24;
    pub const GATE_STATUS: u16 = 25;
    pub const MBR: u16 = 26;
    pub const GBR: u16 = 27;
    pub const QER_CORRELATION_ID: u16 = 28;
    pub const PRECEDENCE: u16 = 29;
    pub const TRANSPORT_LEVEL_MARKING: u16 = 30;
    pub const VOLUME_THRESHOLD: u16 = 31;
    pub const TIME_THRESHOLD: u16 = 32;
    pub const MONITORING_TIME: u16 = 33;
    pub const INACTIVITY_DETECTION_TIME: u16 = 36;
    pub const REPORTING_TRIGGERS: u16 = 37;
    pub const REPORT_TYPE: u16 = 39;
    pub const OFFENDING_IE: u16 = 40;
    pub const FORWARDING_POLICY: u16 = 41;
    pub const DESTINATION_INTERFACE: u16 = 42;
    pub const UP_FUNCTION_FEATURES: u16 = 43;
    pub const APPLY_ACTION: u16 = 44;
    pub const DOWNLINK_DATA_SERVICE_INFORMATION: u16 = 45;
    pub const DOWNLINK_DATA_NOTIFICATION_DELAY: u16 = 46;
    pub const DL_BUFFERING_DURATION: u16 = 47;
    pub const DL_BUFFERING_SUGGESTED_PACKET_COUNT: u16 = 48;
    pub const PFCPSMREQ_FLAGS: u16 = 49;
    pub const PFCPSRRSP_FLAGS: u16 = 50;
    pub const LOAD_CONTROL_INFORMATION: u16 = 51;
    pub const SEQUENCE_NUMBER: u16 = 52;
    pub const METRIC: u16 = 53;
    pub const OVERLOAD_CONTROL_INFORMATION: u16 = 54;
    pub const TIMER: u16 = 55;
    pub const PDR_ID: u16 = 56;
    pub const F_SEID: u16 = 57;
    pub const APPLICATION_IDS_PFDS: u16 = 58;
    pub const PFD_CONTEXT: u16 = 59;
    pub const NODE_ID: u16 = 60;
    pub const PFD_CONTENTS: u16 = 61;
    pub const MEASUREMENT_METHOD: u16 = 62;
    pub const USAGE_REPORT_TRIGGER: u16 = 63;
    pub const MEASUREMENT_PERIOD: u16 = 64;
    pub const FQ_CSID: u16 = 65;
    pub const VOLUME_MEASUREMENT: u16 = 66;
    pub const DURATION_MEASUREMENT: u16 = 67;
    pub const TIME_OF_FIRST_PACKET: u16 = 69;
    pub const TIME_OF_LAST_PACKET: u16 = 70;
    pub const QUOTA_HOLDING_TIME: u16 = 71;
    pub const VOLUME_QUOTA: u16 = 73;
    pub const TIME_QUOTA: u16 = 74;
    pub const START_TIME: u16 = 75;
    pub const END_TIME: u16 = 76;
    pub const QUERY_URR: u16 = 77;
    pub const USAGE_REPORT_MOD: u16 = 78;
    pub const USAGE_REPORT_DEL: u16 = 79;
    pub const USAGE_REPORT_RPT: u16 = 80;
    pub const URR_ID: u16 = 81;
    pub const LINKED_URR_ID: u16 = 82;
    pub const DOWNLINK_DATA_REPORT: u16 = 83;
    pub const OUTER_HEADER_CREATION: u16 = 84;
    pub const CREATE_BAR: u16 = 85;
    pub const UPDATE_BAR: u16 = 86;
    pub const REMOVE_BAR: u16 = 87;
    pub const BAR_ID: u16 = 88;
    pub const CP_FUNCTION_FEATURES: u16 = 89;
    pub const USAGE_INFORMATION: u16 = 90;
    pub const UE_IP_ADDRESS: u16 = 93;
    pub const OUTER_HEADER_REMOVAL: u16 = 95;
    pub const RECOVERY_TIME_STAMP: u16 = 96;
    pub const ERROR_INDICATION_REPORT: u16 = 99;
    pub const MEASUREMENT_INFORMATION: u16 = 100;
    pub const NODE_REPORT_TYPE: u16 = 101;
    pub const USER_PLANE_PATH_FAILURE_REPORT: u16 = 102;
    pub const REMOTE_GTPU_PEER: u16 = 103;
    pub const UR_SEQN: u16 = 104;
    pub const UPDATE_DUPLICATING_PARAMETERS: u16 = 105;
    pub const ACTIVATE_PREDEFINED_RULES: u16 = 106;
    pub const DEACTIVATE_PREDEFINED_RULES: u16 = 107;
    pub const FAR_ID: u16 = 108;
    pub const QER_ID: u16 = 109;
    pub const OCI_FLAGS: u16 = 110;
    pub const PFCP_ASSOCIATION_RELEASE_REQUEST: u16 = 111;
    pub const GRACEFUL_RELEASE_PERIOD: u16 = 112;
    pub const PDN_TYPE: u16 = 113;
    pub const FAILED_RULE_ID: u16 = 114;
    pub const USER_PLANE_IP_RESOURCE_INFORMATION: u16 = 116;
    pub const USER_PLANE_INACTIVITY_TIMER: u16 = 117;
    pub const RQI: u16 = 123;
    pub const QFI: u16 = 124;
    pub const QUERY_URR_REFERENCE: u16 = 125;
    pub const ADDITIONAL_USAGE_REPORTS_INFORMATION: u16 = 126;
    pub const SUGGESTED_BUFFERING_PACKETS_COUNT: u16 = 140;
    pub const FRAMED_ROUTE: u16 = 153;
    pub const FRAMED_ROUTING: u16 = 154;
    pub const FRAMED_IPV6_ROUTE: u16 = 155;
    pub const PAGING_POLICY_INDICATOR: u16 = 158;
    pub const APN_DNN: u16 = 159;
    pub const INTERFACE_TYPE_3GPP: u16 = 160;
    pub const PFCPSRREQ_FLAGS: u16 = 161;
    pub const PFCPAUREQ_FLAGS: u16 = 162;
    pub const UE_IP_ADDRESS_POOL_IDENTITY: u16 = 177;
    pub const PFCPASRSP_FLAGS: u16 = 184;
    pub const PFCPSEREQ_FLAGS: u16 = 186;
    pub const USER_PLANE_PATH_RECOVERY_REPORT: u16 = 187;
    pub const SOURCE_IP_ADDRESS: u16 = 192;
    pub const UE_IP_ADDRESS_POOL_INFORMATION: u16 = 233;
    pub const S_NSSAI: u16 = 257;
    pub const IP_VERSION: u16 = 258;
    pub const PFCPASREQ_FLAGS: u16 = 259;
}

/// Grouped IEs nest at most this deep (Create PDR > PDI > ... is 3 in
/// TS 29.244; a little slack for vendor extensions).
pub const MAX_DEPTH: u8 = 6;

/// One IE as found on the wire.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RawIe<'a> {
    /// Type.
    pub ie_type: u16,
    /// Enterprise ID of vendor-specific IEs (type >= 32768).
    pub enterprise: Option<u16>,
    /// Value.
    pub value: &'a [u8],
}

/// IEs of a grouped IE split on the stack (more go to the heap).
pub const STACK_IES: usize = 16;

/// Calls `f` with the IEs of `b`, split into an array on the stack when
/// there are at most [`STACK_IES`] of them (a grouped IE's members: no
/// allocation), else into a vector. Errors as [`parse_ies`].
pub fn with_ies<'a, R>(
    b: &'a [u8],
    f: impl FnOnce(&[RawIe<'a>]) -> Result<R, IeError>,
) -> Result<R, IeError> {
    let mut arr = [RawIe {
        ie_type: 0,
        enterprise: None,
        value: &[],
    }; STACK_IES];
    let mut n = 0;
    let mut rest = b;
    while !rest.is_empty() {
        let (ie, tail) = split_ie(rest)?;
        if n == STACK_IES {
            return f(&parse_ies(b)?);
        }
        arr[n] = ie;
        n += 1;
        rest = tail;
    }
    f(&arr[..n])
}

/// The first IE of `b` and what follows it.
fn split_ie(b: &[u8]) -> Result<(RawIe<'_>, &[u8]), IeError> {
    if b.len() < 4 {
        return Err(IeError::Truncated);
    }
    let ie_type = u16::from_be_bytes([b[0], b[1]]);
    let len = usize::from(u16::from_be_bytes([b[2], b[3]]));
    let rest = &b[4..];
    if rest.len() < len {
        return Err(IeError::Truncated);
    }
    let (enterprise, value) = if ie_type & 0x8000 != 0 {
        if len < 2 {
            return Err(IeError::BadLength(ie_type));
        }
        (Some(u16::from_be_bytes([rest[0], rest[1]])), &rest[2..len])
    } else {
        (None, &rest[..len])
    };
    Ok((
        RawIe {
            ie_type,
            enterprise,
            value,
        },
        &rest[len..],
    ))
}

/// Splits a buffer into IEs (no interpretation of values).
pub fn parse_ies(mut b: &[u8]) -> Result<Vec<RawIe<'_>>, IeError> {
    let mut out = Vec::with_capacity(8);
    while !b.is_empty() {
        let (ie, rest) = split_ie(b)?;
        out.push(ie);
        b = rest;
    }
    Ok(out)
}

/// A value that can be an IE's content.
pub trait IeValue: Sized {
    /// True for grouped IEs (whose errors cannot be discarded quietly).
    const GROUPED: bool = false;
    /// Decodes the value; `ie_type` names errors, `depth` bounds nesting.
    fn decode(v: &[u8], ie_type: u16, depth: u8) -> Result<Self, IeError>;
    /// Appends the value.
    fn encode(&self, out: &mut Vec<u8>);
}

/// Appends an IE header, the value, and patches the length.
pub fn put_ie<T: IeValue>(out: &mut Vec<u8>, ie_type: u16, v: &T) {
    let start = out.len();
    out.extend_from_slice(&ie_type.to_be_bytes());
    out.extend_from_slice(&[0, 0]);
    v.encode(out);
    let len = (out.len() - start - 4).min(usize::from(u16::MAX)) as u16;
    out[start + 2..start + 4].copy_from_slice(&len.to_be_bytes());
}

/// The first IE of `ie_type`, mandatory.
pub fn get_req<T: IeValue>(ies: &[RawIe<'_>], ie_type: u16, depth: u8) -> Result<T, IeError> {
    let ie = ies
        .iter()
        .find(|i| i.ie_type == ie_type && i.enterprise.is_none())
        .ok_or(IeError::Missing(ie_type))?;
    T::decode(ie.value, ie_type, depth + 1)
}

/// The first IE of `ie_type`, optional: an incorrect single-valued
/// optional IE is discarded (TS 29.244 7.6.1), an incorrect grouped one is
/// an error.
pub fn get_opt<T: IeValue>(
    ies: &[RawIe<'_>],
    ie_type: u16,
    depth: u8,
) -> Result<Option<T>, IeError> {
    match ies
        .iter()
        .find(|i| i.ie_type == ie_type && i.enterprise.is_none())
    {
        None => Ok(None),
        Some(ie) => match T::decode(ie.value, ie_type, depth + 1) {
            Ok(v) => Ok(Some(v)),
            Err(e) if T::GROUPED => Err(e),
            Err(_) => Ok(None),
        },
    }
}

/// Every IE of `ie_type`, with the same error policy as [`get_opt`].
pub fn get_many<T: IeValue>(ies: &[RawIe<'_>], ie_type: u16, depth: u8) -> Result<Vec<T>, IeError> {
    let wanted = |i: &&RawIe<'_>| i.ie_type == ie_type && i.enterprise.is_none();
    // Counted first so that the vector is allocated once, at its size (a
    // grouped value such as Create PDR is large, and growing it copies).
    let mut out = Vec::with_capacity(ies.iter().filter(wanted).count());
    for ie in ies.iter().filter(wanted) {
        match T::decode(ie.value, ie_type, depth + 1) {
            Ok(v) => out.push(v),
            Err(e) if T::GROUPED => return Err(e),
            Err(_) => {}
        }
    }
    Ok(out)
}

fn need(v: &[u8], n: usize, t: u16) -> Result<(), IeError> {
    if v.len() < n {
        Err(IeError::BadLength(t))
    } else {
        Ok(())
    }
}

fn be_uint(v: &[u8]) -> u64 {
    v.iter().fold(0u64, |a, b| (a << 8) | u64::from(*b))
}

macro_rules! uint_ie {
    ($(#[$m:meta])* $name:ident, $ty:ty, $n:expr) => {
        $(#[$m])*
        #[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
        pub struct $name(pub $ty);

        impl IeValue for $name {
            fn decode(v: &[u8], t: u16, _d: u8) -> Result<Self, IeError> {
                need(v, $n, t)?;
                Ok($name(be_uint(&v[..$n]) as $ty))
            }
            fn encode(&self, out: &mut Vec<u8>) {
                let b = (self.0 as u64).to_be_bytes();
                out.extend_from_slice(&b[8 - $n..]);
            }
        }
    };
}

uint_ie!(/// Cause (8.2.1), the raw value.
    CauseIe, u8, 1);
uint_ie!(/// Source Interface (8.2.2): low 4 bits.
    SourceInterface, u8, 1);
uint_ie!(/// Destination Interface (8.2.24): low 4 bits.
    DestinationInterface, u8, 1);
uint_ie!(/// QER Correlation ID (8.2.10).
    QerCorrelationId, u32, 4);
uint_ie!(/// Precedence (8.2.11).
    Precedence, u32, 4);
uint_ie!(/// Transport Level Marking (8.2.12): ToS/TC and mask.
    TransportLevelMarking, u16, 2);
uint_ie!(/// Time Threshold (8.2.14), seconds.
    TimeThreshold, u32, 4);
uint_ie!(/// Monitoring Time (8.2.15), NTP seconds.
    MonitoringTime, u32, 4);
uint_ie!(/// Inactivity Detection Time (8.2.18), seconds.
    InactivityDetectionTime, u32, 4);
uint_ie!(/// Report Type (8.2.21) flags: DLDR 0x01, USAR 0x02, ERIR 0x04, UPIR 0x08.
    ReportType, u8, 1);
uint_ie!(/// Offending IE (8.2.22): the type of the IE.
    OffendingIe, u16, 2);
uint_ie!(/// Downlink Data Notification Delay (8.2.28), units of 50 ms.
    DownlinkDataNotificationDelay, u8, 1);
uint_ie!(/// DL Buffering Duration (8.2.29), a timer value.
    DlBufferingDuration, u8, 1);
uint_ie!(/// PFCPSMReq-Flags (8.2.31): DROBU 0x01, SNDEM 0x02, QAURR 0x04.
    PfcpsmReqFlags, u8, 1);
uint_ie!(/// PFCPSRRsp-Flags (8.2.32): DROBU 0x01.
    PfcpsrRspFlags, u8, 1);
uint_ie!(/// Sequence Number (8.2.33).
    SequenceNumber, u32, 4);
uint_ie!(/// Metric (8.2.34).
    Metric, u8, 1);
uint_ie!(/// Timer (8.2.35).
    Timer, u8, 1);
uint_ie!(/// PDR ID (8.2.36).
    PdrId, u16, 2);
uint_ie!(/// Measurement Method (8.2.40): DURAT 0x01, VOLUM 0x02, EVENT 0x04.
    MeasurementMethod, u8, 1);
uint_ie!(/// Measurement Period (8.2.42), seconds.
    MeasurementPeriod, u32, 4);
uint_ie!(/// Duration Measurement (8.2.45), seconds.
    DurationMeasurement, u32, 4);
uint_ie!(/// Time of First Packet (8.2.46), NTP seconds.
    TimeOfFirstPacket, u32, 4);
uint_ie!(/// Time of Last Packet (8.2.47), NTP seconds.
    TimeOfLastPacket, u32, 4);
uint_ie!(/// Quota Holding Time (8.2.48), seconds.
    QuotaHoldingTime, u32, 4);
uint_ie!(/// Time Quota (8.2.51), seconds.
    TimeQuota, u32, 4);
uint_ie!(/// Start Time (8.2.52), NTP seconds.
    StartTime, u32, 4);
uint_ie!(/// End Time (8.2.53), NTP seconds.
    EndTime, u32, 4);
uint_ie!(/// URR ID (8.2.54).
    UrrId, u32, 4);
uint_ie!(/// Linked URR ID (8.2.55).
    LinkedUrrId, u32, 4);
uint_ie!(/// BAR ID (8.2.88).
    BarId, u8, 1);
uint_ie!(/// Usage Information (8.2.79): BEF 0x01, AFT 0x02, UAE 0x04, UBE 0x08.
    UsageInformation, u8, 1);
uint_ie!(/// Recovery Time Stamp (8.2.65), NTP seconds.
    RecoveryTimeStamp, u32, 4);
uint_ie!(/// Measurement Information (8.2.68): MBQE 0x01, INAM 0x02, RADI 0x04, ISTM 0x08, MNOP 0x10.
    MeasurementInformation, u8, 1);
uint_ie!(/// Node Report Type (8.2.69): UPFR 0x01, UPRR 0x02.
    NodeReportType, u8, 1);
uint_ie!(/// UR-SEQN (8.2.74).
    UrSeqn, u32, 4);
uint_ie!(/// FAR ID (8.2.74).
    FarId, u32, 4);
uint_ie!(/// QER ID (8.2.75).
    QerId, u32, 4);
uint_ie!(/// OCI Flags (8.2.76).
    OciFlags, u8, 1);
uint_ie!(/// PFCP Association Release Request (8.2.77): SARR 0x01, URSS 0x02.
    AssociationReleaseRequest, u8, 1);
uint_ie!(/// Graceful Release Period (8.2.78), a timer value.
    GracefulReleasePeriod, u8, 1);
uint_ie!(/// PDN Type (8.2.79).
    PdnType, u8, 1);
uint_ie!(/// User Plane Inactivity Timer (8.2.83), seconds.
    UserPlaneInactivityTimer, u32, 4);
uint_ie!(/// RQI (8.2.88).
    Rqi, u8, 1);
uint_ie!(/// QFI (8.2.89): low 6 bits.
    Qfi, u8, 1);
uint_ie!(/// Query URR Reference (8.2.90).
    QueryUrrReference, u32, 4);
uint_ie!(/// Additional Usage Reports Information (8.2.91).
    AdditionalUsageReportsInformation, u16, 2);
uint_ie!(/// Suggested Buffering Packets Count (8.2.95).
    SuggestedBufferingPacketsCount, u8, 1);
uint_ie!(/// Framed-Routing (8.2.110).
    FramedRouting, u32, 4);
uint_ie!(/// Paging Policy Indicator (8.2.116): low 3 bits.
    PagingPolicyIndicator, u8, 1);
uint_ie!(/// 3GPP Interface Type (8.2.118): low 6 bits.
    InterfaceType3gpp, u8, 1);
uint_ie!(/// PFCPSRReq-Flags (8.2.119): PSDBU 0x01.
    PfcpsrReqFlags, u8, 1);
uint_ie!(/// PFCPAUReq-Flags (8.2.120): PARPS 0x01.
    PfcpauReqFlags, u8, 1);
uint_ie!(/// PFCPASRsp-Flags (8.2.137): PSREI 0x01, UUPSI 0x02.
    PfcpasRspFlags, u8, 1);
uint_ie!(/// PFCPSEReq-Flags (8.2.140): RESTI 0x01, SUMPC 0x02.
    PfcpseReqFlags, u8, 1);
uint_ie!(/// IP version (8.2.163): V4 0x01, V6 0x02.
    IpVersion, u8, 1);
uint_ie!(/// PFCPASReq-Flags (8.2.164): UUPSI 0x01.
    PfcpasReqFlags, u8, 1);

/// Reporting Triggers (8.2.19): 2 octets before Rel-16, 3 from Rel-16.
/// Bits as [`upf_rules::ReportingTriggers`]: octet 5 in bits 0..8, octet 6
/// in bits 8..16, octet 7 in bits 16..24.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ReportingTriggers(pub u32);

impl IeValue for ReportingTriggers {
    fn decode(v: &[u8], t: u16, _d: u8) -> Result<Self, IeError> {
        need(v, 2, t)?;
        let o7 = v.get(2).copied().unwrap_or(0);
        Ok(ReportingTriggers(
            u32::from(v[0]) | (u32::from(v[1]) << 8) | (u32::from(o7) << 16),
        ))
    }
    fn encode(&self, out: &mut Vec<u8>) {
        out.extend_from_slice(&[self.0 as u8, (self.0 >> 8) as u8, (self.0 >> 16) as u8]);
    }
}

/// Usage Report Trigger (8.2.41): 3 octets, bits as
/// [`upf_rules::UsageReportTrigger`].
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct UsageReportTrigger(pub u32);

impl IeValue for UsageReportTrigger {
    fn decode(v: &[u8], t: u16, _d: u8) -> Result<Self, IeError> {
        need(v, 2, t)?;
        let o7 = v.get(2).copied().unwrap_or(0);
        Ok(UsageReportTrigger(
            u32::from(v[0]) | (u32::from(v[1]) << 8) | (u32::from(o7) << 16),
        ))
    }
    fn encode(&self, out: &mut Vec<u8>) {
        out.extend_from_slice(&[self.0 as u8, (self.0 >> 8) as u8, (self.0 >> 16) as u8]);
    }
}

/// Apply Action (8.2.26): 1 or 2 octets (the second from Rel-16).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ApplyAction(pub u16);

impl IeValue for ApplyAction {
    fn decode(v: &[u8], t: u16, _d: u8) -> Result<Self, IeError> {
        need(v, 1, t)?;
        Ok(ApplyAction(
            u16::from(v[0]) | (u16::from(v.get(1).copied().unwrap_or(0)) << 8),
        ))
    }
    fn encode(&self, out: &mut Vec<u8>) {
        out.push(self.0 as u8);
        out.push((self.0 >> 8) as u8);
    }
}

/// DL Buffering Suggested Packet Count (8.2.30): 1 or 2 octets.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct DlBufferingSuggestedPacketCount(pub u16);

impl IeValue for DlBufferingSuggestedPacketCount {
    fn decode(v: &[u8], t: u16, _d: u8) -> Result<Self, IeError> {
        match v.len() {
            1 => Ok(DlBufferingSuggestedPacketCount(u16::from(v[0]))),
            n if n >= 2 => Ok(DlBufferingSuggestedPacketCount(u16::from_be_bytes([
                v[0], v[1],
            ]))),
            _ => Err(IeError::BadLength(t)),
        }
    }
    fn encode(&self, out: &mut Vec<u8>) {
        out.extend_from_slice(&self.0.to_be_bytes());
    }
}

/// Octet-string IEs (Application ID, Framed-Route, ...).
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash)]
pub struct Bytes(pub Vec<u8>);

impl Bytes {
    /// As text (lossy).
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.0).into_owned()
    }
}

impl From<&str> for Bytes {
    fn from(s: &str) -> Self {
        Bytes(s.as_bytes().to_vec())
    }
}

impl IeValue for Bytes {
    fn decode(v: &[u8], _t: u16, _d: u8) -> Result<Self, IeError> {
        Ok(Bytes(v.to_vec()))
    }
    fn encode(&self, out: &mut Vec<u8>) {
        out.extend_from_slice(&self.0);
    }
}

/// Network Instance (8.2.4) or APN/DNN (8.2.103): octets that are either
/// a DNN in label encoding (TS 23.003 9.1) or, as many SMFs send, plain
/// text. [`NetworkInstance::name`] normalises both to dotted text.
#[derive(Clone, Default, PartialEq, Eq, Hash)]
pub struct NetworkInstance(pub Vec<u8>);

impl std::fmt::Debug for NetworkInstance {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "NetworkInstance({:?})", self.name())
    }
}

impl NetworkInstance {
    /// Label-encodes a dotted name (what 3GPP specifies).
    pub fn encoded(name: &str) -> Self {
        let mut v = Vec::new();
        for l in name.split('.').filter(|l| !l.is_empty()) {
            v.push(l.len().min(63) as u8);
            v.extend_from_slice(&l.as_bytes()[..l.len().min(63)]);
        }
        NetworkInstance(v)
    }

    /// The name as dotted text.
    pub fn name(&self) -> String {
        let v = &self.0;
        // Label encoding: every length octet must fit exactly, every label
        // printable ASCII; then the labels joined with dots (one allocation).
        let mut i = 0;
        let mut labelled = !v.is_empty();
        while i < v.len() {
            let l = usize::from(v[i]);
            if l == 0
                || i + 1 + l > v.len()
                || !v[i + 1..i + 1 + l].iter().all(|c| c.is_ascii_graphic())
            {
                labelled = false;
                break;
            }
            i += 1 + l;
        }
        if labelled {
            let mut s = String::with_capacity(v.len());
            let mut i = 0;
            while i < v.len() {
                let l = usize::from(v[i]);
                if i > 0 {
                    s.push('.');
                }
                // Printable ASCII (checked above): one char per octet.
                s.extend(v[i + 1..i + 1 + l].iter().map(|c| char::from(*c)));
                i += 1 + l;
            }
            s
        } else {
            String::from_utf8_lossy(v).into_owned()
        }
    }
}

impl IeValue for NetworkInstance {
    fn decode(v: &[u8], _t: u16, _d: u8) -> Result<Self, IeError> {
        Ok(NetworkInstance(v.to_vec()))
    }
    fn encode(&self, out: &mut Vec<u8>) {
        out.extend_from_slice(&self.0);
    }
}

fn v4(v: &[u8], o: usize) -> Ipv4Addr {
    Ipv4Addr::new(v[o], v[o + 1], v[o + 2], v[o + 3])
}

fn v6(v: &[u8], o: usize) -> Ipv6Addr {
    let mut a = [0u8; 16];
    a.copy_from_slice(&v[o..o + 16]);
    Ipv6Addr::from(a)
}

/// F-TEID (8.2.3).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct FTeid {
    /// TEID (absent when CH is set).
    pub teid: u32,
    /// IPv4 address.
    pub ipv4: Option<Ipv4Addr>,
    /// IPv6 address.
    pub ipv6: Option<Ipv6Addr>,
    /// CH: the UP function chooses the F-TEID.
    pub choose: bool,
    /// With CH: choose an IPv4 (V4) and/or IPv6 (V6) address.
    pub choose_v4: bool,
    /// See `choose_v4`.
    pub choose_v6: bool,
    /// CHOOSE ID: PDRs with the same ID share one chosen F-TEID.
    pub choose_id: Option<u8>,
}

impl IeValue for FTeid {
    fn decode(v: &[u8], t: u16, _d: u8) -> Result<Self, IeError> {
        need(v, 1, t)?;
        let f = v[0];
        let (has4, has6, ch, chid) = (f & 1 != 0, f & 2 != 0, f & 4 != 0, f & 8 != 0);
        if ch {
            need(v, 1 + usize::from(chid), t)?;
            return Ok(FTeid {
                choose: true,
                choose_v4: has4,
                choose_v6: has6,
                choose_id: chid.then(|| v[1]),
                ..Default::default()
            });
        }
        let mut o = 5;
        need(v, o, t)?;
        let teid = u32::from_be_bytes([v[1], v[2], v[3], v[4]]);
        let ipv4 = if has4 {
            need(v, o + 4, t)?;
            o += 4;
            Some(self::v4(v, o - 4))
        } else {
            None
        };
        let ipv6 = if has6 {
            need(v, o + 16, t)?;
            Some(self::v6(v, o))
        } else {
            None
        };
        if ipv4.is_none() && ipv6.is_none() {
            return Err(IeError::Invalid(t));
        }
        Ok(FTeid {
            teid,
            ipv4,
            ipv6,
            ..Default::default()
        })
    }
    fn encode(&self, out: &mut Vec<u8>) {
        if self.choose {
            let f = u8::from(self.choose_v4)
                | (u8::from(self.choose_v6) << 1)
                | 4
                | (u8::from(self.choose_id.is_some()) << 3);
            out.push(f);
            if let Some(id) = self.choose_id {
                out.push(id);
            }
            return;
        }
        out.push(u8::from(self.ipv4.is_some()) | (u8::from(self.ipv6.is_some()) << 1));
        out.extend_from_slice(&self.teid.to_be_bytes());
        if let Some(a) = self.ipv4 {
            out.extend_from_slice(&a.octets());
        }
        if let Some(a) = self.ipv6 {
            out.extend_from_slice(&a.octets());
        }
    }
}

/// F-SEID (8.2.37).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct FSeid {
    /// SEID.
    pub seid: u64,
    /// IPv4 address.
    pub ipv4: Option<Ipv4Addr>,
    /// IPv6 address.
    pub ipv6: Option<Ipv6Addr>,
}

impl IeValue for FSeid {
    fn decode(v: &[u8], t: u16, _d: u8) -> Result<Self, IeError> {
        need(v, 9, t)?;
        let f = v[0];
        let seid = be_uint(&v[1..9]);
        let mut o = 9;
        let ipv4 = if f & 2 != 0 {
            need(v, o + 4, t)?;
            o += 4;
            Some(self::v4(v, o - 4))
        } else {
            None
        };
        let ipv6 = if f & 1 != 0 {
            need(v, o + 16, t)?;
            Some(self::v6(v, o))
        } else {
            None
        };
        if ipv4.is_none() && ipv6.is_none() {
            return Err(IeError::Invalid(t));
        }
        Ok(FSeid { seid, ipv4, ipv6 })
    }
    fn encode(&self, out: &mut Vec<u8>) {
        out.push((u8::from(self.ipv4.is_some()) << 1) | u8::from(self.ipv6.is_some()));
        out.extend_from_slice(&self.seid.to_be_bytes());
        if let Some(a) = self.ipv4 {
            out.extend_from_slice(&a.octets());
        }
        if let Some(a) = self.ipv6 {
            out.extend_from_slice(&a.octets());
        }
    }
}

/// Node ID (8.2.38).
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum NodeId {
    /// An IPv4 address.
    Ipv4(Ipv4Addr),
    /// An IPv6 address.
    Ipv6(Ipv6Addr),
    /// An FQDN (label-encoded on the wire).
    Fqdn(String),
}

impl Default for NodeId {
    fn default() -> Self {
        NodeId::Ipv4(Ipv4Addr::UNSPECIFIED)
    }
}

impl std::fmt::Display for NodeId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            NodeId::Ipv4(a) => write!(f, "{a}"),
            NodeId::Ipv6(a) => write!(f, "{a}"),
            NodeId::Fqdn(s) => f.write_str(s),
        }
    }
}

impl IeValue for NodeId {
    fn decode(v: &[u8], t: u16, _d: u8) -> Result<Self, IeError> {
        need(v, 1, t)?;
        match v[0] & 0x0f {
            0 => {
                need(v, 5, t)?;
                Ok(NodeId::Ipv4(self::v4(v, 1)))
            }
            1 => {
                need(v, 17, t)?;
                Ok(NodeId::Ipv6(self::v6(v, 1)))
            }
            2 => {
                // An FQDN must be a proper label encoding (TS 29.244 8.2.38).
                let l = &v[1..];
                let mut i = 0;
                while i < l.len() {
                    let n = usize::from(l[i]);
                    let label = l.get(i + 1..i + 1 + n).ok_or(IeError::Invalid(t))?;
                    if n == 0
                        || !label
                            .iter()
                            .all(|c| c.is_ascii_alphanumeric() || *c == b'-' || *c == b'_')
                    {
                        return Err(IeError::Invalid(t));
                    }
                    i += 1 + n;
                }
                let name = NetworkInstance(l.to_vec()).name();
                if name.is_empty() {
                    return Err(IeError::Invalid(t));
                }
                Ok(NodeId::Fqdn(name))
            }
            _ => Err(IeError::Invalid(t)),
        }
    }
    fn encode(&self, out: &mut Vec<u8>) {
        match self {
            NodeId::Ipv4(a) => {
                out.push(0);
                out.extend_from_slice(&a.octets());
            }
            NodeId::Ipv6(a) => {
                out.push(1);
                out.extend_from_slice(&a.octets());
            }
            NodeId::Fqdn(s) => {
                out.push(2);
                out.extend_from_slice(&NetworkInstance::encoded(s).0);
            }
        }
    }
}

/// SDF Filter (8.2.5).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct SdfFilter {
    /// Flow Description (IPFilterRule text).
    pub flow_description: Option<String>,
    /// ToS/Traffic Class and mask.
    pub tos_tc: Option<(u8, u8)>,
    /// Security Parameter Index.
    pub spi: Option<u32>,
    /// Flow Label (20 bits).
    pub flow_label: Option<u32>,
    /// SDF Filter ID.
    pub filter_id: Option<u32>,
    /// BID: bidirectional.
    pub bidirectional: bool,
}

impl IeValue for SdfFilter {
    fn decode(v: &[u8], t: u16, _d: u8) -> Result<Self, IeError> {
        need(v, 2, t)?;
        let f = v[0];
        let mut o = 2;
        let mut s = SdfFilter {
            bidirectional: f & 0x10 != 0,
            ..Default::default()
        };
        if f & 0x01 != 0 {
            need(v, o + 2, t)?;
            let l = usize::from(u16::from_be_bytes([v[o], v[o + 1]]));
            o += 2;
            need(v, o + l, t)?;
            let text = std::str::from_utf8(&v[o..o + l]).map_err(|_| IeError::Invalid(t))?;
            s.flow_description = Some(text.trim_end_matches('\0').to_string());
            o += l;
        }
        if f & 0x02 != 0 {
            need(v, o + 2, t)?;
            s.tos_tc = Some((v[o], v[o + 1]));
            o += 2;
        }
        if f & 0x04 != 0 {
            need(v, o + 4, t)?;
            s.spi = Some(u32::from_be_bytes([v[o], v[o + 1], v[o + 2], v[o + 3]]));
            o += 4;
        }
        if f & 0x08 != 0 {
            need(v, o + 3, t)?;
            s.flow_label = Some(be_uint(&v[o..o + 3]) as u32 & 0xfffff);
            o += 3;
        }
        if f & 0x10 != 0 {
            need(v, o + 4, t)?;
            s.filter_id = Some(u32::from_be_bytes([v[o], v[o + 1], v[o + 2], v[o + 3]]));
        }
        Ok(s)
    }
    fn encode(&self, out: &mut Vec<u8>) {
        let f = u8::from(self.flow_description.is_some())
            | (u8::from(self.tos_tc.is_some()) << 1)
            | (u8::from(self.spi.is_some()) << 2)
            | (u8::from(self.flow_label.is_some()) << 3)
            | (u8::from(self.bidirectional || self.filter_id.is_some()) << 4);
        out.push(f);
        out.push(0);
        if let Some(fd) = &self.flow_description {
            out.extend_from_slice(&(fd.len() as u16).to_be_bytes());
            out.extend_from_slice(fd.as_bytes());
        }
        if let Some((a, b)) = self.tos_tc {
            out.extend_from_slice(&[a, b]);
        }
        if let Some(s) = self.spi {
            out.extend_from_slice(&s.to_be_bytes());
        }
        if let Some(l) = self.flow_label {
            out.extend_from_slice(&l.to_be_bytes()[1..]);
        }
        if self.bidirectional || self.filter_id.is_some() {
            out.extend_from_slice(&self.filter_id.unwrap_or(0).to_be_bytes());
        }
    }
}

/// Gate Status (8.2.7): 0 open, 1 closed per direction.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct GateStatus {
    /// Uplink gate.
    pub ul: u8,
    /// Downlink gate.
    pub dl: u8,
}

impl IeValue for GateStatus {
    fn decode(v: &[u8], t: u16, _d: u8) -> Result<Self, IeError> {
        need(v, 1, t)?;
        Ok(GateStatus {
            ul: (v[0] >> 2) & 3,
            dl: v[0] & 3,
        })
    }
    fn encode(&self, out: &mut Vec<u8>) {
        out.push(((self.ul & 3) << 2) | (self.dl & 3));
    }
}

/// MBR (8.2.8) or GBR (8.2.9): kbit/s per direction, 5 octets each.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct BitRate {
    /// Uplink, kbit/s.
    pub ul_kbps: u64,
    /// Downlink, kbit/s.
    pub dl_kbps: u64,
}

impl IeValue for BitRate {
    fn decode(v: &[u8], t: u16, _d: u8) -> Result<Self, IeError> {
        need(v, 10, t)?;
        Ok(BitRate {
            ul_kbps: be_uint(&v[0..5]),
            dl_kbps: be_uint(&v[5..10]),
        })
    }
    fn encode(&self, out: &mut Vec<u8>) {
        out.extend_from_slice(&self.ul_kbps.min(0xff_ffff_ffff).to_be_bytes()[3..]);
        out.extend_from_slice(&self.dl_kbps.min(0xff_ffff_ffff).to_be_bytes()[3..]);
    }
}

/// Volume Threshold (8.2.13), Volume Quota (8.2.50): flags TOVOL/ULVOL/DLVOL.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Volume {
    /// Total octets.
    pub total: Option<u64>,
    /// Uplink octets.
    pub ul: Option<u64>,
    /// Downlink octets.
    pub dl: Option<u64>,
}

impl IeValue for Volume {
    fn decode(v: &[u8], t: u16, _d: u8) -> Result<Self, IeError> {
        need(v, 1, t)?;
        let f = v[0];
        let mut o = 1;
        let mut next = |on: bool| -> Result<Option<u64>, IeError> {
            if !on {
                return Ok(None);
            }
            need(v, o + 8, t)?;
            o += 8;
            Ok(Some(be_uint(&v[o - 8..o])))
        };
        Ok(Volume {
            total: next(f & 1 != 0)?,
            ul: next(f & 2 != 0)?,
            dl: next(f & 4 != 0)?,
        })
    }
    fn encode(&self, out: &mut Vec<u8>) {
        out.push(
            u8::from(self.total.is_some())
                | (u8::from(self.ul.is_some()) << 1)
                | (u8::from(self.dl.is_some()) << 2),
        );
        for x in [self.total, self.ul, self.dl].into_iter().flatten() {
            out.extend_from_slice(&x.to_be_bytes());
        }
    }
}

/// Volume Measurement (8.2.44): octets and (Rel-16) packets.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct VolumeMeasurement {
    /// Total octets.
    pub total: Option<u64>,
    /// Uplink octets.
    pub ul: Option<u64>,
    /// Downlink octets.
    pub dl: Option<u64>,
    /// Total packets.
    pub total_packets: Option<u64>,
    /// Uplink packets.
    pub ul_packets: Option<u64>,
    /// Downlink packets.
    pub dl_packets: Option<u64>,
}

impl IeValue for VolumeMeasurement {
    fn decode(v: &[u8], t: u16, _d: u8) -> Result<Self, IeError> {
        need(v, 1, t)?;
        let f = v[0];
        let mut o = 1;
        let mut next = |on: bool| -> Result<Option<u64>, IeError> {
            if !on {
                return Ok(None);
            }
            need(v, o + 8, t)?;
            o += 8;
            Ok(Some(be_uint(&v[o - 8..o])))
        };
        Ok(VolumeMeasurement {
            total: next(f & 0x01 != 0)?,
            ul: next(f & 0x02 != 0)?,
            dl: next(f & 0x04 != 0)?,
            total_packets: next(f & 0x08 != 0)?,
            ul_packets: next(f & 0x10 != 0)?,
            dl_packets: next(f & 0x20 != 0)?,
        })
    }
    fn encode(&self, out: &mut Vec<u8>) {
        let vals = [
            self.total,
            self.ul,
            self.dl,
            self.total_packets,
            self.ul_packets,
            self.dl_packets,
        ];
        let mut f = 0u8;
        for (i, x) in vals.iter().enumerate() {
            if x.is_some() {
                f |= 1 << i;
            }
        }
        out.push(f);
        for x in vals.into_iter().flatten() {
            out.extend_from_slice(&x.to_be_bytes());
        }
    }
}

/// Forwarding Policy (8.2.23): a length octet and the identifier.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ForwardingPolicy(pub String);

impl IeValue for ForwardingPolicy {
    fn decode(v: &[u8], t: u16, _d: u8) -> Result<Self, IeError> {
        need(v, 1, t)?;
        let l = usize::from(v[0]);
        need(v, 1 + l, t)?;
        Ok(ForwardingPolicy(
            String::from_utf8_lossy(&v[1..1 + l]).into_owned(),
        ))
    }
    fn encode(&self, out: &mut Vec<u8>) {
        let b = &self.0.as_bytes()[..self.0.len().min(255)];
        out.push(b.len() as u8);
        out.extend_from_slice(b);
    }
}

/// UP/CP Function Features (8.2.25, 8.2.58): a bit string of octets.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Features(pub Vec<u8>);

impl Features {
    /// Whether feature bit `bit` of octet `octet` (5 = first) is set.
    pub fn has(&self, octet: usize, bit: u8) -> bool {
        self.0
            .get(octet.wrapping_sub(5))
            .is_some_and(|o| o & (1 << bit) != 0)
    }

    /// Sets feature bit `bit` (0 = bit 1) of octet `octet` (5 = first).
    pub fn set(&mut self, octet: usize, bit: u8) {
        let i = octet.saturating_sub(5);
        if self.0.len() <= i {
            self.0.resize(i + 1, 0);
        }
        self.0[i] |= 1 << bit;
    }
}

/// UP Function Features bits (TS 29.244 8.2.25) as (octet, bit).
#[allow(missing_docs)]
pub mod upf {
    pub const BUCP: (usize, u8) = (5, 0);
    pub const DDND: (usize, u8) = (5, 1);
    pub const DLBD: (usize, u8) = (5, 2);
    pub const TRST: (usize, u8) = (5, 3);
    pub const FTUP: (usize, u8) = (5, 4);
    pub const PFDM: (usize, u8) = (5, 5);
    pub const HEEU: (usize, u8) = (5, 6);
    pub const TREU: (usize, u8) = (5, 7);
    pub const EMPU: (usize, u8) = (6, 0);
    pub const PDIU: (usize, u8) = (6, 1);
    pub const UDBC: (usize, u8) = (6, 2);
    pub const QUOAC: (usize, u8) = (6, 3);
    pub const TRACE: (usize, u8) = (6, 4);
    pub const FRRT: (usize, u8) = (6, 5);
    pub const PFDE: (usize, u8) = (6, 6);
    pub const EPFAR: (usize, u8) = (6, 7);
    pub const DPDRA: (usize, u8) = (7, 0);
    pub const ADPDP: (usize, u8) = (7, 1);
    pub const UEIP: (usize, u8) = (7, 2);
    pub const SSET: (usize, u8) = (7, 3);
    pub const MNOP: (usize, u8) = (7, 4);
    pub const MTE: (usize, u8) = (7, 5);
    pub const BUNDL: (usize, u8) = (7, 6);
    pub const GCOM: (usize, u8) = (7, 7);
    pub const MPAS: (usize, u8) = (8, 0);
    pub const RTTL: (usize, u8) = (8, 1);
    pub const VTIME: (usize, u8) = (8, 2);
    pub const NORP: (usize, u8) = (8, 3);
    pub const IPTV: (usize, u8) = (8, 4);
    pub const IP6PL: (usize, u8) = (8, 5);
    pub const TSCU: (usize, u8) = (8, 6);
    pub const MPTCP: (usize, u8) = (8, 7);
    pub const ATSSSLL: (usize, u8) = (9, 0);
    pub const QFQM: (usize, u8) = (9, 1);
    pub const GPQM: (usize, u8) = (9, 2);
    pub const MTEDT: (usize, u8) = (9, 3);
    pub const CIOT: (usize, u8) = (9, 4);
    pub const ETHAR: (usize, u8) = (9, 5);
    pub const DDDS: (usize, u8) = (9, 6);
    pub const RDS: (usize, u8) = (9, 7);
    pub const RTTWP: (usize, u8) = (10, 0);
}

impl IeValue for Features {
    fn decode(v: &[u8], t: u16, _d: u8) -> Result<Self, IeError> {
        need(v, 1, t)?;
        Ok(Features(v.to_vec()))
    }
    fn encode(&self, out: &mut Vec<u8>) {
        out.extend_from_slice(&self.0);
    }
}

/// Downlink Data Service Information (8.2.27).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct DownlinkDataServiceInformation {
    /// Paging Policy Indication (6 bits).
    pub ppi: Option<u8>,
    /// QFI.
    pub qfi: Option<u8>,
}

impl IeValue for DownlinkDataServiceInformation {
    fn decode(v: &[u8], t: u16, _d: u8) -> Result<Self, IeError> {
        need(v, 1, t)?;
        let f = v[0];
        let mut o = 1;
        let mut r = DownlinkDataServiceInformation::default();
        if f & 1 != 0 {
            need(v, o + 1, t)?;
            r.ppi = Some(v[o] & 0x3f);
            o += 1;
        }
        if f & 2 != 0 {
            need(v, o + 1, t)?;
            r.qfi = Some(v[o] & 0x3f);
        }
        Ok(r)
    }
    fn encode(&self, out: &mut Vec<u8>) {
        out.push(u8::from(self.ppi.is_some()) | (u8::from(self.qfi.is_some()) << 1));
        if let Some(p) = self.ppi {
            out.push(p & 0x3f);
        }
        if let Some(q) = self.qfi {
            out.push(q & 0x3f);
        }
    }
}

/// Outer Header Creation (8.2.56).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct OuterHeaderCreation {
    /// Description bits (octets 5-6): 0x0100 GTP-U/UDP/IPv4, 0x0200
    /// GTP-U/UDP/IPv6, 0x0400 UDP/IPv4, 0x0800 UDP/IPv6, 0x1000 IPv4,
    /// 0x2000 IPv6, 0x4000 C-TAG, 0x8000 S-TAG, 0x0001 N19, 0x0002 N6.
    pub description: u16,
    /// TEID (GTP-U kinds).
    pub teid: Option<u32>,
    /// IPv4 address.
    pub ipv4: Option<Ipv4Addr>,
    /// IPv6 address.
    pub ipv6: Option<Ipv6Addr>,
    /// Port (UDP kinds).
    pub port: Option<u16>,
}

/// Outer Header Creation description: GTP-U/UDP/IPv4.
pub const OHC_GTPU_V4: u16 = 0x0100;
/// GTP-U/UDP/IPv6.
pub const OHC_GTPU_V6: u16 = 0x0200;
/// UDP/IPv4.
pub const OHC_UDP_V4: u16 = 0x0400;
/// UDP/IPv6.
pub const OHC_UDP_V6: u16 = 0x0800;
/// IPv4.
pub const OHC_IPV4: u16 = 0x1000;
/// IPv6.
pub const OHC_IPV6: u16 = 0x2000;

impl IeValue for OuterHeaderCreation {
    fn decode(v: &[u8], t: u16, _d: u8) -> Result<Self, IeError> {
        need(v, 2, t)?;
        let d = u16::from_be_bytes([v[0], v[1]]);
        let mut o = 2;
        let mut r = OuterHeaderCreation {
            description: d,
            ..Default::default()
        };
        if d & (OHC_GTPU_V4 | OHC_GTPU_V6) != 0 {
            need(v, o + 4, t)?;
            r.teid = Some(u32::from_be_bytes([v[o], v[o + 1], v[o + 2], v[o + 3]]));
            o += 4;
        }
        if d & (OHC_GTPU_V4 | OHC_UDP_V4 | OHC_IPV4) != 0 {
            need(v, o + 4, t)?;
            r.ipv4 = Some(self::v4(v, o));
            o += 4;
        }
        if d & (OHC_GTPU_V6 | OHC_UDP_V6 | OHC_IPV6) != 0 {
            need(v, o + 16, t)?;
            r.ipv6 = Some(self::v6(v, o));
            o += 16;
        }
        if d & (OHC_UDP_V4 | OHC_UDP_V6) != 0 {
            need(v, o + 2, t)?;
            r.port = Some(u16::from_be_bytes([v[o], v[o + 1]]));
        }
        if d & 0x3f00 == 0 && d & 0xc000 == 0 {
            return Err(IeError::Invalid(t));
        }
        Ok(r)
    }
    fn encode(&self, out: &mut Vec<u8>) {
        let d = self.description;
        out.extend_from_slice(&d.to_be_bytes());
        if d & (OHC_GTPU_V4 | OHC_GTPU_V6) != 0 {
            out.extend_from_slice(&self.teid.unwrap_or(0).to_be_bytes());
        }
        if d & (OHC_GTPU_V4 | OHC_UDP_V4 | OHC_IPV4) != 0 {
            out.extend_from_slice(&self.ipv4.unwrap_or(Ipv4Addr::UNSPECIFIED).octets());
        }
        if d & (OHC_GTPU_V6 | OHC_UDP_V6 | OHC_IPV6) != 0 {
            out.extend_from_slice(&self.ipv6.unwrap_or(Ipv6Addr::UNSPECIFIED).octets());
        }
        if d & (OHC_UDP_V4 | OHC_UDP_V6) != 0 {
            out.extend_from_slice(&self.port.unwrap_or(0).to_be_bytes());
        }
    }
}

/// Outer Header Removal (8.2.64).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct OuterHeaderRemoval {
    /// Description: 0 GTP-U/UDP/IPv4, 1 GTP-U/UDP/IPv6, 2 UDP/IPv4, 3
    /// UDP/IPv6, 4 IPv4, 5 IPv6, 6 GTP-U/UDP/IP, 7 VLAN S-TAG, 8 S-TAG and C-TAG.
    pub description: u8,
    /// GTP-U Extension Header Deletion (bit 1: PDU Session Container).
    pub ext_deletion: Option<u8>,
}

impl IeValue for OuterHeaderRemoval {
    fn decode(v: &[u8], t: u16, _d: u8) -> Result<Self, IeError> {
        need(v, 1, t)?;
        Ok(OuterHeaderRemoval {
            description: v[0],
            ext_deletion: v.get(1).copied(),
        })
    }
    fn encode(&self, out: &mut Vec<u8>) {
        out.push(self.description);
        if let Some(e) = self.ext_deletion {
            out.push(e);
        }
    }
}

/// UE IP Address (8.2.62).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct UeIpAddress {
    /// IPv4 address.
    pub ipv4: Option<Ipv4Addr>,
    /// IPv6 address.
    pub ipv6: Option<Ipv6Addr>,
    /// S/D: true when the address is a destination (downlink PDR).
    pub is_destination: bool,
    /// IPv6 prefix delegation bits (IPv6D).
    pub ipv6_prefix_delegation: Option<u8>,
    /// IPv6 prefix length (IP6PL).
    pub ipv6_prefix_len: Option<u8>,
    /// CHV4: the UP function allocates an IPv4 address.
    pub choose_v4: bool,
    /// CHV6: the UP function allocates an IPv6 prefix.
    pub choose_v6: bool,
}

impl IeValue for UeIpAddress {
    fn decode(v: &[u8], t: u16, _d: u8) -> Result<Self, IeError> {
        need(v, 1, t)?;
        let f = v[0];
        let mut o = 1;
        let mut r = UeIpAddress {
            is_destination: f & 0x04 != 0,
            choose_v4: f & 0x10 != 0,
            choose_v6: f & 0x20 != 0,
            ..Default::default()
        };
        if f & 0x02 != 0 && !r.choose_v4 {
            need(v, o + 4, t)?;
            r.ipv4 = Some(self::v4(v, o));
            o += 4;
        }
        if f & 0x01 != 0 && !r.choose_v6 {
            need(v, o + 16, t)?;
            r.ipv6 = Some(self::v6(v, o));
            o += 16;
        }
        if f & 0x08 != 0 {
            need(v, o + 1, t)?;
            r.ipv6_prefix_delegation = Some(v[o]);
            o += 1;
        }
        if f & 0x40 != 0 {
            need(v, o + 1, t)?;
            r.ipv6_prefix_len = Some(v[o]);
        }
        Ok(r)
    }
    fn encode(&self, out: &mut Vec<u8>) {
        let f = u8::from(self.ipv6.is_some() || self.choose_v6)
            | (u8::from(self.ipv4.is_some() || self.choose_v4) << 1)
            | (u8::from(self.is_destination) << 2)
            | (u8::from(self.ipv6_prefix_delegation.is_some()) << 3)
            | (u8::from(self.choose_v4) << 4)
            | (u8::from(self.choose_v6) << 5)
            | (u8::from(self.ipv6_prefix_len.is_some()) << 6);
        out.push(f);
        if let (Some(a), false) = (self.ipv4, self.choose_v4) {
            out.extend_from_slice(&a.octets());
        }
        if let (Some(a), false) = (self.ipv6, self.choose_v6) {
            out.extend_from_slice(&a.octets());
        }
        if let Some(p) = self.ipv6_prefix_delegation {
            out.push(p);
        }
        if let Some(p) = self.ipv6_prefix_len {
            out.push(p);
        }
    }
}

/// Remote GTP-U Peer (8.2.70).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct RemoteGtpuPeer {
    /// IPv4 address.
    pub ipv4: Option<Ipv4Addr>,
    /// IPv6 address.
    pub ipv6: Option<Ipv6Addr>,
    /// Destination interface (DI).
    pub destination_interface: Option<u8>,
    /// Network instance (NI).
    pub network_instance: Option<Vec<u8>>,
}

impl IeValue for RemoteGtpuPeer {
    fn decode(v: &[u8], t: u16, _d: u8) -> Result<Self, IeError> {
        need(v, 1, t)?;
        let f = v[0];
        let mut o = 1;
        let mut r = RemoteGtpuPeer::default();
        if f & 0x02 != 0 {
            need(v, o + 4, t)?;
            r.ipv4 = Some(self::v4(v, o));
            o += 4;
        }
        if f & 0x01 != 0 {
            need(v, o + 16, t)?;
            r.ipv6 = Some(self::v6(v, o));
            o += 16;
        }
        if f & 0x04 != 0 {
            need(v, o + 3, t)?;
            r.destination_interface = Some(v[o + 2] & 0x0f);
            o += 3;
        }
        if f & 0x08 != 0 {
            need(v, o + 2, t)?;
            let l = usize::from(u16::from_be_bytes([v[o], v[o + 1]]));
            need(v, o + 2 + l, t)?;
            r.network_instance = Some(v[o + 2..o + 2 + l].to_vec());
        }
        Ok(r)
    }
    fn encode(&self, out: &mut Vec<u8>) {
        out.push(
            u8::from(self.ipv6.is_some())
                | (u8::from(self.ipv4.is_some()) << 1)
                | (u8::from(self.destination_interface.is_some()) << 2)
                | (u8::from(self.network_instance.is_some()) << 3),
        );
        if let Some(a) = self.ipv4 {
            out.extend_from_slice(&a.octets());
        }
        if let Some(a) = self.ipv6 {
            out.extend_from_slice(&a.octets());
        }
        if let Some(d) = self.destination_interface {
            out.extend_from_slice(&[0, 1, d & 0x0f]);
        }
        if let Some(n) = &self.network_instance {
            out.extend_from_slice(&(n.len() as u16).to_be_bytes());
            out.extend_from_slice(n);
        }
    }
}

/// Failed Rule ID (8.2.80).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct FailedRuleId {
    /// 0 PDR, 1 FAR, 2 QER, 3 URR, 4 BAR.
    pub rule_type: u8,
    /// The rule's ID.
    pub id: u32,
}

impl IeValue for FailedRuleId {
    fn decode(v: &[u8], t: u16, _d: u8) -> Result<Self, IeError> {
        need(v, 1, t)?;
        let rt = v[0] & 0x1f;
        let n = match rt {
            0 => 2,
            1..=3 => 4,
            4 => 1,
            _ => return Err(IeError::Invalid(t)),
        };
        need(v, 1 + n, t)?;
        Ok(FailedRuleId {
            rule_type: rt,
            id: be_uint(&v[1..1 + n]) as u32,
        })
    }
    fn encode(&self, out: &mut Vec<u8>) {
        out.push(self.rule_type);
        match self.rule_type {
            0 => out.extend_from_slice(&(self.id as u16).to_be_bytes()),
            4 => out.push(self.id as u8),
            _ => out.extend_from_slice(&self.id.to_be_bytes()),
        }
    }
}

/// PFD Contents (8.2.39): the parts a UPF uses.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct PfdContents {
    /// Flow Description (FD).
    pub flow_description: Option<String>,
    /// URL.
    pub url: Option<String>,
    /// Domain Name (DN).
    pub domain_name: Option<String>,
    /// Custom PFD Content (CP).
    pub custom: Option<Vec<u8>>,
}

impl IeValue for PfdContents {
    fn decode(v: &[u8], t: u16, _d: u8) -> Result<Self, IeError> {
        need(v, 2, t)?;
        let f = v[0];
        let mut o = 2;
        let mut field = |on: bool| -> Result<Option<Vec<u8>>, IeError> {
            if !on {
                return Ok(None);
            }
            need(v, o + 2, t)?;
            let l = usize::from(u16::from_be_bytes([v[o], v[o + 1]]));
            need(v, o + 2 + l, t)?;
            let s = v[o + 2..o + 2 + l].to_vec();
            o += 2 + l;
            Ok(Some(s))
        };
        let s = |b: Option<Vec<u8>>| b.map(|x| String::from_utf8_lossy(&x).into_owned());
        Ok(PfdContents {
            flow_description: s(field(f & 0x01 != 0)?),
            url: s(field(f & 0x02 != 0)?),
            domain_name: s(field(f & 0x04 != 0)?),
            custom: field(f & 0x08 != 0)?,
        })
    }
    fn encode(&self, out: &mut Vec<u8>) {
        let f = u8::from(self.flow_description.is_some())
            | (u8::from(self.url.is_some()) << 1)
            | (u8::from(self.domain_name.is_some()) << 2)
            | (u8::from(self.custom.is_some()) << 3);
        out.push(f);
        out.push(0);
        let mut put = |b: &[u8]| {
            out.extend_from_slice(&(b.len() as u16).to_be_bytes());
            out.extend_from_slice(b);
        };
        if let Some(x) = &self.flow_description {
            put(x.as_bytes());
        }
        if let Some(x) = &self.url {
            put(x.as_bytes());
        }
        if let Some(x) = &self.domain_name {
            put(x.as_bytes());
        }
        if let Some(x) = &self.custom {
            put(x);
        }
    }
}

/// UE IP address Pool Identity (8.2.128): a 2-octet length and the name.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct PoolIdentity(pub String);

impl IeValue for PoolIdentity {
    fn decode(v: &[u8], t: u16, _d: u8) -> Result<Self, IeError> {
        need(v, 2, t)?;
        let l = usize::from(u16::from_be_bytes([v[0], v[1]]));
        need(v, 2 + l, t)?;
        Ok(PoolIdentity(
            String::from_utf8_lossy(&v[2..2 + l]).into_owned(),
        ))
    }
    fn encode(&self, out: &mut Vec<u8>) {
        out.extend_from_slice(&(self.0.len() as u16).to_be_bytes());
        out.extend_from_slice(self.0.as_bytes());
    }
}

/// S-NSSAI (8.2.156).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Snssai {
    /// Slice/service type.
    pub sst: u8,
    /// Slice differentiator.
    pub sd: [u8; 3],
}

impl IeValue for Snssai {
    fn decode(v: &[u8], t: u16, _d: u8) -> Result<Self, IeError> {
        need(v, 4, t)?;
        Ok(Snssai {
            sst: v[0],
            sd: [v[1], v[2], v[3]],
        })
    }
    fn encode(&self, out: &mut Vec<u8>) {
        out.push(self.sst);
        out.extend_from_slice(&self.sd);
    }
}

/// User Plane IP Resource Information (8.2.82; deprecated in 5GC but sent
/// by some SMFs): decoded for interop.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct UserPlaneIpResourceInformation {
    /// TEID range indication and range (TEIDRI, TEID Range).
    pub teid_range: Option<(u8, u8)>,
    /// IPv4 address.
    pub ipv4: Option<Ipv4Addr>,
    /// IPv6 address.
    pub ipv6: Option<Ipv6Addr>,
    /// Network instance (ASSONI).
    pub network_instance: Option<Vec<u8>>,
    /// Source interface (ASSOSI).
    pub source_interface: Option<u8>,
}

impl IeValue for UserPlaneIpResourceInformation {
    fn decode(v: &[u8], t: u16, _d: u8) -> Result<Self, IeError> {
        need(v, 1, t)?;
        let f = v[0];
        let mut o = 1;
        let mut r = UserPlaneIpResourceInformation::default();
        let teidri = (f >> 2) & 0x07;
        if teidri != 0 {
            need(v, o + 1, t)?;
            r.teid_range = Some((teidri, v[o]));
            o += 1;
        }
        if f & 0x01 != 0 {
            need(v, o + 4, t)?;
            r.ipv4 = Some(self::v4(v, o));
            o += 4;
        }
        if f & 0x02 != 0 {
            need(v, o + 16, t)?;
            r.ipv6 = Some(self::v6(v, o));
            o += 16;
        }
        let assosi = f & 0x40 != 0;
        if f & 0x20 != 0 {
            let end = if assosi {
                v.len().saturating_sub(1)
            } else {
                v.len()
            };
            r.network_instance = Some(v.get(o..end).unwrap_or(&[]).to_vec());
            o = end;
        }
        if assosi {
            need(v, o + 1, t)?;
            r.source_interface = Some(v[o] & 0x0f);
        }
        Ok(r)
    }
    fn encode(&self, out: &mut Vec<u8>) {
        let mut f = u8::from(self.ipv4.is_some()) | (u8::from(self.ipv6.is_some()) << 1);
        if let Some((ri, _)) = self.teid_range {
            f |= (ri & 7) << 2;
        }
        f |= u8::from(self.network_instance.is_some()) << 5;
        f |= u8::from(self.source_interface.is_some()) << 6;
        out.push(f);
        if let Some((_, r)) = self.teid_range {
            out.push(r);
        }
        if let Some(a) = self.ipv4 {
            out.extend_from_slice(&a.octets());
        }
        if let Some(a) = self.ipv6 {
            out.extend_from_slice(&a.octets());
        }
        if let Some(n) = &self.network_instance {
            out.extend_from_slice(n);
        }
        if let Some(s) = self.source_interface {
            out.push(s & 0x0f);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn network_instance_both_forms() {
        assert_eq!(NetworkInstance(b"internet".to_vec()).name(), "internet");
        assert_eq!(NetworkInstance(b"\x08internet".to_vec()).name(), "internet");
        assert_eq!(
            NetworkInstance::encoded("ims.mnc001").0,
            b"\x03ims\x06mnc001".to_vec()
        );
        assert_eq!(
            NetworkInstance(b"\x03ims\x06mnc001".to_vec()).name(),
            "ims.mnc001"
        );
        assert_eq!(NetworkInstance(vec![]).name(), "");
        // A length octet that overruns, a zero label, a non-printable label:
        // not label-encoded, so the octets as text.
        assert_eq!(
            NetworkInstance(b"\x09internet".to_vec()).name(),
            "\tinternet"
        );
        assert_eq!(
            NetworkInstance(b"\x03ims\x00".to_vec()).name(),
            "\x03ims\x00"
        );
        assert_eq!(NetworkInstance(b"\x02a\x01".to_vec()).name(), "\x02a\x01");
        assert_eq!(NetworkInstance(b"\x01a\x01b\x01c".to_vec()).name(), "a.b.c");
    }

    #[test]
    fn fteid_choose_and_concrete() {
        let mut out = Vec::new();
        FTeid {
            choose: true,
            choose_v4: true,
            choose_id: Some(7),
            ..Default::default()
        }
        .encode(&mut out);
        assert_eq!(out, vec![0x0d, 7]);
        let d = FTeid::decode(&out, t::F_TEID, 0).unwrap();
        assert!(d.choose && d.choose_v4 && !d.choose_v6);
        assert_eq!(d.choose_id, Some(7));
        // TEID 0x1234 with IPv4 198.18.3.2.
        let v = [0x01, 0, 0, 0x12, 0x34, 198, 18, 3, 2];
        let d = FTeid::decode(&v, t::F_TEID, 0).unwrap();
        assert_eq!(
            (d.teid, d.ipv4),
            (0x1234, Some(Ipv4Addr::new(198, 18, 3, 2)))
        );
        assert_eq!(
            FTeid::decode(&v[..7], t::F_TEID, 0),
            Err(IeError::BadLength(t::F_TEID))
        );
        // No address and no CH: invalid.
        assert_eq!(
            FTeid::decode(&[0, 0, 0, 0, 1], t::F_TEID, 0),
            Err(IeError::Invalid(t::F_TEID))
        );
    }

    #[test]
    fn apply_action_one_and_two_octets() {
        assert_eq!(ApplyAction::decode(&[0x02], 44, 0).unwrap().0, 0x02);
        assert_eq!(ApplyAction::decode(&[0x0c, 0x02], 44, 0).unwrap().0, 0x020c);
    }

    #[test]
    fn vendor_ies_are_kept_apart() {
        let b = [
            0x80, 0x01, 0x00, 0x03, 0x12, 0x34, 0xaa, 0x00, 0x13, 0x00, 0x01, 0x01,
        ];
        let ies = parse_ies(&b).unwrap();
        assert_eq!(ies[0].enterprise, Some(0x1234));
        assert_eq!(ies[0].value, &[0xaa]);
        assert_eq!(ies[1].ie_type, 19);
        assert_eq!(parse_ies(&b[..5]), Err(IeError::Truncated));
        // The stack split sees the same IEs and the same errors, below and
        // above its capacity.
        assert_eq!(with_ies(&b, |x| Ok(x.to_vec())), Ok(ies.clone()));
        assert_eq!(with_ies(&b[..5], |x| Ok(x.len())), Err(IeError::Truncated));
        let many: Vec<u8> = b
            .iter()
            .copied()
            .cycle()
            .take(b.len() * (STACK_IES + 3))
            .collect();
        let all = parse_ies(&many).unwrap();
        assert!(all.len() > STACK_IES);
        assert_eq!(with_ies(&many, |x| Ok(x.to_vec())), Ok(all));
        let mut torn = many.clone();
        torn.push(0);
        assert_eq!(with_ies(&torn, |x| Ok(x.len())), Err(IeError::Truncated));
    }
}
