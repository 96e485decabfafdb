//! The durable state of pfcp-ctl: an append-only journal of associations
//! and sessions in `state_dir`, replayed at start so that a restarted
//! pfcp-ctl resumes with the same Recovery Time Stamp, associations and
//! sessions (the SMF sees no restart).
//!
//! Each record is `[u32 length][u32 CRC-32][postcard payload]`. A record
//! torn by a crash fails its length or CRC check and ends the replay there
//! (the file is truncated to the last good record).
//!
//! A [`Writer`] thread owns the file: the event loop hands it records in
//! batches and holds the answers that depend on them until the thread says
//! they are written (fsynced, with `journal_fsync = "always"`), so neither a
//! slow disk nor an fsync ever stalls heartbeats. When the file grows to
//! several times the live state the thread asks for a snapshot; the loop
//! streams one a slice at a time, the thread writes it to a temporary file
//! followed by every record that arrived meanwhile, and renames it over the
//! journal (replay keeps the last record of each session, so the result is
//! exact).

use std::collections::BTreeMap;
use std::fs::{File, OpenOptions};
use std::io::{self, Read, Write};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Condvar, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};

use crate::session::SessionState;
use upf_rules::Pfd;

/// Version of the record format (2: PFD records, FQ-CSIDs and the
/// establishment's sequence number in the session state).
pub const FORMAT: u32 = 2;

/// An association as journalled.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct AssocRecord {
    /// The peer's Node ID (text).
    pub node: String,
    /// Its address.
    pub addr: SocketAddr,
    /// Its Recovery Time Stamp.
    pub recovery: u32,
}

/// One journal record.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub enum Record {
    /// First record: format and our Recovery Time Stamp.
    Header {
        /// Record format.
        format: u32,
        /// Our Recovery Time Stamp (NTP seconds).
        recovery: u32,
    },
    /// An association was set up or updated.
    Assoc(AssocRecord),
    /// An association ended.
    AssocGone {
        /// The peer's Node ID.
        node: String,
    },
    /// A session was created or changed (its whole state).
    Session {
        /// UP SEID.
        seid: u64,
        /// The state.
        state: Box<SessionState>,
    },
    /// A session was deleted.
    SessionGone {
        /// UP SEID.
        seid: u64,
    },
    /// The PFDs of an application (empty: removed).
    Pfds {
        /// Application ID.
        app: String,
        /// Its PFDs.
        pfds: Vec<Pfd>,
    },
}

/// Everything replayed from a journal.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Restored {
    /// Our Recovery Time Stamp, if a journal existed.
    pub recovery: Option<u32>,
    /// Associations by Node ID.
    pub assocs: BTreeMap<String, AssocRecord>,
    /// Sessions by UP SEID.
    pub sessions: BTreeMap<u64, Box<SessionState>>,
    /// PFDs by application ID.
    pub pfds: BTreeMap<String, Vec<Pfd>>,
    /// Records read.
    pub records: u64,
    /// Bytes of a torn tail that were dropped.
    pub torn_bytes: u64,
}

/// Journal errors.
#[derive(Debug, thiserror::Error)]
pub enum JournalError {
    /// The file could not be read or written.
    #[error("journal {path}: {source}")]
    Io {
        /// The journal file.
        path: PathBuf,
        /// The OS error.
        source: io::Error,
    },
    /// The file was written by an incompatible version.
    #[error("journal {0}: unsupported format")]
    Format(PathBuf),
    /// Another pfcp-ctl holds the journal (same `state_dir`).
    #[error("journal {0} is locked by another pfcp-ctl")]
    Locked(PathBuf),
}

/// The journal file, opened and replayed (the writer thread owns it).
pub struct Journal {
    path: PathBuf,
    file: File,
    size: u64,
    recovery: u32,
    /// Records in the file (for the compaction trigger).
    records: u64,
    pending: Vec<u8>,
    /// Holds the state directory's lock while the journal is open.
    _lock: File,
}

/// [`Record`] by reference: the same encoding (postcard writes an enum as
/// its variant index and a `Box<T>` or `&T` as `T`), without a copy.
#[derive(Serialize)]
enum RecordRef<'a> {
    #[allow(dead_code)]
    Header {
        format: u32,
        recovery: u32,
    },
    #[allow(dead_code)]
    Assoc(&'a AssocRecord),
    #[allow(dead_code)]
    AssocGone {
        node: &'a str,
    },
    Session {
        seid: u64,
        state: &'a SessionState,
    },
}

