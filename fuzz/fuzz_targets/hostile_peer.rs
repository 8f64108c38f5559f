//! (c) A hostile peer writes arbitrary bytes anywhere in a live segment
//! between the operations of our writer and reader. The body lives in
//! `hqq-runtime/tests/fuzz_harness`, shared with the bounded test
//! `hqq-runtime/tests/fuzz_hostile.rs`.
#![no_main]

#[path = "../../hqq-runtime/tests/fuzz_harness/mod.rs"]
mod fuzz_harness;

libfuzzer_sys::fuzz_target!(|data: &[u8]| fuzz_harness::hostile_peer(data));
