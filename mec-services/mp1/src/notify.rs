//! Notification delivery: HTTP POST of a JSON body to a subscription's
//! `callbackReference`, with retries and exponential backoff.
//!
//! Each subscription has its own queue and delivery task, so notifications
//! to one subscriber stay in order and a subscriber that never answers only
//! delays itself: its queue is bounded (the oldest waiting notification is
//! dropped and counted when it overflows), every attempt has a timeout, and
//! nothing else waits for it.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use hyper::Method;
use tokio::sync::mpsc;
use tracing::{debug, warn};

use crate::http;

/// Queue length per subscription.
pub const QUEUE: usize = 256;

/// Delivery settings.
#[derive(Clone, Copy, Debug)]
pub struct NotifyConfig {
    /// Attempts per notification (at least 1).
    pub attempts: u32,
    /// Timeout of one attempt.
    pub timeout: Duration,
    /// First backoff; doubles per retry.
    pub backoff: Duration,
    /// Longest backoff.
    pub max_backoff: Duration,
}

impl Default for NotifyConfig {
    fn default() -> Self {
        NotifyConfig {
            attempts: 5,
            timeout: Duration::from_secs(2),
            backoff: Duration::from_millis(200),
            max_backoff: Duration::from_secs(10),
        }
    }
}

/// Delivery counters.
#[derive(Debug, Default)]
pub struct NotifyStats {
    /// Accepted by the subscriber (2xx).
    pub delivered: AtomicU64,
    /// Attempts that failed (error, timeout or non-2xx).
    pub failed_attempts: AtomicU64,
    /// Notifications given up after the last attempt.
    pub abandoned: AtomicU64,
    /// Notifications dropped because a subscriber's queue was full.
    pub dropped: AtomicU64,
}

struct Job {
    url: String,
    body: Bytes,
}

/// Sends notifications.
#[derive(Clone)]
pub struct Notifier {
    cfg: NotifyConfig,
    queues: Arc<Mutex<HashMap<String, mpsc::Sender<Job>>>>,
    /// Counters.
    pub stats: Arc<NotifyStats>,
}

impl Notifier {
    /// A notifier (needs a tokio runtime when used).
    pub fn new(cfg: NotifyConfig) -> Notifier {
        Notifier {
            cfg,
            queues: Arc::new(Mutex::new(HashMap::new())),
            stats: Arc::new(NotifyStats::default()),
        }
    }

    /// Queues `body` for subscription `sub` at `url`; never waits.
    pub fn send(&self, sub: &str, url: &str, body: Bytes) {
        let job = Job {
            url: url.to_string(),
            body,
        };
        let Ok(mut q) = self.queues.lock() else {
            return;
        };
        let tx = q.entry(sub.to_string()).or_insert_with(|| {
            let (tx, rx) = mpsc::channel(QUEUE);
            tokio::spawn(deliver(self.cfg, rx, self.stats.clone(), sub.to_string()));
            tx
        });
        match tx.try_send(job) {
            Ok(()) => {}
            Err(mpsc::error::TrySendError::Full(_)) => {
                self.stats.dropped.fetch_add(1, Ordering::Relaxed);
                warn!(subscription = sub, "notification queue full; dropped");
            }
            Err(mpsc::error::TrySendError::Closed(j)) => {
                let (ntx, rx) = mpsc::channel(QUEUE);
                tokio::spawn(deliver(self.cfg, rx, self.stats.clone(), sub.to_string()));
                let _ = ntx.try_send(j);
                *tx = ntx;
            }
        }
    }

    /// Forgets a deleted subscription: what is queued is still attempted,
    /// then its task ends.
    pub fn forget(&self, sub: &str) {
        if let Ok(mut q) = self.queues.lock() {
            q.remove(sub);
        }
    }
}

async fn deliver(
    cfg: NotifyConfig,
    mut rx: mpsc::Receiver<Job>,
    stats: Arc<NotifyStats>,
    sub: String,
) {
    while let Some(job) = rx.recv().await {
        let mut backoff = cfg.backoff;
        let mut ok = false;
        for attempt in 1..=cfg.attempts.max(1) {
            match http::request(Method::POST, &job.url, job.body.clone(), cfg.timeout).await {
                Ok((st, _)) if st.is_success() => {
                    ok = true;
                    break;
                }
                Ok((st, _)) => {
                    debug!(subscription = %sub, attempt, status = %st, "notification refused");
                }
                Err(e) => debug!(subscription = %sub, attempt, error = %e, "notification failed"),
            }
            stats.failed_attempts.fetch_add(1, Ordering::Relaxed);
            if attempt < cfg.attempts {
                tokio::time::sleep(backoff).await;
                backoff = (backoff * 2).min(cfg.max_backoff);
            }
        }
        if ok {
            stats.delivered.fetch_add(1, Ordering::Relaxed);
        } else {
            stats.abandoned.fetch_add(1, Ordering::Relaxed);
            warn!(subscription = %sub, url = %job.url, "notification abandoned after retries");
        }
    }
}
