//! The cross-process suite: which transports are measured, at which sizes,
//! against which baselines, and the loop that runs them.
//!
//! Each transport is one entry in [`ROUND_TRIPS`], [`STREAMS`] or
//! [`IDLE_WAITS`]: a name, its baselines, and a function that starts it
//! (with its peer) and returns it behind the measurement's trait. The
//! criterion bench walks the same lists. Entries are listed baselines
//! first, because a row is compared only with rows measured before it.

use std::time::Duration;

use super::advanced::{spawn_advanced, spawn_advanced_with, AdvancedMode, Content, RowFeatures};
use super::ceiling::{Aead, Lz4Ceiling, Lz4Step, SealCeiling};
use super::copy::CopyCeiling;
use super::cross_copy::CrossCoreCopy;
use super::error::BenchError;
use super::fd::{spawn_pipe, spawn_socketpair};
use super::floor::{CacheLineProcesses, CacheLineThreads};
use super::idle::EventCountIdle;
use super::link::spawn_link;
use super::machine::Machine;
use super::measure::{
    measure_idle, measure_large_stream, measure_rtt, measure_spaced_rtt, measure_stream,
    BlockedReceive, RoundTrip, Stream,
};
use super::qos::{spawn_busy_call, Scheduling};
use super::report::{format_size, Metric, Report};

/// Name of the cross-process cache-line floor.
pub const FLOOR_PROCESSES: &str = "cache-line floor (processes)";
/// Name of the same floor measured again as the suite's last step.
pub const FLOOR_PROCESSES_END: &str = "cache-line floor (processes), again at the end";
/// Name of the two-thread cache-line floor.
pub const FLOOR_THREADS: &str = "cache-line floor (threads)";
/// Name of the Unix socketpair baseline.
pub const SOCKETPAIR: &str = "socketpair";
/// Name of the pipe-pair baseline.
pub const PIPE: &str = "pipe pair";
/// Name of the copy ceiling: a bare `memcpy` loop.
pub const MEMCPY: &str = "memcpy (1 MiB working set)";
/// Name of the cross-core copy: the link's copies in on one CPU and out
/// on the other, handed over by two counters instead of a ring.
pub const CROSS_CORE_COPY: &str = "bare hand-off between the two CPUs (threads)";
/// Name of the pipe pair's round trips 2 ms apart.
pub const PIPE_PARKED: &str = "pipe pair, 2 ms apart";
/// Name of the Standard link's round trips 2 ms apart.
pub const STANDARD_LINK_PARKED: &str = "hqq StandardLink, 2 ms apart";
/// The gap between parked round trips: long enough that both sides park.
pub const PARKED_SPACING: Duration = Duration::from_millis(2);
/// Name of the idle measurement of an hqq event-count wait.
pub const EVENT_COUNT_WAIT: &str = "hqq event-count wait";
/// Name of the hqq Standard link rows.
pub const STANDARD_LINK: &str = "hqq StandardLink";
/// Name of the idle measurement of a blocked Standard link receive.
pub const STANDARD_LINK_RECV: &str = "hqq StandardLink blocked recv";
/// Name of the idle measurement of a kernel-blocked socket read.
pub const SOCKET_READ: &str = "socketpair blocked read";

/// Name of the async Standard link rows (feature `tokio`).
pub const ASYNC_LINK: &str = "hqq AsyncStandardLink";
/// Name of the async Standard link rows without the task's spin.
pub const ASYNC_LINK_NO_SPIN: &str = "hqq AsyncStandardLink, no spin";
/// Name of the tokio UnixStream baseline (feature `tokio`).
pub const TOKIO_UNIX: &str = "tokio UnixStream";
/// Name of the idle measurement of a task awaiting an async link receive.
pub const ASYNC_LINK_RECV: &str = "hqq AsyncStandardLink awaiting recv";

/// Name of the iceoryx2 rows (feature `iceoryx2`): publish-subscribe, a
/// copy in and a copy out per message.
pub const ICEORYX2: &str = "iceoryx2 publish-subscribe";
/// Name of the async Advanced link's call rows (feature `tokio`).
pub const ASYNC_ADVANCED_CALL: &str = "hqq AsyncAdvancedLink call";
/// Name of the async Advanced link's call rows with Encryption negotiated
/// (feature `tokio`).
pub const ASYNC_ADVANCED_CALL_SEALED: &str = "hqq AsyncAdvancedLink call encrypted";
/// Name of the rows of 1000 async calls in flight on one link (feature
/// `tokio`; messages per second are calls per second).
pub const ASYNC_CONCURRENT_CALLS: &str = "hqq AsyncAdvancedLink, 1000 concurrent calls";

