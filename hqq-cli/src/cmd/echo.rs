//! `hqq echo NAME`: sends every received message back. With `--spec FILE`,
//! packets of the spec's application opcodes are printed by name on stderr
//! (they are not messages, so they are not echoed).

use clap::Args;
use hqq_runtime::link::{LinkRecvError, LinkSendError};

use super::app_spec::{AppPacketError, SpecArg, SpecLoadError};
use super::link::{install_trace, IdleTimeout, LinkArgs, OpenError, END_OF_STREAM_OPCODE};

/// Arguments of `hqq echo`.
#[derive(Debug, Args)]
pub struct EchoArgs {
    #[command(flatten)]
    #[allow(missing_docs)]
    pub link: LinkArgs,
    /// Stop after echoing N messages (default: run until interrupted).
    #[arg(long, value_name = "N")]
    pub count: Option<u64>,
    /// Print every packet sent or received, decoded, on stderr.
    #[arg(long)]
    pub trace: bool,
    #[command(flatten)]
    #[allow(missing_docs)]
    pub spec: SpecArg,
}

/// Why `hqq echo` failed.
#[derive(Debug, thiserror::Error)]
pub enum EchoError {
    /// The link could not be opened.
    #[error("opening the link")]
    Open(#[from] OpenError),
    /// Nothing arrived, or the echo could not be sent, for the `--timeout`
    /// duration.
    #[error("echoing")]
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
    /// Sending the echo failed.
    #[error("sending the echo")]
    Send(#[from] LinkSendError),
}

/// Echoes messages until `args.count` is reached (or forever).
pub fn run(args: &EchoArgs) -> Result<(), EchoError> {
    let spec = args.spec.load()?;
    if args.trace {
        install_trace();
        spec.iter().for_each(|s| s.trace_packets());
    }
    let link = args.link.open()?;
    let mut message = vec![0u8; link.buffer_size()];
    let mut echoed = 0u64;
    while args.count.map_or(true, |count| echoed < count) {
        let len = match link.reserve_recv() {
            Ok(received) => received.payload().copy_to_slice(&mut message),
            // Another tool's end of stream: nothing to echo.
            Err(LinkRecvError::UnexpectedPacket(packet))
                if packet.opcode() == END_OF_STREAM_OPCODE =>
            {
                continue
            }
            Err(LinkRecvError::TimedOut) => return Err(idle(args)),
            Err(LinkRecvError::UnexpectedPacket(packet)) if spec.is_some() => {
                if let Some(s) = &spec {
                    eprintln!("{}", s.describe(&packet)?);
                }
                continue;
            }
            Err(error) => return Err(error.into()),
        };
        // The received slot is released before sending, so a peer blocked
        // on a full ring in the other direction cannot deadlock us.
        match link.send(&message[..len]) {
            Err(LinkSendError::TimedOut) => return Err(idle(args)),
            other => other?,
        }
        echoed += 1;
    }
    Ok(())
}

fn idle(args: &EchoArgs) -> EchoError {
    IdleTimeout(args.link.timeout.unwrap_or_default()).into()
}
