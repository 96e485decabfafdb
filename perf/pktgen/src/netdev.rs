//! Interface facts (MTU, state, device counters) read with `ip -j -s link`
//! from the calling thread's network namespace: the counters show drops
//! that happen below pktgen (a full device queue on send, a receive
//! backlog overflow), so they can be told apart from the UPF's.

use std::process::Command;

use serde::{Deserialize, Serialize};

/// Device counters.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct DevCounters {
    /// Packets received.
    pub rx_packets: u64,
    /// Receive drops.
    pub rx_dropped: u64,
    /// Packets sent.
    pub tx_packets: u64,
    /// Transmit drops.
    pub tx_dropped: u64,
}

impl DevCounters {
    /// `self - before`, per field.
    pub fn since(&self, before: &DevCounters) -> DevCounters {
        DevCounters {
            rx_packets: self.rx_packets.saturating_sub(before.rx_packets),
            rx_dropped: self.rx_dropped.saturating_sub(before.rx_dropped),
            tx_packets: self.tx_packets.saturating_sub(before.tx_packets),
            tx_dropped: self.tx_dropped.saturating_sub(before.tx_dropped),
        }
    }
}

/// What `ip link` says about an interface.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct DevInfo {
    /// MTU.
    pub mtu: u32,
    /// True when administratively and operationally up.
    pub up: bool,
    /// Link type (`ether`, `loopback`, ...).
    pub link_type: String,
    /// Counters.
    pub counters: DevCounters,
}

#[derive(Deserialize)]
struct Dir {
    #[serde(default)]
    packets: u64,
    #[serde(default)]
    dropped: u64,
}

#[derive(Deserialize)]
struct Stats {
    rx: Dir,
    tx: Dir,
}

#[derive(Deserialize)]
struct Link {
    #[serde(default)]
    mtu: u32,
    #[serde(default)]
    flags: Vec<String>,
    #[serde(default)]
    link_type: String,
    stats64: Option<Stats>,
}

/// Parses the JSON of `ip -j -s link show dev X`.
pub fn parse(json: &str) -> Result<DevInfo, String> {
    let v: Vec<Link> = serde_json::from_str(json).map_err(|e| format!("ip link output: {e}"))?;
    let l = v.into_iter().next().ok_or("ip link: no such interface")?;
    let up = l.flags.iter().any(|f| f == "UP") && l.flags.iter().any(|f| f == "LOWER_UP");
    let counters = l.stats64.map_or(DevCounters::default(), |s| DevCounters {
        rx_packets: s.rx.packets,
        rx_dropped: s.rx.dropped,
        tx_packets: s.tx.packets,
        tx_dropped: s.tx.dropped,
    });
    Ok(DevInfo {
        mtu: l.mtu,
        up,
        link_type: l.link_type,
        counters,
    })
}

/// Reads `dev` (in the calling thread's network namespace).
pub fn info(dev: &str) -> Result<DevInfo, String> {
    let out = Command::new("ip")
        .args(["-j", "-s", "link", "show", "dev", dev])
        .output()
        .map_err(|e| format!("cannot run ip: {e}"))?;
    if !out.status.success() {
        return Err(format!(
            "interface {dev:?}: {}",
            String::from_utf8_lossy(&out.stderr).trim()
        ));
    }
    parse(&String::from_utf8_lossy(&out.stdout))
}

/// CPU time the calling thread used so far, in ns (from
/// /proc/thread-self/schedstat); `None` where that is unavailable.
pub fn thread_cpu_ns() -> Option<u64> {
    let s = std::fs::read_to_string("/proc/thread-self/schedstat").ok()?;
    s.split_whitespace().next()?.parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_ip_link_json() {
        let j = r#"[{"ifindex":2,"ifname":"va","flags":["BROADCAST","UP","LOWER_UP"],"mtu":1500,
            "link_type":"ether","address":"02:00:00:00:00:01",
            "stats64":{"rx":{"bytes":1,"packets":10,"errors":0,"dropped":2},
                       "tx":{"bytes":1,"packets":20,"errors":0,"dropped":3}}}]"#;
        let d = parse(j).unwrap();
        assert_eq!(d.mtu, 1500);
        assert!(d.up);
        assert_eq!(d.link_type, "ether");
        assert_eq!(
            d.counters,
            DevCounters {
                rx_packets: 10,
                rx_dropped: 2,
                tx_packets: 20,
                tx_dropped: 3
            }
        );
        let later = DevCounters {
            tx_dropped: 10,
            ..d.counters
        };
        assert_eq!(later.since(&d.counters).tx_dropped, 7);
        assert!(parse("[]").is_err());
        assert!(parse("x").is_err());
        let down = parse(r#"[{"mtu":1500,"flags":["BROADCAST"]}]"#).unwrap();
        assert!(!down.up);
    }

    #[test]
    fn loopback_is_readable_and_cpu_time_advances() {
        let d = info("lo").unwrap();
        assert_eq!(d.link_type, "loopback");
        assert!(info("no-such-if0").is_err());
        let a = thread_cpu_ns().unwrap();
        let mut x = 0u64;
        for i in 0..2_000_000u64 {
            x = x.wrapping_mul(31).wrapping_add(i);
        }
        assert!(x != 1);
        assert!(thread_cpu_ns().unwrap() > a);
    }
}
