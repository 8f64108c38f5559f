//! `hqq recv NAME`: writes received messages to stdout, one per line (the
//! default: a message gets a `\n` unless it already ends with one) or as
//! raw bytes (`--raw`), until `hqq send`'s end-of-stream packet or
//! `--count N` messages, or `--timeout` without one. With `--spec FILE`,
//! packets of the spec's application opcodes are printed by name, one per
//! line.

use std::io::{self, Write};

use clap::Args;
use hqq_runtime::link::LinkRecvError;

use super::app_spec::{AppPacketError, SpecArg, SpecLoadError};
use super::link::{install_trace, IdleTimeout, LinkArgs, OpenError, END_OF_STREAM_OPCODE};

/// Arguments of `hqq recv`.
#[derive(Debug, Args)]
pub struct RecvArgs {
    #[command(flatten)]
    #[allow(missing_docs)]
    pub link: LinkArgs,
    /// Stop after N messages (default: at the end-of-stream packet).
    #[arg(long, value_name = "N")]
    pub count: Option<u64>,
    /// Write the messages' bytes as they are, without line breaks.
    #[arg(long)]
    pub raw: bool,
    /// Print every packet sent or received, decoded, on stderr.
    #[arg(long)]
    pub trace: bool,
    #[command(flatten)]
    #[allow(missing_docs)]
    pub spec: SpecArg,
}

/// Why `hqq recv` failed.
#[derive(Debug, thiserror::Error)]
pub enum RecvError {
    /// The link could not be opened.
    #[error("opening the link")]
    Open(#[from] OpenError),
    /// No message arrived for the `--timeout` duration.
    #[error("waiting for a message")]
    Idle(#[from] IdleTimeout),
    /// Receiving failed.
    #[error("receiving")]
    Recv(#[from] LinkRecvError),
    /// `--spec` could not be read.
    #[error(transparent)]
    Spec(#[from] SpecLoadError),
    /// An application packet did not decode with `--spec`.
    #[error(transparent)]
    AppPacket(#[from] AppPacketError),
    /// Writing stdout failed.
    #[error("writing stdout")]
    Stdout(#[from] io::Error),
}

/// Receives and writes messages until the end of the stream.
pub fn run(args: &RecvArgs) -> Result<(), RecvError> {
    let spec = args.spec.load()?;
    if args.trace {
        install_trace();
        spec.iter().for_each(|s| s.trace_packets());
    }
    let link = args.link.open()?;
    let mut out = io::BufWriter::new(io::stdout().lock());
    let mut received = 0u64;
    let mut buffer = vec![0u8; link.buffer_size()];
    while args.count.map_or(true, |count| received < count) {
        match link.reserve_recv() {
            Ok(message) => {
                // Copied out (and the slot released) before the write, which
                // may block on stdout.
                let n = message.payload().copy_to_slice(&mut buffer);
                drop(message);
                let bytes = buffer.get(..n).unwrap_or_default();
                out.write_all(bytes)?;
                if !args.raw {
                    if bytes.last() != Some(&b'\n') {
                        out.write_all(b"\n")?;
                    }
                    // Lines show up as they arrive.
                    out.flush()?;
                }
                received += 1;
            }
            Err(LinkRecvError::UnexpectedPacket(packet))
                if packet.opcode() == END_OF_STREAM_OPCODE =>
            {
                break;
            }
            Err(LinkRecvError::TimedOut) => {
                out.flush()?;
                return Err(IdleTimeout(args.link.timeout.unwrap_or_default()).into());
            }
            Err(LinkRecvError::UnexpectedPacket(packet)) if spec.is_some() => {
                let line = spec.as_ref().map(|s| s.describe(&packet)).transpose()?;
                writeln!(out, "{}", line.unwrap_or_default())?;
                out.flush()?;
                received += 1;
            }
            Err(error) => return Err(error.into()),
        }
    }
    out.flush()?;
    Ok(())
}
