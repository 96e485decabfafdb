//! Pools of packet buffers (`rte_pktmbuf_pool_create`).

use std::ffi::CString;
use std::ptr::NonNull;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::Arc;

use arrayvec::ArrayVec;
use vendor_dpdk_sys as sys;

use crate::eal::rte_errno;
use crate::{DpdkError, Eal, Mbuf};

/// A pool of mbufs. Shared by handles ([`Arc`]); allocation and release are
/// safe from any thread (DPDK's default multi-producer/consumer ring ops,
/// with a per-lcore cache for threads that have an lcore id).
///
/// Freed when the last handle goes *and* every mbuf is back in the pool;
/// if some are still out (in a ring, a device queue or a live [`Mbuf`]),
/// the pool is deliberately left allocated so they stay valid (the EAL's
/// memory goes away with the process).
#[derive(Debug)]
pub struct Mempool {
    raw: NonNull<sys::rte_mempool>,
    name: String,
    size: u32,
    data_room: u16,
}

// SAFETY: mempool operations are thread-safe (multi-producer/consumer ops);
// the handle itself is immutable.
unsafe impl Send for Mempool {}
// SAFETY: as above.
unsafe impl Sync for Mempool {}

static SEQ: AtomicU32 = AtomicU32::new(0);

/// Longest mempool name DPDK accepts (RTE_MEMPOOL_NAMESIZE - 1).
const NAME_MAX: usize = 25;

impl Mempool {
    /// A pool of `size` mbufs (best `2^k - 1`) with a per-lcore cache of
    /// `cache` and `data_room` bytes of buffer per mbuf (headroom included:
    /// use `MBUF_HEADROOM + frame size`), on NUMA `socket` (-1: any). The
    /// name gets a unique suffix, so `label` need not be unique.
    pub fn new(
        label: &str,
        size: u32,
        cache: u32,
        data_room: u16,
        socket: i32,
    ) -> Result<Arc<Mempool>, DpdkError> {
        if Eal::get().is_none() {
            return Err(DpdkError::NotInitialised);
        }
        let seq = SEQ.fetch_add(1, Ordering::Relaxed);
        let suffix = format!("_{seq}");
        let mut name: String = label
            .chars()
            .filter(|c| c.is_ascii_alphanumeric() || *c == '_')
            .take(NAME_MAX - suffix.len())
            .collect();
        name.push_str(&suffix);
        let c = CString::new(name.as_str()).map_err(|_| DpdkError::BadArgument(name.clone()))?;
        // SAFETY: valid NUL-terminated name; EAL initialised.
        let p =
            unsafe { sys::rte_pktmbuf_pool_create(c.as_ptr(), size, cache, 0, data_room, socket) };
        let raw = NonNull::new(p).ok_or_else(|| DpdkError::Mempool {
            name: name.clone(),
            err: rte_errno(),
        })?;
        Ok(Arc::new(Mempool {
            raw,
            name,
            size,
            data_room,
        }))
    }

    /// An empty mbuf with the default headroom, or `None` when exhausted.
    #[inline]
    pub fn alloc(&self) -> Option<Mbuf> {
        // SAFETY: a valid pool; the result is null or an mbuf we now own.
        unsafe { Mbuf::from_raw(sys::upf_pktmbuf_alloc(self.raw.as_ptr())) }
    }

    /// Appends `n` empty mbufs to `out` in one call; false (and nothing
    /// added) if the pool has fewer or `out` has no room.
    pub fn alloc_bulk<const N: usize>(&self, out: &mut ArrayVec<Mbuf, N>, n: usize) -> bool {
        let len = out.len();
        if n == 0 || n > N - len {
            return n == 0;
        }
        // SAFETY: slots len..len+n of the ArrayVec are spare capacity; Mbuf
        // is a transparent pointer; on success DPDK wrote n valid mbufs.
        unsafe {
            let dst = out.as_mut_ptr().add(len).cast::<*mut sys::rte_mbuf>();
            if sys::upf_pktmbuf_alloc_bulk(self.raw.as_ptr(), dst, n as u32) != 0 {
                return false;
            }
            out.set_len(len + n);
        }
        true
    }

    /// Mbufs in the pool (including per-lcore caches).
    pub fn available(&self) -> u32 {
        // SAFETY: a query on a valid pool.
        unsafe { sys::rte_mempool_avail_count(self.raw.as_ptr()) }
    }

    /// Mbufs handed out.
    pub fn in_use(&self) -> u32 {
        // SAFETY: a query on a valid pool.
        unsafe { sys::rte_mempool_in_use_count(self.raw.as_ptr()) }
    }

    /// Mbufs the pool was created with.
    pub fn size(&self) -> u32 {
        self.size
    }

    /// Buffer bytes per mbuf, headroom included.
    pub fn data_room(&self) -> u16 {
        self.data_room
    }

    /// The pool's name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The raw pool (for queue setup).
    pub fn as_ptr(&self) -> *mut sys::rte_mempool {
        self.raw.as_ptr()
    }
}

impl Drop for Mempool {
    fn drop(&mut self) {
        if self.in_use() == 0 {
            // SAFETY: no handle and no mbuf of the pool remain.
            unsafe { sys::rte_mempool_free(self.raw.as_ptr()) }
        }
    }
}
