//! Local steering from the MEC platform (ETSI GS MEC 011 traffic rules and
//! DNS rules), in the dataplane's terms.
//!
//! Steering rules are global (not tied to a PFCP session): they look at UE
//! traffic after decapsulation and before the session's own PDRs act, in the
//! order of `priority` (0 is the highest, as in MEC 011 TrafficRule).

use std::net::IpAddr;

use serde::{Deserialize, Serialize};

use crate::flow::PortRange;
use crate::prefix::IpPrefix;

/// What a matching rule does (MEC 011 TrafficRule.action).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum SteerAction {
    /// DROP: discard.
    Drop,
    /// FORWARD_DECAPSULATED: send the inner packet out on the destination interface.
    ForwardDecapsulated,
    /// FORWARD_ENCAPSULATED: send the packet, still tunnelled, to the destination tunnel.
    ForwardEncapsulated,
    /// PASSTHROUGH: leave it to the session's rules.
    Passthrough,
    /// DUPLICATED_DECAPSULATED: a decapsulated copy to the destination, the original continues.
    DuplicateDecapsulated,
    /// DUPLICATE_ENCAPSULATED: an encapsulated copy to the destination, the original continues.
    DuplicateEncapsulated,
}

/// Where steered packets go (MEC 011 DestinationInterface).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct SteerDestination {
    /// The network instance (configured interface) to leave on, e.g. "mec".
    pub network_instance: Option<String>,
    /// Next hop / app address on that interface (IP_ADDRESS destination).
    pub address: Option<IpAddr>,
    /// Tunnel endpoint for the encapsulated actions (GTP-U remote address).
    pub tunnel_address: Option<IpAddr>,
    /// TEID to use towards `tunnel_address`.
    pub tunnel_teid: Option<u32>,
}

/// One filter of a rule (MEC 011 TrafficFilter). Every non-empty list must
/// have a matching member; an empty list matches anything.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct SteerFilter {
    /// Inner source addresses.
    pub src_addresses: Vec<IpPrefix>,
    /// Inner destination addresses.
    pub dst_addresses: Vec<IpPrefix>,
    /// Inner source ports.
    pub src_ports: Vec<PortRange>,
    /// Inner destination ports.
    pub dst_ports: Vec<PortRange>,
    /// IP protocol numbers.
    pub protocols: Vec<u8>,
    /// Outer (tunnel) source addresses: the gNB.
    pub tunnel_src_addresses: Vec<IpPrefix>,
    /// Outer (tunnel) destination addresses: the UPF's N3 address.
    pub tunnel_dst_addresses: Vec<IpPrefix>,
    /// DSCP value (6 bits), if set.
    pub dscp: Option<u8>,
    /// IPv6 traffic class, if set.
    pub traffic_class: Option<u8>,
}

/// A steering rule from one MEC app.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct SteeringRule {
    /// Identifier, unique within the owner.
    pub id: String,
    /// 0 is the highest priority, 255 the lowest.
    pub priority: u8,
    /// The rule matches if any filter matches.
    pub filters: Vec<SteerFilter>,
    /// What to do.
    pub action: SteerAction,
    /// Where to send it, for forwarding and duplicating actions.
    pub destination: Option<SteerDestination>,
}

/// An edge DNS answer (MEC 011 DnsRule).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct DnsRule {
    /// Identifier, unique within the owner.
    pub id: String,
    /// Fully qualified domain name, compared case-insensitively, without the trailing dot.
    pub domain: String,
    /// The answer: an A record for IPv4, AAAA for IPv6.
    pub address: IpAddr,
    /// Time to live of the answer, seconds.
    pub ttl_s: u32,
}
