//! The rest of messages that did not fit a caller's receive buffer, kept in
//! process-local memory so that their slots can be released at once.

use std::collections::VecDeque;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Mutex, MutexGuard};

use crate::payload_view::PayloadView;

/// Unread remainders of partially read messages, oldest first.
///
/// The receive path checks [`PendingReads::is_empty`] (one relaxed load)
/// and touches the mutex only when a remainder exists. Remainders come one
/// per partially read message (several only when threads read partially at
/// the same time); their byte vectors are recycled, so steady partial
/// reading does not allocate.
#[derive(Debug, Default)]
pub(crate) struct PendingReads {
    present: AtomicBool,
    queue: Mutex<Remainders>,
}

#[derive(Debug, Default)]
struct Remainders {
    queue: VecDeque<Remainder>,
    spare: Vec<Vec<u8>>,
}

/// The unread end of one message.
#[derive(Debug)]
pub(crate) struct Remainder {
    bytes: Vec<u8>,
    start: usize,
}

impl Remainder {
    /// The unread bytes.
    pub(crate) fn rest(&self) -> &[u8] {
        self.bytes.get(self.start..).unwrap_or_default()
    }
}

impl PendingReads {
    /// Whether no remainder is waiting (racy by nature: a remainder pushed
    /// by another thread right now may be missed, as its message would be).
    #[inline]
    pub(crate) fn is_empty(&self) -> bool {
        !self.present.load(Ordering::Acquire)
    }

    fn lock(&self) -> MutexGuard<'_, Remainders> {
        // A panic while holding the lock leaves the queue consistent.
        self.queue.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Keeps `rest` as the newest remainder (copied out of the slot: the
    /// caller bounded its length by the link's buffer size).
    pub(crate) fn push(&self, rest: PayloadView<'_>) {
        let mut r = self.lock();
        let mut bytes = r.spare.pop().unwrap_or_default();
        bytes.clear();
        rest.extend_vec(&mut bytes);
        r.queue.push_back(Remainder { bytes, start: 0 });
        // Release: pairs with the Acquire load in `is_empty`.
        self.present.store(true, Ordering::Release);
    }

    /// Copies as much of the oldest remainder as fits into `buf`; `None` if
    /// there is none.
    pub(crate) fn read(&self, buf: &mut [u8]) -> Option<usize> {
        let mut r = self.lock();
        let front = r.queue.front_mut()?;
        let rest = front.rest();
        let n = rest.len().min(buf.len());
        if let (Some(dst), Some(src)) = (buf.get_mut(..n), rest.get(..n)) {
            dst.copy_from_slice(src);
        }
        front.start += n;
        if front.rest().is_empty() {
            Self::retire(&mut r);
        }
        self.present.store(!r.queue.is_empty(), Ordering::Release);
        Some(n)
    }

    /// Removes the oldest remainder; `None` if there is none. Hand it back
    /// with [`PendingReads::recycle`] to reuse its memory.
    pub(crate) fn take(&self) -> Option<Remainder> {
        let mut r = self.lock();
        let front = r.queue.pop_front();
        self.present.store(!r.queue.is_empty(), Ordering::Release);
        front
    }

    /// Keeps the memory of a remainder returned by [`PendingReads::take`].
    pub(crate) fn recycle(&self, remainder: Remainder) {
        self.lock().spare.push(remainder.bytes);
    }

    fn retire(r: &mut Remainders) {
        if let Some(done) = r.queue.pop_front() {
            r.spare.push(done.bytes);
        }
    }
}
