//! The durable state of pfcp-ctl: an append-only journal of associations
//! and sessions in `state_dir`, replayed at start so that a restarted
//! pfcp-ctl resumes with the same Recovery Time Stamp, associations and
//! sessions (the SMF sees no restart).
//!
//! Each record is `[u32 length][u32 CRC-32][postcard payload]`. A record
//! torn by a crash fails its length or CRC check and ends the replay there
//! (the file is truncated to the last good record). When the file grows to
//! several times the live state it is compacted: a snapshot is written to a
//! temporary file and renamed over the journal.

use std::collections::BTreeMap;
use std::fs::{File, OpenOptions};
use std::io::{self, Read, Write};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};

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
    pub sessions: BTreeMap<u64, SessionState>,
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

/// An open journal.
pub struct Journal {
    path: PathBuf,
    file: File,
    /// Holds the state directory's lock while the journal is open.
    _lock: File,
    size: u64,
    live: Restored,
    pending: Vec<u8>,
    dirty: bool,
}

fn encode(r: &Record, out: &mut Vec<u8>) {
    let payload = postcard::to_allocvec(r).unwrap_or_default();
    out.extend_from_slice(&(payload.len() as u32).to_le_bytes());
    out.extend_from_slice(&crc32fast::hash(&payload).to_le_bytes());
    out.extend_from_slice(&payload);
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
            st.sessions.insert(seid, *state);
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
            _lock: lock,
            size: good,
            live: Restored {
                recovery: st.recovery,
                assocs: st.assocs.clone(),
                sessions: st.sessions.clone(),
                pfds: st.pfds.clone(),
                ..Default::default()
            },
            pending: Vec::new(),
            dirty: false,
        };
        if st.recovery.is_none() {
            j.append(Record::Header {
                format: FORMAT,
                recovery,
            });
            j.live.recovery = Some(recovery);
            j.flush(true)?;
        }
        Ok((j, st))
    }

    /// Queues a record (written by [`Journal::flush`]).
    pub fn append(&mut self, r: Record) {
        encode(&r, &mut self.pending);
        apply(&mut self.live, r);
    }

    /// Writes queued records; `sync` also fsyncs. Compacts when the file
    /// is far larger than the live state.
    pub fn flush(&mut self, sync: bool) -> Result<(), JournalError> {
        let io_err = |source| JournalError::Io {
            path: self.path.clone(),
            source,
        };
        if !self.pending.is_empty() {
            self.file.write_all(&self.pending).map_err(io_err)?;
            self.size += self.pending.len() as u64;
            self.pending.clear();
            self.dirty = true;
        }
        if sync && self.dirty {
            self.file.sync_data().map_err(io_err)?;
            self.dirty = false;
        }
        let live = 64 * (self.live.sessions.len() as u64 + self.live.assocs.len() as u64 + 1) * 16;
        if self.size > 4 << 20 && self.size > 4 * live {
            self.compact()?;
        }
        Ok(())
    }

    /// Rewrites the journal as a snapshot of the live state.
    pub fn compact(&mut self) -> Result<(), JournalError> {
        let io_err = |source| JournalError::Io {
            path: self.path.clone(),
            source,
        };
        let tmp = self.path.with_extension("journal.tmp");
        let mut buf = Vec::new();
        encode(
            &Record::Header {
                format: FORMAT,
                recovery: self.live.recovery.unwrap_or(0),
            },
            &mut buf,
        );
        for a in self.live.assocs.values() {
            encode(&Record::Assoc(a.clone()), &mut buf);
        }
        for (app, pfds) in &self.live.pfds {
            encode(
                &Record::Pfds {
                    app: app.clone(),
                    pfds: pfds.clone(),
                },
                &mut buf,
            );
        }
        for (seid, s) in &self.live.sessions {
            encode(
                &Record::Session {
                    seid: *seid,
                    state: Box::new(s.clone()),
                },
                &mut buf,
            );
        }
        {
            let mut f = File::create(&tmp).map_err(io_err)?;
            f.write_all(&buf).map_err(io_err)?;
            f.sync_all().map_err(io_err)?;
        }
        std::fs::rename(&tmp, &self.path).map_err(io_err)?;
        self.file = OpenOptions::new()
            .append(true)
            .open(&self.path)
            .map_err(io_err)?;
        self.size = buf.len() as u64;
        Ok(())
    }

    /// Current file size.
    pub fn size(&self) -> u64 {
        self.size
    }

    /// True if records wait to be written.
    pub fn has_pending(&self) -> bool {
        !self.pending.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn dir(tag: &str) -> PathBuf {
        let d = std::env::temp_dir().join(format!("pfcp-journal-{tag}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&d);
        d
    }

    #[test]
    fn replay_restores_state_and_recovery() {
        let d = dir("replay");
        let (mut j, st) = Journal::open(&d, 1234).unwrap();
        assert_eq!(st.recovery, None);
        j.append(Record::Assoc(AssocRecord {
            node: "smf".into(),
            addr: "198.18.4.1:8805".parse().unwrap(),
            recovery: 9,
        }));
        let mut s = SessionState::default();
        s.rules.seid = 7;
        j.append(Record::Session {
            seid: 7,
            state: Box::new(s.clone()),
        });
        j.append(Record::Session {
            seid: 8,
            state: Box::new(s.clone()),
        });
        j.append(Record::SessionGone { seid: 8 });
        j.flush(true).unwrap();
        drop(j);
        let (_j, st) = Journal::open(&d, 999).unwrap();
        assert_eq!(st.recovery, Some(1234), "the recovery time stamp survives");
        assert_eq!(st.assocs.len(), 1);
        assert_eq!(st.sessions.keys().copied().collect::<Vec<_>>(), vec![7]);
        let _ = std::fs::remove_dir_all(&d);
    }

    #[test]
    fn torn_tail_is_dropped() {
        let d = dir("torn");
        let (mut j, _) = Journal::open(&d, 1).unwrap();
        j.append(Record::SessionGone { seid: 1 });
        j.flush(true).unwrap();
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

    #[test]
    fn compaction_keeps_live_state() {
        let d = dir("compact");
        let (mut j, _) = Journal::open(&d, 5).unwrap();
        for i in 0..200u64 {
            let mut s = SessionState::default();
            s.rules.seid = i;
            j.append(Record::Session {
                seid: i,
                state: Box::new(s),
            });
            if i % 2 == 0 {
                j.append(Record::SessionGone { seid: i });
            }
        }
        j.flush(false).unwrap();
        let before = j.size();
        j.compact().unwrap();
        assert!(j.size() < before);
        drop(j);
        let (_, st) = Journal::open(&d, 0).unwrap();
        assert_eq!(st.sessions.len(), 100);
        assert_eq!(st.recovery, Some(5));
        let _ = std::fs::remove_dir_all(&d);
    }
}
