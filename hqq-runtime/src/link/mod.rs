//! The Standard link (issue 4): bidirectional messages between processes
//! over one named segment, on top of [`LinkMemory`](crate::LinkMemory) and
//! the [`Ring`](crate::Ring).
//!
//! - [`StandardLink`]: create, open or [`pair`](StandardLink::pair); copy,
//!   zero-copy, reservation and raw-packet sends and receives; timeouts in
//!   the style of `UdpSocket`; `std::io::Read`/`Write`.
//! - [`LinkConfig`]: slots, buffer size, ready timeout, segment mode and
//!   lifetime, [`WaitPolicy`](crate::wait::WaitPolicy).
//! - [`SendReservation`], [`RecvReservation`]: a slot held to fill or read
//!   in place.
//! - [`LinkStats`]: per-direction counters.
//!
//! # Waking the peer
//!
//! After publishing a packet a sender reads the direction's `data_waiters`
//! in the extension block (one read-modify-write that adds zero); only if
//! it is non-zero does it bump `data_seq` and make a `futex_wake` system
//! call. After releasing a slot a receiver does the same with
//! `space_waiters` and `space_seq`. A blocked operation spins, yields, then
//! announces itself in the waiters word, re-checks the ring and parks on
//! the seq word in timed slices (see [`crate::wait`]), so a peer that never
//! notifies (the Go implementation) is still noticed.
//!
//! # Latency
//!
//! A round trip is bounded by cache-line transfers between the two cores.
//! A message touches three lines (the packet's two, as a 72-byte slot
//! always straddles a line boundary, and the payload's first), so the link
//! asks for the lines it will need before it needs them: a producer
//! prefetches the next slot's sequence word after publishing, a consumer
//! that sees a slot published prefetches its packet and payload before
//! claiming it, and a receive fetches the next send slot's lines for
//! writing, because a reply usually follows ([`Ring::prepare_send`](crate::Ring::prepare_send)).
//! Once a data message's length is known, all its payload lines are asked
//! for at once ([`RecvReservation::prefetch`]), so that copying a 4 KiB
//! message out does not fetch 64 lines one after another.

mod config;
mod error;
mod idle;
mod io;
mod pending;
mod reservation;
mod standard;
pub(crate) mod stats;
#[cfg(feature = "trace")]
mod trace;

pub use config::LinkConfig;
pub use error::{LinkOpenError, LinkProtocolError, LinkRecvError, LinkSendError};
pub use reservation::{RecvReservation, SendReservation};
pub(crate) use standard::instant_after;
pub use standard::StandardLink;
pub use stats::{DirectionStats, LinkStats};
#[cfg(feature = "trace")]
pub use trace::describe_other_packets;
