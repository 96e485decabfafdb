//! A bridge for the interoperability tests (scripts/test.d/20-pfcp-interop.sh):
//!
//! - `pfcp_probe decode`: reads one hex-encoded PFCP message per line on
//!   stdin and prints one line per message: `OK <debug of the PDU>` or
//!   `ERR <error>`;
//! - `pfcp_probe samples FILE.pcap`: writes every message type this codec
//!   sends, encoded by us, as UDP/8805 packets into a pcap file.
#![allow(clippy::unwrap_used)]

use std::io::{BufRead, Write};
use std::net::Ipv4Addr;

use pfcp_codec::group::*;
use pfcp_codec::ie::*;
use pfcp_codec::msg::*;
use pfcp_codec::{decode, Message, Pdu};

fn unhex(s: &str) -> Option<Vec<u8>> {
    let s = s.trim();
    if !s.len().is_multiple_of(2) {
        return None;
    }
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&s[i..i + 2], 16).ok())
        .collect()
}

fn n(a: [u8; 4]) -> NodeId {
    NodeId::Ipv4(Ipv4Addr::from(a))
}

fn samples() -> Vec<Pdu> {
    let usage = UsageReport {
        urr_id: UrrId(1),
        ur_seqn: UrSeqn(3),
        usage_report_trigger: UsageReportTrigger(0x80),
        start_time: Some(StartTime(0xe3f4_0000)),
        end_time: Some(EndTime(0xe3f4_0010)),
        volume_measurement: Some(VolumeMeasurement {
            total: Some(3000),
            ul: Some(1000),
            dl: Some(2000),
            total_packets: Some(30),
            ul_packets: Some(10),
            dl_packets: Some(20),
        }),
        duration_measurement: Some(DurationMeasurement(16)),
        ..Default::default()
    };
    let mut feats = Features::default();
    for f in [
        upf::BUCP,
        upf::DDND,
        upf::FTUP,
        upf::PFDM,
        upf::EMPU,
        upf::UEIP,
        upf::MNOP,
        upf::FRRT,
    ] {
        feats.set(f.0, f.1);
    }
    vec![
        Pdu::node(
            1,
            Message::HeartbeatRequest(HeartbeatRequest {
                recovery_time_stamp: RecoveryTimeStamp(0xe3f4a1b2),
                source_ip_address: None,
            }),
        ),
        Pdu::node(
            1,
            Message::HeartbeatResponse(HeartbeatResponse {
                recovery_time_stamp: RecoveryTimeStamp(0xe3f4a1b2),
            }),
        ),
        Pdu::node(
            2,
            Message::AssociationSetupResponse(AssociationSetupResponse {
                node_id: n([198, 18, 4, 2]),
                cause: CauseIe(1),
                recovery_time_stamp: RecoveryTimeStamp(0xe3f4a1b2),
                up_function_features: Some(feats),
                ue_ip_address_pool_information: vec![UeIpAddressPoolInformation {
                    pool_identity: PoolIdentity("internet-v4".into()),
                    network_instance: Some(NetworkInstance::encoded("internet")),
                    ..Default::default()
                }],
                ..Default::default()
            }),
        ),
        Pdu::node(
            3,
            Message::AssociationUpdateResponse(AssociationUpdateResponse {
                node_id: n([198, 18, 4, 2]),
                cause: CauseIe(1),
                ..Default::default()
            }),
        ),
        Pdu::node(
            4,
            Message::AssociationReleaseResponse(AssociationReleaseResponse {
                node_id: n([198, 18, 4, 2]),
                cause: CauseIe(1),
            }),
        ),
        Pdu::node(
            5,
            Message::AssociationSetupRequest(AssociationSetupRequest {
                node_id: NodeId::Fqdn("upf.edge.example".into()),
                recovery_time_stamp: RecoveryTimeStamp(7),
                ..Default::default()
            }),
        ),
        Pdu::node(
            6,
            Message::NodeReportRequest(NodeReportRequest {
                node_id: n([198, 18, 4, 2]),
                node_report_type: NodeReportType(1),
                user_plane_path_failure_report: Some(UserPlanePathFailureReport {
                    remote_gtpu_peer: vec![RemoteGtpuPeer {
                        ipv4: Some(Ipv4Addr::new(198, 18, 3, 1)),
                        ..Default::default()
                    }],
                }),
                ..Default::default()
            }),
        ),
        Pdu::node(
            7,
            Message::PfdManagementResponse(PfdManagementResponse {
                cause: CauseIe(1),
                ..Default::default()
            }),
        ),
        Pdu::node(
            8,
            Message::SessionSetDeletionResponse(SessionSetDeletionResponse {
                node_id: n([198, 18, 4, 2]),
                cause: CauseIe(1),
                offending_ie: None,
            }),
        ),
        Pdu::node(9, Message::VersionNotSupportedResponse),
        Pdu::session(
            10,
            0x1122,
            Message::SessionEstablishmentResponse(SessionEstablishmentResponse {
                node_id: n([198, 18, 4, 2]),
                cause: CauseIe(1),
                up_fseid: Some(FSeid {
                    seid: 0x0100_0000_0000_0001,
                    ipv4: Some(Ipv4Addr::new(198, 18, 4, 2)),
                    ipv6: None,
                }),
                created_pdr: vec![CreatedPdr {
                    pdr_id: PdrId(1),
                    local_fteid: Some(FTeid {
                        teid: 0x1001,
                        ipv4: Some(Ipv4Addr::new(198, 18, 3, 2)),
                        ..Default::default()
                    }),
                    ue_ip_address: vec![UeIpAddress {
                        ipv4: Some(Ipv4Addr::new(198, 19, 0, 5)),
                        is_destination: false,
                        ..Default::default()
                    }],
                }],
                ..Default::default()
            }),
        ),
        Pdu::session(
            11,
            0x1122,
            Message::SessionEstablishmentResponse(SessionEstablishmentResponse {
                node_id: n([198, 18, 4, 2]),
                cause: CauseIe(73),
                failed_rule_id: Some(FailedRuleId {
                    rule_type: 1,
                    id: 9,
                }),
                offending_ie: None,
                ..Default::default()
            }),
        ),
        Pdu::session(
            12,
            0x1122,
            Message::SessionModificationResponse(SessionModificationResponse {
                cause: CauseIe(1),
                usage_report: vec![usage.clone()],
                ..Default::default()
            }),
        ),
        Pdu::session(
            13,
            0x1122,
            Message::SessionDeletionResponse(SessionDeletionResponse {
                cause: CauseIe(1),
                usage_report: vec![usage.clone()],
                ..Default::default()
            }),
        ),
        Pdu::session(
            14,
            0x1122,
            Message::SessionReportRequest(SessionReportRequest {
                report_type: ReportType(0x02),
                usage_report: vec![usage],
                ..Default::default()
            }),
        ),
        Pdu::session(
            15,
            0x1122,
            Message::SessionReportRequest(SessionReportRequest {
                report_type: ReportType(0x01),
                downlink_data_report: Some(DownlinkDataReport {
                    pdr_id: vec![PdrId(2)],
                    downlink_data_service_information: vec![DownlinkDataServiceInformation {
                        ppi: None,
                        qfi: Some(9),
                    }],
                }),
                ..Default::default()
            }),
        ),
        Pdu::session(
            16,
            0x1122,
            Message::SessionReportRequest(SessionReportRequest {
                report_type: ReportType(0x04),
                error_indication_report: Some(ErrorIndicationReport {
                    remote_fteid: vec![FTeid {
                        teid: 0x2002,
                        ipv4: Some(Ipv4Addr::new(198, 18, 3, 1)),
                        ..Default::default()
                    }],
                }),
                ..Default::default()
            }),
        ),
        Pdu::session(
            17,
            0x1122,
            Message::SessionModificationResponse(SessionModificationResponse {
                cause: CauseIe(66),
                offending_ie: Some(OffendingIe(57)),
                ..Default::default()
            }),
        ),
    ]
}

