//! Packet wire formats: zero-copy views and typed representations (GTP-U, Ethernet, ARP, IPv4/IPv6, UDP, ICMP).
//!
//! Pure code: bytes in, typed values out. No I/O, no allocation per packet.
#![forbid(unsafe_code)]
