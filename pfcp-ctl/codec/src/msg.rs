//! PFCP messages (TS 29.244 7.2-7.5): the header and every node and
//! session message a UPF sends or receives.

use crate::error::{DecodeError, IeError};
use crate::group::*;
use crate::ie::*;
use crate::ie_struct;

/// Message type numbers (TS 29.244 Table 7.3-1).
#[allow(missing_docs)]
pub mod mt {
    pub const HEARTBEAT_REQUEST: u8 = 1;
    pub const HEARTBEAT_RESPONSE: u8 = 2;
    pub const PFD_MANAGEMENT_REQUEST: u8 = 3;
    pub const PFD_MANAGEMENT_RESPONSE: u8 = 4;
    pub const ASSOCIATION_SETUP_REQUEST: u8 = 5;
    pub const ASSOCIATION_SETUP_RESPONSE: u8 = 6;
    pub const ASSOCIATION_UPDATE_REQUEST: u8 = 7;
    pub const ASSOCIATION_UPDATE_RESPONSE: u8 = 8;
    pub const ASSOCIATION_RELEASE_REQUEST: u8 = 9;
    pub const ASSOCIATION_RELEASE_RESPONSE: u8 = 10;
    pub const VERSION_NOT_SUPPORTED_RESPONSE: u8 = 11;
    pub const NODE_REPORT_REQUEST: u8 = 12;
    pub const NODE_REPORT_RESPONSE: u8 = 13;
    pub const SESSION_SET_DELETION_REQUEST: u8 = 14;
    pub const SESSION_SET_DELETION_RESPONSE: u8 = 15;
    pub const SESSION_ESTABLISHMENT_REQUEST: u8 = 50;
    pub const SESSION_ESTABLISHMENT_RESPONSE: u8 = 51;
    pub const SESSION_MODIFICATION_REQUEST: u8 = 52;
    pub const SESSION_MODIFICATION_RESPONSE: u8 = 53;
    pub const SESSION_DELETION_REQUEST: u8 = 54;
    pub const SESSION_DELETION_RESPONSE: u8 = 55;
    pub const SESSION_REPORT_REQUEST: u8 = 56;
    pub const SESSION_REPORT_RESPONSE: u8 = 57;

    /// The message's name in snake case (metrics labels, logs), or
    /// `"unknown"`.
    pub fn name(t: u8) -> &'static str {
        match t {
            HEARTBEAT_REQUEST => "heartbeat_request",
            HEARTBEAT_RESPONSE => "heartbeat_response",
            PFD_MANAGEMENT_REQUEST => "pfd_management_request",
            PFD_MANAGEMENT_RESPONSE => "pfd_management_response",
            ASSOCIATION_SETUP_REQUEST => "association_setup_request",
            ASSOCIATION_SETUP_RESPONSE => "association_setup_response",
            ASSOCIATION_UPDATE_REQUEST => "association_update_request",
            ASSOCIATION_UPDATE_RESPONSE => "association_update_response",
            ASSOCIATION_RELEASE_REQUEST => "association_release_request",
            ASSOCIATION_RELEASE_RESPONSE => "association_release_response",
            VERSION_NOT_SUPPORTED_RESPONSE => "version_not_supported_response",
            NODE_REPORT_REQUEST => "node_report_request",
            NODE_REPORT_RESPONSE => "node_report_response",
            SESSION_SET_DELETION_REQUEST => "session_set_deletion_request",
            SESSION_SET_DELETION_RESPONSE => "session_set_deletion_response",
            SESSION_ESTABLISHMENT_REQUEST => "session_establishment_request",
            SESSION_ESTABLISHMENT_RESPONSE => "session_establishment_response",
            SESSION_MODIFICATION_REQUEST => "session_modification_request",
            SESSION_MODIFICATION_RESPONSE => "session_modification_response",
            SESSION_DELETION_REQUEST => "session_deletion_request",
            SESSION_DELETION_RESPONSE => "session_deletion_response",
            SESSION_REPORT_REQUEST => "session_report_request",
            SESSION_REPORT_RESPONSE => "session_report_response",
            _ => "unknown",
        }
    }
}

ie_struct!(
    /// Heartbeat Request (7.4.2.1).
    HeartbeatRequest {
        /// Recovery Time Stamp.
        recovery_time_stamp: req RecoveryTimeStamp = t::RECOVERY_TIME_STAMP,
        /// Source IP Address.
        source_ip_address: opt Bytes = t::SOURCE_IP_ADDRESS,
    }
);

