//! Cross-process futex wait and wake on a 32-bit word.
//!
//! The words live in a `MAP_SHARED` segment that several processes map, so
//! these use the *shared* futex operations (`FUTEX_WAIT` / `FUTEX_WAKE`
//! without `FUTEX_PRIVATE_FLAG`): the kernel keys the wait queue by the
//! underlying memory object and offset, not by this process's address, so a
//! wake in one process reaches a waiter in another.
//!
//! Linux only. On other Unix systems, and on Linux if the kernel refuses the
//! call (e.g. a seccomp filter forbids `futex`), [`futex_wait`] degrades to
//! a timed sleep and [`futex_wake`] wakes nobody; callers that always wait
//! with a short timeout (as [`Waiter`](crate::wait::Waiter) does) still make
//! progress, only with up to one timeout of extra latency.

use std::sync::atomic::AtomicU32;
use std::time::Duration;

/// How long a fallback wait without a timeout sleeps before returning.
const FALLBACK_SLEEP: Duration = Duration::from_millis(1);

/// How a [`futex_wait`] ended. Every outcome may be spurious: callers
/// re-check their condition whatever it says.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum FutexWait {
    /// A [`futex_wake`] on the word woke the caller (or the wake-up was
    /// spurious).
    Woken,
    /// The timeout expired.
    TimedOut,
    /// The word did not hold `expected` when the call began, so it did not
    /// sleep.
    ValueChanged,
    /// A signal interrupted the wait.
    Interrupted,
}

/// Sleeps while `word` holds `expected`, until a [`futex_wake`] on the same
/// word (from any process that maps it), the `timeout` (measured on the
/// monotonic clock; `None` waits without one), or a signal.
///
/// The check of `word` against `expected` and the start of the sleep are
/// atomic with respect to [`futex_wake`], which is what makes the
/// [wait protocol](crate::wait) free of lost wake-ups.
///
/// ```
/// use hqq_runtime::futex::{futex_wait, FutexWait};
/// use std::sync::atomic::AtomicU32;
/// use std::time::Duration;
///
/// let word = AtomicU32::new(7);
/// assert_eq!(futex_wait(&word, 8, None), FutexWait::ValueChanged);
/// assert_eq!(
///     futex_wait(&word, 7, Some(Duration::from_millis(1))),
///     FutexWait::TimedOut
/// );
/// ```
pub fn futex_wait(word: &AtomicU32, expected: u32, timeout: Option<Duration>) -> FutexWait {
    imp::wait(word, expected, timeout)
}

/// Wakes up to `count` threads (in any process) sleeping in [`futex_wait`]
/// on `word`, and returns how many it woke. `i32::MAX` wakes all.
pub fn futex_wake(word: &AtomicU32, count: i32) -> usize {
    imp::wake(word, count)
}

/// Sleeps for `timeout` (or [`FALLBACK_SLEEP`] without one) in place of a
/// futex wait.
fn sleep_instead(timeout: Option<Duration>) -> FutexWait {
    match timeout {
        Some(timeout) => {
            std::thread::sleep(timeout);
            FutexWait::TimedOut
        }
        None => {
            std::thread::sleep(FALLBACK_SLEEP);
            FutexWait::Woken
        }
    }
}

#[cfg(target_os = "linux")]
mod imp {
    use super::{sleep_instead, FutexWait};
    use std::sync::atomic::AtomicU32;
    use std::time::Duration;

