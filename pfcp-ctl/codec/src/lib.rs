//! PFCP (3GPP TS 29.244, Release 17) message and IE codec for the N4
//! control process and the SMF load simulator.
//!
//! - [`msg`]: the header and every message a UPF sends or receives, as
//!   typed structs ([`msg::Message`], [`msg::Pdu`]);
//! - [`group`]: grouped IEs (Create/Update/Remove PDR/FAR/QER/URR/BAR,
//!   PDI, Forwarding Parameters, Usage Report, ...);
//! - [`ie`]: TLV framing and the single-valued IEs;
//! - [`error`]: decode errors carrying what TS 29.244 7.6 needs to answer
//!   with the right Cause and Offending IE, and the [`Cause`] values.
//!
//! Error policy (TS 29.244 7.6): another version is [`DecodeError::Version`]
//! (answer Version Not Supported); a datagram shorter than its header says
//! is [`DecodeError::Truncated`] (discard); unknown message types are
//! [`DecodeError::UnknownMessage`] (discard); a missing or incorrect
//! mandatory IE anywhere in the tree is [`DecodeError::Body`] with the IE
//! type ([`IeError::cause`] maps it to Cause 66 or 69 with Offending IE);
//! an incorrect optional single-valued IE is discarded and the rest of the
//! message processed; unknown IE types and vendor-specific IEs are skipped;
//! grouped IEs nest at most [`ie::MAX_DEPTH`] deep.
//!
//! What it must not do: I/O, session logic, or panic on any input.
#![cfg_attr(not(test), deny(clippy::unwrap_used))]
#![forbid(unsafe_code)]

pub mod error;
pub mod group;
pub mod ie;
pub mod msg;
pub mod samples;

pub use error::{Cause, DecodeError, IeError};
pub use msg::{decode, decode_all, Message, Pdu};
