//! The shared-memory file behind the control channel, and the byte rings in it.
//!
//! Layout of `<run_dir>/dataplane.ctl` (all offsets in bytes, page = 4096):
//!
//! ```text
//! page 0            global header: magic, version, slot count, ring size,
//!                   dataplane epoch and pid, alive counter, doorbell
//! page 1 + i        slot i header: client pid, client epoch,
//!                   command ring indices, event ring indices + doorbell
//! after the headers slot i command ring data, slot i event ring data, ...
//! ```
//!
//! Each ring is single-producer single-consumer over a power-of-two byte
//! area. A record is an 8-byte header (`u32` length, `u32` reserved) and the
//! payload, padded to 8 bytes; a length of `u32::MAX` marks a wrap to the
//! start. Positions are monotonically increasing `u64` byte counts; a record
//! becomes visible when the producer's Release store of `tail` covers it, so
//! a producer that dies mid-write leaves nothing half-written behind.
//!
//! The other process is trusted to follow the protocol but not to be
//! bug-free: every length read from the ring is checked against the ring
//! before any byte is copied.

use std::ffi::CString;
use std::io;
use std::os::unix::ffi::OsStrExt;
use std::path::Path;
use std::ptr::NonNull;
use std::sync::atomic::{fence, AtomicU32, AtomicU64, Ordering};
use std::time::Duration;

pub(crate) const PAGE: usize = 4096;
pub(crate) const MAGIC: u64 = u64::from_le_bytes(*b"EDGEUPF\x01");
/// Version of the file layout and of the message encoding in it.
pub const LAYOUT_VERSION: u32 = 1;
const WRAP: u32 = u32::MAX;
const REC_HDR: usize = 8;

// Global header offsets.
const G_MAGIC: usize = 0;
const G_VERSION: usize = 8;
const G_SLOTS: usize = 12;
const G_RING_BYTES: usize = 16;
const G_EPOCH: usize = 24;
const G_PID: usize = 32;
const G_ALIVE: usize = 64;
const G_BELL: usize = 128;
const G_WAITERS: usize = 132;

// Slot header offsets (relative to the slot page).
const S_PID: usize = 0;
const S_EPOCH: usize = 8;
const S_CMD_HEAD: usize = 64;
const S_CMD_TAIL: usize = 128;
const S_EVT_HEAD: usize = 192;
const S_EVT_TAIL: usize = 256;
const S_EVT_BELL: usize = 320;
const S_EVT_WAITERS: usize = 324;

/// A mapping of the control file.
pub(crate) struct Region {
    base: NonNull<u8>,
    len: usize,
}

// SAFETY: the mapping is plain shared memory; all concurrent access to it goes
// through atomics or through the SPSC ring discipline documented above.
unsafe impl Send for Region {}
// SAFETY: as above.
unsafe impl Sync for Region {}

impl Drop for Region {
    fn drop(&mut self) {
        // SAFETY: base/len describe a mapping we created and nobody else unmaps.
        unsafe {
            libc::munmap(self.base.as_ptr().cast(), self.len);
        }
    }
}

fn cpath(p: &Path) -> io::Result<CString> {
    CString::new(p.as_os_str().as_bytes())
        .map_err(|_| io::Error::new(io::ErrorKind::InvalidInput, "path contains NUL"))
}

/// Total file size for a layout.
pub(crate) fn file_len(slots: u32, ring_bytes: u64) -> usize {
    PAGE * (1 + slots as usize) + 2 * slots as usize * ring_bytes as usize
}

impl Region {
    fn map_fd(fd: libc::c_int, len: usize) -> io::Result<Region> {
        // SAFETY: mapping a file descriptor we own with a length we checked;
        // the result is checked for MAP_FAILED before use.
        let p = unsafe {
            libc::mmap(
                std::ptr::null_mut(),
                len,
                libc::PROT_READ | libc::PROT_WRITE,
                libc::MAP_SHARED,
                fd,
                0,
            )
        };
        if p == libc::MAP_FAILED {
            return Err(io::Error::last_os_error());
        }
        let base = NonNull::new(p.cast::<u8>()).ok_or_else(io::Error::last_os_error)?;
        Ok(Region { base, len })
    }

