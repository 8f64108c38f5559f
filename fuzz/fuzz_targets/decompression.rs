//! (d) Arbitrary bytes as a compressed Advanced message through the link's
//! frame decoder, plus compressed inputs mutated. The body lives in
//! `hqq-runtime/tests/fuzz_harness`, shared with the bounded test
//! `hqq-runtime/tests/fuzz_decompression.rs`.
#![no_main]

#[path = "../../hqq-runtime/tests/fuzz_harness/mod.rs"]
mod fuzz_harness;

libfuzzer_sys::fuzz_target!(|data: &[u8]| fuzz_harness::decompression(data));
