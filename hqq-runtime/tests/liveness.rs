//! Liveness across processes: a child registers in a segment's process
//! table and is killed with SIGKILL; the survivor sees it gone, proven by
//! the kernel dropping the child's locks. A live child whose table entry
//! names a pid `/proc` cannot show (hidepid, another user, another pid
//! namespace, or a rewritten table) is never declared dead, and its claim
//! is never touched.

mod support;

use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use hqq_runtime::extension::PROCESS_TABLE_LEN;
use hqq_runtime::link::{LinkConfig, LinkRecvError, StandardLink};
use hqq_runtime::liveness::{peer_liveness, register, LockProbe, PeerLiveness, ProcessRecord};
use hqq_runtime::ring::RecoveredClaims;
use hqq_runtime::segment::{Segment, SegmentOptions};
use hqq_runtime::{Layout, LinkMemory, Role};
use support::{child_env, unique_segment_name, Child};

const WATCHDOG: Duration = Duration::from_secs(30);

fn layout() -> Layout {
    Layout::new(4, 64).expect("valid layout")
}

fn open_link(segment: &Segment) -> LinkMemory {
    support::open_link_memory(segment, layout())
}

/// Child half: registers as a secondary, then waits to be killed.
#[test]
fn child_registers_and_waits() {
    let Some(env) = child_env("child_registers_and_waits") else {
        return;
    };
    let segment = Segment::open(&env.var("HQQ_SEGMENT"), layout().total_size()).expect("open");
    let link = open_link(&segment);
    let ext = link
        .extension()
        .expect("a Rust primary writes the extension");
    let registration = register(ext, &segment, link.role()).expect("register");
    env.report("index", registration.index());
    // The parent kills us long before this ends.
    std::thread::sleep(Duration::from_secs(20));
}

#[test]
fn killed_peer_reads_as_gone_and_its_entry_is_reclaimed() {
    let name = unique_segment_name("liveness");
    let segment =
        Segment::create(&name, layout().total_size(), &SegmentOptions::new()).expect("create");
    let link = open_link(&segment);
    assert_eq!(link.role(), Role::Primary);
    let ext = link.extension().expect("we wrote the extension");
    let probe = LockProbe::of_segment(&segment).expect("a named segment has a file");
    let me = register(ext, &segment, Role::Primary).expect("register primary");
    let peer = || peer_liveness(Some(ext), Some(&probe), Role::Primary, Some(me.index()));
    assert_eq!(peer(), PeerLiveness::Unknown, "no secondary yet");

    let mut child = Child::spawn("child_registers_and_waits", &[("HQQ_SEGMENT", &name)]);
    let deadline = Instant::now() + WATCHDOG;
    while peer() != PeerLiveness::Alive {
        assert!(Instant::now() < deadline, "the child never registered");
        std::thread::sleep(Duration::from_millis(1));
    }

    let killed = child.sigkill();
    // The child is a zombie until `wait` reaps it: it must already read as dead.
    while peer() != PeerLiveness::Gone {
        assert!(
            killed.elapsed() < WATCHDOG,
            "the killed child still reads alive"
        );
        std::thread::sleep(Duration::from_millis(1));
    }
    println!("gone detected {:?} after SIGKILL", killed.elapsed());
    let output = child.wait(WATCHDOG);
    assert!(output.status.is_some_and(|s| !s.success()), "{output}");

    // The dead child's entry is reused once the table has no free entry left.
    let mut registrations = vec![me];
    // Us, the dead child, and 14 more fill the table.
    for _ in 2..PROCESS_TABLE_LEN {
        registrations.push(register(ext, &segment, Role::Secondary).expect("free entries remain"));
    }
    let reclaimed = register(ext, &segment, Role::Secondary).expect("the dead entry is reclaimed");
    let record = ProcessRecord::load(ext.process(reclaimed.index()).expect("in table"));
    assert_eq!(record.pid, u64::from(std::process::id()));
    assert!(
        register(ext, &segment, Role::Secondary).is_err(),
        "table is full now"
    );

    registrations.push(reclaimed);
    for registration in registrations {
        registration.deregister(ext);
    }
    assert!(ext
        .processes()
        .iter()
        .all(|entry| !ProcessRecord::load(entry).is_used()));
}

fn link_config() -> LinkConfig {
    support::link_config(4, 64)
}

/// Child half: joins the link, reserves a send slot and holds it until
/// killed.
#[test]
fn child_holds_a_send_claim() {
    let Some(env) = child_env("child_holds_a_send_claim") else {
        return;
    };
    let link = StandardLink::open(&env.var("HQQ_SEGMENT"), &link_config()).expect("open");
    let held = link.reserve_send().expect("reserve");
    env.report("index", link.registration().expect("registered").index());
    std::thread::sleep(WATCHDOG);
    drop(held);
}

/// A pid below the kernel's limit that names no process now (what a live
/// process of another user looks like under `hidepid=2`).
fn invisible_pid() -> u64 {
    (4_000_000..4_194_303)
        .find(|pid| !std::path::Path::new(&format!("/proc/{pid}")).exists())
        .expect("some pid is free")
}

#[test]
fn a_live_claimant_that_proc_cannot_show_is_not_dead_and_keeps_its_claim() {
    let name = unique_segment_name("liveness-hidden");
    let survivor = StandardLink::create(&name, &link_config()).expect("create");
    survivor.set_read_timeout(Some(Duration::from_millis(50)));
    let mut child = Child::spawn("child_holds_a_send_claim", &[("HQQ_SEGMENT", &name)]);
    let ext = survivor.memory().extension().expect("extension block");
    let deadline = Instant::now() + WATCHDOG;
    let index = loop {
        let found = ext.processes().iter().position(|entry| {
            entry.pid.load(Ordering::Acquire) == u64::from(child.id())
                && entry.send_claim.load(Ordering::Acquire) >> 63 == 1
        });
        if let Some(index) = found {
            break index;
        }
        assert!(Instant::now() < deadline, "the child never claimed");
        std::thread::sleep(Duration::from_millis(1));
    };
    // Hide the child from /proc as far as the table can tell.
    let entry = ext.process(index).expect("entry");
    entry.pid.store(invisible_pid(), Ordering::Release);
    entry.pid_namespace.store(0, Ordering::Relaxed);

    assert_eq!(survivor.peer_liveness(), PeerLiveness::Alive);
    assert_eq!(survivor.recover_dead_claims(), RecoveredClaims::default());
    let mut buf = [0u8; 64];
    // A blocked receive (several liveness intervals) neither gives up on
    // the peer nor repairs its live claim.
    assert!(matches!(
        survivor.recv(&mut buf),
        Err(LinkRecvError::TimedOut)
    ));
    assert_eq!(
        entry.send_claim.load(Ordering::Acquire) >> 63,
        1,
        "the live claim was not touched"
    );

    let killed = child.sigkill();
    survivor.set_read_timeout(Some(WATCHDOG));
    // Now the claim is completed (a tombstone, skipped) and the peer gone.
    assert!(matches!(
        survivor.recv(&mut buf),
        Err(LinkRecvError::PeerGone)
    ));
    println!(
        "hidden claimant: PeerGone {:?} after SIGKILL",
        killed.elapsed()
    );
    assert_eq!(survivor.stats().rx.tombstones, 1);
    let output = child.wait(WATCHDOG);
    assert!(output.status.is_some_and(|s| !s.success()), "{output}");
}

#[test]
fn no_extension_block_reads_as_unknown() {
    assert_eq!(
        peer_liveness(None, None, Role::Secondary, None),
        PeerLiveness::Unknown
    );
}
