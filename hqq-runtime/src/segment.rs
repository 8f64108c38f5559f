//! Shared-memory segments: the one region an HQQ link lives in.
//!
//! A [`Segment`] is a read-write `MAP_SHARED` mapping of either
//!
//! - a **named** POSIX shared-memory object (`shm_open(3)`, a file under
//!   `/dev/shm` on Linux), which any process that knows the name and has
//!   the permission can map; see [`Segment::create`] and [`Segment::open`]; or
//! - an **anonymous** region ([`Segment::anonymous`]) for tests and
//!   single-process use.
//!
//! The segment is only memory: it knows nothing of the superblock, rings or
//! buffers that the page layout places in it. It never hands out `&[u8]`
//! or `&mut [u8]` over its bytes, because a peer process may write any of
//! them at any moment; callers read and write through [`Segment::as_ptr`]
//! with atomics or raw-pointer copies, or take a shared atomic word with
//! [`Segment::atomic_u32`] / [`Segment::atomic_u64`].
//!
//! # Creation reserves the memory
//!
//! [`Segment::create`] sizes the object with `ftruncate` and then reserves
//! every page with `posix_fallocate`. tmpfs hands out pages lazily, so
//! without the reservation a full `/dev/shm` (Docker's default is 64 MiB)
//! would surface later as a `SIGBUS` on first touch; with it, creation fails
//! at once with [`SegmentCreateError::NoSpace`] naming the shortfall.
//!
//! # Creation is not atomic
//!
//! Between the creator's `shm_open` and its `ftruncate` the name exists with
//! length 0, so a concurrent [`Segment::open`] can observe a segment that is
//! still too small ([`SegmentOpenError::TooSmall`]); a caller that waits for
//! a creator should retry until its own deadline.
//!
//! # What a peer can still do
//!
//! A peer with write access can shrink the object with `ftruncate` after we
//! mapped it; touching the lost pages then raises `SIGBUS`, which kills the
//! process. No `shm_open` segment can prevent that (file seals exist only
//! for `memfd`). Where every peer is hqq, a [sealed](Segment::sealed)
//! segment can: a `memfd` nobody can resize, handed to peers over a Unix
//! socket ([`send_segment_fd`], [`recv_segment_fd`]).

mod listing;
mod name;
mod sealed;
#[cfg(target_os = "linux")]
mod users;

use std::ffi::CString;
use std::fs::{File, Permissions};
use std::io;
use std::os::fd::{FromRawFd, OwnedFd};
use std::os::unix::fs::PermissionsExt;
use std::sync::atomic::{AtomicU32, AtomicU64};

use memmap2::{MmapOptions, MmapRaw};

#[cfg(target_os = "linux")]
pub use listing::{inspect_segment, list_hqq_segments, SegmentInfo, SegmentOwner};
#[cfg(target_os = "linux")]
pub use listing::{is_stale, segment_users};
pub use listing::{list_segment_names, peek_header, SegmentPeekError, SEGMENT_DIR};
pub use name::{validate_segment_name, SegmentNameError, MAX_SEGMENT_NAME_LEN};
pub use sealed::{recv_segment_fd, send_segment_fd, SegmentSealedError};
#[cfg(target_os = "linux")]
pub use users::FileUsers;

/// Permission bits a named segment gets unless [`SegmentOptions::mode`] says
/// otherwise: read and write for the owner only.
pub const DEFAULT_SEGMENT_MODE: u32 = 0o600;

/// How [`Segment::create`] makes a named segment.
///
/// ```
/// use hqq_runtime::segment::SegmentOptions;
///
/// let mut options = SegmentOptions::new();
/// options.mode(0o640).keep_on_drop(true);
/// assert_eq!(options.get_mode(), 0o640);
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SegmentOptions {
    mode: u32,
    keep_on_drop: bool,
    reclaim_stale: bool,
}

impl Default for SegmentOptions {
    fn default() -> Self {
        Self::new()
    }
}

impl SegmentOptions {
    /// Mode [`DEFAULT_SEGMENT_MODE`] (0600); the name is removed when the
    /// creating [`Segment`] is dropped.
    pub const fn new() -> Self {
        Self {
            mode: DEFAULT_SEGMENT_MODE,
            keep_on_drop: false,
            reclaim_stale: false,
        }
    }

