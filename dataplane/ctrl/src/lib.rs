//! The control channel between the control processes and the dataplane.
//!
//! One shared-memory file, `<run_dir>/dataplane.ctl`, created by the
//! dataplane, holds a pair of lock-free single-producer single-consumer byte
//! rings per client slot: commands in ([`msg::Command`]), events out
//! ([`msg::Event`]). pfcp-ctl uses slot [`SLOT_PFCP`], mec-services
//! [`SLOT_MEC`]. Because the state lives in the file, a client can exit and
//! attach again without the dataplane noticing (events written meanwhile
//! wait for it), and the dataplane keeps forwarding whatever happens to its
//! clients. When the dataplane restarts it creates a new file (new inode, new
//! epoch); [`ClientEnd::check`] notices, attaches to it, and tells the client
//! to push its state again.
//!
//! Inside the dataplane, [`spsc`] rings carry compiled rules to the workers
//! and reports back, so workers never share mutable tables with anyone.
//!
//! What it must not do: interpret rules (that is the engine's job), block a
//! dataplane worker, or allocate in [`spsc`] push/pop. Wake-ups use futexes in
//! the shared file, so no thread spins while idle.
#![cfg_attr(not(test), deny(clippy::unwrap_used))]

pub mod msg;
mod shm;
pub mod spsc;

use std::io;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

pub use msg::{AckBody, CodecError, Command, CommandError, EncodedCommand, Event};
use shm::{path_inode, pid_alive, Region};
pub use shm::{RingCorrupt, LAYOUT_VERSION};

/// Slot of the N4 control process.
pub const SLOT_PFCP: u32 = 0;
/// Slot of the Mp1 sidecar.
pub const SLOT_MEC: u32 = 1;
/// Slot for tools and tests (admin, pktgen's in-process checks).
pub const SLOT_TOOLS: u32 = 2;
/// Name of the control file inside the run directory.
pub const FILE_NAME: &str = "dataplane.ctl";

/// Sizes of the channel.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ChannelConfig {
    /// Number of client slots.
    pub slots: u32,
    /// Bytes per ring (a power of two, at least 4096).
    pub ring_bytes: u64,
}

impl Default for ChannelConfig {
    fn default() -> Self {
        ChannelConfig {
            slots: 4,
            ring_bytes: 8 << 20,
        }
    }
}

/// Errors of the control channel.
#[derive(Debug, thiserror::Error)]
pub enum CtrlError {
    /// The file could not be created, opened or mapped.
    #[error("control file {path}: {source}")]
    Io {
        /// The control file.
        path: PathBuf,
        /// What the OS said.
        source: io::Error,
    },
    /// The slot does not exist.
    #[error("control slot {0} does not exist")]
    NoSuchSlot(u32),
    /// Another live process holds the slot.
    #[error("control slot {slot} is held by process {pid}")]
    SlotBusy {
        /// The slot.
        slot: u32,
        /// The process holding it.
        pid: u32,
    },
    /// The ring size is not a power of two of at least 4096 bytes.
    #[error("ring size {0} must be a power of two >= 4096")]
    BadRingSize(u64),
}

/// A message could not be sent.
#[derive(Debug, PartialEq, Eq, thiserror::Error)]
pub enum SendError {
    /// The ring is full right now: retry later.
    #[error("control ring full")]
    Full,
    /// The message is larger than a ring record may be.
    #[error("control message of {0} bytes is too large")]
    TooLarge(usize),
    /// The message could not be encoded.
    #[error(transparent)]
    Codec(#[from] CodecError),
}

/// A message could not be received.
#[derive(Debug, PartialEq, Eq, thiserror::Error)]
pub enum RecvError {
    /// A record did not decode (it has been consumed and skipped).
    #[error(transparent)]
    Codec(#[from] CodecError),
    /// The ring itself is inconsistent; the channel must be re-created.
    #[error(transparent)]
    Corrupt(#[from] RingCorrupt),
}

fn unix_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0)
}

fn new_epoch() -> u64 {
    let t = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_nanos() as u64)
        .unwrap_or(0);
    (t ^ (u64::from(std::process::id()) << 40)) | 1
}

