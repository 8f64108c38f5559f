//! Logical connections: who listens, which dials are pending, which
//! connections are open.
//!
//! The dialer sends ConnCreate with a fresh id; the listener answers
//! ConnAccept, or `Error(ConnNotFound)` when nobody listens (or its backlog
//! is full). Either side closes with ConnClose. Connection 0 is the link
//! itself and is always open. Ids come from each dialer's counter, so both
//! sides share one id space: a dialer skips ids in use, and a ConnCreate
//! for an id in use is refused with `Error(InvalidOp)`.

use std::collections::{HashMap, HashSet, VecDeque};

use crate::protocol::ErrorCode;

/// Why an incoming ConnCreate was refused; the link answers with an Error packet.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, thiserror::Error)]
pub enum ConnectionCreateError {
    /// Nobody listens on this side.
    #[error("connection {0}: nobody listens")]
    NotListening(u64),
    /// The backlog of connections waiting for `accept` is full.
    #[error("connection {0}: the accept backlog is full")]
    BacklogFull(u64),
    /// The id is already open or waiting.
    #[error("connection {0}: the id is already in use")]
    InUse(u64),
}

impl ConnectionCreateError {
    /// The code of the Error packet that answers the ConnCreate.
    pub const fn error_code(&self) -> ErrorCode {
        match self {
            ConnectionCreateError::NotListening(_) | ConnectionCreateError::BacklogFull(_) => {
                ErrorCode::ConnNotFound
            }
            ConnectionCreateError::InUse(_) => ErrorCode::InvalidOp,
        }
    }
}

/// A ConnAccept for a connection this side never dialed (or gave up on).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, thiserror::Error)]
#[error("ConnAccept for connection {0}, which this side did not dial")]
pub struct UnknownDialError(pub u64);

/// Why a dial failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, thiserror::Error)]
pub enum DialFailure {
    /// The peer answered with an Error packet (ConnNotFound: nobody listens).
    #[error("the peer refused the connection: {0}")]
    Refused(ErrorCode),
    /// The peer closed the connection before accepting it.
    #[error("the peer closed the connection before accepting it")]
    Closed,
}

/// The connection table of one link side.
///
/// ```
/// use hqq_runtime::advanced::Connections;
///
/// let (mut dialer, mut listener) = (Connections::default(), Connections::default());
/// let id = dialer.start_dial();
/// assert!(listener.on_create(id).is_err()); // nobody listens yet
/// listener.listen();
/// listener.on_create(id).unwrap();
/// assert_eq!(listener.take_incoming(), Some(id));
/// dialer.on_accept(id).unwrap();
/// assert_eq!(dialer.take_dial(id), Some(Ok(())));
/// assert!(dialer.is_open(id) && listener.is_open(id));
/// ```
#[derive(Debug)]
pub struct Connections {
    listening: bool,
    backlog: usize,
    incoming: VecDeque<u64>,
    dialing: HashMap<u64, Option<Result<(), DialFailure>>>,
    open: HashSet<u64>,
    next_id: u64,
}

impl Default for Connections {
    fn default() -> Self {
        Connections::with_backlog(Connections::DEFAULT_BACKLOG)
    }
}

impl Connections {
    /// Connections that may wait for `accept` by default.
    pub const DEFAULT_BACKLOG: usize = 128;

    /// A table whose accept backlog holds `backlog` connections.
    pub fn with_backlog(backlog: usize) -> Self {
        Connections {
            listening: false,
            backlog,
            incoming: VecDeque::new(),
            dialing: HashMap::new(),
            open: HashSet::new(),
            next_id: 1,
        }
    }

    /// Starts accepting ConnCreate.
    pub fn listen(&mut self) {
        self.listening = true;
    }

    /// Whether this side listens.
    pub fn is_listening(&self) -> bool {
        self.listening
    }

    fn in_use(&self, id: u64) -> bool {
        id == 0
            || self.open.contains(&id)
            || self.dialing.contains_key(&id)
            || self.incoming.contains(&id)
    }

    /// Takes the peer's ConnCreate for `id` into the backlog.
    pub fn on_create(&mut self, id: u64) -> Result<(), ConnectionCreateError> {
        if !self.listening {
            return Err(ConnectionCreateError::NotListening(id));
        }
        if self.in_use(id) {
            return Err(ConnectionCreateError::InUse(id));
        }
        if self.incoming.len() >= self.backlog {
            return Err(ConnectionCreateError::BacklogFull(id));
        }
        self.incoming.push_back(id);
        Ok(())
    }

    /// The oldest connection waiting for `accept`, now open; the caller
    /// answers it with ConnAccept.
    pub fn take_incoming(&mut self) -> Option<u64> {
        let id = self.incoming.pop_front()?;
        self.open.insert(id);
        Some(id)
    }

