//! Serving and calling RPC methods over an [`AdvancedLink`]: the part of
//! generated RPC code (hqq-gen's `methods:` section) that does not depend
//! on the spec.
//!
//! A spec's generated `rpc` module has a `Server` trait with one method per
//! RPC method; its `serve` wraps the server in an [`RpcService`] and runs
//! [`serve`] here, on one connection, until that connection closes or the
//! peer is gone. Its `Client` calls [`call`] here, which turns an error
//! response into [`RpcCallError::Status`].

use crate::advanced::error::{CallError, RecvRequestError, RespondError};
use crate::advanced::link::AdvancedLink;
use crate::advanced::transport::{PacketTransport, TransportError};
use crate::link::instant_after;

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
}

/// Calls `method` with `request` on `connection` and returns the response
/// bytes, or the error status the server answered with.
pub fn call<T: PacketTransport>(
    link: &AdvancedLink<T>,
    connection: u64,
    method: u64,
    request: &[u8],
) -> Result<Vec<u8>, RpcCallError> {
    let response = link.call_on(connection, method, request)?;
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
    fn handle(&mut self, method: u64, request: &[u8]) -> Option<Result<Vec<u8>, Status>>;
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
        let request = match link.recv_request_on_until(connection, deadline) {
            Ok(Some(request)) => request,
            Ok(None) => return Ok(ServeEnd::Closed),
            Err(RecvRequestError::Transport(TransportError::TimedOut)) => continue,
            Err(RecvRequestError::Transport(TransportError::PeerGone)) => {
                return Ok(ServeEnd::PeerGone)
            }
            Err(e) => return Err(e.into()),
        };
        let answered = match service.handle(request.method, &request.data) {
            Some(Ok(response)) => link.respond(&request, &response),
            Some(Err(status)) => link.respond_error(&request, status.code, &status.detail),
            None => link.respond_error(
                &request,
                Status::UNKNOWN_METHOD,
                format!("unknown method {}", request.method).as_bytes(),
            ),
        };
        match answered {
            Ok(()) => {}
            // The client went away while we answered.
            Err(RespondError::Transport(TransportError::PeerGone)) => {
                return Ok(ServeEnd::PeerGone)
            }
            Err(e) => return Err(e.into()),
        }
    }
}
