//! What a blocked waiter costs: idle CPU while nothing arrives, and how soon
//! a notify wakes it. Both print their figures (run with `--nocapture`);
//! only a generous functional bound (no busy loop) is asserted.

use std::sync::atomic::{AtomicBool, AtomicU32, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use hqq_runtime::segment::Segment;
use hqq_runtime::wait::{EventCount, WaitPolicy, WaitTimeout, Waiter};

/// CPU time consumed so far by the calling thread.
fn thread_cpu_time() -> Duration {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: `ts` is a valid, writable timespec for the duration of the call.
    let rc = unsafe { libc::clock_gettime(libc::CLOCK_THREAD_CPUTIME_ID, &mut ts) };
    assert_eq!(rc, 0, "clock_gettime failed");
    Duration::new(
        u64::try_from(ts.tv_sec).unwrap_or(0),
        u32::try_from(ts.tv_nsec).unwrap_or(0),
    )
}

/// Blocks a waiter for 2 s with nothing arriving and reports the CPU time
/// its thread used.
fn measure_idle_cpu(label: &str, policy: WaitPolicy) {
    let segment = Segment::anonymous(4096).expect("anonymous segment");
    let event = EventCount::new(
        segment.atomic_u32(0).unwrap(),
        segment.atomic_u32(4).unwrap(),
    );
    let idle = Duration::from_secs(2);

    let cpu_before = thread_cpu_time();
    let start = Instant::now();
    let mut waiter = Waiter::with_policy(event, Some(start + idle), policy);
    // Nothing ever arrives: the loop ends when the deadline passes.
    let result = loop {
        if let Err(timeout) = waiter.wait(|| true) {
            break timeout;
        }
    };
    let wall = start.elapsed();
    let cpu = thread_cpu_time() - cpu_before;

    assert_eq!(result, WaitTimeout);
    let share = cpu.as_secs_f64() / wall.as_secs_f64();
    let stats = waiter.stats();
    println!(
        "idle CPU ({label}): {:.3}% of one core over {:.2} s ({} us CPU; {} parks, {} timed out)",
        share * 100.0,
        wall.as_secs_f64(),
        cpu.as_micros(),
        stats.parks,
        stats.park_timeouts
    );
    assert!(wall >= idle, "returned before the deadline");
    assert!(
        share < 0.10,
        "a blocked waiter is busy-looping: {share:.3} of a core"
    );
}

#[test]
fn idle_waiter_uses_almost_no_cpu() {
    measure_idle_cpu("default policy, peer may never notify", WaitPolicy::DEFAULT);
}

#[test]
fn idle_waiter_with_a_notifying_peer_uses_almost_no_cpu() {
    measure_idle_cpu("notifying-peer policy", WaitPolicy::NOTIFYING_PEER);
}

#[test]
fn notify_wakes_a_parked_thread_promptly() {
    let (seq, waiters) = (AtomicU32::new(0), AtomicU32::new(0));
    let event = EventCount::new(&seq, &waiters);
    let ready = AtomicBool::new(false);
    let origin = Instant::now();
    let notified_at_ns = AtomicU64::new(0);
    let rounds = 200;
    let mut latencies = Vec::with_capacity(rounds);
    let mut woken_by_syscall = 0;

    std::thread::scope(|s| {
        let notifier = s.spawn(|| {
            let mut syscalls = 0;
            for _ in 0..rounds {
                // Wait (bounded) until the waiter is parked or about to park.
                let deadline = Instant::now() + Duration::from_secs(10);
                while (waiters.load(Ordering::Relaxed) == 0 || ready.load(Ordering::Acquire))
                    && Instant::now() < deadline
                {
                    std::thread::yield_now();
                }
                std::thread::sleep(Duration::from_micros(200));
                let now = origin.elapsed().as_nanos() as u64;
                // Release: pairs with the waiter's Acquire load below.
                notified_at_ns.store(now, Ordering::Release);
                // Release: pairs with the waiter's Acquire loads of `ready`.
                ready.store(true, Ordering::Release);
                syscalls += usize::from(event.notify());
            }
            syscalls
        });
        for _ in 0..rounds {
            let mut waiter = Waiter::new(event, Some(Instant::now() + Duration::from_secs(10)));
            while !ready.load(Ordering::Acquire) {
                waiter
                    .wait(|| !ready.load(Ordering::Acquire))
                    .expect("never woken");
            }
            let woke = origin.elapsed().as_nanos() as u64;
            latencies.push(woke.saturating_sub(notified_at_ns.load(Ordering::Acquire)));
            ready.store(false, Ordering::Release);
        }
        woken_by_syscall = notifier.join().expect("notifier panicked");
    });

    latencies.sort_unstable();
    let at = |q: f64| latencies[((latencies.len() - 1) as f64 * q) as usize] as f64 / 1e3;
    println!(
        "wake latency over {rounds} parks: median {:.1} us, p90 {:.1} us, max {:.1} us ({woken_by_syscall} wake syscalls)",
        at(0.5),
        at(0.9),
        at(1.0)
    );
    assert_eq!(latencies.len(), rounds);
}
