#!/usr/bin/env python3
"""GTP-U interoperability with independent implementations.

1. Frames built by scapy (scapy.contrib.gtp) are parsed by our wire layer
   (wire_probe decode); the fields must match what scapy put in.
2. Frames built by our encoders (wire_probe samples) are parsed by scapy
   and dissected by tshark, with the expected values and no malformed
   packet or expert error.
"""
import json
import os
import subprocess
import sys
import tempfile

from scapy.all import Ether, IP, IPv6, UDP, Raw, raw, rdpcap
from scapy.contrib.gtp import (GTP_U_Header, GTPPDUSessionContainer, GTPEchoRequest, GTPEchoResponse,
                               GTPErrorIndication, GTPSupportedExtensionHeadersNotification, IE_TEIDI,
                               IE_GSNAddress, IE_Recovery, IE_ExtensionHeaderList, GTP_UDPPort_ExtensionHeader,
                               GTP_PDCP_PDU_ExtensionHeader)

PROBE = sys.argv[1] if len(sys.argv) > 1 else "target/debug/examples/wire_probe"
failures = []


def check(name, cond, detail=""):
    print(("ok   " if cond else "FAIL ") + name + ("" if cond else f": {detail}"))
    if not cond:
        failures.append(name)


E = Ether(dst="02:00:00:00:03:02", src="02:00:00:00:03:01")
O4 = IP(src="198.18.3.1", dst="198.18.3.2") / UDP(sport=2152, dport=2152)
O6 = IPv6(src="2001:db8:3::1", dst="2001:db8:3::2") / UDP(sport=2152, dport=2152)
INNER = IP(src="198.19.0.5", dst="198.18.6.1") / UDP(sport=5000, dport=9000) / Raw(b"hello")
ILEN = len(raw(INNER))

frames = [
    # 0: plain G-PDU
    E / O4 / GTP_U_Header(teid=0x1234, gtp_type=255) / INNER,
    # 1: UL PDU Session Container QFI 9
    E / O4 / GTP_U_Header(teid=0x1001, gtp_type=255, E=1, next_ex=0x85) / GTPPDUSessionContainer(type=1, QFI=9) / INNER,
    # 2: DL PSC QFI 5 with RQI, plus sequence number
    E / O4 / GTP_U_Header(teid=0x2002, gtp_type=255, E=1, S=1, seq=77, next_ex=0x85) / GTPPDUSessionContainer(type=0, QFI=5, RQI=1) / INNER,
    # 3: UDP Port extension then PSC
    E / O4 / GTP_U_Header(teid=0x3003, gtp_type=255, E=1, next_ex=0x40) / GTP_UDPPort_ExtensionHeader(udp_port=2152, next_ex=0x85) / GTPPDUSessionContainer(type=1, QFI=3) / INNER,
    # 4: PDCP PDU Number extension
    E / O4 / GTP_U_Header(teid=0x4004, gtp_type=255, E=1, next_ex=0xc0) / GTP_PDCP_PDU_ExtensionHeader(pdcp_pdu=0x1234, next_ex=0) / INNER,
    # 5: IPv6 outer with PSC
    E / O6 / GTP_U_Header(teid=0x5005, gtp_type=255, E=1, next_ex=0x85) / GTPPDUSessionContainer(type=1, QFI=63) / INNER,
    # 6: Echo Request
    E / O4 / GTP_U_Header(teid=0, gtp_type=1, S=1, seq=4242) / GTPEchoRequest(),
    # 7: Echo Response with Recovery
    E / O4 / GTP_U_Header(teid=0, gtp_type=2, S=1, seq=4242) / GTPEchoResponse(IE_list=[IE_Recovery(restart_counter=0)]),
    # 8: Error Indication, IPv4 peer
    E / O4 / GTP_U_Header(teid=0, gtp_type=26, S=1, seq=0) / GTPErrorIndication(IE_list=[IE_TEIDI(TEIDI=0xdead), IE_GSNAddress(length=4, ipv4_address="198.18.3.1")]),
    # 9: Error Indication, IPv6 peer
    E / O6 / GTP_U_Header(teid=0, gtp_type=26, S=1, seq=0) / GTPErrorIndication(IE_list=[IE_TEIDI(TEIDI=0xbeef), IE_GSNAddress(length=16, ipv6_address="2001:db8:3::1")]),
    # 10: Supported Extension Headers Notification. scapy 2.6.1 writes the
    # Extension Header Type List IE with an inconsistent length, so the IE
    # is given as bytes per TS 29.281 8.5 (type 141, 1-octet length, types).
    E / O4 / GTP_U_Header(teid=0, gtp_type=31, S=1, seq=1) / Raw(bytes([141, 2, 0x40, 0x85])),
    # 11: End Marker
    E / O4 / GTP_U_Header(teid=0x6006, gtp_type=254),
]

out = subprocess.run([PROBE, "decode"], input="\n".join(raw(f).hex() for f in frames) + "\n",
                     capture_output=True, text=True, check=True).stdout.strip().split("\n")