ie_struct!(
    /// Heartbeat Response (7.4.2.2).
    HeartbeatResponse {
        /// Recovery Time Stamp.
        recovery_time_stamp: req RecoveryTimeStamp = t::RECOVERY_TIME_STAMP,
    }
);

ie_struct!(
    /// PFD Management Request (7.4.3.1).
    PfdManagementRequest {
        /// Application ID's PFDs.
        application_ids_pfds: many ApplicationIdsPfds = t::APPLICATION_IDS_PFDS,
        /// Node ID.
        node_id: opt NodeId = t::NODE_ID,
    }
);

ie_struct!(
    /// PFD Management Response (7.4.3.2).
    PfdManagementResponse {
        /// Cause.
        cause: req CauseIe = t::CAUSE,
        /// Offending IE.
        offending_ie: opt OffendingIe = t::OFFENDING_IE,
        /// Node ID.
        node_id: opt NodeId = t::NODE_ID,
    }
);

ie_struct!(
    /// Association Setup Request (7.4.4.1).
    AssociationSetupRequest {
        /// Node ID.
        node_id: req NodeId = t::NODE_ID,
        /// Recovery Time Stamp.
        recovery_time_stamp: req RecoveryTimeStamp = t::RECOVERY_TIME_STAMP,
        /// UP Function Features.
        up_function_features: opt Features = t::UP_FUNCTION_FEATURES,
        /// CP Function Features.
        cp_function_features: opt Features = t::CP_FUNCTION_FEATURES,
        /// User Plane IP Resource Information.
        user_plane_ip_resource_information: many UserPlaneIpResourceInformation = t::USER_PLANE_IP_RESOURCE_INFORMATION,
        /// UE IP address pool information.
        ue_ip_address_pool_information: many UeIpAddressPoolInformation = t::UE_IP_ADDRESS_POOL_INFORMATION,
        /// PFCPASReq-Flags.
        pfcpas_req_flags: opt PfcpasReqFlags = t::PFCPASREQ_FLAGS,
    }
);

ie_struct!(
    /// Association Setup Response (7.4.4.2).
    AssociationSetupResponse {
        /// Node ID.
        node_id: req NodeId = t::NODE_ID,
        /// Cause.
        cause: req CauseIe = t::CAUSE,
        /// Recovery Time Stamp.
        recovery_time_stamp: req RecoveryTimeStamp = t::RECOVERY_TIME_STAMP,
        /// UP Function Features.
        up_function_features: opt Features = t::UP_FUNCTION_FEATURES,
        /// CP Function Features.
        cp_function_features: opt Features = t::CP_FUNCTION_FEATURES,
        /// User Plane IP Resource Information.
        user_plane_ip_resource_information: many UserPlaneIpResourceInformation = t::USER_PLANE_IP_RESOURCE_INFORMATION,
        /// PFCPASRsp-Flags.
        pfcpas_rsp_flags: opt PfcpasRspFlags = t::PFCPASRSP_FLAGS,
        /// UE IP address pool information.
        ue_ip_address_pool_information: many UeIpAddressPoolInformation = t::UE_IP_ADDRESS_POOL_INFORMATION,
    }
);

ie_struct!(
    /// Association Update Request (7.4.4.3).
    AssociationUpdateRequest {
        /// Node ID.
        node_id: req NodeId = t::NODE_ID,
        /// UP Function Features.
        up_function_features: opt Features = t::UP_FUNCTION_FEATURES,
        /// CP Function Features.
        cp_function_features: opt Features = t::CP_FUNCTION_FEATURES,
        /// PFCP Association Release Request.
        association_release_request: opt crate::ie::AssociationReleaseRequest = t::PFCP_ASSOCIATION_RELEASE_REQUEST,
        /// Graceful Release Period.
        graceful_release_period: opt GracefulReleasePeriod = t::GRACEFUL_RELEASE_PERIOD,
        /// PFCPAUReq-Flags.
        pfcpau_req_flags: opt PfcpauReqFlags = t::PFCPAUREQ_FLAGS,
        /// UE IP address pool information.
        ue_ip_address_pool_information: many UeIpAddressPoolInformation = t::UE_IP_ADDRESS_POOL_INFORMATION,
    }
);

