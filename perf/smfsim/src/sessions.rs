//! The sessions file: what smfsim set up, in the form pktgen needs to send
//! traffic that matches it (TEIDs, UE addresses, the UPF's N3 address).
//!
//! JSON, written atomically (temporary file, then rename) so a reader that
//! sees the file sees it whole. SEIDs are strings (`"0x…"`) because JSON
//! readers such as `jq` lose precision above 2^53.

use std::collections::HashSet;
use std::net::{Ipv4Addr, Ipv6Addr};
use std::path::Path;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// The format tag of this version of the file.
pub const FORMAT: &str = "edge-upf-sessions/1";

/// Why a sessions file could not be used.
#[derive(Debug, thiserror::Error)]
pub enum SessionsError {
    /// Reading or writing failed.
    #[error("{path}: {source}")]
    Io {
        /// The file.
        path: String,
        /// The OS error.
        source: std::io::Error,
    },
    /// Not JSON of the expected shape.
    #[error("{path}: {source}")]
    Json {
        /// The file.
        path: String,
        /// The parse error.
        source: serde_json::Error,
    },
    /// Another format version.
    #[error("{path}: format {found:?}, expected {FORMAT:?}")]
    Format {
        /// The file.
        path: String,
        /// What the file says.
        found: String,
    },
    /// Content that cannot describe real sessions.
    #[error("{path}: session {index}: {what}")]
    Invalid {
        /// The file.
        path: String,
        /// Index of the offending session.
        index: u32,
        /// What is wrong.
        what: String,
    },
}

/// A 64-bit SEID, written as a hexadecimal string.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Seid(pub u64);

impl Serialize for Seid {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&format!("{:#018x}", self.0))
    }
}

impl<'de> Deserialize<'de> for Seid {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        #[derive(Deserialize)]
        #[serde(untagged)]
        enum Raw {
            Num(u64),
            Text(String),
        }
        match Raw::deserialize(d)? {
            Raw::Num(n) => Ok(Seid(n)),
            Raw::Text(t) => parse_u64(&t)
                .map(Seid)
                .ok_or_else(|| serde::de::Error::custom(format!("bad SEID {t:?}"))),
        }
    }
}

/// Parses a decimal or `0x` hexadecimal number.
pub fn parse_u64(t: &str) -> Option<u64> {
    let t = t.trim();
    match t.strip_prefix("0x").or_else(|| t.strip_prefix("0X")) {
        Some(h) => u64::from_str_radix(h, 16).ok(),
        None => t.parse().ok(),
    }
}

/// One session as the UPF accepted it.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct SessionEntry {
    /// Index of the session in the smfsim run (0-based, increasing; a
    /// session that failed to establish is not listed).
    pub index: u32,
    /// The SMF's (our) SEID.
    pub cp_seid: Seid,
    /// The UPF's SEID.
    pub up_seid: Seid,
    /// The UE's IPv4 address.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ue_ipv4: Option<Ipv4Addr>,
    /// The UE's IPv6 address (the session's prefix with interface ID 1).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ue_ipv6: Option<Ipv6Addr>,
    /// Length of the UE's IPv6 prefix.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ue_ipv6_prefix_len: Option<u8>,
    /// The UPF's N3 TEID (uplink), from Created PDR.
    pub upf_teid: u32,
    /// The UPF's N3 IPv4 address of that F-TEID.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub upf_ipv4: Option<Ipv4Addr>,
    /// The UPF's N3 IPv6 address of that F-TEID.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub upf_ipv6: Option<Ipv6Addr>,
    /// The gNB-side TEID the SMF chose (downlink outer header creation).
    pub gnb_teid: u32,
    /// The TEID that churn switches the downlink FAR to and back from.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub gnb_teid_alt: Option<u32>,
    /// QoS flow of the session (uplink PDU Session Container, QER).
    pub qfi: u8,
    /// True when smfsim modifies this session during the churn phase.
    #[serde(default)]
    pub churn: bool,
}