    /// Creates a fresh file at `path` (via a temporary file and a rename, so
    /// an attaching client never sees a half-initialised file).
    pub(crate) fn create(
        path: &Path,
        slots: u32,
        ring_bytes: u64,
        epoch: u64,
    ) -> io::Result<(Region, u64)> {
        let len = file_len(slots, ring_bytes);
        let tmp = path.with_extension(format!("tmp{}", std::process::id()));
        let ctmp = cpath(&tmp)?;
        // SAFETY: ctmp is a valid NUL-terminated path.
        let fd = unsafe {
            libc::open(
                ctmp.as_ptr(),
                libc::O_RDWR | libc::O_CREAT | libc::O_TRUNC | libc::O_CLOEXEC,
                0o600,
            )
        };
        if fd < 0 {
            return Err(io::Error::last_os_error());
        }
        let res = (|| {
            // SAFETY: fd is an open file we own.
            if unsafe { libc::ftruncate(fd, len as libc::off_t) } != 0 {
                return Err(io::Error::last_os_error());
            }
            let region = Region::map_fd(fd, len)?;
            region.store_u32(G_VERSION, LAYOUT_VERSION);
            region.store_u32(G_SLOTS, slots);
            region.store_u64(G_RING_BYTES, ring_bytes);
            region.store_u64(G_EPOCH, epoch);
            region.store_u32(G_PID, std::process::id());
            fence(Ordering::Release);
            region.store_u64(G_MAGIC, MAGIC);
            let ino = fd_inode(fd)?;
            std::fs::rename(&tmp, path)?;
            Ok((region, ino))
        })();
        // SAFETY: closing the fd we opened; the mapping stays valid after close.
        unsafe { libc::close(fd) };
        if res.is_err() {
            let _ = std::fs::remove_file(&tmp);
        }
        res
    }

    /// Maps an existing file and checks its header.
    pub(crate) fn open(path: &Path) -> io::Result<(Region, u64)> {
        let c = cpath(path)?;
        // SAFETY: c is a valid NUL-terminated path.
        let fd = unsafe { libc::open(c.as_ptr(), libc::O_RDWR | libc::O_CLOEXEC) };
        if fd < 0 {
            return Err(io::Error::last_os_error());
        }
        let res = (|| {
            // SAFETY: an all-zero stat is a valid value for fstat to overwrite.
            let mut st: libc::stat = unsafe { std::mem::zeroed() };
            // SAFETY: fd is open, st is a valid out-pointer.
            if unsafe { libc::fstat(fd, &mut st) } != 0 {
                return Err(io::Error::last_os_error());
            }
            let len = usize::try_from(st.st_size).unwrap_or(0);
            if len < PAGE {
                return Err(io::Error::new(
                    io::ErrorKind::InvalidData,
                    "control file too small",
                ));
            }
            let region = Region::map_fd(fd, len)?;
            if region.atomic_u64(G_MAGIC).load(Ordering::Acquire) != MAGIC {
                return Err(io::Error::new(
                    io::ErrorKind::InvalidData,
                    "not an edge-upf control file",
                ));
            }
            let version = region.atomic_u32(G_VERSION).load(Ordering::Relaxed);
            if version != LAYOUT_VERSION {
                return Err(io::Error::new(
                    io::ErrorKind::InvalidData,
                    format!("control file layout {version}, this build speaks {LAYOUT_VERSION}"),
                ));
            }
            let slots = region.slots();
            let ring = region.ring_bytes();
            if slots == 0
                || slots > 64
                || !ring.is_power_of_two()
                || ring < 4096
                || file_len(slots, ring) != len
            {
                return Err(io::Error::new(
                    io::ErrorKind::InvalidData,
                    "control file header does not match its size",
                ));
            }
            Ok((region, st.st_ino))
        })();
        // SAFETY: closing the fd we opened; the mapping stays valid after close.
        unsafe { libc::close(fd) };
        res
    }