fn frame<T: Serialize>(r: &T, out: &mut Vec<u8>) {
    let start = out.len();
    out.extend_from_slice(&[0u8; 8]);
    match postcard::to_extend(r, std::mem::take(out)) {
        Ok(v) => *out = v,
        Err(_) => return,
    }
    let len = (out.len() - start - 8) as u32;
    let crc = crc32fast::hash(&out[start + 8..]);
    out[start..start + 4].copy_from_slice(&len.to_le_bytes());
    out[start + 4..start + 8].copy_from_slice(&crc.to_le_bytes());
}

/// Appends the framed encoding of `r` (length, CRC-32, postcard) to `out`.
pub fn encode(r: &Record, out: &mut Vec<u8>) {
    frame(r, out);
}

/// Appends the framed [`Record::Session`] of `state` to `out`.
pub fn encode_session(seid: u64, state: &SessionState, out: &mut Vec<u8>) {
    frame(&RecordRef::Session { seid, state }, out);
}

fn apply(st: &mut Restored, r: Record) {
    match r {
        Record::Header { recovery, .. } => st.recovery = Some(recovery),
        Record::Assoc(a) => {
            st.assocs.insert(a.node.clone(), a);
        }
        Record::AssocGone { node } => {
            st.assocs.remove(&node);
        }
        Record::Session { seid, state } => {
            st.sessions.insert(seid, state);
        }
        Record::SessionGone { seid } => {
            st.sessions.remove(&seid);
        }
        Record::Pfds { app, pfds } => {
            if pfds.is_empty() {
                st.pfds.remove(&app);
            } else {
                st.pfds.insert(app, pfds);
            }
        }
    }
}

impl Journal {
    /// Opens (or creates) `dir/pfcp-ctl.journal`, replays it, and returns the
    /// journal and what it held. A new journal starts with `recovery`.
    pub fn open(dir: &Path, recovery: u32) -> Result<(Journal, Restored), JournalError> {
        let path = dir.join("pfcp-ctl.journal");
        let io_err = |source| JournalError::Io {
            path: path.clone(),
            source,
        };
        std::fs::create_dir_all(dir).map_err(io_err)?;
        // One writer per state directory: a second pfcp-ctl on the same
        // state would answer the same SMFs from a diverging copy.
        let lock = OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(dir.join("pfcp-ctl.lock"))
            .map_err(io_err)?;
        match lock.try_lock() {
            Ok(()) => {}
            Err(std::fs::TryLockError::WouldBlock) => return Err(JournalError::Locked(path)),
            Err(std::fs::TryLockError::Error(e)) => return Err(io_err(e)),
        }
        let mut st = Restored::default();
        let mut good = 0u64;
        if let Ok(mut f) = File::open(&path) {
            let mut buf = Vec::new();
            f.read_to_end(&mut buf).map_err(io_err)?;
            let mut off = 0usize;
            while off + 8 <= buf.len() {
                let len = u32::from_le_bytes([buf[off], buf[off + 1], buf[off + 2], buf[off + 3]])
                    as usize;
                let crc =
                    u32::from_le_bytes([buf[off + 4], buf[off + 5], buf[off + 6], buf[off + 7]]);
                let Some(payload) = buf.get(off + 8..off + 8 + len) else {
                    break;
                };
                if crc32fast::hash(payload) != crc {
                    break;
                }
                let Ok(rec) = postcard::from_bytes::<Record>(payload) else {
                    break;
                };
                if let Record::Header { format, .. } = &rec {
                    if *format != FORMAT {
                        return Err(JournalError::Format(path.clone()));
                    }
                }
                apply(&mut st, rec);
                st.records += 1;
                off += 8 + len;
                good = off as u64;
            }
            st.torn_bytes = (buf.len() - off) as u64;
        }
        let file = OpenOptions::new()
            .create(true)
            .append(true)
            .open(&path)
            .map_err(io_err)?;
        if st.torn_bytes > 0 {
            file.set_len(good).map_err(io_err)?;
        }
        let mut j = Journal {
            path,
            file,
            size: good,
            recovery: st.recovery.unwrap_or(recovery),
            records: st.records,
            pending: Vec::new(),
            _lock: lock,
        };
        if st.recovery.is_none() {
            j.append(&Record::Header {
                format: FORMAT,
                recovery,
            });
            j.write()?;
            j.sync()?;
        }
        Ok((j, st))
    }