    /// Whether [`Segment::create`] may replace an existing segment of the
    /// same name whose processes are all dead (default `false`: an existing
    /// name is always [`SegmentCreateError::AlreadyExists`]).
    ///
    /// Stale means: an HQQ superblock with our extension block, at least one
    /// registered process, every registered process proven dead by its
    /// liveness lock (see [`inspect_segment`]), and no other process that
    /// maps or holds the segment open, which the kernel proves by granting
    /// a write lease on it ([`is_stale`]). A segment with no registered process (a Go peer's,
    /// or one whose creator has not opened its link yet), or one still used
    /// by a process that never registers, is never reclaimed. Only on
    /// Linux; elsewhere the option has no effect.
    ///
    /// Two processes reclaiming the same stale name at the same moment can
    /// race: one may remove the segment the other just made (which has no
    /// registered process yet, so it is not reclaimed again afterwards).
    pub fn reclaim_stale(&mut self, reclaim: bool) -> &mut Self {
        self.reclaim_stale = reclaim;
        self
    }

    /// Whether [`Segment::create`] may replace a stale segment.
    pub const fn get_reclaim_stale(&self) -> bool {
        self.reclaim_stale
    }

    /// Sets the permission bits of the new segment (only the low nine bits,
    /// `0o777`, are used). They are applied exactly, regardless of the
    /// process umask.
    pub fn mode(&mut self, mode: u32) -> &mut Self {
        self.mode = mode & 0o777;
        self
    }

    /// Whether the name stays in `/dev/shm` after the creating [`Segment`] is
    /// dropped (default `false`: the creator removes it).
    pub fn keep_on_drop(&mut self, keep: bool) -> &mut Self {
        self.keep_on_drop = keep;
        self
    }

    /// The permission bits [`Segment::create`] will apply.
    pub const fn get_mode(&self) -> u32 {
        self.mode
    }

    /// Whether the created segment keeps its name when dropped.
    pub const fn get_keep_on_drop(&self) -> bool {
        self.keep_on_drop
    }
}

/// Why [`Segment::create`] failed. The name does not exist afterwards
/// (unless the error is [`AlreadyExists`](Self::AlreadyExists), in which case
/// it is someone else's).
#[derive(Debug, thiserror::Error)]
pub enum SegmentCreateError {
    /// The name is not a valid segment name.
    #[error(transparent)]
    InvalidName(#[from] SegmentNameError),
    /// A segment must be at least one byte long.
    #[error("a segment must be at least one byte long")]
    ZeroLength,
    /// A segment with this name already exists.
    #[error("shared-memory segment {name:?} already exists")]
    AlreadyExists {
        /// The segment name.
        name: String,
    },
    /// The system refused to create the name for this user.
    #[error("permission denied creating shared-memory segment {name:?}")]
    PermissionDenied {
        /// The segment name.
        name: String,
    },
    /// The shared-memory file system cannot hold the segment.
    #[error(
        "not enough shared memory for segment {name:?}: {requested} bytes requested, {available} bytes free in its file system (enlarge /dev/shm, e.g. docker --shm-size)"
    )]
    NoSpace {
        /// The segment name.
        name: String,
        /// The requested length, in bytes.
        requested: u64,
        /// Free bytes reported by `fstatvfs` for unprivileged users (0 if
        /// it could not be determined).
        available: u64,
    },
    /// Another system call failed; `operation` names it.
    #[error("{operation} failed while creating shared-memory segment {name:?}")]
    Io {
        /// The segment name.
        name: String,
        /// The failed call (`"shm_open"`, `"ftruncate"`, ...).
        operation: &'static str,
        /// The operating-system error.
        #[source]
        source: io::Error,
    },
}

