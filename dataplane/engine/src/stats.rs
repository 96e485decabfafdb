//! Counters of a worker. Written only by the worker; the daemon copies them
//! out between bursts (no atomics on the hot path).

/// Why a packet was dropped.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[repr(u8)]
pub enum DropReason {
    /// The frame did not parse.
    Malformed = 0,
    /// Not for one of our addresses and not for a UE.
    NotForUs,
    /// A G-PDU for a TEID we do not know.
    UnknownTeid,
    /// No session for the destination UE address.
    NoSession,
    /// The session has no PDR that matches.
    NoPdr,
    /// The FAR says drop.
    FarDrop,
    /// A QER gate is closed.
    GateClosed,
    /// A QER's MBR bucket is empty.
    RateExceeded,
    /// A URR quota is exhausted.
    QuotaExhausted,
    /// The session's buffer (or the worker's) is full.
    BufferFull,
    /// Buffered longer than the maximum buffering time.
    BufferExpired,
    /// No route or egress port.
    NoRoute,
    /// Next hop did not resolve in time, or the pending queue was full.
    Unresolved,
    /// No headroom to add a header, or no pool buffer for a copy.
    NoBuffer,
    /// A MEC steering rule said DROP.
    SteerDrop,
    /// Handed to another worker whose ring was full.
    HandoffFull,
    /// A GTP-U signalling message we do not handle.
    UnsupportedGtp,
    /// An ARP/ND/ICMP packet we do not answer.
    Control,
    /// A GTP-U packet with an extension header that is unknown and
    /// comprehension-required (answered with a Supported Extension Headers
    /// Notification).
    UnsupportedExtension,
}

impl DropReason {
    /// Number of reasons.
    pub const COUNT: usize = 19;

    /// All reasons, in order.
    pub const ALL: [DropReason; Self::COUNT] = [
        DropReason::Malformed,
        DropReason::NotForUs,
        DropReason::UnknownTeid,
        DropReason::NoSession,
        DropReason::NoPdr,
        DropReason::FarDrop,
        DropReason::GateClosed,
        DropReason::RateExceeded,
        DropReason::QuotaExhausted,
        DropReason::BufferFull,
        DropReason::BufferExpired,
        DropReason::NoRoute,
        DropReason::Unresolved,
        DropReason::NoBuffer,
        DropReason::SteerDrop,
        DropReason::HandoffFull,
        DropReason::UnsupportedGtp,
        DropReason::Control,
        DropReason::UnsupportedExtension,
    ];

    /// A metric label.
    pub fn label(self) -> &'static str {
        match self {
            DropReason::Malformed => "malformed",
            DropReason::NotForUs => "not_for_us",
            DropReason::UnknownTeid => "unknown_teid",
            DropReason::NoSession => "no_session",
            DropReason::NoPdr => "no_pdr",
            DropReason::FarDrop => "far_drop",
            DropReason::GateClosed => "gate_closed",
            DropReason::RateExceeded => "rate_exceeded",
            DropReason::QuotaExhausted => "quota_exhausted",
            DropReason::BufferFull => "buffer_full",
            DropReason::BufferExpired => "buffer_expired",
            DropReason::NoRoute => "no_route",
            DropReason::Unresolved => "unresolved",
            DropReason::NoBuffer => "no_buffer",
            DropReason::SteerDrop => "steer_drop",
            DropReason::HandoffFull => "handoff_full",
            DropReason::UnsupportedGtp => "unsupported_gtp",
            DropReason::Control => "control",
            DropReason::UnsupportedExtension => "unsupported_extension",
        }
    }
}

/// Per-port counters of one worker.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct PortCounters {
    /// Packets received.
    pub rx_packets: u64,
    /// Bytes received.
    pub rx_bytes: u64,
    /// Packets sent.
    pub tx_packets: u64,
    /// Bytes sent.
    pub tx_bytes: u64,
}

/// Counters of one worker.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct WorkerStats {
    /// Per port.
    pub ports: Vec<PortCounters>,
    /// Drops by [`DropReason`].
    pub drops: [u64; DropReason::COUNT],
    /// Uplink packets forwarded.
    pub uplink_packets: u64,
    /// Downlink packets forwarded.
    pub downlink_packets: u64,
    /// Packets broken out to MEC by steering rules.
    pub steered_packets: u64,
    /// DNS queries answered at the edge.
    pub dns_answers: u64,
    /// Packets handed to another worker.
    pub handed_off: u64,
    /// Packets currently buffered.
    pub buffered: u64,
    /// Error indications sent.
    pub error_indications_sent: u64,
    /// Supported Extension Headers Notifications sent.
    pub ext_notifications_sent: u64,
    /// Echo requests answered.
    pub echo_replies: u64,
    /// Copies sent by FARs that duplicate.
    pub duplicated_packets: u64,
    /// End Markers sent (relayed, or for a replaced tunnel).
    pub end_markers_sent: u64,
    /// ARP/NDP/ICMP answers sent.
    pub control_replies: u64,
    /// Sessions installed on this worker.
    pub sessions: u64,
}

impl WorkerStats {
    /// Counters for `ports` ports.
    pub fn new(ports: usize) -> Self {
        WorkerStats {
            ports: vec![PortCounters::default(); ports],
            ..Default::default()
        }
    }

    /// Counts a drop.
    #[inline]
    pub fn drop(&mut self, r: DropReason) {
        self.drops[r as usize] += 1;
    }

    /// Drops of one reason.
    pub fn drops_of(&self, r: DropReason) -> u64 {
        self.drops[r as usize]
    }
}
