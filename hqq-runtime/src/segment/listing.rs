//! Looking at the segments that exist, without mapping them.

use std::io;
use std::os::unix::fs::FileExt;

use super::name::{validate_segment_name, SegmentNameError};
use super::shm_open;
#[cfg(target_os = "linux")]
use super::users::{file_users, FileUsers};
#[cfg(target_os = "linux")]
use crate::liveness::{LockProbe, ProcessRecord, ProcessStatus};
#[cfg(target_os = "linux")]
use crate::superblock::SUPERBLOCK_MAGIC;

/// The directory in which Linux keeps POSIX shared-memory objects.
pub const SEGMENT_DIR: &str = "/dev/shm";

/// Length of the header [`peek_header`] reads: the 64 bytes of superblock
/// fields every HQQ implementation writes.
const HEADER_LEN: usize = 64;

/// Why [`peek_header`] failed.
#[derive(Debug, thiserror::Error)]
pub enum SegmentPeekError {
    /// The name is not a valid segment name.
    #[error(transparent)]
    InvalidName(#[from] SegmentNameError),
    /// No segment has this name.
    #[error("shared-memory segment {name:?} does not exist")]
    NotFound {
        /// The segment name.
        name: String,
    },
    /// The segment exists but this user may not read it.
    #[error("permission denied reading shared-memory segment {name:?}")]
    PermissionDenied {
        /// The segment name.
        name: String,
    },
    /// The segment is shorter than the 64-byte header.
    #[error("shared-memory segment {name:?} is {len} bytes long, shorter than a 64-byte header")]
    TooSmall {
        /// The segment name.
        name: String,
        /// The segment's length, in bytes.
        len: u64,
    },
    /// Another system call failed; `operation` names it.
    #[error("{operation} failed while reading shared-memory segment {name:?}")]
    Io {
        /// The segment name.
        name: String,
        /// The failed call (`"shm_open"`, `"fstat"`, `"pread"`).
        operation: &'static str,
        /// The operating-system error.
        #[source]
        source: io::Error,
    },
}

/// Names of the regular files in [`SEGMENT_DIR`] that are valid segment
/// names, sorted.
///
/// This lists every shared-memory object (including other programs' and
/// POSIX semaphores, `sem.*`); use [`peek_header`] to tell HQQ segments
/// (superblock magic `0x4851515f53544c31` in word 0) from the rest.
pub fn list_segment_names() -> io::Result<Vec<String>> {
    let mut names = Vec::new();
    for entry in std::fs::read_dir(SEGMENT_DIR)? {
        let entry = entry?;
        if !entry.file_type()?.is_file() {
            continue;
        }
        if let Ok(name) = entry.file_name().into_string() {
            if validate_segment_name(&name).is_ok() {
                names.push(name);
            }
        }
    }
    names.sort_unstable();
    Ok(names)
}

/// Reads the first 64 bytes of segment `name` as eight little-endian words
/// (the HQQ superblock fields: magic, state, major, minor, page size, count,
/// size, layout size) with one `pread`, without mapping the segment.
///
/// The words are a snapshot of memory that other processes may be writing;
/// treat them as hints.
pub fn peek_header(name: &str) -> Result<[u64; 8], SegmentPeekError> {
    let (file, len) = open_for_peek(name)?;
    let io_error = |operation, source| SegmentPeekError::Io {
        name: name.to_owned(),
        operation,
        source,
    };
    let too_small = || SegmentPeekError::TooSmall {
        name: name.to_owned(),
        len,
    };
    if len < HEADER_LEN as u64 {
        return Err(too_small());
    }
    let mut bytes = [0u8; HEADER_LEN];
    file.read_exact_at(&mut bytes, 0)
        .map_err(|source| match source.kind() {
            // The segment shrank between fstat and pread.
            io::ErrorKind::UnexpectedEof => too_small(),
            _ => io_error("pread", source),
        })?;
    let mut words = [0u64; 8];
    for (word, chunk) in words.iter_mut().zip(bytes.chunks_exact(8)) {
        let mut le = [0u8; 8];
        le.copy_from_slice(chunk);
        *word = u64::from_le_bytes(le);
    }
    Ok(words)
}

/// What [`inspect_segment`] found in a segment's first page.
#[cfg(target_os = "linux")]
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SegmentInfo {
    /// The segment name.
    pub name: String,
    /// Length of the segment, in bytes.
    pub len: u64,
    /// The eight superblock words (magic, state, major, minor, page size,
    /// count, size, layout size), as read.
    pub header: [u64; 8],
    /// Whether word 0 holds the HQQ superblock magic.
    pub is_hqq: bool,
    /// Whether the extension block (and so the process table) is present.
    pub has_extension: bool,
    /// The used process-table entries (index, record) and their status now.
    pub processes: Vec<(usize, ProcessRecord, ProcessStatus)>,
    /// Summary of `processes`.
    pub owner: SegmentOwner,
}

/// Whether anyone still uses a segment, as far as its process table says.
#[cfg(target_os = "linux")]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SegmentOwner {
    /// At least one registered process is alive (or cannot be checked).
    Alive,
    /// Processes registered, and every one of them is proven dead (its
    /// liveness lock is free): the segment is stale and may be reclaimed,
    /// unless a process that never registers (a Go peer) still uses it.
    Dead,
    /// No process is registered (no extension block, a Go-owned segment, or
    /// one not opened yet): nothing can be concluded, and it is never
    /// reclaimed.
    Unknown,
}

