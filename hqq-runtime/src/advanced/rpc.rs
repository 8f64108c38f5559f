//! Serving and calling RPC methods over an [`AdvancedLink`]: the part of
//! generated RPC code (hqq-gen's `methods:` section) that does not depend
//! on the spec.
//!
//! A spec's generated `rpc` module has a `Server` trait with one method per
//! RPC method; its `serve` wraps the server in an [`RpcService`] and runs
//! [`serve`] here, on one connection, until that connection closes or the
//! peer is gone. Its `Client` calls [`call`] here, which turns an error
//! response into [`RpcCallError::Status`].

use std::time::Instant;

use crate::advanced::calls::Response;
use crate::advanced::error::{CallError, RecvRequestError, RespondError};
use crate::advanced::link::{AdvancedLink, Request};
use crate::advanced::transport::{PacketTransport, TransportError};
use crate::codec::{DecodeError, PacketCodec};
use crate::link::instant_after;
use crate::packet::{Packet, PACKET_SIZE};

/// An error answer to a request: a non-zero status code and detail bytes
/// (sent as a Response|Error message with the code in operand 6).
#[derive(Debug, Clone, PartialEq, Eq, Hash, thiserror::Error)]
#[error("status {code}: {}", String::from_utf8_lossy(.detail))]
pub struct Status {
    /// The status code (non-zero).
    pub code: u64,
    /// Detail bytes (often UTF-8 text).
    pub detail: Vec<u8>,
}

impl Status {
    /// The status [`serve`] answers a request for an unknown method with.
    pub const UNKNOWN_METHOD: u64 = u64::MAX;

    /// The status a generated server answers a request with that is not a
    /// value of the method's request type ([`RpcMessage::from_message`]).
    pub const BAD_REQUEST: u64 = u64::MAX - 1;

    /// The status a generated server answers with when its response does
    /// not encode (a serde type postcard cannot write).
    pub const BAD_RESPONSE: u64 = u64::MAX - 2;

    /// A status with `code` and a text detail.
    pub fn new(code: u64, detail: impl Into<String>) -> Self {
        Status {
            code,
            detail: detail.into().into_bytes(),
        }
    }
}

