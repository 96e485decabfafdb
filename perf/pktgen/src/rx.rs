//! The receiving side of one port: recognises our packets by their stamp,
//! checks them against the sessions file (TEID, UE address, QFI, whether
//! they are encapsulated), accounts them per flow and measures one-way
//! latency; answers ARP for our address and GTP-U Echo Requests; counts
//! everything else by kind.

use std::collections::HashSet;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use hdrhistogram::Histogram;
use serde::Serialize;
use upf_wire::arp::{self, ArpRepr};
use upf_wire::ethernet::{mac_to_string, EthernetRepr, Mac, ETHERTYPE_ARP};
use upf_wire::fast::{parse_frame, parse_ip, FrameKind, IpInfo};
use upf_wire::gtpu::{self, PduSessionInfo};
use upf_wire::icmp::{self, NdRepr};
use upf_wire::ipv4::{Ipv4Repr, PROTO_ICMPV6, PROTO_UDP};
use upf_wire::ipv6::Ipv6Repr;
use upf_wire::udp::{self, UdpRepr, GTPU_PORT};

use crate::packet::{split_flow, Dir};
use crate::seq::SeqTracker;
use crate::stamp::Stamp;

/// How our packets arrive on this port.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Arrival {
    /// Plain IP (uplink after the UPF decapsulated it, or downlink
    /// looped back without a UPF).
    Plain,
    /// GTP-U (downlink after the UPF encapsulated it, or uplink looped
    /// back without a UPF).
    Gtpu,
}

/// What a session's packets must look like on arrival.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Expect {
    /// The UE address (source of uplink, destination of downlink).
    pub ue: IpAddr,
    /// The TEID the tunnel must carry (GTP-U arrivals).
    pub teid: u32,
    /// A second accepted TEID (the churn state), or the same.
    pub teid_alt: u32,
    /// QFI of the PDU Session Container (GTP-U arrivals).
    pub qfi: u8,
}

/// The port's settings.
#[derive(Clone, Debug)]
pub struct RxSetup {
    /// The flows that arrive here.
    pub dir: Dir,
    /// How they arrive.
    pub arrival: Arrival,
    /// Our run's number (stamps of other runs are stale).
    pub run: u32,
    /// Our MAC.
    pub mac: Mac,
    /// Our IPv4 address on this port (ARP replies, GTP-U echo).
    pub ipv4: Option<Ipv4Addr>,
    /// Our IPv6 address on this port (neighbour advertisements).
    pub ipv6: Option<Ipv6Addr>,
    /// Check the QFI of GTP-U arrivals (downlink from a UPF).
    pub check_qfi: bool,
    /// By session position.
    pub expect: Vec<Expect>,
}

/// Counters of one port.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct RxCounts {
    /// Frames seen.
    pub frames: u64,
    /// Our packets (valid stamp of this run, flow of this direction).
    pub ours: u64,
    /// Inner IP bytes of our packets.
    pub bytes: u64,
    /// Ours, arrived with the session's second (churn) TEID.
    pub alt_teid: u64,
    /// Ours, but arrived with another TEID than the session's.
    pub wrong_teid: u64,
    /// Ours, but the UE address is not the session's.
    pub wrong_ue: u64,
    /// Ours, but without the session's QFI in a PDU Session Container.
    pub wrong_qfi: u64,
    /// Ours, but encapsulated when plain was expected or the reverse.
    pub wrong_encapsulation: u64,
    /// Ours, but of the other direction.
    pub wrong_direction: u64,
    /// Stamps with a flow number beyond the sessions file.
    pub unknown_flow: u64,
    /// Stamps of another run.
    pub stale: u64,
    /// Warm-up packets of this run (not accounted).
    pub warmup: u64,
    /// Stamps whose send time is after the receive time (clocks).
    pub clock_skew: u64,
    /// G-PDUs without our stamp whose TEID is not in the sessions file.
    pub unknown_teid: u64,
    /// Plain IP packets without our stamp and of no UE in the file.
    pub unknown_ue: u64,
    /// G-PDUs or IP packets of known sessions without our stamp.
    pub unstamped: u64,
    /// ARP frames.
    pub arp: u64,
    /// ARP requests for our address that we answered.
    pub arp_answered: u64,
    /// Neighbour solicitations for our IPv6 address that we answered.
    pub nd_answered: u64,
    /// GTP-U signalling (echo, error indication, end marker).
    pub gtpu_signalling: u64,
    /// Echo Requests answered.
    pub echo_answered: u64,
    /// Frames of other EtherTypes, IPv6 neighbour discovery, ...
    pub other: u64,
    /// Frames that did not parse.
    pub malformed: u64,
}

