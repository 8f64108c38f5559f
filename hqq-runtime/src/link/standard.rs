//! [`StandardLink`]: bidirectional messages over one segment, each message
//! one StandardLinkCopy packet with its data in the claimed slot's buffer.

use std::ptr::NonNull;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::codec::{Limits, PacketCodec};
use crate::layout::{Direction, Layout};
use crate::link_memory::LinkMemory;
use crate::liveness::{
    self, LockProbe, PeerLiveness, PeerSide, PeerWatch, Registration, WatchedLink,
};
use crate::packet::Packet;
use crate::payload_view::PayloadView;
use crate::protocol::{Error as ErrorPacket, StandardLinkCopy, StandardLinkTombstone};
use crate::ring::{
    EventWords, RecoveredClaims, RecvClaim, Ring, RingRecvError, RingRecvWaitError, RingSendError,
    RingSendWaitError, SendClaim,
};
use crate::segment::{Segment, SegmentOpenError, SegmentOptions};
use crate::stats::{role_word, Statistics};
use crate::superblock::Role;
use crate::wait::{WaitPolicy, WaiterRecord};

use super::config::LinkConfig;
use super::error::{LinkOpenError, LinkProtocolError, LinkRecvError, LinkSendError};
use super::idle::{DeadClaims, EventIdle, Wants};
use super::pending::PendingReads;
use super::reservation::{RecvReservation, SendReservation};
use super::stats::{LinkCounters, LinkStats};

/// How long an open retries a segment that does not exist yet or is still
/// being sized by its creator, between attempts.
const OPEN_RETRY_NAP: Duration = Duration::from_millis(1);

/// A timeout stored in an `AtomicU64`: nanoseconds, or this for "none".
const NO_TIMEOUT: u64 = u64::MAX;

/// Every this many packets sent (or received) (the first included), a
/// link whose peers' waiters word is raised withdraws the parked waiters
/// of proven-dead processes: a waiter killed while parked costs the
/// notifier at most this many wake calls.
const PACKETS_PER_SWEEP: u64 = 64;

/// When a blocking operation gives up.
#[derive(Clone, Copy, Debug)]
pub(crate) enum Deadline {
    /// Do not wait at all (the `try_` variants).
    Now,
    /// Wait at most this long, counted from when the operation first has
    /// to wait: one that finds its slot at once never reads the clock.
    Within(Duration),
    /// Wait until then.
    At(Instant),
    /// Wait for as long as it takes.
    Never,
}

impl Deadline {
    /// The deadline `timeout` from now; a zero timeout does not wait.
    pub(crate) fn after(timeout: Option<Duration>) -> Deadline {
        let mut deadline = Deadline::within(timeout);
        deadline.start();
        deadline
    }

    /// The deadline `at` (`None`: none).
    pub(crate) fn until(at: Option<Instant>) -> Deadline {
        at.map_or(Deadline::Never, Deadline::At)
    }

    /// The deadline `timeout` from the first wait; a zero timeout does not
    /// wait.
    pub(crate) fn within(timeout: Option<Duration>) -> Deadline {
        match timeout {
            None => Deadline::Never,
            Some(t) if t.is_zero() => Deadline::Now,
            Some(t) => Deadline::Within(t),
        }
    }

    /// Starts the clock of a [`Within`](Deadline::Within) deadline (a
    /// waiting operation calls this once, so retries share the deadline);
    /// returns the instant to wait until, `None` for no limit.
    fn start(&mut self) -> Option<Instant> {
        if let Deadline::Within(t) = *self {
            *self = Instant::now()
                .checked_add(t)
                .map_or(Deadline::Never, Deadline::At);
        }
        self.instant()
    }

    fn instant(self) -> Option<Instant> {
        match self {
            Deadline::At(at) => Some(at),
            Deadline::Now | Deadline::Within(_) | Deadline::Never => None,
        }
    }
}

/// An instant so far ahead that waiting for it means waiting forever (a
/// year: `Instant` has no maximum, and adding too much to one panics).
fn far_future() -> Instant {
    instant_after(Duration::from_secs(3600 * 24 * 365))
}

/// `timeout` from now, or as far ahead as `Instant` goes (so that a huge
/// timeout such as `Duration::MAX` means "no deadline" instead of a panic).
pub(crate) fn instant_after(timeout: Duration) -> Instant {
    let now = Instant::now();
    let mut t = timeout;
    loop {
        if let Some(at) = now.checked_add(t) {
            return at;
        }
        // Halving ends within 64 steps: `now + 0` always fits.
        t /= 2;
    }
}

fn encode_timeout(timeout: Option<Duration>) -> u64 {
    timeout.map_or(NO_TIMEOUT, |t| {
        u64::try_from(t.as_nanos()).map_or(NO_TIMEOUT - 1, |n| n.min(NO_TIMEOUT - 1))
    })
}

fn decode_timeout(nanos: u64) -> Option<Duration> {
    (nanos != NO_TIMEOUT).then(|| Duration::from_nanos(nanos))
}