impl SessionEntry {
    /// True when `teid` is one the downlink of this session may carry.
    pub fn accepts_gnb_teid(&self, teid: u32) -> bool {
        teid == self.gnb_teid || self.gnb_teid_alt == Some(teid)
    }
}

/// The whole file.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct SessionsFile {
    /// [`FORMAT`].
    pub format: String,
    /// Tool and version that wrote it.
    pub created_by: String,
    /// The UPF's N4 address.
    pub upf_n4: String,
    /// The UPF's Node ID.
    pub upf_node_id: String,
    /// The gNB IPv4 address the downlink FARs send to.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub gnb_ipv4: Option<Ipv4Addr>,
    /// The gNB IPv6 address the downlink FARs send to.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub gnb_ipv6: Option<Ipv6Addr>,
    /// Network instance of the N6 side.
    pub network_instance: String,
    /// The sessions, by index.
    pub sessions: Vec<SessionEntry>,
}

impl SessionsFile {
    /// An empty file for `upf_n4`.
    pub fn new(upf_n4: String, upf_node_id: String, network_instance: String) -> Self {
        SessionsFile {
            format: FORMAT.into(),
            created_by: format!("upf-smfsim {}", env!("CARGO_PKG_VERSION")),
            upf_n4,
            upf_node_id,
            gnb_ipv4: None,
            gnb_ipv6: None,
            network_instance,
            sessions: Vec::new(),
        }
    }

    /// Reads and checks a file.
    pub fn load(path: &Path) -> Result<Self, SessionsError> {
        let p = path.display().to_string();
        let text = std::fs::read_to_string(path).map_err(|source| SessionsError::Io {
            path: p.clone(),
            source,
        })?;
        Self::parse(&text, &p)
    }

    /// Parses and checks file content; `path` names it in errors.
    pub fn parse(text: &str, path: &str) -> Result<Self, SessionsError> {
        let f: SessionsFile = serde_json::from_str(text).map_err(|source| SessionsError::Json {
            path: path.into(),
            source,
        })?;
        if f.format != FORMAT {
            return Err(SessionsError::Format {
                path: path.into(),
                found: f.format,
            });
        }
        f.check(path)?;
        Ok(f)
    }

    /// Checks what pktgen relies on: every session has a UE address and an
    /// N3 address, TEIDs and indexes are unique.
    pub fn check(&self, path: &str) -> Result<(), SessionsError> {
        let bad = |index: u32, what: String| SessionsError::Invalid {
            path: path.into(),
            index,
            what,
        };
        let mut upf_teids = HashSet::new();
        let mut gnb_teids = HashSet::new();
        let mut last: Option<u32> = None;
        for s in &self.sessions {
            if last.is_some_and(|l| s.index <= l) {
                return Err(bad(s.index, "indexes must increase".into()));
            }
            last = Some(s.index);
            if s.ue_ipv4.is_none() && s.ue_ipv6.is_none() {
                return Err(bad(s.index, "no UE address".into()));
            }
            if s.upf_ipv4.is_none() && s.upf_ipv6.is_none() {
                return Err(bad(s.index, "no UPF N3 address".into()));
            }
            if s.qfi > 63 {
                return Err(bad(s.index, format!("QFI {} out of range", s.qfi)));
            }
            let key = (s.upf_teid, s.upf_ipv4, s.upf_ipv6);
            if !upf_teids.insert(key) {
                return Err(bad(
                    s.index,
                    format!("UPF TEID {:#x} used twice", s.upf_teid),
                ));
            }
            for t in std::iter::once(s.gnb_teid).chain(s.gnb_teid_alt) {
                if !gnb_teids.insert(t) {
                    return Err(bad(s.index, format!("gNB TEID {t:#x} used twice")));
                }
            }
        }
        Ok(())
    }

