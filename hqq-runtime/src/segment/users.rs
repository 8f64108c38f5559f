//! Whether any other process maps or holds open a segment file: the only
//! trace a process that never registers (the Go implementation) leaves.
//! Tools consult it before removing a segment whose registered processes
//! are all dead.
//!
//! The answer comes from the kernel: a write lease (`F_SETLEASE`) is
//! granted only while no other open file description of the file exists,
//! and a mapping keeps its description alive after its descriptor is
//! closed. So a granted lease proves that nobody else has the file open or
//! mapped, whatever `/proc` lets us see. The lease is dropped at once; a
//! process that opens the file in between waits those few microseconds,
//! and its lease-break signal is `SIGURG` (ignored by default) rather than
//! `SIGIO` (which would end us). Which pids use the file is then looked up
//! in `/proc`, for the message only.

use std::fs::File;
use std::io;
use std::os::unix::fs::MetadataExt;

/// Who else uses a segment file.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FileUsers {
    /// `Some(false)`: the kernel granted a write lease, so no other
    /// process has the file open or mapped; `Some(true)`: it refused, so
    /// one has; `None`: the lease could not be asked for (not the file's
    /// owner, or a file system without leases).
    pub in_use: Option<bool>,
    /// Pids that `/proc` shows mapping the file or holding a descriptor of
    /// it (possibly not all: `hidepid` or permissions hide some).
    pub pids: Vec<u32>,
}

impl FileUsers {
    /// Whether the kernel proved that no other process uses the file.
    pub fn proven_unused(&self) -> bool {
        self.in_use == Some(false)
    }
}

/// `F_SETSIG` from `<fcntl.h>` (the same on every Linux architecture; the
/// libc crate does not export it).
const F_SETSIG: libc::c_int = 10;

/// Whether another process has `file` open or mapped, asked of the kernel
/// with a write lease: one is granted only while no other open file
/// description of the file exists, and a mapping keeps its description
/// alive after its descriptor is closed. The lease is dropped at once; its
/// break signal is set to `SIGURG` (ignored by default), so a process that
/// opens the file meanwhile only waits those microseconds. `file` must be
/// this process's only description of the file, and not mapped by it.
pub(crate) fn file_in_use(file: &File) -> io::Result<bool> {
    use std::os::fd::AsRawFd;
    let fd = file.as_raw_fd();
    // SAFETY: fcntl on a descriptor we own, with integer arguments only;
    // no memory is passed.
    unsafe {
        if libc::fcntl(fd, F_SETSIG, libc::SIGURG) != 0 {
            return Err(io::Error::last_os_error());
        }
        if libc::fcntl(fd, libc::F_SETLEASE, libc::F_WRLCK) == 0 {
            libc::fcntl(fd, libc::F_SETLEASE, libc::F_UNLCK);
            return Ok(false);
        }
    }
    let error = io::Error::last_os_error();
    match error.raw_os_error() {
        Some(libc::EAGAIN) => Ok(true),
        _ => Err(error),
    }
}

/// How many times [`file_users`] asks for the lease before it believes a
/// refusal, and how long it waits in between: a process that forks (to
/// start another program) holds copies of all its descriptors and mappings
/// until it execs, which makes any file look in use for a moment.
const LEASE_ATTEMPTS: u32 = 5;
const LEASE_RETRY_NAP: std::time::Duration = std::time::Duration::from_millis(2);

/// Whether another process uses `file` (see [`file_in_use`]; a refusal is
/// believed after a few attempts), and which pids `/proc` shows using it.
/// Bounded by the number of processes and their mappings; never signals
/// or waits for any of them.
pub(crate) fn file_users(file: &File) -> io::Result<FileUsers> {
    let mut in_use = file_in_use(file).ok();
    for _ in 1..LEASE_ATTEMPTS {
        if in_use != Some(true) {
            break;
        }
        std::thread::sleep(LEASE_RETRY_NAP);
        in_use = file_in_use(file).ok();
    }
    let meta = file.metadata()?;
    let target = (meta.dev(), meta.ino());
    let me = std::process::id();
    let mut users = FileUsers {
        in_use,
        pids: Vec::new(),
    };
    for entry in std::fs::read_dir("/proc")? {
        let Some(pid) = entry
            .ok()
            .and_then(|e| e.file_name().to_str().and_then(|n| n.parse::<u32>().ok()))
        else {
            continue;
        };
        if pid == me {
            continue;
        }
        // Unreadable processes (exited, hidden, not permitted) show nothing.
        if uses(pid, target).unwrap_or(false) {
            users.pids.push(pid);
        }
    }
    users.pids.sort_unstable();
    Ok(users)
}

/// Whether process `pid` maps the file `(dev, ino)` or has it open.
fn uses(pid: u32, (dev, ino): (u64, u64)) -> io::Result<bool> {
    let maps = std::fs::read_to_string(format!("/proc/{pid}/maps"))?;
    if maps.lines().any(|line| maps_line_names(line, dev, ino)) {
        return Ok(true);
    }
    for fd in std::fs::read_dir(format!("/proc/{pid}/fd"))? {
        // A descriptor closed meanwhile, or one to a file we cannot stat,
        // is not ours.
        if let Ok(target) = fd.and_then(|fd| std::fs::metadata(fd.path())) {
            if (target.dev(), target.ino()) == (dev, ino) {
                return Ok(true);
            }
        }
    }
    Ok(false)
}

/// Whether a `/proc/<pid>/maps` line (`start-end perms offset MAJ:MIN
/// inode path`) maps the file `(dev, ino)`.
fn maps_line_names(line: &str, dev: u64, ino: u64) -> bool {
    let mut fields = line.split_ascii_whitespace().skip(3);
    let (Some(device), Some(inode)) = (fields.next(), fields.next()) else {
        return false;
    };
    let Some((major, minor)) = device.split_once(':') else {
        return false;
    };
    let parse = |hex| u32::from_str_radix(hex, 16).ok();
    let (Some(major), Some(minor)) = (parse(major), parse(minor)) else {
        return false;
    };
    inode.parse() == Ok(ino) && libc::makedev(major, minor) == dev
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_maps_lines() {
        let dev = libc::makedev(0, 0x1a);
        let line = "7f00-7f10 rw-s 00000000 00:1a 12345     /dev/shm/hqq-x";
        assert!(maps_line_names(line, dev, 12345));
        assert!(!maps_line_names(line, dev, 12346));
        assert!(!maps_line_names(line, libc::makedev(0, 0x1b), 12345));
        assert!(!maps_line_names("garbage", dev, 12345));
    }

    #[test]
    fn the_kernel_says_whether_another_description_is_open() {
        let path = std::env::temp_dir().join(format!("hqq-users-{}", std::process::id()));
        let file = std::fs::File::create(&path).expect("create");
        let unused = file_users(&file).expect("scan");
        let other = std::fs::File::open(&path).expect("open again");
        let used = file_in_use(&file);
        drop(other);
        let _ = std::fs::remove_file(&path);
        assert!(unused.pids.is_empty(), "{unused:?}");
        // Leases need the file's owner (or CAP_LEASE) and a file system
        // that has them; where they are refused nothing is proven.
        if let Some(in_use) = unused.in_use {
            assert!(!in_use);
            assert!(used.expect("lease asked before"));
        }
    }
}
