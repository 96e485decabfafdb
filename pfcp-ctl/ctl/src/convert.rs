//! PFCP IEs to the dataplane's rule model and back (usage reports).

use std::net::IpAddr;

use pfcp_codec::group as g;
use pfcp_codec::ie as i;
use upf_rules::report::UsageReport;
use upf_rules::{
    ApplyAction, Bar, DuplicatingParameters, Far, FarId, ForwardingParameters, Gate, Interface,
    IpPrefix, MeasurementMethod, OuterHeaderCreation, OuterHeaderKind, OuterHeaderRemoval, Qer,
    ReportingTriggers, RuleError, RuleErrorReason, RuleKind, SdfFilter, Urr, Volume,
};

/// Seconds between the NTP epoch (1900) and the UNIX epoch (1970).
pub const NTP_UNIX_OFFSET: u64 = 2_208_988_800;

fn err(kind: RuleKind, id: u32, reason: RuleErrorReason) -> RuleError {
    RuleError { kind, id, reason }
}

/// The interface of a Source/Destination Interface value.
pub fn interface(v: u8, kind: RuleKind, id: u32) -> Result<Interface, RuleError> {
    Interface::from_value(v & 0x0f).ok_or_else(|| {
        err(
            kind,
            id,
            RuleErrorReason::Invalid(format!("interface value {v}")),
        )
    })
}

/// A Network Instance as an optional name (empty means none).
pub fn ni(n: &Option<i::NetworkInstance>) -> Option<String> {
    n.as_ref().map(|x| x.name()).filter(|s| !s.is_empty())
}

/// Outer Header Removal.
pub fn ohr(o: &i::OuterHeaderRemoval, id: u32) -> Result<OuterHeaderRemoval, RuleError> {
    use OuterHeaderRemoval::*;
    Ok(match o.description {
        0 => GtpuUdpIpv4,
        1 => GtpuUdpIpv6,
        2 => UdpIpv4,
        3 => UdpIpv6,
        4 => Ipv4,
        5 => Ipv6,
        6 => GtpuUdpIp,
        7 => VlanStag,
        8 => StagCtag,
        v => {
            return Err(err(
                RuleKind::Pdr,
                id,
                RuleErrorReason::Invalid(format!("outer header removal {v}")),
            ))
        }
    })
}

/// SDF filters.
pub fn sdf(f: &i::SdfFilter, pdr: u32) -> Result<SdfFilter, RuleError> {
    let flow = match &f.flow_description {
        Some(text) => Some(text.parse().map_err(|e: upf_rules::FlowParseError| {
            err(
                RuleKind::Pdr,
                pdr,
                RuleErrorReason::Invalid(format!("SDF filter: {e}")),
            )
        })?),
        None => None,
    };
    Ok(SdfFilter {
        flow,
        tos_tc: f.tos_tc,
        spi: f.spi,
        flow_label: f.flow_label,
        filter_id: f.filter_id,
        bidirectional: f.bidirectional,
    })
}

/// A Framed-Route ("prefix [gateway [metric]]") or Framed-IPv6-Route.
pub fn framed_route(b: &i::Bytes, pdr: u32) -> Result<IpPrefix, RuleError> {
    let text = b.text();
    let first = text.split_whitespace().next().unwrap_or("");
    first.parse().map_err(|_| {
        err(
            RuleKind::Pdr,
            pdr,
            RuleErrorReason::Invalid(format!("framed route {text:?}")),
        )
    })
}

/// Outer Header Creation.
pub fn ohc(o: &i::OuterHeaderCreation, far: u32) -> Result<OuterHeaderCreation, RuleError> {
    let d = o.description;
    let kind = if d & i::OHC_GTPU_V4 != 0 && o.ipv4.is_some() {
        OuterHeaderKind::GtpuUdpIpv4
    } else if d & i::OHC_GTPU_V6 != 0 {
        OuterHeaderKind::GtpuUdpIpv6
    } else if d & i::OHC_UDP_V4 != 0 {
        OuterHeaderKind::UdpIpv4
    } else if d & i::OHC_UDP_V6 != 0 {
        OuterHeaderKind::UdpIpv6
    } else if d & i::OHC_IPV4 != 0 {
        OuterHeaderKind::Ipv4
    } else if d & i::OHC_IPV6 != 0 {
        OuterHeaderKind::Ipv6
    } else {
        return Err(err(
            RuleKind::Far,
            far,
            RuleErrorReason::Invalid(format!("outer header creation {d:#06x}")),
        ));
    };
    Ok(OuterHeaderCreation {
        kind,
        teid: o.teid.unwrap_or(0),
        ipv4: o.ipv4,
        ipv6: o.ipv6,
        port: o.port,
    })
}

