//! The errors of link operations: one enum per operation.

use std::io;

use crate::codec::{DecodeError, Violation};
use crate::layout::LayoutError;
use crate::link_memory::LinkMemoryOpenError;
use crate::packet::Packet;
use crate::protocol::ErrorCode;
use crate::segment::{SegmentAnonymousError, SegmentCreateError, SegmentOpenError};

/// Why a link could not be created or opened.
#[derive(Debug, thiserror::Error)]
pub enum LinkOpenError {
    /// The configured slot count and buffer size have no valid layout.
    #[error("invalid link configuration: {0}")]
    Layout(#[from] LayoutError),
    /// The configuration exceeds one of this end's limits
    /// ([`LinkConfig::max_slots`](super::LinkConfig::max_slots) and the
    /// like): refused before anything was mapped or allocated.
    #[error("{what} {value} exceeds this end's limit of {limit} (see LinkConfig::max_slots, max_buffer_size, max_segment_size)")]
    LimitExceeded {
        /// What exceeds its limit: "slot count", "buffer size" or "segment size".
        what: &'static str,
        /// The configured (or adopted) value.
        value: u64,
        /// The limit.
        limit: u64,
    },
    /// Creating the named segment failed.
    #[error(transparent)]
    Create(#[from] SegmentCreateError),
    /// Opening the named segment failed (after retrying until the ready
    /// timeout while it did not exist or was still being sized).
    #[error(transparent)]
    Open(#[from] SegmentOpenError),
    /// Mapping the anonymous segment of a [`pair`](super::StandardLink::pair) failed.
    #[error(transparent)]
    Anonymous(#[from] SegmentAnonymousError),
    /// Making or mapping a sealed segment failed
    /// ([`StandardLink::create_sealed`](super::StandardLink::create_sealed),
    /// [`open_sealed`](super::StandardLink::open_sealed)).
    #[cfg(target_os = "linux")]
    #[error(transparent)]
    Sealed(#[from] crate::segment::SegmentSealedError),
    /// The open protocol failed: the segment was not ready in time, or its
    /// superblock or rings do not match the configuration.
    #[error(transparent)]
    Memory(#[from] LinkMemoryOpenError),
}

/// Why a send did not publish a message.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum LinkSendError {
    /// A non-blocking send found every slot in use.
    #[error("the link's send ring is full")]
    WouldBlock,
    /// The write timeout or deadline passed while the ring stayed full.
    #[error("timed out waiting for a free slot")]
    TimedOut,
    /// A message must be 1 to `buffer_size` bytes long.
    #[error("message of {len} bytes does not fit: 1 to {max} bytes allowed")]
    InvalidSize {
        /// The message length.
        len: usize,
        /// The link's buffer size.
        max: usize,
    },
    /// The send ring is in a state no correct peer produces.
    #[error("the link's send ring is corrupt")]
    Corrupt,
    /// The ring stayed full and every process on the other side is dead
    /// (see [`crate::liveness`]).
    #[error("the peer is gone: every process on the other side of the link is dead")]
    PeerGone,
}

/// A received packet that breaks the protocol. The slot it came in is
/// released; nothing received before it is lost.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum LinkProtocolError {
    /// The packet does not decode (reserved bits, unused operands, a size
    /// of zero, an unknown error code, ...).
    #[error("bad packet: {0}")]
    Decode(#[from] DecodeError),
    /// The packet breaks a rule that depends on the link (a size above the
    /// buffer size, ...).
    #[error("bad packet: {0}")]
    Violation(#[from] Violation),
    /// The packet's buffer index is not the index of the slot it came in.
    #[error("packet in slot {slot} names buffer {buffer_index}")]
    BufferMismatch {
        /// The slot the packet was received in.
        slot: usize,
        /// The buffer index the packet names.
        buffer_index: u64,
    },
}

/// Why a receive did not return a message.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum LinkRecvError {
    /// A non-blocking receive found no message.
    #[error("no message is waiting")]
    WouldBlock,
    /// The read timeout or deadline passed without a message.
    #[error("timed out waiting for a message")]
    TimedOut,
    /// The receive ring is in a state no correct peer produces.
    #[error("the link's receive ring is corrupt")]
    Corrupt,
    /// No message is waiting and every process on the other side is dead
    /// (see [`crate::liveness`]); everything it committed was received.
    #[error("the peer is gone: every process on the other side of the link is dead")]
    PeerGone,
    /// The peer sent a packet that breaks the protocol.
    #[error(transparent)]
    Protocol(#[from] LinkProtocolError),
    /// The peer sent an Error packet.
    #[error("the peer reported {code} (context {context})")]
    Peer {
        /// The error code.
        code: ErrorCode,
        /// The context id (connection, copy or request id; 0 if none).
        context: u64,
    },
    /// The data API received a valid packet that is not data (a custom or
    /// Advanced-link opcode); the raw API ([`recv_packet`]) returns those.
    ///
    /// [`recv_packet`]: super::StandardLink::recv_packet
    #[error("unexpected packet with opcode {:#04x} on the data API", .0.opcode())]
    UnexpectedPacket(Packet),
}

impl From<LinkSendError> for io::Error {
    fn from(e: LinkSendError) -> io::Error {
        let kind = match e {
            LinkSendError::WouldBlock => io::ErrorKind::WouldBlock,
            LinkSendError::TimedOut => io::ErrorKind::TimedOut,
            LinkSendError::InvalidSize { .. } => io::ErrorKind::InvalidInput,
            LinkSendError::Corrupt => io::ErrorKind::InvalidData,
            LinkSendError::PeerGone => io::ErrorKind::BrokenPipe,
        };
        io::Error::new(kind, e)
    }
}

impl From<LinkRecvError> for io::Error {
    fn from(e: LinkRecvError) -> io::Error {
        let kind = match e {
            LinkRecvError::WouldBlock => io::ErrorKind::WouldBlock,
            LinkRecvError::TimedOut => io::ErrorKind::TimedOut,
            LinkRecvError::Corrupt
            | LinkRecvError::Protocol(_)
            | LinkRecvError::UnexpectedPacket(_) => io::ErrorKind::InvalidData,
            LinkRecvError::Peer { .. } => io::ErrorKind::Other,
            LinkRecvError::PeerGone => io::ErrorKind::BrokenPipe,
        };
        io::Error::new(kind, e)
    }
}
