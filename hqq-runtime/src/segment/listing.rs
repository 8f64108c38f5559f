//! Looking at the segments that exist, without mapping them.

use std::io;
use std::os::unix::fs::FileExt;

use super::name::{validate_segment_name, SegmentNameError};
use super::shm_open;

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
    validate_segment_name(name)?;
    let io_error = |operation, source| SegmentPeekError::Io {
        name: name.to_owned(),
        operation,
        source,
    };
    let file = shm_open(name, libc::O_RDONLY, 0).map_err(|source| match source.kind() {
        io::ErrorKind::NotFound => SegmentPeekError::NotFound {
            name: name.to_owned(),
        },
        io::ErrorKind::PermissionDenied => SegmentPeekError::PermissionDenied {
            name: name.to_owned(),
        },
        _ => io_error("shm_open", source),
    })?;
    let len = file
        .metadata()
        .map_err(|source| io_error("fstat", source))?
        .len();
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