fn pcap(path: &str, msgs: &[Pdu]) {
    let mut f = std::fs::File::create(path).unwrap();
    // pcap global header: magic, v2.4, snaplen 65535, linktype 101 (raw IP).
    f.write_all(&0xa1b2c3d4u32.to_le_bytes()).unwrap();
    f.write_all(&2u16.to_le_bytes()).unwrap();
    f.write_all(&4u16.to_le_bytes()).unwrap();
    f.write_all(&[0; 8]).unwrap();
    f.write_all(&65535u32.to_le_bytes()).unwrap();
    f.write_all(&101u32.to_le_bytes()).unwrap();
    for (i, m) in msgs.iter().enumerate() {
        let body = m.to_bytes();
        let total = 20 + 8 + body.len();
        let mut p = vec![0u8; total];
        p[0] = 0x45;
        p[2..4].copy_from_slice(&(total as u16).to_be_bytes());
        p[8] = 64;
        p[9] = 17;
        p[12..16].copy_from_slice(&[198, 18, 4, 2]);
        p[16..20].copy_from_slice(&[198, 18, 4, 1]);
        let c = checksum(&p[..20]);
        p[10..12].copy_from_slice(&c.to_be_bytes());
        p[20..22].copy_from_slice(&8805u16.to_be_bytes());
        p[22..24].copy_from_slice(&8805u16.to_be_bytes());
        p[24..26].copy_from_slice(&((8 + body.len()) as u16).to_be_bytes());
        p[28..].copy_from_slice(&body);
        f.write_all(&(i as u32).to_le_bytes()).unwrap();
        f.write_all(&0u32.to_le_bytes()).unwrap();
        f.write_all(&(total as u32).to_le_bytes()).unwrap();
        f.write_all(&(total as u32).to_le_bytes()).unwrap();
        f.write_all(&p).unwrap();
    }
}

fn checksum(b: &[u8]) -> u16 {
    let mut s: u32 = 0;
    for c in b.chunks(2) {
        s += u32::from(u16::from_be_bytes([c[0], *c.get(1).unwrap_or(&0)]));
    }
    while s > 0xffff {
        s = (s & 0xffff) + (s >> 16);
    }
    !(s as u16)
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    match args.get(1).map(String::as_str) {
        Some("decode") => {
            let stdin = std::io::stdin();
            let mut out = std::io::stdout().lock();
            for line in stdin.lock().lines() {
                let line = line.unwrap();
                match unhex(&line) {
                    None => writeln!(out, "ERR bad hex").unwrap(),
                    Some(b) => match decode(&b) {
                        Ok(p) => writeln!(out, "OK {p:?}").unwrap(),
                        Err(e) => writeln!(out, "ERR {e:?}").unwrap(),
                    },
                }
            }
        }
        Some("samples") => {
            let path = args
                .get(2)
                .map(String::as_str)
                .unwrap_or("pfcp-samples.pcap");
            let s = samples();
            pcap(path, &s);
            println!("{} messages written to {path}", s.len());
        }
        _ => {
            eprintln!("usage: pfcp_probe decode < hex-lines | pfcp_probe samples FILE.pcap");
            std::process::exit(2);
        }
    }
}