/// Name of the Advanced link's RPC rows (`call` to an echo method).
pub const ADVANCED_CALL: &str = "hqq AdvancedLink call";
/// Name of the RPC rows with Encryption negotiated.
pub const ADVANCED_CALL_SEALED: &str = "hqq AdvancedLink call encrypted";
/// Name of the assembled rows with Encryption negotiated.
pub const ADVANCED_ASSEMBLED_SEALED: &str = "hqq AdvancedLink send_large/recv_large encrypted";
/// Name of the AES-256-GCM sealing ceiling (one core, no transport).
pub const SEAL_AES: &str = "ceiling: AES-256-GCM seal 64 KiB frames, one core";
/// Name of the ChaCha20-Poly1305 sealing ceiling (one core, no transport).
pub const SEAL_CHACHA: &str = "ceiling: ChaCha20-Poly1305 seal 64 KiB frames, one core";
/// Name of the LZ4 compression ceiling on the text (one core).
pub const LZ4_COMPRESS: &str = "ceiling: LZ4 compress text 64 KiB blocks, one core";
/// Name of the LZ4 decompression ceiling on the text (one core).
pub const LZ4_DECOMPRESS: &str = "ceiling: LZ4 decompress text 64 KiB blocks, one core";
/// Name of the Advanced link's assembled large-message rows.
pub const ADVANCED_ASSEMBLED: &str = "hqq AdvancedLink send_large/recv_large";
/// Name of the assembled rows with 1 MiB of JSON-like text, uncompressed.
pub const ADVANCED_TEXT: &str = "hqq AdvancedLink send_large text";
/// Name of the assembled rows with 1 MiB of JSON-like text, LZ4 negotiated.
pub const ADVANCED_TEXT_LZ4: &str = "hqq AdvancedLink send_large text LZ4";
/// Name of the assembled rows with 1 MiB of random bytes, uncompressed.
pub const ADVANCED_RANDOM: &str = "hqq AdvancedLink send_large random";
/// Name of the assembled rows with 1 MiB of random bytes, LZ4 negotiated.
pub const ADVANCED_RANDOM_LZ4: &str = "hqq AdvancedLink send_large random LZ4";
/// Name of the call rows while another connection streams 1 MiB messages.
pub const ADVANCED_CALL_BUSY: &str = "hqq AdvancedLink call, 1 MiB stream alongside";
/// [`ADVANCED_CALL_BUSY`] with QualityOfService (call high, stream low).
pub const ADVANCED_CALL_BUSY_QOS: &str = "hqq AdvancedLink call, 1 MiB stream alongside, QoS";
/// [`ADVANCED_CALL_BUSY_QOS`] plus FlowControl (a 256 KiB window).
pub const ADVANCED_CALL_BUSY_QOS_FLOW: &str =
    "hqq AdvancedLink call, 1 MiB stream alongside, QoS + flow control";
/// Name of the Advanced link's streamed large-message rows.
pub const ADVANCED_STREAMED: &str = "hqq AdvancedLink send_large_from/recv_stream";

/// The size of the large-message rows: 1 MiB.
pub const LARGE_SIZE: usize = 1 << 20;

/// The message sizes of the suite: 64 B (one packet) and 4 KiB.
pub const SIZES: [usize; 2] = [64, 4096];

/// A transport measured for round-trip time.
#[derive(Debug, Clone, Copy)]
pub struct RoundTripEntry {
    /// Name in reports and criterion ids.
    pub name: &'static str,
    /// Message sizes it is measured at.
    pub sizes: &'static [usize],
    /// Transports its figures are divided by.
    pub baselines: &'static [&'static str],
    /// Starts the transport and its peer.
    pub open: fn() -> Result<Box<dyn RoundTrip>, BenchError>,
}

