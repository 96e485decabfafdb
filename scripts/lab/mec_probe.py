#!/usr/bin/env python3
"""The lab's local-breakout checks, built with scapy (an implementation
independent of ours).

  mec_probe.py echo   --addr A --port P --seconds S        (MEC app namespace)
  mec_probe.py count  --iface DEV --dst A --port P --seconds S   (DN namespace)
  mec_probe.py flow   --sessions F --iface DEV --dst A --port P [--count N]
  mec_probe.py dns    --sessions F --iface DEV --name NAME [--resolver IP]

`echo` is the MEC app: a UDP echo server that counts what it answered.
`count` counts UDP packets for A:P on the data network side. `flow` plays
one UE (session 0 of the smfsim sessions file) on the gNB: it sends N
GTP-U packets (UL PDU Session Container, the session's QFI) with inner
UDP to A:P and counts the GTP-U replies that come back with the session's
downlink TEID and A as inner source. `dns` sends the UE's DNS query for
NAME and prints the answer the UPF or the resolver gave. Each prints one
JSON object on stdout.
"""
import argparse
import json
import socket
import sys
import time

from scapy.all import (ARP, DNS, DNSQR, IP, UDP, AsyncSniffer, Ether, Raw,
                       get_if_hwaddr, sendp, srp1, conf)
from scapy.contrib.gtp import GTP_U_Header, GTPPDUSessionContainer

conf.verb = 0


def echo(a):
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.bind((a.addr, a.port))
    s.settimeout(0.2)
    n = 0
    end = time.time() + a.seconds
    while time.time() < end:
        try:
            data, peer = s.recvfrom(2048)
        except socket.timeout:
            continue
        s.sendto(b"edge:" + data, peer)
        n += 1
        with open(a.out, "w") as f:
            json.dump({"answered": n}, f)
    if n == 0:
        with open(a.out, "w") as f:
            json.dump({"answered": 0}, f)


def count(a):
    flt = f"udp and dst host {a.dst} and dst port {a.port}"
    pkts = AsyncSniffer(iface=a.iface, filter=flt, store=True)
    pkts.start()
    time.sleep(a.seconds)
    got = pkts.stop() or []
    print(json.dumps({"received": len(got)}))


def session0(path):
    with open(path) as f:
        s = json.load(f)
    return s, s["sessions"][0]


def upf_mac(iface, gnb, upf):
    r = srp1(Ether(dst="ff:ff:ff:ff:ff:ff") / ARP(op=1, psrc=gnb, pdst=upf),
             iface=iface, timeout=2, retry=2)
    if r is None:
        sys.exit(f"mec_probe: the UPF did not answer ARP for {upf} on {iface}")
    return r[ARP].hwsrc


def uplink(iface, sf, s0, inner):
    gnb = sf["gnb_ipv4"]
    upf = s0["upf_ipv4"]
    return (Ether(src=get_if_hwaddr(iface), dst=upf_mac(iface, gnb, upf))
            / IP(src=gnb, dst=upf) / UDP(sport=2152, dport=2152)
            / GTP_U_Header(teid=s0["upf_teid"], gtp_type=255, E=1, next_ex=0x85)
            / GTPPDUSessionContainer(type=1, QFI=s0["qfi"]) / inner)


def replies(iface, seconds, keep):
    sn = AsyncSniffer(iface=iface, filter="udp port 2152", store=True,
                      lfilter=keep)
    sn.start()
    time.sleep(0.3)
    return sn


def flow(a):
    sf, s0 = session0(a.sessions)
    ue = s0["ue_ipv4"]

    def ours(p):
        return (GTP_U_Header in p and p[GTP_U_Header].teid in (s0["gnb_teid"], s0.get("gnb_teid_alt"))
                and p[GTP_U_Header].payload is not None and IP in p[GTP_U_Header]
                and p[GTP_U_Header][IP].src == a.dst and p[GTP_U_Header][IP].dst == ue)
    sn = replies(a.iface, 0, ours)
    frames = [uplink(a.iface, sf, s0, IP(src=ue, dst=a.dst) / UDP(sport=40000 + i, dport=a.port)
                     / Raw(f"lab probe {i}".encode())) for i in range(a.count)]
    sendp(frames, iface=a.iface, inter=0.02)
    time.sleep(1.0)
    got = sn.stop() or []
    qfis = sorted({p[GTPPDUSessionContainer].QFI for p in got if GTPPDUSessionContainer in p})
    print(json.dumps({"sent": a.count, "replies": len(got), "reply_qfis": qfis,
                      "ue": ue, "teid": s0["gnb_teid"]}))


def dns(a):
    sf, s0 = session0(a.sessions)
    ue = s0["ue_ipv4"]

    def ours(p):
        return GTP_U_Header in p and DNS in p and p[DNS].qr == 1
    sn = replies(a.iface, 0, ours)
    q = IP(src=ue, dst=a.resolver) / UDP(sport=53530, dport=53) / DNS(rd=1, qd=DNSQR(qname=a.name, qtype="A"))
    sendp(uplink(a.iface, sf, s0, q), iface=a.iface)
    time.sleep(1.0)
    got = sn.stop() or []
    answers = []
    for p in got:
        d = p[DNS]
        for i in range(d.ancount):
            rr = d.an[i]
            answers.append({"name": rr.rrname.decode().rstrip("."), "address": rr.rdata, "ttl": rr.ttl,
                            "from": p[GTP_U_Header][IP].src})
    print(json.dumps({"name": a.name, "answers": answers}))


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = ap.add_subparsers(dest="cmd", required=True)
    e = sub.add_parser("echo")
    e.add_argument("--addr", required=True)
    e.add_argument("--port", type=int, required=True)
    e.add_argument("--seconds", type=float, default=30)
    e.add_argument("--out", required=True)
    c = sub.add_parser("count")
    c.add_argument("--iface", required=True)
    c.add_argument("--dst", required=True)
    c.add_argument("--port", type=int, required=True)
    c.add_argument("--seconds", type=float, default=3)
    f = sub.add_parser("flow")
    f.add_argument("--sessions", required=True)
    f.add_argument("--iface", required=True)
    f.add_argument("--dst", required=True)
    f.add_argument("--port", type=int, required=True)
    f.add_argument("--count", type=int, default=5)
    d = sub.add_parser("dns")
    d.add_argument("--sessions", required=True)
    d.add_argument("--iface", required=True)
    d.add_argument("--name", required=True)
    d.add_argument("--resolver", default="198.18.6.1")
    a = ap.parse_args()
    {"echo": echo, "count": count, "flow": flow, "dns": dns}[a.cmd](a)


if __name__ == "__main__":
    main()