/// Why [`Segment::open`] failed.
#[derive(Debug, thiserror::Error)]
pub enum SegmentOpenError {
    /// The name is not a valid segment name.
    #[error(transparent)]
    InvalidName(#[from] SegmentNameError),
    /// No segment has this name.
    #[error("shared-memory segment {name:?} does not exist")]
    NotFound {
        /// The segment name.
        name: String,
    },
    /// The segment exists but this user may not open it read-write.
    #[error("permission denied opening shared-memory segment {name:?}")]
    PermissionDenied {
        /// The segment name.
        name: String,
    },
    /// The segment is shorter than the caller requires (an empty segment is
    /// always too small).
    #[error(
        "shared-memory segment {name:?} is {len} bytes long; at least {required} are required"
    )]
    TooSmall {
        /// The segment name.
        name: String,
        /// The segment's current length, in bytes.
        len: u64,
        /// The length the caller required, in bytes.
        required: u64,
    },
    /// Another system call failed; `operation` names it.
    #[error("{operation} failed while opening shared-memory segment {name:?}")]
    Io {
        /// The segment name.
        name: String,
        /// The failed call (`"shm_open"`, `"fstat"`, `"mmap"`).
        operation: &'static str,
        /// The operating-system error.
        #[source]
        source: io::Error,
    },
}

/// Why [`Segment::anonymous`] failed.
#[derive(Debug, thiserror::Error)]
pub enum SegmentAnonymousError {
    /// A segment must be at least one byte long.
    #[error("a segment must be at least one byte long")]
    ZeroLength,
    /// A system call failed; `operation` names it.
    #[error("{operation} failed while mapping an anonymous segment")]
    Io {
        /// The failed call (`"memfd_create"`, `"ftruncate"`, `"mmap"`).
        operation: &'static str,
        /// The operating-system error.
        #[source]
        source: io::Error,
    },
}

/// Why [`Segment::unlink`] failed.
#[derive(Debug, thiserror::Error)]
pub enum SegmentUnlinkError {
    /// The name no longer exists (someone else removed it).
    #[error("shared-memory segment {name:?} does not exist")]
    NotFound {
        /// The segment name.
        name: String,
    },
    /// This user may not remove the name.
    #[error("permission denied removing shared-memory segment {name:?}")]
    PermissionDenied {
        /// The segment name.
        name: String,
    },
    /// `shm_unlink` failed otherwise.
    #[error("shm_unlink failed for shared-memory segment {name:?}")]
    Io {
        /// The segment name.
        name: String,
        /// The operating-system error.
        #[source]
        source: io::Error,
    },
}

/// A mapped shared-memory region: named (under `/dev/shm`) or anonymous.
///
/// The mapping is readable and writable, `MAP_SHARED`, page-aligned, and
/// stays valid until the `Segment` is dropped. Removing the name (on drop or
/// with [`unlink`](Self::unlink)) does not unmap anything: processes that
/// have it mapped keep using the memory, and the kernel frees it when the
/// last mapping goes away.
///
/// # Thread safety
///
/// `Segment` is `Send + Sync`. It owns only the mapping and its name; it
/// never reads or writes the mapped bytes itself and exposes them only as a
/// raw pointer (whose use is the caller's `unsafe` responsibility) and as
/// atomic words (which are safe to share between threads and processes).
///
/// ```
/// use hqq_runtime::segment::Segment;
/// use std::sync::atomic::Ordering;
///
/// let segment = Segment::anonymous(4096)?;
/// let word = segment.atomic_u64(8).expect("in bounds and aligned");
/// word.store(42, Ordering::Relaxed);
/// assert_eq!(segment.atomic_u64(8).unwrap().load(Ordering::Relaxed), 42);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug)]
pub struct Segment {
    map: MmapRaw,
    /// The segment's file, kept open so that liveness can lock byte ranges
    /// of it (see [`crate::liveness`]); `None` for a private anonymous
    /// mapping. Never locked itself: it is the probe that sees others' locks.
    file: Option<File>,
    /// `None` for an anonymous segment.
    name: Option<String>,
    creator: bool,
    unlink_on_drop: bool,
}

const _: () = {
    const fn assert_send_sync<T: Send + Sync>() {}
    assert_send_sync::<Segment>();
};

