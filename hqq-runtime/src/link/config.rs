//! [`LinkConfig`]: what both ends of a Standard link must agree on, and how
//! this end creates, opens and waits.

use std::time::Duration;

use super::error::LinkOpenError;
use crate::layout::Layout;
use crate::segment::DEFAULT_SEGMENT_MODE;
use crate::wait::WaitPolicy;

/// Configuration of a [`StandardLink`](super::StandardLink), built like
/// `prost_build::Config`: start from [`LinkConfig::new`] and chain setters.
///
/// Both ends must agree on [`slots`](Self::slots) and
/// [`buffer_size`](Self::buffer_size) (a secondary rejects a segment laid
/// out differently); the other options are local to this end.
///
/// ```
/// use hqq_runtime::link::LinkConfig;
/// use std::time::Duration;
///
/// let mut config = LinkConfig::new();
/// config.slots(64).buffer_size(256).ready_timeout(Duration::from_millis(500));
/// assert_eq!(config.get_slots(), 64);
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LinkConfig {
    pub(crate) slots: u64,
    pub(crate) buffer_size: u64,
    pub(crate) ready_timeout: Duration,
    pub(crate) mode: u32,
    pub(crate) keep_on_drop: bool,
    pub(crate) wait_policy: Option<WaitPolicy>,
    pub(crate) max_slots: u64,
    pub(crate) max_buffer_size: u64,
    pub(crate) max_segment_size: u64,
    pub(crate) publish_stats: bool,
}

impl Default for LinkConfig {
    fn default() -> Self {
        Self::new()
    }
}

impl LinkConfig {
    /// Ring slots (= payload buffers) per direction by default.
    pub const DEFAULT_SLOTS: u64 = 1024;
    /// Bytes per payload buffer by default.
    pub const DEFAULT_BUFFER_SIZE: u64 = 4096;
    /// How long [`StandardLink::open`](super::StandardLink::open) waits for
    /// the creator by default (the established implementation's 1 s).
    pub const DEFAULT_READY_TIMEOUT: Duration = Duration::from_secs(1);
    /// The largest slot count this end accepts by default (2^20).
    pub const DEFAULT_MAX_SLOTS: u64 = 1 << 20;
    /// The largest buffer size this end accepts by default (64 MiB).
    pub const DEFAULT_MAX_BUFFER_SIZE: u64 = 64 << 20;
    /// The largest segment this end accepts by default (16 GiB).
    pub const DEFAULT_MAX_SEGMENT_SIZE: u64 = 16 << 30;

    /// The defaults: 1024 slots of 4096 bytes, a 1 s ready timeout, mode
    /// 0600, the segment removed when its creator drops, and the wait
    /// policy chosen by the segment (see [`wait_policy`](Self::wait_policy)).
    pub const fn new() -> Self {
        LinkConfig {
            slots: Self::DEFAULT_SLOTS,
            buffer_size: Self::DEFAULT_BUFFER_SIZE,
            ready_timeout: Self::DEFAULT_READY_TIMEOUT,
            mode: DEFAULT_SEGMENT_MODE,
            keep_on_drop: false,
            wait_policy: None,
            max_slots: Self::DEFAULT_MAX_SLOTS,
            max_buffer_size: Self::DEFAULT_MAX_BUFFER_SIZE,
            max_segment_size: Self::DEFAULT_MAX_SEGMENT_SIZE,
            publish_stats: false,
        }
    }

    /// Ring slots per direction: a power of two, at least 2.
    pub fn slots(&mut self, slots: u64) -> &mut Self {
        self.slots = slots;
        self
    }

    /// Bytes per payload buffer, which is also the largest message: a
    /// multiple of 8, at least 8.
    pub fn buffer_size(&mut self, bytes: u64) -> &mut Self {
        self.buffer_size = bytes;
        self
    }

    /// How long an opening end waits for the segment to exist and be
    /// initialized by its creator.
    pub fn ready_timeout(&mut self, timeout: Duration) -> &mut Self {
        self.ready_timeout = timeout;
        self
    }

    /// Permission bits of a segment this end creates (0600 by default).
    pub fn mode(&mut self, mode: u32) -> &mut Self {
        self.mode = mode;
        self
    }

    /// Whether a segment this end creates stays in `/dev/shm` after the link
    /// is dropped (by default the creator removes it).
    pub fn keep_on_drop(&mut self, keep: bool) -> &mut Self {
        self.keep_on_drop = keep;
        self
    }

