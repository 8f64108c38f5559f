//! What a transport must do to be measured (three small traits), and how
//! the suite turns those calls into figures.

use std::time::{Duration, Instant};

use super::cpu_time::thread_cpu_time;
use super::error::BenchError;

/// Round trips to a peer: the RTT measurements.
pub trait RoundTrip {
    /// Runs `laps.len() * batch_len` round trips of `size`-byte messages
    /// (send one, wait for the peer's answer) and stores the wall-clock
    /// time of each batch of `batch_len` consecutive round trips in `laps`.
    ///
    /// Criterion calls this with one lap of `iters` round trips; the suite
    /// with many short laps to get a distribution.
    fn round_trips(
        &mut self,
        size: usize,
        batch_len: u64,
        laps: &mut [Duration],
    ) -> Result<(), BenchError>;
}

/// A one-way stream to a peer: the throughput measurements.
pub trait Stream {
    /// Sends `count` messages of `size` bytes and waits for the peer to
    /// acknowledge the last one; returns the time from the first send to
    /// the acknowledgement.
    fn stream(&mut self, size: usize, count: u64) -> Result<Duration, BenchError>;
}

/// A receive blocked on a channel whose peer sends nothing: the idle CPU
/// measurement.
pub trait BlockedReceive {
    /// Blocks the calling thread in a receive for `duration` (the receive
    /// must time out: receiving anything is an error).
    fn block(&mut self, duration: Duration) -> Result<(), BenchError>;

    /// CPU time used so far by the threads that do the blocked receive's
    /// work: the calling thread, unless the transport waits with the help
    /// of others (an async link's waiter thread).
    fn cpu_time(&self) -> Result<Duration, BenchError> {
        thread_cpu_time()
    }
}

/// Round trips run before measuring, to warm caches and branch predictors
/// and to estimate the RTT.
const WARM_UP_ROUND_TRIPS: u64 = 200;

/// Shortest lap worth timing on its own: below this, round trips are
/// batched so the clock's own cost (tens of ns) does not dominate.
const MIN_LAP: Duration = Duration::from_micros(2);

/// Largest batch of round trips in one lap.
const MAX_BATCH: u64 = 1000;

/// Time the laps of one RTT row may take, estimated from the warm-up: a
/// row whose round trips take milliseconds (a call queued behind a bulk
/// transfer) runs fewer laps, so the suite stays within minutes.
const LAPS_BUDGET: Duration = Duration::from_secs(10);

/// Fewest laps a row runs however slow its round trips (enough for a p99).
const MIN_LAPS: usize = 500;

/// RTT distribution of one transport and size.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct RttFigures {
    /// Median round-trip time, in nanoseconds.
    pub median_ns: f64,
    /// 99th-percentile round-trip time, in nanoseconds.
    pub p99_ns: f64,
    /// Round trips per timed lap (1 = each round trip timed on its own;
    /// more for RTTs below 2 µs, where the percentiles are of lap means).
    pub batch_len: u64,
    /// Number of laps timed.
    pub laps: usize,
}

/// Measures the RTT of `transport` for `size`-byte messages over `laps`
/// timed laps.
pub fn measure_rtt(
    transport: &mut dyn RoundTrip,
    size: usize,
    laps: usize,
) -> Result<RttFigures, BenchError> {
    let mut warm_up = [Duration::ZERO];
    transport.round_trips(size, WARM_UP_ROUND_TRIPS, &mut warm_up)?;
    let mean_ns = (warm_up[0].as_nanos() / u128::from(WARM_UP_ROUND_TRIPS)).max(1);
    let batch_len = u64::try_from(MIN_LAP.as_nanos().div_ceil(mean_ns))
        .unwrap_or(MAX_BATCH)
        .clamp(1, MAX_BATCH);
    let lap_ns = mean_ns.saturating_mul(u128::from(batch_len));
    let affordable = usize::try_from(LAPS_BUDGET.as_nanos() / lap_ns)
        .unwrap_or(usize::MAX)
        .max(MIN_LAPS);
    let mut lap_times = vec![Duration::ZERO; laps.clamp(1, affordable)];
    transport.round_trips(size, batch_len, &mut lap_times)?;
    let mut per_round_trip: Vec<f64> = lap_times
        .iter()
        .map(|lap| lap.as_nanos() as f64 / batch_len as f64)
        .collect();
    per_round_trip.sort_by(f64::total_cmp);
    Ok(RttFigures {
        median_ns: percentile(&per_round_trip, 50.0),
        p99_ns: percentile(&per_round_trip, 99.0),
        batch_len,
        laps: lap_times.len(),
    })
}

