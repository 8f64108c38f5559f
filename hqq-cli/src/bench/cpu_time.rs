//! CPU time consumed by the calling thread or the whole process.

use std::io;
use std::time::Duration;

use super::error::BenchError;

/// CPU time (user + system) the calling thread has used so far, from
/// `clock_gettime(CLOCK_THREAD_CPUTIME_ID)`.
pub fn thread_cpu_time() -> Result<Duration, BenchError> {
    cpu_clock(libc::CLOCK_THREAD_CPUTIME_ID)
}

/// CPU time (user + system) all threads of this process have used so far,
/// from `clock_gettime(CLOCK_PROCESS_CPUTIME_ID)`.
pub fn process_cpu_time() -> Result<Duration, BenchError> {
    cpu_clock(libc::CLOCK_PROCESS_CPUTIME_ID)
}

fn cpu_clock(clock: libc::clockid_t) -> Result<Duration, BenchError> {
    let mut now = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: `now` is a valid, writable `timespec` for the duration of the
    // call, and clock_gettime writes nothing else.
    let rc = unsafe { libc::clock_gettime(clock, &mut now) };
    if rc != 0 {
        return Err(BenchError::CpuClock(io::Error::last_os_error()));
    }
    let secs = u64::try_from(now.tv_sec).unwrap_or(0);
    let nanos = u32::try_from(now.tv_nsec).unwrap_or(0);
    Ok(Duration::new(secs, nanos))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn busy_work_consumes_cpu_time() {
        let before = thread_cpu_time().expect("thread CPU clock");
        let start = std::time::Instant::now();
        let mut x = 0u64;
        while start.elapsed() < Duration::from_millis(20) {
            x = std::hint::black_box(x.wrapping_add(1));
        }
        let after = thread_cpu_time().expect("thread CPU clock");
        assert!(after > before, "{before:?} -> {after:?}");
    }
}
