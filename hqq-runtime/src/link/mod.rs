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
//! After publishing a packet a sender bumps the direction's `data_seq` in
//! the extension block and makes a `futex_wake` system call only if
//! `data_waiters` is non-zero; after releasing a slot a receiver does the
//! same with `space_seq`. A blocked operation spins, yields, then parks on
//! the matching word in timed slices (see [`crate::wait`]), so a peer that
//! never notifies (the Go implementation) is still noticed.

mod config;
mod error;
mod idle;
mod io;
mod pending;
mod reservation;
mod standard;
mod stats;
#[cfg(feature = "trace")]
mod trace;

pub use config::LinkConfig;
pub use error::{LinkOpenError, LinkProtocolError, LinkRecvError, LinkSendError};
pub use reservation::{RecvReservation, SendReservation};
pub use standard::StandardLink;
pub use stats::{DirectionStats, LinkStats};
