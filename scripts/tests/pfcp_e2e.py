#!/usr/bin/env python3
"""pfcp-ctl driven by an independent SMF (scapy.contrib.pfcp) with real
GTP-U traffic (scapy.contrib.gtp) through upf-dataplane in namespaces.

Covers: association (features, recovery time stamp, UE pools), heartbeats
both ways (IPv4 and IPv6), only configured peers, the full session
lifecycle with CHOOSE F-TEID / CHOOSE ID / UE IP, traffic both ways, usage
that matches the bytes sent exactly (query, threshold report, deletion),
Update Forwarding Parameters, downlink buffering (BUFF+NOCP with BAR) with a
Downlink Data Report and an in-order flush, SMF-initiated buffering and
DROBU, every TS 29.244 7.6 cause the issue lists, retransmitted requests,
the interop quirks, PFD management with an application-ID PDR, Error
Indication Report, Node Report on user plane path failure and recovery,
association update, Session Set Deletion, association release.

Exits non-zero if any check fails. Needs root.
"""
import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from n4lab import *  # noqa: F401,F403,E402
from scapy.contrib.gtp import GTPHeader, GTPErrorIndication, IE_TEIDI, IE_GSNAddress  # noqa: E402

C_ACCEPTED = 1
C_REJECTED = 64
C_NOT_FOUND = 65
C_MANDATORY_MISSING = 66
C_CONDITIONAL_MISSING = 67
C_MANDATORY_INCORRECT = 69
C_NO_ASSOCIATION = 72
C_RULE_FAILURE = 73

T_F_SEID = 57
T_FORWARDING_PARAMETERS = 4
T_CREATE_FAR = 3


def up_features(rsp):
    for x in getattr(rsp[PFCP].payload, "IE_list", []):
        if x.ietype == 43:
            return bytes(raw(x))[4:]
    return b""


def has_ie_type(pkt, t):
    return any(x.ietype == t for x in getattr(pkt[PFCP].payload, "IE_list", []))


def usage_reports(pkt):
    return ies(pkt, IE_UsageReport_SMR) + ies(pkt, IE_UsageReport_SDR) + ies(pkt, IE_UsageReport_SRR)


def send_ul(gnb, teid, ue, dport, payloads, qfi=9, sport=5000):
    sizes = []
    for p in payloads:
        pkt = inner_udp(ue, DN, sport, dport, p)
        sizes.append(len(pkt))
        gnb.send(teid, pkt, qfi)
        time.sleep(0.002)
    return sizes


def main():
    lab = UpfLab("n4e")
    try:
        lab.start()
        run(lab)
    finally:
        alive = lab.alive()
        panicked = lab.panicked()
        if not alive or panicked:
            print("---- pfcp-ctl log ----\n" + lab.log("pfcp-ctl")[-6000:])
            print("---- dataplane log ----\n" + lab.log("dataplane")[-4000:])
        check("pfcp-ctl and the dataplane are still running", alive)
        check("no panic in either process", not panicked)
        lab.close()
    return finish()


