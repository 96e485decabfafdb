//! Turning a [`SessionRules`] set into the worker's representation. Runs on
//! the control thread: every allocation of a rule update happens here.

use std::net::IpAddr;

use upf_io::PortId;
use upf_rules::placement;
use upf_rules::{
    ApplyAction, Bar, Interface, OuterHeaderKind, OuterHeaderRemoval, RuleError, RuleErrorReason,
    RuleKind, SessionRules,
};
use upf_wire::ethernet::EthernetRepr;
use upf_wire::fast::{EncapSpec, EncapTemplate};
use upf_wire::gtpu::PduSessionInfo;

use crate::filter::{CFilter, UeAddrs};
use crate::meter::{QerState, UrrState};
use crate::topo::{Role, Topology};

/// Where a FAR sends packets.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Egress {
    /// Egress port.
    pub port: PortId,
    /// The destination interface of the FAR.
    pub dest: Interface,
    /// Outer header to build (GTP-U), with placeholder MACs: the worker
    /// writes the next hop's MAC per packet.
    pub encap: Option<EncapTemplate>,
    /// The IP next hop for `encap` (the peer itself or a gateway).
    pub next_hop: Option<IpAddr>,
    /// Transport level marking: TOS/TC for the outer header (or the packet
    /// itself when not encapsulated).
    pub tos: Option<u8>,
    /// Remote tunnel (peer address, TEID) when encapsulating.
    pub tunnel: Option<(IpAddr, u32)>,
}

/// A compiled FAR.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CFar {
    /// FAR ID.
    pub id: u32,
    /// Apply Action flags.
    pub action: ApplyAction,
    /// Forwarding target (FORW).
    pub fwd: Option<Egress>,
    /// Duplication targets (DUPL).
    pub dup: Box<[Egress]>,
    /// Send an End Marker on the previous tunnel when this FAR replaces it.
    pub send_end_marker: bool,
    /// A copy of another FAR of the same ID with the PDU Session Container
    /// of another QoS flow (same tunnel).
    pub variant: bool,
}

/// Direction of a PDR, from its source interface.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Dir {
    /// From the access side (GTP-U from gNB / N9 peer).
    Uplink,
    /// From the core side (N6, MEC).
    Downlink,
}

/// A compiled PDR.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CPdr {
    /// PDR ID.
    pub id: u16,
    /// Precedence (lower first).
    pub precedence: u32,
    /// Direction.
    pub dir: Dir,
    /// Local TEID the PDR is bound to (uplink), `None` for all of the
    /// session's TEIDs.
    pub teid: Option<u32>,
    /// Allowed QFIs as a bit mask (bit n = QFI n); 0 for any.
    pub qfi_mask: u64,
    /// Check the UE address (source for uplink, destination for downlink).
    pub ue_check: bool,
    /// SDF filters (any must match); empty matches all.
    pub filters: Box<[CFilter]>,
    /// Application ID (matched through the worker's PFD table).
    pub app_id: Option<Box<str>>,
    /// Outer header removal.
    pub ohr: Option<OuterHeaderRemoval>,
    /// Index of the FAR in [`CompiledSession::fars`].
    pub far: u16,
    /// Indices of QERs.
    pub qers: Box<[u8]>,
    /// Indices of URRs.
    pub urrs: Box<[u8]>,
}

/// A session ready for a worker.
#[derive(Debug)]
pub struct CompiledSession {
    /// UP SEID.
    pub seid: u64,
    /// Owner worker.
    pub owner: u32,
    /// PDRs in precedence order.
    pub pdrs: Box<[CPdr]>,
    /// FARs.
    pub fars: Box<[CFar]>,
    /// QERs with their buckets.
    pub qers: Box<[QerState]>,
    /// URRs with their measurements.
    pub urrs: Box<[UrrState]>,
    /// BAR.
    pub bar: Option<Bar>,
    /// Local TEIDs of the session (uplink lookup keys).
    pub teids: Box<[u32]>,
    /// UE addresses (downlink lookup keys and `assigned`).
    pub ue: UeAddrs,
    /// UE IPv6 prefix length, when a v6 address is set.
    pub ue_v6_len: u8,
    /// Framed routes (downlink longest-prefix keys).
    pub framed: Box<[upf_rules::IpPrefix]>,
    /// Install generation (bumped by the worker).
    pub generation: u32,
    /// A downlink data report was raised for the current buffering episode.
    pub dl_reported: bool,
}

