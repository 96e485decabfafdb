//! Open-addressing hash maps for the per-packet lookups (TEID, UE IPv4, UE
//! IPv6 prefix). Linear probing over a power-of-two array with Fibonacci
//! hashing, backward-shift deletion (no tombstones), a load factor of at
//! most one half: a lookup is one multiply and, on average, one or two
//! probes of adjacent slots. A slot is the key and the value side by side;
//! a reserved value marks empty slots.

/// Keys the maps accept.
pub trait Key: Copy + Eq + Default {
    /// A well-mixed 64-bit hash.
    fn hash64(&self) -> u64;
}

impl Key for u32 {
    #[inline(always)]
    fn hash64(&self) -> u64 {
        u64::from(*self).wrapping_mul(0x9e37_79b9_7f4a_7c15)
    }
}

impl Key for u64 {
    #[inline(always)]
    fn hash64(&self) -> u64 {
        (*self ^ (*self >> 29)).wrapping_mul(0x9e37_79b9_7f4a_7c15)
    }
}

impl Key for u128 {
    #[inline(always)]
    fn hash64(&self) -> u64 {
        let x = (*self as u64) ^ ((*self >> 64) as u64).rotate_left(29);
        x.wrapping_mul(0x9e37_79b9_7f4a_7c15)
    }
}

/// Values the maps accept: small `Copy` values with one value reserved to
/// mark an empty slot (so a slot is just the key and the value: 8 bytes
/// for a `u32` map, eight slots per cache line).
pub trait Value: Copy + Eq {
    /// The value that marks an empty slot; it cannot be stored.
    const EMPTY: Self;
}

impl Value for u32 {
    const EMPTY: u32 = u32::MAX;
}

impl Value for u16 {
    const EMPTY: u16 = u16::MAX;
}

impl Value for u64 {
    const EMPTY: u64 = u64::MAX;
}

impl Value for [u8; 6] {
    // The broadcast address is never a neighbour's MAC.
    const EMPTY: [u8; 6] = [0xff; 6];
}

/// A map from `K` to a small `Copy` value.
#[derive(Clone, Debug)]
pub struct FastMap<K: Key, V: Value> {
    slots: Vec<(K, V)>,
    shift: u32,
    len: usize,
}

impl<K: Key, V: Value> Default for FastMap<K, V> {
    fn default() -> Self {
        Self::with_capacity(16)
    }
}

impl<K: Key, V: Value> FastMap<K, V> {
    /// A map that holds `cap` entries before it grows.
    pub fn with_capacity(cap: usize) -> Self {
        let n = (cap.max(8) * 2).next_power_of_two();
        FastMap {
            slots: vec![(K::default(), V::EMPTY); n],
            shift: 64 - n.trailing_zeros(),
            len: 0,
        }
    }

    /// Entries in the map.
    pub fn len(&self) -> usize {
        self.len
    }

    /// True if empty.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Bytes of the slot array (for memory accounting).
    pub fn heap_bytes(&self) -> usize {
        self.slots.len() * std::mem::size_of::<(K, V)>()
    }

    #[inline(always)]
    fn home(&self, k: &K) -> usize {
        (k.hash64() >> self.shift) as usize
    }

    #[inline(always)]
    fn mask(&self) -> usize {
        self.slots.len() - 1
    }

    /// The value of `k`.
    #[inline]
    pub fn get(&self, k: &K) -> Option<V> {
        let mask = self.mask();
        let mut i = self.home(k);
        loop {
            let (kk, v) = *self.slots.get(i)?;
            if v == V::EMPTY {
                return None;
            }
            if kk == *k {
                return Some(v);
            }
            i = (i + 1) & mask;
        }
    }

    /// Prefetches the slot where a lookup of `k` starts (call it a little
    /// before [`FastMap::get`]).
    #[inline(always)]
    pub fn prefetch(&self, k: &K) {
        if let Some(s) = self.slots.get(self.home(k)) {
            upf_io::prefetch::read(s);
        }
    }

