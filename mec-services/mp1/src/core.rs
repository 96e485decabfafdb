//! The Mp1 logic between HTTP and storage: who may do what, what each
//! request changes, and the effects of a change (dataplane steering,
//! notifications).
//!
//! Writes are serialised; each one is checked completely, committed to the
//! store as one atomic batch, then applied to memory. A request that fails
//! any check changes nothing.

use std::collections::BTreeSet;
use std::sync::{Arc, RwLock, RwLockReadGuard};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use bytes::Bytes;
use serde::Serialize;
use tracing::{info, warn};

use crate::dataplane::DataplaneLink;
use crate::model::*;
use crate::notify::Notifier;
use crate::problem::ApiError;
use crate::registry::*;
use crate::store::{Store, Watched};
use crate::validate::{self, SteerContext};

/// Base path of the application support API.
pub const APP_SUPPORT: &str = "/mec_app_support/v1";
/// Base path of the service management API.
pub const SERVICE_MGMT: &str = "/mec_service_mgmt/v1";
/// `subscriptionType` / `rel` of service availability subscriptions.
pub const SER_SUB_TYPE: &str = "SerAvailabilityNotificationSubscription";
/// `subscriptionType` / `rel` of app termination subscriptions.
pub const TERM_SUB_TYPE: &str = "AppTerminationNotificationSubscription";

/// Who is calling.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Caller {
    /// Authentication is off (`auth = "none"`): any app.
    Anyone,
    /// An authenticated app instance.
    App(String),
}

/// How requests authenticate.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AuthMode {
    /// Nobody.
    None,
    /// `Authorization: Bearer`.
    Bearer,
    /// TLS client certificates.
    Mtls,
}

/// Settings of the core.
#[derive(Clone, Debug)]
pub struct CoreConfig {
    /// This MEC host's name (`node.name`).
    pub host: String,
    /// Authentication.
    pub auth: AuthMode,
    /// Steering destination.
    pub steer: SteerContext,
    /// Graceful termination timeout.
    pub termination_timeout: Duration,
    /// NTP servers for timing_caps.
    pub ntp_servers: Vec<String>,
    /// How long a rule update waits for the dataplane's acknowledgement
    /// before it is answered (0: answer at once).
    pub apply_wait: Duration,
}

/// The shared state of the sidecar.
pub struct Core {
    cfg: CoreConfig,
    reg: RwLock<Registry>,
    write: tokio::sync::Mutex<()>,
    store: Store,
    dp: Option<DataplaneLink>,
    notifier: Notifier,
}

/// Lower-case hex SHA-256.
pub fn sha256_hex(s: &str) -> String {
    let d = ring::digest::digest(&ring::digest::SHA256, s.as_bytes());
    d.as_ref().iter().map(|b| format!("{b:02x}")).collect()
}

/// A new random identifier (128 bits, hex).
pub fn new_id() -> String {
    use ring::rand::SecureRandom;
    let mut b = [0u8; 16];
    let rng = ring::rand::SystemRandom::new();
    if rng.fill(&mut b).is_err() {
        // Fall back to time and a counter: unique, not secret.
        static N: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
        let t = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| d.as_nanos())
            .unwrap_or(0);
        let n = N.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        return format!("{t:x}{n:x}");
    }
    b.iter().map(|x| format!("{x:02x}")).collect()
}

/// Percent-encodes a URL path segment.
pub fn seg(s: &str) -> String {
    let mut o = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~') {
            o.push(b as char);
        } else {
            o.push_str(&format!("%{b:02X}"));
        }
    }
    o
}

fn unix_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0)
}

fn json<T: Serialize>(v: &T) -> Bytes {
    Bytes::from(serde_json::to_vec(v).unwrap_or_default())
}

/// A service discovery query (`GET /services` and
/// `GET /applications/{id}/services`).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ServiceQuery {
    /// `ser_instance_id`.
    pub ser_instance_id: Vec<String>,
    /// `ser_name`.
    pub ser_name: Vec<String>,
    /// `ser_category_id`.
    pub ser_category_id: Option<String>,
    /// `consumed_local_only`.
    pub consumed_local_only: Option<bool>,
    /// `is_local`.
    pub is_local: Option<bool>,
    /// `scope_of_locality`.
    pub scope_of_locality: Option<String>,
}

fn pct_decode(s: &str) -> Result<String, ApiError> {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        match b[i] {
            b'+' => out.push(b' '),
            b'%' => {
                let h = b
                    .get(i + 1..i + 3)
                    .and_then(|h| std::str::from_utf8(h).ok())
                    .and_then(|h| u8::from_str_radix(h, 16).ok())
                    .ok_or_else(|| ApiError::bad_request("bad percent-encoding in the query"))?;
                out.push(h);
                i += 2;
            }
            c => out.push(c),
        }
        i += 1;
    }
    String::from_utf8(out).map_err(|_| ApiError::bad_request("the query is not UTF-8"))
}

fn parse_bool(name: &str, v: &str) -> Result<bool, ApiError> {
    match v {
        "true" => Ok(true),
        "false" => Ok(false),
        _ => Err(ApiError::bad_request(format!(
            "{name}: {v:?} is not true or false"
        ))),
    }
}

