//! Kernel-held proof of life: open-file-description (OFD) locks on bytes
//! of the segment file far past its end (see the [module docs](super)).
//!
//! A registered process holds, on a description of the segment file that
//! it opened for this alone:
//!
//! * a shared lock on the byte of its role ([`role_byte`]), and
//! * an exclusive lock on the byte of its process-table entry
//!   ([`entry_byte`]).
//!
//! The kernel drops both when the last descriptor of that description is
//! closed, which happens when the process exits however it exits (SIGKILL
//! included), before it becomes a zombie. A probe asks with `F_OFD_GETLK`
//! whether an exclusive lock on a byte would conflict: the answer comes
//! from the kernel's lock table, never from memory a peer can write.
//!
//! The bytes lie at [`LOCK_BASE`] and above (2^62), beyond any segment, so
//! the locks never cover mapped memory and never meet a lock of the
//! established implementation, which takes none on byte ranges.

use std::fs::File;
use std::io;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd};
use std::os::unix::fs::MetadataExt;

use crate::superblock::Role;

/// First byte of the lock space: 2^62, past the end of any segment.
pub const LOCK_BASE: i64 = 1 << 62;

/// The byte a process of `role` holds a shared lock on while registered.
pub const fn role_byte(role: Role) -> i64 {
    match role {
        Role::Primary => LOCK_BASE,
        Role::Secondary => LOCK_BASE + 1,
    }
}

/// The byte the owner of process-table entry `index` holds an exclusive
/// lock on while registered.
pub const fn entry_byte(index: usize) -> i64 {
    // Entries number 16; the cast cannot truncate for any table index.
    LOCK_BASE + 16 + index as i64
}

/// An open description of a segment file that holds no locks of its own,
/// so every lock it sees belongs to another description (another process,
/// or another link of this one).
#[derive(Clone, Copy, Debug)]
pub struct LockProbe<'a> {
    fd: BorrowedFd<'a>,
}

impl<'a> LockProbe<'a> {
    /// Probes through `file`, which must be a description this process
    /// never locks (a [`Segment`](crate::segment::Segment)'s own file, or
    /// one opened just for probing). Any access mode will do.
    pub(crate) fn new(file: &'a File) -> Self {
        LockProbe { fd: file.as_fd() }
    }

    /// Probes through `segment`'s own file, which this runtime never locks
    /// (`None` for a private anonymous segment, which has no file).
    pub fn of_segment(segment: &'a crate::segment::Segment) -> Option<Self> {
        segment.file().map(LockProbe::new)
    }

    /// Whether some description holds a lock on the role byte of `role`:
    /// at least one process of that role is registered and alive.
    pub fn role_held(&self, role: Role) -> io::Result<bool> {
        lock_held(self.fd, role_byte(role))
    }

    /// Whether some description holds the lock of process-table entry
    /// `index`: its registered owner is alive.
    pub fn entry_held(&self, index: usize) -> io::Result<bool> {
        lock_held(self.fd, entry_byte(index))
    }
}

/// A description of the segment file opened for holding a registration's
/// locks. Dropping it closes the description, which releases them.
#[derive(Debug)]
pub(crate) struct HeldLocks {
    file: File,
}

impl HeldLocks {
    /// Opens a new description of `segment_file` (so that its locks
    /// conflict with those of every other description, including this
    /// process's other links) through `/proc/self/fd`, read-write as an
    /// exclusive lock needs, and checks it is the same file.
    pub(crate) fn open(segment_file: &File) -> io::Result<HeldLocks> {
        let path = format!("/proc/self/fd/{}", segment_file.as_raw_fd());
        let file = std::fs::OpenOptions::new()
            .read(true)
            .write(true)
            .open(path)?;
        let (ours, theirs) = (segment_file.metadata()?, file.metadata()?);
        if (ours.dev(), ours.ino()) != (theirs.dev(), theirs.ino()) {
            return Err(io::Error::other("reopened a different file"));
        }
        Ok(HeldLocks { file })
    }

    /// Takes the shared lock of `role`; `Ok(false)` if a description holds
    /// an exclusive lock on that byte (nobody that follows these rules does).
    pub(crate) fn lock_role(&self, role: Role) -> io::Result<bool> {
        set_lock(self.file.as_fd(), libc::F_RDLCK, role_byte(role))
    }

