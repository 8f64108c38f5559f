//! A waiter killed while parked leaves no trace: its process-table entry
//! records its park, and once the kernel's locks prove it dead a survivor
//! withdraws it from the shared waiters word, so the survivor's sends stop
//! paying a `futex_wake` each.

mod support;

use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use hqq_runtime::layout::Direction;
use hqq_runtime::link::{LinkConfig, StandardLink};
use support::{child_env, unique_segment_name, Child};

const WATCHDOG: Duration = Duration::from_secs(30);

fn config() -> LinkConfig {
    support::link_config(512, 64)
}

/// Child half: joins the link and parks in a receive until killed.
#[test]
fn child_parks_in_a_receive() {
    let Some(env) = child_env("child_parks_in_a_receive") else {
        return;
    };
    let link = StandardLink::open(&env.var("HQQ_SEGMENT"), &config()).expect("open");
    let mut buf = [0u8; 64];
    let _ = link.recv_timeout(&mut buf, WATCHDOG);
}

#[test]
fn a_waiter_killed_while_parked_stops_costing_wake_calls() {
    let name = unique_segment_name("waiters-killed");
    let survivor = StandardLink::create(&name, &config()).expect("create");
    let mut child = Child::spawn("child_parks_in_a_receive", &[("HQQ_SEGMENT", &name)]);
    let ext = survivor.memory().extension().expect("extension block");
    let waiters = ext.data_waiters(Direction::PrimaryToSecondary);
    let deadline = Instant::now() + WATCHDOG;
    // Parked: counted in the shared word and in its own entry.
    while waiters.load(Ordering::Acquire) == 0
        || !ext.processes().iter().any(|e| {
            e.pid.load(Ordering::Acquire) == u64::from(child.id())
                && e.waits.load(Ordering::Acquire) != 0
        })
    {
        assert!(Instant::now() < deadline, "the child never parked");
        std::thread::sleep(Duration::from_millis(1));
    }
    child.sigkill();
    let output = child.wait(WATCHDOG);
    assert!(output.status.is_some_and(|s| !s.success()), "{output}");
    assert_eq!(
        waiters.load(Ordering::Acquire),
        1,
        "the dead waiter's count stays"
    );

    let send = |count: u32| {
        for i in 0..count {
            survivor
                .try_send(&i.to_le_bytes())
                .expect("room in 512 slots");
        }
    };
    send(200);
    let woken = survivor.stats().tx.wakes;
    assert!(woken >= 1, "the first send found the dead waiter counted");
    assert!(woken < 200, "every send paid a wake call: {woken}");
    assert_eq!(
        waiters.load(Ordering::Acquire),
        0,
        "the dead waiter was withdrawn"
    );
    send(100);
    assert_eq!(
        survivor.stats().tx.wakes,
        woken,
        "later sends make no wake call"
    );
    println!("wake calls after the kill: {woken} (then none in 100 sends)");
}