/// Measures the RTT of `transport` for `size`-byte messages with round
/// trips `spacing` apart (`laps` of them, each timed on its own), so that
/// both sides have gone idle (parked, for transports that park) when each
/// one starts: the wake-up latency, not the spinning one.
pub fn measure_spaced_rtt(
    transport: &mut dyn RoundTrip,
    size: usize,
    laps: usize,
    spacing: Duration,
) -> Result<RttFigures, BenchError> {
    let mut lap = [Duration::ZERO];
    transport.round_trips(size, WARM_UP_ROUND_TRIPS, &mut lap)?;
    let mut per_round_trip = Vec::with_capacity(laps.max(1));
    for _ in 0..laps.max(1) {
        std::thread::sleep(spacing);
        transport.round_trips(size, 1, &mut lap)?;
        per_round_trip.push(lap[0].as_nanos() as f64);
    }
    per_round_trip.sort_by(f64::total_cmp);
    Ok(RttFigures {
        median_ns: percentile(&per_round_trip, 50.0),
        p99_ns: percentile(&per_round_trip, 99.0),
        batch_len: 1,
        laps: per_round_trip.len(),
    })
}

/// The `p`th percentile (nearest rank) of ascending `sorted`; 0 if empty.
fn percentile(sorted: &[f64], p: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    let rank = (p / 100.0 * sorted.len() as f64).ceil() as usize;
    sorted
        .get(rank.clamp(1, sorted.len()) - 1)
        .copied()
        .unwrap_or_default()
}

/// Throughput of one transport and size.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct StreamFigures {
    /// Messages per second (median of the runs).
    pub messages_per_sec: f64,
    /// Payload gigabytes (10^9 bytes) per second (median of the runs).
    pub gigabytes_per_sec: f64,
    /// Messages in each run.
    pub messages_per_run: u64,
}

/// Messages in the pilot run that sizes the measured runs.
const PILOT_MESSAGES: u64 = 1000;

/// Bounds of the messages in one measured run.
const MIN_RUN_MESSAGES: u64 = 1000;
const MAX_RUN_MESSAGES: u64 = 50_000_000;

/// Measures the one-way throughput of `transport` for `size`-byte
/// messages: `runs` runs sized to last about `run_time` each.
pub fn measure_stream(
    transport: &mut dyn Stream,
    size: usize,
    run_time: Duration,
    runs: usize,
) -> Result<StreamFigures, BenchError> {
    stream_figures(
        transport,
        size,
        run_time,
        runs,
        PILOT_MESSAGES,
        MIN_RUN_MESSAGES,
    )
}

/// Messages in the pilot run, and the fewest in a measured run, of a
/// large-message measurement (1 MiB each: a few suffice).
const LARGE_PILOT_MESSAGES: u64 = 8;

/// [`measure_stream`] for large messages (hundreds of KiB and more): the
/// pilot and the shortest run are a few messages, not a thousand.
pub fn measure_large_stream(
    transport: &mut dyn Stream,
    size: usize,
    run_time: Duration,
    runs: usize,
) -> Result<StreamFigures, BenchError> {
    stream_figures(
        transport,
        size,
        run_time,
        runs,
        LARGE_PILOT_MESSAGES,
        LARGE_PILOT_MESSAGES,
    )
}

fn stream_figures(
    transport: &mut dyn Stream,
    size: usize,
    run_time: Duration,
    runs: usize,
    pilot_messages: u64,
    min_run_messages: u64,
) -> Result<StreamFigures, BenchError> {
    let pilot = transport.stream(size, pilot_messages)?;
    let rate = pilot_messages as f64 / pilot.as_secs_f64().max(1e-9);
    let messages_per_run =
        ((rate * run_time.as_secs_f64()) as u64).clamp(min_run_messages, MAX_RUN_MESSAGES);
    let mut rates = Vec::with_capacity(runs.max(1));
    for _ in 0..runs.max(1) {
        let elapsed = transport.stream(size, messages_per_run)?;
        rates.push(messages_per_run as f64 / elapsed.as_secs_f64().max(1e-9));
    }
    rates.sort_by(f64::total_cmp);
    let messages_per_sec = percentile(&rates, 50.0);
    Ok(StreamFigures {
        messages_per_sec,
        gigabytes_per_sec: messages_per_sec * size as f64 / 1e9,
        messages_per_run,
    })
}