    fn io_err(&self, source: io::Error) -> JournalError {
        JournalError::Io {
            path: self.path.clone(),
            source,
        }
    }

    /// Queues a record (written by [`Journal::write`]).
    pub fn append(&mut self, r: &Record) {
        encode(r, &mut self.pending);
        self.records += 1;
    }

    /// Queues `n` encoded records.
    pub fn append_encoded(&mut self, b: &[u8], n: u64) {
        self.pending.extend_from_slice(b);
        self.records += n;
    }

    /// True when the file has grown well past the live state (`live`
    /// records): time for a compaction.
    fn wants_compaction(&self, live: u64) -> bool {
        self.size > 4 << 20 && self.records > 4 * live.max(1)
    }

    /// Writes queued records to the file (the kernel has them afterwards:
    /// they survive the process, not necessarily the machine).
    pub fn write(&mut self) -> Result<(), JournalError> {
        if !self.pending.is_empty() {
            let r = self.file.write_all(&self.pending);
            r.map_err(|e| self.io_err(e))?;
            self.size += self.pending.len() as u64;
            self.pending.clear();
        }
        Ok(())
    }

    /// fsyncs the file.
    pub fn sync(&mut self) -> Result<(), JournalError> {
        let r = self.file.sync_data();
        r.map_err(|e| self.io_err(e))
    }

    /// Current file size.
    pub fn size(&self) -> u64 {
        self.size
    }

    /// Records in the file.
    pub fn records(&self) -> u64 {
        self.records
    }
}

/// What the node's loop hands to the writer thread.
#[derive(Debug)]
enum Msg {
    /// A change of state.
    Rec(Record),
    /// A snapshot starts (compaction): the header goes to a new file.
    SnapBegin,
    /// Part of the snapshot.
    SnapRec(Record),
    /// Encoded records (see [`encode_session`]) and how many.
    Bytes(Vec<u8>, u64),
    /// An encoded record of the snapshot.
    SnapBytes(Vec<u8>),
    /// The snapshot is complete: the new file replaces the journal.
    SnapEnd,
}

#[derive(Default)]
struct Inbox {
    msgs: Vec<Msg>,
    /// Generation of the last message in `msgs`.
    gen: u64,
    /// Live records (sessions, associations, PFD sets) as the loop counts them.
    live: u64,
    stop: bool,
}

struct Shared {
    inbox: Mutex<Inbox>,
    /// The file: the writer thread holds it while it works, the loop while
    /// it writes a batch itself (see [`Writer::commit`]).
    journal: Mutex<Journal>,
    cv: Condvar,
    /// Every message up to this generation is written to the file.
    written: AtomicU64,
    /// Every message up to this generation is fsynced.
    synced: AtomicU64,
    /// The file grew well past the live state: the loop should stream a
    /// snapshot.
    want_snapshot: AtomicBool,
    /// A write or sync failed (logged by the thread).
    failed: AtomicBool,
}

/// When the writer thread fsyncs.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SyncPolicy {
    /// After every write (the loop holds answers until then).
    Always,
    /// At this interval.
    Interval(Duration),
    /// Never (the OS decides).
    Never,
}

/// A write of the loop's own that took this long (the page cache was
/// full of dirty pages and the write waited for the disk)...
const SLOW_WRITE: Duration = Duration::from_millis(2);
/// ... sends the batches to the writer thread again for this long.
const SLOW_WRITE_BACKOFF: Duration = Duration::from_secs(1);