    fn at(&self, off: usize) -> *mut u8 {
        debug_assert!(off < self.len);
        // SAFETY: callers pass offsets inside the mapping (fixed header
        // offsets, or ring offsets checked against the layout).
        unsafe { self.base.as_ptr().add(off) }
    }

    pub(crate) fn atomic_u64(&self, off: usize) -> &AtomicU64 {
        assert!(off.is_multiple_of(8) && off + 8 <= self.len);
        // SAFETY: in bounds and 8-aligned (the mapping is page-aligned); the
        // memory lives as long as &self and is only accessed atomically.
        unsafe { &*(self.at(off) as *const AtomicU64) }
    }

    pub(crate) fn atomic_u32(&self, off: usize) -> &AtomicU32 {
        assert!(off.is_multiple_of(4) && off + 4 <= self.len);
        // SAFETY: in bounds and 4-aligned; lives as long as &self.
        unsafe { &*(self.at(off) as *const AtomicU32) }
    }

    fn store_u64(&self, off: usize, v: u64) {
        self.atomic_u64(off).store(v, Ordering::Relaxed);
    }

    fn store_u32(&self, off: usize, v: u32) {
        self.atomic_u32(off).store(v, Ordering::Relaxed);
    }

    pub(crate) fn slots(&self) -> u32 {
        self.atomic_u32(G_SLOTS).load(Ordering::Relaxed)
    }

    pub(crate) fn ring_bytes(&self) -> u64 {
        self.atomic_u64(G_RING_BYTES).load(Ordering::Relaxed)
    }

    pub(crate) fn epoch(&self) -> u64 {
        self.atomic_u64(G_EPOCH).load(Ordering::Relaxed)
    }

    pub(crate) fn dataplane_pid(&self) -> u32 {
        self.atomic_u32(G_PID).load(Ordering::Relaxed)
    }

    pub(crate) fn alive(&self) -> &AtomicU64 {
        self.atomic_u64(G_ALIVE)
    }

    pub(crate) fn dp_bell(&self) -> Bell<'_> {
        Bell {
            word: self.atomic_u32(G_BELL),
            waiters: self.atomic_u32(G_WAITERS),
        }
    }

    fn slot_base(&self, slot: u32) -> usize {
        PAGE * (1 + slot as usize)
    }

    pub(crate) fn slot_pid(&self, slot: u32) -> &AtomicU32 {
        self.atomic_u32(self.slot_base(slot) + S_PID)
    }

    pub(crate) fn slot_epoch(&self, slot: u32) -> &AtomicU64 {
        self.atomic_u64(self.slot_base(slot) + S_EPOCH)
    }

    pub(crate) fn evt_bell(&self, slot: u32) -> Bell<'_> {
        let b = self.slot_base(slot);
        Bell {
            word: self.atomic_u32(b + S_EVT_BELL),
            waiters: self.atomic_u32(b + S_EVT_WAITERS),
        }
    }

    fn ring(&self, slot: u32, events: bool) -> Ring<'_> {
        let b = self.slot_base(slot);
        let ring = self.ring_bytes() as usize;
        let data =
            PAGE * (1 + self.slots() as usize) + (2 * slot as usize + usize::from(events)) * ring;
        let (h, t) = if events {
            (S_EVT_HEAD, S_EVT_TAIL)
        } else {
            (S_CMD_HEAD, S_CMD_TAIL)
        };
        Ring {
            region: self,
            head: self.atomic_u64(b + h),
            tail: self.atomic_u64(b + t),
            data,
            cap: ring,
        }
    }

    /// The ring a client writes commands to.
    pub(crate) fn cmd_ring(&self, slot: u32) -> Ring<'_> {
        self.ring(slot, false)
    }

    /// The ring the dataplane writes events to.
    pub(crate) fn evt_ring(&self, slot: u32) -> Ring<'_> {
        self.ring(slot, true)
    }
}

