//! The rule model the dataplane owns: a session with its PDRs, FARs, QERs,
//! URRs and optional BAR, with the semantics of 3GPP TS 29.244 but none of
//! its encoding.
//!
//! Who uses it:
//! - `pfcp-ctl` turns PFCP IEs into these types (after allocating F-TEIDs and
//!   UE addresses) and sends whole [`SessionRules`] to the dataplane;
//! - `mec-services` turns Mp1 traffic and DNS rules into [`steer`] types;
//! - the dataplane engine compiles them into its own lookup structures.
//!
//! What it must not do: no I/O, no knowledge of PFCP bytes or of the
//! dataplane's internal tables. Every type is plain data (`serde`), so the
//! control channel can carry it; [`SessionRules::validate`] is the one place
//! that decides whether a rule set is internally consistent.
#![cfg_attr(not(test), deny(clippy::unwrap_used))]
#![forbid(unsafe_code)]
#![deny(missing_docs)]

pub mod flow;
pub mod placement;
pub mod prefix;
pub mod report;
pub mod steer;
mod validate;

use std::net::{Ipv4Addr, Ipv6Addr};

use serde::{Deserialize, Serialize};

pub use flow::{AddrMatch, FlowDescription, FlowDirection, FlowParseError, FlowTuple, PortRange};
pub use prefix::{IpPrefix, PrefixParseError};
pub use report::{DownlinkDataReport, UsageReport, UsageReportTrigger, VolumeMeasurement};
pub use validate::{RuleError, RuleErrorReason, RuleKind};

/// A PDR identifier (TS 29.244 8.2.36, Rule ID).
pub type PdrId = u16;
/// A FAR identifier (TS 29.244 8.2.74).
pub type FarId = u32;
/// A QER identifier (TS 29.244 8.2.75).
pub type QerId = u32;
/// A URR identifier (TS 29.244 8.2.54).
pub type UrrId = u32;
/// A BAR identifier (TS 29.244 8.2.88).
pub type BarId = u8;

/// Source or destination interface (TS 29.244 8.2.2 and 8.2.24).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum Interface {
    /// Access (N3/N9 towards the RAN): value 0.
    Access,
    /// Core (N6/N9 towards the data network): value 1.
    Core,
    /// SGi-LAN / N6-LAN: value 2.
    SgiLan,
    /// CP-function: value 3.
    CpFunction,
    /// 5G VN internal: value 4.
    VnInternal,
}

impl Interface {
    /// The TS 29.244 value of this interface.
    pub fn value(self) -> u8 {
        match self {
            Interface::Access => 0,
            Interface::Core => 1,
            Interface::SgiLan => 2,
            Interface::CpFunction => 3,
            Interface::VnInternal => 4,
        }
    }

    /// The interface for a TS 29.244 value, if it is one we know.
    pub fn from_value(v: u8) -> Option<Self> {
        Some(match v {
            0 => Interface::Access,
            1 => Interface::Core,
            2 => Interface::SgiLan,
            3 => Interface::CpFunction,
            4 => Interface::VnInternal,
            _ => return None,
        })
    }
}

/// The complete rule set of one PFCP session, as the dataplane installs it.
///
/// The dataplane replaces a session's rules atomically with a new
/// `SessionRules` of the same `seid`; measurement state (URR counters, QER
/// token buckets, buffered packets) carries over for rule IDs that persist.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct SessionRules {
    /// The UP F-SEID (allocated by the UPF): the session's key everywhere.
    pub seid: u64,
    /// Packet detection rules.
    pub pdrs: Vec<Pdr>,
    /// Forwarding action rules.
    pub fars: Vec<Far>,
    /// QoS enforcement rules.
    pub qers: Vec<Qer>,
    /// Usage reporting rules.
    pub urrs: Vec<Urr>,
    /// Buffering action rule (at most one per session).
    pub bar: Option<Bar>,
}

