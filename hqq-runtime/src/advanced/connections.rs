//! Logical connections: who listens, which dials are pending, which
//! connections are open.
//!
//! The dialer sends ConnCreate with a fresh id; the listener answers
//! ConnAccept, or `Error(ConnNotFound)` when nobody listens (or its backlog
//! is full). Either side closes with ConnClose. Connection 0 is the link
//! itself and is always open.
//!
//! Both sides share one id space (a ConnCopy names only the id). The Go
//! implementation numbers its dials from 1, so this side numbers its own
//! far above that, from [`first_dial_id`]: a peer's dial is accepted
//! whatever ids this side uses, and the two roles start apart so that two
//! Rust ends never collide either. A dialer still skips ids in use, and a
//! ConnCreate for an id in use is refused with `Error(InvalidOp)`.

use std::collections::VecDeque;

use crate::advanced::idmap::{IdMap, IdSet};
use crate::protocol::ErrorCode;
use crate::superblock::Role;

/// The first connection id this side dials with: `1 << 63` for the
/// primary, `1 << 62` for the secondary (a peer counting from 1 never gets
/// there).
pub(crate) const fn first_dial_id(role: Role) -> u64 {
    match role {
        Role::Primary => 1 << 63,
        Role::Secondary => 1 << 62,
    }
}

