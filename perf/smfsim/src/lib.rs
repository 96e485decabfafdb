//! SMF load simulator over N4.
#![forbid(unsafe_code)]
