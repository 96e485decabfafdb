#!/usr/bin/env python3
"""PFCP interoperability with independent implementations.

1. Messages built by scapy (scapy.contrib.pfcp) are decoded by our codec
   (pfcp_probe decode) and the decoded fields must match what scapy put in.
2. Messages encoded by our codec (pfcp_probe samples) are dissected by
   tshark with no malformed packet or expert error, and with the field
   values we encoded.

Exits non-zero on the first disagreement.
"""
import json
import os
import subprocess
import sys
import tempfile

from scapy.contrib.pfcp import *  # noqa: F401,F403
from scapy.all import raw

PROBE = sys.argv[1] if len(sys.argv) > 1 else "target/debug/examples/pfcp_probe"
failures = []


def check(name, cond, detail=""):
    if cond:
        print(f"ok   {name}")
    else:
        print(f"FAIL {name}: {detail}")
        failures.append(name)


def decode(msgs):
    hexes = "\n".join(raw(m).hex() for m in msgs) + "\n"
    out = subprocess.run([PROBE, "decode"], input=hexes, capture_output=True, text=True, check=True)
    return out.stdout.strip().split("\n")


node = IE_NodeId(id_type=0, ipv4="198.18.4.1")
fseid = IE_FSEID(v4=1, seid=0x1122334455667788, ipv4="198.18.4.1")

create_pdr_ul = IE_CreatePDR(IE_list=[
    IE_PDR_Id(id=1),
    IE_Precedence(precedence=255),
    IE_PDI(IE_list=[
        IE_SourceInterface(interface=0),
        IE_FTEID(CH=1, CHID=1, V4=1, choose_id=7),
        IE_NetworkInstance(instance="internet"),
        IE_SDF_Filter(FD=1, flow_description="permit out 17 from 198.51.100.0/24 5000-5010 to assigned"),
        IE_SDF_Filter(FD=1, flow_description="permit out ip from any to assigned"),
        IE_QFI(QFI=9),
    ]),
    IE_OuterHeaderRemoval(header=6),
    IE_FAR_Id(id=1),
    IE_URR_Id(id=1),
    IE_QER_Id(id=1),
])
create_pdr_ul2 = IE_CreatePDR(IE_list=[
    IE_PDR_Id(id=3),
    IE_Precedence(precedence=100),
    IE_PDI(IE_list=[IE_SourceInterface(interface=0), IE_FTEID(CH=1, CHID=1, V4=1, choose_id=7)]),
    IE_FAR_Id(id=1),
])
create_pdr_dl = IE_CreatePDR(IE_list=[
    IE_PDR_Id(id=2),
    IE_Precedence(precedence=255),
    IE_PDI(IE_list=[
        IE_SourceInterface(interface=1),
        IE_UE_IP_Address(SD=1, V4=1, ipv4="198.19.0.5"),
    ]),
    IE_FAR_Id(id=2),
    IE_URR_Id(id=1),
    IE_QER_Id(id=1),
])
create_far_ul = IE_CreateFAR(IE_list=[
    IE_FAR_Id(id=1),
    IE_ApplyAction(FORW=1),
    IE_ForwardingParameters(IE_list=[IE_DestinationInterface(interface=1), IE_NetworkInstance(instance="internet")]),
])
create_far_dl = IE_CreateFAR(IE_list=[
    IE_FAR_Id(id=2),
    IE_ApplyAction(BUFF=1, NOCP=1),
    IE_ForwardingParameters(IE_list=[
        IE_DestinationInterface(interface=0),
        IE_OuterHeaderCreation(GTPUUDPIPV4=1, TEID=0x2002, ipv4="198.18.3.1"),
        IE_TransportLevelMarking(tos=0xb8),
    ]),
    IE_BAR_Id(id=1),
])
create_urr = IE_CreateURR(IE_list=[
    IE_URR_Id(id=1),
    IE_MeasurementMethod(VOLUM=1, DURAT=1),
    IE_ReportingTriggers(volume_threshold=1, periodic_reporting=1),
    IE_MeasurementPeriod(period=60),
    IE_VolumeThreshold(TOVOL=1, total=1000000),
])
create_qer = IE_CreateQER(IE_list=[
    IE_QER_Id(id=1),
    IE_GateStatus(ul=0, dl=1),
    IE_MBR(ul=100000, dl=200000),
    IE_QFI(QFI=9),
])
create_bar = IE_Create_BAR(IE_list=[IE_BAR_Id(id=1), IE_SuggestedBufferingPacketsCount(count=16)])

