//! The async Standard link's round trip next to the blocking one's, taken
//! in alternating short runs (feature `tokio`):
//!
//! ```text
//! cargo bench -p hqq-cli --features tokio --bench async_ratio [-- ROUNDS]
//! ```
//!
//! Each round measures, one right after the other, the thread cache-line
//! floor, the suite's `hqq StandardLink` and `hqq AsyncStandardLink` 64 B
//! round-trip rows, and the floor again; client on CPU 0, peers on CPU 1.
//! On a VM the host moves the two vCPUs closer or farther apart every few
//! seconds, which moves every cross-process figure several-fold, and a
//! whole `hqq bench` run takes a minute; here both halves of a ratio come
//! from one placement, and the floor beside them says which.

use std::process::ExitCode;

use hqq_cli::bench::async_link::spawn_async_link;
use hqq_cli::bench::floor::CacheLineThreads;
use hqq_cli::bench::link::spawn_link;
use hqq_cli::bench::pin::pin_client;
use hqq_cli::bench::{measure_rtt, run_peer_from_env, BenchError, Pinning, RoundTrip};
use hqq_runtime::wait::WaitPolicy;

/// Timed laps per measurement (each a few round trips).
const LAPS: usize = 5000;

/// Median 64 B round trip of `transport`, in ns.
fn median_ns(transport: &mut dyn RoundTrip) -> Result<f64, BenchError> {
    Ok(measure_rtt(transport, 64, LAPS)?.median_ns)
}

fn run(rounds: usize) -> Result<(), BenchError> {
    pin_client(Pinning { client: 0, peer: 1 }).map_err(|source| BenchError::Io {
        role: "benchmark",
        operation: "pin to CPU",
        source,
    })?;
    let mut floor = CacheLineThreads::spawn()?;
    let mut blocking = spawn_link()?;
    let mut asynchronous = spawn_async_link(WaitPolicy::WAKE_WORDS.spin)?;
    println!("floor before -> after | blocking RTT median | async RTT median | async / blocking");
    for _ in 0..rounds {
        let before = median_ns(&mut floor)?;
        let blocking_ns = median_ns(&mut blocking)?;
        let async_ns = median_ns(&mut asynchronous)?;
        let after = median_ns(&mut floor)?;
        println!(
            "{before:4.0} -> {after:4.0} ns | {blocking_ns:5.0} ns | {async_ns:5.0} ns | {:.2}",
            async_ns / blocking_ns
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
        .unwrap_or(10);
    match run(rounds) {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("async_ratio: {error}");
            ExitCode::FAILURE
        }
    }
}