/// The journal's writer: the loop appends records and commits them in
/// batches. Without a snapshot under way and unless every answer waits for
/// an fsync (`Always`), the loop writes the batch to the file itself at the
/// commit (one `write` into the page cache: the answers need no hand-off to
/// another thread and back); the fsync of `Interval` runs on its own
/// thread. With `Always`, while a snapshot streams, and for a second after
/// one of the loop's writes was slow (`SLOW_WRITE`), the writer thread
/// writes (and fsyncs) without blocking the loop, and compacts the journal
/// from the snapshot the loop streams to it a slice at a time.
pub struct Writer {
    shared: Arc<Shared>,
    thread: Option<JoinHandle<()>>,
    batch: Vec<Msg>,
    gen: u64,
    committed: u64,
    /// Session records encoded since the last message in `batch`, and how many.
    bytes: Vec<u8>,
    nbytes: u64,
    /// The loop may write batches itself (the policy is not `Always`).
    inline: bool,
    /// After a slow write of its own the loop hands batches to the thread
    /// again until then (the page cache is being written back: a write
    /// may wait for the disk, and the loop must not).
    inline_after: Option<Instant>,
    /// A snapshot was begun and its end not yet written by the thread.
    snapshot_open: bool,
    /// The last generation handed to the thread: the loop writes itself
    /// only once the thread has written everything up to it.
    to_thread: u64,
}

impl Writer {
    /// Starts the thread on `journal`; `wake` is called after each write.
    pub fn start(
        journal: Journal,
        policy: SyncPolicy,
        wake: impl Fn() + Send + 'static,
    ) -> Result<Writer, JournalError> {
        let shared = Arc::new(Shared {
            inbox: Mutex::new(Inbox::default()),
            journal: Mutex::new(journal),
            cv: Condvar::new(),
            written: AtomicU64::new(0),
            synced: AtomicU64::new(0),
            want_snapshot: AtomicBool::new(false),
            failed: AtomicBool::new(false),
        });
        let sh = shared.clone();
        let thread = std::thread::Builder::new()
            .name("pfcp-journal".into())
            .spawn(move || writer_thread(policy, sh, wake))
            .map_err(|source| JournalError::Io {
                path: PathBuf::from("pfcp-journal thread"),
                source,
            })?;
        Ok(Writer {
            shared,
            thread: Some(thread),
            batch: Vec::new(),
            gen: 0,
            committed: 0,
            bytes: Vec::with_capacity(64 << 10),
            nbytes: 0,
            inline: policy != SyncPolicy::Always,
            inline_after: None,
            snapshot_open: false,
            to_thread: 0,
        })
    }

    /// The session records encoded so far become one message (before any
    /// other message, so the order of the records is kept).
    fn seal(&mut self) {
        if self.nbytes > 0 {
            let b = std::mem::take(&mut self.bytes);
            self.batch.push(Msg::Bytes(b, self.nbytes));
            self.nbytes = 0;
        }
    }

    /// Queues a record.
    pub fn append(&mut self, r: Record) {
        self.seal();
        self.batch.push(Msg::Rec(r));
        self.gen += 1;
    }

    /// Queues the [`Record::Session`] of `state`, encoded at once into the
    /// writer's buffer (no copy of the state, no allocation per record).
    pub fn append_session(&mut self, seid: u64, state: &SessionState) {
        encode_session(seid, state, &mut self.bytes);
        self.nbytes += 1;
        self.gen += 1;
    }

    /// One encoded record of the snapshot.
    pub fn snapshot_bytes(&mut self, b: Vec<u8>) {
        self.seal();
        self.batch.push(Msg::SnapBytes(b));
        self.gen += 1;
    }

    /// Writes the queued records, or hands them to the thread (see
    /// [`Writer`]); `live` is the number of live records (for the
    /// compaction trigger). Returns the generation that covers them.
    pub fn commit(&mut self, live: u64) -> u64 {
        self.seal();
        if self.batch.is_empty() {
            return self.committed;
        }
        if self.snapshot_open && self.written() >= self.to_thread {
            self.snapshot_open = false;
        }
        let snap = self.batch.iter().any(|m| {
            matches!(
                m,
                Msg::SnapBegin | Msg::SnapRec(_) | Msg::SnapBytes(_) | Msg::SnapEnd
            )
        });
        if self.inline_after.is_some_and(|t| Instant::now() >= t) {
            self.inline_after = None;
        }
        if self.inline
            && self.inline_after.is_none()
            && !snap
            && !self.snapshot_open
            && self.written() >= self.to_thread
        {
            let t = Instant::now();
            self.write_inline(live);
            if t.elapsed() >= SLOW_WRITE {
                tracing::debug!(us = t.elapsed().as_micros() as u64, "slow journal write");
                self.inline_after = Some(Instant::now() + SLOW_WRITE_BACKOFF);
            }
        } else {
            self.snapshot_open |= snap;
            if let Ok(mut i) = self.shared.inbox.lock() {
                i.msgs.append(&mut self.batch);
                i.gen = self.gen;
                i.live = live;
            }
            self.shared.cv.notify_one();
            self.to_thread = self.gen;
        }
        self.committed = self.gen;
        self.committed
    }

