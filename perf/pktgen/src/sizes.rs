//! Packet sizes: fixed, or a weighted mix (IMIX) spread evenly over a
//! repeating pattern so every stretch of traffic has the same mix.

/// The default IMIX: inner IP packet sizes 64, 576 and 1400 bytes in the
/// ratio 7:4:1 (the classic "simple IMIX", with the large size chosen so
/// that GTP-U encapsulation still fits a 1500-byte MTU).
pub const DEFAULT_IMIX: &str = "64:7,576:4,1400:1";

/// Why a size specification is unusable.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum SizeError {
    /// Not `SIZE:WEIGHT,...`.
    #[error("bad size mix {0:?} (expected SIZE:WEIGHT,... such as {DEFAULT_IMIX})")]
    Syntax(String),
    /// A size outside what can be built.
    #[error("size {size} is outside {min}..={max}")]
    Range {
        /// The size.
        size: usize,
        /// Smallest allowed.
        min: usize,
        /// Largest allowed.
        max: usize,
    },
}

/// A size pattern: the sizes of consecutive packets, repeating.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Sizes {
    pattern: Vec<u16>,
}

impl Sizes {
    /// One size for every packet.
    pub fn fixed(size: u16) -> Sizes {
        Sizes {
            pattern: vec![size],
        }
    }

    /// A mix `SIZE:WEIGHT,...` (`imix` for [`DEFAULT_IMIX`]).
    pub fn mix(spec: &str) -> Result<Sizes, SizeError> {
        let spec = if spec == "imix" { DEFAULT_IMIX } else { spec };
        let mut parts = Vec::new();
        for p in spec.split(',') {
            let (s, w) = p
                .split_once(':')
                .ok_or_else(|| SizeError::Syntax(spec.into()))?;
            let s: u16 = s
                .trim()
                .parse()
                .map_err(|_| SizeError::Syntax(spec.into()))?;
            let w: u32 = w
                .trim()
                .parse()
                .map_err(|_| SizeError::Syntax(spec.into()))?;
            if w > 1000 {
                return Err(SizeError::Syntax(spec.into()));
            }
            if w > 0 {
                parts.push((s, w));
            }
        }
        if parts.is_empty() {
            return Err(SizeError::Syntax(spec.into()));
        }
        // Spread each size evenly (largest remainder first, like a
        // Bresenham line per size), so that 7:4:1 is not 7 small, then 4
        // medium, then 1 large.
        let total: u32 = parts.iter().map(|p| p.1).sum();
        let mut credit: Vec<i64> = vec![0; parts.len()];
        let mut pattern = Vec::with_capacity(total as usize);
        for _ in 0..total {
            for (c, p) in credit.iter_mut().zip(&parts) {
                *c += i64::from(p.1);
            }
            let (best, _) = credit
                .iter()
                .enumerate()
                .max_by_key(|(i, c)| (**c, std::cmp::Reverse(*i)))
                .unwrap_or((0, &0));
            credit[best] -= i64::from(total);
            pattern.push(parts[best].0);
        }
        Ok(Sizes { pattern })
    }

    /// Checks every size is within `min..=max`.
    pub fn check(&self, min: usize, max: usize) -> Result<(), SizeError> {
        for &s in &self.pattern {
            let size = usize::from(s);
            if size < min || size > max {
                return Err(SizeError::Range { size, min, max });
            }
        }
        Ok(())
    }

    /// The pattern.
    pub fn pattern(&self) -> &[u16] {
        &self.pattern
    }

    /// The size of packet `n`.
    #[inline]
    pub fn nth(&self, n: u64) -> u16 {
        self.pattern[(n % self.pattern.len() as u64) as usize]
    }

    /// The largest size.
    pub fn max(&self) -> usize {
        self.pattern.iter().copied().max().map_or(0, usize::from)
    }

    /// The smallest size.
    pub fn min(&self) -> usize {
        self.pattern.iter().copied().min().map_or(0, usize::from)
    }

    /// Mean size.
    pub fn mean(&self) -> f64 {
        self.pattern.iter().map(|&s| f64::from(s)).sum::<f64>() / self.pattern.len() as f64
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn imix_is_spread_and_exact() {
        let s = Sizes::mix("imix").unwrap();
        assert_eq!(s.pattern().len(), 12);
        let count = |v: u16| s.pattern().iter().filter(|&&x| x == v).count();
        assert_eq!((count(64), count(576), count(1400)), (7, 4, 1));
        // No run of more than two equal small packets: the mix is spread.
        let runs = s
            .pattern()
            .windows(3)
            .filter(|w| w.iter().all(|&x| x == 64))
            .count();
        assert_eq!(runs, 0, "{:?}", s.pattern());
        assert!((s.mean() - (7.0 * 64.0 + 4.0 * 576.0 + 1400.0) / 12.0).abs() < 1e-9);
        assert_eq!(s.nth(12), s.nth(0));
    }

    #[test]
    fn specs_and_limits() {
        assert_eq!(Sizes::mix("100:1").unwrap().pattern(), &[100]);
        assert_eq!(Sizes::mix("100:0,200:2").unwrap().pattern(), &[200, 200]);
        assert!(Sizes::mix("100").is_err());
        assert!(Sizes::mix("a:1").is_err());
        assert!(Sizes::mix("100:0").is_err());
        let s = Sizes::fixed(40);
        assert_eq!(
            s.check(60, 1400),
            Err(SizeError::Range {
                size: 40,
                min: 60,
                max: 1400
            })
        );
        assert!(Sizes::fixed(64).check(60, 1400).is_ok());
    }
}
