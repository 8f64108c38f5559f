//! Liveness: which processes are attached to a segment, and whether they
//! still run, proven by locks the kernel holds for them.
//!
//! # Proof of life
//!
//! Each process that opens a link registers ([`register`]): it opens its
//! own description of the segment file and takes two open-file-description
//! locks on bytes far past the end of the file (see [`locks`]): a shared
//! lock on the byte of its [`Role`] and an exclusive lock on the byte of
//! the process-table entry it claims. The kernel keeps both exactly as long
//! as the process lives (they go when its descriptors close, which SIGKILL
//! does before the process is even a zombie). Anyone with a descriptor of
//! the file asks the kernel whether a lock is held ([`LockProbe`]).
//!
//! So an entry is [`ProcessStatus::Dead`] only when the kernel says nobody
//! holds its lock, never because a pid is missing from `/proc` (which
//! `hidepid`, another user or another pid namespace can cause while the
//! process runs) or because a word of the table says so. The table itself
//! (pid, start time, role, claim records) is peer-writable memory and only
//! says *which* lock to ask about and what to show in tools. A peer that
//! rewrites it can at worst make a dead process look alive (a stall that a
//! deadline ends): it cannot release another process's lock. It can take
//! locks itself, which also only makes the dead look alive.
//!
//! An entry recorded without [`FLAG_LOCKED`] (by an older runtime, or by a
//! peer writing garbage) has no lock to ask about and is
//! [`ProcessStatus::Unknown`]: treated as alive, never recovered.
//!
//! # The other side
//!
//! [`peer_liveness`] answers [`PeerLiveness::Alive`] while any description
//! holds the other role's lock, and [`PeerLiveness::Gone`] only when none
//! does *and* the table shows a process of that role that registered with
//! a lock and never deregistered (so it died). Otherwise, and for a peer
//! that never registers (the Go implementation), it is
//! [`PeerLiveness::Unknown`], which links treat as alive. Links add rules
//! for sides that mix registered and unregistered processes (see
//! [`watch`] and [`PeerSide`]): such a side never reads as gone once it
//! has shown an unregistered process.
//!
//! Nothing here ever signals, kills or waits for a process named in the
//! table. All clocks involved are monotonic ([`std::time::Instant`]).

pub mod locks;
pub mod waiters;
pub mod watch;

use std::sync::atomic::Ordering;
use std::sync::OnceLock;

use crate::extension::{ExtensionBlock, ProcessEntry, PROCESS_TABLE_LEN};
use crate::segment::Segment;
use crate::superblock::Role;
use locks::HeldLocks;
pub use locks::LockProbe;
pub use waiters::clear_dead_waiters;
pub(crate) use watch::CheckInterval;
pub use watch::{PeerSide, PEER_CHECK_INTERVAL};
pub(crate) use watch::{PeerWatch, WatchedLink};

/// Role bits in [`ProcessEntry::flags`]: the entry's process is the primary.
pub const FLAG_PRIMARY: u64 = 1;
/// Role bits in [`ProcessEntry::flags`]: the entry's process is a secondary.
pub const FLAG_SECONDARY: u64 = 2;
/// Flag bit in [`ProcessEntry::flags`]: the entry's process holds the
/// entry's lock (see [`locks`]) for as long as it lives, so a free lock
/// proves it dead. Entries without it (older runtimes) are never judged.
pub const FLAG_LOCKED: u64 = 4;

/// Pid word of an entry a process is in the middle of claiming.
pub const PID_CLAIMING: u64 = u64::MAX;

/// Who a process is: pid plus start time, stable across pid reuse. Shown
/// by tools; liveness itself goes by locks, not by these numbers.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct ProcessIdentity {
    /// Process id.
    pub pid: u32,
    /// Start time in clock ticks since boot (`/proc/<pid>/stat` field 22).
    pub start_time: u64,
    /// Inode of the pid namespace the pid belongs to (0 if unknown).
    pub pid_namespace: u64,
}

impl ProcessIdentity {
    /// The identity of the calling process, or `None` if `/proc/self` is
    /// not readable.
    pub fn current() -> Option<ProcessIdentity> {
        static CURRENT: OnceLock<Option<ProcessIdentity>> = OnceLock::new();
        *CURRENT.get_or_init(|| {
            let text = std::fs::read_to_string("/proc/self/stat").ok()?;
            Some(ProcessIdentity {
                pid: std::process::id(),
                start_time: parse_start_time(&text)?,
                pid_namespace: own_pid_namespace(),
            })
        })
    }
}

