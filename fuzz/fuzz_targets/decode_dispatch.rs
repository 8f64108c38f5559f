//! (a) Decode, validate and dispatch arbitrary packets of the generated core
//! protocol. The body lives in `hqq-runtime/tests/fuzz_harness`, shared with
//! the bounded test `hqq-runtime/tests/fuzz_decode.rs`.
#![no_main]

#[path = "../../hqq-runtime/tests/fuzz_harness/mod.rs"]
mod fuzz_harness;

libfuzzer_sys::fuzz_target!(|data: &[u8]| fuzz_harness::decode_dispatch(data));
