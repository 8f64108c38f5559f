//! Flow control: per-connection credit windows in bytes, in the manner of
//! HTTP/2 and QUIC stream flow control (only once both sides negotiated
//! FlowControl).
//!
//! The receiver of a connection's data allows its sender a *limit*: the
//! bytes of that connection's chunks the sender may have sent in all
//! (the ConnCredit packet carries it; every connection starts at
//! [`INITIAL_LIMIT`]). The sender never sends a chunk past the limit, so
//! no more than one window of a connection's data is ever in the ring or
//! waiting, unread, in the receiver's inbox: a slow reader of one
//! connection stalls only its own sender, never the ring all connections
//! share.
//!
//! The receiver raises the limit as its application takes what arrived:
//! the limit it grants is what it received plus the window, less what
//! sits unread. Bytes of messages still being assembled do not count as
//! unread (the application cannot take half a message, and the receive
//! budget bounds them), so a message larger than the window still gets
//! through. A new limit is sent when it grew by half a window, or when the
//! sender may be too short of credit for one chunk.
//!
//! Limits are absolute, so a ConnCredit that is repeated, stale or never
//! sent (the ring was full; a later one replaces it) does no harm. A limit
//! from the peer is checked against what this side allows itself in
//! flight ([`FlowControl::max_credit`]); a receiver drops a chunk past the
//! limit it granted. Both are typed errors, counted.

use std::collections::VecDeque;

use crate::advanced::idmap::IdMap;
use crate::advanced::link::{lock, AdvancedLink};
use crate::advanced::transport::PacketTransport;
use crate::protocol::ConnCredit;

/// The limit every connection starts with, on both sides, before any
/// ConnCredit (the spec's rule on ConnCredit's `limit`).
pub const INITIAL_LIMIT: u64 = 65536;

/// The largest chunk a sender sends while flow control is on (so that a
/// chunk always fits the initial limit and any window).
pub(crate) const MAX_FLOW_CHUNK: u64 = INITIAL_LIMIT;

/// Flow-control settings of one side.
///
/// ```
/// use hqq_runtime::advanced::{AdvancedConfig, FlowControl};
/// use hqq_runtime::protocol::Features;
///
/// let config = AdvancedConfig::default().flow_control(FlowControl { window: 256 * 1024, ..FlowControl::default() });
/// assert!(config.offer.features.contains(Features::FLOW_CONTROL));
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct FlowControl {
    /// Bytes of each connection's data this side lets the peer have in
    /// flight (in the ring or unread here); at least [`INITIAL_LIMIT`]
    /// (a smaller value counts as that). Default 1 MiB.
    pub window: u64,
    /// The most this side accepts to have in flight on one connection
    /// when the peer grants credit: a ConnCredit allowing more is refused
    /// as absurd. It must be at least the peer's window. Default 1 GiB.
    pub max_credit: u64,
}

impl Default for FlowControl {
    fn default() -> Self {
        FlowControl {
            window: 1 << 20,
            max_credit: 1 << 30,
        }
    }
}

/// A ConnCredit from the peer that this side refuses.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, thiserror::Error)]
pub(crate) enum CreditError {
    /// The limit allows more in flight than this side accepts.
    #[error(
        "ConnCredit for connection {connection}: limit {limit} with {sent} bytes sent allows more than {max} in flight"
    )]
    Absurd {
        /// The connection.
        connection: u64,
        /// The limit the peer sent.
        limit: u64,
        /// Bytes this side sent on the connection.
        sent: u64,
        /// The most this side allows in flight.
        max: u64,
    },
}

/// A chunk that goes past the limit this side granted.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, thiserror::Error)]
#[error("chunk of {size} bytes on connection {connection} goes past the granted limit {limit} ({received} received)")]
pub(crate) struct CreditOverrun {
    /// The connection.
    pub(crate) connection: u64,
    /// The chunk's size.
    pub(crate) size: u64,
    /// Bytes received on the connection before it.
    pub(crate) received: u64,
    /// The limit granted.
    pub(crate) limit: u64,
}