/// The dataplane's end: creates the file and serves every slot.
pub struct DataplaneEnd {
    region: Region,
    path: PathBuf,
    scratch: Vec<u8>,
}

impl DataplaneEnd {
    /// Creates `<run_dir>/dataplane.ctl` afresh (a new epoch).
    pub fn create(run_dir: &Path, cfg: ChannelConfig) -> Result<Self, CtrlError> {
        if !cfg.ring_bytes.is_power_of_two() || cfg.ring_bytes < 4096 {
            return Err(CtrlError::BadRingSize(cfg.ring_bytes));
        }
        let path = run_dir.join(FILE_NAME);
        let io_err = |source| CtrlError::Io {
            path: path.clone(),
            source,
        };
        std::fs::create_dir_all(run_dir).map_err(io_err)?;
        let (region, _ino) =
            Region::create(&path, cfg.slots.max(1), cfg.ring_bytes, new_epoch()).map_err(io_err)?;
        region.alive().store(unix_ms(), Ordering::Relaxed);
        Ok(DataplaneEnd {
            region,
            path,
            scratch: Vec::with_capacity(64 << 10),
        })
    }

    /// The file path.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// This dataplane instance's epoch.
    pub fn epoch(&self) -> u64 {
        self.region.epoch()
    }

    /// Number of slots.
    pub fn slots(&self) -> u32 {
        self.region.slots()
    }

    /// Records that the dataplane is alive (call every few milliseconds).
    pub fn tick_alive(&self) {
        self.region.alive().store(unix_ms(), Ordering::Relaxed);
    }

    /// The pid of the process attached to `slot`, if it is alive.
    pub fn client_pid(&self, slot: u32) -> Option<u32> {
        if slot >= self.slots() {
            return None;
        }
        let pid = self.region.slot_pid(slot).load(Ordering::Acquire);
        pid_alive(pid).then_some(pid)
    }

    /// How many times a client attached to `slot` (changes when a client restarts).
    pub fn client_epoch(&self, slot: u32) -> u64 {
        if slot >= self.slots() {
            return 0;
        }
        self.region.slot_epoch(slot).load(Ordering::Acquire)
    }

    /// Takes the next command of `slot`, if any.
    pub fn recv(&mut self, slot: u32) -> Result<Option<Command>, RecvError> {
        if slot >= self.slots() {
            return Ok(None);
        }
        if !self.region.cmd_ring(slot).pop(&mut self.scratch)? {
            return Ok(None);
        }
        Ok(Some(msg::decode(&self.scratch)?))
    }

    /// Sends an event to the client of `slot` and wakes it if it waits.
    pub fn send(&mut self, slot: u32, ev: &Event) -> Result<(), SendError> {
        if slot >= self.slots() {
            return Err(SendError::Full);
        }
        msg::encode(ev, &mut self.scratch)?;
        let ring = self.region.evt_ring(slot);
        if self.scratch.len() > ring.max_record() {
            return Err(SendError::TooLarge(self.scratch.len()));
        }
        if !ring.push(&self.scratch) {
            return Err(SendError::Full);
        }
        self.region.evt_bell(slot).ring();
        Ok(())
    }

    /// Bytes waiting in the event ring of `slot` (backlog towards a client).
    pub fn event_backlog(&self, slot: u32) -> u64 {
        if slot >= self.slots() {
            return 0;
        }
        self.region.evt_ring(slot).used()
    }

    /// True if any slot has a command waiting.
    pub fn has_commands(&self) -> bool {
        (0..self.slots()).any(|s| !self.region.cmd_ring(s).is_empty())
    }

    /// Sleeps until a command arrives on any slot or `timeout` passes.
    pub fn wait(&self, timeout: Duration) -> bool {
        self.region.dp_bell().wait(timeout, || self.has_commands())
    }
}

impl Drop for DataplaneEnd {
    fn drop(&mut self) {
        // Leave the file for clients to notice the stale alive stamp; a new
        // dataplane replaces it. Remove it only if it is still ours and no
        // client is attached.
        let attached = (0..self.slots()).any(|s| self.client_pid(s).is_some());
        if !attached {
            let _ = std::fs::remove_file(&self.path);
        }
    }
}

