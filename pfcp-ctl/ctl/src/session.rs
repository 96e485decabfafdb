//! A PFCP session: its rule set in the dataplane's model plus what the UPF
//! allocated for it, and the translation of Establishment and Modification
//! requests into a new rule set (all or nothing).

use std::collections::BTreeMap;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};

use pfcp_codec::group as g;
use pfcp_codec::ie as i;
use serde::{Deserialize, Serialize};
use upf_rules::{
    placement, Interface, IpPrefix, LocalFteid, Pdi, Pdr, RuleError, RuleErrorReason, RuleKind,
    SessionRules, UeIp,
};

use crate::alloc::Allocator;
use crate::convert;

/// The CP function's F-SEID.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct CpFseid {
    /// CP SEID.
    pub seid: u64,
    /// CP address (IPv4).
    pub ipv4: Option<Ipv4Addr>,
    /// CP address (IPv6).
    pub ipv6: Option<Ipv6Addr>,
}

/// What the UPF chose for one PDR (reported in Created PDR).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Chosen {
    /// F-TEID chosen by the UPF.
    pub fteid: Option<LocalFteid>,
    /// UE address chosen by the UPF.
    pub ue: Option<UeIp>,
}

/// What the UPF chose, per PDR ID: a short list (a session has a few PDRs;
/// a map node would cost more memory than the whole list).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct ChosenList(pub Vec<(u16, Chosen)>);

impl ChosenList {
    /// The entry of PDR `id`, created empty if absent.
    pub fn entry(&mut self, id: u16) -> &mut Chosen {
        let i = match self.0.iter().position(|(k, _)| *k == id) {
            Some(i) => i,
            None => {
                self.0.push((id, Chosen::default()));
                self.0.len() - 1
            }
        };
        &mut self.0[i].1
    }

    /// The entry of PDR `id`.
    pub fn get(&self, id: u16) -> Option<&Chosen> {
        self.0.iter().find(|(k, _)| *k == id).map(|(_, c)| c)
    }

    /// Removes the entry of PDR `id`.
    pub fn remove(&mut self, id: u16) {
        self.0.retain(|(k, _)| *k != id);
    }
}

/// One session.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct SessionState {
    /// The CP's F-SEID.
    pub cp: CpFseid,
    /// The SMF's Node ID (text).
    pub peer_node: String,
    /// Where the SMF sends from (reports go back there).
    pub peer_addr: Option<SocketAddr>,
    /// The rules as installed.
    pub rules: SessionRules,
    /// CHOOSE ID -> the F-TEID chosen for it.
    pub choose: BTreeMap<u8, LocalFteid>,
    /// TEIDs this session owns.
    pub teids: Vec<u32>,
    /// UE addresses this session owns (from our pools).
    pub ues: Vec<IpAddr>,
    /// Per PDR, what the UPF chose.
    pub chosen: ChosenList,
    /// FQ-CSIDs the SMF gave (raw IE values), for Session Set Deletion.
    pub csids: Vec<Vec<u8>>,
    /// Sequence number of the Establishment Request that created the
    /// session: a retransmission after a restart gets the same answer.
    pub est_seq: Option<u32>,
    /// The APN/DNN of the Establishment Request: chooses the UE pool of a
    /// PDR that names no network instance.
    pub dnn: Option<String>,
}

/// The UPF's own tunnel addresses.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Endpoints {
    /// N3 IPv4.
    pub n3_v4: Option<Ipv4Addr>,
    /// N3 IPv6.
    pub n3_v6: Option<Ipv6Addr>,
    /// N9 IPv4 (falls back to N3).
    pub n9_v4: Option<Ipv4Addr>,
    /// N9 IPv6.
    pub n9_v6: Option<Ipv6Addr>,
    /// Dataplane workers (TEIDs steer to the session's owner).
    pub workers: u32,
}

/// Allocations of one request, undone if the request fails.
#[derive(Debug, Default)]
pub struct Txn {
    /// TEIDs allocated.
    pub teids: Vec<u32>,
    /// UE addresses allocated.
    pub ues: Vec<IpAddr>,
}

impl Txn {
    /// Gives everything back.
    pub fn rollback(self, a: &mut Allocator) {
        for t in self.teids {
            a.release_teid(t);
        }
        for u in self.ues {
            a.release_ue(u);
        }
    }
}