/// One connection's credit on the sending side.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct SendWindow {
    sent: u64,
    limit: u64,
}

impl Default for SendWindow {
    fn default() -> Self {
        SendWindow {
            sent: 0,
            limit: INITIAL_LIMIT,
        }
    }
}

/// The credit of every connection this side sends on.
#[derive(Debug)]
pub(crate) struct SendCredits {
    max_credit: u64,
    windows: IdMap<u64, SendWindow>,
}

impl SendCredits {
    /// Credits that refuse limits allowing more than `max_credit` in flight.
    pub(crate) fn new(max_credit: u64) -> Self {
        SendCredits {
            max_credit,
            windows: IdMap::default(),
        }
    }

    /// Takes `size` bytes of `connection`'s credit if it has them.
    pub(crate) fn reserve(&mut self, connection: u64, size: u64) -> bool {
        let window = self.windows.entry(connection).or_default();
        match window.sent.checked_add(size) {
            Some(sent) if sent <= window.limit => {
                window.sent = sent;
                true
            }
            _ => false,
        }
    }

    /// Gives back `size` bytes reserved for a chunk that was never sent.
    pub(crate) fn refund(&mut self, connection: u64, size: u64) {
        if let Some(window) = self.windows.get_mut(&connection) {
            window.sent = window.sent.saturating_sub(size);
        }
    }

    /// Bytes sent on `connection` and its limit.
    pub(crate) fn window(&self, connection: u64) -> (u64, u64) {
        let window = self.windows.get(&connection).copied().unwrap_or_default();
        (window.sent, window.limit)
    }

    /// Applies the peer's ConnCredit for an open `connection`: `Ok(true)`
    /// if the limit rose, `Ok(false)` if it was stale.
    pub(crate) fn on_credit(&mut self, connection: u64, limit: u64) -> Result<bool, CreditError> {
        let window = self.windows.entry(connection).or_default();
        if limit <= window.limit {
            return Ok(false);
        }
        if limit.saturating_sub(window.sent) > self.max_credit {
            return Err(CreditError::Absurd {
                connection,
                limit,
                sent: window.sent,
                max: self.max_credit,
            });
        }
        window.limit = limit;
        Ok(true)
    }

    /// Forgets a closed connection.
    pub(crate) fn forget(&mut self, connection: u64) {
        self.windows.remove(&connection);
    }
}

/// One connection's credit on the receiving side.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct ReceiveWindow {
    /// Bytes of chunks received.
    received: u64,
    /// Bytes of whole items (messages, requests, stream chunks) waiting
    /// for the application.
    unread: u64,
    /// The limit granted (sent, or owed to the peer).
    granted: u64,
}

impl Default for ReceiveWindow {
    fn default() -> Self {
        ReceiveWindow {
            received: 0,
            unread: 0,
            granted: INITIAL_LIMIT,
        }
    }
}

/// The credit this side grants on every connection it receives on, and
/// the ConnCredit packets it owes.
#[derive(Debug)]
pub(crate) struct ReceiveCredits {
    window: u64,
    windows: IdMap<u64, ReceiveWindow>,
    /// Connections whose new limit the peer has not been sent yet, each
    /// once (bounded by the open connections).
    owed: VecDeque<u64>,
}

impl ReceiveCredits {
    /// Credits granting `window` bytes per connection (at least
    /// [`INITIAL_LIMIT`]).
    pub(crate) fn new(window: u64) -> Self {
        ReceiveCredits {
            window: window.max(INITIAL_LIMIT),
            windows: IdMap::default(),
            owed: VecDeque::new(),
        }
    }

    /// Counts a chunk of `size` bytes on open `connection`, refused if it
    /// goes past the limit granted. Once the chunk was routed (and what it
    /// completed [`queued`](Self::queued)), [`settle`](Self::settle) says
    /// whether that earns new credit.
    pub(crate) fn admit(&mut self, connection: u64, size: u64) -> Result<(), CreditOverrun> {
        let window = self.windows.entry(connection).or_default();
        match window.received.checked_add(size) {
            Some(received) if received <= window.granted => {
                window.received = received;
                Ok(())
            }
            _ => Err(CreditOverrun {
                connection,
                size,
                received: window.received,
                limit: window.granted,
            }),
        }
    }