establishment = PFCP(version=1, S=1, seid=0, seq=101) / PFCPSessionEstablishmentRequest(IE_list=[
    node, fseid, create_pdr_ul, create_pdr_ul2, create_pdr_dl, create_far_ul, create_far_dl, create_urr, create_qer, create_bar,
])
heartbeat = PFCP(version=1, S=0, seq=7) / PFCPHeartbeatRequest(IE_list=[IE_RecoveryTimeStamp(timestamp=3912345678)])
assoc_v4 = PFCP(version=1, S=0, seq=8) / PFCPAssociationSetupRequest(IE_list=[
    IE_NodeId(id_type=0, ipv4="198.18.4.1"), IE_RecoveryTimeStamp(timestamp=3912345678), IE_CPFunctionFeatures(LOAD=1, OVRL=1)])
assoc_v6 = PFCP(version=1, S=0, seq=9) / PFCPAssociationSetupRequest(IE_list=[
    IE_NodeId(id_type=1, ipv6="2001:db8:4::1"), IE_RecoveryTimeStamp(timestamp=1)])
assoc_fqdn = PFCP(version=1, S=0, seq=10) / PFCPAssociationSetupRequest(IE_list=[
    IE_NodeId(id_type=2, id="smf1.core.example"), IE_RecoveryTimeStamp(timestamp=2)])
release = PFCP(version=1, S=0, seq=11) / PFCPAssociationReleaseRequest(IE_list=[node])
modification = PFCP(version=1, S=1, seid=0x0100000000000001, seq=102) / PFCPSessionModificationRequest(IE_list=[
    IE_RemovePDR(IE_list=[IE_PDR_Id(id=3)]),
    IE_RemoveURR(IE_list=[IE_URR_Id(id=5)]),
    IE_RemoveQER(IE_list=[IE_QER_Id(id=6)]),
    IE_UpdateFAR(IE_list=[
        IE_FAR_Id(id=2),
        IE_ApplyAction(FORW=1),
        IE_UpdateForwardingParameters(IE_list=[
            IE_DestinationInterface(interface=0),
            IE_OuterHeaderCreation(GTPUUDPIPV4=1, TEID=0x3003, ipv4="198.18.3.9"),
            IE_PFCPSMReqFlags(SNDEM=1),
        ]),
    ]),
    IE_UpdateQER(IE_list=[IE_QER_Id(id=1), IE_GateStatus(ul=0, dl=0)]),
    IE_UpdateURR(IE_list=[IE_URR_Id(id=1), IE_VolumeThreshold(TOVOL=1, total=5000)]),
    IE_UpdatePDR(IE_list=[IE_PDR_Id(id=1), IE_Precedence(precedence=10)]),
    IE_QueryURR(IE_list=[IE_URR_Id(id=1)]),
])
deletion = PFCP(version=1, S=1, seid=0x0100000000000001, seq=103) / PFCPSessionDeletionRequest()
report_rsp = PFCP(version=1, S=1, seid=0x0100000000000001, seq=104) / PFCPSessionReportResponse(IE_list=[IE_Cause(cause=1)])
pfd = PFCP(version=1, S=0, seq=12) / PFCPPFDManagementRequest(IE_list=[
    IE_ApplicationID_PFDs(IE_list=[IE_ApplicationId(id="video"), IE_PFDContext(IE_list=[
        IE_PFDContents(FD=1, flow="permit out 6 from 198.51.100.9 443 to assigned")])])])

