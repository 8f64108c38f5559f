//! The pending-call table: outstanding requests keyed by (connection id,
//! message id), each waiting for its response.
//!
//! Responses are routed by key, so they may arrive in any order. A response
//! for a key nobody waits for (never called, or given up after a timeout) is
//! a typed error. Closing a connection fails every call pending on it.

use crate::advanced::idmap::IdMap;
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
    /// The response did not fit this side's receive budget
    /// ([`ReceiveBudget`](super::ReceiveBudget)) and was dropped.
    #[error("the response did not fit the receive budget")]
    Overflow,
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

/// An outcome that arrived, with what it holds of the receive budget.
type Outcome = (Result<Response, CallFailure>, u64);

/// The outstanding calls of one link. A completed call keeps its response
/// (and its charge to the receive budget) until its caller takes it.
#[derive(Debug, Default)]
pub(crate) struct PendingCalls {
    calls: IdMap<CallKey, Option<Outcome>>,
    high_water_mark: usize,
    /// Calls completed since the inbox last woke their tasks (at most one
    /// entry per pending call).
    completed: Vec<CallKey>,
}

impl PendingCalls {
    /// Starts waiting for the response to `key`.
    pub(crate) fn register(&mut self, key: CallKey) {
        self.calls.insert(key, None);
        self.high_water_mark = self.high_water_mark.max(self.calls.len());
    }

    /// Hands the outcome of call `key` (holding `charged` budget bytes) to
    /// its waiter.
    pub(crate) fn complete(
        &mut self,
        key: CallKey,
        outcome: Result<Response, CallFailure>,
        charged: u64,
    ) -> Result<(), UnexpectedResponseError> {
        match self.calls.get_mut(&key) {
            Some(slot @ None) => {
                *slot = Some((outcome, charged));
                self.completed.push(key);
                Ok(())
            }
            _ => Err(UnexpectedResponseError {
                connection: key.connection,
                message: key.message,
            }),
        }
    }

    /// The outcome of call `key` and its charge, if it arrived; the call
    /// is then forgotten.
    pub(crate) fn take(&mut self, key: CallKey) -> Option<Outcome> {
        match self.calls.get(&key) {
            Some(Some(_)) => self.calls.remove(&key).flatten(),
            _ => None,
        }
    }

    /// Stops waiting for `key` (its caller gave up); a late response is
    /// then unexpected. Returns the charge of an outcome nobody took.
    pub(crate) fn cancel(&mut self, key: CallKey) -> u64 {
        self.calls
            .remove(&key)
            .flatten()
            .map_or(0, |(_, charged)| charged)
    }

    /// Fails every call pending on `connection` with `failure`.
    pub(crate) fn fail_connection(&mut self, connection: u64, failure: CallFailure) {
        for (key, slot) in &mut self.calls {
            if key.connection == connection && slot.is_none() {
                *slot = Some((Err(failure), 0));
                self.completed.push(*key);
            }
        }
    }

    /// A call still waiting whose request had message id `message`, on any
    /// connection (an Error packet names only the message id).
    pub(crate) fn pending_with_message(&self, message: u64) -> Option<CallKey> {
        self.calls
            .iter()
            .find(|(key, slot)| key.message == message && slot.is_none())
            .map(|(key, _)| *key)
    }

    /// The calls completed since the last call of this method.
    pub(crate) fn take_completed(&mut self) -> std::vec::Drain<'_, CallKey> {
        self.completed.drain(..)
    }

    /// Calls registered and not yet taken.
    pub(crate) fn len(&self) -> usize {
        self.calls.len()
    }

    /// The most calls that were pending at once.
    #[cfg(test)]
    fn high_water_mark(&self) -> usize {
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
            calls.complete(key(1, m), ok(&[m as u8]), 0).unwrap();
        }
        for m in 1..=5 {
            assert_eq!(calls.take(key(1, m)), Some((ok(&[m as u8]), 0)));
        }
        assert_eq!(calls.len(), 0);
        assert_eq!(calls.high_water_mark(), 5);
    }

    #[test]
    fn a_response_nobody_asked_for_is_an_error() {
        let mut calls = PendingCalls::default();
        assert_eq!(
            calls.complete(key(0, 9), ok(b""), 0),
            Err(UnexpectedResponseError {
                connection: 0,
                message: 9
            })
        );
        // A duplicate response, and a response after the caller gave up.
        calls.register(key(0, 1));
        calls.complete(key(0, 1), ok(b""), 5).unwrap();
        assert!(calls.complete(key(0, 1), ok(b""), 0).is_err());
        calls.register(key(0, 2));
        assert_eq!(calls.cancel(key(0, 2)), 0);
        assert!(calls.complete(key(0, 2), ok(b""), 0).is_err());
        // Giving up a call whose response arrived returns its charge.
        assert_eq!(calls.cancel(key(0, 1)), 5);
        calls.register(key(0, 1));
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
            Some((Err(CallFailure::ConnectionClosed), 0))
        );
        assert_eq!(calls.take(key(2, 1)), None);
    }
}
