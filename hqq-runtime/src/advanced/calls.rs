//! The pending-call table: outstanding requests keyed by (connection id,
//! message id), each waiting for its response.
//!
//! Responses are routed by key, so they may arrive in any order. A response
//! for a key nobody waits for (never called, or given up after a timeout) is
//! a typed error. Closing a connection fails every call pending on it.

use std::collections::HashMap;

use crate::protocol::ErrorCode;

/// Which call a response answers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct CallKey {
    /// Connection id (0 = link-level).
    pub connection: u64,
    /// The request's message id.
    pub message: u64,
}

/// A response to a call.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Response {
    /// Status from the response's first chunk (0 = ok).
    pub status: u64,
    /// The responder flagged the response as an error.
    pub error: bool,
    /// The response's bytes.
    pub data: Vec<u8>,
}

/// Why a pending call ended without a response.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, thiserror::Error)]
pub enum CallFailure {
    /// The call's connection closed.
    #[error("the connection closed while the call was pending")]
    ConnectionClosed,
    /// The peer answered the request with an Error packet.
    #[error("the peer refused the request: {0}")]
    Refused(ErrorCode),
}

/// A response or Error packet for a call nobody made (or gave up on).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, thiserror::Error)]
#[error("response for connection {connection} message {message}, but no such call is pending")]
pub struct UnexpectedResponseError {
    /// Connection id of the response.
    pub connection: u64,
    /// Message id of the response.
    pub message: u64,
}

/// The outstanding calls of one link.
///
/// ```
/// use hqq_runtime::advanced::{CallKey, PendingCalls, Response};
///
/// let mut calls = PendingCalls::default();
/// let (a, b) = (CallKey { connection: 0, message: 1 }, CallKey { connection: 0, message: 2 });
/// calls.register(a);
/// calls.register(b);
/// // Responses arrive in the other order.
/// calls.complete(b, Ok(Response { status: 0, error: false, data: b"two".to_vec() })).unwrap();
/// assert_eq!(calls.take(a), None);
/// assert_eq!(calls.take(b).unwrap().unwrap().data, b"two");
/// assert_eq!(calls.high_water_mark(), 2);
/// ```
#[derive(Debug, Default)]
pub struct PendingCalls {
    calls: HashMap<CallKey, Option<Result<Response, CallFailure>>>,
    high_water_mark: usize,
}

impl PendingCalls {
    /// Starts waiting for the response to `key`.
    pub fn register(&mut self, key: CallKey) {
        self.calls.insert(key, None);
        self.high_water_mark = self.high_water_mark.max(self.calls.len());
    }

    /// Hands the outcome of call `key` to its waiter.
    pub fn complete(
        &mut self,
        key: CallKey,
        outcome: Result<Response, CallFailure>,
    ) -> Result<(), UnexpectedResponseError> {
        match self.calls.get_mut(&key) {
            Some(slot @ None) => {
                *slot = Some(outcome);
                Ok(())
            }
            _ => Err(UnexpectedResponseError {
                connection: key.connection,
                message: key.message,
            }),
        }
    }

    /// The outcome of call `key` if it arrived; the call is then forgotten.
    pub fn take(&mut self, key: CallKey) -> Option<Result<Response, CallFailure>> {
        match self.calls.get(&key) {
            Some(Some(_)) => self.calls.remove(&key).flatten(),
            _ => None,
        }
    }

    /// Stops waiting for `key` (its caller gave up); a late response is then unexpected.
    pub fn cancel(&mut self, key: CallKey) {
        self.calls.remove(&key);
    }

    /// Fails every call pending on `connection` with `failure`.
    pub fn fail_connection(&mut self, connection: u64, failure: CallFailure) {
        for (key, slot) in &mut self.calls {
            if key.connection == connection && slot.is_none() {
                *slot = Some(Err(failure));
            }
        }
    }

    /// A call still waiting whose request had message id `message`, on any
    /// connection (an Error packet names only the message id).
    pub fn pending_with_message(&self, message: u64) -> Option<CallKey> {
        self.calls
            .iter()
            .find(|(key, slot)| key.message == message && slot.is_none())
            .map(|(key, _)| *key)
    }

    /// Calls registered and not yet taken.
    pub fn len(&self) -> usize {
        self.calls.len()
    }

    /// Whether no call is pending.
    pub fn is_empty(&self) -> bool {
        self.calls.is_empty()
    }

    /// The most calls that were pending at once.
    pub fn high_water_mark(&self) -> usize {
        self.high_water_mark
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(connection: u64, message: u64) -> CallKey {
        CallKey {
            connection,
            message,
        }
    }

    fn ok(data: &[u8]) -> Result<Response, CallFailure> {
        Ok(Response {
            status: 0,
            error: false,
            data: data.to_vec(),
        })
    }

    #[test]
    fn out_of_order_responses_reach_their_callers() {
        let mut calls = PendingCalls::default();
        for m in 1..=5 {
            calls.register(key(1, m));
        }
        for m in (1..=5).rev() {
            calls.complete(key(1, m), ok(&[m as u8])).unwrap();
        }
        for m in 1..=5 {
            assert_eq!(calls.take(key(1, m)), Some(ok(&[m as u8])));
        }
        assert!(calls.is_empty());
        assert_eq!(calls.high_water_mark(), 5);
    }

    #[test]
    fn a_response_nobody_asked_for_is_an_error() {
        let mut calls = PendingCalls::default();
        assert_eq!(
            calls.complete(key(0, 9), ok(b"")),
            Err(UnexpectedResponseError {
                connection: 0,
                message: 9
            })
        );
        // A duplicate response, and a response after the caller gave up.
        calls.register(key(0, 1));
        calls.complete(key(0, 1), ok(b"")).unwrap();
        assert!(calls.complete(key(0, 1), ok(b"")).is_err());
        calls.register(key(0, 2));
        calls.cancel(key(0, 2));
        assert!(calls.complete(key(0, 2), ok(b"")).is_err());
        assert_eq!(calls.len(), 1);
    }

    #[test]
    fn closing_a_connection_fails_its_calls_only() {
        let mut calls = PendingCalls::default();
        calls.register(key(1, 1));
        calls.register(key(2, 1));
        calls.fail_connection(1, CallFailure::ConnectionClosed);
        assert_eq!(
            calls.take(key(1, 1)),
            Some(Err(CallFailure::ConnectionClosed))
        );
        assert_eq!(calls.take(key(2, 1)), None);
    }
}
