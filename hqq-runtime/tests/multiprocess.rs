//! Cross-process waiting: a child process parks on a futex word in a named
//! segment and the parent wakes it, and a child that nobody wakes times out.
//! Also checks the child-process harness itself (watchdog, unknown roles).

mod support;

use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use hqq_runtime::futex::{futex_wait, FutexWait};
use hqq_runtime::segment::{Segment, SegmentOptions};
use hqq_runtime::wait::{EventCount, WaitPolicy, WaitTimeout, Waiter};
use support::{child_env, unique_segment_name, Child};

/// Test-only placement of the words (the real ones are in the superblock's
/// extension block).
const SEQ: usize = 64;
const WAITERS: usize = 68;
const FLAG: usize = 72;
const NOTIFIED_AT_NS: usize = 80;
const SEGMENT_LEN: usize = 4096;

/// The watchdog for every child in this file.
const WATCHDOG: Duration = Duration::from_secs(30);

struct Words<'a> {
    event: EventCount<'a>,
    waiters: &'a AtomicU32,
    flag: &'a AtomicU32,
    notified_at_ns: &'a AtomicU64,
}

fn words(segment: &Segment) -> Words<'_> {
    let word = |offset| segment.atomic_u32(offset).expect("word in bounds");
    Words {
        event: EventCount::new(word(SEQ), word(WAITERS)),
        waiters: word(WAITERS),
        flag: word(FLAG),
        notified_at_ns: segment.atomic_u64(NOTIFIED_AT_NS).expect("word in bounds"),
    }
}

/// `CLOCK_MONOTONIC` in nanoseconds: the same clock in every process.
fn monotonic_ns() -> u64 {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: `ts` is a valid, writable timespec for the duration of the call.
    let rc = unsafe { libc::clock_gettime(libc::CLOCK_MONOTONIC, &mut ts) };
    assert_eq!(rc, 0, "clock_gettime failed");
    u64::try_from(ts.tv_sec).unwrap_or(0) * 1_000_000_000 + u64::try_from(ts.tv_nsec).unwrap_or(0)
}

/// Child half of `parent_wakes_a_parked_child`.
#[test]
fn child_parks_until_woken() {
    let Some(env) = child_env("child_parks_until_woken") else {
        return;
    };
    let segment = Segment::open(&env.var("HQQ_SEGMENT"), SEGMENT_LEN).expect("open segment");
    let w = words(&segment);
    // Park slices longer than the parent's patience: only a futex wake from
    // the parent ends the park without a park timeout.
    let long = Duration::from_secs(10);
    let policy = WaitPolicy {
        park_slice: long,
        idle_park_slice: long,
        ..WaitPolicy::DEFAULT
    };
    let mut waiter = Waiter::with_policy(w.event, Some(Instant::now() + long), policy);
    while w.flag.load(Ordering::Acquire) == 0 {
        waiter
            .wait(|| w.flag.load(Ordering::Acquire) == 0)
            .expect("never woken before the deadline");
    }
    let woke_at = monotonic_ns();
    // Acquire: pairs with the parent's Release store of the timestamp.
    let notified_at = w.notified_at_ns.load(Ordering::Acquire);
    let stats = waiter.stats();
    env.report("wake_latency_ns", woke_at.saturating_sub(notified_at));
    env.report("parks", stats.parks);
    env.report("park_timeouts", stats.park_timeouts);
}

