//! # hqq-runtime
//!
//! The hand-tuned runtime of HQQ: the 64-byte [`Packet`], named shared
//! [`segment`]s, the page [`layout`], the [`superblock`] and our
//! [`extension`] block, the MPMC [`ring`]s, the Standard [`link`] and the
//! [`advanced`] link, and the generated [`protocol`]. Applications normally
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

#[cfg(not(target_endian = "little"))]
compile_error!(
    "hqq-runtime supports little-endian targets only (the HQQ wire format is little-endian)"
);

pub mod advanced;
pub mod codec;
pub mod extension;
#[cfg(unix)]
pub mod futex;
pub mod layout;
#[cfg(unix)]
pub mod link;
pub mod link_memory;
pub mod packet;
pub mod protocol;
pub mod ring;
#[cfg(unix)]
pub mod segment;
pub mod superblock;
#[cfg(unix)]
pub mod wait;

pub use layout::{Direction, Layout};
#[cfg(unix)]
pub use link::{LinkConfig, StandardLink};
pub use link_memory::LinkMemory;
pub use packet::Packet;
pub use ring::Ring;
#[cfg(unix)]
pub use segment::{Segment, SegmentOptions};
pub use superblock::Role;
