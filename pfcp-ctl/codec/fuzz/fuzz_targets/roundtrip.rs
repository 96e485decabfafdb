//! Whatever decodes must encode, and the encoding must decode to the same value.
#![no_main]
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(p) = pfcp_codec::decode(data) {
        let b = p.to_bytes();
        let again = pfcp_codec::decode(&b).expect("our own encoding decodes");
        assert_eq!(again, p, "decode(encode(x)) != x");
    }
});