/// Reads segment `name`'s superblock page with one `pread` (without mapping
/// it) and checks the liveness of every process in its table.
///
/// The page is a snapshot of memory other processes may be writing, but
/// each entry's status comes from the kernel's liveness locks (see
/// [`crate::liveness`]): a hostile writer can make a segment look alive,
/// or name dead entries beside the live ones, but cannot make a live
/// registered process read as dead.
#[cfg(target_os = "linux")]
pub fn inspect_segment(name: &str) -> Result<SegmentInfo, SegmentPeekError> {
    use crate::extension::{
        EXTENSION_MAGIC, EXTENSION_OFFSET, EXTENSION_VERSION, PROCESS_ENTRY_SIZE,
        PROCESS_TABLE_LEN, PROCESS_TABLE_OFFSET,
    };
    use crate::liveness::table_liveness;

    let (file, len) = open_for_peek(name)?;
    let mut page = vec![0u8; PROCESS_TABLE_OFFSET + PROCESS_TABLE_LEN * PROCESS_ENTRY_SIZE];
    let want = page.len().min(usize::try_from(len).unwrap_or(usize::MAX));
    let read = file
        .read_at(&mut page[..want], 0)
        .map_err(|source| SegmentPeekError::Io {
            name: name.to_owned(),
            operation: "pread",
            source,
        })?;
    if read < HEADER_LEN {
        return Err(SegmentPeekError::TooSmall {
            name: name.to_owned(),
            len: read as u64,
        });
    }
    // Bytes not read (short segment) stay zero: no extension, free entries.
    let word = |offset: usize| {
        let mut le = [0u8; 8];
        if let Some(bytes) = page.get(offset..offset + 8) {
            le.copy_from_slice(bytes);
        }
        u64::from_le_bytes(le)
    };
    let header: [u64; 8] = std::array::from_fn(|i| word(i * 8));
    let is_hqq = header[0] == SUPERBLOCK_MAGIC;
    let has_extension = is_hqq
        && word(EXTENSION_OFFSET) == EXTENSION_MAGIC
        && word(EXTENSION_OFFSET + 8) == EXTENSION_VERSION;
    let records: Vec<(usize, ProcessRecord)> = if has_extension {
        (0..PROCESS_TABLE_LEN)
            .map(|i| {
                let base = PROCESS_TABLE_OFFSET + i * PROCESS_ENTRY_SIZE;
                let words = std::array::from_fn(|w| word(base + w * 8));
                (i, ProcessRecord::from_words(words))
            })
            .filter(|(_, record)| record.is_used())
            .collect()
    } else {
        Vec::new()
    };
    // Our read-only description holds no locks: it sees everyone's.
    let probe = LockProbe::new(&file);
    let owner = match table_liveness(&records, &probe) {
        (false, _) => SegmentOwner::Unknown,
        (true, true) => SegmentOwner::Alive,
        (true, false) => SegmentOwner::Dead,
    };
    let processes = records
        .into_iter()
        .map(|(i, r)| (i, r, r.status(i, &probe)))
        .collect();
    Ok(SegmentInfo {
        name: name.to_owned(),
        len,
        header,
        is_hqq,
        has_extension,
        processes,
        owner,
    })
}

/// Every HQQ segment in [`SEGMENT_DIR`] (superblock magic in word 0) that
/// this user can read, with its owner's liveness; for tools that clean up
/// stale segments. Segments that vanish or cannot be read while listing are
/// skipped.
#[cfg(target_os = "linux")]
pub fn list_hqq_segments() -> io::Result<Vec<SegmentInfo>> {
    Ok(list_segment_names()?
        .iter()
        .filter_map(|name| inspect_segment(name).ok())
        .filter(|info| info.is_hqq)
        .collect())
}

/// Whether another process maps or holds open segment `name`, proven by
/// the kernel (see [`FileUsers`]): the only trace of processes that never
/// register, such as Go peers. This process must not have the segment
/// open or mapped itself.
#[cfg(target_os = "linux")]
pub fn segment_users(name: &str) -> Result<FileUsers, SegmentPeekError> {
    let file = open_named(name, libc::O_RDWR)?;
    file_users(&file).map_err(|source| SegmentPeekError::Io {
        name: name.to_owned(),
        operation: "reading /proc",
        source,
    })
}

/// Whether segment `name` is stale: processes registered in it, all of
/// them proven dead by their locks, and no other process maps or holds it
/// open (which rules out unregistered users; see [`segment_users`]).
#[cfg(target_os = "linux")]
pub fn is_stale(name: &str) -> bool {
    inspect_segment(name).is_ok_and(|info| info.owner == SegmentOwner::Dead)
        && segment_users(name).is_ok_and(|users| users.proven_unused())
}

/// Opens the existing segment `name` with `flags` (an access mode).
fn open_named(name: &str, flags: libc::c_int) -> Result<std::fs::File, SegmentPeekError> {
    validate_segment_name(name)?;
    shm_open(name, flags, 0).map_err(|source| match source.kind() {
        io::ErrorKind::NotFound => SegmentPeekError::NotFound {
            name: name.to_owned(),
        },
        io::ErrorKind::PermissionDenied => SegmentPeekError::PermissionDenied {
            name: name.to_owned(),
        },
        _ => SegmentPeekError::Io {
            name: name.to_owned(),
            operation: "shm_open",
            source,
        },
    })
}

/// Opens `name` read-only for a peek; returns the file and its length.
fn open_for_peek(name: &str) -> Result<(std::fs::File, u64), SegmentPeekError> {
    let file = open_named(name, libc::O_RDONLY)?;
    let len = file
        .metadata()
        .map_err(|source| SegmentPeekError::Io {
            name: name.to_owned(),
            operation: "fstat",
            source,
        })?
        .len();
    Ok((file, len))
}
