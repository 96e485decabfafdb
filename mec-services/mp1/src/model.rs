//! The data types of ETSI GS MEC 011 v2.1.1 (the two OpenAPI files in
//! `shared/specs/etsi-mec011/`), as serde types with the spec's field names.
//!
//! Decoding is strict where the spec is: unknown enum values, wrong types
//! and missing required fields are errors. Attributes the schemas do not
//! list are ignored (the schemas allow additional properties). Checks that
//! JSON Schema cannot express (an ID that must match the path, a constant
//! `subscriptionType`, an address that must parse) live in [`crate::validate`].

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

/// `ProblemDetails` (RFC 7807), the body of every error.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ProblemDetails {
    /// A URI reference that identifies the problem type.
    #[serde(rename = "type", skip_serializing_if = "Option::is_none")]
    pub kind: Option<String>,
    /// A short summary.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub title: Option<String>,
    /// The HTTP status code.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub status: Option<u16>,
    /// What went wrong in this occurrence.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub detail: Option<String>,
    /// The request path.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub instance: Option<String>,
}

/// `LinkType`.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct LinkType {
    /// URI of the resource.
    pub href: String,
}

/// `Self`: `{ "self": LinkType }`.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct SelfLink {
    /// Self-referring URI.
    #[serde(rename = "self")]
    pub self_: LinkType,
}

// ---------------------------------------------------------------- traffic rules

/// `TrafficRule.FilterType`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum FilterType {
    /// Per flow.
    Flow,
    /// Per packet.
    Packet,
}

/// `TrafficRule.Action`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum TrafficAction {
    /// Discard.
    Drop,
    /// Decapsulate and forward.
    ForwardDecapsulated,
    /// Forward still tunnelled.
    ForwardEncapsulated,
    /// Leave to the session's rules.
    Passthrough,
    /// A decapsulated copy.
    DuplicateDecapsulated,
    /// An encapsulated copy.
    DuplicateEncapsulated,
}

/// `TrafficRule.State` / `DnsRule.State`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum RuleState {
    /// In force.
    Active,
    /// Stored, not in force.
    Inactive,
}

/// `TrafficFilter`.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct TrafficFilter {
    /// Source addresses, prefixes or ranges.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub src_address: Option<Vec<String>>,
    /// Destination addresses, prefixes or ranges.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dst_address: Option<Vec<String>>,
    /// Source ports or ranges.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub src_port: Option<Vec<String>>,
    /// Destination ports or ranges.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dst_port: Option<Vec<String>>,
    /// Protocols (numbers or names).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub protocol: Option<Vec<String>>,
    /// Token based rules.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub token: Option<Vec<String>>,
    /// Outer source addresses (gNB).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub src_tunnel_address: Option<Vec<String>>,
    /// Outer destination addresses (UPF).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tgt_tunnel_address: Option<Vec<String>>,
    /// Outer source ports.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub src_tunnel_port: Option<Vec<String>>,
    /// Outer destination ports.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dst_tunnel_port: Option<Vec<String>>,
    /// QoS class.
    #[serde(rename = "qCI", default, skip_serializing_if = "Option::is_none")]
    pub qci: Option<i32>,
    /// IPv4 DSCP.
    #[serde(rename = "dSCP", default, skip_serializing_if = "Option::is_none")]
    pub dscp: Option<i32>,
    /// IPv6 traffic class.
    #[serde(rename = "tC", default, skip_serializing_if = "Option::is_none")]
    pub tc: Option<i32>,
}

/// `DestinationInterface.InterfaceType`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum InterfaceType {
    /// A GTP-U (or GRE) tunnel.
    Tunnel,
    /// An Ethernet address.
    Mac,
    /// An IP address.
    Ip,
}

/// `TunnelInfo.TunnelType`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum TunnelType {
    /// GTP-U.
    GtpU,
    /// GRE.
    Gre,
}

/// `TunnelInfo`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct TunnelInfo {
    /// Tunnel type.
    pub tunnel_type: TunnelType,
    /// Remote end.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tunnel_dst_address: Option<String>,
    /// Local end.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tunnel_src_address: Option<String>,
}

