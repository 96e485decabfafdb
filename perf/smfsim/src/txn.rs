//! Outstanding requests of the SMF side: sequence numbers, retransmission
//! after T1 up to N1 times (TS 29.244 6.4), and matching of responses.
//! Sans I/O: the caller passes the time and sends the datagrams.
//!
//! Every operation is O(1) amortized whatever the window: with one T1 for
//! every request and a clock that does not go back, due times come in
//! send order, so the timers are a FIFO queue (answered requests leave
//! their entry behind, skipped when it reaches the front), and the
//! outstanding requests are counted per kind as they come and go.

use std::collections::{HashMap, VecDeque};

/// What a request was for.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Kind {
    /// Association Setup.
    Association,
    /// Association Release.
    Release,
    /// Heartbeat.
    Heartbeat,
    /// Session Establishment of a session index.
    Establish(u32),
    /// Session Modification of a session index.
    Modify(u32),
    /// Session Deletion of a session index.
    Delete(u32),
}

impl Kind {
    fn class(&self) -> usize {
        match self {
            Kind::Association => 0,
            Kind::Release => 1,
            Kind::Heartbeat => 2,
            Kind::Establish(_) => 3,
            Kind::Modify(_) => 4,
            Kind::Delete(_) => 5,
        }
    }

    /// The session index, for session requests.
    pub fn session(&self) -> Option<u32> {
        match *self {
            Kind::Establish(i) | Kind::Modify(i) | Kind::Delete(i) => Some(i),
            _ => None,
        }
    }
}

/// One request waiting for its response.
#[derive(Clone, Debug)]
pub struct Pending {
    /// What it is for.
    pub kind: Kind,
    /// Message type of the request.
    pub msg_type: u8,
    /// The encoded request (for retransmission).
    pub data: Vec<u8>,
    /// When it was first sent (ns).
    pub first_ns: u64,
    /// When it is due for retransmission (ns).
    pub due_ns: u64,
    /// Retransmissions so far.
    pub retries: u32,
    /// Which timer queue entry is this request's current one.
    timer: u64,
}

/// The outcome of a timer check.
#[derive(Debug, PartialEq, Eq)]
pub enum Expiry {
    /// Send these bytes again.
    Retransmit(Vec<u8>),
    /// The request got no response after N1 retransmissions.
    Failed(Kind),
}

/// The table of outstanding requests.
#[derive(Debug)]
pub struct Transactions {
    next_seq: u32,
    pending: HashMap<u32, Pending>,
    /// (due time, sequence number, timer ID) in due order; an entry whose
    /// timer ID is not its request's current one is stale.
    timers: VecDeque<(u64, u32, u64)>,
    next_timer: u64,
    /// Outstanding requests per [`Kind::class`].
    by_class: [usize; 6],
    t1_ns: u64,
    n1: u32,
    /// Retransmissions sent.
    pub retransmissions: u64,
}

impl Transactions {
    /// A table with timer `t1_ns` and `n1` retransmissions.
    pub fn new(t1_ns: u64, n1: u32) -> Self {
        Transactions {
            next_seq: 1,
            pending: HashMap::new(),
            timers: VecDeque::new(),
            next_timer: 0,
            by_class: [0; 6],
            t1_ns: t1_ns.max(1),
            n1,
            retransmissions: 0,
        }
    }

    /// A fresh 24-bit sequence number not in use.
    pub fn next_seq(&mut self) -> u32 {
        loop {
            let s = self.next_seq;
            self.next_seq = (self.next_seq + 1) & 0x00ff_ffff;
            if self.next_seq == 0 {
                self.next_seq = 1;
            }
            if !self.pending.contains_key(&s) {
                return s;
            }
        }
    }

    /// Records request `seq` that was just sent.
    /// Records request `seq` that was just sent (replacing any request
    /// still outstanding under the same number).
    pub fn sent(&mut self, now_ns: u64, seq: u32, kind: Kind, msg_type: u8, data: Vec<u8>) {
        let due_ns = now_ns + self.t1_ns;
        let timer = self.arm(due_ns, seq);
        self.by_class[kind.class()] += 1;
        let old = self.pending.insert(
            seq,
            Pending {
                kind,
                msg_type,
                data,
                first_ns: now_ns,
                due_ns,
                retries: 0,
                timer,
            },
        );
        if let Some(o) = old {
            self.by_class[o.kind.class()] -= 1;
            self.skip_stale();
        }
    }

    fn arm(&mut self, due_ns: u64, seq: u32) -> u64 {
        let id = self.next_timer;
        self.next_timer += 1;
        self.timers.push_back((due_ns, seq, id));
        id
    }