fn fd_inode(fd: libc::c_int) -> io::Result<u64> {
    // SAFETY: an all-zero stat is a valid value for fstat to overwrite.
    let mut st: libc::stat = unsafe { std::mem::zeroed() };
    // SAFETY: fd is open, st is a valid out-pointer.
    if unsafe { libc::fstat(fd, &mut st) } != 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(st.st_ino)
}

/// The inode currently at `path`, if any.
pub(crate) fn path_inode(path: &Path) -> Option<u64> {
    use std::os::unix::fs::MetadataExt;
    std::fs::metadata(path).ok().map(|m| m.ino())
}

/// The ring's record stream was corrupted by the other side.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
#[error("control ring corrupted at position {0}")]
pub struct RingCorrupt(pub u64);

/// One SPSC byte ring inside the region.
pub(crate) struct Ring<'a> {
    region: &'a Region,
    head: &'a AtomicU64,
    tail: &'a AtomicU64,
    data: usize,
    cap: usize,
}

fn pad8(n: usize) -> usize {
    (n + 7) & !7
}

impl Ring<'_> {
    /// The largest payload one record may carry.
    pub(crate) fn max_record(&self) -> usize {
        self.cap / 4
    }

    /// Producer side: appends one record. Returns false if it does not fit now.
    pub(crate) fn push(&self, payload: &[u8]) -> bool {
        let need = REC_HDR + pad8(payload.len());
        if payload.len() > self.max_record() {
            return false;
        }
        let mut pos = self.tail.load(Ordering::Relaxed);
        let head = self.head.load(Ordering::Acquire);
        let used = pos.wrapping_sub(head) as usize;
        if used > self.cap {
            return false; // the consumer side is confused; refuse to write
        }
        let free = self.cap - used;
        let off = (pos as usize) & (self.cap - 1);
        let to_end = self.cap - off;
        let wrap = to_end < need;
        let total = if wrap { to_end + need } else { need };
        if total > free {
            return false;
        }
        if wrap {
            self.write_u32(off, WRAP);
            pos += to_end as u64;
        }
        let off = (pos as usize) & (self.cap - 1);
        self.write_u32(off, payload.len() as u32);
        self.write_u32(off + 4, 0);
        // SAFETY: off + REC_HDR + len <= cap (checked via `need` above), the
        // bytes are outside [head, tail) so the consumer does not read them.
        unsafe {
            std::ptr::copy_nonoverlapping(
                payload.as_ptr(),
                self.region.at(self.data + off + REC_HDR),
                payload.len(),
            );
        }
        self.tail.store(pos + need as u64, Ordering::Release);
        true
    }

    /// Consumer side: copies the oldest record into `out` (replacing its
    /// contents) and consumes it. `Ok(false)` when empty.
    pub(crate) fn pop(&self, out: &mut Vec<u8>) -> Result<bool, RingCorrupt> {
        let mut pos = self.head.load(Ordering::Relaxed);
        loop {
            let tail = self.tail.load(Ordering::Acquire);
            if pos == tail {
                return Ok(false);
            }
            let avail = tail.wrapping_sub(pos) as usize;
            if avail > self.cap || avail < REC_HDR {
                return Err(RingCorrupt(pos));
            }
            let off = (pos as usize) & (self.cap - 1);
            let len = self.read_u32(off);
            if len == WRAP {
                pos += (self.cap - off) as u64;
                self.head.store(pos, Ordering::Release);
                continue;
            }
            let len = len as usize;
            let need = REC_HDR + pad8(len);
            if len > self.max_record() || need > avail || off + need > self.cap {
                return Err(RingCorrupt(pos));
            }
            out.clear();
            out.reserve(len);
            // SAFETY: the record lies inside the ring (checked above) and inside
            // [head, tail), published by the producer's Release store of tail.
            unsafe {
                let src = self.region.at(self.data + off + REC_HDR);
                std::ptr::copy_nonoverlapping(src, out.as_mut_ptr(), len);
                out.set_len(len);
            }
            self.head.store(pos + need as u64, Ordering::Release);
            return Ok(true);
        }
    }

    /// True if no record is waiting.
    pub(crate) fn is_empty(&self) -> bool {
        self.head.load(Ordering::Acquire) == self.tail.load(Ordering::Acquire)
    }

    /// Bytes in use.
    pub(crate) fn used(&self) -> u64 {
        self.tail
            .load(Ordering::Acquire)
            .wrapping_sub(self.head.load(Ordering::Acquire))
    }

    fn write_u32(&self, off: usize, v: u32) {
        // SAFETY: off is 8-aligned and < cap - 4 (records and wrap markers start
        // at 8-byte boundaries inside the ring).
        unsafe {
            std::ptr::write_unaligned(self.region.at(self.data + off).cast::<u32>(), v.to_le())
        }
    }

    fn read_u32(&self, off: usize) -> u32 {
        // SAFETY: as write_u32.
        u32::from_le(unsafe {
            std::ptr::read_unaligned(self.region.at(self.data + off).cast::<u32>())
        })
    }
}