/// Why an incoming ConnCreate was refused; the link answers with an Error packet.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, thiserror::Error)]
pub(crate) enum ConnectionCreateError {
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
    pub(crate) const fn error_code(&self) -> ErrorCode {
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
pub(crate) struct UnknownDialError(pub(crate) u64);

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
#[derive(Debug)]
pub(crate) struct Connections {
    listening: bool,
    backlog: usize,
    incoming: VecDeque<u64>,
    dialing: IdMap<u64, Option<Result<(), DialFailure>>>,
    open: IdSet<u64>,
    next_id: u64,
}

impl Connections {
    /// Connections that may wait for `accept`.
    pub(crate) const BACKLOG: usize = 128;

    /// A table whose accept backlog holds `backlog` connections and whose
    /// dials take ids from `first_id` up.
    pub(crate) fn new(backlog: usize, first_id: u64) -> Self {
        Connections {
            listening: false,
            backlog,
            incoming: VecDeque::new(),
            dialing: IdMap::default(),
            open: IdSet::default(),
            next_id: first_id.max(1),
        }
    }

    /// Starts accepting ConnCreate.
    pub(crate) fn listen(&mut self) {
        self.listening = true;
    }

    fn in_use(&self, id: u64) -> bool {
        id == 0
            || self.open.contains(&id)
            || self.dialing.contains_key(&id)
            || self.incoming.contains(&id)
    }

    /// Takes the peer's ConnCreate for `id` into the backlog.
    pub(crate) fn on_create(&mut self, id: u64) -> Result<(), ConnectionCreateError> {
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
    pub(crate) fn take_incoming(&mut self) -> Option<u64> {
        let id = self.incoming.pop_front()?;
        self.open.insert(id);
        Some(id)
    }

    /// A fresh connection id for a dial, now pending.
    pub(crate) fn start_dial(&mut self) -> u64 {
        // Ids in use are bounded by the backlog and the open table, so
        // this loop ends.
        while self.in_use(self.next_id) {
            self.next_id = self.next_id.wrapping_add(1);
        }
        let id = self.next_id;
        self.next_id = self.next_id.wrapping_add(1);
        self.dialing.insert(id, None);
        id
    }

    /// Takes the peer's ConnAccept for `id`.
    pub(crate) fn on_accept(&mut self, id: u64) -> Result<(), UnknownDialError> {
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
    pub(crate) fn on_error(&mut self, context: u64, code: ErrorCode) -> bool {
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
    pub(crate) fn take_dial(&mut self, id: u64) -> Option<Result<(), DialFailure>> {
        let outcome = (*self.dialing.get(&id)?)?;
        self.dialing.remove(&id);
        if outcome.is_ok() {
            self.open.insert(id);
        }
        Some(outcome)
    }

    /// Gives up the dial of `id` (its caller timed out).
    pub(crate) fn cancel_dial(&mut self, id: u64) {
        self.dialing.remove(&id);
    }

    /// Takes the peer's ConnClose for `id`: closes it, fails a pending dial
    /// or drops it from the backlog. `false` if the id was unknown.
    pub(crate) fn on_close(&mut self, id: u64) -> bool {
        if let Some(slot @ None) = self.dialing.get_mut(&id) {
            *slot = Some(Err(DialFailure::Closed));
            return true;
        }
        let queued = self.incoming.len();
        self.incoming.retain(|&waiting| waiting != id);
        self.open.remove(&id) || self.incoming.len() != queued
    }

    /// Closes `id` on this side; `false` if it was not open.
    pub(crate) fn close(&mut self, id: u64) -> bool {
        self.open.remove(&id)
    }

    /// Whether `id` is open (connection 0 always is).
    pub(crate) fn is_open(&self, id: u64) -> bool {
        id == 0 || self.open.contains(&id)
    }

    /// Takes every open connection out of the table (the link is going
    /// away) and returns their ids.
    pub(crate) fn take_open(&mut self) -> Vec<u64> {
        self.open.drain().collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_peer_counting_from_one_is_accepted_after_our_dial() {
        // The Go flow: this side dials first, then the peer dials its id 1.
        let mut ours = Connections::new(Connections::BACKLOG, first_dial_id(Role::Primary));
        let mut go = Connections::new(Connections::BACKLOG, 1);
        ours.listen();
        go.listen();
        let dialed = ours.start_dial();
        go.on_create(dialed).unwrap();
        assert_eq!(go.take_incoming(), Some(dialed));
        ours.on_accept(dialed).unwrap();
        assert_eq!(ours.take_dial(dialed), Some(Ok(())));
        let theirs = go.start_dial();
        assert_eq!(theirs, 1);
        ours.on_create(theirs).unwrap();
        assert_eq!(ours.take_incoming(), Some(1));
        assert!(ours.is_open(1) && ours.is_open(dialed));
        // Two Rust ends start apart.
        assert_ne!(first_dial_id(Role::Primary), first_dial_id(Role::Secondary));
        let mut taken = ours.take_open();
        taken.sort_unstable();
        assert_eq!(taken, vec![1, dialed]);
        assert!(!ours.is_open(1));
    }

    #[test]
    fn create_without_listener_is_conn_not_found() {
        let mut c = Connections::new(Connections::BACKLOG, 1);
        let err = c.on_create(1).unwrap_err();
        assert_eq!(err, ConnectionCreateError::NotListening(1));
        assert_eq!(err.error_code(), ErrorCode::ConnNotFound);
    }

    #[test]
    fn backlog_and_reused_ids_are_refused() {
        let mut c = Connections::new(2, 1);
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
        let mut c = Connections::new(Connections::BACKLOG, 1);
        assert_eq!(c.on_accept(7), Err(UnknownDialError(7)));
        let id = c.start_dial();
        c.on_accept(id).unwrap();
        assert_eq!(c.on_accept(id), Err(UnknownDialError(id)));
        c.cancel_dial(id);
        assert_eq!(c.on_accept(id), Err(UnknownDialError(id)));
    }

    #[test]
    fn a_pending_dial_fails_on_refusal_or_close() {
        let mut c = Connections::new(Connections::BACKLOG, 1);
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
        let mut c = Connections::new(Connections::BACKLOG, 1);
        c.listen();
        c.on_create(1).unwrap();
        c.take_incoming();
        assert_eq!(c.start_dial(), 2);
        assert!(c.close(1));
        assert!(!c.close(1));
        assert!(c.is_open(0));
    }
}
