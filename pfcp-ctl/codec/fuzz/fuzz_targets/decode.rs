//! Every PFCP datagram decode path, including follow-on messages.
#![no_main]
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    for r in pfcp_codec::decode_all(data) {
        if let Err(pfcp_codec::DecodeError::Body { error, .. }) = r {
            let _ = error.cause();
        }
    }
});
