//! What Encryption adds to a 64 B Advanced-link call, taken in
//! alternating short runs:
//!
//! ```text
//! cargo bench -p hqq-cli --bench encrypted_call [-- ROUNDS]
//! ```
//!
//! Each round measures, one right after the other, the thread cache-line
//! floor, the suite's `hqq AdvancedLink call` 64 B round trip, the same
//! with 88 B messages (the size of a sealed 64 B message on the wire), the
//! `hqq AdvancedLink call encrypted` 64 B round trip (in turn in this
//! order and in reverse, so that a drift within a round favours none), and
//! the floor again; client on CPU 0, peers on CPU 1. Encrypted minus plain
//! 64 B is what Encryption costs a call; encrypted minus plain 88 B is the
//! part of it that is not the longer message (sealing, opening and their
//! framing). On a VM the host moves
//! the two vCPUs closer or farther apart every few seconds, which moves
//! every cross-process figure several-fold, so rows taken in separate runs
//! cannot be subtracted; here both halves of a difference come from one
//! placement, and the floor beside them says which. The last lines are the
//! medians and the ranges of the differences over all rounds.

use std::process::ExitCode;

use hqq_cli::bench::advanced::{spawn_advanced, spawn_advanced_with, AdvancedMode, Content};
use hqq_cli::bench::advanced::{AdvancedClient, RowFeatures};
use hqq_cli::bench::floor::CacheLineThreads;
use hqq_cli::bench::pin::pin_client;
use hqq_cli::bench::{measure_rtt, run_peer_from_env, BenchError, Pinning, RoundTrip};

/// Timed laps per measurement (each a round trip or a few): about 20 to
/// 60 ms, within one placement of the vCPUs.
const LAPS: usize = 20_000;

/// Bytes per call, both ways.
const SIZE: usize = 64;

/// Bytes of a sealed [`SIZE`]-byte message on the wire: its seq (8) and its
/// frame's tag (16) are added (PROTOCOL.md, Encryption).
const SEALED_SIZE: usize = SIZE + 8 + 16;

/// Median round trip of `transport` with `size`-byte messages, in ns.
fn median_ns(transport: &mut dyn RoundTrip, size: usize) -> Result<f64, BenchError> {
    Ok(measure_rtt(transport, size, LAPS)?.median_ns)
}

/// Median round trip of the thread cache-line floor, in ns. Its echo
/// thread spins on the peers' CPU for as long as it lives, so it lives only
/// for this measurement (else it would take half that CPU from the peers).
fn floor_ns() -> Result<f64, BenchError> {
    median_ns(&mut CacheLineThreads::spawn()?, SIZE)
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

/// One round's medians: the plain call, the plain call with messages of
/// the sealed size, and the encrypted call. Even rounds measure them in
/// that order, odd rounds in reverse.
fn measure_round(
    round: usize,
    plain: &mut AdvancedClient,
    sealed: &mut AdvancedClient,
) -> Result<[f64; 3], BenchError> {
    let mut out = [0.0; 3];
    let mut order = [0, 1, 2];
    if round % 2 == 1 {
        order.reverse();
    }
    for row in order {
        out[row] = match row {
            0 => median_ns(plain, SIZE)?,
            1 => median_ns(plain, SEALED_SIZE)?,
            _ => median_ns(sealed, SIZE)?,
        };
    }
    Ok(out)
}

/// Prints the median and range of `differences` (sorted in place).
fn summarize(what: &str, differences: &mut [f64]) {
    let within = differences.iter().filter(|&&ns| ns <= 1000.0).count();
    let middle = median(differences);
    if let (Some(low), Some(high)) = (differences.first(), differences.last()) {
        println!(
            "{what} over {} rounds: median {middle:+.0} ns, range {low:+.0} to {high:+.0} ns, at most +1000 ns in {within}",
            differences.len()
        );
    }
}

fn run(rounds: usize) -> Result<(), BenchError> {
    pin_client(Pinning { client: 0, peer: 1 }).map_err(|source| BenchError::Io {
        role: "benchmark",
        operation: "pin to CPU",
        source,
    })?;
    let mut plain = spawn_advanced(AdvancedMode::Rpc)?;
    let mut sealed = spawn_advanced_with(AdvancedMode::Rpc, Content::Filler, RowFeatures::SEALED)?;
    println!(
        "floor before -> after | RTT median: plain {SIZE} B, plain {SEALED_SIZE} B, encrypted {SIZE} B | encrypted - plain {SIZE} B | encrypted - plain {SEALED_SIZE} B"
    );
    let (mut extra, mut sealing) = (Vec::new(), Vec::new());
    for round in 0..rounds {
        let before = floor_ns()?;
        let [plain_ns, wire_ns, sealed_ns] = measure_round(round, &mut plain, &mut sealed)?;
        let after = floor_ns()?;
        extra.push(sealed_ns - plain_ns);
        sealing.push(sealed_ns - wire_ns);
        println!(
            "{before:4.0} -> {after:4.0} ns | {plain_ns:5.0} {wire_ns:5.0} {sealed_ns:5.0} ns | {:+5.0} ns | {:+5.0} ns",
            sealed_ns - plain_ns,
            sealed_ns - wire_ns
        );
    }
    summarize(&format!("encrypted - plain {SIZE} B"), &mut extra);
    summarize(
        &format!("encrypted - plain {SEALED_SIZE} B (sealing and opening alone)"),
        &mut sealing,
    );
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