    pub(super) fn wait(word: &AtomicU32, expected: u32, timeout: Option<Duration>) -> FutexWait {
        let timespec = timeout.map(|t| libc::timespec {
            tv_sec: libc::time_t::try_from(t.as_secs()).unwrap_or(libc::time_t::MAX),
            // Always below 1e9, so it fits every target's `c_long`.
            tv_nsec: t.subsec_nanos() as libc::c_long,
        });
        let timespec_ptr = timespec
            .as_ref()
            .map_or(std::ptr::null(), |t| t as *const libc::timespec);
        // SAFETY: `word.as_ptr()` points to a live, 4-byte-aligned `u32` for
        // the whole call (we hold `&AtomicU32`); the kernel only reads it
        // atomically. `timespec_ptr` is null or points to a valid `timespec`
        // on our stack that outlives the call. `uaddr2` and `val3` are unused
        // by FUTEX_WAIT.
        let rc = unsafe {
            libc::syscall(
                libc::SYS_futex,
                word.as_ptr(),
                libc::FUTEX_WAIT,
                expected,
                timespec_ptr,
                std::ptr::null::<u32>(),
                0u32,
            )
        };
        if rc == 0 {
            return FutexWait::Woken;
        }
        match std::io::Error::last_os_error().raw_os_error() {
            Some(libc::ETIMEDOUT) => FutexWait::TimedOut,
            Some(libc::EAGAIN) => FutexWait::ValueChanged,
            Some(libc::EINTR) => FutexWait::Interrupted,
            // ENOSYS / EPERM (seccomp) or anything unexpected: never spin,
            // wait out the timeout instead.
            _ => sleep_instead(timeout),
        }
    }

    pub(super) fn wake(word: &AtomicU32, count: i32) -> usize {
        // SAFETY: `word.as_ptr()` points to a live, aligned `u32`; FUTEX_WAKE
        // does not access the memory at all, it only uses the address as the
        // wait-queue key. The remaining arguments are unused by FUTEX_WAKE.
        let rc = unsafe {
            libc::syscall(
                libc::SYS_futex,
                word.as_ptr(),
                libc::FUTEX_WAKE,
                count,
                std::ptr::null::<libc::timespec>(),
                std::ptr::null::<u32>(),
                0u32,
            )
        };
        usize::try_from(rc).unwrap_or(0)
    }
}

#[cfg(not(target_os = "linux"))]
mod imp {
    use super::{sleep_instead, FutexWait};
    use std::sync::atomic::{AtomicU32, Ordering};
    use std::time::Duration;

    pub(super) fn wait(word: &AtomicU32, expected: u32, timeout: Option<Duration>) -> FutexWait {
        if word.load(Ordering::Acquire) != expected {
            return FutexWait::ValueChanged;
        }
        sleep_instead(timeout)
    }

    pub(super) fn wake(_word: &AtomicU32, _count: i32) -> usize {
        0
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::Ordering;
    use std::sync::Arc;
    use std::time::Instant;

    #[test]
    fn wait_returns_value_changed_when_the_word_differs() {
        let word = AtomicU32::new(1);
        assert_eq!(
            futex_wait(&word, 2, Some(Duration::from_secs(5))),
            FutexWait::ValueChanged
        );
    }

    #[test]
    fn wait_times_out() {
        let word = AtomicU32::new(0);
        let start = Instant::now();
        assert_eq!(
            futex_wait(&word, 0, Some(Duration::from_millis(5))),
            FutexWait::TimedOut
        );
        assert!(start.elapsed() >= Duration::from_millis(5));
    }

    #[test]
    fn wake_with_no_waiter_wakes_nobody() {
        let word = AtomicU32::new(0);
        assert_eq!(futex_wake(&word, i32::MAX), 0);
    }

    #[cfg(target_os = "linux")]
    #[test]
    fn wake_reaches_a_waiting_thread() {
        let word = Arc::new(AtomicU32::new(0));
        let sleeper = {
            let word = Arc::clone(&word);
            std::thread::spawn(move || {
                // Bounded: the test fails instead of hanging if no wake comes.
                let deadline = Instant::now() + Duration::from_secs(10);
                while word.load(Ordering::Acquire) == 0 && Instant::now() < deadline {
                    futex_wait(&word, 0, Some(Duration::from_secs(1)));
                }
                word.load(Ordering::Acquire)
            })
        };
        // Keep waking until the sleeper has been woken by a wake, not by its
        // own timeout: `futex_wake` reports how many it woke.
        let deadline = Instant::now() + Duration::from_secs(10);
        let mut woken = 0;
        while woken == 0 && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(1));
            woken = futex_wake(&word, i32::MAX);
        }
        word.store(1, Ordering::Release);
        futex_wake(&word, i32::MAX);
        assert_eq!(
            woken, 1,
            "the sleeping thread was never found by futex_wake"
        );
        assert_eq!(sleeper.join().expect("sleeper panicked"), 1);
    }
}
