"""A namespace lab for end-to-end tests of pfcp-ctl with an independent SMF.

The SMF side is scapy's PFCP implementation (scapy.contrib.pfcp); GTP-U is
built and parsed by scapy.contrib.gtp. The UPF side is the real processes:
`upf-dataplane` (AF_PACKET ports) and `pfcp-ctl`, as cargo built them.

Topology (every name carries the test's pid; addresses exist only in the
lab's namespaces):

    gnb  g0 198.18.3.1 ------ u3 (dataplane N3, 198.18.3.2)  upf
    dn   d0 198.18.6.1 ------ u6 (dataplane N6, 198.18.6.2)  upf
    smf  s0 198.18.4.1/.3/.9, 2001:db8:4::1 ---- n4 198.18.4.2, 2001:db8:4::2 (pfcp-ctl)

Everything the lab creates (namespaces, processes, files) is removed by
`close()`, which also runs on SIGTERM/SIGINT and at exit.
"""
import atexit
import contextlib
import ctypes
import json
import os
import queue
import random
import shutil
import signal
import socket
import struct
import subprocess
import sys
import threading
import time

from scapy.all import IP, UDP, Raw, raw
from scapy.contrib.gtp import GTP_U_Header, GTPPDUSessionContainer, GTPEchoResponse, IE_Recovery, GTPHeader
from scapy.contrib.pfcp import *  # noqa: F401,F403

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
TARGET = os.environ.get("CARGO_TARGET_DIR", os.path.join(ROOT, "target"))
PROFILE = os.environ.get("E2E_PROFILE", "debug")
DATAPLANE = os.path.join(TARGET, PROFILE, "upf-dataplane")
PFCP_CTL = os.path.join(TARGET, PROFILE, "pfcp-ctl")

GNB = "198.18.3.1"
UPF_N3 = "198.18.3.2"
DN = "198.18.6.1"
SMF = "198.18.4.1"
SMF2 = "198.18.4.3"
ROGUE = "198.18.4.9"
UPF_N4 = "198.18.4.2"
SMF6 = "2001:db8:4::1"
UPF_N46 = "2001:db8:4::2"
UE_POOL = "198.19.0.0/24"

NTP_OFFSET = 2208988800
REQUEST_TYPES = {1, 3, 5, 7, 9, 12, 14, 50, 52, 54, 56}

_libc = ctypes.CDLL("libc.so.6", use_errno=True)
_CLONE_NEWNET = 0x40000000
_ns_lock = threading.RLock()

# ----------------------------------------------------------------------
# Reporting
# ----------------------------------------------------------------------

failures = []


def check(name, cond, detail=""):
    """Records one assertion; prints ok/FAIL."""
    if cond:
        print(f"ok   {name}", flush=True)
    else:
        print(f"FAIL {name}: {detail}", flush=True)
        failures.append(name)
    return cond


def finish():
    """Exit status for the script."""
    if failures:
        print(f"\n{len(failures)} check(s) failed:", flush=True)
        for f in failures:
            print(f"  - {f}", flush=True)
        return 1
    print("\nall checks passed", flush=True)
    return 0


def wait_for(pred, timeout, step=0.02):
    """Polls `pred` until it returns a truthy value or `timeout` passes."""
    end = time.monotonic() + timeout
    while True:
        v = pred()
        if v:
            return v
        if time.monotonic() >= end:
            return v
        time.sleep(step)


# ----------------------------------------------------------------------
# Namespaces and processes
# ----------------------------------------------------------------------


def _setns(path):
    fd = os.open(path, os.O_RDONLY)
    try:
        if _libc.setns(fd, _CLONE_NEWNET) != 0:
            e = ctypes.get_errno()
            raise OSError(e, f"setns {path}: {os.strerror(e)}")
    finally:
        os.close(fd)


def sh(*args, check=True, quiet=False):
    r = subprocess.run(list(args), capture_output=True, text=True)
    if check and r.returncode != 0:
        raise RuntimeError(f"{' '.join(args)}: {r.stderr.strip()}")
    return r