    /// A fresh connection id for a dial, now pending.
    pub fn start_dial(&mut self) -> u64 {
        while self.in_use(self.next_id) {
            self.next_id = self.next_id.wrapping_add(1);
        }
        let id = self.next_id;
        self.next_id = self.next_id.wrapping_add(1);
        self.dialing.insert(id, None);
        id
    }

    /// Takes the peer's ConnAccept for `id`.
    pub fn on_accept(&mut self, id: u64) -> Result<(), UnknownDialError> {
        match self.dialing.get_mut(&id) {
            Some(slot @ None) => {
                *slot = Some(Ok(()));
                Ok(())
            }
            _ => Err(UnknownDialError(id)),
        }
    }

    /// Takes the peer's Error packet about `context`; `true` if it failed a
    /// pending dial (else it is about something else, e.g. a call).
    pub fn on_error(&mut self, context: u64, code: ErrorCode) -> bool {
        match self.dialing.get_mut(&context) {
            Some(slot @ None) => {
                *slot = Some(Err(DialFailure::Refused(code)));
                true
            }
            _ => false,
        }
    }

    /// The outcome of the dial of `id` if it arrived; an accepted dial is
    /// then open.
    pub fn take_dial(&mut self, id: u64) -> Option<Result<(), DialFailure>> {
        let outcome = (*self.dialing.get(&id)?)?;
        self.dialing.remove(&id);
        if outcome.is_ok() {
            self.open.insert(id);
        }
        Some(outcome)
    }

    /// Gives up the dial of `id` (its caller timed out).
    pub fn cancel_dial(&mut self, id: u64) {
        self.dialing.remove(&id);
    }

    /// Takes the peer's ConnClose for `id`: closes it, fails a pending dial
    /// or drops it from the backlog. `false` if the id was unknown.
    pub fn on_close(&mut self, id: u64) -> bool {
        if let Some(slot @ None) = self.dialing.get_mut(&id) {
            *slot = Some(Err(DialFailure::Closed));
            return true;
        }
        let queued = self.incoming.len();
        self.incoming.retain(|&waiting| waiting != id);
        self.open.remove(&id) || self.incoming.len() != queued
    }

    /// Closes `id` on this side; `false` if it was not open.
    pub fn close(&mut self, id: u64) -> bool {
        self.open.remove(&id)
    }

    /// Whether `id` is open (connection 0 always is).
    pub fn is_open(&self, id: u64) -> bool {
        id == 0 || self.open.contains(&id)
    }

    /// Connections open now (not counting connection 0).
    pub fn open_count(&self) -> usize {
        self.open.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn create_without_listener_is_conn_not_found() {
        let mut c = Connections::default();
        let err = c.on_create(1).unwrap_err();
        assert_eq!(err, ConnectionCreateError::NotListening(1));
        assert_eq!(err.error_code(), ErrorCode::ConnNotFound);
    }

    #[test]
    fn backlog_and_reused_ids_are_refused() {
        let mut c = Connections::with_backlog(2);
        c.listen();
        c.on_create(1).unwrap();
        assert_eq!(c.on_create(1), Err(ConnectionCreateError::InUse(1)));
        assert_eq!(c.on_create(0), Err(ConnectionCreateError::InUse(0)));
        c.on_create(2).unwrap();
        let full = c.on_create(3).unwrap_err();
        assert_eq!(full.error_code(), ErrorCode::ConnNotFound);
        assert_eq!(c.take_incoming(), Some(1));
        assert_eq!(c.on_create(1), Err(ConnectionCreateError::InUse(1)));
    }

    #[test]
    fn accept_for_a_connection_nobody_dialed() {
        let mut c = Connections::default();
        assert_eq!(c.on_accept(7), Err(UnknownDialError(7)));
        let id = c.start_dial();
        c.on_accept(id).unwrap();
        assert_eq!(c.on_accept(id), Err(UnknownDialError(id)));
        c.cancel_dial(id);
        assert_eq!(c.on_accept(id), Err(UnknownDialError(id)));
    }

    #[test]
    fn a_pending_dial_fails_on_refusal_or_close() {
        let mut c = Connections::default();
        let a = c.start_dial();
        let b = c.start_dial();
        assert_ne!(a, b);
        assert!(c.on_error(a, ErrorCode::ConnNotFound));
        assert!(!c.on_error(999, ErrorCode::ConnNotFound));
        assert!(c.on_close(b));
        assert_eq!(
            c.take_dial(a),
            Some(Err(DialFailure::Refused(ErrorCode::ConnNotFound)))
        );
        assert_eq!(c.take_dial(b), Some(Err(DialFailure::Closed)));
        assert!(!c.is_open(a) && !c.is_open(b));
    }

    #[test]
    fn dial_ids_skip_ids_in_use() {
        let mut c = Connections::default();
        c.listen();
        c.on_create(1).unwrap();
        c.take_incoming();
        assert_eq!(c.start_dial(), 2);
        assert!(c.close(1));
        assert!(!c.close(1));
        assert!(c.is_open(0));
    }
}
