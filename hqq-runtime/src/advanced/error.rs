//! The errors of the Advanced link's operations: one small enum per
//! operation, each naming only what can go wrong there.
//!
//! Two pieces recur: [`AdvancedStateError`] (the link has not negotiated,
//! or not the feature the operation needs) and [`TransportError`] (the
//! rings: a deadline, a corrupt ring, a dead peer).

use crate::advanced::calls::CallFailure;
use crate::advanced::connections::DialFailure;
use crate::advanced::encryption::HandshakeError;
use crate::advanced::negotiation::NegotiationAckError;
use crate::advanced::transport::TransportError;
use crate::codec::Version;
use crate::protocol::ErrorCode;

/// The link is not ready for an operation.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, thiserror::Error)]
#[non_exhaustive]
pub enum AdvancedStateError {
    /// The link has not negotiated yet.
    #[error("the link has not negotiated yet; call negotiate or wait_for_negotiation first")]
    NotNegotiated,
    /// The negotiated features do not include the one the operation needs.
    #[error("the negotiated features do not include {0}")]
    FeatureNotNegotiated(&'static str),
}

/// Why [`negotiate`](super::AdvancedLink::negotiate) failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, thiserror::Error)]
#[non_exhaustive]
pub enum NegotiateError {
    /// A negotiation already ran on this link.
    #[error("this link already negotiated; a link negotiates once")]
    AlreadyNegotiated,
    /// The peer refused the negotiation with an Error packet.
    #[error("the peer refused the negotiation: {0}")]
    Refused(ErrorCode),
    /// The peer's ack breaks the negotiation rules.
    #[error(transparent)]
    BadAck(#[from] NegotiationAckError),
    /// The encryption handshake failed (or encryption is required and was
    /// not granted).
    #[error("encryption handshake: {0}")]
    Handshake(#[from] HandshakeError),
    /// The rings failed (deadline, corruption, dead peer).
    #[error(transparent)]
    Transport(#[from] TransportError),
}

/// Why [`wait_for_negotiation`](super::AdvancedLink::wait_for_negotiation)
/// failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, thiserror::Error)]
#[non_exhaustive]
pub enum AcceptNegotiationError {
    /// A negotiation already ran on this link.
    #[error("this link already negotiated; a link negotiates once")]
    AlreadyNegotiated,
    /// The peer asked for another major version (answered with
    /// Error(InvalidOp)).
    #[error("the peer asked for protocol {0}, another major version")]
    MajorMismatch(Version),
    /// The encryption handshake failed (or encryption is required and the
    /// peer did not ask for it; answered with Error(InvalidOp)).
    #[error("encryption handshake: {0}")]
    Handshake(#[from] HandshakeError),
    /// The rings failed (deadline, corruption, dead peer).
    #[error(transparent)]
    Transport(#[from] TransportError),
}

/// Why [`accept`](super::AdvancedLink::accept) failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, thiserror::Error)]
#[non_exhaustive]
pub enum AcceptError {
    /// The link is not ready.
    #[error(transparent)]
    State(#[from] AdvancedStateError),
    /// The rings failed (deadline, corruption, dead peer).
    #[error(transparent)]
    Transport(#[from] TransportError),
}

/// Why [`dial`](super::AdvancedLink::dial) failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, thiserror::Error)]
#[non_exhaustive]
pub enum DialError {
    /// The link is not ready.
    #[error(transparent)]
    State(#[from] AdvancedStateError),
    /// The peer refused the connection.
    #[error(transparent)]
    Refused(#[from] DialFailure),
    /// The rings failed (deadline, corruption, dead peer).
    #[error(transparent)]
    Transport(#[from] TransportError),
}

/// Why [`close`](super::AdvancedLink::close) failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, thiserror::Error)]
#[non_exhaustive]
pub enum CloseError {
    /// The link is not ready.
    #[error(transparent)]
    State(#[from] AdvancedStateError),
    /// The connection is not open.
    #[error("connection {0} is not open")]
    NotConnected(u64),
    /// The rings failed (deadline, corruption, dead peer).
    #[error(transparent)]
    Transport(#[from] TransportError),
}

/// Why [`send_large`](super::AdvancedLink::send_large) or
/// [`send_large_from`](super::AdvancedLink::send_large_from) failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, thiserror::Error)]
#[non_exhaustive]
pub enum SendLargeError {
    /// The link is not ready.
    #[error(transparent)]
    State(#[from] AdvancedStateError),
    /// The connection is not open.
    #[error("connection {0} is not open")]
    NotConnected(u64),
    /// The message is above the bound.
    #[error("message of {size} bytes is above the bound of {max}")]
    TooLarge {
        /// The message's size.
        size: u64,
        /// The bound.
        max: u64,
    },
    /// The source failed or ended early; the message was aborted.
    #[error("the message source failed after {sent} of {total} bytes; the message was aborted")]
    SourceFailed {
        /// Bytes sent before the failure.
        sent: u64,
        /// The announced total.
        total: u64,
    },
    /// The rings failed (deadline, corruption, dead peer).
    #[error(transparent)]
    Transport(#[from] TransportError),
}

/// Why [`recv_large`](super::AdvancedLink::recv_large) or
/// [`recv_stream`](super::AdvancedLink::recv_stream) failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, thiserror::Error)]
#[non_exhaustive]
pub enum RecvLargeError {
    /// The link is not ready.
    #[error(transparent)]
    State(#[from] AdvancedStateError),
    /// The connection is not open.
    #[error("connection {0} is not open")]
    NotConnected(u64),
    /// A streamed message was aborted by its sender.
    #[error("message {0} was aborted by its sender")]
    Aborted(u64),
    /// The rings failed (deadline, corruption, dead peer).
    #[error(transparent)]
    Transport(#[from] TransportError),
}

/// Why [`call`](super::AdvancedLink::call) or
/// [`call_on`](super::AdvancedLink::call_on) got no response.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, thiserror::Error)]
#[non_exhaustive]
pub enum CallError {
    /// The link is not ready.
    #[error(transparent)]
    State(#[from] AdvancedStateError),
    /// The connection is not open.
    #[error("connection {0} is not open")]
    NotConnected(u64),
    /// The request is above the bound.
    #[error("request of {size} bytes is above the bound of {max}")]
    TooLarge {
        /// The request's size.
        size: u64,
        /// The bound.
        max: u64,
    },
    /// The call ended without a response (connection closed, refused).
    #[error(transparent)]
    Failed(#[from] CallFailure),
    /// The rings failed (deadline, corruption, dead peer).
    #[error(transparent)]
    Transport(#[from] TransportError),
}

/// Why [`recv_request`](super::AdvancedLink::recv_request) failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, thiserror::Error)]
#[non_exhaustive]
pub enum RecvRequestError {
    /// The link is not ready.
    #[error(transparent)]
    State(#[from] AdvancedStateError),
    /// The rings failed (deadline, corruption, dead peer).
    #[error(transparent)]
    Transport(#[from] TransportError),
}

/// Why [`respond`](super::AdvancedLink::respond) or
/// [`respond_error`](super::AdvancedLink::respond_error) failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, thiserror::Error)]
#[non_exhaustive]
pub enum RespondError {
    /// The link is not ready.
    #[error(transparent)]
    State(#[from] AdvancedStateError),
    /// The request's connection is not open (any more): the caller closed
    /// it, or this side did.
    #[error("connection {0} is not open")]
    NotConnected(u64),
    /// The response is above the bound.
    #[error("response of {size} bytes is above the bound of {max}")]
    TooLarge {
        /// The response's size.
        size: u64,
        /// The bound.
        max: u64,
    },
    /// The rings failed (deadline, corruption, dead peer).
    #[error(transparent)]
    Transport(#[from] TransportError),
}