/// A transport measured for one-way throughput (at every size of
/// [`SIZES`]).
#[derive(Debug, Clone, Copy)]
pub struct StreamEntry {
    /// Name in reports and criterion ids.
    pub name: &'static str,
    /// Transports its figures are divided by.
    pub baselines: &'static [&'static str],
    /// Starts the transport and its peer.
    pub open: fn() -> Result<Box<dyn Stream>, BenchError>,
}

/// A blocked receive measured for its idle CPU use.
#[derive(Debug, Clone, Copy)]
pub struct IdleEntry {
    /// Name in reports.
    pub name: &'static str,
    /// Starts the channel and its silent peer.
    pub open: fn() -> Result<Box<dyn BlockedReceive>, BenchError>,
}

/// The RTT transports, baselines first.
pub const ROUND_TRIPS: &[RoundTripEntry] = &[
    RoundTripEntry {
        name: FLOOR_PROCESSES,
        sizes: &[64],
        baselines: &[],
        open: || Ok(Box::new(CacheLineProcesses::spawn()?)),
    },
    RoundTripEntry {
        name: FLOOR_THREADS,
        sizes: &[64],
        baselines: &[FLOOR_PROCESSES],
        open: || Ok(Box::new(CacheLineThreads::spawn()?)),
    },
    RoundTripEntry {
        name: SOCKETPAIR,
        sizes: &SIZES,
        baselines: &[FLOOR_PROCESSES],
        open: || Ok(Box::new(spawn_socketpair()?)),
    },
    RoundTripEntry {
        name: PIPE,
        sizes: &SIZES,
        baselines: &[FLOOR_PROCESSES, SOCKETPAIR],
        open: || Ok(Box::new(spawn_pipe()?)),
    },
    RoundTripEntry {
        name: STANDARD_LINK,
        sizes: &SIZES,
        baselines: &[FLOOR_PROCESSES, SOCKETPAIR],
        open: || Ok(Box::new(spawn_link()?)),
    },
    #[cfg(feature = "tokio")]
    RoundTripEntry {
        name: TOKIO_UNIX,
        sizes: &[64],
        baselines: &[FLOOR_PROCESSES, SOCKETPAIR],
        open: || Ok(Box::new(super::async_link::spawn_tokio_unix()?)),
    },
    #[cfg(feature = "tokio")]
    RoundTripEntry {
        name: ASYNC_LINK,
        sizes: &[64],
        baselines: &[FLOOR_PROCESSES, STANDARD_LINK, TOKIO_UNIX],
        open: || {
            Ok(Box::new(super::async_link::spawn_async_link(
                hqq_runtime::wait::WaitPolicy::WAKE_WORDS.spin,
            )?))
        },
    },
    #[cfg(feature = "tokio")]
    RoundTripEntry {
        name: ASYNC_LINK_NO_SPIN,
        sizes: &[64],
        baselines: &[FLOOR_PROCESSES, STANDARD_LINK, TOKIO_UNIX],
        open: || {
            Ok(Box::new(super::async_link::spawn_async_link(
                Duration::ZERO,
            )?))
        },
    },
    #[cfg(feature = "iceoryx2")]
    RoundTripEntry {
        name: ICEORYX2,
        sizes: &SIZES,
        baselines: &[FLOOR_PROCESSES, STANDARD_LINK],
        open: || Ok(Box::new(super::iceoryx::spawn_iceoryx2()?)),
    },
    RoundTripEntry {
        name: ADVANCED_CALL,
        sizes: &[64],
        baselines: &[FLOOR_PROCESSES, SOCKETPAIR, STANDARD_LINK],
        open: || Ok(Box::new(spawn_advanced(AdvancedMode::Rpc)?)),
    },
    RoundTripEntry {
        name: ADVANCED_CALL_SEALED,
        sizes: &[64],
        baselines: &[ADVANCED_CALL],
        open: || {
            Ok(Box::new(spawn_advanced_with(
                AdvancedMode::Rpc,
                Content::Filler,
                RowFeatures::SEALED,
            )?))
        },
    },
    #[cfg(feature = "tokio")]
    RoundTripEntry {
        name: ASYNC_ADVANCED_CALL,
        sizes: &[64],
        baselines: &[FLOOR_PROCESSES, ADVANCED_CALL, TOKIO_UNIX],
        open: || {
            Ok(Box::new(super::async_advanced::spawn_async_call(
                RowFeatures::PLAIN,
            )?))
        },
    },
    #[cfg(feature = "tokio")]
    RoundTripEntry {
        name: ASYNC_ADVANCED_CALL_SEALED,
        sizes: &[64],
        baselines: &[ADVANCED_CALL_SEALED, ASYNC_ADVANCED_CALL],
        open: || {
            Ok(Box::new(super::async_advanced::spawn_async_call(
                RowFeatures::SEALED,
            )?))
        },
    },
    RoundTripEntry {
        name: ADVANCED_CALL_BUSY,
        sizes: &[64],
        baselines: &[ADVANCED_CALL],
        open: || Ok(Box::new(spawn_busy_call(Scheduling::Off)?)),
    },
    RoundTripEntry {
        name: ADVANCED_CALL_BUSY_QOS,
        sizes: &[64],
        baselines: &[ADVANCED_CALL, ADVANCED_CALL_BUSY],
        open: || Ok(Box::new(spawn_busy_call(Scheduling::Priorities)?)),
    },
    RoundTripEntry {
        name: ADVANCED_CALL_BUSY_QOS_FLOW,
        sizes: &[64],
        baselines: &[ADVANCED_CALL, ADVANCED_CALL_BUSY],
        open: || Ok(Box::new(spawn_busy_call(Scheduling::PrioritiesAndFlow)?)),
    },
];

