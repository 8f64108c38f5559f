//! `hqq ping NAME --size B --count N`: round trips against `hqq echo`,
//! then the median, p99 and maximum round-trip time.

use std::time::{Duration, Instant};

use clap::Args;
use hqq_runtime::link::{LinkRecvError, LinkSendError};

use super::link::{LinkArgs, OpenError};

/// Arguments of `hqq ping`.
#[derive(Debug, Args)]
pub struct PingArgs {
    #[command(flatten)]
    #[allow(missing_docs)]
    pub link: LinkArgs,
    /// Message size in bytes (1 to the buffer size).
    #[arg(long, value_name = "B", default_value_t = 64)]
    pub size: usize,
    /// Number of round trips.
    #[arg(long, value_name = "N", default_value_t = 1000)]
    pub count: usize,
}

/// How long ping waits for each echo without `--timeout`.
pub const DEFAULT_ECHO_TIMEOUT: Duration = Duration::from_secs(5);

/// Why `hqq ping` failed.
#[derive(Debug, thiserror::Error)]
pub enum PingError {
    /// The arguments make no sense.
    #[error("{0}")]
    Usage(String),
    /// The link could not be opened.
    #[error("opening the link")]
    Open(#[from] OpenError),
    /// Sending failed.
    #[error("sending round trip {round}")]
    Send {
        /// The round trip, from 1.
        round: usize,
        /// Why.
        #[source]
        source: LinkSendError,
    },
    /// No echo came back (is `hqq echo` running on the other side?).
    #[error("waiting for echo {round} (is `hqq echo` running on this segment?)")]
    Recv {
        /// The round trip, from 1.
        round: usize,
        /// Why.
        #[source]
        source: LinkRecvError,
    },
    /// The echo differs from what was sent.
    #[error("echo {round} differs from the message sent")]
    Mismatch {
        /// The round trip, from 1.
        round: usize,
    },
}

/// Round-trip times: median, 99th percentile and maximum.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct RttSummary {
    /// Median.
    pub median: Duration,
    /// 99th percentile (nearest rank).
    pub p99: Duration,
    /// Maximum.
    pub max: Duration,
}

impl RttSummary {
    /// Summarizes `samples` (sorted in place); `None` if empty.
    ///
    /// ```
    /// use std::time::Duration;
    /// use hqq_cli::cmd::ping::RttSummary;
    ///
    /// let mut samples: Vec<Duration> = (1..=100).map(Duration::from_micros).collect();
    /// let summary = RttSummary::of(&mut samples).unwrap();
    /// assert_eq!(summary.median, Duration::from_micros(50));
    /// assert_eq!(summary.p99, Duration::from_micros(99));
    /// assert_eq!(summary.max, Duration::from_micros(100));
    /// ```
    pub fn of(samples: &mut [Duration]) -> Option<RttSummary> {
        samples.sort_unstable();
        let rank = |p: usize| {
            let index = (samples.len() * p).div_ceil(100).saturating_sub(1);
            samples.get(index).copied()
        };
        Some(RttSummary {
            median: rank(50)?,
            p99: rank(99)?,
            max: *samples.last()?,
        })
    }
}

/// Runs the round trips and prints the summary on stdout.
pub fn run(args: &PingArgs) -> Result<(), PingError> {
    if args.count == 0 {
        return Err(PingError::Usage("--count must be at least 1".into()));
    }
    let link = args.link.open_with_timeout(Some(DEFAULT_ECHO_TIMEOUT))?;
    let message: Vec<u8> = (0..args.size).map(|i| (i % 251) as u8).collect();
    let mut echo = vec![0u8; args.size.max(1)];
    let mut samples = Vec::with_capacity(args.count);
    for round in 1..=args.count {
        let start = Instant::now();
        link.send(&message)
            .map_err(|source| PingError::Send { round, source })?;
        let mut received = 0;
        // An echo is one message, but `recv` hands over the rest of a
        // longer one on the next call; read until the size is reached.
        while received < message.len() {
            received += link
                .recv(&mut echo[received..])
                .map_err(|source| PingError::Recv { round, source })?;
        }
        samples.push(start.elapsed());
        if echo[..message.len()] != message[..] {
            return Err(PingError::Mismatch { round });
        }
    }
    if let Some(summary) = RttSummary::of(&mut samples) {
        println!(
            "{} round trips of {} B on {}: rtt median {:.2} us, p99 {:.2} us, max {:.2} us",
            args.count,
            args.size,
            args.link.name,
            micros(summary.median),
            micros(summary.p99),
            micros(summary.max)
        );
    }
    Ok(())
}

fn micros(duration: Duration) -> f64 {
    duration.as_secs_f64() * 1e6
}
