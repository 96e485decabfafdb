//! Which worker owns a session, and which worker a packet naturally lands on.
//!
//! All packets of one session are handled by one worker (its owner), so QER
//! token buckets and URR counters stay worker-local and exact. The owner is
//! chosen from the UE address, because downlink packets carry nothing else
//! to steer on; TEIDs that the UPF allocates encode the owner in their low
//! bits, so uplink packets steer to the same worker by TEID alone.
//!
//! The "natural" functions below are what receive-side steering computes
//! from packet bytes (a classic BPF fanout program for AF_PACKET, or the
//! software dispatch of any worker): keep them trivially computable — a
//! modulo of one 32-bit word.

use std::net::{IpAddr, Ipv6Addr};

/// The worker an uplink G-PDU with this TEID lands on.
#[inline]
pub fn natural_worker_teid(teid: u32, workers: u32) -> u32 {
    teid % workers.max(1)
}

/// The worker a downlink packet to this IPv4 address lands on.
#[inline]
pub fn natural_worker_v4(ip: u32, workers: u32) -> u32 {
    ip % workers.max(1)
}

/// The worker a downlink packet to this IPv6 address lands on: the low 32
/// bits of its /64 prefix (octets 4..8), so every address of a UE's prefix
/// lands on the same worker.
#[inline]
pub fn natural_worker_v6(ip: &Ipv6Addr, workers: u32) -> u32 {
    let o = ip.octets();
    u32::from_be_bytes([o[4], o[5], o[6], o[7]]) % workers.max(1)
}

/// The owner of a session: by its UE address (IPv4 first), else by SEID.
pub fn session_owner(
    ue_ipv4: Option<u32>,
    ue_ipv6: Option<&Ipv6Addr>,
    seid: u64,
    workers: u32,
) -> u32 {
    match (ue_ipv4, ue_ipv6) {
        (Some(v4), _) => natural_worker_v4(v4, workers),
        (None, Some(v6)) => natural_worker_v6(v6, workers),
        (None, None) => (seid % u64::from(workers.max(1))) as u32,
    }
}

/// The owner of a session from its first UE address of either family.
pub fn owner_of_addr(addr: Option<IpAddr>, seid: u64, workers: u32) -> u32 {
    match addr {
        Some(IpAddr::V4(a)) => session_owner(Some(u32::from(a)), None, seid, workers),
        Some(IpAddr::V6(a)) => session_owner(None, Some(&a), seid, workers),
        None => session_owner(None, None, seid, workers),
    }
}

/// A TEID from a sequence number `n` that lands on `owner`
/// (`n * workers + owner`), or `None` past the TEID space. TEID 0 is never
/// produced (it is reserved for echo and error indications).
pub fn teid_for_owner(n: u32, owner: u32, workers: u32) -> Option<u32> {
    let w = workers.max(1);
    let t = n.checked_mul(w)?.checked_add(owner % w)?;
    if t == 0 {
        w.checked_add(owner % w).filter(|_| w > 0)
    } else {
        Some(t)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn allocated_teids_land_on_their_owner() {
        for workers in 1..6 {
            for owner in 0..workers {
                for n in 0..50 {
                    let t = teid_for_owner(n, owner, workers).unwrap();
                    assert_ne!(t, 0);
                    assert_eq!(natural_worker_teid(t, workers), owner);
                }
            }
        }
        assert_eq!(teid_for_owner(u32::MAX, 1, 4), None);
    }

    #[test]
    fn ue_prefix_lands_on_one_worker() {
        let a: Ipv6Addr = "2001:db8:45:7::1".parse().unwrap();
        let b: Ipv6Addr = "2001:db8:45:7:ffff::9".parse().unwrap();
        for w in 1..8 {
            assert_eq!(natural_worker_v6(&a, w), natural_worker_v6(&b, w));
        }
        let v4 = u32::from(std::net::Ipv4Addr::new(10, 45, 0, 7));
        assert_eq!(session_owner(Some(v4), Some(&a), 1, 4), v4 % 4);
        assert_eq!(session_owner(None, None, 10, 4), 2);
    }
}
