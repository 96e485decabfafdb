//! Packet sequences over the sessions of a [`Fixture`], and the refill that
//! turns slot `k` of a sequence into frame bytes.
//!
//! A sequence is a list of (session, flow) slots drawn from a
//! [`Dist`]ribution. [`Traffic::fill`] writes the frame of slot `k` into a
//! buffer the way a NIC's DMA would deliver it: it copies one of a few
//! pre-built template frames (one per gNB and flow; they stay in the L1
//! cache) and patches the per-session fields (TEID, UE address and the
//! checksums that cover it). The result is byte-identical to
//! [`Fixture::frame`] (a test checks it), at the cost of a ~120-byte copy
//! and a dozen integer operations. The refill is part of every figure the
//! harness reports unless said otherwise.

use upf_wire::checksum;

use crate::fixtures::{flow_index, Direction, Fixture, Flow, GNBS};

/// How packets are spread over sessions.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Dist {
    /// Each slot picks a session uniformly at random.
    Uniform,
    /// Zipf-like popularity with exponent `s` (1.0 is classic Zipf): the
    /// session of rank r is picked with probability ∝ 1 / r^s; ranks are
    /// shuffled over session indices, so popular sessions are not
    /// neighbours in memory.
    Zipf(f64),
    /// Sessions in turn (0, 1, 2, ...): the worst case for caches at large
    /// session counts, the best for the hardware prefetcher at small ones.
    RoundRobin,
}

impl std::str::FromStr for Dist {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "uniform" => Ok(Dist::Uniform),
            "rr" | "round-robin" => Ok(Dist::RoundRobin),
            "zipf" => Ok(Dist::Zipf(1.0)),
            _ => match s.strip_prefix("zipf:") {
                Some(x) => x
                    .parse::<f64>()
                    .ok()
                    .filter(|v| *v > 0.0 && v.is_finite())
                    .map(Dist::Zipf)
                    .ok_or_else(|| format!("bad Zipf exponent {x:?}")),
                None => Err(format!(
                    "unknown distribution {s:?} (uniform, zipf, zipf:<s>, rr)"
                )),
            },
        }
    }
}

/// What a sequence looks like.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct TrafficConfig {
    /// Direction of every packet.
    pub dir: Direction,
    /// Session distribution.
    pub dist: Dist,
    /// Share of [`Flow::App`] packets (the rest are [`Flow::Default`]).
    pub app_share: f64,
    /// Slots in the sequence (rounded up to a power of two); the sequence
    /// repeats. 0 picks `max(4 × sessions, 65536)`.
    pub len: usize,
    /// Seed of the pseudo-random generator.
    pub seed: u64,
}

impl Default for TrafficConfig {
    fn default() -> Self {
        TrafficConfig {
            dir: Direction::Uplink,
            dist: Dist::Uniform,
            app_share: 0.5,
            len: 0,
            seed: 0x5eed,
        }
    }
}

/// A small, fast, seedable generator (SplitMix64).
#[derive(Clone, Debug)]
pub struct Rng(u64);

impl Rng {
    /// A generator from `seed`.
    pub fn new(seed: u64) -> Rng {
        Rng(seed)
    }

    /// The next 64 random bits.
    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    /// Uniform in `0..n` (n > 0).
    pub fn below(&mut self, n: u64) -> u64 {
        ((u128::from(self.next_u64()) * u128::from(n)) >> 64) as u64
    }

    /// Uniform in [0, 1).
    pub fn unit(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 / (1u64 << 53) as f64
    }
}

/// Where the per-session fields sit in a template, and the checksum sums
/// of the template with those fields zeroed.
#[derive(Clone, Debug)]
struct Template {
    bytes: Vec<u8>,
    /// Offset of the GTP-U TEID (uplink only).
    teid_off: Option<usize>,
    /// Offset of the inner IPv4 header.
    ip_off: usize,
    /// Offset of the UE address within the inner header (12 or 16).
    ue_field: usize,
    /// Sum of the inner IPv4 header words without the UE address and checksum.
    ip_base: u32,
    /// Sum of the UDP pseudo-header and datagram without the UE address and checksum.
    udp_base: u32,
}

/// A repeating sequence of packets over a fixture's sessions.
#[derive(Clone, Debug)]
pub struct Traffic {
    /// The configuration it was built from.
    pub cfg: TrafficConfig,
    fixture: Fixture,
    /// Per slot: session index in the low 31 bits, bit 31 set for
    /// [`Flow::Default`].
    slots: Vec<u32>,
    /// Per slot, what the refill writes: TEID (uplink), UE address, and the
    /// IPv4 and UDP checksums that cover it.
    patch: Vec<Patch>,
    /// Per (gNB, flow).
    templates: Vec<Template>,
    frame_len: usize,
}