/// A Standard link: any number of threads, and any number of processes
/// that open the same segment, send and receive messages of 1 to
/// [`buffer_size`](Self::buffer_size) bytes.
///
/// The primary (normally the creator of the segment) sends on ring 0 and
/// receives on ring 1; every secondary the other way round. A third or
/// fourth process that opens the segment is one more secondary sharing the
/// secondaries' rings: each message is received by exactly one of them (a
/// worker pool).
///
/// Every operation comes in three flavours, as on
/// [`UdpSocket`](std::net::UdpSocket): blocking ([`send`](Self::send), which
/// honours [`set_write_timeout`](Self::set_write_timeout)), with an explicit
/// timeout ([`send_timeout`](Self::send_timeout)), and non-blocking
/// ([`try_send`](Self::try_send), which fails with
/// [`WouldBlock`](LinkSendError::WouldBlock)). A blocked operation spins,
/// yields, then parks on a futex in the segment that an hqq peer wakes at
/// once; parks are timed (see [`LinkConfig::wait_policy`]) so that a peer
/// that never wakes anyone is still noticed.
///
/// A process of the pool that dies while it holds a slot (killed between
/// claiming and committing or releasing it) does not stall the others: a
/// blocked send or receive completes such slots once per liveness interval
/// ([`recover_dead_claims`](Self::recover_dead_claims)): a dead sender's
/// slot becomes a tombstone, which receivers skip; a dead receiver's slot
/// is released, and the message in it is lost with that receiver. This
/// needs the extension block (an hqq primary) and a process-table entry for
/// every process of the pool; see [`crate::ring::claims`].
///
/// Everything the peer writes is untrusted: a malformed packet is released
/// and reported as [`LinkRecvError::Protocol`], an Error packet as
/// [`LinkRecvError::Peer`], a corrupt ring as `Corrupt`.
///
/// ```
/// use hqq_runtime::link::{LinkConfig, StandardLink};
///
/// let (a, b) = StandardLink::pair(LinkConfig::new().slots(8).buffer_size(64))?;
/// a.send(b"hello")?;
/// let mut buf = [0u8; 64];
/// let n = b.recv(&mut buf)?;
/// assert_eq!(&buf[..n], b"hello");
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug)]
pub struct StandardLink {
    // Declared before the segment: dropped first, while the mapping lives.
    memory: LinkMemory,
    segment: Arc<Segment>,
    limits: Limits,
    buffer_size: usize,
    policy: WaitPolicy,
    next_copy: AtomicU64,
    read_timeout: AtomicU64,
    write_timeout: AtomicU64,
    pending: PendingReads,
    /// This process's counters (see [`crate::stats`]).
    stats: Statistics,
    /// Our process-table entry (`None` without an extension block or with
    /// a full table: then peers cannot see us die, and we still wait for
    /// our timeouts as before).
    registration: Option<Registration>,
    /// What blocked operations have seen the other side do.
    peer_side: PeerSide,
}

const _: () = {
    const fn assert_send_sync<T: Send + Sync>() {}
    assert_send_sync::<StandardLink>();
};

impl Drop for StandardLink {
    fn drop(&mut self) {
        if let (Some(registration), Some(ext)) = (self.registration.take(), self.memory.extension())
        {
            registration.deregister(ext);
        }
    }
}

impl StandardLink {
    /// Creates the named segment (exclusively; it must not exist) and opens
    /// the link on it. The creator normally becomes the
    /// [`Primary`](Role::Primary). The segment is removed when this link is
    /// dropped unless [`LinkConfig::keep_on_drop`] is set.
    pub fn create(name: &str, config: &LinkConfig) -> Result<StandardLink, LinkOpenError> {
        let layout = config.checked_layout()?;
        let mut options = SegmentOptions::new();
        options.mode(config.mode).keep_on_drop(config.keep_on_drop);
        let segment = Segment::create(name, layout.total_size(), &options)?;
        let deadline = Deadline::after(Some(config.ready_timeout));
        Self::on_segment(Arc::new(segment), layout, config, deadline)
    }

    /// Opens the existing named segment and joins the link on it; the
    /// election of wire-compat.md decides the role (a [`Secondary`](Role::Secondary)
    /// unless the segment is still blank). Waits up to
    /// [`LinkConfig::ready_timeout`] for the segment to exist and be ready.
    pub fn open(name: &str, config: &LinkConfig) -> Result<StandardLink, LinkOpenError> {
        let layout = config.checked_layout()?;
        let deadline = Deadline::after(Some(config.ready_timeout));
        let segment = loop {
            match Segment::open(name, layout.total_size()) {
                Ok(segment) => break segment,
                Err(SegmentOpenError::NotFound { .. } | SegmentOpenError::TooSmall { .. })
                    if deadline.instant().is_some_and(|d| Instant::now() < d)
                        || matches!(deadline, Deadline::Never) =>
                {
                    std::thread::sleep(OPEN_RETRY_NAP);
                }
                Err(e) => return Err(e.into()),
            }
        };
        Self::on_segment(Arc::new(segment), layout, config, deadline)
    }

    /// Creates a link in a sealed segment (see
    /// [`Segment::sealed`]): a `memfd` that no process can shrink, so a
    /// peer cannot kill this process with `SIGBUS` by truncating it. Returns
    /// the link (the primary) and the segment's descriptor, which peers get
    /// over a Unix socket ([`crate::segment::send_segment_fd`]) and open
    /// with [`open_sealed`](Self::open_sealed). The Go implementation opens
    /// segments by name and cannot join such a link.
    ///
    /// ```
    /// use std::os::fd::AsFd;
    /// use std::os::unix::net::UnixStream;
    /// use hqq_runtime::link::{LinkConfig, StandardLink};
    /// use hqq_runtime::segment::{recv_segment_fd, send_segment_fd};
    ///
    /// let mut config = LinkConfig::new();
    /// config.slots(8).buffer_size(64);
    /// let (primary, fd) = StandardLink::create_sealed(&config)?;
    /// let (ours, theirs) = UnixStream::pair()?;
    /// send_segment_fd(&ours, fd.as_fd())?;
    /// // In the peer process:
    /// let secondary = StandardLink::open_sealed(recv_segment_fd(&theirs)?, &config)?;
    /// primary.send(b"sealed")?;
    /// let mut buf = [0u8; 64];
    /// let n = secondary.recv(&mut buf)?;
    /// assert_eq!(&buf[..n], b"sealed");
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    #[cfg(target_os = "linux")]
    pub fn create_sealed(
        config: &LinkConfig,
    ) -> Result<(StandardLink, std::os::fd::OwnedFd), LinkOpenError> {
        let layout = config.checked_layout()?;
        let (segment, fd) = Segment::sealed(layout.total_size())?;
        let deadline = Deadline::after(Some(config.ready_timeout));
        Ok((
            Self::on_segment(Arc::new(segment), layout, config, deadline)?,
            fd,
        ))
    }