/// The round trips measured last: the process floor again, so that a run
/// in which the host moved the two CPUs closer or farther apart shows it
/// (see [`floor_drift_note`]).
pub const CLOSING_ROUND_TRIPS: &[RoundTripEntry] = &[RoundTripEntry {
    name: FLOOR_PROCESSES_END,
    sizes: &[64],
    baselines: &[FLOOR_PROCESSES],
    open: || Ok(Box::new(CacheLineProcesses::spawn()?)),
}];

/// How far the floor may move between the start and the end of a run
/// before the report warns (a factor either way). On a VM the host places
/// the two vCPUs on cores that share a cache, or on ones that do not, and
/// may change its mind during a run; the floor then moves several-fold
/// and so does every cross-process row.
pub const FLOOR_DRIFT_LIMIT: f64 = 1.5;

/// A warning for a report whose process floor moved by more than
/// [`FLOOR_DRIFT_LIMIT`] between the start and the end of the run.
pub fn floor_drift_note(report: &Report) -> Option<String> {
    let median = |name| Some(report.row(name, Some(64), Metric::RttMedianNs)?.value);
    let (start, end) = (median(FLOOR_PROCESSES)?, median(FLOOR_PROCESSES_END)?);
    let ratio = end / start;
    (!(1.0 / FLOOR_DRIFT_LIMIT..=FLOOR_DRIFT_LIMIT).contains(&ratio)).then(|| {
        format!(
            "the cache-line floor between the two CPUs moved from {start:.0} ns to {end:.0} ns \
             during the run: the host placed them differently, so rows measured at different \
             times are not comparable; run again"
        )
    })
}

/// The parked round trips (64 B, [`PARKED_SPACING`] apart), baselines first.
pub const PARKED_ROUND_TRIPS: &[RoundTripEntry] = &[
    RoundTripEntry {
        name: PIPE_PARKED,
        sizes: &[64],
        baselines: &[],
        open: || Ok(Box::new(spawn_pipe()?)),
    },
    RoundTripEntry {
        name: STANDARD_LINK_PARKED,
        sizes: &[64],
        baselines: &[PIPE_PARKED],
        open: || Ok(Box::new(spawn_link()?)),
    },
];