/// `DestinationInterface`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct DestinationInterface {
    /// Kind.
    pub interface_type: InterfaceType,
    /// For `TUNNEL`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tunnel_info: Option<TunnelInfo>,
    /// For `MAC`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub src_mac_address: Option<String>,
    /// For `MAC`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dst_mac_address: Option<String>,
    /// For `IP`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dst_ip_address: Option<String>,
}

/// `TrafficRule`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct TrafficRule {
    /// Identifier.
    pub traffic_rule_id: String,
    /// The service the rule serves (in the spec's examples, not its schema).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ser_name: Option<String>,
    /// FLOW or PACKET.
    pub filter_type: FilterType,
    /// 0 (highest) to 255.
    pub priority: i32,
    /// Any filter matching selects the packet.
    pub traffic_filter: Vec<TrafficFilter>,
    /// What to do.
    pub action: TrafficAction,
    /// Where to.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dst_interface: Option<DestinationInterface>,
    /// ACTIVE or INACTIVE.
    pub state: RuleState,
}

// ---------------------------------------------------------------- DNS rules

/// `DnsRule.IpAddressType`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum IpAddressType {
    /// IPv6 (AAAA).
    #[serde(rename = "IP_V6")]
    IpV6,
    /// IPv4 (A).
    #[serde(rename = "IP_V4")]
    IpV4,
}

/// `DnsRule`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct DnsRule {
    /// Identifier.
    pub dns_rule_id: String,
    /// FQDN.
    pub domain_name: String,
    /// A or AAAA.
    pub ip_address_type: IpAddressType,
    /// The answer.
    pub ip_address: String,
    /// TTL, seconds.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ttl: Option<i32>,
    /// ACTIVE or INACTIVE.
    pub state: RuleState,
}

// ---------------------------------------------------------------- app support

/// `AppTerminationNotificationSubscription`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct AppTerminationNotificationSubscription {
    /// "AppTerminationNotificationSubscription".
    pub subscription_type: String,
    /// Where notifications go.
    pub callback_reference: String,
    /// Self link (assigned by the platform; optional in requests).
    #[serde(rename = "_links", default, skip_serializing_if = "Option::is_none")]
    pub links: Option<SelfLink>,
    /// The subscribed app instance.
    pub app_instance_id: String,
}

/// `MecAppSuptApiSubscriptionLinkList` and
/// `MecServiceMgmtApiSubscriptionLinkList` (same shape).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct SubscriptionLinkList {
    /// Links.
    #[serde(rename = "_links")]
    pub links: SubscriptionLinks,
}

/// The `_links` of a subscription link list.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct SubscriptionLinks {
    /// Self.
    #[serde(rename = "self")]
    pub self_: LinkType,
    /// The subscriptions.
    pub subscriptions: Vec<SubscriptionLink>,
}

/// One subscription link.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct SubscriptionLink {
    /// Its URI.
    pub href: String,
    /// Its subscription type.
    pub rel: String,
}

/// `OperationActionType`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum OperationAction {
    /// Stop.
    Stopping,
    /// Terminate.
    Terminating,
}

/// `AppTerminationConfirmation`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct AppTerminationConfirmation {
    /// The operation that completed.
    pub operation_action: OperationAction,
}

/// `AppReadyConfirmation`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct AppReadyConfirmation {
    /// Must be "READY".
    pub indication: String,
}

/// `AppTerminationNotification`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct AppTerminationNotification {
    /// "AppTerminationNotification".
    pub notification_type: String,
    /// STOPPING or TERMINATING.
    pub operation_action: OperationAction,
    /// Seconds the app has.
    pub max_graceful_timeout: u32,
    /// Links.
    #[serde(rename = "_links")]
    pub links: AppTerminationLinks,
}

/// `AppTerminationNotification.Links`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct AppTerminationLinks {
    /// The subscription.
    pub subscription: LinkType,
    /// Where to confirm.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub confirm_termination: Option<LinkType>,
}

