//! Rings of mbufs between threads (`rte_ring`, multi-producer/single-consumer).

use std::ffi::CString;
use std::ptr::NonNull;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::Arc;

use arrayvec::ArrayVec;
use vendor_dpdk_sys as sys;

use crate::eal::rte_errno;
use crate::{DpdkError, Eal, Mbuf};

#[derive(Debug)]
struct Inner {
    raw: NonNull<sys::rte_ring>,
    name: String,
}

// SAFETY: the ring is multi-producer safe; the single consumer is enforced
// by `RingConsumer` being unique and needing `&mut self` to dequeue.
unsafe impl Send for Inner {}
// SAFETY: as above.
unsafe impl Sync for Inner {}

impl Drop for Inner {
    fn drop(&mut self) {
        // Free what is still queued, then the ring (no handle is left).
        let mut buf: ArrayVec<Mbuf, 64> = ArrayVec::new();
        loop {
            let n = dequeue(self.raw, &mut buf);
            Mbuf::free_bulk(&mut buf);
            if n == 0 {
                break;
            }
        }
        // SAFETY: no handle remains, the ring is empty.
        unsafe { sys::rte_ring_free(self.raw.as_ptr()) }
    }
}

fn dequeue<const N: usize>(raw: NonNull<sys::rte_ring>, out: &mut ArrayVec<Mbuf, N>) -> usize {
    let len = out.len();
    if len == N {
        return 0;
    }
    // SAFETY: spare slots of the ArrayVec receive up to N - len mbuf
    // pointers that the ring owned (every enqueued object is an owned mbuf);
    // Mbuf is a transparent pointer. Callers are the single consumer.
    unsafe {
        let dst = out.as_mut_ptr().add(len).cast::<*mut std::ffi::c_void>();
        let n = sys::upf_ring_dequeue_burst(raw.as_ptr(), dst, (N - len) as u32) as usize;
        out.set_len(len + n);
        n
    }
}

/// A multi-producer, single-consumer ring of mbufs.
#[derive(Debug)]
pub struct MbufRing;

static SEQ: AtomicU32 = AtomicU32::new(0);

impl MbufRing {
    /// A ring holding up to `capacity` mbufs, as a producer handle (clone it
    /// for each producer thread) and the one consumer handle.
    pub fn mpsc(label: &str, capacity: u32) -> Result<(RingProducer, RingConsumer), DpdkError> {
        if Eal::get().is_none() {
            return Err(DpdkError::NotInitialised);
        }
        let suffix = format!("_{}", SEQ.fetch_add(1, Ordering::Relaxed));
        let mut name: String = label
            .chars()
            .filter(|c| c.is_ascii_alphanumeric() || *c == '_')
            .take(28 - suffix.len())
            .collect();
        name.push_str(&suffix);
        let c = CString::new(name.as_str()).map_err(|_| DpdkError::BadArgument(name.clone()))?;
        // SAFETY: valid name; multi-producer enqueue, single-consumer dequeue,
        // exactly `capacity` usable slots.
        let p = unsafe {
            sys::rte_ring_create(
                c.as_ptr(),
                capacity,
                sys::SOCKET_ID_ANY,
                sys::RING_F_SC_DEQ | sys::RING_F_EXACT_SZ,
            )
        };
        let raw = NonNull::new(p).ok_or_else(|| DpdkError::Ring {
            name: name.clone(),
            err: rte_errno(),
        })?;
        let inner = Arc::new(Inner { raw, name });
        Ok((RingProducer(inner.clone()), RingConsumer(inner)))
    }
}

/// The producing side of an [`MbufRing`]; clone it for every producer.
#[derive(Clone, Debug)]
pub struct RingProducer(Arc<Inner>);

impl RingProducer {
    /// Moves as many mbufs from the front of `pkts` into the ring as fit
    /// (one call); the rest stay in `pkts`, in order. Returns how many went.
    #[inline]
    pub fn enqueue_burst<const N: usize>(&self, pkts: &mut ArrayVec<Mbuf, N>) -> usize {
        let len = pkts.len();
        if len == 0 {
            return 0;
        }
        // SAFETY: the first `len` slots are owned mbuf pointers; the ring
        // takes the first `sent`, which we then forget by shifting the rest
        // down and shortening the vector. Multi-producer enqueue is safe
        // from any thread.
        unsafe {
            let p = pkts.as_mut_ptr();
            let sent = sys::upf_ring_enqueue_burst(
                self.0.raw.as_ptr(),
                p.cast::<*mut std::ffi::c_void>(),
                len as u32,
            ) as usize;
            std::ptr::copy(p.add(sent), p, len - sent);
            pkts.set_len(len - sent);
            sent
        }
    }

    /// The ring's name.
    pub fn name(&self) -> &str {
        &self.0.name
    }
}

/// The consuming side of an [`MbufRing`] (exactly one).
#[derive(Debug)]
pub struct RingConsumer(Arc<Inner>);

impl RingConsumer {
    /// Appends up to the free capacity of `out` from the ring; returns how many.
    #[inline]
    pub fn dequeue_burst<const N: usize>(&mut self, out: &mut ArrayVec<Mbuf, N>) -> usize {
        dequeue(self.0.raw, out)
    }

    /// Mbufs waiting.
    pub fn len(&self) -> usize {
        // SAFETY: a read of the ring's indexes.
        unsafe { sys::upf_ring_count(self.0.raw.as_ptr()) as usize }
    }

    /// True when nothing waits.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}
