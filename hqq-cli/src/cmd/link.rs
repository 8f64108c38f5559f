//! What every link subcommand (`echo`, `ping`, `send`, `recv`) shares: the
//! segment name and configuration options, the idle timeout, opening the
//! link, the end-of-stream packet and packet tracing.

use std::time::Duration;

use clap::Args;
use hqq_runtime::link::{LinkConfig, LinkOpenError, StandardLink};
use hqq_runtime::segment::{inspect_segment, peek_header, SegmentCreateError, SegmentOwner};
use hqq_runtime::superblock::{STATE_READY, SUPERBLOCK_MAGIC};
use hqq_runtime::Packet;

/// Opcode of the packet `hqq send` publishes after the last message so
/// that `hqq recv` knows the stream ended: the first opcode of the tool's
/// own, in the application range (`0x80..=0xEF`) of the spec. Its operands
/// are zero and it carries no payload. A peer that never sends it (a Go
/// program) is read with `hqq recv --count N` instead.
pub const END_OF_STREAM_OPCODE: u8 = 0xEF;

/// The end-of-stream packet (see [`END_OF_STREAM_OPCODE`]).
pub fn end_of_stream() -> Packet {
    Packet::new(END_OF_STREAM_OPCODE, [0; 7])
}

/// The segment and link configuration every link subcommand takes.
#[derive(Debug, Clone, Args)]
pub struct LinkArgs {
    /// Segment name (as in /dev/shm).
    pub name: String,
    /// Create the segment and become the primary (the segment is removed
    /// when this process exits, also on Ctrl-C); without it, open an
    /// existing segment.
    #[arg(long)]
    pub create: bool,
    /// Ring slots (= payload buffers) per direction: a power of two, the
    /// same on both sides [default: 1024, or the existing segment's]
    #[arg(long, value_name = "N")]
    pub slots: Option<u64>,
    /// Bytes per payload buffer, the largest message: a multiple of 8, the
    /// same on both sides [default: 4096, or the existing segment's]
    #[arg(long, value_name = "B")]
    pub buffer_size: Option<u64>,
    /// Idle timeout: exit with status 1 when nothing moves (no message
    /// arrives, no slot frees up) for this long, e.g. `500ms`, `2s`, `1m`
    /// (a bare number is seconds) [default: wait forever; `ping`: 5s]
    #[arg(long, value_name = "DURATION", value_parser = parse_duration)]
    pub timeout: Option<Duration>,
    /// Keep this process's link counters private instead of publishing
    /// them in `NAME.stat-<pid>` for `hqq stat`.
    #[arg(long)]
    pub no_stats: bool,
}

/// Parses a duration: a non-negative decimal number followed by `us`,
/// `ms`, `s`, `m` or `h`, or by nothing for seconds.
///
/// ```
/// use std::time::Duration;
/// use hqq_cli::cmd::link::parse_duration;
///
/// assert_eq!(parse_duration("250ms"), Ok(Duration::from_millis(250)));
/// assert_eq!(parse_duration("1.5"), Ok(Duration::from_millis(1500)));
/// assert_eq!(parse_duration("2m"), Ok(Duration::from_secs(120)));
/// assert!(parse_duration("soon").is_err());
/// assert!(parse_duration("-1s").is_err());
/// ```
pub fn parse_duration(text: &str) -> Result<Duration, String> {
    let split = text
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(text.len());
    let (number, unit) = text.split_at(split);
    let scale = match unit.trim() {
        "us" | "µs" => 1e-6,
        "ms" => 1e-3,
        "" | "s" => 1.0,
        "m" => 60.0,
        "h" => 3600.0,
        other => return Err(format!("unknown unit {other:?} (use us, ms, s, m or h)")),
    };
    let value: f64 = number
        .parse()
        .map_err(|_| format!("{text:?} is not a duration such as 500ms or 2s"))?;
    Duration::try_from_secs_f64(value * scale).map_err(|e| format!("{text:?}: {e}"))
}

