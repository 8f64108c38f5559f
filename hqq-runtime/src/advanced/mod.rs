//! The Advanced link's protocol logic: negotiation, connections, chunked
//! large messages and request-response.
//!
//! Each concept is a pure module over typed packets, tested on its own;
//! `AdvancedLink` drives them over a Standard link's rings and buffers
//! (the Advanced layer adds no memory to the segment).
//!
//! * [`negotiation`]: the acceptor's and initiator's rules, once per link.
//! * [`chunking`]: a message as ConnCopy chunks of at most one buffer.
//! * [`reassembly`]: chunk order checks and message assembly, bounded.
//! * [`calls`]: pending calls keyed by (connection, message id).
//! * [`connections`]: listen, dial, accept, close.
//! * [`error`]: one error enum per operation of the link.
//! * [`inbox`]: every received packet routed to whoever waits for it.
//! * [`rpc`]: serving and calling RPC methods (what generated RPC code uses).
//! * [`stats`]: the link's counters.
//! * [`transport`]: what the Advanced link needs from the link below.
//! * [`link`]: [`AdvancedLink`], which drives all of the above.

pub mod calls;
pub mod chunking;
pub mod connections;
pub mod error;
pub mod inbox;
pub mod link;
pub mod negotiation;
pub mod reassembly;
pub mod rpc;
pub mod stats;
pub mod transport;

pub use calls::{CallFailure, CallKey, PendingCalls, Response, UnexpectedResponseError};
pub use chunking::{Chunks, MessageHeader, MessageKind};
pub use connections::{ConnectionCreateError, Connections, DialFailure, UnknownDialError};
pub use error::{
    AcceptError, AcceptNegotiationError, AdvancedStateError, CallError, CloseError, DialError,
    NegotiateError, RecvLargeError, RecvRequestError, RespondError, SendLargeError,
};
pub use inbox::{InboundError, Inbox, IncomingRequest, Routed, StreamEvent};
pub use link::{AdvancedConfig, AdvancedLink, ReceivedMessage, Request};
pub use negotiation::{
    accept, check_ack, Negotiated, NegotiationAcceptError, NegotiationAckError,
    NegotiationStartError, NegotiationState, ProtocolOffer,
};
pub use reassembly::{
    Assembled, AssembledMessage, ChunkInfo, MessageKey, Reassembler, ReassemblyError,
    ReassemblyLimits, Sequenced, Sequencer,
};
pub use rpc::{
    CallContext, RpcCallError, RpcMessage, RpcMessageError, RpcServeError, RpcService, ServeEnd,
    Status,
};
pub use stats::{AdvancedCounters, AdvancedStats};
pub use transport::{PacketTransport, TransportError};
