//! Liveness: which processes are attached to a segment, and whether they
//! still run.
//!
//! Each process that opens a link records itself in the extension block's
//! process table ([`register`]): its pid, its start time (field 22 of
//! `/proc/<pid>/stat`, clock ticks since boot, so a later process that
//! reuses the pid is not mistaken for it), a generation counter bumped on
//! every claim of the entry, its [`Role`], and its pid namespace. A blocked
//! operation asks [`peer_liveness`] whether any process on the other side is
//! still alive; a tool asks [`ProcessRecord::status`] about one entry.
//!
//! Only `/proc` is read. Nothing here ever signals, kills or waits for a
//! process named in the table: the table is peer-writable memory, and a
//! garbage pid must cost us at most a wrong answer.
//!
//! # What counts as alive
//!
//! An entry is [`ProcessStatus::Dead`] when its pid does not exist, exists
//! with a different start time (pid reuse), or is a zombie (killed but not
//! yet reaped). It is [`ProcessStatus::Unknown`] when we cannot tell (another
//! pid namespace, `/proc` unreadable), and callers treat unknown as alive.
//!
//! A peer that does not use the extension block (the Go implementation, or
//! any process with an older runtime) never appears in the table. With no
//! registered process on the other side, [`peer_liveness`] answers
//! [`PeerLiveness::Unknown`], which links treat as alive: they then wait for
//! their timeout exactly as without liveness tracking. One limit follows:
//! in a mixed pool where unregistered (Go) processes share a side with
//! registered ones, the death of every registered process on that side
//! reads as [`PeerLiveness::Gone`] although the Go processes still run.
//!
//! All clocks involved are monotonic: start times count ticks since boot,
//! and check intervals use [`std::time::Instant`].

use std::io;
use std::os::unix::fs::MetadataExt;
use std::sync::atomic::Ordering;
use std::sync::OnceLock;

use crate::extension::{ExtensionBlock, ProcessEntry, PROCESS_TABLE_LEN};
use crate::superblock::Role;

/// Role bits in [`ProcessEntry::flags`]: the entry's process is the primary.
pub const FLAG_PRIMARY: u64 = 1;
/// Role bits in [`ProcessEntry::flags`]: the entry's process is a secondary.
pub const FLAG_SECONDARY: u64 = 2;

/// Largest pid Linux can hand out (`PID_MAX_LIMIT`, 2^22).
const PID_MAX_LIMIT: u64 = 1 << 22;

/// Pid word of an entry a process is in the middle of claiming: readers
/// skip it. (A process killed inside that window of a few stores leaves the
/// entry claimed for good; the table has 16.)
pub const PID_CLAIMING: u64 = u64::MAX;

/// Who a process is: pid plus start time, stable across pid reuse.
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
    /// The identity of the calling process, or `None` if `/proc` is not
    /// readable.
    pub fn current() -> Option<ProcessIdentity> {
        static CURRENT: OnceLock<Option<ProcessIdentity>> = OnceLock::new();
        *CURRENT.get_or_init(|| {
            let pid = std::process::id();
            let stat = read_stat(pid).ok()??;
            Some(ProcessIdentity {
                pid,
                start_time: stat.start_time,
                pid_namespace: own_pid_namespace(),
            })
        })
    }
}

/// The inode of `/proc/self/ns/pid`, 0 if unavailable.
fn own_pid_namespace() -> u64 {
    std::fs::metadata("/proc/self/ns/pid")
        .map(|m| m.ino())
        .unwrap_or(0)
}

/// What `/proc/<pid>/stat` says about a process.
struct Stat {
    state: u8,
    start_time: u64,
}

/// Reads and parses `/proc/<pid>/stat`: `Ok(None)` if the process does not
/// exist, `Err` if `/proc` could not be read otherwise or did not parse.
fn read_stat(pid: u32) -> io::Result<Option<Stat>> {
    let text = match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
        Ok(text) => text,
        // ESRCH shows up when the process exits while we read.
        Err(e) if e.kind() == io::ErrorKind::NotFound || e.raw_os_error() == Some(libc::ESRCH) => {
            return Ok(None)
        }
        Err(e) => return Err(e),
    };
    parse_stat(&text)
        .map(Some)
        .ok_or_else(|| io::Error::new(io::ErrorKind::InvalidData, "unparsable /proc stat"))
}