    /// Writes the file atomically.
    pub fn save(&self, path: &Path) -> Result<(), SessionsError> {
        let p = path.display().to_string();
        let text = serde_json::to_string_pretty(self).map_err(|source| SessionsError::Json {
            path: p.clone(),
            source,
        })?;
        write_atomic(path, text.as_bytes()).map_err(|source| SessionsError::Io { path: p, source })
    }
}

/// Writes `data` to a temporary file next to `path` and renames it over
/// `path`, so readers see the old content or the new, never a part.
pub fn write_atomic(path: &Path, data: &[u8]) -> std::io::Result<()> {
    let mut tmp = path.as_os_str().to_owned();
    tmp.push(format!(".tmp{}", std::process::id()));
    let tmp = std::path::PathBuf::from(tmp);
    std::fs::write(&tmp, data)?;
    std::fs::rename(&tmp, path)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(i: u32) -> SessionEntry {
        SessionEntry {
            index: i,
            cp_seid: Seid(u64::from(i) + 1),
            up_seid: Seid(0x0100_0000_0000_0000 + u64::from(i)),
            ue_ipv4: Some(Ipv4Addr::new(198, 19, 0, i as u8 + 1)),
            ue_ipv6: None,
            ue_ipv6_prefix_len: None,
            upf_teid: 0x1000 + i,
            upf_ipv4: Some(Ipv4Addr::new(198, 18, 3, 2)),
            upf_ipv6: None,
            gnb_teid: 0x10_0000 + i,
            gnb_teid_alt: None,
            qfi: 9,
            churn: false,
        }
    }

    fn file(n: u32) -> SessionsFile {
        let mut f = SessionsFile::new(
            "127.0.0.1:8805".into(),
            "127.0.0.1".into(),
            "internet".into(),
        );
        f.sessions = (0..n).map(entry).collect();
        f
    }

    #[test]
    fn round_trip_keeps_64_bit_seids() {
        let f = file(3);
        let text = serde_json::to_string(&f).unwrap();
        assert!(
            text.contains("\"up_seid\":\"0x0100000000000002\""),
            "{text}"
        );
        let back = SessionsFile::parse(&text, "t").unwrap();
        assert_eq!(back, f);
        // Numbers are accepted too.
        let v = text.replace("\"0x0100000000000002\"", "72057594037927938");
        assert_eq!(SessionsFile::parse(&v, "t").unwrap(), f);
    }

    #[test]
    fn rejects_what_pktgen_cannot_use() {
        let mut f = file(2);
        f.sessions[1].upf_teid = f.sessions[0].upf_teid;
        let e = SessionsFile::parse(&serde_json::to_string(&f).unwrap(), "t").unwrap_err();
        assert!(e.to_string().contains("UPF TEID 0x1000 used twice"), "{e}");

        let mut f = file(2);
        f.sessions[0].gnb_teid_alt = Some(f.sessions[1].gnb_teid);
        assert!(f.check("t").is_err());

        let mut f = file(1);
        f.sessions[0].ue_ipv4 = None;
        assert!(f
            .check("t")
            .unwrap_err()
            .to_string()
            .contains("no UE address"));

        let mut f = file(1);
        f.format = "other/2".into();
        let e = SessionsFile::parse(&serde_json::to_string(&f).unwrap(), "t").unwrap_err();
        assert!(matches!(e, SessionsError::Format { .. }));

        assert!(matches!(
            SessionsFile::parse("{", "t"),
            Err(SessionsError::Json { .. })
        ));
    }

    #[test]
    fn atomic_save_and_load() {
        let dir = std::env::temp_dir().join(format!("smfsim-sessions-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let p = dir.join("s.json");
        let f = file(5);
        f.save(&p).unwrap();
        assert_eq!(SessionsFile::load(&p).unwrap(), f);
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn seid_text_forms() {
        assert_eq!(parse_u64("0x10"), Some(16));
        assert_eq!(parse_u64("16"), Some(16));
        assert_eq!(parse_u64("zz"), None);
    }
}
