//! The sidecar's state as records under string keys, and the in-memory view
//! built from them.
//!
//! Every change is a list of [`Op`]s. The same list is committed to the
//! backend (atomically) and then applied to the [`Registry`], so memory is
//! always what the backend holds; with etcd, changes other sidecars commit
//! arrive as the same ops through a watch. Records are JSON, readable with
//! `etcdctl get --prefix`.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use serde::{Deserialize, Serialize};

use crate::model::{
    AppTerminationNotificationSubscription, DnsRule, OperationAction,
    SerAvailabilityNotificationSubscription, ServiceInfo, TrafficRule,
};

/// One change of one key.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Op {
    /// Create or replace.
    Put {
        /// Key.
        key: String,
        /// JSON record.
        value: Vec<u8>,
    },
    /// Remove.
    Delete {
        /// Key.
        key: String,
    },
}

impl Op {
    /// The key.
    pub fn key(&self) -> &str {
        match self {
            Op::Put { key, .. } | Op::Delete { key } => key,
        }
    }
}

/// Escapes a key segment (`/` and `%`).
pub fn enc(s: &str) -> String {
    let mut o = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '%' => o.push_str("%25"),
            '/' => o.push_str("%2F"),
            c => o.push(c),
        }
    }
    o
}

/// Reverses [`enc`].
pub fn dec(s: &str) -> String {
    s.replace("%2F", "/").replace("%25", "%")
}

/// Key of an app.
pub fn app_key(app: &str) -> String {
    format!("apps/{}", enc(app))
}
/// Key of a service.
pub fn service_key(id: &str) -> String {
    format!("services/{}", enc(id))
}
/// Key of a service availability subscription.
pub fn sersub_key(id: &str) -> String {
    format!("sersubs/{}", enc(id))
}
/// Key of an app termination subscription.
pub fn termsub_key(id: &str) -> String {
    format!("termsubs/{}", enc(id))
}
/// Key of a traffic rule.
pub fn traffic_key(app: &str, id: &str) -> String {
    format!("traffic/{}/{}", enc(app), enc(id))
}
/// Key of a DNS rule.
pub fn dns_key(app: &str, id: &str) -> String {
    format!("dns/{}/{}", enc(app), enc(id))
}

/// Where an app's record came from.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum AppSource {
    /// `[[mec.apps]]`.
    Config,
    /// The admin API.
    Admin,
}

/// A pending graceful termination.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Termination {
    /// STOPPING or TERMINATING.
    pub action: OperationAction,
    /// When the platform stops waiting (UNIX ms).
    pub deadline_unix_ms: u64,
}

/// A MEC application instance.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct AppRecord {
    /// appInstanceId.
    pub instance_id: String,
    /// Display name.
    pub name: Option<String>,
    /// SHA-256 of the bearer token, hex.
    pub token_sha256: Option<String>,
    /// mTLS identity.
    pub cert_identity: Option<String>,
    /// The MEC host (sidecar `node.name`) that steers its traffic.
    pub host: String,
    /// Where it came from.
    pub source: AppSource,
    /// The app sent confirm_ready.
    #[serde(default)]
    pub ready: bool,
    /// Stopped (graceful stop finished): its rules do not steer and its
    /// services are INACTIVE until it confirms ready again.
    #[serde(default)]
    pub stopped: bool,
    /// A termination in progress.
    pub terminating: Option<Termination>,
}

/// A registered service.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ServiceRecord {
    /// The producing app.
    pub owner: String,
    /// The MEC host it was registered on.
    pub host: String,
    /// Revision (the ETag).
    pub rev: u64,
    /// The service, with `serInstanceId` and `transportInfo` set.
    pub info: ServiceInfo,
}

/// A service availability subscription.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct SerSubRecord {
    /// The subscribing app.
    pub owner: String,
    /// As requested (without `_links`).
    pub sub: SerAvailabilityNotificationSubscription,
}

/// An app termination subscription.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct TermSubRecord {
    /// The subscribing app.
    pub owner: String,
    /// As requested (without `_links`).
    pub sub: AppTerminationNotificationSubscription,
}

/// A traffic rule of an app.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct TrafficRecord {
    /// Revision (the ETag).
    pub rev: u64,
    /// The rule.
    pub rule: TrafficRule,
}

/// A DNS rule of an app.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct DnsRecord {
    /// Revision (the ETag).
    pub rev: u64,
    /// The rule.
    pub rule: DnsRule,
}

