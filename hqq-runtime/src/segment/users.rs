//! Which processes map or hold open a segment file, as far as `/proc`
//! shows: the only trace a process that never registers (the Go
//! implementation) leaves. Tools consult it before removing a segment
//! whose registered processes are all dead.

use std::fs::File;
use std::io;
use std::os::unix::fs::MetadataExt;

/// Processes other than this one that use a segment file.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct FileUsers {
    /// Pids that map the file or hold a descriptor of it.
    pub pids: Vec<u32>,
    /// Whether every process was visible: `false` when `/proc` is mounted
    /// with `hidepid` (and we are not root) or some process's maps or
    /// descriptors could not be read, so users may have been missed.
    pub complete: bool,
}

impl FileUsers {
    /// Whether no other process is known to use the file and none could
    /// have been missed.
    pub fn proven_unused(&self) -> bool {
        self.complete && self.pids.is_empty()
    }
}

/// Scans `/proc` for processes (other than this one) that map `file` or
/// hold a descriptor of it. Bounded by the number of processes and their
/// mappings; never signals or waits for any of them.
pub fn file_users(file: &File) -> io::Result<FileUsers> {
    let meta = file.metadata()?;
    let target = (meta.dev(), meta.ino());
    let me = std::process::id();
    let mut users = FileUsers {
        pids: Vec::new(),
        complete: !proc_hides_pids(),
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
        match uses(pid, target) {
            Ok(true) => users.pids.push(pid),
            Ok(false) => {}
            // Exited while we looked.
            Err(e) if e.kind() == io::ErrorKind::NotFound => {}
            Err(_) => users.complete = false,
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

/// Whether `/proc` hides other users' processes from us (`hidepid`, or
/// `subset=pid` with invisible processes), unless we are root.
fn proc_hides_pids() -> bool {
    // SAFETY: geteuid has no preconditions and cannot fail.
    if unsafe { libc::geteuid() } == 0 {
        return false;
    }
    let Ok(mounts) = std::fs::read_to_string("/proc/self/mountinfo") else {
        return true;
    };
    mounts
        .lines()
        .filter(|line| line.split_ascii_whitespace().nth(4) == Some("/proc"))
        .any(|line| {
            line.contains("hidepid=1")
                || line.contains("hidepid=2")
                || line.contains("hidepid=invisible")
                || line.contains("hidepid=noaccess")
        })
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
    fn a_file_nobody_else_uses_has_no_users() {
        let segment = crate::segment::Segment::anonymous(4096).expect("memfd");
        let file = segment.file().expect("memfd file");
        let users = file_users(file).expect("scan");
        assert!(users.pids.is_empty(), "{users:?}");
    }
}
