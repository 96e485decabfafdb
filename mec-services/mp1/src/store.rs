//! Durable storage of the records: an embedded redb file (the default), or
//! etcd (v3, through its JSON gateway) so that several sidecars share one
//! registry. Both commit a list of [`Op`]s atomically.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine;
use bytes::Bytes;
use http_body_util::BodyExt;
use hyper::Method;
use redb::{ReadableTable, TableDefinition};
use serde_json::{json, Value};
use tokio::sync::mpsc;
use tracing::{debug, warn};

use crate::http;
use crate::registry::Op;

const TABLE: TableDefinition<&str, &[u8]> = TableDefinition::new("mp1");

/// Why storage failed.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The database file.
    #[error("database {path}: {reason}")]
    Redb {
        /// The file.
        path: PathBuf,
        /// What failed.
        reason: String,
    },
    /// etcd.
    #[error("etcd: {0}")]
    Etcd(String),
    /// Another writer changed a key since it was read.
    #[error("conflicting update of {0}")]
    Conflict(String),
}

/// One stored record: key, value, backend revision.
pub type Loaded = (String, Vec<u8>, i64);

/// A change seen by a watch: the op and its revision.
pub type Watched = (Op, i64);

/// The storage backend.
#[derive(Clone)]
pub enum Store {
    /// A local file.
    Redb(Arc<RedbStore>),
    /// etcd.
    Etcd(Arc<EtcdStore>),
}

impl Store {
    /// Every record.
    pub async fn load(&self) -> Result<(Vec<Loaded>, i64), StoreError> {
        match self {
            Store::Redb(r) => {
                let r = r.clone();
                tokio::task::spawn_blocking(move || r.load())
                    .await
                    .map_err(|e| StoreError::Etcd(e.to_string()))?
                    .map(|v| (v, 0))
            }
            Store::Etcd(e) => e.load().await,
        }
    }

    /// Commits `ops` atomically. `expect` lists keys with the backend
    /// revision they must still have (0: must not exist); a mismatch is a
    /// [`StoreError::Conflict`]. Returns the new revision (0 for redb).
    pub async fn commit(
        &self,
        ops: Vec<Op>,
        expect: Vec<(String, i64)>,
    ) -> Result<i64, StoreError> {
        match self {
            Store::Redb(r) => {
                let r = r.clone();
                tokio::task::spawn_blocking(move || r.commit(&ops))
                    .await
                    .map_err(|e| StoreError::Etcd(e.to_string()))?
                    .map(|_| 0)
            }
            Store::Etcd(e) => e.commit(&ops, &expect).await,
        }
    }

    /// True if other sidecars may change the records (a watch is needed).
    pub fn shared(&self) -> bool {
        matches!(self, Store::Etcd(_))
    }
}

/// The redb file.
pub struct RedbStore {
    db: redb::Database,
    path: PathBuf,
}

impl RedbStore {
    /// Opens (or creates) the file.
    pub fn open(path: &Path) -> Result<RedbStore, StoreError> {
        let err = |e: &dyn std::fmt::Display| StoreError::Redb {
            path: path.to_path_buf(),
            reason: e.to_string(),
        };
        if let Some(d) = path.parent() {
            std::fs::create_dir_all(d).map_err(|e| err(&e))?;
        }
        let db = redb::Database::create(path).map_err(|e| err(&e))?;
        let tx = db.begin_write().map_err(|e| err(&e))?;
        tx.open_table(TABLE).map_err(|e| err(&e))?;
        tx.commit().map_err(|e| err(&e))?;
        Ok(RedbStore {
            db,
            path: path.to_path_buf(),
        })
    }

    fn err(&self, e: impl std::fmt::Display) -> StoreError {
        StoreError::Redb {
            path: self.path.clone(),
            reason: e.to_string(),
        }
    }

    fn load(&self) -> Result<Vec<Loaded>, StoreError> {
        let tx = self.db.begin_read().map_err(|e| self.err(e))?;
        let t = tx.open_table(TABLE).map_err(|e| self.err(e))?;
        let mut out = Vec::new();
        for item in t.iter().map_err(|e| self.err(e))? {
            let (k, v) = item.map_err(|e| self.err(e))?;
            out.push((k.value().to_string(), v.value().to_vec(), 0));
        }
        Ok(out)
    }

    fn commit(&self, ops: &[Op]) -> Result<(), StoreError> {
        let tx = self.db.begin_write().map_err(|e| self.err(e))?;
        {
            let mut t = tx.open_table(TABLE).map_err(|e| self.err(e))?;
            for op in ops {
                match op {
                    Op::Put { key, value } => {
                        t.insert(key.as_str(), value.as_slice())
                            .map_err(|e| self.err(e))?;
                    }
                    Op::Delete { key } => {
                        t.remove(key.as_str()).map_err(|e| self.err(e))?;
                    }
                }
            }
        }
        // Dropping an uncommitted transaction aborts it: nothing half-applied.
        tx.commit().map_err(|e| self.err(e))
    }
}