/// What [`ClientEnd::check`] found.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DataplaneStatus {
    /// The same dataplane, alive.
    Alive,
    /// A new dataplane instance replaced the old one; the client is now
    /// attached to it and must push its whole state again (SyncBegin ..
    /// SyncEnd).
    Restarted,
    /// No sign of life for longer than the staleness limit (or no file).
    Down,
}

/// A client's end (pfcp-ctl, mec-services, tools).
pub struct ClientEnd {
    path: PathBuf,
    slot: u32,
    inner: Arc<Mutex<Arc<Region>>>,
    region: Arc<Region>,
    ino: u64,
    scratch: Vec<u8>,
}

fn claim(region: &Region, slot: u32) -> Result<(), CtrlError> {
    if slot >= region.slots() {
        return Err(CtrlError::NoSuchSlot(slot));
    }
    let me = std::process::id();
    let cell = region.slot_pid(slot);
    loop {
        let cur = cell.load(Ordering::Acquire);
        if cur != 0 && cur != me && pid_alive(cur) {
            return Err(CtrlError::SlotBusy { slot, pid: cur });
        }
        if cell
            .compare_exchange(cur, me, Ordering::AcqRel, Ordering::Acquire)
            .is_ok()
        {
            region.slot_epoch(slot).fetch_add(1, Ordering::AcqRel);
            return Ok(());
        }
    }
}

fn open_claim(path: &Path, slot: u32) -> Result<(Arc<Region>, u64), CtrlError> {
    let (region, ino) = Region::open(path).map_err(|source| CtrlError::Io {
        path: path.to_path_buf(),
        source,
    })?;
    claim(&region, slot)?;
    Ok((Arc::new(region), ino))
}

impl ClientEnd {
    /// Attaches to the dataplane's control file in `run_dir`, claiming `slot`.
    pub fn attach(run_dir: &Path, slot: u32) -> Result<Self, CtrlError> {
        let path = run_dir.join(FILE_NAME);
        let (region, ino) = open_claim(&path, slot)?;
        Ok(ClientEnd {
            path,
            slot,
            inner: Arc::new(Mutex::new(region.clone())),
            region,
            ino,
            scratch: Vec::with_capacity(64 << 10),
        })
    }

    /// The slot this client holds.
    pub fn slot(&self) -> u32 {
        self.slot
    }

    /// The epoch of the dataplane instance we are attached to.
    pub fn dataplane_epoch(&self) -> u64 {
        self.region.epoch()
    }

    /// The dataplane's pid.
    pub fn dataplane_pid(&self) -> u32 {
        self.region.dataplane_pid()
    }

    /// Milliseconds since the dataplane last said it was alive.
    pub fn dataplane_silence_ms(&self) -> u64 {
        unix_ms().saturating_sub(self.region.alive().load(Ordering::Relaxed))
    }

    /// Sends a command and wakes the dataplane's control thread.
    pub fn send(&mut self, cmd: &Command) -> Result<(), SendError> {
        msg::encode(cmd, &mut self.scratch)?;
        let ring = self.region.cmd_ring(self.slot);
        if self.scratch.len() > ring.max_record() {
            return Err(SendError::TooLarge(self.scratch.len()));
        }
        if !ring.push(&self.scratch) {
            return Err(SendError::Full);
        }
        self.region.dp_bell().ring();
        Ok(())
    }

    /// Sends a command encoded beforehand and wakes the dataplane's control
    /// thread.
    pub fn send_encoded(&mut self, cmd: &EncodedCommand) -> Result<(), SendError> {
        let ring = self.region.cmd_ring(self.slot);
        if cmd.bytes().len() > ring.max_record() {
            return Err(SendError::TooLarge(cmd.bytes().len()));
        }
        if !ring.push(cmd.bytes()) {
            return Err(SendError::Full);
        }
        self.region.dp_bell().ring();
        Ok(())
    }

    /// Takes the next event, if any.
    pub fn recv(&mut self) -> Result<Option<Event>, RecvError> {
        if !self.region.evt_ring(self.slot).pop(&mut self.scratch)? {
            return Ok(None);
        }
        Ok(Some(msg::decode(&self.scratch)?))
    }