const DEFAULT_BIT: u32 = 1 << 31;

/// The per-slot fields of a frame.
#[derive(Clone, Copy, Debug, Default)]
struct Patch {
    teid: [u8; 4],
    ue: [u8; 4],
    ip_csum: [u8; 2],
    udp_csum: [u8; 2],
    template: u32,
}

fn sum_words(b: &[u8]) -> u32 {
    checksum::sum(b, 0)
}

impl Traffic {
    /// Draws the sequence and builds the templates.
    pub fn new(fixture: &Fixture, cfg: TrafficConfig) -> Traffic {
        let n = fixture.sessions().max(1);
        let len = if cfg.len == 0 {
            (4 * n).max(65536)
        } else {
            cfg.len
        }
        .next_power_of_two();
        let mut rng = Rng::new(cfg.seed);
        let mut slots = Vec::with_capacity(len);
        let zipf = match cfg.dist {
            Dist::Zipf(s) => Some(ZipfTable::new(n, s, &mut rng)),
            _ => None,
        };
        for k in 0..len {
            let session = match cfg.dist {
                Dist::Uniform => rng.below(n as u64) as u32,
                Dist::RoundRobin => (k % n) as u32,
                Dist::Zipf(_) => zipf.as_ref().map_or(0, |z| z.sample(&mut rng)),
            };
            let default = match cfg.app_share {
                x if x <= 0.0 => true,
                x if x >= 1.0 => false,
                // An even split alternates exactly; other shares draw.
                x if (x - 0.5).abs() < 1e-12 => k % 2 == 1,
                x => rng.unit() >= x,
            };
            slots.push(session | if default { DEFAULT_BIT } else { 0 });
        }
        let templates = (0..GNBS)
            .flat_map(|g| Flow::ALL.map(|f| (g, f)))
            .map(|(g, f)| Self::template(fixture, g, f, cfg.dir))
            .collect();
        let frame_len = fixture.frame(0, Flow::App, cfg.dir).len();
        let mut t = Traffic {
            cfg,
            fixture: fixture.clone(),
            slots,
            patch: Vec::new(),
            templates,
            frame_len,
        };
        t.patch = (0..t.slots.len()).map(|k| t.compute_patch(k)).collect();
        t
    }

    fn compute_patch(&self, k: usize) -> Patch {
        let (i, flow) = self.slot(k);
        let template = self.fixture.gnb_of(i) * 2 + flow_index(flow);
        let t = &self.templates[template];
        let ue = u32::from(self.fixture.ue(i));
        let words = (ue >> 16) + (ue & 0xffff);
        let mut u = checksum::finish(t.udp_base + words);
        if u == 0 {
            u = 0xffff;
        }
        Patch {
            teid: self.fixture.ul_teid(i).to_be_bytes(),
            ue: ue.to_be_bytes(),
            ip_csum: checksum::finish(t.ip_base + words).to_be_bytes(),
            udp_csum: u.to_be_bytes(),
            template: template as u32,
        }
    }

    fn template(fixture: &Fixture, session: usize, flow: Flow, dir: Direction) -> Template {
        let mut bytes = fixture.frame(session, flow, dir);
        let (teid_off, ip_off, ue_field) = match dir {
            // Ethernet 14, IPv4 20, UDP 8: GTP-U header at 42, TEID at 46;
            // header 8 + 4 (seq/N-PDU/next type) + PDU Session Container 4.
            Direction::Uplink => (Some(46), 58, 12),
            Direction::Downlink => (None, 14, 16),
        };
        if let Some(t) = teid_off {
            bytes[t..t + 4].fill(0);
        }
        let ip = ip_off;
        bytes[ip + ue_field..ip + ue_field + 4].fill(0);
        bytes[ip + 10..ip + 12].fill(0);
        let ip_base = sum_words(&bytes[ip..ip + 20]);
        let udp = ip + 20;
        bytes[udp + 6..udp + 8].fill(0);
        let udp_len = fixture.cfg.inner_len - 20;
        // Pseudo-header: both addresses (one of them zeroed now), protocol, length.
        let pseudo = sum_words(&bytes[ip + 12..ip + 20]) + 17 + udp_len as u32;
        let udp_base = sum_words(&bytes[udp..udp + udp_len]) + pseudo;
        Template {
            bytes,
            teid_off,
            ip_off,
            ue_field,
            ip_base,
            udp_base,
        }
    }

    /// Slots in the sequence (a power of two).
    pub fn len(&self) -> usize {
        self.slots.len()
    }