ie_struct!(
    /// Association Update Response (7.4.4.4).
    AssociationUpdateResponse {
        /// Node ID.
        node_id: req NodeId = t::NODE_ID,
        /// Cause.
        cause: req CauseIe = t::CAUSE,
        /// UP Function Features.
        up_function_features: opt Features = t::UP_FUNCTION_FEATURES,
        /// CP Function Features.
        cp_function_features: opt Features = t::CP_FUNCTION_FEATURES,
    }
);

ie_struct!(
    /// Association Release Request (7.4.4.5).
    AssociationReleaseRequest {
        /// Node ID.
        node_id: req NodeId = t::NODE_ID,
    }
);

ie_struct!(
    /// Association Release Response (7.4.4.6).
    AssociationReleaseResponse {
        /// Node ID.
        node_id: req NodeId = t::NODE_ID,
        /// Cause.
        cause: req CauseIe = t::CAUSE,
    }
);

ie_struct!(
    /// Node Report Request (7.4.5.1).
    NodeReportRequest {
        /// Node ID.
        node_id: req NodeId = t::NODE_ID,
        /// Node Report Type.
        node_report_type: req NodeReportType = t::NODE_REPORT_TYPE,
        /// User Plane Path Failure Report.
        user_plane_path_failure_report: opt UserPlanePathFailureReport = t::USER_PLANE_PATH_FAILURE_REPORT,
        /// User Plane Path Recovery Report.
        user_plane_path_recovery_report: opt UserPlanePathRecoveryReport = t::USER_PLANE_PATH_RECOVERY_REPORT,
    }
);

ie_struct!(
    /// Node Report Response (7.4.5.2).
    NodeReportResponse {
        /// Node ID.
        node_id: req NodeId = t::NODE_ID,
        /// Cause.
        cause: req CauseIe = t::CAUSE,
        /// Offending IE.
        offending_ie: opt OffendingIe = t::OFFENDING_IE,
    }
);

ie_struct!(
    /// Session Set Deletion Request (7.4.6.1).
    SessionSetDeletionRequest {
        /// Node ID.
        node_id: req NodeId = t::NODE_ID,
        /// FQ-CSIDs (kept raw).
        fq_csid: many Bytes = t::FQ_CSID,
    }
);

ie_struct!(
    /// Session Set Deletion Response (7.4.6.2).
    SessionSetDeletionResponse {
        /// Node ID.
        node_id: req NodeId = t::NODE_ID,
        /// Cause.
        cause: req CauseIe = t::CAUSE,
        /// Offending IE.
        offending_ie: opt OffendingIe = t::OFFENDING_IE,
    }
);

ie_struct!(
    /// Session Establishment Request (7.5.2).
    SessionEstablishmentRequest {
        /// Node ID.
        node_id: req NodeId = t::NODE_ID,
        /// CP F-SEID.
        cp_fseid: req FSeid = t::F_SEID,
        /// Create PDR.
        create_pdr: many CreatePdr = t::CREATE_PDR,
        /// Create FAR.
        create_far: many CreateFar = t::CREATE_FAR,
        /// Create URR.
        create_urr: many CreateUrr = t::CREATE_URR,
        /// Create QER.
        create_qer: many CreateQer = t::CREATE_QER,
        /// Create BAR.
        create_bar: opt CreateBar = t::CREATE_BAR,
        /// PDN Type.
        pdn_type: opt PdnType = t::PDN_TYPE,
        /// User Plane Inactivity Timer.
        user_plane_inactivity_timer: opt UserPlaneInactivityTimer = t::USER_PLANE_INACTIVITY_TIMER,
        /// APN/DNN.
        apn_dnn: opt NetworkInstance = t::APN_DNN,
        /// PFCPSEReq-Flags.
        pfcpse_req_flags: opt PfcpseReqFlags = t::PFCPSEREQ_FLAGS,
        /// S-NSSAI.
        s_nssai: opt Snssai = t::S_NSSAI,
        /// FQ-CSIDs of the CP and other nodes (kept raw).
        fq_csid: many Bytes = t::FQ_CSID,
    }
);

ie_struct!(
    /// Session Establishment Response (7.5.3).
    SessionEstablishmentResponse {
        /// Node ID.
        node_id: req NodeId = t::NODE_ID,
        /// Cause.
        cause: req CauseIe = t::CAUSE,
        /// Offending IE.
        offending_ie: opt OffendingIe = t::OFFENDING_IE,
        /// UP F-SEID.
        up_fseid: opt FSeid = t::F_SEID,
        /// Created PDR.
        created_pdr: many CreatedPdr = t::CREATED_PDR,
        /// Load Control Information.
        load_control_information: opt LoadControlInformation = t::LOAD_CONTROL_INFORMATION,
        /// Overload Control Information.
        overload_control_information: opt OverloadControlInformation = t::OVERLOAD_CONTROL_INFORMATION,
        /// Failed Rule ID.
        failed_rule_id: opt FailedRuleId = t::FAILED_RULE_ID,
    }
);