class Lab:
    """Network namespaces, veths, processes: all removed by close()."""

    def __init__(self, tag):
        if os.geteuid() != 0:
            print(f"skipping {tag}: needs root for network namespaces")
            sys.exit(0)
        self.prefix = f"{tag}{os.getpid()}"
        self.names = []
        self.procs = []
        self.dir = f"/tmp/{self.prefix}"
        shutil.rmtree(self.dir, ignore_errors=True)
        os.makedirs(self.dir)
        self._closed = False
        atexit.register(self.close)
        for s in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
            signal.signal(s, self._on_signal)

    def _on_signal(self, signum, _frame):
        print(f"signal {signum}: tearing the lab down", flush=True)
        self.close()
        os._exit(128 + signum)

    def ns(self, short):
        return f"{self.prefix}-{short}"

    def add_ns(self, short):
        n = self.ns(short)
        sh("ip", "netns", "del", n, check=False)
        sh("ip", "netns", "add", n)
        self.names.append(n)
        sh("ip", "-n", n, "link", "set", "lo", "up")
        return n

    def veth(self, a_ns, a_dev, b_ns, b_dev):
        ta, tb = f"t{os.getpid() % 100000}a", f"t{os.getpid() % 100000}b"
        sh("ip", "link", "add", ta, "type", "veth", "peer", "name", tb)
        sh("ip", "link", "set", ta, "netns", self.ns(a_ns), "name", a_dev)
        sh("ip", "link", "set", tb, "netns", self.ns(b_ns), "name", b_dev)
        for n, d in ((a_ns, a_dev), (b_ns, b_dev)):
            sh("ip", "-n", self.ns(n), "link", "set", d, "up")
            sh("ip", "netns", "exec", self.ns(n), "ethtool", "-K", d, "tx", "off", "rx", "off", check=False)

    def addr(self, short, dev, cidr):
        if ":" in cidr:
            sh("ip", "-n", self.ns(short), "-6", "addr", "add", cidr, "dev", dev, "nodad")
        else:
            sh("ip", "-n", self.ns(short), "addr", "add", cidr, "dev", dev)

    def route(self, short, prefix, via):
        sh("ip", "-n", self.ns(short), "route", "add", prefix, "via", via)

    def no_ipv6(self, short, dev):
        sh("ip", "netns", "exec", self.ns(short), "sysctl", "-qw", f"net.ipv6.conf.{dev}.disable_ipv6=1", check=False)

    @contextlib.contextmanager
    def inside(self, short):
        """Runs the block with the calling thread in namespace `short`."""
        with _ns_lock:
            fd = os.open("/proc/thread-self/ns/net", os.O_RDONLY)
            try:
                _setns(f"/var/run/netns/{self.ns(short)}")
                yield
            finally:
                _libc.setns(fd, _CLONE_NEWNET)
                os.close(fd)

    def udp(self, short, addr, port, rcvbuf=4 << 20):
        """A UDP socket bound in namespace `short`."""
        fam = socket.AF_INET6 if ":" in addr else socket.AF_INET
        with self.inside(short):
            s = socket.socket(fam, socket.SOCK_DGRAM)
            s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, rcvbuf)
            s.bind((addr, port))
        return s

    def spawn(self, short, argv, name):
        """Starts `argv` in namespace `short`; output goes to a log file."""
        log = open(os.path.join(self.dir, f"{name}.log"), "ab")
        p = subprocess.Popen(["ip", "netns", "exec", self.ns(short)] + argv,
                             stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
        p.name = name
        p.log_path = log.name
        self.procs.append(p)
        return p

    def log(self, name):
        try:
            with open(os.path.join(self.dir, f"{name}.log"), "rb") as f:
                return f.read().decode(errors="replace")
        except OSError:
            return ""

    def close(self):
        if self._closed:
            return
        self._closed = True
        for p in self.procs:
            if p.poll() is None:
                p.terminate()
        deadline = time.monotonic() + 5
        for p in self.procs:
            try:
                p.wait(timeout=max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                p.kill()
                p.wait()
        for n in reversed(self.names):
            sh("ip", "netns", "del", n, check=False)
        self.names = []
        if os.environ.get("E2E_KEEP_LOGS"):
            print(f"logs kept in {self.dir}")
        else:
            shutil.rmtree(self.dir, ignore_errors=True)


def admin(path, req="status", timeout=3.0):
    """One request to an admin socket (pfcp-ctl or dataplane); parsed JSON."""
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.settimeout(timeout)
    try:
        s.connect(path)
        s.sendall(req.encode() + b"\n")
        data = b""
        while True:
            c = s.recv(65536)
            if not c:
                break
            data += c
    finally:
        s.close()
    return json.loads(data.decode())


# ----------------------------------------------------------------------
# The UPF lab
# ----------------------------------------------------------------------

CONFIG = """
[node]
name = "n4-e2e"
run_dir = "{run}"
state_dir = "{state}"

[logging]
level = "{log_level}"
format = "text"

[dataplane]
backend = "af_packet"
workers = {workers}
buffers = 2048
expected_sessions = 4096
gtpu_echo_interval = "{echo_interval}"
gtpu_echo_retries = 2

[dataplane.buffering]
per_session_packets = 64

[dataplane.af_packet]
block_size = 65536
block_count = 64
frame_size = 2048

[[dataplane.interfaces]]
name = "n3"
role = "n3"
device = "u3"
addresses = ["198.18.3.2/24"]

[[dataplane.interfaces]]
name = "n6"
role = "n6"
device = "u6"
addresses = ["198.18.6.2/24"]
gateway4 = "198.18.6.1"
network_instances = ["internet"]

[pfcp]
listen = ["198.18.4.2:8805", "[2001:db8:4::2]:8805"]
node_id = "198.18.4.2"
heartbeat_interval = "{hb_interval}"
heartbeat_retries = {hb_retries}
request_timeout = "{request_timeout}"
request_retries = 3
peer_failure_policy = "keep"
peer_grace_period = "60s"
journal_fsync = "interval"
journal_fsync_interval = "20ms"
max_sessions = 100000

[[pfcp.peers]]
address = "198.18.4.1"

[[pfcp.peers]]
address = "198.18.4.3"

[[pfcp.peers]]
address = "2001:db8:4::1"

[[ue_pools]]
network_instance = "internet"
ipv4 = "{pool}"
"""


class UpfLab(Lab):
    """gNB, UPF, DN and SMF namespaces with the dataplane and pfcp-ctl."""

    def __init__(self, tag, workers=2, hb_interval="1s", hb_retries=3, request_timeout="500ms",
                 echo_interval="1s", log_level="info"):
        super().__init__(tag)
        self.run = os.path.join(self.dir, "run")
        self.state = os.path.join(self.dir, "state")
        for n in ("gnb", "upf", "dn", "smf"):
            self.add_ns(n)
        self.veth("gnb", "g0", "upf", "u3")
        self.veth("upf", "u6", "dn", "d0")
        self.veth("smf", "s0", "upf", "n4")
        self.addr("gnb", "g0", "198.18.3.1/24")
        self.addr("dn", "d0", "198.18.6.1/24")
        self.route("dn", "198.19.0.0/16", UPF_N3.replace("3.2", "6.2"))
        for a in ("198.18.4.1/24", "198.18.4.3/24", "198.18.4.9/24", "2001:db8:4::1/64"):
            self.addr("smf", "s0", a)
        self.addr("upf", "n4", "198.18.4.2/24")
        self.addr("upf", "n4", "2001:db8:4::2/64")
        self.no_ipv6("upf", "u3")
        self.no_ipv6("upf", "u6")
        self.config = os.path.join(self.dir, "upf.toml")
        with open(self.config, "w") as f:
            f.write(CONFIG.format(run=self.run, state=self.state, workers=workers, hb_interval=hb_interval,
                                  hb_retries=hb_retries, request_timeout=request_timeout,
                                  echo_interval=echo_interval, pool=UE_POOL, log_level=log_level))
        self.dp = None
        self.ctl = None

    @property
    def ctl_sock(self):
        return os.path.join(self.run, "pfcp.sock")

    @property
    def dp_sock(self):
        return os.path.join(self.run, "dataplane.sock")

    def start_dataplane(self):
        self.dp = self.spawn("upf", [DATAPLANE, "run", "-c", self.config], "dataplane")
        ok = wait_for(lambda: self._admin_ok(self.dp_sock), 20)
        if not ok:
            raise RuntimeError("dataplane did not start:\n" + self.log("dataplane"))

    def start_ctl(self):
        self.ctl = self.spawn("upf", [PFCP_CTL, "run", "-c", self.config], "pfcp-ctl")
        ok = wait_for(lambda: (self.ctl_status() or {}).get("dataplane_attached"), 20, 0.05)
        if not ok:
            raise RuntimeError("pfcp-ctl did not attach to the dataplane:\n" + self.log("pfcp-ctl"))

    def start(self):
        self.start_dataplane()
        self.start_ctl()

    def _admin_ok(self, path):
        try:
            admin(path, "status", 0.5)
            return True
        except (OSError, ValueError):
            return False

    def ctl_status(self):
        try:
            return admin(self.ctl_sock, "status", 1.0)
        except (OSError, ValueError):
            return None

    def dp_status(self):
        return admin(self.dp_sock, "status")

    def dp_admin(self, req):
        return admin(self.dp_sock, req)

    def ctl_admin(self, req):
        return admin(self.ctl_sock, req)

    def alive(self):
        return self.ctl is not None and self.ctl.poll() is None and self.dp is not None and self.dp.poll() is None

    def panicked(self):
        return "panicked" in self.log("pfcp-ctl") or "panicked" in self.log("dataplane")


# ----------------------------------------------------------------------
# PFCP helpers (scapy)
# ----------------------------------------------------------------------


def ies(pkt, cls):
    """Every IE of class `cls` anywhere in `pkt` (depth first)."""
    out = []

    def walk(p):
        for ie in getattr(p, "IE_list", None) or []:
            if isinstance(ie, cls):
                out.append(ie)
            walk(ie)

    layer = pkt
    while layer is not None and not getattr(layer, "IE_list", None):
        layer = layer.payload if layer.payload else None
        if layer is not None and layer.__class__.__name__ == "NoPayload":
            layer = None
    if layer is not None:
        walk(layer)
    return out


def ie(pkt, cls):
    v = ies(pkt, cls)
    return v[0] if v else None


def cause_of(pkt):
    c = ie(pkt, IE_Cause)
    return None if c is None else c.cause


def offending_of(pkt):
    c = ie(pkt, IE_OffendingIE)
    return None if c is None else c.type


def msg_type(pkt):
    return pkt[PFCP].message_type


def volumes(ur):
    """(total, uplink, downlink) of a usage report IE."""
    v = ie(ur, IE_VolumeMeasurement)
    if v is None:
        return None
    return (v.total if v.TOVOL else None, v.uplink if v.ULVOL else None, v.downlink if v.DLVOL else None)


def urr_id_of(ur):
    i = ie(ur, IE_URR_Id)
    return None if i is None else i.id


def fteid_choose(choose_id=None):
    if choose_id is None:
        return IE_FTEID(CH=1, V4=1)
    return IE_FTEID(CH=1, CHID=1, V4=1, choose_id=choose_id)


def ue_choose_v4(dst=False):
    # CHV4 is bit 5 of the flags (TS 29.244 8.2.62); scapy 2.6 names the
    # upper bits "spare".
    return IE_UE_IP_Address(spare=0b00010, SD=1 if dst else 0)


def ue_addr(ip, dst=False):
    return IE_UE_IP_Address(V4=1, SD=1 if dst else 0, ipv4=ip)


class Smf:
    """An SMF on one UDP socket: sends requests and waits for the answer by
    sequence number; answers the UPF's requests (heartbeats, session and
    node reports) and records them."""

    def __init__(self, lab, addr=SMF, port=8805, upf=None, node_id=None):
        self.lab = lab
        self.addr = addr
        self.sock = lab.udp("smf", addr, port)
        self.upf = upf or ((UPF_N46, 8805) if ":" in addr else (UPF_N4, 8805))
        self.node_id = node_id
        self.seq = random.randint(1000, 100000)
        self.recovery = int(time.time()) + NTP_OFFSET
        self.lock = threading.Lock()
        self.responses = {}
        self.cond = threading.Condition(self.lock)
        self.received = []  # (monotonic time, parsed request, raw bytes)
        self.answer = {1: True, 12: True, 56: True}
        self.report_cause = 1
        self.up_seid = {}  # CP SEID -> UP SEID (for report responses)
        self.raw_log = []  # every datagram received (time, bytes)
        self.stop = False
        self.t = threading.Thread(target=self._rx, daemon=True)
        self.t.start()

    def close(self):
        self.stop = True
        try:
            self.sock.close()
        except OSError:
            pass

    def node_ie(self):
        if self.node_id is not None:
            return IE_NodeId(id_type=2, id=self.node_id)
        if ":" in self.addr:
            return IE_NodeId(id_type=1, ipv6=self.addr)
        return IE_NodeId(id_type=0, ipv4=self.addr)

    def fseid_ie(self, cp_seid):
        if ":" in self.addr:
            return IE_FSEID(v6=1, seid=cp_seid, ipv6=self.addr)
        return IE_FSEID(v4=1, seid=cp_seid, ipv4=self.addr)

    def next_seq(self):
        self.seq = (self.seq + 1) & 0xFFFFFF
        return self.seq

    def _rx(self):
        self.sock.settimeout(0.2)
        while not self.stop:
            try:
                data, frm = self.sock.recvfrom(65535)
            except socket.timeout:
                continue
            except OSError:
                return
            now = time.monotonic()
            self.raw_log.append((now, data))
            try:
                p = PFCP(data)
            except Exception as e:  # noqa: BLE001 - a peer's bytes
                print(f"smf: undecodable datagram from {frm}: {e}")
                continue
            t = p.message_type
            if t in REQUEST_TYPES:
                with self.lock:
                    self.received.append((now, p, data))
                    self.cond.notify_all()
                if self.answer.get(t, False):
                    self._answer(p, frm)
            else:
                with self.lock:
                    self.responses.setdefault(p.seq, []).append((now, p, data))
                    self.cond.notify_all()

    def _answer(self, p, frm):
        t = p.message_type
        if t == 1:
            rsp = PFCP(version=1, S=0, seq=p.seq) / PFCPHeartbeatResponse(IE_list=[IE_RecoveryTimeStamp(timestamp=self.recovery)])
        elif t == 56:
            up = self.up_seid.get(p.seid, 0)
            rsp = PFCP(version=1, S=1, seid=up, seq=p.seq) / PFCPSessionReportResponse(IE_list=[IE_Cause(cause=self.report_cause)])
        elif t == 12:
            rsp = PFCP(version=1, S=0, seq=p.seq) / PFCPNodeReportResponse(IE_list=[self.node_ie(), IE_Cause(cause=1)])
        else:
            return
        self.sock.sendto(raw(rsp), frm)

    def send_raw(self, data, to=None):
        self.sock.sendto(data, to or self.upf)

    def wait_response(self, seq, timeout=3.0, count=1):
        """The first response with `seq` (None on timeout)."""
        end = time.monotonic() + timeout
        with self.lock:
            while len(self.responses.get(seq, [])) < count:
                left = end - time.monotonic()
                if left <= 0:
                    return None
                self.cond.wait(left)
            return self.responses[seq][count - 1][1]

    def responses_for(self, seq):
        with self.lock:
            return list(self.responses.get(seq, []))

    def request(self, msg, seid=None, seq=None, timeout=3.0):
        """Sends a node (seid None) or session request; returns the answer."""
        seq = self.next_seq() if seq is None else seq
        if seid is None:
            pkt = PFCP(version=1, S=0, seq=seq) / msg
        else:
            pkt = PFCP(version=1, S=1, seid=seid, seq=seq) / msg
        self.sock.sendto(raw(pkt), self.upf)
        return self.wait_response(seq, timeout)

    def wait_request(self, pred, timeout, since=0.0):
        """The first request from the UPF received after `since` that
        satisfies `pred` (None on timeout)."""
        end = time.monotonic() + timeout
        with self.lock:
            while True:
                for (t, p, _d) in self.received:
                    if t >= since and pred(p):
                        return p
                left = end - time.monotonic()
                if left <= 0:
                    return None
                self.cond.wait(left)

    def requests_of(self, mtype, since=0.0):
        with self.lock:
            return [(t, p) for (t, p, _d) in self.received if t >= since and p.message_type == mtype]

    # Procedures ---------------------------------------------------------

    def associate(self):
        return self.request(PFCPAssociationSetupRequest(IE_list=[
            self.node_ie(), IE_RecoveryTimeStamp(timestamp=self.recovery)]))

    def heartbeat(self, timeout=2.0):
        return self.request(PFCPHeartbeatRequest(IE_list=[IE_RecoveryTimeStamp(timestamp=self.recovery)]), timeout=timeout)

    def establish(self, cp_seid, ies_, seq=None, timeout=5.0):
        rsp = self.request(PFCPSessionEstablishmentRequest(IE_list=[self.node_ie(), self.fseid_ie(cp_seid)] + ies_),
                           seid=0, seq=seq, timeout=timeout)
        if rsp is not None:
            f = ie(rsp, IE_FSEID)
            if f is not None:
                self.up_seid[cp_seid] = f.seid
        return rsp

    def modify(self, up_seid, ies_, seq=None, timeout=5.0):
        return self.request(PFCPSessionModificationRequest(IE_list=ies_), seid=up_seid, seq=seq, timeout=timeout)

    def delete(self, up_seid, seq=None, timeout=5.0):
        return self.request(PFCPSessionDeletionRequest(), seid=up_seid, seq=seq, timeout=timeout)


# ----------------------------------------------------------------------
# A standard session: 2 PDRs, 2 FARs, 1 QER, 1 URR (UPF chooses F-TEID and UE)
# ----------------------------------------------------------------------


def session_ies(gnb_teid, dl_action="FORW", ni="internet", bar=False, urr_triggers=None, extra=None,
                ue=None, qfi=9):
    ul_pdi = [IE_SourceInterface(interface=0), fteid_choose(1)]
    if ni is not None:
        ul_pdi.append(IE_NetworkInstance(instance=ni))
    ul_pdi.append(ue_choose_v4() if ue is None else ue_addr(ue))
    ul_pdi.append(IE_QFI(QFI=qfi))
    dl_pdi = [IE_SourceInterface(interface=1)]
    if ni is not None:
        dl_pdi.append(IE_NetworkInstance(instance=ni))
    dl_pdi.append(ue_choose_v4(dst=True) if ue is None else ue_addr(ue, dst=True))
    pdr_ul = IE_CreatePDR(IE_list=[IE_PDR_Id(id=1), IE_Precedence(precedence=200), IE_PDI(IE_list=ul_pdi),
                                   IE_OuterHeaderRemoval(header=0), IE_FAR_Id(id=1), IE_URR_Id(id=1), IE_QER_Id(id=1)])
    pdr_dl = IE_CreatePDR(IE_list=[IE_PDR_Id(id=2), IE_Precedence(precedence=200), IE_PDI(IE_list=dl_pdi),
                                   IE_FAR_Id(id=2), IE_URR_Id(id=1), IE_QER_Id(id=1)])
    far_ul = IE_CreateFAR(IE_list=[IE_FAR_Id(id=1), IE_ApplyAction(FORW=1), IE_ForwardingParameters(IE_list=[
        IE_DestinationInterface(interface=1), IE_NetworkInstance(instance="internet")])])
    dl_fp = IE_ForwardingParameters(IE_list=[
        IE_DestinationInterface(interface=0),
        IE_OuterHeaderCreation(GTPUUDPIPV4=1, TEID=gnb_teid, ipv4=GNB)])
    if dl_action == "FORW":
        far_dl = IE_CreateFAR(IE_list=[IE_FAR_Id(id=2), IE_ApplyAction(FORW=1), dl_fp])
    elif dl_action == "BUFF":
        far_dl = IE_CreateFAR(IE_list=[IE_FAR_Id(id=2), IE_ApplyAction(BUFF=1, NOCP=1), IE_BAR_Id(id=1)])
    else:
        raise ValueError(dl_action)
    trig = urr_triggers or {}
    urr = IE_CreateURR(IE_list=[IE_URR_Id(id=1), IE_MeasurementMethod(VOLUM=1),
                                IE_ReportingTriggers(**trig)])
    qer = IE_CreateQER(IE_list=[IE_QER_Id(id=1), IE_GateStatus(ul=0, dl=0), IE_MBR(ul=1000000, dl=1000000),
                                IE_QFI(QFI=qfi)])
    out = [pdr_ul, pdr_dl, far_ul, far_dl, urr, qer]
    if bar:
        out.append(IE_Create_BAR(IE_list=[IE_BAR_Id(id=1), IE_SuggestedBufferingPacketsCount(count=32)]))
    return out + (extra or [])


class Session:
    """What an establishment answered."""

    def __init__(self, cp_seid, rsp):
        self.cp_seid = cp_seid
        self.rsp = rsp
        f = ie(rsp, IE_FSEID)
        self.up_seid = f.seid if f is not None else None
        self.teid = None
        self.n3 = None
        self.ue = None
        self.created = {}
        for c in ies(rsp, IE_CreatedPDR):
            pid = ie(c, IE_PDR_Id).id
            ft = ie(c, IE_FTEID)
            ua = ie(c, IE_UE_IP_Address)
            self.created[pid] = (ft, ua)
            if ft is not None and self.teid is None:
                self.teid, self.n3 = ft.TEID, ft.ipv4
            if ua is not None and ua.V4 and self.ue is None:
                self.ue = ua.ipv4


# ----------------------------------------------------------------------
# GTP-U traffic (scapy) and the data network
# ----------------------------------------------------------------------


class Gnb:
    """A gNB on UDP 2152: sends G-PDUs built by scapy, collects downlink
    G-PDUs, answers GTP-U Echo Requests while `echo` is true."""

    def __init__(self, lab):
        self.sock = lab.udp("gnb", GNB, 2152)
        self.lock = threading.Lock()
        self.rx = []  # (monotonic time, teid, qfi, inner bytes)
        self.echo = True
        self.echo_requests = 0
        self.other = []
        self.stop = False
        self.t = threading.Thread(target=self._rx, daemon=True)
        self.t.start()

    def _rx(self):
        self.sock.settimeout(0.2)
        while not self.stop:
            try:
                data, frm = self.sock.recvfrom(65535)
            except socket.timeout:
                continue
            except OSError:
                return
            now = time.monotonic()
            if len(data) < 8:
                continue
            mt = data[1]
            if mt == 1:  # Echo Request
                self.echo_requests += 1
                if self.echo:
                    seq = struct.unpack("!H", data[8:10])[0] if data[0] & 0x07 else 0
                    rsp = GTPHeader(version=1, PT=1, S=1, gtp_type=2, teid=0, seq=seq) / GTPEchoResponse(IE_list=[IE_Recovery(restart_counter=0)])
                    self.sock.sendto(raw(rsp), frm)
                continue
            if mt != 255:
                with self.lock:
                    self.other.append((now, data))
                continue
            g = GTP_U_Header(data)
            qfi = None
            if g.haslayer(GTPPDUSessionContainer):
                qfi = g[GTPPDUSessionContainer].QFI
            inner = raw(g[IP]) if g.haslayer(IP) else b""
            with self.lock:
                self.rx.append((now, g.teid, qfi, inner))

    def gpdu(self, teid, inner, qfi=9):
        return raw(GTP_U_Header(teid=teid, gtp_type=255, E=1, next_ex=0x85) /
                   GTPPDUSessionContainer(type=1, QFI=qfi) / inner)

    def send(self, teid, inner, qfi=9, to=UPF_N3):
        self.sock.sendto(self.gpdu(teid, inner, qfi), (to, 2152))

    def received(self, teid=None):
        with self.lock:
            return [r for r in self.rx if teid is None or r[1] == teid]

    def clear(self):
        with self.lock:
            self.rx.clear()

    def close(self):
        self.stop = True
        self.sock.close()


class Dn:
    """A host of the data network: UDP sockets that record what arrives."""

    def __init__(self, lab, ports=(9000,)):
        self.socks = {p: lab.udp("dn", DN, p) for p in ports}
        self.lock = threading.Lock()
        self.rx = []  # (monotonic time, dst port, src, payload)
        self.stop = False
        self.threads = []
        for p, s in self.socks.items():
            t = threading.Thread(target=self._rx, args=(p, s), daemon=True)
            t.start()
            self.threads.append(t)

    def _rx(self, port, s):
        s.settimeout(0.2)
        while not self.stop:
            try:
                data, frm = s.recvfrom(65535)
            except socket.timeout:
                continue
            except OSError:
                return
            with self.lock:
                self.rx.append((time.monotonic(), port, frm, data))

    def send(self, ue, ue_port, payload, from_port=9000):
        self.socks[from_port].sendto(payload, (ue, ue_port))

    def received(self, port=None):
        with self.lock:
            return [r for r in self.rx if port is None or r[1] == port]

    def clear(self):
        with self.lock:
            self.rx.clear()

    def close(self):
        self.stop = True
        for s in self.socks.values():
            s.close()


def inner_udp(src, dst, sport, dport, payload):
    """An inner IPv4/UDP packet built by scapy (checksums filled in)."""
    return raw(IP(src=src, dst=dst, ttl=64, id=1) / UDP(sport=sport, dport=dport) / Raw(payload))
