#!/usr/bin/env python3
"""Writes the input captures of the DPDK net_pcap test with scapy.

Reads a JSON scenario on stdin (sessions with UE address and TEIDs, MACs,
addresses, packets per session) and writes <dir>/n3_in.pcap (uplink G-PDUs
with a PDU Session Container, one GTP-U Echo Request, one G-PDU for an
unknown TEID) and <dir>/n6_in.pcap (downlink IPv4/UDP to the UEs).
"""
import json
import os
import sys

from scapy.all import Ether, IP, UDP, Raw, wrpcap
from scapy.contrib.gtp import GTP_U_Header, GTPPDUSessionContainer, GTPEchoRequest

out_dir = sys.argv[1]
s = json.load(sys.stdin)
n3 = []
n6 = []
for k in range(s["per_session"]):
    for i, sess in enumerate(s["sessions"]):
        inner = IP(src=sess["ue"], dst=s["dn"], ttl=64) / UDP(sport=5000 + i, dport=9000) / Raw(f"ul-{i}-{k}".encode())
        n3.append(Ether(src=s["gnb_mac"], dst=s["upf_n3_mac"])
                  / IP(src=s["gnb"], dst=s["upf_n3"]) / UDP(sport=2152, dport=2152)
                  / GTP_U_Header(teid=sess["ul_teid"], gtp_type=255, E=1, next_ex=0x85)
                  / GTPPDUSessionContainer(type=1, QFI=9) / inner)
        n6.append(Ether(src=s["dn_gw_mac"], dst=s["upf_n6_mac"])
                  / IP(src=s["dn"], dst=sess["ue"], ttl=64) / UDP(sport=9000, dport=5000 + i)
                  / Raw(f"dl-{i}-{k}".encode()))
n3.append(Ether(src=s["gnb_mac"], dst=s["upf_n3_mac"]) / IP(src=s["gnb"], dst=s["upf_n3"])
          / UDP(sport=2152, dport=2152) / GTP_U_Header(teid=0, gtp_type=1, S=1, seq=4242) / GTPEchoRequest())
n3.append(Ether(src=s["gnb_mac"], dst=s["upf_n3_mac"]) / IP(src=s["gnb"], dst=s["upf_n3"])
          / UDP(sport=2152, dport=2152) / GTP_U_Header(teid=s["unknown_teid"], gtp_type=255)
          / IP(src="198.19.9.9", dst=s["dn"]) / UDP(sport=1, dport=2) / Raw(b"x"))
wrpcap(os.path.join(out_dir, "n3_in.pcap"), n3)
wrpcap(os.path.join(out_dir, "n6_in.pcap"), n6)
print(json.dumps({"n3": len(n3), "n6": len(n6)}))
