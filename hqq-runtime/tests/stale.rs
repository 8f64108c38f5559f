//! Stale segments: a segment whose registered processes are all dead is
//! listed as such and can be reclaimed on request, never silently; live and
//! unregistered (Go-style) segments are never reclaimed.

mod support;

use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use hqq_runtime::liveness::{register, ProcessStatus};
use hqq_runtime::segment::{
    inspect_segment, list_hqq_segments, Segment, SegmentCreateError, SegmentOptions, SegmentOwner,
};
use hqq_runtime::superblock::SUPERBLOCK_MAGIC;
use hqq_runtime::{Layout, LinkMemory};
use support::{child_env, unique_segment_name, Child};

const WATCHDOG: Duration = Duration::from_secs(30);

fn layout() -> Layout {
    Layout::new(4, 64).expect("valid layout")
}

fn open_link(segment: &Segment) -> LinkMemory {
    support::open_link_memory(segment, layout())
}

fn keep() -> SegmentOptions {
    let mut options = SegmentOptions::new();
    options.keep_on_drop(true);
    options
}

fn reclaiming() -> SegmentOptions {
    let mut options = SegmentOptions::new();
    options.reclaim_stale(true);
    options
}

/// Child half: creates the segment, keeps its name, registers, waits.
#[test]
fn child_owns_a_segment() {
    let Some(env) = child_env("child_owns_a_segment") else {
        return;
    };
    let segment =
        Segment::create(&env.var("HQQ_SEGMENT"), layout().total_size(), &keep()).expect("create");
    let link = open_link(&segment);
    let ext = link.extension().expect("extension written");
    let _me = register(ext, &segment, link.role()).expect("register");
    env.report("registered", 1);
    std::thread::sleep(Duration::from_secs(20));
}

#[test]
fn a_killed_owners_segment_is_listed_dead_and_reclaimed_on_request() {
    let name = unique_segment_name("stale");
    let child = Child::spawn("child_owns_a_segment", &[("HQQ_SEGMENT", &name)]);
    let deadline = Instant::now() + WATCHDOG;
    loop {
        let info = inspect_segment(&name);
        if info.is_ok_and(|i| i.owner == SegmentOwner::Alive) {
            break;
        }
        assert!(Instant::now() < deadline, "the child never registered");
        std::thread::sleep(Duration::from_millis(2));
    }
    let pid = libc::pid_t::try_from(child.id()).expect("pid fits");
    // SAFETY: kill has no memory effects; `pid` is our own unreaped child.
    assert_eq!(unsafe { libc::kill(pid, libc::SIGKILL) }, 0);
    let output = child.wait(WATCHDOG);
    assert!(output.status.is_some_and(|s| !s.success()), "{output}");

    let info = inspect_segment(&name).expect("the name outlives its owner");
    assert!(info.is_hqq && info.has_extension, "{info:?}");
    assert_eq!(info.owner, SegmentOwner::Dead, "{info:?}");
    assert_eq!(info.processes.len(), 1);
    assert_eq!(info.processes[0].2, ProcessStatus::Dead);
    assert_eq!(info.processes[0].1.pid, u64::from(output_pid(pid)));
    let listed = list_hqq_segments().expect("list /dev/shm");
    assert!(
        listed
            .iter()
            .any(|i| i.name == name && i.owner == SegmentOwner::Dead),
        "{listed:?}"
    );

    // Never silently: without the option the name is still taken.
    let len = layout().total_size();
    assert!(matches!(
        Segment::create(&name, len, &SegmentOptions::new()),
        Err(SegmentCreateError::AlreadyExists { .. })
    ));
    let fresh = Segment::create(&name, len, &reclaiming()).expect("reclaim");
    let state = fresh.atomic_u64(8).expect("state word");
    assert_eq!(
        fresh.atomic_u64(0).expect("magic").load(Ordering::Relaxed),
        0
    );
    assert_eq!(state.load(Ordering::Relaxed), 0, "a new, empty segment");
    let link = open_link(&fresh);
    assert_eq!(link.role(), hqq_runtime::Role::Primary);
}

fn output_pid(pid: libc::pid_t) -> u32 {
    u32::try_from(pid).expect("positive pid")
}

#[test]
fn a_live_owners_segment_is_not_reclaimed() {
    let name = unique_segment_name("stale-live");
    let len = layout().total_size();
    let segment = Segment::create(&name, len, &SegmentOptions::new()).expect("create");
    let link = open_link(&segment);
    let me =
        register(link.extension().expect("extension"), &segment, link.role()).expect("register");
    assert_eq!(
        inspect_segment(&name).expect("inspect").owner,
        SegmentOwner::Alive
    );
    assert!(matches!(
        Segment::create(&name, len, &reclaiming()),
        Err(SegmentCreateError::AlreadyExists { .. })
    ));
    me.deregister(link.extension().expect("extension"));
}

#[test]
fn an_unregistered_segment_is_never_reclaimed() {
    // What a Go primary leaves behind: a superblock, no extension block.
    let name = unique_segment_name("stale-go");
    let len = layout().total_size();
    let segment = Segment::create(&name, len, &SegmentOptions::new()).expect("create");
    segment
        .atomic_u64(0)
        .expect("magic word")
        .store(SUPERBLOCK_MAGIC, Ordering::Release);
    let info = inspect_segment(&name).expect("inspect");
    assert!(info.is_hqq && !info.has_extension);
    assert_eq!(info.owner, SegmentOwner::Unknown);
    assert!(matches!(
        Segment::create(&name, len, &reclaiming()),
        Err(SegmentCreateError::AlreadyExists { .. })
    ));
}
