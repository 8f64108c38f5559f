//! Placeholder until the ring benchmarks land.
fn main() {}
