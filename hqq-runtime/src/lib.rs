//! # hqq-runtime
//!
//! The hand-tuned runtime of HQQ: the 64-byte [`Packet`], and (as it grows)
//! shared segments, the page layout, the MPMC rings and the links.
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