impl CompiledSession {
    /// Approximate heap bytes of this session (memory accounting).
    pub fn heap_bytes(&self) -> usize {
        use std::mem::size_of;
        let pdrs: usize = self
            .pdrs
            .iter()
            .map(|p| {
                size_of::<CPdr>()
                    + p.filters.len() * size_of::<CFilter>()
                    + p.filters.iter().map(|f| f.heap_bytes()).sum::<usize>()
                    + p.qers.len()
                    + p.urrs.len()
                    + p.app_id.as_ref().map_or(0, |a| a.len())
            })
            .sum();
        size_of::<CompiledSession>()
            + pdrs
            + self.fars.len() * size_of::<CFar>()
            + self
                .fars
                .iter()
                .map(|f| f.dup.len() * size_of::<Egress>())
                .sum::<usize>()
            + self.qers.len() * size_of::<QerState>()
            + self.urrs.len() * size_of::<UrrState>()
            + self
                .urrs
                .iter()
                .map(|u| u.rule.linked_urr_ids.len() * 4)
                .sum::<usize>()
            + self.teids.len() * 4
            + self.framed.len() * size_of::<upf_rules::IpPrefix>()
    }

    /// Index of the FAR with this ID (its base, not a QoS flow variant).
    pub fn far_index(&self, id: u32) -> Option<usize> {
        self.fars.iter().position(|f| f.id == id && !f.variant)
    }
}

fn rule_err(kind: RuleKind, id: u32, reason: RuleErrorReason) -> RuleError {
    RuleError { kind, id, reason }
}

fn role_for(dest: Interface) -> Role {
    match dest {
        Interface::Access => Role::N3,
        Interface::Core | Interface::SgiLan | Interface::VnInternal | Interface::CpFunction => {
            Role::N6
        }
    }
}

/// Placeholder MAC written into templates until the worker fills in the
/// next hop's address per packet.
const ZERO_MAC: [u8; 6] = [0; 6];

fn egress(
    topo: &Topology,
    far_id: u32,
    dest: Interface,
    ni: Option<&str>,
    ohc: Option<&upf_rules::OuterHeaderCreation>,
    tlm: Option<u16>,
    qfi: Option<(u8, bool, Option<u8>)>,
) -> Result<Egress, RuleError> {
    let no_route = || {
        rule_err(
            RuleKind::Far,
            far_id,
            RuleErrorReason::MissingForwardingParameters,
        )
    };
    let tos = tlm.map(|v| (v >> 8) as u8);
    let Some(ohc) = ohc else {
        let port = topo.egress(ni, role_for(dest)).ok_or_else(no_route)?;
        return Ok(Egress {
            port: port.id,
            dest,
            encap: None,
            next_hop: None,
            tos,
            tunnel: None,
        });
    };
    let peer: IpAddr = match ohc.kind {
        OuterHeaderKind::GtpuUdpIpv4 | OuterHeaderKind::UdpIpv4 | OuterHeaderKind::Ipv4 => {
            ohc.ipv4.map(IpAddr::V4).ok_or_else(|| {
                rule_err(
                    RuleKind::Far,
                    far_id,
                    RuleErrorReason::OuterHeaderAddressMissing(4),
                )
            })?
        }
        _ => ohc.ipv6.map(IpAddr::V6).ok_or_else(|| {
            rule_err(
                RuleKind::Far,
                far_id,
                RuleErrorReason::OuterHeaderAddressMissing(6),
            )
        })?,
    };
    // Tunnels leave on an N3/N9 port (by network instance when it names one).
    let fallback = if dest == Interface::Access {
        Role::N3
    } else {
        Role::N9
    };
    let port = topo
        .egress(ni, fallback)
        .filter(|p| p.role.is_tunnel())
        .or_else(|| topo.ports.iter().find(|p| p.role == fallback))
        .or_else(|| topo.ports.iter().find(|p| p.role.is_tunnel()))
        .ok_or_else(no_route)?;
    let src = port.source_for(peer).ok_or_else(no_route)?;
    let next_hop = port.next_hop(peer);
    // N3 downlink carries the PDU Session Container with the QFI.
    let pdu_session = match (dest, qfi) {
        (Interface::Access, Some((qfi, rqi, ppi))) => {
            Some(PduSessionInfo::Downlink { qfi, rqi, ppi })
        }
        _ => None,
    };
    let gtp = matches!(
        ohc.kind,
        OuterHeaderKind::GtpuUdpIpv4 | OuterHeaderKind::GtpuUdpIpv6
    );
    if !gtp {
        // UDP/IP and IP outer headers are not supported by this dataplane.
        return Err(rule_err(
            RuleKind::Far,
            far_id,
            RuleErrorReason::MissingForwardingParameters,
        ));
    }
    let spec = EncapSpec {
        eth: Some(EthernetRepr {
            dst: ZERO_MAC,
            src: port.mac,
            vlan: port.vlan,
            ethertype: 0,
        }),
        src,
        dst: peer,
        tos: tos.unwrap_or(0),
        ttl: 64,
        src_port: 2152,
        dst_port: ohc.port.unwrap_or(2152),
        teid: ohc.teid,
        pdu_session,
    };
    let encap = EncapTemplate::new(&spec).map_err(|_| no_route())?;
    Ok(Egress {
        port: port.id,
        dest,
        encap: Some(encap),
        next_hop,
        tos,
        tunnel: Some((peer, ohc.teid)),
    })
}

