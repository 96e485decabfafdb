#!/usr/bin/env python3
"""A gNB built from scapy, for the dataplane's namespace test.

Run inside the gNB's network namespace. For each case of the JSON plan
(argv[1]) it sends an uplink G-PDU (GTP-U over IPv4 or IPv6 with a PDU
Session Container carrying the QFI) built by scapy -- an implementation
independent of ours -- towards the UPF's N3 address, and waits for the
downlink G-PDU that the far end's reply becomes. scapy resolves the UPF's
address itself (ARP or neighbour discovery: the UPF must answer), and
dissects the reply: outer addresses, TEID, PDU Session Container type and
QFI, inner addresses, ports and payload. Prints one JSON object with the
result of every case and exits non-zero if any case failed.

Bounded: each case sends at most `tries` packets, `interval` seconds apart.
"""
import json
import socket
import sys
import threading
import time

from scapy.all import IP, IPv6, UDP, AsyncSniffer, Raw, conf, send
from scapy.contrib.gtp import GTP_U_Header, GTPPDUSessionContainer

conf.verb = 0


def uplink(case):
    outer = IP if case["outer"] == "v4" else IPv6
    inner = IP if case["inner"] == "v4" else IPv6
    return (
        outer(src=case["gnb"], dst=case["upf"])
        / UDP(sport=2152, dport=2152)
        / GTP_U_Header(teid=case["teid"], gtp_type=255)
        / GTPPDUSessionContainer(type=1, QFI=case["qfi"])
        / inner(src=case["ue"], dst=case["peer"])
        / UDP(sport=case["ue_port"], dport=case["peer_port"])
        / Raw(case["payload"].encode())
    )


def describe(p):
    """What a captured downlink G-PDU says, or None if it is not one."""
    if GTP_U_Header not in p or p[GTP_U_Header].gtp_type != 255:
        return None
    outer = p.payload  # the layer after Ethernet
    g = p[GTP_U_Header]
    psc = p[GTPPDUSessionContainer] if GTPPDUSessionContainer in p else None
    inner = g.payload
    while inner is not None and inner.name not in ("IP", "IPv6"):
        inner = inner.payload if inner.payload else None
    if inner is None or UDP not in inner:
        return None
    return {
        "outer_src": outer.src,
        "outer_dst": outer.dst,
        "teid": g.teid,
        "psc_type": None if psc is None else psc.type,
        "qfi": None if psc is None else psc.QFI,
        "inner_src": inner.src,
        "inner_dst": inner.dst,
        "inner_sport": inner[UDP].sport,
        "inner_dport": inner[UDP].dport,
        "payload": bytes(inner[UDP].payload).decode(errors="replace"),
    }


def main():
    plan = json.load(open(sys.argv[1]))
    iface = plan["iface"]
    # Listen on the GTP-U port so the kernel does not answer the downlink
    # G-PDUs with ICMP port unreachable (the sniffer reads them anyway).
    holders = []
    for fam, addr in ((socket.AF_INET, "0.0.0.0"), (socket.AF_INET6, "::")):
        s = socket.socket(fam, socket.SOCK_DGRAM)
        if fam == socket.AF_INET6:
            s.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1)
        s.bind((addr, 2152))
        holders.append(s)
    got = []
    lock = threading.Lock()

    def keep(p):
        d = describe(p)
        if d is not None:
            with lock:
                got.append(d)

    sniffer = AsyncSniffer(iface=iface, filter="udp port 2152", prn=keep, store=False)
    sniffer.start()
    time.sleep(0.5)
    results = []
    ok = True
    for case in plan["cases"]:
        want = case["expect"]
        match = None
        sent = 0
        for _ in range(plan.get("tries", 20)):
            send(uplink(case))
            sent += 1
            deadline = time.time() + plan.get("interval", 0.5)
            while time.time() < deadline and match is None:
                with lock:
                    for d in got:
                        if d["payload"] == want["payload"]:
                            match = d
                            break
                time.sleep(0.02)
            if match is not None:
                break
        errors = []
        if match is None:
            errors.append("no downlink G-PDU carried the reply")
        else:
            for k, v in want.items():
                if match.get(k) != v:
                    errors.append(f"{k}: got {match.get(k)!r}, want {v!r}")
        ok &= not errors
        results.append({"name": case["name"], "sent": sent, "got": match, "errors": errors})
    sniffer.stop()
    print(json.dumps({"ok": ok, "results": results}))
    sys.exit(0 if ok else 1)


if __name__ == "__main__":
    main()