/// CPU cost of a blocked receive.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct IdleFigures {
    /// CPU time of the blocked thread as a percentage of one core over the
    /// wall-clock time it was blocked.
    pub cpu_percent: f64,
    /// How long the thread was blocked.
    pub blocked: Duration,
}

/// Blocks in `receiver` for `duration` and reports the blocked thread's
/// CPU use.
pub fn measure_idle(
    receiver: &mut dyn BlockedReceive,
    duration: Duration,
) -> Result<IdleFigures, BenchError> {
    let cpu_before = receiver.cpu_time()?;
    let start = Instant::now();
    receiver.block(duration)?;
    let blocked = start.elapsed();
    let cpu = receiver.cpu_time()?.saturating_sub(cpu_before);
    Ok(IdleFigures {
        cpu_percent: 100.0 * cpu.as_secs_f64() / blocked.as_secs_f64().max(1e-9),
        blocked,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percentiles_use_nearest_rank() {
        let values: Vec<f64> = (1..=100).map(f64::from).collect();
        assert_eq!(percentile(&values, 50.0), 50.0);
        assert_eq!(percentile(&values, 99.0), 99.0);
        assert_eq!(percentile(&values, 100.0), 100.0);
        assert_eq!(percentile(&[7.0], 99.0), 7.0);
        assert_eq!(percentile(&[], 50.0), 0.0);
    }

    /// A transport whose round trips take a fixed simulated time.
    struct Fixed {
        round_trip: Duration,
        calls: Vec<(u64, usize)>,
    }

    impl RoundTrip for Fixed {
        fn round_trips(
            &mut self,
            _size: usize,
            batch_len: u64,
            laps: &mut [Duration],
        ) -> Result<(), BenchError> {
            self.calls.push((batch_len, laps.len()));
            let per_lap = self.round_trip * u32::try_from(batch_len).unwrap_or(u32::MAX);
            laps.fill(per_lap);
            Ok(())
        }
    }

    #[test]
    fn spaced_round_trips_are_timed_one_by_one() {
        let mut slow = Fixed {
            round_trip: Duration::from_micros(30),
            calls: Vec::new(),
        };
        let figures =
            measure_spaced_rtt(&mut slow, 64, 3, Duration::from_micros(10)).expect("measure");
        assert_eq!(
            slow.calls,
            [(WARM_UP_ROUND_TRIPS, 1), (1, 1), (1, 1), (1, 1)]
        );
        assert_eq!((figures.batch_len, figures.laps), (1, 3));
        assert_eq!(figures.median_ns, 30_000.0);
    }

    #[test]
    fn short_round_trips_are_batched_and_divided_back() {
        let mut fast = Fixed {
            round_trip: Duration::from_nanos(100),
            calls: Vec::new(),
        };
        let figures = measure_rtt(&mut fast, 64, 50).expect("measure");
        assert_eq!(figures.batch_len, 20);
        assert_eq!(fast.calls, [(WARM_UP_ROUND_TRIPS, 1), (20, 50)]);
        assert_eq!(figures.median_ns, 100.0);

        let mut slow = Fixed {
            round_trip: Duration::from_micros(10),
            calls: Vec::new(),
        };
        let figures = measure_rtt(&mut slow, 64, 10).expect("measure");
        assert_eq!(figures.batch_len, 1);
        assert_eq!(figures.p99_ns, 10_000.0);
    }

    #[test]
    fn round_trips_of_milliseconds_run_fewer_laps() {
        let mut queued = Fixed {
            round_trip: Duration::from_millis(5),
            calls: Vec::new(),
        };
        let figures = measure_rtt(&mut queued, 64, 20_000).expect("measure");
        // 10 s of 5 ms laps.
        assert_eq!(queued.calls, [(WARM_UP_ROUND_TRIPS, 1), (1, 2000)]);
        assert_eq!(figures.laps, 2000);

        let mut stuck = Fixed {
            round_trip: Duration::from_secs(1),
            calls: Vec::new(),
        };
        let figures = measure_rtt(&mut stuck, 64, 20_000).expect("measure");
        assert_eq!(figures.laps, MIN_LAPS);
    }

    struct Sleepy;

    impl BlockedReceive for Sleepy {
        fn block(&mut self, duration: Duration) -> Result<(), BenchError> {
            std::thread::sleep(duration);
            Ok(())
        }
    }

    #[test]
    fn idle_figures_cover_the_blocked_time() {
        let figures = measure_idle(&mut Sleepy, Duration::from_millis(20)).expect("measure");
        assert!(figures.blocked >= Duration::from_millis(20));
        assert!(figures.cpu_percent.is_finite() && figures.cpu_percent >= 0.0);
    }
}