    /// The loop's own write of a batch without snapshot messages (the
    /// thread has written everything before it).
    fn write_inline(&mut self, live: u64) {
        let sh = &self.shared;
        let Ok(mut j) = sh.journal.lock() else {
            sh.failed.store(true, Ordering::Release);
            return;
        };
        let mut spare = None;
        for m in self.batch.drain(..) {
            match m {
                Msg::Rec(r) => j.append(&r),
                Msg::Bytes(b, n) => {
                    j.append_encoded(&b, n);
                    spare = Some(b);
                }
                Msg::SnapBegin | Msg::SnapRec(_) | Msg::SnapBytes(_) | Msg::SnapEnd => {}
            }
        }
        if let Err(e) = j.write() {
            tracing::error!(error = %e, "journal write failed");
            sh.failed.store(true, Ordering::Release);
        }
        sh.written.store(self.gen, Ordering::Release);
        if j.wants_compaction(live) {
            sh.want_snapshot.store(true, Ordering::Release);
        }
        drop(j);
        // The buffer goes round again (no allocation per batch).
        if let Some(mut b) = spare {
            if self.bytes.capacity() == 0 {
                b.clear();
                self.bytes = b;
            }
        }
    }

    /// Everything up to this generation is in the file.
    pub fn written(&self) -> u64 {
        self.shared.written.load(Ordering::Acquire)
    }

    /// Everything up to this generation is fsynced.
    pub fn synced(&self) -> u64 {
        self.shared.synced.load(Ordering::Acquire)
    }

    /// True when the thread asks for a snapshot (the file is several times
    /// the live state).
    pub fn wants_snapshot(&self) -> bool {
        self.shared.want_snapshot.load(Ordering::Acquire)
    }

    /// True if a write or sync failed since the start.
    pub fn failed(&self) -> bool {
        self.shared.failed.load(Ordering::Acquire)
    }

    /// Starts a snapshot: records follow with [`Writer::snapshot_record`].
    pub fn snapshot_begin(&mut self) {
        self.shared.want_snapshot.store(false, Ordering::Release);
        self.seal();
        self.batch.push(Msg::SnapBegin);
        self.gen += 1;
    }

    /// One record of the snapshot.
    pub fn snapshot_record(&mut self, r: Record) {
        self.seal();
        self.batch.push(Msg::SnapRec(r));
        self.gen += 1;
    }

    /// Ends the snapshot; the thread swaps the files.
    pub fn snapshot_end(&mut self) {
        self.seal();
        self.batch.push(Msg::SnapEnd);
        self.gen += 1;
    }

    /// Writes and fsyncs everything queued, then stops the thread.
    pub fn stop(mut self, live: u64) {
        self.commit(live);
        self.shutdown();
    }