/// A doorbell: a futex word the producer bumps (and wakes) when a consumer
/// has said it is waiting. Works across processes (no FUTEX_PRIVATE_FLAG).
pub(crate) struct Bell<'a> {
    word: &'a AtomicU32,
    waiters: &'a AtomicU32,
}

impl Bell<'_> {
    /// Producer side, after publishing: wake sleepers if there are any.
    pub(crate) fn ring(&self) {
        fence(Ordering::SeqCst);
        if self.waiters.load(Ordering::SeqCst) != 0 {
            self.word.fetch_add(1, Ordering::SeqCst);
            futex_wake(self.word);
        }
    }

    /// Consumer side: sleeps until `ready()` or the timeout. Returns `ready()`.
    pub(crate) fn wait(&self, timeout: Duration, ready: impl Fn() -> bool) -> bool {
        self.waiters.fetch_add(1, Ordering::SeqCst);
        let seen = self.word.load(Ordering::SeqCst);
        let r = if ready() {
            true
        } else {
            futex_wait(self.word, seen, timeout);
            ready()
        };
        self.waiters.fetch_sub(1, Ordering::SeqCst);
        r
    }
}

fn futex_wait(word: &AtomicU32, val: u32, timeout: Duration) {
    let ts = libc::timespec {
        tv_sec: timeout.as_secs().min(i64::MAX as u64) as libc::time_t,
        tv_nsec: libc::c_long::from(timeout.subsec_nanos() as i32),
    };
    // SAFETY: FUTEX_WAIT on a valid, aligned u32 in shared memory with a valid
    // timespec; spurious returns are handled by the callers re-checking state.
    unsafe {
        libc::syscall(
            libc::SYS_futex,
            word.as_ptr(),
            libc::FUTEX_WAIT,
            val,
            &ts as *const libc::timespec,
            std::ptr::null::<u32>(),
            0u32,
        );
    }
}

fn futex_wake(word: &AtomicU32) {
    // SAFETY: FUTEX_WAKE on a valid, aligned u32; wakes every waiter.
    unsafe {
        libc::syscall(
            libc::SYS_futex,
            word.as_ptr(),
            libc::FUTEX_WAKE,
            i32::MAX,
            std::ptr::null::<libc::timespec>(),
            std::ptr::null::<u32>(),
            0u32,
        );
    }
}

/// True if a process with this pid exists (signal 0 probe).
pub(crate) fn pid_alive(pid: u32) -> bool {
    if pid == 0 {
        return false;
    }
    // SAFETY: kill with signal 0 only checks for existence and permission.
    let r = unsafe { libc::kill(pid as libc::pid_t, 0) };
    r == 0 || io::Error::last_os_error().raw_os_error() == Some(libc::EPERM)
}