impl RxCounts {
    /// Our packets that broke an expectation.
    pub fn mismatches(&self) -> u64 {
        self.wrong_teid
            + self.wrong_ue
            + self.wrong_qfi
            + self.wrong_encapsulation
            + self.wrong_direction
            + self.unknown_flow
    }
}

const MAX_SAMPLES: usize = 10;
const MAX_REPLIES: usize = 64;

/// The receiver of one port.
pub struct Receiver {
    setup: RxSetup,
    flows: Vec<SeqTracker>,
    lat: Histogram<u64>,
    /// Counters.
    pub counts: RxCounts,
    /// Examples of mismatches, for the error message.
    pub samples: Vec<String>,
    teids: HashSet<u32>,
    ues: HashSet<IpAddr>,
    replies: Vec<Vec<u8>>,
    neighbours: Vec<(Ipv4Addr, Mac)>,
}

/// A latency histogram in ns, 1 ns to 100 s, 3 significant digits.
pub fn latency_histogram() -> Histogram<u64> {
    Histogram::new_with_bounds(1, 100_000_000_000, 3).expect("constant histogram bounds are valid")
}

impl Receiver {
    /// A receiver for `setup`.
    pub fn new(setup: RxSetup) -> Receiver {
        let teids = setup
            .expect
            .iter()
            .flat_map(|e| [e.teid, e.teid_alt])
            .collect();
        let ues = setup.expect.iter().map(|e| e.ue).collect();
        Receiver {
            flows: vec![SeqTracker::default(); setup.expect.len()],
            lat: latency_histogram(),
            counts: RxCounts::default(),
            samples: Vec::new(),
            teids,
            ues,
            replies: Vec::new(),
            neighbours: Vec::new(),
            setup,
        }
    }

    /// Per-session accounting, by position.
    pub fn flows(&self) -> &[SeqTracker] {
        &self.flows
    }

    /// One-way latency of our packets (ns).
    pub fn latency(&self) -> &Histogram<u64> {
        &self.lat
    }

    /// Frames to send back (ARP replies, Echo Responses), emptied.
    pub fn take_replies(&mut self) -> Vec<Vec<u8>> {
        std::mem::take(&mut self.replies)
    }

    /// The MAC that ARP says `ip` has, if seen.
    pub fn neighbour(&self, ip: Ipv4Addr) -> Option<Mac> {
        self.neighbours
            .iter()
            .find(|(a, _)| *a == ip)
            .map(|(_, m)| *m)
    }

    /// Keeps an example; the text is only built while examples are wanted.
    fn sample(&mut self, s: impl FnOnce() -> String) {
        if self.samples.len() < MAX_SAMPLES {
            self.samples.push(s());
        }
    }