    /// Sleeps until an event is waiting or `timeout` passes.
    pub fn wait(&self, timeout: Duration) -> bool {
        let ring = self.region.evt_ring(self.slot);
        self.region
            .evt_bell(self.slot)
            .wait(timeout, || !ring.is_empty())
    }

    /// Sends a command and waits for its Ack, handing every other event to
    /// `other`. For tools and tests; servers should not block like this.
    pub fn request(
        &mut self,
        cmd: &Command,
        timeout: Duration,
        mut other: impl FnMut(Event),
    ) -> Result<Option<Result<AckBody, CommandError>>, SendError> {
        let want = cmd.req();
        self.send(cmd)?;
        let deadline = std::time::Instant::now() + timeout;
        loop {
            match self.recv() {
                Ok(Some(Event::Ack { req, result })) if req == want => return Ok(Some(result)),
                Ok(Some(ev)) => other(ev),
                Ok(None) => {
                    let now = std::time::Instant::now();
                    if now >= deadline {
                        return Ok(None);
                    }
                    self.wait((deadline - now).min(Duration::from_millis(50)));
                }
                Err(_) => continue,
            }
        }
    }

    /// Checks that the dataplane is alive and still the same instance; when
    /// a new instance has replaced it, attaches to the new file.
    /// `stale_after` is how long silence is tolerated.
    pub fn check(&mut self, stale_after: Duration) -> Result<DataplaneStatus, CtrlError> {
        match path_inode(&self.path) {
            Some(ino) if ino != self.ino => {
                let (region, ino) = open_claim(&self.path, self.slot)?;
                self.region = region.clone();
                self.ino = ino;
                if let Ok(mut g) = self.inner.lock() {
                    *g = region;
                }
                Ok(DataplaneStatus::Restarted)
            }
            None => Ok(DataplaneStatus::Down),
            Some(_) => {
                let pid_ok = pid_alive(self.region.dataplane_pid());
                if !pid_ok || self.dataplane_silence_ms() > stale_after.as_millis() as u64 {
                    Ok(DataplaneStatus::Down)
                } else {
                    Ok(DataplaneStatus::Alive)
                }
            }
        }
    }

    /// Starts a thread that calls `notify` when events are waiting and the
    /// notifier is armed (for event loops such as mio: pass a `Waker`).
    /// Call [`Notifier::rearm`] before draining events with [`ClientEnd::recv`].
    pub fn notifier(&self, notify: impl Fn() + Send + 'static) -> Notifier {
        let stop = Arc::new(AtomicBool::new(false));
        let armed = Arc::new(AtomicBool::new(true));
        let (s, a, inner, slot) = (stop.clone(), armed.clone(), self.inner.clone(), self.slot);
        let handle = std::thread::Builder::new()
            .name("ctrl-notify".into())
            .spawn(move || {
                while !s.load(Ordering::Relaxed) {
                    let region = match inner.lock() {
                        Ok(g) => g.clone(),
                        Err(_) => return,
                    };
                    let ring = region.evt_ring(slot);
                    let ready = region.evt_bell(slot).wait(Duration::from_millis(50), || {
                        !ring.is_empty() && a.load(Ordering::Acquire)
                    });
                    if ready && a.swap(false, Ordering::AcqRel) {
                        notify();
                    }
                }
            })
            .ok();
        Notifier {
            stop,
            armed,
            handle,
        }
    }
}

impl Drop for ClientEnd {
    fn drop(&mut self) {
        let me = std::process::id();
        let _ = self.region.slot_pid(self.slot).compare_exchange(
            me,
            0,
            Ordering::AcqRel,
            Ordering::Acquire,
        );
    }
}

/// The wake-up thread of [`ClientEnd::notifier`]; stops when dropped.
pub struct Notifier {
    stop: Arc<AtomicBool>,
    armed: Arc<AtomicBool>,
    handle: Option<JoinHandle<()>>,
}

impl Notifier {
    /// Allows the next notification. Call it before draining the events.
    pub fn rearm(&self) {
        self.armed.store(true, Ordering::Release);
    }
}

impl Drop for Notifier {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(h) = self.handle.take() {
            let _ = h.join();
        }
    }
}

#[cfg(test)]
mod tests;