/// A packet detection rule (TS 29.244 7.5.2.2).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Pdr {
    /// Rule ID.
    pub id: PdrId,
    /// Precedence: lower values are matched first (TS 29.244 5.2.1).
    pub precedence: u32,
    /// Packet detection information.
    pub pdi: Pdi,
    /// Outer header removal to apply on match.
    pub outer_header_removal: Option<OuterHeaderRemoval>,
    /// The FAR applied on match. A PDR may name a FAR created later in the
    /// same message, so this is resolved only when the whole set is known.
    pub far_id: Option<FarId>,
    /// URRs that measure matched packets.
    pub urr_ids: Vec<UrrId>,
    /// QERs enforced on matched packets.
    pub qer_ids: Vec<QerId>,
}

/// Packet detection information (TS 29.244 7.5.2.2-2).
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Pdi {
    /// Source interface; `None` only for rules the engine never matches
    /// (a PDR without source interface is rejected by [`SessionRules::validate`]).
    pub source_interface: Option<Interface>,
    /// The local F-TEID (already allocated when CHOOSE was asked).
    pub local_fteid: Option<LocalFteid>,
    /// Network instance (DNN / APN or a local data network). `None` and
    /// empty are equivalent: some SMFs send an empty one.
    pub network_instance: Option<String>,
    /// UE IP address (already allocated when CHOOSE was asked).
    pub ue_ip: Option<UeIp>,
    /// SDF filters; the PDR matches if any of them matches (or none is set).
    pub sdf_filters: Vec<SdfFilter>,
    /// Application ID whose PFDs select traffic.
    pub application_id: Option<String>,
    /// QFIs the packet must carry (uplink), empty for any.
    pub qfis: Vec<u8>,
    /// Framed routes behind the UE (downlink destination match).
    pub framed_routes: Vec<IpPrefix>,
}

/// A local F-TEID (TS 29.244 8.2.3), as installed (never CHOOSE).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct LocalFteid {
    /// Tunnel endpoint identifier.
    pub teid: u32,
    /// The UPF's IPv4 address for the tunnel.
    pub ipv4: Option<Ipv4Addr>,
    /// The UPF's IPv6 address for the tunnel.
    pub ipv6: Option<Ipv6Addr>,
}

/// A UE IP address (TS 29.244 8.2.62), as installed (never CHOOSE).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct UeIp {
    /// The UE's IPv4 address.
    pub ipv4: Option<Ipv4Addr>,
    /// The UE's IPv6 address or prefix.
    pub ipv6: Option<IpPrefix>,
    /// The S/D flag: true when the address is the destination (downlink
    /// PDR), false when it is the source (uplink PDR).
    pub is_destination: bool,
}

/// One SDF filter (TS 29.244 8.2.5). Every present component must match.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct SdfFilter {
    /// IPFilterRule flow description (TS 29.212 5.4.2).
    pub flow: Option<FlowDescription>,
    /// ToS (IPv4) or Traffic Class (IPv6): (value, mask).
    pub tos_tc: Option<(u8, u8)>,
    /// IPsec security parameter index.
    pub spi: Option<u32>,
    /// IPv6 flow label (20 bits).
    pub flow_label: Option<u32>,
    /// SDF filter ID, if the SMF gave one.
    pub filter_id: Option<u32>,
    /// Bidirectional: the filter also matches with source and destination swapped.
    pub bidirectional: bool,
}

/// Outer header removal (TS 29.244 8.2.64).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum OuterHeaderRemoval {
    /// 0: GTP-U/UDP/IPv4.
    GtpuUdpIpv4,
    /// 1: GTP-U/UDP/IPv6.
    GtpuUdpIpv6,
    /// 2: UDP/IPv4.
    UdpIpv4,
    /// 3: UDP/IPv6.
    UdpIpv6,
    /// 4: IPv4.
    Ipv4,
    /// 5: IPv6.
    Ipv6,
    /// 6: GTP-U/UDP/IP (either version) — sent by many SMFs.
    GtpuUdpIp,
    /// 7: VLAN S-TAG.
    VlanStag,
    /// 8: S-TAG and C-TAG.
    StagCtag,
}