ie_struct!(
    /// Session Modification Request (7.5.4).
    SessionModificationRequest {
        /// CP F-SEID.
        cp_fseid: opt FSeid = t::F_SEID,
        /// Remove PDR.
        remove_pdr: many RemovePdr = t::REMOVE_PDR,
        /// Remove FAR.
        remove_far: many RemoveFar = t::REMOVE_FAR,
        /// Remove URR.
        remove_urr: many RemoveUrr = t::REMOVE_URR,
        /// Remove QER.
        remove_qer: many RemoveQer = t::REMOVE_QER,
        /// Remove BAR.
        remove_bar: opt RemoveBar = t::REMOVE_BAR,
        /// Create PDR.
        create_pdr: many CreatePdr = t::CREATE_PDR,
        /// Create FAR.
        create_far: many CreateFar = t::CREATE_FAR,
        /// Create URR.
        create_urr: many CreateUrr = t::CREATE_URR,
        /// Create QER.
        create_qer: many CreateQer = t::CREATE_QER,
        /// Create BAR.
        create_bar: opt CreateBar = t::CREATE_BAR,
        /// Update PDR.
        update_pdr: many UpdatePdr = t::UPDATE_PDR,
        /// Update FAR.
        update_far: many UpdateFar = t::UPDATE_FAR,
        /// Update URR.
        update_urr: many UpdateUrr = t::UPDATE_URR,
        /// Update QER.
        update_qer: many UpdateQer = t::UPDATE_QER,
        /// Update BAR.
        update_bar: opt UpdateBar = t::UPDATE_BAR,
        /// PFCPSMReq-Flags.
        pfcpsm_req_flags: opt PfcpsmReqFlags = t::PFCPSMREQ_FLAGS,
        /// Query URR.
        query_urr: many QueryUrr = t::QUERY_URR,
        /// User Plane Inactivity Timer.
        user_plane_inactivity_timer: opt UserPlaneInactivityTimer = t::USER_PLANE_INACTIVITY_TIMER,
        /// Query URR Reference.
        query_urr_reference: opt QueryUrrReference = t::QUERY_URR_REFERENCE,
        /// Node ID.
        node_id: opt NodeId = t::NODE_ID,
        /// FQ-CSIDs (kept raw; replace the session's when present).
        fq_csid: many Bytes = t::FQ_CSID,
    }
);

ie_struct!(
    /// Session Modification Response (7.5.5).
    SessionModificationResponse {
        /// Cause.
        cause: req CauseIe = t::CAUSE,
        /// Offending IE.
        offending_ie: opt OffendingIe = t::OFFENDING_IE,
        /// Created PDR.
        created_pdr: many CreatedPdr = t::CREATED_PDR,
        /// Load Control Information.
        load_control_information: opt LoadControlInformation = t::LOAD_CONTROL_INFORMATION,
        /// Overload Control Information.
        overload_control_information: opt OverloadControlInformation = t::OVERLOAD_CONTROL_INFORMATION,
        /// Usage Reports.
        usage_report: many UsageReport = t::USAGE_REPORT_MOD,
        /// Failed Rule ID.
        failed_rule_id: opt FailedRuleId = t::FAILED_RULE_ID,
        /// Additional Usage Reports Information.
        additional_usage_reports_information: opt AdditionalUsageReportsInformation = t::ADDITIONAL_USAGE_REPORTS_INFORMATION,
    }
);

ie_struct!(
    /// Session Deletion Request (7.5.6): no IEs a UPF needs.
    SessionDeletionRequest {
        /// Node ID (Rel-17, optional).
        node_id: opt NodeId = t::NODE_ID,
    }
);

ie_struct!(
    /// Session Deletion Response (7.5.7).
    SessionDeletionResponse {
        /// Cause.
        cause: req CauseIe = t::CAUSE,
        /// Offending IE.
        offending_ie: opt OffendingIe = t::OFFENDING_IE,
        /// Load Control Information.
        load_control_information: opt LoadControlInformation = t::LOAD_CONTROL_INFORMATION,
        /// Overload Control Information.
        overload_control_information: opt OverloadControlInformation = t::OVERLOAD_CONTROL_INFORMATION,
        /// Usage Reports.
        usage_report: many UsageReport = t::USAGE_REPORT_DEL,
        /// Additional Usage Reports Information.
        additional_usage_reports_information: opt AdditionalUsageReportsInformation = t::ADDITIONAL_USAGE_REPORTS_INFORMATION,
    }
);