impl Segment {
    /// Creates the named segment `name` with `len` bytes, zero-filled, and
    /// maps it.
    ///
    /// Creation is exclusive: it fails with
    /// [`AlreadyExists`](SegmentCreateError::AlreadyExists) if the name
    /// exists, unless [`SegmentOptions::reclaim_stale`] is set and the
    /// existing segment is stale, in which case its name is removed and the
    /// creation retried once. The object gets exactly the permission bits of
    /// [`SegmentOptions::mode`] (0600 by default), its file descriptor is
    /// close-on-exec and stays open while the segment lives (liveness locks
    /// byte ranges of the file, see [`crate::liveness`]), and all of its memory
    /// is reserved (see the [module docs](self)). If any step fails, the name
    /// is removed again.
    ///
    /// The returned segment [`is_creator`](Self::is_creator) and removes the
    /// name when dropped unless [`SegmentOptions::keep_on_drop`] was set.
    pub fn create(
        name: &str,
        len: usize,
        options: &SegmentOptions,
    ) -> Result<Self, SegmentCreateError> {
        match Self::create_exclusive(name, len, options) {
            Err(SegmentCreateError::AlreadyExists { .. })
                if options.reclaim_stale && is_stale(name) =>
            {
                // The name may have been removed in the meantime; either way
                // the exclusive create below decides.
                let _ = shm_unlink(name);
                Self::create_exclusive(name, len, options)
            }
            other => other,
        }
    }

    fn create_exclusive(
        name: &str,
        len: usize,
        options: &SegmentOptions,
    ) -> Result<Self, SegmentCreateError> {
        validate_segment_name(name)?;
        if len == 0 {
            return Err(SegmentCreateError::ZeroLength);
        }
        let io_error = |operation, source| SegmentCreateError::Io {
            name: name.to_owned(),
            operation,
            source,
        };
        let file = shm_open(
            name,
            libc::O_RDWR | libc::O_CREAT | libc::O_EXCL,
            options.mode,
        )
        .map_err(|source| match source.kind() {
            io::ErrorKind::AlreadyExists => SegmentCreateError::AlreadyExists {
                name: name.to_owned(),
            },
            io::ErrorKind::PermissionDenied => SegmentCreateError::PermissionDenied {
                name: name.to_owned(),
            },
            _ => io_error("shm_open", source),
        })?;
        // The name exists from here on; remove it again if a later step fails.
        let mut half_made = HalfMadeSegment { name: Some(name) };

        file.set_permissions(Permissions::from_mode(options.mode))
            .map_err(|source| io_error("fchmod", source))?;
        let len_u64 = u64::try_from(len).map_err(|_| {
            io_error(
                "ftruncate",
                io::Error::new(io::ErrorKind::InvalidInput, "length does not fit in u64"),
            )
        })?;
        file.set_len(len_u64)
            .map_err(|source| io_error("ftruncate", source))?;
        match reserve(&file, len_u64) {
            Ok(()) => {}
            Err(ReserveError::NoSpace { available }) => {
                return Err(SegmentCreateError::NoSpace {
                    name: name.to_owned(),
                    requested: len_u64,
                    available,
                })
            }
            Err(ReserveError::Io(source)) => return Err(io_error("posix_fallocate", source)),
        }
        let map = MmapOptions::new()
            .len(len)
            .map_raw(&file)
            .map_err(|source| io_error("mmap", source))?;

        half_made.name = None;
        Ok(Self {
            map,
            file: Some(file),
            name: Some(name.to_owned()),
            creator: true,
            unlink_on_drop: !options.keep_on_drop,
        })
    }