impl ServiceQuery {
    /// Parses a query string. Lists may repeat the parameter or separate
    /// values with commas.
    pub fn parse(raw: Option<&str>) -> Result<ServiceQuery, ApiError> {
        let mut q = ServiceQuery::default();
        let Some(raw) = raw else { return Ok(q) };
        let mut seen_cat = false;
        for pair in raw.split('&').filter(|p| !p.is_empty()) {
            let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
            let k = pct_decode(k)?;
            let v = pct_decode(v)?;
            let list = |v: &str| v.split(',').map(str::to_string).collect::<Vec<_>>();
            match k.as_str() {
                "ser_instance_id" => q.ser_instance_id.extend(list(&v)),
                "ser_name" => q.ser_name.extend(list(&v)),
                "ser_category_id" => {
                    if seen_cat {
                        return Err(ApiError::bad_request("ser_category_id is given twice"));
                    }
                    seen_cat = true;
                    q.ser_category_id = Some(v);
                }
                "consumed_local_only" => q.consumed_local_only = Some(parse_bool(&k, &v)?),
                "is_local" => q.is_local = Some(parse_bool(&k, &v)?),
                "scope_of_locality" => q.scope_of_locality = Some(v),
                _ => {}
            }
        }
        let n = usize::from(!q.ser_instance_id.is_empty())
            + usize::from(!q.ser_name.is_empty())
            + usize::from(q.ser_category_id.is_some());
        if n > 1 {
            return Err(ApiError::bad_request(
                "either ser_instance_id or ser_name or ser_category_id or none of them shall be present",
            ));
        }
        Ok(q)
    }
}

/// What happened to a service, for notifications.
struct ServiceChange {
    before: Option<ServiceRecord>,
    after: Option<ServiceRecord>,
}

impl Core {
    /// A core over `store` whose records are already loaded into `reg`.
    pub fn new(
        cfg: CoreConfig,
        reg: Registry,
        store: Store,
        dp: Option<DataplaneLink>,
        notifier: Notifier,
    ) -> Arc<Core> {
        Arc::new(Core {
            cfg,
            reg: RwLock::new(reg),
            write: tokio::sync::Mutex::new(()),
            store,
            dp,
            notifier,
        })
    }