ie_struct!(
    /// Session Report Request (7.5.8).
    SessionReportRequest {
        /// Report Type.
        report_type: req ReportType = t::REPORT_TYPE,
        /// Downlink Data Report.
        downlink_data_report: opt DownlinkDataReport = t::DOWNLINK_DATA_REPORT,
        /// Usage Reports.
        usage_report: many UsageReport = t::USAGE_REPORT_RPT,
        /// Error Indication Report.
        error_indication_report: opt ErrorIndicationReport = t::ERROR_INDICATION_REPORT,
        /// Load Control Information.
        load_control_information: opt LoadControlInformation = t::LOAD_CONTROL_INFORMATION,
        /// Overload Control Information.
        overload_control_information: opt OverloadControlInformation = t::OVERLOAD_CONTROL_INFORMATION,
        /// Additional Usage Reports Information.
        additional_usage_reports_information: opt AdditionalUsageReportsInformation = t::ADDITIONAL_USAGE_REPORTS_INFORMATION,
        /// PFCPSRReq-Flags.
        pfcpsr_req_flags: opt PfcpsrReqFlags = t::PFCPSRREQ_FLAGS,
        /// Old CP F-SEID.
        old_cp_fseid: opt FSeid = t::F_SEID,
    }
);

ie_struct!(
    /// Session Report Response (7.5.9).
    SessionReportResponse {
        /// Cause.
        cause: req CauseIe = t::CAUSE,
        /// Offending IE.
        offending_ie: opt OffendingIe = t::OFFENDING_IE,
        /// Update BAR.
        update_bar: opt UpdateBarReport = t::UPDATE_BAR_REPORT_RSP,
        /// PFCPSRRsp-Flags.
        pfcpsr_rsp_flags: opt PfcpsrRspFlags = t::PFCPSRRSP_FLAGS,
        /// CP F-SEID.
        cp_fseid: opt FSeid = t::F_SEID,
    }
);

/// Every message.
#[derive(Clone, Debug, PartialEq)]
#[allow(missing_docs)]
pub enum Message {
    HeartbeatRequest(HeartbeatRequest),
    HeartbeatResponse(HeartbeatResponse),
    PfdManagementRequest(PfdManagementRequest),
    PfdManagementResponse(PfdManagementResponse),
    AssociationSetupRequest(AssociationSetupRequest),
    AssociationSetupResponse(AssociationSetupResponse),
    AssociationUpdateRequest(AssociationUpdateRequest),
    AssociationUpdateResponse(AssociationUpdateResponse),
    AssociationReleaseRequest(AssociationReleaseRequest),
    AssociationReleaseResponse(AssociationReleaseResponse),
    VersionNotSupportedResponse,
    NodeReportRequest(NodeReportRequest),
    NodeReportResponse(NodeReportResponse),
    SessionSetDeletionRequest(SessionSetDeletionRequest),
    SessionSetDeletionResponse(SessionSetDeletionResponse),
    SessionEstablishmentRequest(SessionEstablishmentRequest),
    SessionEstablishmentResponse(SessionEstablishmentResponse),
    SessionModificationRequest(SessionModificationRequest),
    SessionModificationResponse(SessionModificationResponse),
    SessionDeletionRequest(SessionDeletionRequest),
    SessionDeletionResponse(SessionDeletionResponse),
    SessionReportRequest(SessionReportRequest),
    SessionReportResponse(SessionReportResponse),
}