    /// Whether a link on a named segment publishes this process's counters
    /// in a companion segment `<name>.stat-<pid>` that other processes read
    /// (`hqq stat`, [`crate::stats::read_published`]); off by default. The
    /// companion segment gets the link's [`mode`](Self::mode) and is
    /// removed when the link is dropped. If it cannot be created the link
    /// still opens, with private counters
    /// ([`Statistics::published_name`](crate::stats::Statistics::published_name)
    /// says which).
    pub fn publish_stats(&mut self, publish: bool) -> &mut Self {
        self.publish_stats = publish;
        self
    }

    /// How blocked sends and receives spin, yield and park, instead of the
    /// policy the segment suggests.
    ///
    /// Unless set, a link on a segment with our extension block (its peers
    /// can wake it) uses [`WaitPolicy::WAKE_WORDS`], and a link on a segment
    /// without one (a Go primary, which never wakes anyone) uses
    /// [`WaitPolicy::DEFAULT`], whose parks stay short so that the peer's
    /// data is noticed within a few milliseconds.
    /// [`WaitPolicy::NOTIFYING_PEER`] parks much longer and costs the least
    /// idle CPU, but only suits links whose every peer is hqq.
    pub fn wait_policy(&mut self, policy: WaitPolicy) -> &mut Self {
        self.wait_policy = Some(policy);
        self
    }

    /// The largest [`slots`](Self::slots) this end creates or opens
    /// ([`DEFAULT_MAX_SLOTS`](Self::DEFAULT_MAX_SLOTS) unless raised).
    ///
    /// The limits matter when a configuration comes from somewhere else, as
    /// when the `hqq` tool adopts what an existing segment's superblock
    /// announces: a segment made by a hostile process can announce sizes
    /// whose buffers would exhaust memory, and an open refuses them with
    /// [`LinkOpenError::LimitExceeded`](super::LinkOpenError::LimitExceeded)
    /// before it maps or allocates anything.
    pub fn max_slots(&mut self, slots: u64) -> &mut Self {
        self.max_slots = slots;
        self
    }

    /// The largest [`buffer_size`](Self::buffer_size) this end creates or
    /// opens ([`DEFAULT_MAX_BUFFER_SIZE`](Self::DEFAULT_MAX_BUFFER_SIZE)
    /// unless raised); it also bounds what a receive allocates for the rest
    /// of a message. See [`max_slots`](Self::max_slots).
    pub fn max_buffer_size(&mut self, bytes: u64) -> &mut Self {
        self.max_buffer_size = bytes;
        self
    }

    /// The largest whole segment this end creates or opens, in bytes
    /// ([`DEFAULT_MAX_SEGMENT_SIZE`](Self::DEFAULT_MAX_SEGMENT_SIZE) unless
    /// raised). See [`max_slots`](Self::max_slots).
    pub fn max_segment_size(&mut self, bytes: u64) -> &mut Self {
        self.max_segment_size = bytes;
        self
    }

    /// The layout of this configuration, if it is valid and within this
    /// end's limits.
    pub(crate) fn checked_layout(&self) -> Result<Layout, LinkOpenError> {
        let within = |what: &'static str, value: u64, limit: u64| {
            if value > limit {
                Err(LinkOpenError::LimitExceeded { what, value, limit })
            } else {
                Ok(())
            }
        };
        within("slot count", self.slots, self.max_slots)?;
        within("buffer size", self.buffer_size, self.max_buffer_size)?;
        let layout = Layout::new(self.slots, self.buffer_size)?;
        within(
            "segment size",
            layout.total_size() as u64,
            self.max_segment_size,
        )?;
        Ok(layout)
    }

    /// The configured slot count.
    pub const fn get_slots(&self) -> u64 {
        self.slots
    }

    /// The configured buffer size.
    pub const fn get_buffer_size(&self) -> u64 {
        self.buffer_size
    }

    /// The configured ready timeout.
    pub const fn get_ready_timeout(&self) -> Duration {
        self.ready_timeout
    }

    /// The configured permission bits.
    pub const fn get_mode(&self) -> u32 {
        self.mode
    }

    /// Whether a created segment is kept after drop.
    pub const fn get_keep_on_drop(&self) -> bool {
        self.keep_on_drop
    }

    /// The configured wait policy; `None` lets the segment choose.
    pub const fn get_wait_policy(&self) -> Option<WaitPolicy> {
        self.wait_policy
    }
}