/// Forwarding Parameters.
pub fn forwarding(
    p: &g::ForwardingParameters,
    far: u32,
) -> Result<ForwardingParameters, RuleError> {
    Ok(ForwardingParameters {
        destination_interface: interface(p.destination_interface.0, RuleKind::Far, far)?,
        network_instance: ni(&p.network_instance),
        outer_header_creation: p
            .outer_header_creation
            .as_ref()
            .map(|o| ohc(o, far))
            .transpose()?,
        transport_level_marking: p.transport_level_marking.map(|t| t.0),
        forwarding_policy: p.forwarding_policy.as_ref().map(|f| f.0.clone()),
        send_end_marker: false,
    })
}

/// Duplicating Parameters.
pub fn duplicating(
    p: &g::DuplicatingParameters,
    far: u32,
) -> Result<DuplicatingParameters, RuleError> {
    Ok(DuplicatingParameters {
        destination_interface: interface(p.destination_interface.0, RuleKind::Far, far)?,
        outer_header_creation: p
            .outer_header_creation
            .as_ref()
            .map(|o| ohc(o, far))
            .transpose()?,
        transport_level_marking: p.transport_level_marking.map(|t| t.0),
        forwarding_policy: p.forwarding_policy.as_ref().map(|f| f.0.clone()),
    })
}

/// Create FAR.
pub fn far(c: &g::CreateFar) -> Result<Far, RuleError> {
    let id = c.far_id.0;
    Ok(Far {
        id,
        apply_action: ApplyAction(c.apply_action.0),
        forwarding: c
            .forwarding_parameters
            .as_ref()
            .map(|p| forwarding(p, id))
            .transpose()?,
        duplicating: c
            .duplicating_parameters
            .iter()
            .map(|d| duplicating(d, id))
            .collect::<Result<_, _>>()?,
        bar_id: c.bar_id.map(|b| b.0),
    })
}

/// Update FAR applied to an existing FAR.
pub fn update_far(f: &mut Far, u: &g::UpdateFar) -> Result<(), RuleError> {
    let id = f.id;
    if let Some(a) = u.apply_action {
        f.apply_action = ApplyAction(a.0);
    }
    if let Some(p) = &u.update_forwarding_parameters {
        let fp = match f.forwarding.take() {
            Some(fp) => fp,
            None => ForwardingParameters {
                destination_interface: match p.destination_interface {
                    Some(d) => interface(d.0, RuleKind::Far, id)?,
                    None => {
                        return Err(err(
                            RuleKind::Far,
                            id,
                            RuleErrorReason::MissingForwardingParameters,
                        ))
                    }
                },
                network_instance: None,
                outer_header_creation: None,
                transport_level_marking: None,
                forwarding_policy: None,
                send_end_marker: false,
            },
        };
        let mut fp = fp;
        if let Some(d) = p.destination_interface {
            fp.destination_interface = interface(d.0, RuleKind::Far, id)?;
        }
        if p.network_instance.is_some() {
            fp.network_instance = ni(&p.network_instance);
        }
        if let Some(o) = &p.outer_header_creation {
            fp.outer_header_creation = Some(ohc(o, id)?);
        }
        if let Some(t) = p.transport_level_marking {
            fp.transport_level_marking = Some(t.0);
        }
        if let Some(pol) = &p.forwarding_policy {
            fp.forwarding_policy = Some(pol.0.clone());
        }
        fp.send_end_marker = p.pfcpsm_req_flags.is_some_and(|f| f.0 & 0x02 != 0);
        f.forwarding = Some(fp);
    } else if let Some(fp) = f.forwarding.as_mut() {
        fp.send_end_marker = false;
    }
    if !u.update_duplicating_parameters.is_empty() {
        let mut dups = Vec::new();
        for d in &u.update_duplicating_parameters {
            let Some(di) = d.destination_interface else {
                continue;
            };
            dups.push(DuplicatingParameters {
                destination_interface: interface(di.0, RuleKind::Far, id)?,
                outer_header_creation: d
                    .outer_header_creation
                    .as_ref()
                    .map(|o| ohc(o, id))
                    .transpose()?,
                transport_level_marking: d.transport_level_marking.map(|t| t.0),
                forwarding_policy: d.forwarding_policy.as_ref().map(|p| p.0.clone()),
            });
        }
        f.duplicating = dups;
    }
    if let Some(b) = u.bar_id {
        f.bar_id = Some(b.0);
    }
    Ok(())
}