/// Why a call did not return a response.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RpcCallError {
    /// The server answered with an error status.
    #[error("the server answered with {0}")]
    Status(Status),
    /// The call got no response (timeout, peer gone, closed connection, ...).
    #[error(transparent)]
    Link(#[from] CallError),
    /// The request does not encode (a serde type postcard cannot write).
    #[error("the request does not encode")]
    BadRequest(#[source] RpcMessageError),
    /// The response is not a value of the method's response type.
    #[error("the response does not decode")]
    BadResponse(#[source] RpcMessageError),
}

/// What a request's handler knows about the call besides the request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub struct CallContext {
    /// The connection the request came on (0: the link itself).
    pub connection: u64,
    /// The request's message id; the response carries it back.
    pub message: u64,
    /// When a caller with this link's timeout stops waiting: the request's
    /// arrival plus [`AdvancedConfig::timeout`](crate::advanced::AdvancedConfig).
    /// The protocol carries no deadline, so a caller with a longer timeout
    /// may still wait after it.
    pub deadline: Instant,
}

/// A type an RPC method takes or returns (`request:`/`response:` of a spec's
/// `methods:` entry): `bytes` (`Vec<u8>`, as it is) or a packet of the
/// spec (its 64 bytes).
pub trait RpcMessage: Sized {
    /// The message bytes.
    fn to_message(&self) -> Vec<u8>;

    /// The value in `bytes`, or why they are not one.
    fn from_message(bytes: &[u8]) -> Result<Self, RpcMessageError>;
}

/// Why message bytes are not a value of an RPC method's type.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum RpcMessageError {
    /// A packet type needs exactly one packet's bytes.
    #[error("{0} bytes, not one {PACKET_SIZE}-byte packet")]
    Length(usize),
    /// The bytes are a packet that does not decode.
    #[error(transparent)]
    Decode(#[from] DecodeError),
    /// postcard could not write the value or read the bytes.
    #[error("postcard: {0}")]
    Postcard(String),
}

/// `value` in postcard's encoding: the message of a method whose spec type
/// is `{ serde: path::Type }` (cargo feature `postcard`).
#[cfg(feature = "postcard")]
pub fn to_postcard<T: serde::Serialize + ?Sized>(value: &T) -> Result<Vec<u8>, RpcMessageError> {
    postcard::to_allocvec(value).map_err(|e| RpcMessageError::Postcard(e.to_string()))
}

/// The value postcard reads from all of `bytes` (trailing bytes are an
/// error), for a method whose spec type is `{ serde: path::Type }` (cargo
/// feature `postcard`). The bytes are a reassembled message, so their size
/// is bounded by the link's message limit; a length prefix the peer wrote
/// is only a hint to serde's collections, which cap what they reserve.
#[cfg(feature = "postcard")]
pub fn from_postcard<T: serde::de::DeserializeOwned>(bytes: &[u8]) -> Result<T, RpcMessageError> {
    match postcard::take_from_bytes(bytes) {
        Ok((value, [])) => Ok(value),
        Ok((_, rest)) => Err(RpcMessageError::Postcard(format!(
            "{} bytes after the value",
            rest.len()
        ))),
        Err(e) => Err(RpcMessageError::Postcard(e.to_string())),
    }
}

impl RpcMessage for Vec<u8> {
    fn to_message(&self) -> Vec<u8> {
        self.clone()
    }

    fn from_message(bytes: &[u8]) -> Result<Self, RpcMessageError> {
        Ok(bytes.to_vec())
    }
}

impl<P: PacketCodec> RpcMessage for P {
    fn to_message(&self) -> Vec<u8> {
        self.encode().to_bytes().to_vec()
    }

    fn from_message(bytes: &[u8]) -> Result<Self, RpcMessageError> {
        let bytes: &[u8; PACKET_SIZE] = bytes
            .try_into()
            .map_err(|_| RpcMessageError::Length(bytes.len()))?;
        Ok(P::decode(&Packet::from_bytes(bytes))?)
    }
}

/// Calls `method` with `request` on `connection` and returns the response
/// bytes, or the error status the server answered with.
pub fn call<T: PacketTransport>(
    link: &AdvancedLink<T>,
    connection: u64,
    method: u64,
    request: &[u8],
) -> Result<Vec<u8>, RpcCallError> {
    response_data(link.call_on(connection, method, request)?)
}

/// A call's response bytes, or the error status the server answered with.
pub(crate) fn response_data(response: Response) -> Result<Vec<u8>, RpcCallError> {
    if response.error || response.status != 0 {
        return Err(RpcCallError::Status(Status {
            code: response.status,
            detail: response.data,
        }));
    }
    Ok(response.data)
}

/// A server as [`serve`] drives it: requests by method id.
pub trait RpcService {
    /// Answers a request for `method`; `None` if there is no such method.
    fn handle(
        &mut self,
        cx: &CallContext,
        method: u64,
        request: &[u8],
    ) -> Option<Result<Vec<u8>, Status>>;
}

/// Why [`serve`] returned normally.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum ServeEnd {
    /// The connection served closed (the client closed it, dropped its
    /// link, or this side closed it).
    Closed,
    /// Every process on the other side of the link is dead.
    PeerGone,
}

