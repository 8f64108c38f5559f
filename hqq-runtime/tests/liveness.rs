//! Liveness across processes: a child registers in a segment's process
//! table and is killed with SIGKILL; the survivor sees it gone.

mod support;

use std::time::{Duration, Instant};

use hqq_runtime::extension::PROCESS_TABLE_LEN;
use hqq_runtime::liveness::{peer_liveness, register, PeerLiveness, ProcessRecord};
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
    let registration = register(ext, link.role()).expect("register");
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
    let me = register(ext, Role::Primary).expect("register primary");
    assert_eq!(
        peer_liveness(Some(ext), Role::Primary, Some(&me)),
        PeerLiveness::Unknown,
        "no secondary yet"
    );

    let child = Child::spawn("child_registers_and_waits", &[("HQQ_SEGMENT", &name)]);
    let deadline = Instant::now() + WATCHDOG;
    while peer_liveness(Some(ext), Role::Primary, Some(&me)) != PeerLiveness::Alive {
        assert!(Instant::now() < deadline, "the child never registered");
        std::thread::sleep(Duration::from_millis(1));
    }

    let pid = libc::pid_t::try_from(child.id()).expect("pid fits");
    // SAFETY: kill has no memory effects; `pid` is our own unreaped child.
    assert_eq!(unsafe { libc::kill(pid, libc::SIGKILL) }, 0);
    let killed = Instant::now();
    // The child is a zombie until `wait` reaps it: it must already read as dead.
    while peer_liveness(Some(ext), Role::Primary, Some(&me)) != PeerLiveness::Gone {
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
        registrations.push(register(ext, Role::Secondary).expect("free entries remain"));
    }
    let reclaimed = register(ext, Role::Secondary).expect("the dead entry is reclaimed");
    let record = ProcessRecord::load(ext.process(reclaimed.index()).expect("in table"));
    assert_eq!(record.pid, u64::from(std::process::id()));
    assert!(register(ext, Role::Secondary).is_err(), "table is full now");

    registrations.push(reclaimed);
    for registration in registrations {
        registration.deregister(ext);
    }
    assert!(ext
        .processes()
        .iter()
        .all(|entry| !ProcessRecord::load(entry).is_used()));
}

#[test]
fn no_extension_block_reads_as_unknown() {
    assert_eq!(
        peer_liveness(None, Role::Secondary, None),
        PeerLiveness::Unknown
    );
}