    /// `bytes` of `connection` now wait, whole, for the application.
    pub(crate) fn queued(&mut self, connection: u64, bytes: u64) {
        if let Some(window) = self.windows.get_mut(&connection) {
            window.unread = window.unread.saturating_add(bytes);
        }
    }

    /// The application took (or the link dropped) `bytes` of
    /// `connection` that were waiting.
    pub(crate) fn consumed(&mut self, connection: u64, bytes: u64) {
        if let Some(window) = self.windows.get_mut(&connection) {
            window.unread = window.unread.saturating_sub(bytes);
            self.settle(connection);
        }
    }

    /// Raises `connection`'s limit when it grew by half a window, or when
    /// the sender may lack credit for a chunk and the new limit gives it
    /// room for one; the new limit is owed.
    pub(crate) fn settle(&mut self, connection: u64) {
        let Some(window) = self.windows.get_mut(&connection) else {
            return;
        };
        let target = window
            .received
            .saturating_add(self.window.saturating_sub(window.unread));
        let grown = target.saturating_sub(window.granted);
        let short = window.granted.saturating_sub(window.received) < MAX_FLOW_CHUNK
            && target.saturating_sub(window.received) >= MAX_FLOW_CHUNK;
        if grown == 0 || (grown < self.window / 2 && !short) {
            return;
        }
        window.granted = target;
        if !self.owed.contains(&connection) {
            self.owed.push_back(connection);
        }
    }

    /// Whether a ConnCredit is owed.
    pub(crate) fn owes(&self) -> bool {
        !self.owed.is_empty()
    }

    /// The oldest owed ConnCredit (with the newest limit), still owed
    /// until [`sent`](Self::sent).
    pub(crate) fn next_owed(&self) -> Option<ConnCredit> {
        let &connection = self.owed.front()?;
        let limit = self.windows.get(&connection)?.granted;
        Some(ConnCredit { connection, limit })
    }

    /// The oldest owed ConnCredit was sent (or its connection is gone).
    pub(crate) fn sent(&mut self) {
        self.owed.pop_front();
    }

    /// Forgets a closed connection.
    pub(crate) fn forget(&mut self, connection: u64) {
        self.windows.remove(&connection);
        self.owed.retain(|&c| c != connection);
    }
}

/// What this side may send on a connection under flow control.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct SendCredit {
    /// Bytes of the connection's chunks sent so far.
    pub sent: u64,
    /// The most the peer allows to have been sent; never below `sent`.
    pub limit: u64,
}

impl<T: PacketTransport> AdvancedLink<T> {
    /// `connection`'s send credit, once FlowControl was negotiated (else
    /// `None`).
    pub fn send_credit(&self, connection: u64) -> Option<SendCredit> {
        let inbox = lock(&self.inbox);
        let (sent, limit) = inbox.flow.as_ref()?.send.window(connection);
        Some(SendCredit { sent, limit })
    }
}

/// Both directions' credit of a link that negotiated FlowControl.
#[derive(Debug)]
pub(crate) struct Flow {
    /// What this side may send.
    pub(crate) send: SendCredits,
    /// What this side grants.
    pub(crate) receive: ReceiveCredits,
}

impl Flow {
    /// The credit state for `config`.
    pub(crate) fn new(config: FlowControl) -> Self {
        Flow {
            send: SendCredits::new(config.max_credit),
            receive: ReceiveCredits::new(config.window),
        }
    }

