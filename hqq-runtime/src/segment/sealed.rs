//! Sealed segments: a link in a `memfd` that nobody can shrink, handed to
//! peers as a file descriptor over a Unix socket.
//!
//! A peer that shrinks a `/dev/shm` segment with `ftruncate` makes every
//! process that touches the lost pages die of `SIGBUS`; nothing about a
//! named object prevents it. A `memfd` can be sealed: with `F_SEAL_SHRINK`
//! (and `F_SEAL_GROW`, `F_SEAL_SEAL`) no process, not even its creator, can
//! change its size again, and [`Segment::from_sealed_fd`] maps a descriptor
//! only after checking those seals. The price is that the segment has no
//! name: peers get it over a Unix socket ([`send_segment_fd`],
//! [`recv_segment_fd`]) instead of opening a name, so the Go implementation,
//! which opens segments by name, cannot join such a link.

use std::fs::File;
use std::io::{self, IoSlice, IoSliceMut};
use std::os::fd::{AsRawFd, BorrowedFd, FromRawFd, OwnedFd};
use std::os::unix::net::UnixStream;

use memmap2::MmapOptions;

use super::Segment;

/// The seals every sealed segment carries, and [`Segment::from_sealed_fd`]
/// requires.
const SEALS: libc::c_int = libc::F_SEAL_SHRINK | libc::F_SEAL_GROW | libc::F_SEAL_SEAL;

/// Why a sealed segment could not be made, mapped, sent or received.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum SegmentSealedError {
    /// A system call failed.
    #[error("{operation} failed: {source}")]
    Io {
        /// The failed call (`"memfd_create"`, `"fcntl"`, `"mmap"`, ...).
        operation: &'static str,
        /// The operating-system error.
        #[source]
        source: io::Error,
    },
    /// The descriptor lacks a seal: its size could still change under us.
    #[error(
        "the segment descriptor is not sealed against resizing (seals {seals:#x}, need {SEALS:#x})"
    )]
    NotSealed {
        /// The seals it has.
        seals: i32,
    },
    /// The descriptor's memory is shorter than the link needs.
    #[error("the sealed segment has {len} bytes, {required} are needed")]
    TooSmall {
        /// Its length.
        len: u64,
        /// The length needed.
        required: u64,
    },
    /// The peer closed the socket, or sent a message without a descriptor.
    #[error("no segment descriptor arrived on the socket")]
    NoDescriptor,
}

fn io_error(operation: &'static str) -> impl FnOnce(io::Error) -> SegmentSealedError {
    move |source| SegmentSealedError::Io { operation, source }
}

impl Segment {
    /// Creates an anonymous segment of `len` zeroed bytes in a `memfd`
    /// sealed against shrinking, growing and unsealing, and maps it.
    /// Returns the segment and a descriptor for peers
    /// ([`send_segment_fd`]). A peer that maps it cannot shrink it, so it
    /// cannot kill this process with `SIGBUS` (see the
    /// [`segment`](crate::segment) docs); the price is that it has no name,
    /// so the Go implementation cannot join it.
    pub fn sealed(len: usize) -> Result<(Segment, OwnedFd), SegmentSealedError> {
        // SAFETY: the name is a NUL-terminated literal; the call has no
        // other memory effects.
        let fd = unsafe {
            libc::memfd_create(
                c"hqq-sealed-segment".as_ptr(),
                libc::MFD_CLOEXEC | libc::MFD_ALLOW_SEALING,
            )
        };
        if fd < 0 {
            return Err(io_error("memfd_create")(io::Error::last_os_error()));
        }
        // SAFETY: `fd` was just returned by `memfd_create`: open, and owned
        // by nothing else.
        let file = File::from(unsafe { OwnedFd::from_raw_fd(fd) });
        let len_u64 = u64::try_from(len.max(1)).unwrap_or(u64::MAX);
        file.set_len(len_u64).map_err(io_error("ftruncate"))?;
        // SAFETY: plain fcntl on a descriptor we own.
        if unsafe { libc::fcntl(file.as_raw_fd(), libc::F_ADD_SEALS, SEALS) } < 0 {
            return Err(io_error("fcntl(F_ADD_SEALS)")(io::Error::last_os_error()));
        }
        let peer = file.try_clone().map_err(io_error("dup"))?;
        Ok((Segment::map_sealed(file, len, true)?, peer.into()))
    }