    /// Opens and maps the existing named segment `name`, read-write, over its
    /// whole current length.
    ///
    /// Fails with [`TooSmall`](SegmentOpenError::TooSmall) if the segment is
    /// shorter than `min_len` bytes (or empty). The returned segment is not
    /// the creator and keeps the name when dropped.
    pub fn open(name: &str, min_len: usize) -> Result<Self, SegmentOpenError> {
        validate_segment_name(name)?;
        let io_error = |operation, source| SegmentOpenError::Io {
            name: name.to_owned(),
            operation,
            source,
        };
        let file = shm_open(name, libc::O_RDWR, 0).map_err(|source| match source.kind() {
            io::ErrorKind::NotFound => SegmentOpenError::NotFound {
                name: name.to_owned(),
            },
            io::ErrorKind::PermissionDenied => SegmentOpenError::PermissionDenied {
                name: name.to_owned(),
            },
            _ => io_error("shm_open", source),
        })?;
        let file_len = file
            .metadata()
            .map_err(|source| io_error("fstat", source))?
            .len();
        let required = u64::try_from(min_len.max(1)).unwrap_or(u64::MAX);
        if file_len < required {
            return Err(SegmentOpenError::TooSmall {
                name: name.to_owned(),
                len: file_len,
                required,
            });
        }
        let len = usize::try_from(file_len).map_err(|_| {
            io_error(
                "mmap",
                io::Error::new(
                    io::ErrorKind::InvalidData,
                    "segment is larger than the address space",
                ),
            )
        })?;
        let map = MmapOptions::new()
            .len(len)
            .map_raw(&file)
            .map_err(|source| io_error("mmap", source))?;
        Ok(Self {
            map,
            file: Some(file),
            name: Some(name.to_owned()),
            creator: false,
            unlink_on_drop: false,
        })
    }

    /// Maps an anonymous, zero-filled, page-aligned segment of `len` bytes.
    ///
    /// On Linux the memory is a `memfd` mapped `MAP_SHARED`, so a child made
    /// with `fork` shares it. On other Unix systems it is a private anonymous
    /// mapping (shared by threads, copied on `fork`). Nothing is reserved up
    /// front: memory is committed as pages are touched.
    pub fn anonymous(len: usize) -> Result<Self, SegmentAnonymousError> {
        if len == 0 {
            return Err(SegmentAnonymousError::ZeroLength);
        }
        let (map, file) = map_anonymous(len)?;
        Ok(Self {
            map,
            file,
            name: None,
            creator: true,
            unlink_on_drop: false,
        })
    }

    /// The segment's name, or `None` for an anonymous segment.
    pub fn name(&self) -> Option<&str> {
        self.name.as_deref()
    }

    /// The segment's open file (`None` for a private anonymous mapping),
    /// never locked by this process: liveness probes others' locks with it
    /// and opens its own descriptions to hold locks.
    pub(crate) fn file(&self) -> Option<&File> {
        self.file.as_ref()
    }

    /// Length of the mapping in bytes (never 0).
    // A segment is never empty, so `is_empty` would always be false.
    #[allow(clippy::len_without_is_empty)]
    pub fn len(&self) -> usize {
        self.map.len()
    }

    /// Start of the mapping; page-aligned and valid for reads and writes of
    /// [`len`](Self::len) bytes while `self` lives.
    ///
    /// Other processes (and threads) may write these bytes at any time: use
    /// atomics or raw-pointer copies, never a `&`/`&mut` reference to
    /// non-atomic data that a peer can write.
    pub fn as_ptr(&self) -> *mut u8 {
        self.map.as_mut_ptr()
    }

    /// The 4-byte-aligned word at byte `offset` as an atomic, or `None` if
    /// `offset` is misaligned or the word does not fit in the segment.
    pub fn atomic_u32(&self, offset: usize) -> Option<&AtomicU32> {
        let ptr = self.word_ptr::<AtomicU32>(offset)?;
        // SAFETY: `word_ptr` checked that the 4 bytes at `ptr` lie inside the
        // mapping, which lives as long as `&self`, and that `ptr` is aligned
        // for `AtomicU32` (the mapping is page-aligned). Any bit pattern is a
        // valid `u32`, and an atomic may be written concurrently by other
        // threads or processes.
        Some(unsafe { &*ptr })
    }

    /// The 8-byte-aligned word at byte `offset` as an atomic, or `None` if
    /// `offset` is misaligned or the word does not fit in the segment.
    pub fn atomic_u64(&self, offset: usize) -> Option<&AtomicU64> {
        let ptr = self.word_ptr::<AtomicU64>(offset)?;
        // SAFETY: as in `atomic_u32`: in bounds, aligned, every bit pattern
        // valid, and concurrent access to an atomic is allowed.
        Some(unsafe { &*ptr })
    }