/// Parses the state (field 3) and start time (field 22) of a stat line. The
/// command name (field 2) is in parentheses and may contain anything, so
/// fields are counted after its last `)`.
fn parse_stat(text: &str) -> Option<Stat> {
    let (_, rest) = text.rsplit_once(')')?;
    let mut fields = rest.split_ascii_whitespace();
    let state = *fields.next()?.as_bytes().first()?;
    // Field 3 was the state; field 22 is 19 further on.
    let start_time = fields.nth(18)?.parse().ok()?;
    Some(Stat { state, start_time })
}

/// Whether one recorded process runs.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ProcessStatus {
    /// The process exists with the recorded start time and is not a zombie.
    Alive,
    /// The pid is gone, reused by another process, a zombie, or not a
    /// possible pid at all.
    Dead,
    /// We cannot tell (another pid namespace, or `/proc` unreadable); treat
    /// as alive.
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
    /// Role bits ([`FLAG_PRIMARY`], [`FLAG_SECONDARY`]).
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

    /// Whether the recorded process still runs (a free entry is
    /// [`ProcessStatus::Dead`]). Reads `/proc/<pid>/stat` only.
    pub fn status(&self) -> ProcessStatus {
        if self.pid == 0 || self.pid > PID_MAX_LIMIT {
            return ProcessStatus::Dead;
        }
        let own_namespace = ProcessIdentity::current().map_or(0, |me| me.pid_namespace);
        if self.pid_namespace != 0 && own_namespace != 0 && self.pid_namespace != own_namespace {
            return ProcessStatus::Unknown;
        }
        // In range by the check above.
        let pid = self.pid as u32;
        match read_stat(pid) {
            Ok(None) => ProcessStatus::Dead,
            Err(_) => ProcessStatus::Unknown,
            Ok(Some(stat)) if matches!(stat.state, b'Z' | b'X' | b'x') => ProcessStatus::Dead,
            Ok(Some(stat)) if stat.start_time == self.start_time => ProcessStatus::Alive,
            Ok(Some(_)) => ProcessStatus::Dead,
        }
    }
}

/// Why [`register`] failed.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
pub enum LivenessRegisterError {
    /// Every process-table entry is held by a live (or unknown) process.
    #[error("the process table's {PROCESS_TABLE_LEN} entries are all in use")]
    TableFull,
    /// `/proc/self/stat` could not be read, so we have no identity to record.
    #[error("the process identity (/proc/self/stat) is not available")]
    IdentityUnavailable,
}

/// This process's entry in a segment's process table. Hand it back with
/// [`Registration::deregister`] when detaching; an entry left behind by a
/// crash is reclaimed by the next [`register`] that finds its process dead.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Registration {
    index: usize,
    identity: ProcessIdentity,
    role: Role,
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
    /// overwritten it; then it is not ours to free).
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
    }
}

/// Records the calling process as a `role` process in `ext`'s table.
///
/// Claims a free entry, or one whose process is dead (a crash leftover), by
/// CAS of its pid word to [`PID_CLAIMING`]; writes start time, pid
/// namespace, role and a new generation; then stores our pid with `Release`
/// so that readers never see our pid beside another process's start time.
pub fn register(ext: &ExtensionBlock, role: Role) -> Result<Registration, LivenessRegisterError> {
    let identity = ProcessIdentity::current().ok_or(LivenessRegisterError::IdentityUnavailable)?;
    let my_pid = u64::from(identity.pid);
    let claim = |index: usize, entry: &ProcessEntry, expected: u64| {
        entry
            .pid
            .compare_exchange(expected, PID_CLAIMING, Ordering::Acquire, Ordering::Relaxed)
            .is_ok()
            .then(|| {
                entry
                    .start_time
                    .store(identity.start_time, Ordering::Relaxed);
                entry
                    .pid_namespace
                    .store(identity.pid_namespace, Ordering::Relaxed);
                entry.flags.store(
                    match role {
                        Role::Primary => FLAG_PRIMARY,
                        Role::Secondary => FLAG_SECONDARY,
                    },
                    Ordering::Relaxed,
                );
                entry.heartbeat.fetch_add(1, Ordering::Relaxed);
                // The previous holder's claim records are dead or repaired;
                // ours start empty.
                entry.send_claim.store(0, Ordering::Relaxed);
                entry.recv_claim.store(0, Ordering::Relaxed);
                // Release: pairs with the Acquire load in `ProcessRecord::load`.
                entry.pid.store(my_pid, Ordering::Release);
                Registration {
                    index,
                    identity,
                    role,
                }
            })
    };
    // Free entries first, then entries of dead processes.
    for (index, entry) in ext.processes().iter().enumerate() {
        if let Some(registration) = claim(index, entry, 0) {
            return Ok(registration);
        }
    }
    for (index, entry) in ext.processes().iter().enumerate() {
        let record = ProcessRecord::load(entry);
        if record.is_used() && record.status() == ProcessStatus::Dead {
            if let Some(registration) = claim(index, entry, record.pid) {
                return Ok(registration);
            }
        }
    }
    Err(LivenessRegisterError::TableFull)
}

