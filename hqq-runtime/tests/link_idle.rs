//! Idle CPU of a receiver blocked on a silent link: a `recv_timeout(2 s)`
//! measured with `CLOCK_THREAD_CPUTIME_ID`. The figure is printed; only a
//! generous bound is asserted (it catches busy loops, not regressions,
//! which the benchmark tracks).

use std::time::Duration;

use hqq_runtime::link::{LinkConfig, LinkRecvError, StandardLink};
use hqq_runtime::wait::WaitPolicy;

fn thread_cpu_time() -> Duration {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: `ts` is a valid, writable timespec for the duration of the call.
    let rc = unsafe { libc::clock_gettime(libc::CLOCK_THREAD_CPUTIME_ID, &mut ts) };
    assert_eq!(rc, 0, "clock_gettime failed");
    Duration::new(ts.tv_sec as u64, ts.tv_nsec as u32)
}

/// `None`: the policy the segment chooses (ours has wake words).
fn idle_percent(policy: Option<WaitPolicy>) -> f64 {
    let mut config = LinkConfig::new();
    config.slots(4).buffer_size(64);
    if let Some(policy) = policy {
        config.wait_policy(policy);
    }
    let (_a, b) = StandardLink::pair(&config).unwrap();
    let wall = Duration::from_secs(2);
    let mut buf = [0u8; 64];
    let before = thread_cpu_time();
    let start = std::time::Instant::now();
    assert_eq!(b.recv_timeout(&mut buf, wall), Err(LinkRecvError::TimedOut));
    let cpu = thread_cpu_time() - before;
    let elapsed = start.elapsed();
    let stats = b.stats().rx;
    let percent = 100.0 * cpu.as_secs_f64() / elapsed.as_secs_f64();
    println!(
        "idle CPU: {percent:.3}% of one core ({cpu:?} over {elapsed:.2?}; {} waits, {} parks)",
        stats.waits, stats.parks
    );
    assert!(stats.parks > 0, "a blocked receive parks");
    percent
}

#[test]
fn blocked_receive_idle_cpu_automatic_policy() {
    let percent = idle_percent(None);
    assert!(percent < 10.0, "blocked receive is busy: {percent:.2}%");
}

#[test]
fn blocked_receive_idle_cpu_polling_policy() {
    let percent = idle_percent(Some(WaitPolicy::DEFAULT));
    assert!(percent < 10.0, "blocked receive is busy: {percent:.2}%");
}

#[test]
fn blocked_receive_idle_cpu_notifying_peer_policy() {
    let percent = idle_percent(Some(WaitPolicy::NOTIFYING_PEER));
    assert!(percent < 10.0, "blocked receive is busy: {percent:.2}%");
}