/// etcd through the v3 JSON gateway (`/v3/kv/range`, `/v3/kv/txn`,
/// `/v3/watch`), which every etcd 3.4+ serves on its client port.
pub struct EtcdStore {
    endpoints: Vec<String>,
    prefix: String,
    timeout: Duration,
}

fn b64(s: &[u8]) -> String {
    B64.encode(s)
}

/// The end of a prefix range (etcd's `range_end`).
fn prefix_end(p: &[u8]) -> Vec<u8> {
    let mut e = p.to_vec();
    while let Some(last) = e.pop() {
        if last < 0xff {
            e.push(last + 1);
            return e;
        }
    }
    vec![0]
}

fn num(v: &Value) -> i64 {
    match v {
        Value::String(s) => s.parse().unwrap_or(0),
        Value::Number(n) => n.as_i64().unwrap_or(0),
        _ => 0,
    }
}

impl EtcdStore {
    /// A client of `endpoints` (URLs such as `http://127.0.0.1:2379`) keeping
    /// its keys under `prefix`.
    pub fn new(endpoints: Vec<String>, prefix: String, timeout: Duration) -> EtcdStore {
        EtcdStore {
            endpoints: endpoints
                .into_iter()
                .map(|e| e.trim_end_matches('/').to_string())
                .collect(),
            prefix,
            timeout,
        }
    }

    async fn call(&self, path: &str, body: Value) -> Result<Value, StoreError> {
        let body = Bytes::from(body.to_string());
        let mut last = String::from("no endpoints");
        for ep in &self.endpoints {
            let url = format!("{ep}{path}");
            match http::request(Method::POST, &url, body.clone(), self.timeout).await {
                Ok((st, b)) if st.is_success() => {
                    return serde_json::from_slice(&b).map_err(|e| StoreError::Etcd(e.to_string()))
                }
                Ok((st, b)) => last = format!("{url}: {st}: {}", String::from_utf8_lossy(&b)),
                Err(e) => last = format!("{url}: {e}"),
            }
        }
        Err(StoreError::Etcd(last))
    }

    fn full(&self, key: &str) -> String {
        format!("{}{}", self.prefix, key)
    }

    async fn load(&self) -> Result<(Vec<Loaded>, i64), StoreError> {
        let p = self.prefix.as_bytes();
        let v = self
            .call(
                "/v3/kv/range",
                json!({"key": b64(p), "range_end": b64(&prefix_end(p))}),
            )
            .await?;
        let rev = num(&v["header"]["revision"]);
        let mut out = Vec::new();
        for kv in v["kvs"].as_array().map(Vec::as_slice).unwrap_or(&[]) {
            let (Some(k), Some(val)) = (self.key_of(kv), self.value_of(kv)) else {
                continue;
            };
            out.push((k, val, num(&kv["mod_revision"])));
        }
        Ok((out, rev))
    }

    fn key_of(&self, kv: &Value) -> Option<String> {
        let k = B64.decode(kv["key"].as_str()?).ok()?;
        let k = String::from_utf8(k).ok()?;
        k.strip_prefix(&self.prefix).map(str::to_string)
    }

    fn value_of(&self, kv: &Value) -> Option<Vec<u8>> {
        // An empty value is omitted by the gateway.
        match kv.get("value").and_then(Value::as_str) {
            Some(s) => B64.decode(s).ok(),
            None => Some(Vec::new()),
        }
    }

    async fn commit(&self, ops: &[Op], expect: &[(String, i64)]) -> Result<i64, StoreError> {
        let compare: Vec<Value> = expect
            .iter()
            .map(|(k, rev)| {
                json!({"target": "MOD", "result": "EQUAL", "key": b64(self.full(k).as_bytes()),
                       "mod_revision": rev.to_string()})
            })
            .collect();
        let success: Vec<Value> = ops
            .iter()
            .map(|op| match op {
                Op::Put { key, value } => json!({"request_put": {
                    "key": b64(self.full(key).as_bytes()), "value": b64(value)}}),
                Op::Delete { key } => json!({"request_delete_range": {
                    "key": b64(self.full(key).as_bytes())}}),
            })
            .collect();
        let v = self
            .call(
                "/v3/kv/txn",
                json!({"compare": compare, "success": success, "failure": []}),
            )
            .await?;
        if !v["succeeded"].as_bool().unwrap_or(false) && !compare.is_empty() {
            let k = expect.first().map(|(k, _)| k.clone()).unwrap_or_default();
            return Err(StoreError::Conflict(k));
        }
        Ok(num(&v["header"]["revision"]))
    }