/// The large-message transports (at [`LARGE_SIZE`]), baselines first. The
/// Standard link sends each 1 MiB as buffer-size messages.
pub const LARGE_STREAMS: &[StreamEntry] = &[
    StreamEntry {
        name: SOCKETPAIR,
        baselines: &[],
        open: || Ok(Box::new(spawn_socketpair()?)),
    },
    StreamEntry {
        name: STANDARD_LINK,
        baselines: &[SOCKETPAIR],
        open: || Ok(Box::new(spawn_link()?)),
    },
    StreamEntry {
        name: ADVANCED_ASSEMBLED,
        baselines: &[SOCKETPAIR, STANDARD_LINK],
        open: || Ok(Box::new(spawn_advanced(AdvancedMode::Assembled)?)),
    },
    StreamEntry {
        name: ADVANCED_ASSEMBLED_SEALED,
        baselines: &[ADVANCED_ASSEMBLED],
        open: || {
            Ok(Box::new(spawn_advanced_with(
                AdvancedMode::Assembled,
                Content::Filler,
                RowFeatures::SEALED,
            )?))
        },
    },
    StreamEntry {
        name: SEAL_AES,
        baselines: &[ADVANCED_ASSEMBLED],
        open: || Ok(Box::new(SealCeiling::new(Aead::Aes256Gcm)?)),
    },
    StreamEntry {
        name: SEAL_CHACHA,
        baselines: &[ADVANCED_ASSEMBLED],
        open: || Ok(Box::new(SealCeiling::new(Aead::ChaCha20Poly1305)?)),
    },
    StreamEntry {
        name: ADVANCED_STREAMED,
        baselines: &[SOCKETPAIR, STANDARD_LINK, ADVANCED_ASSEMBLED],
        open: || Ok(Box::new(spawn_advanced(AdvancedMode::Streamed)?)),
    },
    StreamEntry {
        name: ADVANCED_TEXT,
        baselines: &[],
        open: || Ok(Box::new(text_or_random(Content::Text, false)?)),
    },
    StreamEntry {
        name: ADVANCED_TEXT_LZ4,
        baselines: &[ADVANCED_TEXT],
        open: || Ok(Box::new(text_or_random(Content::Text, true)?)),
    },
    StreamEntry {
        name: LZ4_COMPRESS,
        baselines: &[ADVANCED_TEXT],
        open: || Ok(Box::new(Lz4Ceiling::new(Lz4Step::Compress))),
    },
    StreamEntry {
        name: LZ4_DECOMPRESS,
        baselines: &[ADVANCED_TEXT],
        open: || Ok(Box::new(Lz4Ceiling::new(Lz4Step::Decompress))),
    },
    StreamEntry {
        name: ADVANCED_RANDOM,
        baselines: &[],
        open: || Ok(Box::new(text_or_random(Content::Random, false)?)),
    },
    StreamEntry {
        name: ADVANCED_RANDOM_LZ4,
        baselines: &[ADVANCED_RANDOM],
        open: || Ok(Box::new(text_or_random(Content::Random, true)?)),
    },
];

fn text_or_random(
    content: Content,
    compression: bool,
) -> Result<super::advanced::AdvancedClient, BenchError> {
    let features = if compression {
        RowFeatures::LZ4
    } else {
        RowFeatures::PLAIN
    };
    spawn_advanced_with(AdvancedMode::Assembled, content, features)
}

/// The stream transports, baselines first.
pub const STREAMS: &[StreamEntry] = &[
    StreamEntry {
        name: SOCKETPAIR,
        baselines: &[],
        open: || Ok(Box::new(spawn_socketpair()?)),
    },
    StreamEntry {
        name: MEMCPY,
        baselines: &[],
        open: || Ok(Box::new(CopyCeiling::new())),
    },
    StreamEntry {
        name: CROSS_CORE_COPY,
        baselines: &[MEMCPY],
        open: || Ok(Box::new(CrossCoreCopy::new())),
    },
    StreamEntry {
        name: PIPE,
        baselines: &[SOCKETPAIR],
        open: || Ok(Box::new(spawn_pipe()?)),
    },
    StreamEntry {
        name: STANDARD_LINK,
        baselines: &[SOCKETPAIR, MEMCPY, CROSS_CORE_COPY],
        open: || Ok(Box::new(spawn_link()?)),
    },
    #[cfg(feature = "iceoryx2")]
    StreamEntry {
        name: ICEORYX2,
        baselines: &[MEMCPY, STANDARD_LINK],
        open: || Ok(Box::new(super::iceoryx::spawn_iceoryx2()?)),
    },
    #[cfg(feature = "tokio")]
    StreamEntry {
        name: ASYNC_CONCURRENT_CALLS,
        baselines: &[],
        open: || {
            Ok(Box::new(super::async_advanced::spawn_async_call(
                RowFeatures::PLAIN,
            )?))
        },
    },
];