check("all scapy frames parse", all(l.startswith("OK") for l in out), "\n".join(out))
check("plain G-PDU", "teid: 4660" in out[0] and f"inner_len={ILEN}" in out[0], out[0])
check("UL PSC QFI 9", "pdu_session: Some(Uplink { qfi: 9 })" in out[1] and "teid: 4097" in out[1], out[1])
check("DL PSC QFI 5 RQI and seq", "Downlink { qfi: 5, rqi: true, ppi: None }" in out[2] and "seq: Some(77)" in out[2], out[2])
check("UDP port then PSC", "udp_port: Some(2152)" in out[3] and "Uplink { qfi: 3 }" in out[3], out[3])
check("PDCP number", "pdcp_number: Some(4660)" in out[4], out[4])
check("IPv6 outer with PSC", "V6 {" in out[5] and "Uplink { qfi: 63 }" in out[5] and f"inner_len={ILEN}" in out[5], out[5])
check("echo request", "msg_type: 1," in out[6] and "seq: Some(4242)" in out[6] and "msg=Ok(EchoRequest)" in out[6], out[6])
check("echo response", "msg=Ok(EchoResponse { recovery: 0 })" in out[7], out[7])
check("error indication v4", "ErrorIndication { teid: 57005, peer: 198.18.3.1 }" in out[8], out[8])
check("error indication v6", "ErrorIndication { teid: 48879, peer: 2001:db8:3::1 }" in out[9], out[9])
check("supported extension headers", "SupportedExtensionHeaders { types: [64, 133," in out[10] and "count: 2" in out[10], out[10])
check("end marker", "msg_type: 254" in out[11] and "msg=Ok(EndMarker)" in out[11], out[11])

with tempfile.TemporaryDirectory() as d:
    pcap = os.path.join(d, "ours.pcap")
    subprocess.run([PROBE, "samples", pcap], check=True, capture_output=True)
    pk = rdpcap(pcap)
    check("scapy reads all samples", len(pk) == 11, str(len(pk)))
    g = pk[1][GTP_U_Header]
    check("scapy: encap TEID and DL PSC QFI 9", g.teid == 0x2002 and pk[1].haslayer(GTPPDUSessionContainer)
          and pk[1][GTPPDUSessionContainer].QFI == 9 and pk[1][GTPPDUSessionContainer].type == 0, pk[1].summary())
    check("scapy: RQI and PPI", pk[2][GTPPDUSessionContainer].RQI == 1 and pk[2][GTPPDUSessionContainer].PPP == 1
          and pk[2][GTPPDUSessionContainer].PPI == 3, repr(pk[2][GTPPDUSessionContainer]))
    ip = pk[1][IP]
    c0 = ip.chksum
    ip2 = ip.copy()
    del ip2.chksum
    check("scapy: IPv4 TOS and header checksum", ip.tos == 0xb8 and IP(raw(ip2)).chksum == c0, f"{c0:#x}")
    u6 = pk[3][UDP]
    c0 = u6.chksum
    u6c = pk[3].copy()
    del u6c[UDP].chksum
    check("scapy: UDP checksum over IPv6", c0 != 0 and Ether(raw(u6c))[UDP].chksum == c0, f"{c0:#x}")
    inner = pk[1][GTP_U_Header].payload
    check("scapy: inner packet intact", raw(inner).endswith(b"edge-upf"), raw(inner)[-10:])
    check("scapy: echo response seq", pk[5][GTP_U_Header].gtp_type == 2 and pk[5][GTP_U_Header].seq == 4242)
    # scapy stops dissecting after the UDP Port extension header: parse the
    # message body it leaves as Raw.
    ei = pk[7][GTP_UDPPort_ExtensionHeader]
    body = GTPErrorIndication(raw(ei.payload))
    check("scapy: error indication with UDP port extension", ei.udp_port == 2152 and body.haslayer(IE_TEIDI)
          and body[IE_TEIDI].TEIDI == 0xdead and body[IE_GSNAddress].ipv4_address == "198.18.3.2", repr(body))

    js = json.loads(subprocess.run(["tshark", "-r", pcap, "-T", "json"], capture_output=True, text=True, check=True).stdout)
    verbose = subprocess.run(["tshark", "-r", pcap, "-V"], capture_output=True, text=True, check=True).stdout
    experts = subprocess.run(["tshark", "-r", pcap, "-T", "fields", "-e", "_ws.expert.message"],
                             capture_output=True, text=True, check=True).stdout
    check("tshark: no malformed packet", "Malformed" not in verbose)
    check("tshark: no expert info", experts.strip() == "", experts)
    layers = [p["_source"]["layers"] for p in js]
    teids = [l["gtp"].get("gtp.teid") for l in layers]
    check("tshark: TEIDs", teids[:5] == ["0x00001001", "0x00002002", "0x00002003", "0x00003003", "0x00004004"], str(teids))
    s1 = json.dumps(layers[1]["gtp"])
    check("tshark: PSC QFI", '"gtp.ext_hdr.pdu_ses_con.qos_flow_id": "9"' in s1, s1[:800])
    types = [l["gtp"].get("gtp.message") for l in layers]
    check("tshark: message types", types[5:] == ["0x02", "0x01", "0x1a", "0x1a", "0xfe", "0x1f"], str(types))

if failures:
    print(f"{len(failures)} check(s) failed: {failures}")
    sys.exit(1)
print("gtp-u interop: all checks passed")