/// `TimingCaps.TimeStamp` and the time part of `CurrentTime`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct TimeStamp {
    /// UNIX seconds.
    pub seconds: i64,
    /// Nanoseconds.
    pub nano_seconds: u32,
}

/// `TimingCaps.NtpServers`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct NtpServer {
    /// IP_ADDRESS or DNS_NAME.
    pub ntp_server_addr_type: String,
    /// The address.
    pub ntp_server_addr: String,
    /// log2 seconds.
    pub min_polling_interval: u32,
    /// log2 seconds.
    pub max_polling_interval: u32,
    /// Priority.
    pub local_priority: u32,
    /// NONE, SYMMETRIC_KEY or AUTO_KEY.
    pub authentication_option: String,
    /// Key number.
    pub authentication_key_num: u32,
}

/// `TimingCaps`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct TimingCaps {
    /// Now.
    pub time_stamp: TimeStamp,
    /// NTP servers.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub ntp_servers: Vec<NtpServer>,
}

/// `CurrentTime`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct CurrentTime {
    /// UNIX seconds.
    pub seconds: i64,
    /// Nanoseconds.
    pub nano_seconds: u32,
    /// TRACEABLE or NONTRACEABLE.
    pub time_source_status: String,
}

// ---------------------------------------------------------------- services

/// `CategoryRef`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct CategoryRef {
    /// Catalogue reference.
    pub href: String,
    /// Category ID.
    pub id: String,
    /// Name.
    pub name: String,
    /// Version.
    pub version: String,
}

/// `ServiceState`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum ServiceState {
    /// Available.
    Active,
    /// Not available.
    Inactive,
}

/// `SerializerType`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum SerializerType {
    /// JSON.
    Json,
    /// XML.
    Xml,
    /// Protocol buffers 3.
    Protobuf3,
}

/// `LocalityType`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum LocalityType {
    /// The whole MEC system.
    MecSystem,
    /// One MEC host.
    MecHost,
    /// An NFVI PoP.
    NfviPop,
    /// A zone.
    Zone,
    /// A zone group.
    ZoneGroup,
    /// An NFVI node.
    NfviNode,
}

impl LocalityType {
    /// The spec's name.
    pub fn as_str(self) -> &'static str {
        match self {
            LocalityType::MecSystem => "MEC_SYSTEM",
            LocalityType::MecHost => "MEC_HOST",
            LocalityType::NfviPop => "NFVI_POP",
            LocalityType::Zone => "ZONE",
            LocalityType::ZoneGroup => "ZONE_GROUP",
            LocalityType::NfviNode => "NFVI_NODE",
        }
    }
}

/// `TransportType`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum TransportType {
    /// REST over HTTP.
    RestHttp,
    /// Message bus, topics.
    MbTopicBased,
    /// Message bus, routing.
    MbRouting,
    /// Message bus, pub/sub.
    MbPubsub,
    /// RPC.
    Rpc,
    /// Streaming RPC.
    RpcStreaming,
    /// WebSocket.
    Websocket,
}

/// `EndPointInfo.Address`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct EndPointAddress {
    /// Host.
    pub host: String,
    /// Port.
    pub port: i32,
}

/// `TransportInfo.endpoint`: exactly one of the three forms.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum EndPoint {
    /// `EndPointInfo.Uris`.
    Uris(Vec<String>),
    /// `EndPointInfo.Addresses`.
    Addresses(Vec<EndPointAddress>),
    /// `EndPointInfo.Alternative` (an object).
    Alternative(Map<String, Value>),
}

/// `SecurityInfo.OAuth2Info.GrantType`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum GrantType {
    /// Authorization code.
    Oauth2AuthorizationCode,
    /// Implicit.
    Oauth2ImplicitGrant,
    /// Resource owner.
    Oauth2ResourceOwner,
    /// Client credentials.
    Oauth2ClientCredentials,
}

/// `SecurityInfo.OAuth2Info`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct OAuth2Info {
    /// 1 to 4 grant types.
    pub grant_types: Vec<GrantType>,
    /// Token endpoint.
    pub token_endpoint: String,
}

/// `SecurityInfo`.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SecurityInfo {
    /// OAuth 2.0 parameters.
    #[serde(
        rename = "oAuth2Info",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub oauth2_info: Option<OAuth2Info>,
}