/// Why a link subcommand could not open its link.
#[derive(Debug, thiserror::Error)]
pub enum OpenError {
    /// `--create` found the name taken by a segment whose every registered
    /// process is dead.
    #[error(
        "segment {name:?} already exists and every process registered in it is dead; remove it with `hqq clean {name}`"
    )]
    StaleSegment {
        /// The segment name.
        name: String,
    },
    /// Creating or opening failed otherwise.
    #[error(transparent)]
    Link(#[from] LinkOpenError),
}

/// Nothing moved on the link for the `--timeout` duration.
#[derive(Debug, Clone, Copy, thiserror::Error)]
#[error("nothing moved for {} (--timeout)", show_duration(*.0))]
pub struct IdleTimeout(pub Duration);

/// A duration as a person writes it: `2s`, `1.5s`, `250ms`.
fn show_duration(duration: Duration) -> String {
    if duration.subsec_nanos() == 0 {
        format!("{}s", duration.as_secs())
    } else if duration < Duration::from_secs(1) {
        format!("{}ms", duration.as_secs_f64() * 1e3)
    } else {
        format!("{}s", duration.as_secs_f64())
    }
}

/// Ring slots per direction when neither `--slots` nor an existing segment
/// says otherwise.
pub const DEFAULT_SLOTS: u64 = 1024;

/// Bytes per payload buffer when neither `--buffer-size` nor an existing
/// segment says otherwise.
pub const DEFAULT_BUFFER_SIZE: u64 = 4096;

impl LinkArgs {
    /// Creates (`--create`) or opens the link.
    ///
    /// Without `--slots`/`--buffer-size`, opening adopts the configuration
    /// an existing segment's superblock announces (the open protocol still
    /// validates it), and creating uses the defaults.
    /// Sends and receives wait at most `--timeout` (or `default`) each.
    pub fn open(&self) -> Result<StandardLink, OpenError> {
        self.open_with_timeout(None)
    }

    /// As [`open`](Self::open), with `default` as the idle timeout when
    /// `--timeout` is absent.
    pub fn open_with_timeout(&self, default: Option<Duration>) -> Result<StandardLink, OpenError> {
        let link = self.open_link()?;
        let timeout = self.timeout.or(default);
        link.set_read_timeout(timeout);
        link.set_write_timeout(timeout);
        Ok(link)
    }

    fn open_link(&self) -> Result<StandardLink, OpenError> {
        let announced = if self.create {
            None
        } else {
            peek_header(&self.name)
                .ok()
                .filter(|words| words[0] == SUPERBLOCK_MAGIC && words[1] == STATE_READY)
                .map(|words| (words[5], words[6]))
        };
        let mut config = LinkConfig::new();
        config
            .slots(
                self.slots
                    .or(announced.map(|a| a.0))
                    .unwrap_or(DEFAULT_SLOTS),
            )
            .buffer_size(
                self.buffer_size
                    .or(announced.map(|a| a.1))
                    .unwrap_or(DEFAULT_BUFFER_SIZE),
            )
            .ready_timeout(Duration::from_secs(2))
            .publish_stats(!self.no_stats);
        let link = self.create_or_open(&config)?;
        if let Some(stats) = link.statistics().published_name() {
            super::interrupt::remove_on_interrupt(stats);
        }
        Ok(link)
    }

    fn create_or_open(&self, config: &LinkConfig) -> Result<StandardLink, OpenError> {
        if self.create {
            let link = StandardLink::create(&self.name, config).map_err(|e| match e {
                LinkOpenError::Create(SegmentCreateError::AlreadyExists { .. })
                    if inspect_segment(&self.name).is_ok_and(|i| i.owner == SegmentOwner::Dead) =>
                {
                    OpenError::StaleSegment {
                        name: self.name.clone(),
                    }
                }
                e => OpenError::Link(e),
            })?;
            super::interrupt::remove_on_interrupt(&self.name);
            Ok(link)
        } else {
            Ok(StandardLink::open(&self.name, config)?)
        }
    }
}

/// Prints the runtime's packet events (the `trace` feature of
/// `hqq-runtime`: every packet this process publishes or claims, decoded)
/// on stderr (`--trace`).
pub fn install_trace() {
    // Fails only if a subscriber is already installed, which then prints.
    let _ = tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .with_max_level(tracing_subscriber::filter::LevelFilter::TRACE)
        .without_time()
        .try_init();
}