    /// Joins the link in a sealed segment whose descriptor a peer sent
    /// (see [`create_sealed`](Self::create_sealed)); the descriptor is
    /// mapped only if it is sealed against resizing.
    #[cfg(target_os = "linux")]
    pub fn open_sealed(
        fd: std::os::fd::OwnedFd,
        config: &LinkConfig,
    ) -> Result<StandardLink, LinkOpenError> {
        let layout = config.checked_layout()?;
        let segment = Segment::from_sealed_fd(fd, layout.total_size())?;
        let deadline = Deadline::after(Some(config.ready_timeout));
        Self::on_segment(Arc::new(segment), layout, config, deadline)
    }

    /// Two ends of one link on an anonymous segment: `(primary, secondary)`.
    /// For tests and for threads of one process.
    pub fn pair(config: &LinkConfig) -> Result<(StandardLink, StandardLink), LinkOpenError> {
        let layout = config.checked_layout()?;
        let segment = Arc::new(Segment::anonymous(layout.total_size())?);
        let deadline = Deadline::after(Some(config.ready_timeout));
        let primary = Self::on_segment(Arc::clone(&segment), layout, config, deadline)?;
        let secondary = Self::on_segment(segment, layout, config, deadline)?;
        Ok((primary, secondary))
    }

    fn on_segment(
        segment: Arc<Segment>,
        layout: Layout,
        config: &LinkConfig,
        ready: Deadline,
    ) -> Result<StandardLink, LinkOpenError> {
        // A successful mapping is never null; a dangling pointer would be
        // rejected as misaligned by `LinkMemory::open`.
        let region = NonNull::new(segment.as_ptr()).unwrap_or(NonNull::dangling());
        let ready = match ready {
            Deadline::At(at) => at,
            Deadline::Now => Instant::now(),
            Deadline::Within(_) | Deadline::Never => {
                let mut started = ready;
                started.start().unwrap_or_else(far_future)
            }
        };
        // SAFETY: (1) the mapping is valid for `segment.len()` bytes while
        // the `Arc` lives; the link holds it and drops it after `memory`,
        // and every claim borrows the link. (2) In this process the region
        // is only accessed through `LinkMemory`s (other links on the same
        // segment) and atomics. (3) A new segment is zero-filled.
        let mut memory = unsafe { LinkMemory::open(region, segment.len(), layout, ready) }?;
        let buffer_size = layout.size() as usize;
        let registration = memory
            .extension()
            .and_then(|ext| liveness::register(ext, &segment, memory.role()).ok());
        if let Some(registration) = &registration {
            memory.record_claims(registration.index());
        }
        let role = role_word(memory.role());
        let stats = match segment.name() {
            Some(name) if config.publish_stats => Statistics::publish(name, role, config.mode)
                .unwrap_or_else(|| Statistics::private(role)),
            _ => Statistics::private(role),
        };
        // Peers on a segment with wake words can wake us, so idle parks may
        // be long; without them (a Go primary) only short parks notice data.
        let policy = config
            .wait_policy
            .unwrap_or(if memory.extension().is_some() {
                WaitPolicy::WAKE_WORDS
            } else {
                WaitPolicy::DEFAULT
            });
        Ok(StandardLink {
            memory,
            segment,
            limits: Limits::new(layout.count(), layout.size()),
            buffer_size,
            policy,
            next_copy: AtomicU64::new(1),
            read_timeout: AtomicU64::new(NO_TIMEOUT),
            write_timeout: AtomicU64::new(NO_TIMEOUT),
            pending: PendingReads::default(),
            stats,
            registration,
            peer_side: PeerSide::default(),
        })
    }

    /// Whether this end initialized the segment (primary) or joined it.
    pub fn role(&self) -> Role {
        self.memory.role()
    }

    /// Bytes per payload buffer: the largest message.
    pub fn buffer_size(&self) -> usize {
        self.buffer_size
    }

    /// Ring slots per direction.
    pub fn slots(&self) -> u64 {
        self.memory.layout().count()
    }

    /// Slots of the send ring the peer has not consumed yet: a racy hint
    /// from words the peer can write (at most [`slots`](Self::slots)), so
    /// only for scheduling decisions, never for memory.
    pub(crate) fn send_backlog_hint(&self) -> u64 {
        let (read, write) = self.memory.tx().positions();
        write.wrapping_sub(read).min(self.slots())
    }

    /// The segment layout.
    pub fn layout(&self) -> &Layout {
        self.memory.layout()
    }

    /// The segment's name (`None` for a [`pair`](Self::pair)).
    pub fn name(&self) -> Option<&str> {
        self.segment.name()
    }

