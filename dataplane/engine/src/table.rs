//! Open-addressing hash maps for the per-packet lookups (TEID, UE IPv4, UE
//! IPv6 prefix). Linear probing over a power-of-two array with Fibonacci
//! hashing, backward-shift deletion (no tombstones), a load factor of at
//! most one half: a lookup is one multiply and, on average, one or two
//! probes of adjacent slots.

/// Keys the maps accept.
pub trait Key: Copy + Eq {
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

/// A map from `K` to a small `Copy` value.
#[derive(Clone, Debug)]
pub struct FastMap<K: Key, V: Copy> {
    slots: Vec<Option<(K, V)>>,
    shift: u32,
    len: usize,
}

impl<K: Key, V: Copy> Default for FastMap<K, V> {
    fn default() -> Self {
        Self::with_capacity(16)
    }
}

impl<K: Key, V: Copy> FastMap<K, V> {
    /// A map that holds `cap` entries before it grows.
    pub fn with_capacity(cap: usize) -> Self {
        let n = (cap.max(8) * 2).next_power_of_two();
        FastMap {
            slots: vec![None; n],
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
        self.slots.len() * std::mem::size_of::<Option<(K, V)>>()
    }

    #[inline(always)]
    fn home(&self, k: &K) -> usize {
        (k.hash64() >> self.shift) as usize
    }

    /// The value of `k`.
    #[inline]
    pub fn get(&self, k: &K) -> Option<V> {
        let mask = self.slots.len() - 1;
        let mut i = self.home(k);
        loop {
            match &self.slots[i] {
                Some((kk, v)) if kk == k => return Some(*v),
                Some(_) => i = (i + 1) & mask,
                None => return None,
            }
        }
    }

    /// A hint for the slot of `k`, to prefetch before [`FastMap::get`].
    #[inline]
    pub fn slot_index(&self, k: &K) -> usize {
        self.home(k)
    }

    /// Inserts or replaces; returns the old value. May grow (allocates):
    /// call from the control path only, or reserve ahead.
    pub fn insert(&mut self, k: K, v: V) -> Option<V> {
        if (self.len + 1) * 2 > self.slots.len() {
            self.grow();
        }
        let mask = self.slots.len() - 1;
        let mut i = self.home(&k);
        loop {
            match &mut self.slots[i] {
                Some((kk, vv)) if *kk == k => return Some(std::mem::replace(vv, v)),
                Some(_) => i = (i + 1) & mask,
                slot @ None => {
                    *slot = Some((k, v));
                    self.len += 1;
                    return None;
                }
            }
        }
    }

    /// Removes `k`; returns its value.
    pub fn remove(&mut self, k: &K) -> Option<V> {
        let mask = self.slots.len() - 1;
        let mut i = self.home(k);
        loop {
            match &self.slots[i] {
                Some((kk, _)) if kk == k => break,
                Some(_) => i = (i + 1) & mask,
                None => return None,
            }
        }
        let old = self.slots[i].take().map(|(_, v)| v);
        self.len -= 1;
        // Backward-shift: move later entries of the cluster into the hole
        // when their home position allows it.
        let mut hole = i;
        let mut j = (i + 1) & mask;
        while let Some((kk, _)) = &self.slots[j] {
            let home = self.home(kk);
            // Is `home` cyclically outside (hole, j]? Then the entry may move.
            let dist_home = j.wrapping_sub(home) & mask;
            let dist_hole = j.wrapping_sub(hole) & mask;
            if dist_home >= dist_hole {
                self.slots[hole] = self.slots[j].take();
                hole = j;
            }
            j = (j + 1) & mask;
        }
        old
    }

    /// Ensures room for `extra` more entries without growing on insert.
    pub fn reserve(&mut self, extra: usize) {
        while (self.len + extra) * 2 > self.slots.len() {
            self.grow();
        }
    }

    fn grow(&mut self) {
        let n = self.slots.len() * 2;
        let old = std::mem::replace(&mut self.slots, vec![None; n]);
        self.shift = 64 - n.trailing_zeros();
        self.len = 0;
        for (k, v) in old.into_iter().flatten() {
            self.insert(k, v);
        }
    }

    /// Iterates over entries (control path).
    pub fn iter(&self) -> impl Iterator<Item = (K, V)> + '_ {
        self.slots.iter().flatten().copied()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use std::collections::HashMap;

    proptest! {
        #[test]
        fn behaves_like_hashmap(ops in proptest::collection::vec((any::<bool>(), 0u32..64, any::<u16>()), 0..400)) {
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
