//! What a blocking claim does between attempts on a full or empty ring.
//!
//! The blocking claims of [`Ring`](super::Ring) are loops of
//! `try_claim(); idle.idle(attempt, ..)`. A strategy that parks on a futex
//! word must re-check the ring ([`Ring::is_empty_hint`](super::Ring::is_empty_hint),
//! [`Ring::is_full_hint`](super::Ring::is_full_hint)) after announcing
//! itself as a waiter, so that a wake-up that lands between the failed
//! attempt and the park is not lost (see [`crate::wait`]).

use std::time::{Duration, Instant};

/// Whether a blocking claim should try again.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum IdleOutcome {
    /// Try to claim again.
    Retry,
    /// The deadline has passed; the claim gives up.
    TimedOut,
}

/// A wait strategy for blocking claims.
///
/// Implementations must return [`IdleOutcome::TimedOut`] once `deadline` has
/// passed, and should not sleep much beyond it (the claim loop also checks
/// the deadline after every 64th call, so an implementation that ignores
/// it delays the timeout by at most 64 of its waits but cannot defeat it).
pub trait Idle {
    /// Waits a little after failed attempt number `attempt` (0-based).
    fn idle(&self, attempt: u32, deadline: Option<Instant>) -> IdleOutcome;

    /// Whether the wait after attempt number `attempt` only spins (no
    /// yield, no sleep). A producer that found the ring full uses these
    /// cheap waits to let several slots free before it claims again (see
    /// [`Ring::claim_send_with`](super::Ring::claim_send_with)). The
    /// default, `false`, makes it claim the first free slot.
    fn spins(&self, attempt: u32) -> bool {
        let _ = attempt;
        false
    }
}

/// Spins with exponential backoff, then yields the thread, then sleeps in
/// short naps: low latency when the peer is quick, no busy core when it is not.
#[derive(Clone, Copy, Debug, Default)]
pub struct PollingIdle;

/// Attempts spent spinning (exponentially longer each time) before yielding.
const SPIN_ATTEMPTS: u32 = 7;
/// Attempts spent yielding before napping.
const YIELD_ATTEMPTS: u32 = 64;
/// Longest nap between attempts.
const MAX_NAP: Duration = Duration::from_micros(200);

impl Idle for PollingIdle {
    fn spins(&self, attempt: u32) -> bool {
        attempt < SPIN_ATTEMPTS
    }

    fn idle(&self, attempt: u32, deadline: Option<Instant>) -> IdleOutcome {
        if attempt < SPIN_ATTEMPTS {
            for _ in 0..(1u32 << attempt) {
                core::hint::spin_loop();
            }
        } else if attempt < YIELD_ATTEMPTS {
            std::thread::yield_now();
        } else {
            let nap = match deadline {
                Some(deadline) => {
                    let left = deadline.saturating_duration_since(Instant::now());
                    if left.is_zero() {
                        return IdleOutcome::TimedOut;
                    }
                    left.min(MAX_NAP)
                }
                None => MAX_NAP,
            };
            std::thread::sleep(nap);
        }
        match deadline {
            Some(deadline) if Instant::now() >= deadline => IdleOutcome::TimedOut,
            _ => IdleOutcome::Retry,
        }
    }
}
