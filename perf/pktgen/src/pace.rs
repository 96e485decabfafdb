//! Send pacing: the n-th packet of a stream is due at `start + n / rate`;
//! the sender sends what is due, in bursts.

/// A pacer for one stream.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Pacer {
    start_ns: u64,
    /// Packets per second; `None`: as fast as possible.
    rate: Option<f64>,
    sent: u64,
}

impl Pacer {
    /// A pacer starting at `start_ns`.
    pub fn new(start_ns: u64, rate: Option<f64>) -> Pacer {
        Pacer {
            start_ns,
            rate: rate.filter(|r| *r > 0.0),
            sent: 0,
        }
    }

    /// How many packets are due at `now_ns`, at most `burst`.
    #[inline]
    pub fn due(&self, now_ns: u64, burst: usize) -> usize {
        match self.rate {
            None => burst,
            Some(r) => {
                let el = now_ns.saturating_sub(self.start_ns) as f64 * 1e-9;
                let target = (el * r) as u64 + 1;
                target.saturating_sub(self.sent).min(burst as u64) as usize
            }
        }
    }

    /// When the next packet is due.
    #[inline]
    pub fn next_ns(&self) -> u64 {
        match self.rate {
            None => self.start_ns,
            Some(r) => self.start_ns + (self.sent as f64 / r * 1e9) as u64,
        }
    }

    /// When `k` more packets (k >= 1) will be due.
    #[inline]
    pub fn due_at(&self, k: u64) -> u64 {
        match self.rate {
            None => self.start_ns,
            Some(r) => self.start_ns + ((self.sent + k.max(1) - 1) as f64 / r * 1e9) as u64,
        }
    }

    /// The smallest batch worth waking up for: the packets due in
    /// `quantum_ns` at this rate (at least 1, at most `burst`), so a paced
    /// sender sleeps in steps of about `quantum_ns` instead of spinning.
    pub fn batch(&self, quantum_ns: u64, burst: usize) -> usize {
        match self.rate {
            None => 1,
            Some(r) => ((r * quantum_ns as f64 * 1e-9) as usize).clamp(1, burst.max(1)),
        }
    }

    /// Records `n` packets as sent.
    #[inline]
    pub fn sent(&mut self, n: usize) {
        self.sent += n as u64;
    }

    /// Packets sent so far.
    pub fn total(&self) -> u64 {
        self.sent
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paces_at_the_rate() {
        let mut p = Pacer::new(1_000, Some(1_000_000.0)); // one per µs
        assert_eq!(p.due(1_000, 32), 1);
        p.sent(1);
        assert_eq!(p.due(1_500, 32), 0);
        assert_eq!(p.next_ns(), 2_000);
        assert_eq!(p.due(11_000, 32), 10, "10 µs later: 10 more");
        assert_eq!(p.due(1_000_000, 32), 32, "capped at the burst");
        p.sent(10);
        assert_eq!(p.total(), 11);
        assert_eq!(p.due_at(1), 12_000);
        assert_eq!(p.due_at(5), 16_000);
        assert_eq!(p.batch(50_000, 32), 32, "50 µs at 1 Mpps is 50, capped");
        assert_eq!(Pacer::new(0, Some(20_000.0)).batch(50_000, 32), 1);
        assert_eq!(Pacer::new(0, Some(200_000.0)).batch(50_000, 32), 10);
        let m = Pacer::new(0, None);
        assert_eq!(m.due(0, 64), 64);
        assert_eq!(
            Pacer::new(0, Some(0.0)).due(5, 8),
            8,
            "rate 0 means no limit"
        );
    }
}