    /// Whether the primary wrote the extension block, so that blocked
    /// operations are woken at once by hqq peers (a Go primary does not
    /// write it; waits then poll in timed naps).
    pub fn has_wake_words(&self) -> bool {
        self.memory.extension().is_some()
    }

    /// How blocked operations on this link wait: spin, yield, then park in
    /// slices ([`LinkConfig::wait_policy`], or the default for the segment).
    pub fn wait_policy(&self) -> WaitPolicy {
        self.policy
    }

    /// The memory under the link, for layers built on it.
    pub fn memory(&self) -> &LinkMemory {
        &self.memory
    }

    /// A snapshot of this process's counters for this link.
    pub fn stats(&self) -> LinkStats {
        let mut stats = self.counters().snapshot();
        stats.tx.wakes = self.memory.tx().wake_calls();
        stats.rx.wakes = self.memory.rx().wake_calls();
        stats
    }

    /// The statistics block this link counts into (published in a
    /// companion segment if [`LinkConfig::publish_stats`] was set).
    pub fn statistics(&self) -> &Statistics {
        &self.stats
    }

    #[inline]
    fn counters(&self) -> &LinkCounters {
        &self.stats.block().link
    }

    /// Sets how long blocking receives wait (`None`: forever, the default;
    /// a zero duration makes them non-blocking).
    pub fn set_read_timeout(&self, timeout: Option<Duration>) {
        self.read_timeout
            .store(encode_timeout(timeout), Ordering::Relaxed);
    }

    /// Sets how long blocking sends wait (`None`: forever, the default;
    /// a zero duration makes them non-blocking).
    pub fn set_write_timeout(&self, timeout: Option<Duration>) {
        self.write_timeout
            .store(encode_timeout(timeout), Ordering::Relaxed);
    }

    /// The read timeout.
    pub fn read_timeout(&self) -> Option<Duration> {
        decode_timeout(self.read_timeout.load(Ordering::Relaxed))
    }

    /// The write timeout.
    pub fn write_timeout(&self) -> Option<Duration> {
        decode_timeout(self.write_timeout.load(Ordering::Relaxed))
    }

    fn read_deadline(&self) -> Deadline {
        Deadline::within(self.read_timeout())
    }

    fn write_deadline(&self) -> Deadline {
        Deadline::within(self.write_timeout())
    }

    // ---- copy API -------------------------------------------------------

    /// Sends `data` (1 to [`buffer_size`](Self::buffer_size) bytes) as one
    /// message, waiting while the ring is full (up to the write timeout).
    #[inline]
    pub fn send(&self, data: &[u8]) -> Result<(), LinkSendError> {
        self.send_copy(data, self.write_deadline())
    }

    /// [`send`](Self::send) that fails with
    /// [`WouldBlock`](LinkSendError::WouldBlock) instead of waiting.
    #[inline]
    pub fn try_send(&self, data: &[u8]) -> Result<(), LinkSendError> {
        self.send_copy(data, Deadline::Now)
    }

    /// [`send`](Self::send) that waits at most `timeout`.
    #[inline]
    pub fn send_timeout(&self, data: &[u8], timeout: Duration) -> Result<(), LinkSendError> {
        self.send_copy(data, Deadline::within(Some(timeout)))
    }

    /// Receives one message into `buf` and returns its length, waiting
    /// while none is there (up to the read timeout). If the message is
    /// longer than `buf`, the rest is kept in this process (its slot is
    /// released at once) and returned by the next receive.
    #[inline]
    pub fn recv(&self, buf: &mut [u8]) -> Result<usize, LinkRecvError> {
        self.recv_copy(buf, self.read_deadline())
    }

    /// [`recv`](Self::recv) that fails with
    /// [`WouldBlock`](LinkRecvError::WouldBlock) instead of waiting.
    #[inline]
    pub fn try_recv(&self, buf: &mut [u8]) -> Result<usize, LinkRecvError> {
        self.recv_copy(buf, Deadline::Now)
    }

    /// [`recv`](Self::recv) that waits at most `timeout`.
    #[inline]
    pub fn recv_timeout(&self, buf: &mut [u8], timeout: Duration) -> Result<usize, LinkRecvError> {
        self.recv_copy(buf, Deadline::within(Some(timeout)))
    }

    // ---- zero-copy API --------------------------------------------------

    /// Sends a message written in place: `fill` gets the claimed slot's
    /// whole buffer and returns the message length (1 to
    /// [`buffer_size`](Self::buffer_size); anything else publishes a
    /// tombstone and fails with [`InvalidSize`](LinkSendError::InvalidSize)).
    pub fn send_with(&self, fill: impl FnOnce(&mut [u8]) -> usize) -> Result<(), LinkSendError> {
        let mut reservation = self.reserve_send()?;
        let len = fill(reservation.buffer_mut());
        reservation.commit(len)
    }

    /// Receives a message in place: `read` gets a view of its bytes in the
    /// slot's buffer (or of the rest of a partially read message), and the
    /// slot is released when `read` returns. The bytes are in shared
    /// memory: see [`PayloadView`] for reading them.
    ///
    /// ```
    /// use hqq_runtime::link::{LinkConfig, StandardLink};
    ///
    /// let (a, b) = StandardLink::pair(LinkConfig::new().slots(4).buffer_size(64))?;
    /// a.send(b"\x07\0\0\0rest")?;
    /// let (tag, body) = b.recv_with(|m| (m.read_u32_le(0), m.get(4..).map(|v| v.to_vec())))?;
    /// assert_eq!((tag, body.as_deref()), (Some(7), Some(&b"rest"[..])));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn recv_with<R>(
        &self,
        read: impl FnOnce(PayloadView<'_>) -> R,
    ) -> Result<R, LinkRecvError> {
        self.recv_with_deadline(read, self.read_deadline())
    }

