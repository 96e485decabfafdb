//! One packet buffer (`struct rte_mbuf`), owned uniquely.

use std::ptr::NonNull;

use arrayvec::ArrayVec;
use vendor_dpdk_sys as sys;

/// A packet buffer from a [`crate::Mempool`], owned by this value alone:
/// dropping it returns it to its pool (`rte_pktmbuf_free`), so it cannot
/// leak or be freed twice. It may move between threads (another worker
/// frees it into the same pool safely: pools are multi-producer).
///
/// The accessors work on the first segment's fields in Rust, exactly as
/// DPDK's inline `rte_pktmbuf_*` functions do for a single-segment mbuf
/// (tests compare both); the dataplane only handles single-segment mbufs
/// (no scatter on receive, chained mbufs are dropped by the backend).
///
/// Invariant: the mbuf is direct, has reference count 1 and
/// `data_off + data_len <= buf_len`, which DPDK guarantees for mbufs it
/// hands out and every method here keeps.
#[repr(transparent)]
#[derive(Debug)]
pub struct Mbuf(NonNull<sys::rte_mbuf>);

// SAFETY: an Mbuf is the unique owner of its mbuf; DPDK mbufs and their
// pools may be used and freed from any thread.
unsafe impl Send for Mbuf {}

impl Drop for Mbuf {
    fn drop(&mut self) {
        // SAFETY: we own the mbuf and never use it again.
        unsafe { sys::upf_pktmbuf_free(self.0.as_ptr()) }
    }
}

impl Mbuf {
    /// Takes ownership of a raw mbuf (from a PMD, a ring or an allocation).
    ///
    /// # Safety
    /// `p` is null or a valid mbuf that nothing else owns or will free.
    #[inline]
    pub unsafe fn from_raw(p: *mut sys::rte_mbuf) -> Option<Mbuf> {
        NonNull::new(p).map(Mbuf)
    }

    /// Gives up ownership; the caller must free or hand on the pointer.
    #[inline]
    pub fn into_raw(self) -> *mut sys::rte_mbuf {
        let p = self.0.as_ptr();
        std::mem::forget(self);
        p
    }

    /// The raw pointer (still owned by `self`).
    #[inline]
    pub fn as_ptr(&self) -> *mut sys::rte_mbuf {
        self.0.as_ptr()
    }

    #[inline]
    fn m(&self) -> &sys::rte_mbuf {
        // SAFETY: we own a valid mbuf; shared access for shared self.
        unsafe { self.0.as_ref() }
    }

    #[inline]
    fn m_mut(&mut self) -> &mut sys::rte_mbuf {
        // SAFETY: we own a valid mbuf; exclusive access for exclusive self.
        unsafe { self.0.as_mut() }
    }

    #[inline]
    fn single(&self) -> bool {
        self.m().next.is_null()
    }

    /// The packet bytes of the first segment (`rte_pktmbuf_mtod`, `data_len`).
    #[inline]
    pub fn data(&self) -> &[u8] {
        let m = self.m();
        // SAFETY: buf_addr + data_off .. + data_len lies inside the mbuf's
        // buffer (type invariant) and we own it.
        unsafe {
            std::slice::from_raw_parts(
                m.buf_addr.cast::<u8>().add(usize::from(m.data_off)),
                usize::from(m.data_len),
            )
        }
    }

    /// The packet bytes, writable.
    #[inline]
    pub fn data_mut(&mut self) -> &mut [u8] {
        let m = self.m_mut();
        // SAFETY: as `data`, with exclusive access.
        unsafe {
            std::slice::from_raw_parts_mut(
                m.buf_addr.cast::<u8>().add(usize::from(m.data_off)),
                usize::from(m.data_len),
            )
        }
    }

    /// Bytes in the first segment.
    #[inline]
    pub fn len(&self) -> usize {
        usize::from(self.m().data_len)
    }

    /// True when the first segment is empty.
    #[inline]
    pub fn is_empty(&self) -> bool {
        self.m().data_len == 0
    }

    /// Bytes in all segments.
    #[inline]
    pub fn pkt_len(&self) -> usize {
        self.m().pkt_len as usize
    }

    /// Segments in the chain.
    #[inline]
    pub fn nb_segs(&self) -> u16 {
        self.m().nb_segs
    }

    /// True for a single-segment mbuf.
    #[inline]
    pub fn is_contiguous(&self) -> bool {
        self.m().nb_segs == 1 && self.single()
    }

    /// Free bytes before the data (`rte_pktmbuf_headroom`).
    #[inline]
    pub fn headroom(&self) -> usize {
        usize::from(self.m().data_off)
    }