    /// Accounts one frame received at `rx_ns` (CLOCK_REALTIME).
    #[inline]
    pub fn on_frame(&mut self, frame: &[u8], rx_ns: u64) {
        self.counts.frames += 1;
        let f = match parse_frame(frame) {
            Ok(f) => f,
            Err(_) => {
                self.counts.malformed += 1;
                return;
            }
        };
        match f.kind {
            FrameKind::Gtpu(g) => {
                if g.header.msg_type != gtpu::MSG_GPDU {
                    self.counts.gtpu_signalling += 1;
                    if g.header.msg_type == gtpu::MSG_ECHO_REQUEST {
                        self.echo(frame, &f.eth, f.l3_offset, &g.outer, g.header.seq);
                    }
                    return;
                }
                let Some(inner) = frame.get(g.inner_offset..g.inner_offset + g.inner_len) else {
                    self.counts.malformed += 1;
                    return;
                };
                let Ok(ip) = parse_ip(inner) else {
                    self.counts.malformed += 1;
                    return;
                };
                match stamp_of(inner, &ip) {
                    Some(st) => self.ours(
                        st,
                        rx_ns,
                        inner.len(),
                        &ip,
                        Some((g.header.teid, g.header.ext.pdu_session)),
                    ),
                    None if self.teids.contains(&g.header.teid) => self.counts.unstamped += 1,
                    None => {
                        self.counts.unknown_teid += 1;
                        let t = g.header.teid;
                        self.sample(|| format!("G-PDU with TEID {t:#x}, not in the sessions file"));
                    }
                }
            }
            FrameKind::Ip(ip) => {
                let pkt = &frame[f.l3_offset..];
                match stamp_of(pkt, &ip) {
                    Some(st) => self.ours(st, rx_ns, ip.total_len, &ip, None),
                    None => {
                        let ue = match self.setup.dir {
                            Dir::Ul => ip.addrs.src_addr(),
                            Dir::Dl => ip.addrs.dst_addr(),
                        };
                        if ip.protocol == PROTO_ICMPV6 {
                            self.counts.other += 1;
                            self.neighbour_solicitation(&f.eth, pkt, &ip);
                        } else if self.ues.contains(&ue) {
                            self.counts.unstamped += 1;
                        } else {
                            self.counts.unknown_ue += 1;
                            self.sample(|| {
                                format!(
                                    "IP packet {} -> {} of no UE in the sessions file",
                                    ip.addrs.src_addr(),
                                    ip.addrs.dst_addr()
                                )
                            });
                        }
                    }
                }
            }
            FrameKind::Arp => {
                self.counts.arp += 1;
                if let Some(b) = frame.get(f.l3_offset..) {
                    self.arp(b);
                }
            }
            FrameKind::Other(_) => self.counts.other += 1,
        }
    }

    #[inline]
    fn ours(
        &mut self,
        st: Stamp,
        rx_ns: u64,
        len: usize,
        ip: &IpInfo,
        tunnel: Option<(u32, Option<PduSessionInfo>)>,
    ) {
        if st.run != self.setup.run {
            if st.run == crate::txloop::warmup_run(self.setup.run) {
                self.counts.warmup += 1;
            } else {
                self.counts.stale += 1;
            }
            return;
        }
        let (pos, dir) = split_flow(st.flow);
        if dir != self.setup.dir {
            self.counts.wrong_direction += 1;
            let here = self.setup.dir.name();
            self.sample(|| {
                format!(
                    "flow {} ({}) arrived on the {here} port",
                    st.flow,
                    dir.name()
                )
            });
            return;
        }
        let Some(e) = self.setup.expect.get(pos as usize).copied() else {
            self.counts.unknown_flow += 1;
            return;
        };
        self.counts.ours += 1;
        self.counts.bytes += len as u64;
        if let Some(t) = self.flows.get_mut(pos as usize) {
            t.record(st.seq);
        }
        if rx_ns >= st.tx_ns {
            self.lat.saturating_record((rx_ns - st.tx_ns).max(1));
        } else {
            self.counts.clock_skew += 1;
        }
        // Checks against the sessions file.
        let ue = match dir {
            Dir::Ul => ip.addrs.src_addr(),
            Dir::Dl => ip.addrs.dst_addr(),
        };
        if ue != e.ue {
            self.counts.wrong_ue += 1;
            self.sample(|| {
                format!(
                    "session #{pos} {}: UE address {ue}, expected {}",
                    dir.name(),
                    e.ue
                )
            });
        }
        match (self.setup.arrival, tunnel) {
            (Arrival::Plain, None) => {}
            (Arrival::Gtpu, Some((teid, psc))) => {
                if teid == e.teid_alt && teid != e.teid {
                    self.counts.alt_teid += 1;
                } else if teid != e.teid {
                    self.counts.wrong_teid += 1;
                    self.sample(|| {
                        format!(
                            "session #{pos} {}: TEID {teid:#x}, expected {:#x}",
                            dir.name(),
                            e.teid
                        )
                    });
                }
                if self.setup.check_qfi && psc.map(|p| p.qfi()) != Some(e.qfi) {
                    self.counts.wrong_qfi += 1;
                    self.sample(|| {
                        format!(
                            "session #{pos} {}: PDU Session Container {psc:?}, expected QFI {}",
                            dir.name(),
                            e.qfi
                        )
                    });
                }
            }
            (want, got) => {
                self.counts.wrong_encapsulation += 1;
                self.sample(|| {
                    format!(
                        "session #{pos} {}: arrived {}, expected {}",
                        dir.name(),
                        if got.is_some() { "in GTP-U" } else { "plain" },
                        if want == Arrival::Gtpu {
                            "GTP-U"
                        } else {
                            "plain IP"
                        }
                    )
                });
            }
        }
    }

