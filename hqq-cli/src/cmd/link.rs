//! What every link subcommand (`echo`, `ping`, `send`, `recv`) shares: the
//! segment name and configuration options, opening the link, the
//! end-of-stream packet and packet tracing.

use std::time::Duration;

use clap::Args;
use hqq_runtime::link::{LinkConfig, LinkOpenError, StandardLink};
use hqq_runtime::segment::peek_header;
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
    pub fn open(&self) -> Result<StandardLink, LinkOpenError> {
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
            .ready_timeout(Duration::from_secs(2));
        if self.create {
            let link = StandardLink::create(&self.name, &config)?;
            super::interrupt::remove_on_interrupt(&self.name);
            Ok(link)
        } else {
            StandardLink::open(&self.name, &config)
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