fn volume(v: &i::Volume) -> Volume {
    Volume {
        total: v.total,
        uplink: v.ul,
        downlink: v.dl,
    }
}

fn method(m: u8) -> MeasurementMethod {
    MeasurementMethod {
        duration: m & 0x01 != 0,
        volume: m & 0x02 != 0,
        event: m & 0x04 != 0,
    }
}

/// Create URR.
pub fn urr(c: &g::CreateUrr) -> Urr {
    Urr {
        id: c.urr_id.0,
        method: method(c.measurement_method.0),
        triggers: ReportingTriggers(c.reporting_triggers.0),
        measurement_period_s: c.measurement_period.map(|p| p.0),
        volume_threshold: c.volume_threshold.as_ref().map(volume).unwrap_or_default(),
        volume_quota: c.volume_quota.as_ref().map(volume).unwrap_or_default(),
        time_threshold_s: c.time_threshold.map(|t| t.0),
        time_quota_s: c.time_quota.map(|t| t.0),
        quota_holding_time_s: c.quota_holding_time.map(|t| t.0),
        inactivity_detection_time_s: c.inactivity_detection_time.map(|t| t.0),
        measurement_info: c.measurement_information.map_or(0, |m| m.0),
        far_id_for_quota_action: c.far_id_for_quota_action.map(|f| f.0),
        linked_urr_ids: c.linked_urr_id.iter().map(|l| l.0).collect(),
    }
}

/// Update URR applied to an existing URR.
pub fn update_urr(u: &mut Urr, c: &g::UpdateUrr) {
    if let Some(m) = c.measurement_method {
        u.method = method(m.0);
    }
    if let Some(t) = c.reporting_triggers {
        u.triggers = ReportingTriggers(t.0);
    }
    if let Some(p) = c.measurement_period {
        u.measurement_period_s = Some(p.0);
    }
    if let Some(v) = &c.volume_threshold {
        u.volume_threshold = volume(v);
    }
    if let Some(v) = &c.volume_quota {
        u.volume_quota = volume(v);
    }
    if let Some(t) = c.time_threshold {
        u.time_threshold_s = Some(t.0);
    }
    if let Some(t) = c.time_quota {
        u.time_quota_s = Some(t.0);
    }
    if let Some(t) = c.quota_holding_time {
        u.quota_holding_time_s = Some(t.0);
    }
    if let Some(t) = c.inactivity_detection_time {
        u.inactivity_detection_time_s = Some(t.0);
    }
    if let Some(m) = c.measurement_information {
        u.measurement_info = m.0;
    }
    if let Some(f) = c.far_id_for_quota_action {
        u.far_id_for_quota_action = Some(f.0);
    }
    if !c.linked_urr_id.is_empty() {
        u.linked_urr_ids = c.linked_urr_id.iter().map(|l| l.0).collect();
    }
}

fn gate(v: u8) -> Gate {
    if v == 0 {
        Gate::Open
    } else {
        Gate::Closed
    }
}

/// Create QER.
pub fn qer(c: &g::CreateQer) -> Qer {
    Qer {
        id: c.qer_id.0,
        correlation_id: c.qer_correlation_id.map(|x| x.0),
        gate_ul: gate(c.gate_status.ul),
        gate_dl: gate(c.gate_status.dl),
        mbr_ul_kbps: c.mbr.map(|m| m.ul_kbps),
        mbr_dl_kbps: c.mbr.map(|m| m.dl_kbps),
        gbr_ul_kbps: c.gbr.map(|m| m.ul_kbps),
        gbr_dl_kbps: c.gbr.map(|m| m.dl_kbps),
        qfi: c.qfi.map(|q| q.0 & 0x3f),
        rqi: c.rqi.is_some_and(|r| r.0 & 1 != 0),
        ppi: c.paging_policy_indicator.map(|p| p.0 & 0x07),
    }
}

