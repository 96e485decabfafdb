//! Software prefetch for the workers' burst pipeline (the counterpart of
//! DPDK's `rte_prefetch0`): a hint that pulls a cache line towards the
//! core while the worker handles other packets of the burst.
//!
//! A prefetch never faults and never changes memory, so these functions are
//! safe for any address; they take references so callers name real objects.

/// Bytes in a cache line.
pub const LINE: usize = 64;

/// Prefetches the cache line holding the start of `r` (into every cache level).
#[inline(always)]
pub fn read<T: ?Sized>(r: &T) {
    line((r as *const T).cast::<u8>());
}

/// Prefetches every cache line of `r`, at most `max_lines` of them.
#[inline(always)]
pub fn read_all<T: ?Sized>(r: &T, max_lines: usize) {
    let p = (r as *const T).cast::<u8>();
    let size = std::mem::size_of_val(r);
    // The lines the object touches, from the one holding its first byte.
    let first = p as usize & !(LINE - 1);
    let end = p as usize + size.max(1);
    let n = end.div_ceil(LINE) - first / LINE;
    for i in 0..n.min(max_lines) {
        line((first + i * LINE) as *const u8);
    }
}

/// Prefetches the cache line holding `p` (a hint: any pointer is
/// harmless, dangling or not; it is never dereferenced).
#[inline(always)]
pub fn ptr(p: *const u8) {
    line(p);
}

#[inline(always)]
fn line(p: *const u8) {
    #[cfg(target_arch = "x86_64")]
    // SAFETY: PREFETCHT0 is an SSE instruction (part of the x86_64
    // baseline); it is a hint that does not fault on any address and does
    // not change memory or registers visible to the program.
    unsafe {
        std::arch::x86_64::_mm_prefetch::<{ std::arch::x86_64::_MM_HINT_T0 }>(p.cast::<i8>());
    }
    #[cfg(not(target_arch = "x86_64"))]
    let _ = p;
}

#[cfg(test)]
mod tests {
    #[test]
    fn prefetch_is_harmless() {
        let v = vec![7u8; 1000];
        super::read(&v[999]);
        super::read_all(&v[..], 100);
        super::read_all(&(), 1);
        assert_eq!(v[999], 7);
    }
}
