//! A bounded single-producer single-consumer ring for one process: the
//! dataplane's control thread hands compiled rules to a worker through one,
//! and the worker hands back reports and retired rule objects through
//! another. Push and pop are wait-free: two atomic loads and one store, no
//! allocation, no lock, no syscall.

use std::cell::UnsafeCell;
use std::fmt;
use std::mem::MaybeUninit;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

/// Pads a value to its own cache line so producer and consumer indices do
/// not share one.
#[repr(align(64))]
struct CachePadded<T>(T);

struct Shared<T> {
    slots: Box<[UnsafeCell<MaybeUninit<T>>]>,
    mask: usize,
    /// Next slot the consumer reads (written by the consumer only).
    head: CachePadded<AtomicUsize>,
    /// Next slot the producer writes (written by the producer only).
    tail: CachePadded<AtomicUsize>,
}

// SAFETY: slots are handed from exactly one producer to exactly one consumer;
// a slot is written only while it is outside [head, tail) and read only while
// inside, and the Release/Acquire pairs on head and tail order those accesses.
unsafe impl<T: Send> Sync for Shared<T> {}
// SAFETY: as above; the ring owns values of T, which are Send.
unsafe impl<T: Send> Send for Shared<T> {}

impl<T> Drop for Shared<T> {
    fn drop(&mut self) {
        let head = self.head.0.load(Ordering::Relaxed);
        let tail = self.tail.0.load(Ordering::Relaxed);
        for i in head..tail {
            let slot = &self.slots[i & self.mask];
            // SAFETY: every slot in [head, tail) holds an initialised value that
            // no one else can reach any more (we have &mut self).
            unsafe { (*slot.get()).assume_init_drop() };
        }
    }
}

/// The sending half. Not `Clone`: there is one producer.
pub struct Producer<T> {
    shared: Arc<Shared<T>>,
    tail: usize,
    cached_head: usize,
}

/// The receiving half. Not `Clone`: there is one consumer.
pub struct Consumer<T> {
    shared: Arc<Shared<T>>,
    head: usize,
    cached_tail: usize,
}

impl<T> fmt::Debug for Producer<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Producer")
            .field("tail", &self.tail)
            .finish()
    }
}

impl<T> fmt::Debug for Consumer<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Consumer")
            .field("head", &self.head)
            .finish()
    }
}

/// A ring with room for at least `capacity` values (rounded up to a power of two).
pub fn channel<T: Send>(capacity: usize) -> (Producer<T>, Consumer<T>) {
    let cap = capacity.max(2).next_power_of_two();
    let slots = (0..cap)
        .map(|_| UnsafeCell::new(MaybeUninit::uninit()))
        .collect::<Vec<_>>()
        .into_boxed_slice();
    let shared = Arc::new(Shared {
        slots,
        mask: cap - 1,
        head: CachePadded(AtomicUsize::new(0)),
        tail: CachePadded(AtomicUsize::new(0)),
    });
    (
        Producer {
            shared: shared.clone(),
            tail: 0,
            cached_head: 0,
        },
        Consumer {
            shared,
            head: 0,
            cached_tail: 0,
        },
    )
}

impl<T: Send> Producer<T> {
    /// Appends `v`, or gives it back if the ring is full.
    #[inline]
    pub fn push(&mut self, v: T) -> Result<(), T> {
        let cap = self.shared.mask + 1;
        if self.tail - self.cached_head == cap {
            self.cached_head = self.shared.head.0.load(Ordering::Acquire);
            if self.tail - self.cached_head == cap {
                return Err(v);
            }
        }
        let slot = &self.shared.slots[self.tail & self.shared.mask];
        // SAFETY: the slot is outside [head, tail): the consumer does not read
        // it until the Release store of tail below publishes it.
        unsafe { (*slot.get()).write(v) };
        self.tail = self.tail.wrapping_add(1);
        self.shared.tail.0.store(self.tail, Ordering::Release);
        Ok(())
    }

    /// Free slots right now (a lower bound: the consumer may free more).
    pub fn free(&mut self) -> usize {
        self.cached_head = self.shared.head.0.load(Ordering::Acquire);
        self.shared.mask + 1 - (self.tail - self.cached_head)
    }

    /// True if the consumer has been dropped.
    pub fn is_abandoned(&self) -> bool {
        Arc::strong_count(&self.shared) == 1
    }
}

impl<T: Send> Consumer<T> {
    /// Takes the oldest value, if any.
    #[inline]
    pub fn pop(&mut self) -> Option<T> {
        if self.head == self.cached_tail {
            self.cached_tail = self.shared.tail.0.load(Ordering::Acquire);
            if self.head == self.cached_tail {
                return None;
            }
        }
        let slot = &self.shared.slots[self.head & self.shared.mask];
        // SAFETY: the slot is inside [head, tail), initialised by the producer
        // before its Release store of tail, which our Acquire load observed.
        let v = unsafe { (*slot.get()).assume_init_read() };
        self.head = self.head.wrapping_add(1);
        self.shared.head.0.store(self.head, Ordering::Release);
        Some(v)
    }

    /// Values waiting right now (a lower bound).
    pub fn len(&mut self) -> usize {
        self.cached_tail = self.shared.tail.0.load(Ordering::Acquire);
        self.cached_tail - self.head
    }

    /// True if nothing is waiting right now.
    pub fn is_empty(&mut self) -> bool {
        self.len() == 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fifo_and_full() {
        let (mut p, mut c) = channel::<u32>(4);
        for i in 0..4 {
            p.push(i).unwrap();
        }
        assert_eq!(p.push(9), Err(9));
        assert_eq!(c.pop(), Some(0));
        p.push(4).unwrap();
        assert_eq!(
            std::iter::from_fn(|| c.pop()).collect::<Vec<_>>(),
            vec![1, 2, 3, 4]
        );
        assert_eq!(c.pop(), None);
    }

    #[test]
    fn drops_what_is_left() {
        let marker = Arc::new(());
        {
            let (mut p, _c) = channel::<Arc<()>>(8);
            for _ in 0..5 {
                p.push(marker.clone()).unwrap();
            }
            assert_eq!(Arc::strong_count(&marker), 6);
        }
        assert_eq!(Arc::strong_count(&marker), 1);
    }

    #[test]
    fn two_threads_keep_order() {
        let (mut p, mut c) = channel::<u64>(64);
        const N: u64 = 200_000;
        let t = std::thread::spawn(move || {
            let mut i = 0;
            while i < N {
                if p.push(i).is_ok() {
                    i += 1;
                } else {
                    std::thread::yield_now();
                }
            }
        });
        let mut expect = 0;
        while expect < N {
            if let Some(v) = c.pop() {
                assert_eq!(v, expect);
                expect += 1;
            } else {
                std::thread::yield_now();
            }
        }
        t.join().unwrap();
    }
}