    fn arp(&mut self, b: &[u8]) {
        let Ok(a) = ArpRepr::parse(b) else {
            self.counts.malformed += 1;
            return;
        };
        if !a.sender_ip.is_unspecified() {
            let known = self
                .neighbours
                .iter()
                .position(|(ip, _)| *ip == a.sender_ip);
            match known {
                Some(i) => self.neighbours[i].1 = a.sender_mac,
                None if self.neighbours.len() < 64 => {
                    self.neighbours.push((a.sender_ip, a.sender_mac))
                }
                None => {}
            }
        }
        if a.op == arp::OP_REQUEST && Some(a.target_ip) == self.setup.ipv4 {
            let mut f = vec![0u8; 14 + arp::LEN];
            let eth = EthernetRepr {
                dst: a.sender_mac,
                src: self.setup.mac,
                vlan: None,
                ethertype: ETHERTYPE_ARP,
            };
            if eth.emit(&mut f).is_ok() && a.reply(self.setup.mac).emit(&mut f[14..]).is_ok() {
                self.push_reply(f);
                self.counts.arp_answered += 1;
            }
        }
    }

    /// Answers a neighbour solicitation for our IPv6 address.
    fn neighbour_solicitation(&mut self, eth: &EthernetRepr, pkt: &[u8], ip: &IpInfo) {
        let Some(me) = self.setup.ipv6 else { return };
        let (IpAddr::V6(src), IpAddr::V6(dst)) = (ip.addrs.src_addr(), ip.addrs.dst_addr()) else {
            return;
        };
        let Some(msg) = pkt.get(ip.l4_offset..ip.total_len) else {
            return;
        };
        let Ok(ns) = NdRepr::parse(msg, &src, &dst) else {
            return;
        };
        if ns.kind != icmp::V6_NEIGHBOR_SOLICIT || ns.target != me {
            return;
        }
        // To the solicitor, or to all nodes for duplicate address detection.
        let to = if src.is_unspecified() {
            Ipv6Addr::new(0xff02, 0, 0, 0, 0, 0, 0, 1)
        } else {
            src
        };
        let mut f = vec![0u8; 14 + 40 + icmp::ND_LEN];
        let ok = EthernetRepr {
            dst: ns.lla.unwrap_or(eth.src),
            src: self.setup.mac,
            vlan: None,
            ethertype: upf_wire::ethernet::ETHERTYPE_IPV6,
        }
        .emit(&mut f)
        .is_ok()
            && Ipv6Repr {
                src: me,
                dst: to,
                next_header: PROTO_ICMPV6,
                hop_limit: 255,
                traffic_class: 0,
                flow_label: 0,
                payload_len: icmp::ND_LEN,
            }
            .emit(&mut f[14..])
            .is_ok()
            && NdRepr {
                kind: icmp::V6_NEIGHBOR_ADVERT,
                target: me,
                lla: Some(self.setup.mac),
                flags: NdRepr::SOLICITED | NdRepr::OVERRIDE,
            }
            .emit(&mut f[54..], &me, &to)
            .is_ok();
        if ok {
            self.push_reply(f);
            self.counts.nd_answered += 1;
        }
    }

