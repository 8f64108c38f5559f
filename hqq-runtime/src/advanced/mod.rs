//! The Advanced link's protocol logic: negotiation, connections, chunked
//! large messages and request-response.
//!
//! Each concept is a module over typed packets, tested on its own;
//! `AdvancedLink` drives them over a [`PacketTransport`] (by default a
//! Standard link's rings and buffers: the Advanced layer adds no memory to
//! the segment).
//!
//! * [`negotiation`]: the acceptor's and initiator's rules, once per link.
//! * [`chunking`]: a message as ConnCopy chunks of at most one buffer.
//! * [`compression`]: the frames of a compressed message, bounded decoding.
//! * [`encryption`]: keys, the Noise handshake, sealed messages (and the
//!   threat model).
//! * [`reassembly`]: chunk order checks and message assembly, bounded.
//! * [`budget`]: the one bound on everything received and not yet taken.
//! * [`flow`]: per-connection credit windows (FlowControl).
//! * [`qos`]: priority classes and bandwidth caps of sends (QualityOfService).
//! * `calls`: pending calls keyed by (connection, message id).
//! * `connections`: listen, dial, accept, close; how ids are chosen.
//! * [`endpoint`]: one Advanced endpoint per side of a segment.
//! * `handshake`: the encryption handshake the negotiation runs.
//! * [`error`]: one error enum per operation of the link.
//! * `inbox`: every received packet routed to whoever waits for it.
//! * `pump`: the receive path (who receives, who sleeps, bounded work);
//!   `handoff` holds its state (with a loom model).
//! * `messages`: plain messages and calls on the link.
//! * [`rpc`]: serving and calling RPC methods (what generated RPC code uses).
//! * [`stats`]: the link's counters.
//! * `tasks`: async tasks waiting in the inbox (their wakers);
//!   `task_pump`: a task's turn at the receive path (feature `tokio`).
//! * [`transport`]: what the Advanced link needs from the link below.
//! * [`link`]: [`AdvancedLink`], which drives all of the above.

pub mod budget;
mod calls;
pub mod chunking;
pub mod compression;
mod connections;
pub mod encryption;
pub mod endpoint;
pub mod error;
pub mod flow;
#[doc(hidden)]
pub mod fuzzing;
mod handoff;
pub(crate) mod handshake;
mod idmap;
pub(crate) mod inbox;
pub mod link;
pub(crate) mod messages;
pub mod negotiation;
pub(crate) mod pump;
pub mod qos;
pub mod reassembly;
pub mod rpc;
pub mod stats;
#[cfg(all(feature = "tokio", unix))]
pub(crate) mod task_pump;
pub(crate) mod tasks;
pub mod transport;

pub use budget::ReceiveBudget;
pub use calls::{CallFailure, CallKey, Response, UnexpectedResponseError};
pub use chunking::{Chunks, MessageHeader, MessageKind};
pub use compression::{Codec, Compression, DecompressError};
pub use connections::DialFailure;
pub use encryption::{Encryption, HandshakeError, Keys, OpenError};
pub use endpoint::AdvancedOpenError;
pub use error::{
    AcceptError, AcceptNegotiationError, AdvancedStateError, CallError, CloseError, DialError,
    NegotiateError, RecvLargeError, RecvRequestError, RespondError, SendLargeError,
};
pub use flow::{FlowControl, SendCredit};
pub use inbox::IncomingRequest;
pub use link::{AdvancedConfig, AdvancedLink, ReceivedMessage, Request};
pub use negotiation::{
    accept, check_ack, Negotiated, NegotiationAcceptError, NegotiationAckError,
    NegotiationStartError, NegotiationState, ProtocolOffer,
};
pub use qos::{Priority, QosError};
pub use reassembly::{MessageKey, ReassemblyError, ReassemblyLimits};
pub use rpc::{
    CallContext, RpcCallError, RpcMessage, RpcMessageError, RpcServeError, RpcService, ServeEnd,
    Status,
};
pub use stats::AdvancedStats;
pub use transport::{PacketTransport, TransportError};
