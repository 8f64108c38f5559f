//! `futex_waitv` (Linux 5.16+, system call 449): one thread sleeps on up to
//! [`MAX_WORDS`] futex words at once, until any of them is woken, one of
//! them no longer holds its expected value, or a timeout.
//!
//! The words are *shared* futexes (no `FUTEX2_PRIVATE`), so a `futex_wake`
//! from another process that maps the same segment reaches the sleeper, as
//! with [`crate::futex`].

use std::sync::atomic::AtomicU32;
use std::time::Duration;

/// The kernel's limit on words per call.
pub(crate) const MAX_WORDS: usize = 128;

/// How a [`wait_any`] ended. Every outcome may be spurious: the caller
/// re-checks what it waits for whatever it says.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum WaitvOutcome {
    /// A word was woken, differed from its expected value, the timeout
    /// expired, or a signal interrupted the call.
    Returned,
    /// The kernel has no `futex_waitv` (or forbids it): the caller must
    /// fall back to waiting on a single word.
    Unsupported,
}

/// Sleeps while every `(word, expected)` pair still matches, at most
/// `timeout`. More than [`MAX_WORDS`] pairs is the caller's bug; only the
/// first `MAX_WORDS` are watched.
pub(crate) fn wait_any(words: &[(&AtomicU32, u32)], timeout: Duration) -> WaitvOutcome {
    imp::wait_any(words, timeout)
}

#[cfg(target_os = "linux")]
mod imp {
    use super::{WaitvOutcome, MAX_WORDS};
    use std::sync::atomic::AtomicU32;
    use std::time::Duration;

    /// `FUTEX2_SIZE_U32`: the words are 32 bits wide.
    const FUTEX2_SIZE_U32: u32 = 0x02;

    /// The kernel's `struct futex_waitv`.
    #[repr(C)]
    struct FutexWaitv {
        val: u64,
        uaddr: u64,
        flags: u32,
        reserved: u32,
    }

    pub(super) fn wait_any(words: &[(&AtomicU32, u32)], timeout: Duration) -> WaitvOutcome {
        let vector: Vec<FutexWaitv> = words
            .iter()
            .take(MAX_WORDS)
            .map(|(word, expected)| FutexWaitv {
                val: u64::from(*expected),
                uaddr: word.as_ptr() as u64,
                flags: FUTEX2_SIZE_U32,
                reserved: 0,
            })
            .collect();
        let Some(deadline) = absolute_monotonic(timeout) else {
            return WaitvOutcome::Unsupported;
        };
        // SAFETY: `vector` holds at most 128 valid `futex_waitv` entries,
        // each naming a live, 4-byte-aligned `u32` (we hold `&AtomicU32`s
        // for the whole call) that the kernel only reads atomically;
        // `deadline` is a valid `timespec` on our stack. Both outlive the
        // call. The call writes no user memory.
        let rc = unsafe {
            libc::syscall(
                libc::SYS_futex_waitv,
                vector.as_ptr(),
                vector.len() as libc::c_uint,
                0 as libc::c_uint,
                &deadline as *const libc::timespec,
                libc::CLOCK_MONOTONIC,
            )
        };
        if rc >= 0 {
            return WaitvOutcome::Returned;
        }
        match std::io::Error::last_os_error().raw_os_error() {
            Some(libc::EAGAIN | libc::ETIMEDOUT | libc::EINTR) => WaitvOutcome::Returned,
            // ENOSYS (an older kernel), EPERM (seccomp) or anything else.
            _ => WaitvOutcome::Unsupported,
        }
    }

    /// `timeout` from now on the monotonic clock, as the absolute
    /// `timespec` that `futex_waitv` takes.
    fn absolute_monotonic(timeout: Duration) -> Option<libc::timespec> {
        let mut now = libc::timespec {
            tv_sec: 0,
            tv_nsec: 0,
        };
        // SAFETY: `now` is a valid, writable `timespec` on our stack.
        if unsafe { libc::clock_gettime(libc::CLOCK_MONOTONIC, &mut now) } != 0 {
            return None;
        }
        let nanos = u64::try_from(now.tv_nsec).ok()? + u64::from(timeout.subsec_nanos());
        let secs = u64::try_from(now.tv_sec)
            .ok()?
            .checked_add(timeout.as_secs())?
            .checked_add(nanos / 1_000_000_000)?;
        Some(libc::timespec {
            tv_sec: libc::time_t::try_from(secs).ok()?,
            // Below 1e9, so it fits every target's `c_long`.
            tv_nsec: (nanos % 1_000_000_000) as libc::c_long,
        })
    }
}

#[cfg(not(target_os = "linux"))]
mod imp {
    use super::WaitvOutcome;
    use std::sync::atomic::AtomicU32;
    use std::time::Duration;

    pub(super) fn wait_any(_words: &[(&AtomicU32, u32)], _timeout: Duration) -> WaitvOutcome {
        WaitvOutcome::Unsupported
    }
}

#[cfg(all(test, target_os = "linux"))]
mod tests {
    use super::*;
    use crate::futex::futex_wake;
    use std::sync::atomic::Ordering;
    use std::time::Instant;

    #[test]
    fn returns_at_once_when_a_word_differs() {
        let (a, b) = (AtomicU32::new(1), AtomicU32::new(2));
        let start = Instant::now();
        let outcome = wait_any(&[(&a, 1), (&b, 3)], Duration::from_secs(10));
        assert_eq!(outcome, WaitvOutcome::Returned);
        assert!(start.elapsed() < Duration::from_secs(5));
    }

    #[test]
    fn a_wake_on_any_word_ends_the_wait() {
        let words = [AtomicU32::new(0), AtomicU32::new(0)];
        std::thread::scope(|s| {
            let sleeper = s.spawn(|| {
                let start = Instant::now();
                let outcome = wait_any(&[(&words[0], 0), (&words[1], 0)], Duration::from_secs(20));
                (outcome, start.elapsed())
            });
            // Bounded: wake the second word until the sleeper has been found.
            let deadline = Instant::now() + Duration::from_secs(10);
            while futex_wake(&words[1], 1) == 0 && Instant::now() < deadline {
                std::thread::sleep(Duration::from_millis(1));
            }
            words[1].store(1, Ordering::Release);
            let (outcome, _) = sleeper.join().expect("sleeper panicked");
            assert_eq!(outcome, WaitvOutcome::Returned);
        });
    }
}