/// The idle measurements.
pub const IDLE_WAITS: &[IdleEntry] = &[
    IdleEntry {
        name: SOCKET_READ,
        open: || Ok(Box::new(spawn_socketpair()?)),
    },
    IdleEntry {
        name: EVENT_COUNT_WAIT,
        open: || Ok(Box::new(EventCountIdle::spawn()?)),
    },
    IdleEntry {
        name: STANDARD_LINK_RECV,
        open: || Ok(Box::new(spawn_link()?)),
    },
    #[cfg(feature = "tokio")]
    IdleEntry {
        name: ASYNC_LINK_RECV,
        open: || {
            Ok(Box::new(super::async_link::spawn_async_link(
                hqq_runtime::wait::WaitPolicy::WAKE_WORDS.spin,
            )?))
        },
    },
];

/// How long the suite measures.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SuiteConfig {
    /// Timed laps per RTT figure (each lap one round trip, or a batch of
    /// them for RTTs below 2 µs).
    pub rtt_laps: usize,
    /// Round trips per parked-RTT figure (each [`PARKED_SPACING`] after
    /// the last).
    pub parked_laps: usize,
    /// Target length of one stream run.
    pub stream_run_time: Duration,
    /// Stream runs per figure (the median is reported).
    pub stream_runs: usize,
    /// How long each idle receive blocks.
    pub idle_time: Duration,
    /// Whether this is the reduced `--quick` configuration.
    pub quick: bool,
    /// Where to pin the two sides (`--pin`); `None`: the scheduler decides.
    pub pin: Option<super::pin::Pinning>,
    /// Run only the steps whose label contains one of these (`--only`);
    /// empty: every step.
    pub only: Vec<String>,
    /// Measure the process floor briefly after every step and name the
    /// steps it moved around (a spawn and about a millisecond each).
    pub floor_checks: bool,
}

impl SuiteConfig {
    /// The full suite: about 20 s.
    pub const fn full() -> Self {
        Self {
            rtt_laps: 50_000,
            parked_laps: 1000,
            stream_run_time: Duration::from_millis(200),
            stream_runs: 5,
            idle_time: Duration::from_secs(2),
            quick: false,
            pin: None,
            only: Vec::new(),
            floor_checks: true,
        }
    }

    /// A few seconds, for tests: every row, rough figures.
    pub const fn quick() -> Self {
        Self {
            rtt_laps: 300,
            parked_laps: 20,
            stream_run_time: Duration::from_millis(10),
            stream_runs: 2,
            idle_time: Duration::from_millis(200),
            quick: true,
            pin: None,
            only: Vec::new(),
            floor_checks: false,
        }
    }
}

/// Where the suite is, for a progress indicator.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Step {
    /// Zero-based index of the measurement starting now.
    pub index: usize,
    /// Number of measurements in the run.
    pub total: usize,
    /// What is being measured, e.g. `"RTT 64 B socketpair"`.
    pub label: String,
}

/// A measurement of the suite failed.
#[derive(Debug, thiserror::Error)]
#[error("measuring {step} failed")]
pub struct SuiteRunError {
    /// The failed step's label.
    pub step: String,
    /// Why it failed.
    #[source]
    pub source: BenchError,
}