/// The inode of `/proc/self/ns/pid`, 0 if unavailable.
fn own_pid_namespace() -> u64 {
    use std::os::unix::fs::MetadataExt;
    std::fs::metadata("/proc/self/ns/pid")
        .map(|m| m.ino())
        .unwrap_or(0)
}

/// Parses the start time (field 22) of a stat line. The command name
/// (field 2) is in parentheses and may contain anything, so fields are
/// counted after its last `)`.
fn parse_start_time(text: &str) -> Option<u64> {
    let (_, rest) = text.rsplit_once(')')?;
    // Field 3 (the state) comes first; field 22 is 19 further on.
    rest.split_ascii_whitespace().nth(19)?.parse().ok()
}

/// Whether one recorded process runs.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ProcessStatus {
    /// The entry's lock is held: its process (or whoever holds the lock)
    /// runs.
    Alive,
    /// Proven dead: nobody holds the entry's lock, and the entry is free or
    /// was recorded by a process that held it.
    Dead,
    /// We cannot tell (an entry recorded without a lock, or the lock could
    /// not be probed); treat as alive.
    Unknown,
}

/// A snapshot of one process-table entry (peer-written: any values).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ProcessRecord {
    /// Process id; 0 means the entry is free.
    pub pid: u64,
    /// Start time in clock ticks since boot.
    pub start_time: u64,
    /// Generation of the entry.
    pub generation: u64,
    /// Role bits ([`FLAG_PRIMARY`], [`FLAG_SECONDARY`]) and [`FLAG_LOCKED`].
    pub flags: u64,
    /// Pid namespace inode of the recording process (0 if unknown).
    pub pid_namespace: u64,
}

impl ProcessRecord {
    /// Reads an entry from shared memory.
    pub fn load(entry: &ProcessEntry) -> ProcessRecord {
        // Acquire: pairs with the Release store of `pid` in `register`, so a
        // fully claimed entry shows its start time and flags.
        let pid = entry.pid.load(Ordering::Acquire);
        ProcessRecord {
            pid,
            start_time: entry.start_time.load(Ordering::Relaxed),
            generation: entry.heartbeat.load(Ordering::Relaxed),
            flags: entry.flags.load(Ordering::Relaxed),
            pid_namespace: entry.pid_namespace.load(Ordering::Relaxed),
        }
    }

    /// Builds a record from the entry's first five little-endian words as
    /// they sit in the segment (for tools that read it with `pread`).
    pub fn from_words(words: [u64; 5]) -> ProcessRecord {
        let [pid, start_time, generation, flags, pid_namespace] = words;
        ProcessRecord {
            pid,
            start_time,
            generation,
            flags,
            pid_namespace,
        }
    }

    /// Whether the entry records a process (not free, not being claimed).
    pub fn is_used(&self) -> bool {
        self.pid != 0 && self.pid != PID_CLAIMING
    }

    /// The role the entry claims, if its flags name exactly one.
    pub fn role(&self) -> Option<Role> {
        match self.flags & (FLAG_PRIMARY | FLAG_SECONDARY) {
            FLAG_PRIMARY => Some(Role::Primary),
            FLAG_SECONDARY => Some(Role::Secondary),
            _ => None,
        }
    }

    /// Whether the process of entry `index`, recorded as `self`, still
    /// runs: asks the kernel whether the entry's lock is held (one
    /// `fcntl`), never `/proc`.
    pub fn status(&self, index: usize, probe: &LockProbe<'_>) -> ProcessStatus {
        match probe.entry_held(index) {
            Ok(true) => ProcessStatus::Alive,
            Err(_) => ProcessStatus::Unknown,
            Ok(false) if self.pid == 0 || self.flags & FLAG_LOCKED != 0 => ProcessStatus::Dead,
            // Recorded without a lock: nothing proves it dead.
            Ok(false) => ProcessStatus::Unknown,
        }
    }
}

/// The status of process-table entry `index` of `ext` (a missing entry is
/// [`ProcessStatus::Unknown`]).
pub fn entry_status(ext: &ExtensionBlock, index: usize, probe: &LockProbe<'_>) -> ProcessStatus {
    ext.process(index).map_or(ProcessStatus::Unknown, |entry| {
        ProcessRecord::load(entry).status(index, probe)
    })
}