/// Compiles a validated rule set for the topology. `now` seeds meters.
pub fn compile(
    rules: &SessionRules,
    topo: &Topology,
    now: u64,
) -> Result<CompiledSession, RuleError> {
    rules.validate()?;
    let qers: Vec<QerState> = rules.qers.iter().map(|q| QerState::new(q, now)).collect();
    let urrs: Vec<UrrState> = rules
        .urrs
        .iter()
        .map(|u| UrrState::new(u.clone(), now))
        .collect();
    if qers.len() > 255 || urrs.len() > 255 || rules.fars.len() > u16::MAX as usize {
        return Err(rule_err(RuleKind::Pdr, 0, RuleErrorReason::DuplicateId));
    }
    // The PDU Session Container of an N3 downlink packet carries the QFI of
    // the QER of the PDR that matched it. A FAR may serve PDRs of several
    // QoS flows, so each distinct (FAR, QFI) pair gets its own compiled FAR
    // (a "variant" with the same ID and its own header template).
    let psc_of_pdr = |p: &upf_rules::Pdr| -> Option<(u8, bool, Option<u8>)> {
        p.qer_ids
            .iter()
            .filter_map(|q| rules.qers.iter().find(|x| x.id == *q))
            .find_map(|q| q.qfi.map(|f| (f, q.rqi, q.ppi)))
    };
    let compile_far = |f: &upf_rules::Far,
                       psc: Option<(u8, bool, Option<u8>)>,
                       variant: bool|
     -> Result<CFar, RuleError> {
        let fwd = match (&f.forwarding, f.apply_action.has(ApplyAction::FORW)) {
            (Some(fp), true) => Some(egress(
                topo,
                f.id,
                fp.destination_interface,
                fp.network_instance.as_deref(),
                fp.outer_header_creation.as_ref(),
                fp.transport_level_marking,
                psc,
            )?),
            _ => None,
        };
        let mut dup = Vec::new();
        if f.apply_action.has(ApplyAction::DUPL) {
            for d in &f.duplicating {
                dup.push(egress(
                    topo,
                    f.id,
                    d.destination_interface,
                    None,
                    d.outer_header_creation.as_ref(),
                    d.transport_level_marking,
                    None,
                )?);
            }
        }
        Ok(CFar {
            id: f.id,
            action: f.apply_action,
            fwd,
            dup: dup.into_boxed_slice(),
            send_end_marker: f.forwarding.as_ref().is_some_and(|p| p.send_end_marker),
            variant,
        })
    };
    let mut fars = Vec::with_capacity(rules.fars.len());
    let mut far_psc = Vec::with_capacity(rules.fars.len());
    for f in &rules.fars {
        let psc = rules
            .pdrs
            .iter()
            .filter(|p| p.far_id == Some(f.id))
            .find_map(psc_of_pdr);
        fars.push(compile_far(f, psc, false)?);
        far_psc.push(psc);
    }
    // Index of the compiled FAR (base or variant) each PDR uses.
    let mut pdr_far = Vec::with_capacity(rules.pdrs.len());
    for p in &rules.pdrs {
        let base = p
            .far_id
            .and_then(|fid| rules.fars.iter().position(|f| f.id == fid))
            .ok_or_else(|| rule_err(RuleKind::Pdr, u32::from(p.id), RuleErrorReason::MissingFar))?;
        let psc = psc_of_pdr(p);
        let encap_to_access = fars[base]
            .fwd
            .as_ref()
            .is_some_and(|e| e.dest == Interface::Access && e.encap.is_some());
        if !encap_to_access || psc.is_none() || psc == far_psc[base] {
            pdr_far.push(base);
            continue;
        }
        let existing = (rules.fars.len()..fars.len())
            .find(|&i| fars[i].id == fars[base].id && far_psc[i] == psc);
        match existing {
            Some(i) => pdr_far.push(i),
            None => {
                fars.push(compile_far(&rules.fars[base], psc, true)?);
                far_psc.push(psc);
                pdr_far.push(fars.len() - 1);
            }
        }
    }
    let mut teids: Vec<u32> = Vec::new();
    let mut ue = UeAddrs::default();
    let mut ue_v6_len = 0;
    let mut framed = Vec::new();
    let mut pdrs = Vec::with_capacity(rules.pdrs.len());
    for (pi, p) in rules.pdrs.iter().enumerate() {
        let dir = match p.pdi.source_interface {
            Some(Interface::Access) => Dir::Uplink,
            _ => Dir::Downlink,
        };
        if let Some(f) = p.pdi.local_fteid {
            if !teids.contains(&f.teid) {
                teids.push(f.teid);
            }
        }
        if let Some(u) = p.pdi.ue_ip {
            if let Some(v4) = u.ipv4 {
                ue.v4 = Some(u32::from(v4));
            }
            if let Some(v6) = u.ipv6 {
                if let Some((net, mask)) = v6.v6_net() {
                    ue.v6 = Some((net, mask));
                    ue_v6_len = v6.len;
                }
            }
        }
        for r in &p.pdi.framed_routes {
            if !framed.contains(r) {
                framed.push(*r);
            }
        }
        let far = pdr_far[pi];
        let idx = |list: &[u32], all: &[u32]| -> Box<[u8]> {
            list.iter()
                .filter_map(|x| all.iter().position(|a| a == x).map(|i| i as u8))
                .collect()
        };
        let qer_ids: Vec<u32> = rules.qers.iter().map(|q| q.id).collect();
        let urr_ids: Vec<u32> = rules.urrs.iter().map(|u| u.id).collect();
        let qfi_mask = p.pdi.qfis.iter().fold(0u64, |m, q| m | (1u64 << (q & 63)));
        pdrs.push(CPdr {
            id: p.id,
            precedence: p.precedence,
            dir,
            teid: p.pdi.local_fteid.map(|f| f.teid),
            qfi_mask,
            ue_check: p.pdi.ue_ip.is_some(),
            filters: p
                .pdi
                .sdf_filters
                .iter()
                .map(|f| CFilter::compile(f, dir == Dir::Uplink))
                .collect(),
            app_id: p.pdi.application_id.as_deref().map(Into::into),
            ohr: p.outer_header_removal,
            far: far as u16,
            qers: idx(&p.qer_ids, &qer_ids),
            urrs: idx(&p.urr_ids, &urr_ids),
        });
    }
    pdrs.sort_by_key(|p| (p.precedence, p.id));
    let owner = placement::session_owner(
        ue.v4,
        ue.v6.map(|(n, _)| std::net::Ipv6Addr::from(n)).as_ref(),
        rules.seid,
        topo.workers,
    );
    Ok(CompiledSession {
        seid: rules.seid,
        owner,
        pdrs: pdrs.into_boxed_slice(),
        fars: fars.into_boxed_slice(),
        qers: qers.into_boxed_slice(),
        urrs: urrs.into_boxed_slice(),
        bar: rules.bar,
        teids: teids.into_boxed_slice(),
        ue,
        ue_v6_len,
        framed: framed.into_boxed_slice(),
        generation: 0,
        dl_reported: false,
    })
}