impl OuterHeaderRemoval {
    /// True if this removal strips a GTP-U tunnel header.
    pub fn is_gtpu(self) -> bool {
        matches!(
            self,
            OuterHeaderRemoval::GtpuUdpIpv4
                | OuterHeaderRemoval::GtpuUdpIpv6
                | OuterHeaderRemoval::GtpuUdpIp
        )
    }
}

/// Apply Action flags (TS 29.244 8.2.26), first and second octet.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct ApplyAction(pub u16);

impl ApplyAction {
    /// DROP: drop the packets.
    pub const DROP: u16 = 0x0001;
    /// FORW: forward the packets.
    pub const FORW: u16 = 0x0002;
    /// BUFF: buffer the packets.
    pub const BUFF: u16 = 0x0004;
    /// NOCP: notify the CP function about the arrival of a first downlink packet.
    pub const NOCP: u16 = 0x0008;
    /// DUPL: duplicate the packets.
    pub const DUPL: u16 = 0x0010;
    /// IPMA: IP multicast accept.
    pub const IPMA: u16 = 0x0020;
    /// IPMD: IP multicast deny.
    pub const IPMD: u16 = 0x0040;
    /// DFRT: duplicate for redundant transmission.
    pub const DFRT: u16 = 0x0080;
    /// EDRT: eliminate duplicate packets for redundant transmission.
    pub const EDRT: u16 = 0x0100;
    /// BDPN: buffered downlink packet notification.
    pub const BDPN: u16 = 0x0200;
    /// DDPN: discarded downlink packet notification.
    pub const DDPN: u16 = 0x0400;

    /// True if every bit of `flag` is set.
    pub fn has(self, flag: u16) -> bool {
        self.0 & flag == flag
    }
}

/// A forwarding action rule (TS 29.244 7.5.2.3).
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Far {
    /// FAR ID.
    pub id: FarId,
    /// What to do with matched packets.
    pub apply_action: ApplyAction,
    /// Where to forward, when FORW is set.
    pub forwarding: Option<ForwardingParameters>,
    /// Duplication targets, when DUPL is set.
    pub duplicating: Vec<DuplicatingParameters>,
    /// The BAR that governs buffering, when BUFF is set.
    pub bar_id: Option<BarId>,
}

/// Forwarding parameters (TS 29.244 7.5.2.3-2).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ForwardingParameters {
    /// Destination interface.
    pub destination_interface: Interface,
    /// Network instance: selects the egress port and next hop.
    pub network_instance: Option<String>,
    /// Outer header to add.
    pub outer_header_creation: Option<OuterHeaderCreation>,
    /// Transport level marking: ToS/Traffic Class value (high octet) and mask (low octet).
    pub transport_level_marking: Option<u16>,
    /// Forwarding policy identifier (a local steering policy).
    pub forwarding_policy: Option<String>,
    /// Send an End Marker on the old tunnel when this FAR's tunnel changes
    /// (PFCPSMReq-Flags SNDEM in an Update Forwarding Parameters).
    pub send_end_marker: bool,
}

/// Duplicating parameters (TS 29.244 7.5.2.3-3).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct DuplicatingParameters {
    /// Destination interface of the copy.
    pub destination_interface: Interface,
    /// Outer header for the copy.
    pub outer_header_creation: Option<OuterHeaderCreation>,
    /// Transport level marking for the copy.
    pub transport_level_marking: Option<u16>,
    /// Forwarding policy for the copy.
    pub forwarding_policy: Option<String>,
}

/// Which outer header to build (TS 29.244 8.2.56).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum OuterHeaderKind {
    /// GTP-U/UDP/IPv4.
    GtpuUdpIpv4,
    /// GTP-U/UDP/IPv6.
    GtpuUdpIpv6,
    /// UDP/IPv4.
    UdpIpv4,
    /// UDP/IPv6.
    UdpIpv6,
    /// IPv4.
    Ipv4,
    /// IPv6.
    Ipv6,
}

