//! The control channel between the control processes and the dataplane.
