//! What the dataplane measures and reports back (TS 29.244 7.5.8.3 Usage
//! Report IE in Session Report Request, and in Modification/Deletion
//! Responses).

use serde::{Deserialize, Serialize};

use crate::{PdrId, UrrId};

/// Usage Report Trigger flags (TS 29.244 8.2.41), octets 5..7 as bits 0..24.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct UsageReportTrigger(pub u32);

impl UsageReportTrigger {
    /// PERIO: periodic reporting.
    pub const PERIO: u32 = 1 << 0;
    /// VOLTH: volume threshold reached.
    pub const VOLTH: u32 = 1 << 1;
    /// TIMTH: time threshold reached.
    pub const TIMTH: u32 = 1 << 2;
    /// QUHTI: quota holding time.
    pub const QUHTI: u32 = 1 << 3;
    /// START: start of traffic.
    pub const START: u32 = 1 << 4;
    /// STOPT: stop of traffic.
    pub const STOPT: u32 = 1 << 5;
    /// DROTH: dropped DL traffic threshold.
    pub const DROTH: u32 = 1 << 6;
    /// IMMER: immediate report (Query URR).
    pub const IMMER: u32 = 1 << 7;
    /// VOLQU: volume quota exhausted.
    pub const VOLQU: u32 = 1 << 8;
    /// TIMQU: time quota exhausted.
    pub const TIMQU: u32 = 1 << 9;
    /// LIUSA: linked usage reporting.
    pub const LIUSA: u32 = 1 << 10;
    /// TERMR: termination report (URR removed or session deleted).
    pub const TERMR: u32 = 1 << 11;
    /// MONIT: monitoring time.
    pub const MONIT: u32 = 1 << 12;
    /// ENVCL: envelope closure.
    pub const ENVCL: u32 = 1 << 13;
    /// MACAR: MAC addresses reporting.
    pub const MACAR: u32 = 1 << 14;
    /// EVETH: event threshold.
    pub const EVETH: u32 = 1 << 15;
    /// EVEQU: event quota.
    pub const EVEQU: u32 = 1 << 16;
    /// TEBUR: termination by UP function report.
    pub const TEBUR: u32 = 1 << 17;
    /// IPMJL: IP multicast join/leave.
    pub const IPMJL: u32 = 1 << 18;
    /// QUVTI: quota validity time.
    pub const QUVTI: u32 = 1 << 19;
    /// EMRRE: end marker reception report.
    pub const EMRRE: u32 = 1 << 20;
    /// UPINT: user plane inactivity timer.
    pub const UPINT: u32 = 1 << 21;

    /// True if every bit of `flag` is set.
    pub fn has(self, flag: u32) -> bool {
        self.0 & flag == flag
    }
}

/// Volume measured since the last report (TS 29.244 8.2.44).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct VolumeMeasurement {
    /// Total octets (UL + DL).
    pub total_octets: u64,
    /// Uplink octets.
    pub uplink_octets: u64,
    /// Downlink octets.
    pub downlink_octets: u64,
    /// Total packets.
    pub total_packets: u64,
    /// Uplink packets.
    pub uplink_packets: u64,
    /// Downlink packets.
    pub downlink_packets: u64,
}

/// One usage report of one URR.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct UsageReport {
    /// The session (UP SEID).
    pub seid: u64,
    /// The URR.
    pub urr_id: UrrId,
    /// UR-SEQN: increments per report of this URR (TS 29.244 8.2.42).
    pub seqn: u32,
    /// Why it was sent.
    pub trigger: UsageReportTrigger,
    /// Start of the measurement period, UNIX time in seconds.
    pub start_time: u64,
    /// End of the measurement period, UNIX time in seconds.
    pub end_time: u64,
    /// Volume measured, when the URR measures volume.
    pub volume: Option<VolumeMeasurement>,
    /// Duration measured, seconds, when the URR measures duration.
    pub duration_s: Option<u32>,
    /// Time of the first packet in the period, UNIX seconds.
    pub first_packet_time: Option<u64>,
    /// Time of the last packet in the period, UNIX seconds.
    pub last_packet_time: Option<u64>,
    /// Usage information flags (TS 29.244 8.2.79): bit 0 BEF, 1 AFT, 2 UAE, 3 UBE.
    pub usage_information: u8,
    /// Query URR Reference, when this answers a query that carried one.
    pub query_reference: Option<u32>,
}

/// A downlink data report (TS 29.244 7.5.8.2): the first packet buffered or
/// dropped for a session whose FAR buffers or notifies.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct DownlinkDataReport {
    /// The session.
    pub seid: u64,
    /// The PDR that matched.
    pub pdr_id: PdrId,
    /// QFI of the packet, if known.
    pub qfi: Option<u8>,
    /// Paging policy indicator, if known.
    pub ppi: Option<u8>,
}