    fn shutdown(&mut self) {
        if let Ok(mut i) = self.shared.inbox.lock() {
            i.stop = true;
        }
        self.shared.cv.notify_one();
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

impl Drop for Writer {
    fn drop(&mut self) {
        self.shutdown();
    }
}

struct Snapshot {
    file: File,
    tmp: PathBuf,
    buf: Vec<u8>,
    /// Records appended to the journal since the snapshot began: they go
    /// after the snapshot (the last record of a key wins on replay).
    since: Vec<u8>,
    records: u64,
}

/// The `interval` fsync runs on its own thread, on a handle of the same
/// file, so a slow fsync never holds up the writes the answers wait for.
fn syncer_thread(file: Arc<Mutex<Option<File>>>, every: Duration, sh: Arc<Shared>) {
    loop {
        std::thread::sleep(every);
        let stop = sh.inbox.lock().map(|i| i.stop).unwrap_or(true);
        let gen = sh.written.load(Ordering::Acquire);
        if gen > sh.synced.load(Ordering::Acquire) {
            if let Ok(f) = file.lock() {
                if let Some(f) = f.as_ref() {
                    if let Err(e) = f.sync_data() {
                        tracing::error!(error = %e, "journal fsync failed");
                        sh.failed.store(true, Ordering::Release);
                    }
                }
            }
            sh.synced.store(gen, Ordering::Release);
        }
        if stop {
            return;
        }
    }
}

fn writer_thread(policy: SyncPolicy, sh: Arc<Shared>, wake: impl Fn()) {
    let mut snap: Option<Snapshot> = None;
    let mut dirty = false;
    // The handle the syncer fsyncs (replaced after a compaction).
    let first = sh.journal.lock().ok().and_then(|j| j.file.try_clone().ok());
    let sync_file = Arc::new(Mutex::new(first));
    let syncer = match policy {
        SyncPolicy::Interval(d) => {
            let (f, s2) = (sync_file.clone(), sh.clone());
            std::thread::Builder::new()
                .name("pfcp-fsync".into())
                .spawn(move || syncer_thread(f, d, s2))
                .ok()
        }
        _ => None,
    };
    loop {
        let (msgs, gen, live, stop) = {
            let Ok(mut i) = sh.inbox.lock() else { return };
            while i.msgs.is_empty() && !i.stop {
                match sh.cv.wait(i) {
                    Ok(g) => i = g,
                    Err(_) => return,
                }
            }
            (std::mem::take(&mut i.msgs), i.gen, i.live, i.stop)
        };
        // The loop may have written batches itself since (never while this
        // thread has messages it has not written).
        let gen = gen.max(sh.written.load(Ordering::Acquire));
        let Ok(mut j) = sh.journal.lock() else { return };
        let fail = |what: &str, e: &dyn std::fmt::Display| {
            tracing::error!(error = %e, "journal {what} failed");
            sh.failed.store(true, Ordering::Release);
        };
        for m in msgs {
            match m {
                Msg::Rec(r) => {
                    if let Some(s) = snap.as_mut() {
                        encode(&r, &mut s.since);
                        s.records += 1;
                    }
                    j.append(&r);
                }
                Msg::Bytes(b, n) => {
                    if let Some(s) = snap.as_mut() {
                        s.since.extend_from_slice(&b);
                        s.records += n;
                    }
                    j.append_encoded(&b, n);
                }
                Msg::SnapBytes(b) => {
                    if let Some(s) = snap.as_mut() {
                        s.buf.extend_from_slice(&b);
                        s.records += 1;
                    }
                }
                Msg::SnapBegin => {
                    let tmp = j.path.with_extension("journal.tmp");
                    match File::create(&tmp) {
                        Ok(file) => {
                            let mut buf = Vec::new();
                            encode(
                                &Record::Header {
                                    format: FORMAT,
                                    recovery: j.recovery,
                                },
                                &mut buf,
                            );
                            snap = Some(Snapshot {
                                file,
                                tmp,
                                buf,
                                since: Vec::new(),
                                records: 1,
                            });
                        }
                        Err(e) => fail("snapshot", &e),
                    }
                }
                Msg::SnapRec(r) => {
                    if let Some(s) = snap.as_mut() {
                        encode(&r, &mut s.buf);
                        s.records += 1;
                        if s.buf.len() >= 1 << 20 {
                            if let Err(e) = s.file.write_all(&s.buf) {
                                fail("snapshot write", &e);
                                snap = None;
                            } else {
                                s.buf.clear();
                            }
                        }
                    }
                }
                Msg::SnapEnd => {
                    // Everything for the old file first.
                    if let Err(e) = j.write() {
                        fail("write", &e);
                    }
                    if let Some(mut s) = snap.take() {
                        match finish_snapshot(&mut j, &mut s) {
                            Ok(()) => {
                                if let Ok(mut f) = sync_file.lock() {
                                    *f = j.file.try_clone().ok();
                                }
                                tracing::info!(
                                    bytes = j.size,
                                    records = j.records,
                                    "journal compacted"
                                )
                            }
                            Err(e) => fail("compaction", &e),
                        }
                    }
                }
            }
        }
        if let Err(e) = j.write() {
            fail("write", &e);
        }
        dirty |= gen > sh.synced.load(Ordering::Acquire);
        sh.written.store(gen, Ordering::Release);
        let sync_now = match policy {
            SyncPolicy::Always => dirty,
            // The syncer thread does it; at the stop, once more here.
            SyncPolicy::Interval(_) | SyncPolicy::Never => stop && dirty,
        };
        if sync_now {
            if let Err(e) = j.sync() {
                fail("fsync", &e);
            }
            dirty = false;
            sh.synced.store(gen, Ordering::Release);
        }
        let compact = snap.is_none() && j.wants_compaction(live);
        drop(j);
        wake();
        if stop {
            if let Some(t) = syncer {
                let _ = t.join();
            }
            return;
        }
        if compact && !sh.want_snapshot.load(Ordering::Acquire) {
            sh.want_snapshot.store(true, Ordering::Release);
            wake();
        }
    }
}

fn finish_snapshot(j: &mut Journal, s: &mut Snapshot) -> Result<(), io::Error> {
    s.file.write_all(&s.buf)?;
    s.file.write_all(&s.since)?;
    s.file.sync_all()?;
    std::fs::rename(&s.tmp, &j.path)?;
    j.file = OpenOptions::new().append(true).open(&j.path)?;
    j.size = s.file.metadata()?.len();
    j.records = s.records;
    if let Some(d) = j.path.parent() {
        if let Ok(dir) = File::open(d) {
            let _ = dir.sync_all();
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn dir(tag: &str) -> PathBuf {
        let d = std::env::temp_dir().join(format!("pfcp-journal-{tag}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&d);
        d
    }

    fn session(seid: u64) -> Record {
        let mut s = SessionState::default();
        s.rules.seid = seid;
        Record::Session {
            seid,
            state: Box::new(s),
        }
    }

    fn wait_written(w: &Writer, gen: u64) {
        for _ in 0..2000 {
            if w.written() >= gen {
                return;
            }
            std::thread::sleep(Duration::from_millis(1));
        }
        panic!("generation {gen} not written");
    }

    #[test]
    fn replay_restores_state_and_recovery() {
        let d = dir("replay");
        let (j, st) = Journal::open(&d, 1234).unwrap();
        assert_eq!(st.recovery, None);
        let mut w = Writer::start(j, SyncPolicy::Always, || {}).unwrap();
        w.append(Record::Assoc(AssocRecord {
            node: "smf".into(),
            addr: "198.18.4.1:8805".parse().unwrap(),
            recovery: 9,
        }));
        w.append(session(7));
        w.append(session(8));
        w.append(Record::SessionGone { seid: 8 });
        w.append(Record::Pfds {
            app: "video".into(),
            pfds: vec![Pfd::default()],
        });
        let g = w.commit(3);
        wait_written(&w, g);
        for _ in 0..2000 {
            if w.synced() >= g {
                break;
            }
            std::thread::sleep(Duration::from_millis(1));
        }
        assert_eq!(w.synced(), g, "always: fsynced after the write");
        drop(w);
        let (_j, st) = Journal::open(&d, 999).unwrap();
        assert_eq!(st.recovery, Some(1234), "the recovery time stamp survives");
        assert_eq!(st.assocs.len(), 1);
        assert_eq!(st.sessions.keys().copied().collect::<Vec<_>>(), vec![7]);
        assert_eq!(st.pfds.len(), 1);
        let _ = std::fs::remove_dir_all(&d);
    }

    #[test]
    fn session_by_reference_encodes_like_the_record() {
        let mut s = SessionState::default();
        s.rules.seid = 42;
        s.peer_node = "smf".into();
        let mut a = Vec::new();
        encode(
            &Record::Session {
                seid: 42,
                state: Box::new(s.clone()),
            },
            &mut a,
        );
        let mut b = Vec::new();
        encode_session(42, &s, &mut b);
        assert_eq!(a, b);
    }

    #[test]
    fn second_opener_is_refused() {
        let d = dir("lock");
        let (_j, _) = Journal::open(&d, 1).unwrap();
        assert!(matches!(Journal::open(&d, 1), Err(JournalError::Locked(_))));
        let _ = std::fs::remove_dir_all(&d);
    }

    #[test]
    fn torn_tail_is_dropped() {
        let d = dir("torn");
        let (mut j, _) = Journal::open(&d, 1).unwrap();
        j.append(&Record::SessionGone { seid: 1 });
        j.write().unwrap();
        let size = j.size();
        drop(j);
        // A crash in the middle of the next record.
        let mut f = OpenOptions::new()
            .append(true)
            .open(d.join("pfcp-ctl.journal"))
            .unwrap();
        f.write_all(&[50, 0, 0, 0, 1, 2, 3]).unwrap();
        drop(f);
        let (j, st) = Journal::open(&d, 1).unwrap();
        assert_eq!(st.records, 2);
        assert_eq!(st.torn_bytes, 7);
        assert_eq!(j.size(), size);
        let _ = std::fs::remove_dir_all(&d);
    }

    fn state(seid: u64) -> SessionState {
        let mut s = SessionState::default();
        s.rules.seid = seid;
        s
    }

    #[test]
    fn loop_writes_itself_outside_snapshots() {
        let d = dir("inline");
        let (j, _) = Journal::open(&d, 6).unwrap();
        let mut w =
            Writer::start(j, SyncPolicy::Interval(Duration::from_millis(5)), || {}).unwrap();
        for i in 0..100u64 {
            w.append_session(i, &state(i));
        }
        w.append(Record::SessionGone { seid: 50 });
        w.append_session(101, &state(101));
        let g = w.commit(100);
        assert_eq!(w.written(), g, "written by the commit itself");
        // A snapshot goes through the thread, and so does everything
        // committed until the thread has written its end.
        w.snapshot_begin();
        for i in (0..102u64).filter(|i| *i != 50 && *i != 100) {
            w.snapshot_record(Record::Session {
                seid: i,
                state: Box::new(state(i)),
            });
        }
        w.commit(100);
        w.append_session(200, &state(200));
        w.append(Record::SessionGone { seid: 0 });
        w.commit(100);
        w.snapshot_end();
        let g = w.commit(100);
        wait_written(&w, g);
        w.append_session(300, &state(300));
        let g = w.commit(101);
        assert_eq!(
            w.written(),
            g,
            "the loop writes itself again after the snapshot"
        );
        for _ in 0..2000 {
            if w.synced() >= g {
                break;
            }
            std::thread::sleep(Duration::from_millis(1));
        }
        assert_eq!(
            w.synced(),
            g,
            "interval: the syncer fsyncs the loop's writes"
        );
        w.stop(101);
        let (_j, st) = Journal::open(&d, 0).unwrap();
        let mut want: Vec<u64> = (1..102u64).filter(|i| *i != 50 && *i != 100).collect();
        want.push(200);
        want.push(300);
        assert_eq!(st.sessions.keys().copied().collect::<Vec<_>>(), want);
        let _ = std::fs::remove_dir_all(&d);
    }

    #[test]
    fn snapshot_with_concurrent_changes_replays_exactly() {
        let d = dir("compact");
        let (j, _) = Journal::open(&d, 5).unwrap();
        let mut w = Writer::start(j, SyncPolicy::Never, || {}).unwrap();
        // Churn: 3000 sessions, the even ones deleted, every one rewritten.
        for i in 0..3000u64 {
            w.append(session(i));
            w.append(session(i));
            if i % 2 == 0 {
                w.append(Record::SessionGone { seid: i });
            }
        }
        w.commit(1500);
        // The loop streams its live state, while changes keep coming.
        w.snapshot_begin();
        for i in (1..3000u64).step_by(2).take(500) {
            w.snapshot_record(session(i));
        }
        w.append(Record::SessionGone { seid: 1 }); // already in the snapshot
        w.append(session(4000)); // new, not in the snapshot's key list
        w.commit(1501);
        for i in (1..3000u64).step_by(2).skip(500) {
            if i == 2999 {
                continue; // deleted before the loop reached it
            }
            w.snapshot_record(session(i));
        }
        w.append(Record::SessionGone { seid: 2999 });
        w.snapshot_end();
        let g = w.commit(1499);
        wait_written(&w, g);
        w.stop(1499);
        let (j, st) = Journal::open(&d, 0).unwrap();
        let mut want: Vec<u64> = (3..2999u64).step_by(2).collect();
        want.push(4000);
        assert_eq!(st.sessions.keys().copied().collect::<Vec<_>>(), want);
        assert_eq!(st.recovery, Some(5));
        assert!(j.records() < 2000, "compacted: {} records", j.records());
        let _ = std::fs::remove_dir_all(&d);
    }
}