fn no_res(kind: RuleKind, id: u32, e: impl std::fmt::Display) -> RuleError {
    RuleError {
        kind,
        id,
        reason: RuleErrorReason::NoResources(e.to_string()),
    }
}

/// A PDR as received, with its CHOOSE requests still open.
struct Pending {
    pdr: Pdr,
    fteid: Option<i::FTeid>,
    ue_choose: (bool, bool),
    ue_dst: bool,
}

fn convert_pdr(c: &g::CreatePdr) -> Result<Pending, RuleError> {
    let id = u32::from(c.pdr_id.0);
    let p = &c.pdi;
    let mut ue_choose = (false, false);
    let mut ue_dst = false;
    let mut ue = UeIp::default();
    let mut has_ue = false;
    for u in &p.ue_ip_address {
        has_ue = true;
        ue_dst |= u.is_destination;
        ue.is_destination |= u.is_destination;
        ue_choose.0 |= u.choose_v4;
        ue_choose.1 |= u.choose_v6;
        if let Some(a) = u.ipv4 {
            ue.ipv4 = Some(a);
        }
        if let Some(a) = u.ipv6 {
            let len = u
                .ipv6_prefix_len
                .unwrap_or(if u.ipv6_prefix_delegation.is_some() {
                    64
                } else {
                    128
                });
            ue.ipv6 = IpPrefix::new(IpAddr::V6(a), len.min(128));
        }
    }
    let mut framed = Vec::new();
    for f in p.framed_route.iter().chain(p.framed_ipv6_route.iter()) {
        framed.push(convert::framed_route(f, id)?);
    }
    let pdi = Pdi {
        source_interface: Some(convert::interface(p.source_interface.0, RuleKind::Pdr, id)?),
        local_fteid: match p.local_fteid {
            Some(f) if !f.choose => Some(LocalFteid {
                teid: f.teid,
                ipv4: f.ipv4,
                ipv6: f.ipv6,
            }),
            _ => None,
        },
        network_instance: convert::ni(&p.network_instance),
        ue_ip: has_ue.then_some(ue),
        sdf_filters: p
            .sdf_filters
            .iter()
            .map(|f| convert::sdf(f, id))
            .collect::<Result<_, _>>()?,
        application_id: p.application_id.as_ref().map(|a| a.text()),
        qfis: p.qfi.iter().map(|q| q.0 & 0x3f).collect(),
        framed_routes: framed,
    };
    Ok(Pending {
        pdr: Pdr {
            id: c.pdr_id.0,
            precedence: c.precedence.0,
            pdi,
            outer_header_removal: c
                .outer_header_removal
                .as_ref()
                .map(|o| convert::ohr(o, id))
                .transpose()?,
            far_id: c.far_id.map(|f| f.0),
            urr_ids: c.urr_id.iter().map(|u| u.0).collect(),
            qer_ids: c.qer_id.iter().map(|q| q.0).collect(),
        },
        fteid: p.local_fteid.filter(|f| f.choose),
        ue_choose,
        ue_dst,
    })
}

impl SessionState {
    /// The session's UE addresses (first IPv4, first IPv6) from its PDRs.
    pub fn ue_addrs(&self) -> (Option<Ipv4Addr>, Option<Ipv6Addr>) {
        let mut v4 = None;
        let mut v6 = None;
        for p in &self.rules.pdrs {
            if let Some(u) = p.pdi.ue_ip {
                v4 = v4.or(u.ipv4);
                v6 = v6.or(u.ipv6.and_then(|x| match x.addr {
                    IpAddr::V6(a) => Some(a),
                    IpAddr::V4(_) => None,
                }));
            }
        }
        (v4, v6)
    }

