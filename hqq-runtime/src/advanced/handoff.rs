//! Who pumps and who sleeps: the hand-off state of the receive path (see
//! [`pump`](super::pump)), kept in the inbox and changed only under its
//! lock.
//!
//! A waiter that finds nothing asks for its [`Turn`]: it pumps if nobody
//! does, else it counts itself as a sleeper and sleeps on the condition
//! variable (which releases the lock atomically). A pumper that routed
//! something signals if anyone sleeps, and when it gives the pump back it
//! signals if anyone sleeps. Because the flag, the count and the wait all
//! go under one lock, a waiter either sees the pump free or is counted
//! before the pumper looks: no waiter sleeps through a free pump. The loom
//! model below checks that every waiter gets what it waits for.

/// What a waiter that found nothing does next.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Turn {
    /// Receive for everyone (the caller now holds the pump).
    Pump,
    /// Sleep until signalled (the caller is counted as a sleeper).
    Sleep,
}

/// The pump flag and the sleeper count.
#[derive(Debug, Default)]
pub(crate) struct HandOff {
    pumping: bool,
    sleepers: usize,
}

impl HandOff {
    /// Takes the pump if it is free, else counts the caller as a sleeper
    /// (who calls [`HandOff::woke`] after its wait).
    pub(crate) fn turn(&mut self) -> Turn {
        if self.pumping {
            self.sleepers += 1;
            Turn::Sleep
        } else {
            self.pumping = true;
            Turn::Pump
        }
    }

    /// Takes the pump if it is free (`try_` calls, which never sleep).
    pub(crate) fn try_pump(&mut self) -> bool {
        !std::mem::replace(&mut self.pumping, true)
    }

    /// Counts the caller as a sleeper without taking a free pump (it
    /// leaves the pump to a higher-priority waiter; it calls
    /// [`HandOff::woke`] after its wait).
    pub(crate) fn sleep_aside(&mut self) {
        self.sleepers += 1;
    }

    /// A sleeper's wait ended.
    pub(crate) fn woke(&mut self) {
        self.sleepers = self.sleepers.saturating_sub(1);
    }

    /// Gives the pump back; `true` if sleepers must be signalled (one of
    /// them pumps next).
    pub(crate) fn release(&mut self) -> bool {
        self.pumping = false;
        self.sleepers != 0
    }

    /// Whether routing something that a thread may wait for must signal.
    pub(crate) fn has_sleepers(&self) -> bool {
        self.sleepers != 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_pumper_the_others_sleep() {
        let mut handoff = HandOff::default();
        assert_eq!(handoff.turn(), Turn::Pump);
        assert_eq!(handoff.turn(), Turn::Sleep);
        assert!(!handoff.try_pump());
        assert!(handoff.has_sleepers());
        assert!(handoff.release(), "a sleeper must be signalled");
        handoff.woke();
        assert_eq!(handoff.turn(), Turn::Pump);
        assert!(!handoff.release());
        assert!(handoff.try_pump());
    }
}

/// Loom model of the hand-off: two waiters, each waiting for its own
/// packet, over one "ring" that holds both. The waits have no timeout, so
/// a lost wake-up is a deadlock, which loom reports.
///
/// Run with:
/// `RUSTFLAGS="--cfg loom" cargo test -p hqq-runtime --release --lib loom_model`
#[cfg(all(test, loom))]
mod loom_model {
    use loom::sync::{Arc, Condvar, Mutex};
    use loom::thread;

    use super::{HandOff, Turn};

    /// The inbox: the hand-off, what was routed, and the ring (packets are
    /// the ids of the waiters they are for).
    #[derive(Default)]
    struct Inbox {
        handoff: HandOff,
        routed: [bool; 2],
        taken: [bool; 2],
    }

    struct Link {
        inbox: Mutex<Inbox>,
        arrived: Condvar,
        ring: Mutex<Vec<usize>>,
    }

    impl Link {
        /// One packet from the ring, routed (what `pump_once` does).
        fn pump_once(&self) {
            let packet = self.ring.lock().unwrap().pop();
            let Some(for_whom) = packet else {
                return;
            };
            let mut inbox = self.inbox.lock().unwrap();
            inbox.routed[for_whom] = true;
            if inbox.handoff.has_sleepers() {
                self.arrived.notify_all();
            }
        }

        /// `wait_for` until waiter `me`'s packet was routed.
        fn wait_for(&self, me: usize) {
            let mut inbox = self.inbox.lock().unwrap();
            loop {
                if inbox.routed[me] {
                    inbox.taken[me] = true;
                    return;
                }
                match inbox.handoff.turn() {
                    Turn::Sleep => {
                        inbox = self.arrived.wait(inbox).unwrap();
                        inbox.handoff.woke();
                    }
                    Turn::Pump => {
                        drop(inbox);
                        self.pump_once();
                        inbox = self.inbox.lock().unwrap();
                        if inbox.handoff.release() {
                            self.arrived.notify_all();
                        }
                    }
                }
            }
        }
    }

    #[test]
    fn loom_model_every_waiter_gets_its_packet() {
        loom::model(|| {
            let link = Arc::new(Link {
                inbox: Mutex::new(Inbox::default()),
                arrived: Condvar::new(),
                ring: Mutex::new(vec![0, 1]),
            });
            let other = {
                let link = Arc::clone(&link);
                thread::spawn(move || link.wait_for(1))
            };
            link.wait_for(0);
            other.join().unwrap();
            let inbox = link.inbox.lock().unwrap();
            assert_eq!(inbox.taken, [true, true]);
            assert!(!inbox.handoff.has_sleepers());
        });
    }
}
