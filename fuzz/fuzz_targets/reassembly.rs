//! (b) Arbitrary ConnCopy chunk sequences through the Advanced link's
//! reassembler. The body lives in `hqq-runtime/tests/fuzz_harness`, shared
//! with the bounded test `hqq-runtime/tests/fuzz_reassembly.rs`.
#![no_main]

#[path = "../../hqq-runtime/tests/fuzz_harness/mod.rs"]
mod fuzz_harness;

libfuzzer_sys::fuzz_target!(|data: &[u8]| fuzz_harness::reassembly(data));