/// Whether the other side of a link still has a live process.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PeerLiveness {
    /// At least one registered process of the other role runs (or might).
    Alive,
    /// Processes of the other role registered, and all of them are dead.
    Gone,
    /// No process of the other role is registered (none attached yet, a
    /// peer that does not use the extension block, or no extension block at
    /// all): treat as alive.
    Unknown,
}

/// Whether any process on the other side of `role` is alive: the primary's
/// peers are the secondaries, a secondary's peer is the primary. `me` (our
/// own entry, if registered) is skipped.
///
/// `ext` is `None` for a segment without an extension block (a Go primary),
/// which answers [`PeerLiveness::Unknown`].
pub fn peer_liveness(
    ext: Option<&ExtensionBlock>,
    role: Role,
    me: Option<&Registration>,
) -> PeerLiveness {
    let Some(ext) = ext else {
        return PeerLiveness::Unknown;
    };
    let peer_role = match role {
        Role::Primary => Role::Secondary,
        Role::Secondary => Role::Primary,
    };
    let mut seen_dead = false;
    for (index, entry) in ext.processes().iter().enumerate() {
        if me.is_some_and(|me| me.index == index) {
            continue;
        }
        let record = ProcessRecord::load(entry);
        if !record.is_used() || record.role() != Some(peer_role) {
            continue;
        }
        match record.status() {
            ProcessStatus::Alive | ProcessStatus::Unknown => return PeerLiveness::Alive,
            ProcessStatus::Dead => seen_dead = true,
        }
    }
    if seen_dead {
        PeerLiveness::Gone
    } else {
        PeerLiveness::Unknown
    }
}

/// How often a blocked operation asks [`peer_liveness`] (each check reads
/// `/proc/<pid>/stat` of the peers' entries).
pub const PEER_CHECK_INTERVAL: std::time::Duration = std::time::Duration::from_millis(10);

/// The rate limit of a periodic check during one blocked operation: due
/// once per [`PEER_CHECK_INTERVAL`], the first time one interval after it
/// is first asked. Creating one reads no clock, so an operation that waits
/// only briefly (and never asks) pays nothing for it.
#[derive(Debug, Default)]
pub(crate) struct CheckInterval {
    next: std::cell::Cell<Option<std::time::Instant>>,
}

impl CheckInterval {
    /// Whether the check is due now (and if so, the next one is an
    /// interval away).
    pub(crate) fn due(&self) -> bool {
        let now = std::time::Instant::now();
        let due = self.next.get().is_some_and(|next| now >= next);
        if due || self.next.get().is_none() {
            self.next.set(Some(now + PEER_CHECK_INTERVAL));
        }
        due
    }
}

/// Rate-limited [`peer_liveness`] for one blocked operation: checks at most
/// every [`PEER_CHECK_INTERVAL`], first one interval after its first poll
/// (so an operation that waits briefly never touches `/proc`), and
/// remembers a [`PeerLiveness::Gone`] answer.
pub struct PeerWatch<'a> {
    ext: Option<&'a ExtensionBlock>,
    role: Role,
    me: Option<Registration>,
    interval: CheckInterval,
    gone: std::cell::Cell<bool>,
}

