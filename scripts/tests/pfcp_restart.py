#!/usr/bin/env python3
"""Restart without loss: pfcp-ctl is killed with SIGKILL under traffic and
started again.

Shows that the dataplane forwards throughout (uplink and downlink counted
on the far side, sequence numbers checked for loss and the longest gap
bounded), that the SMF (scapy.contrib.pfcp) sees the same Recovery Time
Stamp and keeps its association without a new setup, that a session
created before the kill can be modified and deleted afterwards with usage
that matches every byte sent (before, during and after the restart), and
that the establishment retransmitted after the restart gets the original
answer. Needs root.
"""
import os
import signal
import struct
import sys
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from n4lab import *  # noqa: F401,F403,E402

RATE_HZ = 400  # packets per second each way
MAX_GAP_S = 0.1  # longest silence tolerated at the receiving side (packets every 2.5 ms)


class Stream:
    """Numbered packets at a steady rate from a thread."""

    def __init__(self, send):
        self.send = send
        self.sent = 0
        self.stop = False
        self.t = threading.Thread(target=self._run, daemon=True)

    def start(self):
        self.t.start()

    def _run(self):
        period = 1.0 / RATE_HZ
        nxt = time.monotonic()
        while not self.stop:
            self.send(self.sent)
            self.sent += 1
            nxt += period
            d = nxt - time.monotonic()
            if d > 0:
                time.sleep(d)

    def halt(self):
        self.stop = True
        self.t.join()


def analyse(arrivals, sent):
    """(missing count, longest gap between arrivals in s)."""
    seqs = sorted(s for s, _ in arrivals)
    missing = sent - len(set(seqs))
    times = sorted(t for _, t in arrivals)
    gap = max((b - a for a, b in zip(times, times[1:])), default=0.0)
    return missing, gap


def main():
    lab = UpfLab("n4r")
    try:
        lab.start()
        run(lab)
    finally:
        alive = lab.alive()
        if not alive or lab.panicked():
            print("---- pfcp-ctl log ----\n" + lab.log("pfcp-ctl")[-6000:])
        check("processes running at the end, no panic", alive and not lab.panicked())
        lab.close()
    return finish()


