//! Criterion benchmarks of cross-process IPC: RTT and one-way streams over
//! every transport of the suite (see `hqq_cli::bench::suite`), 1 MiB
//! messages over the large-message transports, plus the idle
//! CPU of a blocked receiver (printed after the groups).
//!
//! Each benchmark keeps one peer process for its whole run and measures
//! with `iter_custom`. Run with `cargo bench -p hqq-cli --bench ipc`.

use std::process::ExitCode;
use std::time::Duration;

use criterion::{Criterion, Throughput};
use hqq_cli::bench::suite::{
    StreamEntry, IDLE_WAITS, LARGE_SIZE, LARGE_STREAMS, ROUND_TRIPS, SIZES, STREAMS,
};
use hqq_cli::bench::{measure_idle, run_peer_from_env};

/// How long each idle receive blocks.
const IDLE_TIME: Duration = Duration::from_secs(2);

/// `64B`, `4KiB`: a size for a criterion group name.
fn group_size(size: usize) -> String {
    hqq_cli::bench::format_size(size).replace(' ', "")
}

fn rtt_group(criterion: &mut Criterion, size: usize) {
    let mut group = criterion.benchmark_group(format!("rtt_{}", group_size(size)));
    for entry in ROUND_TRIPS.iter().filter(|e| e.sizes.contains(&size)) {
        let mut transport =
            (entry.open)().unwrap_or_else(|e| panic!("starting {}: {e}", entry.name));
        group.bench_function(entry.name, |bencher| {
            bencher.iter_custom(|iters| {
                let mut lap = [Duration::ZERO];
                transport
                    .round_trips(size, iters, &mut lap)
                    .unwrap_or_else(|e| panic!("{}: {e}", entry.name));
                lap[0]
            });
        });
    }
    group.finish();
}

fn stream_group(criterion: &mut Criterion, entries: &[StreamEntry], size: usize) {
    let mut group = criterion.benchmark_group(format!("stream_{}", group_size(size)));
    group.throughput(Throughput::Bytes(size as u64));
    for entry in entries {
        let mut transport =
            (entry.open)().unwrap_or_else(|e| panic!("starting {}: {e}", entry.name));
        group.bench_function(entry.name, |bencher| {
            bencher.iter_custom(|iters| {
                transport
                    .stream(size, iters)
                    .unwrap_or_else(|e| panic!("{}: {e}", entry.name))
            });
        });
    }
    group.finish();
}

/// Criterion measures time, not CPU use, so the idle figure is printed.
fn idle_cpu() {
    for entry in IDLE_WAITS {
        let mut receiver =
            (entry.open)().unwrap_or_else(|e| panic!("starting {}: {e}", entry.name));
        let figures = measure_idle(receiver.as_mut(), IDLE_TIME)
            .unwrap_or_else(|e| panic!("{}: {e}", entry.name));
        println!(
            "idle_cpu/{}: {:.3} % of a core (blocked {:?})",
            entry.name, figures.cpu_percent, figures.blocked
        );
    }
}

fn main() -> ExitCode {
    // A re-executed benchmark peer runs its role and nothing else.
    if let Some(code) = run_peer_from_env() {
        return code;
    }
    let mut criterion = Criterion::default()
        .sample_size(20)
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(3))
        .configure_from_args();
    for size in SIZES {
        rtt_group(&mut criterion, size);
    }
    for size in SIZES {
        stream_group(&mut criterion, STREAMS, size);
    }
    stream_group(&mut criterion, LARGE_STREAMS, LARGE_SIZE);
    idle_cpu();
    criterion.final_summary();
    ExitCode::SUCCESS
}
