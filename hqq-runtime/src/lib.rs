//! # hqq-runtime
//!
//! The hand-tuned runtime of HQQ: the 64-byte [`Packet`], named shared
//! [`segment`]s, the page [`layout`], the [`superblock`] and our
//! [`extension`] block, the MPMC [`ring`]s, the Standard [`link`] and the
//! [`advanced`] link, their [`stats`], and the generated [`protocol`]. Applications normally
//! use it through the `hqq` facade.
//!
//! ```
//! # #[cfg(unix)] {
//! use hqq_runtime::link::{LinkConfig, StandardLink};
//!
//! // Two ends of one link in this process (named segments work the same
//! // way across processes: `StandardLink::create` and `StandardLink::open`).
//! let mut config = LinkConfig::new();
//! config.slots(8).buffer_size(64);
//! let (primary, secondary) = StandardLink::pair(&config)?;
//! primary.send(b"ping")?;
//! let mut buf = [0u8; 64];
//! let n = secondary.recv(&mut buf)?;
//! assert_eq!(&buf[..n], b"ping");
//! # }
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! Only little-endian targets are supported: the wire format is
//! little-endian and packets live in shared memory as native words.
//!
//! # Threat model
//!
//! Every process that can open a segment read-write can write any byte of
//! it at any moment: the superblock, the extension block and its process
//! table, ring headers, positions, sequence numbers, packets and payload
//! buffers. Named segments are created `0600` (owner only) unless
//! [`SegmentOptions::mode`](segment::SegmentOptions::mode) says otherwise,
//! and segment names are validated ([`segment::validate_segment_name`]), so
//! by default only processes of the same user are in that position.
//!
//! **Such a process can:**
//! - send us garbage: wrong opcodes, sizes, indices and flags (these come
//!   back as typed errors from decode/validate and the ring, never as a
//!   panic), or well-formed but false data (we cannot tell);
//! - change a payload while we read it: received payloads are
//!   [`PayloadView`]s, whose every read is a volatile load, so a byte read
//!   twice may differ; copy out, then validate the copy;
//! - change a payload we are still writing (a send buffer is `&mut [u8]`,
//!   exclusive within our process, but the peer maps it too): the receiver
//!   gets garbled bytes;
//! - deny service: fill a ring and never release it, stop publishing a
//!   claimed slot, flood tombstones, or corrupt positions so the ring
//!   reports `Corrupt`; blocking calls then end at their deadline (or with
//!   `PeerGone` once the kernel's locks prove the other side dead), never
//!   hang past it, and `try_` calls return after at most one ring's worth
//!   of work;
//! - lie in the process table, or hold liveness locks itself: make a dead
//!   peer look alive (we wait for our timeout), make a side look mixed
//!   (likewise), or, on a side where no registered process lives, invent a
//!   dead one so that an idle unregistered peer there reads as gone;
//! - shrink the segment file with `ftruncate`, after which touching the lost
//!   pages raises `SIGBUS` and kills our process (no `shm_open` object can
//!   prevent this; see [`segment`]). Deployments whose every peer is hqq can
//!   prevent it with a sealed segment
//!   ([`StandardLink::create_sealed`](link::StandardLink::create_sealed)):
//!   an anonymous memfd that nobody can shrink, handed to peers over a Unix
//!   socket.
//!
//! **It cannot:**
//! - make us read or write outside the mapping: every index, offset and size
//!   read from shared memory is bounds-checked before use;
//! - make two claims of our process hold one slot: which slots our claims
//!   hold is recorded in process-private memory ([`ring`]), so a peer that
//!   moves a ring position back gets `Corrupt`, never a second `&mut` to a
//!   buffer;
//! - make us allocate without bound: every size or count from shared memory
//!   is checked against limits we control (the link's buffer size and slot
//!   count, which an opener accepts only within
//!   [`LinkConfig::max_slots`](link::LinkConfig::max_slots) and its
//!   siblings, and the message bound of [`codec::Limits`]) before any
//!   allocation;
//! - make us panic, or hang past a caller's deadline;
//! - make a live process read as dead: death is proven only by the kernel
//!   dropping the process's open-file-description locks on the segment file,
//!   never by a table word or by `/proc`, so rewriting the process table
//!   makes at worst a dead process look alive (a stall the deadline ends),
//!   and only proven-dead processes' claims are completed ([`liveness`]);
//! - make us signal, kill or wait for any process: liveness only asks the
//!   kernel about locks (`fcntl`) on the segment file;
//! - make us unlink a segment: stale segments are reclaimed only when the
//!   caller asks ([`SegmentOptions::reclaim_stale`](segment::SegmentOptions::reclaim_stale)).
//!
//! **On an Advanced link with Encryption negotiated** (both sides
//! configured with [`AdvancedConfig::encryption`](advanced::AdvancedConfig::encryption))
//! such a process also cannot read the messages (a process that can only
//! read the segment learns their sizes, connections, ids, kinds and timing)
//! nor forge, replay or alter one undetected: each is refused with a typed
//! error and counted, and later good messages still arrive. It can still
//! drop, delay or reorder them and forge the unencrypted control packets;
//! [`advanced::encryption`] states the details and the downgrade a writer
//! can force unless [`AdvancedConfig::encryption_required`](advanced::AdvancedConfig::encryption_required)
//! is used.
//!
//! Two links that one process opens on the same name are two mappings, and
//! each treats the other like a peer process; the two ends of
//! [`StandardLink::pair`](link::StandardLink::pair) share one mapping and
//! exclude each other's claims.

#[cfg(not(target_endian = "little"))]
compile_error!(
    "hqq-runtime supports little-endian targets only (the HQQ wire format is little-endian)"
);

pub mod advanced;
mod async_items;
#[cfg(all(feature = "tokio", unix))]
pub mod async_link;
pub mod codec;
pub mod encoding;
pub mod extension;
pub mod flag_set;
#[cfg(unix)]
pub mod futex;
pub mod layout;
#[cfg(unix)]
pub mod link;
pub mod link_memory;
#[cfg(unix)]
pub mod liveness;
pub mod packet;
pub mod payload_view;
pub mod protocol;
pub mod ring;
#[cfg(unix)]
pub mod segment;
pub mod stats;
pub mod superblock;
#[cfg(unix)]
pub mod wait;

pub use layout::{Direction, Layout};
#[cfg(unix)]
pub use link::{LinkConfig, StandardLink};
pub use link_memory::LinkMemory;
pub use packet::Packet;
pub use payload_view::PayloadView;
pub use ring::Ring;
#[cfg(unix)]
pub use segment::{Segment, SegmentOptions};
pub use superblock::Role;