def run(lab):
    smf = Smf(lab, SMF)
    gnb = Gnb(lab)
    dn = Dn(lab, ports=(9000,))
    rsp = smf.associate()
    check("associated", rsp is not None and cause_of(rsp) == 1)
    rts = ie(rsp, IE_RecoveryTimeStamp).timestamp
    seq0 = smf.next_seq()
    est_bytes = raw(PFCP(version=1, S=1, seid=0, seq=seq0) / PFCPSessionEstablishmentRequest(
        IE_list=[smf.node_ie(), smf.fseid_ie(0xA1)] + session_ies(gnb_teid=0x1111)))
    smf.send_raw(est_bytes)
    rsp = smf.wait_response(seq0, 5.0)
    check("session established before the kill", rsp is not None and cause_of(rsp) == 1, rsp)
    s = Session(0xA1, rsp)
    smf.up_seid[0xA1] = s.up_seid
    epoch = lab.dp_status()["epoch"]

    # Steady traffic both ways with sequence numbers in the payload.
    ul_tpl = bytearray(gnb.gpdu(s.teid, raw(IP(src=s.ue, dst=DN, ttl=64, id=1) / UDP(sport=5000, dport=9000, chksum=0) / Raw(b"U00000000"))))
    ul_inner_len = 28 + 9
    ul_lock = threading.Lock()

    def send_ul(i):
        b = bytearray(ul_tpl)
        b[-8:] = b"%08d" % i
        with ul_lock:
            gnb.sock.sendto(bytes(b), (UPF_N3, 2152))

    def send_dl(i):
        dn.send(s.ue, 5000, b"D%08d" % i)

    up = Stream(send_ul)
    down = Stream(send_dl)
    t_first = time.monotonic()
    up.start()
    down.start()
    time.sleep(1.5)

    # Kill pfcp-ctl under traffic, check the dataplane meanwhile, restart.
    t_kill = time.monotonic()
    lab.ctl.send_signal(signal.SIGKILL)
    lab.ctl.wait()
    check("pfcp-ctl killed with SIGKILL", lab.ctl.returncode == -signal.SIGKILL, lab.ctl.returncode)
    time.sleep(1.0)
    st = lab.dp_status()
    check("dataplane kept the session while pfcp-ctl was down", st["sessions"] == 1 and st["epoch"] == epoch, st)
    lab.start_ctl()
    t_back = time.monotonic()
    print(f"pfcp-ctl down for {t_back - t_kill:.2f}s")
    st = lab.ctl_status()
    check("restarted pfcp-ctl restored the session from its journal", st["sessions"] == 1, st)
    check("restarted pfcp-ctl has the same Recovery Time Stamp", st["recovery_time_stamp"] == rts, (st["recovery_time_stamp"], rts))
    check("restarted pfcp-ctl kept the association", [p["node_id"] for p in lab.ctl_admin("peers")] == [SMF], lab.ctl_admin("peers"))
    time.sleep(1.5)
    up.halt()
    down.halt()
    time.sleep(0.3)

    ul = [(int(d[1:]), t) for (t, _p, _f, d) in dn.received(9000) if d.startswith(b"U")]
    dl = [(int(r[3][29:]), r[0]) for r in gnb.received(0x1111) if r[3][28:29] == b"D"]
    mu, gu = analyse(ul, up.sent)
    md, gd = analyse(dl, down.sent)
    print(f"uplink: {up.sent} sent, {mu} missing, longest gap {gu * 1000:.1f} ms")
    print(f"downlink: {down.sent} sent, {md} missing, longest gap {gd * 1000:.1f} ms")
    if mu or md:
        for w in lab.dp_admin("workers"):
            print("worker", w["worker"], "drops", w["drops"], "ports", [(p["port"], p["rx_packets"], p["rx_missed"], p["tx_dropped"]) for p in w["ports"]])
        lost_u = sorted(set(range(up.sent)) - {q for q, _ in ul})
        lost_d = sorted(set(range(down.sent)) - {q for q, _ in dl})
        print(f"lost uplink {lost_u[:10]}, downlink {lost_d[:10]}; kill at +{t_kill - t_first:.3f}s, back at +{t_back - t_first:.3f}s; "
              f"uplink lost at +{[round(q / RATE_HZ, 3) for q in lost_u[:5]]}s")
    check("uplink forwarded throughout: no packet lost", mu == 0, mu)
    check("downlink forwarded throughout: no packet lost", md == 0, md)
    check(f"uplink: no gap beyond {MAX_GAP_S * 1000:.0f} ms", gu < MAX_GAP_S, gu)
    check(f"downlink: no gap beyond {MAX_GAP_S * 1000:.0f} ms", gd < MAX_GAP_S, gd)
    check("dataplane was not restarted", lab.dp_status()["epoch"] == epoch)

    # The SMF sees no restart: same recovery time stamp both ways, no new setup.
    hb = smf.heartbeat()
    check("SMF heartbeat after the restart: same Recovery Time Stamp",
          hb is not None and ie(hb, IE_RecoveryTimeStamp).timestamp == rts, hb)
    t0 = time.monotonic()
    got = smf.wait_request(lambda p: p.message_type == 1, 3.0, t0)
    check("UPF heartbeats resume with the same Recovery Time Stamp",
          got is not None and ie(got, IE_RecoveryTimeStamp).timestamp == rts)
    check("the SMF never received an Association Setup Request", not smf.requests_of(5))

    # The establishment retransmitted now gets the original answer.
    smf.send_raw(est_bytes)
    again = smf.wait_response(seq0, 3.0, count=2)
    check("establishment retransmitted after the restart: same UP F-SEID and F-TEID, no new session",
          again is not None and cause_of(again) == 1 and Session(0xA1, again).up_seid == s.up_seid
          and Session(0xA1, again).teid == s.teid and lab.ctl_status()["sessions"] == 1, again)

    # Modify the old session: usage covers every byte since the establishment.
    rsp = smf.modify(s.up_seid, [IE_QueryURR(IE_list=[IE_URR_Id(id=1)])])
    ur = ies(rsp, IE_UsageReport_SMR) if rsp is not None else []
    check("old session modified after the restart (Query URR)", rsp is not None and cause_of(rsp) == 1 and len(ur) == 1, rsp)
    if ur:
        tot, u, d = volumes(ur[0])
        check("uplink usage covers all packets, before/during/after the restart",
              u == up.sent * ul_inner_len, (u, up.sent * ul_inner_len))
        check("downlink usage covers all packets", d == down.sent * 37, (d, down.sent * 37))
    rsp = smf.modify(s.up_seid, [IE_UpdateFAR(IE_list=[IE_FAR_Id(id=2), IE_ApplyAction(FORW=1), IE_UpdateForwardingParameters(IE_list=[
        IE_DestinationInterface(interface=0), IE_OuterHeaderCreation(GTPUUDPIPV4=1, TEID=0x2222, ipv4=GNB)])])])
    check("old session's FAR updated after the restart", rsp is not None and cause_of(rsp) == 1, rsp)
    for i in range(5):
        dn.send(s.ue, 5000, b"after-%d" % i)
    wait_for(lambda: len(gnb.received(0x2222)) >= 5, 3.0)
    check("downlink follows the update", len(gnb.received(0x2222)) == 5)
    sizes = []
    for i in range(4):
        p = inner_udp(s.ue, DN, 5000, 9000, b"tail-%d" % i)
        sizes.append(len(p))
        gnb.send(s.teid, p)
    wait_for(lambda: len([r for r in dn.received(9000) if r[3].startswith(b"tail")]) >= 4, 3.0)
    rsp = smf.delete(s.up_seid)
    ur = ies(rsp, IE_UsageReport_SDR) if rsp is not None else []
    check("old session deleted after the restart with a final usage report", rsp is not None and cause_of(rsp) == 1 and len(ur) == 1, rsp)
    if ur:
        tot, u, d = volumes(ur[0])
        check("final usage exact (since the query)", u == sum(sizes) and d == 5 * (28 + 7), (u, sum(sizes), d))
    check("sessions gone on both sides", wait_for(lambda: lab.ctl_status()["sessions"] == 0 and lab.dp_status()["sessions"] == 0, 2.0))
    # A new session after the restart gets fresh identifiers.
    rsp = smf.establish(0xA2, session_ies(gnb_teid=0x3333))
    n = Session(0xA2, rsp)
    check("new session after the restart: new SEID, TEID and UE address",
          rsp is not None and cause_of(rsp) == 1 and n.up_seid != s.up_seid and n.teid != s.teid and n.ue != s.ue,
          (n.up_seid, n.teid, n.ue))
    check("no peer declared failed", lab.ctl_status()["peers_failed"] == 0)
    for x in (smf, gnb, dn):
        x.close()


if __name__ == "__main__":
    sys.exit(main())