/// Outer header creation (TS 29.244 8.2.56).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct OuterHeaderCreation {
    /// What to build.
    pub kind: OuterHeaderKind,
    /// Remote TEID (GTP-U kinds).
    pub teid: u32,
    /// Remote IPv4 address.
    pub ipv4: Option<Ipv4Addr>,
    /// Remote IPv6 address.
    pub ipv6: Option<Ipv6Addr>,
    /// Remote UDP port (UDP kinds; GTP-U uses 2152).
    pub port: Option<u16>,
}

/// Gate status of one direction (TS 29.244 8.2.7).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub enum Gate {
    /// Packets pass.
    #[default]
    Open,
    /// Packets are dropped.
    Closed,
}

/// A QoS enforcement rule (TS 29.244 7.5.2.5).
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Qer {
    /// QER ID.
    pub id: QerId,
    /// QER correlation ID (shared across sessions: an APN-AMBR).
    pub correlation_id: Option<u32>,
    /// Uplink gate.
    pub gate_ul: Gate,
    /// Downlink gate.
    pub gate_dl: Gate,
    /// Uplink maximum bit rate, kbit/s (TS 29.244 8.2.8).
    pub mbr_ul_kbps: Option<u64>,
    /// Downlink maximum bit rate, kbit/s.
    pub mbr_dl_kbps: Option<u64>,
    /// Uplink guaranteed bit rate, kbit/s (recorded; the UPF does not reserve).
    pub gbr_ul_kbps: Option<u64>,
    /// Downlink guaranteed bit rate, kbit/s.
    pub gbr_dl_kbps: Option<u64>,
    /// QFI to mark (downlink PDU Session Container) or to check.
    pub qfi: Option<u8>,
    /// Reflective QoS indication to send in the PDU Session Container.
    pub rqi: bool,
    /// Paging policy indicator (for the PDU Session Container PPI).
    pub ppi: Option<u8>,
}

/// Measurement method (TS 29.244 8.2.40).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct MeasurementMethod {
    /// DURAT: measure duration.
    pub duration: bool,
    /// VOLUM: measure volume.
    pub volume: bool,
    /// EVENT: count events.
    pub event: bool,
}

/// Reporting triggers (TS 29.244 8.2.19), as a bit set of the three octets
/// (octet 5 in bits 0..8, octet 6 in bits 8..16, octet 7 in bits 16..24).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReportingTriggers(pub u32);

impl ReportingTriggers {
    /// PERIO: periodic reporting.
    pub const PERIO: u32 = 1 << 0;
    /// VOLTH: volume threshold.
    pub const VOLTH: u32 = 1 << 1;
    /// TIMTH: time threshold.
    pub const TIMTH: u32 = 1 << 2;
    /// QUHTI: quota holding time.
    pub const QUHTI: u32 = 1 << 3;
    /// START: start of traffic.
    pub const START: u32 = 1 << 4;
    /// STOPT: stop of traffic.
    pub const STOPT: u32 = 1 << 5;
    /// DROTH: dropped DL traffic threshold.
    pub const DROTH: u32 = 1 << 6;
    /// LIUSA: linked usage reporting.
    pub const LIUSA: u32 = 1 << 7;
    /// VOLQU: volume quota.
    pub const VOLQU: u32 = 1 << 8;
    /// TIMQU: time quota.
    pub const TIMQU: u32 = 1 << 9;
    /// ENVCL: envelope closure.
    pub const ENVCL: u32 = 1 << 10;
    /// MACAR: MAC addresses reporting.
    pub const MACAR: u32 = 1 << 11;
    /// EVETH: event threshold.
    pub const EVETH: u32 = 1 << 12;
    /// EVEQU: event quota.
    pub const EVEQU: u32 = 1 << 13;
    /// IPMJL: IP multicast join/leave.
    pub const IPMJL: u32 = 1 << 14;
    /// QUVTI: quota validity time.
    pub const QUVTI: u32 = 1 << 15;
    /// REEMR: report the end marker reception.
    pub const REEMR: u32 = 1 << 16;
    /// UPINT: user plane inactivity timer.
    pub const UPINT: u32 = 1 << 17;