    /// Maps a sealed segment a peer sent ([`recv_segment_fd`]), after
    /// checking that it carries the seals of [`Segment::sealed`] (so no
    /// process can resize it) and holds at least `min_len` bytes.
    pub fn from_sealed_fd(fd: OwnedFd, min_len: usize) -> Result<Segment, SegmentSealedError> {
        // SAFETY: plain fcntl on a descriptor we own.
        let seals = unsafe { libc::fcntl(fd.as_raw_fd(), libc::F_GET_SEALS) };
        if seals < 0 {
            return Err(io_error("fcntl(F_GET_SEALS)")(io::Error::last_os_error()));
        }
        if seals & SEALS != SEALS {
            return Err(SegmentSealedError::NotSealed { seals });
        }
        Segment::map_sealed(File::from(fd), min_len, false)
    }

    fn map_sealed(
        file: File,
        min_len: usize,
        creator: bool,
    ) -> Result<Segment, SegmentSealedError> {
        let len = file.metadata().map_err(io_error("fstat"))?.len();
        let required = u64::try_from(min_len.max(1)).unwrap_or(u64::MAX);
        let too_small = SegmentSealedError::TooSmall { len, required };
        let Ok(mapped) = usize::try_from(len) else {
            return Err(too_small);
        };
        if len < required {
            return Err(too_small);
        }
        let map = MmapOptions::new()
            .len(mapped)
            .map_raw(&file)
            .map_err(io_error("mmap"))?;
        Ok(Segment {
            map,
            // Kept for the liveness locks (see `crate::liveness`).
            file: Some(file),
            name: None,
            creator,
            unlink_on_drop: false,
        })
    }
}

/// Sends the descriptor of a sealed segment ([`Segment::sealed`]) to the
/// process at the other end of `socket` (`SCM_RIGHTS`), with one byte of
/// ordinary data.
pub fn send_segment_fd(socket: &UnixStream, fd: BorrowedFd<'_>) -> Result<(), SegmentSealedError> {
    let mut control = Control::new();
    let data = [1u8];
    let iov = [IoSlice::new(&data)];
    // SAFETY: msghdr is plain data; all-zero is a valid empty header.
    let mut msg: libc::msghdr = unsafe { std::mem::zeroed() };
    msg.msg_iov = iov.as_ptr() as *mut libc::iovec;
    msg.msg_iovlen = 1;
    control.attach(&mut msg, Some(fd.as_raw_fd()));
    // SAFETY: `msg` points at `iov` and `control`, both alive for the call.
    let sent = unsafe { libc::sendmsg(socket.as_raw_fd(), &msg, libc::MSG_NOSIGNAL) };
    if sent < 0 {
        return Err(io_error("sendmsg")(io::Error::last_os_error()));
    }
    Ok(())
}

/// Receives a segment descriptor sent with [`send_segment_fd`]. Map it
/// with [`Segment::from_sealed_fd`], which checks its seals (the sender is
/// a peer: untrusted).
pub fn recv_segment_fd(socket: &UnixStream) -> Result<OwnedFd, SegmentSealedError> {
    let mut control = Control::new();
    let mut data = [0u8; 1];
    let mut iov = [IoSliceMut::new(&mut data)];
    // SAFETY: msghdr is plain data; all-zero is a valid empty header.
    let mut msg: libc::msghdr = unsafe { std::mem::zeroed() };
    msg.msg_iov = iov.as_mut_ptr().cast::<libc::iovec>();
    msg.msg_iovlen = 1;
    control.attach(&mut msg, None);
    // SAFETY: `msg` points at `iov` and `control`, both alive for the call;
    // MSG_CMSG_CLOEXEC makes any received descriptor close-on-exec.
    let received = unsafe { libc::recvmsg(socket.as_raw_fd(), &mut msg, libc::MSG_CMSG_CLOEXEC) };
    if received < 0 {
        return Err(io_error("recvmsg")(io::Error::last_os_error()));
    }
    control
        .take_fd(&msg)
        .ok_or(SegmentSealedError::NoDescriptor)
}

/// Room for one `SCM_RIGHTS` control message carrying one descriptor.
#[repr(C, align(8))]
struct Control {
    bytes: [u8; 64],
}

impl Control {
    fn new() -> Control {
        Control { bytes: [0; 64] }
    }