/// Serialises a record.
pub fn put<T: Serialize>(key: String, rec: &T) -> Op {
    Op::Put {
        key,
        value: serde_json::to_vec(rec).unwrap_or_default(),
    }
}

/// What a change touched (for side effects).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Touched {
    /// Apps whose rules or record changed.
    pub apps: BTreeSet<String>,
}

/// The in-memory view of every record.
#[derive(Clone, Debug, Default)]
pub struct Registry {
    /// Apps by ID.
    pub apps: BTreeMap<String, AppRecord>,
    /// App by token hash.
    pub by_token: HashMap<String, String>,
    /// Services by ID.
    pub services: BTreeMap<String, ServiceRecord>,
    /// Service IDs by name.
    pub by_name: HashMap<String, BTreeSet<String>>,
    /// Service IDs by category ID.
    pub by_category: HashMap<String, BTreeSet<String>>,
    /// Service IDs by owner.
    pub by_owner: HashMap<String, BTreeSet<String>>,
    /// Service availability subscriptions.
    pub sersubs: BTreeMap<String, SerSubRecord>,
    /// App termination subscriptions.
    pub termsubs: BTreeMap<String, TermSubRecord>,
    /// Traffic rules by (app, rule ID), in ID order.
    pub traffic: BTreeMap<(String, String), TrafficRecord>,
    /// DNS rules by (app, rule ID).
    pub dns: BTreeMap<(String, String), DnsRecord>,
    /// Backend revision of each key (etcd mod_revision; 0 for redb).
    pub revisions: HashMap<String, i64>,
    /// Records that did not decode (key, reason).
    pub bad_records: Vec<(String, String)>,
}

fn two(rest: &str) -> Option<(String, String)> {
    let (a, b) = rest.split_once('/')?;
    Some((dec(a), dec(b)))
}

impl Registry {
    /// Applies one op (from a commit or a watch) at backend revision `rev`.
    /// Returns false when `rev` is older than what memory holds for the key
    /// (a late watch event), in which case nothing changes.
    pub fn apply(&mut self, op: &Op, rev: i64, touched: &mut Touched) -> bool {
        let key = op.key();
        if rev > 0 {
            if let Some(cur) = self.revisions.get(key) {
                if *cur >= rev {
                    return false;
                }
            }
        }
        let value = match op {
            Op::Put { value, .. } => Some(value.as_slice()),
            Op::Delete { .. } => None,
        };
        let result = self.apply_value(key, value, touched);
        if let Err(e) = result {
            self.bad_records.push((key.to_string(), e));
        }
        match op {
            Op::Put { .. } => {
                self.revisions.insert(key.to_string(), rev);
            }
            Op::Delete { .. } => {
                // Keep the revision of the delete so an older put replayed by
                // a watch cannot resurrect the key.
                self.revisions.insert(key.to_string(), rev);
            }
        }
        true
    }

    fn apply_value(
        &mut self,
        key: &str,
        value: Option<&[u8]>,
        touched: &mut Touched,
    ) -> Result<(), String> {
        fn de<T: for<'a> Deserialize<'a>>(v: &[u8]) -> Result<T, String> {
            serde_json::from_slice(v).map_err(|e| e.to_string())
        }
        let (kind, rest) = key.split_once('/').ok_or("key without a kind")?;
        match kind {
            "apps" => {
                let id = dec(rest);
                if let Some(old) = self.apps.remove(&id) {
                    if let Some(t) = old.token_sha256 {
                        self.by_token.remove(&t);
                    }
                }
                if let Some(v) = value {
                    let rec: AppRecord = de(v)?;
                    if let Some(t) = &rec.token_sha256 {
                        self.by_token.insert(t.clone(), id.clone());
                    }
                    self.apps.insert(id.clone(), rec);
                }
                touched.apps.insert(id);
            }
            "services" => {
                let id = dec(rest);
                if let Some(old) = self.services.remove(&id) {
                    self.unindex(&id, &old);
                }
                if let Some(v) = value {
                    let rec: ServiceRecord = de(v)?;
                    self.by_name
                        .entry(rec.info.ser_name.clone())
                        .or_default()
                        .insert(id.clone());
                    if let Some(c) = &rec.info.ser_category {
                        self.by_category
                            .entry(c.id.clone())
                            .or_default()
                            .insert(id.clone());
                    }
                    self.by_owner
                        .entry(rec.owner.clone())
                        .or_default()
                        .insert(id.clone());
                    self.services.insert(id, rec);
                }
            }
            "sersubs" => {
                let id = dec(rest);
                self.sersubs.remove(&id);
                if let Some(v) = value {
                    self.sersubs.insert(id, de(v)?);
                }
            }
            "termsubs" => {
                let id = dec(rest);
                self.termsubs.remove(&id);
                if let Some(v) = value {
                    self.termsubs.insert(id, de(v)?);
                }
            }
            "traffic" => {
                let k = two(rest).ok_or("bad traffic rule key")?;
                touched.apps.insert(k.0.clone());
                self.traffic.remove(&k);
                if let Some(v) = value {
                    self.traffic.insert(k, de(v)?);
                }
            }
            "dns" => {
                let k = two(rest).ok_or("bad DNS rule key")?;
                touched.apps.insert(k.0.clone());
                self.dns.remove(&k);
                if let Some(v) = value {
                    self.dns.insert(k, de(v)?);
                }
            }
            other => return Err(format!("unknown record kind {other:?}")),
        }
        Ok(())
    }