    /// Reads the registry.
    pub fn read(&self) -> RwLockReadGuard<'_, Registry> {
        match self.reg.read() {
            Ok(g) => g,
            Err(p) => p.into_inner(),
        }
    }

    /// The configuration.
    pub fn config(&self) -> &CoreConfig {
        &self.cfg
    }

    /// The notifier.
    pub fn notifier(&self) -> &Notifier {
        &self.notifier
    }

    /// The dataplane link, when there is one.
    pub fn dataplane(&self) -> Option<&DataplaneLink> {
        self.dp.as_ref()
    }

    async fn commit(&self, ops: Vec<Op>, expect: Vec<(String, i64)>) -> Result<Touched, ApiError> {
        if ops.is_empty() {
            return Ok(Touched::default());
        }
        let rev = self.store.commit(ops.clone(), expect).await?;
        let mut touched = Touched::default();
        {
            let mut reg = match self.reg.write() {
                Ok(g) => g,
                Err(p) => p.into_inner(),
            };
            for op in &ops {
                reg.apply(op, rev, &mut touched);
            }
        }
        Ok(touched)
    }

    /// Applies changes another sidecar committed (etcd watch).
    pub fn apply_remote(&self, batch: Vec<Watched>) {
        let mut touched = Touched::default();
        {
            let mut reg = match self.reg.write() {
                Ok(g) => g,
                Err(p) => p.into_inner(),
            };
            for (op, rev) in &batch {
                reg.apply(op, *rev, &mut touched);
            }
        }
        self.steer(&touched);
    }

    /// The expected backend revision of `key` for a conditional commit.
    fn rev_of(&self, key: &str) -> Option<(String, i64)> {
        if !self.store.shared() {
            return None;
        }
        let r = self.read().revisions.get(key).copied().unwrap_or(0);
        Some((key.to_string(), r))
    }

    /// Pushes the wanted steering of every touched local app; returns the
    /// last request ID sent.
    fn steer(&self, touched: &Touched) -> Option<u64> {
        let dp = self.dp.as_ref()?;
        let mut last = None;
        for app in &touched.apps {
            let (rules, dns) = self.wanted_steering(app);
            last = Some(dp.put(app, rules, dns));
        }
        last
    }

    /// The active rules of `app` in the dataplane's terms (nothing if the
    /// app is not steered by this host, stopped or gone).
    pub fn wanted_steering(
        &self,
        app: &str,
    ) -> (
        Vec<upf_rules::steer::SteeringRule>,
        Vec<upf_rules::steer::DnsRule>,
    ) {
        let reg = self.read();
        let Some(a) = reg.apps.get(app) else {
            return (Vec::new(), Vec::new());
        };
        if a.host != self.cfg.host || a.stopped {
            return (Vec::new(), Vec::new());
        }
        let mut rules = Vec::new();
        for r in reg.traffic_of(app) {
            if r.rule.state != RuleState::Active {
                continue;
            }
            match validate::traffic_rule(&r.rule, &self.cfg.steer) {
                Ok(Some(s)) => rules.push(s),
                Ok(None) => {}
                Err(e) => {
                    warn!(app, rule = %r.rule.traffic_rule_id, error = %e, "stored traffic rule not steerable")
                }
            }
        }
        let mut dns = Vec::new();
        for r in reg.dns_of(app) {
            if r.rule.state != RuleState::Active {
                continue;
            }
            match validate::dns_rule(&r.rule) {
                Ok(d) => dns.push(d),
                Err(e) => {
                    warn!(app, rule = %r.rule.dns_rule_id, error = %e, "stored DNS rule not usable")
                }
            }
        }
        (rules, dns)
    }

    /// Pushes every local app's steering (at start).
    pub fn steer_all(&self) {
        let apps: BTreeSet<String> = self.read().apps.keys().cloned().collect();
        self.steer(&Touched { apps });
    }

    async fn steer_and_wait(&self, touched: &Touched) {
        let Some(req) = self.steer(touched) else {
            return;
        };
        if let Some(dp) = self.dp.as_ref() {
            if !self.cfg.apply_wait.is_zero() && dp.attached() {
                dp.wait_applied(req, self.cfg.apply_wait).await;
            }
        }
    }

    // ------------------------------------------------------------ identity

    /// Resolves the caller from a bearer token or certificate identities.
    pub fn authenticate(
        &self,
        bearer: Option<&str>,
        cert_ids: &[String],
    ) -> Result<Caller, ApiError> {
        match self.cfg.auth {
            AuthMode::None => Ok(Caller::Anyone),
            AuthMode::Bearer => {
                let t = bearer
                    .ok_or_else(|| ApiError::unauthorized("an OAuth2 bearer token is required"))?;
                let reg = self.read();
                reg.by_token
                    .get(&sha256_hex(t))
                    .cloned()
                    .map(Caller::App)
                    .ok_or_else(|| ApiError::unauthorized("unknown bearer token"))
            }
            AuthMode::Mtls => {
                let reg = self.read();
                reg.apps
                    .values()
                    .find(|a| {
                        let want = a.cert_identity.as_deref().unwrap_or(&a.instance_id);
                        cert_ids.iter().any(|c| c == want)
                    })
                    .map(|a| Caller::App(a.instance_id.clone()))
                    .ok_or_else(|| {
                        ApiError::unauthorized(
                            "the client certificate does not identify a known MEC application",
                        )
                    })
            }
        }
    }

    /// Checks that `caller` may act as app `app`, which must exist.
    pub fn own(&self, caller: &Caller, app: &str) -> Result<(), ApiError> {
        if let Caller::App(me) = caller {
            if me != app {
                return Err(ApiError::forbidden(format!(
                    "application instance {me:?} may not access the resources of {app:?}"
                )));
            }
        }
        if !self.read().apps.contains_key(app) {
            return Err(ApiError::not_found(format!(
                "no MEC application instance {app:?}"
            )));
        }
        Ok(())
    }

    // ------------------------------------------------------------ traffic rules

    /// All traffic rules of `app`.
    pub fn traffic_rules(&self, app: &str) -> Vec<TrafficRule> {
        self.read()
            .traffic_of(app)
            .map(|r| r.rule.clone())
            .collect()
    }

    /// One traffic rule and its ETag revision.
    pub fn traffic_rule(&self, app: &str, id: &str) -> Result<(TrafficRule, u64), ApiError> {
        self.read()
            .traffic
            .get(&(app.to_string(), id.to_string()))
            .map(|r| (r.rule.clone(), r.rev))
            .ok_or_else(|| ApiError::not_found(format!("no traffic rule {id:?}")))
    }

    /// Replaces a traffic rule (the ID must match; `if_match` is an ETag
    /// revision the rule must still have).
    pub async fn put_traffic_rule(
        &self,
        app: &str,
        id: &str,
        rule: TrafficRule,
        if_match: Option<IfMatch>,
    ) -> Result<(TrafficRule, u64), ApiError> {
        if rule.traffic_rule_id != id {
            return Err(ApiError::bad_request(format!(
                "trafficRuleId {:?} does not match the resource {id:?}",
                rule.traffic_rule_id
            )));
        }
        validate::traffic_rule(&rule, &self.cfg.steer)?;
        let _w = self.write.lock().await;
        let cur = self
            .read()
            .traffic
            .get(&(app.to_string(), id.to_string()))
            .cloned()
            .ok_or_else(|| ApiError::not_found(format!("no traffic rule {id:?}")))?;
        check_if_match(if_match, cur.rev)?;
        if cur.rule == rule {
            return Ok((rule, cur.rev));
        }
        let rec = TrafficRecord {
            rev: cur.rev + 1,
            rule: rule.clone(),
        };
        let key = traffic_key(app, id);
        let expect = self.rev_of(&key).into_iter().collect();
        let touched = self.commit(vec![put(key, &rec)], expect).await?;
        info!(app, rule = id, state = ?rule.state, "traffic rule updated");
        self.steer_and_wait(&touched).await;
        Ok((rule, rec.rev))
    }

    // ------------------------------------------------------------ DNS rules

    /// All DNS rules of `app`.
    pub fn dns_rules(&self, app: &str) -> Vec<DnsRule> {
        self.read().dns_of(app).map(|r| r.rule.clone()).collect()
    }

    /// One DNS rule and its ETag revision.
    pub fn dns_rule(&self, app: &str, id: &str) -> Result<(DnsRule, u64), ApiError> {
        self.read()
            .dns
            .get(&(app.to_string(), id.to_string()))
            .map(|r| (r.rule.clone(), r.rev))
            .ok_or_else(|| ApiError::not_found(format!("no DNS rule {id:?}")))
    }

    /// Replaces a DNS rule.
    pub async fn put_dns_rule(
        &self,
        app: &str,
        id: &str,
        rule: DnsRule,
        if_match: Option<IfMatch>,
    ) -> Result<(DnsRule, u64), ApiError> {
        if rule.dns_rule_id != id {
            return Err(ApiError::bad_request(format!(
                "dnsRuleId {:?} does not match the resource {id:?}",
                rule.dns_rule_id
            )));
        }
        validate::dns_rule(&rule)?;
        let _w = self.write.lock().await;
        let cur = self
            .read()
            .dns
            .get(&(app.to_string(), id.to_string()))
            .cloned()
            .ok_or_else(|| ApiError::not_found(format!("no DNS rule {id:?}")))?;
        check_if_match(if_match, cur.rev)?;
        if cur.rule == rule {
            return Ok((rule, cur.rev));
        }
        let rec = DnsRecord {
            rev: cur.rev + 1,
            rule: rule.clone(),
        };
        let key = dns_key(app, id);
        let expect = self.rev_of(&key).into_iter().collect();
        let touched = self.commit(vec![put(key, &rec)], expect).await?;
        info!(app, rule = id, state = ?rule.state, "DNS rule updated");
        self.steer_and_wait(&touched).await;
        Ok((rule, rec.rev))
    }

    // ------------------------------------------------------------ subscriptions

    fn sub_href(base: &str, api: &str, app: &str, id: &str) -> String {
        format!(
            "{base}{api}/applications/{}/subscriptions/{}",
            seg(app),
            seg(id)
        )
    }

    /// The link list of `app`'s subscriptions of one API.
    pub fn subscription_list(&self, base: &str, api: &str, app: &str) -> SubscriptionLinkList {
        let reg = self.read();
        let subs: Vec<SubscriptionLink> = if api == SERVICE_MGMT {
            reg.sersubs
                .iter()
                .filter(|(_, s)| s.owner == app)
                .map(|(id, _)| SubscriptionLink {
                    href: Self::sub_href(base, api, app, id),
                    rel: SER_SUB_TYPE.into(),
                })
                .collect()
        } else {
            reg.termsubs
                .iter()
                .filter(|(_, s)| s.owner == app)
                .map(|(id, _)| SubscriptionLink {
                    href: Self::sub_href(base, api, app, id),
                    rel: TERM_SUB_TYPE.into(),
                })
                .collect()
        };
        SubscriptionLinkList {
            links: SubscriptionLinks {
                self_: LinkType {
                    href: format!("{base}{api}/applications/{}/subscriptions", seg(app)),
                },
                subscriptions: subs,
            },
        }
    }

    /// Creates a service availability subscription; returns it with its
    /// self link (also the Location).
    pub async fn create_ser_sub(
        &self,
        base: &str,
        app: &str,
        mut sub: SerAvailabilityNotificationSubscription,
    ) -> Result<SerAvailabilityNotificationSubscription, ApiError> {
        if sub.subscription_type != SER_SUB_TYPE {
            return Err(ApiError::bad_request(format!(
                "subscriptionType shall be {SER_SUB_TYPE}"
            )));
        }
        if !validate::is_http_uri(&sub.callback_reference) {
            return Err(ApiError::bad_request(
                "callbackReference must be an absolute http or https URI",
            ));
        }
        let id = new_id();
        sub.links = None;
        let rec = SerSubRecord {
            owner: app.to_string(),
            sub: sub.clone(),
        };
        let _w = self.write.lock().await;
        self.commit(vec![put(sersub_key(&id), &rec)], vec![])
            .await?;
        sub.links = Some(SelfLink {
            self_: LinkType {
                href: Self::sub_href(base, SERVICE_MGMT, app, &id),
            },
        });
        Ok(sub)
    }

    /// One service availability subscription of `app`.
    pub fn ser_sub(
        &self,
        base: &str,
        app: &str,
        id: &str,
    ) -> Result<SerAvailabilityNotificationSubscription, ApiError> {
        let reg = self.read();
        let s = reg
            .sersubs
            .get(id)
            .filter(|s| s.owner == app)
            .ok_or_else(|| ApiError::not_found(format!("no subscription {id:?}")))?;
        let mut sub = s.sub.clone();
        sub.links = Some(SelfLink {
            self_: LinkType {
                href: Self::sub_href(base, SERVICE_MGMT, app, id),
            },
        });
        Ok(sub)
    }

    /// Creates an app termination subscription.
    pub async fn create_term_sub(
        &self,
        base: &str,
        app: &str,
        mut sub: AppTerminationNotificationSubscription,
    ) -> Result<AppTerminationNotificationSubscription, ApiError> {
        if sub.subscription_type != TERM_SUB_TYPE {
            return Err(ApiError::bad_request(format!(
                "subscriptionType shall be {TERM_SUB_TYPE}"
            )));
        }
        if sub.app_instance_id != app {
            return Err(ApiError::bad_request(
                "appInstanceId must be the application instance of the resource",
            ));
        }
        if !validate::is_http_uri(&sub.callback_reference) {
            return Err(ApiError::bad_request(
                "callbackReference must be an absolute http or https URI",
            ));
        }
        let id = new_id();
        sub.links = None;
        let rec = TermSubRecord {
            owner: app.to_string(),
            sub: sub.clone(),
        };
        let _w = self.write.lock().await;
        self.commit(vec![put(termsub_key(&id), &rec)], vec![])
            .await?;
        sub.links = Some(SelfLink {
            self_: LinkType {
                href: Self::sub_href(base, APP_SUPPORT, app, &id),
            },
        });
        Ok(sub)
    }

    /// One app termination subscription of `app`.
    pub fn term_sub(
        &self,
        base: &str,
        app: &str,
        id: &str,
    ) -> Result<AppTerminationNotificationSubscription, ApiError> {
        let reg = self.read();
        let s = reg
            .termsubs
            .get(id)
            .filter(|s| s.owner == app)
            .ok_or_else(|| ApiError::not_found(format!("no subscription {id:?}")))?;
        let mut sub = s.sub.clone();
        sub.links = Some(SelfLink {
            self_: LinkType {
                href: Self::sub_href(base, APP_SUPPORT, app, id),
            },
        });
        Ok(sub)
    }

    /// Deletes a subscription of either API.
    pub async fn delete_sub(&self, api: &str, app: &str, id: &str) -> Result<(), ApiError> {
        let _w = self.write.lock().await;
        let exists = {
            let reg = self.read();
            if api == SERVICE_MGMT {
                reg.sersubs.get(id).is_some_and(|s| s.owner == app)
            } else {
                reg.termsubs.get(id).is_some_and(|s| s.owner == app)
            }
        };
        if !exists {
            return Err(ApiError::not_found(format!("no subscription {id:?}")));
        }
        let key = if api == SERVICE_MGMT {
            sersub_key(id)
        } else {
            termsub_key(id)
        };
        self.commit(vec![Op::Delete { key }], vec![]).await?;
        self.notifier.forget(id);
        Ok(())
    }

    // ------------------------------------------------------------ readiness, termination

    /// confirm_ready.
    pub async fn confirm_ready(&self, app: &str) -> Result<(), ApiError> {
        let _w = self.write.lock().await;
        let mut a =
            self.read().apps.get(app).cloned().ok_or_else(|| {
                ApiError::not_found(format!("no MEC application instance {app:?}"))
            })?;
        if a.terminating.is_some() {
            return Err(ApiError::conflict(
                "the application instance is being terminated",
            ));
        }
        if a.ready && !a.stopped {
            return Ok(());
        }
        a.ready = true;
        a.stopped = false;
        let touched = self.commit(vec![put(app_key(app), &a)], vec![]).await?;
        self.steer(&touched);
        Ok(())
    }

    /// Starts a graceful termination (or stop) of `app`: notifies its
    /// termination subscribers and finishes when the app confirms or the
    /// timeout passes.
    pub async fn terminate(
        self: &Arc<Self>,
        base: &str,
        app: &str,
        action: OperationAction,
        timeout: Option<Duration>,
    ) -> Result<(), ApiError> {
        let timeout = timeout.unwrap_or(self.cfg.termination_timeout);
        let subs: Vec<(String, TermSubRecord)> = {
            let _w = self.write.lock().await;
            let mut a = self.read().apps.get(app).cloned().ok_or_else(|| {
                ApiError::not_found(format!("no MEC application instance {app:?}"))
            })?;
            if a.terminating.is_some() {
                return Err(ApiError::conflict("a termination is already in progress"));
            }
            let deadline = unix_ms() + timeout.as_millis() as u64;
            a.terminating = Some(Termination {
                action,
                deadline_unix_ms: deadline,
            });
            self.commit(vec![put(app_key(app), &a)], vec![]).await?;
            self.read()
                .termsubs
                .iter()
                .filter(|(_, s)| s.sub.app_instance_id == app)
                .map(|(id, s)| (id.clone(), s.clone()))
                .collect()
        };
        info!(
            app,
            ?action,
            subscribers = subs.len(),
            "graceful termination started"
        );
        for (id, s) in &subs {
            let n = AppTerminationNotification {
                notification_type: "AppTerminationNotification".into(),
                operation_action: action,
                max_graceful_timeout: timeout.as_secs().max(1) as u32,
                links: AppTerminationLinks {
                    subscription: LinkType {
                        href: Self::sub_href(base, APP_SUPPORT, app, id),
                    },
                    confirm_termination: Some(LinkType {
                        href: format!(
                            "{base}{APP_SUPPORT}/applications/{}/confirm_termination",
                            seg(app)
                        ),
                    }),
                },
            };
            self.notifier.send(id, &s.sub.callback_reference, json(&n));
        }
        self.schedule_finish(base.to_string(), app.to_string(), timeout);
        Ok(())
    }

    /// Finishes pending terminations whose deadline is in the future after
    /// a restart (and those past it at once).
    pub fn resume_terminations(self: &Arc<Self>, base: &str) {
        let pending: Vec<(String, u64)> = self
            .read()
            .apps
            .values()
            .filter(|a| a.host == self.cfg.host)
            .filter_map(|a| {
                a.terminating
                    .as_ref()
                    .map(|t| (a.instance_id.clone(), t.deadline_unix_ms))
            })
            .collect();
        for (app, deadline) in pending {
            let left = Duration::from_millis(deadline.saturating_sub(unix_ms()));
            self.schedule_finish(base.to_string(), app, left);
        }
    }

    fn schedule_finish(self: &Arc<Self>, base: String, app: String, after: Duration) {
        let me = self.clone();
        tokio::spawn(async move {
            tokio::time::sleep(after).await;
            if let Err(e) = me.finish_termination(&base, &app, None).await {
                if e.status != axum::http::StatusCode::CONFLICT {
                    warn!(app, error = %e, "termination could not finish");
                }
            }
        });
    }

    /// confirm_termination (with the app's operationAction), or the timer
    /// (`None`): TERMINATING removes every resource of the app; STOPPING
    /// keeps them but stops its steering and makes its services INACTIVE.
    pub async fn finish_termination(
        &self,
        base: &str,
        app: &str,
        confirmed: Option<OperationAction>,
    ) -> Result<(), ApiError> {
        let _w = self.write.lock().await;
        let (a, ops, changes) = {
            let reg = self.read();
            let a = reg.apps.get(app).cloned().ok_or_else(|| {
                ApiError::not_found(format!("no MEC application instance {app:?}"))
            })?;
            let t = a
                .terminating
                .clone()
                .ok_or_else(|| ApiError::conflict("no termination is in progress"))?;
            if let Some(c) = confirmed {
                if c != t.action {
                    return Err(ApiError::conflict(format!(
                        "the pending operation is {:?}, not {:?}",
                        t.action, c
                    )));
                }
            }
            let mut ops = Vec::new();
            let mut changes = Vec::new();
            let svc_ids: Vec<String> = reg
                .by_owner
                .get(app)
                .map(|s| s.iter().cloned().collect())
                .unwrap_or_default();
            match t.action {
                OperationAction::Terminating => {
                    for id in svc_ids {
                        if let Some(s) = reg.services.get(&id) {
                            changes.push(ServiceChange {
                                before: Some(s.clone()),
                                after: None,
                            });
                        }
                        ops.push(Op::Delete {
                            key: service_key(&id),
                        });
                    }
                    for (id, s) in &reg.sersubs {
                        if s.owner == app {
                            ops.push(Op::Delete {
                                key: sersub_key(id),
                            });
                        }
                    }
                    for (id, s) in &reg.termsubs {
                        if s.owner == app {
                            ops.push(Op::Delete {
                                key: termsub_key(id),
                            });
                        }
                    }
                    for r in reg.traffic_of(app) {
                        ops.push(Op::Delete {
                            key: traffic_key(app, &r.rule.traffic_rule_id),
                        });
                    }
                    for r in reg.dns_of(app) {
                        ops.push(Op::Delete {
                            key: dns_key(app, &r.rule.dns_rule_id),
                        });
                    }
                    ops.push(Op::Delete { key: app_key(app) });
                }
                OperationAction::Stopping => {
                    for id in svc_ids {
                        if let Some(s) = reg.services.get(&id) {
                            if s.info.state == ServiceState::Active {
                                let mut n = s.clone();
                                n.info.state = ServiceState::Inactive;
                                n.rev += 1;
                                ops.push(put(service_key(&id), &n));
                                changes.push(ServiceChange {
                                    before: Some(s.clone()),
                                    after: Some(n),
                                });
                            }
                        }
                    }
                    let mut na = a.clone();
                    na.terminating = None;
                    na.stopped = true;
                    na.ready = false;
                    ops.push(put(app_key(app), &na));
                }
            }
            (a, ops, changes)
        };
        let touched = self.commit(ops, vec![]).await?;
        info!(app, action = ?a.terminating.as_ref().map(|t| t.action), "termination finished");
        self.steer(&touched);
        for c in changes {
            self.notify_service(base, c);
        }
        Ok(())
    }

    // ------------------------------------------------------------ services

    fn is_local(&self, s: &ServiceRecord) -> bool {
        s.host == self.cfg.host || s.info.scope_of_locality == Some(LocalityType::MecSystem)
    }

    fn view(&self, s: &ServiceRecord) -> ServiceInfo {
        let mut i = s.info.clone();
        i.is_local = Some(self.is_local(s));
        i
    }

    /// Service discovery: every visible service matching `q`, produced by
    /// `owner` when given.
    pub fn query_services(&self, q: &ServiceQuery, owner: Option<&str>) -> Vec<ServiceInfo> {
        let reg = self.read();
        let ids: Box<dyn Iterator<Item = &String>> = if !q.ser_instance_id.is_empty() {
            Box::new(q.ser_instance_id.iter())
        } else if !q.ser_name.is_empty() {
            Box::new(
                q.ser_name
                    .iter()
                    .filter_map(|n| reg.by_name.get(n))
                    .flat_map(|s| s.iter()),
            )
        } else if let Some(c) = &q.ser_category_id {
            Box::new(reg.by_category.get(c).into_iter().flat_map(|s| s.iter()))
        } else if let Some(o) = owner {
            Box::new(reg.by_owner.get(o).into_iter().flat_map(|s| s.iter()))
        } else {
            Box::new(reg.services.keys())
        };
        let mut seen = BTreeSet::new();
        let mut out = Vec::new();
        for id in ids {
            if !seen.insert(id.as_str()) {
                continue;
            }
            let Some(s) = reg.services.get(id) else {
                continue;
            };
            if owner.is_some_and(|o| o != s.owner) {
                continue;
            }
            let local = self.is_local(s);
            let clo = s.info.consumed_local_only.unwrap_or(false);
            if clo && !local {
                continue;
            }
            if q.consumed_local_only.is_some_and(|v| v != clo) {
                continue;
            }
            if q.is_local.is_some_and(|v| v != local) {
                continue;
            }
            if let Some(sc) = &q.scope_of_locality {
                let have = s
                    .info
                    .scope_of_locality
                    .unwrap_or(LocalityType::MecHost)
                    .as_str();
                if have != sc {
                    continue;
                }
            }
            out.push(self.view(s));
        }
        out
    }

    /// One service (any producer).
    pub fn service(&self, id: &str) -> Result<ServiceInfo, ApiError> {
        let reg = self.read();
        reg.services
            .get(id)
            .filter(|s| self.is_local(s) || !s.info.consumed_local_only.unwrap_or(false))
            .map(|s| self.view(s))
            .ok_or_else(|| ApiError::not_found(format!("no service {id:?}")))
    }

    /// One service of `owner` and its ETag revision.
    pub fn own_service(&self, owner: &str, id: &str) -> Result<(ServiceInfo, u64), ApiError> {
        let reg = self.read();
        reg.services
            .get(id)
            .filter(|s| s.owner == owner)
            .map(|s| (self.view(s), s.rev))
            .ok_or_else(|| ApiError::not_found(format!("no service {id:?} of {owner:?}")))
    }

    /// The transports this platform offers.
    pub fn transports(&self, base: &str) -> Vec<TransportInfo> {
        vec![TransportInfo {
            id: "mp1-rest-http".into(),
            name: "REST".into(),
            description: Some("REST API over HTTP, served by the MEC platform".into()),
            kind: TransportType::RestHttp,
            protocol: "HTTP".into(),
            version: "1.1".into(),
            endpoint: EndPoint::Uris(vec![base.to_string()]),
            security: SecurityInfo {
                oauth2_info: (self.cfg.auth == AuthMode::Bearer).then(|| OAuth2Info {
                    grant_types: vec![GrantType::Oauth2ClientCredentials],
                    token_endpoint: format!("{base}/oauth/token"),
                }),
            },
            impl_specific_info: None,
        }]
    }

    fn check_service(&self, base: &str, info: &mut ServiceInfo) -> Result<(), ApiError> {
        if info.ser_name.is_empty() {
            return Err(ApiError::bad_request("serName must not be empty"));
        }
        match (&info.transport_info, &info.transport_id) {
            (Some(_), _) => {}
            (None, Some(tid)) => {
                let t = self
                    .transports(base)
                    .into_iter()
                    .find(|t| &t.id == tid)
                    .ok_or_else(|| {
                        ApiError::bad_request(format!(
                            "transportId {tid:?} is not a platform transport"
                        ))
                    })?;
                info.transport_info = Some(t);
            }
            (None, None) => {
                return Err(ApiError::bad_request(
                    "transportInfo (or transportId) is required",
                ))
            }
        }
        info.transport_id = None;
        if let Some(t) = &info.transport_info {
            if let Some(o) = &t.security.oauth2_info {
                if o.grant_types.is_empty() || o.grant_types.len() > 4 {
                    return Err(ApiError::bad_request(
                        "transportInfo.security.oAuth2Info.grantTypes takes 1 to 4 values",
                    ));
                }
            }
            if let EndPoint::Addresses(a) = &t.endpoint {
                if a.iter().any(|a| !(0..=65535).contains(&a.port)) {
                    return Err(ApiError::bad_request(
                        "transportInfo.endpoint.addresses: port must be 0..=65535",
                    ));
                }
            }
        }
        // Computed by the platform per consumer.
        info.is_local = None;
        Ok(())
    }

    /// Registers a service produced by `app`.
    pub async fn create_service(
        &self,
        base: &str,
        app: &str,
        mut info: ServiceInfo,
    ) -> Result<ServiceInfo, ApiError> {
        self.check_service(base, &mut info)?;
        let id = new_id();
        info.ser_instance_id = Some(id.clone());
        let rec = ServiceRecord {
            owner: app.to_string(),
            host: self.cfg.host.clone(),
            rev: 1,
            info,
        };
        let _w = self.write.lock().await;
        self.commit(vec![put(service_key(&id), &rec)], vec![])
            .await?;
        info!(app, service = %rec.info.ser_name, id, "service registered");
        let view = self.view(&rec);
        self.notify_service(
            base,
            ServiceChange {
                before: None,
                after: Some(rec),
            },
        );
        Ok(view)
    }

    /// Updates a service of `app`.
    pub async fn put_service(
        &self,
        base: &str,
        app: &str,
        id: &str,
        mut info: ServiceInfo,
        if_match: Option<IfMatch>,
    ) -> Result<(ServiceInfo, u64), ApiError> {
        if info.ser_instance_id.as_deref().is_some_and(|s| s != id) {
            return Err(ApiError::bad_request(format!(
                "serInstanceId does not match the resource {id:?}"
            )));
        }
        self.check_service(base, &mut info)?;
        info.ser_instance_id = Some(id.to_string());
        let _w = self.write.lock().await;
        let cur = self
            .read()
            .services
            .get(id)
            .filter(|s| s.owner == app)
            .cloned()
            .ok_or_else(|| ApiError::not_found(format!("no service {id:?} of {app:?}")))?;
        check_if_match(if_match, cur.rev)?;
        if cur.info.ser_name != info.ser_name {
            return Err(ApiError::bad_request(
                "serName identifies the service and cannot change; register a new service",
            ));
        }
        if cur.info == info {
            return Ok((self.view(&cur), cur.rev));
        }
        let rec = ServiceRecord {
            owner: cur.owner.clone(),
            host: cur.host.clone(),
            rev: cur.rev + 1,
            info,
        };
        let key = service_key(id);
        let expect = self.rev_of(&key).into_iter().collect();
        self.commit(vec![put(key, &rec)], expect).await?;
        let view = self.view(&rec);
        let rev = rec.rev;
        self.notify_service(
            base,
            ServiceChange {
                before: Some(cur),
                after: Some(rec),
            },
        );
        Ok((view, rev))
    }

    /// Deregisters a service of `app`.
    pub async fn delete_service(&self, base: &str, app: &str, id: &str) -> Result<(), ApiError> {
        let _w = self.write.lock().await;
        let cur = self
            .read()
            .services
            .get(id)
            .filter(|s| s.owner == app)
            .cloned()
            .ok_or_else(|| ApiError::not_found(format!("no service {id:?} of {app:?}")))?;
        self.commit(
            vec![Op::Delete {
                key: service_key(id),
            }],
            vec![],
        )
        .await?;
        info!(app, id, "service deregistered");
        self.notify_service(
            base,
            ServiceChange {
                before: Some(cur),
                after: None,
            },
        );
        Ok(())
    }

    fn notify_service(&self, base: &str, c: ServiceChange) {
        let (s, change) = match (&c.before, &c.after) {
            (None, Some(a)) => (a, ChangeType::Added),
            (Some(b), None) => (b, ChangeType::Removed),
            (Some(b), Some(a)) => {
                let mut b2 = b.info.clone();
                b2.state = a.info.state;
                if b2 == a.info {
                    if b.info.state == a.info.state {
                        return;
                    }
                    (a, ChangeType::StateChanged)
                } else {
                    (a, ChangeType::AttributesChanged)
                }
            }
            (None, None) => return,
        };
        let id = s.info.ser_instance_id.clone().unwrap_or_default();
        let local = self.is_local(s);
        let reg = self.read();
        for (sub_id, sub) in &reg.sersubs {
            if !sub_matches(sub.sub.filtering_criteria.as_ref(), s, local) {
                continue;
            }
            let n = ServiceAvailabilityNotification {
                notification_type: SER_SUB_TYPE.into(),
                service_references: vec![ServiceReference {
                    link: (change != ChangeType::Removed).then(|| LinkType {
                        href: format!("{base}{SERVICE_MGMT}/services/{}", seg(&id)),
                    }),
                    ser_name: s.info.ser_name.clone(),
                    ser_instance_id: id.clone(),
                    state: s.info.state,
                    change_type: change,
                }],
                links: SubscriptionRef {
                    subscription: LinkType {
                        href: Self::sub_href(base, SERVICE_MGMT, &sub.owner, sub_id),
                    },
                },
            };
            self.notifier
                .send(sub_id, &sub.sub.callback_reference, json(&n));
        }
    }

    // ------------------------------------------------------------ apps (config, admin)

    /// Creates or updates an app and seeds the rules of its descriptor that
    /// are not stored yet (stored rules keep the state apps gave them).
    pub async fn upsert_app(
        &self,
        id: &str,
        name: Option<String>,
        token: Option<&str>,
        cert_identity: Option<String>,
        source: AppSource,
        descriptor: &AppDescriptor,
    ) -> Result<bool, ApiError> {
        for r in &descriptor.app_traffic_rule {
            validate::traffic_rule(r, &self.cfg.steer).map_err(|e| {
                ApiError::bad_request(format!("traffic rule {:?}: {e}", r.traffic_rule_id))
            })?;
        }
        for r in &descriptor.app_dns_rule {
            validate::dns_rule(r)
                .map_err(|e| ApiError::bad_request(format!("DNS rule {:?}: {e}", r.dns_rule_id)))?;
        }
        let _w = self.write.lock().await;
        let (ops, created) = {
            let reg = self.read();
            let old = reg.apps.get(id);
            let rec = AppRecord {
                instance_id: id.to_string(),
                name,
                token_sha256: token.map(sha256_hex),
                cert_identity,
                host: self.cfg.host.clone(),
                source,
                ready: old.is_some_and(|o| o.ready),
                stopped: old.is_some_and(|o| o.stopped),
                terminating: old.and_then(|o| o.terminating.clone()),
            };
            let mut ops = Vec::new();
            if old != Some(&rec) {
                ops.push(put(app_key(id), &rec));
            }
            for r in &descriptor.app_traffic_rule {
                if !reg
                    .traffic
                    .contains_key(&(id.to_string(), r.traffic_rule_id.clone()))
                {
                    ops.push(put(
                        traffic_key(id, &r.traffic_rule_id),
                        &TrafficRecord {
                            rev: 1,
                            rule: r.clone(),
                        },
                    ));
                }
            }
            for r in &descriptor.app_dns_rule {
                if !reg
                    .dns
                    .contains_key(&(id.to_string(), r.dns_rule_id.clone()))
                {
                    ops.push(put(
                        dns_key(id, &r.dns_rule_id),
                        &DnsRecord {
                            rev: 1,
                            rule: r.clone(),
                        },
                    ));
                }
            }
            (ops, old.is_none())
        };
        let touched = self.commit(ops, vec![]).await?;
        self.steer(&touched);
        Ok(created)
    }

    /// A JSON summary of the apps (admin).
    pub fn apps_summary(&self) -> serde_json::Value {
        let reg = self.read();
        serde_json::Value::Array(
            reg.apps
                .values()
                .map(|a| {
                    serde_json::json!({
                        "instance_id": a.instance_id,
                        "name": a.name,
                        "host": a.host,
                        "source": a.source,
                        "ready": a.ready,
                        "stopped": a.stopped,
                        "terminating": a.terminating.as_ref().map(|t| format!("{:?}", t.action)),
                        "traffic_rules": reg.traffic_of(&a.instance_id).count(),
                        "dns_rules": reg.dns_of(&a.instance_id).count(),
                        "services": reg.by_owner.get(&a.instance_id).map_or(0, |s| s.len()),
                    })
                })
                .collect(),
        )
    }
}