impl Message {
    /// The message type.
    pub fn msg_type(&self) -> u8 {
        use Message::*;
        match self {
            HeartbeatRequest(_) => mt::HEARTBEAT_REQUEST,
            HeartbeatResponse(_) => mt::HEARTBEAT_RESPONSE,
            PfdManagementRequest(_) => mt::PFD_MANAGEMENT_REQUEST,
            PfdManagementResponse(_) => mt::PFD_MANAGEMENT_RESPONSE,
            AssociationSetupRequest(_) => mt::ASSOCIATION_SETUP_REQUEST,
            AssociationSetupResponse(_) => mt::ASSOCIATION_SETUP_RESPONSE,
            AssociationUpdateRequest(_) => mt::ASSOCIATION_UPDATE_REQUEST,
            AssociationUpdateResponse(_) => mt::ASSOCIATION_UPDATE_RESPONSE,
            AssociationReleaseRequest(_) => mt::ASSOCIATION_RELEASE_REQUEST,
            AssociationReleaseResponse(_) => mt::ASSOCIATION_RELEASE_RESPONSE,
            VersionNotSupportedResponse => mt::VERSION_NOT_SUPPORTED_RESPONSE,
            NodeReportRequest(_) => mt::NODE_REPORT_REQUEST,
            NodeReportResponse(_) => mt::NODE_REPORT_RESPONSE,
            SessionSetDeletionRequest(_) => mt::SESSION_SET_DELETION_REQUEST,
            SessionSetDeletionResponse(_) => mt::SESSION_SET_DELETION_RESPONSE,
            SessionEstablishmentRequest(_) => mt::SESSION_ESTABLISHMENT_REQUEST,
            SessionEstablishmentResponse(_) => mt::SESSION_ESTABLISHMENT_RESPONSE,
            SessionModificationRequest(_) => mt::SESSION_MODIFICATION_REQUEST,
            SessionModificationResponse(_) => mt::SESSION_MODIFICATION_RESPONSE,
            SessionDeletionRequest(_) => mt::SESSION_DELETION_REQUEST,
            SessionDeletionResponse(_) => mt::SESSION_DELETION_RESPONSE,
            SessionReportRequest(_) => mt::SESSION_REPORT_REQUEST,
            SessionReportResponse(_) => mt::SESSION_REPORT_RESPONSE,
        }
    }

    /// True for session messages (header with SEID).
    pub fn is_session(&self) -> bool {
        self.msg_type() >= 50
    }

    /// True for request messages.
    pub fn is_request(&self) -> bool {
        is_request_type(self.msg_type())
    }

    fn body(&self, out: &mut Vec<u8>) {
        use Message::*;
        match self {
            HeartbeatRequest(m) => m.to_ies(out),
            HeartbeatResponse(m) => m.to_ies(out),
            PfdManagementRequest(m) => m.to_ies(out),
            PfdManagementResponse(m) => m.to_ies(out),
            AssociationSetupRequest(m) => m.to_ies(out),
            AssociationSetupResponse(m) => m.to_ies(out),
            AssociationUpdateRequest(m) => m.to_ies(out),
            AssociationUpdateResponse(m) => m.to_ies(out),
            AssociationReleaseRequest(m) => m.to_ies(out),
            AssociationReleaseResponse(m) => m.to_ies(out),
            VersionNotSupportedResponse => {}
            NodeReportRequest(m) => m.to_ies(out),
            NodeReportResponse(m) => m.to_ies(out),
            SessionSetDeletionRequest(m) => m.to_ies(out),
            SessionSetDeletionResponse(m) => m.to_ies(out),
            SessionEstablishmentRequest(m) => m.to_ies(out),
            SessionEstablishmentResponse(m) => m.to_ies(out),
            SessionModificationRequest(m) => m.to_ies(out),
            SessionModificationResponse(m) => m.to_ies(out),
            SessionDeletionRequest(m) => m.to_ies(out),
            SessionDeletionResponse(m) => m.to_ies(out),
            SessionReportRequest(m) => m.to_ies(out),
            SessionReportResponse(m) => m.to_ies(out),
        }
    }

    fn decode_body(msg_type: u8, body: &[u8]) -> Result<Message, IeError> {
        with_ies(body, |i| Self::decode_ies(msg_type, i))
    }