    fn unindex(&mut self, id: &str, old: &ServiceRecord) {
        for (map, k) in [
            (&mut self.by_name, Some(old.info.ser_name.clone())),
            (
                &mut self.by_category,
                old.info.ser_category.as_ref().map(|c| c.id.clone()),
            ),
            (&mut self.by_owner, Some(old.owner.clone())),
        ] {
            if let Some(k) = k {
                if let Some(set) = map.get_mut(&k) {
                    set.remove(id);
                    if set.is_empty() {
                        map.remove(&k);
                    }
                }
            }
        }
    }

    /// The traffic rules of `app` in ID order.
    pub fn traffic_of<'a>(&'a self, app: &'a str) -> impl Iterator<Item = &'a TrafficRecord> + 'a {
        self.traffic
            .range((app.to_string(), String::new())..)
            .take_while(move |((a, _), _)| a == app)
            .map(|(_, r)| r)
    }

    /// The DNS rules of `app` in ID order.
    pub fn dns_of<'a>(&'a self, app: &'a str) -> impl Iterator<Item = &'a DnsRecord> + 'a {
        self.dns
            .range((app.to_string(), String::new())..)
            .take_while(move |((a, _), _)| a == app)
            .map(|(_, r)| r)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::*;

    fn svc(name: &str, owner: &str) -> ServiceRecord {
        ServiceRecord {
            owner: owner.into(),
            host: "h".into(),
            rev: 1,
            info: ServiceInfo {
                ser_instance_id: Some("s1".into()),
                ser_name: name.into(),
                ser_category: Some(CategoryRef {
                    href: "/c".into(),
                    id: "cat1".into(),
                    name: "RNI".into(),
                    version: "1".into(),
                }),
                version: "1".into(),
                state: ServiceState::Active,
                transport_info: None,
                transport_id: None,
                serializer: SerializerType::Json,
                scope_of_locality: None,
                consumed_local_only: None,
                is_local: None,
            },
        }
    }

    #[test]
    fn keys_escape_slashes() {
        assert_eq!(traffic_key("a/b", "r%1"), "traffic/a%2Fb/r%251");
        assert_eq!(dec(&enc("a/%2F/b")), "a/%2F/b");
    }

    #[test]
    fn indexes_follow_puts_and_deletes() {
        let mut r = Registry::default();
        let mut t = Touched::default();
        assert!(r.apply(&put(service_key("s1"), &svc("rnis", "app1")), 5, &mut t));
        assert!(r.by_name["rnis"].contains("s1"));
        assert!(r.by_category["cat1"].contains("s1"));
        // Rename: the old name's index entry goes.
        assert!(r.apply(&put(service_key("s1"), &svc("loc", "app1")), 6, &mut t));
        assert!(!r.by_name.contains_key("rnis"));
        // A late watch event for revision 5 changes nothing.
        assert!(!r.apply(&put(service_key("s1"), &svc("rnis", "app1")), 5, &mut t));
        assert_eq!(r.services["s1"].info.ser_name, "loc");
        assert!(r.apply(
            &Op::Delete {
                key: service_key("s1")
            },
            7,
            &mut t
        ));
        assert!(r.services.is_empty() && r.by_name.is_empty() && r.by_owner.is_empty());
        // Garbage is recorded, not applied.
        assert!(r.apply(
            &Op::Put {
                key: service_key("s2"),
                value: b"{".to_vec()
            },
            8,
            &mut t
        ));
        assert!(r.services.is_empty());
        assert_eq!(r.bad_records.len(), 1);
    }
}
