//! (e) Arbitrary bytes as a sealed Advanced message through the link's
//! opener, plus sealed inputs changed and cut. The body lives in
//! `hqq-runtime/tests/fuzz_harness`, shared with the bounded test
//! `hqq-runtime/tests/fuzz_decryption.rs`.
#![no_main]

#[path = "../../hqq-runtime/tests/fuzz_harness/mod.rs"]
mod fuzz_harness;

libfuzzer_sys::fuzz_target!(|data: &[u8]| fuzz_harness::decryption(data));
