//! What the UPF allocates for the SMF: UP SEIDs, F-TEIDs (CHOOSE) and UE
//! addresses from the configured pools (CHV4/CHV6).

use std::collections::BTreeSet;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use serde::{Deserialize, Serialize};

use crate::fxhash::{FxHashMap, FxHashSet};
use upf_config::UePool;
use upf_rules::placement;
use upf_rules::prefix::IpPrefix;

/// An allocator ran out.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum AllocError {
    /// No pool serves the network instance.
    #[error("no UE address pool for network instance {0:?}")]
    NoPool(String),
    /// The pool is full.
    #[error("UE address pool of {0:?} is exhausted")]
    Exhausted(String),
    /// The TEID space for a worker is exhausted.
    #[error("no TEID left")]
    NoTeid,
}

/// One UE pool with its free space.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Pool {
    /// Network instance / DNN served ("" for the default pool).
    pub name: String,
    /// IPv4 prefix.
    pub v4: Option<IpPrefix>,
    /// IPv6 prefix and the per-UE prefix length.
    pub v6: Option<(IpPrefix, u8)>,
    used4: BTreeSet<u32>,
    used6: BTreeSet<u64>,
    next4: u32,
    next6: u64,
}

impl Pool {
    fn v4_range(&self) -> Option<(u32, u32)> {
        let (net, _) = self.v4?.v4_net()?;
        let size = 1u64 << (32 - u32::from(self.v4?.len));
        // Skip the network and broadcast addresses of the prefix.
        Some((net, (size.saturating_sub(2)) as u32))
    }

    fn alloc4(&mut self) -> Option<Ipv4Addr> {
        let (net, count) = self.v4_range()?;
        if count == 0 {
            return None;
        }
        for _ in 0..count.min(1 << 20) {
            let i = self.next4 % count;
            self.next4 = self.next4.wrapping_add(1);
            if self.used4.insert(i) {
                return Some(Ipv4Addr::from(net + 1 + i));
            }
        }
        None
    }

    fn alloc6(&mut self) -> Option<IpPrefix> {
        let (p, len) = self.v6?;
        let (net, _) = p.v6_net()?;
        let bits = u32::from(len.saturating_sub(p.len)).min(63);
        let count = 1u64 << bits;
        for _ in 0..count.min(1 << 20) {
            let i = self.next6 % count;
            self.next6 = self.next6.wrapping_add(1);
            if self.used6.insert(i) {
                let shift = 128 - u32::from(len);
                let addr = net | (u128::from(i) << shift);
                return IpPrefix::new(IpAddr::V6(Ipv6Addr::from(addr)), len);
            }
        }
        None
    }

    fn release(&mut self, ip: IpAddr) {
        match ip {
            IpAddr::V4(a) => {
                if let Some((net, _)) = self.v4_range() {
                    let i = u32::from(a).wrapping_sub(net).wrapping_sub(1);
                    self.used4.remove(&i);
                }
            }
            IpAddr::V6(a) => {
                if let Some((p, len)) = self.v6 {
                    if let Some((net, _)) = p.v6_net() {
                        let shift = 128 - u32::from(len);
                        let i = ((u128::from(a) - net) >> shift) as u64;
                        self.used6.remove(&i);
                    }
                }
            }
        }
    }

    fn mark(&mut self, ip: IpAddr) {
        match ip {
            IpAddr::V4(a) => {
                if let (Some(p), Some((net, count))) = (self.v4, self.v4_range()) {
                    if p.contains(ip) {
                        let i = u32::from(a).wrapping_sub(net).wrapping_sub(1);
                        if i < count {
                            self.used4.insert(i);
                            self.next4 = self.next4.max(i.saturating_add(1));
                        }
                    }
                }
            }
            IpAddr::V6(a) => {
                if let Some((p, len)) = self.v6 {
                    if p.contains(ip) {
                        if let Some((net, _)) = p.v6_net() {
                            let shift = 128 - u32::from(len);
                            let i = ((u128::from(a) - net) >> shift) as u64;
                            self.used6.insert(i);
                            self.next6 = self.next6.max(i.saturating_add(1));
                        }
                    }
                }
            }
        }
    }

    /// Addresses in use.
    pub fn used(&self) -> usize {
        self.used4.len() + self.used6.len()
    }
}

/// All allocators of the node.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Allocator {
    workers: u32,
    next_seid: u64,
    next_teid: FxHashMap<u32, u32>,
    /// TEIDs in use (our own identifiers: the fast hasher).
    teids: FxHashSet<u32>,
    /// UE pools.
    pub pools: Vec<Pool>,
}

impl Allocator {
    /// Allocators for `workers` dataplane workers and the configured pools.
    pub fn new(workers: u32, pools: &[UePool]) -> Allocator {
        Allocator {
            workers: workers.max(1),
            next_seid: 1,
            next_teid: FxHashMap::default(),
            teids: FxHashSet::default(),
            pools: pools
                .iter()
                .map(|p| Pool {
                    name: p
                        .network_instance
                        .clone()
                        .or_else(|| p.dnn.clone())
                        .unwrap_or_default(),
                    v4: p.ipv4,
                    v6: p.ipv6.map(|x| (x, p.ipv6_prefix_len)),
                    used4: BTreeSet::new(),
                    used6: BTreeSet::new(),
                    next4: 0,
                    next6: 0,
                })
                .collect(),
        }
    }

    /// Room for the TEIDs of `sessions` sessions (no rehash while they fill).
    pub fn reserve(&mut self, sessions: usize) {
        self.teids
            .reserve(sessions.saturating_sub(self.teids.len()));
    }

    /// A fresh UP SEID (never 0).
    pub fn seid(&mut self) -> u64 {
        let s = self.next_seid;
        self.next_seid = self.next_seid.wrapping_add(1).max(1);
        s
    }

