//! Per-flow sequence accounting: received, duplicates, reordering, loss.
//!
//! A packet is *in order* when its sequence number is the highest so far
//! (gaps before it may still fill), *reordered* when it is below the
//! highest seen and was not seen before, a *duplicate* when seen before.
//! Seen numbers are remembered in a window of [`WINDOW`] below the
//! highest; an older packet cannot be told apart from a duplicate and is
//! counted as `beyond_window` (and as received). Loss is what the sender
//! sent minus the distinct packets received.

/// Sequence numbers remembered below the highest one seen.
pub const WINDOW: u64 = 256;
const WORDS: usize = (WINDOW / 64) as usize;

/// What one packet was.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Verdict {
    /// The next or a later number (`gap` numbers skipped before it).
    InOrder {
        /// Numbers skipped.
        gap: u64,
    },
    /// Below the highest, first time seen.
    Reordered,
    /// Seen before.
    Duplicate,
    /// Too far below the highest to tell.
    BeyondWindow,
}

/// The accounting of one flow.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct SeqTracker {
    /// One more than the highest number seen (0: nothing yet).
    next: u64,
    /// Packets received (duplicates included).
    pub received: u64,
    /// Duplicates.
    pub duplicates: u64,
    /// Reordered packets (arrived after a higher number).
    pub reordered: u64,
    /// Packets too old to check.
    pub beyond_window: u64,
    /// The first number skipped by a gap (a loss, or a reordering that
    /// filled it later), for diagnosis.
    pub first_gap: Option<u64>,
    bits: [u64; WORDS],
}

impl SeqTracker {
    #[inline]
    fn bit(&self, s: u64) -> bool {
        let p = (s % WINDOW) as usize;
        self.bits[p / 64] & (1 << (p % 64)) != 0
    }

    #[inline]
    fn set(&mut self, s: u64) {
        let p = (s % WINDOW) as usize;
        self.bits[p / 64] |= 1 << (p % 64);
    }

    #[inline]
    fn clear(&mut self, s: u64) {
        let p = (s % WINDOW) as usize;
        self.bits[p / 64] &= !(1 << (p % 64));
    }

    /// Accounts packet `seq`.
    #[inline]
    pub fn record(&mut self, seq: u64) -> Verdict {
        self.received += 1;
        if seq >= self.next {
            let gap = seq - self.next;
            if gap > 0 && self.first_gap.is_none() {
                self.first_gap = Some(self.next);
            }
            // Forget the window positions the new highest takes over.
            if gap >= WINDOW {
                self.bits = [0; WORDS];
            } else {
                for s in self.next..seq {
                    self.clear(s);
                }
            }
            self.set(seq);
            self.next = seq + 1;
            return Verdict::InOrder { gap };
        }
        if self.next - seq > WINDOW {
            self.beyond_window += 1;
            return Verdict::BeyondWindow;
        }
        if self.bit(seq) {
            self.duplicates += 1;
            Verdict::Duplicate
        } else {
            self.set(seq);
            self.reordered += 1;
            Verdict::Reordered
        }
    }

    /// Distinct packets received.
    pub fn unique(&self) -> u64 {
        self.received - self.duplicates
    }

    /// Packets of `sent` that did not arrive.
    pub fn lost(&self, sent: u64) -> u64 {
        sent.saturating_sub(self.unique())
    }

    /// Numbers missing below the highest seen (the loss a receiver can see
    /// without the sender's count; a lost tail is invisible).
    pub fn gaps(&self) -> u64 {
        self.next.saturating_sub(self.unique())
    }

    /// One more than the highest number seen.
    pub fn highest_plus_one(&self) -> u64 {
        self.next
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(seqs: &[u64]) -> (SeqTracker, Vec<Verdict>) {
        let mut t = SeqTracker::default();
        let v = seqs.iter().map(|&s| t.record(s)).collect();
        (t, v)
    }

    #[test]
    fn in_order_stream() {
        let (t, v) = run(&[0, 1, 2, 3]);
        assert!(v.iter().all(|x| *x == Verdict::InOrder { gap: 0 }));
        assert_eq!((t.unique(), t.lost(4), t.gaps()), (4, 0, 0));
    }

    #[test]
    fn loss_is_sent_minus_distinct() {
        let (t, v) = run(&[0, 1, 4, 5, 9]);
        assert_eq!(v[2], Verdict::InOrder { gap: 2 });
        assert_eq!(v[4], Verdict::InOrder { gap: 3 });
        assert_eq!(t.lost(10), 5, "2, 3, 6, 7, 8 and the tail... 10 sent");
        assert_eq!(t.gaps(), 5, "2, 3, 6, 7, 8");
        assert_eq!(t.lost(12), 7, "plus the lost tail 10, 11");
        assert_eq!(t.first_gap, Some(2));
        assert_eq!(t.reordered + t.duplicates, 0);
    }

    #[test]
    fn reordering_fills_gaps() {
        let (t, v) = run(&[0, 2, 1, 3, 5, 4]);
        assert_eq!(v[2], Verdict::Reordered);
        assert_eq!(v[5], Verdict::Reordered);
        assert_eq!((t.reordered, t.duplicates, t.lost(6)), (2, 0, 0));
    }

    #[test]
    fn duplicates_are_not_received_twice() {
        let (t, v) = run(&[0, 1, 1, 2, 0, 2, 2]);
        assert_eq!(
            v[2..],
            [
                Verdict::Duplicate,
                Verdict::InOrder { gap: 0 },
                Verdict::Duplicate,
                Verdict::Duplicate,
                Verdict::Duplicate
            ]
        );
        assert_eq!(
            (t.received, t.duplicates, t.unique(), t.lost(3)),
            (7, 4, 3, 0)
        );
    }

    #[test]
    fn a_late_duplicate_after_a_gap_is_still_caught() {
        // 5 arrives, then 3 (reordered), then 3 again (duplicate), then 4.
        let (t, v) = run(&[5, 3, 3, 4]);
        assert_eq!(
            v,
            vec![
                Verdict::InOrder { gap: 5 },
                Verdict::Reordered,
                Verdict::Duplicate,
                Verdict::Reordered
            ]
        );
        assert_eq!(t.lost(6), 3, "0, 1, 2");
    }

    #[test]
    fn the_window_slides() {
        let mut t = SeqTracker::default();
        for s in 0..1000 {
            t.record(s);
        }
        // Within the window: a duplicate.
        assert_eq!(t.record(999 - 100), Verdict::Duplicate);
        // Beyond it: cannot tell.
        assert_eq!(t.record(10), Verdict::BeyondWindow);
        // A jump larger than the window forgets everything behind it.
        assert_eq!(t.record(5000), Verdict::InOrder { gap: 4000 });
        assert_eq!(t.record(4999), Verdict::Reordered);
        assert_eq!(t.record(4999), Verdict::Duplicate);
        // Positions reused after a small jump are not mistaken for old ones.
        let mut u = SeqTracker::default();
        u.record(0);
        u.record(300); // reuses window position 44 of 300, clears 1..300
        assert_eq!(
            u.record(300 - 256 + 1),
            Verdict::Reordered,
            "45 was never seen"
        );
    }
}