    /// Adds PDRs (resolving CHOOSE for F-TEIDs and UE addresses).
    fn add_pdrs(
        &mut self,
        list: &[g::CreatePdr],
        ep: &Endpoints,
        alloc: &mut Allocator,
        txn: &mut Txn,
    ) -> Result<(), RuleError> {
        let mut pend = Vec::with_capacity(list.len());
        self.chosen.0.reserve_exact(list.len());
        for c in list {
            pend.push(convert_pdr(c)?);
        }
        // 1. UE addresses: one per family per session, shared by its PDRs.
        let (mut v4, mut v6) = self.ue_addrs();
        let mut v6_prefix = self
            .rules
            .pdrs
            .iter()
            .find_map(|p| p.pdi.ue_ip.and_then(|u| u.ipv6));
        for p in &mut pend {
            let id = u32::from(p.pdr.id);
            let ni = p
                .pdr
                .pdi
                .network_instance
                .clone()
                .or_else(|| self.dnn.clone())
                .unwrap_or_default();
            if p.ue_choose.0 {
                let a = match v4 {
                    Some(a) => a,
                    None => {
                        let a = alloc.ue_v4(&ni).map_err(|e| no_res(RuleKind::Pdr, id, e))?;
                        txn.ues.push(IpAddr::V4(a));
                        self.ues.push(IpAddr::V4(a));
                        v4 = Some(a);
                        a
                    }
                };
                let u = p.pdr.pdi.ue_ip.get_or_insert_with(UeIp::default);
                u.ipv4 = Some(a);
                u.is_destination = p.ue_dst;
                self.chosen.entry(p.pdr.id).ue = Some(*u);
            }
            if p.ue_choose.1 {
                let pre = match v6_prefix {
                    Some(x) => x,
                    None => {
                        let x = alloc.ue_v6(&ni).map_err(|e| no_res(RuleKind::Pdr, id, e))?;
                        txn.ues.push(x.addr);
                        self.ues.push(x.addr);
                        v6_prefix = Some(x);
                        if let IpAddr::V6(a) = x.addr {
                            v6 = Some(a);
                        }
                        x
                    }
                };
                let u = p.pdr.pdi.ue_ip.get_or_insert_with(UeIp::default);
                u.ipv6 = Some(pre);
                u.is_destination = p.ue_dst;
                self.chosen.entry(p.pdr.id).ue = Some(*u);
            }
            if let Some(u) = p.pdr.pdi.ue_ip {
                v4 = v4.or(u.ipv4);
                if let Some(IpAddr::V6(a)) = u.ipv6.map(|x| x.addr) {
                    v6 = v6.or(Some(a));
                }
            }
        }
        // 2. The session's worker, then F-TEIDs that steer to it.
        let owner = placement::session_owner(
            v4.map(u32::from),
            v6.as_ref(),
            self.rules.seid,
            ep.workers.max(1),
        );
        for p in &mut pend {
            let id = u32::from(p.pdr.id);
            let Some(req) = p.fteid else { continue };
            let existing = req.choose_id.and_then(|c| self.choose.get(&c).copied());
            let f = match existing {
                Some(f) => f,
                None => {
                    let n9 = p.pdr.pdi.source_interface != Some(Interface::Access);
                    let (a4, a6) = if n9 {
                        (ep.n9_v4.or(ep.n3_v4), ep.n9_v6.or(ep.n3_v6))
                    } else {
                        (ep.n3_v4, ep.n3_v6)
                    };
                    let want4 = req.choose_v4 || !req.choose_v6;
                    let ipv4 = if want4 { a4 } else { None };
                    let ipv6 = if req.choose_v6 { a6 } else { None };
                    if ipv4.is_none() && ipv6.is_none() {
                        return Err(RuleError {
                            kind: RuleKind::Pdr,
                            id,
                            reason: RuleErrorReason::NoResources(
                                "no tunnel address of the requested family".into(),
                            ),
                        });
                    }
                    let teid = alloc
                        .teid(owner)
                        .map_err(|e| no_res(RuleKind::Pdr, id, e))?;
                    txn.teids.push(teid);
                    self.teids.push(teid);
                    let f = LocalFteid { teid, ipv4, ipv6 };
                    if let Some(c) = req.choose_id {
                        self.choose.insert(c, f);
                    }
                    f
                }
            };
            p.pdr.pdi.local_fteid = Some(f);
            self.chosen.entry(p.pdr.id).fteid = Some(f);
        }
        self.rules.pdrs.reserve_exact(pend.len());
        for p in pend {
            if let Some(old) = self.rules.pdrs.iter().position(|x| x.id == p.pdr.id) {
                self.rules.pdrs[old] = p.pdr;
            } else {
                self.rules.pdrs.push(p.pdr);
            }
        }
        Ok(())
    }