#[test]
fn parent_wakes_a_parked_child() {
    let name = unique_segment_name("wake");
    let segment = Segment::create(&name, SEGMENT_LEN, &SegmentOptions::new()).expect("create");
    let w = words(&segment);
    let child = Child::spawn("child_parks_until_woken", &[("HQQ_SEGMENT", &name)]);

    // Wait (bounded) until the child registered as a waiter, then give it a
    // moment to fall asleep in the kernel.
    let deadline = Instant::now() + WATCHDOG;
    while w.waiters.load(Ordering::Relaxed) == 0 && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(1));
    }
    assert_ne!(w.waiters.load(Ordering::Relaxed), 0, "child never parked");
    std::thread::sleep(Duration::from_millis(50));

    // Release: pairs with the child's Acquire load of the timestamp.
    w.notified_at_ns.store(monotonic_ns(), Ordering::Release);
    // Release: pairs with the child's Acquire loads of the flag.
    w.flag.store(1, Ordering::Release);
    let syscall = w.event.notify();

    let output = child.wait(WATCHDOG);
    output.assert_success();
    let park_timeouts: u64 = output.report("park_timeouts");
    let parks: u64 = output.report("parks");
    let latency_ns: u64 = output.report("wake_latency_ns");
    println!(
        "cross-process wake: {:.1} us from notify to the child running (parks {parks}, wake syscall {syscall})",
        latency_ns as f64 / 1e3
    );
    assert_eq!(
        park_timeouts, 0,
        "the child's park ran out instead of being woken by the parent\n{output}"
    );
}

/// Child half of `unwoken_child_times_out`.
#[test]
fn child_waits_unwoken() {
    let Some(env) = child_env("child_waits_unwoken") else {
        return;
    };
    let segment = Segment::open(&env.var("HQQ_SEGMENT"), SEGMENT_LEN).expect("open segment");
    let w = words(&segment);

    let seq = segment.atomic_u32(SEQ).expect("word in bounds");
    let outcome = futex_wait(
        seq,
        seq.load(Ordering::Acquire),
        Some(Duration::from_millis(20)),
    );
    assert_eq!(outcome, FutexWait::TimedOut);

    let start = Instant::now();
    let mut waiter = Waiter::new(w.event, Some(start + Duration::from_millis(100)));
    // Bounded by the waiter's deadline; the cap on rounds only guards
    // against a waiter that ignores it.
    let mut result = Ok(());
    for _ in 0..1_000_000 {
        result = waiter.wait(|| true);
        if result.is_err() {
            break;
        }
    }
    assert_eq!(result, Err(WaitTimeout));
    let stats = waiter.stats();
    assert!(stats.parks > 0, "{stats:?}");
    env.report("elapsed_us", start.elapsed().as_micros());
    env.report("parks", stats.parks);
    env.report("park_timeouts", stats.park_timeouts);
}

#[test]
fn unwoken_child_times_out() {
    let name = unique_segment_name("unwoken");
    let _segment = Segment::create(&name, SEGMENT_LEN, &SegmentOptions::new()).expect("create");
    let output = Child::spawn("child_waits_unwoken", &[("HQQ_SEGMENT", &name)]).wait(WATCHDOG);
    output.assert_success();
    let parks: u64 = output.report("parks");
    let park_timeouts: u64 = output.report("park_timeouts");
    let elapsed_us: u64 = output.report("elapsed_us");
    println!(
        "unwoken child: 100 ms deadline met after {:.1} ms, {parks} parks, {park_timeouts} timed out",
        elapsed_us as f64 / 1e3
    );
    assert_eq!(parks, park_timeouts, "nobody woke the child");
}

/// A child that would hang; only the watchdog ends it.
#[test]
fn child_hangs() {
    let Some(_env) = child_env("child_hangs") else {
        return;
    };
    std::thread::sleep(Duration::from_secs(120));
}

#[test]
fn watchdog_kills_a_hanging_child() {
    let child = Child::spawn("child_hangs", &[]);
    let pid = child.id();
    let verdict = catch_unwind(AssertUnwindSafe(|| child.wait(Duration::from_millis(300))));
    let message = verdict.expect_err("the watchdog must fail the test");
    let text = message
        .downcast_ref::<String>()
        .cloned()
        .unwrap_or_default();
    assert!(text.contains("watchdog"), "{text}");
    assert!(
        !std::path::Path::new(&format!("/proc/{pid}")).exists(),
        "the child was not killed and reaped"
    );
}

#[test]
fn a_role_that_does_not_exist_is_reported() {
    let output = Child::spawn("no_such_role", &[]).wait(WATCHDOG);
    let verdict = catch_unwind(AssertUnwindSafe(|| output.assert_success()));
    assert!(verdict.is_err(), "a child that ran nothing passed");
}
