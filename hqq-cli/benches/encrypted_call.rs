//! What Encryption adds to a 64 B Advanced-link call, taken in
//! alternating short runs:
//!
//! ```text
//! cargo bench -p hqq-cli --bench encrypted_call [-- ROUNDS]
//! ```
//!
//! Each round measures, one right after the other, the thread cache-line
//! floor, the suite's `hqq AdvancedLink call` and `hqq AdvancedLink call
//! encrypted` 64 B round-trip rows (in turn plain first, then encrypted
//! first, so that a drift within a round does not favour either), and the
//! floor again; client on CPU 0, peers on CPU 1. On a VM the host moves
//! the two vCPUs closer or farther apart every few seconds, which moves
//! every cross-process figure several-fold, so rows taken in separate runs
//! cannot be subtracted; here both halves of a difference come from one
//! placement, and the floor beside them says which. The last lines are the
//! median and the range of the differences over all rounds.

use std::process::ExitCode;

use hqq_cli::bench::advanced::{spawn_advanced, spawn_advanced_with, AdvancedMode, Content};
use hqq_cli::bench::advanced::{AdvancedClient, RowFeatures};
use hqq_cli::bench::floor::CacheLineThreads;
use hqq_cli::bench::pin::pin_client;
use hqq_cli::bench::{measure_rtt, run_peer_from_env, BenchError, Pinning, RoundTrip};

/// Timed laps per measurement (each a round trip or a few).
const LAPS: usize = 3000;

/// Bytes per call, both ways.
const SIZE: usize = 64;

/// Median round trip of `transport`, in ns.
fn median_ns(transport: &mut dyn RoundTrip) -> Result<f64, BenchError> {
    Ok(measure_rtt(transport, SIZE, LAPS)?.median_ns)
}

/// The median of `values` (sorted in place).
fn median(values: &mut [f64]) -> f64 {
    values.sort_by(f64::total_cmp);
    match values.len() {
        0 => f64::NAN,
        n if n % 2 == 1 => values[n / 2],
        n => (values[n / 2 - 1] + values[n / 2]) / 2.0,
    }
}

/// `(plain, encrypted)` medians of one round, in the order `round` says.
fn measure_pair(
    round: usize,
    plain: &mut AdvancedClient,
    sealed: &mut AdvancedClient,
) -> Result<(f64, f64), BenchError> {
    if round % 2 == 0 {
        let plain_ns = median_ns(plain)?;
        Ok((plain_ns, median_ns(sealed)?))
    } else {
        let sealed_ns = median_ns(sealed)?;
        Ok((median_ns(plain)?, sealed_ns))
    }
}

fn run(rounds: usize) -> Result<(), BenchError> {
    pin_client(Pinning { client: 0, peer: 1 }).map_err(|source| BenchError::Io {
        role: "benchmark",
        operation: "pin to CPU",
        source,
    })?;
    let mut floor = CacheLineThreads::spawn()?;
    let mut plain = spawn_advanced(AdvancedMode::Rpc)?;
    let mut sealed = spawn_advanced_with(AdvancedMode::Rpc, Content::Filler, RowFeatures::SEALED)?;
    println!("floor before -> after | plain call RTT median | encrypted | encrypted - plain");
    let mut extra = Vec::with_capacity(rounds);
    for round in 0..rounds {
        let before = median_ns(&mut floor)?;
        let (plain_ns, sealed_ns) = measure_pair(round, &mut plain, &mut sealed)?;
        let after = median_ns(&mut floor)?;
        let difference = sealed_ns - plain_ns;
        extra.push(difference);
        println!(
            "{before:4.0} -> {after:4.0} ns | {plain_ns:5.0} ns | {sealed_ns:5.0} ns | {difference:+5.0} ns"
        );
    }
    let within = extra.iter().filter(|&&ns| ns <= 1000.0).count();
    let middle = median(&mut extra);
    let (low, high) = (extra.first(), extra.last());
    if let (Some(low), Some(high)) = (low, high) {
        println!(
            "encrypted - plain over {rounds} rounds: median {middle:+.0} ns, range {low:+.0} to {high:+.0} ns, at most +1000 ns in {within}"
        );
    }
    Ok(())
}

fn main() -> ExitCode {
    // A re-executed benchmark peer runs its role and nothing else.
    if let Some(code) = run_peer_from_env() {
        return code;
    }
    let rounds = std::env::args()
        .skip(1)
        .find_map(|arg| arg.parse().ok())
        .unwrap_or(20);
    match run(rounds) {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("encrypted_call: {error}");
            ExitCode::FAILURE
        }
    }
}