    /// Free bytes after the data of the first segment
    /// (`rte_pktmbuf_tailroom` for a single segment).
    #[inline]
    pub fn tailroom(&self) -> usize {
        let m = self.m();
        usize::from(m.buf_len) - usize::from(m.data_off) - usize::from(m.data_len)
    }

    /// Grows the packet at the front by `n` bytes (`rte_pktmbuf_prepend`)
    /// and returns them; `None` without change if the headroom is too small.
    #[inline]
    pub fn prepend(&mut self, n: usize) -> Option<&mut [u8]> {
        if n > self.headroom() {
            return None;
        }
        let m = self.m_mut();
        let n16 = n as u16;
        m.data_off -= n16;
        m.data_len += n16;
        m.pkt_len += u32::from(n16);
        let off = usize::from(m.data_off);
        // SAFETY: the n bytes from the new data_off are inside the buffer.
        Some(unsafe { std::slice::from_raw_parts_mut(m.buf_addr.cast::<u8>().add(off), n) })
    }

    /// Removes `n` bytes from the front (`rte_pktmbuf_adj`); false without
    /// change if the first segment is shorter.
    #[inline]
    pub fn adj(&mut self, n: usize) -> bool {
        if n > self.len() {
            return false;
        }
        let m = self.m_mut();
        let n16 = n as u16;
        m.data_off += n16;
        m.data_len -= n16;
        m.pkt_len -= u32::from(n16);
        true
    }

    /// Grows the packet at the end by `n` bytes (`rte_pktmbuf_append`) and
    /// returns them; `None` without change if there is no room.
    #[inline]
    pub fn append(&mut self, n: usize) -> Option<&mut [u8]> {
        if !self.single() {
            // SAFETY: DPDK's own function handles chains; we own the mbuf.
            let p = unsafe { sys::upf_pktmbuf_append(self.as_ptr(), u16::try_from(n).ok()?) };
            // SAFETY: on success p points at n bytes inside the last segment.
            return (!p.is_null())
                .then(|| unsafe { std::slice::from_raw_parts_mut(p.cast::<u8>(), n) });
        }
        if n > self.tailroom() {
            return None;
        }
        let m = self.m_mut();
        let n16 = n as u16;
        let off = usize::from(m.data_off) + usize::from(m.data_len);
        m.data_len += n16;
        m.pkt_len += u32::from(n16);
        // SAFETY: the n bytes after the old end are inside the buffer.
        Some(unsafe { std::slice::from_raw_parts_mut(m.buf_addr.cast::<u8>().add(off), n) })
    }

    /// Removes `n` bytes from the end (`rte_pktmbuf_trim`); false without
    /// change if too short.
    #[inline]
    pub fn trim(&mut self, n: usize) -> bool {
        if !self.single() {
            let Ok(n16) = u16::try_from(n) else {
                return false;
            };
            // SAFETY: DPDK's own function handles chains; we own the mbuf.
            return unsafe { sys::upf_pktmbuf_trim(self.as_ptr(), n16) } == 0;
        }
        if n > self.len() {
            return false;
        }
        let m = self.m_mut();
        let n16 = n as u16;
        m.data_len -= n16;
        m.pkt_len -= u32::from(n16);
        true
    }

    /// Empties the packet and restores the default headroom
    /// (`rte_pktmbuf_reset`).
    pub fn reset(&mut self) {
        // SAFETY: we own the mbuf.
        unsafe { sys::upf_pktmbuf_reset(self.as_ptr()) }
    }

    /// The `port` field (a PMD sets its port id on receive).
    #[inline]
    pub fn port(&self) -> u16 {
        self.m().port
    }

    /// Sets the `port` field.
    #[inline]
    pub fn set_port(&mut self, port: u16) {
        self.m_mut().port = port;
    }

    /// The reference count (`rte_mbuf_refcnt_read`).
    pub fn refcnt(&self) -> u16 {
        // SAFETY: reads a field of our mbuf.
        unsafe { sys::upf_mbuf_refcnt_read(self.as_ptr()) }
    }

    /// The pool the mbuf returns to.
    pub fn pool_ptr(&self) -> *mut sys::rte_mempool {
        self.m().pool
    }

    /// Frees every mbuf of `bufs` with one `rte_pktmbuf_free_bulk` call and
    /// empties it.
    #[inline]
    pub fn free_bulk<const N: usize>(bufs: &mut ArrayVec<Mbuf, N>) {
        let n = bufs.len();
        if n == 0 {
            return;
        }
        // SAFETY: Mbuf is a transparent non-null pointer, so the ArrayVec's
        // first n slots are n valid owned mbuf pointers; after the call the
        // pool owns them and set_len(0) forgets them without dropping.
        unsafe {
            sys::rte_pktmbuf_free_bulk(bufs.as_mut_ptr().cast::<*mut sys::rte_mbuf>(), n as u32);
            bufs.set_len(0);
        }
    }
}