fn sub_matches(f: Option<&SerFilteringCriteria>, s: &ServiceRecord, local: bool) -> bool {
    let Some(f) = f else { return true };
    let id = s.info.ser_instance_id.as_deref().unwrap_or("");
    if let Some(ids) = &f.ser_instance_ids {
        if !ids.is_empty() && !ids.iter().any(|x| x == id) {
            return false;
        }
    }
    if let Some(n) = &f.ser_names {
        if !n.is_empty() && !n.contains(&s.info.ser_name) {
            return false;
        }
    }
    if let Some(c) = &f.ser_categories {
        if !c.is_empty()
            && !c
                .iter()
                .any(|x| s.info.ser_category.as_ref().is_some_and(|y| y.id == x.id))
        {
            return false;
        }
    }
    if let Some(st) = &f.states {
        if !st.is_empty() && !st.contains(&s.info.state) {
            return false;
        }
    }
    if let Some(l) = f.is_local {
        if l != local {
            return false;
        }
    }
    true
}

/// An `If-Match` precondition.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum IfMatch {
    /// `*`.
    Any,
    /// One or more entity tags (revisions).
    Revs(Vec<u64>),
}

/// The ETag of revision `rev`.
pub fn etag(rev: u64) -> String {
    format!("\"{rev}\"")
}