    fn is_current(&self, seq: u32, timer: u64) -> bool {
        self.pending.get(&seq).is_some_and(|p| p.timer == timer)
    }

    /// Drops stale entries from the front of the timer queue.
    fn skip_stale(&mut self) {
        while let Some(&(_, seq, id)) = self.timers.front() {
            if self.is_current(seq, id) {
                break;
            }
            self.timers.pop_front();
        }
    }

    fn remove(&mut self, seq: u32) -> Option<Pending> {
        let p = self.pending.remove(&seq)?;
        self.by_class[p.kind.class()] -= 1;
        self.skip_stale();
        Some(p)
    }

    /// Matches a response; `None` for a response to nothing outstanding
    /// (a late duplicate) or of the wrong type.
    pub fn answered(&mut self, seq: u32, response_type: u8) -> Option<Pending> {
        match self.pending.get(&seq) {
            Some(p) if p.msg_type + 1 == response_type => self.remove(seq),
            _ => None,
        }
    }

    /// Requests due at `now_ns`: retransmissions and failures.
    pub fn expire(&mut self, now_ns: u64, out: &mut Vec<Expiry>) {
        while let Some(&(due, seq, id)) = self.timers.front() {
            if !self.is_current(seq, id) {
                self.timers.pop_front();
                continue;
            }
            if due > now_ns {
                break;
            }
            self.timers.pop_front();
            let retries = self.pending.get(&seq).map_or(0, |p| p.retries);
            if retries < self.n1 {
                let due_ns = now_ns + self.t1_ns;
                let timer = self.arm(due_ns, seq);
                if let Some(p) = self.pending.get_mut(&seq) {
                    p.retries += 1;
                    p.due_ns = due_ns;
                    p.timer = timer;
                    self.retransmissions += 1;
                    out.push(Expiry::Retransmit(p.data.clone()));
                }
            } else if let Some(p) = self.remove(seq) {
                out.push(Expiry::Failed(p.kind));
            }
        }
    }

    /// The earliest retransmission time, if any request is outstanding.
    pub fn next_due(&self) -> Option<u64> {
        // The front is current after every change (`skip_stale`).
        self.timers.front().map(|t| t.0)
    }

    /// Requests outstanding.
    pub fn len(&self) -> usize {
        self.pending.len()
    }

    /// True when nothing is outstanding.
    pub fn is_empty(&self) -> bool {
        self.pending.is_empty()
    }

    /// Outstanding session requests (establishments, modifications and
    /// deletions: what the window limits).
    pub fn sessions_outstanding(&self) -> usize {
        self.by_class[3] + self.by_class[4] + self.by_class[5]
    }