    /// Builds a session from an Establishment Request of the association
    /// of `peer` (its Node ID as the node keeps it: not formatted again
    /// from the request for every session).
    pub fn establish(
        peer: &str,
        up_seid: u64,
        m: &pfcp_codec::msg::SessionEstablishmentRequest,
        ep: &Endpoints,
        alloc: &mut Allocator,
        txn: &mut Txn,
    ) -> Result<SessionState, RuleError> {
        let mut s = SessionState {
            cp: CpFseid {
                seid: m.cp_fseid.seid,
                ipv4: m.cp_fseid.ipv4,
                ipv6: m.cp_fseid.ipv6,
            },
            peer_node: peer.to_string(),
            csids: m.fq_csid.iter().map(|b| b.0.clone()).collect(),
            dnn: m
                .apn_dnn
                .as_ref()
                .map(|d| d.name())
                .filter(|d| !d.is_empty()),
            ..Default::default()
        };
        s.rules.seid = up_seid;
        s.rules.fars.reserve_exact(m.create_far.len());
        for f in &m.create_far {
            s.rules.fars.push(convert::far(f)?);
        }
        s.rules.qers = m.create_qer.iter().map(convert::qer).collect();
        s.rules.urrs = m.create_urr.iter().map(convert::urr).collect();
        s.rules.bar = m.create_bar.as_ref().map(convert::bar);
        s.add_pdrs(&m.create_pdr, ep, alloc, txn)?;
        s.rules.validate()?;
        s.shrink();
        Ok(s)
    }

    /// Drops spare capacity: a session lives long and there may be a
    /// million (pushing two PDRs leaves room for four).
    fn shrink(&mut self) {
        let r = &mut self.rules;
        r.pdrs.shrink_to_fit();
        r.fars.shrink_to_fit();
        r.qers.shrink_to_fit();
        r.urrs.shrink_to_fit();
        for p in r.pdrs.iter_mut() {
            p.pdi.sdf_filters.shrink_to_fit();
            p.urr_ids.shrink_to_fit();
            p.qer_ids.shrink_to_fit();
        }
        self.teids.shrink_to_fit();
        self.ues.shrink_to_fit();
        self.chosen.0.shrink_to_fit();
    }