/// Update QER applied to an existing QER.
pub fn update_qer(q: &mut Qer, c: &g::UpdateQer) {
    if let Some(x) = c.qer_correlation_id {
        q.correlation_id = Some(x.0);
    }
    if let Some(gs) = c.gate_status {
        q.gate_ul = gate(gs.ul);
        q.gate_dl = gate(gs.dl);
    }
    if let Some(m) = c.mbr {
        q.mbr_ul_kbps = Some(m.ul_kbps);
        q.mbr_dl_kbps = Some(m.dl_kbps);
    }
    if let Some(m) = c.gbr {
        q.gbr_ul_kbps = Some(m.ul_kbps);
        q.gbr_dl_kbps = Some(m.dl_kbps);
    }
    if let Some(x) = c.qfi {
        q.qfi = Some(x.0 & 0x3f);
    }
    if let Some(x) = c.rqi {
        q.rqi = x.0 & 1 != 0;
    }
    if let Some(x) = c.paging_policy_indicator {
        q.ppi = Some(x.0 & 0x07);
    }
}

/// Create BAR.
pub fn bar(c: &g::CreateBar) -> Bar {
    Bar {
        id: c.bar_id.0,
        dl_data_notification_delay_ms: c
            .downlink_data_notification_delay
            .map(|d| u32::from(d.0) * 50),
        suggested_buffering_packets: c.suggested_buffering_packets_count.map(|c| c.0),
    }
}

/// Update BAR applied to an existing BAR.
pub fn update_bar(b: &mut Bar, c: &g::UpdateBar) {
    if let Some(d) = c.downlink_data_notification_delay {
        b.dl_data_notification_delay_ms = Some(u32::from(d.0) * 50);
    }
    if let Some(n) = c.suggested_buffering_packets_count {
        b.suggested_buffering_packets = Some(n.0);
    }
}

/// A usage report for PFCP.
pub fn usage_report(r: &UsageReport) -> g::UsageReport {
    let ntp = |s: u64| (s + NTP_UNIX_OFFSET) as u32;
    g::UsageReport {
        urr_id: i::UrrId(r.urr_id),
        ur_seqn: i::UrSeqn(r.seqn),
        usage_report_trigger: i::UsageReportTrigger(r.trigger.0),
        start_time: Some(i::StartTime(ntp(r.start_time))),
        end_time: Some(i::EndTime(ntp(r.end_time))),
        volume_measurement: r.volume.map(|v| i::VolumeMeasurement {
            total: Some(v.total_octets),
            ul: Some(v.uplink_octets),
            dl: Some(v.downlink_octets),
            total_packets: Some(v.total_packets),
            ul_packets: Some(v.uplink_packets),
            dl_packets: Some(v.downlink_packets),
        }),
        duration_measurement: r.duration_s.map(i::DurationMeasurement),
        time_of_first_packet: r.first_packet_time.map(|t| i::TimeOfFirstPacket(ntp(t))),
        time_of_last_packet: r.last_packet_time.map(|t| i::TimeOfLastPacket(ntp(t))),
        query_urr_reference: r.query_reference.map(i::QueryUrrReference),
        ..Default::default()
    }
}

/// The Failed Rule ID of a rule error.
pub fn failed_rule(e: &RuleError) -> i::FailedRuleId {
    i::FailedRuleId {
        rule_type: match e.kind {
            RuleKind::Pdr => 0,
            RuleKind::Far => 1,
            RuleKind::Qer => 2,
            RuleKind::Urr => 3,
            RuleKind::Bar => 4,
        },
        id: e.id,
    }
}

/// The IE type of the rule a failure names (for logs and Offending IE).
pub fn rule_ie(kind: RuleKind) -> u16 {
    match kind {
        RuleKind::Pdr => i::t::CREATE_PDR,
        RuleKind::Far => i::t::CREATE_FAR,
        RuleKind::Qer => i::t::CREATE_QER,
        RuleKind::Urr => i::t::CREATE_URR,
        RuleKind::Bar => i::t::CREATE_BAR,
    }
}

/// Unused-ID helper: FARs named by PDRs but absent.
pub fn missing_fars(rules: &upf_rules::SessionRules) -> Vec<FarId> {
    rules
        .pdrs
        .iter()
        .filter_map(|p| p.far_id)
        .filter(|f| rules.far(*f).is_none())
        .collect()
}

/// The first IPv4 and IPv6 UE address of a PDI list.
pub fn ue_addrs(v: &[upf_rules::UeIp]) -> (Option<IpAddr>, Option<IpAddr>) {
    let v4 = v.iter().find_map(|u| u.ipv4).map(IpAddr::V4);
    let v6 = v.iter().find_map(|u| u.ipv6).map(|p| p.addr);
    (v4, v6)
}
