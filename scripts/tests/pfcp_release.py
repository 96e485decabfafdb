#!/usr/bin/env python3
"""Graceful release on SIGTERM (pfcp.shutdown = "release").

pfcp-ctl gets SIGTERM with a session up and traffic counted. The SMF
(scapy.contrib.pfcp, independent of our codec) must see an Association
Update Request with a PFCP Association Release Request (SARR) and the
Graceful Release Period that scapy decodes as 20 s, and PARPS; new
establishments are refused with "Request rejected" while the old session
can still be deleted, its deletion response carrying the final usage that
matches every byte sent; once the SMF releases the association pfcp-ctl
exits with status 0 long before the period ends, and the dataplane keeps
running. Needs root.
"""
import os
import signal
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from n4lab import *  # noqa: F401,F403,E402

PERIOD_S = 20


def usage_reports(pkt):
    return ies(pkt, IE_UsageReport_SDR)


def main():
    lab = UpfLab("n4g")
    with open(lab.config) as f:
        text = f.read()
    text = text.replace("max_sessions = 100000\n",
                        f'max_sessions = 100000\nshutdown = "release"\ngraceful_release_period = "{PERIOD_S}s"\n')
    with open(lab.config, "w") as f:
        f.write(text)
    try:
        lab.start()
        run(lab)
    finally:
        dp_alive = lab.dp is not None and lab.dp.poll() is None
        if lab.panicked():
            print("---- pfcp-ctl log ----\n" + lab.log("pfcp-ctl")[-6000:])
        check("the dataplane is still running, no panic", dp_alive and not lab.panicked())
        lab.close()
    return finish()


def run(lab):
    smf = Smf(lab, SMF)
    gnb = Gnb(lab)
    dn = Dn(lab, ports=(9000,))
    rsp = smf.associate()
    check("association accepted", rsp is not None and cause_of(rsp) == 1, rsp)
    rsp = smf.establish(0x51, session_ies(0x7001))
    check("session established", rsp is not None and cause_of(rsp) == 1, rsp)
    s = Session(0x51, rsp)
    sent = 0
    for i in range(20):
        pkt = inner_udp(s.ue, DN, 5000, 9000, b"r" * (40 + i))
        sent += len(pkt)
        gnb.send(s.teid, pkt)
        time.sleep(0.005)
    check("uplink reaches the data network", wait_for(lambda: len(dn.received(9000)) == 20, 5.0),
          len(dn.received(9000)))

    t0 = time.monotonic()
    lab.ctl.send_signal(signal.SIGTERM)
    req = smf.wait_request(lambda p: p.message_type == 7, 5.0, t0)
    check("SIGTERM: the UPF sends an Association Update Request", req is not None)
    if req is None:
        return
    rr = ie(req, IE_PFCPAssociationReleaseRequest)
    check("... with a PFCP Association Release Request, SARR set", rr is not None and rr.SARR == 1, rr)
    g = ie(req, IE_GracefulReleasePeriod)
    secs = None
    if g is not None:
        unit = {0: 2, 1: 60, 2: 600, 3: 3600, 4: 36000}.get(g.release_timer_unit)
        secs = unit * g.release_timer_value if unit else None
    check(f"... and a Graceful Release Period of {PERIOD_S} s", secs == PERIOD_S, g)
    parps = [x for x in getattr(req[PFCP].payload, "IE_list", []) if x.ietype == 162]
    check("... and PFCPAUReq-Flags with PARPS", len(parps) == 1 and raw(parps[0])[4] & 0x01, parps)
    ans = PFCP(version=1, S=0, seq=req.seq) / PFCPAssociationUpdateResponse(
        IE_list=[smf.node_ie(), IE_Cause(cause=1)])
    smf.send_raw(raw(ans))

    rsp = smf.establish(0x52, session_ies(0x7002))
    check("a new establishment is refused with Request rejected", rsp is not None and cause_of(rsp) == 64, rsp)
    hb = smf.heartbeat()
    check("heartbeats still answered", hb is not None)
    rsp = smf.delete(s.up_seid)
    check("the old session is deleted", rsp is not None and cause_of(rsp) == 1, rsp)
    ur = usage_reports(rsp) if rsp is not None else []
    vol = volumes(ur[0]) if ur else None
    check("its deletion response carries the final usage (every uplink byte)",
          vol is not None and vol[1] == sent, (vol, sent))
    rsp = smf.request(PFCPAssociationReleaseRequest(IE_list=[smf.node_ie()]))
    check("the SMF releases the association", rsp is not None and cause_of(rsp) == 1, rsp)
    exited = wait_for(lambda: lab.ctl.poll() is not None, 5.0)
    took = time.monotonic() - t0
    check("pfcp-ctl exits once released, well before the period ends",
          exited and took < PERIOD_S / 2, f"exited {exited} after {took:.1f} s")
    check("... with status 0", lab.ctl.poll() == 0, lab.ctl.poll())
    check("it logged the end of the release", "graceful release finished" in lab.log("pfcp-ctl"))
    smf.close()
    gnb.close()
    dn.close()


if __name__ == "__main__":
    sys.exit(main())