    /// Inserts or replaces; returns the old value. May grow (allocates):
    /// call from the control path only, or reserve ahead. The empty marker
    /// ([`Value::EMPTY`]) cannot be stored: inserting it removes `k`.
    pub fn insert(&mut self, k: K, v: V) -> Option<V> {
        if v == V::EMPTY {
            return self.remove(&k);
        }
        if (self.len + 1) * 2 > self.slots.len() {
            self.grow();
        }
        let mask = self.mask();
        let mut i = self.home(&k);
        loop {
            let slot = &mut self.slots[i];
            if slot.1 == V::EMPTY {
                *slot = (k, v);
                self.len += 1;
                return None;
            }
            if slot.0 == k {
                return Some(std::mem::replace(&mut slot.1, v));
            }
            i = (i + 1) & mask;
        }
    }

    /// Removes `k`; returns its value.
    pub fn remove(&mut self, k: &K) -> Option<V> {
        let mask = self.mask();
        let mut i = self.home(k);
        loop {
            let (kk, v) = self.slots[i];
            if v == V::EMPTY {
                return None;
            }
            if kk == *k {
                break;
            }
            i = (i + 1) & mask;
        }
        let old = std::mem::replace(&mut self.slots[i], (K::default(), V::EMPTY)).1;
        self.len -= 1;
        // Backward-shift: move later entries of the cluster into the hole
        // when their home position allows it.
        let mut hole = i;
        let mut j = (i + 1) & mask;
        while self.slots[j].1 != V::EMPTY {
            let home = self.home(&self.slots[j].0);
            // Is `home` cyclically outside (hole, j]? Then the entry may move.
            let dist_home = j.wrapping_sub(home) & mask;
            let dist_hole = j.wrapping_sub(hole) & mask;
            if dist_home >= dist_hole {
                self.slots[hole] = std::mem::replace(&mut self.slots[j], (K::default(), V::EMPTY));
                hole = j;
            }
            j = (j + 1) & mask;
        }
        Some(old)
    }

    /// Ensures room for `extra` more entries without growing on insert.
    pub fn reserve(&mut self, extra: usize) {
        while (self.len + extra) * 2 > self.slots.len() {
            self.grow();
        }
    }

    fn grow(&mut self) {
        let n = self.slots.len() * 2;
        let old = std::mem::replace(&mut self.slots, vec![(K::default(), V::EMPTY); n]);
        self.shift = 64 - n.trailing_zeros();
        self.len = 0;
        for (k, v) in old {
            if v != V::EMPTY {
                self.insert(k, v);
            }
        }
    }

    /// Iterates over entries (control path).
    pub fn iter(&self) -> impl Iterator<Item = (K, V)> + '_ {
        self.slots.iter().copied().filter(|(_, v)| *v != V::EMPTY)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use std::collections::HashMap;

    proptest! {
        #[test]
        fn behaves_like_hashmap(ops in proptest::collection::vec((any::<bool>(), 0u32..64, 0u16..u16::MAX), 0..400)) {
            let mut m: FastMap<u32, u16> = FastMap::with_capacity(4);
            let mut r: HashMap<u32, u16> = HashMap::new();
            for (ins, k, v) in ops {
                if ins {
                    prop_assert_eq!(m.insert(k, v), r.insert(k, v));
                } else {
                    prop_assert_eq!(m.remove(&k), r.remove(&k));
                }
                prop_assert_eq!(m.len(), r.len());
            }
            for k in 0..64u32 {
                prop_assert_eq!(m.get(&k), r.get(&k).copied());
            }
        }
    }

    #[test]
    fn many_keys() {
        let mut m: FastMap<u128, u32> = FastMap::with_capacity(1000);
        for i in 0..10_000u128 {
            m.insert(i << 64, i as u32);
        }
        for i in 0..10_000u128 {
            assert_eq!(m.get(&(i << 64)), Some(i as u32));
        }
        for i in (0..10_000u128).step_by(2) {
            assert_eq!(m.remove(&(i << 64)), Some(i as u32));
        }
        for i in 0..10_000u128 {
            assert_eq!(m.get(&(i << 64)).is_some(), i % 2 == 1);
        }
    }
}