    /// Makes sure a SEID restored from the journal is not handed out again.
    pub fn seen_seid(&mut self, seid: u64) {
        if seid >= self.next_seid {
            self.next_seid = seid.wrapping_add(1).max(1);
        }
    }

    fn pool_mut(&mut self, ni: &str) -> Option<&mut Pool> {
        if let Some(i) = self.pools.iter().position(|p| p.name == ni) {
            return self.pools.get_mut(i);
        }
        // An empty or unknown network instance uses the unnamed pool, then
        // the first one (interop: some SMFs send none).
        let i = self
            .pools
            .iter()
            .position(|p| p.name.is_empty())
            .or(if ni.is_empty() { Some(0) } else { None })?;
        self.pools.get_mut(i)
    }

    /// A UE IPv4 address from the pool of `ni`.
    pub fn ue_v4(&mut self, ni: &str) -> Result<Ipv4Addr, AllocError> {
        let p = self
            .pool_mut(ni)
            .ok_or_else(|| AllocError::NoPool(ni.into()))?;
        if p.v4.is_none() {
            return Err(AllocError::NoPool(ni.into()));
        }
        p.alloc4().ok_or_else(|| AllocError::Exhausted(ni.into()))
    }

    /// A UE IPv6 prefix from the pool of `ni`.
    pub fn ue_v6(&mut self, ni: &str) -> Result<IpPrefix, AllocError> {
        let p = self
            .pool_mut(ni)
            .ok_or_else(|| AllocError::NoPool(ni.into()))?;
        if p.v6.is_none() {
            return Err(AllocError::NoPool(ni.into()));
        }
        p.alloc6().ok_or_else(|| AllocError::Exhausted(ni.into()))
    }

    /// Gives a UE address back.
    pub fn release_ue(&mut self, ip: IpAddr) {
        for p in &mut self.pools {
            let inside = match ip {
                IpAddr::V4(_) => p.v4.is_some_and(|x| x.contains(ip)),
                IpAddr::V6(_) => p.v6.is_some_and(|(x, _)| x.contains(ip)),
            };
            if inside {
                p.release(ip);
            }
        }
    }

    /// Marks a UE address as used (journal replay, SMF-chosen addresses).
    pub fn mark_ue(&mut self, ip: IpAddr) {
        for p in &mut self.pools {
            p.mark(ip);
        }
    }

    /// A TEID that steers to `owner` (see `upf_rules::placement`).
    pub fn teid(&mut self, owner: u32) -> Result<u32, AllocError> {
        let w = self.workers;
        let n = self.next_teid.entry(owner % w).or_insert(1);
        for _ in 0..1_000_000 {
            let k = *n;
            *n = n.wrapping_add(1).max(1);
            let Some(t) = placement::teid_for_owner(k, owner % w, w) else {
                *n = 1;
                continue;
            };
            if self.teids.insert(t) {
                return Ok(t);
            }
        }
        Err(AllocError::NoTeid)
    }

    /// Marks a TEID as used (journal replay); allocation continues after
    /// it, so a restart does not hand out recently used TEIDs first.
    pub fn mark_teid(&mut self, t: u32) {
        self.teids.insert(t);
        let w = self.workers;
        let n = self.next_teid.entry(t % w).or_insert(1);
        *n = (*n).max((t / w).saturating_add(1));
    }

    /// Gives a TEID back.
    pub fn release_teid(&mut self, t: u32) {
        self.teids.remove(&t);
    }

    /// TEIDs in use.
    pub fn teids_in_use(&self) -> usize {
        self.teids.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashSet;

    fn pools() -> Vec<UePool> {
        vec![UePool {
            network_instance: Some("internet".into()),
            dnn: None,
            ipv4: Some("198.19.0.0/30".parse().unwrap()),
            ipv6: Some("2001:db8:1900::/62".parse().unwrap()),
            ipv6_prefix_len: 64,
        }]
    }

    #[test]
    fn pools_allocate_release_and_exhaust() {
        let mut a = Allocator::new(2, &pools());
        let x = a.ue_v4("internet").unwrap();
        let y = a.ue_v4("internet").unwrap();
        assert_eq!(
            (x, y),
            (Ipv4Addr::new(198, 19, 0, 1), Ipv4Addr::new(198, 19, 0, 2))
        );
        assert_eq!(
            a.ue_v4("internet"),
            Err(AllocError::Exhausted("internet".into()))
        );
        a.release_ue(IpAddr::V4(x));
        assert_eq!(a.ue_v4("internet").unwrap(), x);
        // Unknown network instance with no default pool.
        assert!(matches!(a.ue_v4("ims"), Err(AllocError::NoPool(_))));
        // Empty one falls back to the first pool.
        a.release_ue(IpAddr::V4(x));
        assert!(a.ue_v4("").is_ok());
        let p: Vec<String> = (0..4)
            .map(|_| a.ue_v6("internet").unwrap().to_string())
            .collect();
        assert_eq!(p[0], "2001:db8:1900::/64");
        assert_eq!(p[3], "2001:db8:1900:3::/64");
        assert!(a.ue_v6("internet").is_err());
    }

    #[test]
    fn teids_steer_to_their_owner_and_are_unique() {
        let mut a = Allocator::new(4, &[]);
        let mut seen = HashSet::new();
        for owner in 0..4 {
            for _ in 0..100 {
                let t = a.teid(owner).unwrap();
                assert_eq!(placement::natural_worker_teid(t, 4), owner);
                assert!(seen.insert(t));
            }
        }
        assert_eq!(a.seid(), 1);
        a.seen_seid(41);
        assert_eq!(a.seid(), 42);
    }
}
