//! Outstanding requests of the SMF side: sequence numbers, retransmission
//! after T1 up to N1 times (TS 29.244 6.4), and matching of responses.
//! Sans I/O: the caller passes the time and sends the datagrams.

use std::collections::HashMap;

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
    pub fn sent(&mut self, now_ns: u64, seq: u32, kind: Kind, msg_type: u8, data: Vec<u8>) {
        self.pending.insert(
            seq,
            Pending {
                kind,
                msg_type,
                data,
                first_ns: now_ns,
                due_ns: now_ns + self.t1_ns,
                retries: 0,
            },
        );
    }

    /// Matches a response; `None` for a response to nothing outstanding
    /// (a late duplicate) or of the wrong type.
    pub fn answered(&mut self, seq: u32, response_type: u8) -> Option<Pending> {
        match self.pending.get(&seq) {
            Some(p) if p.msg_type + 1 == response_type => self.pending.remove(&seq),
            _ => None,
        }
    }

    /// Requests due at `now_ns`: retransmissions and failures.
    pub fn expire(&mut self, now_ns: u64, out: &mut Vec<Expiry>) {
        let due: Vec<u32> = self
            .pending
            .iter()
            .filter(|(_, p)| p.due_ns <= now_ns)
            .map(|(s, _)| *s)
            .collect();
        for s in due {
            let Some(p) = self.pending.get_mut(&s) else {
                continue;
            };
            if p.retries < self.n1 {
                p.retries += 1;
                p.due_ns = now_ns + self.t1_ns;
                self.retransmissions += 1;
                out.push(Expiry::Retransmit(p.data.clone()));
            } else if let Some(p) = self.pending.remove(&s) {
                out.push(Expiry::Failed(p.kind));
            }
        }
    }

    /// The earliest retransmission time, if any request is outstanding.
    pub fn next_due(&self) -> Option<u64> {
        self.pending.values().map(|p| p.due_ns).min()
    }

    /// Requests outstanding.
    pub fn len(&self) -> usize {
        self.pending.len()
    }

    /// True when nothing is outstanding.
    pub fn is_empty(&self) -> bool {
        self.pending.is_empty()
    }

    /// Outstanding requests of one kind class (for window limits).
    pub fn count(&self, f: impl Fn(&Kind) -> bool) -> usize {
        self.pending.values().filter(|p| f(&p.kind)).count()
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
        assert_eq!(t.count(|k| matches!(k, Kind::Delete(_))), 1);
        assert_eq!(t.next_due(), Some(1_000));
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
