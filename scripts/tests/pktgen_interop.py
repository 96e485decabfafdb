#!/usr/bin/env python3
"""pktgen's frames checked by independent implementations.

`pktgen pcap` writes what a run would send (uplink GTP-U with a PDU
Session Container, downlink plain IP) for a sessions file made here; scapy
dissects every frame and recomputes every checksum, tshark dissects them
with checksum validation on and must report no malformed packet and no
expert warning.
"""
import json
import os
import struct
import subprocess
import sys
import tempfile

from scapy.all import Ether, IP, IPv6, UDP, Raw, raw, rdpcap
from scapy.contrib.gtp import GTP_U_Header, GTPPDUSessionContainer

PKTGEN = sys.argv[1] if len(sys.argv) > 1 else "target/debug/pktgen"
failures = []


def check(name, cond, detail=""):
    print(("ok   " if cond else "FAIL ") + name + ("" if cond else f": {detail}"))
    if not cond:
        failures.append(name)


SESSIONS = [
    # index, UE v4, UE v6, UPF TEID, gNB TEID, QFI
    (0, "198.19.0.1", "2001:db8:1900:1::1", 0x1001, 0x100000, 9),
    (1, "198.19.0.2", "2001:db8:1900:2::1", 0x1002, 0x100001, 9),
    (4, "198.19.0.5", "2001:db8:1900:5::1", 0x1005, 0x100004, 5),
]


def sessions_file(path):
    f = {
        "format": "edge-upf-sessions/1",
        "created_by": "pktgen_interop.py",
        "upf_n4": "127.0.0.1:8805",
        "upf_node_id": "127.0.0.1",
        "gnb_ipv4": "198.18.3.1",
        "network_instance": "internet",
        "sessions": [
            {
                "index": i, "cp_seid": f"{i + 1:#x}", "up_seid": f"{0x100 + i:#x}",
                "ue_ipv4": v4, "ue_ipv6": v6, "ue_ipv6_prefix_len": 64,
                "upf_teid": ut, "upf_ipv4": "198.18.3.2", "upf_ipv6": "2001:db8:3::2",
                "gnb_teid": gt, "qfi": q, "churn": False,
            }
            for (i, v4, v6, ut, gt, q) in SESSIONS
        ],
    }
    with open(path, "w") as fh:
        json.dump(f, fh)


def stamp(payload):
    magic, run, flow, size, seq, tx = struct.unpack(">4sIIIQQ", payload[:32])
    return magic, run, flow, size, seq, tx


def checksums_ok(pkt):
    """Recomputes every IP and UDP checksum of `pkt` with scapy."""
    p = Ether(raw(pkt))
    for layer in p.iterpayloads():
        if layer.name in ("IP", "UDP"):
            layer.chksum = None
    p.clear_cache()
    rebuilt = Ether(raw(p))
    def sums(x):
        out = []
        for l in x.iterpayloads():
            if l.name in ("IP", "UDP"):
                # RFC 768: a zero UDP checksum over IPv4 means "none"
                # (what GTP-U senders commonly send on the outer header).
                v4 = l.name == "UDP" and l.underlayer is not None and l.underlayer.name == "IP"
                out.append((l.name, v4, l.chksum))
        return out
    a, b = sums(pkt), sums(rebuilt)
    ok = len(a) == len(b) > 0 and all(
        x == y or (x[0] == "UDP" and x[1] and x[2] == 0) for x, y in zip(a, b))
    return ok, (a, b)


def tshark_clean(pcap):
    prefs = ["-o", "ip.check_checksum:TRUE", "-o", "udp.check_checksum:TRUE"]
    verbose = subprocess.run(["tshark", "-r", pcap, "-V"] + prefs, capture_output=True, text=True, check=True).stdout
    experts = subprocess.run(["tshark", "-r", pcap, "-T", "fields", "-e", "_ws.expert.message"] + prefs,
                             capture_output=True, text=True, check=True).stdout
    return "Malformed" not in verbose, experts.strip(), verbose