    /// [`recv_with`](Self::recv_with) without waiting: fails with
    /// [`WouldBlock`](LinkRecvError::WouldBlock), without calling `read`,
    /// when no message is there.
    pub fn try_recv_with<R>(
        &self,
        read: impl FnOnce(PayloadView<'_>) -> R,
    ) -> Result<R, LinkRecvError> {
        self.recv_with_deadline(read, Deadline::Now)
    }

    fn recv_with_deadline<R>(
        &self,
        read: impl FnOnce(PayloadView<'_>) -> R,
        deadline: Deadline,
    ) -> Result<R, LinkRecvError> {
        if !self.pending.is_empty() {
            if let Some(remainder) = self.pending.take() {
                let value = read(PayloadView::from_slice(remainder.rest()));
                self.pending.recycle(remainder);
                return Ok(value);
            }
        }
        let message = self.recv_data(deadline)?;
        Ok(read(message.payload()))
    }

    /// Claims a free slot to fill in place, waiting while the ring is full
    /// (up to the write timeout). See [`SendReservation`].
    #[inline]
    pub fn reserve_send(&self) -> Result<SendReservation<'_>, LinkSendError> {
        self.claim_tx(self.write_deadline())
            .map(|claim| SendReservation::new(self, claim))
    }

    /// [`reserve_send`](Self::reserve_send) without waiting.
    #[inline]
    pub fn try_reserve_send(&self) -> Result<SendReservation<'_>, LinkSendError> {
        self.claim_tx(Deadline::Now)
            .map(|claim| SendReservation::new(self, claim))
    }

