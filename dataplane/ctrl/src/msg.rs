//! The messages of the control channel: a small, versioned set.
//!
//! Commands travel from a client (pfcp-ctl, mec-services) to the dataplane;
//! events travel back. Every command carries a request ID and is answered by
//! exactly one [`Event::Ack`] with the same ID, after the change has reached
//! every worker (or failed without touching any). Encoding is `postcard`
//! (both ends are built from the same tree; the layout version in the file
//! header guards against mixing builds).

use std::net::IpAddr;

use serde::{Deserialize, Serialize};
use upf_rules::report::{DownlinkDataReport, UsageReport};
use upf_rules::steer::{DnsRule, SteeringRule};
use upf_rules::{Pfd, RuleError, SessionRules, UrrId};

/// A request to the dataplane.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub enum Command {
    /// Creates a session or replaces its rules atomically. Measurement state
    /// of URRs/QERs whose IDs persist carries over; removed URRs are reported
    /// (trigger TERMR) in the Ack.
    SessionPut {
        /// Request ID.
        req: u64,
        /// The whole rule set.
        rules: SessionRules,
    },
    /// Deletes a session; its final usage reports come in the Ack.
    SessionDelete {
        /// Request ID.
        req: u64,
        /// The session.
        seid: u64,
    },
    /// Asks for immediate usage reports (Query URR); they come in the Ack.
    SessionQuery {
        /// Request ID.
        req: u64,
        /// The session.
        seid: u64,
        /// URRs to report; empty for all of the session's URRs.
        urr_ids: Vec<UrrId>,
        /// Query URR Reference to copy into the reports.
        query_reference: Option<u32>,
    },
    /// Sets the PFDs of an application (an empty list removes it).
    PfdPut {
        /// Request ID.
        req: u64,
        /// Application ID.
        application_id: String,
        /// Its PFDs.
        pfds: Vec<Pfd>,
    },
    /// Replaces all steering and DNS rules of one owner (a MEC app).
    SteeringPut {
        /// Request ID.
        req: u64,
        /// The owner (MEC app instance ID).
        owner: String,
        /// Active traffic rules.
        rules: Vec<SteeringRule>,
        /// Active DNS rules.
        dns: Vec<DnsRule>,
    },
    /// The client starts pushing its complete state (after it or the
    /// dataplane restarted).
    SyncBegin {
        /// Request ID.
        req: u64,
    },
    /// The client has pushed its complete state: sessions and steering owners
    /// of this client that were not put since `SyncBegin` are removed.
    SyncEnd {
        /// Request ID.
        req: u64,
    },
    /// Round trip: answered by an empty Ack.
    Ping {
        /// Request ID.
        req: u64,
    },
}

impl Command {
    /// The request ID.
    pub fn req(&self) -> u64 {
        match self {
            Command::SessionPut { req, .. }
            | Command::SessionDelete { req, .. }
            | Command::SessionQuery { req, .. }
            | Command::PfdPut { req, .. }
            | Command::SteeringPut { req, .. }
            | Command::SyncBegin { req }
            | Command::SyncEnd { req }
            | Command::Ping { req } => *req,
        }
    }
}

/// Why a command failed.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, thiserror::Error)]
pub enum CommandError {
    /// The rule set is inconsistent (maps to PFCP Rule creation/modification
    /// failure with Failed Rule ID).
    #[error("rule error: {0}")]
    Rule(RuleError),
    /// No such session.
    #[error("session {0:#x} not found")]
    UnknownSession(u64),
    /// The dataplane is out of a resource (sessions, TEIDs, memory).
    #[error("no resources: {0}")]
    NoResources(String),
    /// The command could not be decoded or is not allowed for this client.
    #[error("rejected: {0}")]
    Rejected(String),
}

/// What a successful command returns.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct AckBody {
    /// Usage reports produced by the command (query, deletion, removed URRs).
    pub usage: Vec<UsageReport>,
}

/// A message from the dataplane.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub enum Event {
    /// The answer to one command.
    Ack {
        /// The command's request ID.
        req: u64,
        /// Its outcome.
        result: Result<AckBody, CommandError>,
    },
    /// A usage report raised by a trigger (threshold, quota, period, start/stop).
    Usage(UsageReport),
    /// The first downlink packet buffered (BUFF) or to notify (NOCP).
    DownlinkData(DownlinkDataReport),
    /// A GTP-U Error Indication arrived from a peer.
    ErrorIndication {
        /// The peer that sent it.
        peer: IpAddr,
        /// The TEID it reports (our remote F-TEID towards that peer).
        teid: u32,
        /// Sessions whose FARs send to that F-TEID.
        seids: Vec<u64>,
    },
    /// A GTP-U peer stopped (or resumed) answering echo requests.
    PeerPath {
        /// The peer.
        peer: IpAddr,
        /// True when it answers again.
        up: bool,
    },
}

/// Encoding or decoding failed.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum CodecError {
    /// postcard rejected the bytes or the value.
    #[error("control message codec: {0}")]
    Postcard(String),
}

/// Encodes a message into `buf` (cleared first).
pub fn encode<T: Serialize>(msg: &T, buf: &mut Vec<u8>) -> Result<(), CodecError> {
    buf.clear();
    let out = postcard::to_extend(msg, std::mem::take(buf))
        .map_err(|e| CodecError::Postcard(e.to_string()))?;
    *buf = out;
    Ok(())
}

/// A command already encoded for the control channel, with its request ID.
///
/// A client that keeps the rules it sends (pfcp-ctl keeps each session's
/// state) encodes them straight from its own copy with
/// [`EncodedCommand::session_put`] instead of cloning them into a
/// [`Command`] first.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct EncodedCommand {
    req: u64,
    bytes: Vec<u8>,
}

impl EncodedCommand {
    /// Encodes `cmd`.
    pub fn new(cmd: &Command) -> Result<Self, CodecError> {
        let mut bytes = Vec::new();
        encode(cmd, &mut bytes)?;
        Ok(Self {
            req: cmd.req(),
            bytes,
        })
    }

    /// The bytes of `Command::SessionPut { req, rules }`, encoded from
    /// borrowed rules.
    pub fn session_put(req: u64, rules: &SessionRules) -> Result<Self, CodecError> {
        let mut bytes = Vec::with_capacity(512);
        encode(&SessionPutRef { req, rules }, &mut bytes)?;
        Ok(Self { req, bytes })
    }

    /// The command's request ID.
    pub fn req(&self) -> u64 {
        self.req
    }

    /// The encoded command.
    pub fn bytes(&self) -> &[u8] {
        &self.bytes
    }

    /// Decodes the command again (tests and tools).
    pub fn decode(&self) -> Result<Command, CodecError> {
        decode(&self.bytes)
    }
}

/// `Command::SessionPut` with borrowed rules. Serialized exactly as serde
/// derives the enum variant (index 0, fields `req` then `rules`); a test
/// compares the bytes with those of the owned command.
struct SessionPutRef<'a> {
    req: u64,
    rules: &'a SessionRules,
}

impl Serialize for SessionPutRef<'_> {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeStructVariant;
        let mut v = s.serialize_struct_variant("Command", 0, "SessionPut", 2)?;
        v.serialize_field("req", &self.req)?;
        v.serialize_field("rules", self.rules)?;
        v.end()
    }
}

/// Decodes a message.
pub fn decode<'a, T: Deserialize<'a>>(bytes: &'a [u8]) -> Result<T, CodecError> {
    postcard::from_bytes(bytes).map_err(|e| CodecError::Postcard(e.to_string()))
}