    /// Never empty.
    pub fn is_empty(&self) -> bool {
        self.slots.is_empty()
    }

    /// Length of every frame of the sequence.
    pub fn frame_len(&self) -> usize {
        self.frame_len
    }

    /// Session and flow of slot `k` (taken modulo the length).
    #[inline]
    pub fn slot(&self, k: usize) -> (usize, Flow) {
        let s = self.slots[k & (self.slots.len() - 1)];
        let flow = if s & DEFAULT_BIT != 0 {
            Flow::Default
        } else {
            Flow::App
        };
        ((s & !DEFAULT_BIT) as usize, flow)
    }

    /// The fixture the sequence runs over.
    pub fn fixture(&self) -> &Fixture {
        &self.fixture
    }

    /// Writes the frame of slot `k` into `dst` (exactly
    /// [`Traffic::frame_len`] bytes): a template copy and four stores.
    #[inline]
    pub fn fill(&self, k: usize, dst: &mut [u8]) {
        let p = &self.patch[k & (self.patch.len() - 1)];
        let Some(t) = self.templates.get(p.template as usize) else {
            return;
        };
        dst.copy_from_slice(&t.bytes);
        if let Some(o) = t.teid_off {
            dst[o..o + 4].copy_from_slice(&p.teid);
        }
        let ip = t.ip_off;
        dst[ip + t.ue_field..ip + t.ue_field + 4].copy_from_slice(&p.ue);
        dst[ip + 10..ip + 12].copy_from_slice(&p.ip_csum);
        dst[ip + 26..ip + 28].copy_from_slice(&p.udp_csum);
    }

    /// The frame of slot `k` as a new vector.
    pub fn frame(&self, k: usize) -> Vec<u8> {
        let mut v = vec![0u8; self.frame_len];
        self.fill(k, &mut v);
        v
    }
}

/// Inverse-CDF sampling of a Zipf law over `n` ranks, ranks shuffled over
/// session indices.
struct ZipfTable {
    cdf: Vec<f64>,
    perm: Vec<u32>,
}

impl ZipfTable {
    fn new(n: usize, s: f64, rng: &mut Rng) -> ZipfTable {
        let mut cdf = Vec::with_capacity(n);
        let mut acc = 0.0;
        for r in 1..=n {
            acc += 1.0 / (r as f64).powf(s);
            cdf.push(acc);
        }
        for c in cdf.iter_mut() {
            *c /= acc;
        }
        let mut perm: Vec<u32> = (0..n as u32).collect();
        for i in (1..n).rev() {
            let j = rng.below(i as u64 + 1) as usize;
            perm.swap(i, j);
        }
        ZipfTable { cdf, perm }
    }

    fn sample(&self, rng: &mut Rng) -> u32 {
        let u = rng.unit();
        let r = self
            .cdf
            .partition_point(|&c| c < u)
            .min(self.perm.len() - 1);
        self.perm[r]
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fixtures::FixtureConfig;

    #[test]
    fn fill_equals_the_fixture_frames() {
        for workers in [1, 3] {
            let fx = Fixture::new(FixtureConfig {
                sessions: 5000,
                workers,
                inner_len: 64,
            });
            for dir in [Direction::Uplink, Direction::Downlink] {
                let t = Traffic::new(
                    &fx,
                    TrafficConfig {
                        dir,
                        ..Default::default()
                    },
                );
                for k in (0..t.len()).step_by(97) {
                    let (i, flow) = t.slot(k);
                    assert_eq!(t.frame(k), fx.frame(i, flow, dir), "slot {k} {dir:?}");
                }
            }
        }
    }

    #[test]
    fn distributions_cover_and_skew() {
        let fx = Fixture::new(FixtureConfig {
            sessions: 1000,
            ..Default::default()
        });
        let count = |dist| {
            let t = Traffic::new(
                &fx,
                TrafficConfig {
                    dist,
                    len: 1 << 16,
                    ..Default::default()
                },
            );
            let mut c = vec![0u32; 1000];
            for k in 0..t.len() {
                c[t.slot(k).0] += 1;
            }
            c.sort_unstable();
            c
        };
        let u = count(Dist::Uniform);
        assert!(u[0] > 20 && u[999] < 120, "uniform: {} .. {}", u[0], u[999]);
        let z = count(Dist::Zipf(1.0));
        // The top rank of Zipf(1) over 1000 ranks gets ~13% of the packets.
        assert!(z[999] > 6000, "zipf top {}", z[999]);
        let rr = count(Dist::RoundRobin);
        assert!(rr[999] - rr[0] <= 1);
        assert!("zipf:0.8".parse::<Dist>().is_ok());
        assert!("zipf:x".parse::<Dist>().is_err());
    }
}