    fn decode_ies(msg_type: u8, i: &[RawIe<'_>]) -> Result<Message, IeError> {
        use Message as M;
        Ok(match msg_type {
            mt::HEARTBEAT_REQUEST => M::HeartbeatRequest(HeartbeatRequest::from_ies(i, 0)?),
            mt::HEARTBEAT_RESPONSE => M::HeartbeatResponse(HeartbeatResponse::from_ies(i, 0)?),
            mt::PFD_MANAGEMENT_REQUEST => {
                M::PfdManagementRequest(PfdManagementRequest::from_ies(i, 0)?)
            }
            mt::PFD_MANAGEMENT_RESPONSE => {
                M::PfdManagementResponse(PfdManagementResponse::from_ies(i, 0)?)
            }
            mt::ASSOCIATION_SETUP_REQUEST => {
                M::AssociationSetupRequest(AssociationSetupRequest::from_ies(i, 0)?)
            }
            mt::ASSOCIATION_SETUP_RESPONSE => {
                M::AssociationSetupResponse(AssociationSetupResponse::from_ies(i, 0)?)
            }
            mt::ASSOCIATION_UPDATE_REQUEST => {
                M::AssociationUpdateRequest(AssociationUpdateRequest::from_ies(i, 0)?)
            }
            mt::ASSOCIATION_UPDATE_RESPONSE => {
                M::AssociationUpdateResponse(AssociationUpdateResponse::from_ies(i, 0)?)
            }
            mt::ASSOCIATION_RELEASE_REQUEST => {
                M::AssociationReleaseRequest(AssociationReleaseRequest::from_ies(i, 0)?)
            }
            mt::ASSOCIATION_RELEASE_RESPONSE => {
                M::AssociationReleaseResponse(AssociationReleaseResponse::from_ies(i, 0)?)
            }
            mt::VERSION_NOT_SUPPORTED_RESPONSE => M::VersionNotSupportedResponse,
            mt::NODE_REPORT_REQUEST => M::NodeReportRequest(NodeReportRequest::from_ies(i, 0)?),
            mt::NODE_REPORT_RESPONSE => M::NodeReportResponse(NodeReportResponse::from_ies(i, 0)?),
            mt::SESSION_SET_DELETION_REQUEST => {
                M::SessionSetDeletionRequest(SessionSetDeletionRequest::from_ies(i, 0)?)
            }
            mt::SESSION_SET_DELETION_RESPONSE => {
                M::SessionSetDeletionResponse(SessionSetDeletionResponse::from_ies(i, 0)?)
            }
            mt::SESSION_ESTABLISHMENT_REQUEST => {
                M::SessionEstablishmentRequest(SessionEstablishmentRequest::from_ies(i, 0)?)
            }
            mt::SESSION_ESTABLISHMENT_RESPONSE => {
                M::SessionEstablishmentResponse(SessionEstablishmentResponse::from_ies(i, 0)?)
            }
            mt::SESSION_MODIFICATION_REQUEST => {
                M::SessionModificationRequest(SessionModificationRequest::from_ies(i, 0)?)
            }
            mt::SESSION_MODIFICATION_RESPONSE => {
                M::SessionModificationResponse(SessionModificationResponse::from_ies(i, 0)?)
            }
            mt::SESSION_DELETION_REQUEST => {
                M::SessionDeletionRequest(SessionDeletionRequest::from_ies(i, 0)?)
            }
            mt::SESSION_DELETION_RESPONSE => {
                M::SessionDeletionResponse(SessionDeletionResponse::from_ies(i, 0)?)
            }
            mt::SESSION_REPORT_REQUEST => {
                M::SessionReportRequest(SessionReportRequest::from_ies(i, 0)?)
            }
            mt::SESSION_REPORT_RESPONSE => {
                M::SessionReportResponse(SessionReportResponse::from_ies(i, 0)?)
            }
            _ => return Err(IeError::Invalid(0)),
        })
    }
}

/// True for the message types of requests.
pub fn is_request_type(t: u8) -> bool {
    matches!(t, 1 | 3 | 5 | 7 | 9 | 12 | 14 | 50 | 52 | 54 | 56)
}

fn known_type(t: u8) -> bool {
    (1..=15).contains(&t) || (50..=57).contains(&t)
}

/// A PFCP message with its header fields.
#[derive(Clone, Debug, PartialEq)]
pub struct Pdu {
    /// Sequence number (24 bits).
    pub seq: u32,
    /// SEID of a session message.
    pub seid: Option<u64>,
    /// Message priority (MP flag), 0..15.
    pub priority: Option<u8>,
    /// The message.
    pub msg: Message,
}

impl Pdu {
    /// A node message.
    pub fn node(seq: u32, msg: Message) -> Pdu {
        Pdu {
            seq,
            seid: None,
            priority: None,
            msg,
        }
    }

    /// A session message.
    pub fn session(seq: u32, seid: u64, msg: Message) -> Pdu {
        Pdu {
            seq,
            seid: Some(seid),
            priority: None,
            msg,
        }
    }