    /// Takes the exclusive lock of entry `index`; `Ok(false)` if another
    /// description holds it (its owner is alive).
    pub(crate) fn lock_entry(&self, index: usize) -> io::Result<bool> {
        set_lock(self.file.as_fd(), libc::F_WRLCK, entry_byte(index))
    }

    /// Releases the lock of entry `index` (after a failed claim of it).
    pub(crate) fn unlock_entry(&self, index: usize) {
        // Failure leaves the byte locked until the description closes,
        // which costs at most an entry that reads alive meanwhile.
        let _ = set_lock(self.file.as_fd(), libc::F_UNLCK, entry_byte(index));
    }
}

/// A one-byte `flock` request at `start`.
fn one_byte(kind: libc::c_int, start: i64) -> libc::flock {
    // SAFETY: `flock` is plain data; all-zero is a valid value (and OFD
    // requests require `l_pid == 0`).
    let mut request: libc::flock = unsafe { std::mem::zeroed() };
    // The lock kinds are small constants.
    request.l_type = kind as libc::c_short;
    request.l_whence = libc::SEEK_SET as libc::c_short;
    request.l_start = start;
    request.l_len = 1;
    request
}

/// `F_OFD_SETLK` without waiting: `Ok(false)` if a conflicting lock exists.
fn set_lock(fd: BorrowedFd<'_>, kind: libc::c_int, start: i64) -> io::Result<bool> {
    let mut request = one_byte(kind, start);
    // SAFETY: `fd` is open for the borrow; `request` is a valid, exclusively
    // borrowed `flock` that the call reads. No shared memory is involved.
    let rc = unsafe { libc::fcntl(fd.as_raw_fd(), libc::F_OFD_SETLK, &mut request) };
    if rc == 0 {
        return Ok(true);
    }
    let error = io::Error::last_os_error();
    match error.raw_os_error() {
        Some(libc::EAGAIN | libc::EACCES) => Ok(false),
        _ => Err(error),
    }
}

/// `F_OFD_GETLK` for an exclusive lock on `start`: whether another
/// description holds any lock on that byte.
fn lock_held(fd: BorrowedFd<'_>, start: i64) -> io::Result<bool> {
    let mut request = one_byte(libc::F_WRLCK, start);
    // SAFETY: as in `set_lock`; the kernel writes the answer into `request`.
    let rc = unsafe { libc::fcntl(fd.as_raw_fd(), libc::F_OFD_GETLK, &mut request) };
    if rc != 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(i32::from(request.l_type) != libc::F_UNLCK)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn memfd() -> File {
        crate::segment::Segment::anonymous(4096)
            .ok()
            .and_then(|s| s.file().and_then(|f| f.try_clone().ok()))
            .expect("memfd")
    }

    #[test]
    fn a_held_lock_is_seen_and_released_on_close() {
        let file = memfd();
        let probe = LockProbe::new(&file);
        assert!(!probe.entry_held(3).expect("probe"));
        assert!(!probe.role_held(Role::Primary).expect("probe"));
        let held = HeldLocks::open(&file).expect("reopen");
        assert!(held.lock_role(Role::Primary).expect("lock"));
        assert!(held.lock_entry(3).expect("lock"));
        assert!(probe.entry_held(3).expect("probe"));
        assert!(!probe.entry_held(4).expect("probe"));
        assert!(probe.role_held(Role::Primary).expect("probe"));
        assert!(!probe.role_held(Role::Secondary).expect("probe"));
        // A second description cannot take the entry, but shares the role.
        let other = HeldLocks::open(&file).expect("reopen");
        assert!(!other.lock_entry(3).expect("lock"));
        assert!(other.lock_role(Role::Primary).expect("lock"));
        held.unlock_entry(3);
        assert!(!probe.entry_held(3).expect("probe"));
        assert!(other.lock_entry(3).expect("lock"));
        drop(other);
        drop(held);
        assert!(!probe.entry_held(3).expect("probe"));
        assert!(!probe.role_held(Role::Primary).expect("probe"));
    }
}
