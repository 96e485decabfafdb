//! Packet I/O backends for the dataplane workers.
