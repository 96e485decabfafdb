//! Grouped IEs (TS 29.244 7.5), declared once with their members'
//! presence (`req` mandatory, `opt` optional/conditional, `many` repeated).

use crate::error::IeError;
use crate::ie::*;

/// Declares a struct of IEs with its decoder and encoder.
#[macro_export]
#[doc(hidden)]
macro_rules! ie_struct {
    ($(#[$m:meta])* $name:ident { $( $(#[$fm:meta])* $field:ident : $kind:ident $ty:ty = $code:expr ),* $(,)? }) => {
        $(#[$m])*
        #[derive(Clone, Debug, Default, PartialEq)]
        pub struct $name { $( $(#[$fm])* pub $field: $crate::ie_struct!(@ty $kind $ty) ),* }

        impl $name {
            /// Decodes the members from an IE list.
            #[allow(unused_variables)]
            pub fn from_ies(ies: &[$crate::ie::RawIe<'_>], depth: u8) -> Result<Self, $crate::error::IeError> {
                Ok($name { $( $field: $crate::ie_struct!(@get $kind $ty, ies, $code, depth) ),* })
            }

            /// Appends the members as IEs.
            #[allow(unused_variables)]
            pub fn to_ies(&self, out: &mut Vec<u8>) {
                $( $crate::ie_struct!(@put $kind self.$field, $code, out); )*
            }
        }
    };
    (@ty req $t:ty) => { $t };
    (@ty opt $t:ty) => { Option<$t> };
    (@ty many $t:ty) => { Vec<$t> };
    (@get req $t:ty, $ies:ident, $code:expr, $d:ident) => { $crate::ie::get_req::<$t>($ies, $code, $d)? };
    (@get opt $t:ty, $ies:ident, $code:expr, $d:ident) => { $crate::ie::get_opt::<$t>($ies, $code, $d)? };
    (@get many $t:ty, $ies:ident, $code:expr, $d:ident) => { $crate::ie::get_many::<$t>($ies, $code, $d)? };
    (@put req $f:expr, $code:expr, $out:ident) => { $crate::ie::put_ie($out, $code, &$f) };
    (@put opt $f:expr, $code:expr, $out:ident) => { if let Some(x) = &$f { $crate::ie::put_ie($out, $code, x) } };
    (@put many $f:expr, $code:expr, $out:ident) => { for x in &$f { $crate::ie::put_ie($out, $code, x) } };
}

/// Declares a grouped IE: an [`ie_struct!`] that is also an [`IeValue`].
macro_rules! grouped {
    ($(#[$m:meta])* $name:ident { $($body:tt)* }) => {
        $crate::ie_struct!($(#[$m])* $name { $($body)* });
        impl IeValue for $name {
            const GROUPED: bool = true;
            fn decode(v: &[u8], _t: u16, depth: u8) -> Result<Self, IeError> {
                if depth > MAX_DEPTH {
                    return Err(IeError::TooDeep);
                }
                with_ies(v, |ies| $name::from_ies(ies, depth))
            }
            fn encode(&self, out: &mut Vec<u8>) {
                self.to_ies(out)
            }
        }
    };
}

grouped!(
    /// PDI (7.5.2.2-2).
    Pdi {
        /// Source Interface.
        source_interface: req SourceInterface = t::SOURCE_INTERFACE,
        /// Local F-TEID.
        local_fteid: opt FTeid = t::F_TEID,
        /// Network Instance.
        network_instance: opt NetworkInstance = t::NETWORK_INSTANCE,
        /// UE IP Address (one per family from Rel-16).
        ue_ip_address: many UeIpAddress = t::UE_IP_ADDRESS,
        /// SDF Filters.
        sdf_filters: many SdfFilter = t::SDF_FILTER,
        /// Application ID.
        application_id: opt Bytes = t::APPLICATION_ID,
        /// QFIs.
        qfi: many Qfi = t::QFI,
        /// Framed-Route.
        framed_route: many Bytes = t::FRAMED_ROUTE,
        /// Framed-Routing.
        framed_routing: opt FramedRouting = t::FRAMED_ROUTING,
        /// Framed-IPv6-Route.
        framed_ipv6_route: many Bytes = t::FRAMED_IPV6_ROUTE,
        /// Source Interface Type (3GPP Interface Type).
        source_interface_type: opt InterfaceType3gpp = t::INTERFACE_TYPE_3GPP,
    }
);

grouped!(
    /// Create PDR (7.5.2.2).
    CreatePdr {
        /// PDR ID.
        pdr_id: req PdrId = t::PDR_ID,
        /// Precedence.
        precedence: req Precedence = t::PRECEDENCE,
        /// PDI.
        pdi: req Pdi = t::PDI,
        /// Outer Header Removal.
        outer_header_removal: opt OuterHeaderRemoval = t::OUTER_HEADER_REMOVAL,
        /// FAR ID.
        far_id: opt FarId = t::FAR_ID,
        /// URR IDs.
        urr_id: many UrrId = t::URR_ID,
        /// QER IDs.
        qer_id: many QerId = t::QER_ID,
        /// Activate Predefined Rules.
        activate_predefined_rules: many Bytes = t::ACTIVATE_PREDEFINED_RULES,
    }
);

grouped!(
    /// Forwarding Parameters (7.5.2.3-2).
    ForwardingParameters {
        /// Destination Interface.
        destination_interface: req DestinationInterface = t::DESTINATION_INTERFACE,
        /// Network Instance.
        network_instance: opt NetworkInstance = t::NETWORK_INSTANCE,
        /// Outer Header Creation.
        outer_header_creation: opt OuterHeaderCreation = t::OUTER_HEADER_CREATION,
        /// Transport Level Marking.
        transport_level_marking: opt TransportLevelMarking = t::TRANSPORT_LEVEL_MARKING,
        /// Forwarding Policy.
        forwarding_policy: opt ForwardingPolicy = t::FORWARDING_POLICY,
        /// Destination Interface Type.
        destination_interface_type: opt InterfaceType3gpp = t::INTERFACE_TYPE_3GPP,
    }
);

grouped!(
    /// Duplicating Parameters (7.5.2.3-3).
    DuplicatingParameters {
        /// Destination Interface.
        destination_interface: req DestinationInterface = t::DESTINATION_INTERFACE,
        /// Outer Header Creation.
        outer_header_creation: opt OuterHeaderCreation = t::OUTER_HEADER_CREATION,
        /// Transport Level Marking.
        transport_level_marking: opt TransportLevelMarking = t::TRANSPORT_LEVEL_MARKING,
        /// Forwarding Policy.
        forwarding_policy: opt ForwardingPolicy = t::FORWARDING_POLICY,
    }
);

grouped!(
    /// Create FAR (7.5.2.3).
    CreateFar {
        /// FAR ID.
        far_id: req FarId = t::FAR_ID,
        /// Apply Action.
        apply_action: req ApplyAction = t::APPLY_ACTION,
        /// Forwarding Parameters.
        forwarding_parameters: opt ForwardingParameters = t::FORWARDING_PARAMETERS,
        /// Duplicating Parameters.
        duplicating_parameters: many DuplicatingParameters = t::DUPLICATING_PARAMETERS,
        /// BAR ID.
        bar_id: opt BarId = t::BAR_ID,
    }
);

grouped!(
    /// Create URR (7.5.2.4).
    CreateUrr {
        /// URR ID.
        urr_id: req UrrId = t::URR_ID,
        /// Measurement Method.
        measurement_method: req MeasurementMethod = t::MEASUREMENT_METHOD,
        /// Reporting Triggers.
        reporting_triggers: req ReportingTriggers = t::REPORTING_TRIGGERS,
        /// Measurement Period.
        measurement_period: opt MeasurementPeriod = t::MEASUREMENT_PERIOD,
        /// Volume Threshold.
        volume_threshold: opt Volume = t::VOLUME_THRESHOLD,
        /// Volume Quota.
        volume_quota: opt Volume = t::VOLUME_QUOTA,
        /// Time Threshold.
        time_threshold: opt TimeThreshold = t::TIME_THRESHOLD,
        /// Time Quota.
        time_quota: opt TimeQuota = t::TIME_QUOTA,
        /// Quota Holding Time.
        quota_holding_time: opt QuotaHoldingTime = t::QUOTA_HOLDING_TIME,
        /// Monitoring Time.
        monitoring_time: opt MonitoringTime = t::MONITORING_TIME,
        /// Inactivity Detection Time.
        inactivity_detection_time: opt InactivityDetectionTime = t::INACTIVITY_DETECTION_TIME,
        /// Linked URR IDs.
        linked_urr_id: many LinkedUrrId = t::LINKED_URR_ID,
        /// Measurement Information.
        measurement_information: opt MeasurementInformation = t::MEASUREMENT_INFORMATION,
        /// FAR ID for Quota Action.
        far_id_for_quota_action: opt FarId = t::FAR_ID,
    }
);

grouped!(
    /// Create QER (7.5.2.5).
    CreateQer {
        /// QER ID.
        qer_id: req QerId = t::QER_ID,
        /// QER Correlation ID.
        qer_correlation_id: opt QerCorrelationId = t::QER_CORRELATION_ID,
        /// Gate Status.
        gate_status: req GateStatus = t::GATE_STATUS,
        /// Maximum Bitrate.
        mbr: opt BitRate = t::MBR,
        /// Guaranteed Bitrate.
        gbr: opt BitRate = t::GBR,
        /// QoS flow identifier.
        qfi: opt Qfi = t::QFI,
        /// Reflective QoS.
        rqi: opt Rqi = t::RQI,
        /// Paging Policy Indicator.
        paging_policy_indicator: opt PagingPolicyIndicator = t::PAGING_POLICY_INDICATOR,
    }
);

grouped!(
    /// Create BAR (7.5.2.6).
    CreateBar {
        /// BAR ID.
        bar_id: req BarId = t::BAR_ID,
        /// Downlink Data Notification Delay.
        downlink_data_notification_delay: opt DownlinkDataNotificationDelay = t::DOWNLINK_DATA_NOTIFICATION_DELAY,
        /// Suggested Buffering Packets Count.
        suggested_buffering_packets_count: opt SuggestedBufferingPacketsCount = t::SUGGESTED_BUFFERING_PACKETS_COUNT,
    }
);

grouped!(
    /// Update PDR (7.5.4.2).
    UpdatePdr {
        /// PDR ID.
        pdr_id: req PdrId = t::PDR_ID,
        /// Outer Header Removal.
        outer_header_removal: opt OuterHeaderRemoval = t::OUTER_HEADER_REMOVAL,
        /// Precedence.
        precedence: opt Precedence = t::PRECEDENCE,
        /// PDI.
        pdi: opt Pdi = t::PDI,
        /// FAR ID.
        far_id: opt FarId = t::FAR_ID,
        /// URR IDs.
        urr_id: many UrrId = t::URR_ID,
        /// QER IDs.
        qer_id: many QerId = t::QER_ID,
        /// Activate Predefined Rules.
        activate_predefined_rules: many Bytes = t::ACTIVATE_PREDEFINED_RULES,
        /// Deactivate Predefined Rules.
        deactivate_predefined_rules: many Bytes = t::DEACTIVATE_PREDEFINED_RULES,
    }
);

grouped!(
    /// Update Forwarding Parameters (7.5.4.3-2).
    UpdateForwardingParameters {
        /// Destination Interface.
        destination_interface: opt DestinationInterface = t::DESTINATION_INTERFACE,
        /// Network Instance.
        network_instance: opt NetworkInstance = t::NETWORK_INSTANCE,
        /// Outer Header Creation.
        outer_header_creation: opt OuterHeaderCreation = t::OUTER_HEADER_CREATION,
        /// Transport Level Marking.
        transport_level_marking: opt TransportLevelMarking = t::TRANSPORT_LEVEL_MARKING,
        /// Forwarding Policy.
        forwarding_policy: opt ForwardingPolicy = t::FORWARDING_POLICY,
        /// PFCPSMReq-Flags (SNDEM).
        pfcpsm_req_flags: opt PfcpsmReqFlags = t::PFCPSMREQ_FLAGS,
        /// Destination Interface Type.
        destination_interface_type: opt InterfaceType3gpp = t::INTERFACE_TYPE_3GPP,
    }
);

grouped!(
    /// Update Duplicating Parameters (7.5.4.3-3).
    UpdateDuplicatingParameters {
        /// Destination Interface.
        destination_interface: opt DestinationInterface = t::DESTINATION_INTERFACE,
        /// Outer Header Creation.
        outer_header_creation: opt OuterHeaderCreation = t::OUTER_HEADER_CREATION,
        /// Transport Level Marking.
        transport_level_marking: opt TransportLevelMarking = t::TRANSPORT_LEVEL_MARKING,
        /// Forwarding Policy.
        forwarding_policy: opt ForwardingPolicy = t::FORWARDING_POLICY,
    }
);

grouped!(
    /// Update FAR (7.5.4.3).
    UpdateFar {
        /// FAR ID.
        far_id: req FarId = t::FAR_ID,
        /// Apply Action.
        apply_action: opt ApplyAction = t::APPLY_ACTION,
        /// Update Forwarding Parameters.
        update_forwarding_parameters: opt UpdateForwardingParameters = t::UPDATE_FORWARDING_PARAMETERS,
        /// Update Duplicating Parameters.
        update_duplicating_parameters: many UpdateDuplicatingParameters = t::UPDATE_DUPLICATING_PARAMETERS,
        /// BAR ID.
        bar_id: opt BarId = t::BAR_ID,
    }
);

grouped!(
    /// Update URR (7.5.4.4).
    UpdateUrr {
        /// URR ID.
        urr_id: req UrrId = t::URR_ID,
        /// Measurement Method.
        measurement_method: opt MeasurementMethod = t::MEASUREMENT_METHOD,
        /// Reporting Triggers.
        reporting_triggers: opt ReportingTriggers = t::REPORTING_TRIGGERS,
        /// Measurement Period.
        measurement_period: opt MeasurementPeriod = t::MEASUREMENT_PERIOD,
        /// Volume Threshold.
        volume_threshold: opt Volume = t::VOLUME_THRESHOLD,
        /// Volume Quota.
        volume_quota: opt Volume = t::VOLUME_QUOTA,
        /// Time Threshold.
        time_threshold: opt TimeThreshold = t::TIME_THRESHOLD,
        /// Time Quota.
        time_quota: opt TimeQuota = t::TIME_QUOTA,
        /// Quota Holding Time.
        quota_holding_time: opt QuotaHoldingTime = t::QUOTA_HOLDING_TIME,
        /// Monitoring Time.
        monitoring_time: opt MonitoringTime = t::MONITORING_TIME,
        /// Inactivity Detection Time.
        inactivity_detection_time: opt InactivityDetectionTime = t::INACTIVITY_DETECTION_TIME,
        /// Linked URR IDs.
        linked_urr_id: many LinkedUrrId = t::LINKED_URR_ID,
        /// Measurement Information.
        measurement_information: opt MeasurementInformation = t::MEASUREMENT_INFORMATION,
        /// FAR ID for Quota Action.
        far_id_for_quota_action: opt FarId = t::FAR_ID,
    }
);

grouped!(
    /// Update QER (7.5.4.5).
    UpdateQer {
        /// QER ID.
        qer_id: req QerId = t::QER_ID,
        /// QER Correlation ID.
        qer_correlation_id: opt QerCorrelationId = t::QER_CORRELATION_ID,
        /// Gate Status.
        gate_status: opt GateStatus = t::GATE_STATUS,
        /// Maximum Bitrate.
        mbr: opt BitRate = t::MBR,
        /// Guaranteed Bitrate.
        gbr: opt BitRate = t::GBR,
        /// QFI.
        qfi: opt Qfi = t::QFI,
        /// RQI.
        rqi: opt Rqi = t::RQI,
        /// Paging Policy Indicator.
        paging_policy_indicator: opt PagingPolicyIndicator = t::PAGING_POLICY_INDICATOR,
    }
);

grouped!(
    /// Update BAR in a Session Modification Request (7.5.4.11).
    UpdateBar {
        /// BAR ID.
        bar_id: req BarId = t::BAR_ID,
        /// Downlink Data Notification Delay.
        downlink_data_notification_delay: opt DownlinkDataNotificationDelay = t::DOWNLINK_DATA_NOTIFICATION_DELAY,
        /// Suggested Buffering Packets Count.
        suggested_buffering_packets_count: opt SuggestedBufferingPacketsCount = t::SUGGESTED_BUFFERING_PACKETS_COUNT,
    }
);

grouped!(
    /// Update BAR in a Session Report Response (7.5.9.2).
    UpdateBarReport {
        /// BAR ID.
        bar_id: req BarId = t::BAR_ID,
        /// Downlink Data Notification Delay.
        downlink_data_notification_delay: opt DownlinkDataNotificationDelay = t::DOWNLINK_DATA_NOTIFICATION_DELAY,
        /// DL Buffering Duration.
        dl_buffering_duration: opt DlBufferingDuration = t::DL_BUFFERING_DURATION,
        /// DL Buffering Suggested Packet Count.
        dl_buffering_suggested_packet_count: opt DlBufferingSuggestedPacketCount = t::DL_BUFFERING_SUGGESTED_PACKET_COUNT,
        /// Suggested Buffering Packets Count.
        suggested_buffering_packets_count: opt SuggestedBufferingPacketsCount = t::SUGGESTED_BUFFERING_PACKETS_COUNT,
    }
);

grouped!(
    /// Remove PDR (7.5.4.6).
    RemovePdr { /// PDR ID.
        pdr_id: req PdrId = t::PDR_ID }
);
grouped!(
    /// Remove FAR (7.5.4.7).
    RemoveFar { /// FAR ID.
        far_id: req FarId = t::FAR_ID }
);
grouped!(
    /// Remove URR (7.5.4.8).
    RemoveUrr { /// URR ID.
        urr_id: req UrrId = t::URR_ID }
);
grouped!(
    /// Remove QER (7.5.4.9).
    RemoveQer { /// QER ID.
        qer_id: req QerId = t::QER_ID }
);
grouped!(
    /// Remove BAR (7.5.4.12).
    RemoveBar { /// BAR ID.
        bar_id: req BarId = t::BAR_ID }
);
grouped!(
    /// Query URR (7.5.4.10).
    QueryUrr { /// URR ID.
        urr_id: req UrrId = t::URR_ID }
);

grouped!(
    /// Created PDR (7.5.3.2).
    CreatedPdr {
        /// PDR ID.
        pdr_id: req PdrId = t::PDR_ID,
        /// Local F-TEID chosen by the UPF.
        local_fteid: opt FTeid = t::F_TEID,
        /// UE IP Addresses chosen by the UPF.
        ue_ip_address: many UeIpAddress = t::UE_IP_ADDRESS,
    }
);

grouped!(
    /// Usage Report (7.5.5.2, 7.5.7.2, 7.5.8.3): one layout, three IE types.
    UsageReport {
        /// URR ID.
        urr_id: req UrrId = t::URR_ID,
        /// UR-SEQN.
        ur_seqn: req UrSeqn = t::UR_SEQN,
        /// Usage Report Trigger.
        usage_report_trigger: req UsageReportTrigger = t::USAGE_REPORT_TRIGGER,
        /// Start Time.
        start_time: opt StartTime = t::START_TIME,
        /// End Time.
        end_time: opt EndTime = t::END_TIME,
        /// Volume Measurement.
        volume_measurement: opt VolumeMeasurement = t::VOLUME_MEASUREMENT,
        /// Duration Measurement.
        duration_measurement: opt DurationMeasurement = t::DURATION_MEASUREMENT,
        /// UE IP Address.
        ue_ip_address: opt UeIpAddress = t::UE_IP_ADDRESS,
        /// Network Instance.
        network_instance: opt NetworkInstance = t::NETWORK_INSTANCE,
        /// Time of First Packet.
        time_of_first_packet: opt TimeOfFirstPacket = t::TIME_OF_FIRST_PACKET,
        /// Time of Last Packet.
        time_of_last_packet: opt TimeOfLastPacket = t::TIME_OF_LAST_PACKET,
        /// Usage Information.
        usage_information: opt UsageInformation = t::USAGE_INFORMATION,
        /// Query URR Reference.
        query_urr_reference: opt QueryUrrReference = t::QUERY_URR_REFERENCE,
    }
);

grouped!(
    /// Downlink Data Report (7.5.8.2).
    DownlinkDataReport {
        /// PDR IDs.
        pdr_id: many PdrId = t::PDR_ID,
        /// Downlink Data Service Information.
        downlink_data_service_information: many DownlinkDataServiceInformation = t::DOWNLINK_DATA_SERVICE_INFORMATION,
    }
);

grouped!(
    /// Error Indication Report (7.5.8.4).
    ErrorIndicationReport {
        /// Remote F-TEIDs.
        remote_fteid: many FTeid = t::F_TEID,
    }
);

grouped!(
    /// User Plane Path Failure Report (7.4.5.1-2).
    UserPlanePathFailureReport {
        /// Remote GTP-U Peers.
        remote_gtpu_peer: many RemoteGtpuPeer = t::REMOTE_GTPU_PEER,
    }
);

grouped!(
    /// User Plane Path Recovery Report (7.4.5.1-3).
    UserPlanePathRecoveryReport {
        /// Remote GTP-U Peers.
        remote_gtpu_peer: many RemoteGtpuPeer = t::REMOTE_GTPU_PEER,
    }
);

grouped!(
    /// Load Control Information (7.5.3.3).
    LoadControlInformation {
        /// Load Control Sequence Number.
        sequence_number: req SequenceNumber = t::SEQUENCE_NUMBER,
        /// Load Metric.
        metric: req Metric = t::METRIC,
    }
);

grouped!(
    /// Overload Control Information (7.5.3.4).
    OverloadControlInformation {
        /// Overload Control Sequence Number.
        sequence_number: req SequenceNumber = t::SEQUENCE_NUMBER,
        /// Overload Reduction Metric.
        metric: req Metric = t::METRIC,
        /// Period of Validity.
        timer: req Timer = t::TIMER,
        /// Overload Control Information Flags.
        oci_flags: opt OciFlags = t::OCI_FLAGS,
    }
);

grouped!(
    /// PFD context (7.4.3.1-2).
    PfdContext {
        /// PFD Contents.
        pfd_contents: many PfdContents = t::PFD_CONTENTS,
    }
);

grouped!(
    /// Application ID's PFDs (7.4.3.1-1).
    ApplicationIdsPfds {
        /// Application ID.
        application_id: req Bytes = t::APPLICATION_ID,
        /// PFD contexts (none: remove the application's PFDs).
        pfd_context: many PfdContext = t::PFD_CONTEXT,
    }
);

grouped!(
    /// UE IP address pool information (7.4.4.1-3).
    UeIpAddressPoolInformation {
        /// UE IP address Pool Identity.
        pool_identity: req PoolIdentity = t::UE_IP_ADDRESS_POOL_IDENTITY,
        /// Network Instance.
        network_instance: opt NetworkInstance = t::NETWORK_INSTANCE,
        /// S-NSSAIs.
        s_nssai: many Snssai = t::S_NSSAI,
        /// IP version.
        ip_version: opt IpVersion = t::IP_VERSION,
    }
);