    /// True if every bit of `flag` is set.
    pub fn has(self, flag: u32) -> bool {
        self.0 & flag == flag
    }
}

/// Volume amounts in octets (TS 29.244 8.2.13 / 8.2.50).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Volume {
    /// Total (UL + DL).
    pub total: Option<u64>,
    /// Uplink.
    pub uplink: Option<u64>,
    /// Downlink.
    pub downlink: Option<u64>,
}

impl Volume {
    /// True if no component is set.
    pub fn is_empty(&self) -> bool {
        self.total.is_none() && self.uplink.is_none() && self.downlink.is_none()
    }
}

/// A usage reporting rule (TS 29.244 7.5.2.4).
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Urr {
    /// URR ID.
    pub id: UrrId,
    /// What to measure.
    pub method: MeasurementMethod,
    /// When to report.
    pub triggers: ReportingTriggers,
    /// Period for PERIO, seconds.
    pub measurement_period_s: Option<u32>,
    /// Volume threshold for VOLTH.
    pub volume_threshold: Volume,
    /// Volume quota for VOLQU: once exhausted, traffic is dropped (or sent to
    /// the FAR for quota action).
    pub volume_quota: Volume,
    /// Time threshold for TIMTH, seconds.
    pub time_threshold_s: Option<u32>,
    /// Time quota for TIMQU, seconds.
    pub time_quota_s: Option<u32>,
    /// Quota holding time, seconds.
    pub quota_holding_time_s: Option<u32>,
    /// Inactivity detection time, seconds: usage time pauses after this much silence.
    pub inactivity_detection_time_s: Option<u32>,
    /// Measurement information flags (TS 29.244 8.2.68): bit 0 MBQE, 1 INAM,
    /// 2 RADI, 3 ISTM, 4 MNOP.
    pub measurement_info: u8,
    /// FAR applied instead of the PDR's FAR once a quota is exhausted.
    pub far_id_for_quota_action: Option<FarId>,
    /// Linked URRs (LIUSA).
    pub linked_urr_ids: Vec<UrrId>,
}

impl Urr {
    /// MBQE: measurement before QoS enforcement.
    pub const INFO_MBQE: u8 = 0x01;
    /// INAM: inactive measurement (measurement paused).
    pub const INFO_INAM: u8 = 0x02;
    /// ISTM: immediate start time metering.
    pub const INFO_ISTM: u8 = 0x08;
    /// MNOP: measurement of number of packets.
    pub const INFO_MNOP: u8 = 0x10;
}

/// A buffering action rule (TS 29.244 7.5.2.6).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Bar {
    /// BAR ID.
    pub id: BarId,
    /// Delay before a Downlink Data Report, milliseconds (8.2.28: units of 50 ms on the wire).
    pub dl_data_notification_delay_ms: Option<u32>,
    /// Suggested buffering packets count (8.2.97).
    pub suggested_buffering_packets: Option<u8>,
}

/// One PFD of an application (TS 29.244 8.2.39, PFD Contents).
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Pfd {
    /// IP 3-tuple flow descriptions (protocol, server address, server port).
    pub flows: Vec<FlowDescription>,
    /// Domain names (matched against DNS queries and TLS SNI where seen).
    pub domain_names: Vec<String>,
    /// URLs (kept for reference; HTTP URL matching is not done in the fast path).
    pub urls: Vec<String>,
}

impl SessionRules {
    /// Checks the set for internal consistency: unique IDs, references to
    /// FARs/QERs/URRs/BAR that exist, the PDI elements a PDR of its source
    /// interface needs. The error names the rule that failed, for a PFCP
    /// "Rule creation/modification failure" with Failed Rule ID.
    pub fn validate(&self) -> Result<(), RuleError> {
        validate::validate(self)
    }

    /// Finds a FAR by ID.
    pub fn far(&self, id: FarId) -> Option<&Far> {
        self.fars.iter().find(|f| f.id == id)
    }

    /// Finds a PDR by ID.
    pub fn pdr(&self, id: PdrId) -> Option<&Pdr> {
        self.pdrs.iter().find(|p| p.id == id)
    }
}