    /// Forgets a closed connection.
    pub(crate) fn forget(&mut self, connection: u64) {
        self.send.forget(connection);
        self.receive.forget(connection);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_sender_never_goes_past_its_limit() {
        let mut credits = SendCredits::new(1 << 30);
        assert!(credits.reserve(1, INITIAL_LIMIT - 10));
        assert!(!credits.reserve(1, 11));
        assert!(credits.reserve(1, 10));
        assert!(!credits.reserve(1, 1));
        credits.refund(1, 10);
        assert_eq!(credits.window(1), (INITIAL_LIMIT - 10, INITIAL_LIMIT));
        assert_eq!(credits.on_credit(1, INITIAL_LIMIT + 100), Ok(true));
        assert!(credits.reserve(1, 110));
        assert!(!credits.reserve(1, 1));
        // Other connections have their own credit.
        assert!(credits.reserve(2, INITIAL_LIMIT));
    }

    #[test]
    fn stale_credit_is_ignored_and_absurd_credit_refused() {
        let mut credits = SendCredits::new(1 << 20);
        assert_eq!(credits.on_credit(1, 1 << 19), Ok(true));
        assert_eq!(credits.on_credit(1, 1 << 18), Ok(false));
        assert_eq!(credits.window(1).1, 1 << 19);
        assert!(matches!(
            credits.on_credit(1, u64::MAX),
            Err(CreditError::Absurd { .. })
        ));
        assert!(matches!(
            credits.on_credit(1, (1 << 20) + 1),
            Err(CreditError::Absurd { .. })
        ));
        assert_eq!(credits.window(1).1, 1 << 19);
        // In flight is what counts: after sending, a higher limit is fine.
        assert!(credits.reserve(1, 1 << 19));
        assert_eq!(credits.on_credit(1, (1 << 19) + (1 << 20)), Ok(true));
    }

    #[test]
    fn the_receiver_grants_as_the_application_reads() {
        let window = 4 * INITIAL_LIMIT;
        let mut credits = ReceiveCredits::new(window);
        credits.admit(7, 1000).unwrap();
        credits.settle(7);
        // The first chunk, still partial, opens the window at once.
        let credit = credits.next_owed().unwrap();
        assert_eq!(credit.connection, 7);
        assert_eq!(credit.limit, 1000 + window);
        credits.sent();
        credits.queued(7, 1000);
        // A slow reader: what arrives stays unread, the limit stays put.
        let mut received = 1000;
        while credits.admit(7, 1000).is_ok() {
            received += 1000;
            credits.queued(7, 1000);
            credits.settle(7);
            assert!(!credits.owes(), "credit granted while nothing was read");
        }
        assert!(received <= 1000 + window && received + 1000 > 1000 + window);
        // A chunk past the limit is refused.
        assert!(credits.admit(7, 1000).is_err());
        // Reading gives the credit back: a window beyond what stays unread.
        credits.consumed(7, window);
        let unread = received - window;
        assert_eq!(
            credits.next_owed().unwrap().limit,
            received + window - unread
        );
    }

    #[test]
    fn a_message_larger_than_the_window_gets_through() {
        let mut credits = ReceiveCredits::new(INITIAL_LIMIT);
        let mut sent = 0;
        let mut limit = INITIAL_LIMIT;
        // Ten windows of one message, nothing taken until it is whole.
        while sent < 10 * INITIAL_LIMIT {
            assert!(sent + 4096 <= limit, "the sender is stuck at {sent}");
            credits.admit(1, 4096).unwrap();
            credits.settle(1);
            sent += 4096;
            if let Some(credit) = credits.next_owed() {
                limit = credit.limit;
                credits.sent();
            }
        }
    }

    #[test]
    fn owed_credit_is_sent_once_with_the_newest_limit() {
        let mut credits = ReceiveCredits::new(INITIAL_LIMIT);
        credits.admit(3, INITIAL_LIMIT).unwrap();
        credits.settle(3);
        credits.admit(4, 10).unwrap();
        credits.settle(4);
        credits.settle(3);
        let first = credits.next_owed().unwrap();
        assert_eq!((first.connection, first.limit), (3, 2 * INITIAL_LIMIT));
        credits.sent();
        assert_eq!(credits.next_owed().unwrap().connection, 4);
        credits.forget(4);
        assert!(!credits.owes());
    }
}