/// One measurement of the suite.
#[derive(Debug, Clone, Copy)]
pub(super) enum Plan {
    Rtt(&'static RoundTripEntry, usize),
    Parked(&'static RoundTripEntry),
    Stream(&'static StreamEntry, usize),
    Large(&'static StreamEntry),
    Idle(&'static IdleEntry),
}

impl Plan {
    /// Every measurement, in the order the suite runs them.
    pub(super) fn all() -> Vec<Plan> {
        let mut plans = Vec::new();
        for size in SIZES {
            plans.extend(
                ROUND_TRIPS
                    .iter()
                    .filter(|entry| entry.sizes.contains(&size))
                    .map(|entry| Plan::Rtt(entry, size)),
            );
        }
        plans.extend(PARKED_ROUND_TRIPS.iter().map(Plan::Parked));
        for size in SIZES {
            plans.extend(STREAMS.iter().map(|entry| Plan::Stream(entry, size)));
        }
        plans.extend(LARGE_STREAMS.iter().map(Plan::Large));
        plans.extend(IDLE_WAITS.iter().map(Plan::Idle));
        plans.extend(CLOSING_ROUND_TRIPS.iter().map(|entry| Plan::Rtt(entry, 64)));
        plans
    }

    /// What the step is called in progress lines (and `--only`).
    pub(super) fn label(self) -> String {
        match self {
            Plan::Rtt(entry, size) => format!("RTT {} {}", format_size(size), entry.name),
            Plan::Parked(entry) => format!("RTT 64 B {}", entry.name),
            Plan::Stream(entry, size) => format!("stream {} {}", format_size(size), entry.name),
            Plan::Large(entry) => format!("stream {} {}", format_size(LARGE_SIZE), entry.name),
            Plan::Idle(entry) => format!("idle CPU {}", entry.name),
        }
    }

    /// Starts the transport, measures it into `report`, and stops it.
    pub(super) fn run(self, config: &SuiteConfig, report: &mut Report) -> Result<(), BenchError> {
        match self {
            Plan::Rtt(entry, size) => {
                let figures = measure_rtt((entry.open)()?.as_mut(), size, config.rtt_laps)?;
                let size = Some(size);
                let (name, baselines) = (entry.name, entry.baselines);
                report.push(
                    name,
                    size,
                    Metric::RttMedianNs,
                    figures.median_ns,
                    baselines,
                );
                report.push(name, size, Metric::RttP99Ns, figures.p99_ns, baselines);
            }
            Plan::Parked(entry) => {
                let mut transport = (entry.open)()?;
                let figures =
                    measure_spaced_rtt(transport.as_mut(), 64, config.parked_laps, PARKED_SPACING)?;
                let (name, baselines, size) = (entry.name, entry.baselines, Some(64));
                report.push(
                    name,
                    size,
                    Metric::RttMedianNs,
                    figures.median_ns,
                    baselines,
                );
                report.push(name, size, Metric::RttP99Ns, figures.p99_ns, baselines);
            }
            Plan::Stream(entry, size) => {
                let figures = measure_stream(
                    (entry.open)()?.as_mut(),
                    size,
                    config.stream_run_time,
                    config.stream_runs,
                )?;
                let (name, baselines, size) = (entry.name, entry.baselines, Some(size));
                let rate = figures.messages_per_sec;
                report.push(name, size, Metric::MessagesPerSec, rate, baselines);
                let bytes = figures.gigabytes_per_sec;
                report.push(name, size, Metric::GigabytesPerSec, bytes, baselines);
            }
            Plan::Large(entry) => {
                let figures = measure_large_stream(
                    (entry.open)()?.as_mut(),
                    LARGE_SIZE,
                    config.stream_run_time,
                    config.stream_runs,
                )?;
                let (name, baselines, size) = (entry.name, entry.baselines, Some(LARGE_SIZE));
                let rate = figures.messages_per_sec;
                report.push(name, size, Metric::MessagesPerSec, rate, baselines);
                let bytes = figures.gigabytes_per_sec;
                report.push(name, size, Metric::GigabytesPerSec, bytes, baselines);
            }
            Plan::Idle(entry) => {
                let figures = measure_idle((entry.open)()?.as_mut(), config.idle_time)?;
                report.push(
                    entry.name,
                    None,
                    Metric::IdleCpuPercent,
                    figures.cpu_percent,
                    &[],
                );
            }
        }
        Ok(())
    }
}

/// Runs every measurement of the suite, calling `on_step` as each starts.
pub fn run_suite(
    config: &SuiteConfig,
    mut on_step: impl FnMut(&Step),
) -> Result<Report, SuiteRunError> {
    let plans: Vec<Plan> = Plan::all()
        .into_iter()
        .filter(|plan| {
            config.only.is_empty()
                || config
                    .only
                    .iter()
                    .any(|o| plan.label().contains(o.as_str()))
        })
        .collect();
    let mut machine = Machine::current();
    if let Some(pinning) = config.pin {
        super::pin::pin_client(pinning).map_err(|source| SuiteRunError {
            step: "pinning to CPUs".to_owned(),
            source: BenchError::Io {
                role: "benchmark",
                operation: "pin to CPU",
                source,
            },
        })?;
        machine.pinned = Some(pinning);
    }
    let mut report = Report::new(machine, config.quick);
    let floor_failed = |source| SuiteRunError {
        step: "checking the cache-line floor between steps".to_owned(),
        source,
    };
    let sample = || match config.floor_checks {
        true => floor_sample().map(Some).map_err(floor_failed),
        false => Ok(None),
    };
    let mut placement = sample()?.map(Placement::new);
    for (index, plan) in plans.iter().enumerate() {
        let label = plan.label();
        on_step(&Step {
            index,
            total: plans.len(),
            label: label.clone(),
        });
        plan.run(config, &mut report)
            .map_err(|source| SuiteRunError {
                step: label.clone(),
                source,
            })?;
        if let (Some(placement), Some(floor_ns)) = (placement.as_mut(), sample()?) {
            placement.after(label, floor_ns);
        }
    }
    report.notes.extend(floor_drift_note(&report));
    report.notes.extend(placement.and_then(|p| p.note()));
    Ok(report)
}

/// Round trips of the short floor check between two steps (well under a
/// millisecond of bouncing at any placement).
const FLOOR_SAMPLE_LAPS: usize = 500;

/// A short measurement of the process floor, taken between steps.
fn floor_sample() -> Result<f64, BenchError> {
    let mut floor = CacheLineProcesses::spawn()?;
    Ok(measure_rtt(&mut floor, 64, FLOOR_SAMPLE_LAPS)?.median_ns)
}

/// The floor before and after every step, against its first value: which
/// steps ran (at least partly) while the host had placed the two CPUs
/// differently. The start and end floors alone miss a placement that
/// changed and changed back during the run.
#[derive(Debug)]
struct Placement {
    first_ns: f64,
    last_ns: f64,
    moved: Vec<String>,
}

impl Placement {
    fn new(first_ns: f64) -> Self {
        Placement {
            first_ns,
            last_ns: first_ns,
            moved: Vec::new(),
        }
    }

    /// Records the floor `floor_ns` measured right after the step `label`.
    fn after(&mut self, label: String, floor_ns: f64) {
        let held =
            |ns: f64| (1.0 / FLOOR_DRIFT_LIMIT..=FLOOR_DRIFT_LIMIT).contains(&(ns / self.first_ns));
        if !held(self.last_ns) || !held(floor_ns) {
            self.moved.push(label);
        }
        self.last_ns = floor_ns;
    }

    /// A warning naming the steps measured at another placement, if any.
    fn note(&self) -> Option<String> {
        (!self.moved.is_empty()).then(|| {
            format!(
                "the cache-line floor was outside {FLOOR_DRIFT_LIMIT}x of its first value \
                 ({:.0} ns) before or after {} of the steps: {}",
                self.first_ns,
                self.moved.len(),
                self.moved.join("; ")
            )
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::bench::machine::Machine;

    fn report_with_floors(start: f64, end: f64) -> Report {
        let machine = Machine {
            cpu_model: "Test CPU".to_owned(),
            cores: 2,
            kernel: "6.0".to_owned(),
            load_average: None,
            pinned: None,
        };
        let mut report = Report::new(machine, false);
        report.push(FLOOR_PROCESSES, Some(64), Metric::RttMedianNs, start, &[]);
        report.push(FLOOR_PROCESSES_END, Some(64), Metric::RttMedianNs, end, &[]);
        report
    }

    #[test]
    fn steps_measured_at_another_placement_are_named() {
        let mut placement = Placement::new(70.0);
        placement.after("a".to_owned(), 80.0);
        assert_eq!(placement.note(), None);
        placement.after("b".to_owned(), 400.0);
        placement.after("c".to_owned(), 72.0);
        placement.after("d".to_owned(), 71.0);
        let note = placement.note().expect("b ended and c began at 400 ns");
        assert!(note.ends_with("2 of the steps: b; c"), "{note}");
        assert!(note.contains("(70 ns)"), "{note}");
    }

    #[test]
    fn a_floor_that_moved_during_the_run_is_noted() {
        assert_eq!(floor_drift_note(&report_with_floors(80.0, 100.0)), None);
        assert_eq!(floor_drift_note(&report_with_floors(400.0, 300.0)), None);
        let note = floor_drift_note(&report_with_floors(80.0, 400.0)).expect("moved 5x");
        assert!(note.contains("from 80 ns to 400 ns"), "{note}");
        assert!(floor_drift_note(&report_with_floors(400.0, 80.0)).is_some());
        let mut report = report_with_floors(80.0, 400.0);
        report.notes.extend(floor_drift_note(&report));
        assert!(report.to_string().ends_with(&format!("note: {note}\n")));
    }
}