    fn space() -> usize {
        // SAFETY: CMSG_SPACE only computes a size.
        unsafe { libc::CMSG_SPACE(std::mem::size_of::<libc::c_int>() as u32) as usize }
    }

    /// Points `msg` at this buffer; with `fd`, writes one `SCM_RIGHTS`
    /// message carrying it.
    fn attach(&mut self, msg: &mut libc::msghdr, fd: Option<libc::c_int>) {
        msg.msg_control = self.bytes.as_mut_ptr().cast();
        msg.msg_controllen = Control::space().min(self.bytes.len()) as _;
        let Some(fd) = fd else {
            return;
        };
        // SAFETY: msg_control points at `self.bytes`, aligned for cmsghdr
        // and at least CMSG_SPACE(sizeof(int)) long, so the first header
        // and its data fit.
        unsafe {
            let header = libc::CMSG_FIRSTHDR(msg);
            (*header).cmsg_level = libc::SOL_SOCKET;
            (*header).cmsg_type = libc::SCM_RIGHTS;
            (*header).cmsg_len = libc::CMSG_LEN(std::mem::size_of::<libc::c_int>() as u32) as _;
            libc::CMSG_DATA(header)
                .cast::<libc::c_int>()
                .write_unaligned(fd);
        }
    }

    /// The descriptor of the first `SCM_RIGHTS` message `msg` received.
    fn take_fd(&self, msg: &libc::msghdr) -> Option<OwnedFd> {
        // SAFETY: after recvmsg the kernel wrote `msg_controllen` valid
        // bytes of control messages into `self.bytes`; CMSG_FIRSTHDR checks
        // that a header fits.
        unsafe {
            let header = libc::CMSG_FIRSTHDR(msg);
            if header.is_null()
                || (*header).cmsg_level != libc::SOL_SOCKET
                || (*header).cmsg_type != libc::SCM_RIGHTS
                || ((*header).cmsg_len as usize)
                    < libc::CMSG_LEN(std::mem::size_of::<libc::c_int>() as u32) as usize
            {
                return None;
            }
            let fd = libc::CMSG_DATA(header)
                .cast::<libc::c_int>()
                .read_unaligned();
            // The kernel installed `fd` in our table for us: we own it.
            (fd >= 0).then(|| OwnedFd::from_raw_fd(fd))
        }
    }
}

#[cfg(test)]
mod tests {
    use std::os::fd::AsFd;

    use super::*;

    #[test]
    fn a_sealed_segment_cannot_shrink_and_travels_over_a_socket() {
        let (segment, fd) = Segment::sealed(8192).expect("sealed");
        let file = File::from(fd.try_clone().expect("dup"));
        assert_eq!(
            file.set_len(4096).map_err(|e| e.raw_os_error()),
            Err(Some(libc::EPERM))
        );
        let (a, b) = UnixStream::pair().expect("socket pair");
        send_segment_fd(&a, fd.as_fd()).expect("send");
        let received = recv_segment_fd(&b).expect("receive");
        let peer = Segment::from_sealed_fd(received, 8192).expect("map");
        segment
            .atomic_u64(64)
            .expect("word")
            .store(7, std::sync::atomic::Ordering::Relaxed);
        assert_eq!(
            peer.atomic_u64(64)
                .expect("word")
                .load(std::sync::atomic::Ordering::Relaxed),
            7
        );
        assert!(matches!(
            Segment::from_sealed_fd(fd.try_clone().expect("dup"), 8193),
            Err(SegmentSealedError::TooSmall {
                len: 8192,
                required: 8193
            })
        ));
    }

    #[test]
    fn an_unsealed_descriptor_is_refused() {
        // SAFETY: as in `Segment::sealed`.
        let fd = unsafe { libc::memfd_create(c"hqq-test".as_ptr(), libc::MFD_CLOEXEC) };
        assert!(fd >= 0);
        // SAFETY: just created, owned by nothing else.
        let fd = unsafe { OwnedFd::from_raw_fd(fd) };
        File::from(fd.try_clone().expect("dup"))
            .set_len(4096)
            .expect("size");
        assert!(matches!(
            Segment::from_sealed_fd(fd, 4096),
            Err(SegmentSealedError::NotSealed { .. })
        ));
        let (a, b) = UnixStream::pair().expect("socket pair");
        drop(a);
        assert!(matches!(
            recv_segment_fd(&b),
            Err(SegmentSealedError::NoDescriptor)
        ));
    }
}
