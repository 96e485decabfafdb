//! IP prefixes (address plus prefix length) for UE addresses, framed routes
//! and filters.

use std::fmt;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::str::FromStr;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// An IPv4 or IPv6 prefix. The address is kept as given; [`IpPrefix::contains`]
/// masks both sides. Human-readable formats (TOML, JSON) write it as
/// `"198.19.0.0/16"`; binary ones as address and length.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct IpPrefix {
    /// The address.
    pub addr: IpAddr,
    /// Prefix length: at most 32 for IPv4 and 128 for IPv6.
    pub len: u8,
}

/// Why a prefix string did not parse.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum PrefixParseError {
    /// The address part is not an IPv4 or IPv6 address.
    #[error("invalid IP address {0:?}")]
    BadAddress(String),
    /// The length part is not a number in range for the address family.
    #[error("invalid prefix length {0:?}")]
    BadLength(String),
}

impl IpPrefix {
    /// A prefix, if `len` fits the address family.
    pub fn new(addr: IpAddr, len: u8) -> Option<Self> {
        let max = if addr.is_ipv4() { 32 } else { 128 };
        (len <= max).then_some(IpPrefix { addr, len })
    }

    /// A host prefix (/32 or /128).
    pub fn host(addr: IpAddr) -> Self {
        let len = if addr.is_ipv4() { 32 } else { 128 };
        IpPrefix { addr, len }
    }

    /// IPv4 network as (masked address, mask), or `None` for IPv6.
    pub fn v4_net(&self) -> Option<(u32, u32)> {
        match self.addr {
            IpAddr::V4(a) => {
                let mask = mask32(self.len);
                Some((u32::from(a) & mask, mask))
            }
            IpAddr::V6(_) => None,
        }
    }

    /// IPv6 network as (masked address, mask), or `None` for IPv4.
    pub fn v6_net(&self) -> Option<(u128, u128)> {
        match self.addr {
            IpAddr::V6(a) => {
                let mask = mask128(self.len);
                Some((u128::from(a) & mask, mask))
            }
            IpAddr::V4(_) => None,
        }
    }

    /// True if `ip` lies in this prefix (never across families).
    pub fn contains(&self, ip: IpAddr) -> bool {
        match (self.addr, ip) {
            (IpAddr::V4(_), IpAddr::V4(b)) => self
                .v4_net()
                .is_some_and(|(net, mask)| u32::from(b) & mask == net),
            (IpAddr::V6(_), IpAddr::V6(b)) => self
                .v6_net()
                .is_some_and(|(net, mask)| u128::from(b) & mask == net),
            _ => false,
        }
    }

    /// True if the two prefixes share any address.
    pub fn overlaps(&self, other: &IpPrefix) -> bool {
        let shorter = if self.len <= other.len { self } else { other };
        let longer = if self.len <= other.len { other } else { self };
        shorter.contains(longer.addr)
    }

    /// The prefix with host bits cleared.
    pub fn network(&self) -> IpPrefix {
        match self.addr {
            IpAddr::V4(a) => IpPrefix {
                addr: IpAddr::V4(Ipv4Addr::from(u32::from(a) & mask32(self.len))),
                len: self.len,
            },
            IpAddr::V6(a) => IpPrefix {
                addr: IpAddr::V6(Ipv6Addr::from(u128::from(a) & mask128(self.len))),
                len: self.len,
            },
        }
    }
}

/// The IPv4 netmask of a prefix length (0..=32).
pub fn mask32(len: u8) -> u32 {
    if len == 0 {
        0
    } else {
        u32::MAX << (32 - u32::from(len.min(32)))
    }
}

/// The IPv6 netmask of a prefix length (0..=128).
pub fn mask128(len: u8) -> u128 {
    if len == 0 {
        0
    } else {
        u128::MAX << (128 - u32::from(len.min(128)))
    }
}

impl fmt::Display for IpPrefix {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.addr, self.len)
    }
}

impl FromStr for IpPrefix {
    type Err = PrefixParseError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let (a, l) = match s.split_once('/') {
            Some((a, l)) => (a, Some(l)),
            None => (s, None),
        };
        let addr: IpAddr = a
            .parse()
            .map_err(|_| PrefixParseError::BadAddress(a.to_string()))?;
        match l {
            None => Ok(IpPrefix::host(addr)),
            Some(l) => {
                let len: u8 = l
                    .parse()
                    .map_err(|_| PrefixParseError::BadLength(l.to_string()))?;
                IpPrefix::new(addr, len).ok_or_else(|| PrefixParseError::BadLength(l.to_string()))
            }
        }
    }
}

impl Serialize for IpPrefix {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        if s.is_human_readable() {
            s.collect_str(self)
        } else {
            (self.addr, self.len).serialize(s)
        }
    }
}

impl<'de> Deserialize<'de> for IpPrefix {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        if d.is_human_readable() {
            let s = String::deserialize(d)?;
            s.parse().map_err(|e: PrefixParseError| {
                serde::de::Error::custom(format!("{e} in prefix {s:?}"))
            })
        } else {
            let (addr, len) = <(IpAddr, u8)>::deserialize(d)?;
            IpPrefix::new(addr, len)
                .ok_or_else(|| serde::de::Error::custom("prefix length out of range"))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parse_and_contains() {
        let p: IpPrefix = "10.45.0.0/16".parse().unwrap();
        assert!(p.contains("10.45.3.4".parse().unwrap()));
        assert!(!p.contains("10.46.0.1".parse().unwrap()));
        assert!(!p.contains("::1".parse().unwrap()));
        let h: IpPrefix = "192.0.2.1".parse().unwrap();
        assert_eq!(h.len, 32);
        let v6: IpPrefix = "2001:db8::/32".parse().unwrap();
        assert!(v6.contains("2001:db8:1::5".parse().unwrap()));
        assert!(!v6.contains("2001:db9::5".parse().unwrap()));
        assert_eq!(
            "10.0.0.0/33".parse::<IpPrefix>(),
            Err(PrefixParseError::BadLength("33".into()))
        );
        assert!("10.0.0/8".parse::<IpPrefix>().is_err());
        let zero: IpPrefix = "0.0.0.0/0".parse().unwrap();
        assert!(zero.contains("255.1.2.3".parse().unwrap()));
    }

    #[test]
    fn overlap_and_network() {
        let a: IpPrefix = "10.0.0.0/8".parse().unwrap();
        let b: IpPrefix = "10.1.0.0/16".parse().unwrap();
        let c: IpPrefix = "11.0.0.0/8".parse().unwrap();
        assert!(a.overlaps(&b) && b.overlaps(&a));
        assert!(!a.overlaps(&c));
        let n: IpPrefix = "10.1.2.3/16".parse().unwrap();
        assert_eq!(n.network().to_string(), "10.1.0.0/16");
    }
}