/// `TransportInfo`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct TransportInfo {
    /// Identifier.
    pub id: String,
    /// Name.
    pub name: String,
    /// Description.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// Type.
    #[serde(rename = "type")]
    pub kind: TransportType,
    /// Protocol ("HTTP" for REST).
    pub protocol: String,
    /// Protocol version.
    pub version: String,
    /// Where to reach it.
    pub endpoint: EndPoint,
    /// Security.
    pub security: SecurityInfo,
    /// Implementation-specific details (an object).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub impl_specific_info: Option<Map<String, Value>>,
}

/// `ServiceInfo`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ServiceInfo {
    /// Assigned by the platform.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ser_instance_id: Option<String>,
    /// Name.
    pub ser_name: String,
    /// Category.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ser_category: Option<CategoryRef>,
    /// Version.
    pub version: String,
    /// State.
    pub state: ServiceState,
    /// Transport (in requests, `transportId` naming one of `/transports`
    /// may stand instead).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub transport_info: Option<TransportInfo>,
    /// A platform transport, instead of `transportInfo` (MEC 011 clause 8.1.2.2).
    #[serde(default, skip_serializing)]
    pub transport_id: Option<String>,
    /// Serializer.
    pub serializer: SerializerType,
    /// Scope of locality.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub scope_of_locality: Option<LocalityType>,
    /// Only for consumers in the same locality.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub consumed_local_only: Option<bool>,
    /// Computed per consumer by the platform.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub is_local: Option<bool>,
}

/// `SerAvailabilityNotificationSubscription.FilteringCriteria`.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SerFilteringCriteria {
    /// Service instance IDs.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ser_instance_ids: Option<Vec<String>>,
    /// Service names.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ser_names: Option<Vec<String>>,
    /// Categories.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ser_categories: Option<Vec<CategoryRef>>,
    /// States after the change.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub states: Option<Vec<ServiceState>>,
    /// Locality.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub is_local: Option<bool>,
}

/// `SerAvailabilityNotificationSubscription`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SerAvailabilityNotificationSubscription {
    /// "SerAvailabilityNotificationSubscription".
    pub subscription_type: String,
    /// Where notifications go.
    pub callback_reference: String,
    /// Self link (assigned by the platform; optional in requests).
    #[serde(rename = "_links", default, skip_serializing_if = "Option::is_none")]
    pub links: Option<SelfLink>,
    /// Which services.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub filtering_criteria: Option<SerFilteringCriteria>,
}

/// `ServiceAvailabilityNotification.ChangeType`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum ChangeType {
    /// New.
    Added,
    /// Gone.
    Removed,
    /// Only the state changed.
    StateChanged,
    /// Something else changed.
    AttributesChanged,
}

/// `ServiceAvailabilityNotification.ServiceReferences`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ServiceReference {
    /// The service resource.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub link: Option<LinkType>,
    /// Name.
    pub ser_name: String,
    /// Instance ID.
    pub ser_instance_id: String,
    /// State.
    pub state: ServiceState,
    /// What changed.
    pub change_type: ChangeType,
}

/// `Subscription`: `{ "subscription": LinkType }`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct SubscriptionRef {
    /// The subscription.
    pub subscription: LinkType,
}

/// `ServiceAvailabilityNotification`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ServiceAvailabilityNotification {
    /// "SerAvailabilityNotificationSubscription".
    pub notification_type: String,
    /// The services.
    pub service_references: Vec<ServiceReference>,
    /// Links.
    #[serde(rename = "_links")]
    pub links: SubscriptionRef,
}

/// An app's rules as a descriptor (`[[mec.apps]].descriptor`, and the
/// admin API's app registration): AppD-like `appTrafficRule` and
/// `appDNSRule` lists.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct AppDescriptor {
    /// Traffic rules.
    #[serde(default)]
    pub app_traffic_rule: Vec<TrafficRule>,
    /// DNS rules.
    #[serde(default, rename = "appDNSRule")]
    pub app_dns_rule: Vec<DnsRule>,
}