/// Why [`register`] failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum LivenessRegisterError {
    /// Every process-table entry is held by a live (or unknown) process.
    #[error("the process table's {PROCESS_TABLE_LEN} entries are all in use")]
    TableFull,
    /// The segment file could not be reopened or locked (no `/proc/self/fd`,
    /// a private anonymous segment, or a kernel without OFD locks).
    #[error("the segment file cannot hold liveness locks")]
    LocksUnavailable(#[source] std::io::Error),
}

/// This process's entry in a segment's process table, and the file
/// description holding its locks. Hand it back with
/// [`Registration::deregister`] when detaching; dropping it without that
/// leaves the entry behind as a dead process's (its locks go), which the
/// next [`register`] reclaims.
#[derive(Debug)]
pub struct Registration {
    index: usize,
    identity: ProcessIdentity,
    role: Role,
    locks: HeldLocks,
}

impl Registration {
    /// The entry's index in the process table.
    pub fn index(&self) -> usize {
        self.index
    }

    /// The identity recorded in the entry.
    pub fn identity(&self) -> ProcessIdentity {
        self.identity
    }

    /// The role recorded in the entry.
    pub fn role(&self) -> Role {
        self.role
    }

    /// Frees the entry, if it still holds our pid (a peer may have
    /// overwritten it; then it is not ours to free), then releases the
    /// locks. In that order, a prober that finds the locks free finds the
    /// entry free too, and reads a clean exit as no process rather than a
    /// dead one.
    pub fn deregister(self, ext: &ExtensionBlock) {
        if let Some(entry) = ext.process(self.index) {
            // Release: pairs with the Acquire load in `ProcessRecord::load`.
            let _ = entry.pid.compare_exchange(
                u64::from(self.identity.pid),
                0,
                Ordering::Release,
                Ordering::Relaxed,
            );
        }
        drop(self.locks);
    }
}

/// Records the calling process as a `role` process in `ext`'s table, the
/// process table of `segment`.
///
/// Opens a new description of the segment file, then tries the free
/// entries in order, then those recorded under a lock (or left mid-claim):
/// the first whose exclusive lock it gets (which proves a previous holder
/// dead) is ours. The entry is claimed by CAS of its
/// pid word to [`PID_CLAIMING`]; start time, pid namespace, flags (role and
/// [`FLAG_LOCKED`]) and a new generation are written, the dead holder's
/// waiter records are withdrawn ([`clear_dead_waiters`]) and its claim
/// records cleared, and our pid is stored with `Release`. Last comes the
/// role's shared lock, so that a process seen by its role lock always has
/// its entry filled.
pub fn register(
    ext: &ExtensionBlock,
    segment: &Segment,
    role: Role,
) -> Result<Registration, LivenessRegisterError> {
    let unavailable = LivenessRegisterError::LocksUnavailable;
    let file = segment.file().ok_or_else(|| {
        unavailable(std::io::Error::other(
            "a private anonymous segment has no file",
        ))
    })?;
    let locks = HeldLocks::open(file).map_err(unavailable)?;
    let identity = ProcessIdentity::current().unwrap_or(ProcessIdentity {
        pid: std::process::id(),
        start_time: 0,
        pid_namespace: 0,
    });
    // Free entries first: a dead process's entry keeps its claim records
    // for survivors to complete, until the table has no other room.
    for take_dead in [false, true] {
        for (index, entry) in ext.processes().iter().enumerate() {
            let seen = ProcessRecord::load(entry);
            // An entry recorded without a lock may be a live process's of
            // an older runtime: never ours to take.
            let candidate = if take_dead {
                seen.pid == PID_CLAIMING || (seen.pid != 0 && seen.flags & FLAG_LOCKED != 0)
            } else {
                seen.pid == 0
            };
            if !candidate || !locks.lock_entry(index).map_err(unavailable)? {
                continue;
            }
            // We hold the entry's lock, so no registered process owns it.
            if entry
                .pid
                .compare_exchange(seen.pid, PID_CLAIMING, Ordering::Acquire, Ordering::Relaxed)
                .is_ok()
            {
                fill_entry(ext, index, entry, identity, role);
                let registration = Registration {
                    index,
                    identity,
                    role,
                    locks,
                };
                // The role lock last: whoever sees it held finds our entry
                // filled, so our death after this point reads as Gone.
                return match registration.locks.lock_role(role) {
                    Ok(true) => Ok(registration),
                    Ok(false) => {
                        registration.deregister(ext);
                        Err(unavailable(std::io::Error::other(
                            "the role byte is locked exclusively",
                        )))
                    }
                    Err(e) => {
                        registration.deregister(ext);
                        Err(unavailable(e))
                    }
                };
            }
            locks.unlock_entry(index);
        }
    }
    Err(LivenessRegisterError::TableFull)
}