    /// Appends the encoded message (header and IEs) to `out`.
    pub fn encode(&self, out: &mut Vec<u8>) {
        let start = out.len();
        let s = self.msg.is_session();
        let mp = self.priority.is_some() && s;
        out.push(0x20 | (u8::from(mp) << 1) | u8::from(s));
        out.push(self.msg.msg_type());
        out.extend_from_slice(&[0, 0]);
        if s {
            out.extend_from_slice(&self.seid.unwrap_or(0).to_be_bytes());
        }
        out.extend_from_slice(&self.seq.to_be_bytes()[1..]);
        out.push(if mp {
            self.priority.unwrap_or(0) << 4
        } else {
            0
        });
        self.msg.body(out);
        let len = (out.len() - start - 4).min(usize::from(u16::MAX)) as u16;
        out[start + 2..start + 4].copy_from_slice(&len.to_be_bytes());
    }

    /// The encoded message.
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut v = Vec::with_capacity(256);
        self.encode(&mut v);
        v
    }
}

/// The header of a message, as far as it could be read.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Header {
    /// Version.
    pub version: u8,
    /// Follow On: another message follows in the datagram.
    pub follow_on: bool,
    /// Message type.
    pub msg_type: u8,
    /// Length of everything after the first 4 octets.
    pub length: usize,
    /// SEID.
    pub seid: Option<u64>,
    /// Sequence number.
    pub seq: u32,
    /// Message priority.
    pub priority: Option<u8>,
    /// Header length (8 or 16).
    pub header_len: usize,
}

/// Reads the header at the start of `b` (checking that the message fits).
pub fn header(b: &[u8]) -> Result<Header, DecodeError> {
    if b.len() < 8 {
        return Err(DecodeError::Truncated);
    }
    let f = b[0];
    let version = f >> 5;
    let s = f & 0x01 != 0;
    let mp = f & 0x02 != 0;
    let follow_on = f & 0x04 != 0;
    let length = usize::from(u16::from_be_bytes([b[2], b[3]]));
    let header_len = if s { 16 } else { 8 };
    let seq_off = if s { 12 } else { 4 };
    if b.len() < seq_off + 4 {
        return Err(DecodeError::Truncated);
    }
    let seq = u32::from_be_bytes([0, b[seq_off], b[seq_off + 1], b[seq_off + 2]]);
    if version != 1 {
        return Err(DecodeError::Version { version, seq });
    }
    if 4 + length > b.len() || length + 4 < header_len {
        return Err(DecodeError::Truncated);
    }
    let seid = s.then(|| u64::from_be_bytes([b[4], b[5], b[6], b[7], b[8], b[9], b[10], b[11]]));
    Ok(Header {
        version,
        follow_on,
        msg_type: b[1],
        length,
        seid,
        seq,
        // Message priority exists only in session message headers (7.2.2.3).
        priority: (mp && s).then_some(b[seq_off + 3] >> 4),
        header_len,
    })
}

/// Decodes the first message of a datagram; returns it and the bytes it took.
pub fn decode_one(b: &[u8]) -> Result<(Pdu, usize), DecodeError> {
    let h = header(b)?;
    if !known_type(h.msg_type) {
        return Err(DecodeError::UnknownMessage(h.msg_type));
    }
    let end = 4 + h.length;
    let body = &b[h.header_len..end];
    let session_type = h.msg_type >= 50;
    let err = |error| DecodeError::Body {
        msg_type: h.msg_type,
        seq: h.seq,
        seid: h.seid,
        error,
    };
    if session_type != h.seid.is_some() {
        return Err(err(IeError::Invalid(0)));
    }
    let msg = Message::decode_body(h.msg_type, body).map_err(err)?;
    Ok((
        Pdu {
            seq: h.seq,
            seid: h.seid,
            priority: h.priority,
            msg,
        },
        end,
    ))
}

/// Decodes the first message of a datagram.
pub fn decode(b: &[u8]) -> Result<Pdu, DecodeError> {
    decode_one(b).map(|(p, _)| p)
}

/// Decodes every message of a datagram (several when FO is set).
pub fn decode_all(mut b: &[u8]) -> Vec<Result<Pdu, DecodeError>> {
    let mut out = Vec::new();
    loop {
        let fo = b.first().is_some_and(|f| f & 0x04 != 0);
        match decode_one(b) {
            Ok((p, used)) => {
                out.push(Ok(p));
                b = &b[used..];
                if !fo || b.is_empty() {
                    break;
                }
            }
            Err(e) => {
                // Skip a bad message if its length is readable.
                let skip = header(b).ok().map(|h| 4 + h.length);
                out.push(Err(e));
                match skip {
                    Some(n) if fo && n < b.len() => b = &b[n..],
                    _ => break,
                }
            }
        }
    }
    out
}
