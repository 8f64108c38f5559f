//! Serving and calling RPC methods over an [`AsyncAdvancedLink`]: what
//! generated async RPC code (hqq-gen's `methods:` with the runtime's
//! `tokio` feature) uses; the async counterpart of
//! [`advanced::rpc`](crate::advanced::rpc).

use std::future::Future;

use crate::advanced::rpc::{answered_or_end, call_context, response_data, served, Answer};
use crate::advanced::{CallContext, RpcCallError, RpcServeError, ServeEnd, Status};

use super::AsyncAdvancedLink;

/// A server as [`serve`] drives it: requests by method id, answered by a
/// future (which must be `Send`, so that serving can run on any tokio
/// runtime's worker).
pub trait AsyncRpcService: Send {
    /// Answers a request for `method`; `None` if there is no such method.
    fn handle(
        &mut self,
        cx: CallContext,
        method: u64,
        request: Vec<u8>,
    ) -> impl Future<Output = Option<Result<Vec<u8>, Status>>> + Send;
}

/// Calls `method` with `request` on `connection` and returns the response
/// bytes, or the error status the server answered with.
///
/// # Cancel safety
///
/// As [`AsyncAdvancedLink::call_on`].
pub async fn call(
    link: &AsyncAdvancedLink,
    connection: u64,
    method: u64,
    request: &[u8],
) -> Result<Vec<u8>, RpcCallError> {
    response_data(link.call_on(connection, method, request).await?)
}

/// Answers the requests on `connection` of `link` with `service`, one at a
/// time, until the connection closes ([`ServeEnd::Closed`]) or the peer is
/// gone ([`ServeEnd::PeerGone`]); as [`advanced::rpc::serve`](crate::advanced::rpc::serve).
///
/// # Cancel safety
///
/// Dropping it between requests loses nothing. Dropped while a handler
/// runs or its response goes out, that request gets no response (a
/// partly sent one is aborted) and its caller's call ends at its own
/// timeout or cancellation.
pub async fn serve(
    link: &AsyncAdvancedLink,
    connection: u64,
    service: &mut impl AsyncRpcService,
) -> Result<ServeEnd, RpcServeError> {
    loop {
        let mut request = match served(link.recv_request_on(connection).await) {
            Ok(Some(request)) => request,
            Ok(None) => continue,
            Err(end) => return end,
        };
        let cx = call_context(link.get_ref(), &request);
        let data = std::mem::take(&mut request.data);
        let handled = service.handle(cx, request.method, data).await;
        let answer = Answer::of(&request, handled);
        let answered = link
            .respond_with(&request, answer.status, answer.error, &answer.data)
            .await;
        if let Err(end) = answered_or_end(answered) {
            return end;
        }
    }
}