    fn word_ptr<T>(&self, offset: usize) -> Option<*const T> {
        let size = std::mem::size_of::<T>();
        let end = offset.checked_add(size)?;
        if offset % std::mem::align_of::<T>() != 0 || end > self.len() {
            return None;
        }
        // `wrapping_add` keeps this free of `unsafe`; the bounds check above
        // makes the result an in-bounds pointer.
        Some(self.as_ptr().wrapping_add(offset).cast_const().cast::<T>())
    }

    /// Whether this process created the segment ([`create`](Self::create) or
    /// [`anonymous`](Self::anonymous)) rather than [`open`](Self::open)ed it.
    pub fn is_creator(&self) -> bool {
        self.creator
    }

    /// Whether dropping this segment leaves its name in place.
    pub fn keep_on_drop(&self) -> bool {
        !self.unlink_on_drop
    }

    /// Sets whether dropping this segment leaves its name in place. Any named
    /// segment may take over (or give up) removing the name; for an anonymous
    /// segment this has no effect.
    pub fn set_keep_on_drop(&mut self, keep: bool) {
        self.unlink_on_drop = !keep && self.name.is_some();
    }

    /// Removes the name now (`shm_unlink`). The mapping stays valid, and no
    /// new process can open the segment. Dropping the segment afterwards does
    /// not unlink again. For an anonymous segment this does nothing.
    ///
    /// Note that names are not unique over time: if someone removed this name
    /// and created a new segment under it, this removes the new one.
    pub fn unlink(&mut self) -> Result<(), SegmentUnlinkError> {
        let Some(name) = &self.name else {
            return Ok(());
        };
        self.unlink_on_drop = false;
        shm_unlink(name).map_err(|source| match source.kind() {
            io::ErrorKind::NotFound => SegmentUnlinkError::NotFound { name: name.clone() },
            io::ErrorKind::PermissionDenied => {
                SegmentUnlinkError::PermissionDenied { name: name.clone() }
            }
            _ => SegmentUnlinkError::Io {
                name: name.clone(),
                source,
            },
        })
    }
}

impl Drop for Segment {
    fn drop(&mut self) {
        if self.unlink_on_drop {
            if let Some(name) = &self.name {
                // Nothing useful can be done about a failure here (most
                // likely someone else already removed the name).
                let _ = shm_unlink(name);
            }
        }
    }
}

/// Whether segment `name` is stale: registered processes, all dead.
#[cfg(not(target_os = "linux"))]
fn is_stale(_name: &str) -> bool {
    false
}

/// Removes a half-made segment's name if creation fails after `shm_open`.
struct HalfMadeSegment<'a> {
    /// `None` once creation succeeded.
    name: Option<&'a str>,
}

impl Drop for HalfMadeSegment<'_> {
    fn drop(&mut self) {
        if let Some(name) = self.name {
            // The creation error is what the caller needs to see; a failure
            // to clean up cannot be reported alongside it.
            let _ = shm_unlink(name);
        }
    }
}

/// `"/" + name` as a C string, the form `shm_open` and `shm_unlink` take.
fn shm_path(name: &str) -> io::Result<CString> {
    CString::new(format!("/{name}")).map_err(|_| {
        io::Error::new(
            io::ErrorKind::InvalidInput,
            "segment name contains a NUL byte",
        )
    })
}

/// `shm_open(3)` returning an owned, close-on-exec [`File`].
pub(crate) fn shm_open(name: &str, flags: libc::c_int, mode: u32) -> io::Result<File> {
    let path = shm_path(name)?;
    // SAFETY: `path` is a NUL-terminated string that outlives the call; the
    // call has no other memory effects.
    let fd =
        unsafe { libc::shm_open(path.as_ptr(), flags | libc::O_CLOEXEC, mode as libc::mode_t) };
    if fd < 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: `fd` was just returned by `shm_open`, so it is open and owned by
    // nothing else; `OwnedFd` takes sole ownership and closes it.
    let fd = unsafe { OwnedFd::from_raw_fd(fd) };
    Ok(File::from(fd))
}