impl IfMatch {
    /// Parses the header value.
    pub fn parse(v: &str) -> IfMatch {
        if v.trim() == "*" {
            return IfMatch::Any;
        }
        IfMatch::Revs(
            v.split(',')
                .filter_map(|t| {
                    t.trim()
                        .trim_start_matches("W/")
                        .trim_matches('"')
                        .parse()
                        .ok()
                })
                .collect(),
        )
    }
}

fn check_if_match(m: Option<IfMatch>, rev: u64) -> Result<(), ApiError> {
    match m {
        None | Some(IfMatch::Any) => Ok(()),
        Some(IfMatch::Revs(r)) if r.contains(&rev) => Ok(()),
        Some(_) => Err(ApiError::precondition(format!(
            "the resource has changed; its current ETag is {}",
            etag(rev)
        ))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn queries_parse_lists_booleans_and_exclusive_filters() {
        let q = ServiceQuery::parse(Some("ser_name=a,b&ser_name=c%20d&is_local=true")).unwrap();
        assert_eq!(q.ser_name, ["a", "b", "c d"]);
        assert_eq!(q.is_local, Some(true));
        assert!(ServiceQuery::parse(Some("is_local=yes")).is_err());
        assert!(ServiceQuery::parse(Some("ser_name=a&ser_category_id=b")).is_err());
        assert!(ServiceQuery::parse(Some("ser_name=%zz")).is_err());
        assert_eq!(
            ServiceQuery::parse(Some("other=1")).unwrap(),
            ServiceQuery::default()
        );
    }

    #[test]
    fn if_match_tags() {
        assert_eq!(IfMatch::parse("*"), IfMatch::Any);
        assert_eq!(IfMatch::parse("\"3\", W/\"4\""), IfMatch::Revs(vec![3, 4]));
        assert!(check_if_match(Some(IfMatch::parse("\"3\"")), 3).is_ok());
        assert_eq!(
            check_if_match(Some(IfMatch::parse("\"2\"")), 3)
                .unwrap_err()
                .status,
            axum::http::StatusCode::PRECONDITION_FAILED
        );
    }

    #[test]
    fn segments_and_hashes() {
        assert_eq!(seg("a b/c"), "a%20b%2Fc");
        assert_eq!(
            sha256_hex("abc"),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
        assert_ne!(new_id(), new_id());
    }
}
