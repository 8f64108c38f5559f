//! Parked waiters that belong to a process: a waiter killed while parked
//! must not leave the shared `*_waiters` word of its event raised for good
//! (every later publish or release would pay a `futex_wake`).
//!
//! Besides the shared count, a registered process keeps in the `waits`
//! word of its own process-table entry how many of its threads are parked
//! on each of the four events, 16 bits each:
//!
//! ```text
//! bits  0..16  direction 0 (primary -> secondary), data_waiters
//! bits 16..32  direction 0, space_waiters
//! bits 32..48  direction 1 (secondary -> primary), data_waiters
//! bits 48..64  direction 1, space_waiters
//! ```
//!
//! A parking thread raises its field *after* announcing itself in the
//! shared word and lowers it *before* withdrawing from it, so the field
//! never counts more than the process really added: a process killed
//! between the two steps (a few instructions) leaves at most one waiter
//! behind, one killed while parked (the likely moment) leaves none once a
//! survivor proves it dead and withdraws its fields from the shared words
//! ([`clear_dead_waiters`]; registration does the same for the entry it
//! takes over). Both words are hints a peer can rewrite: subtraction
//! saturates at zero, and the worst outcome is a stuck count (extra wake
//! calls) or a lost wake-up that the waiter's park slice ends.

use std::sync::atomic::{AtomicU32, Ordering};

use super::{LockProbe, ProcessRecord, ProcessStatus};
use crate::extension::ExtensionBlock;
use crate::layout::Direction;
use crate::wait::WaiterRecord;

/// The four events, in field order.
const EVENTS: [(Direction, bool); 4] = [
    (Direction::PrimaryToSecondary, true),
    (Direction::PrimaryToSecondary, false),
    (Direction::SecondaryToPrimary, true),
    (Direction::SecondaryToPrimary, false),
];

/// Bit offset of the field of `direction`'s data (`data == true`) or space
/// event.
fn shift(direction: Direction, data: bool) -> u32 {
    let base = match direction {
        Direction::PrimaryToSecondary => 0,
        Direction::SecondaryToPrimary => 32,
    };
    if data {
        base
    } else {
        base + 16
    }
}

/// The shared waiters word of an event.
fn shared(ext: &ExtensionBlock, direction: Direction, data: bool) -> &AtomicU32 {
    if data {
        ext.data_waiters(direction)
    } else {
        ext.space_waiters(direction)
    }
}

/// Where the owner of entry `index` records its parks on `direction`'s
/// data or space event (`None` for an index outside the table).
pub(crate) fn waiter_record(
    ext: &ExtensionBlock,
    index: usize,
    direction: Direction,
    data: bool,
) -> Option<WaiterRecord<'_>> {
    let entry = ext.process(index)?;
    Some(WaiterRecord::new(&entry.waits, shift(direction, data)))
}

/// Subtracts `count` from `word`, stopping at zero; bounded, as a peer may
/// keep rewriting the word.
fn saturating_sub(word: &AtomicU32, count: u32) {
    let mut seen = word.load(Ordering::Relaxed);
    for _ in 0..64 {
        // Release: keeps the subtraction after whatever proved the death.
        match word.compare_exchange_weak(
            seen,
            seen.saturating_sub(count),
            Ordering::Release,
            Ordering::Relaxed,
        ) {
            Ok(_) => return,
            Err(now) => seen = now,
        }
    }
}

/// Withdraws the waiters recorded in `record` (a `waits` word taken from
/// an entry) from the shared words; returns how many.
fn withdraw(ext: &ExtensionBlock, record: u64) -> u32 {
    let mut total = 0;
    for (direction, data) in EVENTS {
        // A 16-bit field: the mask makes the cast exact.
        let count = ((record >> shift(direction, data)) & 0xFFFF) as u32;
        if count != 0 {
            saturating_sub(shared(ext, direction, data), count);
            total += count;
        }
    }
    total
}

/// Withdraws every waiter recorded in entry `index`, whose lock the caller
/// holds (so its previous owner is dead); returns how many.
pub(crate) fn withdraw_entry(ext: &ExtensionBlock, index: usize) -> u32 {
    ext.process(index).map_or(0, |entry| {
        withdraw(ext, entry.waits.swap(0, Ordering::AcqRel))
    })
}

/// Withdraws the parked waiters of every process in `ext`'s table that is
/// proven dead (skipping entry `me`, ours), so that notifiers stop waking
/// them. Probes only entries whose `waits` word is non-zero; returns how
/// many waiters were withdrawn.
pub fn clear_dead_waiters(ext: &ExtensionBlock, probe: &LockProbe<'_>, me: Option<usize>) -> u32 {
    let mut total = 0;
    for (index, entry) in ext.processes().iter().enumerate() {
        let recorded = entry.waits.load(Ordering::Acquire);
        if recorded == 0 || me == Some(index) {
            continue;
        }
        let generation = entry.heartbeat.load(Ordering::Acquire);
        let record = ProcessRecord::load(entry);
        if record.status(index, probe) != ProcessStatus::Dead
            || entry.heartbeat.load(Ordering::Acquire) != generation
        {
            continue;
        }
        // Only the value we saw: a newcomer that took the entry meanwhile
        // has zeroed it and counts its own parks from there.
        if entry
            .waits
            .compare_exchange(recorded, 0, Ordering::AcqRel, Ordering::Relaxed)
            .is_ok()
        {
            total += withdraw(ext, recorded);
        }
    }
    total
}
