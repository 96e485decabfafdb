//! The natural worker of a frame, computed in software from its bytes.
//!
//! This is the same function as the AF_PACKET fanout program
//! ([`crate::af_packet::steering_program`]) and `upf_rules::placement`:
//! `TEID % N` for a GTP-U packet (UDP port 2152), the destination IPv4
//! address `% N` for other IPv4, the low 32 bits of the destination's /64
//! `% N` for other IPv6, and worker 0 for everything else (ARP, short or
//! unknown frames). Backends whose devices cannot steer GTP-U by TEID (DPDK
//! RSS hashes the outer header; single-queue virtual devices have one queue)
//! call it on every received frame and pass the frame to that worker, so
//! the redirect entries the control thread installs on natural workers work
//! exactly as with AF_PACKET.
//!
//! Unlike the fanout program, which the kernel runs after it has removed a
//! VLAN tag, this reads the raw frame and skips up to two 802.1Q/802.1ad tags.

const ETH_HLEN: usize = 14;
const ETHERTYPE_IPV4: u16 = 0x0800;
const ETHERTYPE_IPV6: u16 = 0x86dd;
const ETHERTYPE_VLAN: u16 = 0x8100;
const ETHERTYPE_QINQ: u16 = 0x88a8;
const GTPU_PORT: u16 = 2152;

#[inline]
fn be16(f: &[u8], at: usize) -> Option<u16> {
    Some(u16::from_be_bytes([*f.get(at)?, *f.get(at + 1)?]))
}

#[inline]
fn be32(f: &[u8], at: usize) -> Option<u32> {
    let b = f.get(at..at + 4)?;
    Some(u32::from_be_bytes([b[0], b[1], b[2], b[3]]))
}

/// The word that decides the worker, or `None` for worker 0.
#[inline]
fn key(frame: &[u8]) -> Option<u32> {
    let mut et = be16(frame, 12)?;
    let mut l3 = ETH_HLEN;
    for _ in 0..2 {
        if et != ETHERTYPE_VLAN && et != ETHERTYPE_QINQ {
            break;
        }
        et = be16(frame, l3 + 2)?;
        l3 += 4;
    }
    match et {
        ETHERTYPE_IPV4 => {
            let ip = frame.get(l3..)?;
            if *ip.get(9)? == 17 {
                let x = usize::from(ip.first()? & 0x0f) * 4;
                if be16(ip, x + 2)? == GTPU_PORT {
                    return be32(ip, x + 12);
                }
            }
            be32(ip, 16)
        }
        ETHERTYPE_IPV6 => {
            let ip = frame.get(l3..)?;
            if *ip.get(6)? == 17 && be16(ip, 42)? == GTPU_PORT {
                return be32(ip, 52);
            }
            be32(ip, 28)
        }
        _ => None,
    }
}

/// The natural worker (`0..workers`) of an Ethernet frame.
#[inline]
pub fn natural_worker(frame: &[u8], workers: u32) -> u32 {
    match key(frame) {
        Some(k) => k % workers.max(1),
        None => 0,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::af_packet::{run_cbpf, steering_program};

    /// Random frames of every shape the program distinguishes, compared
    /// with the fanout program run by the cBPF interpreter on the
    /// network-layer bytes (the kernel's view).
    #[test]
    fn agrees_with_the_fanout_program() {
        let mut x: u64 = 0x9e37_79b9_7f4a_7c15;
        let mut rnd = || {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x
        };
        let mut checked = 0;
        for _ in 0..20_000 {
            let r = rnd();
            let v6 = r & 1 == 1;
            let len = 14 + (rnd() % 120) as usize;
            let mut f: Vec<u8> = (0..len).map(|_| rnd() as u8).collect();
            let et: u16 = match (r >> 1) % 8 {
                0 => 0x0806,
                1..=6 if v6 => ETHERTYPE_IPV6,
                1..=6 => ETHERTYPE_IPV4,
                _ => rnd() as u16,
            };
            f[12..14].copy_from_slice(&et.to_be_bytes());
            if et == ETHERTYPE_IPV4 && len > 34 {
                let ihl = 5 + (rnd() % 11) as u8;
                f[14] = 0x40 | ihl;
                if (r >> 5) % 4 != 0 {
                    f[14 + 9] = 17;
                }
                let x = 14 + usize::from(ihl) * 4;
                if (r >> 7) % 3 != 0 && x + 4 <= len {
                    f[x + 2..x + 4].copy_from_slice(&2152u16.to_be_bytes());
                }
            }
            if et == ETHERTYPE_IPV6 && len > 14 + 44 {
                if (r >> 5) % 4 != 0 {
                    f[14 + 6] = 17;
                }
                if (r >> 7) % 3 != 0 {
                    f[14 + 42..14 + 44].copy_from_slice(&2152u16.to_be_bytes());
                }
            }
            for n in [1u32, 2, 3, 4, 7] {
                let prog = steering_program(n);
                // An aborted program (out-of-bounds load) returns 0.
                let want = run_cbpf(&prog, et, &f[14..]).unwrap_or(0);
                assert_eq!(natural_worker(&f, n), want, "n {n} frame {f:02x?}");
                checked += 1;
            }
        }
        assert_eq!(checked, 100_000);
    }

    #[test]
    fn vlan_tags_are_skipped() {
        let mut f = vec![0u8; 14 + 4 + 20];
        f[12..14].copy_from_slice(&ETHERTYPE_VLAN.to_be_bytes());
        f[16..18].copy_from_slice(&ETHERTYPE_IPV4.to_be_bytes());
        f[18] = 0x45;
        f[18 + 16..18 + 20].copy_from_slice(&[10, 0, 0, 7]);
        assert_eq!(natural_worker(&f, 4), u32::from_be_bytes([10, 0, 0, 7]) % 4);
        assert_eq!(natural_worker(&f[..20], 4), 0, "truncated");
    }
}