    /// The session after a Modification Request (the receiver is unchanged).
    pub fn modify(
        &self,
        m: &pfcp_codec::msg::SessionModificationRequest,
        ep: &Endpoints,
        alloc: &mut Allocator,
        txn: &mut Txn,
    ) -> Result<SessionState, RuleError> {
        let mut s = self.clone();
        if !m.fq_csid.is_empty() {
            s.csids = m.fq_csid.iter().map(|b| b.0.clone()).collect();
        }
        let r = &mut s.rules;
        for x in &m.remove_pdr {
            r.pdrs.retain(|p| p.id != x.pdr_id.0);
            s.chosen.remove(x.pdr_id.0);
        }
        for x in &m.remove_far {
            r.fars.retain(|f| f.id != x.far_id.0);
        }
        for x in &m.remove_urr {
            r.urrs.retain(|u| u.id != x.urr_id.0);
        }
        for x in &m.remove_qer {
            r.qers.retain(|q| q.id != x.qer_id.0);
        }
        if m.remove_bar.is_some() {
            r.bar = None;
        }
        for f in &m.create_far {
            let f = convert::far(f)?;
            r.fars.retain(|x| x.id != f.id);
            r.fars.push(f);
        }
        for q in &m.create_qer {
            let q = convert::qer(q);
            r.qers.retain(|x| x.id != q.id);
            r.qers.push(q);
        }
        for u in &m.create_urr {
            let u = convert::urr(u);
            r.urrs.retain(|x| x.id != u.id);
            r.urrs.push(u);
        }
        if let Some(b) = &m.create_bar {
            r.bar = Some(convert::bar(b));
        }
        for u in &m.update_far {
            let id = u.far_id.0;
            let f = r.fars.iter_mut().find(|f| f.id == id).ok_or(RuleError {
                kind: RuleKind::Far,
                id,
                reason: RuleErrorReason::UnknownFar(id),
            })?;
            convert::update_far(f, u)?;
        }
        for u in &m.update_urr {
            let id = u.urr_id.0;
            let x = r.urrs.iter_mut().find(|x| x.id == id).ok_or(RuleError {
                kind: RuleKind::Urr,
                id,
                reason: RuleErrorReason::UnknownUrr(id),
            })?;
            convert::update_urr(x, u);
        }
        for u in &m.update_qer {
            let id = u.qer_id.0;
            let x = r.qers.iter_mut().find(|x| x.id == id).ok_or(RuleError {
                kind: RuleKind::Qer,
                id,
                reason: RuleErrorReason::UnknownQer(id),
            })?;
            convert::update_qer(x, u);
        }
        if let Some(u) = &m.update_bar {
            match r.bar.as_mut() {
                Some(b) if b.id == u.bar_id.0 => convert::update_bar(b, u),
                _ => {
                    return Err(RuleError {
                        kind: RuleKind::Bar,
                        id: u32::from(u.bar_id.0),
                        reason: RuleErrorReason::UnknownBar(u.bar_id.0),
                    })
                }
            }
        }
        for u in &m.update_pdr {
            let id = u.pdr_id.0;
            let idx = s
                .rules
                .pdrs
                .iter()
                .position(|p| p.id == id)
                .ok_or(RuleError {
                    kind: RuleKind::Pdr,
                    id: u32::from(id),
                    reason: RuleErrorReason::Invalid(format!("PDR {id} does not exist")),
                })?;
            if let Some(pdi) = &u.pdi {
                // A new PDI goes through the same path as a created PDR.
                let c = g::CreatePdr {
                    pdr_id: u.pdr_id,
                    precedence: i::Precedence(s.rules.pdrs[idx].precedence),
                    pdi: pdi.clone(),
                    ..Default::default()
                };
                let keep = s.rules.pdrs[idx].clone();
                s.add_pdrs(std::slice::from_ref(&c), ep, alloc, txn)?;
                let r2 = &mut s.rules;
                if let Some(p) = r2.pdrs.iter_mut().find(|p| p.id == id) {
                    p.outer_header_removal = keep.outer_header_removal;
                    p.far_id = keep.far_id;
                    p.urr_ids = keep.urr_ids;
                    p.qer_ids = keep.qer_ids;
                }
            }
            let r = &mut s.rules;
            let Some(p) = r.pdrs.iter_mut().find(|p| p.id == id) else {
                continue;
            };
            if let Some(o) = &u.outer_header_removal {
                p.outer_header_removal = Some(convert::ohr(o, u32::from(id))?);
            }
            if let Some(pr) = u.precedence {
                p.precedence = pr.0;
            }
            if let Some(f) = u.far_id {
                p.far_id = Some(f.0);
            }
            if !u.urr_id.is_empty() {
                p.urr_ids = u.urr_id.iter().map(|x| x.0).collect();
            }
            if !u.qer_id.is_empty() {
                p.qer_ids = u.qer_id.iter().map(|x| x.0).collect();
            }
        }
        s.add_pdrs(&m.create_pdr, ep, alloc, txn)?;
        s.rules.validate()?;
        s.shrink();
        Ok(s)
    }

    /// TEIDs no PDR uses any more (to release after a modification).
    pub fn unused_teids(&self) -> Vec<u32> {
        self.teids
            .iter()
            .copied()
            .filter(|t| {
                !self
                    .rules
                    .pdrs
                    .iter()
                    .any(|p| p.pdi.local_fteid.is_some_and(|f| f.teid == *t))
            })
            .collect()
    }

    /// Created PDR IEs for the PDRs of `ids` for which the UPF chose something.
    pub fn created_pdrs(&self, ids: impl Iterator<Item = u16>) -> Vec<g::CreatedPdr> {
        let mut out = Vec::new();
        for id in ids {
            let Some(c) = self.chosen.get(id) else {
                continue;
            };
            out.push(g::CreatedPdr {
                pdr_id: i::PdrId(id),
                local_fteid: c.fteid.map(|f| i::FTeid {
                    teid: f.teid,
                    ipv4: f.ipv4,
                    ipv6: f.ipv6,
                    ..Default::default()
                }),
                ue_ip_address: c
                    .ue
                    .map(|u| {
                        vec![i::UeIpAddress {
                            ipv4: u.ipv4,
                            ipv6: u.ipv6.and_then(|p| match p.addr {
                                IpAddr::V6(a) => Some(a),
                                IpAddr::V4(_) => None,
                            }),
                            is_destination: u.is_destination,
                            ipv6_prefix_len: u.ipv6.map(|p| p.len),
                            ..Default::default()
                        }]
                    })
                    .unwrap_or_default(),
            });
        }
        out
    }
}