/// Writes a claimed entry (pid word at [`PID_CLAIMING`]) for `identity`.
fn fill_entry(
    ext: &ExtensionBlock,
    index: usize,
    entry: &ProcessEntry,
    identity: ProcessIdentity,
    role: Role,
) {
    entry
        .start_time
        .store(identity.start_time, Ordering::Relaxed);
    entry
        .pid_namespace
        .store(identity.pid_namespace, Ordering::Relaxed);
    let role_flag = match role {
        Role::Primary => FLAG_PRIMARY,
        Role::Secondary => FLAG_SECONDARY,
    };
    entry
        .flags
        .store(role_flag | FLAG_LOCKED, Ordering::Relaxed);
    entry.heartbeat.fetch_add(1, Ordering::Relaxed);
    // The previous holder is dead (we hold its lock): its parked waiters
    // are withdrawn and its claim records were repaired or are stale.
    waiters::withdraw_entry(ext, index);
    entry.send_claim.store(0, Ordering::Relaxed);
    entry.recv_claim.store(0, Ordering::Relaxed);
    // Release: pairs with the Acquire load in `ProcessRecord::load`.
    entry.pid.store(u64::from(identity.pid), Ordering::Release);
}

/// Whether the other side of a link still has a live process.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PeerLiveness {
    /// A process of the other role holds its role lock (it runs), or an
    /// entry of that role has its lock held.
    Alive,
    /// No process of the other role holds a lock, and one that registered
    /// with a lock never deregistered: it died.
    Gone,
    /// Nothing is known: no process of the other role registered (none
    /// attached yet, a peer that does not use the extension block, or no
    /// extension block at all), or the locks could not be probed. Treat as
    /// alive.
    Unknown,
}

/// Whether any process on the other side of `role` is alive: the primary's
/// peers are the secondaries, a secondary's peer is the primary. Entry `me`
/// (our own, if registered) is skipped.
///
/// `ext` is `None` for a segment without an extension block (a Go primary),
/// and `probe` `None` for one whose file cannot be probed; both answer
/// [`PeerLiveness::Unknown`].
pub fn peer_liveness(
    ext: Option<&ExtensionBlock>,
    probe: Option<&LockProbe<'_>>,
    role: Role,
    me: Option<usize>,
) -> PeerLiveness {
    let (Some(ext), Some(probe)) = (ext, probe) else {
        return PeerLiveness::Unknown;
    };
    let peer_role = peer_of(role);
    // The lock first, the table after: a peer that exits cleanly frees its
    // entry before it drops its locks, so a free lock seen here means the
    // table no longer names it.
    match probe.role_held(peer_role) {
        Ok(true) => return PeerLiveness::Alive,
        Err(_) => return PeerLiveness::Unknown,
        Ok(false) => {}
    }
    let mut seen_dead = false;
    for (index, entry) in ext.processes().iter().enumerate() {
        let record = ProcessRecord::load(entry);
        if me == Some(index)
            || !record.is_used()
            || record.role() != Some(peer_role)
            || record.flags & FLAG_LOCKED == 0
        {
            continue;
        }
        match record.status(index, probe) {
            ProcessStatus::Alive => return PeerLiveness::Alive,
            ProcessStatus::Unknown => {}
            ProcessStatus::Dead => seen_dead = true,
        }
    }
    if seen_dead {
        PeerLiveness::Gone
    } else {
        PeerLiveness::Unknown
    }
}

/// The role on the other side of a link from `role`.
const fn peer_of(role: Role) -> Role {
    match role {
        Role::Primary => Role::Secondary,
        Role::Secondary => Role::Primary,
    }
}

/// Whether any used entry of the table, read as `(index, record)` pairs,
/// belongs to a process that may be alive, and whether any entry is used
/// at all: `(any_used, any_alive_or_unknown)`.
pub fn table_liveness(records: &[(usize, ProcessRecord)], probe: &LockProbe<'_>) -> (bool, bool) {
    let mut used = false;
    for (index, record) in records.iter().filter(|(_, r)| r.is_used()) {
        used = true;
        if record.status(*index, probe) != ProcessStatus::Dead {
            return (true, true);
        }
    }
    (used, false)
}

#[cfg(test)]
mod tests;