def run(lab):
    smf = Smf(lab, SMF)
    gnb = Gnb(lab)
    dn = Dn(lab, ports=(9000, 7000, 7001, 8000))

    # ------------------------------------------------------------------
    print("== association and heartbeats")
    rsp = smf.associate()
    check("association setup accepted", rsp is not None and cause_of(rsp) == C_ACCEPTED, rsp)
    rts = ie(rsp, IE_RecoveryTimeStamp).timestamp
    feats = up_features(rsp)
    # Octet 5: BUCP(0x01) DDND(0x02) FTUP(0x10) PFDM(0x20); octet 6: EMPU(0x01)
    # QUOAC(0x08) FRRT(0x20); octet 7: UEIP(0x04) MNOP(0x10).
    check("UP function features: BUCP FTUP PFDM / EMPU / UEIP MNOP",
          len(feats) >= 3 and feats[0] & 0x31 == 0x31 and feats[1] & 0x01 and feats[2] & 0x14 == 0x14, feats.hex())
    check("UE IP address pool information present", has_ie_type(rsp, 233), rsp.summary())
    check("recovery time stamp is recent", abs((rts - NTP_OFFSET) - time.time()) < 3600, rts)
    hb = smf.heartbeat()
    check("SMF heartbeat answered with the same recovery time stamp",
          hb is not None and ie(hb, IE_RecoveryTimeStamp).timestamp == rts, hb)
    t0 = time.monotonic()
    got = wait_for(lambda: len(smf.requests_of(1, t0)) >= 2, 4.0)
    hbs = smf.requests_of(1, t0)
    check("UPF sends heartbeats to the associated SMF (interval 1s)", got, len(hbs))
    check("UPF heartbeats carry its recovery time stamp",
          all(ie(p, IE_RecoveryTimeStamp).timestamp == rts for _, p in hbs), "")
    smf6 = Smf(lab, SMF6)
    hb6 = smf6.heartbeat()
    check("heartbeat over IPv6 N4", hb6 is not None and ie(hb6, IE_RecoveryTimeStamp).timestamp == rts, hb6)
    rsp = smf.request(PFCPAssociationUpdateRequest(IE_list=[smf.node_ie()]))
    check("association update accepted", rsp is not None and cause_of(rsp) == C_ACCEPTED, rsp)

    print("== only configured peers")
    before = lab.ctl_status()["refused_peers"]
    rogue = Smf(lab, ROGUE)
    rsp = rogue.associate()
    check("unconfigured peer refused (Request rejected)", rsp is not None and cause_of(rsp) == C_REJECTED, rsp)
    check("refusal counted", lab.ctl_status()["refused_peers"] == before + 1)
    rsp = rogue.request(PFCPAssociationReleaseRequest(IE_list=[smf.node_ie()]))
    check("a stranger cannot release the SMF's association",
          rsp is not None and cause_of(rsp) != C_ACCEPTED and len(lab.ctl_admin("peers")) == 1, rsp)

    # ------------------------------------------------------------------
    print("== lifecycle with traffic")
    rsp = smf.establish(0x1001, session_ies(gnb_teid=0x5001))
    check("establishment accepted", rsp is not None and cause_of(rsp) == C_ACCEPTED, rsp)
    s = Session(0x1001, rsp)
    check("UPF chose the F-TEID on its N3 address", s.teid and s.n3 == UPF_N3, (s.teid, s.n3))
    check("UPF chose a UE address from the pool", s.ue is not None and s.ue.startswith("198.19.0."), s.ue)
    check("dataplane holds the session", lab.dp_status()["sessions"] == 1)
    # Uplink.
    sizes = send_ul(gnb, s.teid, s.ue, 9000, [b"ul-%03d" % i + b"x" * i for i in range(20)])
    wait_for(lambda: len(dn.received(9000)) >= 20, 3.0)
    rx = dn.received(9000)
    check("uplink: all 20 packets reached the data network", len(rx) == 20, len(rx))
    check("uplink: payloads and UE source intact",
          [r[3] for r in rx] == [b"ul-%03d" % i + b"x" * i for i in range(20)] and all(r[2][0] == s.ue for r in rx))
    # Downlink.
    dl_sizes = []
    for i in range(15):
        p = b"dl-%03d" % i + b"y" * (2 * i)
        dn.send(s.ue, 5000, p)
        dl_sizes.append(28 + len(p))
        time.sleep(0.002)
    wait_for(lambda: len(gnb.received(0x5001)) >= 15, 3.0)
    rx = gnb.received(0x5001)
    check("downlink: all 15 packets tunnelled to the gNB's TEID", len(rx) == 15, len(rx))
    check("downlink: QFI 9 in the PDU session container", all(r[2] == 9 for r in rx), [r[2] for r in rx][:3])
    check("downlink: inner packets intact", [r[3][28:] for r in rx] == [b"dl-%03d" % i + b"y" * (2 * i) for i in range(15)])
    # Query URR: exact volumes.
    rsp = smf.modify(s.up_seid, [IE_QueryURR(IE_list=[IE_URR_Id(id=1)])])
    ur = usage_reports(rsp) if rsp is not None else []
    check("Query URR answered with one usage report", rsp is not None and cause_of(rsp) == C_ACCEPTED and len(ur) == 1, rsp)
    if ur:
        tot, ul, dl = volumes(ur[0])
        check("Query URR: uplink volume equals the inner bytes sent", ul == sum(sizes), (ul, sum(sizes)))
        check("Query URR: downlink volume equals the bytes sent", dl == sum(dl_sizes), (dl, sum(dl_sizes)))
        check("Query URR: total = uplink + downlink", tot == sum(sizes) + sum(dl_sizes), tot)
        check("Query URR: trigger IMMER", ie(ur[0], IE_UsageReportTrigger).IMMER == 1)
    # Update Forwarding Parameters: the gNB moves to TEID 0x5002.
    rsp = smf.modify(s.up_seid, [IE_UpdateFAR(IE_list=[IE_FAR_Id(id=2), IE_ApplyAction(FORW=1), IE_UpdateForwardingParameters(IE_list=[
        IE_DestinationInterface(interface=0), IE_OuterHeaderCreation(GTPUUDPIPV4=1, TEID=0x5002, ipv4=GNB)])])])
    check("Update Forwarding Parameters accepted", rsp is not None and cause_of(rsp) == C_ACCEPTED, rsp)
    gnb.clear()
    dl2 = []
    for i in range(5):
        p = b"dl2-%d" % i
        dn.send(s.ue, 5000, p)
        dl2.append(28 + len(p))
    wait_for(lambda: len(gnb.received(0x5002)) >= 5, 3.0)
    check("downlink follows the new F-TEID", len(gnb.received(0x5002)) == 5 and not gnb.received(0x5001),
          (len(gnb.received(0x5002)), len(gnb.received(0x5001))))
    sizes2 = send_ul(gnb, s.teid, s.ue, 9000, [b"after-query-%d" % i for i in range(7)])
    wait_for(lambda: len(dn.received(9000)) >= 27, 3.0)
    # Deletion with the final report: exactly what crossed since the query.
    rsp = smf.delete(s.up_seid)
    ur = usage_reports(rsp) if rsp is not None else []
    check("deletion accepted with a final usage report", rsp is not None and cause_of(rsp) == C_ACCEPTED and len(ur) == 1, rsp)
    if ur:
        tot, ul, dl = volumes(ur[0])
        check("final report: uplink since the query", ul == sum(sizes2), (ul, sum(sizes2)))
        check("final report: downlink since the query", dl == sum(dl2), (dl, sum(dl2)))
        check("final report: trigger TERMR", ie(ur[0], IE_UsageReportTrigger).TERMR == 1)
    check("dataplane dropped the session", wait_for(lambda: lab.dp_status()["sessions"] == 0, 2.0))
    dn.clear()
    gnb.send(s.teid, inner_udp(s.ue, DN, 5000, 9000, b"late"))
    time.sleep(0.3)
    check("no forwarding after deletion", not dn.received(9000))

    # ------------------------------------------------------------------
    print("== usage report on a volume threshold")
    pk = [inner_udp("198.19.0.200", DN, 5000, 9000, b"t" * 100) for _ in range(3)]
    thr = 3 * len(pk[0])
    rsp = smf.establish(0x1002, session_ies(gnb_teid=0x5003, ue="198.19.0.200", urr_triggers={"volume_threshold": 1},
                                            extra=[]))
    # The Create URR above has no threshold value yet: set it with Update URR.
    s2 = Session(0x1002, rsp)
    rsp = smf.modify(s2.up_seid, [IE_UpdateURR(IE_list=[IE_URR_Id(id=1), IE_ReportingTriggers(volume_threshold=1),
                                                        IE_VolumeThreshold(ULVOL=1, uplink=thr)])])
    check("threshold set", rsp is not None and cause_of(rsp) == C_ACCEPTED, rsp)
    t0 = time.monotonic()
    smf.answer[56] = False  # the SMF does not answer at first
    for p in pk:
        gnb.send(s2.teid, p)
        time.sleep(0.01)
    rep = smf.wait_request(lambda p: p.message_type == 56 and ie(p, IE_ReportType).USAR == 1, 5.0, t0)
    check("Session Report Request (USAR) when the threshold is reached", rep is not None)
    if rep is not None:
        again = wait_for(lambda: len([1 for _, q in smf.requests_of(56, t0) if q.seq == rep.seq]) >= 3, 3.0)
        check("unanswered report retransmitted (same sequence number, every T1)", again,
              len([1 for _, q in smf.requests_of(56, t0) if q.seq == rep.seq]))
        smf.answer[56] = True
        smf._answer(rep, (UPF_N4, 8805))
        n_then = len([1 for _, q in smf.requests_of(56, t0) if q.seq == rep.seq])
        time.sleep(1.2)
        check("no retransmission once answered",
              len([1 for _, q in smf.requests_of(56, t0) if q.seq == rep.seq]) <= n_then + 1)
    smf.answer[56] = True
    if rep is not None:
        ur = ies(rep, IE_UsageReport_SRR)
        _, ul, _ = volumes(ur[0])
        check("threshold report volume is exactly the bytes sent", ul == thr, (ul, thr))
        check("threshold report trigger VOLTH", ie(ur[0], IE_UsageReportTrigger).VOLTH == 1)
        check("report addressed to the CP SEID", rep.seid == 0x1002, rep.seid)
    rsp = smf.delete(s2.up_seid)
    check("threshold session deleted", rsp is not None and cause_of(rsp) == C_ACCEPTED)

    # ------------------------------------------------------------------
    print("== downlink buffering, Downlink Data Report, flush in order")
    rsp = smf.establish(0x1003, session_ies(gnb_teid=0x5004, ue="198.19.0.201", dl_action="BUFF", bar=True))
    check("establishment with BUFF+NOCP FAR and BAR accepted", rsp is not None and cause_of(rsp) == C_ACCEPTED, rsp)
    s3 = Session(0x1003, rsp)
    gnb.clear()
    t0 = time.monotonic()
    for i in range(10):
        dn.send("198.19.0.201", 5000, b"buf-%02d" % i)
        time.sleep(0.005)
    rep = smf.wait_request(lambda p: p.message_type == 56 and ie(p, IE_ReportType).DLDR == 1, 5.0, t0)
    check("Downlink Data Report sent to the SMF", rep is not None)
    if rep is not None:
        ddr = ie(rep, IE_DownlinkDataReport)
        check("Downlink Data Report names the downlink PDR", ddr is not None and ie(ddr, IE_PDR_Id).id == 2)
    time.sleep(0.3)
    check("exactly one Downlink Data Report for the burst",
          len([p for _, p in smf.requests_of(56, t0) if ie(p, IE_ReportType).DLDR == 1]) == 1)
    check("nothing reached the gNB while buffering", not gnb.received())
    rsp = smf.modify(s3.up_seid, [IE_UpdateFAR(IE_list=[IE_FAR_Id(id=2), IE_ApplyAction(FORW=1), IE_UpdateForwardingParameters(IE_list=[
        IE_DestinationInterface(interface=0), IE_OuterHeaderCreation(GTPUUDPIPV4=1, TEID=0x5004, ipv4=GNB)])])])
    check("FAR changed to FORW", rsp is not None and cause_of(rsp) == C_ACCEPTED, rsp)
    for i in range(10, 13):
        dn.send("198.19.0.201", 5000, b"buf-%02d" % i)
    wait_for(lambda: len(gnb.received(0x5004)) >= 13, 3.0)
    got = [r[3][28:] for r in gnb.received(0x5004)]
    check("buffered packets flushed in order, then new ones", got == [b"buf-%02d" % i for i in range(13)], got)
    # SMF-initiated buffering and its end (BUFF without NOCP: no report).
    t0 = time.monotonic()
    rsp = smf.modify(s3.up_seid, [IE_UpdateFAR(IE_list=[IE_FAR_Id(id=2), IE_ApplyAction(BUFF=1)])])
    check("SMF-initiated buffering accepted", rsp is not None and cause_of(rsp) == C_ACCEPTED, rsp)
    gnb.clear()
    for i in range(4):
        dn.send("198.19.0.201", 5000, b"smf-buf-%d" % i)
    time.sleep(0.3)
    check("buffered without a report (no NOCP)", not gnb.received() and not [
        p for _, p in smf.requests_of(56, t0) if ie(p, IE_ReportType).DLDR == 1])
    rsp = smf.modify(s3.up_seid, [IE_UpdateFAR(IE_list=[IE_FAR_Id(id=2), IE_ApplyAction(FORW=1)])])
    wait_for(lambda: len(gnb.received(0x5004)) >= 4, 3.0)
    check("end of SMF-initiated buffering flushes in order",
          [r[3][28:] for r in gnb.received(0x5004)] == [b"smf-buf-%d" % i for i in range(4)])
    # DROBU: buffered packets dropped on request.
    smf.modify(s3.up_seid, [IE_UpdateFAR(IE_list=[IE_FAR_Id(id=2), IE_ApplyAction(BUFF=1)])])
    gnb.clear()
    for i in range(3):
        dn.send("198.19.0.201", 5000, b"drop-me-%d" % i)
    time.sleep(0.2)
    rsp = smf.modify(s3.up_seid, [IE_PFCPSMReqFlags(DROBU=1)])
    check("DROBU accepted", rsp is not None and cause_of(rsp) == C_ACCEPTED, rsp)
    smf.modify(s3.up_seid, [IE_UpdateFAR(IE_list=[IE_FAR_Id(id=2), IE_ApplyAction(FORW=1)])])
    dn.send("198.19.0.201", 5000, b"kept")
    wait_for(lambda: len(gnb.received(0x5004)) >= 1, 2.0)
    time.sleep(0.2)
    check("DROBU dropped the buffered packets", [r[3][28:] for r in gnb.received(0x5004)] == [b"kept"],
          [r[3][28:] for r in gnb.received(0x5004)])
    smf.delete(s3.up_seid)

    # ------------------------------------------------------------------
    print("== create, update and remove of every rule kind")
    ue = "198.19.0.205"
    rsp = smf.establish(0x1004, session_ies(gnb_teid=0x5006, ue=ue))
    sk = Session(0x1004, rsp)
    rsp = smf.modify(sk.up_seid, [
        IE_CreatePDR(IE_list=[IE_PDR_Id(id=5), IE_Precedence(precedence=5), IE_PDI(IE_list=[
            IE_SourceInterface(interface=0),
            IE_SDF_Filter(FD=1, flow_description="permit out 17 from any to assigned 7000")]),
            IE_OuterHeaderRemoval(header=0), IE_FAR_Id(id=5), IE_URR_Id(id=5), IE_QER_Id(id=5)]),
        IE_CreateFAR(IE_list=[IE_FAR_Id(id=5), IE_ApplyAction(FORW=1), IE_ForwardingParameters(IE_list=[
            IE_DestinationInterface(interface=1), IE_NetworkInstance(instance="internet")])]),
        IE_CreateURR(IE_list=[IE_URR_Id(id=5), IE_MeasurementMethod(VOLUM=1), IE_ReportingTriggers()]),
        IE_CreateQER(IE_list=[IE_QER_Id(id=5), IE_GateStatus(ul=1, dl=1)]),
        IE_Create_BAR(IE_list=[IE_BAR_Id(id=5)]),
    ])
    check("modification creating a PDR, FAR, URR, QER and BAR accepted", rsp is not None and cause_of(rsp) == C_ACCEPTED, rsp)
    dn.clear()
    send_ul(gnb, sk.teid, ue, 7000, [b"gate-closed"], sport=7000)
    send_ul(gnb, sk.teid, ue, 9000, [b"other"])
    wait_for(lambda: len(dn.received(9000)) >= 1, 2.0)
    time.sleep(0.2)
    check("the created QER's closed gate drops the new PDR's traffic, the rest passes",
          not dn.received(7000) and len(dn.received(9000)) == 1)
    rsp = smf.modify(sk.up_seid, [IE_UpdateQER(IE_list=[IE_QER_Id(id=5), IE_GateStatus(ul=0, dl=0)]),
                                  IE_Update_BAR_SMR(IE_list=[IE_BAR_Id(id=5), IE_SuggestedBufferingPacketsCount(count=8)])])
    check("Update QER (gate open) and Update BAR accepted", rsp is not None and cause_of(rsp) == C_ACCEPTED, rsp)
    sz = send_ul(gnb, sk.teid, ue, 7000, [b"gate-open-%d" % i for i in range(3)], sport=7000)
    wait_for(lambda: len(dn.received(7000)) >= 3, 2.0)
    check("after Update QER the new PDR forwards", len(dn.received(7000)) == 3, len(dn.received(7000)))
    rsp = smf.modify(sk.up_seid, [IE_RemovePDR(IE_list=[IE_PDR_Id(id=5)]), IE_RemoveFAR(IE_list=[IE_FAR_Id(id=5)]),
                                  IE_RemoveURR(IE_list=[IE_URR_Id(id=5)]), IE_RemoveQER(IE_list=[IE_QER_Id(id=5)]),
                                  IE_Remove_BAR(IE_list=[IE_BAR_Id(id=5)])])
    ur = usage_reports(rsp) if rsp is not None else []
    check("modification removing a PDR, FAR, URR, QER and BAR accepted", rsp is not None and cause_of(rsp) == C_ACCEPTED, rsp)
    check("the removed URR reports its final usage in the response (TERMR, exact)",
          len(ur) == 1 and urr_id_of(ur[0]) == 5 and volumes(ur[0])[1] == sum(sz) and ie(ur[0], IE_UsageReportTrigger).TERMR == 1,
          [(urr_id_of(u), volumes(u)) for u in ur])
    dn.clear()
    send_ul(gnb, sk.teid, ue, 7000, [b"back-to-default"], sport=7000)
    wait_for(lambda: len(dn.received(7000)) >= 1, 2.0)
    check("after the removal the default PDR carries that traffic again", len(dn.received(7000)) == 1)
    rule = lab.ctl_admin(f"session {sk.up_seid}")["rules"]
    check("pfcp-ctl's state has none of the removed rules",
          sorted(p["id"] for p in rule["pdrs"]) == [1, 2] and sorted(f["id"] for f in rule["fars"]) == [1, 2]
          and [u["id"] for u in rule["urrs"]] == [1] and [q["id"] for q in rule["qers"]] == [1] and rule["bar"] is None, rule)
    smf.delete(sk.up_seid)

    print("== session over IPv6 N4")
    rsp = smf6.associate()
    check("association over IPv6 accepted", rsp is not None and cause_of(rsp) == C_ACCEPTED, rsp)
    rsp = smf6.establish(0x6001, session_ies(gnb_teid=0x5007, ue="198.19.0.206"))
    f = ie(rsp, IE_FSEID) if rsp is not None else None
    check("establishment over IPv6: UP F-SEID with our IPv6 N4 address",
          rsp is not None and cause_of(rsp) == C_ACCEPTED and f is not None and f.v6 == 1 and f.ipv6 == UPF_N46,
          rsp and f)
    rsp = smf6.delete(f.seid) if f is not None else None
    check("deletion over IPv6", rsp is not None and cause_of(rsp) == C_ACCEPTED)

    # ------------------------------------------------------------------
    print("== causes (TS 29.244 7.6)")
    far_fw = IE_CreateFAR(IE_list=[IE_FAR_Id(id=1), IE_ApplyAction(FORW=1), IE_ForwardingParameters(IE_list=[
        IE_DestinationInterface(interface=1), IE_NetworkInstance(instance="internet")])])
    pdr_min = IE_CreatePDR(IE_list=[IE_PDR_Id(id=1), IE_Precedence(precedence=1), IE_PDI(IE_list=[
        IE_SourceInterface(interface=0), fteid_choose()]), IE_FAR_Id(id=1)])
    rsp = smf.request(PFCPSessionEstablishmentRequest(IE_list=[smf.node_ie(), pdr_min, far_fw]), seid=0)
    check("Mandatory IE missing (no F-SEID) with Offending IE",
          rsp is not None and cause_of(rsp) == C_MANDATORY_MISSING and offending_of(rsp) == T_F_SEID,
          rsp and (cause_of(rsp), offending_of(rsp)))
    rsp = smf.request(PFCPSessionEstablishmentRequest(IE_list=[smf.node_ie(), smf.fseid_ie(0x2001), pdr_min]), seid=0)
    check("Mandatory IE missing (no Create FAR) with Offending IE",
          rsp is not None and cause_of(rsp) == C_MANDATORY_MISSING and offending_of(rsp) == T_CREATE_FAR,
          rsp and (cause_of(rsp), offending_of(rsp)))
    bad_fseid = IE_NotImplemented(ietype=57, data=b"\x02\x00\x01")
    rsp = smf.request(PFCPSessionEstablishmentRequest(IE_list=[smf.node_ie(), bad_fseid, pdr_min, far_fw]), seid=0)
    check("Mandatory IE incorrect (3-octet F-SEID) with Offending IE",
          rsp is not None and cause_of(rsp) == C_MANDATORY_INCORRECT and offending_of(rsp) == T_F_SEID,
          rsp and (cause_of(rsp), offending_of(rsp)))
    far_nofp = IE_CreateFAR(IE_list=[IE_FAR_Id(id=1), IE_ApplyAction(FORW=1)])
    rsp = smf.establish(0x2002, [pdr_min, far_nofp])
    check("Conditional IE missing (FORW without Forwarding Parameters) with Offending IE",
          rsp is not None and cause_of(rsp) == C_CONDITIONAL_MISSING and offending_of(rsp) == T_FORWARDING_PARAMETERS,
          rsp and (cause_of(rsp), offending_of(rsp)))
    pdr_far99 = IE_CreatePDR(IE_list=[IE_PDR_Id(id=7), IE_Precedence(precedence=1), IE_PDI(IE_list=[
        IE_SourceInterface(interface=0), fteid_choose()]), IE_FAR_Id(id=99)])
    rsp = smf.establish(0x2003, [pdr_far99, far_fw])
    fr = ie(rsp, IE_FailedRuleId) if rsp is not None else None
    check("Rule creation failure (PDR names a missing FAR) with Failed Rule ID PDR 7",
          rsp is not None and cause_of(rsp) == C_RULE_FAILURE and fr is not None and fr.type == 0 and fr.pdr_id == 7,
          rsp and (cause_of(rsp), fr))
    # The N3 port has no IPv6 address: the dataplane cannot build this tunnel.
    far_v6 = IE_CreateFAR(IE_list=[IE_FAR_Id(id=1), IE_ApplyAction(FORW=1), IE_ForwardingParameters(IE_list=[
        IE_DestinationInterface(interface=0), IE_OuterHeaderCreation(GTPUUDPIPV6=1, TEID=9, ipv6="2001:db8:3::1")])])
    rsp = smf.establish(0x2004, [pdr_min, far_v6])
    fr = ie(rsp, IE_FailedRuleId) if rsp is not None else None
    check("Rule creation failure from the dataplane (no IPv6 tunnel source) with Failed Rule ID FAR 1",
          rsp is not None and cause_of(rsp) == C_RULE_FAILURE and fr is not None and fr.type == 1 and fr.far_id == 1,
          rsp and (cause_of(rsp), fr))
    rsp = smf.establish(0x2005, session_ies(gnb_teid=0x5005, ue="198.19.0.202"))
    s5 = Session(0x2005, rsp)
    rsp = smf.modify(s5.up_seid, [IE_UpdateFAR(IE_list=[IE_FAR_Id(id=77), IE_ApplyAction(DROP=1)])])
    fr = ie(rsp, IE_FailedRuleId) if rsp is not None else None
    check("Rule modification failure (Update FAR of an unknown FAR) with Failed Rule ID FAR 77",
          rsp is not None and cause_of(rsp) == C_RULE_FAILURE and fr is not None and fr.type == 1 and fr.far_id == 77,
          rsp and (cause_of(rsp), fr))
    rsp = smf.modify(0xDEADBEEF, [IE_QueryURR(IE_list=[IE_URR_Id(id=1)])])
    check("Session context not found (unknown SEID), header SEID 0",
          rsp is not None and cause_of(rsp) == C_NOT_FOUND and rsp.seid == 0, rsp)
    smf2 = Smf(lab, SMF2)
    rsp = smf2.establish(0x3001, session_ies(gnb_teid=0x6001, ue="198.19.0.210"))
    check("No established PFCP association", rsp is not None and cause_of(rsp) == C_NO_ASSOCIATION, rsp)
    smf2.associate()
    rsp = smf2.modify(s5.up_seid, [IE_QueryURR(IE_list=[IE_URR_Id(id=1)])])
    check("another SMF's session is not found for a second SMF", rsp is not None and cause_of(rsp) == C_NOT_FOUND, rsp)
    rsp = smf2.delete(s5.up_seid)
    check("another SMF cannot delete it", rsp is not None and cause_of(rsp) == C_NOT_FOUND and
          lab.ctl_admin(f"session {s5.up_seid}").get("error") is None, rsp)
    rsp = smf.establish(0x2005, session_ies(gnb_teid=0x5005, ue="198.19.0.203"))
    check("Request rejected (same CP F-SEID again, new sequence number)", rsp is not None and cause_of(rsp) == C_REJECTED, rsp)
    seq = smf.next_seq()
    v2 = bytearray(raw(PFCP(version=1, S=0, seq=seq) / PFCPHeartbeatRequest(IE_list=[IE_RecoveryTimeStamp(timestamp=1)])))
    v2[0] = (2 << 5) | (v2[0] & 0x1F)
    smf.send_raw(bytes(v2))
    rsp = smf.wait_response(seq, 2.0)
    check("Version Not Supported Response to PFCP version 2", rsp is not None and rsp.message_type == 11 and rsp.version == 1, rsp)
    m0 = lab.ctl_status()["malformed"]
    smf.send_raw(b"\x21\x01\x00")  # shorter than a header
    smf.send_raw(b"\x20\x01\x00\x40\x00\x00\x01\x00")  # length beyond the datagram
    smf.send_raw(b"\x20\x01\x00\x08\x00\x00\x02\x00\x00\x60\x00\x09")  # IE header cut short
    check("malformed datagrams counted", wait_for(lambda: lab.ctl_status()["malformed"] >= m0 + 3, 2.0),
          (m0, lab.ctl_status()["malformed"]))

    # ------------------------------------------------------------------
    print("== retransmissions")
    dp_before = lab.dp_status()["sessions"]
    seq = smf.next_seq()
    est = PFCP(version=1, S=1, seid=0, seq=seq) / PFCPSessionEstablishmentRequest(
        IE_list=[smf.node_ie(), smf.fseid_ie(0x4001)] + session_ies(gnb_teid=0x7001, ue="198.19.0.220"))
    d0 = lab.ctl_status()["duplicates"]
    est = raw(est)
    smf.send_raw(est)
    smf.send_raw(est)  # at once: in flight, or answered from the cache
    first = smf.wait_response(seq, 3.0)
    time.sleep(0.1)
    n_early = len(smf.responses_for(seq))
    smf.send_raw(est)  # after the answer
    smf.wait_response(seq, 3.0, count=n_early + 1)
    time.sleep(0.2)
    rs = smf.responses_for(seq)
    check("retransmitted establishment answered from the cache, identical bytes",
          first is not None and len(rs) == n_early + 1 and all(r[2] == rs[0][2] for r in rs), len(rs))
    check("established once (dataplane +1 session)", lab.dp_status()["sessions"] == dp_before + 1)
    check("duplicates counted", lab.ctl_status()["duplicates"] >= d0 + 2)
    s6 = Session(0x4001, first)
    s6.ue = "198.19.0.220"
    smf.up_seid[0x4001] = s6.up_seid
    # A retransmitted Query URR gets the same report, not a second (empty) one.
    send_ul(gnb, s6.teid, s6.ue, 9000, [b"q" * 50] * 3)
    wait_for(lambda: len([r for r in dn.received(9000) if r[3] == b"q" * 50]) >= 3, 2.0)
    seq = smf.next_seq()
    q = raw(PFCP(version=1, S=1, seid=s6.up_seid, seq=seq) / PFCPSessionModificationRequest(IE_list=[IE_QueryURR(IE_list=[IE_URR_Id(id=1)])]))
    smf.send_raw(q)
    a = smf.wait_response(seq, 3.0)
    smf.send_raw(q)
    b = smf.wait_response(seq, 3.0, count=2)
    va = volumes(usage_reports(a)[0]) if a is not None and usage_reports(a) else None
    vb = volumes(usage_reports(b)[0]) if b is not None and usage_reports(b) else None
    check("retransmitted Query URR: same volumes (not executed twice)", va is not None and va == vb and va[1] == 3 * 78, (va, vb))
    seq = smf.next_seq()
    d = raw(PFCP(version=1, S=1, seid=s6.up_seid, seq=seq) / PFCPSessionDeletionRequest())
    smf.send_raw(d)
    a = smf.wait_response(seq, 3.0)
    smf.send_raw(d)
    b = smf.wait_response(seq, 3.0, count=2)
    check("retransmitted deletion: cached acceptance, not Session context not found",
          a is not None and b is not None and cause_of(b) == C_ACCEPTED and raw(a) == raw(b))

    # ------------------------------------------------------------------
    print("== interop quirks")
    ue = "198.19.0.230"
    pdr1 = IE_CreatePDR(IE_list=[IE_PDR_Id(id=1), IE_Precedence(precedence=200), IE_PDI(IE_list=[
        IE_SourceInterface(interface=0), fteid_choose(5), IE_NetworkInstance(instance=""), ue_addr(ue)]),
        IE_OuterHeaderRemoval(header=6), IE_FAR_Id(id=1), IE_URR_Id(id=1)])
    # No F-TEID, two SDF filters, names FAR 3 which is created last.
    pdr3 = IE_CreatePDR(IE_list=[IE_PDR_Id(id=3), IE_Precedence(precedence=10), IE_PDI(IE_list=[
        IE_SourceInterface(interface=0),
        # Uplink SDF filters are written from the network's side: "to" is the
        # UE (TS 29.244 5.2.1A.2A), so these match UE source ports 7000/7001.
        IE_SDF_Filter(FD=1, flow_description="permit out 17 from any to assigned 7000"),
        IE_SDF_Filter(FD=1, flow_description="permit out 17 from any to assigned 7001")]),
        IE_OuterHeaderRemoval(header=6), IE_FAR_Id(id=3), IE_URR_Id(id=3)])
    pdr2 = IE_CreatePDR(IE_list=[IE_PDR_Id(id=2), IE_Precedence(precedence=200), IE_PDI(IE_list=[
        IE_SourceInterface(interface=1), ue_addr(ue, dst=True)]), IE_FAR_Id(id=2), IE_URR_Id(id=1)])
    far1 = IE_CreateFAR(IE_list=[IE_FAR_Id(id=1), IE_ApplyAction(FORW=1, extra_data=b"\x00"),
                                 IE_ForwardingParameters(IE_list=[IE_DestinationInterface(interface=1)])])
    far2 = IE_CreateFAR(IE_list=[IE_FAR_Id(id=2), IE_ApplyAction(FORW=1, extra_data=b"\x00"), IE_ForwardingParameters(IE_list=[
        IE_DestinationInterface(interface=0), IE_NetworkInstance(instance=""),
        IE_OuterHeaderCreation(GTPUUDPIPV4=1, TEID=0x8002, ipv4=GNB)])])
    urr1 = IE_CreateURR(IE_list=[IE_URR_Id(id=1), IE_MeasurementMethod(VOLUM=1), IE_ReportingTriggers()])
    urr3 = IE_CreateURR(IE_list=[IE_URR_Id(id=3), IE_MeasurementMethod(VOLUM=1), IE_ReportingTriggers()])
    far3 = IE_CreateFAR(IE_list=[IE_FAR_Id(id=3), IE_ApplyAction(FORW=1, extra_data=b"\x00"),
                                 IE_ForwardingParameters(IE_list=[IE_DestinationInterface(interface=1), IE_NetworkInstance(instance="internet")])])
    rsp = smf.establish(0x5001, [pdr1, pdr3, pdr2, far1, far2, urr1, urr3, far3])
    check("quirk session accepted (OHR 6, empty/absent NI, PDR without F-TEID, 2 SDF filters, FAR created later, 2-octet Apply Action)",
          rsp is not None and cause_of(rsp) == C_ACCEPTED, rsp and (cause_of(rsp), ie(rsp, IE_FailedRuleId)))
    sq = Session(0x5001, rsp)
    dn.clear()
    s_a = send_ul(gnb, sq.teid, ue, 7000, [b"f7000-%d" % i for i in range(2)], sport=7000)
    s_b = send_ul(gnb, sq.teid, ue, 7001, [b"f7001-%d" % i for i in range(3)], sport=7001)
    s_c = send_ul(gnb, sq.teid, ue, 9000, [b"f9000-%d" % i for i in range(4)])
    wait_for(lambda: len(dn.received()) >= 9, 3.0)
    check("quirk session forwards on both SDF filters and the default PDR",
          len(dn.received(7000)) == 2 and len(dn.received(7001)) == 3 and len(dn.received(9000)) == 4,
          [len(dn.received(p)) for p in (7000, 7001, 9000)])
    dn.send(ue, 5000, b"quirk-dl")
    wait_for(lambda: len(gnb.received(0x8002)) >= 1, 2.0)
    check("quirk session downlink (empty NI in the FAR)", len(gnb.received(0x8002)) == 1)
    rsp = smf.modify(sq.up_seid, [IE_QueryURR(IE_list=[IE_URR_Id(id=1)]), IE_QueryURR(IE_list=[IE_URR_Id(id=3)])])
    by = {urr_id_of(u): volumes(u) for u in usage_reports(rsp)} if rsp is not None else {}
    check("PDR without F-TEID matched through the session's TEID (URR 3 = both SDF filters' bytes)",
          by.get(3, (None, None, None))[1] == sum(s_a) + sum(s_b), by)
    check("default PDR counted the rest (URR 1)", by.get(1, (None, None, None))[1] == sum(s_c), by)
    smf.delete(sq.up_seid)

    # ------------------------------------------------------------------
    print("== PFD management and an application-ID PDR")
    rsp = smf.request(PFCPPFDManagementRequest(IE_list=[IE_ApplicationID_PFDs(IE_list=[
        IE_ApplicationId(id="video"), IE_PFDContext(IE_list=[
            IE_PFDContents(FD=1, flow="permit out 17 from 198.18.6.1 8000 to assigned")])])]))
    check("PFD management accepted", rsp is not None and cause_of(rsp) == C_ACCEPTED, rsp)
    check("dataplane holds the application's PFDs", wait_for(lambda: lab.dp_status()["pfd_apps"] == 1, 2.0))
    ue = "198.19.0.231"
    extra = [IE_CreatePDR(IE_list=[IE_PDR_Id(id=4), IE_Precedence(precedence=5), IE_PDI(IE_list=[
        IE_SourceInterface(interface=1), ue_addr(ue, dst=True), IE_ApplicationId(id="video")]),
        IE_FAR_Id(id=2), IE_URR_Id(id=4)]),
        IE_CreateURR(IE_list=[IE_URR_Id(id=4), IE_MeasurementMethod(VOLUM=1), IE_ReportingTriggers()])]
    rsp = smf.establish(0x5002, session_ies(gnb_teid=0x8003, ue=ue, extra=extra))
    check("session with an application-ID PDR accepted", rsp is not None and cause_of(rsp) == C_ACCEPTED, rsp)
    sp = Session(0x5002, rsp)
    dn.send(ue, 5000, b"v" * 40, from_port=8000)
    dn.send(ue, 5000, b"o" * 30, from_port=9000)
    wait_for(lambda: len(gnb.received(0x8003)) >= 2, 2.0)
    rsp = smf.modify(sp.up_seid, [IE_QueryURR(IE_list=[IE_URR_Id(id=4)]), IE_QueryURR(IE_list=[IE_URR_Id(id=1)])])
    by = {urr_id_of(u): volumes(u) for u in usage_reports(rsp)} if rsp is not None else {}
    check("application traffic counted by its PDR (URR 4), the rest by the default PDR",
          by.get(4, (0, 0, 0))[2] == 68 and by.get(1, (0, 0, 0))[2] == 58, by)

    # ------------------------------------------------------------------
    print("== Error Indication Report")
    t0 = time.monotonic()
    ei = GTPHeader(version=1, PT=1, S=1, gtp_type=26, teid=0, seq=1) / GTPErrorIndication(IE_list=[
        IE_TEIDI(TEIDI=0x8003), IE_GSNAddress(length=4, ipv4_address=GNB)])
    gnb.sock.sendto(raw(ei), (UPF_N3, 2152))
    rep = smf.wait_request(lambda p: p.message_type == 56 and ie(p, IE_ReportType).ERIR == 1, 4.0, t0)
    check("Error Indication Report sent to the SMF", rep is not None)
    if rep is not None:
        f = ie(rep, IE_FTEID)
        check("Error Indication Report names the remote F-TEID", f is not None and f.TEID == 0x8003 and f.ipv4 == GNB and rep.seid == 0x5002,
              f and (f.TEID, f.ipv4, rep.seid))

    # ------------------------------------------------------------------
    print("== Node Report: user plane path failure and recovery")
    t0 = time.monotonic()
    gnb.echo = False
    rep = smf.wait_request(lambda p: p.message_type == 12, 8.0, t0)
    check("Node Report Request when the gNB stops answering GTP-U echo", rep is not None)
    if rep is not None:
        peer = ie(rep, IE_RemoteGTP_U_Peer)
        check("Node Report: user plane path failure for the gNB",
              ie(rep, IE_NodeReportType).UPFR == 1 and ie(rep, IE_UserPlanePathFailureReport) is not None and peer.ipv4 == GNB,
              rep.summary())
    t1 = time.monotonic()
    gnb.echo = True
    rep = smf.wait_request(lambda p: p.message_type == 12, 8.0, t1)
    check("Node Report Request when the path recovers (UPRR)", rep is not None and raw(ie(rep, IE_NodeReportType))[4] & 0x02 == 0x02,
          rep and rep.summary())
    check("the gNB received echo requests", gnb.echo_requests > 0)

    # ------------------------------------------------------------------
    print("== Session Set Deletion")
    a = Session(0x3002, smf2.establish(0x3002, session_ies(gnb_teid=0x6002, ue="198.19.0.240")))
    b = Session(0x3003, smf2.establish(0x3003, session_ies(gnb_teid=0x6003, ue="198.19.0.241")))
    check("second SMF holds two sessions", a.up_seid and b.up_seid)
    n_before = lab.ctl_status()["sessions"]
    rsp = smf.request(PFCPSessionSetDeletionRequest(IE_list=[smf2.node_ie()]))
    check("an SMF cannot delete another SMF's session set",
          rsp is not None and lab.ctl_status()["sessions"] == n_before, (rsp and cause_of(rsp), lab.ctl_status()["sessions"], n_before))
    rsp = smf2.request(PFCPSessionSetDeletionRequest(IE_list=[smf2.node_ie()]))
    check("Session Set Deletion accepted", rsp is not None and cause_of(rsp) == C_ACCEPTED, rsp)
    check("its sessions are gone, the other SMF's stay",
          wait_for(lambda: lab.ctl_status()["sessions"] == n_before - 2, 2.0), lab.ctl_status()["sessions"])
    check("dataplane agrees", wait_for(lambda: lab.dp_status()["sessions"] == lab.ctl_status()["sessions"], 2.0))

    # ------------------------------------------------------------------
    print("== association release")
    rsp = smf.request(PFCPAssociationReleaseRequest(IE_list=[smf.node_ie()]))
    check("association release accepted", rsp is not None and cause_of(rsp) == C_ACCEPTED, rsp)
    check("the released SMF's sessions are gone", wait_for(lambda: lab.ctl_status()["sessions"] == 0, 2.0),
          lab.ctl_status()["sessions"])
    check("dataplane holds no sessions", wait_for(lambda: lab.dp_status()["sessions"] == 0, 2.0))
    rsp = smf.establish(0x9001, session_ies(gnb_teid=0x9001, ue="198.19.0.250"))
    check("after release: No established PFCP association", rsp is not None and cause_of(rsp) == C_NO_ASSOCIATION, rsp)
    check("pfcp-ctl declared no peer failed", "declared failed" not in lab.log("pfcp-ctl")
          and "does not answer heartbeats" not in lab.log("pfcp-ctl"))
    for x in (smf, smf2, smf6, rogue, gnb, dn):
        x.close()


if __name__ == "__main__":
    sys.exit(main())