/// `shm_unlink(3)`.
fn shm_unlink(name: &str) -> io::Result<()> {
    let path = shm_path(name)?;
    // SAFETY: `path` is a NUL-terminated string that outlives the call.
    let rc = unsafe { libc::shm_unlink(path.as_ptr()) };
    if rc != 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

enum ReserveError {
    NoSpace { available: u64 },
    Io(io::Error),
}

/// Allocates every page of `file` up front so that running out of shared
/// memory is an error now instead of a `SIGBUS` later.
#[cfg(target_os = "linux")]
fn reserve(file: &File, len: u64) -> Result<(), ReserveError> {
    use std::os::fd::AsRawFd;

    let len = libc::off_t::try_from(len).map_err(|_| {
        ReserveError::Io(io::Error::new(
            io::ErrorKind::InvalidInput,
            "length does not fit in off_t",
        ))
    })?;
    loop {
        // SAFETY: `file` owns an open descriptor for the duration of the
        // call; no memory is passed.
        let rc = unsafe { libc::posix_fallocate(file.as_raw_fd(), 0, len) };
        // posix_fallocate returns the error number instead of setting errno.
        match rc {
            0 => return Ok(()),
            libc::EINTR => continue,
            libc::ENOSPC => {
                return Err(ReserveError::NoSpace {
                    available: available_bytes(file).unwrap_or(0),
                })
            }
            errno => return Err(ReserveError::Io(io::Error::from_raw_os_error(errno))),
        }
    }
}

/// Without `posix_fallocate` the segment is not reserved; pages are committed
/// on first touch.
#[cfg(not(target_os = "linux"))]
fn reserve(_file: &File, _len: u64) -> Result<(), ReserveError> {
    Ok(())
}

/// Free bytes (for unprivileged users) in the file system holding `file`.
#[cfg(target_os = "linux")]
fn available_bytes(file: &File) -> io::Result<u64> {
    use std::os::fd::AsRawFd;

    let mut stat = std::mem::MaybeUninit::<libc::statvfs>::uninit();
    // SAFETY: the descriptor is open for the duration of the call and `stat`
    // points to writable memory for one `statvfs`.
    let rc = unsafe { libc::fstatvfs(file.as_raw_fd(), stat.as_mut_ptr()) };
    if rc != 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: `fstatvfs` returned 0, so it filled in `stat`.
    let stat = unsafe { stat.assume_init() };
    // The field types differ between targets.
    #[allow(clippy::useless_conversion)]
    let (blocks, fragment) = (u64::from(stat.f_bavail), u64::from(stat.f_frsize));
    Ok(blocks.saturating_mul(fragment))
}

#[cfg(target_os = "linux")]
fn map_anonymous(len: usize) -> Result<(MmapRaw, Option<File>), SegmentAnonymousError> {
    let io_error = |operation, source| SegmentAnonymousError::Io { operation, source };
    // SAFETY: the name is a NUL-terminated literal; the call has no other
    // memory effects.
    let fd = unsafe { libc::memfd_create(c"hqq-anonymous-segment".as_ptr(), libc::MFD_CLOEXEC) };
    if fd < 0 {
        return Err(io_error("memfd_create", io::Error::last_os_error()));
    }
    // SAFETY: `fd` was just returned by `memfd_create`, so it is open and
    // owned by nothing else.
    let file = File::from(unsafe { OwnedFd::from_raw_fd(fd) });
    let len_u64 = u64::try_from(len).map_err(|_| {
        io_error(
            "ftruncate",
            io::Error::new(io::ErrorKind::InvalidInput, "length does not fit in u64"),
        )
    })?;
    file.set_len(len_u64)
        .map_err(|source| io_error("ftruncate", source))?;
    let map = MmapOptions::new()
        .len(len)
        .map_raw(&file)
        .map_err(|source| io_error("mmap", source))?;
    Ok((map, Some(file)))
}

#[cfg(not(target_os = "linux"))]
fn map_anonymous(len: usize) -> Result<(MmapRaw, Option<File>), SegmentAnonymousError> {
    MmapOptions::new()
        .len(len)
        .map_anon()
        .map(|map| (MmapRaw::from(map), None))
        .map_err(|source| SegmentAnonymousError::Io {
            operation: "mmap",
            source,
        })
}
