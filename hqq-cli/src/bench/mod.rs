//! The cross-process benchmark suite behind `hqq bench` and the criterion
//! bench `benches/ipc.rs`.
//!
//! # What is measured
//!
//! - **RTT** of 64 B and 4 KiB messages to a peer process and back: median
//!   and p99 ([`measure_rtt`]);
//! - **one-way stream** of 64 B and 4 KiB messages: messages/s and GB/s
//!   ([`measure_stream`]);
//! - **large messages** of 1 MiB, one way: messages/s and GB/s
//!   ([`measure_large_stream`]; the Advanced link assembled and streamed,
//!   next to a socketpair);
//! - **parked RTT** of 64 B messages with round trips 2 ms apart, so both
//!   sides have parked ([`measure_spaced_rtt`]), next to a pipe pair spaced
//!   the same way;
//! - **idle CPU** of a receiver blocked for 2 s on a silent peer, in percent
//!   of one core ([`measure_idle`]).
//!
//! Every figure sits next to baselines from the same run: a Unix
//! socketpair and a pipe pair ([`fd`]), the physical floor, a bare cache
//! line bounced between two processes or two threads ([`floor`]), and for
//! streams the copy ceiling, a bare `memcpy` loop ([`copy`]).
//!
//! A few rows can also be measured in turn, in short batches, round after
//! round, with the cache-line floor around each round
//! ([`run_alternate`], `hqq bench --alternate`), so that the ratios
//! between them come from one placement of the two CPUs.
//!
//! # Structure
//!
//! - A transport implements one small trait per measurement:
//!   [`RoundTrip`], [`Stream`], [`BlockedReceive`]. Byte-message transports
//!   get the first two for free by implementing [`EchoChannel`] (send all,
//!   receive exactly) and wrapping it in an [`EchoClient`]; their peer runs
//!   [`serve_echo`] on its end.
//! - The peer is this same binary, re-executed with a [`PeerRole`] in
//!   [`PEER_ROLE_ENV`]; `main` of every binary that runs the suite calls
//!   [`run_peer_from_env`] first.
//! - [`suite`] lists the transports (one entry each: name, baselines,
//!   constructor); [`run_suite`] measures them all into a [`Report`].
//!
//! # Adding a transport
//!
//! 1. Implement [`EchoChannel`] for its end (`send` sends one whole
//!    message, `recv_exact` receives until the buffer is full); the same
//!    impl usually serves the parent and the peer.
//! 2. Add a [`PeerRole`] variant (name, and an arm in its `serve` that opens
//!    the peer's end from the environment and calls [`serve_echo`]).
//! 3. Write a constructor that creates the parent's end, starts the peer
//!    with [`Peer::spawn`] and returns an [`EchoClient`]; for idle CPU,
//!    implement [`BlockedReceive`] (a receive with a timeout).
//! 4. Add an entry to [`suite::ROUND_TRIPS`], [`suite::STREAMS`] and
//!    [`suite::IDLE_WAITS`] naming its baselines; `hqq bench` and the
//!    criterion bench pick it up from there.

pub mod advanced;
pub mod alternate;
#[cfg(feature = "tokio")]
pub mod async_advanced;
#[cfg(feature = "tokio")]
pub mod async_link;
pub mod ceiling;
pub mod copy;
pub mod cpu_time;
pub mod cross_copy;
pub mod echo;
pub mod error;
pub mod fd;
pub mod floor;
#[cfg(feature = "iceoryx2")]
pub mod iceoryx;
pub mod idle;
pub mod link;
pub mod machine;
pub mod measure;
pub mod peer;
pub mod pin;
pub mod qos;
pub mod report;
pub mod suite;

use std::sync::atomic::{AtomicU32, Ordering};

pub use alternate::{run_alternate, AlternateConfig, AlternateError, AlternateReport};
pub use echo::{serve_echo, EchoChannel, EchoClient, MAX_MESSAGE_SIZE};
pub use error::{BenchError, PeerRunError};
pub use machine::Machine;
pub use measure::{
    measure_idle, measure_large_stream, measure_rtt, measure_spaced_rtt, measure_stream,
    BlockedReceive, IdleFigures, RoundTrip, RttFigures, Stream, StreamFigures,
};
pub use peer::{run_peer_from_env, Peer, PeerRole, PEER_ROLE_ENV};
pub use pin::Pinning;
pub use report::{format_size, Comparison, Metric, Report, Row};
pub use suite::{run_suite, Step, SuiteConfig, SuiteRunError};

/// A shared-segment name unique to this process and call, for the
/// measurement `what`.
fn segment_name(what: &str) -> String {
    static COUNTER: AtomicU32 = AtomicU32::new(0);
    let n = COUNTER.fetch_add(1, Ordering::Relaxed);
    format!("hqq-bench-{}-{n}-{what}", std::process::id())
}