lines = decode([establishment, heartbeat, assoc_v4, assoc_v6, assoc_fqdn, release, modification, deletion, report_rsp, pfd])
est, hb, a4, a6, afq, rel, mod, dele, rr, pfdl = lines
check("all scapy messages decode", all(l.startswith("OK ") for l in lines), "\n".join(l for l in lines if not l.startswith("OK")))
check("establishment: header", "seq: 101" in est and "seid: Some(0)" in est, est[:200])
check("establishment: CP F-SEID", "seid: 1234605616436508552" in est and "198.18.4.1" in est)
check("establishment: CHOOSE with CHOOSE ID", "choose: true, choose_v4: true, choose_v6: false, choose_id: Some(7)" in est, est)
check("establishment: two SDF filters", est.count("flow_description: Some(") == 2 and "5000-5010 to assigned" in est)
check("establishment: outer header removal 6", "OuterHeaderRemoval { description: 6" in est)
check("establishment: UE IP destination", "ipv4: Some(198.19.0.5)" in est and "is_destination: true" in est)
check("establishment: BUFF|NOCP apply action", "ApplyAction(12)" in est, est)
check("establishment: OHC GTP-U/IPv4 TEID", "description: 256, teid: Some(8194), ipv4: Some(198.18.3.1)" in est)
check("establishment: transport level marking", "TransportLevelMarking(47104)" in est)
check("establishment: MBR", "ul_kbps: 100000, dl_kbps: 200000" in est)
check("establishment: gate status", "GateStatus { ul: 0, dl: 1 }" in est)
check("establishment: volume threshold", "total: Some(1000000)" in est)
check("establishment: reporting triggers PERIO|VOLTH", "ReportingTriggers(3)" in est, est)
check("establishment: BAR", "SuggestedBufferingPacketsCount(16)" in est)
check("establishment: network instance", 'NetworkInstance("internet")' in est, est)
check("heartbeat", "HeartbeatRequest" in hb and "RecoveryTimeStamp(3912345678)" in hb)
check("association: IPv4 node", "Ipv4(198.18.4.1)" in a4 and "cp_function_features: Some(Features(" in a4)
check("association: IPv6 node", "Ipv6(2001:db8:4::1)" in a6)
check("association: FQDN node", 'Fqdn("smf1.core.example")' in afq, afq)
check("release", "AssociationReleaseRequest" in rel)
check("modification: removes", "RemovePdr { pdr_id: PdrId(3) }" in mod and "RemoveUrr { urr_id: UrrId(5) }" in mod and "RemoveQer { qer_id: QerId(6) }" in mod)
check("modification: update FAR with SNDEM", "teid: Some(12291)" in mod and "PfcpsmReqFlags(2)" in mod, mod)
check("modification: update QER/URR/PDR", "UpdateQer" in mod and "total: Some(5000)" in mod and "Precedence(10)" in mod)
check("modification: query URR", "QueryUrr { urr_id: UrrId(1) }" in mod)
check("deletion", "SessionDeletionRequest" in dele and "seid: Some(72057594037927937)" in dele)
check("report response", "SessionReportResponse" in rr and "CauseIe(1)" in rr)
check("PFD management", 'PfdContents { flow_description: Some("permit out 6 from 198.51.100.9 443 to assigned")' in pfdl, pfdl)

# Our encodings through tshark.
with tempfile.TemporaryDirectory() as d:
    pcap = os.path.join(d, "ours.pcap")
    subprocess.run([PROBE, "samples", pcap], check=True, capture_output=True)
    out = subprocess.run(["tshark", "-r", pcap, "-T", "json"], capture_output=True, text=True, check=True)
    pkts = json.loads(out.stdout)
    check("tshark sees every sample", len(pkts) == 18, str(len(pkts)))
    verbose = subprocess.run(["tshark", "-r", pcap, "-V"], capture_output=True, text=True, check=True).stdout
    check("tshark: no malformed packet", "Malformed" not in verbose)
    experts = subprocess.run(["tshark", "-r", pcap, "-T", "fields", "-e", "_ws.expert.message"],
                             capture_output=True, text=True, check=True).stdout
    check("tshark: no expert info", experts.strip() == "", experts)

    def fields(i):
        return pkts[i]["_source"]["layers"]["pfcp"]

    def flat(obj):
        s = json.dumps(obj)
        return s

    types = [fields(i)["pfcp.msg_type"] for i in range(len(pkts))]
    check("tshark: message types", types == ["1", "2", "6", "8", "10", "5", "12", "4", "15", "11", "51", "51", "53", "55", "56", "56", "56", "53"], str(types))
    f10 = flat(fields(10))
    check("tshark: establishment response F-SEID and F-TEID",
          '"pfcp.f_seid.ipv4": "198.18.4.2"' in f10 and '"pfcp.f_teid.teid": "0x00001001"' in f10 and '"pfcp.ue_ip_addr_ipv4": "198.19.0.5"' in f10, f10[:600])
    f11 = flat(fields(11))
    check("tshark: failed rule id", '"pfcp.cause": "73"' in f11 and '"pfcp.failed_rule_id_type": "1"' in f11, f11[:600])
    f12 = flat(fields(12))
    check("tshark: usage report volumes", '"pfcp.volume_measurement.tovol": "3000"' in f12 and '"pfcp.volume_measurement.dlnop": "20"' in f12, f12[:800])
    f16 = flat(fields(16))
    check("tshark: error indication report", '"pfcp.f_teid.teid": "0x00002002"' in f16, f16[:600])
    f2 = flat(fields(2))
    check("tshark: UP function features we set", all(f'"pfcp.up_function_features.{n}": "1"' in f2 for n in ["bucp", "ddnd", "ftup", "pfdm", "empu", "frrt", "mnop"]) and '"pfcp.up_function_features.trst": "0"' in f2, f2[:800])

if failures:
    print(f"{len(failures)} check(s) failed: {failures}")
    sys.exit(1)
print("pfcp interop: all checks passed")