    /// Follows every change after `from_rev` and sends it to `tx`, forever
    /// (reconnecting with backoff); ends when `tx` is closed.
    pub async fn watch(self: Arc<Self>, from_rev: i64, tx: mpsc::Sender<Vec<Watched>>) {
        let mut next = from_rev + 1;
        let mut backoff = Duration::from_millis(100);
        while !tx.is_closed() {
            match self.watch_once(&mut next, &tx).await {
                Ok(()) => backoff = Duration::from_millis(100),
                Err(e) => {
                    warn!(error = %e, "etcd watch interrupted; reconnecting");
                    tokio::time::sleep(backoff).await;
                    backoff = (backoff * 2).min(Duration::from_secs(5));
                }
            }
        }
    }

    async fn watch_once(
        &self,
        next: &mut i64,
        tx: &mpsc::Sender<Vec<Watched>>,
    ) -> Result<(), StoreError> {
        let p = self.prefix.as_bytes();
        let body = json!({"create_request": {
            "key": b64(p), "range_end": b64(&prefix_end(p)), "start_revision": next.to_string()}});
        let mut last = String::from("no endpoints");
        for ep in &self.endpoints {
            let url = format!("{ep}/v3/watch");
            let (st, mut body) =
                match http::stream(&url, Bytes::from(body.to_string()), self.timeout).await {
                    Ok(x) => x,
                    Err(e) => {
                        last = e.to_string();
                        continue;
                    }
                };
            if !st.is_success() {
                last = format!("{url}: {st}");
                continue;
            }
            let mut buf: Vec<u8> = Vec::new();
            while let Some(frame) = body.frame().await {
                let frame = frame.map_err(|e| StoreError::Etcd(e.to_string()))?;
                let Some(data) = frame.data_ref() else {
                    continue;
                };
                buf.extend_from_slice(data);
                // The gateway writes one JSON object per line.
                while let Some(nl) = buf.iter().position(|b| *b == b'\n') {
                    let line: Vec<u8> = buf.drain(..=nl).collect();
                    let Ok(v) = serde_json::from_slice::<Value>(&line) else {
                        continue;
                    };
                    let r = &v["result"];
                    if r["compact_revision"].as_str().is_some_and(|s| s != "0") {
                        return Err(StoreError::Etcd("watch compacted".into()));
                    }
                    let mut batch = Vec::new();
                    for ev in r["events"].as_array().map(Vec::as_slice).unwrap_or(&[]) {
                        let kv = &ev["kv"];
                        let Some(key) = self.key_of(kv) else { continue };
                        let rev = num(&kv["mod_revision"]);
                        *next = (*next).max(rev + 1);
                        let op = if ev["type"].as_str() == Some("DELETE") {
                            Op::Delete { key }
                        } else {
                            Op::Put {
                                key,
                                value: self.value_of(kv).unwrap_or_default(),
                            }
                        };
                        batch.push((op, rev));
                    }
                    if !batch.is_empty() {
                        debug!(events = batch.len(), "etcd watch");
                        if tx.send(batch).await.is_err() {
                            return Ok(());
                        }
                    }
                }
            }
            return Err(StoreError::Etcd("watch stream ended".into()));
        }
        Err(StoreError::Etcd(last))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prefix_ranges() {
        assert_eq!(prefix_end(b"/a/"), b"/a0".to_vec());
        assert_eq!(prefix_end(b"a\xff"), b"b".to_vec());
        assert_eq!(prefix_end(b"\xff"), vec![0]);
    }

    #[tokio::test(flavor = "current_thread")]
    async fn redb_commits_atomically_and_reloads() {
        let dir = std::env::temp_dir().join(format!("mp1-redb-{}", std::process::id()));
        let path = dir.join("t.redb");
        let _ = std::fs::remove_dir_all(&dir);
        {
            let s = Store::Redb(Arc::new(RedbStore::open(&path).unwrap()));
            s.commit(
                vec![
                    Op::Put {
                        key: "a".into(),
                        value: b"1".to_vec(),
                    },
                    Op::Put {
                        key: "b".into(),
                        value: b"2".to_vec(),
                    },
                ],
                vec![],
            )
            .await
            .unwrap();
            s.commit(vec![Op::Delete { key: "a".into() }], vec![])
                .await
                .unwrap();
        }
        let s = Store::Redb(Arc::new(RedbStore::open(&path).unwrap()));
        let (v, _) = s.load().await.unwrap();
        assert_eq!(v, vec![("b".to_string(), b"2".to_vec(), 0)]);
        let _ = std::fs::remove_dir_all(&dir);
    }
}