    fn push_reply(&mut self, f: Vec<u8>) {
        if self.replies.len() < MAX_REPLIES {
            self.replies.push(f);
        }
    }

    fn echo(
        &mut self,
        frame: &[u8],
        eth: &EthernetRepr,
        l3: usize,
        outer: &IpInfo,
        seq: Option<u16>,
    ) {
        let (src, dst) = (outer.addrs.src_addr(), outer.addrs.dst_addr());
        if Some(dst) != self.setup.ipv4.map(IpAddr::V4) {
            return;
        }
        let sport = frame
            .get(l3 + outer.l4_offset..)
            .and_then(|u| UdpRepr::parse(u).ok())
            .map_or(GTPU_PORT, |u| u.src_port);
        let mut f = vec![0u8; 128];
        let Ok(body) = gtpu::Message::EchoResponse { recovery: 0 }.emit(&mut f[42..], 0, seq, None)
        else {
            return;
        };
        let (IpAddr::V4(me), IpAddr::V4(peer)) = (dst, src) else {
            return;
        };
        let total = 20 + 8 + body;
        let ok = EthernetRepr {
            dst: eth.src,
            src: self.setup.mac,
            vlan: None,
            ethertype: upf_wire::ethernet::ETHERTYPE_IPV4,
        }
        .emit(&mut f)
        .is_ok()
            && Ipv4Repr {
                src: me,
                dst: peer,
                protocol: PROTO_UDP,
                ttl: 64,
                tos: 0,
                ident: 0,
                dont_frag: false,
                more_frags: false,
                frag_offset: 0,
                header_len: 20,
                total_len: total,
            }
            .emit(&mut f[14..])
            .is_ok()
            && UdpRepr {
                src_port: GTPU_PORT,
                dst_port: sport,
                len: 8 + body,
                checksum: 0,
            }
            .emit(&mut f[34..])
            .is_ok()
            && udp::fill_checksum_v4(&mut f[34..42 + body], me, peer).is_ok();
        if ok {
            f.truncate(14 + total);
            self.push_reply(f);
            self.counts.echo_answered += 1;
        }
    }
}

/// The stamp in the UDP payload of IP packet `pkt`, if any.
#[inline]
fn stamp_of(pkt: &[u8], ip: &IpInfo) -> Option<Stamp> {
    if ip.protocol != PROTO_UDP || !ip.has_ports || ip.fragment {
        return None;
    }
    let off = ip.l4_offset + 8;
    Stamp::read(pkt.get(off..ip.total_len)?)
}

/// An ARP request from `mac`/`ip` for `target`.
pub fn arp_request(mac: Mac, ip: Ipv4Addr, target: Ipv4Addr) -> Vec<u8> {
    let mut f = vec![0u8; 14 + arp::LEN];
    let _ = EthernetRepr {
        dst: upf_wire::ethernet::BROADCAST,
        src: mac,
        vlan: None,
        ethertype: ETHERTYPE_ARP,
    }
    .emit(&mut f);
    let _ = ArpRepr {
        op: arp::OP_REQUEST,
        sender_mac: mac,
        sender_ip: ip,
        target_mac: [0; 6],
        target_ip: target,
    }
    .emit(&mut f[14..]);
    f
}