    /// Claims the next message to read in place, waiting while none is
    /// there (up to the read timeout). Tombstones are skipped; the slot is
    /// released when the reservation drops. Reservations always take a new
    /// message, never the rest of a partially read one.
    #[inline]
    pub fn reserve_recv(&self) -> Result<RecvReservation<'_>, LinkRecvError> {
        self.recv_data(self.read_deadline())
    }

    /// [`reserve_recv`](Self::reserve_recv) without waiting.
    #[inline]
    pub fn try_reserve_recv(&self) -> Result<RecvReservation<'_>, LinkRecvError> {
        self.recv_data(Deadline::Now)
    }

    // ---- raw packets ----------------------------------------------------

    /// Publishes `packet` as it is, with `payload` (possibly empty) copied
    /// to the start of the claimed slot's buffer. The caller chooses every
    /// operand; use [`send_packet_with`](Self::send_packet_with) when the
    /// packet must name the slot's buffer index. Waits up to the write
    /// timeout while the ring is full.
    pub fn send_packet(&self, packet: Packet, payload: &[u8]) -> Result<(), LinkSendError> {
        self.send_raw(packet, payload, self.write_deadline())
    }

    /// [`send_packet`](Self::send_packet) without waiting.
    pub fn try_send_packet(&self, packet: Packet, payload: &[u8]) -> Result<(), LinkSendError> {
        self.send_raw(packet, payload, Deadline::Now)
    }

    /// Claims a slot and publishes the packet that `build` returns; `build`
    /// gets the slot index (the buffer index to name in the packet) and the
    /// slot's whole buffer to fill. Waits up to the write timeout while the
    /// ring is full.
    pub fn send_packet_with(
        &self,
        build: impl FnOnce(usize, &mut [u8]) -> Packet,
    ) -> Result<(), LinkSendError> {
        self.send_raw_with(build, self.write_deadline())
    }

    /// [`send_packet_with`](Self::send_packet_with) that waits at most
    /// `timeout` while the ring is full.
    pub fn send_packet_with_timeout(
        &self,
        timeout: Duration,
        build: impl FnOnce(usize, &mut [u8]) -> Packet,
    ) -> Result<(), LinkSendError> {
        self.send_raw_with(build, Deadline::within(Some(timeout)))
    }

    /// [`send_packet_with`](Self::send_packet_with) that waits until
    /// `deadline` (`None`: for as long as it takes), for layers that hold
    /// one deadline across several operations.
    pub(crate) fn send_packet_with_deadline(
        &self,
        deadline: Option<Instant>,
        build: impl FnOnce(usize, &mut [u8]) -> Packet,
    ) -> Result<(), LinkSendError> {
        self.send_raw_with(build, Deadline::until(deadline))
    }

    /// [`send_packet_with`](Self::send_packet_with) without waiting.
    pub fn try_send_packet_with(
        &self,
        build: impl FnOnce(usize, &mut [u8]) -> Packet,
    ) -> Result<(), LinkSendError> {
        self.send_raw_with(build, Deadline::Now)
    }

    /// Receives the next packet of any opcode, with its slot's whole buffer
    /// ([`RecvReservation::payload`]); tombstones are skipped (and
    /// counted). Nothing is validated: the caller decodes the packet.
    /// Waits up to the read timeout.
    pub fn recv_packet(&self) -> Result<RecvReservation<'_>, LinkRecvError> {
        self.recv_raw(self.read_deadline())
    }

    /// [`recv_packet`](Self::recv_packet) without waiting.
    pub fn try_recv_packet(&self) -> Result<RecvReservation<'_>, LinkRecvError> {
        self.recv_raw(Deadline::Now)
    }

    /// [`recv_packet`](Self::recv_packet) that waits until `deadline`
    /// (`None`: for as long as it takes).
    pub(crate) fn recv_packet_until(
        &self,
        deadline: Option<Instant>,
    ) -> Result<RecvReservation<'_>, LinkRecvError> {
        self.recv_raw(Deadline::until(deadline))
    }

    /// [`recv_packet`](Self::recv_packet) that waits at most `timeout`.
    pub fn recv_packet_timeout(
        &self,
        timeout: Duration,
    ) -> Result<RecvReservation<'_>, LinkRecvError> {
        self.recv_raw(Deadline::within(Some(timeout)))
    }

    // ---- internals ------------------------------------------------------

    #[inline]
    fn check_len(&self, len: usize) -> Result<(), LinkSendError> {
        if len == 0 || len > self.buffer_size {
            return Err(LinkSendError::InvalidSize {
                len,
                max: self.buffer_size,
            });
        }
        Ok(())
    }

    #[inline]
    fn send_copy(&self, data: &[u8], deadline: Deadline) -> Result<(), LinkSendError> {
        self.check_len(data.len())?;
        let mut claim = self.claim_tx(deadline)?;
        // Before the payload: the id's locked add would otherwise wait for
        // the payload's stores to reach the cache, delaying the publish.
        let copy = self.next_copy_id();
        if claim.write_payload(data).is_err() {
            self.abandon(claim);
            return Err(LinkSendError::InvalidSize {
                len: data.len(),
                max: self.buffer_size,
            });
        }
        self.commit_copy(claim, copy, data.len());
        Ok(())
    }

    fn send_raw(
        &self,
        packet: Packet,
        payload: &[u8],
        deadline: Deadline,
    ) -> Result<(), LinkSendError> {
        if payload.len() > self.buffer_size {
            return Err(LinkSendError::InvalidSize {
                len: payload.len(),
                max: self.buffer_size,
            });
        }
        let mut claim = self.claim_tx(deadline)?;
        if claim.write_payload(payload).is_err() {
            self.abandon(claim);
            return Err(LinkSendError::InvalidSize {
                len: payload.len(),
                max: self.buffer_size,
            });
        }
        self.commit_raw(claim, packet, payload.len());
        Ok(())
    }

    fn send_raw_with(
        &self,
        build: impl FnOnce(usize, &mut [u8]) -> Packet,
        deadline: Deadline,
    ) -> Result<(), LinkSendError> {
        let mut claim = self.claim_tx(deadline)?;
        let packet = build(claim.index(), claim.payload_mut());
        self.commit_raw(claim, packet, 0);
        Ok(())
    }

    /// The next copy id (a per-sender counter starting at 1).
    #[inline]
    pub(crate) fn next_copy_id(&self) -> u64 {
        self.next_copy.fetch_add(1, Ordering::Relaxed)
    }

    /// Publishes StandardLinkCopy `copy` of `len` bytes in `claim`.
    #[inline]
    pub(crate) fn commit_copy(&self, claim: SendClaim<'_>, copy: u64, len: usize) {
        let packet = StandardLinkCopy {
            copy,
            buffer_index: claim.index() as u64,
            size: len as u64,
        }
        .encode();
        self.commit_raw(claim, packet, len);
    }

    #[inline]
    pub(crate) fn commit_raw(&self, claim: SendClaim<'_>, packet: Packet, bytes: usize) {
        #[cfg(feature = "trace")]
        super::trace::packet("tx", claim.index(), &packet);
        // The ring wakes parked receivers (`Ring::wake_shared`).
        claim.commit(packet);
        if self.counters().tx.packet(bytes) % PACKETS_PER_SWEEP == 0 {
            self.sweep_dead_waiters(self.memory.tx().data_event());
        }
    }

    /// Drops `claim` uncommitted: it publishes a tombstone, which consumers
    /// skip.
    pub(crate) fn abandon(&self, claim: SendClaim<'_>) {
        drop(claim);
        self.counters().tx.tombstone();
    }

    /// Releases a received slot (the ring wakes blocked senders).
    #[inline]
    pub(crate) fn release(&self, claim: RecvClaim<'_>) {
        drop(claim);
    }

    #[inline]
    fn recv_copy(&self, buf: &mut [u8], deadline: Deadline) -> Result<usize, LinkRecvError> {
        if !self.pending.is_empty() {
            if let Some(n) = self.pending.read(buf) {
                return Ok(n);
            }
        }
        let message = self.recv_data(deadline)?;
        let payload = message.payload();
        let n = payload.copy_to_slice(buf);
        if let Some(rest) = payload.get(n..).filter(|rest| !rest.is_empty()) {
            self.pending.push(rest);
        }
        Ok(n)
    }

    /// The next data message (tombstones skipped).
    fn recv_data(&self, mut deadline: Deadline) -> Result<RecvReservation<'_>, LinkRecvError> {
        let mut skipped = 0;
        loop {
            self.check_skips(&mut deadline, skipped)?;
            let claim = self.claim_rx(&mut deadline)?;
            let packet = claim.packet();
            match packet.opcode() {
                StandardLinkCopy::OPCODE => {
                    return match self.check_copy(&packet, claim.index()) {
                        Ok(len) => {
                            claim.prefetch_payload(len);
                            if self.counters().rx.packet(len) % PACKETS_PER_SWEEP == 0 {
                                self.sweep_dead_waiters(self.memory.rx().space_event());
                            }
                            Ok(RecvReservation::new(self, claim, len))
                        }
                        Err(e) => {
                            self.release(claim);
                            self.counters().rx.error();
                            Err(e.into())
                        }
                    };
                }
                StandardLinkTombstone::OPCODE => {
                    self.skip_tombstone(claim);
                    skipped += 1;
                }
                ErrorPacket::OPCODE => {
                    self.release(claim);
                    self.counters().rx.error();
                    return Err(match ErrorPacket::decode(&packet) {
                        Ok(e) => LinkRecvError::Peer {
                            code: e.code,
                            context: e.context,
                        },
                        Err(e) => LinkProtocolError::Decode(e).into(),
                    });
                }
                _ => {
                    self.release(claim);
                    // A well-formed packet handed to the caller (another
                    // tool's end of stream, say), not a failure.
                    self.counters().rx.packet(0);
                    return Err(LinkRecvError::UnexpectedPacket(packet));
                }
            }
        }
    }

    /// The next packet of any opcode (tombstones skipped).
    fn recv_raw(&self, mut deadline: Deadline) -> Result<RecvReservation<'_>, LinkRecvError> {
        let mut skipped = 0;
        loop {
            self.check_skips(&mut deadline, skipped)?;
            let claim = self.claim_rx(&mut deadline)?;
            if claim.packet().opcode() == StandardLinkTombstone::OPCODE {
                self.skip_tombstone(claim);
                skipped += 1;
                continue;
            }
            self.counters().rx.packet(0);
            let len = claim.capacity();
            return Ok(RecvReservation::new(self, claim, len));
        }
    }

    /// Bounds a receive that keeps finding tombstones (a peer can publish
    /// one into every slot we release): a `try_` receive gives up with
    /// `WouldBlock` after one ring's worth, and a timed one checks its
    /// deadline before every further claim.
    #[inline]
    fn check_skips(&self, deadline: &mut Deadline, skipped: u64) -> Result<(), LinkRecvError> {
        if skipped == 0 {
            return Ok(());
        }
        match deadline {
            Deadline::Now if skipped >= self.slots() => Err(LinkRecvError::WouldBlock),
            Deadline::Now | Deadline::Never => Ok(()),
            Deadline::Within(_) | Deadline::At(_) => match deadline.start() {
                Some(at) if Instant::now() >= at => Err(LinkRecvError::TimedOut),
                _ => Ok(()),
            },
        }
    }

    fn skip_tombstone(&self, claim: RecvClaim<'_>) {
        self.release(claim);
        self.counters().rx.tombstone();
    }

    /// The data length of a StandardLinkCopy received in slot `slot`.
    #[inline]
    fn check_copy(&self, packet: &Packet, slot: usize) -> Result<usize, LinkProtocolError> {
        let copy = StandardLinkCopy::decode(packet)?;
        copy.validate(&self.limits)?;
        if copy.buffer_index != slot as u64 {
            return Err(LinkProtocolError::BufferMismatch {
                slot,
                buffer_index: copy.buffer_index,
            });
        }
        // `validate` checked size <= buffer_size, which is a usize.
        Ok(usize::try_from(copy.size).unwrap_or(self.buffer_size))
    }

    #[inline]
    fn claim_tx(&self, mut deadline: Deadline) -> Result<SendClaim<'_>, LinkSendError> {
        let ring = self.memory.tx();
        match ring.try_claim_send() {
            Ok(claim) => return Ok(claim),
            Err(RingSendError::Corrupt) => {
                self.counters().tx.error();
                return Err(LinkSendError::Corrupt);
            }
            Err(RingSendError::Full | RingSendError::Contended) => {}
        }
        if let Deadline::Now = deadline {
            return Err(LinkSendError::WouldBlock);
        }
        let until = deadline.start();
        let idle = EventIdle::new(ring, Wants::Space, self.space_out(), until, self.policy)
            .parked_as(self.waiter_record(self.role().tx(), false))
            .watching(self.peer_watch())
            .recovering(self.dead_claims(ring));
        let result = ring.claim_send_with(&idle, until);
        self.counters().tx.waited(idle.stats());
        result.map_err(|e| match e {
            RingSendWaitError::TimedOut if idle.peer_gone() => LinkSendError::PeerGone,
            RingSendWaitError::TimedOut => LinkSendError::TimedOut,
            RingSendWaitError::Corrupt => {
                self.counters().tx.error();
                LinkSendError::Corrupt
            }
        })
    }

    #[inline]
    /// Claims the next received slot; `deadline` is started if we wait, so
    /// that a caller's retries (after a tombstone) share it.
    fn claim_rx(&self, deadline: &mut Deadline) -> Result<RecvClaim<'_>, LinkRecvError> {
        let claim = self.wait_rx(deadline)?;
        // A received message often asks for a reply.
        self.memory.tx().prepare_send();
        Ok(claim)
    }

    #[inline]
    fn wait_rx(&self, deadline: &mut Deadline) -> Result<RecvClaim<'_>, LinkRecvError> {
        let ring = self.memory.rx();
        match ring.try_claim_recv() {
            Ok(claim) => {
                #[cfg(feature = "trace")]
                super::trace::packet("rx", claim.index(), &claim.packet());
                return Ok(claim);
            }
            Err(RingRecvError::Corrupt) => {
                self.counters().rx.error();
                return Err(LinkRecvError::Corrupt);
            }
            Err(RingRecvError::Empty | RingRecvError::Contended) => {}
        }
        if let Deadline::Now = deadline {
            return Err(LinkRecvError::WouldBlock);
        }
        let until = deadline.start();
        let idle = EventIdle::new(ring, Wants::Data, self.data_in(), until, self.policy)
            .parked_as(self.waiter_record(self.role().rx(), true))
            .watching(self.peer_watch())
            .recovering(self.dead_claims(ring));
        let result = ring.claim_recv_with(&idle, until);
        self.counters().rx.waited(idle.stats());
        #[cfg(feature = "trace")]
        if let Ok(claim) = &result {
            super::trace::packet("rx", claim.index(), &claim.packet());
        }
        result.map_err(|e| match e {
            RingRecvWaitError::TimedOut if idle.peer_gone() => LinkRecvError::PeerGone,
            RingRecvWaitError::TimedOut => LinkRecvError::TimedOut,
            RingRecvWaitError::Corrupt => {
                self.counters().rx.error();
                LinkRecvError::Corrupt
            }
        })
    }

    /// Completes dead processes' claims on `ring` while one operation is
    /// blocked on it (`None` without an extension block or registration:
    /// recovery is then unavailable).
    fn dead_claims<'a>(&'a self, ring: &'a Ring) -> Option<DeadClaims<'a>> {
        let ext = self.memory.extension()?;
        let me = self.registration.as_ref()?.index();
        Some(DeadClaims::new(ring, ext, self.probe()?, me))
    }

    /// Completes, now, the claims that dead processes left unfinished on
    /// both rings of this link (a dead producer's slot becomes a tombstone,
    /// a dead consumer's slot is released and its message lost). Blocked
    /// sends and receives do this by themselves once per liveness interval
    /// ([`liveness::PEER_CHECK_INTERVAL`]); this is for callers that poll.
    /// Does nothing without an extension block (a Go primary) or
    /// process-table entry.
    pub fn recover_dead_claims(&self) -> RecoveredClaims {
        let mut done = RecoveredClaims::default();
        for ring in [self.memory.tx(), self.memory.rx()] {
            if let Some(claims) = self.dead_claims(ring) {
                done += claims.recover();
            }
        }
        done
    }

    /// Watches the other side's processes for one blocked operation.
    fn peer_watch(&self) -> PeerWatch<'_> {
        let link = WatchedLink {
            side: &self.peer_side,
            rx: self.memory.rx(),
            tx: self.memory.tx(),
            rx_ring: self.role().rx() as u8,
        };
        PeerWatch::new(
            self.memory.extension(),
            self.probe(),
            self.role(),
            self.my_index(),
            link,
        )
    }

    /// Checks the other side's liveness once, now (one observation by the
    /// rules of [`crate::liveness`]'s mixed sides, as a blocked operation
    /// makes once per interval): whether it is gone. For waiters that
    /// rate-limit their checks themselves (the async waiter thread).
    #[cfg(all(feature = "tokio", unix))]
    pub(crate) fn observe_peer(&self) -> bool {
        self.peer_watch().check()
    }

    /// Whether the last liveness check of this link, by any operation,
    /// found the other side gone and nothing moved since (asks nobody).
    #[cfg(all(feature = "tokio", unix))]
    pub(crate) fn peer_known_gone(&self) -> bool {
        self.peer_watch().known_gone()
    }

    /// What this link has seen the other side do: whether it mixes
    /// registered processes with ones that never register (then a blocked
    /// operation never reports [`LinkRecvError::PeerGone`] for it).
    pub fn peer_side(&self) -> &PeerSide {
        &self.peer_side
    }

    /// Asks the kernel about other processes' liveness locks through the
    /// segment's own file, which holds none (`None` for a private
    /// anonymous segment).
    pub(crate) fn probe(&self) -> Option<LockProbe<'_>> {
        self.segment.file().map(LockProbe::new)
    }

    /// Our process-table index, if registered.
    fn my_index(&self) -> Option<usize> {
        self.registration.as_ref().map(Registration::index)
    }

    /// Our process-table entry, if we have one (see [`crate::liveness`]).
    pub fn registration(&self) -> Option<&Registration> {
        self.registration.as_ref()
    }

    /// Whether the other side still has a live process, per the process
    /// table ([`PeerLiveness::Unknown`] for peers that do not register,
    /// such as the Go implementation: treat as alive).
    pub fn peer_liveness(&self) -> PeerLiveness {
        liveness::peer_liveness(
            self.memory.extension(),
            self.probe().as_ref(),
            self.role(),
            self.my_index(),
        )
    }

    // ---- wake-up words --------------------------------------------------

    /// Where we wait for the peer's sends.
    #[inline]
    fn data_in(&self) -> EventWords<'_> {
        self.memory.rx().data_event()
    }

    /// Where we wait for the peer to release our sent slots.
    #[inline]
    fn space_out(&self) -> EventWords<'_> {
        self.memory.tx().space_event()
    }

    /// Withdraws the parked waiters of proven-dead processes if `event`
    /// counts any waiter, so that a waiter killed while parked stops
    /// costing our publishes (or releases) a wake call each.
    #[cold]
    fn sweep_dead_waiters(&self, (_, waiters): EventWords<'_>) {
        if waiters.load(Ordering::Relaxed) == 0 {
            return;
        }
        if let (Some(ext), Some(probe)) = (self.memory.extension(), self.probe()) {
            liveness::clear_dead_waiters(ext, &probe, self.my_index());
        }
    }

    /// Where our parks on `direction`'s data or space event are recorded
    /// (see [`liveness::waiters`]).
    fn waiter_record(&self, direction: Direction, data: bool) -> Option<WaiterRecord<'_>> {
        let ext = self.memory.extension()?;
        liveness::waiters::waiter_record(ext, self.my_index()?, direction, data)
    }
}