/// Why [`serve`] stopped with an error.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, thiserror::Error)]
#[non_exhaustive]
pub enum RpcServeError {
    /// Waiting for a request failed (not negotiated, corrupt ring, ...).
    #[error(transparent)]
    Receive(#[from] RecvRequestError),
    /// Sending a response failed.
    #[error(transparent)]
    Respond(#[from] RespondError),
}

/// Answers the requests on `connection` of `link` with `service` until the
/// connection closes ([`ServeEnd::Closed`]) or the peer is gone
/// ([`ServeEnd::PeerGone`]). A request for a method the service does not
/// have is answered with [`Status::UNKNOWN_METHOD`]. The link must have
/// negotiated RequestResponse. Requests on other connections stay queued
/// for their own servers.
///
/// A client that dials a connection for its calls ends the serve loop by
/// closing it, or by dropping its link (which closes its connections).
/// Connection 0, the link itself, never closes: serving it ends when the
/// peer is gone, which means every process on the other side died (see
/// [`crate::liveness`]); a client that leaves cleanly is not seen as gone.
pub fn serve<T: PacketTransport>(
    link: &AdvancedLink<T>,
    connection: u64,
    service: &mut dyn RpcService,
) -> Result<ServeEnd, RpcServeError> {
    loop {
        let deadline = instant_after(link.config().timeout);
        let request = match served(link.recv_request_on_until(connection, deadline)) {
            Ok(Some(request)) => request,
            Ok(None) => continue,
            Err(end) => return end,
        };
        let cx = call_context(link, &request);
        let answer = Answer::of(&request, service.handle(&cx, request.method, &request.data));
        let answered = link.respond_until(
            &request,
            answer.status,
            answer.error,
            &answer.data,
            instant_after(link.config().timeout),
        );
        if let Err(end) = answered_or_end(answered) {
            return end;
        }
    }
}

/// What a serve loop makes of a wait for the next request: the request,
/// `Ok(None)` to wait again (timed out), or how serving ends.
pub(crate) fn served(
    received: Result<Option<Request>, RecvRequestError>,
) -> Result<Option<Request>, Result<ServeEnd, RpcServeError>> {
    match received {
        Ok(Some(request)) => Ok(Some(request)),
        Ok(None) => Err(Ok(ServeEnd::Closed)),
        Err(RecvRequestError::Transport(TransportError::TimedOut)) => Ok(None),
        Err(RecvRequestError::Transport(TransportError::PeerGone)) => Err(Ok(ServeEnd::PeerGone)),
        Err(e) => Err(Err(e.into())),
    }
}

/// What a serve loop makes of answering a request: go on, or how serving
/// ends.
pub(crate) fn answered_or_end(
    answered: Result<(), RespondError>,
) -> Result<(), Result<ServeEnd, RpcServeError>> {
    match answered {
        Ok(()) => Ok(()),
        // The client went away while we answered.
        Err(RespondError::Transport(TransportError::PeerGone)) => Err(Ok(ServeEnd::PeerGone)),
        // The client closed the connection served while we answered.
        Err(RespondError::NotConnected(_)) => Err(Ok(ServeEnd::Closed)),
        Err(e) => Err(Err(e.into())),
    }
}

/// The context of `request`'s handler.
pub(crate) fn call_context<T: PacketTransport>(
    link: &AdvancedLink<T>,
    request: &Request,
) -> CallContext {
    CallContext {
        connection: request.connection,
        message: request.message,
        deadline: instant_after(link.config().timeout),
    }
}

/// The response a serve loop sends for a handler's outcome.
pub(crate) struct Answer {
    pub(crate) status: u64,
    pub(crate) error: bool,
    pub(crate) data: Vec<u8>,
}

impl Answer {
    /// The answer to `request` when its handler returned `handled`
    /// (`None`: no such method).
    pub(crate) fn of(request: &Request, handled: Option<Result<Vec<u8>, Status>>) -> Self {
        match handled {
            Some(Ok(data)) => Answer {
                status: 0,
                error: false,
                data,
            },
            Some(Err(status)) => Answer {
                status: status.code,
                error: true,
                data: status.detail,
            },
            None => Answer {
                status: Status::UNKNOWN_METHOD,
                error: true,
                data: format!("unknown method {}", request.method).into_bytes(),
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::protocol::{ConnAccept, StandardLinkCopy};

    #[test]
    fn packets_are_messages_of_exactly_one_packet() {
        let accept = ConnAccept { connection: 3 };
        let bytes = accept.to_message();
        assert_eq!(bytes.len(), PACKET_SIZE);
        assert_eq!(ConnAccept::from_message(&bytes), Ok(accept));
        assert_eq!(
            ConnAccept::from_message(&bytes[..63]),
            Err(RpcMessageError::Length(63))
        );
        assert!(matches!(
            StandardLinkCopy::from_message(&bytes),
            Err(RpcMessageError::Decode(_))
        ));
    }

    #[cfg(feature = "postcard")]
    #[test]
    fn postcard_rejects_trailing_and_missing_bytes() {
        let bytes = to_postcard(&(7u32, "seven")).unwrap();
        assert_eq!(
            from_postcard::<(u32, String)>(&bytes),
            Ok((7, "seven".into()))
        );
        let mut longer = bytes.clone();
        longer.push(0);
        assert!(from_postcard::<(u32, String)>(&longer).is_err());
        assert!(from_postcard::<(u32, String)>(&bytes[..bytes.len() - 1]).is_err());
    }
}