impl<'a> PeerWatch<'a> {
    /// Watches the other side of `role` in `ext`, skipping our entry `me`.
    pub fn new(ext: Option<&'a ExtensionBlock>, role: Role, me: Option<Registration>) -> Self {
        PeerWatch {
            ext,
            role,
            me,
            interval: CheckInterval::default(),
            gone: std::cell::Cell::new(false),
        }
    }

    /// Whether the peer is known gone, checking if an interval has passed.
    pub fn poll(&self) -> bool {
        if self.gone.get() || self.ext.is_none() {
            return self.gone.get();
        }
        if self.interval.due() {
            let gone = peer_liveness(self.ext, self.role, self.me.as_ref()) == PeerLiveness::Gone;
            self.gone.set(gone);
        }
        self.gone.get()
    }

    /// Whether a [`poll`](Self::poll) found the peer gone.
    pub fn is_gone(&self) -> bool {
        self.gone.get()
    }
}

/// Whether any used entry of the table read as `records` belongs to a
/// process that may be alive, and whether any entry is used at all:
/// `(any_used, any_alive_or_unknown)`.
pub fn table_liveness(records: &[ProcessRecord]) -> (bool, bool) {
    let mut used = false;
    for record in records.iter().filter(|r| r.is_used()) {
        used = true;
        if record.status() != ProcessStatus::Dead {
            return (true, true);
        }
    }
    (used, false)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_a_stat_line_with_parentheses_in_the_name() {
        let line = "1234 (a) b (c)) S 1 1234 1234 0 -1 4194560 100 0 0 0 1 2 0 0 20 0 1 0 987654 1000 200 18446744073709551615";
        let stat = parse_stat(line).expect("parses");
        assert_eq!(stat.state, b'S');
        assert_eq!(stat.start_time, 987654);
    }

    #[test]
    fn rejects_garbage_stat_lines() {
        assert!(parse_stat("").is_none());
        assert!(parse_stat("1 (x) S 1 2").is_none());
        assert!(parse_stat("no parenthesis at all").is_none());
    }

    #[test]
    fn current_process_is_alive() {
        let me = ProcessIdentity::current().expect("/proc is readable");
        let record = ProcessRecord {
            pid: u64::from(me.pid),
            start_time: me.start_time,
            generation: 1,
            flags: FLAG_PRIMARY,
            pid_namespace: me.pid_namespace,
        };
        assert_eq!(record.status(), ProcessStatus::Alive);
    }

    #[test]
    fn reused_pid_is_dead() {
        let me = ProcessIdentity::current().expect("/proc is readable");
        let record = ProcessRecord {
            pid: u64::from(me.pid),
            start_time: me.start_time + 1,
            pid_namespace: me.pid_namespace,
            ..ProcessRecord::default()
        };
        assert_eq!(record.status(), ProcessStatus::Dead);
    }

    #[test]
    fn impossible_pids_are_dead_without_panicking() {
        for pid in [0, PID_MAX_LIMIT + 1, u64::from(u32::MAX), u64::MAX] {
            let record = ProcessRecord {
                pid,
                start_time: 5,
                ..ProcessRecord::default()
            };
            assert_eq!(record.status(), ProcessStatus::Dead, "pid {pid}");
        }
    }

    #[test]
    fn foreign_pid_namespace_is_unknown() {
        let me = ProcessIdentity::current().expect("/proc is readable");
        if me.pid_namespace == 0 {
            return;
        }
        let record = ProcessRecord {
            pid: 1,
            start_time: 1,
            pid_namespace: me.pid_namespace ^ 1,
            ..ProcessRecord::default()
        };
        assert_eq!(record.status(), ProcessStatus::Unknown);
    }

    #[test]
    fn table_liveness_distinguishes_empty_dead_and_alive() {
        let me = ProcessIdentity::current().expect("/proc is readable");
        let alive = ProcessRecord {
            pid: u64::from(me.pid),
            start_time: me.start_time,
            pid_namespace: me.pid_namespace,
            ..ProcessRecord::default()
        };
        let dead = ProcessRecord {
            start_time: me.start_time + 7,
            ..alive
        };
        assert_eq!(table_liveness(&[]), (false, false));
        assert_eq!(table_liveness(&[ProcessRecord::default()]), (false, false));
        assert_eq!(table_liveness(&[dead]), (true, false));
        assert_eq!(table_liveness(&[dead, alive]), (true, true));
    }
}