with tempfile.TemporaryDirectory() as d:
    sess = os.path.join(d, "sessions.json")
    sessions_file(sess)

    # 1. IPv4 outer and inner, IMIX, both directions.
    pcap = os.path.join(d, "v4.pcap")
    subprocess.run([PKTGEN, "pcap", "-s", sess, "-o", pcap, "--count", "12", "--imix", "--run-id", "4242"],
                   check=True, capture_output=True)
    pk = rdpcap(pcap)
    check("24 frames (12 per direction)", len(pk) == 24, str(len(pk)))
    ul, dl = pk[:12], pk[12:]
    seqs = {}
    sizes = []
    for i, f in enumerate(ul):
        s = SESSIONS[i % 3]
        g = f[GTP_U_Header]
        psc = f[GTPPDUSessionContainer]
        inner = psc.payload
        ok = (f[IP].src == "198.18.3.1" and f[IP].dst == "198.18.3.2" and f[UDP].dport == 2152
              and g.gtp_type == 255 and g.teid == s[3] and g.E == 1 and g.next_ex == 0x85
              and psc.type == 1 and psc.QFI == s[5] and isinstance(inner, IP)
              and inner.src == s[1] and inner.dst == "198.18.6.1"
              and inner[UDP].sport == 10000 + s[0] and inner[UDP].dport == 9000)
        check(f"uplink frame {i}: tunnel, QFI and inner addresses", ok, f.summary())
        c, detail = checksums_ok(f)
        check(f"uplink frame {i}: outer IPv4, inner IPv4 and UDP checksums", c, str(detail))
        check(f"uplink frame {i}: inner UDP checksum present", inner[UDP].chksum != 0)
        check(f"uplink frame {i}: GTP-U length covers the extension and the inner packet",
              g.length == 4 + 4 + len(raw(inner)), f"{g.length} vs {len(raw(inner))}")
        m, run, flow, size, seq, tx = stamp(raw(inner[UDP].payload))
        check(f"uplink frame {i}: stamp", m == b"UPKG" and run == 4242 and flow == (i % 3) * 2
              and size == len(raw(inner)) and seq == seqs.get(flow, 0) and tx > 1_600_000_000 * 10**9,
              str((m, run, flow, size, seq)))
        seqs[flow] = seq + 1
        sizes.append(len(raw(inner)))
    check("IMIX sizes 7:4:1 over the 12-packet pattern",
          sorted(sizes) == sorted([64] * 7 + [576] * 4 + [1400]), str(sizes))
    for i, f in enumerate(dl):
        s = SESSIONS[i % 3]
        ok = (not f.haslayer(GTP_U_Header) and f[IP].src == "198.18.6.1" and f[IP].dst == s[1]
              and f[UDP].sport == 9000 and f[UDP].dport == 10000 + s[0])
        check(f"downlink frame {i}: plain IP to the UE", ok, f.summary())
        c, detail = checksums_ok(f)
        check(f"downlink frame {i}: IPv4 and UDP checksums", c, str(detail))
        m, run, flow, size, seq, tx = stamp(raw(f[UDP].payload))
        check(f"downlink frame {i}: stamp", m == b"UPKG" and flow == (i % 3) * 2 + 1, str((m, flow)))
    clean, experts, verbose = tshark_clean(pcap)
    check("tshark: no malformed packet (v4)", clean)
    check("tshark: no expert info with checksum checks on (v4)", experts == "", experts[:500])
    fields = subprocess.run(["tshark", "-r", pcap, "-Y", "gtp", "-T", "fields", "-e", "gtp.teid",
                             "-e", "gtp.ext_hdr.pdu_ses_con.qos_flow_id", "-e", "gtp.ext_hdr.pdu_ses_con.pdu_type"],
                            capture_output=True, text=True, check=True).stdout.split("\n")
    want = [f"{s[3]:#010x}\t{s[5]}\t1" for s in SESSIONS]
    check("tshark: TEID, QFI and UL PDU type per session", fields[:3] == want, str(fields[:3]))

    # 2. IPv6 inner over IPv6 outer.
    pcap6 = os.path.join(d, "v6.pcap")
    subprocess.run([PKTGEN, "pcap", "-s", sess, "-o", pcap6, "--count", "6", "--inner", "v6",
                    "--gnb-ip", "2001:db8:3::1", "--size", "200"], check=True, capture_output=True)
    pk = rdpcap(pcap6)
    check("12 IPv6 frames", len(pk) == 12, str(len(pk)))
    for i, f in enumerate(pk[:6]):
        s = SESSIONS[i % 3]
        inner = f[GTPPDUSessionContainer].payload
        ok = (f[IPv6].src == "2001:db8:3::1" and f[IPv6].dst == "2001:db8:3::2" and f[GTP_U_Header].teid == s[3]
              and isinstance(inner, IPv6) and inner.src == s[2] and inner.plen == 200 - 40)
        check(f"IPv6 uplink frame {i}", ok, f.summary())
        c, detail = checksums_ok(f)
        check(f"IPv6 uplink frame {i}: outer and inner UDP checksums", c, str(detail))
    for i, f in enumerate(pk[6:]):
        c, detail = checksums_ok(f)
        check(f"IPv6 downlink frame {i}: to the UE, UDP checksum",
              f[IPv6].dst == SESSIONS[i % 3][2] and c, f"{f.summary()} {detail}")
    clean, experts, _ = tshark_clean(pcap6)
    check("tshark: no malformed packet (v6)", clean)
    check("tshark: no expert info (v6)", experts == "", experts[:500])

    # 3. Bad input is refused with a message, not a crash.
    bad = subprocess.run([PKTGEN, "pcap", "-s", sess, "-o", os.path.join(d, "x.pcap"), "--size", "40"],
                         capture_output=True, text=True)
    check("too small a size is refused", bad.returncode == 2 and "size 40" in bad.stderr, bad.stderr)
    with open(os.path.join(d, "broken.json"), "w") as fh:
        fh.write('{"format": "edge-upf-sessions/1"')
    bad = subprocess.run([PKTGEN, "pcap", "-s", os.path.join(d, "broken.json"), "-o", os.path.join(d, "x.pcap")],
                         capture_output=True, text=True)
    check("a broken sessions file is refused", bad.returncode == 2 and "broken.json" in bad.stderr, bad.stderr)

if failures:
    print(f"{len(failures)} check(s) failed: {failures}")
    sys.exit(1)
print("pktgen interop: all checks passed")
