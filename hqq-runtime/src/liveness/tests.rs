use std::ptr::NonNull;

use super::*;
use crate::layout::Direction;

/// An anonymous segment with an initialized extension block.
struct Table {
    segment: Segment,
}

impl Table {
    fn new() -> Table {
        let table = Table {
            segment: Segment::anonymous(4096).expect("memfd"),
        };
        table.ext().initialize();
        table
    }

    fn ext(&self) -> &ExtensionBlock {
        let page = NonNull::new(self.segment.as_ptr()).expect("mapped");
        // SAFETY: one page-aligned page that lives as long as `self`; this
        // test touches bytes 64..1664 only through the block's atomics.
        unsafe { ExtensionBlock::at(page) }
    }

    fn probe(&self) -> LockProbe<'_> {
        LockProbe::new(self.segment.file().expect("memfd file"))
    }

    fn status(&self, index: usize) -> ProcessStatus {
        entry_status(self.ext(), index, &self.probe())
    }

    fn peer_of(&self, role: Role) -> PeerLiveness {
        peer_liveness(Some(self.ext()), Some(&self.probe()), role, None)
    }
}

#[test]
fn parses_the_start_time_of_a_stat_line_with_parentheses_in_the_name() {
    let line = "1234 (a) b (c)) S 1 1234 1234 0 -1 4194560 100 0 0 0 1 2 0 0 20 0 1 0 987654 1000 200 18446744073709551615";
    assert_eq!(parse_start_time(line), Some(987654));
    assert_eq!(parse_start_time(""), None);
    assert_eq!(parse_start_time("1 (x) S 1 2"), None);
}

#[test]
fn a_registered_process_is_alive_until_its_locks_go() {
    let table = Table::new();
    let me = register(table.ext(), &table.segment, Role::Primary).expect("register");
    assert_eq!(table.status(me.index()), ProcessStatus::Alive);
    // Dropped without deregistering: as if the process had been killed.
    let index = me.index();
    drop(me);
    assert_eq!(table.status(index), ProcessStatus::Dead);
}

#[test]
fn a_pid_that_proc_cannot_show_does_not_make_a_live_entry_dead() {
    let table = Table::new();
    let me = register(table.ext(), &table.segment, Role::Secondary).expect("register");
    let entry = table.ext().process(me.index()).expect("entry");
    // As with hidepid=2, another user or another pid namespace: the pid
    // recorded is not one /proc shows us. Then garbage start time too.
    entry.pid.store(u64::from(u32::MAX), Ordering::Release);
    entry.start_time.store(7, Ordering::Relaxed);
    entry.pid_namespace.store(1, Ordering::Relaxed);
    assert_eq!(table.status(me.index()), ProcessStatus::Alive);
    assert_eq!(table.peer_of(Role::Primary), PeerLiveness::Alive);
}

#[test]
fn an_entry_without_a_lock_is_never_judged_dead() {
    let table = Table::new();
    let entry = table.ext().process(5).expect("entry");
    // An older runtime's entry (or garbage) naming a pid that does not exist.
    entry.flags.store(FLAG_SECONDARY, Ordering::Relaxed);
    entry.pid.store(u64::from(u32::MAX - 1), Ordering::Release);
    assert_eq!(table.status(5), ProcessStatus::Unknown);
    assert_eq!(table.peer_of(Role::Primary), PeerLiveness::Unknown);
    assert_eq!(table.status(6), ProcessStatus::Dead, "a free entry");
}