    /// Outstanding Association Release requests.
    pub fn releases_outstanding(&self) -> usize {
        self.by_class[1]
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retransmits_n1_times_then_fails() {
        let mut t = Transactions::new(1_000, 2);
        let s = t.next_seq();
        t.sent(0, s, Kind::Establish(3), 50, vec![1, 2, 3]);
        let mut out = Vec::new();
        t.expire(999, &mut out);
        assert!(out.is_empty(), "not due before T1");
        t.expire(1_000, &mut out);
        assert_eq!(out, vec![Expiry::Retransmit(vec![1, 2, 3])]);
        out.clear();
        t.expire(1_500, &mut out);
        assert!(out.is_empty(), "T1 restarts at each retransmission");
        t.expire(2_000, &mut out);
        assert_eq!(out, vec![Expiry::Retransmit(vec![1, 2, 3])]);
        out.clear();
        t.expire(3_000, &mut out);
        assert_eq!(out, vec![Expiry::Failed(Kind::Establish(3))]);
        assert!(t.is_empty());
        assert_eq!(t.retransmissions, 2);
    }

    #[test]
    fn responses_match_by_sequence_and_type() {
        let mut t = Transactions::new(1_000, 3);
        let a = t.next_seq();
        let b = t.next_seq();
        assert_ne!(a, b);
        t.sent(0, a, Kind::Modify(1), 52, vec![]);
        t.sent(0, b, Kind::Delete(2), 54, vec![]);
        assert!(t.answered(a, 55).is_none(), "wrong response type");
        let p = t.answered(a, 53).unwrap();
        assert_eq!(p.kind, Kind::Modify(1));
        assert!(
            t.answered(a, 53).is_none(),
            "a duplicate response matches nothing"
        );
        assert_eq!(t.sessions_outstanding(), 1);
        assert_eq!(t.releases_outstanding(), 0);
        assert_eq!(t.next_due(), Some(1_000));
    }

    /// The obvious table (a scan of every outstanding request), which the
    /// queue and counters must agree with.
    #[derive(Default)]
    struct Model {
        pending: std::collections::BTreeMap<u32, (Kind, u8, u64, u32)>,
    }

    #[derive(Clone, Debug)]
    enum Op {
        Send(u32, u8),
        Answer(u32, bool),
        Advance(u64),
    }

    fn op() -> impl proptest::strategy::Strategy<Value = Op> {
        use proptest::prelude::*;
        prop_oneof![
            (0u32..6, 0u8..6).prop_map(|(k, c)| Op::Send(k, c)),
            (0u32..40, any::<bool>()).prop_map(|(s, r)| Op::Answer(s, r)),
            (0u64..2_500).prop_map(Op::Advance),
        ]
    }

    proptest::proptest! {
        #[test]
        fn the_timer_queue_agrees_with_a_scan(ops in proptest::collection::vec(op(), 1..200)) {
            const T1: u64 = 1_000;
            const N1: u32 = 2;
            let mut t = Transactions::new(T1, N1);
            let mut m = Model::default();
            let mut now = 0u64;
            let mut out = Vec::new();
            for o in ops {
                match o {
                    Op::Send(k, c) => {
                        let seq = t.next_seq();
                        let kind = match c {
                            0 => Kind::Association,
                            1 => Kind::Release,
                            2 => Kind::Heartbeat,
                            3 => Kind::Establish(k),
                            4 => Kind::Modify(k),
                            _ => Kind::Delete(k),
                        };
                        let mt = 50 + 2 * c;
                        t.sent(now, seq, kind, mt, seq.to_be_bytes().to_vec());
                        m.pending.insert(seq, (kind, mt, now + T1, 0));
                    }
                    Op::Answer(seq, right_type) => {
                        let rsp = m.pending.get(&seq).map_or(1, |p| p.1 + 1 + u8::from(!right_type));
                        let got = t.answered(seq, rsp).map(|p| p.kind);
                        let want = match m.pending.get(&seq) {
                            Some(p) if p.1 + 1 == rsp => m.pending.remove(&seq).map(|p| p.0),
                            _ => None,
                        };
                        proptest::prop_assert_eq!(got, want);
                    }
                    Op::Advance(dt) => {
                        now += dt;
                        out.clear();
                        t.expire(now, &mut out);
                        let mut want = Vec::new();
                        // Due requests in due order.
                        let mut due: Vec<(u64, u32)> = m
                            .pending
                            .iter()
                            .filter(|(_, p)| p.2 <= now)
                            .map(|(s, p)| (p.2, *s))
                            .collect();
                        due.sort_unstable();
                        for (_, s) in due {
                            let p = m.pending.get_mut(&s).unwrap();
                            if p.3 < N1 {
                                p.3 += 1;
                                p.2 = now + T1;
                                want.push(Expiry::Retransmit(s.to_be_bytes().to_vec()));
                            } else {
                                let p = m.pending.remove(&s).unwrap();
                                want.push(Expiry::Failed(p.0));
                            }
                        }
                        // The same expiries (in which order requests due at
                        // the same moment come out does not matter).
                        let key = |e: &Expiry| format!("{e:?}");
                        let mut got: Vec<String> = out.iter().map(key).collect();
                        let mut want: Vec<String> = want.iter().map(key).collect();
                        got.sort();
                        want.sort();
                        proptest::prop_assert_eq!(got, want);
                    }
                }
                proptest::prop_assert_eq!(t.len(), m.pending.len());
                proptest::prop_assert_eq!(t.next_due(), m.pending.values().map(|p| p.2).min());
                proptest::prop_assert_eq!(
                    t.sessions_outstanding(),
                    m.pending.values().filter(|p| p.0.session().is_some()).count()
                );
                proptest::prop_assert_eq!(
                    t.releases_outstanding(),
                    m.pending.values().filter(|p| p.0 == Kind::Release).count()
                );
            }
        }
    }

    #[test]
    fn sequence_numbers_are_24_bit_and_skip_busy_ones() {
        let mut t = Transactions::new(1, 0);
        t.next_seq = 0x00ff_ffff;
        assert_eq!(t.next_seq(), 0x00ff_ffff);
        let s = t.next_seq();
        assert_eq!(s, 1, "wraps past 0");
        t.sent(0, 2, Kind::Heartbeat, 1, vec![]);
        assert_eq!(t.next_seq(), 3, "2 is outstanding");
    }
}
