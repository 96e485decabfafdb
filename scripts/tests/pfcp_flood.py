#!/usr/bin/env python3
"""A flood at several times pfcp-ctl's capacity does not starve heartbeats.

SMF-1 (scapy.contrib.pfcp) is associated, answers pfcp-ctl's heartbeats
(interval 1 s, T1 300 ms, 3 attempts: about one second of lost answers
would declare it failed), sends its own heartbeats and Query URRs and has a
session with traffic. Meanwhile SMF-2 (associated) floods Session
Establishment Requests, each a real new session, and a stranger floods
establishments, heartbeats and association attempts. The flood rate is
measured against the rate pfcp-ctl answers at; the test requires at least
three times capacity.

Checks: SMF-1 is never declared failed, pfcp-ctl's heartbeats to it keep
coming, its own heartbeats and session requests are answered, its session
keeps forwarding, pfcp-ctl stays up with bounded memory. Needs root.
"""
import os
import socket
import struct
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from n4lab import *  # noqa: F401,F403,E402

FLOOD_S = float(os.environ.get("FLOOD_SECONDS", "10"))


def rss_mb(pid):
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1]) / 1024
    except OSError:
        pass
    return -1


HB_RSP = bytearray(raw(PFCP(version=1, S=0, seq=1) / PFCPHeartbeatResponse(IE_list=[IE_RecoveryTimeStamp(timestamp=3900000000)])))


def child_flood(sock, templates, patch, seconds, result_fd):
    """Sends patched copies of `templates` as fast as possible for
    `seconds`; counts the answers (and answers heartbeats, like an SMF
    would). Writes (sent, answered) to result_fd."""
    sock.setblocking(False)
    sent = answered = 0
    end = time.monotonic() + seconds
    i = 0
    bufs = [bytearray(t) for t in templates]
    while time.monotonic() < end:
        for _ in range(256):
            b = bufs[i % len(bufs)]
            patch(b, i)
            try:
                sock.sendto(b, (UPF_N4, 8805))
                sent += 1
            except BlockingIOError:
                time.sleep(0.0001)
            except OSError:
                pass
            i += 1
        while True:
            try:
                d, frm = sock.recvfrom(65535)
            except (BlockingIOError, OSError):
                break
            if len(d) > 7 and d[1] == 1:
                HB_RSP[4:7] = d[4:7]
                try:
                    sock.sendto(HB_RSP, frm)
                except OSError:
                    pass
            else:
                answered += 1
    t_end = time.monotonic() + 1.0
    while time.monotonic() < t_end:
        try:
            sock.recv(65535)
            answered += 1
        except BlockingIOError:
            time.sleep(0.01)
        except OSError:
            break
    os.write(result_fd, struct.pack("!QQ", sent, answered))
    os._exit(0)


def fork_flood(sock, templates, patch, seconds):
    r, w = os.pipe()
    pid = os.fork()
    if pid == 0:
        os.close(r)
        try:
            child_flood(sock, templates, patch, seconds, w)
        finally:
            os._exit(1)
    os.close(w)
    return pid, r


def collect(pid, r):
    os.waitpid(pid, 0)
    data = os.read(r, 16)
    os.close(r)
    if len(data) != 16:
        return 0, 0
    return struct.unpack("!QQ", data)