#[test]
fn peer_liveness_follows_the_role_lock_not_the_table() {
    let table = Table::new();
    assert_eq!(table.peer_of(Role::Primary), PeerLiveness::Unknown);
    let secondary = register(table.ext(), &table.segment, Role::Secondary).expect("register");
    assert_eq!(table.peer_of(Role::Primary), PeerLiveness::Alive);
    assert_eq!(table.peer_of(Role::Secondary), PeerLiveness::Unknown);

    // A hostile writer relabels the live secondary as a primary and adds a
    // dead secondary: the kernel still holds the secondary's role lock.
    let entry = table.ext().process(secondary.index()).expect("entry");
    entry
        .flags
        .store(FLAG_PRIMARY | FLAG_LOCKED, Ordering::Relaxed);
    let fake = table.ext().process(9).expect("entry");
    fake.flags
        .store(FLAG_SECONDARY | FLAG_LOCKED, Ordering::Relaxed);
    fake.pid.store(4242, Ordering::Release);
    assert_eq!(table.peer_of(Role::Primary), PeerLiveness::Alive);
    fake.pid.store(0, Ordering::Release);
    entry
        .flags
        .store(FLAG_SECONDARY | FLAG_LOCKED, Ordering::Relaxed);

    // A clean exit leaves nobody to mourn; a crash leaves a dead entry.
    secondary.deregister(table.ext());
    assert_eq!(table.peer_of(Role::Primary), PeerLiveness::Unknown);
    let crashed = register(table.ext(), &table.segment, Role::Secondary).expect("register");
    drop(crashed);
    assert_eq!(table.peer_of(Role::Primary), PeerLiveness::Gone);
}

#[test]
fn registration_takes_over_a_dead_entry_and_withdraws_its_waiters() {
    let table = Table::new();
    let ext = table.ext();
    let mut all = Vec::new();
    for _ in 0..PROCESS_TABLE_LEN {
        all.push(register(ext, &table.segment, Role::Secondary).expect("free entries"));
    }
    assert!(matches!(
        register(ext, &table.segment, Role::Secondary),
        Err(LivenessRegisterError::TableFull)
    ));
    // Entry 3's process parks twice on data of direction 1, then dies.
    let dead = all.remove(3);
    ext.data_waiters(Direction::SecondaryToPrimary)
        .store(2, Ordering::Relaxed);
    let entry = ext.process(3).expect("entry");
    entry.waits.store(2 << 32, Ordering::Relaxed);
    drop(dead);
    let newcomer = register(ext, &table.segment, Role::Primary).expect("the dead entry");
    assert_eq!(newcomer.index(), 3);
    assert_eq!(
        ext.data_waiters(Direction::SecondaryToPrimary)
            .load(Ordering::Relaxed),
        0
    );
    assert_eq!(entry.waits.load(Ordering::Relaxed), 0);
    let record = ProcessRecord::load(entry);
    assert_eq!(record.role(), Some(Role::Primary));
    assert_ne!(record.flags & FLAG_LOCKED, 0);
}

#[test]
fn dead_waiters_are_withdrawn_and_live_ones_kept() {
    let table = Table::new();
    let ext = table.ext();
    let live = register(ext, &table.segment, Role::Primary).expect("register");
    let doomed = register(ext, &table.segment, Role::Secondary).expect("register");
    let words = ext.space_waiters(Direction::PrimaryToSecondary);
    // One parked thread each, recorded in both entries.
    words.store(2, Ordering::Relaxed);
    for index in [live.index(), doomed.index()] {
        let entry = ext.process(index).expect("entry");
        entry.waits.store(1 << 16, Ordering::Relaxed);
    }
    let probe = table.probe();
    assert_eq!(clear_dead_waiters(ext, &probe, None), 0, "both alive");
    drop(doomed);
    assert_eq!(clear_dead_waiters(ext, &probe, None), 1);
    assert_eq!(words.load(Ordering::Relaxed), 1, "the live waiter stays");
    assert_eq!(clear_dead_waiters(ext, &probe, None), 0, "only once");
    // A peer that zeroed the shared word: the subtraction stops at zero.
    let again = register(ext, &table.segment, Role::Secondary).expect("register");
    let entry = ext.process(again.index()).expect("entry");
    entry.waits.store(5 << 16, Ordering::Relaxed);
    words.store(0, Ordering::Relaxed);
    drop(again);
    assert_eq!(clear_dead_waiters(ext, &probe, None), 5);
    assert_eq!(words.load(Ordering::Relaxed), 0);
}