/// Formats a MAC for messages.
pub fn mac_str(m: &Mac) -> String {
    mac_to_string(m)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::packet::{tests::session, Endpoints, FlowTemplate};

    const RUN: u32 = 77;

    fn expect_dl() -> Expect {
        let s = session(0);
        Expect {
            ue: IpAddr::V4(s.ue_ipv4.unwrap()),
            teid: s.gnb_teid,
            teid_alt: s.gnb_teid,
            qfi: 9,
        }
    }

    fn setup(dir: Dir, arrival: Arrival) -> RxSetup {
        let s = session(0);
        let e = match dir {
            Dir::Dl => expect_dl(),
            Dir::Ul => Expect {
                ue: IpAddr::V4(s.ue_ipv4.unwrap()),
                teid: s.upf_teid,
                teid_alt: s.upf_teid,
                qfi: 9,
            },
        };
        RxSetup {
            dir,
            arrival,
            run: RUN,
            mac: [2, 0, 0, 0, 0, 9],
            ipv4: Some(Ipv4Addr::new(198, 18, 3, 1)),
            ipv6: Some("2001:db8:3::1".parse().unwrap()),
            check_qfi: true,
            expect: vec![e],
        }
    }

    /// A downlink GTP-U frame as a UPF sends it, with our stamp inside.
    fn dl_gtpu(teid: u32, qfi: u8, seq: u64, tx_ns: u64) -> Vec<u8> {
        let t = FlowTemplate::downlink(&session(0), 0, &Endpoints::default()).unwrap();
        let mut inner = vec![0u8; 14 + 100];
        let n = t.write(&mut inner, 100, seq, tx_ns, RUN);
        let inner = &inner[14..n];
        let enc = upf_wire::fast::EncapTemplate::new(&upf_wire::fast::EncapSpec {
            eth: Some(EthernetRepr {
                dst: [2, 0, 0, 0, 0, 9],
                src: [2, 0, 0, 0, 0, 1],
                vlan: None,
                ethertype: 0,
            }),
            src: "198.18.3.2".parse().unwrap(),
            dst: "198.18.3.1".parse().unwrap(),
            tos: 0,
            ttl: 64,
            src_port: 2152,
            dst_port: 2152,
            teid,
            pdu_session: Some(PduSessionInfo::Downlink {
                qfi,
                rqi: false,
                ppi: None,
            }),
        })
        .unwrap();
        let mut f = vec![0u8; enc.len() + inner.len()];
        f[enc.len()..].copy_from_slice(inner);
        enc.write(&mut f, 0).unwrap();
        f
    }

    #[test]
    fn accounts_downlink_tunnels_and_latency() {
        let mut r = Receiver::new(setup(Dir::Dl, Arrival::Gtpu));
        let teid = session(0).gnb_teid;
        for seq in [0u64, 1, 3, 2, 2] {
            r.on_frame(&dl_gtpu(teid, 9, seq, 1_000), 1_000 + 5_000 * (seq + 1));
        }
        let f = &r.flows()[0];
        assert_eq!(
            (f.received, f.unique(), f.reordered, f.duplicates),
            (5, 4, 1, 1)
        );
        assert_eq!(f.lost(5), 1);
        assert_eq!(r.counts.ours, 5);
        assert_eq!(r.counts.mismatches(), 0, "{:?}", r.samples);
        assert_eq!(r.latency().len(), 5);
        assert!((r.latency().value_at_quantile(1.0) as i64 - 20_000).abs() < 50);
        // Wrong TEID, wrong QFI: counted and described.
        r.on_frame(&dl_gtpu(teid + 1, 9, 4, 0), 1);
        r.on_frame(&dl_gtpu(teid, 5, 5, 0), 1);
        assert_eq!((r.counts.wrong_teid, r.counts.wrong_qfi), (1, 1));
        assert!(r.samples[0].contains("TEID 0x200"), "{:?}", r.samples);
        // A plain packet where GTP-U is expected.
        let t = FlowTemplate::downlink(&session(0), 0, &Endpoints::default()).unwrap();
        let mut b = vec![0u8; 200];
        let n = t.write(&mut b, 100, 6, 0, RUN);
        r.on_frame(&b[..n], 1);
        assert_eq!(r.counts.wrong_encapsulation, 1);
        // Another run's packets and clock skew.
        let n = t.write(&mut b, 100, 7, 10, RUN + 1);
        r.on_frame(&b[..n], 1);
        assert_eq!(r.counts.stale, 1);
        r.on_frame(&dl_gtpu(teid, 9, 8, 10_000), 5);
        assert_eq!(r.counts.clock_skew, 1);
        // A G-PDU of a TEID nobody has, without our stamp.
        let mut g = dl_gtpu(0xdead, 9, 0, 0);
        let n = g.len();
        g[n - 70..].fill(0);
        r.on_frame(&g, 1);
        assert_eq!(r.counts.unknown_teid, 1);
        assert!(r.samples.iter().any(|s| s.contains("0xdead")));
    }

    #[test]
    fn uplink_after_decapsulation_checks_the_ue() {
        let mut r = Receiver::new(setup(Dir::Ul, Arrival::Plain));
        // What the UPF forwards: the inner packet in a fresh Ethernet frame.
        let t = FlowTemplate::uplink(&session(0), 0, &Endpoints::default()).unwrap();
        let mut b = vec![0u8; 300];
        let n = t.write(&mut b, 64, 0, 0, RUN);
        let inner_off = t.outer_len();
        let mut plain = vec![0u8; 14];
        plain[12..14].copy_from_slice(&[0x08, 0x00]);
        plain.extend_from_slice(&b[inner_off..n]);
        r.on_frame(&plain, 10);
        assert_eq!(r.counts.ours, 1);
        assert_eq!(r.counts.mismatches(), 0);
        // The same packet still in its tunnel: the UPF did not decapsulate.
        r.on_frame(&b[..n], 10);
        assert_eq!(r.counts.wrong_encapsulation, 1);
        // A downlink flow on the uplink port.
        let d = FlowTemplate::downlink(&session(0), 0, &Endpoints::default()).unwrap();
        let n = d.write(&mut b, 64, 0, 0, RUN);
        r.on_frame(&b[..n], 10);
        assert_eq!(r.counts.wrong_direction, 1);
        // Another source address.
        plain[14 + 12..14 + 16].copy_from_slice(&[10, 0, 0, 1]);
        // (the IPv4 checksum is not verified by the receiver)
        r.on_frame(&plain, 10);
        assert_eq!(r.counts.wrong_ue, 1);
    }

    #[test]
    fn answers_arp_and_echo() {
        let mut r = Receiver::new(setup(Dir::Dl, Arrival::Gtpu));
        let req = arp_request(
            [2, 0, 0, 0, 0, 1],
            Ipv4Addr::new(198, 18, 3, 2),
            Ipv4Addr::new(198, 18, 3, 1),
        );
        r.on_frame(&req, 0);
        assert_eq!(
            r.neighbour(Ipv4Addr::new(198, 18, 3, 2)),
            Some([2, 0, 0, 0, 0, 1])
        );
        let rep = r.take_replies();
        assert_eq!(rep.len(), 1);
        let a = ArpRepr::parse(&rep[0][14..]).unwrap();
        assert_eq!(
            (a.op, a.sender_ip, a.sender_mac),
            (
                arp::OP_REPLY,
                Ipv4Addr::new(198, 18, 3, 1),
                [2, 0, 0, 0, 0, 9]
            )
        );
        // A request for someone else is not answered.
        r.on_frame(
            &arp_request(
                [2, 0, 0, 0, 0, 1],
                Ipv4Addr::new(198, 18, 3, 2),
                Ipv4Addr::new(198, 18, 3, 77),
            ),
            0,
        );
        assert!(r.take_replies().is_empty());
        // GTP-U Echo Request from the UPF.
        let mut f = vec![0u8; 14 + 20 + 8 + 12];
        let n = gtpu::Message::EchoRequest
            .emit(&mut f[42..], 0, Some(99), None)
            .unwrap();
        f.truncate(42 + n);
        let _ = EthernetRepr {
            dst: [2, 0, 0, 0, 0, 9],
            src: [2, 0, 0, 0, 0, 1],
            vlan: None,
            ethertype: 0x0800,
        }
        .emit(&mut f);
        Ipv4Repr {
            src: "198.18.3.2".parse().unwrap(),
            dst: "198.18.3.1".parse().unwrap(),
            protocol: 17,
            ttl: 64,
            tos: 0,
            ident: 0,
            dont_frag: false,
            more_frags: false,
            frag_offset: 0,
            header_len: 20,
            total_len: 28 + n,
        }
        .emit(&mut f[14..])
        .unwrap();
        UdpRepr {
            src_port: 2152,
            dst_port: 2152,
            len: 8 + n,
            checksum: 0,
        }
        .emit(&mut f[34..])
        .unwrap();
        r.on_frame(&f, 0);
        let rep = r.take_replies();
        assert_eq!(rep.len(), 1);
        let p = parse_frame(&rep[0]).unwrap();
        let FrameKind::Gtpu(g) = p.kind else { panic!() };
        assert_eq!(
            (g.header.msg_type, g.header.seq),
            (gtpu::MSG_ECHO_RESPONSE, Some(99))
        );
        assert_eq!(
            g.outer.addrs.dst_addr(),
            "198.18.3.2".parse::<IpAddr>().unwrap()
        );
        assert!(udp::verify_v4(
            &rep[0][34..],
            Ipv4Addr::new(198, 18, 3, 1),
            Ipv4Addr::new(198, 18, 3, 2)
        ));
        assert_eq!((r.counts.arp_answered, r.counts.echo_answered), (1, 1));
        // A neighbour solicitation for our IPv6 address, as the UPF sends it.
        let me: Ipv6Addr = "2001:db8:3::1".parse().unwrap();
        let upf: Ipv6Addr = "2001:db8:3::2".parse().unwrap();
        let snm = icmp::solicited_node(&me);
        let mut ns = vec![0u8; 14 + 40 + icmp::ND_LEN];
        EthernetRepr {
            dst: upf_wire::ethernet::ipv6_multicast_mac(&snm),
            src: [2, 0, 0, 0, 0, 1],
            vlan: None,
            ethertype: 0x86dd,
        }
        .emit(&mut ns)
        .unwrap();
        Ipv6Repr {
            src: upf,
            dst: snm,
            next_header: PROTO_ICMPV6,
            hop_limit: 255,
            traffic_class: 0,
            flow_label: 0,
            payload_len: icmp::ND_LEN,
        }
        .emit(&mut ns[14..])
        .unwrap();
        NdRepr {
            kind: icmp::V6_NEIGHBOR_SOLICIT,
            target: me,
            lla: Some([2, 0, 0, 0, 0, 1]),
            flags: 0,
        }
        .emit(&mut ns[54..], &upf, &snm)
        .unwrap();
        r.on_frame(&ns, 0);
        let rep = r.take_replies();
        assert_eq!(rep.len(), 1);
        assert_eq!(&rep[0][0..6], &[2, 0, 0, 0, 0, 1]);
        let na = NdRepr::parse(&rep[0][54..], &me, &upf).unwrap();
        assert_eq!(
            (na.kind, na.target, na.lla),
            (icmp::V6_NEIGHBOR_ADVERT, me, Some([2, 0, 0, 0, 0, 9]))
        );
        assert_eq!(na.flags & NdRepr::SOLICITED, NdRepr::SOLICITED);
        // For another target: silence.
        let mut other = ns.clone();
        NdRepr {
            kind: icmp::V6_NEIGHBOR_SOLICIT,
            target: upf,
            lla: None,
            flags: 0,
        }
        .emit(&mut other[54..], &upf, &snm)
        .unwrap();
        r.on_frame(&other, 0);
        assert!(r.take_replies().is_empty());
        assert_eq!(r.counts.nd_answered, 1);
    }
}