def main():
    lab = UpfLab("n4f", hb_interval="1s", hb_retries=3, request_timeout="300ms")
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
    check("SMF-1 associated", cause_of(smf.associate()) == 1)
    s = Session(0xB1, smf.establish(0xB1, session_ies(gnb_teid=0x1B1)))
    check("SMF-1 session established", s.up_seid is not None)
    smf2 = Smf(lab, SMF2)
    check("SMF-2 associated", cause_of(smf2.associate()) == 1)
    smf2.close()
    time.sleep(0.3)
    wait_for(lambda: lab.ctl_status()["peer_sockets"] == 2, 3.0)
    check("each associated SMF has its own socket", lab.ctl_status()["peer_sockets"] == 2, lab.ctl_status())

    # SMF-2's flood: real establishments, unique sequence number, CP SEID and UE address.
    tpl = bytearray(raw(PFCP(version=1, S=1, seid=0, seq=1) / PFCPSessionEstablishmentRequest(
        IE_list=[IE_NodeId(id_type=0, ipv4=SMF2), IE_FSEID(v4=1, seid=0x7777777777777777, ipv4=SMF2)]
        + session_ies(gnb_teid=0x99, ue="100.64.0.1"))))
    seid_off = tpl.find(struct.pack("!Q", 0x7777777777777777))
    ue_offs = []
    k = 0
    while True:
        k = tpl.find(socket.inet_aton("100.64.0.1"), k)
        if k < 0:
            break
        ue_offs.append(k)
        k += 4
    assert seid_off > 0 and len(ue_offs) == 2

    def patch_est(b, i):
        b[12:15] = struct.pack("!I", (i + 1) & 0xFFFFFF)[1:]
        b[seid_off:seid_off + 8] = struct.pack("!Q", 0x100000000 + i)
        ue = struct.pack("!I", 0x64400000 + (i % 0x3FFFFF) + 1)
        for o in ue_offs:
            b[o:o + 4] = ue

    # The stranger: establishments without association, heartbeats, setups.
    r_est = bytearray(raw(PFCP(version=1, S=1, seid=0, seq=1) / PFCPSessionEstablishmentRequest(
        IE_list=[IE_NodeId(id_type=0, ipv4=ROGUE), IE_FSEID(v4=1, seid=5, ipv4=ROGUE)] + session_ies(gnb_teid=0x98, ue="100.127.0.1"))))
    r_hb = bytearray(raw(PFCP(version=1, S=0, seq=1) / PFCPHeartbeatRequest(IE_list=[IE_RecoveryTimeStamp(timestamp=1)])))
    r_as = bytearray(raw(PFCP(version=1, S=0, seq=1) / PFCPAssociationSetupRequest(IE_list=[
        IE_NodeId(id_type=0, ipv4=ROGUE), IE_RecoveryTimeStamp(timestamp=1)])))

    def patch_rogue(b, i):
        if b[0] & 0x01:
            b[12:15] = struct.pack("!I", (i + 1) & 0xFFFFFF)[1:]
        else:
            b[4:7] = struct.pack("!I", (i + 1) & 0xFFFFFF)[1:]

    s2 = lab.udp("smf", SMF2, 8805)
    s9 = lab.udp("smf", ROGUE, 8805)
    ul = inner_udp(s.ue, DN, 5000, 9000, b"during-flood")
    hb_before = len(smf.requests_of(1))
    t0 = time.monotonic()
    fa = fork_flood(s2, [tpl], patch_est, FLOOD_S)
    fb = fork_flood(s9, [r_est, r_est, r_hb, r_as], patch_rogue, FLOOD_S)
    s2.close()
    s9.close()

    # SMF-1 during the flood: heartbeats, Query URRs, traffic.
    hb_sent = hb_ok = q_sent = q_ok = ul_sent = 0
    q_lat = []
    while time.monotonic() - t0 < FLOOD_S:
        h = smf.heartbeat(timeout=1.0)
        hb_sent += 1
        hb_ok += h is not None
        ts = time.monotonic()
        q = smf.modify(s.up_seid, [IE_QueryURR(IE_list=[IE_URR_Id(id=1)])], timeout=2.0)
        q_sent += 1
        if q is not None and cause_of(q) == 1:
            q_ok += 1
            q_lat.append(time.monotonic() - ts)
        gnb.send(s.teid, ul)
        ul_sent += 1
        time.sleep(0.15)
    sent_a, ans_a = collect(*fa)
    sent_b, ans_b = collect(*fb)
    elapsed = time.monotonic() - t0
    st = lab.ctl_status()
    peers = lab.ctl_admin("peers")
    hbs = smf.requests_of(1, t0)
    print(f"flood {elapsed:.1f}s: SMF-2 sent {sent_a} establishments ({sent_a / FLOOD_S:.0f}/s), "
          f"{ans_a} answered ({ans_a / FLOOD_S:.0f}/s); stranger sent {sent_b} ({sent_b / FLOOD_S:.0f}/s), "
          f"{ans_b} answered; queue drops {st['overload_drops']}; sessions {st['sessions']}")
    print(f"SMF-1: heartbeats {hb_ok}/{hb_sent} answered, Query URR {q_ok}/{q_sent} answered "
          f"(p50 {sorted(q_lat)[len(q_lat) // 2] * 1000 if q_lat else -1:.1f} ms, max {max(q_lat, default=-1) * 1000:.1f} ms), "
          f"UPF heartbeats received {len(hbs)}; pfcp-ctl RSS {rss_mb(lab.ctl.pid):.0f} MB")
    offered = sent_a + sent_b
    answered = max(1, ans_a)
    check("the flood offered at least 3x what pfcp-ctl answered (establishments)", sent_a >= 3 * answered,
          (sent_a, ans_a))
    check("pfcp-ctl did real work during the flood (sessions created)", st["sessions"] > 10, st["sessions"])
    p1 = [p for p in peers if p["node_id"] == SMF]
    print(f"SMF-2 (the flooder, its own heartbeat answers behind its own flood) failed: "
          f"{[p['failed'] for p in peers if p['node_id'] == SMF2]}")
    check("SMF-1 not declared failed", len(p1) == 1 and not p1[0]["failed"] and "node=198.18.4.1" not in
          "".join(line for line in lab.log("pfcp-ctl").splitlines() if "does not answer" in line), (peers, st["peers_failed"]))
    check("pfcp-ctl's heartbeats to SMF-1 kept coming (about one per second)", len(hbs) >= int(elapsed) - 2, len(hbs))
    check("SMF-1's heartbeats answered during the flood (>= 95%)", hb_ok >= 0.95 * hb_sent, (hb_ok, hb_sent))
    check("SMF-1's session requests answered during the flood (>= 90%)", q_ok >= 0.9 * q_sent, (q_ok, q_sent))
    wait_for(lambda: len(dn.received(9000)) >= ul_sent, 2.0)
    check("SMF-1's session forwarded throughout", len(dn.received(9000)) == ul_sent, (len(dn.received(9000)), ul_sent))
    check("pfcp-ctl memory bounded under the flood (< 1 GB RSS)", 0 < rss_mb(lab.ctl.pid) < 1024, rss_mb(lab.ctl.pid))
    check("the stranger was answered at least partly (no crash on its traffic)", ans_b > 0 and offered > 0)
    # After the flood the node still works normally.
    rsp = smf.modify(s.up_seid, [IE_QueryURR(IE_list=[IE_URR_Id(id=1)])])
    check("SMF-1 works normally after the flood", rsp is not None and cause_of(rsp) == 1)
    for x in (smf, gnb, dn):
        x.close()


if __name__ == "__main__":
    sys.exit(main())
